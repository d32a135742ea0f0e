"""QA review by exception and the hand-over to release (TJ-6.4.7)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batch_reviews",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("batch_order_id", ID, nullable=False),
        sa.Column("batch_no", sa.String(length=32), nullable=False),
        sa.Column("covers_sm3", sa.String(length=64), nullable=False),
        sa.Column("exceptions_total", sa.Integer(), nullable=False),
        sa.Column("reviewed_at", WHEN, nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=False),
        sa.Column("reviewed_by_name", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.CheckConstraint("length(covers_sm3) = 64", name=op.f("ck_batch_reviews_covers_sm3")),
        sa.CheckConstraint("exceptions_total >= 0", name=op.f("ck_batch_reviews_exceptions_total")),
        sa.CheckConstraint("length(reviewed_by) > 0", name=op.f("ck_batch_reviews_reviewed_by")),
        sa.ForeignKeyConstraint(
            ["batch_order_id"], ["batch_orders.id"], name=op.f("fk_batch_reviews_batch_order_id_batch_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_reviews")),
        sa.UniqueConstraint("batch_order_id", name=op.f("uq_batch_reviews_batch_order_id")),
    )
    # The signed review is never changed or removed (append_only refuses the delete too) (TJ-6.4.7, TJ-10.2), written only through the UoW.
    guards.append_only("batch_reviews")
    guards.uow_only("batch_reviews")
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table("batch_reviews")
