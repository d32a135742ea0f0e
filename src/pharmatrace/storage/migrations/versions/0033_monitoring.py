"""integrated monitoring: data sources, tags and the historian (SH-8.4.1, SH-8.4.3, TJ-10.1.3.3)

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-29
"""

from __future__ import annotations

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
