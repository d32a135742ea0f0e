"""Historian roll-ups and retention (SH-8.4.3, TJ-6.5): 1-minute and 1-hour buckets, raw-retention classes.

Roll-ups (汇总数据) are derived data, kept for trends over long ranges (:mod:`pharmatrace.monitoring.trend`): the
ingest's unit of work calls :func:`update` with the rows it stored, so a bucket commits with the values it sums.
Each value is merged into its bucket by an upsert — counts added, the envelope widened, the sum added — so a late
back-fill into a bucket that exists already merges as if it had come in time, and two ingests touching one bucket
serialise on its row. A usable value is one of quality good or uncertain with a number; a value of quality bad (or
without a value) is counted, never summed. The raw values stay the truth: the MES's "values during this step" and
the tag page's table read them, never the roll-ups; :func:`discrepancies` recomputes buckets from them.

Retention (保留期限): a tag's class names how many years its raw values stay online at full resolution after their
source time (:data:`~.rollup_models.RETENTION_YEARS`). :func:`retention_report` says, per class, the oldest raw
value, the date until which it must be kept, and how many raw values are past their keep period (eligible for
archiving). Nothing is deleted here: a month's raw values past their retention are copied to an archive
(:mod:`pharmatrace.monitoring.archive`) and then destroyed only by an approved destruction
(:mod:`pharmatrace.monitoring.destruction`, TJ-10.1.6.3); the roll-ups of a destroyed month stay, so trends over it
still work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Double, Integer, String, Table, column, func, select, text
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.monitoring.models import HistorianValue, Ingest, Tag
from pharmatrace.monitoring.rollup_models import PERIOD_SECONDS, PERIODS, RETENTION_YEARS, Rollup, RollupMark
from pharmatrace.storage import bulk
from pharmatrace.storage.base import UTCDateTime
from pharmatrace.storage.engine import Database

TABLE: Table = Rollup.__table__  # type: ignore[assignment]


def bucket_of(moment: datetime, period: str) -> datetime:
    """The UTC start of the ``period`` bucket holding ``moment``."""
    at = moment.astimezone(UTC)
    return (
        at.replace(second=0, microsecond=0)
        if period == "1m"
        else at.replace(minute=0, second=0, microsecond=0)
    )


def usable(quality: str, number: float | None) -> bool:
    """Whether a raw value counts as a number (in roll-ups and trends): not of quality bad, and with a value."""
    return quality != "bad" and number is not None


@dataclass(slots=True)
class Bucket:
    """A bucket's aggregate, as merged into :class:`Rollup` (and as :func:`discrepancies` recomputes it)."""

    value_count: int = 0
    bad_count: int = 0
    minimum: float | None = None
    maximum: float | None = None
    total: float | None = None
    first_source_time: datetime | None = None
    last_source_time: datetime | None = None

    @property
    def mean(self) -> float | None:
        return None if self.total is None or not self.value_count else self.total / self.value_count

    def merge(self, other: Bucket) -> None:
        """Add ``other`` (values of the same bucket) to this one, as the database's merge does."""
        self.value_count += other.value_count
        self.bad_count += other.bad_count
        self.minimum = _pick(min, self.minimum, other.minimum)
        self.maximum = _pick(max, self.maximum, other.maximum)
        self.total = (
            None if self.total is None and other.total is None else (self.total or 0.0) + (other.total or 0.0)
        )
        self.first_source_time = _pick(min, self.first_source_time, other.first_source_time)
        self.last_source_time = _pick(max, self.last_source_time, other.last_source_time)

    def add(self, at: datetime, quality: str, number: float | None) -> None:
        if number is not None and usable(quality, number):
            self.value_count += 1
            self.minimum = number if self.minimum is None else min(self.minimum, number)
            self.maximum = number if self.maximum is None else max(self.maximum, number)
            self.total = number if self.total is None else self.total + number
        else:
            self.bad_count += 1
        self.first_source_time = at if self.first_source_time is None else min(self.first_source_time, at)
        self.last_source_time = at if self.last_source_time is None else max(self.last_source_time, at)


