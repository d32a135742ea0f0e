"""PostgreSQL application role: owns nothing; INSERT/SELECT only on the trail and the ledger (SH-7.1.3.c)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from pharmatrace.storage import guards

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    guards.grant_app_role()


def downgrade() -> None:
    pass
