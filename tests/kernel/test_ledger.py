"""The ledger catches every kind of tampering (SH-8.4.5, SH-7.1.3.c, TJ-10.1.1.2.a).

Each attack is made the way a database superuser would: forging the unit-of-work marker and, where
needed, dropping the append-only triggers first. The ledger, its signed checkpoints and the witness
outside the database must then name what no longer matches.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError

from databases import pg_admin, pg_url
from helpers import behind_the_apps_back, checkpoint, new_material
from pharmatrace.kernel import clock, crypto, ledger, merkle
from pharmatrace.kernel.audit import ENTRY_COLUMNS, AuditEntry, pg_entry_field, plain_value
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

pytestmark = pytest.mark.clause("SH-8.4.5")
_verify = ledger.verify


@pytest.fixture(autouse=True, params=["one process", "worker processes"])
def verify_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every check runs twice: one process reading the whole trail, and worker processes reading ranges of
    8 leaves (how a large ledger is verified), their findings merged in leaf order."""
    if request.param == "worker processes":
        monkeypatch.setattr(ledger, "verify", functools.partial(_verify, workers=2, range_leaves=8))
    return str(request.param)


def kinds(db: Database) -> set[str]:
    return {p.kind for p in ledger.verify(db).problems}


def drop_guards(conn: Connection, table: str) -> None:
    """What a superuser does first: remove the triggers that protect ``table``."""
    if conn.dialect.name == "sqlite":
        names = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"), {"t": table}
        )
        for name in list(names.scalars()):
            conn.execute(text(f"DROP TRIGGER {name}"))
    else:
        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))


def rewrite_entry(conn: Connection, leaf: int, old: str, new: str) -> None:
    """Edit one stored entry's text in place, as a superuser would: on SQLite every shown column is generated
    from it; on PostgreSQL the columns are rewritten with it, or its CHECK would refuse the row."""
    edited = "replace(entry, :old, :new)"
    columns = ""
    if conn.dialect.name == "postgresql":
        columns = "".join(
            f", {name} = "
            + pg_entry_field(name, pg_type).replace("(d ", f"(({edited})::jsonb ")
            + ("::json" if name == "changes" else "")
            for name, _, pg_type, _ in ENTRY_COLUMNS
        )
    updated = conn.execute(
        text(f"UPDATE audit_entries SET entry = {edited}{columns} WHERE leaf_index = :leaf"),
        {"old": old, "new": new, "leaf": leaf},
    )
    assert updated.rowcount == 1


def insert_entry(conn: Connection, entry: bytes) -> None:
    """Insert an entry with its leaf hash (on PostgreSQL its columns too, as appends write them)."""
    row: dict[str, object] = {"entry": entry.decode(), "leaf_hash": merkle.leaf_hash(entry)}
    if conn.dialect.name == "postgresql":
        fields = json.loads(entry)
        row.update({name: fields[name] for name, _, _, _ in ENTRY_COLUMNS})
        row["at"] = datetime.fromisoformat(fields["at"])
    conn.execute(ledger.insert(AuditEntry), [row])


def swap_leaves(conn: Connection, first: int, second: int) -> None:
    """Exchange the positions two entries claim (each row keeps its id: the rows are now out of order)."""
    rewrite_entry(conn, first, f'"leaf_index":{first},', '"leaf_index":-1,')
    rewrite_entry(conn, second, f'"leaf_index":{second},', f'"leaf_index":{first},')
    rewrite_entry(conn, -1, '"leaf_index":-1,', f'"leaf_index":{second},')


def test_an_untouched_ledger_verifies(db: Database) -> None:
    from pharmatrace.demo.seed import DEMO_PASSWORD
    from pharmatrace.kernel.identity import service as identity

    with UnitOfWork(db, Actor.system("login")) as uow:  # events about a record (log-ins) are not row versions
        identity.authenticate(uow, "zhouqiang", DEMO_PASSWORD)
        uow.commit()
    new_material(db, "HB-LV-001")
    checkpoint(db)
    report = ledger.verify(db)
    assert report.intact, [str(p) for p in report.problems]
    assert report.size > 100 and report.checkpoints >= 2 and report.witnessed == report.checkpoints
    assert report.rows_checked > 100


def test_a_business_row_changed_with_raw_sql_is_named(db: Database) -> None:
    material = new_material(db, "HB-LV-002")
    with behind_the_apps_back(db) as conn:
        conn.execute(
            text("UPDATE materials SET storage_condition = '常温' WHERE id = :i"), {"i": material.id}
        )
    problems = ledger.verify(db).problems
    assert [(p.kind, p.subject) for p in problems] == [("row.changed", f"material:{material.id}")]


