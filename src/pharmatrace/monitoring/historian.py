"""The historian (历史数据库, SH-8.4.3, SH-8.4.1, TJ-6.5): raw values with source time, server time and quality.

Values arrive in batches (:func:`ingest`). Each batch is one unit of work: one :class:`~.models.Ingest` row —
audited, so its audit entry is a leaf of the ledger — carrying the SM3 of the values it stored
(:func:`values_sm3`), and the values themselves in the append-only ``monitoring_values`` table, whose triggers
refuse any write outside a unit of work and any UPDATE or DELETE. :func:`verify_ingest` recomputes the SM3 from
the stored rows: a value changed behind the application's back (by a database superuser) no longer matches the
digest the ledger holds. The same unit of work merges the stored values into their 1-minute and 1-hour roll-ups
(:func:`pharmatrace.monitoring.rollups.update`), which trends over long ranges read; everything here that answers
"which values" — :func:`values`, :func:`values_of_tags`, the MES's :class:`DatabaseHistorianReader` — reads the raw
values, never the roll-ups.

A value keeps its exact form (SH-8.4.1): the text of a float is its shortest round-trip ``repr``, a decimal keeps
its digits (``21.50`` stays ``21.50``), the source timestamp is kept to the microsecond (UTC), the quality and the
protocol's status code are stored as received — a Bad or Uncertain value is stored with its quality, never
dropped or made good.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import N_, Conflict, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import historian_seam
from pharmatrace.monitoring import rollups
from pharmatrace.monitoring.models import QUALITIES, DataSource, HistorianValue, Ingest, Tag
from pharmatrace.storage import bulk
from pharmatrace.storage.engine import Database

Value = float | Decimal | int | bool | None
COLLECTOR = Actor.system("monitoring-collector")


@dataclass(frozen=True, slots=True)
class Reading:
    """One value as an adapter received it: the source's timestamp and quality, the server's receipt time."""

    tag: str
    source_time: datetime
    value: Value
    quality: str = "good"
    status_code: int | None = None
    server_time: datetime | None = None  # stamped by the adapter on receipt; the ingest's time when missing


@dataclass(frozen=True, slots=True)
class Stored:
    """A value read back: ``value`` decoded per the tag's data type, ``text`` exactly as stored."""

    tag: str
    source_time: datetime
    server_time: datetime
    value: Value
    text: str | None
    quality: str
    status_code: int | None


@dataclass(frozen=True, slots=True)
class IngestResult:
    ingest_id: int
    batch_key: str
    stored: int
    duplicates: int
    values_sm3: str


@functools.lru_cache(maxsize=4096)  # a scan's values share their times: converted once each
def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def encode(data_type: str, value: Value) -> tuple[str | None, float | None]:
    """The exact text of a value and its double (for ranges); ``(None, None)`` for no value."""
    if value is None:
        return None, None
    if data_type == "bool":
        flag = bool(value)
        return ("true" if flag else "false"), (1.0 if flag else 0.0)
    if data_type == "int":
        if isinstance(value, float | Decimal) and value != int(value):
            raise ValidationFailed(N_("{value} is not a whole number"), value=str(value))
        whole = int(value)
        return str(whole), float(whole)
    if data_type == "decimal":
        exact = (
            value
            if isinstance(value, Decimal)
            else Decimal(repr(value) if isinstance(value, float) else value)
        )
        if not exact.is_finite():
            raise ValidationFailed(N_("{value} is not a number"), value=str(value))
        return format(exact, "f"), float(exact)
    number = float(value)
    return repr(number), number


def decode(data_type: str, text: str | None) -> Value:
    if text is None:
        return None
    if data_type == "bool":
        return text == "true"
    if data_type == "int":
        return int(text)
    if data_type == "decimal":
        return Decimal(text)
    return float(text)


def values_sm3(rows: Iterable[Sequence[Any]]) -> str:
    """SM3 of the canonical JSON of ``[tag, source time, server time, value, quality, status code]`` rows."""
    return crypto.sm3(ledger.canonical([list(row) for row in rows])).hex()


def digest_row(tag: str, source_time: datetime, server_time: datetime, value: str | None, quality: str,
                status_code: int | None) -> list[Any]:  # fmt: skip
    return [tag, utc_text(source_time), utc_text(server_time), value, quality, status_code]


VALUE_COLUMNS = (
    "tag_id",
    "ingest_id",
    "source_time",
    "server_time",
    "value",
    "number",
    "quality",
    "status_code",
)


