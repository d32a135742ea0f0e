"""Storage: one Alembic history for SQLite and PostgreSQL, database-level guards, the state directory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, StatementError

from databases import pg_admin, pg_url
from pharmatrace.bootstrap import prepare
from pharmatrace.config import Settings
from pharmatrace.storage.engine import Database
from pharmatrace.storage.migrate import current_revision


@pytest.fixture
def empty_db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    if backend == "sqlite":
        database = Database.from_url(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield database
        database.dispose()
        return
    request.getfixturevalue("pg_template")  # skips loudly when PostgreSQL is down
    name = f"pt_e_{uuid.uuid4().hex[:12]}"
    admin = pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database.from_url(pg_url(name))
    yield database
    database.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_one_history_upgrades_an_empty_database(empty_db: Database) -> None:
    prepare(empty_db)
    assert current_revision(empty_db.engine) == "0001"
    tables = set(inspect(empty_db.engine).get_table_names())
    assert {
        "users",
        "roles",
        "role_permissions",
        "user_roles",
        "audit_entries",
        "materials",
        "settings",
    } <= tables
    prepare(empty_db)  # idempotent
    assert current_revision(empty_db.engine) == "0001"


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
@pytest.mark.parametrize(
    "statement", ["UPDATE audit_entries SET reason = 'rewritten'", "DELETE FROM audit_entries"]
)
def test_audit_table_refuses_update_and_delete_in_the_database(db: Database, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(statement))
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM audit_entries WHERE reason = 'rewritten'")) == 0


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
@pytest.mark.parametrize(
    "backend", ["postgresql"], indirect=True
)  # TRUNCATE and replica mode are PostgreSQL's
def test_postgres_refuses_truncate_and_replica_mode_does_not_skip_the_triggers(db: Database) -> None:
    with pytest.raises(DBAPIError, match="refused"), db.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_entries"))
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(text("DELETE FROM audit_entries"))
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM audit_entries")) > 0


@pytest.mark.clause("TJ-10.1.2.2.d")
@pytest.mark.parametrize("table", ["users", "materials", "roles"])
def test_gmp_rows_cannot_be_deleted_even_with_raw_sql(db: Database, table: str) -> None:
    with pytest.raises(DBAPIError, match="never deleted"), db.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {table}"))


@pytest.mark.clause("TJ-10.1.2.2.b", "TJ-10.1.2.2.c")
def test_database_refuses_a_business_permission_in_an_admin_role(db: Database) -> None:
    with pytest.raises(DBAPIError, match="segregation of duties"), db.engine.begin() as conn:
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
    with pytest.raises(DBAPIError, match="segregation of duties"), db.engine.begin() as conn:
        user_id = conn.scalar(text("SELECT id FROM users WHERE login = 'sysadmin'"))
        role_id = conn.scalar(text("SELECT id FROM roles WHERE code = 'qa_release'"))
        conn.execute(
            text(
                "INSERT INTO user_roles (user_id, role_id, granted_at, granted_by) "
                "VALUES (:u, :r, CURRENT_TIMESTAMP, 'raw-sql')"
            ),
            {"u": user_id, "r": role_id},
        )


def test_check_constraints_hold_in_the_database(db: Database) -> None:
    with pytest.raises(DBAPIError), db.engine.begin() as conn:
        conn.execute(text("UPDATE materials SET kind = 'rocket_fuel' WHERE code = 'HB-DS-001'"))
    with pytest.raises(DBAPIError), db.engine.begin() as conn:
        conn.execute(text("UPDATE users SET login = 'UPPER' WHERE login = 'zhangwei'"))


@pytest.mark.clause("SH-7.1.5")
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


def test_all_local_state_lives_under_the_var_directory(tmp_path: Path) -> None:
    settings = Settings(var=tmp_path / "state")
    assert settings.db_url == f"sqlite:///{(tmp_path / 'state' / 'pharmatrace.sqlite3').resolve()}"
    assert (
        Settings(var=tmp_path, database_url="postgresql+psycopg://x/y").db_url == "postgresql+psycopg://x/y"
    )
