"""Pages: the complaint list (filters by status, classification, overdue), the intake form, and a complaint's page
(intake, product with links to the batch and the code's trace page, classification with its due date, the
investigation, the response, QA's signed closure, the audit trail, and the forms of each step shown only to whom
may use them) (SH-6.2.4). Plain forms, usable on a tablet."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.clock import BEIJING
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import complaints as service
from pharmatrace.qms.complaint_models import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    CLASSIFICATION_LABELS,
    CONCLUSION_LABELS,
    DUE_DAYS,
    STATUS_LABELS,
    Complaint,
)
from pharmatrace.qms.complaint_schemas import (
    ComplaintClassify,
    ComplaintClose,
    ComplaintCreate,
    InvestigationRecord,
    InvestigatorAssign,
    ResponseRecord,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import act, filled, form_data, saved, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires("qms.complaint.manage"))]
QA = Annotated[Principal, Depends(Requires("qms.deviation.approve"))]

LABELS = {
    "status": STATUS_LABELS,
    "channels": CHANNEL_LABELS,
    "categories": CATEGORY_LABELS,
    "classifications": CLASSIFICATION_LABELS,
    "conclusions": CONCLUSION_LABELS,
    "meanings": MEANINGS,
}
INTAKE_FIELDS = (
    "channel", "complainant_name", "complainant_org", "complainant_contact", "customer", "category", "description",
    "batch_no", "code", "classification", "classification_rationale",
)  # fmt: skip
TEXT_FIELDS = ("findings", "root_cause", "batch_record_notes", "retained_sample_notes", "deviation_number",
               "capa_number", "recall_number", "conclusion", "reason")  # fmt: skip


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("field_errors", {})
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, due_days=DUE_DAYS, **values)


def _url(number: str) -> str:
    return f"/qms/complaints/{quote(number)}"


def _local_time(text: str) -> str | None:
    """A ``datetime-local`` value (Beijing time) as an aware ISO time; blank: None (now)."""
    if not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=BEIJING).isoformat()
    except ValueError:
        return text


# --- the list ------------------------------------------------------------------------------------------------


@router.get("/complaints", response_class=HTMLResponse)
def complaint_list(
    request: Request, db: DbDep, _: QmsView, q: str = "", status: str = "", classification: str = "",
    overdue: bool = False,
) -> Response:  # fmt: skip
    """Complaints with their classification, due date and state; filters by status, classification, overdue."""
    with db.sessions() as session:
        rows = [
            service.complaint_public(session, c)
            for c in service.list_complaints(
                session, status=status, classification=classification, text=q, overdue=overdue
            )
        ]
    return _render(request, "qms/complaint_list.html", rows=rows, q=q, status=status,
                   classification=classification, overdue=overdue)  # fmt: skip


# --- intake --------------------------------------------------------------------------------------------------


def _new(request: Request, status_code: int = 200, **values: Any) -> Response:
    return _render(request, "qms/complaint_new.html", status_code, **values)


@router.get("/complaints/new", response_class=HTMLResponse)
def new_page(request: Request, _: Manager, batch_no: str = "", code: str = "") -> Response:
    return _new(request, data={"channel": "phone", "category": "quality", "batch_no": batch_no, "code": code})


@router.post("/complaints/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Manager) -> Response:
    data = await form_data(request)
    values: dict[str, Any] = {k: str(data.get(k, "")).strip() for k in INTAKE_FIELDS}
    values = {k: v for k, v in values.items() if v != ""}
    received = _local_time(str(data.get("received_at", "")))
    if received is not None:
        values["received_at"] = received
    return submit(db, principal, ComplaintCreate, values,
                  write=lambda uow, body: service.create_complaint(uow, principal, body),
                  rerender=lambda status, **v: _new(request, status, **{**v, "data": data}),
                  done=lambda complaint: _url(getattr(complaint, "number", "")) + saved())  # fmt: skip


# --- a complaint ---------------------------------------------------------------------------------------------


def _trail(session: Session, complaint: Complaint) -> list[AuditEntry]:
    pairs = [
        ("qms_complaint", [complaint.id]),
        ("qms_complaint_decision", [d.id for d in complaint.decisions]),
    ]
    return trail_of(session, pairs)


def _page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        complaint = service.get_complaint(session, number)
        detail = service.complaint_detail(session, complaint)
        may = {
            name: service.allowed(session, principal, complaint, name)
            for name in ("investigate", "respond", "close", "cancel")
        }
        trail = _trail(session, complaint)
        ask_login = first_signature_pending(session, principal)
    manage = principal.can(service.MANAGE_PERMISSION)
    may["classify"] = manage and detail.status in ("received", "investigating")
    may["assign"] = manage and detail.status in ("received", "investigating")
    may["investigation"] = manage and detail.status in ("investigating", "responded")
    may["respond_form"] = manage and detail.status == "investigating"
    may["close_form"] = (principal.can(service.QA_PERMISSION) and detail.status == "responded"
                         and principal.login != detail.investigator)  # fmt: skip
    return _render(request, "qms/complaint_detail.html", status_code, c=detail, may=may, trail=trail,
                   ask_login=ask_login, **values)  # fmt: skip


@router.get("/complaints/{number}", response_class=HTMLResponse)
def complaint_page(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _page(request, db, principal, number)


def _act(request: Request, db: DbDep, principal: Principal, number: str, form: str, write: Any,
         reason: str | None = None, data: dict[str, Any] | None = None) -> Response:  # fmt: skip
    return act(db, principal, write, done=_url(number) + saved(), reason=reason, data=data,
               rerender=lambda status, **values: _page(request, db, principal, number, status, form=form, **values))  # fmt: skip


def _step(request: Request, db: DbDep, principal: Principal, number: str, form: str, schema: Any,
          values: dict[str, Any], data: dict[str, Any], write: Any) -> Response:  # fmt: skip
    """Validate a step's form, then write it; bad input re-renders the page with 422 and nothing written."""
    return submit(db, principal, schema, values, write=write, done=_url(number) + saved(),
                  reason=lambda body: getattr(body, "reason", None),
                  shown={k: v for k, v in data.items() if k != "password"},
                  rerender=lambda status, **shown: _page(request, db, principal, number, status, form=form, **shown))  # fmt: skip


