"""Pages of change control (TJ-10.3, SH-6.2.4): the dashboard and list (counts by status, ageing, overdue), the
proposal form, and a change's page (proposal, assessment, affected items, approvals with their signatures, tasks,
verification and closure, audit trail, the forms of its lifecycle). Plain forms, usable on a tablet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import changes, extensions
from pharmatrace.qms.change_models import (
    AREA_LABELS,
    AREAS,
    CHANGE_TYPES,
    CLASS_LABELS,
    FUNCTION_LABELS,
    ITEM_KINDS,
    ITEM_LABELS,
    RISK_LABELS,
    STATUS_LABELS,
    STATUSES,
    TASK_LABELS,
    TYPE_LABELS,
    ChangeRequest,
)
from pharmatrace.qms.change_schemas import (
    ChangeApprove,
    ChangeClose,
    ChangeCreate,
    ChangeReject,
    ChangeUpdate,
    TaskCreate,
    TaskDone,
)
from pharmatrace.qms.risk_models import STATUS_LABELS as RISK_STATUS_LABELS
from pharmatrace.qms.risks import risks_for
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import act, form_data, saved, submit, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Proposer = Annotated[Principal, Depends(Requires("qms.change.propose"))]

LABELS = {
    "status": STATUS_LABELS,
    "types": TYPE_LABELS,
    "classes": CLASS_LABELS,
    "areas": AREA_LABELS,
    "risks": RISK_LABELS,
    "item_kinds": ITEM_LABELS,
    "functions": FUNCTION_LABELS,
    "tasks": TASK_LABELS,
    "meanings": MEANINGS,
}
ITEM_ROWS = 6  # blank rows of the affected-items table in the form


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _url(number: str) -> str:
    return f"/qms/changes/{quote(number)}"


def _trail(session: Session, change: ChangeRequest) -> list[AuditEntry]:
    pairs = [
        ("qms_change", [change.id]),
        ("qms_change_impact", [i.id for i in change.impacts]),
        ("qms_change_item", [i.id for i in change.items]),
        ("qms_change_decision", [d.id for d in change.decisions]),
        ("qms_change_task", [t.id for t in change.tasks]),
    ]
    return trail_of(session, pairs)


# --- the dashboard and list ---------------------------------------------------------------------------------


@router.get("/changes", response_class=HTMLResponse)
def list_page(
    request: Request, db: DbDep, _: QmsView, q: str = "", status: str = "", overdue: str = ""
) -> Response:
    """Counts by status, the ageing of open changes, overdue changes and tasks; the changes, newest first."""
    with db.sessions() as session:
        board = changes.dashboard(session)
        rows = [changes.change_public(c) for c in changes.list_changes(session, status=status, text=q,
                                                                        overdue=bool(overdue))]  # fmt: skip
    return _render(request, "qms/changes.html", board=board, rows=rows, q=q, status=status, overdue=overdue,
                   statuses=STATUSES)  # fmt: skip


# --- the proposal form --------------------------------------------------------------------------------------


def _proposal(data: dict[str, Any]) -> dict[str, Any]:
    """The form's fields as the schema takes them: one impact per area, the item rows that are filled in."""
    keys = ("title", "description", "justification", "change_type", "change_class", "class_rationale",
            "target_date", "fmea_ref", "reason")  # fmt: skip
    values = {k: data[k] for k in keys if str(data.get(k, "")).strip() != ""}
    values["impacts"] = [
        {"area": a, "impact": data.get(f"impact_{a}") == "yes", "risk": data.get(f"risk_{a}") or "low",
         "comment": str(data.get(f"comment_{a}", ""))}
        for a in AREAS
        if data.get(f"impact_{a}") in ("yes", "no")
    ]  # fmt: skip
    values["items"] = [
        {"kind": data.get(f"item_kind_{n}"), "reference": str(data.get(f"item_ref_{n}", "")),
         "note": str(data.get(f"item_note_{n}", ""))}
        for n in range(ITEM_ROWS)
        if str(data.get(f"item_ref_{n}", "")).strip()
    ]  # fmt: skip
    return values


