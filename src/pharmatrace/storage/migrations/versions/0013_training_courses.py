"""curricula, plans, courses, sessions, assessments (TJ-9.3)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

from pharmatrace.storage import guards

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    guards.grant_app_role()


def downgrade() -> None:
    pass
