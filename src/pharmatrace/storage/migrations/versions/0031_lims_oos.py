"""OOS investigations: phase II, conclusion and closure by QA signature (TJ-7.7, TJ-B.2.4.3)

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-29
"""

from __future__ import annotations

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
