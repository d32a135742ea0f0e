"""Rows written through the database driver inside a unit of work: for the historian's batches of thousands.

SQLAlchemy's per-parameter processing of an ``executemany`` costs more than the database's own work when a batch
holds thousands of rows (the historian's raw values and roll-ups). :func:`write_rows` runs one short SQL text on the
driver's cursor over all rows instead (on SQLite an ``executemany`` of a prepared statement, on PostgreSQL one
statement over column arrays). It runs on the unit of work's own connection, so the guards see the unit-of-work
marker as for any other write; the caller converts what the driver cannot take as it is (:func:`stamps` for UTC
times).
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
    """``INSERT INTO table (columns) VALUES … tail`` for every row (``tail``: e.g. an ``ON CONFLICT`` merge).

    SQLite: one short statement run over every row (``executemany``, prepared once). PostgreSQL: one statement
    whatever the number of rows, each column sent as one array and expanded by ``unnest`` — psycopg's pipelined
    ``executemany`` still costs a Python round of work per row, most of a 5,000-value ingest.
    """
    if not rows:
        return
    head = f"INSERT INTO {table} ({', '.join(columns)}) "
    if connection.dialect.name == "postgresql":
        types = _pg_types(connection, table, tuple(columns))
        arrays = [f"%s::{kind}[]" for kind in types]
        connection.exec_driver_sql(
            f"{head}SELECT * FROM unnest({', '.join(arrays)}) {tail}",  # noqa: S608 - catalogue types
            tuple(list(c) for c in zip(*rows, strict=True)),
        )
        return
    # one short statement run over every row: the driver parses it once
    connection.exec_driver_sql(f"{head}VALUES ({', '.join(['?'] * len(columns))}) {tail}", list(rows))


_PG_TYPES: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}


def _pg_types(connection: Connection, table: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The SQL types of ``columns`` of ``table`` (PostgreSQL's catalogue, once per process)."""
    key = (table, columns)
    found = _PG_TYPES.get(key)
    if found is None:
        rows = connection.exec_driver_sql(
            "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%(table)s) AND attnum > 0 AND NOT attisdropped",
            {"table": table},
        )
        kinds: dict[str, str] = {name: kind for name, kind in rows}  # noqa: C416 - typed
        found = _PG_TYPES[key] = tuple(kinds[c] for c in columns)
    return found
