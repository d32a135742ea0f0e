"""Recalls (召回; SH-6.2.4, TJ-9.1, issue 9 item 5; 《药品召回管理办法》2022): the service.

A recall opens from a batch or a material lot, takes its affected batches, shipments and customers from the
genealogy (:func:`pharmatrace.trace.recall.impact`), and tracks the customers' notification and the returned
quantities to closure. Its lifecycle is the declared state machine :data:`TRANSITIONS`::

    draft ──open (the qualified person signs "approved"; the impact is frozen)──> open
    open  ──close (the qualified person signs; every customer notified)──> closed
    draft ──cancel (with a reason)──> cancelled

* A holder of ``qms.recall.manage`` writes the draft: the start reference (checked against the genealogy), the
  kind — voluntary (主动召回), ordered (责令召回) or mock (模拟召回, a drill of the traceability: the same workflow,
  but no lot is put on hold) — the level (一级/二级/三级) with its health-hazard assessment, the reason, and
  optionally the complaint it comes from.
* The qualified person (``qms.release.decide``) opens it by an electronic signature (``qms.recall.open``) on a
  :class:`~pharmatrace.qms.recall_models.RecallDecision` row naming the SM3 of the frozen impact: the affected
  batches, the shipments and one row per customer (code, name, shipments, units shipped). A recall that is not a
  drill puts every affected finished lot that is released on hold (:func:`pharmatrace.wms.lots.hold`): the
  public verification then tells consumers the batch is recalled.
* The customers are to be notified within 1, 3 or 7 days of the opening by level (:data:`NOTIFY_DAYS`); each
  notification records who, when and how (phone, fax, e-mail, letter, visit), then the customer's
  acknowledgement. A customer not notified past the deadline is *overdue*; one notified after it, *late*.
* Returns are append-only entries per customer (quantity > 0, date received, note); the total a customer
  returned may never exceed the units shipped to it.
* The qualified person closes the recall by signature (``qms.recall.close``) once every customer is notified,
  with the effectiveness conclusion and the returned/shipped figure. A closed recall changes no more.

Every refusal raises a typed, translatable error and changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger, workflow
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import numbering
from pharmatrace.qms.recall_models import (
    METHOD_LABELS,
    NOTIFY_DAYS,
    STATUS_LABELS,
    STATUSES,
    Recall,
    RecallCustomer,
    RecallDecision,
    RecallReturn,
)
from pharmatrace.qms.recall_schemas import (
    Acknowledgement,
    BatchPublic,
    CustomerPublic,
    DecisionPublic,
    Notification,
    RecallClose,
    RecallCreate,
    RecallDetail,
    RecallOpen,
    RecallPublic,
    ReturnCreate,
    ReturnPublic,
    ShipmentPublic,
    SignaturePublic,
)
from pharmatrace.trace.recall import RecallImpact, impact

MANAGE_PERMISSION = "qms.recall.manage"
DECIDE_PERMISSION = "qms.release.decide"  # the qualified person
OPEN_ACTION = "qms.recall.open"  # signable actions (kernel/esign/policy.py)
CLOSE_ACTION = "qms.recall.close"
DECISION_TYPE = "qms_recall_decision"
EXPORT_EVENT = "dataset.export"  # exports are audited (kernel.audit.SECURITY_EVENTS)


class RecallTransitionRefused(Conflict):
    """A recall step that its state or its guards do not allow now: the message says why."""

    code = "recall_transition_refused"


# --- reading -------------------------------------------------------------------------------------------------


today = clock.today  # the plant's calendar day (Beijing)


def find_recall(session: Session, number: str) -> Recall | None:
    return session.scalar(select(Recall).where(Recall.number == number.strip().upper()))


def get_recall(session: Session, number: str) -> Recall:
    recall = find_recall(session, number)
    if recall is None:
        raise NotFound(N_("No recall {number}"), number=number)
    return recall


def list_recalls(session: Session, *, status: str = "", text: str = "") -> list[Recall]:
    """Recalls, newest first; ``status`` one of :data:`STATUSES`; ``text`` in the number or the start ref."""
    query = select(Recall).order_by(Recall.id.desc())
    if status in STATUSES:
        query = query.where(Recall.status == status)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(or_(Recall.number.ilike(like), Recall.start_ref.ilike(like)))
    return list(session.scalars(query))


def preview(session: Session, ref: str) -> RecallImpact:
    """What a recall of ``ref`` would reach now, from the genealogy; unknown ref: NotFound."""
    return impact(session, ref)


def notify_deadline(opened_at: datetime, level: int) -> datetime:
    """The customers are notified within 1, 3 or 7 days of the opening by level (药品召回管理办法)."""
    return opened_at + timedelta(days=NOTIFY_DAYS[level])


def returned_by_customer(recall: Recall) -> dict[int, int]:
    totals: dict[int, int] = dict.fromkeys((c.id for c in recall.customers), 0)
    for row in recall.returns:
        totals[row.customer_id] = totals.get(row.customer_id, 0) + row.quantity
    return totals


def returned_units(recall: Recall) -> int:
    return sum(row.quantity for row in recall.returns)


def customer_overdue(recall: Recall, customer: RecallCustomer, now: datetime | None = None) -> bool:
    """Not notified, and the deadline has passed."""
    return (
        recall.status == "open"
        and customer.notified_at is None
        and recall.notify_due is not None
        and (now or clock.now()) > recall.notify_due
    )


def customer_late(recall: Recall, customer: RecallCustomer) -> bool:
    """Notified after the deadline."""
    return (
        customer.notified_at is not None
        and recall.notify_due is not None
        and customer.notified_at > recall.notify_due
    )


def is_overdue(recall: Recall, now: datetime | None = None) -> bool:
    return any(customer_overdue(recall, c, now) for c in recall.customers)


def frozen_batches(recall: Recall) -> list[dict[str, Any]]:
    return list(json.loads(recall.batches)) if recall.batches else []


def frozen_shipments(recall: Recall) -> list[dict[str, Any]]:
    return list(json.loads(recall.shipments)) if recall.shipments else []


def held_lots(recall: Recall) -> list[str]:
    return [lot for lot in recall.held_lots.split(",") if lot]


# --- content and its hash ------------------------------------------------------------------------------------


def impact_content(recall: Recall) -> dict[str, Any]:
    """The frozen impact: what the opening's signature names (by its SM3)."""
    return {
        "number": recall.number, "start_ref": recall.start_ref, "start_kind": recall.start_kind,
        "kind": recall.kind, "level": recall.level, "hazard_assessment": recall.hazard_assessment,
        "reason": recall.reason, "batches": frozen_batches(recall), "shipments": frozen_shipments(recall),
        "units_total": recall.units_total, "shipped_units": recall.shipped_units,
        "customers": [{"code": c.customer_code, "name": c.customer_name, "shipments": c.shipments.split(","),
                       "units": c.units_shipped} for c in recall.customers],
    }  # fmt: skip


