"""OOS investigations (超标结果调查, TJ-7.7, TJ-B.2.4.3, TJ-10.1.3.4): a declared lifecycle with named guards.

::

    phase_1 ──record_phase1──> retest (assignable laboratory error: result invalidated) ──> conclusion
       └──(no assignable cause: escalated)──> phase_2 ──raise_deviation, record_phase2──> conclusion
    conclusion ──record_conclusion──> closure ──close (QA, signed)──> closed

* The case is opened automatically with the failing result (:func:`pharmatrace.lims.results.open_oos`); the
  result stays locked and visible whatever happens: an invalidation is recorded here, never on the result.
* **Phase I** (laboratory, ``lims.result.review``): the assignable-cause checklist — calculation, instrument,
  standard/reagent, sample preparation, analyst — each answered, and its conclusion: an assignable laboratory
  error found invalidates the result with the reason (a retest follows within the case,
  :func:`pharmatrace.lims.results.retest`), none found escalates the case to phase II.
* **Phase II** (full investigation, ``qms.deviation.raise``): the deviation raised through the QMS seam
  (:func:`pharmatrace.qms.deviations.open_deviation`, ``source = "lims:<case>"``; a deviation already raised
  with that source is the linked one, never duplicated), the manufacturing investigation, the impact on other
  batches, the root cause.
* **Conclusion** (``lims.result.review``): confirmed OOS, invalidated (laboratory error) or inconclusive; a
  confirmed OOS needs a CAPA through the QMS seam (:func:`pharmatrace.qms.capa.capas_for_source`, source
  ``oos``) or the recorded rationale for none.
* **Corrections** (TJ-10.1.3.4, SH-7.1.3): a recorded step is corrected, while the case is open, by whoever may
  record that step, with the reason (:func:`correct_step`): a new row naming the step it supersedes, whose
  content it replaces as a whole; the original stays, shown as superseded. The current content of a phase is its
  latest correction (the one not superseded); only that one may be corrected again. A correction keeps the path
  of the investigation (phase I's assignable cause) and the conclusion's rules; it changes what the closure signs.
* **Closure** (``qms.deviation.approve``): QA's SM2 signature (``lims.oos.close``) on an append-only closure row
  naming the SM3 of the investigation's content; never by an analyst of the result; refused with every reason
  while a step is missing (nothing written).

Each step is an append-only row with who and when (:mod:`pharmatrace.lims.oos_models`); the stage is derived.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.errors import (
    N_,
    Conflict,
    Msgid,
    NotFound,
    NotPermitted,
    Reason,
    ReasonRequired,
    Reasons,
    ValidationFailed,
)
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import results
from pharmatrace.lims.oos_models import OosClosure, OosStep
from pharmatrace.lims.oos_schemas import Blocker as BlockerPublic
from pharmatrace.lims.oos_schemas import (
    ClosurePublic,
    ConclusionCreate,
    DeviationRaise,
    Environment,
    InvestigationDetail,
    LinkedCapa,
    LinkedDeviation,
    PhaseOne,
    PhaseTwo,
    SignaturePublic,
    StepPublic,
)
from pharmatrace.lims.result_models import LabResult, OosCase, TestOrder
from pharmatrace.mes import historian_seam

LAB_PERMISSION = "lims.result.review"  # phase I and the conclusion: the laboratory's reviewer
RAISE_PERMISSION = "qms.deviation.raise"  # phase II and its deviation
QA_PERMISSION = "qms.deviation.approve"  # the closure
CLOSE_ACTION = "lims.oos.close"  # the signable action (kernel/esign/policy.py)
CLOSURE_TYPE = "lims_oos_closure"
ENVIRONMENT_WINDOW = timedelta(hours=1)  # the room's readings looked at before the test's time

STAGES = ("phase_1", "retest", "phase_2", "conclusion", "closure", "closed")
STAGE_LABELS = {
    "phase_1": N_("Phase I: laboratory investigation"),
    "retest": N_("Result invalidated: retest within the investigation"),
    "phase_2": N_("Phase II: full investigation"),
    "conclusion": N_("Awaiting the conclusion"),
    "closure": N_("Awaiting QA's closure"),
    "closed": N_("Closed"),
}
CHECK_LABELS = {
    "calculation": N_("Calculation"),
    "instrument": N_("Instrument"),
    "standard_reagent": N_("Standard / reagent"),
    "sample_preparation": N_("Sample preparation"),
    "analyst": N_("Analyst"),
}
ANSWER_LABELS = {"ok": N_("No error found"), "error": N_("Error found")}
CONCLUSION_LABELS = {
    "confirmed": N_("Confirmed OOS"),
    "invalidated": N_("Invalidated: laboratory error"),
    "inconclusive": N_("Inconclusive"),
}
STEP_LABELS = {
    "phase1": N_("Phase I (laboratory)"),
    "phase2": N_("Phase II (full investigation)"),
    "conclusion": N_("Conclusion"),
}


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    permission: str


# The declared lifecycle: each transition, the stages it starts from, who may take it (the target follows from
# what is recorded: see the module's diagram).
TRANSITIONS = {
    t.name: t
    for t in (
        Transition("record_phase1", ("phase_1",), LAB_PERMISSION),
        Transition("raise_deviation", ("phase_2",), RAISE_PERMISSION),
        Transition("record_phase2", ("phase_2",), RAISE_PERMISSION),
        Transition("record_conclusion", ("retest", "conclusion"), LAB_PERMISSION),
        Transition("close", ("closure",), QA_PERMISSION),
    )
}
assert all(s in STAGES for t in TRANSITIONS.values() for s in t.sources)


class OosDutiesNotSegregated(NotPermitted):
    """The analyst of the result under investigation may not close its investigation (TJ-7.7)."""

    code = "oos_duties"


class OosClosureRefused(Conflict):
    """An OOS investigation that may not be closed yet: every reason named."""

    code = "oos_closure_refused"


class OosCaseClosed(Conflict):
    """A closed OOS investigation is signed as it stands: nothing of it is corrected any more (TJ-7.7)."""

    code = "oos_case_closed"


class OosStepSuperseded(Conflict):
    """A step already corrected: only the current content of a phase (its latest correction) is corrected."""

    code = "oos_step_superseded"


Blocker = Reason  # one reason the closure is refused

# Who corrects a step: whoever may record it (the transition that records each kind).
RECORDED_BY = {"phase1": "record_phase1", "phase2": "record_phase2", "conclusion": "record_conclusion"}


# --- reading -----------------------------------------------------------------------------------------------


def get_case(session: Session, code: str) -> OosCase:
    return results.case_by_code(session, code)


def history_of(session: Session, case: OosCase) -> list[OosStep]:
    """Every recorded step and correction of the case, oldest first."""
    return list(session.scalars(select(OosStep).where(OosStep.case_id == case.id).order_by(OosStep.id)))


def steps_of(session: Session, case: OosCase) -> dict[str, OosStep]:
    """The current step of each phase: its latest correction, else the step as recorded (a step is corrected at
    most once and only the current one is, so the latest row of a kind is the current one)."""
    return {row.kind: row for row in history_of(session, case)}


def content(step: OosStep | None) -> dict[str, Any]:
    return json.loads(step.content) if step is not None else {}


def closure_of(session: Session, case: OosCase) -> OosClosure | None:
    return session.scalar(select(OosClosure).where(OosClosure.case_id == case.id))


def retests_of(session: Session, case: OosCase) -> list[LabResult]:
    """The results entered within the investigation (retests and their corrections), oldest first."""
    return list(
        session.scalars(select(LabResult).where(LabResult.oos_case_code == case.code).order_by(LabResult.id))
    )


def deviations_of(session: Session, case: OosCase) -> list[Any]:
    """The deviations raised from this case through the QMS seam (their source is ``lims:<case>``)."""
    from pharmatrace.qms.deviation_models import Deviation

    source = f"lims:{case.code}"
    return list(session.scalars(select(Deviation).where(Deviation.source == source).order_by(Deviation.id)))


def capas_of(session: Session, case: OosCase) -> list[Any]:
    from pharmatrace.qms.capa import capas_for_source

    return list(capas_for_source(session, "oos", case.code))


def stage_of(session: Session, case: OosCase) -> str:
    """Where the investigation stands, derived from its recorded steps."""
    if case.status == "closed":
        return "closed"
    steps = steps_of(session, case)
    if "conclusion" in steps:
        return "closure"
    if "phase1" not in steps:
        return "phase_1"
    if content(steps["phase1"]).get("assignable_cause"):
        return "retest"
    return "conclusion" if "phase2" in steps else "phase_2"


def _check(session: Session, case: OosCase, principal: Principal, name: str) -> None:
    transition = TRANSITIONS[name]
    principal.require(transition.permission)
    stage = stage_of(session, case)
    if stage not in transition.sources:
        raise Conflict(N_("OOS investigation {code} is at “{stage}”: this step is not possible now"),
                       code=case.code, stage=Msgid(STAGE_LABELS[stage]))  # fmt: skip


def _record(uow: UnitOfWork, principal: Principal, case: OosCase, kind: str, body: dict[str, Any]) -> OosStep:
    step = OosStep(case_id=case.id, kind=kind, content=ledger.canonical_text(body), recorded_at=clock.now(),
                   recorded_by=principal.login, recorded_by_name=principal.full_name)  # fmt: skip
    uow.session.add(step)
    uow.session.flush()
    return step


# --- the steps ---------------------------------------------------------------------------------------------


def record_phase1(uow: UnitOfWork, principal: Principal, code: str, body: PhaseOne) -> OosStep:
    """Phase I: the checklist answered and its conclusion. An assignable laboratory error invalidates the result
    (recorded here; the result itself stays as it was, locked); none found escalates the case to phase II."""
    case = get_case(uow.session, code)
    _check(uow.session, case, principal, "record_phase1")
    uow.reason = uow.reason or "OOS phase I recorded"
    step = _record(uow, principal, case, "phase1", body.model_dump(mode="json"))
    if not body.assignable_cause:
        case.phase = "II"  # TJ-7.7: no assignable laboratory cause → full investigation
        uow.session.flush()
    return step


def raise_deviation(uow: UnitOfWork, principal: Principal, code: str, body: DeviationRaise) -> Any:
    """Phase II's deviation, raised through the QMS seam (recorded by the unit of work's actor); refused when
    one is linked already."""
    from pharmatrace.qms import deviations

    session = uow.session
    case = get_case(session, code)
    _check(session, case, principal, "raise_deviation")
    linked = deviations_of(session, case)
    if linked:
        raise Conflict(N_("OOS investigation {code} is linked to deviation {number} already"),
                       code=case.code, number=linked[0].number)  # fmt: skip
    uow.reason = uow.reason or f"deviation raised from OOS {case.code}"
    return deviations.open_deviation(
        uow, description=(f"{case.material_name} {case.lot_number}: {case.item_name} {case.result_text} "
                          f"({case.limit_text}), OOS {case.code}"),
        occurred_at=case.opened_at, immediate_actions=body.immediate_actions, affected_lots=[case.lot_number],
        source_kind="lims", source=f"lims:{case.code}", category="laboratory",
    )  # fmt: skip


def record_phase2(uow: UnitOfWork, principal: Principal, code: str, body: PhaseTwo) -> OosStep:
    """Phase II: the manufacturing investigation, the impact on other batches, the root cause; the linked
    deviation must exist (it names the deviation it was recorded with)."""
    session = uow.session
    case = get_case(session, code)
    _check(session, case, principal, "record_phase2")
    linked = deviations_of(session, case)
    if not linked:
        raise Conflict(N_("Raise the deviation of OOS investigation {code} first"), code=case.code)
    uow.reason = uow.reason or "OOS phase II recorded"
    return _record(uow, principal, case, "phase2",
                   {**body.model_dump(mode="json"), "deviation": linked[0].number})  # fmt: skip


def record_conclusion(uow: UnitOfWork, principal: Principal, code: str, body: ConclusionCreate) -> OosStep:
    """The conclusion: after an assignable laboratory error only "invalidated"; a confirmed OOS with no CAPA
    gives the rationale for none (checked again at the closure)."""
    session = uow.session
    case = get_case(session, code)
    _check(session, case, principal, "record_conclusion")
    if stage_of(session, case) == "retest" and body.conclusion != "invalidated":
        raise Conflict(N_("An assignable laboratory error was found in phase I: the result is invalidated"))
    if body.conclusion != "confirmed" and body.no_capa_rationale:
        raise Conflict(N_("Only a confirmed OOS gives the rationale for no CAPA"))
    uow.reason = uow.reason or "OOS conclusion recorded"
    return _record(uow, principal, case, "conclusion", body.model_dump(mode="json"))


# --- corrections (TJ-10.1.3.4) ---------------------------------------------------------------------------------


def correct_step(uow: UnitOfWork, principal: Principal, code: str, step_id: int,
                 body: PhaseOne | PhaseTwo | ConclusionCreate, reason: str) -> OosStep:  # fmt: skip
    """Correct a recorded step of an open investigation: a new row of the same kind naming it, with the whole
    content as it should read and the reason; by whoever may record that step. Refused (nothing written) for a
    step of another case or none, a step already corrected, a closed case, no reason, content of another kind,
    a change of phase I's assignable cause (the path the investigation took) or a content that changes nothing."""
    session = uow.session
    case = get_case(session, code)
    step = session.get(OosStep, step_id)
    if step is None or step.case_id != case.id:
        raise NotFound(N_("OOS investigation {code} has no step {id}"), code=case.code, id=step_id)
    principal.require(TRANSITIONS[RECORDED_BY[step.kind]].permission)
    if len(reason.strip()) < 2:
        raise ReasonRequired(N_("A correction needs its reason"))
    if case.status == "closed":
        raise OosCaseClosed(N_("OOS investigation {code} is closed: its steps are not corrected any more"),
                            code=case.code)  # fmt: skip
    newer = session.scalar(select(OosStep.id).where(OosStep.corrects_id == step.id))
    if newer is not None:
        raise OosStepSuperseded(N_("Step {id} was corrected by step {newer}: correct the current one"),
                                id=step.id, newer=newer)  # fmt: skip
    expected = {"phase1": PhaseOne, "phase2": PhaseTwo, "conclusion": ConclusionCreate}[step.kind]
    if not isinstance(body, expected):
        raise ValidationFailed(N_("Step {id} is “{kind}”: give its content"), id=step.id,
                               kind=Msgid(STEP_LABELS[step.kind]))  # fmt: skip
    fields = body.model_dump(mode="json")
    before = content(step)
    if step.kind == "phase1" and bool(fields["assignable_cause"]) != bool(before.get("assignable_cause")):
        raise Conflict(N_("A correction of phase I keeps its finding of an assignable laboratory error: the "
                          "investigation followed it"))  # fmt: skip
    if step.kind == "phase2":
        fields["deviation"] = before.get("deviation")  # recorded with its deviation, which stays linked
    if step.kind == "conclusion":
        if content(steps_of(session, case).get("phase1")).get("assignable_cause") and (
            fields["conclusion"] != "invalidated"
        ):
            raise Conflict(
                N_("An assignable laboratory error was found in phase I: the result is invalidated")
            )
        if fields["conclusion"] != "confirmed" and fields["no_capa_rationale"]:
            raise Conflict(N_("Only a confirmed OOS gives the rationale for no CAPA"))
    if ledger.canonical_text(fields) == step.content:
        raise Conflict(N_("The correction changes nothing of step {id}"), id=step.id)
    reason = uow.give_reason(reason)
    correction = OosStep(case_id=case.id, kind=step.kind, content=ledger.canonical_text(fields),
                         recorded_at=clock.now(), recorded_by=principal.login, recorded_by_name=principal.full_name,
                         corrects_id=step.id, reason=reason[:500])  # fmt: skip
    session.add(correction)
    session.flush()
    return correction


