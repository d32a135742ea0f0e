"""Pages: the OOS board (超标结果看板, ``/lims/oos``) and one investigation (``/lims/oos/{code}``; TJ-7.7,
TJ-B.2.4.3, TJ-10.1.3.4).

The board lists every out-of-specification case with what it is linked to — lot, sample, order, item, limit and
result, the analyst, the instrument and its calibration at the time of the test, the method SOP, the reagents used
and their expiry — and its phase and status; each case links to its investigation page. The investigation page
shows the same context and the room environment during the test, every recorded step with who and when, the
linked deviation and CAPA, what still blocks the closure, and the form of each step open to the reader now
(:data:`pharmatrace.lims.oos.TRANSITIONS`). Every recorded step stays on the page; a corrected one is marked
superseded with who corrected it, when and why, and each current step has its correction form for whoever may
record it, while the case is open (TJ-10.1.3.4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import oos, results
from pharmatrace.lims.oos_models import OosClosure, OosStep
from pharmatrace.lims.oos_schemas import (
    CHECKS,
    ConclusionCreate,
    DeviationRaise,
    PhaseOne,
    PhaseTwo,
    StepPublic,
)
from pharmatrace.lims.result_models import OosCase
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/lims", include_in_schema=False)

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]

STATUS_LABELS = {"open": N_("Open"), "closed": N_("Closed")}
PHASE_LABELS = {"I": N_("Phase I (laboratory)"), "II": N_("Phase II (full investigation)")}
LABELS = {"status": STATUS_LABELS, "phases": PHASE_LABELS, "stages": oos.STAGE_LABELS, "checks": oos.CHECK_LABELS,
          "answers": oos.ANSWER_LABELS, "conclusions": oos.CONCLUSION_LABELS, "steps": oos.STEP_LABELS,
          "meanings": MEANINGS}  # fmt: skip


@router.get("/oos", response_class=HTMLResponse)
def board(request: Request, db: DbDep, _: LimsView, status: str = "open") -> Response:
    if status not in ("", *STATUS_LABELS):
        status = "open"
    with db.sessions() as session:
        rows = []
        for case in results.list_oos(session, status=status):
            result = results.get_result(session, case.result_id)
            rows.append((results.oos_public(session, case), results.result_public(session, result),
                         oos.stage_of(session, case)))  # fmt: skip
    return render(request, "lims/oos.html", rows=rows, status=status, labels=LABELS)


def _trail(session: Session, case: OosCase) -> list[AuditEntry]:
    steps = [str(i) for i in session.scalars(select(OosStep.id).where(OosStep.case_id == case.id))]
    closures = [str(i) for i in session.scalars(select(OosClosure.id).where(OosClosure.case_id == case.id))]
    conditions = [(AuditEntry.object_type == "lims_oos_case") & (AuditEntry.object_id == str(case.id))]
    if steps:
        conditions.append((AuditEntry.object_type == "lims_oos_step") & AuditEntry.object_id.in_(steps))
    if closures:
        conditions.append((AuditEntry.object_type == "lims_oos_closure") & AuditEntry.object_id.in_(closures))
    return list(
        session.scalars(select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.leaf_index.desc()))
    )


def _page(request: Request, db: DbDep, principal: Principal, code: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        case = oos.get_case(session, code)
        detail = oos.investigation_detail(session, case)
        blockers = [i18n.translate(b.message, **b.params) for b in detail.blockers]
        analysts = oos.analysts_of(session, case)
        trail = _trail(session, case)
        ask_login = first_signature_pending(session, principal)
    open_case = detail.status != "closed"
    may_correct = {kind: open_case and principal.can(oos.TRANSITIONS[name].permission)
                   for kind, name in oos.RECORDED_BY.items()}  # fmt: skip
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, "lims/oos_detail.html", status_code=status_code, d=detail, blockers=blockers,
                  analyst_of_result=principal.login in analysts, trail=trail, ask_login=ask_login,
                  may={name: principal.can(t.permission) and detail.stage in t.sources
                       for name, t in oos.TRANSITIONS.items()},
                  may_correct=may_correct, by_id={h.id: h for h in detail.history},
                  prefill={h.id: _fields_of(h) for h in detail.steps}, checks=CHECKS, labels=LABELS,
                  **values)  # fmt: skip


def _fields_of(step: StepPublic) -> dict[str, Any]:
    """A step's content as its form's fields (the correction form starts from what the step says now)."""
    found = step.content
    if step.kind == "phase1":
        fields: dict[str, Any] = {f"{c}_{k}": found[c][k] for c in CHECKS for k in ("answer", "note")}
        fields.update(assignable_cause="on" if found.get("assignable_cause") else "", summary=found["summary"],
                      invalidation_reason=found.get("invalidation_reason", ""))  # fmt: skip
        return fields
    return {k: v for k, v in found.items() if k != "deviation"}


def _step_body(kind: str, data: dict[str, Any]) -> tuple[PhaseOne | PhaseTwo | ConclusionCreate | None,
                                                         dict[str, str]]:  # fmt: skip
    """A step's form read into its schema: the body, or the errors by field."""
    if kind == "phase1":
        values: dict[str, Any] = {
            name: {"answer": data.get(f"{name}_answer", ""), "note": data.get(f"{name}_note", "")}
            for name in CHECKS
        }
        values.update(assignable_cause=data.get("assignable_cause") == "on", summary=data.get("summary", ""),
                      invalidation_reason=data.get("invalidation_reason", ""))  # fmt: skip
        return validate(PhaseOne, values)
    if kind == "phase2":
        return validate(
            PhaseTwo, {k: data.get(k, "") for k in ("manufacturing", "other_batches", "root_cause")}
        )
    return validate(
        ConclusionCreate, {k: data.get(k, "") for k in ("conclusion", "summary", "no_capa_rationale")}
    )


