"""On PostgreSQL the historian's raw values are partitioned by month of source time (SH-8.4.3, ADR 0028)

The table is rebuilt as a partitioned table with the same columns, sequence, checks, foreign keys and guards: the
primary key becomes ``(id, source_time)`` (a partitioned table's unique keys hold its partition key), the
natural key ``(tag_id, source_time)`` stays unique, and the alarms' foreign key onto it is recreated. The values
are copied inside this migration's transaction, counted on both sides, and only then is the old table dropped:
ids, times and texts are unchanged, so every ingest's ``values_sm3`` still vouches for its values. Partitions: one
before the oldest value's month, one per month from there to three months ahead, and a default one
(:mod:`pharmatrace.monitoring.partitions`). SQLite is unchanged.

Revision ID: 0052
Revises: 0051
Create Date: 2026-11-30
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op

from pharmatrace.monitoring import partitions
from pharmatrace.storage import guards

revision = "0052"
down_revision = "0051"
branch_labels = None
depends_on = None

TABLE = "monitoring_values"
OLD = "monitoring_values_unpartitioned"
ALARM_FK = (
    "ALTER TABLE monitoring_alarms ADD CONSTRAINT fk_monitoring_alarms_raised_value FOREIGN KEY (tag_id, raised_at) "
    "REFERENCES monitoring_values (tag_id, source_time)"
)
INDEXES = ("pk_monitoring_values", "uq_monitoring_values_tag_time", "ix_monitoring_values_ingest_id")
KEYS = (
    "ALTER TABLE {t} ADD CONSTRAINT fk_monitoring_values_tag_id_monitoring_tags FOREIGN KEY (tag_id) "
    "REFERENCES monitoring_tags (id)",
    "ALTER TABLE {t} ADD CONSTRAINT fk_monitoring_values_ingest_id_monitoring_ingests FOREIGN KEY (ingest_id) "
    "REFERENCES monitoring_ingests (id)",
    "ALTER TABLE {t} ADD CONSTRAINT uq_monitoring_values_tag_time UNIQUE (tag_id, source_time)",
    "CREATE INDEX ix_monitoring_values_ingest_id ON {t} (ingest_id)",
)


def _set_aside() -> None:
    """The current table under another name, its index names freed, nothing pointing at it."""
    op.execute("ALTER TABLE monitoring_alarms DROP CONSTRAINT fk_monitoring_alarms_raised_value")
    op.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_old")


def _move() -> None:
    """Copy every value from the set-aside table, check the count, hand over the sequence, drop the old one."""
    bind = op.get_bind()
    op.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")  # noqa: S608 - constants
    copied, kept = (bind.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one() for t in (TABLE, OLD))  # noqa: S608
    if copied != kept:
        raise RuntimeError(f"{TABLE}: {copied} values copied of {kept}; nothing changed")
    op.execute(f"ALTER SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
    op.execute(f"DROP TABLE {OLD}")
    for statement in KEYS:
        op.execute(statement.format(t=TABLE))
    guards.append_only(TABLE)
    guards.uow_only(TABLE)
    op.execute(ALARM_FK)
    guards.grant_app_role()


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    bind = op.get_bind()
    _set_aside()
    op.execute(
        f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (source_time)"
    )
    op.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT pk_monitoring_values PRIMARY KEY (id, source_time)")
    oldest = bind.exec_driver_sql(f"SELECT min(source_time) FROM {OLD}").scalar_one()  # noqa: S608 - constant
    now = datetime.now(UTC)
    first = partitions.month_of(min(oldest, now) if oldest is not None else now)
    bounds = f"FROM (MINVALUE) TO ('{first.isoformat()}')"
    op.execute(f"CREATE TABLE {partitions.BEFORE} PARTITION OF {TABLE} FOR VALUES {bounds}")
    op.execute(f"CREATE TABLE {partitions.DEFAULT} PARTITION OF {TABLE} DEFAULT")
    for partition in (partitions.BEFORE, partitions.DEFAULT):
        guards.pg_guard_partition(bind, partition)
    partitions.ensure_on(
        bind, since=first, through=partitions.horizon(now)
    )  # the months, each with its guards
    _move()


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside()
    op.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    op.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT pk_monitoring_values PRIMARY KEY (id)")
    _move()
