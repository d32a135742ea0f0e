"""QA batch review by exception and the hand-over to release (TJ-6.4.7).

The review list gathers, across batches, everything a reviewer must see and nothing else:

* every exception recorded on a step (:class:`~pharmatrace.mes.execution_models.BatchException`: limit
  excursion, time limit, yield, failed control, manual weighing, late entry, correction, weighing out of
  tolerance, refused material), with the supervisor's decision (no deviation, or the deviation raised);
* every refusal the floor met, read from the audit trail (``mes.material.refused``,
  ``mes.weighing.refused``, ``mes.step.refused``): nothing entered the record, the refusal is the evidence;
* every **alarm** environmental monitoring raised in a step's room while the step ran (TJ-6.4.3.4, TJ-6.4.7), once
  the monitoring area is connected (:func:`register`; it registers itself at start-up): shown ``recorded`` with the
  alarm's state, its assessment being the alarm's acknowledgement;
* every **late signature**: a second signature (verifier, supervisor, QA on the floor) given more than
  :data:`LATE_SIGNATURE_MINUTES` (60) minutes after its step was completed — the signature is valid, but the
  contemporaneity of the check (TJ-10.1.3) is for QA to judge. Past the recipe's own window
  (``late_signature_minutes``, 8 h by default) the engine raises a ``late_entry`` exception on the step, which
  needs a decision (:func:`pharmatrace.mes.execution.sign_step`); that signature is then listed once, as the
  exception. Late entries of values (补录, TJ-10.1.3.1) are ``late_entry`` exceptions too.

Only exceptions recorded on the step need a decision: a batch is refused the review while one is ``open``.
Refusals and late signatures are shown with the status ``recorded`` (information; their explanation is the
refusal's reason or the signer's comment).

The QA review sign-off (:func:`review_batch`) needs ``mes.batch.review``, a completed batch with every step
done, no open exception, and a reviewer who neither performed nor signed any step of the batch (segregation of
duties); every refusal is recorded (``mes.review.refused``). On success the batch is ``reviewed``, the
:class:`~pharmatrace.mes.review_models.BatchReview` row carries the SM3 of the reviewed record and QA's
signature, and :class:`~pharmatrace.mes.events.BatchReviewed` is published for the QMS release.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, events, ledger
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import (
    N_,
    Conflict,
    Msgid,
    NotFound,
    PharmaTraceError,
    SegregationOfDuties,
    loaded_params,
)
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution
from pharmatrace.mes.events import BatchReviewed
from pharmatrace.mes.execution_models import (
    BatchException,
    BatchOrder,
    BatchSignoff,
    StepCorrection,
    StepExecution,
)
from pharmatrace.mes.review_models import BatchReview
from pharmatrace.mes.review_schemas import ReviewFilter, ReviewItemPublic, ReviewPublic
from pharmatrace.qms.deviation_models import Deviation  # owned by the QMS (TJ-6.4.4)

REVIEW = "mes.batch.review"
REVIEW_ACTION = "batch.review"
REVIEW_TYPE = "batch_review"
REVIEW_REFUSED_EVENT = "mes.review.refused"
# A second signature given more than this after its step's completion is "late" (TJ-6.4.7, TJ-10.1.3).
LATE_SIGNATURE_MINUTES = 60
SECOND_ROLES = ("verified", "supervisor", "qa")
# Who took part in a step (performed, verified or signed it, or corrected a value): never its QA reviewer.
STEP_ROLES = ("performed", "verified", "supervisor", "qa", "correction")
REFUSAL_EVENTS = {
    "mes.material.refused": "refused_scan",
    "mes.weighing.refused": "refused_weighing",
    "mes.step.refused": "refused_step",
}
DERIVED_KIND_LABELS = {
    "refused_scan": N_("Material refused at the scan"),
    "refused_weighing": N_("Weighing refused"),
    "refused_step": N_("Step refused"),
    "late_signature": N_("Late signature"),
    "alarm": N_("Environmental alarm during the step"),
}
KIND_LABELS: dict[str, str] = {**execution.EXCEPTION_KIND_LABELS, **DERIVED_KIND_LABELS}
STATUS_LABELS: dict[str, str] = {
    **execution.EXCEPTION_STATUS_LABELS,
    "recorded": N_("Recorded (information)"),
}
LIMIT = 2000


class ReviewRefused(Conflict):
    """The QA review sign-off is refused: the batch is not ready for it (the message says why)."""

    code = "review_refused"


# --- the alarm seam (the monitoring area registers itself, pharmatrace.monitoring.alarms.connect) ---------------


class Alarm(Protocol):
    """What the review shows of an alarm (``pharmatrace.monitoring.alarm_schemas.AlarmPublic``)."""

    id: int
    number: str
    tag: str
    room: str | None
    condition: str
    value: str | None
    unit: str
    raised_at: datetime
    state: str
    acknowledged_by: str | None


class AlarmSource(Protocol):
    def alarms_during(self, rooms: Sequence[str], start: datetime, end: datetime) -> Sequence[Alarm]:
        """The alarms of tags in ``rooms`` whose episode overlaps ``start`` → ``end`` (UTC)."""
        ...


_alarms: AlarmSource | None = None


def register(source: AlarmSource | None) -> None:
    """Make ``source`` what the review asks for the alarms during a step (``None``: not connected)."""
    global _alarms
    _alarms = source


def registered() -> AlarmSource | None:
    return _alarms


# --- the review list -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _OrderFacts:
    order_no: str
    batch_no: str
    product_code: str
    product_name: str


def _orders_query(f: ReviewFilter) -> Select[Any]:
    query = select(BatchOrder).where(
        BatchOrder.status.in_(("released", "in_progress", "completed", "reviewed"))
    )
    if f.batch:
        like = f"%{f.batch}%"
        query = query.where(BatchOrder.batch_no.ilike(like) | BatchOrder.order_no.ilike(like))
    if f.product:
        like = f"%{f.product}%"
        query = query.where(BatchOrder.product_code.ilike(like) | BatchOrder.product_name.ilike(like))
    return query


def _beijing_day_start(day: Any) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.BEIJING).astimezone(UTC)


def review_items(
    session: Session, f: ReviewFilter | None = None, *, order_ids: Sequence[int] | None = None
) -> list[ReviewItemPublic]:
    """The exceptions of the batches matching ``f`` (or of ``order_ids``), newest first."""
    f = f or ReviewFilter()
    query = _orders_query(f)
    if order_ids is not None:
        query = select(BatchOrder).where(BatchOrder.id.in_(list(order_ids)))
    orders = {o.id: o for o in session.scalars(query)}
    if not orders:
        return []
    facts = {
        i: _OrderFacts(o.order_no, o.batch_no, o.product_code, o.product_name) for i, o in orders.items()
    }
    ids = list(orders)
    items = [*_exception_items(session, ids, facts), *_refusal_items(session, ids, facts),
             *_late_signature_items(session, ids, facts), *_alarm_items(session, orders, facts)]  # fmt: skip
    lower = _beijing_day_start(f.date_from) if f.date_from else None
    upper = _beijing_day_start(f.date_to + timedelta(days=1)) if f.date_to else None
    kept = [
        item for item in items
        if (not f.kind or item.kind == f.kind or (f.kind == "deviation" and item.status == "deviation"))
        and (not f.status or item.status == f.status)
        and (lower is None or item.at >= lower) and (upper is None or item.at < upper)
    ]  # fmt: skip
    kept.sort(key=lambda item: (item.at, item.key), reverse=True)
    return kept[:LIMIT]


def _exception_items(
    session: Session, ids: list[int], facts: dict[int, _OrderFacts]
) -> list[ReviewItemPublic]:
    rows = session.execute(
        select(BatchException, Deviation.number)
        .outerjoin(Deviation, Deviation.id == BatchException.deviation_id)
        .where(BatchException.batch_order_id.in_(ids))
    ).all()
    out = []
    for e, deviation_number in rows:
        o = facts[e.batch_order_id]
        out.append(ReviewItemPublic(
            key=f"exception:{e.id}", order_no=o.order_no, batch_no=o.batch_no, product_code=o.product_code,
            product_name=o.product_name, step_code=e.step_code, kind=e.kind, message=execution.exception_text(e),
            msgid=e.message, params=loaded_params(e.params), evidence=e.evidence, at=e.raised_at, by=e.raised_by,
            status=e.status, explanation=e.decision_comment or "", decided_by=e.decided_by,
            deviation_number=deviation_number, exception_id=e.id,
        ))  # fmt: skip
    return out


def _refusal_items(session: Session, ids: list[int], facts: dict[int, _OrderFacts]) -> list[ReviewItemPublic]:
    """Refusals recorded on the order (material, weighing) or on one of its steps (a step refused)."""
    rows = session.execute(
        select(StepExecution.id, StepExecution.batch_order_id).where(StepExecution.batch_order_id.in_(ids))
    )
    steps: dict[int, int] = {int(row[0]): int(row[1]) for row in rows}
    on_order = and_(AuditEntry.object_type == "batch_order", AuditEntry.object_id.in_([str(i) for i in ids]))
    on_step = and_(
        AuditEntry.object_type == "step_execution", AuditEntry.object_id.in_([str(i) for i in steps])
    )
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.event.in_(list(REFUSAL_EVENTS)), or_(on_order, on_step) if steps else on_order)
    )  # fmt: skip
    out = []
    for entry in entries:
        order_id = int(entry.object_id) if entry.object_type == "batch_order" else steps[int(entry.object_id)]
        o = facts[order_id]
        changes = entry.changes or {}
        step = changes.get("step", [None, ""])
        step_code = str(step[1] if isinstance(step, list) and len(step) == 2 else step or "")
        reason = entry.reason or ""
        out.append(ReviewItemPublic(
            key=f"refusal:{entry.id}", order_no=o.order_no, batch_no=o.batch_no, product_code=o.product_code,
            product_name=o.product_name, step_code=step_code, kind=REFUSAL_EVENTS[entry.event], message=reason,
            msgid=reason, params={}, evidence=_changes_text(changes), at=entry.at, by=entry.actor_login,
            status="recorded", explanation="", decided_by=None,
            deviation_number=None, exception_id=None,
        ))  # fmt: skip
    return out


def _alarm_items(
    session: Session, orders: dict[int, BatchOrder], facts: dict[int, _OrderFacts]
) -> list[ReviewItemPublic]:
    """The alarms raised in each step's room (its operation's, from the control recipe) while the step ran."""
    if _alarms is None:
        return []
    out = []
    for order_id, order in orders.items():
        if execution.control_recipe_of(session, order) is None:
            continue
        body = execution.control_body(session, order)
        rooms = {step.code: op.room for unit in body.unit_procedures for op in unit.operations
                 for step in op.steps if op.room}  # fmt: skip
        steps = session.scalars(select(StepExecution).where(
            StepExecution.batch_order_id == order_id, StepExecution.started_at.is_not(None)))  # fmt: skip
        o = facts[order_id]
        for step in steps:
            room = rooms.get(step.step_code)
            if room is None or step.started_at is None:
                continue
            end = step.completed_at or clock.now()
            for alarm in _alarms.alarms_during([room], step.started_at, end):
                msgid = N_("Alarm {number} in {room}: {tag} {condition} {value} {unit}")
                params = {"number": alarm.number, "room": room, "tag": alarm.tag, "condition": alarm.condition,
                          "value": alarm.value or "—", "unit": alarm.unit}  # fmt: skip
                out.append(ReviewItemPublic(
                    key=f"alarm:{alarm.id}:{step.id}", order_no=o.order_no, batch_no=o.batch_no,
                    product_code=o.product_code, product_name=o.product_name, step_code=step.step_code,
                    kind="alarm", message=msgid.format(**params), msgid=msgid, params=params,
                    evidence=f"{alarm.state} · {clock.format_beijing(step.started_at)} → {clock.format_beijing(end)}",
                    at=alarm.raised_at, by=alarm.acknowledged_by or "", status="recorded", explanation="",
                    decided_by=alarm.acknowledged_by, deviation_number=None, exception_id=None,
                ))  # fmt: skip
    return out


def _changes_text(changes: dict[str, Any]) -> str:
    """What the refusal recorded (the scan, the step, the problems), as ``name: value`` lines."""
    lines = []
    for key, value in sorted(changes.items()):
        new = value[1] if isinstance(value, list) and len(value) == 2 else value
        lines.append(f"{key}: {new if isinstance(new, str) else json.dumps(new, ensure_ascii=False)}")
    return "\n".join(lines)[:2000]


def _late_signature_items(
    session: Session, ids: list[int], facts: dict[int, _OrderFacts]
) -> list[ReviewItemPublic]:
    rows = session.execute(
        select(BatchSignoff, StepExecution.completed_at)
        .join(StepExecution, and_(StepExecution.batch_order_id == BatchSignoff.batch_order_id,
                                  StepExecution.step_code == BatchSignoff.step_code))
        .where(BatchSignoff.batch_order_id.in_(ids), BatchSignoff.role.in_(SECOND_ROLES))
    ).all()  # fmt: skip
    late = timedelta(minutes=LATE_SIGNATURE_MINUTES)
    raised = {  # sign-offs the engine raised a late_entry exception on: listed as that exception
        str(loaded_params(params).get("signoff", ""))
        for params in session.scalars(
            select(BatchException.params).where(
                BatchException.batch_order_id.in_(ids), BatchException.kind == "late_entry"
            )
        )
    }
    out = []
    for signoff, completed_at in rows:
        if completed_at is None or signoff.signed_at - completed_at <= late or str(signoff.id) in raised:
            continue
        o = facts[signoff.batch_order_id]
        minutes = int((signoff.signed_at - completed_at).total_seconds() // 60)
        msgid = N_(
            "The {role} signature was given {minutes} min after the step was completed (late: over {limit} min)"
        )
        params = {"role": signoff.role, "minutes": minutes, "limit": LATE_SIGNATURE_MINUTES}
        out.append(ReviewItemPublic(
            key=f"late:{signoff.id}", order_no=o.order_no, batch_no=o.batch_no, product_code=o.product_code,
            product_name=o.product_name, step_code=signoff.step_code or "", kind="late_signature",
            message=msgid.format(**params), msgid=msgid, params=params,
            evidence=f"{clock.format_beijing(completed_at)} → {clock.format_beijing(signoff.signed_at)}",
            at=signoff.signed_at, by=signoff.signed_by, status="recorded", explanation=signoff.comment,
            decided_by=None, deviation_number=None, exception_id=None,
        ))  # fmt: skip
    return out


# --- the QA review sign-off ------------------------------------------------------------------------------


def review_of(session: Session, order: BatchOrder) -> BatchReview | None:
    return session.scalar(select(BatchReview).where(BatchReview.batch_order_id == order.id))


def review_public(review: BatchReview, order: BatchOrder) -> ReviewPublic:
    return ReviewPublic(
        id=review.id, order_no=order.order_no, batch_no=review.batch_no, covers_sm3=review.covers_sm3,
        exceptions_total=review.exceptions_total, reviewed_at=review.reviewed_at, reviewed_by=review.reviewed_by,
        reviewed_by_name=review.reviewed_by_name, comment=review.comment,
    )  # fmt: skip


def participants(session: Session, order: BatchOrder) -> set[str]:
    """Everyone who started, performed, verified or signed a step of the batch, or corrected a value."""
    people: set[str] = set()
    for started, performed, verified in session.execute(
        select(StepExecution.started_by, StepExecution.performed_by, StepExecution.verified_by)
        .where(StepExecution.batch_order_id == order.id)
    ):  # fmt: skip
        people.update(p for p in (started, performed, verified) if p)
    people.update(session.scalars(
        select(BatchSignoff.signed_by).where(BatchSignoff.batch_order_id == order.id, BatchSignoff.role.in_(STEP_ROLES))
    ))  # fmt: skip
    people.update(session.scalars(
        select(StepCorrection.corrected_by).join(StepExecution, StepExecution.id == StepCorrection.step_execution_id)
        .where(StepExecution.batch_order_id == order.id)
    ))  # fmt: skip
    return people


def review_digest(session: Session, order: BatchOrder) -> str:
    """SM3 of what QA reviews: every step's evidence hash and state, every exception with its decision."""
    steps = session.execute(
        select(StepExecution.step_code, StepExecution.state, StepExecution.record_sm3)
        .where(StepExecution.batch_order_id == order.id).order_by(StepExecution.seq)
    ).all()  # fmt: skip
    exceptions = session.execute(
        select(BatchException.id, BatchException.status, BatchException.decision_comment)
        .where(BatchException.batch_order_id == order.id).order_by(BatchException.id)
    ).all()  # fmt: skip
    document = {
        "batch_no": order.batch_no,
        "steps": [[code, state, sm3 or ""] for code, state, sm3 in steps],
        "exceptions": [[i, status, comment or ""] for i, status, comment in exceptions],
    }
    return crypto.sm3(ledger.canonical(document)).hex()


