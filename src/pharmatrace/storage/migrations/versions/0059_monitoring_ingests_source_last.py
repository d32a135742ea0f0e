"""An index of each source's ingests by their last source time, for the ingest's duplicate check (SH-8.4.3)

Every stored value of a source lies within the source-time range of the ingest that stored it. An ingest asks
whether an earlier ingest of its source met its own range (``source_id = ? AND last_source_time >= first AND
first_source_time <= last``); only then does it look for values already stored. New values are newer than
everything: the index answers with nothing at once, where the look itself probed the raw values' unique key once per
tag (5,000 scattered probes a scan, slower as the table grows).

Revision ID: 0059
Revises: 0058
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0059"
down_revision = "0058"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_monitoring_ingests_source_last", "monitoring_ingests", ["source_id", "last_source_time"]
    )


def downgrade() -> None:
    op.drop_index("ix_monitoring_ingests_source_last", table_name="monitoring_ingests")
