"""training needs, tasks, records, qualification gates (SH-6.3.4, TJ-10.1.2.2.d)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

from pharmatrace.storage import guards

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    guards.grant_app_role()


def downgrade() -> None:
    pass
