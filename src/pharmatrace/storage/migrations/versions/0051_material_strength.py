"""A material's strength (规格), e.g. ``200 mg/支``: master data the public verification page shows (NMPAB/T 1002)

Until now the strength was read from the end of the product's name. Existing materials get an empty strength: a
migration does not guess one; the material's owner records it.

Revision ID: 0051
Revises: 0050
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One statement on both dialects (SQLite adds the column and keeps the table's triggers).
    op.execute("ALTER TABLE materials ADD COLUMN strength VARCHAR(64) DEFAULT '' NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE materials DROP COLUMN strength")  # SQLite ≥ 3.35 keeps its triggers