# --- closure -----------------------------------------------------------------------------------------------


def closure_blockers(session: Session, case: OosCase) -> list[Blocker]:
    """What stands between the investigation and its closure (empty: it may be closed)."""
    found: list[Blocker] = []
    if case.status == "closed":
        return [Blocker(N_("it is closed already"))]
    steps = steps_of(session, case)
    phase1 = content(steps.get("phase1"))
    if not phase1:
        found.append(Blocker(N_("phase I is not recorded")))
    escalated = bool(phase1) and not phase1.get("assignable_cause")
    if escalated and not deviations_of(session, case):
        found.append(Blocker(N_("phase II has no linked deviation")))
    if escalated and "phase2" not in steps:
        found.append(Blocker(N_("phase II is not recorded")))
    conclusion = content(steps.get("conclusion"))
    if not conclusion:
        found.append(Blocker(N_("the investigation has no conclusion")))
    if conclusion.get("conclusion") == "invalidated" and not retests_of(session, case):
        found.append(Blocker(N_("the invalidated result has no retest within the investigation")))
    if (
        conclusion.get("conclusion") == "confirmed"
        and not conclusion.get("no_capa_rationale")
        and not capas_of(session, case)
    ):
        found.append(Blocker(N_("a confirmed OOS needs a CAPA or the rationale for none")))
    return found


