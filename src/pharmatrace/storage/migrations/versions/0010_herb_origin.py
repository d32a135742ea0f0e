"""herbal-material origin: planting bases, plots, cultivation, harvest, processing, shipment (TJ-5.1)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op  # noqa: F401

from pharmatrace.storage import guards

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    guards.grant_app_role()


def downgrade() -> None:
    pass
