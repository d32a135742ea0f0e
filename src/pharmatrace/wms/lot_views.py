"""Pages: goods receipt by scanning (tablet), lots with their status events, container labels."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel.errors import N_, Conflict, PharmaTraceError
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit, validate
from pharmatrace.web.templating import render
from pharmatrace.wms import labels as wms_labels
from pharmatrace.wms import lots, receipts, service
from pharmatrace.wms.labels import STATUS_LABELS
from pharmatrace.wms.models import LOT_EVENTS, Receipt
from pharmatrace.wms.schemas import LotDecision, LotEvent, ReceiptComplete, ReceiptCreate, ScanIn

router = APIRouter(prefix="/wms", include_in_schema=False)

MaterialView = Annotated[Principal, Depends(Requires("wms.material.view"))]
LotReceive = Annotated[Principal, Depends(Requires("wms.lot.receive"))]

# Who may take each event on the lot page (the API checks the same permissions).
EVENT_PERMISSIONS = {
    "start_testing": "lims.sample.manage",
    "release": "wms.material.approve",
    "reject": "wms.material.approve",
    "hold": "wms.material.approve",
    "release_hold": "wms.material.approve",
    "expire": "wms.stock.move",
}
EVENT_LABELS = {
    "start_testing": N_("Sample and start testing"),
    "release": N_("QA release"),
    "reject": N_("Reject"),
    "hold": N_("Put on hold"),
    "release_hold": N_("Lift the hold"),
    "expire": N_("Mark expired"),
}
SIGNED_EVENTS = ("release", "reject")
assert set(EVENT_PERMISSIONS) == set(EVENT_LABELS) == set(LOT_EVENTS)


def _trail(session: Session, object_type: str, object_id: int) -> list[Any]:
    from pharmatrace.kernel.audit import AuditEntry

    return list(session.scalars(
        select(AuditEntry)
        .where(AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id))
        .order_by(AuditEntry.leaf_index.desc())
    ))  # fmt: skip


def _with_containers(session: Session, trail: list[Any], container_ids: list[int]) -> list[Any]:
    """A lot's trail with its containers' entries (created, label printed), newest first."""
    from pharmatrace.kernel.audit import AuditEntry

    if not container_ids:
        return trail
    parts = session.scalars(
        select(AuditEntry).where(
            AuditEntry.object_type == "container", AuditEntry.object_id.in_([str(i) for i in container_ids])
        )
    )
    return sorted([*trail, *parts], key=lambda e: e.leaf_index, reverse=True)


def _panel(session: Session, principal: Principal, object_type: str, object_id: int) -> dict[str, object]:
    """The signature panel without the generic sign forms: these signatures belong to their events."""
    from pharmatrace.kernel.esign.views import panel

    return {**panel(session, principal, object_type, str(object_id)), "offered": []}


def _flash(done: str) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


# --- receipts --------------------------------------------------------------------------------------


def _receipts_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        found = [receipts.receipt_public(r) for r in receipts.list_receipts(session)]
        suppliers = [service.supplier_public(s) for s in service.list_suppliers(session)]
        materials = [service.material_public(m) for m in service.list_materials(session)]
    values.setdefault("data", {})
    return render(request, "wms/receipts.html", status_code=status_code, receipts=found, suppliers=suppliers,
                  materials=materials, **values)  # fmt: skip


@router.get("/receipts", response_class=HTMLResponse)
def receipts_page(request: Request, db: DbDep, _: MaterialView) -> Response:
    return _receipts_page(request, db)


@router.post("/receipts", response_class=HTMLResponse)
async def receipt_create(request: Request, db: DbDep, principal: LotReceive) -> Response:
    data = await form_data(request)
    create, errors = validate(ReceiptCreate, data)
    if create is None:
        return _receipts_page(request, db, 422, data=data, field_errors=errors,
                              error=errors.get("__root__") or errors.get("body"))  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor) as uow:
            receipt = receipts.create_receipt(uow, create)
            uow.commit()
            receipt_id = receipt.id
    except PharmaTraceError as error:
        return _receipts_page(request, db, error.http_status, data=data, error=i18n.error_message(error))
    return RedirectResponse(f"/wms/receipts/{receipt_id}", status_code=303)


def _receipt_page(
    request: Request, db: DbDep, principal: Principal, receipt_id: int, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        receipt = receipts.get_receipt(session, receipt_id)
        public = receipts.receipt_public(receipt)
        esign = _panel(session, principal, "receipt", receipt_id)
        trail = _trail(session, "receipt", receipt_id)
        from pharmatrace.kernel.esign.views import first_signature_pending

        ask_login = first_signature_pending(session, principal)
    values.setdefault("data", {})
    for name in ("scan_error", "last_scan", "scanned"):
        values.setdefault(name, "")
    if request.headers.get("hx-request") and status_code >= 400:
        status_code = 200  # htmx swaps only successful answers: the refusal is shown inline
    return render(request, "wms/receipt_detail.html", status_code=status_code, receipt=public, esign=esign,
                  trail=trail, ask_login=ask_login, statuses=STATUS_LABELS, **values)  # fmt: skip


@router.get("/receipts/{receipt_id}", response_class=HTMLResponse)
def receipt_page(
    request: Request, db: DbDep, principal: MaterialView, receipt_id: int, scanned: str = "", done: str = ""
) -> Response:
    """The receiving page: scan each container; the count, the containers and any refusal show at once."""
    return _receipt_page(request, db, principal, receipt_id, flash=_flash(done), scanned=scanned)


@router.post("/receipts/{receipt_id}/scan", response_class=HTMLResponse)
async def receipt_scan(request: Request, db: DbDep, principal: LotReceive, receipt_id: int) -> Response:
    data = await form_data(request)
    data["damaged"] = "true" if data.get("damaged") else "false"
    scan_in, errors = validate(ScanIn, data)
    if scan_in is None:
        return _receipt_page(request, db, principal, receipt_id, 422, scan_error=next(iter(errors.values())))
    try:
        with UnitOfWork(db, principal.actor) as uow:
            container = receipts.scan(uow, receipt_id, scan_in)
            uow.commit()
            code = container.code
    except PharmaTraceError as error:
        return _receipt_page(request, db, principal, receipt_id, error.http_status,
                             scan_error=i18n.error_message(error), last_scan=scan_in.scan)  # fmt: skip
    return RedirectResponse(f"/wms/receipts/{receipt_id}?scanned={quote(code)}", status_code=303)


@router.post("/receipts/{receipt_id}/complete", response_class=HTMLResponse)
async def receipt_complete(request: Request, db: DbDep, principal: LotReceive, receipt_id: int) -> Response:
    data = await form_data(request)
    for check in ("packaging_intact", "seals_intact", "labels_legible"):
        data[check] = "true" if data.get(check) else "false"
    return submit(db, principal, ReceiptComplete, data,
                  write=lambda uow, done: receipts.complete(uow, principal, receipt_id, done),
                  rerender=lambda status, **values: _receipt_page(request, db, principal, receipt_id, status,
                                                                  **values),
                  done=f"/wms/receipts/{receipt_id}?done=1")  # fmt: skip


@router.post("/receipts/{receipt_id}/void", response_class=HTMLResponse)
async def receipt_void(request: Request, db: DbDep, principal: LotReceive, receipt_id: int) -> Response:
    from pharmatrace.kernel.identity.schemas import ReasonOnly

    return submit(db, principal, ReasonOnly, await form_data(request), reason=lambda body: body.reason,
                  write=lambda uow, _: receipts.void_receipt(uow, receipt_id),
                  rerender=lambda status, **values: _receipt_page(request, db, principal, receipt_id, status,
                                                                  **values),
                  done=f"/wms/receipts/{receipt_id}?done=1")  # fmt: skip


# --- labels ----------------------------------------------------------------------------------------


def _label(data: bytes, fmt: wms_labels.Format, name: str) -> Response:
    if fmt == "pdf":
        return Response(data, media_type="application/pdf",
                        headers={"content-disposition": f'inline; filename="{name}.pdf"'})  # fmt: skip
    return Response(data, media_type="text/plain; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}.zpl"'})  # fmt: skip


@router.get("/receipts/{receipt_id}/labels.{fmt}")
def receipt_labels(receipt_id: int, fmt: wms_labels.Format, db: DbDep, principal: LotReceive) -> Response:
    """Every container label of a receipt (PDF, or ZPL for a label printer); the print is recorded."""
    with UnitOfWork(db, principal.actor) as uow:
        receipt = receipts.get_receipt(uow.session, receipt_id)
        containers = list(receipt.lot.containers)
        if not containers:
            raise Conflict(N_("No container has been scanned"))
        data = wms_labels.print_labels(uow, containers, fmt, receipt)
        uow.commit()
        return _label(data, fmt, receipt.number)


@router.get("/containers/{code}/label.{fmt}")
def container_label(code: str, fmt: wms_labels.Format, db: DbDep, principal: LotReceive) -> Response:
    with UnitOfWork(db, principal.actor) as uow:
        container = lots.container_by_code(uow.session, code)
        data = wms_labels.print_labels(uow, [container], fmt)
        uow.commit()
        return _label(data, fmt, container.code)


# --- lots ------------------------------------------------------------------------------------------


@router.get("/lots", response_class=HTMLResponse)
def lots_page(
    request: Request, db: DbDep, _: MaterialView, material: str = "", status: str = "", q: str = ""
) -> Response:
    """Lots by material and status; a scanned container code or GS1 string finds its lot."""
    with db.sessions() as session:
        if q:
            found = lots.find_by_scan(session, q)
            if found is not None and not material and not status:
                return RedirectResponse(f"/wms/lots/{found.id}", status_code=303)
        shown = [lots.lot_public(lot) for lot in lots.list_lots(session, material_code=material, status=status,
                                                                text=q)]  # fmt: skip
        materials = [service.material_public(m) for m in service.list_materials(session)]
    return render(request, "wms/lots.html", lots=shown, materials=materials, material=material, status=status,
                  q=q, statuses=STATUS_LABELS)  # fmt: skip


def _lot_page(
    request: Request, db: DbDep, principal: Principal, lot_id: int, status_code: int = 200, **values: Any
) -> Response:
    from pharmatrace.kernel.esign.views import first_signature_pending

    with db.sessions() as session:
        lot = lots.get_lot(session, lot_id)
        detail = lots.lot_detail(lot)
        receipt = session.scalar(select(Receipt).where(Receipt.lot_id == lot_id))
        trail = _trail(session, "lot", lot_id)
        history = [e for e in reversed(trail) if "status" in e.changes]
        trail = _with_containers(session, trail, [c.id for c in lot.containers])
        esign = _panel(session, principal, "lot", lot_id)
        ask_login = first_signature_pending(session, principal)
        offered = [
            name for name, (starts, _) in LOT_EVENTS.items()
            if lot.status in starts and principal.can(EVENT_PERMISSIONS[name]) and lot.voided_at is None
        ]  # fmt: skip
        receipt_ref = (receipt.id, receipt.number) if receipt is not None else None
        coas = _certificates(session, lot_id)
    values.setdefault("data", {})
    values.setdefault("event", "")
    return render(request, "wms/lot_detail.html", status_code=status_code, lot=detail, trail=trail,
                  history=history, esign=esign, ask_login=ask_login, offered=offered, event_labels=EVENT_LABELS,
                  signed_events=SIGNED_EVENTS, statuses=STATUS_LABELS, receipt=receipt_ref, certificates=coas,
                  **values)  # fmt: skip


def _certificates(session: Session, lot_id: int) -> list[tuple[int, str, str, str]]:
    """The lot's certificates of analysis (TJ-7.1, TJ-5.2.1.4): ID, code, state, conclusion; void ones too."""
    from pharmatrace.lims import certificates

    return [(c.id, c.code, certificates.STATE_LABELS[certificates.state_of(c)],
             certificates.CONCLUSION_LABELS[c.conclusion])
            for c in certificates.certificates_of_lot(session, lot_id)]  # fmt: skip


