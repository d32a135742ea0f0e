"""Historian: destruction of raw values past their retention, requested, approved and executed (TJ-10.1.6.3,
SH-8.4.3, ADR 0029)

* ``monitoring_destructions``: one destruction per month (UTC) and retention class — requested, approved by QA
  (signed; never the requester: a CHECK), executed against a verified archive copy, or cancelled. Audited through
  the unit of work; never deleted; unchanged once executed or cancelled.
* ``monitoring_destroyed_ingests``: per ingest, what the execution destroyed and what it left (counts and SM3s),
  append-only.
* The raw values' DELETE guard (``monitoring_values_no_delete``) no longer refuses every delete: it lets through a
  delete of a value whose month and retention class are those of a destruction in state ``executing`` — a state
  that exists only inside the execution's own transaction. Every other DELETE is refused as before; the
  unit-of-work guard, the UPDATE and TRUNCATE guards are unchanged. On PostgreSQL the application role still has no
  DELETE right on the values: destruction is the tables' owner's act, run on the server
  (``pharmatrace monitoring destroy``).

Revision ID: 0054
Revises: 0053
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0054"
down_revision = "0053"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)
TABLE = "monitoring_destructions"
INGESTS = "monitoring_destroyed_ingests"
OPEN = sa.text("status <> 'cancelled'")

# As in monitoring/destruction_models.py on 2026-11-30 (a migration keeps its own copy).
STATUSES = ("requested", "approved", "executing", "executed", "cancelled")
METHODS = ("rows_deleted", "partition_dropped")
RETENTION_CLASSES = ("gmp", "environment", "utility", "information")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


CHECKS = (
    (_in("status", STATUSES), "status"),
    (_in("retention_class", RETENTION_CLASSES), "retention_class"),
    ("method IS NULL OR " + _in("method", METHODS), "method"),
    ("month < month_end", "month"),
    ("length(reason) >= 2", "reason"),
    ("approved_by IS NULL OR approved_by <> requested_by", "approver"),
    ("status NOT IN ('approved', 'executing', 'executed') OR approved_at IS NOT NULL", "approved"),
    (
        "status <> 'executed' OR (executed_at IS NOT NULL AND method IS NOT NULL AND manifest_sm3 IS NOT NULL "
        "AND values_destroyed IS NOT NULL AND ingests_sm3 IS NOT NULL)",
        "executed",
    ),
    ("status <> 'cancelled' OR length(cancel_reason) >= 2", "cancelled"),
)
# A value is deleted only while a destruction of its month and its tag's class is being executed.
DESTROYING = (
    "EXISTS (SELECT 1 FROM monitoring_destructions d JOIN monitoring_tags t ON t.retention_class = d.retention_class "
    "WHERE d.status = 'executing' AND t.id = OLD.tag_id AND OLD.source_time >= d.month "
    "AND OLD.source_time < d.month_end)"
)
PG_DELETE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION pharmatrace_monitoring_values_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT {DESTROYING} THEN
    RAISE EXCEPTION 'pharmatrace: % on % is refused (append-only table: only a destruction being executed deletes)',
      TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN OLD;
END $$;
"""
SQLITE_DELETE_TRIGGER = (
    f"CREATE TRIGGER monitoring_values_no_delete BEFORE DELETE ON monitoring_values WHEN NOT {DESTROYING} "
    "BEGIN SELECT RAISE(ABORT, 'pharmatrace: DELETE on monitoring_values is refused "
    "(append-only table: only a destruction being executed deletes)'); END"
)


def _pg_partitions() -> list[str]:
    rows = op.get_bind().exec_driver_sql(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = to_regclass('monitoring_values')"
    )
    return list(rows.scalars())


