"""Closed complaints and recalls are frozen in the database (SH-6.2.4, SH-7.1.3.c)

Until now only the service refused to change a complaint or a recall once it was closed or cancelled; a raw
UPDATE went through (and only ``ledger verify`` would have named it). A trigger now refuses it on SQLite and
PostgreSQL, as the signed decisions that closed them are append-only.

Revision ID: 0043
Revises: 0042
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

from pharmatrace.storage import guards

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

FROZEN = ("qms_complaints", "qms_recalls")
CONDITION = "OLD.status IN ('closed', 'cancelled')"


def upgrade() -> None:
    for table in FROZEN:
        guards.frozen_when(table, CONDITION, "closed records are frozen")


def downgrade() -> None:
    for table in FROZEN:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_frozen ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_frozen")