@router.get("/lots/{lot_id}", response_class=HTMLResponse)
def lot_page(request: Request, db: DbDep, principal: MaterialView, lot_id: int, done: str = "") -> Response:
    """One lot: status, containers, status history, signatures and its audit trail."""
    return _lot_page(request, db, principal, lot_id, flash=_flash(done))


@router.post("/lots/{lot_id}/events/{event}", response_class=HTMLResponse)
async def lot_event(
    request: Request, db: DbDep, principal: MaterialView, lot_id: int, event: str
) -> Response:
    if event not in EVENT_PERMISSIONS:
        raise Conflict(N_("Unknown lot event"))
    principal.require(EVENT_PERMISSIONS[event])
    data = await form_data(request)
    schema: type[LotEvent] | type[LotDecision] = LotDecision if event in SIGNED_EVENTS else LotEvent
    body, errors = validate(schema, data)
    if body is None:
        return _lot_page(request, db, principal, lot_id, 422, field_errors=errors, data=data, event=event,
                         error=next(iter(errors.values())))  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor, reason=body.reason) as uow:
            if isinstance(body, LotDecision):
                decide = lots.release if event == "release" else lots.reject
                decide(uow, principal, lot_id, body.password, body.login or None)
            else:
                {"start_testing": lots.start_testing, "hold": lots.hold, "release_hold": lots.release_hold,
                 "expire": lots.expire}[event](uow, lot_id)  # fmt: skip
            uow.commit()
    except PharmaTraceError as error:
        return _lot_page(request, db, principal, lot_id, error.http_status, data=data, event=event,
                         error=i18n.error_message(error))  # fmt: skip
    return RedirectResponse(f"/wms/lots/{lot_id}?done=1", status_code=303)
