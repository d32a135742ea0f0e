"""Pages: the CAPA list with its dashboard (counts by status, overdue, ageing chart, my actions), the form that
raises a CAPA, and a CAPA's page (description, plan, actions with due dates and evidence, signed decisions, audit
trail, the forms of its lifecycle) (SH-6.2.4, TJ-9.4). Plain forms, usable on a tablet."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import capa as service
from pharmatrace.qms import extensions
from pharmatrace.qms.capa_models import (
    ACTION_STATUS_LABELS,
    ACTION_TYPE_LABELS,
    KIND_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    VERDICT_LABELS,
    Capa,
)
from pharmatrace.qms.capa_schemas import ActionAdd, CapaApprove, CapaCreate, EffectivenessVerdict
from pharmatrace.web import i18n
from pharmatrace.web.deps import CurrentPrincipal, DbDep, Requires
from pharmatrace.web.forms import act, form_data, saved, submit, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Raiser = Annotated[Principal, Depends(Requires("qms.deviation.raise"))]
QA = Annotated[Principal, Depends(Requires("qms.deviation.approve"))]

LABELS = {
    "status": STATUS_LABELS,
    "kinds": KIND_LABELS,
    "sources": SOURCE_LABELS,
    "types": ACTION_TYPE_LABELS,
    "action_status": ACTION_STATUS_LABELS,
    "verdicts": VERDICT_LABELS,
    "meanings": MEANINGS,
    "ageing": {
        "0-30": N_("0–30 days"),
        "31-60": N_("31–60 days"),
        "61-90": N_("61–90 days"),
        ">90": N_("> 90 days"),
    },
}
ACTION_FIELDS = ("action_type", "description", "owner", "due_date", "document_number", "retrain")


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _url(number: str) -> str:
    return f"/qms/capa/{quote(number)}"


def _action_values(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """An action's form fields (``prefix`` + name) as the schema takes them; blanks left out."""
    values: dict[str, Any] = {k: str(data.get(prefix + k, "")).strip() for k in ACTION_FIELDS}
    people = str(values["retrain"]).replace("，", ",").replace("、", ",").replace(" ", ",")
    values["retrain"] = [p.lower() for p in people.split(",") if p]
    return {k: v for k, v in values.items() if v not in ("", [])}


# --- the list and the dashboard ------------------------------------------------------------------------------


@router.get("/capa", response_class=HTMLResponse)
def capa_list(
    request: Request, db: DbDep, principal: QmsView, q: str = "", status: str = "", overdue: bool = False
) -> Response:
    """CAPAs with their due dates; the dashboard: counts by status, overdue, ageing; the reader's open actions."""
    with db.sessions() as session:
        rows = [
            service.capa_public(c)
            for c in service.list_capas(session, status=status, text=q, overdue=overdue)
        ]
        board = service.dashboard(session)
        mine = [
            (c.number, service.action_public(c, a)) for c, a in service.actions_of(session, principal.login)
        ]
    peak = max(board.ageing.values(), default=0) or 1
    return _render(request, "qms/capa_list.html", rows=rows, board=board, mine=mine, q=q, status=status,
                   overdue=overdue, peak=peak, statuses=list(STATUS_LABELS))  # fmt: skip


# --- raising a CAPA ------------------------------------------------------------------------------------------


def _new(request: Request, status_code: int = 200, **values: Any) -> Response:
    return _render(request, "qms/capa_new.html", status_code, **values)


@router.get("/capa/new", response_class=HTMLResponse)
def new_page(request: Request, _: Raiser, source_type: str = "deviation", source_ref: str = "") -> Response:
    return _new(request, data={"kind": "corrective", "source_type": source_type, "source_ref": source_ref})


@router.post("/capa/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Raiser) -> Response:
    data = await form_data(request)
    values: dict[str, Any] = {k: str(data.get(k, "")).strip() for k in ("kind", "source_type", "source_ref", "title", "problem",
                                                         "root_cause", "owner", "due_date")}  # fmt: skip
    first = _action_values(data, "action_")
    values["actions"] = [first] if first.get("description") else []
    return submit(db, principal, CapaCreate, values,
                  write=lambda uow, body: service.create_capa(uow, principal, body),
                  rerender=lambda status, **v: _new(request, status, **{**v, "data": data}),
                  done=lambda capa: _url(getattr(capa, "number", "")) + saved())  # fmt: skip


# --- a CAPA --------------------------------------------------------------------------------------------------


def _may_see(principal: Principal, capa: Capa) -> None:
    """Quality staff read every CAPA; the owner of the CAPA or of one of its actions reads that one."""
    if principal.can("qms.view") or principal.login in {capa.owner, *(a.owner for a in capa.actions)}:
        return
    principal.require("qms.view")


def _trail(session: Session, capa: Capa) -> list[AuditEntry]:
    pairs = [
        ("qms_capa", [capa.id]),
        ("qms_capa_action", [a.id for a in capa.actions]),
        ("qms_capa_decision", [d.id for d in capa.decisions]),
    ]
    return trail_of(session, pairs)


def _page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        capa = service.get_capa(session, number)
        _may_see(principal, capa)
        detail = service.capa_detail(session, capa)
        authors = service.authors(session, capa)
        trail = _trail(session, capa)
        ask_login = first_signature_pending(session, principal)
        extended = extensions.page_values(session, principal, "capa", capa.number)
    return _render(request, "qms/capa_detail.html", status_code, capa=detail, authors=authors, trail=trail,
                   ask_login=ask_login, today=service.today(), extensions=extended, **values)  # fmt: skip


@router.get("/capa/{number}", response_class=HTMLResponse)
def capa_page(request: Request, db: DbDep, principal: CurrentPrincipal, number: str) -> Response:
    return _page(request, db, principal, number)


@router.get("/capa/{number}/evidence/{sm3}")
def evidence(db: DbDep, principal: CurrentPrincipal, number: str, sm3: str) -> Response:
    """An evidence file, checked against its SM3 before it is served."""
    with db.sessions() as session:
        capa = service.get_capa(session, number)
        _may_see(principal, capa)
        name, media_type = service.evidence_file(session, capa, sm3)
    data = service.EVIDENCE.read(db, sm3)
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})  # fmt: skip


