"""``/api/v1/materials`` — the material master."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web.deps import DbDep, Requires, uow_for
from pharmatrace.wms import service
from pharmatrace.wms.schemas import (
    ApprovalDecision,
    ApprovalPublic,
    MaterialCreate,
    MaterialPublic,
    SupplierCheck,
    SupplierCreate,
    SupplierPublic,
)

router = APIRouter(tags=["materials"])

MaterialView = Annotated[Principal, Depends(Requires("wms.material.view"))]
MaterialManage = Annotated[Principal, Depends(Requires("wms.material.manage"))]
SupplierManage = Annotated[Principal, Depends(Requires("qms.supplier.manage"))]


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


@router.get("/suppliers", response_model=list[SupplierPublic], tags=["suppliers"])
def list_suppliers(db: DbDep, _: MaterialView, q: str = "", kind: str = "") -> list[SupplierPublic]:
    with db.sessions() as session:
        return [service.supplier_public(s) for s in service.list_suppliers(session, text=q, kind=kind)]


@router.post("/suppliers", response_model=SupplierPublic, status_code=201, tags=["suppliers"])
def create_supplier(body: SupplierCreate, db: DbDep, principal: SupplierManage) -> SupplierPublic:
    with uow_for(db, principal) as uow:
        supplier = service.create_supplier(uow, body)
        uow.commit()
        return service.supplier_public(supplier)


@router.post("/suppliers/{supplier_id}/void", response_model=SupplierPublic, tags=["suppliers"])
def void_supplier(supplier_id: int, body: ReasonOnly, db: DbDep, principal: SupplierManage) -> SupplierPublic:
    with uow_for(db, principal, body.reason) as uow:
        supplier = service.void_supplier(uow, supplier_id)
        uow.commit()
        return service.supplier_public(supplier)


@router.get("/supplier-approvals", response_model=list[ApprovalPublic], tags=["suppliers"])
def list_approvals(
    db: DbDep, _: MaterialView, supplier_id: int | None = None, material_id: int | None = None
) -> list[ApprovalPublic]:
    """The approved-supplier list (合格供应商目录), optionally for one supplier or one material."""
    with db.sessions() as session:
        found = service.list_approvals(session, supplier_id=supplier_id, material_id=material_id)
        return [service.approval_public(a) for a in found]


@router.post("/supplier-approvals", response_model=ApprovalPublic, tags=["suppliers"])
def decide_approval(body: ApprovalDecision, db: DbDep, principal: SupplierManage) -> ApprovalPublic:
    """QA approves, conditionally approves, suspends or disqualifies a supplier for a material."""
    with uow_for(db, principal, body.reason) as uow:
        approval = service.decide_approval(uow, body)
        uow.commit()
        return service.approval_public(approval)


@router.get("/supplier-approvals/check", response_model=SupplierCheck, tags=["suppliers"])
def check_supplier(supplier: str, material: str, db: DbDep, _: MaterialView) -> SupplierCheck:
    """May a lot of ``material`` from ``supplier`` (codes) be received now? If not, why."""
    from pharmatrace.web import i18n

    with db.sessions() as session:
        problem = service.supplier_problem(session, supplier.strip().upper(), material.strip().upper())
    return SupplierCheck(approved=problem is None, reason=i18n.error_message(problem) if problem else None)
