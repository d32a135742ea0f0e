"""trace shipments: the codes picked onto a shipment (issue 10 item 4)

Revision ID: 0036
Revises: 0035
Create Date: 2026-11-29
"""

from __future__ import annotations

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
