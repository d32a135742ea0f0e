"""Registration dossiers and contract-manufacturing agreements as controlled records with expiry reminders (issue 9 item 10)

Revision ID: 0045
Revises: 0044
Create Date: 2026-11-30
"""

from __future__ import annotations

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
