"""QA review by exception and the hand-over to release (TJ-6.4.7)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29
"""

from __future__ import annotations

from pharmatrace.storage import guards

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    guards.grant_app_role()


def downgrade() -> None:
    pass
