"""Rows written through the database driver inside a unit of work: for the historian's batches of thousands.

SQLAlchemy's per-parameter processing of an ``executemany`` costs more than the database's own work when a batch
holds thousands of rows (the historian's raw values and roll-ups). :func:`write_rows` runs one short SQL text on the
driver's cursor over all rows instead (``executemany``: a prepared statement on SQLite, pipelined on PostgreSQL). It runs on the unit of work's own connection, so the guards see the unit-of-work marker as for
any other write; the caller converts what the driver cannot take as it is (:func:`stamps` for UTC times).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection


def stamps(connection: Connection, column: ColumnElement[Any]) -> Callable[[datetime], Any]:
    """The driver's form of a moment for ``column`` (a ``UTCDateTime``: UTC; on SQLite its text), each moment
    converted once — a scan's values share their source time."""
    dialect = connection.dialect
    convert = column.type.dialect_impl(dialect).bind_processor(dialect)
    done: dict[datetime, Any] = {}

    def stamp(moment: datetime) -> Any:
        found = done.get(moment)
        if found is None:
            found = done[moment] = convert(moment) if convert is not None else moment
        return found

    return stamp


def write_rows(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    tail: str = "",
) -> None:
    """``INSERT INTO table (columns) VALUES … tail`` for every row (``tail``: e.g. an ``ON CONFLICT`` merge)."""
    if not rows:
        return
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608 - constant names, markers only
    marker = "%s" if connection.dialect.name == "postgresql" else "?"
    # one short statement run over every row: the driver parses it once (psycopg sends the rows pipelined; a
    # statement of thousands of markers was parsed again on every call, most of an ingest's time on PostgreSQL)
    connection.exec_driver_sql(f"{head}({', '.join([marker] * len(columns))}) {tail}", list(rows))
