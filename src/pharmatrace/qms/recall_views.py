"""Recall pages (召回; SH-6.2.4, TJ-9.1): the list with each recall's progress, the form that drafts a recall
after showing the impact the genealogy gives, and a recall's page (the frozen impact — batches, shipments,
customers — with the notify, acknowledge and return forms, the signed opening and closure, the audit trail), and
the customer notification list as CSV (audited)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import PharmaTraceError
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution import ORDER_STATUS_LABELS
from pharmatrace.qms import recalls as service
from pharmatrace.qms.recall_models import (
    DECISION_LABELS,
    KIND_LABELS,
    LEVEL_LABELS,
    METHOD_LABELS,
    NOTIFY_DAYS,
    STATUS_LABELS,
    Recall,
)
from pharmatrace.qms.recall_schemas import (
    Acknowledgement,
    Notification,
    RecallCancel,
    RecallClose,
    RecallCreate,
    RecallOpen,
    ReturnCreate,
)
from pharmatrace.trace.models import SHIPMENT_STATUS_LABELS, STATE_LABELS
from pharmatrace.trace.recall import RecallImpact
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, saved, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires(service.MANAGE_PERMISSION))]
QP = Annotated[Principal, Depends(Requires(service.DECIDE_PERMISSION))]

LABELS: dict[str, Any] = {
    "status": STATUS_LABELS,
    "kinds": KIND_LABELS,
    "levels": LEVEL_LABELS,
    "methods": METHOD_LABELS,
    "decisions": DECISION_LABELS,
    "meanings": MEANINGS,
    "batch_statuses": ORDER_STATUS_LABELS,
    "unit_states": STATE_LABELS,
    "shipment_statuses": SHIPMENT_STATUS_LABELS,
}
CREATE_FIELDS = ("start_ref", "kind", "level", "hazard_assessment", "reason", "complaint")


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(
        request, template, status_code=status_code, labels=LABELS, notify_days=NOTIFY_DAYS, **values
    )


def _url(number: str) -> str:
    return f"/qms/recalls/{quote(number)}"


# --- the list ------------------------------------------------------------------------------------------------


@router.get("/recalls", response_class=HTMLResponse)
def recall_list(request: Request, db: DbDep, _: QmsView, q: str = "", status: str = "") -> Response:
    """Recalls with their status, level, kind and progress (customers notified, units returned of shipped)."""
    with db.sessions() as session:
        rows = [service.recall_public(r) for r in service.list_recalls(session, status=status, text=q)]
    return _render(
        request, "qms/recall_list.html", rows=rows, q=q, status=status, statuses=list(STATUS_LABELS)
    )


# --- a new recall: the impact first, then the draft -----------------------------------------------------------


def _new(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    data: dict[str, Any] = values.pop("data", {}) or {}
    ref = str(data.get("start_ref", "")).strip()
    preview: RecallImpact | None = None
    preview_error = None
    if ref:
        try:
            with db.sessions() as session:
                preview = service.preview(session, ref)
        except PharmaTraceError as error:
            preview_error = i18n.error_message(error)
    return _render(request, "qms/recall_new.html", status_code, data=data, preview=preview,
                   preview_error=preview_error, **values)  # fmt: skip


@router.get("/recalls/new", response_class=HTMLResponse)
def new_page(request: Request, db: DbDep, _: Manager, ref: str = "", kind: str = "voluntary") -> Response:
    return _new(request, db, data={"start_ref": ref, "kind": kind, "level": "3"})


@router.post("/recalls/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Manager) -> Response:
    data = await form_data(request)
    values: dict[str, Any] = {k: str(data.get(k, "")).strip() for k in CREATE_FIELDS}
    values = {k: v for k, v in values.items() if v != "" or k != "complaint"}
    return submit(db, principal, RecallCreate, values,
                  write=lambda uow, body: service.create_recall(uow, principal, body),
                  rerender=lambda status, **v: _new(request, db, status, **{**v, "data": data}),
                  done=lambda recall: _url(getattr(recall, "number", "")) + saved())  # fmt: skip


# --- a recall ------------------------------------------------------------------------------------------------


def _trail(session: Session, recall: Recall) -> list[AuditEntry]:
    return trail_of(session, [
        ("qms_recall", [recall.id]),
        ("qms_recall_customer", [c.id for c in recall.customers]),
        ("qms_recall_return", [r.id for r in recall.returns]),
        ("qms_recall_decision", [d.id for d in recall.decisions]),
    ])  # fmt: skip


def _page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        recall = service.get_recall(session, number)
        detail = service.recall_detail(session, recall)
        trail = _trail(session, recall)
        ask_login = first_signature_pending(session, principal)
    return _render(request, "qms/recall_detail.html", status_code, recall=detail, trail=trail,
                   ask_login=ask_login, today=service.today(), **values)  # fmt: skip


@router.get("/recalls/{number}", response_class=HTMLResponse)
def recall_page(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _page(request, db, principal, number)


@router.get("/recalls/{number}/customers.csv")
def customers_csv(db: DbDep, principal: QmsView, number: str) -> Response:
    """The customer notification list as CSV; the export is recorded in the audit trail."""
    with UnitOfWork(db, principal.actor) as uow:
        name, data = service.export_notifications(uow, principal, number, i18n.gettext)
        uow.commit()
    return Response(data.encode(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})  # fmt: skip


def _step(request: Request, db: DbDep, principal: Principal, number: str, form: str, schema: Any,
          data: dict[str, Any], write: Any, reason: str | None = None) -> Response:  # fmt: skip
    """A form of the recall's page: validate, write through the unit of work, redirect; or the page again
    with the error (422 for bad input, the refusal's status otherwise) and nothing written."""
    return submit(db, principal, schema, data, write=write, done=_url(number) + saved(), reason=lambda _: reason,
                  shown={k: v for k, v in data.items() if k != "password"},
                  rerender=lambda status, **shown: _page(request, db, principal, number, status, form=form, **shown))  # fmt: skip


def _fields(data: dict[str, Any], schema: Any) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in schema.model_fields and v != ""}