def analysts_of(session: Session, case: OosCase) -> set[str]:
    """Whoever entered a version of the test's results (the original and the retests)."""
    rows = session.scalars(select(LabResult.entered_by).where(LabResult.test_id == case.test_id))
    return set(rows)


def content_of(session: Session, case: OosCase) -> dict[str, Any]:
    """What the closure signs: the case, the locked result's hash, every step, the retests, the links."""
    result = results.get_result(session, case.result_id)
    return {
        "code": case.code, "result_id": case.result_id, "result_sm3": result.content_sm3,
        "lot_number": case.lot_number, "item_name": case.item_name, "limit": case.limit_text,
        "result": case.result_text, "opened_by": case.opened_by,
        "steps": {kind: _signed_step(s) for kind, s in sorted(steps_of(session, case).items())},
        "retests": [[r.id, r.content_sm3] for r in retests_of(session, case)],
        "deviations": [d.number for d in deviations_of(session, case)],
        "capas": [c.number for c in capas_of(session, case)],
    }  # fmt: skip


def _signed_step(step: OosStep) -> dict[str, Any]:
    """A phase as the closure signs it: its current content, who and when; a correction also names the step it
    corrects and why (a step never corrected reads as it always did, so earlier closures keep their hash)."""
    signed: dict[str, Any] = {
        "content": content(step),
        "by": step.recorded_by,
        "at": step.recorded_at.isoformat(),
    }
    if step.corrects_id is not None:
        signed.update(corrects=step.corrects_id, reason=step.reason)
    return signed


