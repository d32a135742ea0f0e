"""The databases every benchmark runs on: a throwaway SQLite file, then a throwaway PostgreSQL database when the
server answers (``PHARMATRACE_TEST_PG_URL``), each migrated to the newest schema and dropped afterwards."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pharmatrace.bootstrap import prepare
from pharmatrace.storage.engine import Database

PG_ADMIN_URL = os.environ.get("PHARMATRACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def on_each_database(prefix: str, work: Callable[[Database, str], None]) -> None:
    """Run ``work(db, label)`` on SQLite, then on PostgreSQL if it answers (else say why it was not measured)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite:///{Path(tmp) / f'{prefix}.sqlite3'}", state_dir=Path(tmp) / "var")
        prepare(db)
        work(db, "sqlite")
        db.dispose()
    name = f"pt_{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        print(f"[postgresql] not measured: {str(error).splitlines()[0]}")
        return
    try:
        with tempfile.TemporaryDirectory(prefix="pharmatrace-bench-") as state:
            url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
            db = Database.from_url(url, state_dir=Path(state))
            prepare(db)
            work(db, "postgresql")
            db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
