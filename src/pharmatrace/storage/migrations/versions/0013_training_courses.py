"""curricula, plans, courses, sessions, assessments (TJ-9.3)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Voided, deactivated or cancelled, never deleted; written only through the unit of work.
TABLES = (
    "training_courses",
    "training_curricula",
    "training_curriculum_courses",
    "training_curriculum_assignments",
    "training_plans",
    "training_plan_items",
    "training_sessions",
    "training_attendance",
    "training_questions",
    "training_assessments",
    "training_effectiveness",
)
APPEND_ONLY = ("training_assessment_attempts",)  # an attempt and its score are never changed (TJ-9.3)


def upgrade() -> None:

    op.create_table(
        "training_courses",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("document_number", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("pass_mark", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("validity_months", sa.Integer(), nullable=True),
        sa.Column("questions_per_assessment", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "kind IN ('self_study', 'classroom', 'on_the_job')", name=op.f("ck_training_courses_kind")
        ),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_training_courses_code_length")),
        sa.CheckConstraint("length(title) >= 1", name=op.f("ck_training_courses_title_length")),
        sa.CheckConstraint(
            "pass_mark IS NULL OR (pass_mark >= 0 AND pass_mark <= 100)",
            name=op.f("ck_training_courses_pass_mark"),
        ),
        sa.CheckConstraint(
            "questions_per_assessment >= 1", name=op.f("ck_training_courses_questions_per_assessment")
        ),
        sa.CheckConstraint(
            "validity_months IS NULL OR validity_months >= 1",
            name=op.f("ck_training_courses_validity_months"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_courses")),
        sa.UniqueConstraint("code", name=op.f("uq_training_courses_code")),
    )
    op.create_index(
        "ix_training_courses_document_number", "training_courses", ["document_number"], unique=False
    )
    op.create_table(
        "training_curricula",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_training_curricula_code_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_curricula")),
        sa.UniqueConstraint("code", name=op.f("uq_training_curricula_code")),
    )
    op.create_table(
        "training_plans",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'closed')", name=op.f("ck_training_plans_status")
        ),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_training_plans_code_length")),
        sa.CheckConstraint("year >= 2000 AND year <= 2100", name=op.f("ck_training_plans_year")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_training_plans_code")),
    )
    op.create_table(
        "training_curriculum_assignments",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("curriculum_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "target IN ('role', 'position')", name=op.f("ck_training_curriculum_assignments_target")
        ),
        sa.CheckConstraint(
            "length(value) >= 1", name=op.f("ck_training_curriculum_assignments_value_length")
        ),
        sa.ForeignKeyConstraint(
            ["curriculum_id"],
            ["training_curricula.id"],
            name=op.f("fk_training_curriculum_assignments_curriculum_id_training_curricula"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_curriculum_assignments")),
    )
    op.create_index(
        "uq_training_curriculum_assignments_target",
        "training_curriculum_assignments",
        ["curriculum_id", "target", "value"],
        unique=True,
    )
    op.create_table(
        "training_curriculum_courses",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("curriculum_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["training_courses.id"],
            name=op.f("fk_training_curriculum_courses_course_id_training_courses"),
        ),
        sa.ForeignKeyConstraint(
            ["curriculum_id"],
            ["training_curricula.id"],
            name=op.f("fk_training_curriculum_courses_curriculum_id_training_curricula"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_curriculum_courses")),
    )
    op.create_index(
        "ix_training_curriculum_courses_course_id", "training_curriculum_courses", ["course_id"], unique=False
    )
    op.create_index(
        "uq_training_curriculum_courses_pair",
        "training_curriculum_courses",
        ["curriculum_id", "course_id"],
        unique=True,
    )
    op.create_table(
        "training_plan_items",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("planned_sessions", sa.Integer(), nullable=False),
        sa.Column("planned_month", sa.Integer(), nullable=True),
        sa.Column("audience", sa.String(length=256), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "planned_month IS NULL OR (planned_month >= 1 AND planned_month <= 12)",
            name=op.f("ck_training_plan_items_month"),
        ),
        sa.CheckConstraint("planned_sessions >= 1", name=op.f("ck_training_plan_items_planned_sessions")),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["training_courses.id"],
            name=op.f("fk_training_plan_items_course_id_training_courses"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["training_plans.id"], name=op.f("fk_training_plan_items_plan_id_training_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_plan_items")),
    )
    op.create_index(
        "uq_training_plan_items_pair", "training_plan_items", ["plan_id", "course_id"], unique=True
    )
    op.create_table(
        "training_questions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("answer_key", sa.JSON(), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('single', 'multiple', 'true_false')", name=op.f("ck_training_questions_kind")
        ),
        sa.CheckConstraint("length(text) >= 2", name=op.f("ck_training_questions_text_length")),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["training_courses.id"],
            name=op.f("fk_training_questions_course_id_training_courses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_questions")),
    )
    op.create_index("ix_training_questions_course_id", "training_questions", ["course_id"], unique=False)
    op.create_table(
        "training_sessions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("hours", sa.Numeric(precision=4, scale=1), nullable=False),
        sa.Column("trainer_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("place", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "status IN ('planned', 'held', 'cancelled')", name=op.f("ck_training_sessions_status")
        ),
        sa.CheckConstraint("hours > 0 AND hours <= 24", name=op.f("ck_training_sessions_hours")),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_training_sessions_code_length")),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["training_courses.id"],
            name=op.f("fk_training_sessions_course_id_training_courses"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["training_plans.id"], name=op.f("fk_training_sessions_plan_id_training_plans")
        ),
        sa.ForeignKeyConstraint(
            ["trainer_user_id"], ["users.id"], name=op.f("fk_training_sessions_trainer_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_sessions")),
        sa.UniqueConstraint("code", name=op.f("uq_training_sessions_code")),
    )
    op.create_index("ix_training_sessions_course_id", "training_sessions", ["course_id"], unique=False)
    op.create_table(
        "training_assessments",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("trainee_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("trainer_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("question_ids", sa.JSON(), nullable=False),
        sa.Column("started_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "kind <> 'practical' OR (trainer_user_id IS NOT NULL AND trainer_user_id <> trainee_user_id)",
            name=op.f("ck_training_assessments_practical_trainer"),
        ),
        sa.CheckConstraint("kind IN ('written', 'practical')", name=op.f("ck_training_assessments_kind")),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["training_courses.id"],
            name=op.f("fk_training_assessments_course_id_training_courses"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["training_sessions.id"],
            name=op.f("fk_training_assessments_session_id_training_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["trainee_user_id"], ["users.id"], name=op.f("fk_training_assessments_trainee_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["trainer_user_id"], ["users.id"], name=op.f("fk_training_assessments_trainer_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_assessments")),
    )
    op.create_index(
        "ix_training_assessments_trainee",
        "training_assessments",
        ["trainee_user_id", "course_id"],
        unique=False,
    )
    op.create_table(
        "training_attendance",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=True),
        sa.Column("recorded_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "present IS NULL OR recorded_at IS NOT NULL", name=op.f("ck_training_attendance_recorded")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["training_sessions.id"],
            name=op.f("fk_training_attendance_session_id_training_sessions"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_training_attendance_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_attendance")),
    )
    op.create_index(
        "uq_training_attendance_pair", "training_attendance", ["session_id", "user_id"], unique=True
    )
    op.create_table(
        "training_effectiveness",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("evaluator_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "method IN ('written_test', 'observation', 'interview', 'questionnaire', 'performance_review')",
            name=op.f("ck_training_effectiveness_method"),
        ),
        sa.CheckConstraint(
            "result IN ('effective', 'partially_effective', 'not_effective')",
            name=op.f("ck_training_effectiveness_result"),
        ),
        sa.CheckConstraint("length(outcome) >= 2", name=op.f("ck_training_effectiveness_outcome_length")),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["training_courses.id"],
            name=op.f("fk_training_effectiveness_course_id_training_courses"),
        ),
        sa.ForeignKeyConstraint(
            ["evaluator_user_id"],
            ["users.id"],
            name=op.f("fk_training_effectiveness_evaluator_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["training_sessions.id"],
            name=op.f("fk_training_effectiveness_session_id_training_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_effectiveness")),
    )
    op.create_index(
        "ix_training_effectiveness_course_id", "training_effectiveness", ["course_id"], unique=False
    )
    op.create_table(
        "training_assessment_attempts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("assessment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("score", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("pass_mark", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("submitted_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "pass_mark IS NULL OR (pass_mark >= 0 AND pass_mark <= 100)",
            name=op.f("ck_training_assessment_attempts_pass_mark"),
        ),
        sa.CheckConstraint(
            "pass_mark IS NULL OR score IS NULL OR passed = (score >= pass_mark)",
            name=op.f("ck_training_assessment_attempts_passed_by_mark"),
        ),
        sa.CheckConstraint(
            "score IS NULL OR (score >= 0 AND score <= 100)",
            name=op.f("ck_training_assessment_attempts_score"),
        ),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["training_assessments.id"],
            name=op.f("fk_training_assessment_attempts_assessment_id_training_assessments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_assessment_attempts")),
        sa.UniqueConstraint("assessment_id", name=op.f("uq_training_assessment_attempts_assessment_id")),
    )
    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in (
        "training_effectiveness",
        "training_assessment_attempts",
        "training_assessments",
        "training_questions",
        "training_attendance",
        "training_sessions",
        "training_plan_items",
        "training_plans",
        "training_curriculum_assignments",
        "training_curriculum_courses",
        "training_curricula",
        "training_courses",
    ):
        op.drop_table(table)