def review_problem(session: Session, principal: Principal, order: BatchOrder) -> PharmaTraceError | None:
    """Why ``principal`` may not sign the review of ``order`` now, or None (the guards, in order)."""
    if principal.login in participants(session, order):
        return SegregationOfDuties(
            N_("{login} performed, verified or signed a step of batch {batch} and cannot review its record"),
            login=principal.login,
            batch=order.batch_no,
        )
    if order.status == "reviewed":
        return ReviewRefused(N_("Batch {batch} is reviewed already"), batch=order.batch_no)
    pending = list(session.scalars(
        select(StepExecution.step_code).where(StepExecution.batch_order_id == order.id, StepExecution.state != "done")
        .order_by(StepExecution.seq)
    ))  # fmt: skip
    if order.status != "completed" or pending:
        return ReviewRefused(
            N_("Batch {batch} is not completed (it is “{status}”); steps not done: {steps}"),
            batch=order.batch_no,
            status=Msgid(execution.ORDER_STATUS_LABELS[order.status]),
            steps=", ".join(pending) or "—",
        )
    unexplained = list(session.scalars(
        select(BatchException.id).where(BatchException.batch_order_id == order.id, BatchException.status == "open")
        .order_by(BatchException.id)
    ))  # fmt: skip
    if unexplained:
        return ReviewRefused(
            N_("Batch {batch} has {count} exception(s) without a supervisor's decision: {ids}"),
            batch=order.batch_no,
            count=len(unexplained),
            ids=", ".join(f"#{i}" for i in unexplained),
        )
    return None


