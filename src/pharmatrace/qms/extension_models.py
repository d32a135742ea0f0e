"""Due-date extensions of deviations, CAPA and change requests (延期申请; TJ-6.4.4, SH-6.2.4, SH-7.1.4; issue 9
item 11): the tables.

* :class:`DueDateExtension` — one request to move the due date of a record (a deviation's, a CAPA's due date, a
  change's target date), named by its kind and number: the due date when requested, the proposed new one (later:
  a CHECK), the justification, the impact and interim measures, who asked and when, and QA's decision — approved,
  rejected or withdrawn by the requester. Whoever asked never decides (a CHECK). A decided row is frozen by the
  database (migration 0048).
* :class:`ExtensionDecision` — QA's signed approval, append-only, keeping the canonical content it was given on
  and its SM3; the e-signature (``qms.extension.approve``) is given on this row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

KINDS = ("deviation", "capa", "change")
KIND_LABELS = {"deviation": N_("Deviation"), "capa": N_("CAPA"), "change": N_("Change control")}
STATUSES = (
    "requested",  # 已申请：待 QA 决定
    "approved",  # 已批准（QA 签名），记录的到期日已顺延
    "rejected",  # 已驳回（附理由）
    "withdrawn",  # 申请人撤回（附理由）
)
STATUS_LABELS = {
    "requested": N_("Requested"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class DueDateExtension(Audited, Base):
    """A request to extend a deviation's, a CAPA's or a change's due date, and QA's decision on it (TJ-6.4.4)."""

    __tablename__ = "qms_due_date_extensions"
    __audit_type__ = "qms_due_date_extension"
    __audit_label__ = N_("Due-date extension")
    __table_args__ = (
        CheckConstraint(_in("record_kind", KINDS), name="record_kind"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("length(record_number) >= 4", name="record_number"),
        CheckConstraint("new_due > due_before", name="new_due"),
        CheckConstraint("length(justification) >= 2", name="justification"),
        CheckConstraint(
            "(status = 'requested') = (decided_at IS NULL) AND (decided_at IS NULL) = (decided_by IS NULL)",
            name="decided",
        ),
        # SH-7.1.4: whoever asked for more time does not grant it (a withdrawal is the requester's own)
        CheckConstraint(
            "decided_by IS NULL OR (status = 'withdrawn') = (decided_by = requested_by)", name="decider"
        ),
        CheckConstraint(
            "status IN ('requested', 'approved') OR length(decision_comment) >= 2", name="comment"
        ),
        Index("ix_qms_due_date_extensions_record", "record_kind", "record_number"),
        # one open request per record at a time
        Index(
            "uq_qms_due_date_extensions_open",
            "record_kind",
            "record_number",
            unique=True,
            sqlite_where=text("status = 'requested'"),
            postgresql_where=text("status = 'requested'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    record_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    record_number: Mapped[str] = mapped_column(String(32), nullable=False)
    due_before: Mapped[date] = mapped_column(Date, nullable=False)  # the record's due date when requested
    new_due: Mapped[date] = mapped_column(Date, nullable=False)
    justification: Mapped[str] = mapped_column(String(2000), nullable=False)
    interim_measures: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    requested_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_by_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decision_comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")

    decisions: Mapped[list[ExtensionDecision]] = relationship(
        order_by=lambda: ExtensionDecision.id, lazy="selectin", viewonly=True
    )


class ExtensionDecision(Audited, Base):
    """QA's signed approval of an extension, keeping the content it was given on and its SM3. Append-only."""

    __tablename__ = "qms_extension_decisions"
    __audit_type__ = "qms_extension_decision"
    __audit_label__ = N_("Due-date extension decision")
    __table_args__ = (
        CheckConstraint("kind IN ('approve')", name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        Index("uq_qms_extension_decisions_extension", "extension_id", "kind", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    extension_id: Mapped[int] = mapped_column(ForeignKey("qms_due_date_extensions.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # the canonical JSON the SM3 is of
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