def _form_values(change: ChangeRequest) -> dict[str, str]:
    """A stored draft as the form shows it (text)."""
    data = {
        "title": change.title, "description": change.description, "justification": change.justification,
        "change_type": change.change_type, "change_class": change.change_class or "",
        "class_rationale": change.class_rationale, "target_date": change.target_date.isoformat(),
        "fmea_ref": change.fmea_ref,
    }  # fmt: skip
    for impact in change.impacts:
        data[f"impact_{impact.area}"] = "yes" if impact.impact else "no"
        data[f"risk_{impact.area}"] = impact.risk
        data[f"comment_{impact.area}"] = impact.comment
    for n, item in enumerate(change.items[:ITEM_ROWS]):
        data[f"item_kind_{n}"], data[f"item_ref_{n}"], data[f"item_note_{n}"] = (
            item.kind,
            item.reference,
            item.note,
        )
    return data


def _editor(request: Request, status_code: int = 200, *, change: ChangeRequest | None = None,
            **values: Any) -> Response:  # fmt: skip
    return _render(request, "qms/change_edit.html", status_code, change=change, impact_areas=AREAS, types=CHANGE_TYPES,
                   item_kinds=ITEM_KINDS, item_rows=range(ITEM_ROWS), **values)  # fmt: skip


@router.get("/changes/new", response_class=HTMLResponse)
def new_page(request: Request, _: Proposer) -> Response:
    return _editor(request, data={"change_type": "document"})


