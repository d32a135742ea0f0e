"""Validation and qualification (验证与确认; SH-6.2.4, SH-6.3.2.1.c, TJ-10.3, TJ-11.2.1, GMP Annex 15; issue 9
item 10): the tables.

* :class:`Validation` — the project (``VAL-YYYY-NNNN``): its kind (equipment qualification, process, cleaning,
  analytical method, computerized system, utility), title, scope, its subject (an existing equipment by its code for
  an equipment qualification, otherwise text), the change control and the risk assessment it answers to (by number,
  both optional), the stages it covers (DQ, IQ, OQ, PQ; PV, CV, MV), the revalidation interval in months, the
  author, its status along the declared state machine of :mod:`pharmatrace.qms.validation`, the report's conclusion
  and outcome, and the date revalidation is due. Cancelled with a reason, never deleted.
* :class:`ValidationTest` — one protocol item: its stage, the test item, the procedure and the acceptance criterion.
  Changed and voided (with a reason, never deleted) only while the protocol is a draft.
* :class:`ValidationResult` — one execution result of a test, append-only: what was observed, pass or fail, the
  deviation a failure was raised as, who executed it and when (the server's time). A correction is a new row that
  supersedes the earlier one, with its reason; the original stays.
* :class:`ValidationDecision` — QA's signed approval of the protocol or of the report, append-only, keeping the
  canonical content it was given on and its SM3.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

KINDS = (
    "equipment_qualification",
    "process",
    "cleaning",
    "analytical_method",
    "computerized_system",
    "utility",
)
KIND_LABELS = {
    "equipment_qualification": N_("Equipment qualification"),
    "process": N_("Process validation"),
    "cleaning": N_("Cleaning validation"),
    "analytical_method": N_("Analytical method validation"),
    "computerized_system": N_("Computerized system validation"),
    "utility": N_("Utility qualification"),
}
STAGES = ("DQ", "IQ", "OQ", "PQ", "PV", "CV", "MV")
STAGE_LABELS = {
    "DQ": N_("Design qualification (DQ)"),
    "IQ": N_("Installation qualification (IQ)"),
    "OQ": N_("Operational qualification (OQ)"),
    "PQ": N_("Performance qualification (PQ)"),
    "PV": N_("Process validation (PV)"),
    "CV": N_("Cleaning validation (CV)"),
    "MV": N_("Method validation (MV)"),
}
# Annex 15: the stages each kind of validation may cover.
QUALIFICATION_STAGES = ("DQ", "IQ", "OQ", "PQ")
KIND_STAGES: dict[str, tuple[str, ...]] = {
    "equipment_qualification": QUALIFICATION_STAGES,
    "utility": QUALIFICATION_STAGES,
    "computerized_system": QUALIFICATION_STAGES,
    "process": ("PV",),
    "cleaning": ("CV",),
    "analytical_method": ("MV",),
}
STATUSES = (
    "draft",  # 方案起草
    "protocol_review",  # 方案审核
    "executing",  # 执行中（方案已批准）
    "report_review",  # 报告审核
    "completed",  # 已完成（报告已批准）
    "cancelled",  # 已取消（附理由）
)
STATUS_LABELS = {
    "draft": N_("Protocol draft"),
    "protocol_review": N_("Protocol in review"),
    "executing": N_("Executing"),
    "report_review": N_("Report in review"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
}
OPEN_STATUSES = ("draft", "protocol_review", "executing", "report_review")
OUTCOMES = ("validated", "failed")
OUTCOME_LABELS = {"validated": N_("Validated"), "failed": N_("Failed")}
RESULT_OUTCOMES = ("pass", "fail")
RESULT_LABELS = {"pass": N_("Pass"), "fail": N_("Fail")}
DECISION_KINDS = ("protocol", "report")

VOID = "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Validation(Audited, Base):
    """A validation or qualification project with its protocol, execution, report and outcome (GMP Annex 15)."""

    __tablename__ = "qms_validations"
    __audit_type__ = "qms_validation"
    __audit_label__ = N_("Validation")
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("length(number) >= 6", name="number"),
        CheckConstraint("length(title) >= 1", name="title"),
        CheckConstraint("length(subject) >= 1", name="subject"),
        CheckConstraint("length(stages) >= 2", name="stages"),
        # SH-6.3.2.1.c: an equipment qualification names the equipment of the register
        CheckConstraint("(kind = 'equipment_qualification') = (equipment_id IS NOT NULL)", name="equipment"),
        CheckConstraint(
            "revalidation_months IS NULL OR revalidation_months BETWEEN 1 AND 120", name="revalidation_months"
        ),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", name="outcome"),
        CheckConstraint(
            "status <> 'completed' OR (completed_at IS NOT NULL AND completed_by IS NOT NULL "
            "AND outcome IS NOT NULL AND length(conclusion) >= 2)",
            name="completed",
        ),
        CheckConstraint(
            "status NOT IN ('executing', 'report_review', 'completed') OR protocol_approved_by IS NOT NULL",
            name="protocol_approved",
        ),
        # SH-7.1.4: the author approves neither the protocol nor the report
        CheckConstraint(
            "(protocol_approved_by IS NULL OR protocol_approved_by <> author) "
            "AND (completed_by IS NULL OR completed_by <> author)",
            name="approver",
        ),
        CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL "
            "AND length(cancel_reason) >= 2)",
            name="cancelled",
        ),
        Index("ix_qms_validations_status", "status"),
        Index("ix_qms_validations_subject", "kind", "subject"),
        Index("ix_qms_validations_equipment_id", "equipment_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # VAL-2026-0001
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    scope: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), nullable=True)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)  # the equipment's code, or the text
    change_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    risk_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    stages: Mapped[str] = mapped_column(String(64), nullable=False)  # "OQ,PQ"
    revalidation_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    author_name: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    protocol_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    protocol_approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    conclusion: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    report_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    report_submitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revalidation_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    tests: Mapped[list[ValidationTest]] = relationship(
        order_by=lambda: ValidationTest.seq, lazy="selectin", viewonly=True
    )
    results: Mapped[list[ValidationResult]] = relationship(
        order_by=lambda: ValidationResult.id, lazy="selectin", viewonly=True
    )
    decisions: Mapped[list[ValidationDecision]] = relationship(
        order_by=lambda: ValidationDecision.id, lazy="selectin", viewonly=True
    )


class ValidationTest(Audited, Base):
    """One protocol item: a test of a stage with its procedure and acceptance criterion (GMP Annex 15)."""

    __tablename__ = "qms_validation_tests"
    __audit_type__ = "qms_validation_test"
    __audit_label__ = N_("Validation test")
    __table_args__ = (
        CheckConstraint(_in("stage", STAGES), name="stage"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint("length(item) >= 1", name="item"),
        CheckConstraint("length(criterion) >= 1", name="criterion"),
        CheckConstraint(VOID, name="void_reason"),
        Index("uq_qms_validation_tests_seq", "validation_id", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    validation_id: Mapped[int] = mapped_column(ForeignKey("qms_validations.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    stage: Mapped[str] = mapped_column(String(8), nullable=False)
    item: Mapped[str] = mapped_column(String(500), nullable=False)
    procedure: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    criterion: Mapped[str] = mapped_column(String(1000), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class ValidationResult(Audited, Base):
    """One execution result of a protocol item, append-only; a correction supersedes it with a reason and both
    stay (SH-7.1.3.c, ALCOA)."""

    __tablename__ = "qms_validation_results"
    __audit_type__ = "qms_validation_result"
    __audit_label__ = N_("Validation result")
    __table_args__ = (
        CheckConstraint(_in("outcome", RESULT_OUTCOMES), name="outcome"),
        CheckConstraint("length(observed) >= 1", name="observed"),
        CheckConstraint(
            "(supersedes_id IS NULL) = (correction_reason IS NULL) "
            "AND (correction_reason IS NULL OR length(correction_reason) >= 2)",
            name="correction",
        ),
        Index("uq_qms_validation_results_supersedes", "supersedes_id", unique=True),
        Index("ix_qms_validation_results_test_id", "test_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    validation_id: Mapped[int] = mapped_column(ForeignKey("qms_validations.id"), nullable=False)
    test_id: Mapped[int] = mapped_column(ForeignKey("qms_validation_tests.id"), nullable=False)
    observed: Mapped[str] = mapped_column(String(2000), nullable=False)
    outcome: Mapped[str] = mapped_column(String(8), nullable=False)
    deviation_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("qms_validation_results.id"), nullable=True)
    correction_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    executed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    executed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class ValidationDecision(Audited, Base):
    """QA's signed approval of a validation's protocol or report, keeping the content it was given on and its SM3.
    Append-only (SH-6.2.4, SH-7.1.4)."""

    __tablename__ = "qms_validation_decisions"
    __audit_type__ = "qms_validation_decision"
    __audit_label__ = N_("Validation decision")
    __table_args__ = (
        CheckConstraint(_in("kind", DECISION_KINDS), name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", name="outcome"),
        CheckConstraint("(kind = 'report') = (outcome IS NOT NULL)", name="report_outcome"),
        Index("uq_qms_validation_decisions_kind", "validation_id", "kind", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    validation_id: Mapped[int] = mapped_column(ForeignKey("qms_validations.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # the canonical JSON the SM3 is of
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
