"""Historian roll-ups merged every few seconds instead of at every ingest (SH-8.4.3, ADR 0026)

* ``monitoring_rollup_marks``: per data source, the last ingest whose values are merged into the roll-ups (all
  before it are, none after it is) and when. Written by the unit of work only, never deleted; the mark only moves
  forward. Until now every ingest merged its own values, so every existing source starts marked at its latest
  ingest.

Revision ID: 0055
Revises: 0054
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0055"
down_revision = "0054"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)
TABLE = "monitoring_rollup_marks"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("source_id", ID, nullable=False),
        sa.Column("ingest_id", sa.BigInteger(), nullable=False),
        sa.Column("merged_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["monitoring_sources.id"],
            name=op.f("fk_monitoring_rollup_marks_source_id_monitoring_sources"),
        ),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_monitoring_rollup_marks")),
    )
    # Every ingest so far merged its own values: each source is merged up to its latest ingest (written before
    # the guards, which would ask for a unit of work).
    op.execute(
        f"INSERT INTO {TABLE} (source_id, ingest_id, merged_at) "  # noqa: S608 - constant
        "SELECT s.id, COALESCE((SELECT MAX(i.id) FROM monitoring_ingests i WHERE i.source_id = s.id), 0), NULL "
        "FROM monitoring_sources s"
    )
    guards.no_delete(TABLE)
    guards.uow_only(TABLE)
    guards.frozen_when(TABLE, "NEW.ingest_id < OLD.ingest_id OR NEW.source_id <> OLD.source_id",
                       "a roll-up mark only moves forward")  # fmt: skip
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table(TABLE)
