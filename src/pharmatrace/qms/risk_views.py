"""Pages: the risk assessment list (filters by status and subject kind), the new-assessment form, and an
assessment's page (its header, the FMEA table of failure modes with their S, O, D, RPN, action and residual scores,
the risk matrix before and after mitigation with a severity × occurrence heat map, the forms to add, change and
void failure modes while a draft, submit, return, QA's approval by signature, a new revision, withdrawal, the
signed decisions and the audit trail) (SH-6.2.4, ICH Q9). Plain forms, usable on a tablet."""

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
from pharmatrace.qms import risks as service
from pharmatrace.qms.risk_models import BAND_LABELS, STATUS_LABELS, SUBJECT_LABELS, RiskAssessment
from pharmatrace.qms.risk_schemas import AssessmentApprove, AssessmentCreate, RiskItemInput
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import act, filled, form_data, saved, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires("qms.risk.manage"))]

LABELS = {"status": STATUS_LABELS, "subjects": SUBJECT_LABELS, "bands": BAND_LABELS, "meanings": MEANINGS}
HEADER_FIELDS = ("title", "scope", "subject_kind", "subject_ref", "product_step", "action_threshold",
                 "severity_threshold", "team")  # fmt: skip
ITEM_FIELDS = tuple(RiskItemInput.model_fields)
HEAT_ROWS = ("9–10", "7–8", "5–6", "3–4", "1–2")  # severity, highest first
HEAT_COLUMNS = ("1–2", "3–4", "5–6", "7–8", "9–10")  # occurrence


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("field_errors", {})
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, heat_rows=HEAT_ROWS,
                  heat_columns=HEAT_COLUMNS, **values)  # fmt: skip


def _url(number: str) -> str:
    return f"/qms/risks/{quote(number)}"


# --- the list ------------------------------------------------------------------------------------------------


@router.get("/risks", response_class=HTMLResponse)
def risk_list(
    request: Request, db: DbDep, _: QmsView, q: str = "", status: str = "", subject_kind: str = ""
) -> Response:
    """Assessments with their subject, thresholds, failure modes and state; filters by status and subject kind."""
    with db.sessions() as session:
        rows = [
            service.assessment_public(a)
            for a in service.list_assessments(session, status=status, subject_kind=subject_kind, text=q)
        ]
    return _render(request, "qms/risk_list.html", rows=rows, q=q, status=status, subject_kind=subject_kind)


# --- a new assessment ----------------------------------------------------------------------------------------


def _new(request: Request, status_code: int = 200, **values: Any) -> Response:
    return _render(request, "qms/risk_new.html", status_code, **values)


@router.get("/risks/new", response_class=HTMLResponse)
def new_page(request: Request, _: Manager, subject_kind: str = "process", subject_ref: str = "") -> Response:
    return _new(request, data={"subject_kind": subject_kind, "subject_ref": subject_ref, "action_threshold": "100",
                               "severity_threshold": "9"})  # fmt: skip