@router.post("/complaints/{number}/classification", response_class=HTMLResponse)
async def classify(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    values = filled(data, ("classification", "rationale", "reason"))
    return _step(request, db, principal, number, "classify", ComplaintClassify, values, data,
                 lambda uow, body: service.classify(uow, principal, number, body))  # fmt: skip


@router.post("/complaints/{number}/investigator", response_class=HTMLResponse)
async def assign(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    values = filled(data, ("investigator",))
    return _step(request, db, principal, number, "assign", InvestigatorAssign, values, data,
                 lambda uow, body: service.assign_investigator(uow, principal, number, body))  # fmt: skip


@router.post("/complaints/{number}/investigation", response_class=HTMLResponse)
async def investigate(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    values: dict[str, Any] = filled(data, TEXT_FIELDS)
    values["batch_record_reviewed"] = data.get("batch_record_reviewed") == "true"
    values["retained_sample_reviewed"] = data.get("retained_sample_reviewed") == "true"
    return _step(request, db, principal, number, "investigation", InvestigationRecord, values, data,
                 lambda uow, body: service.record_investigation(uow, principal, number, body))  # fmt: skip


@router.post("/complaints/{number}/response", response_class=HTMLResponse)
async def respond(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    values: dict[str, Any] = filled(data, ("response",))
    when = _local_time(str(data.get("responded_at", "")))
    if when is not None:
        values["responded_at"] = when
    return _step(request, db, principal, number, "respond", ResponseRecord, values, data,
                 lambda uow, body: service.respond(uow, principal, number, body))  # fmt: skip


@router.post("/complaints/{number}/close", response_class=HTMLResponse)
async def close(request: Request, db: DbDep, principal: QA, number: str) -> Response:
    data = await form_data(request)
    values = {k: v for k, v in data.items() if k in ComplaintClose.model_fields and v != ""}
    return _step(request, db, principal, number, "close", ComplaintClose, values, data,
                 lambda uow, body: service.close(uow, principal, number, body))  # fmt: skip


@router.post("/complaints/{number}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    if len(reason) < 2:
        return _page(request, db, principal, number, 422, form="cancel",
                     error=i18n.gettext(N_("A reason is required for this change")))  # fmt: skip
    return _act(request, db, principal, number, "cancel",
                lambda uow: service.cancel(uow, principal, number, reason), reason=reason[:500])  # fmt: skip