def impact_hash(recall: Recall) -> str:
    return crypto.sm3(ledger.canonical_text(impact_content(recall)).encode()).hex()


def closure_content(recall: Recall) -> dict[str, Any]:
    """The impact with the notifications and returns: what the closure's signature names."""
    returned = returned_by_customer(recall)
    return {
        "impact_sm3": recall.impact_sm3,
        "customers": [{"code": c.customer_code, "notified_at": c.notified_at, "notified_by": c.notified_by,
                       "method": c.notify_method, "acknowledged_at": c.acknowledged_at,
                       "returned": returned.get(c.id, 0)} for c in recall.customers],
        "returns": [{"customer_id": r.customer_id, "quantity": r.quantity, "received_on": r.received_on,
                     "note": r.note} for r in recall.returns],
        "effectiveness": recall.effectiveness, "returned_units": recall.returned_units,
    }  # fmt: skip


def closure_hash(recall: Recall) -> str:
    content = json.loads(json.dumps(closure_content(recall), default=str))
    return crypto.sm3(ledger.canonical_text(content).encode()).hex()


# --- the state machine ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    recall: Recall
    principal: Principal


Guard = Callable[[Context], None]


def guard_all_notified(ctx: Context) -> None:
    # SH-6.2.4: a recall is closed only when every customer it reached has been notified.
    pending = [c.customer_code for c in ctx.recall.customers if c.notified_at is None]
    if pending:
        raise RecallTransitionRefused(
            N_("Customers {customers} of {number} are not notified yet"),
            customers=", ".join(pending),
            number=ctx.recall.number,
        )


