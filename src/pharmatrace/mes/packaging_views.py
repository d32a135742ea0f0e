"""Pages: the packaging record of a batch (TJ-6.4.6, TJ-B.2.3.4).

``/mes/batches/{order}/packaging`` shows the whole record (header, line check and its signatures, printed
materials with their specimens, printing checks, visual inspection, balance and reconciliation, what is still
missing, the audit trail). With ``?step=…`` — a packaging step in progress — it shows the forms too; the batch
step page includes ``mes/packaging_panel.html``, which loads that body (``partial=1``) on packaging steps.
The forms post here and come back to the page (or the panel with htmx); refusals show with their reasons.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, NotFound, PharmaTraceError, ValidationFailed
from pharmatrace.kernel.esign import views as esign_views
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, packaging
from pharmatrace.mes.execution_models import StepExecution
from pharmatrace.mes.packaging_models import (
    MaterialReconciliation,
    PackagingBalance,
    PackagingLineCheck,
    PackagingRecord,
    PackagingSpecimen,
    PrintDataCheck,
    PrintedMaterialCheck,
    VisualInspection,
)
from pharmatrace.mes.packaging_schemas import (
    BalanceCreate,
    LineCheckCreate,
    LineCheckVerify,
    MaterialCheckCreate,
    PackagingRecordCreate,
    PrintCheckCreate,
    ReconciliationCreate,
    VisualInspectionCreate,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/mes", include_in_schema=False)

BatchView = Annotated[Principal, Depends(Requires("mes.batch.view"))]
BatchExecute = Annotated[Principal, Depends(Requires("mes.batch.execute"))]

# The pre-packaging line check offered on the form (TJ-6.4.6: 包装前检查); each item is answered pass or fail.
LINE_CHECK_ITEMS = (
    N_("No materials, labels or products of the previous batch on the line"),
    N_("Line and equipment clean"),
    N_("Printed materials on the line are of this batch only"),
    N_("Printer set to this batch's number and expiry date"),
    N_("Line clearance certificate of the previous batch present and valid"),
)
TRAIL_TYPES = {
    "packaging_record": PackagingRecord,
    "packaging_line_check": PackagingLineCheck,
    "packaging_material_check": PrintedMaterialCheck,
    "packaging_specimen": PackagingSpecimen,
    "packaging_print_check": PrintDataCheck,
    "visual_inspection": VisualInspection,
    "packaging_reconciliation": MaterialReconciliation,
    "packaging_balance": PackagingBalance,
}


def _page_url(order: str, step: str = "") -> str:
    base = f"/mes/batches/{quote(order)}/packaging"
    return base + (f"?step={quote(step)}" if step else "")


def _trail(session: Session, record: PackagingRecord | None) -> list[AuditEntry]:
    """The trail of the record and of every row that belongs to it (refusals are recorded on the record)."""
    if record is None:
        return []
    ids: dict[str, list[str]] = {"packaging_record": [str(record.id)]}
    checks = session.scalars(
        select(PrintedMaterialCheck.id).where(PrintedMaterialCheck.record_id == record.id)
    ).all()
    ids["packaging_material_check"] = [str(i) for i in checks]
    ids["packaging_specimen"] = [
        str(i)
        for i in session.scalars(
            select(PackagingSpecimen.id).where(PackagingSpecimen.material_check_id.in_(checks))
        ).all()
    ]
    ids["packaging_reconciliation"] = [
        str(i)
        for i in session.scalars(
            select(MaterialReconciliation.id).where(MaterialReconciliation.material_check_id.in_(checks))
        ).all()
    ]
    for object_type, model in (
        ("packaging_line_check", PackagingLineCheck),
        ("packaging_print_check", PrintDataCheck),
        ("visual_inspection", VisualInspection),
        ("packaging_balance", PackagingBalance),
    ):
        ids[object_type] = [
            str(i) for i in session.scalars(select(model.id).where(model.record_id == record.id))
        ]
    entries: list[AuditEntry] = []
    for object_type, object_ids in ids.items():
        if object_ids:
            entries.extend(
                session.scalars(
                    select(AuditEntry).where(
                        AuditEntry.object_type == object_type, AuditEntry.object_id.in_(object_ids)
                    )
                )
            )
    return sorted(entries, key=lambda e: e.leaf_index, reverse=True)


def _page(
    request: Request, db: DbDep, principal: Principal, order_ref: str, step: str = "", status_code: int = 200,
    *, partial: bool = False, **values: Any,
) -> Response:  # fmt: skip
    with db.sessions() as session:
        order = execution.get_order(session, order_ref)
        record = packaging.record_of(session, order)
        public = None if record is None else packaging.record_public(session, record)
        plan = execution.plan_of(execution.control_body(session, order))
        steps = [
            row
            for row in session.scalars(
                select(StepExecution)
                .where(StepExecution.batch_order_id == order.id)
                .order_by(StepExecution.seq)
            )
            if row.step_code in packaging.packaging_steps(plan.body)
        ]
        step_code = step.strip().upper()
        active = next((r for r in steps if r.step_code == step_code and r.state == "in_progress"), None)
        line = None if public is None else public.line_check
        exceptions = [
            execution.exception_public(session, e, order.batch_no)
            for e in execution.exceptions_of(session, order)
            if any(e.step_code == r.step_code for r in steps)
        ]
        values.update(
            order=execution.order_public(session, order), record=public, steps=steps, step_code=step_code,
            active=active, exceptions=exceptions, trail=_trail(session, record),
            esign=esign_views.panel(session, principal, "packaging_line_check", str(line.id)) if line else None,
            ask_login=esign_views.first_signature_pending(session, principal),
            line_items=LINE_CHECK_ITEMS, exception_kinds=execution.EXCEPTION_KIND_LABELS,
            exception_statuses=execution.EXCEPTION_STATUS_LABELS, defects=packaging.DEFECT_LABELS, kinds=packaging.KIND_LABELS,
            base_url=f"/mes/batches/{quote(order.batch_no)}/packaging",
        )  # fmt: skip
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    values.setdefault("form", "")
    name = "mes/packaging_body.html" if partial else "mes/packaging.html"
    return render(request, name, status_code=status_code, **values)


@router.get("/batches/{order}/packaging", response_class=HTMLResponse)
def packaging_page(
    request: Request,
    db: DbDep,
    principal: BatchView,
    order: str,
    step: str = "",
    partial: int = 0,
    done: str = "",
) -> Response:
    """The packaging record of the batch; with a packaging step in progress, its forms."""
    flash = i18n.gettext(N_("Recorded")) if done else None
    return _page(request, db, principal, order, step, partial=bool(partial), flash=flash)


@router.get("/batches/{order}/packaging/specimens/{specimen_id}")
def specimen_image(db: DbDep, _: BatchView, order: str, specimen_id: int) -> Response:
    with db.sessions() as session:
        specimen, data = packaging.specimen_bytes(db, session, specimen_id)
        check = session.get(PrintedMaterialCheck, specimen.material_check_id)
        record = None if check is None else session.get(PackagingRecord, check.record_id)
        if record is None or record.batch_no != execution.get_order(session, order).batch_no:
            raise NotFound(N_("No specimen {id}"), id=specimen_id)
        return Response(content=data, media_type=specimen.media_type)


def _act(
    request: Request, db: DbDep, principal: Principal, order: str, form: str, data: dict[str, Any],
    schema: type[BaseModel], write: Any,
) -> Response:  # fmt: skip
    partial = request.headers.get("hx-request") == "true"
    step = str(data.get("step", ""))
    body, errors = validate(schema, data)
    if body is None:
        first = next(iter(errors.values()), None)
        return _page(request, db, principal, order, step, 200 if partial else 422, partial=partial, form=form,
                     data=data, field_errors=errors, error=first)  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor) as uow:
            write(uow, body)
            uow.commit()
    except PharmaTraceError as error:
        return _page(request, db, principal, order, step, 200 if partial else error.http_status, partial=partial,
                     form=form, data=data, error=i18n.error_message(error))  # fmt: skip
    if partial:
        return _page(request, db, principal, order, step, partial=True, flash=i18n.gettext(N_("Recorded")))
    return RedirectResponse(_page_url(order, step) + ("&" if step else "?") + "done=1", status_code=303)


def _filled(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v != ""}


@router.post("/batches/{order}/packaging/open", response_class=HTMLResponse)
async def open_submit(request: Request, db: DbDep, principal: BatchExecute, order: str) -> Response:
    data = _filled(await form_data(request))
    return _act(request, db, principal, order, "open", data, PackagingRecordCreate,
                lambda uow, body: packaging.open_record(uow, principal, order, body))  # fmt: skip


@router.post("/batches/{order}/packaging/line-check", response_class=HTMLResponse)
async def line_check_submit(request: Request, db: DbDep, principal: BatchExecute, order: str) -> Response:
    raw = await form_data(request)
    checks = [
        {"item": i18n.gettext(item), "result": raw.get(f"result_{n}", ""), "note": raw.get(f"note_{n}", "")}
        for n, item in enumerate(LINE_CHECK_ITEMS)
    ]
    data = {"step": raw.get("step", ""), "checks": checks, "password": raw.get("password", "")}
    if raw.get("login"):
        data["login"] = raw["login"]
    return _act(request, db, principal, order, "line", data, LineCheckCreate,
                lambda uow, body: packaging.record_line_check(uow, principal, order, body))  # fmt: skip


@router.post("/batches/{order}/packaging/line-check/verify", response_class=HTMLResponse)
async def verify_submit(request: Request, db: DbDep, principal: BatchExecute, order: str) -> Response:
    raw = await form_data(request)
    data = _filled({"password": raw.get("password", ""), "login": raw.get("login", "")})
    partial = request.headers.get("hx-request") == "true"
    body, errors = validate(LineCheckVerify, data)
    step = str(raw.get("step", ""))
    if body is None:
        return _page(request, db, principal, order, step, 200 if partial else 422, partial=partial, form="verify",
                     field_errors=errors, error=next(iter(errors.values()), None))  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor) as uow:
            packaging.verify_line_check(uow, principal, order, body)
            uow.commit()
    except PharmaTraceError as error:
        return _page(request, db, principal, order, step, 200 if partial else error.http_status, partial=partial,
                     form="verify", error=i18n.error_message(error))  # fmt: skip
    return RedirectResponse(_page_url(order, step) + ("&" if step else "?") + "done=1", status_code=303)


@router.post("/batches/{order}/packaging/materials", response_class=HTMLResponse)
async def material_submit(request: Request, db: DbDep, principal: BatchExecute, order: str) -> Response:
    data = _filled(await form_data(request))
    return _act(request, db, principal, order, "material", data, MaterialCheckCreate,
                lambda uow, body: packaging.check_material(uow, principal, order, body))  # fmt: skip


@router.post("/batches/{order}/packaging/specimens", response_class=HTMLResponse)
async def specimen_submit(request: Request, db: DbDep, principal: BatchExecute, order: str) -> Response:
    form = await request.form()
    step, material = str(form.get("step") or ""), str(form.get("material") or "")
    image = form.get("image")
    content, name = b"", "specimen"
    if image is not None and not isinstance(image, str):
        content, name = await image.read(packaging.SPECIMENS.max_bytes + 1), image.filename or "specimen"
    partial = request.headers.get("hx-request") == "true"
    try:
        if not content:
            raise ValidationFailed(N_("A specimen image of the printed material is required"))
        with UnitOfWork(db, principal.actor) as uow:
            packaging.add_specimen(uow, principal, order, step, material, content, name)
            uow.commit()
    except PharmaTraceError as error:
        return _page(request, db, principal, order, step, 200 if partial else error.http_status, partial=partial,
                     form="specimen", error=i18n.error_message(error))  # fmt: skip
    return RedirectResponse(_page_url(order, step) + ("&" if step else "?") + "done=1", status_code=303)


@router.post("/batches/{order}/packaging/print-checks", response_class=HTMLResponse)
async def print_submit(request: Request, db: DbDep, principal: BatchExecute, order: str) -> Response:
    data = _filled(await form_data(request))
    return _act(request, db, principal, order, "print", data, PrintCheckCreate,
                lambda uow, body: packaging.check_print(uow, principal, order, body))  # fmt: skip


@router.post("/batches/{order}/packaging/inspections", response_class=HTMLResponse)
async def inspection_submit(request: Request, db: DbDep, principal: BatchExecute, order: str) -> Response:
    data = _filled(await form_data(request))
    return _act(request, db, principal, order, "inspection", data, VisualInspectionCreate,
                lambda uow, body: packaging.inspect(uow, principal, order, body))  # fmt: skip


@router.post("/batches/{order}/packaging/balance", response_class=HTMLResponse)
async def balance_submit(request: Request, db: DbDep, principal: BatchExecute, order: str) -> Response:
    data = _filled(await form_data(request))
    return _act(request, db, principal, order, "balance", data, BalanceCreate,
                lambda uow, body: packaging.record_balance(uow, principal, order, body))  # fmt: skip


@router.post("/batches/{order}/packaging/reconciliations", response_class=HTMLResponse)
async def reconciliation_submit(request: Request, db: DbDep, principal: BatchExecute, order: str) -> Response:
    data = _filled(await form_data(request))
    return _act(request, db, principal, order, "reconciliation", data, ReconciliationCreate,
                lambda uow, body: packaging.reconcile(uow, principal, order, body))  # fmt: skip