def _pick(choose: Any, a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else choose(a, b)


def aggregate(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[int, str, datetime], Bucket]:
    """Rows (``tag_id``, ``source_time``, ``number``, ``quality``) summed per (tag, period, bucket start)."""
    buckets: dict[tuple[int, str, datetime], Bucket] = {}
    # the values of a scan share their source time: its bucket starts are worked out once
    starts: dict[datetime, tuple[datetime, ...]] = {}
    for row in rows:
        at = row["source_time"]
        found = starts.get(at)
        if found is None:
            found = starts[at] = tuple(bucket_of(at, period) for period in PERIODS)
        for period, start in zip(PERIODS, found, strict=True):
            key = (row["tag_id"], period, start)
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = Bucket()
            bucket.add(at, row["quality"], row["number"])
    return buckets


def _lesser(old: str, new: str) -> str:
    return f"CASE WHEN {new} IS NULL THEN {old} WHEN {old} IS NULL OR {new} < {old} THEN {new} ELSE {old} END"


def _greater(old: str, new: str) -> str:
    return f"CASE WHEN {new} IS NULL THEN {old} WHEN {old} IS NULL OR {new} > {old} THEN {new} ELSE {old} END"


COLUMNS = ("tag_id", "period", "bucket", "value_count", "bad_count", "minimum", "maximum", "total",
           "first_source_time", "last_source_time")  # fmt: skip
# The merge of a bucket into the stored one: counts added, the envelope and the times widened, the sums added.
# Written once as SQL text (the same on SQLite and PostgreSQL) and executed on the driver's cursor: SQLAlchemy's
# per-parameter processing of ten thousand buckets a scan cost as much as the rest of the ingest.
MERGE = (
    "ON CONFLICT (tag_id, period, bucket) DO UPDATE SET "
    "value_count = monitoring_rollups.value_count + excluded.value_count, "
    "bad_count = monitoring_rollups.bad_count + excluded.bad_count, "
    f"minimum = {_lesser('monitoring_rollups.minimum', 'excluded.minimum')}, "
    f"maximum = {_greater('monitoring_rollups.maximum', 'excluded.maximum')}, "
    "total = CASE WHEN excluded.total IS NULL THEN monitoring_rollups.total "
    "WHEN monitoring_rollups.total IS NULL THEN excluded.total ELSE monitoring_rollups.total + excluded.total END, "
    f"first_source_time = {_lesser('monitoring_rollups.first_source_time', 'excluded.first_source_time')}, "
    f"last_source_time = {_greater('monitoring_rollups.last_source_time', 'excluded.last_source_time')}"
)


BUCKETS = {  # the bucket start of a source time, as the dialect stores it (SQLite: UTC text; PostgreSQL: UTC)
    ("sqlite", "1m"): "substr({at}, 1, 16) || ':00.000000'",
    ("sqlite", "1h"): "substr({at}, 1, 13) || ':00:00.000000'",
    ("postgresql", "1m"): "date_trunc('minute', {at} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    ("postgresql", "1h"): "date_trunc('hour', {at} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}
USABLE = "quality <> 'bad' AND number IS NOT NULL"  # as :func:`usable`
# Roll-ups are merged when the last merge of the source is this old (server time), by the ingest that finds it so.
MERGE_EVERY = timedelta(seconds=10)


def summed(dialect: str, period: str, where: str) -> str:
    """``SELECT`` of the ``period`` buckets of the raw values ``where`` selects, summed by the database, in key
    order: the same aggregate as :func:`aggregate`, in :data:`COLUMNS` order."""
    bucket = BUCKETS[(dialect, period)].format(at="source_time")
    return (
        f"SELECT tag_id, '{period}', {bucket} AS start, SUM(CASE WHEN {USABLE} THEN 1 ELSE 0 END), "  # noqa: S608
        f"SUM(CASE WHEN {USABLE} THEN 0 ELSE 1 END), MIN(CASE WHEN {USABLE} THEN number END), "
        f"MAX(CASE WHEN {USABLE} THEN number END), SUM(CASE WHEN {USABLE} THEN number END), "
        f"MIN(source_time), MAX(source_time) FROM monitoring_values WHERE {where} "
        "GROUP BY tag_id, start ORDER BY tag_id, start"
    )


def merged(dialect: str, where: str) -> str:
    """``INSERT`` merging the raw values ``where`` selects into both periods' buckets, read once: the 1-minute
    buckets are summed from the values (:func:`summed`) and the 1-hour buckets from those — counts and sums
    added, the envelope and the times widened, as from the values themselves — all in key order."""
    minutes = summed(dialect, "1m", where).removesuffix(" ORDER BY tag_id, start")
    hour = BUCKETS[(dialect, "1h")].format(at="start")
    return (
        f"WITH m (tag_id, period, start, n, bad, low, high, total, first, last) AS MATERIALIZED ({minutes}) "  # noqa: S608
        f"INSERT INTO monitoring_rollups ({', '.join(COLUMNS)}) "
        "SELECT tag_id, period, start, n, bad, low, high, total, first, last FROM m UNION ALL "
        f"SELECT tag_id, '1h', {hour}, SUM(n), SUM(bad), MIN(low), MAX(high), SUM(total), MIN(first), MAX(last) "
        f"FROM m GROUP BY tag_id, {hour} ORDER BY 1, 2, 3 {MERGE}"
    )


def hold(session: Session, source_id: int) -> RollupMark:
    """The source's roll-up mark, locked until the transaction ends (PostgreSQL: ``FOR UPDATE``; SQLite has one
    writer): taken by the ingest before its record gets an id, so a source's ingests commit in id order and
    "every ingest after the mark" is never one still being written. Made at 0 the first time."""
    mark = session.get(RollupMark, source_id, with_for_update=True)
    if mark is None:
        connection = session.connection()
        if connection.dialect.name == "postgresql":  # two first ingests of a new source: one makes the row
            connection.exec_driver_sql(
                "INSERT INTO monitoring_rollup_marks (source_id, ingest_id) VALUES (%s, 0) "
                "ON CONFLICT (source_id) DO NOTHING", (source_id,)
            )  # fmt: skip
            mark = session.get(RollupMark, source_id, with_for_update=True, populate_existing=True)
        else:
            mark = RollupMark(source_id=source_id, ingest_id=0, merged_at=None)
            session.add(mark)
            session.flush()
    assert mark is not None
    return mark


def due(mark: RollupMark, now: datetime) -> bool:
    """Whether the source's values are to be merged now: never merged yet, or not for :data:`MERGE_EVERY`."""
    return mark.merged_at is None or not timedelta(0) <= now - mark.merged_at < MERGE_EVERY


def merge(session: Session, mark: RollupMark, now: datetime) -> int:
    """Merge the raw values of every ingest of the mark's source after the mark into their 1-minute and 1-hour
    buckets, summed by the database, and move the mark to the last of them; returns how many ingests.

    Called inside a unit of work holding the mark (:func:`hold`); the roll-up table refuses writes from anywhere
    else. Each bucket takes one upsert for all the values it gets (ten seconds of a 1 Hz tag: one, not ten).
    Buckets are written in key order, so two merges touching the same buckets do not deadlock; the ingests' time
    range lets PostgreSQL read only the partitions that hold them.
    """
    first, last, upto, count = session.execute(
        select(func.min(Ingest.first_source_time), func.max(Ingest.last_source_time), func.max(Ingest.id),
               func.count()).where(Ingest.source_id == mark.source_id, Ingest.id > mark.ingest_id)
    ).one()  # fmt: skip
    if upto is None:
        mark.merged_at = now
        return 0
    if first is not None:
        connection = session.connection()
        dialect = connection.dialect.name
        stamp = bulk.stamps(connection, TABLE.c.bucket)
        m = "?" if dialect == "sqlite" else "%s"
        where = (  # the driver's markers
            f"ingest_id IN (SELECT id FROM monitoring_ingests WHERE source_id = {m} AND id > {m} AND id <= {m}) "  # noqa: S608
            f"AND source_time >= {m} AND source_time <= {m}"
        )
        connection.exec_driver_sql(
            merged(dialect, where), (mark.source_id, mark.ingest_id, upto, stamp(first), stamp(last or first))
        )
    mark.ingest_id = upto
    mark.merged_at = now
    return int(count)


def catch_up(db: Database, now: datetime | None = None) -> int:
    """Merge what every source has waiting (a source that went quiet keeps its last seconds unmerged until its
    next ingest); returns how many ingests were merged. Reads never depend on it (:func:`read` adds the values
    waiting); it keeps those few."""
    from pharmatrace.kernel.context import Actor
    from pharmatrace.kernel.uow import UnitOfWork

    with db.sessions() as session:
        waiting = list(
            session.scalars(
                select(Ingest.source_id)
                .outerjoin(RollupMark, RollupMark.source_id == Ingest.source_id)
                .where(Ingest.id > func.coalesce(RollupMark.ingest_id, 0))
                .group_by(Ingest.source_id)
                .order_by(Ingest.source_id)
            )
        )
    merged = 0
    for source_id in waiting:
        with UnitOfWork(db, Actor.system("historian-rollups"), reason="historian roll-ups") as uow:
            merged += merge(uow.session, hold(uow.session, source_id), now or clock.now())
            uow.commit()
    return merged


async def merger(db: Database) -> None:
    """The web process's job (``serve``): :func:`catch_up` every minute."""
    from pharmatrace.kernel import jobs

    await jobs.repeat("historian roll-ups", lambda: catch_up(db), 60, at_start=True)


def _waiting(
    session: Session, tag_id: int, period: str, start: datetime, end: datetime
) -> dict[datetime, Bucket]:
    """The ``period`` buckets (start → aggregate) of a tag's raw values with ``start <= source time < end`` that
    are not merged yet (ingests after its source's mark), summed by the database."""
    source_id, mark = session.execute(
        select(Tag.source_id, func.coalesce(RollupMark.ingest_id, 0))
        .outerjoin(RollupMark, RollupMark.source_id == Tag.source_id)
        .where(Tag.id == tag_id)
    ).one()  # fmt: skip
    first = session.scalar(
        select(func.min(Ingest.first_source_time)).where(Ingest.source_id == source_id, Ingest.id > mark)
    )
    if first is None or first >= end:
        return {}
    dialect = session.connection().dialect.name
    where = "tag_id = :tag AND source_time >= :lo AND source_time < :hi AND ingest_id > :mark"
    # the bucket expressions' colons are text, not bind parameters
    sql = summed(dialect, period, "{where}").replace(":", "\\:").format(where=where)
    query = text(sql).columns(
        column("tag_id", Integer), column("period", String), column("start", UTCDateTime()),
        column("value_count", Integer), column("bad_count", Integer), column("minimum", Double()),
        column("maximum", Double()), column("total", Double()), column("first", UTCDateTime()),
        column("last", UTCDateTime()),
    )  # fmt: skip
    found = session.execute(query, {"tag": tag_id, "lo": max(first, start), "hi": end, "mark": mark})
    return {
        row.start: Bucket(int(row.value_count), int(row.bad_count), row.minimum, row.maximum, row.total, row.first,
                          row.last)
        for row in found
    }  # fmt: skip


def read(
    session: Session, tag_id: int, period: str, since: datetime, until: datetime
) -> list[tuple[datetime, Bucket]]:
    """The ``period`` buckets of a tag that overlap ``since … until``, oldest first, as (start, aggregate): the
    stored roll-ups with the values not merged yet added (:func:`merge` runs every few seconds)."""
    start = bucket_of(since, period)
    stored = session.execute(
        select(Rollup.bucket, Rollup.value_count, Rollup.bad_count, Rollup.minimum, Rollup.maximum, Rollup.total,
               Rollup.first_source_time, Rollup.last_source_time)
        .where(Rollup.tag_id == tag_id, Rollup.period == period, Rollup.bucket >= start, Rollup.bucket <= until)
        .order_by(Rollup.bucket)
    )  # fmt: skip
    buckets = {row[0]: Bucket(*row[1:]) for row in stored}
    end = bucket_of(until, period) + timedelta(seconds=PERIOD_SECONDS[period])
    for at, extra in _waiting(session, tag_id, period, start, end).items():
        have = buckets.get(at)
        if have is None:
            buckets[at] = extra
        else:
            have.merge(extra)
    return sorted(buckets.items(), key=lambda item: item[0])


def discrepancies(session: Session, tag_name: str, since: datetime, until: datetime) -> list[str]:
    """Buckets of a tag whose stored roll-up differs from the raw values' (whole buckets within the range);
    empty when the roll-ups hold what the raw values say — a check after a restore, or of a suspected edit."""
    tag = session.scalar(select(Tag).where(Tag.name == tag_name))
    if tag is None:
        return []
    start, end = bucket_of(since, "1h"), bucket_of(until, "1h") + timedelta(hours=1)
    raw = session.execute(
        select(HistorianValue.tag_id, HistorianValue.source_time, HistorianValue.number, HistorianValue.quality)
        .where(HistorianValue.tag_id == tag.id, HistorianValue.source_time >= start,
               HistorianValue.source_time < end)
    )  # fmt: skip
    expected = aggregate(dict(row._mapping) for row in raw)
    stored = {
        (tag.id, period, at): bucket
        for period in PERIODS
        for at, bucket in read(session, tag.id, period, start, end)
        if at < end
    }
    problems = []
    for key in sorted(set(expected) | set(stored), key=lambda k: (k[1], k[2])):
        want, have = expected.get(key), stored.get(key)
        if want is None or have is None:
            problems.append(
                f"{key[1]} {key[2].isoformat()}: {'no raw values' if want is None else 'missing'}"
            )
            continue
        same = (have.value_count, have.bad_count, have.minimum, have.maximum, have.first_source_time,
                have.last_source_time) == (want.value_count, want.bad_count, want.minimum, want.maximum,
                                           want.first_source_time, want.last_source_time)  # fmt: skip
        close = (have.total is None) == (want.total is None) and (
            have.total is None
            or want.total is None
            or abs(have.total - want.total) <= 1e-9 * max(1.0, abs(want.total))
        )
        if not (same and close):
            problems.append(f"{key[1]} {key[2].isoformat()}: differs from the raw values")
    return problems


# --- retention ---------------------------------------------------------------------------------------


def years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def years_after(moment: datetime, years: int) -> datetime:
    return years_before(moment, -years)


@dataclass(frozen=True, slots=True)
class RetentionLine:
    """One retention class: its tags and raw values, and what is past the keep period at ``at``."""

    retention_class: str
    years: int
    tags: int
    values: int
    oldest: datetime | None  # the oldest raw value's source time
    kept_until: datetime | None  # the oldest raw value must stay online until then
    cutoff: datetime  # raw values older than this are past their keep period
    past_keep: int  # how many: eligible for archiving and destruction (neither is done here)


def retention_report(session: Session, at: datetime) -> list[RetentionLine]:
    """Per retention class: the oldest raw value, the date it must be kept until, and the raw values past their
    keep period at ``at`` (SH-8.4.3). Reads only; nothing is archived or deleted."""
    lines = []
    for name, years in RETENTION_YEARS.items():
        cutoff = years_before(at.astimezone(UTC), years)
        ids = select(Tag.id).where(Tag.retention_class == name).scalar_subquery()
        tag_count = session.scalar(select(func.count()).select_from(Tag).where(Tag.retention_class == name))
        oldest, total = session.execute(
            select(func.min(HistorianValue.source_time), func.count()).where(HistorianValue.tag_id.in_(ids))
        ).one()
        past = session.scalar(
            select(func.count()).where(HistorianValue.tag_id.in_(ids), HistorianValue.source_time < cutoff)
        )
        lines.append(
            RetentionLine(name, years, int(tag_count or 0), int(total or 0), oldest,
                          years_after(oldest, years) if oldest is not None else None, cutoff, int(past or 0))
        )  # fmt: skip
    return lines
