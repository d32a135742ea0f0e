"""Pages: the validation list (filters by status and kind, the panel of validations due for revalidation), the
new-validation form, and a validation's page (its header, the protocol items with their acceptance criteria and the
forms to add, change and void them while a draft, the result forms while executing with the corrections and the
results they superseded, the report, QA's approvals by signature, cancellation, the signed decisions and the audit
trail) (SH-6.2.4, SH-6.3.2.1.c, TJ-10.3, TJ-11.2.1). Plain forms, usable on a tablet."""

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
from pharmatrace.qms import validation as service
from pharmatrace.qms.validation_models import (
    KIND_LABELS,
    KIND_STAGES,
    OUTCOME_LABELS,
    RESULT_LABELS,
    STAGE_LABELS,
    STATUS_LABELS,
    Validation,
)
from pharmatrace.qms.validation_schemas import (
    ProtocolItemInput,
    ReportSubmit,
    ResultInput,
    SignBody,
    ValidationCreate,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import act, filled, form_data, saved, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires("qms.validation.manage"))]

LABELS = {"status": STATUS_LABELS, "kinds": KIND_LABELS, "stages": STAGE_LABELS, "outcomes": OUTCOME_LABELS,
          "results": RESULT_LABELS, "meanings": MEANINGS}  # fmt: skip
HEADER_FIELDS = ("kind", "title", "scope", "subject", "change_number", "risk_number", "revalidation_months")
ITEM_FIELDS = tuple(ProtocolItemInput.model_fields)
RESULT_FIELDS = tuple(ResultInput.model_fields)
ACTIONS = (
    "submit",
    "return",
    "approve_protocol",
    "submit_report",
    "return_report",
    "approve_report",
    "cancel",
)


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("field_errors", {})
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(
        request, template, status_code=status_code, labels=LABELS, kind_stages=KIND_STAGES, **values
    )


def _url(number: str) -> str:
    return f"/qms/validation/{quote(number)}"


# --- the list ------------------------------------------------------------------------------------------------


@router.get("/validation", response_class=HTMLResponse)
def validation_list(
    request: Request, db: DbDep, _: QmsView, q: str = "", status: str = "", kind: str = ""
) -> Response:
    """Validations with their subject, stages, results and state; the ones due for revalidation above."""
    with db.sessions() as session:
        rows = [
            service.validation_public(v)
            for v in service.list_validations(session, status=status, kind=kind, text=q)
        ]
        due = [service.due_public(v) for v in service.due_for_revalidation(session)]
    return _render(request, "qms/validation_list.html", rows=rows, due=due, q=q, status=status, kind=kind)


# --- a new validation ----------------------------------------------------------------------------------------


def _new(request: Request, status_code: int = 200, **values: Any) -> Response:
    return _render(request, "qms/validation_new.html", status_code, **values)


@router.get("/validation/new", response_class=HTMLResponse)
def new_page(request: Request, _: Manager, kind: str = "equipment_qualification", subject: str = "",
             change_number: str = "") -> Response:  # fmt: skip
    return _new(
        request, data={"kind": kind, "subject": subject, "change_number": change_number, "stages": []}
    )


