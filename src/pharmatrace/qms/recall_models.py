"""Recalls (召回; SH-6.2.4, TJ-9.1, issue 9 item 5; 《药品召回管理办法》2022): the tables.

* :class:`Recall` — the record (``RC-YYYY-NNNN``): the reference it starts from (a batch or a lot number), its
  kind (voluntary 主动召回, ordered 责令召回, or a mock recall 模拟召回 — a drill), its level (一级/二级/三级) with
  the health-hazard assessment, the reason, optionally the complaint it came from. When the qualified person
  opens it, the impact the genealogy gives is frozen on it: the affected batches and shipments (JSON), the unit
  counts and the SM3 of that snapshot; the notification deadline follows from the level. Closed with the
  effectiveness conclusion and the returned/shipped figure; cancelled (from a draft) with a reason.
* :class:`RecallCustomer` — one customer reached, frozen at opening: its shipments and the units shipped to it;
  who notified it, when and how, and when it acknowledged.
* :class:`RecallReturn` — a quantity returned by a customer (append-only).
* :class:`RecallDecision` — a signed decision (opening, closure), append-only, naming the SM3 of the content it
  was given on; the e-signature is given on this row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

KINDS = ("voluntary", "ordered", "mock")
KIND_LABELS = {
    "voluntary": N_("Voluntary recall"),
    "ordered": N_("Ordered recall"),
    "mock": N_("Mock recall (drill)"),
}
LEVELS = (1, 2, 3)
LEVEL_LABELS = {1: N_("Level I"), 2: N_("Level II"), 3: N_("Level III")}
# 《药品召回管理办法》: the customers are notified within 1, 3 or 7 days of the decision by level.
NOTIFY_DAYS = {1: 1, 2: 3, 3: 7}
STATUSES = ("draft", "open", "closed", "cancelled")
STATUS_LABELS = {
    "draft": N_("Draft"),
    "open": N_("Open"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}
METHODS = ("phone", "fax", "email", "letter", "visit")
METHOD_LABELS = {
    "phone": N_("Phone"),
    "fax": N_("Fax"),
    "email": N_("E-mail"),
    "letter": N_("Letter"),
    "visit": N_("Visit"),
}
DECISION_KINDS = ("open", "close")
DECISION_LABELS = {"open": N_("Recall opened"), "close": N_("Recall closed")}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Recall(Audited, Base):
    """A recall and its lifecycle (SH-6.2.4, TJ-9.1)."""

    __tablename__ = "qms_recalls"
    __audit_type__ = "qms_recall"
    __audit_label__ = N_("Recall")
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint("level IN (1, 2, 3)", name="level"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("length(number) >= 6", name="number"),
        CheckConstraint("length(start_ref) >= 2", name="start_ref"),
        CheckConstraint("length(hazard_assessment) >= 2", name="hazard_assessment"),
        CheckConstraint("length(reason) >= 2", name="reason"),
        CheckConstraint("units_total >= 0 AND shipped_units >= 0", name="units"),
        CheckConstraint("(status IN ('draft', 'cancelled')) = (opened_at IS NULL)", name="opened_at"),
        CheckConstraint(
            "opened_at IS NULL OR (opened_by IS NOT NULL AND notify_due IS NOT NULL AND impact_sm3 IS NOT NULL "
            "AND length(impact_sm3) = 64 AND batches IS NOT NULL AND shipments IS NOT NULL)",
            name="opened",
        ),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at"),
        CheckConstraint(
            "status <> 'closed' OR (closed_by IS NOT NULL AND length(effectiveness) >= 2 "
            "AND returned_units IS NOT NULL)",
            name="closed",
        ),
        CheckConstraint("(status = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_at"),
        CheckConstraint(
            "status <> 'cancelled' OR (cancel_reason IS NOT NULL AND length(cancel_reason) >= 2)",
            name="cancelled",
        ),
        Index("ix_qms_recalls_status", "status"),
        Index("ix_qms_recalls_start_ref", "start_ref"),
        Index("ix_qms_recalls_complaint_id", "complaint_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # RC-2026-0001
    start_ref: Mapped[str] = mapped_column(String(64), nullable=False)  # a batch or a lot number
    start_kind: Mapped[str] = mapped_column(
        String(16), nullable=False, default=""
    )  # batch, lot, … (genealogy)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    hazard_assessment: Mapped[str] = mapped_column(String(2000), nullable=False)
    reason: Mapped[str] = mapped_column(String(2000), nullable=False)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("qms_complaints.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    # frozen at opening (the impact the genealogy gave)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    opened_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    notify_due: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    batches: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list of affected batches
    shipments: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list of shipment lines
    units_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    shipped_units: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    impact_sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    held_lots: Mapped[str] = mapped_column(String(2000), nullable=False, default="")  # comma-separated
    # closure
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    effectiveness: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    returned_units: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    customers: Mapped[list[RecallCustomer]] = relationship(
        order_by=lambda: RecallCustomer.customer_code, lazy="selectin", viewonly=True
    )
    returns: Mapped[list[RecallReturn]] = relationship(
        order_by=lambda: RecallReturn.id, lazy="selectin", viewonly=True
    )
    decisions: Mapped[list[RecallDecision]] = relationship(
        order_by=lambda: RecallDecision.id, lazy="selectin", viewonly=True
    )


class RecallCustomer(Audited, Base):
    """A customer the recall reaches, frozen at opening, with its notification and acknowledgement."""

    __tablename__ = "qms_recall_customers"
    __audit_type__ = "qms_recall_customer"
    __audit_label__ = N_("Recall customer notification")
    __table_args__ = (
        CheckConstraint("length(customer_code) >= 1", name="customer_code"),
        CheckConstraint("units_shipped >= 0", name="units_shipped"),
        CheckConstraint("notify_method IS NULL OR " + _in("notify_method", METHODS), name="notify_method"),
        CheckConstraint(
            "(notified_at IS NULL) = (notify_method IS NULL) AND (notified_at IS NULL) = (notified_by IS NULL)",
            name="notified",
        ),
        CheckConstraint("acknowledged_at IS NULL OR notified_at IS NOT NULL", name="acknowledged"),
        Index("uq_qms_recall_customers_code", "recall_id", "customer_code", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("qms_recalls.id"), nullable=False)
    customer_code: Mapped[str] = mapped_column(String(32), nullable=False)
    customer_name: Mapped[str] = mapped_column(String(200), nullable=False)
    shipments: Mapped[str] = mapped_column(String(2000), nullable=False)  # shipment numbers, comma-separated
    units_shipped: Mapped[int] = mapped_column(Integer, nullable=False)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    notified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    notified_by_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    notify_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    notify_note: Mapped[str] = mapped_column(
        String(500), nullable=False, default=""
    )  # contact person, number
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_note: Mapped[str] = mapped_column(String(500), nullable=False, default="")


class RecallReturn(Audited, Base):
    """A quantity a customer returned (append-only; SH-6.2.4)."""

    __tablename__ = "qms_recall_returns"
    __audit_type__ = "qms_recall_return"
    __audit_label__ = N_("Recall return")
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_qms_recall_returns_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("qms_recalls.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(ForeignKey("qms_recall_customers.id"), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)  # units (boxes)
    received_on: Mapped[date] = mapped_column(Date, nullable=False)
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    recorded_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class RecallDecision(Audited, Base):
    """A signed decision on a recall (opening, closure), naming the content SM3. Append-only."""

    __tablename__ = "qms_recall_decisions"
    __audit_type__ = "qms_recall_decision"
    __audit_label__ = N_("Recall decision")
    __table_args__ = (
        CheckConstraint(_in("kind", DECISION_KINDS), name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("returned_units >= 0 AND shipped_units >= 0", name="units"),
        Index("uq_qms_recall_decisions_kind", "recall_id", "kind", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("qms_recalls.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    returned_units: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    shipped_units: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