def _act(request: Request, db: DbDep, principal: Principal, number: str, form: str, write: Any,
         reason: str | None = None, data: dict[str, Any] | None = None) -> Response:  # fmt: skip
    return act(db, principal, write, done=_url(number) + saved(), reason=reason, data=data,
               rerender=lambda status, **values: _page(request, db, principal, number, status, form=form, **values))  # fmt: skip


def _invalid(request: Request, db: DbDep, principal: Principal, number: str, form: str, data: dict[str, Any],
             errors: dict[str, str]) -> Response:  # fmt: skip
    return _page(request, db, principal, number, 422, form=form, data=data, field_errors=errors,
                 error=next(iter(errors.values()), None))  # fmt: skip


async def _upload(request: Request, field: str = "file") -> tuple[bytes, str] | None:
    upload = (await request.form()).get(field)
    if isinstance(upload, UploadFile) and upload.filename:
        return await upload.read(service.MAX_BYTES + 1), upload.filename
    return None


@router.post("/capa/{number}/actions", response_class=HTMLResponse)
async def add_action(request: Request, db: DbDep, principal: Raiser, number: str) -> Response:
    data = await form_data(request)
    values = _action_values(data)
    if str(data.get("reason", "")).strip():
        values["reason"] = str(data["reason"]).strip()
    body, errors = validate(ActionAdd, values)
    if body is None:
        return _invalid(request, db, principal, number, "add", data, errors)
    return _act(request, db, principal, number, "add", lambda uow: service.add_action(uow, principal, number, body),
                reason=body.reason, data=data)  # fmt: skip


@router.post("/capa/{number}/actions/{seq}/void", response_class=HTMLResponse)
async def void_action(request: Request, db: DbDep, principal: Raiser, number: str, seq: int) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    return _act(request, db, principal, number, f"void-{seq}",
                lambda uow: service.void_action(uow, principal, number, seq, reason), reason=reason[:500] or None)  # fmt: skip


@router.post("/capa/{number}/actions/{seq}/complete", response_class=HTMLResponse)
async def complete_action(request: Request, db: DbDep, principal: Raiser, number: str, seq: int) -> Response:
    data = await form_data(request)
    upload = await _upload(request)
    shown = {k: v for k, v in data.items() if k != "file"}
    evidence_text = str(data.get("evidence", "")).strip()
    if not evidence_text or len(evidence_text) > 2000:
        error = i18n.error_message(
            ValidationFailed(N_("Describe the implementation evidence (at most 2000 characters)"))
        )
        return _page(request, db, principal, number, 422, form=f"complete-{seq}", data=shown, error=error)
    return _act(request, db, principal, number, f"complete-{seq}",
                lambda uow: service.complete_action(uow, principal, number, seq, evidence_text, upload), data=shown)  # fmt: skip


@router.post("/capa/{number}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: QA, number: str) -> Response:
    data = await form_data(request)
    values = {k: v for k, v in data.items() if k in CapaApprove.model_fields and v != ""}
    body, errors = validate(CapaApprove, values)
    if body is None:
        return _invalid(request, db, principal, number, "approve", {k: v for k, v in data.items() if k != "password"},
                        errors)  # fmt: skip
    return _act(
        request, db, principal, number, "approve", lambda uow: service.approve(uow, principal, number, body)
    )


@router.post("/capa/{number}/effectiveness", response_class=HTMLResponse)
async def effectiveness(request: Request, db: DbDep, principal: QA, number: str) -> Response:
    data = await form_data(request)
    upload = await _upload(request)
    shown = {k: v for k, v in data.items() if k not in ("password", "file")}
    values: dict[str, Any] = {
        k: v for k, v in data.items() if k in EffectivenessVerdict.model_fields and v != ""
    }
    values.pop("new_action", None)
    if values.get("verdict") == "not_effective":
        values["new_action"] = _action_values(data, "new_")
    body, errors = validate(EffectivenessVerdict, values)
    if body is None:
        return _invalid(request, db, principal, number, "effectiveness", shown, errors)
    return _act(request, db, principal, number, "effectiveness",
                lambda uow: service.record_effectiveness(uow, principal, number, body, upload), data=shown)  # fmt: skip


@router.post("/capa/{number}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, db: DbDep, principal: QA, number: str) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    if len(reason) < 2:
        return _page(request, db, principal, number, 422, form="cancel",
                     error=i18n.gettext(N_("A reason is required for this change")))  # fmt: skip
    return _act(request, db, principal, number, "cancel", lambda uow: service.cancel(uow, principal, number, reason),
                reason=reason[:500])  # fmt: skip
