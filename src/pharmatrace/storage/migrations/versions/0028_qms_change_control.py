"""QMS change control: change requests, impact and risk assessment, affected items, signed decisions, tasks
(TJ-10.3, SH-6.2.4)

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

# The change, its assessment, its items and its tasks change along the lifecycle; voided or cancelled, never deleted.
TABLES = ("qms_changes", "qms_change_impacts", "qms_change_items", "qms_change_tasks")
# The signed approvals, the rejections and the closure: never changed, never deleted.
APPEND_ONLY = ("qms_change_decisions",)


def upgrade() -> None:
    op.create_table(
        "qms_changes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("change_type", sa.String(length=24), nullable=False),
        sa.Column("change_class", sa.String(length=16), nullable=True),
        sa.Column("suggested_class", sa.String(length=16), nullable=True),
        sa.Column("class_rationale", sa.String(length=1000), nullable=False),
        sa.Column("fmea_ref", sa.String(length=128), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=False),
        sa.Column("proposer_id", ID, nullable=False),
        sa.Column("proposer", sa.String(length=64), nullable=False),
        sa.Column("proposer_name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("submitted_at", WHEN, nullable=True),
        sa.Column("approved_at", WHEN, nullable=True),
        sa.Column("implementation_at", WHEN, nullable=True),
        sa.Column("verification_at", WHEN, nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("rejected_at", WHEN, nullable=True),
        sa.Column("reject_reason", sa.String(length=1000), nullable=False),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancel_reason", sa.String(length=1000), nullable=False),
        sa.CheckConstraint(
            "change_class IS NULL OR change_class IN ('minor', 'moderate', 'major')",
            name=op.f("ck_qms_changes_change_class"),
        ),
        sa.CheckConstraint(
            "change_type IN ('process', 'equipment', 'facility', 'document', 'material', 'supplier', 'specification', 'analytical_method', 'computerized_system', 'other')",
            name=op.f("ck_qms_changes_change_type"),
        ),
        sa.CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND length(cancel_reason) >= 2)",
            name=op.f("ck_qms_changes_cancelled"),
        ),
        sa.CheckConstraint(
            "status <> 'closed' OR (closed_at IS NOT NULL AND closed_by IS NOT NULL)",
            name=op.f("ck_qms_changes_closed"),
        ),
        sa.CheckConstraint(
            "status <> 'rejected' OR (rejected_at IS NOT NULL AND length(reject_reason) >= 2)",
            name=op.f("ck_qms_changes_rejected"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'cancelled') OR (change_class IS NOT NULL AND suggested_class IS NOT NULL AND submitted_at IS NOT NULL AND length(content_sm3) = 64)",
            name=op.f("ck_qms_changes_submitted"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'in_implementation', 'verification', 'closed', 'rejected', 'cancelled')",
            name=op.f("ck_qms_changes_status"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('approved', 'in_implementation', 'verification', 'closed') OR approved_at IS NOT NULL",
            name=op.f("ck_qms_changes_approved"),
        ),
        sa.CheckConstraint(
            "suggested_class IS NULL OR suggested_class IN ('minor', 'moderate', 'major')",
            name=op.f("ck_qms_changes_suggested_class"),
        ),
        sa.CheckConstraint(
            "change_class IS NULL OR suggested_class IS NULL OR change_class = suggested_class OR length(class_rationale) >= 2",
            name=op.f("ck_qms_changes_class_override"),
        ),
        sa.CheckConstraint("length(description) >= 2", name=op.f("ck_qms_changes_description")),
        sa.CheckConstraint("length(justification) >= 2", name=op.f("ck_qms_changes_justification")),
        sa.CheckConstraint("length(number) >= 12", name=op.f("ck_qms_changes_number_length")),
        sa.CheckConstraint("length(title) >= 2", name=op.f("ck_qms_changes_title")),
        sa.ForeignKeyConstraint(["proposer_id"], ["users.id"], name=op.f("fk_qms_changes_proposer_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_changes")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_changes_number")),
    )
    op.create_index("ix_qms_changes_status", "qms_changes", ["status"], unique=False)
    op.create_table(
        "qms_change_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("change_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("function", sa.String(length=16), nullable=True),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("effective", sa.Boolean(), nullable=True),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by_id", ID, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "(kind = 'close' AND function IS NULL) OR (kind <> 'close' AND function IN ('qa', 'production', 'qc', 'system_owner'))",
            name=op.f("ck_qms_change_decisions_function"),
        ),
        sa.CheckConstraint(
            "kind <> 'close' OR (effective = true AND length(comment) >= 2)",
            name=op.f("ck_qms_change_decisions_close"),
        ),
        sa.CheckConstraint(
            "kind <> 'reject' OR length(comment) >= 2", name=op.f("ck_qms_change_decisions_reject_reason")
        ),
        sa.CheckConstraint(
            "kind IN ('approve', 'reject', 'close')", name=op.f("ck_qms_change_decisions_kind")
        ),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_qms_change_decisions_content_sm3")),
        sa.ForeignKeyConstraint(
            ["change_id"], ["qms_changes.id"], name=op.f("fk_qms_change_decisions_change_id_qms_changes")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_qms_change_decisions_decided_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_change_decisions")),
    )
    op.create_index(
        "uq_qms_change_decisions_close",
        "qms_change_decisions",
        ["change_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'close'"),
        postgresql_where=sa.text("kind = 'close'"),
    )
    op.create_index(
        "uq_qms_change_decisions_function",
        "qms_change_decisions",
        ["change_id", "function"],
        unique=True,
        sqlite_where=sa.text("function IS NOT NULL"),
        postgresql_where=sa.text("function IS NOT NULL"),
    )
    op.create_table(
        "qms_change_impacts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("change_id", ID, nullable=False),
        sa.Column("area", sa.String(length=24), nullable=False),
        sa.Column("impact", sa.Boolean(), nullable=False),
        sa.Column("risk", sa.String(length=8), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.CheckConstraint(
            "area IN ('product_quality', 'regulatory', 'validation', 'stability', 'documents', 'training', 'computerized_systems', 'supply')",
            name=op.f("ck_qms_change_impacts_area"),
        ),
        sa.CheckConstraint("risk IN ('low', 'medium', 'high')", name=op.f("ck_qms_change_impacts_risk")),
        sa.CheckConstraint(
            "impact = false OR length(comment) >= 2", name=op.f("ck_qms_change_impacts_comment")
        ),
        sa.ForeignKeyConstraint(
            ["change_id"], ["qms_changes.id"], name=op.f("fk_qms_change_impacts_change_id_qms_changes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_change_impacts")),
    )
    op.create_index("uq_qms_change_impacts_area", "qms_change_impacts", ["change_id", "area"], unique=True)
    op.create_table(
        "qms_change_items",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("change_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.CheckConstraint(
            "kind IN ('document', 'recipe', 'equipment', 'specification', 'validation', 'system_component')",
            name=op.f("ck_qms_change_items_kind"),
        ),
        sa.CheckConstraint("length(reference) >= 2", name=op.f("ck_qms_change_items_reference")),
        sa.ForeignKeyConstraint(
            ["change_id"], ["qms_changes.id"], name=op.f("fk_qms_change_items_change_id_qms_changes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_change_items")),
    )
    op.create_index(
        "uq_qms_change_items_active",
        "qms_change_items",
        ["change_id", "kind", "reference"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL"),
        postgresql_where=sa.text("voided_at IS NULL"),
    )
    op.create_table(
        "qms_change_tasks",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("change_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("owner_name", sa.String(length=128), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("done_at", WHEN, nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("evidence", sa.String(length=2000), nullable=False),
        sa.Column("validation_ref", sa.String(length=128), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=False),
        sa.CheckConstraint(
            "kind <> 'validation' OR done_at IS NULL OR length(validation_ref) >= 2",
            name=op.f("ck_qms_change_tasks_validated"),
        ),
        sa.CheckConstraint("kind IN ('action', 'validation')", name=op.f("ck_qms_change_tasks_kind")),
        sa.CheckConstraint(
            "(done_at IS NULL AND done_by IS NULL) OR (done_at IS NOT NULL AND done_by IS NOT NULL AND length(evidence) >= 2)",
            name=op.f("ck_qms_change_tasks_done"),
        ),
        sa.CheckConstraint("length(title) >= 2", name=op.f("ck_qms_change_tasks_title")),
        sa.CheckConstraint(
            "voided_at IS NULL OR length(void_reason) >= 2", name=op.f("ck_qms_change_tasks_voided")
        ),
        sa.ForeignKeyConstraint(
            ["change_id"], ["qms_changes.id"], name=op.f("fk_qms_change_tasks_change_id_qms_changes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_change_tasks")),
    )
    op.create_index("uq_qms_change_tasks_seq", "qms_change_tasks", ["change_id", "seq"], unique=True)

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in (
        "qms_change_tasks",
        "qms_change_decisions",
        "qms_change_items",
        "qms_change_impacts",
        "qms_changes",
    ):
        op.drop_table(table)