def review_batch(
    uow: UnitOfWork, principal: Principal, order: BatchOrder, *, password: str, login: str | None = None,
    comment: str = "",
) -> BatchReview:  # fmt: skip
    """Sign the QA review of a completed batch record and hand the batch to release (TJ-6.4.7)."""
    principal.require(REVIEW)
    session = uow.session
    problem = review_problem(session, principal, order)
    if problem is not None:
        uow.refuse(
            problem, REVIEW_REFUSED_EVENT, "batch_order", order.id,
            changes={"batch_no": [None, order.batch_no], "refused": [None, problem.code]},
        )  # fmt: skip
    esign.authenticate_signer(uow.db, principal, password, login)
    uow.reason = uow.reason or "batch record reviewed by QA and handed to release"
    moment = clock.now()
    total = session.scalar(
        select(func.count()).select_from(BatchException).where(BatchException.batch_order_id == order.id)
    )
    review = BatchReview(
        batch_order_id=order.id, batch_no=order.batch_no, covers_sm3=review_digest(session, order),
        exceptions_total=int(total or 0), reviewed_at=moment, reviewed_by=principal.login,
        reviewed_by_name=principal.full_name, comment=comment[:500],
    )  # fmt: skip
    order.status = "reviewed"
    esign.add_signed_decision(
        uow, principal, review, action_code=REVIEW_ACTION, password=password, login=login
    )
    events.publish(uow, BatchReviewed(
        batch_order_id=order.id, order_no=order.order_no, batch_no=order.batch_no, product_code=order.product_code,
        review_id=review.id, reviewed_by=principal.login, reviewed_at=moment, exceptions_total=review.exceptions_total,
        record_sm3=review.covers_sm3,
    ))  # fmt: skip
    return review


def get_review(session: Session, order: BatchOrder) -> BatchReview:
    review = review_of(session, order)
    if review is None:
        raise NotFound(N_("Batch {batch} has not been reviewed"), batch=order.batch_no)
    return review
