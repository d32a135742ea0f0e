"""Room on each page of the roll-ups for the merges' updates (PostgreSQL; SH-8.4.3, ADR 0026)

Every merge (every 10 s per source) updates the open 1-minute and 1-hour buckets of all the source's tags: 10,000
row versions a merge at 5,000 tags. With full pages each new version goes to another page and every index gets an
entry for it; with half of each page kept free (``fillfactor = 50``) PostgreSQL writes it beside the old one and
leaves the indexes alone (a heap-only tuple, pruned on the page). Measured on one merge of 50,000 raw values into
10,000 buckets: 158–168 ms → 110 ms. Pages written from now on keep the room; SQLite has no such setting.

Revision ID: 0057
Revises: 0056
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0057"
down_revision = "0056"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE monitoring_rollups SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE monitoring_rollups RESET (fillfactor)")
