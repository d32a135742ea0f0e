"""Rows written through the database driver inside a unit of work: for the historian's batches of thousands.

SQLAlchemy's per-parameter processing of an ``executemany`` costs more than the database's own work when a batch
holds thousands of rows (the historian's raw values and roll-ups). :func:`write_rows` runs one SQL text on the
driver's cursor instead: on SQLite one prepared statement over all rows, on PostgreSQL multi-row statements of
:data:`CHUNK` rows. It runs on the unit of work's own connection, so the guards see the unit-of-work marker as for
any other write; the caller converts what the driver cannot take as it is (:func:`stamps` for UTC times).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection

CHUNK = 1000  # rows per statement on PostgreSQL (the protocol allows 65,535 parameters)


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
    if connection.dialect.name == "postgresql":
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i : i + CHUNK]
            connection.exec_driver_sql(
                f"{head}{', '.join([one] * len(chunk))} {tail}", tuple(v for row in chunk for v in row)
            )
    else:
        connection.exec_driver_sql(f"{head}({', '.join(['?'] * len(columns))}) {tail}", list(rows))