@router.post("/risks/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Manager) -> Response:
    data = await form_data(request)
    values = filled(data, HEADER_FIELDS)
    return submit(db, principal, AssessmentCreate, values,
                  write=lambda uow, body: service.create_assessment(uow, principal, body),
                  rerender=lambda status, **v: _new(request, status, **{**v, "data": data}),
                  done=lambda made: _url(getattr(made, "number", "")) + saved())  # fmt: skip


# --- an assessment -------------------------------------------------------------------------------------------


def _trail(session: Session, assessment: RiskAssessment) -> list[AuditEntry]:
    pairs = [
        ("qms_risk_assessment", [assessment.id]),
        ("qms_risk_item", [i.id for i in assessment.items]),
        ("qms_risk_decision", [d.id for d in assessment.decisions]),
    ]
    return trail_of(session, pairs)


def _page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        assessment = service.get_assessment(session, number)
        detail = service.assessment_detail(session, assessment)
        may = {
            name: service.allowed(session, principal, assessment, name)
            for name in ("submit", "return", "approve", "revise", "withdraw")
        }
        trail = _trail(session, assessment)
        ask_login = first_signature_pending(session, principal)
    manage = principal.can(service.MANAGE_PERMISSION)
    may["edit"] = manage and detail.status == "draft"
    may["approve_form"] = (manage and principal.can(service.QA_PERMISSION) and detail.status == "in_review"
                           and principal.login != detail.author)  # fmt: skip
    return _render(request, "qms/risk_detail.html", status_code, a=detail, may=may, trail=trail,
                   ask_login=ask_login, **values)  # fmt: skip


@router.get("/risks/{number}", response_class=HTMLResponse)
def risk_page(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _page(request, db, principal, number)


def _act(request: Request, db: DbDep, principal: Principal, number: str, form: str, write: Any,
         reason: str | None = None, data: dict[str, Any] | None = None) -> Response:  # fmt: skip
    return act(db, principal, write, done=_url(number) + saved(), reason=reason, data=data,
               rerender=lambda status, **values: _page(request, db, principal, number, status, form=form, **values))  # fmt: skip


def _step(request: Request, db: DbDep, principal: Principal, number: str, form: str, schema: Any,
          values: dict[str, Any], data: dict[str, Any], write: Any) -> Response:  # fmt: skip
    """Validate a step's form, then write it; bad input re-renders the page with 422 and nothing written."""
    return submit(db, principal, schema, values, write=write, done=_url(number) + saved(),
                  shown={k: v for k, v in data.items() if k != "password"},
                  rerender=lambda status, **shown: _page(request, db, principal, number, status, form=form, **shown))  # fmt: skip


def _with_reason(request: Request, db: DbDep, principal: Principal, number: str, form: str,
                 data: dict[str, Any], write: Any) -> Response:  # fmt: skip
    reason = str(data.get("reason", "")).strip()
    if len(reason) < 2:
        return _page(request, db, principal, number, 422, form=form,
                     error=i18n.gettext(N_("A reason is required for this change")))  # fmt: skip
    return _act(
        request, db, principal, number, form, lambda uow: write(uow, reason[:500]), reason=reason[:500]
    )


@router.post("/risks/{number}/items", response_class=HTMLResponse)
async def add_item(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, "add-item", RiskItemInput, filled(data, ITEM_FIELDS), data,
                 lambda uow, body: service.add_item(uow, principal, number, body))  # fmt: skip


@router.post("/risks/{number}/items/{seq}", response_class=HTMLResponse)
async def update_item(request: Request, db: DbDep, principal: Manager, number: str, seq: int) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, f"item-{seq}", RiskItemInput, filled(data, ITEM_FIELDS), data,
                 lambda uow, body: service.update_item(uow, principal, number, seq, body))  # fmt: skip


@router.post("/risks/{number}/items/{seq}/void", response_class=HTMLResponse)
async def void_item(request: Request, db: DbDep, principal: Manager, number: str, seq: int) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, f"void-{seq}", data,
                        lambda uow, reason: service.void_item(uow, principal, number, seq, reason))  # fmt: skip


@router.post("/risks/{number}/submit", response_class=HTMLResponse)
async def submit_for_review(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    return _act(request, db, principal, number, "submit", lambda uow: service.submit(uow, principal, number))


@router.post("/risks/{number}/return", response_class=HTMLResponse)
async def return_to_draft(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "return", data,
                        lambda uow, reason: service.return_to_draft(uow, principal, number, reason))  # fmt: skip


@router.post("/risks/{number}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    values = {k: v for k, v in data.items() if k in AssessmentApprove.model_fields and v != ""}
    return _step(request, db, principal, number, "approve", AssessmentApprove, values, data,
                 lambda uow, body: service.approve(uow, principal, number, body))  # fmt: skip


@router.post("/risks/{number}/revise", response_class=HTMLResponse)
async def revise(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "revise", data,
                        lambda uow, reason: service.revise(uow, principal, number, reason))  # fmt: skip


@router.post("/risks/{number}/withdraw", response_class=HTMLResponse)
async def withdraw(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "withdraw", data,
                        lambda uow, reason: service.withdraw(uow, principal, number, reason))  # fmt: skip
