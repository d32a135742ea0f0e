"""locations, stock movements, storage conditions and temperature records (TJ-6.3.3, TJ-6.4.3.6, TJ-5.2.1.2)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op  # noqa: F401

from pharmatrace.storage import guards

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    guards.grant_app_role()


def downgrade() -> None:
    pass