Transition = workflow.Transition[Context]


# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("open", ("draft",), "open", (DECIDE_PERMISSION,), (), signed=OPEN_ACTION),
        Transition("close", ("open",), "closed", (DECIDE_PERMISSION,), (guard_all_notified,), signed=CLOSE_ACTION),
        Transition("cancel", ("draft",), "cancelled", (MANAGE_PERMISSION, DECIDE_PERMISSION), ()),
    )
}
# fmt: on


MACHINE = workflow.Machine(
    TRANSITIONS, Context, workflow.state_refusal(RecallTransitionRefused, STATUS_LABELS)
)
_refused_in_state = MACHINE.refused
_check = MACHINE.check


def _move(recall: Recall, transition: Transition) -> None:
    recall.status = transition.target


# --- writing -------------------------------------------------------------------------------------------------


def next_number(session: Session) -> str:
    """``RC-2026-0001``: the year (Beijing) and a serial per year (``qms.numbering``)."""
    return numbering.next_number(session, "RC", find_recall)


def _complaint_id(session: Session, number: str | None) -> int | None:
    """The complaint a recall comes from, by its number; unknown: NotFound."""
    if not number:
        return None
    from pharmatrace.qms.complaints import get_complaint

    return get_complaint(session, number).id


def create_recall(uow: UnitOfWork, principal: Principal, body: RecallCreate) -> Recall:
    """A new recall, as a draft; its start reference must be one the genealogy knows."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    found = impact(session, body.start_ref)  # NotFound for an unknown batch or lot
    complaint_id = _complaint_id(session, body.complaint)
    number = next_number(session)
    uow.reason = uow.reason or f"recall {number} drafted"
    recall = Recall(
        number=number, start_ref=found.ref, start_kind=found.start_kind, kind=body.kind, level=body.level,
        hazard_assessment=body.hazard_assessment, reason=body.reason, complaint_id=complaint_id,
        status="draft", created_at=clock.now(), created_by=principal.login, created_by_name=principal.full_name,
        units_total=0, shipped_units=0, held_lots="",
    )  # fmt: skip
    session.add(recall)
    session.flush()
    return recall


def _decide(
    uow: UnitOfWork, principal: Principal, recall: Recall, kind: str, action: str, content_sm3: str,
    password: str, login: str | None, comment: str = "",
) -> RecallDecision:  # fmt: skip
    decision = RecallDecision(
        recall_id=recall.id, kind=kind, content_sm3=content_sm3, comment=comment,
        returned_units=returned_units(recall), shipped_units=recall.shipped_units, decided_at=clock.now(),
        decided_by=principal.login, decided_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=action, password=password, login=login,
                              expire=(recall, "decisions"))  # fmt: skip
    return decision


def _hold_released_lots(uow: UnitOfWork, batch_nos: Iterable[str]) -> list[str]:
    """Put each affected finished lot that is released on hold (TJ-9.1); the lot numbers held."""
    from pharmatrace.wms import lots
    from pharmatrace.wms.production import lot_of_batch

    held: list[str] = []
    for batch_no in batch_nos:
        lot = lot_of_batch(uow.session, batch_no)
        if lot is not None and lot.status == "released":
            lots.hold(uow, lot.id)
            held.append(lot.lot_number)
    return held


def open_recall(uow: UnitOfWork, principal: Principal, number: str, body: RecallOpen) -> RecallDecision:
    """The qualified person opens the recall by signature: the impact the genealogy gives now is frozen on it,
    the notification deadline set by level, and (unless a drill) the released affected lots put on hold."""
    session = uow.session
    recall = get_recall(session, number)
    transition = _check(session, principal, recall, "open")
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    found = impact(session, recall.start_ref)
    uow.reason = uow.reason or f"recall {recall.number} opened"
    now = clock.now()
    recall.batches = json.dumps([b.model_dump(mode="json") for b in found.batches], ensure_ascii=False)
    recall.shipments = json.dumps([s.model_dump(mode="json") for s in found.shipments], ensure_ascii=False)
    recall.units_total, recall.shipped_units = found.units_total, found.shipped_units
    for customer in found.customers:
        session.add(RecallCustomer(
            recall_id=recall.id, customer_code=customer.code, customer_name=customer.name,
            shipments=",".join(customer.shipments), units_shipped=customer.units, notify_note="",
            acknowledged_note="",
        ))  # fmt: skip
    session.flush()
    session.expire(recall, ["customers"])
    if recall.kind != "mock":  # a drill tests the traceability, it holds nothing
        recall.held_lots = ",".join(_hold_released_lots(uow, (b.batch_no for b in found.batches)))[:2000]
    with session.no_autoflush:  # the row meets its checks only once every opening field is set
        recall.opened_at, recall.opened_by = now, principal.login
        recall.notify_due = notify_deadline(now, recall.level)
        recall.impact_sm3 = impact_hash(recall)
        _move(recall, transition)
    session.flush()
    return _decide(uow, principal, recall, "open", OPEN_ACTION, recall.impact_sm3, body.password, body.login,
                   body.comment)  # fmt: skip


def _open(session: Session, number: str) -> Recall:
    recall = get_recall(session, number)
    if recall.status != "open":
        raise _refused_in_state(recall)
    return recall


def customer_of(recall: Recall, code: str) -> RecallCustomer:
    for customer in recall.customers:
        if customer.customer_code == code.strip():
            return customer
    raise NotFound(N_("{number} reached no customer {code}"), number=recall.number, code=code)


def notify(
    uow: UnitOfWork, principal: Principal, number: str, code: str, body: Notification
) -> RecallCustomer:
    """A customer notified of the open recall now: how, and to whom."""
    principal.require(MANAGE_PERMISSION)
    recall = _open(uow.session, number)
    customer = customer_of(recall, code)
    if customer.notified_at is not None:
        raise Conflict(N_("{code} was notified already"), code=customer.customer_code)
    uow.reason = uow.reason or f"recall {recall.number}: {customer.customer_code} notified by {body.method}"
    customer.notified_at = clock.now()
    customer.notified_by, customer.notified_by_name = principal.login, principal.full_name
    customer.notify_method, customer.notify_note = body.method, body.note
    uow.session.flush()
    return customer


def acknowledge(
    uow: UnitOfWork, principal: Principal, number: str, code: str, body: Acknowledgement
) -> RecallCustomer:
    """The customer acknowledged the notification (now)."""
    principal.require(MANAGE_PERMISSION)
    recall = _open(uow.session, number)
    customer = customer_of(recall, code)
    if customer.notified_at is None:
        raise Conflict(N_("{code} has not been notified yet"), code=customer.customer_code)
    if customer.acknowledged_at is not None:
        raise Conflict(N_("{code} acknowledged already"), code=customer.customer_code)
    uow.reason = uow.reason or f"recall {recall.number}: {customer.customer_code} acknowledged"
    customer.acknowledged_at = clock.now()
    customer.acknowledged_note = body.note
    uow.session.flush()
    return customer


def record_return(
    uow: UnitOfWork, principal: Principal, number: str, code: str, body: ReturnCreate
) -> RecallReturn:
    """Units a customer returned; the customer's total returned may not exceed the units shipped to it."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    recall = _open(session, number)
    customer = customer_of(recall, code)
    if body.received_on > today():
        raise ValidationFailed(N_("The date received cannot be in the future"))
    already = returned_by_customer(recall).get(customer.id, 0)
    if already + body.quantity > customer.units_shipped:
        raise ValidationFailed(
            N_("{code} was shipped {shipped} units and has returned {returned}: {quantity} more is too many"),
            code=customer.customer_code, shipped=customer.units_shipped, returned=already,
            quantity=body.quantity,
        )  # fmt: skip
    uow.reason = (
        uow.reason or f"recall {recall.number}: {body.quantity} units returned by {customer.customer_code}"
    )
    row = RecallReturn(
        recall_id=recall.id, customer_id=customer.id, quantity=body.quantity, received_on=body.received_on,
        note=body.note, recorded_at=clock.now(), recorded_by=principal.login, recorded_by_name=principal.full_name,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.expire(recall, ["returns"])
    return row


def close(uow: UnitOfWork, principal: Principal, number: str, body: RecallClose) -> RecallDecision:
    """The qualified person closes the recall by signature, once every customer is notified, with the
    effectiveness conclusion and the returned/shipped figure."""
    session = uow.session
    recall = get_recall(session, number)
    transition = _check(session, principal, recall, "close")
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    uow.reason = uow.reason or f"recall {recall.number} closed"
    returned = returned_units(recall)
    with session.no_autoflush:
        recall.effectiveness = body.effectiveness
        recall.returned_units = returned
        recall.closed_at, recall.closed_by = clock.now(), principal.login
        _move(recall, transition)
    session.flush()
    return _decide(uow, principal, recall, "close", CLOSE_ACTION, closure_hash(recall), body.password, body.login,
                   body.effectiveness)  # fmt: skip


def cancel(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> Recall:
    """A draft recall cancelled with the reason; the record stays."""
    session = uow.session
    recall = get_recall(session, number)
    transition = _check(session, principal, recall, "cancel")
    if len(reason.strip()) < 2:
        raise ValidationFailed(N_("A reason is required for this change"))
    uow.reason = reason.strip()
    _move(recall, transition)
    recall.cancelled_at, recall.cancelled_by = clock.now(), principal.login
    recall.cancel_reason = reason.strip()[:500]
    session.flush()
    return recall


# --- the customer notification list (CSV) --------------------------------------------------------------------

CSV_HEADERS = (
    N_("Customer code"), N_("Customer"), N_("Shipments"), N_("Units shipped"), N_("Notified at (Beijing)"),
    N_("Method"), N_("Notified by"), N_("Contact"), N_("Acknowledged at (Beijing)"), N_("Units returned"),
)  # fmt: skip


def _beijing(value: datetime | None) -> str:
    return clock.to_beijing(value).strftime("%Y-%m-%d %H:%M") if value else ""


def notification_csv(recall: Recall, translate: Callable[[str], str] = str) -> str:
    """The customer notification list as CSV (UTF-8 with BOM, for spreadsheets)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([translate(h) for h in CSV_HEADERS])
    returned = returned_by_customer(recall)
    for c in recall.customers:
        method = translate(METHOD_LABELS[c.notify_method]) if c.notify_method else ""
        writer.writerow([c.customer_code, c.customer_name, c.shipments.replace(",", " "), c.units_shipped,
                         _beijing(c.notified_at), method, c.notified_by_name or "", c.notify_note,
                         _beijing(c.acknowledged_at), returned.get(c.id, 0)])  # fmt: skip
    return out.getvalue()


def export_notifications(uow: UnitOfWork, principal: Principal, number: str,
                         translate: Callable[[str], str] = str) -> tuple[str, str]:  # fmt: skip
    """(file name, CSV) of a recall's customer notification list; the export is audited (TJ-B.1.3)."""
    principal.require("qms.view")
    recall = get_recall(uow.session, number)
    data = notification_csv(recall, translate)
    uow.record(EXPORT_EVENT, Recall.__audit_type__, recall.id,
               changes={"format": [None, "csv"], "list": [None, "recall customer notifications"],
                        "customers": [None, len(recall.customers)]},
               reason=f"recall {recall.number}: customer notification list exported")  # fmt: skip
    return f"{recall.number}-customers.csv", data


# --- output --------------------------------------------------------------------------------------------------


def decision_public(session: Session, decision: RecallDecision) -> DecisionPublic:
    signatures = [
        SignaturePublic(action=s.action, meaning=s.meaning, signer_login=s.signer_login, signer_name=s.signer_name,
                        signed_at=s.signed_at, status=s.status)
        for s in esign.manifestations(session, DECISION_TYPE, str(decision.id))
    ]  # fmt: skip
    return DecisionPublic(
        id=decision.id, kind=decision.kind, content_sm3=decision.content_sm3, comment=decision.comment,
        returned_units=decision.returned_units, shipped_units=decision.shipped_units,
        decided_at=decision.decided_at, decided_by=decision.decided_by, decided_by_name=decision.decided_by_name,
        signatures=signatures,
    )  # fmt: skip


def customer_public(recall: Recall, customer: RecallCustomer, returned: int, now: datetime | None = None
                    ) -> CustomerPublic:  # fmt: skip
    return CustomerPublic(
        code=customer.customer_code, name=customer.customer_name, shipments=customer.shipments.split(","),
        units_shipped=customer.units_shipped, units_returned=returned, notified_at=customer.notified_at,
        notified_by=customer.notified_by, notified_by_name=customer.notified_by_name,
        notify_method=customer.notify_method, notify_note=customer.notify_note,
        notified_late=customer_late(recall, customer), overdue=customer_overdue(recall, customer, now),
        acknowledged_at=customer.acknowledged_at, acknowledged_note=customer.acknowledged_note,
    )  # fmt: skip


def _complaint_number(recall: Recall) -> str | None:
    if recall.complaint_id is None:
        return None
    from pharmatrace.qms.complaint_models import Complaint

    session = sa.inspect(recall).session
    found = session.get(Complaint, recall.complaint_id) if session is not None else None
    return found.number if found is not None else None


def recall_public(recall: Recall, now: datetime | None = None) -> RecallPublic:
    return RecallPublic(
        id=recall.id, number=recall.number, start_ref=recall.start_ref, start_kind=recall.start_kind,
        kind=recall.kind, level=recall.level, hazard_assessment=recall.hazard_assessment, reason=recall.reason,
        complaint_id=recall.complaint_id, complaint_number=_complaint_number(recall), status=recall.status, created_at=recall.created_at,
        created_by=recall.created_by, created_by_name=recall.created_by_name, opened_at=recall.opened_at,
        opened_by=recall.opened_by, notify_due=recall.notify_due, units_total=recall.units_total,
        shipped_units=recall.shipped_units, returned_units=returned_units(recall),
        customers_total=len(recall.customers),
        customers_notified=sum(1 for c in recall.customers if c.notified_at is not None),
        overdue=is_overdue(recall, now), held_lots=held_lots(recall), impact_sm3=recall.impact_sm3,
        closed_at=recall.closed_at, closed_by=recall.closed_by, effectiveness=recall.effectiveness,
        cancelled_at=recall.cancelled_at, cancel_reason=recall.cancel_reason,
    )  # fmt: skip


def recall_detail(session: Session, recall: Recall, now: datetime | None = None) -> RecallDetail:
    returned = returned_by_customer(recall)
    codes = {c.id: c.customer_code for c in recall.customers}
    return RecallDetail(
        **recall_public(recall, now).model_dump(),
        batches=[BatchPublic.model_validate(b) for b in frozen_batches(recall)],
        shipments=[ShipmentPublic.model_validate(s) for s in frozen_shipments(recall)],
        customers=[customer_public(recall, c, returned.get(c.id, 0), now) for c in recall.customers],
        returns=[ReturnPublic(id=r.id, customer_code=codes.get(r.customer_id, ""), quantity=r.quantity,
                              received_on=r.received_on, note=r.note, recorded_at=r.recorded_at,
                              recorded_by=r.recorded_by, recorded_by_name=r.recorded_by_name)
                 for r in recall.returns],
        decisions=[decision_public(session, d) for d in recall.decisions],
    )  # fmt: skip
