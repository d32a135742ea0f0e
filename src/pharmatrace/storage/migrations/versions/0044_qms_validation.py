"""Validation: plans, protocols with acceptance criteria, execution results, reports and status; equipment qualification (issue 9 item 10)

Revision ID: 0044
Revises: 0043
Create Date: 2026-11-30
"""

from __future__ import annotations

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
