"""Deviations (偏差管理, TJ-6.4.4, TJ-B.2.3.2, SH-6.2.4): a declared lifecycle with named guards.

::

    open ──classify (QA)──> classified ──start──> investigating ──complete──> investigated ──close (QA, signed)──> closed
      │                        │  └──────────────complete──────────────────────┘    │
      └────────────────────────┴────────── cancel (QA, reason) ─────────────────────┴──> cancelled

* Opened from another area's exception (the MES seam :func:`pharmatrace.mes.deviation_seam.raise_deviation`;
  LIMS, monitoring and warehouse pass ``source_kind``) or entered by hand by anyone with ``qms.deviation.raise``.
* QA classifies it (``qms.deviation.approve``): category, triage answers, class — the rules suggest one
  (:func:`suggest_class`), QA may override with the rationale; both are kept. The class sets the investigation's
  due date (:data:`INVESTIGATION_DAYS`). Every step has a due date; :func:`escalate_overdue` records one
  escalation per deviation and overdue step on the timeline; :func:`escalator` runs it when the web process
  starts and every ``escalation_seconds`` (an hour by default) after.
* Further immediate actions are timeline entries; the investigation records the root cause, the 5-why chain,
  the fishbone categories (人机料法环测), the conclusion and, when no CAPA is needed, why.
* QA assesses the impact on every affected batch and lot (:class:`~.deviation_models.DeviationImpact`); the
  batch's quality evaluation reads the conclusions (:func:`batch_quality_evaluation`).
* QA closes it by an SM2 signature (``qms.deviation.close``) given on an append-only closure row naming the SM3 of
  the deviation's content. Refused while: not investigated, not classified, no investigation conclusion, an
  affected batch or lot without an impact conclusion, a major or critical deviation without a CAPA or the
  rationale for none; and always to whoever recorded it (also refused by the database). Cancelled only by QA,
  with a reason, never by whoever recorded it.

Every refusal raises a typed error and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.config import get_settings
from pharmatrace.kernel import clock, crypto, jobs, ledger
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import (
    N_,
    Conflict,
    Msgid,
    NotFound,
    NotPermitted,
    Reason,
    Reasons,
    ValidationFailed,
)
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms.deviation_models import (
    ACTIVE_STATUSES,
    CLASSES,
    STATUSES,
    Deviation,
    DeviationClosure,
    DeviationEvent,
    DeviationImpact,
)
from pharmatrace.qms.deviation_schemas import (
    AffectedObject,
    Ageing,
    BatchDeviation,
    CapaLink,
    Classification,
    ClosurePublic,
    Dashboard,
    DeviationCreate,
    DeviationDetail,
    DeviationPublic,
    EventPublic,
    ImpactAssessment,
    ImpactPublic,
    Investigation,
    SignaturePublic,
    Triage,
)
from pharmatrace.storage.engine import Database

RAISE_PERMISSION = "qms.deviation.raise"
APPROVE_PERMISSION = "qms.deviation.approve"
CLOSE_ACTION = "qms.deviation.close"  # the signable action (kernel/esign/policy.py)
CLOSURE_TYPE = "deviation_closure"

# Due dates (days, Beijing calendar): QA triage after recording, the investigation by class after
# classification, QA's closure after the investigation. A plant changes them here.
TRIAGE_DAYS = 3
INVESTIGATION_DAYS = {"minor": 30, "major": 30, "critical": 15}
CLOSURE_DAYS = 10
REPEAT_WINDOW_DAYS = 90  # a deviation of the same category within this window makes a repeat
AGEING_BUCKETS = (7, 30)

STATUS_LABELS = {
    "open": N_("Open (awaiting classification)"),
    "classified": N_("Classified"),
    "investigating": N_("Under investigation"),
    "investigated": N_("Investigation complete"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}
CLASS_LABELS = {"minor": N_("Minor"), "major": N_("Major"), "critical": N_("Critical")}
SOURCE_LABELS = {
    "mes": N_("Production (MES)"),
    "lims": N_("Laboratory (LIMS)"),
    "monitoring": N_("Monitoring"),
    "wms": N_("Warehouse"),
    "manual": N_("Entered by hand"),
}
CATEGORY_LABELS = {
    "process": N_("Process"),
    "equipment": N_("Equipment"),
    "material": N_("Material"),
    "environment": N_("Environment"),
    "facility": N_("Facility and utilities"),
    "documentation": N_("Documentation"),
    "laboratory": N_("Laboratory"),
    "storage": N_("Storage and distribution"),
    "personnel": N_("Personnel"),
    "other": N_("Other"),
}
FISHBONE_LABELS = {
    "man": N_("Man (people)"),
    "machine": N_("Machine"),
    "material": N_("Material"),
    "method": N_("Method"),
    "environment": N_("Environment"),
    "measurement": N_("Measurement"),
}
CONCLUSION_LABELS = {
    "no_impact": N_("No impact"),
    "impact_acceptable": N_("Impact acceptable"),
    "reprocess": N_("Reprocess"),
    "reject": N_("Reject"),
}
OBJECT_LABELS = {"batch": N_("Batch"), "lot": N_("Lot")}
EVENT_LABELS = {
    "recorded": N_("Recorded"),
    "classified": N_("Classified"),
    "immediate_action": N_("Immediate action"),
    "investigation_started": N_("Investigation started"),
    "investigated": N_("Investigation complete"),
    "impact": N_("Impact assessed"),
    "escalated": N_("Escalated: overdue"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
    "note": N_("Note"),
}
STEP_LABELS = {"triage": N_("Classification"), "investigation": N_("Investigation"), "closure": N_("Closure")}
TRIAGE_LABELS = {
    "patient_safety": N_("May affect patient safety"),
    "sterility_assurance": N_("May affect sterility assurance"),
    "product_quality": N_("May affect product quality"),
    "validated_state": N_("May affect a validated state"),
}


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str | None  # None: the status stays (a re-classification)
    permission: str


# The declared lifecycle: each transition, the states it starts from, where it leads, who may take it.
TRANSITIONS = {
    t.name: t
    for t in (
        Transition("classify", ("open", "classified", "investigating"), None, APPROVE_PERMISSION),
        Transition("start_investigation", ("classified",), "investigating", RAISE_PERMISSION),
        Transition("record_action", ACTIVE_STATUSES, None, RAISE_PERMISSION),
        Transition(
            "complete_investigation", ("classified", "investigating"), "investigated", RAISE_PERMISSION
        ),
        Transition("assess_impact", ACTIVE_STATUSES, None, APPROVE_PERMISSION),
        Transition("close", ("investigated",), "closed", APPROVE_PERMISSION),
        Transition("cancel", ACTIVE_STATUSES, "cancelled", APPROVE_PERMISSION),
    )
}
assert all(s in STATUSES for t in TRANSITIONS.values() for s in t.sources)


class DutiesNotSegregated(NotPermitted):
    """Whoever recorded a deviation may not close or cancel it (TJ-6.4.4, SH-7.1.4)."""

    code = "deviation_duties"


class ClosureRefused(Conflict):
    """A deviation that may not be closed yet: every reason named."""

    code = "deviation_closure_refused"


Blocker = Reason  # one reason the closure is refused


# --- finding -------------------------------------------------------------------------------------------


def get_deviation(session: Session, number: str) -> Deviation:
    found = session.scalar(select(Deviation).where(Deviation.number == number.strip().upper()))
    if found is None:
        raise NotFound(N_("No deviation {number}"), number=number)
    return found


def today() -> date:
    return clock.to_beijing(clock.now()).date()


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def step_of(status: str) -> str | None:
    """The step a deviation in ``status`` waits for (its due date is that step's)."""
    return {"open": "triage", "classified": "investigation", "investigating": "investigation",
            "investigated": "closure"}.get(status)  # fmt: skip


def is_overdue(deviation: Deviation, on: date | None = None) -> bool:
    return (
        deviation.status in ACTIVE_STATUSES
        and deviation.due_date is not None
        and deviation.due_date < (on or today())
    )


def age_days(deviation: Deviation, on: date | None = None) -> int:
    return ((on or today()) - clock.to_beijing(deviation.recorded_at).date()).days


def list_deviations(
    session: Session, *, status: str = "", classification: str = "", source_kind: str = "", overdue: bool = False,
    text: str = "",
) -> list[Deviation]:  # fmt: skip
    """Deviations, newest first, filtered by status (``active``: not closed or cancelled), class, source and
    overdue; ``text`` matches the number, description or affected batches and lots."""
    query = select(Deviation).order_by(Deviation.recorded_at.desc(), Deviation.id.desc())
    if status == "active":
        query = query.where(Deviation.status.in_(ACTIVE_STATUSES))
    elif status:
        query = query.where(Deviation.status == status)
    if classification:
        query = query.where(Deviation.classification == classification)
    if source_kind:
        query = query.where(Deviation.source_kind == source_kind)
    if overdue:
        query = query.where(Deviation.status.in_(ACTIVE_STATUSES), Deviation.due_date < today())
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(or_(Deviation.number.ilike(like), Deviation.description.ilike(like),
                                Deviation.affected_batches.ilike(like), Deviation.affected_lots.ilike(like)))  # fmt: skip
    return list(session.scalars(query))


# --- the rules -----------------------------------------------------------------------------------------


def is_repeat(session: Session, category: str, deviation: Deviation) -> bool:
    """Another deviation of the same category, not cancelled, recorded within :data:`REPEAT_WINDOW_DAYS`."""
    since = deviation.recorded_at - timedelta(days=REPEAT_WINDOW_DAYS)
    found = session.scalar(
        select(Deviation.id).where(
            Deviation.id != deviation.id, Deviation.category == category, Deviation.status != "cancelled",
            Deviation.recorded_at >= since, Deviation.recorded_at <= deviation.recorded_at,
        ).limit(1)
    )  # fmt: skip
    return found is not None


def suggest_class(triage: Triage, *, repeat: bool) -> str:
    """The classification rules: patient safety or sterility assurance → critical; product quality, a validated
    state or a repeat of a recent deviation of the same category → major; otherwise minor."""
    if triage.patient_safety or triage.sterility_assurance:
        return "critical"
    if triage.product_quality or triage.validated_state or repeat:
        return "major"
    return "minor"


def _check(deviation: Deviation, principal: Principal | None, name: str) -> Transition:
    transition = TRANSITIONS[name]
    if principal is not None:
        principal.require(transition.permission)
    if deviation.status not in transition.sources:
        raise Conflict(
            N_("Deviation {number} is “{status}”: this step is not possible now"),
            number=deviation.number, status=Msgid(STATUS_LABELS[deviation.status]),
        )  # fmt: skip
    return transition


def _event(uow: UnitOfWork, deviation: Deviation, kind: str, text: str = "", *, step: str | None = None,
           actor: Actor | None = None) -> DeviationEvent:  # fmt: skip
    who = actor or uow.actor
    event = DeviationEvent(deviation_id=deviation.id, kind=kind, step=step, text=text[:2000], at=clock.now(),
                           by=who.login, by_name=who.full_name)  # fmt: skip
    uow.session.add(event)
    return event


def _batches_exist(session: Session, batches: Iterable[str]) -> None:
    from pharmatrace.mes.execution_models import BatchOrder

    for batch_no in batches:
        if session.scalar(select(BatchOrder.id).where(BatchOrder.batch_no == batch_no)) is None:
            raise ValidationFailed(N_("There is no batch {batch}"), batch=batch_no)


def _lots_exist(session: Session, lots: Iterable[str]) -> None:
    from pharmatrace.wms.models import Lot

    for lot_number in lots:
        if session.scalar(select(Lot.id).where(Lot.lot_number == lot_number)) is None:
            raise ValidationFailed(N_("There is no lot {lot}"), lot=lot_number)


# --- opening -------------------------------------------------------------------------------------------


def open_deviation(
    uow: UnitOfWork, *, description: str, occurred_at: datetime, immediate_actions: str,
    affected_batches: Iterable[str] = (), affected_lots: Iterable[str] = (), affected_products: Iterable[str] = (),
    source_kind: str, source: str, category: str | None = None, reviewer: str | None = None,
) -> Deviation:  # fmt: skip
    """A new deviation ``DEV-YYYY-NNNN``, recorded by the unit of work's actor, open, due for QA triage."""
    from pharmatrace.wms.codes import next_serial

    session = uow.session
    moment = clock.now()
    year = clock.to_beijing(moment).year
    while True:
        number = f"DEV-{year}-{next_serial(session, f'QMS:DEV-{year}-#'):04d}"
        if session.scalar(select(Deviation.id).where(Deviation.number == number)) is None:
            break
    uow.reason = uow.reason or "deviation recorded"
    deviation = Deviation(
        number=number, description=description[:2000], occurred_at=occurred_at,
        immediate_actions=immediate_actions[:2000], affected_batches=", ".join(affected_batches)[:500],
        affected_lots=", ".join(affected_lots)[:500], affected_products=", ".join(affected_products)[:500],
        recorded_at=moment, recorded_by=uow.actor.login, reviewer=reviewer, status="open",
        source_kind=source_kind, source=source[:64], category=category,
        due_date=clock.to_beijing(moment).date() + timedelta(days=TRIAGE_DAYS),
    )  # fmt: skip
    session.add(deviation)
    session.flush()
    _event(uow, deviation, "recorded", immediate_actions)
    session.flush()
    return deviation


def record(uow: UnitOfWork, principal: Principal, body: DeviationCreate) -> Deviation:
    """A deviation entered by hand (or passed on by another area): the affected batches and lots must exist."""
    principal.require(RAISE_PERMISSION)
    if body.occurred_at > clock.now() + timedelta(minutes=5):
        raise ValidationFailed(N_("A deviation cannot have occurred in the future"))
    _batches_exist(uow.session, body.affected_batches)
    _lots_exist(uow.session, body.affected_lots)
    source = body.source or ("manual" if body.source_kind == "manual" else "")
    if not source:
        raise ValidationFailed(N_("Name the record the deviation comes from"))
    return open_deviation(
        uow, description=body.description, occurred_at=body.occurred_at, immediate_actions=body.immediate_actions,
        affected_batches=body.affected_batches, affected_lots=body.affected_lots,
        affected_products=body.affected_products, source_kind=body.source_kind, source=source,
        category=body.category,
    )  # fmt: skip


# --- the lifecycle -------------------------------------------------------------------------------------


def classify(uow: UnitOfWork, principal: Principal, number: str, body: Classification) -> Deviation:
    """QA's classification: the rules suggest a class from the triage answers, QA may choose another; both are
    kept with the rationale. The class sets the investigation's due date; a re-classification needs a reason."""
    session = uow.session
    deviation = get_deviation(session, number)
    _check(deviation, principal, "classify")
    if deviation.status != "open" and uow.reason is None:
        raise ValidationFailed(N_("A reason is required for this change"))
    suggested = suggest_class(body.triage, repeat=is_repeat(session, body.category, deviation))
    chosen = body.classification or suggested
    moment = clock.now()
    uow.reason = uow.reason or "deviation classified"
    deviation.category = body.category
    deviation.triage = ledger.canonical_text(body.triage.model_dump())
    deviation.suggested_class = suggested
    deviation.classification = chosen
    deviation.classification_rationale = body.rationale
    deviation.classified_at = moment
    deviation.classified_by = principal.login
    deviation.reviewer = principal.login  # PCFHR 偏差复核人 (TJ-B.2.3.2)
    if deviation.status == "open":
        deviation.status = "classified"
    if deviation.investigated_at is None:
        deviation.due_date = clock.to_beijing(moment).date() + timedelta(days=INVESTIGATION_DAYS[chosen])
    text = f"{chosen} (suggested {suggested}): {body.rationale}"
    _event(uow, deviation, "classified", text)
    session.flush()
    return deviation


def record_action(uow: UnitOfWork, principal: Principal, number: str, text: str) -> DeviationEvent:
    """A further immediate action, on the timeline."""
    deviation = get_deviation(uow.session, number)
    _check(deviation, principal, "record_action")
    uow.reason = uow.reason or "deviation immediate action recorded"
    event = _event(uow, deviation, "immediate_action", text)
    uow.session.flush()
    return event


def start_investigation(uow: UnitOfWork, principal: Principal, number: str) -> Deviation:
    deviation = get_deviation(uow.session, number)
    _check(deviation, principal, "start_investigation")
    uow.reason = uow.reason or "deviation investigation started"
    deviation.status = "investigating"
    deviation.investigation_started_at = clock.now()
    deviation.investigator = principal.login
    _event(uow, deviation, "investigation_started")
    uow.session.flush()
    return deviation


def complete_investigation(
    uow: UnitOfWork, principal: Principal, number: str, body: Investigation
) -> Deviation:
    """The investigation's result; the deviation waits for the impact assessments and QA's closure."""
    deviation = get_deviation(uow.session, number)
    _check(deviation, principal, "complete_investigation")
    moment = clock.now()
    uow.reason = uow.reason or "deviation investigation completed"
    if deviation.investigation_started_at is None:
        deviation.investigation_started_at = moment
        deviation.investigator = principal.login
    deviation.root_cause = body.root_cause
    deviation.why_chain = ledger.canonical_text(body.why_chain)
    deviation.fishbone = ",".join(body.fishbone)
    deviation.investigation_conclusion = body.conclusion
    deviation.no_capa_rationale = body.no_capa_rationale
    deviation.investigated_at = moment
    deviation.investigated_by = principal.login
    deviation.status = "investigated"
    deviation.due_date = clock.to_beijing(moment).date() + timedelta(days=CLOSURE_DAYS)
    _event(uow, deviation, "investigated", f"{body.root_cause} — {body.conclusion}")
    uow.session.flush()
    return deviation


def affected_objects(deviation: Deviation) -> list[tuple[str, str]]:
    """(kind, reference) of every affected batch and lot, in the order named."""
    return [("batch", b) for b in _split(deviation.affected_batches)] + [
        ("lot", lot) for lot in _split(deviation.affected_lots)
    ]


def latest_impacts(deviation: Deviation) -> dict[tuple[str, str], DeviationImpact]:
    found: dict[tuple[str, str], DeviationImpact] = {}
    for impact in deviation.impacts:  # oldest first: the latest one wins
        found[(impact.object_kind, impact.object_ref)] = impact
    return found


def assess_impact(
    uow: UnitOfWork, principal: Principal, number: str, body: ImpactAssessment
) -> DeviationImpact:
    """QA's impact assessment of one batch or lot; an object not yet named becomes an affected one. A new
    assessment of the same object replaces the earlier one (both stay)."""
    session = uow.session
    deviation = get_deviation(session, number)
    _check(deviation, principal, "assess_impact")
    if body.object_kind == "batch":
        _batches_exist(session, [body.object_ref])
    else:
        _lots_exist(session, [body.object_ref])
    uow.reason = uow.reason or "deviation impact assessed"
    if (body.object_kind, body.object_ref) not in affected_objects(deviation):
        column = "affected_batches" if body.object_kind == "batch" else "affected_lots"
        named = [*_split(getattr(deviation, column)), body.object_ref]
        if len(", ".join(named)) > 500:
            raise ValidationFailed(N_("Too many affected objects on one deviation"))
        setattr(deviation, column, ", ".join(named))
    impact = DeviationImpact(
        deviation_id=deviation.id, object_kind=body.object_kind, object_ref=body.object_ref,
        conclusion=body.conclusion, rationale=body.rationale, assessed_at=clock.now(),
        assessed_by=principal.login, assessed_by_name=principal.full_name,
    )  # fmt: skip
    session.add(impact)
    _event(uow, deviation, "impact", f"{body.object_ref}: {body.conclusion} — {body.rationale}")
    session.flush()
    session.expire(deviation, ["impacts"])
    return impact


def capas_of(session: Session, deviation: Deviation) -> list[Any]:
    from pharmatrace.qms.capa import capas_for_source

    return list(capas_for_source(session, "deviation", deviation.number))


def closure_blockers(session: Session, deviation: Deviation) -> list[Blocker]:
    """What stands between the deviation and its closure (empty: it may be closed)."""
    found: list[Blocker] = []
    if deviation.status != "investigated":
        found.append(Blocker(N_("it is “{status}”, not investigated"),
                             {"status": Msgid(STATUS_LABELS[deviation.status])}))  # fmt: skip
    if deviation.classification is None:
        found.append(Blocker(N_("it is not classified")))
    if not deviation.investigation_conclusion:
        found.append(Blocker(N_("the investigation has no conclusion")))
    assessed = latest_impacts(deviation)
    for kind, ref in affected_objects(deviation):
        if (kind, ref) not in assessed:
            found.append(Blocker(N_("{kind} {ref} has no impact conclusion"),
                                 {"kind": Msgid(OBJECT_LABELS[kind]), "ref": ref}))  # fmt: skip
    major = deviation.classification in ("major", "critical")
    if major and not deviation.no_capa_rationale and not capas_of(session, deviation):
        found.append(Blocker(N_("a major or critical deviation needs a CAPA or the rationale for none")))
    return found


def content_of(deviation: Deviation) -> dict[str, Any]:
    """What the closure signs: the deviation's record, classification, investigation and impact conclusions."""

    def when(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return {
        "number": deviation.number, "description": deviation.description, "occurred_at": when(deviation.occurred_at),
        "immediate_actions": deviation.immediate_actions, "affected_batches": _split(deviation.affected_batches),
        "affected_lots": _split(deviation.affected_lots), "affected_products": _split(deviation.affected_products),
        "recorded_by": deviation.recorded_by, "source": deviation.source, "category": deviation.category,
        "triage": json.loads(deviation.triage or "{}"), "suggested_class": deviation.suggested_class,
        "classification": deviation.classification, "classification_rationale": deviation.classification_rationale,
        "root_cause": deviation.root_cause, "why_chain": json.loads(deviation.why_chain or "[]"),
        "fishbone": _split(deviation.fishbone), "investigation_conclusion": deviation.investigation_conclusion,
        "no_capa_rationale": deviation.no_capa_rationale,
        "impacts": sorted(
            [i.object_kind, i.object_ref, i.conclusion, i.rationale, i.assessed_by]
            for i in latest_impacts(deviation).values()
        ),
    }  # fmt: skip


def content_sm3(deviation: Deviation) -> str:
    return crypto.sm3(ledger.canonical_text(content_of(deviation)).encode()).hex()


def close(
    uow: UnitOfWork,
    principal: Principal,
    number: str,
    *,
    password: str,
    login: str | None = None,
    comment: str = "",
) -> DeviationClosure:
    """QA's closure, signed (``qms.deviation.close``) on the closure row naming the content's SM3."""
    session = uow.session
    deviation = get_deviation(session, number)
    principal.require(APPROVE_PERMISSION)
    if principal.login == deviation.recorded_by:
        raise DutiesNotSegregated(N_("Whoever recorded a deviation cannot close it"))
    blockers = closure_blockers(session, deviation)
    if blockers:
        raise ClosureRefused(N_("Deviation {number} cannot be closed: {reasons}"), number=deviation.number,
                             reasons=Reasons(blockers))  # fmt: skip
    _check(deviation, principal, "close")
    esign.authenticate_signer(uow.db, principal, password, login)
    uow.reason = uow.reason or "deviation closed"
    moment = clock.now()
    closure = DeviationClosure(deviation_id=deviation.id, content_sm3=content_sm3(deviation), closed_at=moment,
                               closed_by=principal.login, closed_by_name=principal.full_name, comment=comment[:500])  # fmt: skip
    session.add(closure)
    deviation.status = "closed"
    deviation.closed_at = moment
    deviation.closed_by = principal.login
    deviation.due_date = None
    _event(uow, deviation, "closed", comment)
    session.flush()
    esign.sign_with_event(uow, principal, object_type=CLOSURE_TYPE, object_id=str(closure.id),
                          action_code=CLOSE_ACTION, password=password, login=login)  # fmt: skip
    return closure


def cancel(uow: UnitOfWork, principal: Principal, number: str) -> Deviation:
    """QA cancels a deviation raised in error; the unit of work carries the reason."""
    deviation = get_deviation(uow.session, number)
    principal.require(APPROVE_PERMISSION)
    if principal.login == deviation.recorded_by:
        raise DutiesNotSegregated(N_("Whoever recorded a deviation cannot cancel it"))
    _check(deviation, principal, "cancel")
    if uow.reason is None:
        raise ValidationFailed(N_("A reason is required for this change"))
    deviation.status = "cancelled"
    deviation.cancelled_at = clock.now()
    deviation.cancelled_by = principal.login
    deviation.cancel_reason = uow.reason[:500]
    deviation.due_date = None
    _event(uow, deviation, "cancelled", uow.reason)
    uow.session.flush()
    return deviation


# --- due dates -----------------------------------------------------------------------------------------


async def escalator(db: Database) -> None:
    """The scheduler of escalations: :func:`escalate_overdue` when the web process starts and every
    ``escalation_seconds`` after (the lifespan's background work, ``serve``)."""
    every = get_settings().escalation_seconds
    await jobs.repeat("deviation escalation", lambda: escalate_overdue(db), every, at_start=True)


def escalate_overdue(db: Database) -> int:
    """Record an escalation on the timeline of every deviation whose current step is overdue, once per
    deviation and step (a job: run it as often as wished; the database holds the once). Returns how many."""
    actor = Actor.system("deviation-escalation")
    with UnitOfWork(db, actor, reason="overdue deviation escalated") as uow:
        session = uow.session
        on = today()
        done = {
            (e.deviation_id, e.step)
            for e in session.scalars(select(DeviationEvent).where(DeviationEvent.kind == "escalated"))
        }
        added = 0
        overdue = session.scalars(
            select(Deviation).where(Deviation.status.in_(ACTIVE_STATUSES), Deviation.due_date < on)
        )
        for deviation in overdue:
            step = step_of(deviation.status)
            if step is None or (deviation.id, step) in done:
                continue
            assert deviation.due_date is not None
            _event(
                uow, deviation, "escalated", f"due {deviation.due_date.isoformat()}", step=step, actor=actor
            )
            added += 1
        uow.commit()
    return added


# --- reading -------------------------------------------------------------------------------------------


def batch_quality_evaluation(session: Session, batch_no: str) -> list[BatchDeviation]:
    """The deviations touching a batch with their status and the impact conclusion on it, oldest first: what
    the batch review and the release checklist read (TJ-6.4.4: 偏差风险评估的结论关联至本批产品的质量评价)."""
    batch_no = batch_no.strip().upper()
    candidates = session.scalars(
        select(Deviation).where(Deviation.affected_batches.contains(batch_no)).order_by(Deviation.id)
    )
    found = []
    for deviation in candidates:
        if batch_no not in _split(deviation.affected_batches.upper()):
            continue
        impact = latest_impacts(deviation).get(("batch", batch_no))
        found.append(BatchDeviation(
            number=deviation.number, status=deviation.status, classification=deviation.classification,
            description=deviation.description, conclusion=impact.conclusion if impact else None,
            rationale=impact.rationale if impact else None, closed=deviation.status == "closed",
        ))  # fmt: skip
    return found


def dashboard(session: Session) -> Dashboard:
    """Counts per status and class, overdue, and the ageing of the active deviations."""
    on = today()
    rows = list(session.scalars(select(Deviation)))
    by_status = {s: sum(1 for d in rows if d.status == s) for s in STATUSES}
    active = [d for d in rows if d.status in ACTIVE_STATUSES]
    by_class = {c: sum(1 for d in active if d.classification == c) for c in CLASSES}
    ages = [age_days(d, on) for d in active]
    low, high = AGEING_BUCKETS
    return Dashboard(
        by_status=by_status, by_class=by_class, overdue=sum(1 for d in active if is_overdue(d, on)),
        ageing=Ageing(upto_7=sum(1 for a in ages if a <= low), upto_30=sum(1 for a in ages if low < a <= high),
                      over_30=sum(1 for a in ages if a > high)),
    )  # fmt: skip


def deviation_public(deviation: Deviation, on: date | None = None) -> DeviationPublic:
    return DeviationPublic(
        number=deviation.number, status=deviation.status, description=deviation.description,
        occurred_at=deviation.occurred_at, immediate_actions=deviation.immediate_actions,
        affected_batches=_split(deviation.affected_batches), affected_lots=_split(deviation.affected_lots),
        affected_products=_split(deviation.affected_products), source_kind=deviation.source_kind,
        source=deviation.source, category=deviation.category, recorded_at=deviation.recorded_at,
        recorded_by=deviation.recorded_by, reviewer=deviation.reviewer, suggested_class=deviation.suggested_class,
        classification=deviation.classification, due_date=deviation.due_date, overdue=is_overdue(deviation, on),
        age_days=age_days(deviation, on),
    )  # fmt: skip


def _impact_public(impact: DeviationImpact) -> ImpactPublic:
    return ImpactPublic(object_kind=impact.object_kind, object_ref=impact.object_ref, conclusion=impact.conclusion,
                        rationale=impact.rationale, assessed_at=impact.assessed_at, assessed_by=impact.assessed_by,
                        assessed_by_name=impact.assessed_by_name)  # fmt: skip


def _capa_links(session: Session, deviation: Deviation) -> list[CapaLink]:
    return [
        CapaLink(number=str(c.number), title=str(c.title), status=str(c.status), due_date=c.due_date)
        for c in capas_of(session, deviation)
    ]


def closure_public(session: Session, closure: DeviationClosure) -> ClosurePublic:
    signatures = [
        SignaturePublic(action=s.action, meaning=s.meaning, signer_login=s.signer_login, signer_name=s.signer_name,
                        signed_at=s.signed_at, status=s.status)
        for s in esign.manifestations(session, CLOSURE_TYPE, str(closure.id))
    ]  # fmt: skip
    return ClosurePublic(content_sm3=closure.content_sm3, closed_at=closure.closed_at, closed_by=closure.closed_by,
                         closed_by_name=closure.closed_by_name, comment=closure.comment, signatures=signatures)  # fmt: skip


def deviation_detail(session: Session, deviation: Deviation) -> DeviationDetail:
    assessed = latest_impacts(deviation)
    affected = [
        AffectedObject(object_kind=kind, object_ref=ref,
                       impact=_impact_public(assessed[(kind, ref)]) if (kind, ref) in assessed else None)
        for kind, ref in affected_objects(deviation)
    ]  # fmt: skip
    closure = deviation.closures[0] if deviation.closures else None
    return DeviationDetail(
        **deviation_public(deviation).model_dump(),
        triage=json.loads(deviation.triage or "{}"), classification_rationale=deviation.classification_rationale,
        classified_at=deviation.classified_at, classified_by=deviation.classified_by,
        investigator=deviation.investigator, investigation_started_at=deviation.investigation_started_at,
        root_cause=deviation.root_cause, why_chain=json.loads(deviation.why_chain or "[]"),
        fishbone=_split(deviation.fishbone), investigation_conclusion=deviation.investigation_conclusion,
        no_capa_rationale=deviation.no_capa_rationale, investigated_at=deviation.investigated_at,
        investigated_by=deviation.investigated_by, closed_at=deviation.closed_at, closed_by=deviation.closed_by,
        cancelled_at=deviation.cancelled_at, cancelled_by=deviation.cancelled_by,
        cancel_reason=deviation.cancel_reason, affected=affected,
        events=[EventPublic(kind=e.kind, step=e.step, text=e.text, at=e.at, by=e.by, by_name=e.by_name)
                for e in deviation.events],
        closure=closure_public(session, closure) if closure else None, capas=_capa_links(session, deviation),
    )  # fmt: skip