@router.post("/changes/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Proposer) -> Response:
    data = await form_data(request)
    return submit(db, principal, ChangeCreate, _proposal(data),
                  write=lambda uow, body: changes.create_change(uow, principal, body),
                  rerender=lambda status, **values: _editor(request, status, **{**values, "data": data}),
                  done=lambda change: _url(getattr(change, "number", "")) + saved())  # fmt: skip


@router.get("/changes/{number}/edit", response_class=HTMLResponse)
def edit_page(request: Request, db: DbDep, _: QmsView, number: str) -> Response:
    with db.sessions() as session:
        change = changes.get_change(session, number)
        if change.status != "draft":
            return RedirectResponse(_url(change.number), status_code=303)
        data = _form_values(change)
    return _editor(request, change=change, data=data)


@router.post("/changes/{number}/edit", response_class=HTMLResponse)
async def edit(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    data = await form_data(request)
    with db.sessions() as session:
        change = changes.get_change(session, number)
    return submit(db, principal, ChangeUpdate, _proposal(data), reason=lambda body: body.reason,
                  write=lambda uow, body: changes.update_change(uow, principal, number, body),
                  rerender=lambda status, **values: _editor(request, status, change=change,
                                                            **{**values, "data": data}),
                  done=_url(change.number) + saved())  # fmt: skip


# --- a change -----------------------------------------------------------------------------------------------


def _change_page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
                 **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        change = changes.get_change(session, number)
        detail = changes.change_detail(session, change)
        trail = _trail(session, change)
        ask_login = first_signature_pending(session, principal)
        signable = [
            f for f in detail.required_functions
            if f not in {d.function for d in detail.decisions}
            and principal.can(changes.FUNCTION_PERMISSIONS[f]) and principal.user_id != change.proposer_id
        ]  # fmt: skip
        is_proposer = principal.user_id == change.proposer_id
        risks = risks_for(session, "change", change.number)
        extended = extensions.page_values(session, principal, "change", change.number)
    return _render(request, "qms/change_detail.html", status_code, change=detail, trail=trail, ask_login=ask_login,
                   signable=signable, is_proposer=is_proposer, risks=risks, risk_statuses=RISK_STATUS_LABELS,
                   extensions=extended, **values)  # fmt: skip


@router.get("/changes/{number}", response_class=HTMLResponse)
def change_page(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _change_page(request, db, principal, number)


def _act(request: Request, db: DbDep, principal: Principal, number: str, form: str,
         write: Callable[[UnitOfWork], object], reason: str | None = None,
         data: dict[str, Any] | None = None) -> Response:  # fmt: skip
    return act(db, principal, write, done=_url(number) + saved(), reason=reason, data=data,
               rerender=lambda status, **values: _change_page(request, db, principal, number, status, form=form, **values))  # fmt: skip


async def _checked(request: Request, db: DbDep, principal: Principal, number: str, form: str,
                   schema: Any) -> tuple[Any, dict[str, Any], Response | None]:  # fmt: skip
    data = await form_data(request)
    body, errors = validate(schema, {k: v for k, v in data.items() if not (k == "login" and v == "")})
    if body is None:
        page = _change_page(request, db, principal, number, 422, form=form, data=data, field_errors=errors,
                            error=next(iter(errors.values()), None))  # fmt: skip
        return None, data, page
    return body, data, None


def _reason(data: dict[str, Any]) -> str:
    return str(data.get("reason", "")).strip()[:500]


async def _with_reason(request: Request, db: DbDep, principal: Principal, number: str, form: str,
                       write: Callable[[UnitOfWork, str], object]) -> Response:  # fmt: skip
    data = await form_data(request)
    reason = _reason(data)
    if len(reason) < 2:
        return _change_page(request, db, principal, number, 422, form=form,
                            error=i18n.gettext(N_("A reason is required for this change")))  # fmt: skip
    return _act(request, db, principal, number, form, lambda uow: write(uow, reason), reason=reason)


@router.post("/changes/{number}/submit", response_class=HTMLResponse)
def submit_change(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _act(request, db, principal, number, "submit", lambda uow: changes.submit(uow, principal, number))


@router.post("/changes/{number}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    body, _data, refused = await _checked(request, db, principal, number, "approve", ChangeApprove)
    if refused is not None:
        return refused
    return _act(
        request, db, principal, number, "approve", lambda uow: changes.approve(uow, principal, number, body)
    )


@router.post("/changes/{number}/reject", response_class=HTMLResponse)
async def reject(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    body, _data, refused = await _checked(request, db, principal, number, "reject", ChangeReject)
    if refused is not None:
        return refused
    return _act(request, db, principal, number, "reject", lambda uow: changes.reject(uow, principal, number, body),
                reason=body.reason)  # fmt: skip


@router.post("/changes/{number}/tasks", response_class=HTMLResponse)
async def add_task(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    body, data, refused = await _checked(request, db, principal, number, "task", TaskCreate)
    if refused is not None:
        return refused
    return _act(request, db, principal, number, "task", lambda uow: changes.add_task(uow, principal, number, body),
                data=data)  # fmt: skip


@router.post("/changes/{number}/tasks/{seq}/done", response_class=HTMLResponse)
async def complete_task(request: Request, db: DbDep, principal: QmsView, number: str, seq: int) -> Response:
    body, data, refused = await _checked(request, db, principal, number, f"done-{seq}", TaskDone)
    if refused is not None:
        return refused
    return _act(request, db, principal, number, f"done-{seq}",
                lambda uow: changes.complete_task(uow, principal, number, seq, body), data=data)  # fmt: skip


@router.post("/changes/{number}/tasks/{seq}/void", response_class=HTMLResponse)
async def void_task(request: Request, db: DbDep, principal: QmsView, number: str, seq: int) -> Response:
    return await _with_reason(request, db, principal, number, f"void-{seq}",
                              lambda uow, reason: changes.void_task(uow, principal, number, seq, reason))  # fmt: skip


@router.post("/changes/{number}/implement", response_class=HTMLResponse)
def implement(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _act(request, db, principal, number, "implement",
                lambda uow: changes.start_implementation(uow, principal, number))  # fmt: skip


@router.post("/changes/{number}/verify", response_class=HTMLResponse)
def verify(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _act(
        request, db, principal, number, "verify", lambda uow: changes.to_verification(uow, principal, number)
    )


@router.post("/changes/{number}/reopen", response_class=HTMLResponse)
async def reopen(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return await _with_reason(request, db, principal, number, "reopen",
                              lambda uow, reason: changes.reopen(uow, principal, number, reason))  # fmt: skip


@router.post("/changes/{number}/close", response_class=HTMLResponse)
async def close(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    data = await form_data(request)
    data["effective"] = "true" if data.get("effective") == "yes" else "false"
    body, errors = validate(ChangeClose, {k: v for k, v in data.items() if not (k == "login" and v == "")})
    if body is None:
        return _change_page(request, db, principal, number, 422, form="close", data=data, field_errors=errors,
                            error=next(iter(errors.values()), None))  # fmt: skip
    return _act(request, db, principal, number, "close", lambda uow: changes.close(uow, principal, number, body),
                data=data)  # fmt: skip


@router.post("/changes/{number}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return await _with_reason(request, db, principal, number, "cancel",
                              lambda uow, reason: changes.cancel(uow, principal, number, reason))  # fmt: skip
