"""clock management: NTP offset checks and alarms (SH-7.1.5)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clock_checks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("checked_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("offset_ms", sa.Float(), nullable=True),
        sa.Column("delay_ms", sa.Float(), nullable=True),
        sa.Column("stratum", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('ok', 'alarm', 'unreachable')", name=op.f("ck_clock_checks_status")),
        sa.CheckConstraint(
            "(status = 'unreachable' AND offset_ms IS NULL) OR (status <> 'unreachable' AND offset_ms IS NOT NULL)",
            name=op.f("ck_clock_checks_offset_when_answered"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clock_checks")),
    )
    with op.batch_alter_table("clock_checks", schema=None) as batch_op:
        batch_op.create_index("ix_clock_checks_checked_at", ["checked_at"], unique=False)
        batch_op.create_index("ix_clock_checks_server", ["server", "id"], unique=False)

    guards.append_only("clock_checks")  # SH-7.1.5: recorded clock evidence is never changed


def downgrade() -> None:
    # Dropping the table drops its append-only triggers with it, on both databases.
    with op.batch_alter_table("clock_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_clock_checks_server")
        batch_op.drop_index("ix_clock_checks_checked_at")
    op.drop_table("clock_checks")
