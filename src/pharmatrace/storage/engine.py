"""Engines and sessions for SQLite (WAL, foreign keys on) and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

UOW_FLAG = "pharmatrace_uow"

# Every SQLite connection's settings (docs/adr/0032-sqlite-durable-commits-and-bulk-settings.md).
SQLITE_PRAGMAS = (
    "foreign_keys=ON",
    "journal_mode=WAL",
    # A commit is on the disk when it returns (the WAL synced), as PostgreSQL's: a power cut loses no committed
    # record — the collector has marked its batch forwarded, the ledger's witness holds the entry (SH-8.4.1).
    # NORMAL synced only at checkpoints, so a quiet plant's records could wait hours for the disk.
    "synchronous=FULL",
    "busy_timeout=10000",
    # Statement journals and sorts in memory, not in temporary files: a row written by an executemany into a
    # table with a trigger (every GMP table: storage.guards) copies the pages it changes to the statement journal.
    "temp_store=MEMORY",
    # 64 MiB of pages per connection, not 2 MiB: a scan of 5,000 tags changes a page of the historian's
    # (tag, source time) key per tag.
    "cache_size=-65536",
    # Checkpoint every 64 MiB of WAL, not every 4 MiB: a page changed by many commits in between is copied to
    # the database file once. After a checkpoint the WAL file is cut back to 64 MiB.
    "wal_autocheckpoint=16384",
    "journal_size_limit=67108864",
)


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    # The unit-of-work marker the GMP tables' triggers ask for (storage.guards.uow_only): a function that
    # only PharmaTrace's own connections define, answering 1 while a unit of work owns the transaction.
    flag = record.info.setdefault(UOW_FLAG, {"on": False})
    dbapi_connection.create_function(UOW_FLAG, 0, lambda: 1 if flag["on"] else 0)
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _clear_uow_flag(_dbapi_connection: Any, record: Any) -> None:
    flag = record.info.get(UOW_FLAG)
    if flag is not None:
        flag["on"] = False


def mark_unit_of_work(connection: Connection) -> None:
    """Mark the current transaction of ``connection`` as owned by the unit of work."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT set_config('pharmatrace.uow', 'on', true)")
    else:
        flag = connection.connection.info.get(UOW_FLAG)
        if flag is not None:
            flag["on"] = True


def unmark_unit_of_work(connection: Connection) -> None:
    """SQLite's marker lives on the connection: clear it when the unit of work's transaction ends."""
    if connection.dialect.name == "sqlite" and not connection.closed:
        flag = connection.connection.info.get(UOW_FLAG)
        if flag is not None:
            flag["on"] = False


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _clear_uow_flag)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


@dataclass
class Database:
    """An engine and its session factory; one per process and database."""

    engine: Engine
    sessions: sessionmaker[Session]
    state_dir: Path  # PHARMATRACE_VAR of this instance: site keys, the ledger's witness, stored files
    witness_url: str | None = None  # a second database as the ledger's witness, instead of the file

    @classmethod
    def from_url(cls, url: str, *, state_dir: Path | None = None, witness_url: str | None = None) -> Database:
        if state_dir is None:
            from pharmatrace.config import get_settings

            state_dir = get_settings().var_dir
        engine = make_engine(url)
        return cls(
            engine=engine,
            sessions=sessionmaker(engine, expire_on_commit=False),
            state_dir=state_dir,
            witness_url=witness_url,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()
