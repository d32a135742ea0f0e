"""Destructions of historian raw values past their retention (TJ-10.1.6.3, SH-8.4.3): see
:mod:`pharmatrace.monitoring.destruction`.

* :class:`HistorianDestruction` — one destruction (销毁) of the raw values of one calendar month (UTC) and one
  retention class: requested (by whoever maintains the historian's configuration, with the reason), approved by
  QA with an electronic signature (never by the requester: a CHECK), executed on the server against a verified
  archive copy of the month (its manifest's SM3 recorded), or cancelled with a reason. Audited: every transition
  is in the trail; once executed or cancelled the row never changes again (trigger), and it is never deleted.
* :class:`DestructionDecision` — QA's signed approval, naming the SM3 of the application it approves (month,
  class, reason, who asked and when): the signature binds this append-only row, so it stays valid while the
  destruction moves on to its execution (ADR 0023's shape). Approvals signed before migration 0058 are on the
  destruction row itself.
* :class:`DestroyedIngest` — per ingest whose values the execution destroyed: how many and their SM3, and how
  many of its values are left and their SM3. ``ledger verify`` checks what is left against it instead of the
  ingest's own SM3 (the ledger vouches for these rows through the destruction's ``ingests_sm3``).
  Append-only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.monitoring.rollup_models import RETENTION_CLASSES
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

# ``executing`` exists only inside the execution's own transaction: the raw values' DELETE guard lets through
# only deletes of a month and class whose destruction is in that state (migration 0054).
STATUSES = ("requested", "approved", "executing", "executed", "cancelled")
METHODS = ("rows_deleted", "partition_dropped")
OPEN = "status <> 'cancelled'"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class HistorianDestruction(Audited, Base):
    """The destruction of one month's raw values of one retention class (DS-2026-0001)."""

    __tablename__ = "monitoring_destructions"
    __audit_type__ = "monitoring_destruction"
    __audit_label__ = N_("Historian destruction")
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("retention_class", RETENTION_CLASSES), name="retention_class"),
        CheckConstraint("method IS NULL OR " + _in("method", METHODS), name="method"),
        CheckConstraint("month < month_end", name="month"),
        CheckConstraint("length(reason) >= 2", name="reason"),
        # TJ-10.1.6.3.a: application and approval by two people
        CheckConstraint("approved_by IS NULL OR approved_by <> requested_by", name="approver"),
        CheckConstraint(
            "status NOT IN ('approved', 'executing', 'executed') OR approved_at IS NOT NULL", name="approved"
        ),
        CheckConstraint(
            "status <> 'executed' OR (executed_at IS NOT NULL AND method IS NOT NULL AND manifest_sm3 IS NOT NULL "
            "AND values_destroyed IS NOT NULL AND ingests_sm3 IS NOT NULL)",
            name="executed",
        ),
        CheckConstraint("status <> 'cancelled' OR length(cancel_reason) >= 2", name="cancelled"),
        # one destruction in force per month and class (a cancelled one may be asked again)
        Index(
            "uq_monitoring_destructions_month_class",
            "month",
            "retention_class",
            unique=True,
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # DS-2026-0001
    month: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # the month's first moment, UTC
    month_end: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False
    )  # the next month's first moment
    retention_class: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)  # the requester's justification
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    requested_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_by_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approval_comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    executed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    method: Mapped[str | None] = mapped_column(String(24), nullable=True)
    # the archive copy it relied on: the manifest file's SM3, its name, and the data file's SM3 it names
    manifest_sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    manifest_file: Mapped[str | None] = mapped_column(String(128), nullable=True)
    archive_file_sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    values_in_copy: Mapped[int | None] = mapped_column(
        Integer, nullable=True
    )  # the month's values, all classes
    values_destroyed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    values_kept: Mapped[int | None] = mapped_column(Integer, nullable=True)  # kept: they raised an alarm
    ingests_affected: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ingests_sm3: Mapped[str | None] = mapped_column(
        String(64), nullable=True
    )  # over its DestroyedIngest rows
    decisions: Mapped[list[DestructionDecision]] = relationship(
        order_by=lambda: DestructionDecision.id, lazy="selectin", viewonly=True
    )


class DestructionDecision(Audited, Base):
    """QA's signed approval of a destruction, naming the SM3 of the application approved. Append-only."""

    __tablename__ = "monitoring_destruction_decisions"
    __audit_type__ = "monitoring_destruction_decision"
    __audit_label__ = N_("Historian destruction decision")
    __table_args__ = (
        CheckConstraint("kind = 'approve'", name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        Index("uq_monitoring_destruction_decisions_kind", "destruction_id", "kind", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    destruction_id: Mapped[int] = mapped_column(ForeignKey("monitoring_destructions.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)  # destruction.application_sm3
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class DestroyedIngest(Base):
    """What a destruction took from one ingest, and what it left (append-only)."""

    __tablename__ = "monitoring_destroyed_ingests"
    __table_args__ = (
        CheckConstraint("destroyed > 0 AND kept >= 0", name="counts"),
        CheckConstraint("length(destroyed_sm3) = 64 AND length(kept_sm3) = 64", name="digests"),
        UniqueConstraint(
            "destruction_id", "ingest_id", name="uq_monitoring_destroyed_ingests_destruction_ingest"
        ),
        Index("ix_monitoring_destroyed_ingests_ingest_id", "ingest_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    destruction_id: Mapped[int] = mapped_column(ForeignKey("monitoring_destructions.id"), nullable=False)
    ingest_id: Mapped[int] = mapped_column(ForeignKey("monitoring_ingests.id"), nullable=False)
    destroyed: Mapped[int] = mapped_column(Integer, nullable=False)
    destroyed_sm3: Mapped[str] = mapped_column(String(64), nullable=False)  # historian.values_sm3 of them
    kept: Mapped[int] = mapped_column(Integer, nullable=False)  # the ingest's values left
    kept_sm3: Mapped[str] = mapped_column(String(64), nullable=False)  # their values_sm3, in stored order
