"""Pages: deviations (偏差, TJ-6.4.4, SH-6.2.4). The list with its filters, counts per status and class, ageing and
overdue badges, and the form of a new deviation; a deviation's page with its record, classification,
investigation, affected batches and lots with their impact conclusions, linked CAPAs, timeline, closure signature
and audit trail, and the form of each step its reader may take."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.clock import BEIJING
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import deviations, extensions
from pharmatrace.qms.deviation_models import (
    CATEGORIES,
    CLASSES,
    CONCLUSIONS,
    FISHBONE,
    OBJECT_KINDS,
    SOURCE_KINDS,
    STATUSES,
    Deviation,
)
from pharmatrace.qms.deviation_schemas import (
    Cancellation,
    Classification,
    DeviationCreate,
    ImmediateAction,
    ImpactAssessment,
    Investigation,
)
from pharmatrace.qms.risk_models import STATUS_LABELS as RISK_STATUS_LABELS
from pharmatrace.qms.risks import risks_for
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Raise = Annotated[Principal, Depends(Requires("qms.deviation.raise"))]
Approve = Annotated[Principal, Depends(Requires("qms.deviation.approve"))]

LABELS = {"status": deviations.STATUS_LABELS, "classes": deviations.CLASS_LABELS,
          "sources": deviations.SOURCE_LABELS, "categories": deviations.CATEGORY_LABELS,
          "fishbone": deviations.FISHBONE_LABELS, "conclusions": deviations.CONCLUSION_LABELS,
          "objects": deviations.OBJECT_LABELS, "events": deviations.EVENT_LABELS, "steps": deviations.STEP_LABELS,
          "triage": deviations.TRIAGE_LABELS, "meanings": MEANINGS}  # fmt: skip
CHOICES = {"statuses": STATUSES, "classes": CLASSES, "sources": SOURCE_KINDS, "categories": CATEGORIES,
           "fishbone": FISHBONE, "conclusions": CONCLUSIONS, "objects": OBJECT_KINDS}  # fmt: skip
SEPARATORS = re.compile(r"[\s,，、;；]+")


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, choices=CHOICES, **values)


def _back(url: str, *, error: str | None = None, done: str | None = None) -> RedirectResponse:
    if error is not None:
        return RedirectResponse(f"{url}?error={quote(error)}", status_code=303)
    return RedirectResponse(f"{url}?done={quote(done or '')}", status_code=303)


def _codes(text: str) -> list[str]:
    return [code.upper() for code in SEPARATORS.split(text or "") if code]


def _local_time(text: str) -> str:
    """A ``datetime-local`` value (Beijing time) as an aware ISO time."""
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=BEIJING).isoformat()
    except ValueError:
        return text


# --- the list ------------------------------------------------------------------------------------------


def _list(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    query = request.query_params
    status = query.get("status", "") if query.get("status", "") in (*STATUSES, "active") else ""
    klass = query.get("class", "") if query.get("class", "") in CLASSES else ""
    source = query.get("source", "") if query.get("source", "") in SOURCE_KINDS else ""
    overdue = query.get("overdue", "") in ("1", "on", "true")
    with db.sessions() as session:
        found = deviations.list_deviations(session, status=status, classification=klass, source_kind=source,
                                           overdue=overdue, text=query.get("q", ""))  # fmt: skip
        on = deviations.today()
        rows = [deviations.deviation_public(d, on) for d in found]
        board = deviations.dashboard(session)
    return _render(request, "qms/deviation_list.html", status_code=status_code, rows=rows, board=board,
                   status=status, klass=klass, source=source, overdue=overdue, q=query.get("q", ""),
                   **values)  # fmt: skip


@router.get("/deviations", response_class=HTMLResponse)
def deviation_list(request: Request, db: DbDep, principal: QmsView) -> Response:
    """Deviations by status, class, source and overdue, with the counts and ageing; the form of a new one."""
    return _list(request, db)


@router.get("/deviations/new", response_class=HTMLResponse)
def deviation_new(request: Request, db: DbDep, principal: Raise) -> Response:
    """The form of a new deviation alone, for whoever raises deviations without reading the quality records
    (operators, analysts, the warehouse)."""
    return _render(request, "qms/deviation_new.html", recorded=request.query_params.get("recorded", ""))


@router.post("/deviations", response_class=HTMLResponse)
async def deviation_create(request: Request, db: DbDep, principal: Raise) -> Response:
    data = await form_data(request)
    values = {k: v for k, v in data.items() if k in DeviationCreate.model_fields}
    values["occurred_at"] = _local_time(str(data.get("occurred_at", "")))
    for key in ("affected_batches", "affected_lots", "affected_products"):
        values[key] = _codes(str(data.get(key, "")))
    body, errors = validate(DeviationCreate, values)
    reader = principal.can("qms.view")
    if body is None:
        error = next(iter(errors.values()), None)
        return _form_again(
            request, db, reader, 422, data=data, field_errors=errors, form="create", error=error
        )
    try:
        with UnitOfWork(db, principal.actor) as uow:
            number = deviations.record(uow, principal, body).number
            uow.commit()
    except PharmaTraceError as failed:
        return _form_again(request, db, reader, failed.http_status, data=data, form="create",
                           error=i18n.error_message(failed))  # fmt: skip
    done = i18n.gettext(N_("Deviation recorded"))
    if not reader:
        return RedirectResponse(f"/qms/deviations/new?recorded={number}&done={quote(done)}", status_code=303)
    return _back(f"/qms/deviations/{number}", done=done)


def _form_again(request: Request, db: DbDep, reader: bool, status_code: int, **values: Any) -> Response:
    if reader:
        return _list(request, db, status_code, **values)
    return _render(request, "qms/deviation_new.html", status_code=status_code, recorded="", **values)


# --- one deviation -------------------------------------------------------------------------------------


def _trail(session: Session, deviation: Deviation) -> list[AuditEntry]:
    records = [("deviation", [deviation.id]), ("deviation_impact", [i.id for i in deviation.impacts]),
               ("deviation_closure", [c.id for c in deviation.closures])]  # fmt: skip
    conditions = [
        (AuditEntry.object_type == kind) & AuditEntry.object_id.in_([str(i) for i in ids])
        for kind, ids in records
        if ids
    ]
    return list(
        session.scalars(select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.leaf_index.desc()))
    )


def _page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        deviation = deviations.get_deviation(session, number)
        detail = deviations.deviation_detail(session, deviation)
        blockers = [
            i18n.translate(b.message, **b.params) for b in deviations.closure_blockers(session, deviation)
        ]
        extended = extensions.page_values(session, principal, "deviation", deviation.number)
        return _render(
            request, "qms/deviation_detail.html", status_code=status_code, d=detail, blockers=blockers,
            trail=_trail(session, deviation), ask_login=first_signature_pending(session, principal),
            investigation_days=deviations.INVESTIGATION_DAYS, risks=risks_for(session, "deviation", deviation.number),
            risk_statuses=RISK_STATUS_LABELS,
            extensions=extended, timeline=_timeline(detail.events, extended["summary"]), **values,
        )  # fmt: skip


def _timeline(events: list[Any], extended: Any) -> list[dict[str, Any]]:
    """The deviation's own events and its due-date extensions (requested, decided), in time order."""
    rows = [{"at": e.at, "label": LABELS["events"][e.kind], "step": e.step, "by_name": e.by_name,
             "text": e.text} for e in events]  # fmt: skip
    rows += [{"at": t.at, "label": t.label, "step": None, "by_name": t.by_name, "text": t.text}
             for t in extensions.timeline(extended)]  # fmt: skip
    return sorted(rows, key=lambda row: row["at"])


