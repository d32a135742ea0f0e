"""``/api/v1/materials`` — the material master."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web.deps import DbDep, Requires, uow_for
from pharmatrace.wms import service
from pharmatrace.wms.schemas import MaterialCreate, MaterialPublic

router = APIRouter(tags=["materials"])

MaterialView = Annotated[Principal, Depends(Requires("wms.material.view"))]
MaterialManage = Annotated[Principal, Depends(Requires("wms.material.manage"))]


@router.get("/materials", response_model=list[MaterialPublic])
def list_materials(db: DbDep, _: MaterialView, q: str = "", kind: str = "") -> list[MaterialPublic]:
    with db.sessions() as session:
        return [service.material_public(m) for m in service.list_materials(session, text=q, kind=kind)]


@router.post("/materials", response_model=MaterialPublic, status_code=201)
def create_material(body: MaterialCreate, db: DbDep, principal: MaterialManage) -> MaterialPublic:
    with uow_for(db, principal) as uow:
        material = service.create_material(uow, body)
        uow.commit()
        return service.material_public(material)


@router.post("/materials/{material_id}/void", response_model=MaterialPublic)
def void_material(material_id: int, body: ReasonOnly, db: DbDep, principal: MaterialManage) -> MaterialPublic:
    with uow_for(db, principal, body.reason) as uow:
        material = service.void_material(uow, material_id)
        uow.commit()
        return service.material_public(material)
