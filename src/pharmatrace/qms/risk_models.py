"""Quality risk assessment by FMEA (质量风险评估, 失效模式与影响分析; SH-6.2.4, ICH Q9; issue 9 item 8): the tables.

* :class:`RiskAssessment` — the assessment (``RA-YYYY-NNNN``): title, scope, its subject (a change control or a
  deviation by number, or a validation, a process, an equipment or something else described in text), the product
  or process step, the action threshold on the RPN (default 100) and the severity threshold (default 9: a failure
  mode this severe needs an action whatever its RPN), the team, the author, the revision, and its status along the
  declared state machine of :mod:`pharmatrace.qms.risks`. Withdrawn with a reason, never deleted.
* :class:`RiskItem` — one failure mode: the step or function, the failure mode, its effect and cause, the current
  controls, severity, occurrence and detection (1–10 each) and RPN = S × O × D (a CHECK in the database), the
  recommended action, its owner and an optional CAPA, and the residual S, O, D and RPN after mitigation.
  Voided with a reason, never deleted.
* :class:`RiskDecision` — QA's signed approval of one revision, append-only, keeping the canonical content it was
  given on and its SM3; the e-signature (``qms.risk.approve``) is given on this row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

SUBJECT_KINDS = ("change", "deviation", "validation", "process", "equipment", "other")
SUBJECT_LABELS = {
    "change": N_("Change control"),
    "deviation": N_("Deviation"),
    "validation": N_("Validation"),
    "process": N_("Process"),
    "equipment": N_("Equipment"),
    "other": N_("Other"),
}
LINKED_SUBJECTS = ("change", "deviation")  # named by the number of an existing record
STATUSES = (
    "draft",  # 草稿：编制中
    "in_review",  # 审核中
    "approved",  # 已批准（QA 签名）
    "withdrawn",  # 已撤销（附理由）
)
STATUS_LABELS = {
    "draft": N_("Draft"),
    "in_review": N_("In review"),
    "approved": N_("Approved"),
    "withdrawn": N_("Withdrawn"),
}
OPEN_STATUSES = ("draft", "in_review")
DEFAULT_ACTION_THRESHOLD = 100
DEFAULT_SEVERITY_THRESHOLD = 9
BANDS = ("high", "medium", "low")
BAND_LABELS = {"high": N_("High"), "medium": N_("Medium"), "low": N_("Low")}

SCORE = "{0} BETWEEN 1 AND 10"
VOID = "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)"
RESIDUAL_ALL_OR_NONE = (
    "(residual_severity IS NULL) = (residual_occurrence IS NULL) "
    "AND (residual_severity IS NULL) = (residual_detection IS NULL) "
    "AND (residual_severity IS NULL) = (residual_rpn IS NULL)"
)

RESIDUAL_SCORES = (
    "residual_severity IS NULL OR (residual_severity BETWEEN 1 AND 10 AND residual_occurrence BETWEEN 1 AND 10 "
    "AND residual_detection BETWEEN 1 AND 10 "
    "AND residual_rpn = residual_severity * residual_occurrence * residual_detection)"
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class RiskAssessment(Audited, Base):
    """An FMEA risk assessment of a change, a deviation, a validation, a process or an equipment (SH-6.2.4)."""

    __tablename__ = "qms_risk_assessments"
    __audit_type__ = "qms_risk_assessment"
    __audit_label__ = N_("Risk assessment")
    __table_args__ = (
        CheckConstraint(_in("subject_kind", SUBJECT_KINDS), name="subject_kind"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("length(number) >= 6", name="number"),
        CheckConstraint("length(title) >= 1", name="title"),
        CheckConstraint(
            "subject_kind NOT IN ('change', 'deviation') OR length(subject_ref) >= 4", name="subject_ref"
        ),
        CheckConstraint("action_threshold BETWEEN 1 AND 1000", name="action_threshold"),
        CheckConstraint("severity_threshold BETWEEN 1 AND 10", name="severity_threshold"),
        CheckConstraint("revision >= 1", name="revision"),
        CheckConstraint(
            "status <> 'approved' OR (approved_at IS NOT NULL AND approved_by IS NOT NULL)", name="approved"
        ),
        # SH-7.1.4: the author does not approve their own assessment
        CheckConstraint("approved_by IS NULL OR approved_by <> author", name="approver"),
        CheckConstraint(
            "status <> 'withdrawn' OR (withdrawn_at IS NOT NULL AND withdraw_reason IS NOT NULL "
            "AND length(withdraw_reason) >= 2)",
            name="withdrawn",
        ),
        Index("ix_qms_risk_assessments_status", "status"),
        Index("ix_qms_risk_assessments_subject", "subject_kind", "subject_ref"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # RA-2026-0001
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    scope: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    subject_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    subject_ref: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    product_step: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    action_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_ACTION_THRESHOLD)
    severity_threshold: Mapped[int] = mapped_column(
        Integer, nullable=False, default=DEFAULT_SEVERITY_THRESHOLD
    )
    team: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    author_name: Mapped[str] = mapped_column(String(128), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    withdraw_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    items: Mapped[list[RiskItem]] = relationship(
        order_by=lambda: RiskItem.seq, lazy="selectin", viewonly=True
    )
    decisions: Mapped[list[RiskDecision]] = relationship(
        order_by=lambda: RiskDecision.id, lazy="selectin", viewonly=True
    )


class RiskItem(Audited, Base):
    """One failure mode of an FMEA with its scores; RPN = S × O × D, also kept by the database (SH-6.2.4)."""

    __tablename__ = "qms_risk_items"
    __audit_type__ = "qms_risk_item"
    __audit_label__ = N_("Failure mode")
    __table_args__ = (
        CheckConstraint(SCORE.format("severity"), name="severity"),
        CheckConstraint(SCORE.format("occurrence"), name="occurrence"),
        CheckConstraint(SCORE.format("detection"), name="detection"),
        CheckConstraint("rpn = severity * occurrence * detection", name="rpn"),
        CheckConstraint(RESIDUAL_ALL_OR_NONE, name="residual_all"),
        CheckConstraint(RESIDUAL_SCORES, name="residual"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint("length(failure_mode) >= 1", name="failure_mode"),
        CheckConstraint(VOID, name="void_reason"),
        Index("uq_qms_risk_items_seq", "assessment_id", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("qms_risk_assessments.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    step: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    failure_mode: Mapped[str] = mapped_column(String(1000), nullable=False)
    effect: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    cause: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    controls: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    severity: Mapped[int] = mapped_column(Integer, nullable=False)
    occurrence: Mapped[int] = mapped_column(Integer, nullable=False)
    detection: Mapped[int] = mapped_column(Integer, nullable=False)
    rpn: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    action_owner: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    capa_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    residual_severity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    residual_occurrence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    residual_detection: Mapped[int | None] = mapped_column(Integer, nullable=True)
    residual_rpn: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # why a residual risk whose severity still reaches the severity threshold is accepted (0047)
    residual_acceptance: Mapped[str] = mapped_column(
        String(1000), nullable=False, default="", server_default=""
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class RiskDecision(Audited, Base):
    """QA's signed approval of one revision of an assessment, keeping the content it was given on and its SM3.
    Append-only (SH-6.2.4)."""

    __tablename__ = "qms_risk_decisions"
    __audit_type__ = "qms_risk_decision"
    __audit_label__ = N_("Risk assessment decision")
    __table_args__ = (
        CheckConstraint("kind IN ('approve')", name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("revision >= 1", name="revision"),
        Index("uq_qms_risk_decisions_revision", "assessment_id", "revision", "kind", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("qms_risk_assessments.id"), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # the canonical JSON the SM3 is of
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
