"""Pages: the audit list (filters by kind, status, overdue), the planning form, and an audit's page (the plan with
its due date, the checklist — TJ-11.2.1 a–e with links to the pages holding the evidence for a computerized-system
audit — the findings with their CAPA, QA's signed closure, the audit trail, and the forms of each step shown only
to whom may use them) (TJ-11.1, TJ-11.2.1, SH-6.2.4). Plain forms, usable on a tablet."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import audits as service
from pharmatrace.qms.audit_models import (
    CLASSIFICATION_LABELS,
    FINDING_STATUS_LABELS,
    KIND_LABELS,
    OPEN_STATUSES,
    RESULT_LABELS,
    STATUS_LABELS,
    WORKING_STATUSES,
    Audit,
)
from pharmatrace.qms.audit_schemas import (
    AuditClose,
    AuditCreate,
    AuditUpdate,
    ChecklistAssessment,
    ChecklistItemCreate,
    FindingCreate,
    FindingResponse,
    FindingVerification,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import act, filled, form_data, saved, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires(service.VIEW_PERMISSION))]
Manager = Annotated[Principal, Depends(Requires(service.MANAGE_PERMISSION))]

LABELS = {
    "status": STATUS_LABELS,
    "kinds": KIND_LABELS,
    "results": RESULT_LABELS,
    "classifications": CLASSIFICATION_LABELS,
    "finding_status": FINDING_STATUS_LABELS,
    "meanings": MEANINGS,
}
PLAN_FIELDS = ("kind", "supplier", "title", "scope", "auditee", "lead_auditor", "audit_team", "planned_start",
               "planned_end")  # fmt: skip


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("field_errors", {})
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _url(number: str) -> str:
    return f"/qms/audits/{quote(number)}"


# --- the list ------------------------------------------------------------------------------------------------


@router.get("/audits", response_class=HTMLResponse)
def audit_list(
    request: Request,
    db: DbDep,
    _: QmsView,
    q: str = "",
    kind: str = "",
    status: str = "",
    overdue: bool = False,
) -> Response:
    """Audits with their kind, planned dates and state; filters by kind, status, overdue."""
    with db.sessions() as session:
        rows = [
            service.audit_public(session, a)
            for a in service.list_audits(session, kind=kind, status=status, text=q, overdue=overdue)
        ]
    return _render(request, "qms/audit_list.html", rows=rows, q=q, kind=kind, status=status, overdue=overdue)


# --- planning ------------------------------------------------------------------------------------------------


def _new(request: Request, status_code: int = 200, **values: Any) -> Response:
    return _render(request, "qms/audit_new.html", status_code, **values)


@router.get("/audits/new", response_class=HTMLResponse)
def new_page(
    request: Request, principal: Manager, kind: str = "self_inspection", supplier: str = ""
) -> Response:
    return _new(request, data={"kind": kind, "supplier": supplier, "lead_auditor": principal.login})


@router.post("/audits/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Manager) -> Response:
    data = await form_data(request)
    values = filled(data, PLAN_FIELDS)
    return submit(db, principal, AuditCreate, values,
                  write=lambda uow, body: service.create_audit(uow, principal, body),
                  rerender=lambda status, **v: _new(request, status, **{**v, "data": data}),
                  done=lambda audit: _url(getattr(audit, "number", "")) + saved())  # fmt: skip


# --- an audit ------------------------------------------------------------------------------------------------


def _trail(session: Session, audit: Audit) -> list[AuditEntry]:
    pairs = [
        ("qms_audit", [audit.id]),
        ("qms_audit_checklist_item", [i.id for i in audit.items]),
        ("qms_audit_finding", [f.id for f in audit.findings]),
        ("qms_audit_decision", [d.id for d in audit.decisions]),
    ]
    return trail_of(session, pairs)


def _page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        audit = service.get_audit(session, number)
        detail = service.audit_detail(session, audit)
        may = {
            name: service.allowed(session, principal, audit, name)
            for name in ("start", "report", "close", "cancel")
        }
        trail = _trail(session, audit)
        ask_login = first_signature_pending(session, principal)
    manage = principal.can(service.MANAGE_PERMISSION)
    may["plan"] = manage and detail.status in ("planned", "in_progress")
    may["add_item"] = manage and detail.status in OPEN_STATUSES
    may["work"] = manage and detail.status in WORKING_STATUSES  # assess, findings, responses, verification
    may["close_form"] = (manage and principal.can(service.QA_PERMISSION) and detail.status == "reporting"
                         and principal.login != detail.lead_auditor)  # fmt: skip
    return _render(request, "qms/audit_detail.html", status_code, a=detail, may=may, trail=trail,
                   ask_login=ask_login, **values)  # fmt: skip


@router.get("/audits/{number}", response_class=HTMLResponse)
def audit_page(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
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


@router.post("/audits/{number}/plan", response_class=HTMLResponse)
async def change_plan(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    values = filled(data, (*service.PLAN_FIELDS, "lead_auditor", "reason"))
    return _step(request, db, principal, number, "plan", AuditUpdate, values, data,
                 lambda uow, body: service.update_audit(uow, principal, number, body))  # fmt: skip


@router.post("/audits/{number}/start", response_class=HTMLResponse)
def start(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    return _act(request, db, principal, number, "start", lambda uow: service.start(uow, principal, number))


@router.post("/audits/{number}/report", response_class=HTMLResponse)
def report(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    return _act(request, db, principal, number, "report", lambda uow: service.report(uow, principal, number))


@router.post("/audits/{number}/items", response_class=HTMLResponse)
async def add_item(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, "add-item", ChecklistItemCreate, filled(data, ("code", "question")),
                 data, lambda uow, body: service.add_item(uow, principal, number, body))  # fmt: skip


@router.post("/audits/{number}/items/{seq}", response_class=HTMLResponse)
async def assess_item(request: Request, db: DbDep, principal: Manager, number: str, seq: int) -> Response:
    data = await form_data(request)
    values = filled(data, ("result", "evidence_note", "reason"))
    return _step(request, db, principal, number, f"item-{seq}", ChecklistAssessment, values, data,
                 lambda uow, body: service.assess_item(uow, principal, number, seq, body))  # fmt: skip


@router.post("/audits/{number}/findings", response_class=HTMLResponse)
async def add_finding(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    values = filled(data, ("classification", "clause_ref", "description", "due_date", "capa_number"))
    return _step(request, db, principal, number, "add-finding", FindingCreate, values, data,
                 lambda uow, body: service.add_finding(uow, principal, number, body))  # fmt: skip


@router.post("/audits/{number}/findings/{seq}/response", response_class=HTMLResponse)
async def respond_finding(request: Request, db: DbDep, principal: Manager, number: str, seq: int) -> Response:
    data = await form_data(request)
    values = filled(data, ("response", "capa_number", "reason"))
    return _step(request, db, principal, number, f"finding-{seq}", FindingResponse, values, data,
                 lambda uow, body: service.respond_finding(uow, principal, number, seq, body))  # fmt: skip


@router.post("/audits/{number}/findings/{seq}/verification", response_class=HTMLResponse)
async def verify_finding(request: Request, db: DbDep, principal: Manager, number: str, seq: int) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, f"verify-{seq}", FindingVerification, filled(data, ("note",)),
                 data, lambda uow, body: service.verify_finding(uow, principal, number, seq, body))  # fmt: skip


@router.post("/audits/{number}/close", response_class=HTMLResponse)
async def close(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    values = {k: v for k, v in data.items() if k in AuditClose.model_fields and v != ""}
    return _step(request, db, principal, number, "close", AuditClose, values, data,
                 lambda uow, body: service.close(uow, principal, number, body))  # fmt: skip


@router.post("/audits/{number}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    if len(reason) < 2:
        return _page(request, db, principal, number, 422, form="cancel",
                     error=i18n.gettext(N_("A reason is required for this change")))  # fmt: skip
    return _act(request, db, principal, number, "cancel",
                lambda uow: service.cancel(uow, principal, number, reason), reason=reason[:500])  # fmt: skip
