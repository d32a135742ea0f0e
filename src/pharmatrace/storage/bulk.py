"""Rows written through the database driver inside a unit of work: for the historian's batches of thousands.

SQLAlchemy's per-parameter processing of an ``executemany`` costs more than the database's own work when a batch
holds thousands of rows (the historian's raw values and roll-ups). :func:`write_rows` runs one short SQL text on the
driver's cursor over all rows instead (on SQLite an ``executemany`` of a prepared statement, on PostgreSQL one
statement over column arrays). It runs on the unit of work's own connection, so the guards see the unit-of-work
marker as for any other write; the caller converts what the driver cannot take as it is (:func:`stamps` for UTC
times).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
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
    whatever the number of rows, the rows sent as one JSON text and expanded by ``json_to_recordset`` into the
    columns' own types — half the time of sending each column as an array for ``unnest`` (psycopg dumps arrays
    element by element), which stays the way for what JSON cannot carry exactly (NaN, infinities); psycopg's
    pipelined ``executemany`` costs a Python round of work per row, most of a 5,000-value ingest.
    """
    if not rows:
        return
    head = f"INSERT INTO {table} ({', '.join(columns)}) "
    if connection.dialect.name == "postgresql":
        types = _pg_types(connection, table, tuple(columns))
        body = _json_rows(columns, rows, [i for i, kind in enumerate(types) if kind.startswith("timestamp")])
        if body is not None:  # one JSON text: built by the json module's C encoder, parsed by PostgreSQL in C
            fields = ", ".join(f"{name} {kind}" for name, kind in zip(columns, types, strict=True))
            connection.exec_driver_sql(
                f"{head}SELECT * FROM json_to_recordset(%s::json) AS rows({fields}) {tail}",  # noqa: S608
                (body,),
            )
            return
        arrays = [f"%s::{kind}[]" for kind in types]
        connection.exec_driver_sql(
            f"{head}SELECT * FROM unnest({', '.join(arrays)}) {tail}",  # noqa: S608 - catalogue types
            tuple(list(c) for c in zip(*rows, strict=True)),
        )
        return
    # one short statement run over every row: the driver parses it once
    connection.exec_driver_sql(f"{head}VALUES ({', '.join(['?'] * len(columns))}) {tail}", list(rows))


def _plain(value: Any) -> str:
    """What JSON has no type for, as the text PostgreSQL's input function reads back exactly."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime refused: GMP times are timezone-aware UTC")
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not sent as JSON")


def _json_rows(
    columns: Sequence[str], rows: Sequence[tuple[Any, ...]], moments: Sequence[int] = ()
) -> str | None:
    """The rows as a JSON array of objects keyed by column; ``None`` when JSON cannot carry them exactly (a NaN
    or an infinity, a type without a text form here): the caller then sends column arrays. The columns at
    ``moments`` hold times: each distinct one is spelt once (a scan's values share theirs)."""
    try:
        data = [list(column) for column in zip(*rows, strict=True)]
        for index in moments:
            spelt: dict[Any, Any] = {None: None}
            for value in set(data[index]) - spelt.keys():
                spelt[value] = _plain(value)
            data[index] = [spelt[value] for value in data[index]]
        return json.dumps([dict(zip(columns, row, strict=True)) for row in zip(*data, strict=True)],
                          allow_nan=False, default=_plain)  # fmt: skip
    except (TypeError, ValueError):
        return None


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
