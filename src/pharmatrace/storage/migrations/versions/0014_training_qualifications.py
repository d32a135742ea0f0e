"""training needs, tasks, records, qualification gates, access requests (SH-6.3.4, TJ-10.1.2.2.d)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = pharmatrace.storage.base.UTCDateTime

# Voided (or decided), never deleted; written only through the unit of work.
TABLES = ("training_needs", "training_tasks", "qualification_requirements", "access_requests")
APPEND_ONLY = ("training_records",)  # a record is never changed: a wrong one is answered by a new one


def upgrade() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("role_id", _ID, nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", _AT(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", _AT(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "(status = 'pending' AND decided_at IS NULL AND decided_by IS NULL)"
            " OR (status <> 'pending' AND decided_at IS NOT NULL AND decided_by IS NOT NULL)",
            name=op.f("ck_access_requests_decision"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name=op.f("ck_access_requests_status")
        ),
        sa.CheckConstraint("length(justification) >= 5", name=op.f("ck_access_requests_justification")),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], name=op.f("fk_access_requests_role_id_roles")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_access_requests_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
    )
    op.create_index("ix_access_requests_status", "access_requests", ["status"], unique=False)
    op.create_index("ix_access_requests_user_id", "access_requests", ["user_id"], unique=False)
    op.create_index(
        "uq_access_requests_pending",
        "access_requests",
        ["user_id", "role_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "qualification_requirements",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("permission", sa.String(length=64), nullable=False),
        sa.Column("document_number", sa.String(length=64), nullable=False),
        sa.Column("created_at", _AT(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", _AT(timezone=True), nullable=True),
        sa.CheckConstraint(
            "length(document_number) >= 1", name=op.f("ck_qualification_requirements_document_number")
        ),
        sa.ForeignKeyConstraint(
            ["permission"],
            ["permissions.code"],
            name=op.f("fk_qualification_requirements_permission_permissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualification_requirements")),
    )
    op.create_index(
        "uq_qualification_requirements_live",
        "qualification_requirements",
        ["permission", "document_number"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL"),
        postgresql_where=sa.text("voided_at IS NULL"),
    )
    op.create_table(
        "training_needs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("document_number", sa.String(length=64), nullable=True),
        sa.Column("course_id", _ID, nullable=True),
        sa.Column("created_at", _AT(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", _AT(timezone=True), nullable=True),
        sa.CheckConstraint(
            "subject_kind IN ('role', 'position', 'department')", name=op.f("ck_training_needs_subject_kind")
        ),
        sa.CheckConstraint(
            "(document_number IS NULL) <> (course_id IS NULL)",
            name=op.f("ck_training_needs_document_or_course"),
        ),
        sa.CheckConstraint("length(subject) >= 1", name=op.f("ck_training_needs_subject")),
        sa.ForeignKeyConstraint(
            ["course_id"], ["training_courses.id"], name=op.f("fk_training_needs_course_id_training_courses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_needs")),
    )
    op.create_index("ix_training_needs_subject", "training_needs", ["subject_kind", "subject"], unique=False)
    op.create_table(
        "training_records",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("document_version_id", _ID, nullable=True),
        sa.Column("course_id", _ID, nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Numeric(precision=6, scale=2), nullable=True),
        sa.Column("trainer_user_id", _ID, nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("completed_at", _AT(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "method IN ('self_study', 'classroom', 'on_the_job', 'assessment', 'external')",
            name=op.f("ck_training_records_method"),
        ),
        sa.CheckConstraint(
            "document_version_id IS NOT NULL OR course_id IS NOT NULL",
            name=op.f("ck_training_records_subject"),
        ),
        sa.CheckConstraint("length(evidence) >= 1", name=op.f("ck_training_records_evidence")),
        sa.CheckConstraint(
            "score IS NULL OR (score >= 0 AND score <= 100)", name=op.f("ck_training_records_score")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["training_courses.id"],
            name=op.f("fk_training_records_course_id_training_courses"),
        ),
        sa.ForeignKeyConstraint(
            ["document_version_id"],
            ["document_versions.id"],
            name=op.f("fk_training_records_document_version_id_document_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["trainer_user_id"], ["users.id"], name=op.f("fk_training_records_trainer_user_id_users")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_training_records_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_records")),
    )
    op.create_index(
        "ix_training_records_document_version_id", "training_records", ["document_version_id"], unique=False
    )
    op.create_index("ix_training_records_user_id", "training_records", ["user_id"], unique=False)
    op.create_table(
        "training_tasks",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("document_version_id", _ID, nullable=True),
        sa.Column("document_number", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("course_id", _ID, nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("due_at", _AT(timezone=True), nullable=False),
        sa.Column("created_at", _AT(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", _AT(timezone=True), nullable=True),
        sa.CheckConstraint(
            "source IN ('version_approved', 'need_added', 'role_granted', 'access_request')",
            name=op.f("ck_training_tasks_source"),
        ),
        sa.CheckConstraint(
            "(document_version_id IS NOT NULL AND document_number IS NOT NULL AND version IS NOT NULL)"
            " OR (document_version_id IS NULL AND course_id IS NOT NULL)",
            name=op.f("ck_training_tasks_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["training_courses.id"], name=op.f("fk_training_tasks_course_id_training_courses")
        ),
        sa.ForeignKeyConstraint(
            ["document_version_id"],
            ["document_versions.id"],
            name=op.f("fk_training_tasks_document_version_id_document_versions"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_training_tasks_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_tasks")),
    )
    op.create_index(
        "ix_training_tasks_document_version_id", "training_tasks", ["document_version_id"], unique=False
    )
    op.create_index("ix_training_tasks_user_id", "training_tasks", ["user_id"], unique=False)
    op.create_index(
        "uq_training_tasks_user_version",
        "training_tasks",
        ["user_id", "document_version_id"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL AND document_version_id IS NOT NULL"),
        postgresql_where=sa.text("voided_at IS NULL AND document_version_id IS NOT NULL"),
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
        "training_tasks",
        "training_records",
        "training_needs",
        "qualification_requirements",
        "access_requests",
    ):
        op.drop_table(table)
