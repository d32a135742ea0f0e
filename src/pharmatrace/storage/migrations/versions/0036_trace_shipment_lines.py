"""trace shipments: the codes picked onto a shipment (issue 10 item 4)

Revision ID: 0036
Revises: 0035
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)
TABLE = "trace_shipment_picks"
UNPICKED = (
    "(status = 'unpicked') = (unpicked_at IS NOT NULL) AND (unpicked_at IS NULL) = (unpicked_by IS NULL) "
    "AND (unpicked_at IS NULL) = (unpick_reason IS NULL) AND (unpick_reason IS NULL OR length(unpick_reason) >= 2)"
)


def upgrade() -> None:
    t = TABLE
    op.create_table(
        t,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("shipment_id", ID, nullable=False),
        sa.Column("code_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("picked_at", WHEN, nullable=False),
        sa.Column("picked_by", sa.String(length=64), nullable=False),
        sa.Column("unpicked_at", WHEN, nullable=True),
        sa.Column("unpicked_by", sa.String(length=64), nullable=True),
        sa.Column("unpick_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint("status IN ('picked', 'shipped', 'unpicked')", name=op.f(f"ck_{t}_status")),
        sa.CheckConstraint(UNPICKED, name=op.f(f"ck_{t}_unpicked")),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["trace_shipments.id"], name=op.f(f"fk_{t}_shipment_id_trace_shipments")
        ),
        sa.ForeignKeyConstraint(["code_id"], ["trace_codes.id"], name=op.f(f"fk_{t}_code_id_trace_codes")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
    )
    op.create_index("ix_trace_shipment_picks_shipment", t, ["shipment_id", "status"])
    op.create_index(
        "uq_trace_shipment_picks_open_code", t, ["code_id"], unique=True,
        sqlite_where=sa.text("status = 'picked'"), postgresql_where=sa.text("status = 'picked'"),
    )  # fmt: skip
    guards.no_delete(t)
    guards.uow_only(t)
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table(TABLE)
