"""Migration 0060 stores each audit entry as its canonical text: every leaf survives it byte for byte, an entry
altered before it stays named after it, and the way back restores the columns. Migration 0061 guards the table on
SQLite by a trigger, so that SQLite's own integrity check runs on it (SH-7.1.3.c, SH-8.4.5)."""

from __future__ import annotations

import importlib
import json
import sqlite3

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from helpers import behind_the_apps_back, unguarded
from pharmatrace.kernel import clock, ledger, merkle
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.storage.engine import Database, mark_unit_of_work
from pharmatrace.storage.migrate import alembic_config, current_revision

pytestmark = [pytest.mark.clause("SH-7.1.3.c", "SH-8.4.5"), pytest.mark.both]
OLD = importlib.import_module(
    "pharmatrace.storage.migrations.versions.0060_audit_entries_as_canonical_text"
)._OLD

# An entry as appends wrote them before they stored canonical text: ``changes`` through SQLAlchemy's JSON type
# (keys in insertion order, spaces, ASCII escapes); its leaf is the canonical entry's, as always.
BEFORE = {
    "event": "test.old", "object_type": "probe", "object_id": "old-1", "actor_id": None,
    "actor_login": "system:test", "actor_name": "测试", "reason": "写于规范文本之前",
    "changes": {"z": [None, "最后"], "a": [1, 2.5], "m": {"y": True, "x": None}},
    "request_id": None, "client_address": "10.0.0.1", "record_hash": None,
}  # fmt: skip


def _append_before_0060(db: Database) -> int:
    """At revision 0059: one entry appended the old way, with its leaf, nodes and head."""
    with db.engine.begin() as conn:
        mark_unit_of_work(conn)
        head = conn.execute(select(ledger.LedgerHead.size, ledger.LedgerHead.frontier)).one()
        row = {**BEFORE, "leaf_index": head[0], "at": clock.now()}
        row["leaf_hash"] = merkle.leaf_hash(ledger.entry_bytes(row))
        conn.execute(insert(OLD), [row])
        frontier = merkle.Frontier.from_json(head[0], head[1])
        nodes = frontier.push(row["leaf_hash"], ledger.STORED_LEVEL)  # type: ignore[arg-type]
        if nodes:
            conn.execute(
                insert(ledger.LedgerNode), [{"level": lv, "idx": i, "digest": d} for lv, i, d in nodes]
            )
        conn.execute(update(ledger.LedgerHead).values(size=frontier.size, frontier=frontier.to_json()))
    return int(head[0])


def test_every_leaf_survives_the_migration_and_an_earlier_alteration_stays_named(db: Database) -> None:
    from alembic import command

    with db.engine.connect() as conn:
        before = conn.execute(
            select(AuditEntry.id, AuditEntry.leaf_index, AuditEntry.leaf_hash).order_by(AuditEntry.id)
        ).all()
    command.downgrade(alembic_config(db.engine), "0059")
    with db.engine.connect() as conn:  # the way back restored the plain columns, row for row
        back = select(OLD.c.id, OLD.c.leaf_index, OLD.c.leaf_hash).order_by(OLD.c.id)
        assert conn.execute(back).all() == before
    old_style = _append_before_0060(db)
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT CAST(changes AS TEXT) FROM audit_entries WHERE leaf_index = :i"), {"i": old_style}
        ).scalar_one()
    assert stored != ledger.canonical_text(BEFORE["changes"])  # not canonical: spelt out by the migration
    with behind_the_apps_back(db) as conn:  # and one entry altered before the upgrade
        unguarded(conn, "audit_entries")
        conn.execute(text("UPDATE audit_entries SET reason = '改' WHERE leaf_index = 5"))

    command.upgrade(alembic_config(db.engine), "head")
    assert current_revision(db.engine) == "0061"
    with db.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        entry = conn.execute(select(AuditEntry.entry).where(AuditEntry.leaf_index == old_style)).scalar_one()
        changes = conn.execute(
            select(AuditEntry.changes).where(AuditEntry.leaf_index == old_style)
        ).scalar_one()
    assert count == len(before) + 1
    assert entry == ledger.canonical_text({**json.loads(entry), "changes": BEFORE["changes"]})
    assert changes == BEFORE["changes"]
    problems = ledger.verify(db).problems
    altered = [p.subject for p in problems if p.kind == "entry.altered"]
    assert altered == [next(p for p in altered if p.endswith("(leaf 5)"))]
    assert {p.kind for p in problems} <= {"entry.altered", "checkpoint.root", "ledger.rewritten"}
    with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE leaf_index = 6"))  # the guards are back


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL's guard was always a trigger
def test_sqlite_checks_the_trail_whole_while_it_still_refuses_raw_inserts(db: Database) -> None:
    with db.engine.connect() as conn:  # PharmaTrace's own connection, outside a unit of work
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
        assert conn.exec_driver_sql("PRAGMA quick_check").scalars().all() == ["ok"]
        existing = conn.execute(select(AuditEntry.entry, AuditEntry.leaf_hash).limit(1)).one()
        count = conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    forged = (json.dumps({**json.loads(existing[0]), "leaf_index": 10**9}), existing[1])
    plain = sqlite3.connect(
        str(db.engine.url.database)
    )  # the sqlite3 shell, a backup tool: no PharmaTrace functions
    try:
        assert plain.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        with pytest.raises(sqlite3.OperationalError, match="pharmatrace_uow"):
            plain.execute("INSERT INTO audit_entries (entry, leaf_hash) VALUES (?, ?)", forged)
    finally:
        plain.close()
    insert_sql = "INSERT INTO audit_entries (entry, leaf_hash) VALUES (?, ?)"
    refused = pytest.raises(DBAPIError, match="INSERT on audit_entries outside the unit of work is refused")
    with refused, db.engine.begin() as conn:
        conn.exec_driver_sql(insert_sql, forged)
    with (
        db.engine.begin() as conn
    ):  # the same row through a unit of work's marker goes in: the trigger is the guard
        mark_unit_of_work(conn)
        conn.exec_driver_sql(insert_sql, forged)
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == count + 1
        conn.rollback()
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == count
