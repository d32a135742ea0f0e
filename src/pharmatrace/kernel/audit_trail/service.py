"""Reading the audit trail: filters, the time line, groups, and the list of audited functions.

The trail is written only by the unit of work (:mod:`pharmatrace.kernel.uow`); this module reads it
(SH-7.1.3.d: by time, by business object, by event and by operator) and records exports as audit events
themselves (SH-7.1.3.e). The list of audited functions (SH-7.1.3.a) is derived from the models that
inherit :class:`Audited` and from :data:`SECURITY_EVENTS`, so it cannot drift from what is captured.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Mapper, Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import SECURITY_EVENTS, Audited, AuditEntry
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.base import Base

EXPORT_EVENT = "audit.export"
EXPORT_OBJECT_TYPE = "audit_trail"
PER_PAGE = 50
MAX_PER_PAGE = 500
GROUP_LIMIT = 500

# The operations the unit of work captures on audited records (CZLX).
OPERATION_LABELS: dict[str, str] = {
    "create": N_("Create"),
    "update": N_("Change"),
    "void": N_("Void"),
    "delete": N_("Delete"),
}

# Labels of the filter fields, as printed on reports (msgids).
FILTER_LABELS: dict[str, str] = {
    "since": N_("From"),
    "until": N_("Until"),
    "object_type": N_("Object type"),
    "object_id": N_("Object ID"),
    "parts": N_("With its parts"),
    "event": N_("Operation"),
    "actor": N_("Operator"),
    "q": N_("Reason contains"),
    "order": N_("Order"),
}

GroupBy = Literal["object", "event", "actor"]
GROUPINGS: tuple[GroupBy, ...] = ("object", "event", "actor")

_MOMENT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$")


# --- filters -------------------------------------------------------------------------------------


def beijing_period(text: str) -> tuple[datetime, datetime]:
    """``YYYY-MM-DD[ HH:MM[:SS]]`` in Beijing time → the UTC period it names, ``[start, end)``.

    A date names the whole day, a time to the minute the whole minute, so "until 2026-11-30" includes
    the last entry of that day.
    """
    match = _MOMENT.match(text.strip())
    if match is None:
        raise ValidationFailed(
            N_("“{value}” is not a date or time (YYYY-MM-DD or YYYY-MM-DD HH:MM)"), value=text
        )
    year, month, day = (int(part) for part in match.group(1, 2, 3))
    hour, minute, second = match.group(4, 5, 6)
    try:
        start = datetime(
            year, month, day, int(hour or 0), int(minute or 0), int(second or 0), tzinfo=clock.BEIJING
        )
    except ValueError:
        raise ValidationFailed(N_("“{value}” is not a valid date"), value=text) from None
    if hour is None:
        step = timedelta(days=1)
    elif second is None:
        step = timedelta(minutes=1)
    else:
        step = timedelta(seconds=1)
    return start.astimezone(UTC), (start + step).astimezone(UTC)


@dataclass(frozen=True)
class TrailFilter:
    """What the reader asked for, as typed; ``start``/``end`` are the UTC bounds derived from it.

    ``object_type`` may name several types separated by commas. ``parts`` widens an object to its parts:
    a user's role grants, a role's permission grants (derived from the models' keys).
    """

    since: str = ""
    until: str = ""
    object_type: str = ""
    object_id: str = ""
    parts: bool = False
    event: str = ""
    actor: str = ""
    text: str = ""
    order: str = "desc"
    start: datetime | None = field(init=False, default=None, compare=False)
    end: datetime | None = field(init=False, default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("since", "until", "object_type", "object_id", "event", "actor", "text"):
            object.__setattr__(self, name, str(getattr(self, name) or "").strip())
        if self.order not in ("asc", "desc"):
            raise ValidationFailed(N_("The order must be “asc” or “desc”"))
        start = beijing_period(self.since)[0] if self.since else None
        end = beijing_period(self.until)[1] if self.until else None
        if start is not None and end is not None and start >= end:
            raise ValidationFailed(N_("The start of the period is after its end"))
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def for_object(cls, object_type: str, object_id: str, **more: Any) -> TrailFilter:
        """The trail of one record, with its parts (every record page shows its own trail)."""
        return cls(object_type=object_type, object_id=object_id, parts=True, **more)

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> TrailFilter:
        """The inverse of :meth:`params`: a filter from query or form parameters."""
        return cls(
            since=params.get("since", ""),
            until=params.get("until", ""),
            object_type=params.get("object_type", ""),
            object_id=params.get("object_id", ""),
            parts=params.get("parts", "") in ("1", "true", "on"),
            event=params.get("event", ""),
            actor=params.get("actor", ""),
            text=params.get("q", ""),
            order=params.get("order", "") or "desc",
        )

    @property
    def object_types(self) -> tuple[str, ...]:
        return tuple(t for t in (part.strip() for part in self.object_type.split(",")) if t)

    @property
    def object_key(self) -> str:
        """``type:id`` of the object asked for, or the type(s), or ``*`` for the whole trail."""
        if self.object_id:
            return f"{self.object_type}:{self.object_id}" if self.object_type else self.object_id
        return self.object_type or "*"

    def params(self) -> dict[str, str]:
        """The filter fields that are set, as query parameters (links, export forms, the export record)."""
        out: dict[str, str] = {}
        for item in fields(self):
            if not item.init:
                continue
            value = getattr(self, item.name)
            if item.name == "parts":
                if value:
                    out["parts"] = "1"
            elif item.name == "order":
                if value != "desc":
                    out["order"] = value
            elif value:
                out["q" if item.name == "text" else item.name] = value
        return out


def _conditions(f: TrailFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.start is not None:
        where.append(AuditEntry.at >= f.start)
    if f.end is not None:
        where.append(AuditEntry.at < f.end)
    types = f.object_types
    if f.object_id:
        own: ColumnElement[bool] = AuditEntry.object_id == f.object_id
        if types:
            own = and_(AuditEntry.object_type.in_(types), own)
        part_types = sorted({p for t in types for p in parts_of(t)}) if f.parts else []
        if part_types:
            prefix = AuditEntry.object_id.startswith(f"{f.object_id}:", autoescape=True)
            own = or_(own, and_(AuditEntry.object_type.in_(part_types), prefix))
        where.append(own)
    elif types:
        where.append(AuditEntry.object_type.in_(types))
    if f.event:
        where.append(AuditEntry.event == f.event)
    if f.actor:
        where.append(or_(AuditEntry.actor_login == f.actor, AuditEntry.actor_name == f.actor))
    if f.text:
        where.append(AuditEntry.reason.icontains(f.text, autoescape=True))
    return where


def _ordered(f: TrailFilter) -> tuple[Any, ...]:
    if f.order == "asc":
        return (AuditEntry.at.asc(), AuditEntry.id.asc())
    return (AuditEntry.at.desc(), AuditEntry.id.desc())


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrailPage:
    entries: list[AuditEntry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def count(session: Session, f: TrailFilter) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry).where(*_conditions(f))) or 0)


def entries(session: Session, f: TrailFilter, *, limit: int | None = None) -> list[AuditEntry]:
    """Every entry that matches, in the filter's order (exports)."""
    query = select(AuditEntry).where(*_conditions(f)).order_by(*_ordered(f))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def entries_page(session: Session, f: TrailFilter, *, page: int = 1, per_page: int = PER_PAGE) -> TrailPage:
    """One page of the time line."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    total = count(session, f)
    page = min(max(page, 1), max(1, math.ceil(total / per_page)))
    rows = session.scalars(
        select(AuditEntry)
        .where(*_conditions(f))
        .order_by(*_ordered(f))
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return TrailPage(list(rows), total, page, per_page)


@dataclass(frozen=True, slots=True)
class TrailGroup:
    """Entries that share an object, an event or an operator, with their count and time span."""

    key: tuple[str, ...]  # (object_type, object_id) | (event,) | (actor_login, actor_name)
    count: int
    first: datetime
    last: datetime


def groups(session: Session, f: TrailFilter, by: GroupBy) -> list[TrailGroup]:
    """The matching entries grouped by business object, event type or operator; latest activity first."""
    columns: dict[GroupBy, tuple[Any, ...]] = {
        "object": (AuditEntry.object_type, AuditEntry.object_id),
        "event": (AuditEntry.event,),
        "actor": (AuditEntry.actor_login, AuditEntry.actor_name),
    }
    keys = columns[by]
    last = func.max(AuditEntry.at)
    rows = session.execute(
        select(*keys, func.count(), func.min(AuditEntry.at), last)
        .where(*_conditions(f))
        .group_by(*keys)
        .order_by(last.desc(), *keys)
        .limit(GROUP_LIMIT)
    )
    width = len(keys)
    return [
        TrailGroup(tuple(str(v) for v in row[:width]), int(row[width]), row[width + 1], row[width + 2])
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class TrailChoices:
    """What the filter form offers: the known object types, events and operators."""

    object_types: list[str]
    events: list[str]
    actors: list[tuple[str, str]]


def choices(session: Session) -> TrailChoices:
    types = {r.object_type for r in audited_records()} | set(
        session.scalars(select(AuditEntry.object_type).distinct())
    )
    events = {*OPERATION_LABELS, *SECURITY_EVENTS} | set(session.scalars(select(AuditEntry.event).distinct()))
    actors = session.execute(
        select(AuditEntry.actor_login, func.max(AuditEntry.actor_name))
        .group_by(AuditEntry.actor_login)
        .order_by(AuditEntry.actor_login)
        .limit(1000)
    )
    return TrailChoices(sorted(types), sorted(events), [(str(a), str(b)) for a, b in actors])


# --- exports are audited (SH-7.1.3.e) -------------------------------------------------------------


def record_export(uow: UnitOfWork, f: TrailFilter, fmt: str, exported: int) -> None:
    """An export or print is itself an audit event: who took which part of the trail, in which form."""
    changes: dict[str, Any] = {name: [None, value] for name, value in f.params().items()}
    changes["format"] = [None, fmt]
    changes["entries"] = [None, exported]
    uow.record(EXPORT_EVENT, EXPORT_OBJECT_TYPE, f.object_key, changes=changes)


# --- the list of audited functions (SH-7.1.3.a) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditedRecord:
    """A kind of GMP record whose changes the unit of work captures."""

    object_type: str
    table: str
    label: str  # msgid
    operations: tuple[str, ...]
    parts: tuple[str, ...]  # object types whose IDs start with this record's ID


@dataclass(frozen=True, slots=True)
class AuditedEvent:
    """An event recorded although no GMP row changes (log-ins, exports…)."""

    event: str
    label: str  # msgid


def _audited_mappers() -> list[Mapper[Any]]:
    import pharmatrace.storage.models  # noqa: F401 - every area's models, so the registry is complete

    return sorted(
        (m for m in Base.registry.mappers if issubclass(m.class_, Audited)),
        key=lambda m: str(m.class_.__audit_type__),
    )


@cache
def audited_records() -> tuple[AuditedRecord, ...]:
    mappers = _audited_mappers()
    type_of_table = {m.local_table.name: str(m.class_.__audit_type__) for m in mappers}  # type: ignore[attr-defined]
    parts: dict[str, list[str]] = {}
    for mapper in mappers:
        first = mapper.primary_key[0]
        for fk in first.foreign_keys:
            owner = type_of_table.get(fk.column.table.name)
            if owner is not None and len(mapper.primary_key) > 1:
                parts.setdefault(owner, []).append(str(mapper.class_.__audit_type__))
    records: list[AuditedRecord] = []
    for mapper in mappers:
        cls = mapper.class_
        operations = ["create", "update"]
        if "voided_at" in mapper.columns:
            operations.append("void")
        if cls.__audit_deletable__:
            operations.append("delete")
        audit_type = str(cls.__audit_type__)
        records.append(
            AuditedRecord(
                object_type=audit_type,
                table=str(mapper.local_table.name),  # type: ignore[attr-defined]
                label=str(cls.__audit_label__ or audit_type),
                operations=tuple(operations),
                parts=tuple(sorted(parts.get(audit_type, []))),
            )
        )
    return tuple(records)


def audited_events() -> tuple[AuditedEvent, ...]:
    return tuple(AuditedEvent(event, label) for event, label in SECURITY_EVENTS.items())


def unlisted_events(session: Session) -> list[str]:
    """Events found in the trail that the list does not name: a code path that forgot to register its
    event in ``SECURITY_EVENTS`` still shows up in the list of audited functions."""
    seen = set(session.scalars(select(AuditEntry.event).distinct()))
    return sorted(seen - set(OPERATION_LABELS) - set(SECURITY_EVENTS))


def parts_of(object_type: str) -> tuple[str, ...]:
    for record in audited_records():
        if record.object_type == object_type:
            return record.parts
    return ()


def record_label(object_type: str) -> str:
    """The msgid describing an object type (the type itself when it is not a record type)."""
    for record in audited_records():
        if record.object_type == object_type:
            return record.label
    return object_type


def trail_of(session: Session, records: Iterable[tuple[str, Iterable[int | str]]]) -> list[AuditEntry]:
    """The trail of several records at once (a plot and its harvests, a version and its copies…), newest
    first: ``records`` pairs an object type with the IDs of that type."""
    conditions = [
        (AuditEntry.object_type == kind) & AuditEntry.object_id.in_([str(i) for i in ids])
        for kind, ids in ((kind, list(ids)) for kind, ids in records)
        if ids
    ]
    if not conditions:
        return []
    return list(
        session.scalars(select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.leaf_index.desc()))
    )