def test_rows_inserted_or_deleted_behind_the_app_are_named(db: Database) -> None:
    with behind_the_apps_back(db) as conn:
        conn.execute(
            text("DELETE FROM user_roles WHERE user_id = (SELECT id FROM users WHERE login = 'zhangwei')")
        )
        conn.execute(
            text(
                "INSERT INTO role_permissions (role_id, permission_code, granted_at, granted_by) "
                "SELECT id, 'lims.view', CURRENT_TIMESTAMP, 'raw' FROM roles WHERE code = 'warehouse_keeper'"
            )
        )
    found = {(p.kind, p.subject.split(":")[0]) for p in ledger.verify(db).problems}
    assert found == {("row.deleted", "user_role"), ("row.unrecorded", "role_permission")}


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
def test_one_bit_flipped_in_a_historical_audit_row(db: Database) -> None:
    with db.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.event == "create").order_by(AuditEntry.id)
        ).first()
        assert entry is not None
    flipped = chr(ord(entry.actor_name[0]) ^ 1) + entry.actor_name[1:]
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        name = f'"actor_name":{json.dumps(entry.actor_name, ensure_ascii=False)}'
        rewrite_entry(conn, entry.leaf_index, name, name.replace(entry.actor_name, flipped))
    problems = ledger.verify(db).problems
    assert any(p.kind == "entry.altered" and f"audit entry {entry.id} " in p.subject for p in problems)
    assert "checkpoint.root" in {p.kind for p in problems} or "ledger.rewritten" in {p.kind for p in problems}


@pytest.mark.clause("SH-7.1.3.c")
def test_a_middle_audit_row_deleted(db: Database) -> None:
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        conn.execute(text("DELETE FROM audit_entries WHERE leaf_index = 50"))
    problems = ledger.verify(db).problems
    assert any(p.kind == "entry.missing" and "jump from leaf 49 to 51" in p.detail for p in problems)


@pytest.mark.clause("SH-7.1.3.c")
def test_the_tail_truncated(db: Database) -> None:
    for i in range(3):
        new_material(db, f"HB-TT-00{i}")
    checkpoint(db)
    with db.sessions() as session:
        size = session.scalar(select(ledger.LedgerHead.size))
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        conn.execute(text("DELETE FROM audit_entries WHERE leaf_index >= :n"), {"n": size - 3})
    assert {"ledger.truncated", "ledger.rolled_back"} <= kinds(db)


def test_rows_reordered(db: Database) -> None:
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        swap_leaves(conn, 10, 11)
    found = kinds(db)
    assert "entry.reordered" in found and "entry.altered" in found


def test_a_replayed_entry_appended_properly(db: Database) -> None:
    """A copy of an earlier entry, appended with a correct leaf and tree: still recognised as a replay."""
    with db.sessions() as session:
        original = session.scalars(select(AuditEntry).where(AuditEntry.event == "login.success")).first()
        if original is None:
            original = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).first()
        assert original is not None
        copy = {
            name: getattr(original, name) for name in ledger.ENTRY_FIELDS if name not in ("id", "leaf_index")
        }
    with UnitOfWork(db, Actor.system("attacker")) as uow:  # the attacker appends through the real code path
        conn = uow.session.connection()
        head = conn.execute(select(ledger.LedgerHead.size, ledger.LedgerHead.frontier)).one()
        entry = ledger.entry_bytes({**copy, "leaf_index": head[0]})
        insert_entry(conn, entry)
        frontier = merkle.Frontier.from_json(head[0], head[1])
        nodes = [n for n in frontier.push(merkle.leaf_hash(entry)) if n[0] >= ledger.STORED_LEVEL]
        if nodes:
            conn.execute(
                ledger.insert(ledger.LedgerNode), [{"level": lv, "idx": i, "digest": d} for lv, i, d in nodes]
            )
        conn.execute(ledger.update(ledger.LedgerHead).values(size=frontier.size, frontier=frontier.to_json()))
        uow.commit()
    assert "entry.replayed" in kinds(db)


