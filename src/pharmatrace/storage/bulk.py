"""Rows written through the database driver inside a unit of work: for the historian's batches of thousands.

SQLAlchemy's per-parameter processing of an ``executemany`` costs more than the database's own work when a batch
holds thousands of rows (the historian's raw values). :func:`write_rows` hands all rows to the driver at once
instead (on SQLite an ``executemany`` of a multi-row statement, on PostgreSQL a ``COPY``). It runs on the unit of
work's own connection, so the guards see the unit-of-work marker as for any other write; the caller converts what
the driver cannot take as it is (:func:`stamps` for UTC times).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import ColumnElement, Connection
from sqlalchemy.exc import DBAPIError

# rows per INSERT statement on SQLite (fewer when its limit of parameters is lower)
CHUNK = 256


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
    *,
    fixed: Mapping[str, int] | None = None,
) -> None:
    """``INSERT INTO table (columns) VALUES …`` for every row; ``fixed``: integer columns with one value for
    every row (an ingest's id), spelt once rather than carried by each row.

    SQLite: an ``executemany`` of one statement of :data:`CHUNK` rows (prepared once, the fixed values in its
    text), the rest by a statement of one row. A row at a time, each row opened a statement journal of its own
    (every GMP table has triggers) and copied to it the pages the transaction had already changed (ADR 0032).

    PostgreSQL: ``COPY … FROM STDIN`` on the unit of work's own connection and transaction — the server's
    fastest way in, with the same triggers and constraints as an ``INSERT``; psycopg formats each row in C and
    carries every value exactly (NaN and infinities included), which one statement over a JSON text (half the
    time of column arrays) could not, and in two thirds of its time.
    """
    if not rows:
        return
    # int(): each fixed value is spelt into the SQL text (SQLite) or repeated per row (COPY), safely
    constants = {name: int(value) for name, value in (fixed or {}).items()}
    if connection.dialect.name == "postgresql":
        statement = f"COPY {table} ({', '.join([*constants, *columns])}) FROM STDIN"
        driver_error = connection.dialect.loaded_dbapi.Error
        cursor = connection.connection.cursor()
        try:
            with cursor.copy(statement) as copy:
                if constants:
                    prefix = tuple(constants.values())
                    for row in rows:
                        copy.write_row(prefix + row)
                else:
                    for row in rows:
                        copy.write_row(row)
        except driver_error as error:  # raised as SQLAlchemy raises the driver's errors (IntegrityError, …)
            raise DBAPIError.instance(
                statement, None, error, driver_error, dialect=connection.dialect
            ) from error
        finally:
            cursor.close()
        return
    literals = "".join(f", {value}" for value in constants.values())
    head = f"INSERT INTO {table} ({', '.join([*columns, *constants])}) VALUES "  # noqa: S608 - names from the code
    one = f"({', '.join(['?'] * len(columns))}{literals})"
    driver = connection.connection.driver_connection
    assert driver is not None
    per = min(CHUNK, driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(columns))
    whole = len(rows) // per * per
    if whole:  # statements of ``per`` rows each: one statement journal and one VM run per ``per`` rows
        flat = list(chain.from_iterable(rows[:whole]))
        step = per * len(columns)
        connection.exec_driver_sql(
            head + ", ".join([one] * per), [tuple(flat[i : i + step]) for i in range(0, len(flat), step)]
        )
    if whole < len(rows):
        connection.exec_driver_sql(head + one, list(rows[whole:]))
