"""Training needs, tasks, records and the qualifications that gate permissions.

SH-6.3.4 (training plans and records per person), TJ-9.3 (training management), TJ-10.1.2.2.d (a user may
use a function only while trained on it). The pieces::

    TrainingNeed ─(role / position / department × document number or course)─> who needs what
    TrainingTask ─ one person × one document version (or course), due by a date; open until a passing
                   TrainingRecord for it exists (derived, never stored twice)
    TrainingRecord ─ append-only: who was trained on what, how, with which result, valid until when
    QualificationRequirement ─ permission code → document number: the gate

A need or requirement on a document always means its *current effective* version, looked up when used.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_

# The access-request model lives with identity; imported here so the metadata always holds it.
from pharmatrace.kernel.identity import access_requests as _access_requests  # noqa: F401
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

SUBJECT_KINDS = ("role", "position", "department")
SUBJECT_LABELS = {"role": N_("Role"), "position": N_("Position"), "department": N_("Department")}
METHODS = (
    "self_study",  # 自学（阅读并理解）
    "classroom",  # 课堂培训
    "on_the_job",  # 岗位带教
    "assessment",  # 考核
    "external",  # 外部培训
)
METHOD_LABELS = {
    "self_study": N_("Self-study"),
    "classroom": N_("Classroom"),
    "on_the_job": N_("On the job"),
    "assessment": N_("Assessment"),
    "external": N_("External"),
}
TASK_SOURCES = ("version_approved", "need_added", "role_granted", "access_request")
TASK_SOURCE_LABELS = {
    "version_approved": N_("New document version"),
    "need_added": N_("New training need"),
    "role_granted": N_("New role"),
    "access_request": N_("Access request"),
}
SCORE = Decimal("0.01")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class TrainingNeed(Audited, Base):
    """Who must be trained on what (培训需求, SH-6.3.4): a role, position or department × a controlled
    document (its current effective version) or a course. Voided with a reason, never deleted."""

    __tablename__ = "training_needs"
    __audit_type__ = "training_need"
    __audit_label__ = N_("Training need")
    __table_args__ = (
        CheckConstraint(_in("subject_kind", SUBJECT_KINDS), name="subject_kind"),
        CheckConstraint("length(subject) >= 1", name="subject"),
        CheckConstraint("(document_number IS NULL) <> (course_id IS NULL)", name="document_or_course"),
        Index("ix_training_needs_subject", "subject_kind", "subject"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    subject_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    subject: Mapped[str] = mapped_column(String(128), nullable=False)  # role code, position or department
    document_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("training_courses.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TrainingTask(Audited, Base):
    """One person's assignment to be trained on a document version or a course (培训任务), due by a date.

    Open until a passing record for it exists — derived from the records, never stored as a status.
    """

    __tablename__ = "training_tasks"
    __audit_type__ = "training_task"
    __audit_label__ = N_("Training task")
    __table_args__ = (
        CheckConstraint(_in("source", TASK_SOURCES), name="source"),
        CheckConstraint(
            "(document_version_id IS NOT NULL AND document_number IS NOT NULL AND version IS NOT NULL)"
            " OR (document_version_id IS NULL AND course_id IS NOT NULL)",
            name="subject",
        ),
        Index("ix_training_tasks_user_id", "user_id"),
        Index("ix_training_tasks_document_version_id", "document_version_id"),
        # One live task per person and version.
        Index(
            "uq_training_tasks_user_version",
            "user_id",
            "document_version_id",
            unique=True,
            sqlite_where=text("voided_at IS NULL AND document_version_id IS NOT NULL"),
            postgresql_where=text("voided_at IS NULL AND document_version_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_versions.id"), nullable=True)
    document_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("training_courses.id"), nullable=True)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TrainingRecord(Audited, Base):
    """A training completed (培训记录, SH-6.3.4): append-only — a wrong record is answered by a new one.

    ``valid_until`` makes a qualification lapse (retraining); a record without it does not expire.
    """

    __tablename__ = "training_records"
    __audit_type__ = "training_record"
    __audit_label__ = N_("Training record")
    __table_args__ = (
        CheckConstraint(_in("method", METHODS), name="method"),
        CheckConstraint("document_version_id IS NOT NULL OR course_id IS NOT NULL", name="subject"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score"),
        CheckConstraint("length(evidence) >= 1", name="evidence"),
        Index("ix_training_records_user_id", "user_id"),
        Index("ix_training_records_document_version_id", "document_version_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_versions.id"), nullable=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("training_courses.id"), nullable=True)
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    score: Mapped[Decimal | None] = mapped_column(Numeric(6, 2), nullable=True)
    trainer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    evidence: Mapped[str] = mapped_column(Text, nullable=False)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)

    @validates("score")
    def _scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        # Held at the column's scale, so the ledger entry and the row read back are the same (80 → 80.00).
        return None if value is None else Decimal(value).quantize(SCORE)


class QualificationRequirement(Audited, Base):
    """The gate as data (TJ-10.1.2.2.d): holding ``permission`` needs training on ``document_number``'s
    current effective version, e.g. ``mes.batch.execute`` → SOP-WH-001."""

    __tablename__ = "qualification_requirements"
    __audit_type__ = "qualification_requirement"
    __audit_label__ = N_("Qualification requirement")
    __table_args__ = (
        CheckConstraint("length(document_number) >= 1", name="document_number"),
        Index(
            "uq_qualification_requirements_live",
            "permission",
            "document_number",
            unique=True,
            sqlite_where=text("voided_at IS NULL"),
            postgresql_where=text("voided_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    permission: Mapped[str] = mapped_column(ForeignKey("permissions.code"), nullable=False)
    document_number: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RetrainingOrder(Audited, Base):
    """Retraining ordered on a document's current effective version (再培训), e.g. by a deviation or CAPA.

    From ``created_at`` the person's earlier records on that version no longer qualify them: they are lapsed
    on the document until a passing record completed after the order exists (derived in
    :mod:`pharmatrace.training.gates`, never stored as a status). Voided with a reason, never deleted.
    """

    __tablename__ = "training_retraining_orders"
    __audit_type__ = "training_retraining_order"
    __audit_label__ = N_("Retraining order")
    __table_args__ = (
        CheckConstraint("length(reason) >= 5", name="reason"),
        CheckConstraint("length(source) >= 2", name="source"),
        CheckConstraint("due_at >= created_at", name="due"),
        Index("ix_training_retraining_orders_user_version", "user_id", "document_version_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    document_version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), nullable=False)
    document_number: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    source: Mapped[str] = mapped_column(String(64), nullable=False)  # e.g. DEV-2026-012, CAPA-2026-003
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