@pytest.mark.clause("SH-7.1.5", "TJ-10.1.1.2.d")
def test_a_clock_moved_backwards_is_flagged(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    earlier = clock.now() - timedelta(hours=2)
    monkeypatch.setattr(clock, "now", lambda: earlier)
    new_material(db, "HB-CB-001")
    monkeypatch.undo()
    problems = ledger.verify(db).problems
    assert [p.kind for p in problems] == ["time.non_monotonic"]


def _snapshot(db: Database, backend: str, tmp_path: Path) -> Database:
    """Copy the database as it is now (an 'older copy' for later), keeping the same state directory."""
    if backend == "sqlite":
        db.dispose()
        source = Path(str(db.engine.url.database))
        target = tmp_path / "older.sqlite3"
        shutil.copyfile(source, target)
        return Database.from_url(f"sqlite:///{target}", state_dir=db.state_dir)
    db.dispose()
    name = f"{db.engine.url.database}_old"
    with pg_admin().connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{db.engine.url.database}"'))
    return Database.from_url(pg_url(name), state_dir=db.state_dir)


@pytest.fixture
def older_copy(db: Database, backend: str, tmp_path: Path) -> Iterator[Database]:
    old = _snapshot(db, backend, tmp_path)
    yield old
    old.dispose()
    if backend == "postgresql":
        with pg_admin().connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{old.engine.url.database}" WITH (FORCE)'))


def test_the_database_rolled_back_to_an_older_copy(db: Database, older_copy: Database) -> None:
    for i in range(3):
        new_material(db, f"HB-RB-00{i}")
    checkpoint(db)  # the witness now knows the newer tree
    assert ledger.verify(db).intact
    found = kinds(older_copy)  # the plant restores yesterday's copy: the witness remembers more
    assert "ledger.rolled_back" in found


def test_a_whole_database_rewritten_consistently(db: Database) -> None:
    """Alter history, rebuild every leaf, node and checkpoint, re-sign with a new key: the witness disagrees."""
    rewrite_whole_database(db)
    found = kinds(db)
    assert "ledger.rewritten" in found
    assert found <= {"ledger.rewritten", "row.changed"}  # nothing else gives it away: only the witness


def rewrite_whole_database(db: Database) -> None:
    """What a superuser with the whole database does: alter history and rebuild everything that hashes it."""
    with db.sessions() as session:
        victim = session.scalars(select(AuditEntry).where(AuditEntry.object_type == "material")).first()
        assert victim is not None
    forger = crypto.KeyPair.generate()
    fingerprint = crypto.fingerprint(forger.public_key)
    with behind_the_apps_back(db) as conn:
        for table in ("audit_entries", "ledger_nodes", "ledger_checkpoints", "ledger_keys", "ledger_head"):
            drop_guards(conn, table)
        reason = f'"reason":{json.dumps(victim.reason, ensure_ascii=False)}'
        rewrite_entry(conn, victim.leaf_index, reason, '"reason":"伪造"')
        conn.execute(text("DELETE FROM ledger_nodes"))
        conn.execute(text("DELETE FROM ledger_checkpoints"))
        frontier, nodes = merkle.Frontier(), []
        query = select(AuditEntry.leaf_index, AuditEntry.entry).order_by(AuditEntry.leaf_index)
        for index, entry in list(conn.execute(query)):
            leaf = merkle.leaf_hash(entry.encode())
            conn.execute(
                text("UPDATE audit_entries SET leaf_hash = :h WHERE leaf_index = :i"), {"h": leaf, "i": index}
            )
            nodes += [n for n in frontier.push(leaf) if n[0] >= ledger.STORED_LEVEL]
        conn.execute(
            ledger.insert(ledger.LedgerNode), [{"level": lv, "idx": i, "digest": d} for lv, i, d in nodes]
        )
        moment = clock.now()
        root = frontier.root()
        conn.execute(
            ledger.insert(ledger.LedgerKey).values(
                fingerprint=fingerprint, public_key=forger.public_key, created_at=moment
            )
        )
        signature = crypto.sign(
            forger.private_key, ledger.checkpoint_message(frontier.size, root, moment, fingerprint)
        )
        conn.execute(
            ledger.insert(ledger.LedgerCheckpoint).values(
                tree_size=frontier.size,
                root=root,
                at=moment,
                key_fingerprint=fingerprint,
                signature=signature,
            )
        )
        conn.execute(
            ledger.update(ledger.LedgerHead).values(
                size=frontier.size,
                frontier=frontier.to_json(),
                checkpoint_size=frontier.size,
                checkpoint_at=moment,
            )
        )


@pytest.mark.clause("TJ-10.1.1.2.a")
def test_the_witness_torn_mid_write_is_detected(db: Database) -> None:
    witness = ledger.witness_of(db)
    assert isinstance(witness, ledger.FileWitness)
    with witness.path.open("ab") as handle:
        handle.write(b'{"tree_size": 99, "root": "ab')  # a crash in the middle of an append
    problems = ledger.verify(db).problems
    assert [(p.kind, "torn" in p.detail) for p in problems] == [("witness.torn", True)]


APPENDER = """
import sys
from pharmatrace.bootstrap import open_database
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.uow import UnitOfWork

db = open_database()
n = 0
while True:
    with UnitOfWork(db, Actor.system("appender")) as uow:
        uow.record("test.append", "probe", n, reason="crash test")
        uow.commit()
    print(f"ack {n}", flush=True)
    n += 1
"""


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
def test_kill_9_during_appends_loses_no_acknowledged_entry(db: Database) -> None:
    import os
    import signal
    import subprocess
    import sys

    env = {
        **os.environ,
        "PHARMATRACE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "PHARMATRACE_VAR": str(db.state_dir),
        "PHARMATRACE_CHECKPOINT_EVERY": "3",
    }
    db.dispose()
    process = subprocess.Popen([sys.executable, "-c", APPENDER], env=env, stdout=subprocess.PIPE, text=True)
    acknowledged: list[int] = []
    assert process.stdout is not None
    for line in process.stdout:
        acknowledged.append(int(line.split()[1]))
        if len(acknowledged) >= 40:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    with db.sessions() as session:
        stored = {
            int(x)
            for x in session.scalars(select(AuditEntry.object_id).where(AuditEntry.object_type == "probe"))
        }
    assert set(acknowledged) <= stored
    report = ledger.verify(db)
    assert {p.kind for p in report.problems} <= {"witness.torn"}, [str(p) for p in report.problems]
    assert report.witnessed >= 10


def test_a_second_database_can_be_the_witness(db: Database, tmp_path: Path) -> None:
    """The witness is pluggable: a second database (another server, another operator) instead of the file."""
    url = db.engine.url.render_as_string(hide_password=False)
    elsewhere = Database.from_url(
        url, state_dir=db.state_dir, witness_url=f"sqlite:///{tmp_path / 'witness.sqlite3'}"
    )
    witness = ledger.witness_of(elsewhere)
    assert isinstance(witness, ledger.DatabaseWitness) and "witness.sqlite3" in witness.location
    for i in range(2):
        new_material(elsewhere, f"HB-WD-00{i}")
    checkpoint(elsewhere)
    witnessed, torn = witness.read()
    assert witnessed and torn is None
    assert ledger.verify(elsewhere).intact
    size = witnessed[-1]["tree_size"]
    with behind_the_apps_back(elsewhere) as conn:
        drop_guards(conn, "audit_entries")
        conn.execute(text("DELETE FROM audit_entries WHERE leaf_index >= :n"), {"n": size - 2})
    assert "ledger.rolled_back" in kinds(elsewhere)
    elsewhere.dispose()


def test_the_server_signs_a_due_checkpoint_in_a_quiet_period(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    from types import SimpleNamespace

    from pharmatrace.kernel import ledger_jobs

    never = SimpleNamespace(checkpoint_every=10**9, checkpoint_seconds=10**9)
    with monkeypatch.context() as quiet:  # this append must not itself be due for a checkpoint
        quiet.setattr(ledger, "get_settings", lambda: never)
        new_material(db, "HB-QP-001")  # an entry after the last checkpoint, and then silence
    with db.sessions() as session:
        head = session.get(ledger.LedgerHead, 1)
        assert head is not None and head.checkpoint_size < head.size
    monkeypatch.setattr(ledger_jobs, "get_settings", lambda: SimpleNamespace(checkpoint_seconds=0.05))

    async def run_a_while() -> None:
        task = asyncio.create_task(ledger_jobs.checkpointer(db))
        await asyncio.sleep(0.5)
        task.cancel()

    import threading

    # A thread of its own: Playwright's sync API may keep an event loop running on the main thread.
    runner = threading.Thread(target=lambda: asyncio.run(run_a_while()))
    runner.start()
    runner.join(timeout=30)
    with db.sessions() as session:
        head = session.get(ledger.LedgerHead, 1)
        assert head is not None and head.checkpoint_size == head.size
    witnessed, _ = ledger.witness_of(db).read()
    assert witnessed[-1]["tree_size"] == head.size


# --- how verify reads the trail -----------------------------------------------------------------------


def stored_entry(db: Database, object_type: str, object_id: str) -> tuple[int, str]:
    with db.engine.connect() as conn:
        index, entry = conn.execute(
            select(AuditEntry.leaf_index, AuditEntry.entry).where(
                AuditEntry.object_type == object_type, AuditEntry.object_id == object_id
            )
        ).one()
    return int(index), str(entry)


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
def test_a_value_inside_the_changes_altered(db: Database) -> None:
    """The stored entry is hashed as it is: change a value in it and the entry is named."""
    material = new_material(db, "HB-CH-001")
    index, stored = stored_entry(db, "material", str(material.id))
    assert stored.encode() == ledger.entry_bytes(json.loads(stored))  # appends store the canonical entry
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        rewrite_entry(conn, index, "HB-CH-001", "HB-CH-002")
    with db.sessions() as session:  # what the trail shows is what was written, so the ledger sees it
        shown = session.scalars(select(AuditEntry.changes).where(AuditEntry.leaf_index == index)).one()
        assert shown["code"] == [None, "HB-CH-002"]
    assert "entry.altered" in kinds(db)


@pytest.mark.clause("SH-7.1.3.c")
def test_the_same_entry_laid_out_otherwise_is_named(db: Database) -> None:
    """The leaf covers the stored text byte for byte: the same JSON re-spaced and re-ordered is a change."""
    material = new_material(db, "HB-CH-003")
    index, stored = stored_entry(db, "material", str(material.id))
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        conn.execute(
            text("UPDATE audit_entries SET entry = :e WHERE leaf_index = :i"),
            {"e": json.dumps(dict(reversed(json.loads(stored).items())), indent=1), "i": index},
        )
    problems = ledger.verify(db).problems
    assert [p.kind for p in problems if p.subject.endswith(f"(leaf {index})")] == ["entry.altered"]


@pytest.mark.clause("SH-7.1.3.c")
def test_entries_that_cannot_be_read_back_are_named(db: Database) -> None:
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        rewrite_entry(conn, 20, ',"record_hash":', ',"record_hash_":')  # still JSON, no longer an entry
        rewrite_entry(conn, 21, '"reason":', '"reason":"改","reason_":')
    problems = ledger.verify(db).problems
    altered = {
        p.subject.split("(leaf ")[1].rstrip(")"): p.detail for p in problems if p.kind == "entry.altered"
    }
    assert "cannot be read back" in altered["20"] and "no longer matches" in altered["21"]


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
def test_the_columns_shown_cannot_be_written_apart_from_the_entry(db: Database) -> None:
    """Even with every trigger gone, the database refuses to write a shown column apart from the entry: on SQLite
    each is generated from it, on PostgreSQL a CHECK holds each to it."""
    for column, value in (("reason", "'伪造'"), ("actor_name", "'某人'"), ("at", "CURRENT_TIMESTAMP")):
        refused = r"generated column|violates check constraint"
        with pytest.raises(DBAPIError, match=refused), behind_the_apps_back(db) as conn:
            drop_guards(conn, "audit_entries")
            conn.execute(text(f"UPDATE audit_entries SET {column} = {value} WHERE leaf_index = 5"))
    assert ledger.verify(db).intact


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
def test_a_trail_rebuilt_with_plain_columns_is_named(db: Database) -> None:
    """A superuser rebuilds the table with ordinary columns, then forges a reason shown on screen while the
    hashed entries stay intact: verify names the table, whose columns no longer come from the entries."""
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        conn.execute(text("ALTER TABLE audit_entries RENAME TO audit_entries_old"))
        conn.execute(text("CREATE TABLE audit_entries AS SELECT * FROM audit_entries_old"))
        conn.execute(text("DROP TABLE audit_entries_old"))
        conn.execute(text("UPDATE audit_entries SET reason = '伪造' WHERE leaf_index = 5"))
    problems = ledger.verify(db).problems
    assert {p.kind for p in problems} == {"schema.altered"}, [str(p) for p in problems]


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # the CHECK is PostgreSQL's
@pytest.mark.parametrize(
    "weakening",
    [
        "CREATE OR REPLACE FUNCTION pharmatrace_entry_matches(entry text, c_leaf_index bigint, "
        "c_at timestamptz, c_event varchar, c_object_type varchar, c_object_id varchar, c_actor_id integer, "
        "c_actor_login varchar, c_actor_name varchar, c_reason text, c_changes json, c_request_id varchar, "
        "c_client_address varchar, c_record_hash varchar) RETURNS boolean LANGUAGE plpgsql IMMUTABLE "
        "AS $$ BEGIN RETURN true; END $$",
        "ALTER TABLE audit_entries DROP CONSTRAINT ck_audit_entries_entry",
    ],
    ids=["check made to pass everything", "check dropped then added unvalidated"],
)
def test_a_weakened_check_on_postgresql_is_named(db: Database, weakening: str) -> None:
    """PostgreSQL: a superuser weakens the CHECK, forges a reason shown on screen, and (second case) adds the
    CHECK back NOT VALID so the forged row is not looked at: verify names the CHECK or its function."""
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        conn.execute(text(weakening))
        conn.execute(text("UPDATE audit_entries SET reason = '伪造' WHERE leaf_index = 5"))
        if "DROP CONSTRAINT" in weakening:
            conn.execute(
                text(
                    "ALTER TABLE audit_entries ADD CONSTRAINT ck_audit_entries_entry CHECK (pharmatrace_entry_matches("
                    f"entry, {', '.join(name for name, _, _, _ in ENTRY_COLUMNS)})) NOT VALID"
                )
            )
    problems = ledger.verify(db).problems
    assert {p.kind for p in problems} == {"schema.altered"}, [str(p) for p in problems]


@pytest.mark.clause("SH-7.1.3.c")
def test_rows_deleted_across_ranges_of_leaves(db: Database) -> None:
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        conn.execute(text("DELETE FROM audit_entries WHERE leaf_index BETWEEN 6 AND 25"))
    problems = ledger.verify(db).problems
    missing = [p for p in problems if p.kind == "entry.missing"]
    assert [p.detail for p in missing] == ["audit entries jump from leaf 5 to 26 (rows deleted)"]


def test_the_ways_of_verifying_agree(db: Database, verify_mode: str) -> None:
    """One process, worker processes forked from this one, and (from a threaded process) from a fork server:
    the same report, problem for problem."""
    if verify_mode != "one process":
        pytest.skip("compares the ways itself")
    with behind_the_apps_back(db) as conn:
        drop_guards(conn, "audit_entries")
        for leaf in (3, 40):
            rewrite_entry(conn, leaf, '"reason":', '"reason":"改","reason_":')
        swap_leaves(conn, 30, 31)

    def report(**how: int) -> tuple[int, int, list[str]]:
        found = _verify(db, **how)
        return found.size, found.rows_checked, [str(p) for p in found.problems]

    alone = report(workers=1)
    assert len(alone[2]) >= 4
    assert report(workers=2, range_leaves=8) == alone
    from_a_thread: list[tuple[int, int, list[str]]] = []
    worker = threading.Thread(target=lambda: from_a_thread.append(report(workers=2, range_leaves=16)))
    worker.start()  # now two threads: the workers come from a fork server
    worker.join(timeout=120)
    assert from_a_thread == [alone]


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"actor_name": "周强", "reason": None, "request_id": "r-1", "client_address": "::1", "actor_id": 7},
        {"actor_login": 'quo"te\\back', "reason": "tab\there\nnew line \u2028 \x00\x1f\x7f"},
        {"object_id": "3:admin.view", "record_hash": "ab" * 32, "actor_id": 2**62},
        {"changes": {"b": [None, {"y": 1, "x": [1.5, "2"]}], "a": ["旧", "新"], "c": [True, None]}},
    ],
)
def test_the_canonical_entry_spelled_out_is_the_reference(values: dict[str, object]) -> None:
    row: dict[str, object] = {
        "leaf_index": 12345, "at": clock.now(), "event": "update", "object_type": "material",
        "object_id": "1", "actor_id": None, "actor_login": "zhouqiang", "actor_name": "zq", "reason": "r",
        "changes": {"name": ["a", "b"]}, "request_id": None, "client_address": None, "record_hash": None,
    }  # fmt: skip
    row.update(values)
    fields = {name: row[name] for name in ledger.ENTRY_FIELDS if name != "leaf_index"}
    fields.update(at=plain_value(row["at"]), changes=ledger.canonical_text(row["changes"]))
    head, tail = ledger.entry_parts(**fields)  # type: ignore[arg-type]
    assert ledger.join_entry(head, 12345, tail).encode() == ledger.entry_bytes(row)
    assert ledger.canonical_text(row["changes"]) == json.dumps(
        row["changes"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    record = {"code": row["object_id"], "note": row["reason"], "n": row["actor_id"]}
    reference = crypto.sm3(ledger.canonical({"type": "material", "id": "1", "values": record})).hex()
    assert ledger.record_hash("material", "1", record) == reference
