"""Small helpers the tests share: the plant's people, API log-ins, audit queries."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, select, text

from pharmatrace.demo.seed import DEMO_PASSWORD, DEMO_USERS
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database, mark_unit_of_work
from pharmatrace.wms import service as wms
from pharmatrace.wms.models import Material
from pharmatrace.wms.schemas import MaterialCreate

LOGIN_BY_ROLE: dict[str, str] = {}
for _user in DEMO_USERS:
    LOGIN_BY_ROLE.setdefault(_user.role, _user.login)
ROLES = tuple(LOGIN_BY_ROLE)


def principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def actor(db: Database, login: str) -> Actor:
    return principal(db, login).actor


def token(client: TestClient, login: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"login": login, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def log_in(client: TestClient, login: str, *, language: str | None = None) -> None:
    """Log in on the page form as ``login`` in a fresh session. ``language`` ("en", "zh_CN") sets the pages'
    language; without it the client's stays (Chinese, the plant's, when it has none)."""
    kept = language or client.cookies.get("pt_lang")
    client.cookies.clear()
    if kept:
        client.cookies.set("pt_lang", kept)
    response = client.post("/login", data={"login": login, "password": DEMO_PASSWORD})
    assert response.status_code in (200, 303), response.text


def audit_entries(db: Database, **where: Any) -> list[AuditEntry]:
    with db.sessions() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        for key, value in where.items():
            query = query.where(getattr(AuditEntry, key) == value)
        return list(session.scalars(query))


def count_rows(db: Database, model: type[Any]) -> int:
    from sqlalchemy import func

    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@contextmanager
def behind_the_apps_back(db: Database) -> Iterator[Connection]:
    """A raw transaction that forges the unit-of-work marker, as a database superuser could."""
    with db.engine.begin() as conn:
        mark_unit_of_work(conn)
        yield conn


def unguarded(conn: Connection, table: str) -> None:
    """What a superuser does first: remove the triggers that protect ``table`` (and its partitions, if any)."""
    if conn.dialect.name == "sqlite":
        names = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"), {"t": table}
        )
        for name in list(names.scalars()):
            conn.execute(text(f"DROP TRIGGER {name}"))
        return
    partitions = conn.execute(
        text("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = CAST(:t AS regclass)"),
        {"t": table},
    )
    for name in [table, *partitions.scalars()]:
        conn.execute(text(f"ALTER TABLE {name} DISABLE TRIGGER ALL"))


@contextmanager
def as_application_role(db: Database) -> Iterator[Database]:
    """The same PostgreSQL database, every connection running as the unprivileged application role."""
    from sqlalchemy import event

    from pharmatrace.storage.guards import APP_ROLE

    app_db = Database.from_url(db.engine.url.render_as_string(hide_password=False), state_dir=db.state_dir)

    def become_app(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute(f"SET ROLE {APP_ROLE}")
        dbapi_connection.commit()  # a SET inside a transaction that is rolled back would be undone

    event.listen(app_db.engine, "connect", become_app)
    try:
        yield app_db
    finally:
        app_db.dispose()


def openssl_verifies(public_key: bytes, message: bytes, signature: bytes, workdir: Path) -> bool:
    """A third-party verifier: the OpenSSL CLI checks an SM2 signature (SM3, default ID) over ``message``."""
    from pharmatrace.kernel import crypto

    openssl = shutil.which("openssl")
    assert openssl, "the openssl CLI is part of the base system"
    (workdir / "pub.pem").write_text(crypto.public_key_pem(public_key))
    (workdir / "msg").write_bytes(message)
    (workdir / "sig").write_bytes(signature)
    command = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg", "-sigfile",
               "sig", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]  # fmt: skip
    return subprocess.run(command, cwd=workdir, capture_output=True, check=False).returncode == 0


# --- the ledger (tests/kernel/test_ledger*.py) ---


def checkpoint(db: Database) -> None:
    """A signed checkpoint now, as the ledger job makes one."""
    with UnitOfWork(db, Actor.system("test")) as uow:
        uow.checkpoint()
        uow.commit()


def new_material(db: Database, code: str) -> Material:
    """A herb material created by the warehouse keeper: one more audited record, one more leaf."""
    with UnitOfWork(db, actor(db, "zhouqiang")) as uow:
        material = wms.create_material(
            uow, MaterialCreate(code=code, name=f"物料 {code}", kind="herb", unit="kg")
        )
        uow.commit()
        return material
