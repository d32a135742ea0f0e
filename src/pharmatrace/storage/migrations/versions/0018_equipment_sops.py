"""the SOPs of equipment and rooms, shown with their current effective version (TJ-6.1); retraining orders

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "equipment_sops",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("equipment_id", ID, nullable=True),
        sa.Column("room_id", ID, nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("document_number", sa.String(length=32), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.CheckConstraint(
            "(equipment_id IS NOT NULL AND room_id IS NULL) OR (equipment_id IS NULL AND room_id IS NOT NULL)",
            name=op.f("ck_equipment_sops_one_target"),
        ),
        sa.CheckConstraint(
            "purpose IN ('operation', 'cleaning', 'maintenance', 'calibration')",
            name=op.f("ck_equipment_sops_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["document_number"],
            ["documents.number"],
            name=op.f("fk_equipment_sops_document_number_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_equipment_sops_equipment_id_equipment")
        ),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_equipment_sops_room_id_rooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_sops")),
    )
    op.create_index("ix_equipment_sops_equipment_id", "equipment_sops", ["equipment_id"], unique=False)
    op.create_index("ix_equipment_sops_room_id", "equipment_sops", ["room_id"], unique=False)
    op.create_index(
        "uq_equipment_sops_equipment_link",
        "equipment_sops",
        ["equipment_id", "purpose", "document_number"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL AND equipment_id IS NOT NULL"),
        postgresql_where=sa.text("voided_at IS NULL AND equipment_id IS NOT NULL"),
    )
    op.create_index(
        "uq_equipment_sops_room_link",
        "equipment_sops",
        ["room_id", "purpose", "document_number"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL AND room_id IS NOT NULL"),
        postgresql_where=sa.text("voided_at IS NULL AND room_id IS NOT NULL"),
    )
    # Retraining ordered by a deviation or CAPA (training.service.require_retraining).
    op.create_table(
        "training_retraining_orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("document_version_id", ID, nullable=False),
        sa.Column("document_number", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.CheckConstraint("due_at >= created_at", name=op.f("ck_training_retraining_orders_due")),
        sa.CheckConstraint("length(reason) >= 5", name=op.f("ck_training_retraining_orders_reason")),
        sa.CheckConstraint("length(source) >= 2", name=op.f("ck_training_retraining_orders_source")),
        sa.ForeignKeyConstraint(
            ["document_version_id"],
            ["document_versions.id"],
            name=op.f("fk_training_retraining_orders_document_version_id_document_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_training_retraining_orders_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_retraining_orders")),
    )
    op.create_index(
        "ix_training_retraining_orders_user_version",
        "training_retraining_orders",
        ["user_id", "document_version_id"],
        unique=False,
    )
    for table in ("equipment_sops", "training_retraining_orders"):
        guards.no_delete(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table("training_retraining_orders")
    op.drop_table("equipment_sops")
