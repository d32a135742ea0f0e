"""Data sources and tags (数据源与位号, SH-8.1, SH-8.2, TJ-6.5): GMP configuration through the unit of work.

A tag is named ``<equipment or room code>.<signal>`` (:data:`pharmatrace.mes.historian_seam.TAG_PATTERN`), so
a master recipe's critical parameter bound to ``FD-01.shelf_temperature`` finds it (TJ-6.4.3.4). The code
before the dot must be in the equipment register or be a room; the source must exist and not be voided; the
limits must not be inverted (the schema, the service and a CHECK all say so). Created by whoever maintains
equipment (``equipment.manage``); every change needs a reason and lands in the audit trail. Nothing is deleted:
a tag is voided, a source is voided once none of its tags is in use (SH-7.1.3.b). A source's endpoint is one the
collector can open for its protocol (``opc.tcp://host:port/…``, ``mqtt://host:port``, ``modbus://host:port/unit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.equipment.models import Equipment, Room
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, ReasonRequired, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.historian_seam import equipment_of
from pharmatrace.monitoring import historian
from pharmatrace.monitoring.models import DataSource, HistorianValue, Tag
from pharmatrace.monitoring.schemas import (
    SourceChange,
    SourceCreate,
    SourcePublic,
    TagChange,
    TagCreate,
    TagPublic,
)

MANAGE_PERMISSION = "equipment.manage"  # instrumentation is part of the equipment it measures (ADR 0019)
VIEW_PERMISSION = "monitoring.view"

PROTOCOL_LABELS = {"opcua": N_("OPC UA"), "mqtt": N_("MQTT"), "modbus": N_("Modbus TCP")}
# OPC UA severities; not "Good" (合格, a verdict elsewhere): a reading's quality is not a pass/fail judgement
QUALITY_LABELS = {"good": N_("Good quality"), "uncertain": N_("Uncertain quality"), "bad": N_("Bad quality")}
# the scheme the collector opens each protocol with (collector.adapter_for), and an example shown on refusal
ENDPOINT_SCHEMES = {"opcua": "opc.tcp", "mqtt": "mqtt", "modbus": "modbus"}
ENDPOINT_EXAMPLES = {"opcua": "opc.tcp://10.0.0.5:4840/plant", "mqtt": "mqtt://10.0.0.5:1883",
                     "modbus": "modbus://10.0.0.5:502/1"}  # fmt: skip
MODBUS_UNITS = 247  # a Modbus unit (device) id is 0 … 247
RETENTION_LABELS = {"gmp": N_("GMP process data"), "environment": N_("Environmental monitoring"),
                    "utility": N_("Utilities"), "information": N_("Information only")}  # fmt: skip


def get_source(session: Session, code: str) -> DataSource:
    source = session.scalar(select(DataSource).where(DataSource.code == code.strip().upper()))
    if source is None:
        raise NotFound(N_("No data source {code}"), code=code)
    return source


def get_tag(session: Session, name: str) -> Tag:
    tag = session.scalar(select(Tag).where(Tag.name == name.strip()))
    if tag is None:
        raise NotFound(N_("No tag {name}"), name=name)
    return tag


class SourceInUse(Conflict):
    """Refused: a source is voided only once none of its tags is in use (void those first)."""

    code = "monitoring_source_in_use"


def check_endpoint(protocol: str, endpoint: str) -> None:
    """Refused unless the collector can open ``endpoint`` for ``protocol``: its scheme, a host, a port in range
    and, for Modbus, a unit id (:func:`pharmatrace.monitoring.collector.adapter_for` reads the same)."""
    try:
        url = urlsplit(endpoint.strip())
        url.port  # noqa: B018 - raises ValueError when out of range or not a number
    except ValueError:
        url = urlsplit("")
    unit = url.path.strip("/")
    if (
        url.scheme.lower() != ENDPOINT_SCHEMES[protocol]
        or not url.hostname
        or (protocol == "modbus" and unit and not (unit.isdigit() and int(unit) <= MODBUS_UNITS))
    ):
        raise ValidationFailed(
            N_("The endpoint {endpoint} is not one of a {protocol} source: write it as {example}"),
            endpoint=endpoint, protocol=Msgid(PROTOCOL_LABELS[protocol]), example=ENDPOINT_EXAMPLES[protocol],
        )  # fmt: skip


def create_source(uow: UnitOfWork, principal: Principal, body: SourceCreate) -> DataSource:
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    if session.scalar(select(DataSource.id).where(DataSource.code == body.code)) is not None:
        raise Conflict(N_("A data source {code} exists already"), code=body.code)
    check_endpoint(body.protocol, body.endpoint)
    source = DataSource(
        code=body.code, name=body.name, protocol=body.protocol, endpoint=body.endpoint,
        description=body.description, created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(source)
    session.flush()
    return source


def change_source(uow: UnitOfWork, principal: Principal, code: str, body: SourceChange) -> DataSource:
    """Change a source's name, endpoint or description, with a reason (old and new values in the trail); the
    collector service restarts the source's collector when its endpoint changed."""
    principal.require(MANAGE_PERMISSION)
    if uow.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))
    source = get_source(uow.session, code)
    if source.voided_at is not None:
        raise Conflict(N_("The data source {code} is voided"), code=source.code)
    fields = body.model_dump(exclude_unset=True, exclude={"reason"})
    if fields.get("endpoint") is not None:
        check_endpoint(source.protocol, fields["endpoint"])
    for key, value in fields.items():
        if value is not None:  # name and endpoint cannot be cleared; a description is cleared with ""
            setattr(source, key, value)
    uow.session.flush()
    return source