@router.get("/deviations/{number}", response_class=HTMLResponse)
def deviation_page(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _page(request, db, principal, number)


def _write(
    request: Request, db: DbDep, principal: Principal, number: str, form: str, data: dict[str, Any],
    write: Callable[[UnitOfWork], object], *, reason: str | None = None, errors: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """Write through the unit of work and go back to the page; a refusal re-renders it with the form's input and
    the message (nothing was written)."""
    if errors:
        return _page(request, db, principal, number, 422, data=data, field_errors=errors, form=form,
                     error=next(iter(errors.values())))  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor, reason=reason) as uow:
            write(uow)
            uow.commit()
    except PharmaTraceError as error:
        return _page(request, db, principal, number, error.http_status, data=data, form=form,
                     error=i18n.error_message(error))  # fmt: skip
    return _back(f"/qms/deviations/{number.strip().upper()}", done=i18n.gettext(N_("Saved")))


def _reason(data: dict[str, Any]) -> str | None:
    reason = str(data.get("reason", "")).strip()
    return reason if len(reason) >= 2 else None


@router.post("/deviations/{number}/classify", response_class=HTMLResponse)
async def classify(request: Request, db: DbDep, principal: Approve, number: str) -> Response:
    data = await form_data(request)
    values = {
        "category": data.get("category", ""), "rationale": data.get("rationale", ""),
        "classification": data.get("classification") or None,
        "triage": {key: data.get(key) == "on" for key in deviations.TRIAGE_LABELS},
    }  # fmt: skip
    body, errors = validate(Classification, values)
    return _write(request, db, principal, number, "classify", data,
                  lambda uow: deviations.classify(uow, principal, number, body) if body else None,
                  reason=_reason(data), errors=errors)  # fmt: skip


@router.post("/deviations/{number}/actions", response_class=HTMLResponse)
async def immediate_action(request: Request, db: DbDep, principal: Raise, number: str) -> Response:
    data = await form_data(request)
    body, errors = validate(ImmediateAction, {"text": data.get("text", "")})
    return _write(request, db, principal, number, "action", data,
                  lambda uow: deviations.record_action(uow, principal, number, body.text) if body else None,
                  errors=errors)  # fmt: skip


@router.post("/deviations/{number}/investigation/start", response_class=HTMLResponse)
async def start_investigation(request: Request, db: DbDep, principal: Raise, number: str) -> Response:
    return _write(request, db, principal, number, "start", {},
                  lambda uow: deviations.start_investigation(uow, principal, number))  # fmt: skip


@router.post("/deviations/{number}/investigation", response_class=HTMLResponse)
async def investigate(request: Request, db: DbDep, principal: Raise, number: str) -> Response:
    data = await form_data(request, lists=("fishbone",))
    values = {
        "root_cause": data.get("root_cause", ""), "conclusion": data.get("conclusion", ""),
        "why_chain": [line.strip() for line in str(data.get("why_chain", "")).splitlines() if line.strip()],
        "fishbone": data.get("fishbone", []), "no_capa_rationale": data.get("no_capa_rationale", ""),
    }  # fmt: skip
    body, errors = validate(Investigation, values)
    return _write(request, db, principal, number, "investigate", data,
                  lambda uow: deviations.complete_investigation(uow, principal, number, body) if body else None,
                  errors=errors)  # fmt: skip


@router.post("/deviations/{number}/impacts", response_class=HTMLResponse)
async def impact(request: Request, db: DbDep, principal: Approve, number: str) -> Response:
    data = await form_data(request)
    values = {k: data.get(k, "") for k in ("object_kind", "object_ref", "conclusion", "rationale")}
    body, errors = validate(ImpactAssessment, values)
    return _write(request, db, principal, number, "impact", data,
                  lambda uow: deviations.assess_impact(uow, principal, number, body) if body else None,
                  errors=errors)  # fmt: skip


@router.post("/deviations/{number}/close", response_class=HTMLResponse)
async def close(request: Request, db: DbDep, principal: Approve, number: str) -> Response:
    data = await form_data(request)
    return _write(request, db, principal, number, "close", {}, lambda uow: deviations.close(
        uow, principal, number, password=str(data.get("password", "")), login=data.get("login") or None,
        comment=str(data.get("comment", ""))[:500]))  # fmt: skip


@router.post("/deviations/{number}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, db: DbDep, principal: Approve, number: str) -> Response:
    data = await form_data(request)
    body, errors = validate(Cancellation, {"reason": data.get("reason", "")})
    return _write(request, db, principal, number, "cancel", data,
                  lambda uow: deviations.cancel(uow, principal, number), reason=body.reason if body else None,
                  errors=errors)  # fmt: skip
