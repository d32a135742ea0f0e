"""Connections to the PostgreSQL test server (throwaway databases are created and dropped per test)."""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get("PHARMATRACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def pg_url(name: str) -> str:
    """A throwaway test database. Its sessions commit without waiting for the WAL to reach the disk
    (``synchronous_commit=off``): a crash could lose the last commits of a database the test drops anyway, and
    nothing else changes — constraints, triggers, isolation and the commit order are those of production."""
    url = make_url(PG_ADMIN_URL).set(database=name)
    return url.update_query_dict({"options": "-c synchronous_commit=off"}).render_as_string(
        hide_password=False
    )