def _insert_values(session: Session, rows: Sequence[dict[str, Any]], ingest_id: int) -> None:
    """The batch's raw values, through the driver (:mod:`pharmatrace.storage.bulk`): thousands per scan."""
    connection = session.connection()
    stamp = bulk.stamps(connection, HistorianValue.__table__.c.source_time)
    values = [
        (row["tag_id"], ingest_id, stamp(row["source_time"]), stamp(row["server_time"]), row["value"],
         row["number"], row["quality"], row["status_code"])
        for row in rows
    ]  # fmt: skip
    bulk.write_rows(connection, "monitoring_values", VALUE_COLUMNS, values)


def ingest(
    db: Database, source_code: str, readings: Sequence[Reading], *, actor: Actor = COLLECTOR,
    batch_key: str | None = None,
) -> IngestResult | None:  # fmt: skip
    """Store a batch of readings of one source as one audited ingest; ``None`` for an empty batch.

    Readings of a tag and source time already stored (a re-delivery) are counted as duplicates and not stored
    twice; a ``batch_key`` already ingested returns that ingest (idempotent re-sends). A reading of a tag the
    source does not have, or of an unknown quality, refuses the whole batch: nothing is written.
    """
    if not readings:
        return None
    key = batch_key or uuid.uuid4().hex
    with UnitOfWork(db, actor, reason="historian ingest") as uow:
        session = uow.session
        done = session.scalar(select(Ingest).where(Ingest.batch_key == key))
        if done is not None:
            return IngestResult(done.id, key, done.stored, done.duplicates, done.values_sm3)
        source = session.scalar(select(DataSource).where(DataSource.code == source_code))
        if source is None or source.voided_at is not None:
            raise Conflict(N_("No active data source {code}"), code=source_code)
        # the source's roll-up mark, held until commit: its ingests commit in the order of their ids
        mark = rollups.hold(session, source.id)
        connection = session.connection()
        marker = "?" if connection.dialect.name == "sqlite" else "%s"
        tags = {  # through the driver: a source may have thousands of tags
            name: (tag_id, data_type)
            for tag_id, name, data_type in connection.exec_driver_sql(
                "SELECT id, name, data_type FROM monitoring_tags "  # noqa: S608 - the driver's marker
                f"WHERE source_id = {marker} AND voided_at IS NULL",
                (source.id,),
            ).all()
        }
        now = clock.now()
        rows: list[dict[str, Any]] = []
        digest: list[list[Any]] = []
        seen: set[tuple[int, datetime]] = set()
        for reading in readings:
            tag = tags.get(reading.tag)
            if tag is None:
                raise ValidationFailed(N_("{source} has no tag {tag}"), source=source_code, tag=reading.tag)
            if reading.quality not in QUALITIES:
                raise ValidationFailed(N_("Unknown quality {quality}"), quality=reading.quality)
            if reading.source_time.tzinfo is None:
                raise ValidationFailed(N_("A source time without its time zone is refused"))
            at = reading.source_time.astimezone(UTC)
            tag_id, data_type = tag
            if (tag_id, at) in seen:
                continue
            seen.add((tag_id, at))
            text, number = encode(data_type, reading.value)
            if text is not None and len(text) > 64:
                raise ValidationFailed(N_("The value of {tag} is too long to store"), tag=reading.tag)
            received = (reading.server_time or now).astimezone(UTC)
            rows.append({"tag_id": tag_id, "source_time": at, "server_time": received, "value": text,
                         "number": number, "quality": reading.quality, "status_code": reading.status_code})  # fmt: skip
            digest.append(digest_row(reading.tag, at, received, text, reading.quality, reading.status_code))
        if rows:  # re-deliveries of values stored by an earlier ingest
            times = [row["source_time"] for row in rows]
            # the source's tags against the (tag, source time) key: no list of thousands of ids to send
            stored_before = {
                (tag_id, at)
                for tag_id, at in session.execute(
                    select(HistorianValue.tag_id, HistorianValue.source_time)
                    .join(Tag, Tag.id == HistorianValue.tag_id)
                    .where(Tag.source_id == source.id, HistorianValue.source_time >= min(times),
                           HistorianValue.source_time <= max(times))
                )
            }  # fmt: skip
            keep = [
                i for i, row in enumerate(rows) if (row["tag_id"], row["source_time"]) not in stored_before
            ]
            rows = [rows[i] for i in keep]
            digest = [digest[i] for i in keep]
        times = [row["source_time"] for row in rows]
        record = Ingest(
            batch_key=key, source_id=source.id, stored=len(rows), duplicates=len(readings) - len(rows),
            first_source_time=min(times) if times else None, last_source_time=max(times) if times else None,
            values_sm3=values_sm3(digest), ingested_at=now,
        )  # fmt: skip
        session.add(record)
        session.flush()
        if rows:
            _insert_values(session, rows, record.id)
            from pharmatrace.monitoring import alarms  # alarms → tags → historian

            # in this unit of work: an alarm commits with the values raising it
            alarms.evaluate(uow, rows, source.id)
        # derived data: the roll-ups of the seconds since the source's last merge, this ingest's included
        if rollups.due(mark, now):
            rollups.merge(session, mark, now)
        result = IngestResult(record.id, key, record.stored, record.duplicates, record.values_sm3)
        uow.commit()
    return result


