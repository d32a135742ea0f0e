"""Monthly partitions of the historian's raw values on PostgreSQL (SH-8.4.3, ADR 0028).

On PostgreSQL ``monitoring_values`` is partitioned by range of ``source_time``, one partition per calendar month
(UTC), named ``monitoring_values_YYYY_MM``; ``monitoring_values_before`` holds everything older than the first
month and ``monitoring_values_default`` whatever no month covers yet, so that a value is never refused for want
of a partition (a collector would otherwise hold it in its buffer for ever). Queries over a time range touch only
the months they name, and a month past every retention can later be detached and archived as one table.

:func:`ensure` creates the months from now through ``ahead`` months on; it is run by migration 0052, by the web
process at start and daily (``serve``), and by ``pharmatrace monitoring partitions``. Creating a partition is
the table owner's right: run as the application role it reports that it could not and changes nothing. A month
whose values already sit in the default partition (a source's clock far ahead) is not created — PostgreSQL would
have to move them, which the append-only guards forbid — and is reported; the values stay readable where they are.

SQLite has no partitions: :func:`ensure` does nothing there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from pharmatrace.kernel import clock
from pharmatrace.storage.engine import Database
from pharmatrace.storage.guards import pg_guard_partition

log = logging.getLogger(__name__)

PARENT = "monitoring_values"
BEFORE = f"{PARENT}_before"
DEFAULT = f"{PARENT}_default"
AHEAD_MONTHS = 3


@dataclass
class Report:
    """What :func:`ensure` did: the partitions it created, the months it left to the default partition (with
    how many values of theirs are there), and a refusal (no right to create tables) if any."""

    created: list[str] = field(default_factory=list)
    blocked: dict[str, int] = field(default_factory=dict)
    refused: str | None = None


def month_of(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)


def horizon(now: datetime, ahead: int = AHEAD_MONTHS) -> datetime:
    """The first day of the ``ahead``-th month after ``now``'s: the last month :func:`ensure` prepares."""
    month = month_of(now)
    for _ in range(ahead):
        month = next_month(month)
    return month


def partition_name(month: datetime) -> str:
    return f"{PARENT}_{month.year:04d}_{month.month:02d}"


def partitions(connection: Connection) -> list[str]:
    """The partitions of the raw values, by name (empty on SQLite or before migration 0052)."""
    if connection.dialect.name != "postgresql":
        return []
    rows = connection.exec_driver_sql(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = to_regclass(%(parent)s) ORDER BY 1",
        {"parent": PARENT},
    )
    return list(rows.scalars())


def create_month(connection: Connection, month: datetime) -> str:
    """One month's partition with its guards; the caller knows it does not exist."""
    name = partition_name(month)
    bounds = f"FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"  # dates we made: no input
    connection.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES {bounds}")
    pg_guard_partition(connection, name)
    return name


def ensure_on(connection: Connection, *, since: datetime, through: datetime) -> Report:
    """Every month from ``since`` through ``through`` has its partition, except those blocked by values already
    in the default partition (reported). Runs in the caller's transaction."""
    report = Report()
    if connection.dialect.name != "postgresql":
        return report
    present = set(partitions(connection))
    month, last = month_of(since), month_of(through)
    while month <= last:
        name = partition_name(month)
        if name not in present:
            waiting = connection.exec_driver_sql(
                f"SELECT count(*) FROM {DEFAULT} WHERE source_time >= %(lo)s AND source_time < %(hi)s",  # noqa: S608
                {"lo": month, "hi": next_month(month)},
            ).scalar_one()
            if waiting:
                report.blocked[name] = int(waiting)
            else:
                report.created.append(create_month(connection, month))
        month = next_month(month)
    return report


def ensure(db: Database, *, ahead: int = AHEAD_MONTHS, now: datetime | None = None) -> Report:
    """The current month and ``ahead`` more have their partitions (one transaction; see the module's notes)."""
    if db.engine.dialect.name != "postgresql":
        return Report()
    now = now or clock.now()
    try:
        with db.engine.begin() as connection:
            report = ensure_on(connection, since=now, through=horizon(now, ahead))
    except DBAPIError as error:  # the application role owns nothing (SH-7.1.3.c): the owner's job
        if getattr(error.orig, "sqlstate", None) != "42501":
            raise
        return Report(refused=str(error.orig).splitlines()[0])
    for name, count in report.blocked.items():
        log.warning("partition %s not created: %d values of its month are in %s", name, count, DEFAULT)
    return report


async def maintainer(db: Database) -> None:
    """The web process's job (``serve``): :func:`ensure` at start and daily."""
    from pharmatrace.kernel import jobs

    await jobs.repeat("historian partitions", lambda: ensure(db), 24 * 3600, at_start=True)
