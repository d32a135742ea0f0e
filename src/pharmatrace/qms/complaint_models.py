"""Complaints (投诉; SH-6.2.4, issue 9 item 5): the tables.

* :class:`Complaint` — the record (``CMP-YYYY-NNNN``): when and how it was received, who complained (a customer,
  a hospital, a patient, a regulator), the category, the description, and the product concerned — the batch
  (always resolved to its :class:`~pharmatrace.mes.execution_models.BatchOrder`) and, when one was scanned, the
  traceability code. Then its classification (critical / major / minor, with the rationale), the investigation
  (investigator, findings, root cause, batch record and retained sample reviewed, linked deviation, CAPA and
  recall numbers, the conclusion), the response to the complainant, and its status along the declared state
  machine of :mod:`pharmatrace.qms.complaints`. Cancelled with a reason, never deleted.
* :class:`ComplaintDecision` — QA's signed closure, append-only, naming the SM3 of the complaint's content it was
  given on; the e-signature (``qms.complaint.close``) is given on this row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

CHANNELS = ("phone", "email", "letter", "visit", "regulator", "other")
CHANNEL_LABELS = {
    "phone": N_("Phone"),
    "email": N_("E-mail"),
    "letter": N_("Letter"),
    "visit": N_("Visit"),
    "regulator": N_("Regulator"),
    "other": N_("Other"),
}
CATEGORIES = ("quality", "adverse_reaction", "packaging", "suspected_counterfeit", "other")
CATEGORY_LABELS = {
    "quality": N_("Product quality"),
    "adverse_reaction": N_("Adverse reaction"),
    "packaging": N_("Packaging"),
    "suspected_counterfeit": N_("Suspected counterfeit"),
    "other": N_("Other"),
}
CLASSIFICATIONS = ("critical", "major", "minor")
CLASSIFICATION_LABELS = {"critical": N_("Critical"), "major": N_("Major"), "minor": N_("Minor")}
# SH-6.2.4: days from receipt to the response, by classification (an unclassified complaint is due as critical).
DUE_DAYS = {"critical": 1, "major": 7, "minor": 30}
# an adverse reaction or a suspected counterfeit is at least major
AT_LEAST_MAJOR = ("adverse_reaction", "suspected_counterfeit")
CONCLUSIONS = ("justified", "not_justified")
CONCLUSION_LABELS = {"justified": N_("Justified"), "not_justified": N_("Not justified")}
STATUSES = (
    "received",  # 已接收
    "investigating",  # 调查中
    "responded",  # 已答复投诉人
    "closed",  # 已关闭（QA 签名）
    "cancelled",  # 已取消（附理由）
)
STATUS_LABELS = {
    "received": N_("Received"),
    "investigating": N_("Under investigation"),
    "responded": N_("Responded"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}
OPEN_STATUSES = ("received", "investigating", "responded")
AWAITING_RESPONSE = ("received", "investigating")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Complaint(Audited, Base):
    """A complaint and its handling (SH-6.2.4)."""

    __tablename__ = "qms_complaints"
    __audit_type__ = "qms_complaint"
    __audit_label__ = N_("Complaint")
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("category", CATEGORIES), name="category"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(
            "classification IS NULL OR " + _in("classification", CLASSIFICATIONS), name="classification"
        ),
        CheckConstraint("conclusion IS NULL OR " + _in("conclusion", CONCLUSIONS), name="conclusion"),
        CheckConstraint("length(number) >= 6", name="number"),
        CheckConstraint("length(description) >= 1", name="description"),
        CheckConstraint("length(complainant_name) >= 1", name="complainant_name"),
        CheckConstraint(
            "classification IS NULL OR length(classification_rationale) >= 2", name="classification_rationale"
        ),
        # SH-6.2.4: an adverse reaction or a suspected counterfeit is at least major
        CheckConstraint(
            "category NOT IN ('adverse_reaction', 'suspected_counterfeit') OR classification IS NULL "
            "OR classification IN ('critical', 'major')",
            name="at_least_major",
        ),
        CheckConstraint(
            "status = 'received' OR status = 'cancelled' OR (classification IS NOT NULL AND investigator IS NOT NULL)",
            name="investigating",
        ),
        CheckConstraint(
            "status NOT IN ('responded', 'closed') OR (conclusion IS NOT NULL AND length(findings) >= 1 "
            "AND response IS NOT NULL AND length(response) >= 1 AND responded_at IS NOT NULL)",
            name="responded",
        ),
        CheckConstraint(
            "status <> 'closed' OR (closed_at IS NOT NULL AND closed_by IS NOT NULL)", name="closed"
        ),
        CheckConstraint(
            "closed_by IS NULL OR investigator IS NULL OR closed_by <> investigator", name="closer"
        ),
        CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL "
            "AND length(cancel_reason) >= 2)",
            name="cancelled",
        ),
        Index("ix_qms_complaints_status", "status"),
        Index("ix_qms_complaints_batch", "batch_order_id"),
        Index("ix_qms_complaints_code", "code_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # CMP-2026-0001
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    complainant_name: Mapped[str] = mapped_column(String(128), nullable=False)
    complainant_org: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    complainant_contact: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    customer_code: Mapped[str | None] = mapped_column(String(32), nullable=True)  # trace_customers.code
    category: Mapped[str] = mapped_column(String(24), nullable=False)
    description: Mapped[str] = mapped_column(String(4000), nullable=False)
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), nullable=False)
    batch_no: Mapped[str] = mapped_column(String(32), nullable=False)
    order_no: Mapped[str] = mapped_column(String(32), nullable=False)
    product_code: Mapped[str] = mapped_column(String(32), nullable=False)
    product_name: Mapped[str] = mapped_column(String(128), nullable=False)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("trace_codes.id"), nullable=True)
    code_value: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the code as stored (printed)
    classification: Mapped[str | None] = mapped_column(String(16), nullable=True)
    classification_rationale: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    classified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    classified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    investigator: Mapped[str | None] = mapped_column(String(64), nullable=True)
    investigator_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    findings: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    root_cause: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    batch_record_reviewed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    batch_record_notes: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    retained_sample_reviewed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    retained_sample_notes: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    deviation_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    capa_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    recall_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    conclusion: Mapped[str | None] = mapped_column(String(16), nullable=True)
    investigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    response: Mapped[str | None] = mapped_column(String(4000), nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    responded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    decisions: Mapped[list[ComplaintDecision]] = relationship(
        order_by=lambda: ComplaintDecision.id, lazy="selectin", viewonly=True
    )


class ComplaintDecision(Audited, Base):
    """QA's signed closure of a complaint, naming the content SM3. Append-only (SH-6.2.4)."""

    __tablename__ = "qms_complaint_decisions"
    __audit_type__ = "qms_complaint_decision"
    __audit_label__ = N_("Complaint decision")
    __table_args__ = (
        CheckConstraint("kind IN ('close')", name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        Index("uq_qms_complaint_decisions_kind", "complaint_id", "kind", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("qms_complaints.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