def _pg_delete_guard(function: str) -> None:
    """The raw values' row DELETE trigger on the parent (cloned onto every partition), ``ENABLE ALWAYS``."""
    op.execute("DROP TRIGGER IF EXISTS monitoring_values_no_delete ON monitoring_values")
    op.execute(
        "CREATE TRIGGER monitoring_values_no_delete BEFORE DELETE ON monitoring_values FOR EACH ROW "
        f"EXECUTE FUNCTION {function}"
    )
    for table in ("monitoring_values", *_pg_partitions()):
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER monitoring_values_no_delete")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        TABLE,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("month", WHEN, nullable=False),
        sa.Column("month_end", WHEN, nullable=False),
        sa.Column("retention_class", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_by_name", sa.String(length=128), nullable=False),
        sa.Column("approved_at", WHEN, nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_by_name", sa.String(length=128), nullable=True),
        sa.Column("approval_comment", sa.String(length=500), nullable=False),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("executed_at", WHEN, nullable=True),
        sa.Column("executed_by", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=24), nullable=True),
        sa.Column("manifest_sm3", sa.String(length=64), nullable=True),
        sa.Column("manifest_file", sa.String(length=128), nullable=True),
        sa.Column("archive_file_sm3", sa.String(length=64), nullable=True),
        sa.Column("values_in_copy", sa.Integer(), nullable=True),
        sa.Column("values_destroyed", sa.Integer(), nullable=True),
        sa.Column("values_kept", sa.Integer(), nullable=True),
        sa.Column("ingests_affected", sa.Integer(), nullable=True),
        sa.Column("ingests_sm3", sa.String(length=64), nullable=True),
        *(sa.CheckConstraint(sql, name=op.f(f"ck_{TABLE}_{name}")) for sql, name in CHECKS),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("number", name=op.f(f"uq_{TABLE}_number")),
    )
    op.create_index("uq_monitoring_destructions_month_class", TABLE, ["month", "retention_class"], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)  # fmt: skip
    guards.no_delete(TABLE)
    guards.uow_only(TABLE)
    guards.frozen_when(
        TABLE, "OLD.status IN ('executed', 'cancelled')", "an executed or cancelled destruction"
    )

    op.create_table(
        INGESTS,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("destruction_id", ID, nullable=False),
        sa.Column("ingest_id", ID, nullable=False),
        sa.Column("destroyed", sa.Integer(), nullable=False),
        sa.Column("destroyed_sm3", sa.String(length=64), nullable=False),
        sa.Column("kept", sa.Integer(), nullable=False),
        sa.Column("kept_sm3", sa.String(length=64), nullable=False),
        sa.CheckConstraint("destroyed > 0 AND kept >= 0", name=op.f(f"ck_{INGESTS}_counts")),
        sa.CheckConstraint(
            "length(destroyed_sm3) = 64 AND length(kept_sm3) = 64", name=op.f(f"ck_{INGESTS}_digests")
        ),
        sa.ForeignKeyConstraint(
            ["destruction_id"], [f"{TABLE}.id"], name=op.f(f"fk_{INGESTS}_destruction_id_{TABLE}")
        ),
        sa.ForeignKeyConstraint(
            ["ingest_id"], ["monitoring_ingests.id"], name=op.f(f"fk_{INGESTS}_ingest_id_monitoring_ingests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{INGESTS}")),
        sa.UniqueConstraint(
            "destruction_id", "ingest_id", name="uq_monitoring_destroyed_ingests_destruction_ingest"
        ),
    )
    op.create_index("ix_monitoring_destroyed_ingests_ingest_id", INGESTS, ["ingest_id"])
    guards.append_only(INGESTS)
    guards.uow_only(INGESTS)

    if postgresql:
        op.execute(PG_DELETE_FUNCTION)
        _pg_delete_guard("pharmatrace_monitoring_values_delete()")
    else:
        op.execute("DROP TRIGGER monitoring_values_no_delete")
        op.execute(SQLITE_DELETE_TRIGGER)
    guards.grant_app_role()  # guards.APPEND_ONLY_TABLES names the ingests' table: INSERT and SELECT only


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_delete_guard("pharmatrace_refuse('append-only table')")
        op.execute("DROP FUNCTION IF EXISTS pharmatrace_monitoring_values_delete()")
    else:
        op.execute("DROP TRIGGER monitoring_values_no_delete")
        op.execute(
            "CREATE TRIGGER monitoring_values_no_delete BEFORE DELETE ON monitoring_values "
            "BEGIN SELECT RAISE(ABORT, 'pharmatrace: DELETE on monitoring_values is refused (append-only table)'); END"
        )
    op.drop_table(INGESTS)
    op.drop_table(TABLE)