@router.post("/validation/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Manager) -> Response:
    data = await form_data(request, lists=("stages",))
    values: dict[str, Any] = {**filled(data, HEADER_FIELDS), "stages": data["stages"]}
    return submit(db, principal, ValidationCreate, values,
                  write=lambda uow, body: service.create_validation(uow, principal, body),
                  rerender=lambda status, **v: _new(request, status, **{**v, "data": data}),
                  done=lambda made: _url(getattr(made, "number", "")) + saved())  # fmt: skip


# --- a validation --------------------------------------------------------------------------------------------


def _trail(session: Session, validation: Validation) -> list[AuditEntry]:
    pairs = [
        ("qms_validation", [validation.id]),
        ("qms_validation_test", [t.id for t in validation.tests]),
        ("qms_validation_result", [r.id for r in validation.results]),
        ("qms_validation_decision", [d.id for d in validation.decisions]),
    ]
    return trail_of(session, pairs)


def _page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        validation = service.get_validation(session, number)
        detail = service.validation_detail(session, validation)
        may = {name: service.allowed(session, principal, validation, name) for name in ACTIONS}
        trail = _trail(session, validation)
        ask_login = first_signature_pending(session, principal)
    manage = principal.can(service.MANAGE_PERMISSION)
    qa = manage and principal.can(service.QA_PERMISSION) and principal.login != detail.author
    may["edit"] = manage and detail.status == "draft"
    may["execute"] = manage and detail.status == "executing"
    may["approve_protocol_form"] = qa and detail.status == "protocol_review"
    may["approve_report_form"] = qa and detail.status == "report_review"
    return _render(request, "qms/validation_detail.html", status_code, v=detail, may=may, trail=trail,
                   ask_login=ask_login, **values)  # fmt: skip


@router.get("/validation/{number}", response_class=HTMLResponse)
def validation_page(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _page(request, db, principal, number)


def _act(request: Request, db: DbDep, principal: Principal, number: str, form: str, write: Any,
         reason: str | None = None) -> Response:  # fmt: skip
    return act(db, principal, write, done=_url(number) + saved(), reason=reason,
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


def _signed(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in SignBody.model_fields and v != ""}


@router.post("/validation/{number}/items", response_class=HTMLResponse)
async def add_item(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, "add-item", ProtocolItemInput, filled(data, ITEM_FIELDS), data,
                 lambda uow, body: service.add_test(uow, principal, number, body))  # fmt: skip


@router.post("/validation/{number}/items/{seq}", response_class=HTMLResponse)
async def update_item(request: Request, db: DbDep, principal: Manager, number: str, seq: int) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, f"item-{seq}", ProtocolItemInput, filled(data, ITEM_FIELDS), data,
                 lambda uow, body: service.update_test(uow, principal, number, seq, body))  # fmt: skip


@router.post("/validation/{number}/items/{seq}/void", response_class=HTMLResponse)
async def void_item(request: Request, db: DbDep, principal: Manager, number: str, seq: int) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, f"void-{seq}", data,
                        lambda uow, reason: service.void_test(uow, principal, number, seq, reason))  # fmt: skip


@router.post("/validation/{number}/items/{seq}/result", response_class=HTMLResponse)
async def record_result(request: Request, db: DbDep, principal: Manager, number: str, seq: int) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, f"result-{seq}", ResultInput, filled(data, RESULT_FIELDS), data,
                 lambda uow, body: service.record_result(uow, principal, number, seq, body))  # fmt: skip


@router.post("/validation/{number}/submit", response_class=HTMLResponse)
async def submit_protocol(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    return _act(request, db, principal, number, "submit", lambda uow: service.submit(uow, principal, number))


@router.post("/validation/{number}/return", response_class=HTMLResponse)
async def return_protocol(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "return", data,
                        lambda uow, reason: service.return_protocol(uow, principal, number, reason))  # fmt: skip


@router.post("/validation/{number}/approve_protocol", response_class=HTMLResponse)
async def approve_protocol(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, "approve_protocol", SignBody, _signed(data), data,
                 lambda uow, body: service.approve_protocol(uow, principal, number, body))  # fmt: skip


@router.post("/validation/{number}/submit_report", response_class=HTMLResponse)
async def submit_report(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, "submit_report", ReportSubmit, filled(data, ("conclusion",)), data,
                 lambda uow, body: service.submit_report(uow, principal, number, body))  # fmt: skip


@router.post("/validation/{number}/return_report", response_class=HTMLResponse)
async def return_report(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "return_report", data,
                        lambda uow, reason: service.return_report(uow, principal, number, reason))  # fmt: skip


@router.post("/validation/{number}/approve_report", response_class=HTMLResponse)
async def approve_report(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, "approve_report", SignBody, _signed(data), data,
                 lambda uow, body: service.approve_report(uow, principal, number, body))  # fmt: skip


@router.post("/validation/{number}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "cancel", data,
                        lambda uow, reason: service.cancel(uow, principal, number, reason))  # fmt: skip