def tags_in_use(session: Session, source: DataSource) -> list[str]:
    return list(
        session.scalars(
            select(Tag.name).where(Tag.source_id == source.id, Tag.voided_at.is_(None)).order_by(Tag.name)
        )
    )


def void_source(uow: UnitOfWork, principal: Principal, code: str) -> DataSource:
    """A source out of use (its tags' values stay), with the unit of work's reason; refused while any of its tags
    is in use — void those first."""
    principal.require(MANAGE_PERMISSION)
    if uow.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))
    source = get_source(uow.session, code)
    if source.voided_at is not None:
        return source
    in_use = tags_in_use(uow.session, source)
    if in_use:
        raise SourceInUse(
            N_("The data source {code} still has {count} tags in use ({names}): void them first"),
            code=source.code, count=len(in_use), names=", ".join(in_use[:5]) + (" …" if len(in_use) > 5 else ""),
        )  # fmt: skip
    uow.void(source)
    return source


def source_public(source: DataSource) -> SourcePublic:
    return SourcePublic(
        code=source.code, name=source.name, protocol=source.protocol, endpoint=source.endpoint,
        description=source.description, created_at=source.created_at, created_by=source.created_by,
        voided_at=source.voided_at, void_reason=source.void_reason,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Binding:
    equipment: Equipment | None
    room: Room | None


def bind(session: Session, name: str) -> Binding:
    """The equipment (or, failing that, the room) a tag's name names; refused when neither exists."""
    code = equipment_of(name)
    equipment = session.scalar(select(Equipment).where(Equipment.code == code))
    if equipment is not None:
        return Binding(equipment, None)
    room = session.scalar(select(Room).where(Room.code == code, Room.voided_at.is_(None)))
    if room is not None:
        return Binding(None, room)
    raise ValidationFailed(
        N_("Tag {name}: {code} is neither in the equipment register nor a room"), name=name, code=code
    )


def create_tag(uow: UnitOfWork, principal: Principal, body: TagCreate) -> Tag:
    """A new tag on an existing source, bound to the equipment or room its name names (SH-8.2)."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    source = get_source(session, body.source)
    if source.voided_at is not None:
        raise Conflict(N_("The data source {code} is voided"), code=source.code)
    if session.scalar(select(Tag.id).where(Tag.name == body.name)) is not None:
        raise Conflict(N_("A tag {name} exists already"), name=body.name)
    if session.scalar(select(Tag.id).where(Tag.source_id == source.id, Tag.address == body.address)):
        raise Conflict(
            N_("Another tag of {code} reads {address} already"), code=source.code, address=body.address
        )
    binding = bind(session, body.name)
    room = binding.room
    if binding.equipment is not None and binding.equipment.room_id is not None:
        room = session.get(Room, binding.equipment.room_id)
    tag = Tag(
        name=body.name, source_id=source.id,
        equipment_id=binding.equipment.id if binding.equipment is not None else None,
        room_id=room.id if room is not None else None,
        location=body.location or (room.name if room is not None else ""), description=body.description,
        unit=body.unit, data_type=body.data_type, decimals=body.decimals, low_limit=body.low_limit,
        high_limit=body.high_limit, scan_rate_ms=body.scan_rate_ms, address=body.address,
        retention_class=body.retention_class, created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(tag)
    session.flush()
    return tag


def change_tag(uow: UnitOfWork, principal: Principal, name: str, body: TagChange) -> Tag:
    """Change a tag's limits, scan rate, unit, description or retention class: with a reason, old and new values in
    the trail."""
    principal.require(MANAGE_PERMISSION)
    if uow.reason is None:
        raise ValidationFailed(N_("A reason is required for this change"))
    tag = get_tag(uow.session, name)
    if tag.voided_at is not None:
        raise Conflict(N_("The tag {name} is voided"), name=name)
    fields = body.model_dump(exclude_unset=True, exclude={"reason"})
    low = fields.get("low_limit", tag.low_limit)
    high = fields.get("high_limit", tag.high_limit)
    if low is not None and high is not None and low >= high:
        raise ValidationFailed(N_("The low limit must be below the high limit"))
    for key, value in fields.items():
        setattr(tag, key, value)
    uow.session.flush()
    return tag


def void_tag(uow: UnitOfWork, principal: Principal, name: str) -> Tag:
    """A tag out of use (its values stay); the reason is the unit of work's."""
    principal.require(MANAGE_PERMISSION)
    if uow.reason is None:
        raise ValidationFailed(N_("A reason is required for this change"))
    tag = get_tag(uow.session, name)
    if tag.voided_at is None:
        uow.void(tag)
    return tag


def list_sources(session: Session) -> list[DataSource]:
    return list(session.scalars(select(DataSource).order_by(DataSource.code)))


def list_tags(session: Session, *, source: str | None = None, text: str = "") -> list[Tag]:
    query = select(Tag).where(Tag.voided_at.is_(None)).order_by(Tag.name)
    if source:
        query = query.join(DataSource, DataSource.id == Tag.source_id).where(
            DataSource.code == source.upper()
        )
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(Tag.name.ilike(like) | Tag.description.ilike(like) | Tag.location.ilike(like))
    return list(session.scalars(query))


def tag_public(session: Session, tag: Tag, latest_value: HistorianValue | None = None) -> TagPublic:
    source = session.get(DataSource, tag.source_id)
    equipment = session.get(Equipment, tag.equipment_id) if tag.equipment_id is not None else None
    room = session.get(Room, tag.room_id) if tag.room_id is not None else None
    return TagPublic(
        name=tag.name, source=source.code if source else "", protocol=source.protocol if source else "",
        equipment=equipment.code if equipment else None, room=room.code if room else None, unit=tag.unit,
        data_type=tag.data_type, decimals=tag.decimals, low_limit=tag.low_limit, high_limit=tag.high_limit,
        scan_rate_ms=tag.scan_rate_ms, address=tag.address, location=tag.location, description=tag.description,
        retention_class=tag.retention_class, latest_value=latest_value.value if latest_value else None,
        latest_quality=latest_value.quality if latest_value else None,
        latest_source_time=latest_value.source_time if latest_value else None,
    )  # fmt: skip


def overview(session: Session, *, source: str | None = None, text: str = "") -> list[TagPublic]:
    """The tags (filtered by source and text) with their latest values — the monitoring page's list."""
    found = list_tags(session, source=source, text=text)
    newest = historian.latest(session, [tag.id for tag in found])
    return [tag_public(session, tag, newest.get(tag.id)) for tag in found]