@router.get("/oos/{code}", response_class=HTMLResponse)
def investigation_page(request: Request, db: DbDep, principal: LimsView, code: str) -> Response:
    return _page(request, db, principal, code)


def _write(request: Request, db: DbDep, principal: Principal, code: str, form: str, data: dict[str, Any],
           write: Callable[[UnitOfWork], object], errors: dict[str, str] | None = None) -> Response:  # fmt: skip
    """Write through the unit of work and go back to the page; a refusal re-renders it with the form's input and
    the message (nothing was written)."""
    if errors:
        return _page(request, db, principal, code, 422, data=data, field_errors=errors, form=form,
                     error=next(iter(errors.values())))  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor) as uow:
            write(uow)
            uow.commit()
    except PharmaTraceError as error:
        return _page(request, db, principal, code, error.http_status, data=data, form=form,
                     error=i18n.error_message(error))  # fmt: skip
    done = quote(i18n.gettext(N_("Saved")))
    return RedirectResponse(f"/lims/oos/{quote(code.strip().upper())}?done={done}", status_code=303)


@router.post("/oos/{code}/phase1", response_class=HTMLResponse)
async def phase1(request: Request, db: DbDep, principal: LimsView, code: str) -> Response:
    data = await form_data(request)
    body, errors = _step_body("phase1", data)
    assert body is None or isinstance(body, PhaseOne)
    return _write(request, db, principal, code, "phase1", data,
                  lambda uow: oos.record_phase1(uow, principal, code, body) if body else None, errors)  # fmt: skip


@router.post("/oos/{code}/deviation", response_class=HTMLResponse)
async def deviation(request: Request, db: DbDep, principal: LimsView, code: str) -> Response:
    data = await form_data(request)
    body, errors = validate(DeviationRaise, {"immediate_actions": data.get("immediate_actions", "")})
    return _write(request, db, principal, code, "deviation", data,
                  lambda uow: oos.raise_deviation(uow, principal, code, body) if body else None, errors)  # fmt: skip


@router.post("/oos/{code}/phase2", response_class=HTMLResponse)
async def phase2(request: Request, db: DbDep, principal: LimsView, code: str) -> Response:
    data = await form_data(request)
    body, errors = _step_body("phase2", data)
    assert body is None or isinstance(body, PhaseTwo)
    return _write(request, db, principal, code, "phase2", data,
                  lambda uow: oos.record_phase2(uow, principal, code, body) if body else None, errors)  # fmt: skip


@router.post("/oos/{code}/conclusion", response_class=HTMLResponse)
async def conclusion(request: Request, db: DbDep, principal: LimsView, code: str) -> Response:
    data = await form_data(request)
    body, errors = _step_body("conclusion", data)
    assert body is None or isinstance(body, ConclusionCreate)
    return _write(request, db, principal, code, "conclusion", data,
                  lambda uow: oos.record_conclusion(uow, principal, code, body) if body else None, errors)  # fmt: skip


@router.post("/oos/{code}/steps/{step_id}/correction", response_class=HTMLResponse)
async def correct_step(request: Request, db: DbDep, principal: LimsView, code: str, step_id: int) -> Response:
    """A correction of a recorded step: its form as the step's own, and the reason (TJ-10.1.3.4)."""
    data = await form_data(request)
    kind = str(data.get("kind", ""))
    if kind not in oos.RECORDED_BY:
        kind = "conclusion"  # an unreadable kind: the service refuses the content as of another kind
    body, errors = _step_body(kind, data)
    reason = str(data.get("reason", ""))
    return _write(request, db, principal, code, f"correct-{step_id}", data,
                  lambda uow: oos.correct_step(uow, principal, code, step_id, body, reason) if body else None,
                  errors)  # fmt: skip


@router.post("/oos/{code}/close", response_class=HTMLResponse)
async def close(request: Request, db: DbDep, principal: LimsView, code: str) -> Response:
    data = await form_data(request)
    return _write(request, db, principal, code, "close", {}, lambda uow: oos.close(
        uow, principal, code, password=str(data.get("password", "")), login=data.get("login") or None,
        comment=str(data.get("comment", ""))[:500]))  # fmt: skip
