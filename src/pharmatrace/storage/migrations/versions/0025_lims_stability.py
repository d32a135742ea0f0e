"""LIMS stability studies: protocols, chambers, pull points (SH-6.2.3)

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


# The protocol and its batches change while a draft, then only their status: voided or cancelled, never deleted.
TABLES = ("lims_stability_studies", "lims_stability_batches")
# The signed approval, the placements and the pulls: never changed, never deleted.
APPEND_ONLY = ("lims_stability_approvals", "lims_stability_placements", "lims_stability_pulls")


def upgrade() -> None:
    op.create_table(
        "lims_stability_studies",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("material_id", ID, nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("material_name", sa.String(length=128), nullable=False),
        sa.Column("study_type", sa.String(length=16), nullable=False),
        sa.Column("condition", sa.String(length=128), nullable=False),
        sa.Column("chamber_id", ID, nullable=False),
        sa.Column("chamber_code", sa.String(length=32), nullable=False),
        sa.Column("spec_code", sa.String(length=32), nullable=False),
        sa.Column("spec_version", sa.Integer(), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("pull_months", sa.Text(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("pull_quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("protocol_document", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("edited_at", WHEN, nullable=True),
        sa.Column("edited_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", WHEN, nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "pull_months <> '[]' AND attributes <> '[]'",
            name=op.f("ck_lims_stability_studies_protocol_lists"),
        ),
        sa.CheckConstraint(
            "status <> 'approved' OR (approved_at IS NOT NULL AND approved_by IS NOT NULL)",
            name=op.f("ck_lims_stability_studies_approved"),
        ),
        sa.CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND length(cancel_reason) >= 2)",
            name=op.f("ck_lims_stability_studies_cancelled"),
        ),
        sa.CheckConstraint(
            "status <> 'draft' OR approved_at IS NULL",
            name=op.f("ck_lims_stability_studies_draft_unapproved"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'cancelled')", name=op.f("ck_lims_stability_studies_status")
        ),
        sa.CheckConstraint(
            "study_type IN ('long_term', 'accelerated', 'intermediate', 'ongoing')",
            name=op.f("ck_lims_stability_studies_study_type"),
        ),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_lims_stability_studies_code_length")),
        sa.CheckConstraint("length(condition) >= 1", name=op.f("ck_lims_stability_studies_condition")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_lims_stability_studies_content_sm3")),
        sa.CheckConstraint("length(title) >= 1", name=op.f("ck_lims_stability_studies_title")),
        sa.CheckConstraint("pull_quantity > 0", name=op.f("ck_lims_stability_studies_pull_quantity")),
        sa.CheckConstraint("spec_version >= 1", name=op.f("ck_lims_stability_studies_spec_version")),
        sa.CheckConstraint(
            "window_days >= 0 AND window_days <= 60", name=op.f("ck_lims_stability_studies_window_days")
        ),
        sa.ForeignKeyConstraint(
            ["chamber_id"], ["equipment.id"], name=op.f("fk_lims_stability_studies_chamber_id_equipment")
        ),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_lims_stability_studies_material_id_materials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_stability_studies")),
        sa.UniqueConstraint("code", name=op.f("uq_lims_stability_studies_code")),
    )
    op.create_index(
        "ix_lims_stability_studies_material_id", "lims_stability_studies", ["material_id"], unique=False
    )
    op.create_index("ix_lims_stability_studies_status", "lims_stability_studies", ["status"], unique=False)
    op.create_table(
        "lims_stability_approvals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("study_id", ID, nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("approved_at", WHEN, nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=False),
        sa.Column("approved_by_name", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_lims_stability_approvals_content_sm3")),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["lims_stability_studies.id"],
            name=op.f("fk_lims_stability_approvals_study_id_lims_stability_studies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_stability_approvals")),
    )
    op.create_index(
        "uq_lims_stability_approvals_study_id", "lims_stability_approvals", ["study_id"], unique=True
    )
    op.create_table(
        "lims_stability_batches",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("study_id", ID, nullable=False),
        sa.Column("batch_no", sa.String(length=32), nullable=False),
        sa.Column("lot_id", ID, nullable=True),
        sa.Column("batch_order_id", ID, nullable=True),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.CheckConstraint(
            "(lot_id IS NULL) <> (batch_order_id IS NULL)",
            name=op.f("ck_lims_stability_batches_lot_or_order"),
        ),
        sa.CheckConstraint("length(batch_no) >= 1", name=op.f("ck_lims_stability_batches_batch_no")),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_lims_stability_batches_batch_order_id_batch_orders"),
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_lims_stability_batches_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["lims_stability_studies.id"],
            name=op.f("fk_lims_stability_batches_study_id_lims_stability_studies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_stability_batches")),
    )
    op.create_index(
        "uq_lims_stability_batches_active",
        "lims_stability_batches",
        ["study_id", "batch_no"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL"),
        postgresql_where=sa.text("voided_at IS NULL"),
    )
    op.create_table(
        "lims_stability_placements",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("study_id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("sample_id", ID, nullable=True),
        sa.Column("sample_code", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("chamber_id", ID, nullable=False),
        sa.Column("chamber_code", sa.String(length=32), nullable=False),
        sa.Column("position", sa.String(length=128), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("placed_at", WHEN, nullable=False),
        sa.Column("placed_by", sa.String(length=64), nullable=False),
        sa.Column("placed_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("length(position) >= 1", name=op.f("ck_lims_stability_placements_position")),
        sa.CheckConstraint("length(sample_code) >= 2", name=op.f("ck_lims_stability_placements_sample_code")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_lims_stability_placements_quantity")),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["lims_stability_batches.id"],
            name=op.f("fk_lims_stability_placements_batch_id_lims_stability_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["chamber_id"], ["equipment.id"], name=op.f("fk_lims_stability_placements_chamber_id_equipment")
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["lims_samples.id"],
            name=op.f("fk_lims_stability_placements_sample_id_lims_samples"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["lims_stability_studies.id"],
            name=op.f("fk_lims_stability_placements_study_id_lims_stability_studies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_stability_placements")),
        sa.UniqueConstraint("sample_code", name=op.f("uq_lims_stability_placements_sample_code")),
    )
    op.create_index(
        "ix_lims_stability_placements_batch_id", "lims_stability_placements", ["batch_id"], unique=False
    )
    op.create_index(
        "ix_lims_stability_placements_study_id", "lims_stability_placements", ["study_id"], unique=False
    )
    op.create_table(
        "lims_stability_pulls",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("study_id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("placement_id", ID, nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("window_from", sa.Date(), nullable=False),
        sa.Column("window_to", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=False),
        sa.Column("order_id", ID, nullable=True),
        sa.Column("order_code", sa.String(length=32), nullable=True),
        sa.Column("pulled_at", WHEN, nullable=False),
        sa.Column("pulled_by", sa.String(length=64), nullable=False),
        sa.Column("pulled_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("months >= 0 AND months <= 120", name=op.f("ck_lims_stability_pulls_months")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_lims_stability_pulls_quantity")),
        sa.CheckConstraint(
            "window_from <= due_date AND due_date <= window_to", name=op.f("ck_lims_stability_pulls_window")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["lims_stability_batches.id"],
            name=op.f("fk_lims_stability_pulls_batch_id_lims_stability_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["lims_test_orders.id"],
            name=op.f("fk_lims_stability_pulls_order_id_lims_test_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["lims_stability_placements.id"],
            name=op.f("fk_lims_stability_pulls_placement_id_lims_stability_placements"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["lims_stability_studies.id"],
            name=op.f("fk_lims_stability_pulls_study_id_lims_stability_studies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_stability_pulls")),
    )
    op.create_index("ix_lims_stability_pulls_study_id", "lims_stability_pulls", ["study_id"], unique=False)
    op.create_index(
        "uq_lims_stability_pulls_point", "lims_stability_pulls", ["batch_id", "months"], unique=True
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
        "lims_stability_pulls",
        "lims_stability_placements",
        "lims_stability_approvals",
        "lims_stability_batches",
        "lims_stability_studies",
    ):
        op.drop_table(table)
