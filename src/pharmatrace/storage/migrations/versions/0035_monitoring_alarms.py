"""monitoring alarms: rules per tag and alarms with their lifecycle (TJ-6.4.3.4, TJ-6.5)

Revision ID: 0035
Revises: 0034
Create Date: 2026-11-29
"""

from __future__ import annotations

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
