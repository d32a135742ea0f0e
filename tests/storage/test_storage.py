"""Storage: one Alembic history for SQLite and PostgreSQL, database-level guards, the state directory."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, StatementError

from databases import pg_admin, pg_url
from helpers import as_application_role, behind_the_apps_back
from pharmatrace.bootstrap import prepare
from pharmatrace.config import Settings
from pharmatrace.storage.engine import Database, mark_unit_of_work
from pharmatrace.storage.migrate import current_revision

HEAD = "0061"


@pytest.fixture
def empty_db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    if backend == "sqlite":
        database = Database.from_url(f"sqlite:///{tmp_path / 'empty.sqlite3'}", state_dir=tmp_path / "var")
        yield database
        database.dispose()
        return
    request.getfixturevalue("pg_template")  # skips loudly when PostgreSQL is down
    name = f"pt_e_{uuid.uuid4().hex[:12]}"
    admin = pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database.from_url(pg_url(name), state_dir=tmp_path / "var")
    yield database
    database.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.clause("SH-8.4.3")
def test_one_history_upgrades_an_empty_database(empty_db: Database) -> None:
    prepare(empty_db)
    assert current_revision(empty_db.engine) == HEAD
    tables = set(inspect(empty_db.engine).get_table_names())
    assert {
        "users",
        "roles",
        "role_permissions",
        "user_roles",
        "audit_entries",
        "materials",
        "settings",
        "clock_checks",
    } <= tables
    prepare(empty_db)  # idempotent
    assert current_revision(empty_db.engine) == HEAD


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
@pytest.mark.parametrize(
    "statement", ["UPDATE audit_entries SET entry = entry || ' '", "DELETE FROM audit_entries"]
)
def test_audit_table_refuses_update_and_delete_in_the_database(db: Database, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
        conn.execute(text(statement))
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM audit_entries WHERE reason = 'rewritten'")) == 0


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
@pytest.mark.parametrize(
    "backend", ["postgresql"], indirect=True
)  # TRUNCATE and replica mode are PostgreSQL's
def test_postgres_refuses_truncate_and_replica_mode_does_not_skip_the_triggers(db: Database) -> None:
    with pytest.raises(DBAPIError, match="refused"), behind_the_apps_back(db) as conn:
        conn.execute(text("TRUNCATE audit_entries"))
    with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(text("DELETE FROM audit_entries"))
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM audit_entries")) > 0


UNDELETABLE_TABLES = ("users", "materials", "roles")


def _rows_in(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


@pytest.mark.clause("TJ-10.1.6.1", "SH-8.4.5")
def test_gmp_rows_cannot_be_deleted_even_with_raw_sql(db: Database) -> None:
    """Every table of UNDELETABLE_TABLES on one database: a raw DELETE, even with the unit-of-work marker
    forged, is refused ("never deleted") in its own transaction and the table keeps its rows, so the next table
    meets the plant as it was. Every table that differs is named."""
    failures: list[str] = []
    for table in UNDELETABLE_TABLES:
        before = _rows_in(db, table)
        try:
            with behind_the_apps_back(db) as conn:
                conn.execute(text(f"DELETE FROM {table}"))
        except DBAPIError as refused:
            if not re.search("never deleted", str(refused)):
                failures.append(f"{table}: refused without “never deleted”: {refused}")
        else:
            failures.append(f"{table}: DELETE accepted")
        if _rows_in(db, table) != before:
            failures.append(f"{table}: rows {before} -> {_rows_in(db, table)}")
    assert failures == []


@pytest.mark.clause("TJ-10.1.2.2.b", "TJ-10.1.2.2.c")
def test_database_refuses_a_business_permission_in_an_admin_role(db: Database) -> None:
    with pytest.raises(DBAPIError, match="segregation of duties"), behind_the_apps_back(db) as conn:
        role_id = conn.scalar(text("SELECT id FROM roles WHERE code = 'system_admin'"))
        conn.execute(
            text(
                "INSERT INTO role_permissions (role_id, permission_code, granted_at, granted_by) "
                "VALUES (:r, 'mes.batch.execute', CURRENT_TIMESTAMP, 'raw-sql')"
            ),
            {"r": role_id},
        )


@pytest.mark.clause("TJ-10.1.2.2.b", "TJ-10.1.2.2.c")
def test_database_refuses_giving_one_user_admin_and_business_roles(db: Database) -> None:
    with pytest.raises(DBAPIError, match="segregation of duties"), behind_the_apps_back(db) as conn:
        user_id = conn.scalar(text("SELECT id FROM users WHERE login = 'sysadmin'"))
        role_id = conn.scalar(text("SELECT id FROM roles WHERE code = 'qa_release'"))
        conn.execute(
            text(
                "INSERT INTO user_roles (user_id, role_id, granted_at, granted_by) "
                "VALUES (:u, :r, CURRENT_TIMESTAMP, 'raw-sql')"
            ),
            {"u": user_id, "r": role_id},
        )


@pytest.mark.clause("TJ-10.1.3.2.b")
def test_check_constraints_hold_in_the_database(db: Database) -> None:
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE materials SET kind = 'rocket_fuel' WHERE code = 'HB-DS-001'"))
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE users SET login = 'UPPER' WHERE login = 'zhangwei'"))


@pytest.mark.clause("SH-7.1.5", "SH-8.4.1")
def test_naive_datetimes_are_refused(db: Database) -> None:
    from pharmatrace.kernel.audit import AuditEntry

    with pytest.raises(StatementError, match="naive datetime"), db.sessions() as session:
        session.add(
            AuditEntry(
                at=datetime(2026, 1, 1),
                event="x",
                object_type="t",
                object_id="1",
                actor_login="a",
                actor_name="a",
                changes={},
            )
        )
        session.flush()


@pytest.mark.clause("TJ-10.1.6.1")
def test_all_local_state_lives_under_the_var_directory(tmp_path: Path) -> None:
    settings = Settings(var=tmp_path / "state")
    assert settings.db_url == f"sqlite:///{(tmp_path / 'state' / 'pharmatrace.sqlite3').resolve()}"
    assert (
        Settings(var=tmp_path, database_url="postgresql+psycopg://x/y").db_url == "postgresql+psycopg://x/y"
    )


GMP_TABLES = ("users", "roles", "role_permissions", "user_roles", "settings", "materials", "lots", "containers",
              "receipts")  # fmt: skip


# Each write that bypasses the unit of work: (case, the raw statement).
WRITES_OUTSIDE_THE_UOW: tuple[tuple[str, str], ...] = (
    ("rename a material", "UPDATE materials SET name = '绕过' WHERE code = 'HB-DS-001'"),
    ("unlock every user", "UPDATE users SET locked_at = NULL"),
    ("take every role away", "DELETE FROM user_roles"),
    (
        "grant a permission",
        "INSERT INTO role_permissions (role_id, permission_code, granted_at, granted_by) "
        "SELECT id, 'wms.material.view', CURRENT_TIMESTAMP, 'raw' FROM roles WHERE code = 'document_controller'",
    ),
    (
        "forge an audit entry",
        # (spaces after the colons: ``text()`` would read ``:null`` as a parameter)
        'INSERT INTO audit_entries (entry, leaf_hash) VALUES (\'{"actor_id": null, "actor_login": "x", '
        '"actor_name": "x", "at": "2026-11-30T00:00:00+00:00", "changes": {}, "client_address": '
        'null, "event": "forged", "leaf_index": 999999, "object_id": "1", "object_type": '
        '"material", "reason": null, "record_hash": null, "request_id": null}\', \'x\')',
    ),
    ("shrink the ledger", "UPDATE ledger_head SET size = 0"),
)


@pytest.mark.clause("SH-7.1.3.b", "SH-7.1.3.c", "TJ-10.1.1.2.a")
def test_raw_sql_outside_the_unit_of_work_is_refused(db: Database) -> None:
    """Every statement of WRITES_OUTSIDE_THE_UOW on one database, each in its own transaction: each is refused
    ("outside the unit of work") and its transaction rolled back, so the next one meets the plant as it was.
    Every statement that differs is named."""
    failures: list[str] = []
    for case, statement in WRITES_OUTSIDE_THE_UOW:
        try:
            with db.engine.begin() as conn:
                conn.execute(text(statement))
        except DBAPIError as refused:
            if not re.search("outside the unit of work", str(refused)):
                failures.append(f"{case}: refused without “outside the unit of work”: {refused}")
        else:
            failures.append(f"{case}: accepted ({statement})")
    assert failures == []


@pytest.mark.clause("SH-7.1.3.b", "TJ-10.1.1.2.a")
def test_every_gmp_table_carries_the_unit_of_work_guard(db: Database, backend: str) -> None:
    from pharmatrace.kernel.ledger import _audited_classes

    audited = {cls.__table__.name for cls in _audited_classes()}  # type: ignore[attr-defined]
    assert set(GMP_TABLES) <= audited
    query = (
        "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%uow_only%'"
        if backend == "sqlite"
        else "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE '%uow_only'"
    )
    with db.engine.connect() as conn:
        guarded = set(conn.execute(text(query)).scalars())
    assert audited <= guarded, f"GMP tables without the guard: {audited - guarded}"


@pytest.mark.clause("SH-7.1.3.b", "TJ-10.1.1.2.a")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a second client of the same file
def test_another_sqlite_client_cannot_write_gmp_tables(db: Database) -> None:
    import sqlite3

    path = db.engine.url.database
    assert path
    other = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="pharmatrace_uow"):
            other.execute("UPDATE materials SET name = 'x'")
    finally:
        other.close()


@pytest.mark.clause("TJ-10.1.3.3.a", "TJ-10.1.6.1")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_sqlite_connection_commits_to_the_disk_and_keeps_statement_journals_in_memory(
    db: Database,
) -> None:
    """Each connection the pool opens is set up alike (ADR 0032): ``synchronous=FULL`` — a commit has reached the
    disk when it returns, so a power cut loses no committed record; statement journals and sorts in memory; a
    checkpoint every 64 MiB of WAL, which is cut back to 64 MiB afterwards; 64 MiB of page cache."""
    expected = {"foreign_keys": 1, "journal_mode": "wal", "synchronous": 2, "temp_store": 2,
                "cache_size": -65536, "wal_autocheckpoint": 16384, "journal_size_limit": 64 * 1024 * 1024}  # fmt: skip
    with db.engine.connect() as first, db.engine.connect() as second:  # two connections of the pool at once
        for connection in (first, second):
            found = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in expected}
            assert found == expected


@pytest.fixture
def as_app_role(db: Database) -> Iterator[Database]:
    """The same database, every connection running as the unprivileged application role."""
    with as_application_role(db) as app_db:
        yield app_db


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # roles and grants are PostgreSQL's
def test_the_application_role_works_but_can_only_append_to_the_trail(as_app_role: Database) -> None:
    from helpers import actor as actor_of
    from pharmatrace.kernel import ledger
    from pharmatrace.kernel.uow import UnitOfWork
    from pharmatrace.wms import service as wms
    from pharmatrace.wms.schemas import MaterialCreate

    with UnitOfWork(as_app_role, actor_of(as_app_role, "zhouqiang")) as uow:  # the app works as this role
        wms.create_material(
            uow, MaterialCreate(code="HB-AR-001", name="当归（中药材）", kind="herb", unit="kg")
        )
        uow.commit()
    assert ledger.verify(as_app_role).intact
    with as_app_role.engine.connect() as conn:
        assert conn.scalar(text("SELECT current_user")) == "pharmatrace_app"
    for statement, refusal in [
        ("UPDATE audit_entries SET entry = entry || ' '", "permission denied"),
        ("DELETE FROM audit_entries", "permission denied"),
        ("TRUNCATE audit_entries", "permission denied"),
        ("DELETE FROM ledger_nodes", "permission denied"),
        ("DELETE FROM materials", "permission denied"),
        ("ALTER TABLE audit_entries DISABLE TRIGGER ALL", "must be owner"),
        ("DROP TRIGGER audit_entries_no_update ON audit_entries", "must be owner"),
    ]:
        with pytest.raises(DBAPIError, match=refusal), as_app_role.engine.begin() as conn:
            mark_unit_of_work(conn)
            conn.execute(text(statement))
