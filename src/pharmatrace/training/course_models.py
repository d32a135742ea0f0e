"""Curricula, plans, courses, sessions and assessments (培训课程、课程体系、年度培训计划、培训实施与考核, TJ-9.3).

A course (``TrainingCourse``) is either the self-study of a controlled document, a classroom course or an
on-the-job practical course (岗位实操); it may be built on a controlled document number (SH-6.3.4).
Completing a course is recorded as a training record by :func:`pharmatrace.training.service.record_completion`
(helper C's table ``training_records``); this module never writes those records.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

COURSE_KINDS = (
    "self_study",  # 自学（受控文件）
    "classroom",  # 课堂培训
    "on_the_job",  # 岗位实操培训
)

MARK = Decimal("0.01")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _scaled(value: Decimal | None, scale: Decimal = MARK) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(scale)


class TrainingCourse(Audited, Base):
    """A training course (培训课程), optionally on a controlled document (TJ-9.3, SH-6.3.4)."""

    __tablename__ = "training_courses"
    __audit_type__ = "training_course"
    __audit_label__ = N_("Training course")
    __table_args__ = (
        CheckConstraint(_in("kind", COURSE_KINDS), name="kind"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        CheckConstraint("length(title) >= 1", name="title_length"),
        CheckConstraint("pass_mark IS NULL OR (pass_mark >= 0 AND pass_mark <= 100)", name="pass_mark"),
        CheckConstraint("validity_months IS NULL OR validity_months >= 1", name="validity_months"),
        CheckConstraint("questions_per_assessment >= 1", name="questions_per_assessment"),
        Index("ix_training_courses_document_number", "document_number"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    document_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    pass_mark: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), nullable=True)  # percent
    validity_months: Mapped[int | None] = mapped_column(Integer, nullable=True)  # retraining interval
    questions_per_assessment: Mapped[int] = mapped_column(Integer, nullable=False, default=10)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)

    @validates("pass_mark")
    def _scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value)


CURRICULUM_TARGETS = ("role", "position")
PLAN_STATUSES = ("draft", "approved", "closed")  # 草拟、已批准、已关闭
SESSION_STATUSES = ("planned", "held", "cancelled")
QUESTION_KINDS = (
    "single",  # 单选
    "multiple",  # 多选
    "true_false",  # 判断
)
ASSESSMENT_KINDS = ("written", "practical")  # 笔试（题库抽题）、实操考核
EFFECTIVENESS_METHODS = (
    "written_test",  # 考试
    "observation",  # 现场观察
    "interview",  # 面谈/提问
    "questionnaire",  # 问卷
    "performance_review",  # 岗位绩效/偏差回顾
)
EFFECTIVENESS_RESULTS = ("effective", "partially_effective", "not_effective")


class Curriculum(Audited, Base):
    """A curriculum (培训课程体系): a named set of courses, assigned to roles or positions (TJ-9.3)."""

    __tablename__ = "training_curricula"
    __audit_type__ = "training_curriculum"
    __audit_label__ = N_("Training curriculum")
    __table_args__ = (CheckConstraint("length(code) >= 2", name="code_length"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CurriculumCourse(Audited, Base):
    """A course in a curriculum; taken out by voiding (with a reason), put back by clearing the void."""

    __tablename__ = "training_curriculum_courses"
    __audit_type__ = "training_curriculum_course"
    __audit_label__ = N_("Course of a training curriculum")
    __table_args__ = (
        Index("uq_training_curriculum_courses_pair", "curriculum_id", "course_id", unique=True),
        Index("ix_training_curriculum_courses_course_id", "course_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    curriculum_id: Mapped[int] = mapped_column(ForeignKey("training_curricula.id"), nullable=False)
    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    course: Mapped[TrainingCourse] = relationship(lazy="joined")


class CurriculumAssignment(Audited, Base):
    """A curriculum assigned to a role (by its code) or to a position (岗位, the user's ``position``)."""

    __tablename__ = "training_curriculum_assignments"
    __audit_type__ = "training_curriculum_assignment"
    __audit_label__ = N_("Assignment of a training curriculum to a role or position")
    __table_args__ = (
        CheckConstraint(_in("target", CURRICULUM_TARGETS), name="target"),
        CheckConstraint("length(value) >= 1", name="value_length"),
        Index("uq_training_curriculum_assignments_target", "curriculum_id", "target", "value", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    curriculum_id: Mapped[int] = mapped_column(ForeignKey("training_curricula.id"), nullable=False)
    target: Mapped[str] = mapped_column(String(16), nullable=False)
    value: Mapped[str] = mapped_column(String(128), nullable=False)  # a role code or a position title
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TrainingPlan(Audited, Base):
    """An annual training plan (年度培训计划)."""

    __tablename__ = "training_plans"
    __audit_type__ = "training_plan"
    __audit_label__ = N_("Annual training plan")
    __table_args__ = (
        CheckConstraint(_in("status", PLAN_STATUSES), name="status"),
        CheckConstraint("year >= 2000 AND year <= 2100", name="year"),
        CheckConstraint("length(code) >= 2", name="code_length"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PlanItem(Audited, Base):
    """A course in an annual plan: how many sessions are planned, in which month, for whom."""

    __tablename__ = "training_plan_items"
    __audit_type__ = "training_plan_item"
    __audit_label__ = N_("Course of an annual training plan")
    __table_args__ = (
        CheckConstraint("planned_sessions >= 1", name="planned_sessions"),
        CheckConstraint(
            "planned_month IS NULL OR (planned_month >= 1 AND planned_month <= 12)", name="month"
        ),
        Index("uq_training_plan_items_pair", "plan_id", "course_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("training_plans.id"), nullable=False)
    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"), nullable=False)
    planned_sessions: Mapped[int] = mapped_column(Integer, nullable=False)
    planned_month: Mapped[int | None] = mapped_column(Integer, nullable=True)
    audience: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    course: Mapped[TrainingCourse] = relationship(lazy="joined")


class TrainingSession(Audited, Base):
    """A classroom or practical session (培训实施): date, trainer, place, attendees."""

    __tablename__ = "training_sessions"
    __audit_type__ = "training_session"
    __audit_label__ = N_("Training session")
    __table_args__ = (
        CheckConstraint(_in("status", SESSION_STATUSES), name="status"),
        CheckConstraint("hours > 0 AND hours <= 24", name="hours"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        Index("ix_training_sessions_course_id", "course_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"), nullable=False)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("training_plans.id"), nullable=True)
    held_on: Mapped[date] = mapped_column(Date, nullable=False)
    hours: Mapped[Decimal] = mapped_column(Numeric(4, 1), nullable=False)
    trainer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    place: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="planned")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)

    course: Mapped[TrainingCourse] = relationship(lazy="joined")

    @validates("hours")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value, Decimal("0.1"))


class Attendance(Audited, Base):
    """An attendee of a session; ``present`` is unknown until attendance is taken (签到)."""

    __tablename__ = "training_attendance"
    __audit_type__ = "training_attendance"
    __audit_label__ = N_("Attendance at a training session")
    __table_args__ = (
        CheckConstraint("present IS NULL OR recorded_at IS NOT NULL", name="recorded"),
        Index("uq_training_attendance_pair", "session_id", "user_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    present: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recorded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)


class Question(Audited, Base):
    """A question of a course's bank (题库). ``answer_key`` lists the indices of the right options; a
    true/false question has no options and its key is ``[0]`` (true) or ``[1]`` (false). The key is never
    sent to a trainee."""

    __tablename__ = "training_questions"
    __audit_type__ = "training_question"
    __audit_label__ = N_("Question of a course's question bank")
    __table_args__ = (
        CheckConstraint(_in("kind", QUESTION_KINDS), name="kind"),
        CheckConstraint("length(text) >= 2", name="text_length"),
        Index("ix_training_questions_course_id", "course_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    options: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    answer_key: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Assessment(Audited, Base):
    """An assessment paper: the questions drawn for one trainee (written), or a practical assessment by a
    trainer. Never changed; its result is its attempt (:class:`AssessmentAttempt`)."""

    __tablename__ = "training_assessments"
    __audit_type__ = "training_assessment"
    __audit_label__ = N_("Training assessment")
    __table_args__ = (
        CheckConstraint(_in("kind", ASSESSMENT_KINDS), name="kind"),
        CheckConstraint(
            "kind <> 'practical' OR (trainer_user_id IS NOT NULL AND trainer_user_id <> trainee_user_id)",
            name="practical_trainer",
        ),
        Index("ix_training_assessments_trainee", "trainee_user_id", "course_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"), nullable=False)
    trainee_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("training_sessions.id"), nullable=True)
    trainer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    question_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)

    course: Mapped[TrainingCourse] = relationship(lazy="joined")


class AssessmentAttempt(Audited, Base):
    """The answers given and the score the server gave them (append-only: never changed, never deleted)."""

    __tablename__ = "training_assessment_attempts"
    __audit_type__ = "training_assessment_attempt"
    __audit_label__ = N_("Attempt at a training assessment")
    __table_args__ = (
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score"),
        CheckConstraint("pass_mark IS NULL OR (pass_mark >= 0 AND pass_mark <= 100)", name="pass_mark"),
        CheckConstraint(
            "pass_mark IS NULL OR score IS NULL OR passed = (score >= pass_mark)", name="passed_by_mark"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("training_assessments.id"), unique=True, nullable=False
    )
    answers: Mapped[dict[str, list[int]]] = mapped_column(JSON, nullable=False, default=dict)
    correct: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), nullable=True)  # percent
    pass_mark: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), nullable=True)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    remarks: Mapped[str] = mapped_column(Text, nullable=False, default="")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    submitted_by: Mapped[str] = mapped_column(String(64), nullable=False)

    @validates("score", "pass_mark")
    def _scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value)


class EffectivenessEvaluation(Audited, Base):
    """An evaluation of training effectiveness (培训效果评估) for a course or one of its sessions."""

    __tablename__ = "training_effectiveness"
    __audit_type__ = "training_effectiveness"
    __audit_label__ = N_("Evaluation of training effectiveness")
    __table_args__ = (
        CheckConstraint(_in("method", EFFECTIVENESS_METHODS), name="method"),
        CheckConstraint(_in("result", EFFECTIVENESS_RESULTS), name="result"),
        CheckConstraint("length(outcome) >= 2", name="outcome_length"),
        Index("ix_training_effectiveness_course_id", "course_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"), nullable=False)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("training_sessions.id"), nullable=True)
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    result: Mapped[str] = mapped_column(String(32), nullable=False)
    outcome: Mapped[str] = mapped_column(Text, nullable=False)
    evaluator_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    evaluated_on: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    course: Mapped[TrainingCourse] = relationship(lazy="joined")