def content_sm3(session: Session, case: OosCase) -> str:
    return crypto.sm3(ledger.canonical_text(content_of(session, case)).encode()).hex()


def close(
    uow: UnitOfWork,
    principal: Principal,
    code: str,
    *,
    password: str,
    login: str | None = None,
    comment: str = "",
) -> OosClosure:
    """QA's closure, signed (``lims.oos.close``) on the closure row naming the content's SM3."""
    session = uow.session
    case = get_case(session, code)
    principal.require(QA_PERMISSION)
    if principal.login in analysts_of(session, case):
        raise OosDutiesNotSegregated(N_("The analyst of the result cannot close its OOS investigation"))
    blockers = closure_blockers(session, case)
    if blockers:
        raise OosClosureRefused(N_("OOS investigation {code} cannot be closed: {reasons}"), code=case.code,
                                reasons=Reasons(blockers))  # fmt: skip
    _check(session, case, principal, "close")
    esign.authenticate_signer(uow.db, principal, password, login)
    uow.reason = uow.reason or "OOS investigation closed"
    conclusion = content(steps_of(session, case)["conclusion"])["conclusion"]
    closure = OosClosure(case_id=case.id, conclusion=conclusion, content_sm3=content_sm3(session, case),
                         closed_at=clock.now(), closed_by=principal.login, closed_by_name=principal.full_name,
                         comment=comment[:500])  # fmt: skip
    case.status = "closed"
    esign.add_signed_decision(
        uow, principal, closure, action_code=CLOSE_ACTION, password=password, login=login
    )
    test = results.get_test(session, case.test_id)
    session.refresh(test, ["oos_cases"])
    # TJ-7.7: the test leaves the investigation; its approved latest version (the retest that replaced an
    # invalidated result, or the confirmed result) joins the reviewed history, and pending results follow it
    what = ("its invalidated result was replaced by the retest" if conclusion == "invalidated"
            else f"its result ({conclusion}) joined the reviewed history")  # fmt: skip
    results.trend_history_changed(
        uow, principal, test, f"re-evaluated after OOS {case.code} was closed: {what}"
    )
    return closure


