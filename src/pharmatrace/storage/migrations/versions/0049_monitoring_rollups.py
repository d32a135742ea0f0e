"""Historian roll-ups (1 min, 1 h: min/max/mean/count) and tag retention classes (SH-8.4.3)

* ``monitoring_rollups``: one row per tag, period and bucket, merged by the ingest's unit of work as values arrive
  (only the unit of work writes it); a bucket only grows (its counts never fall, its minimum never rises, its
  maximum never falls, its key never moves) and is never deleted.
* ``monitoring_tags.retention_class``: how long a tag's raw values stay online. Existing tags get ``gmp``, the
  strictest class (the longest keep): a migration does not judge a tag; the engineer reclassifies it with a reason,
  in the audit trail.

Revision ID: 0049
Revises: 0048
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0049"
down_revision = "0048"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

# As in monitoring/rollup_models.py on 2026-11-30 (a migration keeps its own copy).
PERIODS = ("1m", "1h")
RETENTION_CLASSES = ("gmp", "environment", "utility", "information")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


ROLLUP_CHECKS = (
    (_in("period", PERIODS), "period"),
    ("value_count >= 0 AND bad_count >= 0 AND value_count + bad_count > 0", "counts"),
    (
        "(value_count = 0) = (minimum IS NULL) AND (minimum IS NULL) = (maximum IS NULL) "
        "AND (minimum IS NULL) = (total IS NULL) AND (minimum IS NULL OR minimum <= maximum)",
        "envelope",
    ),
    ("first_source_time <= last_source_time", "times"),
)
# A merge only widens a bucket: anything else is not the application's doing.
SHRINKS = (
    "NEW.tag_id <> OLD.tag_id OR NEW.period <> OLD.period OR NEW.bucket <> OLD.bucket "
    "OR NEW.value_count < OLD.value_count OR NEW.bad_count < OLD.bad_count "
    "OR NEW.minimum > OLD.minimum OR NEW.maximum < OLD.maximum "
    "OR NEW.first_source_time > OLD.first_source_time OR NEW.last_source_time < OLD.last_source_time"
)


def upgrade() -> None:
    op.create_table(
        "monitoring_rollups",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tag_id", ID, nullable=False),
        sa.Column("period", sa.String(length=2), nullable=False),
        sa.Column("bucket", WHEN, nullable=False),
        sa.Column("value_count", sa.Integer(), nullable=False),
        sa.Column("bad_count", sa.Integer(), nullable=False),
        sa.Column("minimum", sa.Double(), nullable=True),
        sa.Column("maximum", sa.Double(), nullable=True),
        sa.Column("total", sa.Double(), nullable=True),
        sa.Column("first_source_time", WHEN, nullable=False),
        sa.Column("last_source_time", WHEN, nullable=False),
        *(sa.CheckConstraint(sql, name=op.f(f"ck_monitoring_rollups_{name}")) for sql, name in ROLLUP_CHECKS),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["monitoring_tags.id"], name=op.f("fk_monitoring_rollups_tag_id_monitoring_tags")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_rollups")),
        sa.UniqueConstraint("tag_id", "period", "bucket", name="uq_monitoring_rollups_bucket"),
    )
    guards.no_delete("monitoring_rollups")
    guards.uow_only("monitoring_rollups")
    guards.frozen_when("monitoring_rollups", SHRINKS, "a roll-up bucket only grows")

    # One statement on both dialects (SQLite adds a column with its CHECK, and keeps the table's triggers).
    op.execute(
        "ALTER TABLE monitoring_tags ADD COLUMN retention_class VARCHAR(16) DEFAULT 'gmp' NOT NULL "
        f"CONSTRAINT ck_monitoring_tags_retention_class CHECK ({_in('retention_class', RETENTION_CLASSES)})"
    )
    guards.grant_app_role()


def downgrade() -> None:
    op.execute("ALTER TABLE monitoring_tags DROP COLUMN retention_class")  # SQLite ≥ 3.35 keeps its triggers
    op.drop_table("monitoring_rollups")
