"""Material master pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pharmatrace.kernel.errors import N_, NotFound, PharmaTraceError
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render
from pharmatrace.wms import service
from pharmatrace.wms.models import MATERIAL_KINDS
from pharmatrace.wms.schemas import MaterialCreate

router = APIRouter(prefix="/wms", include_in_schema=False)

MaterialView = Annotated[Principal, Depends(Requires("wms.material.view"))]
MaterialManage = Annotated[Principal, Depends(Requires("wms.material.manage"))]

KIND_LABELS = {
    "herb": N_("Herbal material"),
    "decoction_piece": N_("Decoction piece"),
    "extract": N_("Extract"),
    "excipient": N_("Excipient"),
    "primary_packaging": N_("Primary packaging"),
    "secondary_packaging": N_("Secondary packaging"),
    "intermediate": N_("Intermediate"),
    "finished_good": N_("Finished good"),
}
assert set(KIND_LABELS) == set(MATERIAL_KINDS)


def _page(
    request: Request, db: DbDep, status_code: int = 200, q: str = "", kind: str = "", **values: Any
) -> Response:
    with db.sessions() as session:
        materials = [service.material_public(m) for m in service.list_materials(session, text=q, kind=kind)]
    values.setdefault("data", {})
    return render(
        request,
        "wms/materials.html",
        status_code=status_code,
        materials=materials,
        q=q,
        kind=kind,
        kinds=KIND_LABELS,
        **values,
    )


@router.get("/materials", response_class=HTMLResponse)
def materials_page(
    request: Request, db: DbDep, _: MaterialView, q: str = "", kind: str = "", done: int = 0
) -> Response:
    return _page(request, db, q=q, kind=kind, flash=i18n.gettext(N_("Saved")) if done else None)


@router.post("/materials", response_class=HTMLResponse)
async def material_create(request: Request, db: DbDep, principal: MaterialManage) -> Response:
    data = await form_data(request)
    create, errors = validate(MaterialCreate, data)
    if create is None:
        return _page(request, db, 422, data=data, field_errors=errors)
    try:
        with UnitOfWork(db, principal.actor) as uow:
            service.create_material(uow, create)
            uow.commit()
    except PharmaTraceError as error:
        return _page(request, db, error.http_status, data=data, error=i18n.error_message(error))
    return RedirectResponse("/wms/materials?done=1", status_code=303)


def _material_detail(
    request: Request, db: DbDep, principal: Principal, material_id: int, status_code: int = 200, **values: Any
) -> Response:
    from sqlalchemy import select

    from pharmatrace.kernel.audit import AuditEntry
    from pharmatrace.kernel.esign.views import panel
    from pharmatrace.wms.models import Material

    with db.sessions() as session:
        material = session.get(Material, material_id)
        if material is None:
            raise NotFound(N_("No material with ID {id}"), id=material_id)
        trail = list(session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == "material", AuditEntry.object_id == str(material_id))
            .order_by(AuditEntry.leaf_index.desc())
        ))  # fmt: skip
        esign = panel(session, principal, "material", str(material_id))
        public = service.material_public(material)
    return render(request, "wms/material_detail.html", status_code=status_code, material=public, trail=trail,
                  esign=esign, kinds=KIND_LABELS, **values)  # fmt: skip


@router.get("/materials/{material_id}", response_class=HTMLResponse)
def material_page(
    request: Request, db: DbDep, principal: MaterialView, material_id: int, done: int = 0
) -> Response:
    """One material: its data, its electronic signatures and its own audit trail (SH-7.1.3, SH-7.1.4)."""
    return _material_detail(
        request, db, principal, material_id, flash=i18n.gettext(N_("Saved")) if done else None
    )


@router.post("/materials/{material_id}/void", response_class=HTMLResponse)
async def material_void(request: Request, db: DbDep, principal: MaterialManage, material_id: int) -> Response:
    from pharmatrace.kernel.identity.schemas import ReasonOnly

    reason, errors = validate(ReasonOnly, await form_data(request))
    if reason is None:
        return _material_detail(request, db, principal, material_id, 422, field_errors=errors,
                                error=errors.get("reason"))  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor, reason=reason.reason) as uow:
            service.void_material(uow, material_id)
            uow.commit()
    except PharmaTraceError as error:
        return _material_detail(request, db, principal, material_id, error.http_status,
                                error=i18n.error_message(error))  # fmt: skip
    return RedirectResponse(f"/wms/materials/{material_id}?done=1", status_code=303)