# --- the linked context --------------------------------------------------------------------------------------


def environment(session: Session, result: LabResult) -> Environment:
    """The room of the test's instrument during the test, from the historian (``<ROOM>.temperature`` and
    ``<ROOM>.humidity`` over the hour before the test); not connected when no reader is registered."""
    from pharmatrace.equipment.models import Equipment

    room = None
    if result.instrument_code:
        instrument = session.scalar(select(Equipment).where(Equipment.code == result.instrument_code))
        room = instrument.room.code if instrument is not None and instrument.room is not None else None
    reader = historian_seam.reader()
    if reader is None:
        return Environment(connected=False, room=room, readings=[])
    readings: list[dict[str, Any]] = []
    if room is not None:
        for signal in ("temperature", "humidity"):
            tag = f"{room}.{signal}"
            found = historian_seam.capture(tag, result.tested_at - ENVIRONMENT_WINDOW, result.tested_at)
            if found is not None:
                readings.append({"tag": tag, "count": found.count, "low": str(found.low),
                                 "high": str(found.high), "mean": str(round(found.mean, 2))})  # fmt: skip
    return Environment(connected=True, room=room, readings=readings)


def closure_public(session: Session, closure: OosClosure) -> ClosurePublic:
    signatures = [
        SignaturePublic(action=s.action, meaning=s.meaning, signer_login=s.signer_login, signer_name=s.signer_name,
                        signed_at=s.signed_at, status=s.status)
        for s in esign.manifestations(session, CLOSURE_TYPE, str(closure.id))
    ]  # fmt: skip
    return ClosurePublic(conclusion=closure.conclusion, content_sm3=closure.content_sm3, closed_at=closure.closed_at,
                         closed_by=closure.closed_by, closed_by_name=closure.closed_by_name, comment=closure.comment,
                         signatures=signatures)  # fmt: skip


