"""Audit entries stored as their canonical text; every other column bound to it (SH-7.1.3.c, SH-8.4.5)

``audit_entries.entry`` holds the canonical entry, the very text its ledger leaf hashes (``ledger.entry_bytes``).
The columns the trail shows (time, event, object, operator, reason, changes…) cannot be written apart from it: on
SQLite they are virtual columns generated from it with ``json_extract``; on PostgreSQL they are written with it and a
CHECK (``pharmatrace_entry_matches``, one parse of the entry) holds each to it. What a page shows therefore cannot
differ from what the ledger covers, and ``ledger verify`` hashes one stored text per entry instead of rebuilding it
from fifteen columns (ADR 0031).

The table is rebuilt: each row's entry is spelt out from its values exactly as verify's reference path reads
them, so an intact row keeps its leaf byte for byte, and a row altered before this migration keeps the alteration
(``ledger verify`` reports it as before). A row that cannot be read back at all stops the migration with its id.

Revision ID: 0060
Revises: 0059
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.kernel.audit import PG_ENTRY_MATCHES_FUNCTION, PG_ENTRY_MATCHES_SIGNATURE, entry_table_sql
from pharmatrace.storage import guards
from pharmatrace.storage.engine import mark_unit_of_work, unmark_unit_of_work

revision = "0060"
down_revision = "0059"
branch_labels = None
depends_on = None

BATCH = 5000


def _old_columns() -> list[sa.Column[Any]]:
    """The table's columns after ``id`` as 0003 left them: these types decode the values as verify's reference
    path did."""
    return [
        sa.Column("at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_login", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("client_address", sa.String(64), nullable=True),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=True),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    ]


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OLD = sa.Table("audit_entries", sa.MetaData(), sa.Column("id", _ID, primary_key=True), *_old_columns())
_INDEXES = (
    "CREATE INDEX ix_audit_entries_object ON audit_entries (object_type, object_id)",
    "CREATE INDEX ix_audit_entries_at ON audit_entries (at)",
    "CREATE INDEX ix_audit_entries_actor ON audit_entries (actor_login)",
)


def _entries(bind: sa.Connection) -> Iterator[list[dict[str, Any]]]:
    """The rows in id order, a batch at a time, each with its canonical entry."""
    from pharmatrace.kernel.ledger import entry_bytes

    last: Any = None
    while True:
        query = sa.select(_OLD).order_by(_OLD.c.id).limit(BATCH)
        rows = bind.execute(query if last is None else query.where(_OLD.c.id > last)).mappings().all()
        if not rows:
            return
        batch = []
        for row in rows:
            try:
                entry = entry_bytes(dict(row)).decode()
            except (TypeError, ValueError) as error:
                raise RuntimeError(
                    f"audit entry {row['id']} (leaf {row['leaf_index']}) cannot be read back ({error}): "
                    "run `pharmatrace ledger verify` on the previous release and resolve it first"
                ) from error
            batch.append({**row, "entry": entry})
        yield batch
        last = rows[-1]["id"]


def _rename_and_guard(postgresql: bool, entry_guarded: bool) -> None:
    op.execute("DROP TABLE audit_entries")
    op.execute("ALTER TABLE audit_entries_new RENAME TO audit_entries")
    if postgresql:
        op.execute("ALTER TABLE audit_entries ADD CONSTRAINT pk_audit_entries PRIMARY KEY (id)")
        op.execute("ALTER TABLE audit_entries ADD CONSTRAINT uq_audit_entries_leaf_index UNIQUE (leaf_index)")
    else:
        op.execute("CREATE UNIQUE INDEX uq_audit_entries_leaf_index ON audit_entries (leaf_index)")
    for statement in _INDEXES:
        op.execute(statement)
    guards.append_only("audit_entries")
    # SQLite: the table's own CHECK refuses an INSERT outside the unit of work (see entry_table_sql)
    guards.uow_only(
        "audit_entries",
        sqlite_verbs=("UPDATE", "DELETE") if entry_guarded else ("INSERT", "UPDATE", "DELETE"),
    )
    guards.grant_app_role()


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    if postgresql:
        op.execute(PG_ENTRY_MATCHES_FUNCTION)
    op.execute(entry_table_sql(bind.dialect.name, "audit_entries_new", uow_check=True))  # (0061 took it out)
    # SQLite generates the other columns from the entry; PostgreSQL takes them as they were, and its CHECK holds
    # each to the entry spelt out from them.
    written = _old_columns() if postgresql else [sa.Column("leaf_hash", sa.LargeBinary())]
    new = sa.Table(
        "audit_entries_new", sa.MetaData(), sa.Column("id", _ID), sa.Column("entry", sa.Text()), *written
    )
    names = set(new.c.keys())
    mark_unit_of_work(bind)  # (SQLite's table refuses rows otherwise, by its CHECK)
    try:
        for batch in _entries(bind):
            bind.execute(sa.insert(new), [{k: v for k, v in row.items() if k in names} for row in batch])
    finally:
        unmark_unit_of_work(bind)
    if postgresql:  # the ids go on from the same sequence, which must outlive the old table
        op.execute("ALTER SEQUENCE audit_entries_id_seq OWNED BY audit_entries_new.id")
    _rename_and_guard(postgresql, entry_guarded=not postgresql)


def downgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    identity = sa.Column(
        "id",
        _ID,
        nullable=False,
        server_default=sa.text("nextval('audit_entries_id_seq')") if postgresql else None,
    )
    key = [] if postgresql else [sa.PrimaryKeyConstraint("id", name="pk_audit_entries")]
    op.create_table("audit_entries_new", identity, *_old_columns(), *key)
    columns = ", ".join(["id", *(column.name for column in _old_columns())])
    op.execute(
        f"INSERT INTO audit_entries_new ({columns}) SELECT {columns} FROM audit_entries ORDER BY id"  # noqa: S608
    )
    if postgresql:
        op.execute("ALTER SEQUENCE audit_entries_id_seq OWNED BY audit_entries_new.id")
    _rename_and_guard(postgresql, entry_guarded=False)
    if postgresql:
        op.execute(f"DROP FUNCTION {PG_ENTRY_MATCHES_SIGNATURE}")
