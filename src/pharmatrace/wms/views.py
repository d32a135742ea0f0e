"""Material master pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import (
    audit_models,
    deviations,
    supplier_performance,
    supplier_qualification_models,
    supplier_qualifications,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render
from pharmatrace.wms import service
from pharmatrace.wms.labels import STATUS_LABELS as LOT_STATUS_LABELS
from pharmatrace.wms.models import APPROVAL_STATUSES, MATERIAL_KINDS, SUPPLIER_KINDS
from pharmatrace.wms.schemas import ApprovalDecision, MaterialCreate, SupplierCreate

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
    return submit(db, principal, MaterialCreate, await form_data(request), write=service.create_material,
                  rerender=lambda status, **values: _page(request, db, status, **values),
                  done="/wms/materials?done=1", show_first_error=False)  # fmt: skip


def _material_detail(
    request: Request, db: DbDep, principal: Principal, material_id: int, status_code: int = 200, **values: Any
) -> Response:
    from pharmatrace.kernel.esign.views import panel
    from pharmatrace.wms.models import Material

    with db.sessions() as session:
        material = session.get(Material, material_id)
        if material is None:
            raise NotFound(N_("No material with ID {id}"), id=material_id)
        trail = _trail(session, "material", material_id)
        esign = panel(session, principal, "material", str(material_id))
        approvals = [
            (service.approval_public(a), service.supplier_problem(session, a.supplier.code, a.material.code))
            for a in service.list_approvals(session, material_id=material_id)
        ]
        public = service.material_public(material)
    return render(request, "wms/material_detail.html", status_code=status_code, material=public, trail=trail,
                  esign=esign, kinds=KIND_LABELS, approvals=approvals, statuses=APPROVAL_LABELS,
                  **values)  # fmt: skip


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
    return submit(db, principal, ReasonOnly, await form_data(request), reason=lambda body: body.reason,
                  write=lambda uow, _: service.void_material(uow, material_id),
                  rerender=lambda status, **values: _material_detail(request, db, principal, material_id, status,
                                                                     **values),
                  done=f"/wms/materials/{material_id}?done=1")  # fmt: skip


# --- suppliers and the approved-supplier list --------------------------------------------------------

SupplierManage = Annotated[Principal, Depends(Requires("qms.supplier.manage"))]

SUPPLIER_KIND_LABELS = {
    "manufacturer": N_("Manufacturer"),
    "distributor": N_("Distributor"),
    "planting_base": N_("Planting base"),
}
assert set(SUPPLIER_KIND_LABELS) == set(SUPPLIER_KINDS)
APPROVAL_LABELS = {
    "approved": N_("Approved"),
    "conditional": N_("Conditionally approved"),
    "suspended": N_("Suspended"),
    "disqualified": N_("Disqualified"),
}
assert set(APPROVAL_LABELS) == set(APPROVAL_STATUSES)


def _suppliers_page(
    request: Request, db: DbDep, status_code: int = 200, q: str = "", kind: str = "", **values: Any
) -> Response:
    with db.sessions() as session:
        suppliers = [service.supplier_public(s) for s in service.list_suppliers(session, text=q, kind=kind)]
    values.setdefault("data", {})
    return render(request, "wms/suppliers.html", status_code=status_code, suppliers=suppliers, q=q, kind=kind,
                  kinds=SUPPLIER_KIND_LABELS, **values)  # fmt: skip


@router.get("/suppliers", response_class=HTMLResponse)
def suppliers_page(
    request: Request, db: DbDep, _: MaterialView, q: str = "", kind: str = "", done: int = 0
) -> Response:
    return _suppliers_page(request, db, q=q, kind=kind, flash=i18n.gettext(N_("Saved")) if done else None)


@router.post("/suppliers", response_class=HTMLResponse)
async def supplier_create(request: Request, db: DbDep, principal: SupplierManage) -> Response:
    return submit(db, principal, SupplierCreate, await form_data(request), write=service.create_supplier,
                  rerender=lambda status, **values: _suppliers_page(request, db, status, **values),
                  done=lambda supplier: f"/wms/suppliers/{getattr(supplier, 'id', '')}?done=1",
                  show_first_error=False)  # fmt: skip


# What the supplier's page shows of its performance (issue 9 item 6): lot statuses, deviation classes, audits.
PERFORMANCE_LABELS = {
    "lots": LOT_STATUS_LABELS,
    "classes": deviations.CLASS_LABELS,
    "deviation_statuses": deviations.STATUS_LABELS,
    "audit_kinds": audit_models.KIND_LABELS,
    "audit_statuses": audit_models.STATUS_LABELS,
}


def _supplier_detail(
    request: Request, db: DbDep, principal: Principal, supplier_id: int, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        supplier = service.get_supplier(session, supplier_id)
        approvals = [
            (service.approval_public(a), service.supplier_problem(session, a.supplier.code, a.material.code))
            for a in service.list_approvals(session, supplier_id=supplier_id)
        ]
        trail = _trail(session, "supplier", supplier_id)
        materials = [service.material_public(m) for m in service.list_materials(session)]
        public = service.supplier_public(supplier)
        performance = supplier_performance.performance(session, supplier_id)
        qualifications = [supplier_qualifications.qualification_public(q)
                          for q in supplier_qualifications.qualifications_for_supplier(session, supplier_id)]  # fmt: skip
        # rendered inside the session: the audits' findings load as the template reads them
        values.setdefault("data", {})
        return render(request, "wms/supplier_detail.html", status_code=status_code, supplier=public,
                      approvals=approvals, trail=trail, materials=materials, kinds=SUPPLIER_KIND_LABELS,
                      statuses=APPROVAL_LABELS, performance=performance, performance_labels=PERFORMANCE_LABELS,
                      qualifications=qualifications,
                      qualification_statuses=supplier_qualification_models.STATUS_LABELS, **values)  # fmt: skip


@router.get("/suppliers/{supplier_id}", response_class=HTMLResponse)
def supplier_page(
    request: Request, db: DbDep, principal: MaterialView, supplier_id: int, done: int = 0
) -> Response:
    """One supplier: its data, its lines on the approved-supplier list and its own audit trail."""
    return _supplier_detail(
        request, db, principal, supplier_id, flash=i18n.gettext(N_("Saved")) if done else None
    )


@router.post("/suppliers/{supplier_id}/approvals", response_class=HTMLResponse)
async def supplier_decide(
    request: Request, db: DbDep, principal: SupplierManage, supplier_id: int
) -> Response:
    data = await form_data(request)
    with db.sessions() as session:
        code = service.get_supplier(session, supplier_id).code
    return submit(db, principal, ApprovalDecision, {**data, "supplier_code": code}, write=service.decide_approval,
                  reason=lambda decision: decision.reason,
                  rerender=lambda status, **values: _supplier_detail(request, db, principal, supplier_id, status,
                                                                     **{**values, "data": data}),
                  done=f"/wms/suppliers/{supplier_id}?done=1")  # fmt: skip


@router.post("/suppliers/{supplier_id}/void", response_class=HTMLResponse)
async def supplier_void(request: Request, db: DbDep, principal: SupplierManage, supplier_id: int) -> Response:
    return submit(db, principal, ReasonOnly, await form_data(request), reason=lambda body: body.reason,
                  write=lambda uow, _: service.void_supplier(uow, supplier_id),
                  rerender=lambda status, **values: _supplier_detail(request, db, principal, supplier_id, status,
                                                                     **values),
                  done=f"/wms/suppliers/{supplier_id}?done=1")  # fmt: skip


def _trail(session: Any, object_type: str, object_id: int) -> list[Any]:
    from sqlalchemy import select

    from pharmatrace.kernel.audit import AuditEntry

    return list(session.scalars(
        select(AuditEntry)
        .where(AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id))
        .order_by(AuditEntry.leaf_index.desc())
    ))  # fmt: skip