def step_public(step: OosStep, superseded_by: int | None) -> StepPublic:
    return StepPublic(id=step.id, kind=step.kind, content=content(step), recorded_at=step.recorded_at,
                      recorded_by=step.recorded_by, recorded_by_name=step.recorded_by_name,
                      corrects_id=step.corrects_id, reason=step.reason, superseded_by=superseded_by,
                      current=superseded_by is None)  # fmt: skip


def investigation_detail(session: Session, case: OosCase) -> InvestigationDetail:
    """The investigation with everything linked to it (TJ-7.7): batch or lot, sample, analyst, instrument and
    its calibration at the time, the method SOP, reagents and their expiry, the room during the test."""
    result = results.get_result(session, case.result_id)
    shown = results.result_public(session, result)
    order = session.get(TestOrder, case.order_id)
    closure = closure_of(session, case)
    history = history_of(session, case)
    superseded = {s.corrects_id: s.id for s in history if s.corrects_id is not None}
    return InvestigationDetail(
        code=case.code, stage=stage_of(session, case), phase=case.phase, status=case.status,
        result_id=case.result_id, test_id=case.test_id, order_code=order.code if order else "",
        sample_code=case.sample_code, lot_number=case.lot_number,
        batch_no=order.source_ref if order is not None and order.source == "batch" else None,
        material_name=case.material_name, item_name=case.item_name, limit=case.limit_text, result=case.result_text,
        analyst=result.entered_by, analyst_name=result.entered_by_name, tested_at=result.tested_at,
        instrument_code=result.instrument_code, instrument_name=result.instrument_name,
        calibrated_until=result.calibrated_until, method=result.method, method_sop=result.method_sop,
        reagents=[g.model_dump(mode="json") for g in shown.reagents],
        retests=[{"id": r.id, "seq": r.seq, "kind": r.kind, "reported": r.reported, "unit": r.unit,
                  "outcome": r.outcome, "entered_by": r.entered_by, "entered_at": r.entered_at.isoformat()}
                 for r in retests_of(session, case)],
        environment=environment(session, result), opened_at=case.opened_at, opened_by=case.opened_by,
        steps=[step_public(s, None) for s in steps_of(session, case).values()],
        history=[step_public(s, superseded.get(s.id)) for s in history],
        deviations=[LinkedDeviation(number=d.number, status=d.status, classification=d.classification)
                    for d in deviations_of(session, case)],
        capas=[LinkedCapa(number=c.number, title=c.title, status=c.status, due_date=c.due_date)
               for c in capas_of(session, case)],
        blockers=[BlockerPublic(message=b.message, params=b.params) for b in closure_blockers(session, case)]
        if closure is None else [],
        content_sm3=content_sm3(session, case),
        closure=closure_public(session, closure) if closure is not None else None,
    )  # fmt: skip
