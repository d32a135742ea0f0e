"""Small helpers the tests share: the plant's people, API log-ins, audit queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, select

from pharmatrace.demo.seed import DEMO_PASSWORD, DEMO_USERS
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.storage.engine import Database, mark_unit_of_work

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
