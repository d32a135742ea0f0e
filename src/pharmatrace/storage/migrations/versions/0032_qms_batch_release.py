"""batch release: the checklist snapshot and the qualified person's decision (TJ-6.3.4, TJ-6.4.7, TJ-9.1)

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "qms_release_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("batch_order_id", ID, nullable=False),
        sa.Column("batch_no", sa.String(length=32), nullable=False),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("lot_id", ID, nullable=True),
        sa.Column("lot_status", sa.String(length=16), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "decision IN ('release', 'reject', 'quarantine')", name=op.f("ck_qms_release_decisions_decision")
        ),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_qms_release_decisions_content_sm3")),
        sa.CheckConstraint(
            "decision = 'release' OR length(reason) >= 2", name=op.f("ck_qms_release_decisions_reason")
        ),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_qms_release_decisions_batch_order_id_batch_orders"),
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_qms_release_decisions_lot_id_lots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_release_decisions")),
    )
    op.create_index("ix_qms_release_decisions_batch_order_id", "qms_release_decisions", ["batch_order_id"])
    guards.append_only("qms_release_decisions")
    guards.uow_only("qms_release_decisions")
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table("qms_release_decisions")
