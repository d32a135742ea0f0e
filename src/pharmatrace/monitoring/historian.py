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

from sqlalchemy import Connection, func, select
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
    """SM3 of the canonical JSON of ``[tag, source time, server time, value, quality, status code]`` rows (lists
    or tuples: both are JSON arrays)."""
    return crypto.sm3(ledger.canonical(rows if isinstance(rows, list) else list(rows))).hex()


def digest_row(tag: str, source_time: datetime, server_time: datetime, value: str | None, quality: str,
                status_code: int | None) -> list[Any]:  # fmt: skip
    return [tag, utc_text(source_time), utc_text(server_time), value, quality, status_code]


VALUE_COLUMNS = ("tag_id", "source_time", "server_time", "value", "number", "quality", "status_code")


def _tags(connection: Connection, source_id: int) -> dict[str, tuple[int, str]]:
    """The source's live tags by name: ``(id, data type)``. Read with the driver's cursor: a source may have
    thousands of tags, and SQLAlchemy's result rows cost more than the query."""
    marker = "?" if connection.dialect.name == "sqlite" else "%s"
    cursor = connection.connection.cursor()
    try:
        cursor.execute(
            f"SELECT name, id, data_type FROM monitoring_tags WHERE source_id = {marker} AND voided_at IS NULL",  # noqa: S608
            (source_id,),
        )
        return {name: (tag_id, data_type) for name, tag_id, data_type in cursor.fetchall()}
    finally:
        cursor.close()


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
        tags = _tags(connection, source.id)
        now = clock.now()
        rows, digest, moments = _encoded(source_code, tags, readings, now, connection)
        if rows:  # re-deliveries of values stored by an earlier ingest
            rows, digest = _not_stored_before(session, source.id, rows, digest, moments)
        times = [moments[stamp] for stamp in {row[1] for row in rows}]
        record = Ingest(
            batch_key=key, source_id=source.id, stored=len(rows), duplicates=len(readings) - len(rows),
            first_source_time=min(times) if times else None, last_source_time=max(times) if times else None,
            values_sm3=values_sm3(digest), ingested_at=now,
        )  # fmt: skip
        session.add(record)
        session.flush()
        if rows:  # the raw values through the driver (:mod:`pharmatrace.storage.bulk`): thousands per scan
            bulk.write_rows(
                connection, "monitoring_values", VALUE_COLUMNS, rows, fixed={"ingest_id": record.id}
            )
            from pharmatrace.monitoring import alarms  # alarms → tags → historian

            # in this unit of work: an alarm commits with the values raising it; only the values of tags with
            # rules are converted for it
            rules = alarms.source_rules(session, source.id)
            if rules:
                ruled = {rule.tag_id for rule in rules}
                alarms.evaluate(uow, [_row(row, moments) for row in rows if row[0] in ruled], rules=rules)
        # derived data: the roll-ups of the seconds since the source's last merge, this ingest's included
        if rollups.due(mark, now):
            rollups.merge(session, mark, now)
        result = IngestResult(record.id, key, record.stored, record.duplicates, record.values_sm3)
        uow.commit()
    return result


def _encoded(
    source_code: str, tags: dict[str, tuple[int, str]], readings: Sequence[Reading], now: datetime,
    connection: Connection,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[Any, datetime]]:  # fmt: skip
    """The readings as the rows to store (:data:`VALUE_COLUMNS` without the ingest, times in the driver's form)
    and as the rows the ingest's SM3 covers (:func:`digest_row`), in reading order, a tag's second reading of
    one source time dropped; and the source times by their driver form. Refuses the whole batch on the first
    reading it cannot store. The loop runs once per value (thousands a scan): each distinct moment is converted
    once, and a float of a float tag (most values) takes no call."""
    stamp = bulk.stamps(connection, HistorianValue.__table__.c.source_time)
    # each moment as received → (UTC, the driver's form, the canonical text)
    converted: dict[datetime, tuple[datetime, Any, str]] = {}

    def convert(moment: datetime) -> tuple[datetime, Any, str]:
        if moment.tzinfo is None:
            raise ValidationFailed(N_("A source time without its time zone is refused"))
        at = moment.astimezone(UTC)
        found = converted[moment] = (at, stamp(at), utc_text(at))
        return found

    rows: list[tuple[Any, ...]] = []
    digest: list[tuple[Any, ...]] = []
    moments: dict[Any, datetime] = {}
    seen: set[tuple[int, Any]] = set()
    for reading in readings:
        tag = tags.get(reading.tag)
        if tag is None:
            raise ValidationFailed(N_("{source} has no tag {tag}"), source=source_code, tag=reading.tag)
        quality = reading.quality
        if quality not in QUALITIES:
            raise ValidationFailed(N_("Unknown quality {quality}"), quality=quality)
        at, at_stamp, at_text = converted.get(reading.source_time) or convert(reading.source_time)
        tag_id, data_type = tag
        if (tag_id, at_stamp) in seen:
            continue
        seen.add((tag_id, at_stamp))
        moments[at_stamp] = at
        received = reading.server_time or now
        _, received_stamp, received_text = converted.get(received) or convert(received)
        value = reading.value
        if value.__class__ is float and data_type == "float":
            text: str | None = repr(value)
            number: float | None = value
        else:
            text, number = encode(data_type, value)
            if text is not None and len(text) > 64:
                raise ValidationFailed(N_("The value of {tag} is too long to store"), tag=reading.tag)
        rows.append((tag_id, at_stamp, received_stamp, text, number, quality, reading.status_code))
        digest.append((reading.tag, at_text, received_text, text, quality, reading.status_code))
    return rows, digest, moments


def _not_stored_before(
    session: Session, source_id: int, rows: list[tuple[Any, ...]], digest: list[tuple[Any, ...]],
    moments: dict[Any, datetime],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:  # fmt: skip
    """``rows`` and ``digest`` without the values of a (tag, source time) stored already (a re-delivery).

    Every stored value of the source lies within the source-time range of the ingest that stored it, so when no
    earlier ingest's range meets this batch's — new values, the usual case — none can be stored already, and one
    look at the ingests' index answers instead of a probe of the raw values' key per tag."""
    times = moments.values()
    first, last = min(times), max(times)
    earlier = session.scalar(
        select(Ingest.id)
        .where(
            Ingest.source_id == source_id, Ingest.last_source_time >= first, Ingest.first_source_time <= last
        )
        .limit(1)
    )
    if earlier is None:
        return rows, digest
    stamp = bulk.stamps(session.connection(), HistorianValue.__table__.c.source_time)
    # the source's tags against the (tag, source time) key: no list of thousands of ids to send
    stored = {
        (tag_id, stamp(at))
        for tag_id, at in session.execute(
            select(HistorianValue.tag_id, HistorianValue.source_time)
            .join(Tag, Tag.id == HistorianValue.tag_id)
            .where(Tag.source_id == source_id, HistorianValue.source_time >= first,
                   HistorianValue.source_time <= last)
        )
    }  # fmt: skip
    if not stored:
        return rows, digest
    keep = [i for i, row in enumerate(rows) if (row[0], row[1]) not in stored]
    return [rows[i] for i in keep], [digest[i] for i in keep]


def _row(row: tuple[Any, ...], moments: dict[Any, datetime]) -> dict[str, Any]:
    """A stored row as the alarm evaluation reads it (:func:`~.alarms.evaluate`): the source time in UTC, the
    value's text and double, the quality."""
    tag_id, at, _, text, number, quality, status_code = row
    return {"tag_id": tag_id, "source_time": moments[at], "value": text, "number": number, "quality": quality,
            "status_code": status_code}  # fmt: skip


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