def verify_ingest(session: Session, ingest_id: int) -> bool:
    """Whether the values stored under an ingest still hash to the SM3 its audited record names — or, when some of
    them were destroyed past their retention, to the SM3 of what the destruction left (TJ-10.1.6.3)."""
    from pharmatrace.monitoring.destruction import expected_of  # destruction → historian

    expected = expected_of(session, ingest_id)
    if expected is None:
        return False
    rows = session.execute(
        select(Tag.name, HistorianValue.source_time, HistorianValue.server_time, HistorianValue.value,
               HistorianValue.quality, HistorianValue.status_code)
        .join(Tag, Tag.id == HistorianValue.tag_id)
        .where(HistorianValue.ingest_id == ingest_id)
        .order_by(HistorianValue.id)
    )  # fmt: skip
    return values_sm3(digest_row(n, s, v, x, q, c) for n, s, v, x, q, c in rows) == expected[1]


def _stored(tag: Tag, row: HistorianValue) -> Stored:
    return Stored(tag.name, row.source_time, row.server_time, decode(tag.data_type, row.value), row.value,
                  row.quality, row.status_code)  # fmt: skip


def values(
    session: Session, tag_name: str, start: datetime, end: datetime, *, limit: int = 100_000
) -> list[Stored]:
    """The raw values of a tag with ``start <= source time <= end``, oldest first (SH-8.4.3)."""
    tag = session.scalar(select(Tag).where(Tag.name == tag_name))
    if tag is None:
        return []
    rows = session.scalars(
        select(HistorianValue)
        .where(
            HistorianValue.tag_id == tag.id,
            HistorianValue.source_time >= start,
            HistorianValue.source_time <= end,
        )
        .order_by(HistorianValue.source_time, HistorianValue.id)
        .limit(limit)
    )
    return [_stored(tag, row) for row in rows]


def values_of_tags(
    session: Session, tag_names: Iterable[str], start: datetime, end: datetime
) -> dict[str, list[Stored]]:
    """The values of these tags during a window — e.g. a batch step's start → completion (TJ-6.4.3.4)."""
    return {name: values(session, name, start, end) for name in tag_names}


def latest(session: Session, tag_ids: Iterable[int]) -> dict[int, HistorianValue]:
    """The most recent value of each tag (by source time)."""
    ids = list(tag_ids)
    if not ids:
        return {}
    newest = (
        select(HistorianValue.tag_id, func.max(HistorianValue.source_time).label("at"))
        .where(HistorianValue.tag_id.in_(ids))
        .group_by(HistorianValue.tag_id)
        .subquery()
    )
    rows = session.scalars(
        select(HistorianValue).join(
            newest, (newest.c.tag_id == HistorianValue.tag_id) & (newest.c.at == HistorianValue.source_time)
        )
    )
    return {row.tag_id: row for row in rows}


def count_values(session: Session, tag_name: str) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(HistorianValue).join(Tag, Tag.id == HistorianValue.tag_id)
            .where(Tag.name == tag_name)
        ) or 0
    )  # fmt: skip


class DatabaseHistorianReader:
    """The batch record's window on the historian (:class:`pharmatrace.mes.historian_seam.HistorianReader`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def values_during(
        self, tag: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, Decimal, str]] | None:
        with self.db.sessions() as session:
            if session.scalar(select(Tag.id).where(Tag.name == tag)) is None:
                return None
            found = values(session, tag, start, end)
        return [(v.source_time, _as_decimal(v.text), v.quality) for v in found]


def _as_decimal(text: str | None) -> Decimal:
    if text is None:
        return Decimal("NaN")  # a Bad sample without a value: counted as rejected, never as a value
    if text in ("true", "false"):
        return Decimal(1 if text == "true" else 0)
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("NaN")


def register_reader(db: Database) -> DatabaseHistorianReader | None:
    """Register this historian with the MES at start-up, unless a reader is registered already (a test's)."""
    if historian_seam.registered():
        return None
    reader = DatabaseHistorianReader(db)
    historian_seam.register(reader)
    return reader


def unregister_reader(reader: DatabaseHistorianReader | None) -> None:
    """At shutdown: take back our reader, and only ours."""
    if reader is not None and historian_seam.reader() is reader:
        historian_seam.register(None)