@router.post("/recalls/{number}/open", response_class=HTMLResponse)
async def open_recall(request: Request, db: DbDep, principal: QP, number: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, "open", RecallOpen, _fields(data, RecallOpen),
                 lambda uow, body: service.open_recall(uow, principal, number, body))  # fmt: skip


@router.post("/recalls/{number}/close", response_class=HTMLResponse)
async def close(request: Request, db: DbDep, principal: QP, number: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, "close", RecallClose, _fields(data, RecallClose),
                 lambda uow, body: service.close(uow, principal, number, body))  # fmt: skip


@router.post("/recalls/{number}/customers/{code}/notify", response_class=HTMLResponse)
async def notify(request: Request, db: DbDep, principal: Manager, number: str, code: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, f"notify-{code}", Notification, _fields(data, Notification),
                 lambda uow, body: service.notify(uow, principal, number, code, body))  # fmt: skip


@router.post("/recalls/{number}/customers/{code}/acknowledge", response_class=HTMLResponse)
async def acknowledge(request: Request, db: DbDep, principal: Manager, number: str, code: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, f"ack-{code}", Acknowledgement, _fields(data, Acknowledgement),
                 lambda uow, body: service.acknowledge(uow, principal, number, code, body))  # fmt: skip


@router.post("/recalls/{number}/customers/{code}/returns", response_class=HTMLResponse)
async def record_return(request: Request, db: DbDep, principal: Manager, number: str, code: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, f"return-{code}", ReturnCreate, _fields(data, ReturnCreate),
                 lambda uow, body: service.record_return(uow, principal, number, code, body))  # fmt: skip


@router.post("/recalls/{number}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    return _step(request, db, principal, number, "cancel", RecallCancel, {"reason": reason},
                 lambda uow, body: service.cancel(uow, principal, number, body.reason),
                 reason=reason[:500] or None)  # fmt: skip
