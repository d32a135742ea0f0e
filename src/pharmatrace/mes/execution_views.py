"""Pages: batch orders and their execution on the floor (TJ-6.4), tablet-friendly, Chinese first.

* ``/mes/batches``: the orders with filters and sort, and the planning form for a supervisor;
* ``/mes/batches/{order_no}``: the plan, the release form (signed), the control recipe's SM3, the steps by unit
  procedure and operation with their states, the exceptions, sign-offs, corrections and the audit trail;
* ``/mes/batches/{order_no}/steps/{step_code}``: the execution page of one step — the form of its type, the
  sign-off form, its exceptions, its SOP's current effective version (linked to ``/documents/floor/…``), and
  the dispensing panel for weighing, identification and charging steps;
* ``/mes/batches/{order_no}/exceptions/{id}``: the supervisor's decision form.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, formulas, historian_seam, packaging, recipes
from pharmatrace.mes.execution_models import ORDER_STATUSES, BatchOrder, StepExecution
from pharmatrace.mes.execution_schemas import (
    CorrectionCreate,
    ExceptionDecision,
    OrderCreate,
    StepComplete,
)
from pharmatrace.mes.recipe_views import SIGNOFF_LABELS, STEP_LABELS
from pharmatrace.qms.complaint_models import CATEGORY_LABELS, CLASSIFICATION_LABELS
from pharmatrace.qms.complaint_models import STATUS_LABELS as COMPLAINT_STATUS_LABELS
from pharmatrace.qms.complaints import complaints_for_batch
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data
from pharmatrace.web.templating import render

router = APIRouter(prefix="/mes", include_in_schema=False)

BatchView = Annotated[Principal, Depends(Requires("mes.batch.view"))]
BatchExecute = Annotated[Principal, Depends(Requires("mes.batch.execute"))]
BatchSupervise = Annotated[Principal, Depends(Requires("mes.batch.supervise"))]

LABELS = {
    "status": execution.ORDER_STATUS_LABELS, "states": execution.STEP_STATE_LABELS, "steps": STEP_LABELS,
    "signoffs": SIGNOFF_LABELS, "kinds": execution.EXCEPTION_KIND_LABELS,
    "exception_status": execution.EXCEPTION_STATUS_LABELS, "roles": execution.SIGNOFF_ROLE_LABELS,
    "meanings": MEANINGS,
}  # fmt: skip
DISPENSING = execution.DISPENSING_TYPES


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("done", request.query_params.get("done"))
    values.setdefault("error", request.query_params.get("error"))
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _back(url: str, *, error: str | None = None, done: str | None = None) -> RedirectResponse:
    if error is not None:
        return RedirectResponse(f"{url}?error={quote(error)}", status_code=303)
    return RedirectResponse(f"{url}?done={quote(done or '')}", status_code=303)


def _validation_message(error: ValidationError) -> str:
    first = i18n.field_errors(list(error.errors()))[0]
    return f"{first['field']}: {first['message']}" if first.get("field") else first["message"]


# --- the list ------------------------------------------------------------------------------------------


@router.get("/batches", response_class=HTMLResponse)
def batch_list(request: Request, db: DbDep, principal: BatchView, q: str = "", status: str = "") -> Response:
    """Batch orders, filtered by text and status; the planning form for a supervisor."""
    status = status if status in ORDER_STATUSES else ""
    with db.sessions() as session:
        rows = [
            execution.order_public(session, o) for o in execution.list_orders(session, text=q, status=status)
        ]
        usable = [r.code for r in recipes.list_recipes(session) if recipes.usable_version(session, r.code)]
    return _render(request, "mes/batches.html", rows=rows, q=q, status=status, statuses=ORDER_STATUSES,
                   recipes=usable, form={})  # fmt: skip


@router.post("/batches", response_class=HTMLResponse)
async def batch_create(request: Request, db: DbDep, principal: BatchSupervise) -> Response:
    data = await form_data(request)
    try:
        order_in = OrderCreate.model_validate(data)
        with UnitOfWork(db, principal.actor) as uow:
            order = execution.create_order(uow, principal, order_in)
            uow.commit()
            url = f"/mes/batches/{order.order_no}"
    except ValidationError as error:
        return _back("/mes/batches", error=_validation_message(error))
    except PharmaTraceError as error:
        return _back("/mes/batches", error=i18n.error_message(error))
    return _back(url, done=i18n.gettext(N_("Saved")))


# --- the order -----------------------------------------------------------------------------------------


def _trail(session: Session, order: BatchOrder, steps: list[StepExecution] | None = None) -> list[AuditEntry]:
    signoffs = [s.id for s in execution.signoffs_of(session, order)]
    exceptions = [e.id for e in execution.exceptions_of(session, order)]
    step_ids = [s.id for s in (steps if steps is not None else execution._steps(session, order).values())]
    records = [("batch_order", [order.id]), ("step_execution", step_ids), ("batch_signoff", signoffs),
               ("batch_exception", exceptions)]  # fmt: skip
    if steps is not None:  # one step's page: only its own rows
        codes = {s.step_code for s in steps}
        records = [
            ("step_execution", step_ids),
            ("batch_signoff", [s.id for s in execution.signoffs_of(session, order) if s.step_code in codes]),
            (
                "batch_exception",
                [e.id for e in execution.exceptions_of(session, order) if e.step_code in codes],
            ),
        ]
    conditions = [
        (AuditEntry.object_type == kind) & AuditEntry.object_id.in_([str(i) for i in ids])
        for kind, ids in records
        if ids
    ]
    if not conditions:
        return []
    return list(session.scalars(
        select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.leaf_index.desc()).limit(500)
    ))  # fmt: skip


def _signatures(session: Session, order: BatchOrder, step_code: str | None = None) -> list[dict[str, Any]]:
    out = []
    for row in execution.signoffs_of(session, order):
        if step_code is not None and row.step_code != step_code:
            continue
        out.append({"row": row, "views": esign.manifestations(session, execution.SIGNOFF_TYPE, str(row.id))})
    return out


# The complaints about a batch on its page (SH-6.2.4): the batch record and its complaints in one place.
COMPLAINT_LABELS = {
    "categories": CATEGORY_LABELS,
    "classifications": CLASSIFICATION_LABELS,
    "statuses": COMPLAINT_STATUS_LABELS,
}


@router.get("/batches/{order_no}", response_class=HTMLResponse)
def order_page(request: Request, db: DbDep, principal: BatchView, order_no: str) -> Response:
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        detail = execution.order_detail(session, order)
        units: list[dict[str, Any]] = []
        if execution.control_recipe_of(session, order) is not None:
            body = execution.control_body(session, order)
            by_code = {s.step_code: s for s in detail.steps}
            for unit in body.unit_procedures:
                units.append({"unit": unit, "operations": [
                    {"op": op, "steps": [by_code[s.code] for s in op.steps if s.code in by_code]}
                    for op in unit.operations
                ]})  # fmt: skip
        version = recipes.get_version(session, order.master_version_id)
        return _render(
            request, "mes/order.html", order=detail, units=units, recipe_version=version.version,
            complaints=complaints_for_batch(session, order.id), complaint_labels=COMPLAINT_LABELS,
            signatures=_signatures(session, order), trail=_trail(session, order),
            ask_login=first_signature_pending(session, principal),
        )  # fmt: skip


def _order_act(
    db: DbDep, principal: Principal, order_no: str, write: Any, reason: str | None = None
) -> Response:
    url = f"/mes/batches/{order_no}"
    try:
        with UnitOfWork(db, principal.actor, reason=reason) as uow:
            write(uow, execution.get_order(uow.session, order_no))
            uow.commit()
    except PharmaTraceError as error:
        return _back(url, error=i18n.error_message(error))
    return _back(url, done=i18n.gettext(N_("Saved")))


@router.post("/batches/{order_no}/release", response_class=HTMLResponse)
async def order_release(request: Request, db: DbDep, principal: BatchSupervise, order_no: str) -> Response:
    data = await form_data(request)

    def write(uow: UnitOfWork, order: BatchOrder) -> None:
        execution.release(uow, principal, order, password=str(data.get("password", "")),
                          login=str(data.get("login", "")) or None, comment=str(data.get("comment", ""))[:500])  # fmt: skip

    return _order_act(db, principal, order_no, write)


@router.post("/batches/{order_no}/cancel", response_class=HTMLResponse)
async def order_cancel(request: Request, db: DbDep, principal: BatchSupervise, order_no: str) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    if len(reason) < 2:
        return _back(
            f"/mes/batches/{order_no}", error=i18n.gettext(N_("A reason is required for this change"))
        )
    return _order_act(
        db, principal, order_no, lambda uow, order: execution.cancel(uow, principal, order), reason[:500]
    )


# --- one step ------------------------------------------------------------------------------------------


def _sop(session: Session, number: str | None) -> Any:
    if number is None:
        return None
    try:
        from pharmatrace.documents.service import current_effective
    except ImportError:  # pragma: no cover - the documents area is always there in the product
        return None
    return current_effective(session, number)


@router.get("/batches/{order_no}/steps/{step_code}", response_class=HTMLResponse)
def step_page(request: Request, db: DbDep, principal: BatchView, order_no: str, step_code: str) -> Response:
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        plan = execution.plan_of(execution.control_body(session, order))
        row = execution.step_of(session, order, step_code)
        unit_code, operation, step = plan.steps[row.step_code]
        rows = execution._steps(session, order)
        predecessors = [(c, rows[c].state) for c in plan.predecessors[row.step_code]]
        inputs: list[tuple[str, str]] = []
        if step.type == "calculation":
            known = {}
            for code in plan.steps:
                if rows[code].state == "done":
                    for name, item in json.loads(rows[code].record).get("values", {}).items():
                        known[name] = item.get("value")
            inputs = [(n, str(known.get(n) or "")) for n in formulas.parse(step.formula).names]
        exceptions = [e for e in execution.exceptions_of(session, order) if e.step_code == row.step_code]
        corrections = [c for c, code in execution.corrections_of(session, order) if code == row.step_code]
        second = execution.SECOND_ACTIONS.get(step.signoff)
        untrained = None  # TJ-10.1.2.2.d: say before the operator tries, not only when the start is refused
        if step.sop and principal.can("mes.batch.execute"):
            from pharmatrace.training import gates

            if missing := gates.missing_training(session, principal.user_id, [step.sop]):
                untrained = i18n.error_message(gates.refusal(missing))
        return _render(
            request, "mes/step.html", order=execution.order_public(session, order),
            row=row, step=step, operation=operation, unit_code=unit_code, record=json.loads(row.record),
            predecessors=predecessors, sop=_sop(session, step.sop), inputs=inputs,
            exceptions=[execution.exception_public(session, e, order.batch_no) for e in exceptions],
            corrections=corrections, signatures=_signatures(session, order, row.step_code),
            second=second, trail=_trail(session, order, [row]), ask_login=first_signature_pending(session, principal),
            dispensing=step.type in DISPENSING, step_code=row.step_code, untrained=untrained,
            packaging_step=row.step_code in packaging.packaging_steps(plan.body),
            observable=step.type in execution.OBSERVABLE_TYPES, late_entry_minutes=plan.body.late_entry_minutes,
            historian=historian_seam.registered(),
        )  # fmt: skip


def _step_url(order_no: str, step_code: str) -> str:
    return f"/mes/batches/{order_no}/steps/{step_code}"


def _step_act(db: DbDep, principal: Principal, order_no: str, step_code: str, write: Any) -> Response:
    url = _step_url(order_no, step_code)
    try:
        with UnitOfWork(db, principal.actor) as uow:
            write(uow, execution.get_order(uow.session, order_no))
            uow.commit()
    except PharmaTraceError as error:
        return _back(url, error=i18n.error_message(error))
    return _back(url, done=i18n.gettext(N_("Saved")))


@router.post("/batches/{order_no}/steps/{step_code}/start", response_class=HTMLResponse)
async def step_start(db: DbDep, principal: BatchExecute, order_no: str, step_code: str) -> Response:
    return _step_act(db, principal, order_no, step_code,
                     lambda uow, order: execution.start(uow, principal, order, step_code))  # fmt: skip


def _completion(data: dict[str, Any]) -> StepComplete:
    """The step form's fields (``value__code``, ``comment__code``, ``result__code``, ``check__n``, the optional
    ``observed_at`` in Beijing time and ``late_reason``) as input."""
    values = {
        k.removeprefix("value__"): v.strip() for k, v in data.items() if k.startswith("value__") and v.strip()
    }
    comments = {
        k.removeprefix("comment__"): v for k, v in data.items() if k.startswith("comment__") and v.strip()
    }
    results = {k.removeprefix("result__"): v for k, v in data.items() if k.startswith("result__") and v}
    checks = [data[k] for k in sorted((k for k in data if k.startswith("check__")), key=lambda k: int(k[7:]))]
    equipment = [c.strip() for c in str(data.get("equipment", "")).replace("，", ",").split(",") if c.strip()]
    observed = str(data.get("observed_at", "")).strip()
    if observed and len(observed) <= 19:  # <input type="datetime-local"> is Beijing time (TJ-10.1.3.1)
        observed += "+08:00"
    return StepComplete.model_validate({
        "acknowledged": data.get("acknowledged") == "on", "values": values, "comments": comments,
        "results": results, "checks": checks, "equipment": equipment, "note": data.get("note", ""),
        "observed_at": observed or None, "late_reason": data.get("late_reason", ""),
        "password": data.get("password", ""), "login": data.get("login") or None,
    })  # fmt: skip


@router.post("/batches/{order_no}/steps/{step_code}/complete", response_class=HTMLResponse)
async def step_complete(
    request: Request, db: DbDep, principal: BatchExecute, order_no: str, step_code: str
) -> Response:
    data = await form_data(request)
    try:
        completion = _completion(data)
    except ValidationError as error:
        return _back(_step_url(order_no, step_code), error=_validation_message(error))
    return _step_act(db, principal, order_no, step_code,
                     lambda uow, order: execution.complete(uow, principal, order, step_code, completion))  # fmt: skip


@router.post("/batches/{order_no}/steps/{step_code}/sign", response_class=HTMLResponse)
async def step_sign(
    request: Request, db: DbDep, principal: BatchView, order_no: str, step_code: str
) -> Response:
    """The second signature (verifier, supervisor or QA): the engine checks the permission the step needs."""
    data = await form_data(request)
    return _step_act(db, principal, order_no, step_code, lambda uow, order: execution.sign_step(
        uow, principal, order, step_code, password=str(data.get("password", "")),
        login=str(data.get("login", "")) or None, comment=str(data.get("comment", ""))[:500]))  # fmt: skip


@router.post("/batches/{order_no}/steps/{step_code}/correct", response_class=HTMLResponse)
async def step_correct(
    request: Request, db: DbDep, principal: BatchView, order_no: str, step_code: str
) -> Response:
    data = await form_data(request)
    try:
        correction = CorrectionCreate.model_validate({
            "field": data.get("field", ""), "new_value": data.get("new_value", ""), "reason": data.get("reason", ""),
            "password": data.get("password", ""), "login": data.get("login") or None,
        })  # fmt: skip
    except ValidationError as error:
        return _back(_step_url(order_no, step_code), error=_validation_message(error))
    return _step_act(db, principal, order_no, step_code,
                     lambda uow, order: execution.correct(uow, principal, order, step_code, correction))  # fmt: skip


# --- exceptions ----------------------------------------------------------------------------------------


@router.get("/batches/{order_no}/exceptions/{exception_id}", response_class=HTMLResponse)
def exception_page(
    request: Request, db: DbDep, principal: BatchView, order_no: str, exception_id: int
) -> Response:
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        exception = execution.get_exception(session, exception_id)
        if exception.batch_order_id != order.id:
            from pharmatrace.kernel.errors import NotFound

            raise NotFound(N_("No batch exception {id}"), id=exception_id)
        signatures = [s for s in _signatures(session, order) if s["row"].exception_id == exception.id]
        trail = list(session.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "batch_exception",
                                     AuditEntry.object_id == str(exception.id)).order_by(AuditEntry.leaf_index.desc())
        ))  # fmt: skip
        return _render(
            request, "mes/exception.html", order=execution.order_public(session, order),
            exception=execution.exception_public(session, exception, order.batch_no), signatures=signatures,
            trail=trail, ask_login=first_signature_pending(session, principal),
        )  # fmt: skip


@router.post("/batches/{order_no}/exceptions/{exception_id}/decision", response_class=HTMLResponse)
async def exception_decide(
    request: Request, db: DbDep, principal: BatchSupervise, order_no: str, exception_id: int
) -> Response:
    url = f"/mes/batches/{order_no}/exceptions/{exception_id}"
    data = await form_data(request)
    try:
        decision = ExceptionDecision.model_validate({
            "decision": data.get("decision", ""), "comment": data.get("comment", ""),
            "immediate_actions": data.get("immediate_actions", ""), "password": data.get("password", ""),
            "login": data.get("login") or None,
        })  # fmt: skip
        with UnitOfWork(db, principal.actor) as uow:
            order = execution.get_order(uow.session, order_no)
            if execution.get_exception(uow.session, exception_id).batch_order_id != order.id:
                return _back(url, error=i18n.gettext(N_("No entries")))
            execution.decide(uow, principal, exception_id, decision)
            uow.commit()
    except ValidationError as error:
        return _back(url, error=_validation_message(error))
    except PharmaTraceError as error:
        return _back(url, error=i18n.error_message(error))
    return _back(url, done=i18n.gettext(N_("Saved")))
