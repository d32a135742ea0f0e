"""batch release: the checklist snapshot and the qualified person's decision (TJ-6.3.4, TJ-6.4.7, TJ-9.1)

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-29
"""

from __future__ import annotations

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
