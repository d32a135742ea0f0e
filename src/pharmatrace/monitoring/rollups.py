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
archiving). Nothing is deleted here: the raw table refuses DELETE; archiving is a later, separate piece of work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from pharmatrace.monitoring.models import HistorianValue, Tag
from pharmatrace.monitoring.rollup_models import PERIODS, RETENTION_YEARS, Rollup
from pharmatrace.storage import bulk

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


def update(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Merge the raw rows an ingest stored into their 1-minute and 1-hour buckets; returns the buckets touched.

    Called inside the ingest's unit of work (the table refuses writes from anywhere else). The batch's values are
    summed per bucket first, then merged by one upsert statement run over all of them through the driver
    (:func:`pharmatrace.storage.bulk.write_rows`). Buckets are written in key order, so two ingests touching the
    same buckets do not deadlock.
    """
    buckets = aggregate(rows)
    if not buckets:
        return 0
    connection = session.connection()
    stamp = bulk.stamps(connection, TABLE.c.bucket)  # UTC; on SQLite its text
    values = [
        (tag_id, period, stamp(start), b.value_count, b.bad_count, b.minimum, b.maximum, b.total,
         stamp(b.first_source_time), stamp(b.last_source_time))  # type: ignore[arg-type]
        for (tag_id, period, start), b in sorted(buckets.items(), key=lambda item: item[0])
    ]  # fmt: skip
    bulk.write_rows(connection, "monitoring_rollups", COLUMNS, values, MERGE)
    return len(values)


def read(session: Session, tag_id: int, period: str, since: datetime, until: datetime) -> list[Rollup]:
    """The ``period`` buckets of a tag that overlap ``since … until``, oldest first."""
    return list(
        session.scalars(
            select(Rollup)
            .where(Rollup.tag_id == tag_id, Rollup.period == period, Rollup.bucket >= bucket_of(since, period),
                   Rollup.bucket <= until)
            .order_by(Rollup.bucket)
        )
    )  # fmt: skip


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
        (r.tag_id, r.period, r.bucket): r
        for period in PERIODS
        for r in read(session, tag.id, period, start, end)
        if r.bucket < end
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
    past_keep: int  # how many: eligible for archiving (archiving is not done here)


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
