"""Equipment, scales and rooms: the register, status changes through their proper events, logbooks, and
the usability service the MES asks before a step (SH-6.3.2.1, TJ-6.1, TJ-6.4.2).

Writes go through the unit of work; records are voided, never deleted; logbook entries are append-only.
Whether a status still holds is computed here from its validity and the server clock, so equipment past
its cleaning, sterilisation, calibration or qualification validity is not usable the moment it expires,
without any job editing rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.equipment.models import (
    LIFECYCLE_STATES,
    ROOM_LOG_KINDS,
    Equipment,
    LogEntry,
    Room,
)
from pharmatrace.equipment.schemas import (
    EquipmentCreate,
    EquipmentPublic,
    EquipmentStatusPublic,
    EquipmentUpdate,
    LogEntryCreate,
    LogEntryPublic,
    ReasonPublic,
    RoomCreate,
    RoomPublic,
    RoomUpdate,
    ScalePublic,
    StatusPublic,
    UsabilityPublic,
    weighing_rule,
)
from pharmatrace.exchange.datasets import DataSet, Item, register, register_source
from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import plain_value
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, Reasons, ValidationFailed
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork

SCALE = Decimal("0.000001")  # Numeric(14, 6): stored exactly as the database returns it (ledger hashes)

# SH-6.3.2.1.b: the lifecycle moves forward through these steps only.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "requirement": ("design",),
    "design": ("installation",),
    "installation": ("in_service",),
    "in_service": ("maintenance", "retired"),
    "maintenance": ("in_service", "retired"),
    "retired": ("scrapped",),
    "scrapped": (),
}
assert set(TRANSITIONS) == set(LIFECYCLE_STATES)
# The lifecycle states as the pages and the error messages name them (msgids).
LIFECYCLE_LABELS = {
    "requirement": N_("Requirement"),
    "design": N_("Design"),
    "installation": N_("Installation"),
    "in_service": N_("In service"),
    "maintenance": N_("Under maintenance"),
    "retired": N_("Retired"),
    "scrapped": N_("Scrapped"),
}
assert set(LIFECYCLE_LABELS) == set(LIFECYCLE_STATES)

# Operators record use, cleaning and sterilisation; maintenance, repair, calibration and qualification
# are the engineers' (they also need ``equipment.manage``).
ENGINEERING_KINDS = ("maintenance", "repair", "calibration", "qualification")


def permission_for(kind: str) -> str:
    """The permission a logbook entry of ``kind`` needs besides ``equipment.logbook.record``."""
    return "equipment.manage" if kind in ENGINEERING_KINDS else "equipment.logbook.record"


# --- errors -------------------------------------------------------------------------------------------


class NotUsable(Conflict):
    """Equipment or a room that may not be used now (TJ-6.1, TJ-6.4.2): every reason is in the message."""

    code = "not_usable"

    def __init__(self, usability: Usability) -> None:
        message = (
            N_("Equipment {code} ({name}) may not be used: {reasons}")
            if usability.object_type == "equipment"
            else N_("Room {code} ({name}) may not be used: {reasons}")
        )
        super().__init__(
            message, code=usability.code, name=usability.name, reasons=Reasons(usability.reasons)
        )
        self.usability = usability


# --- usability ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reason why something may not be used: a code for machines, an English msgid for people."""

    code: str
    message: str
    params: dict[str, str] = field(default_factory=dict)

    def english(self) -> str:
        return self.message.format(**self.params)


@dataclass(frozen=True, slots=True)
class Usability:
    """The answer to "may this equipment or room be used at ``at``?", with every reason when it may not."""

    object_type: str  # "equipment" | "room"
    object_id: int
    code: str
    name: str
    at: datetime
    reasons: tuple[Refusal, ...]

    @property
    def usable(self) -> bool:
        return not self.reasons

    def __bool__(self) -> bool:
        return self.usable


@dataclass(frozen=True, slots=True)
class Status:
    required: bool
    recorded: str | None
    effective: str  # the recorded status, "expired" past its validity, or "not_required"
    since: datetime | None
    valid_until: datetime | None

    @property
    def expired(self) -> bool:
        return self.effective == "expired"

    def public(self) -> StatusPublic:
        return StatusPublic(
            required=self.required,
            recorded=self.recorded,
            effective=self.effective,
            since=self.since,
            valid_until=self.valid_until,
        )


def _status(
    required: bool,
    recorded: str | None,
    good: str,
    since: datetime | None,
    until: datetime | None,
    at: datetime,
) -> Status:
    if not required:
        effective = "not_required"
    elif recorded == good and until is not None and until <= at:
        effective = "expired"
    else:
        effective = recorded or "not_required"
    return Status(required, recorded, effective, since, until)


def cleaning_status(equipment: Equipment, at: datetime) -> Status:
    return _status(equipment.cleaning_validity_hours is not None, equipment.cleaning_status, "clean",
                   equipment.cleaned_at, equipment.clean_until, at)  # fmt: skip


def sterilisation_status(equipment: Equipment, at: datetime) -> Status:
    return _status(equipment.sterilisation_validity_hours is not None, equipment.sterilisation_status,
                   "sterile", equipment.sterilised_at, equipment.sterile_until, at)  # fmt: skip


def calibration_status(equipment: Equipment, at: datetime) -> Status:
    return _status(equipment.calibration_interval_days is not None, equipment.calibration_status,
                   "calibrated", equipment.calibrated_at, equipment.calibrated_until, at)  # fmt: skip


def qualification_status(equipment: Equipment, at: datetime) -> Status:
    """GMP-critical equipment must be qualified; for other equipment the status is shown, not required."""
    status = _status(True, equipment.qualification_status, "qualified", equipment.qualified_at,
                     equipment.qualified_until, at)  # fmt: skip
    if not equipment.gmp_critical:
        return Status(False, status.recorded, status.effective, status.since, status.valid_until)
    return status


def room_status(room: Room, at: datetime) -> Status:
    return _status(True, room.status, "clean", room.cleaned_at, room.clean_until, at)


def _when(moment: datetime | None) -> str:
    return clock.format_beijing(moment, seconds=False)


_LIFECYCLE_REFUSALS = {
    "requirement": N_("The equipment is not in service yet"),
    "design": N_("The equipment is not in service yet"),
    "installation": N_("The equipment is not in service yet"),
    "maintenance": N_("The equipment is under maintenance"),
    "retired": N_("The equipment is retired"),
    "scrapped": N_("The equipment is scrapped"),
}


def _equipment_refusals(equipment: Equipment, at: datetime) -> list[Refusal]:
    refusals: list[Refusal] = []
    if equipment.voided_at is not None:
        refusals.append(Refusal("void", N_("The equipment record is void")))
    if equipment.lifecycle != "in_service":
        refusals.append(Refusal(f"lifecycle_{equipment.lifecycle}", _LIFECYCLE_REFUSALS[equipment.lifecycle]))
    if equipment.operating_status == "fault":
        refusals.append(Refusal("fault", N_("The equipment has a fault")))
    qualification = qualification_status(equipment, at)
    if qualification.required:
        if qualification.expired:
            refusals.append(Refusal("qualification_expired", N_("The qualification expired at {until}"),
                                    {"until": _when(qualification.valid_until)}))  # fmt: skip
        elif qualification.effective == "failed":
            refusals.append(
                Refusal("qualification_failed", N_("The equipment failed its last qualification"))
            )
        elif qualification.effective != "qualified":
            refusals.append(Refusal("not_qualified", N_("The equipment is not qualified")))
    cleaning = cleaning_status(equipment, at)
    if cleaning.expired:
        refusals.append(Refusal("cleaning_expired", N_("The cleaning expired at {until}"),
                                {"until": _when(cleaning.valid_until)}))  # fmt: skip
    elif cleaning.effective == "to_clean":
        refusals.append(Refusal("not_clean", N_("The equipment is not clean")))
    sterilisation = sterilisation_status(equipment, at)
    if sterilisation.expired:
        refusals.append(Refusal("sterilisation_expired", N_("The sterilisation expired at {until}"),
                                {"until": _when(sterilisation.valid_until)}))  # fmt: skip
    elif sterilisation.effective == "not_sterile":
        refusals.append(Refusal("not_sterile", N_("The equipment is not sterilised")))
    calibration = calibration_status(equipment, at)
    if calibration.expired:
        refusals.append(Refusal("calibration_expired", N_("The calibration expired at {until}"),
                                {"until": _when(calibration.valid_until)}))  # fmt: skip
    elif calibration.effective == "out_of_tolerance":
        refusals.append(Refusal("out_of_tolerance", N_("The last calibration failed: out of tolerance")))
    elif calibration.effective == "not_calibrated":
        refusals.append(Refusal("not_calibrated", N_("The equipment is not calibrated")))
    return refusals


def _room_refusals(room: Room, at: datetime) -> list[Refusal]:
    refusals: list[Refusal] = []
    if room.voided_at is not None:
        refusals.append(Refusal("void", N_("The room record is void")))
    status = room_status(room, at)
    if status.expired:
        refusals.append(Refusal("cleaning_expired", N_("The room's cleaning expired at {until}"),
                                {"until": _when(status.valid_until)}))  # fmt: skip
    elif status.effective == "to_clean":
        refusals.append(Refusal("not_clean", N_("The room is not clean")))
    elif status.effective == "in_use":
        refusals.append(Refusal("in_use", N_("The room is in use")))
    elif status.effective == "maintenance":
        refusals.append(Refusal("maintenance", N_("The room is under maintenance")))
    return refusals


def may_use(
    session: Session, equipment_or_room: Equipment | Room | str, at: datetime | None = None
) -> Usability:
    """May this equipment or room be used at ``at`` (default: now, by the server clock)? For the MES.

    ``equipment_or_room`` is a record, or a scanned code (equipment first, then rooms). A status whose
    validity has passed counts as not holding. The answer names every reason, not only the first.
    """
    target = equipment_or_room
    if isinstance(target, str):
        target = find_by_code(session, target)
    moment = at or clock.now()
    if isinstance(target, Equipment):
        refusals = _equipment_refusals(target, moment)
        kind = "equipment"
    else:
        refusals = _room_refusals(target, moment)
        kind = "room"
    return Usability(kind, target.id, target.code, target.name, moment, tuple(refusals))


USE_REFUSED_EVENT = "equipment.use.refused"


def refuse_unless_usable(
    uow: UnitOfWork, target: Equipment | Room, at: datetime, *, action: str, batch_no: str = ""
) -> Usability:
    """:func:`require_usable` for a use that would be written: refused with every reason, recorded on the
    equipment or room as ``equipment.use.refused`` (TJ-6.1, SH-7.1.3.a), nothing else changed."""
    usability = may_use(uow.session, target, at)
    if not usability.usable:
        uow.refuse(
            NotUsable(usability), USE_REFUSED_EVENT, usability.object_type, usability.object_id,
            changes={
                "action": [None, action], "batch_no": [None, batch_no or None],
                "at": [None, plain_value(at)], "refusals": [None, [r.code for r in usability.reasons]],
                "reasons": [None, [r.english() for r in usability.reasons]],
            },
        )  # fmt: skip
    return usability


def require_usable(
    session: Session, equipment_or_room: Equipment | Room | str, at: datetime | None = None
) -> Usability:
    """:func:`may_use`, raising :class:`NotUsable` with every reason when the answer is no."""
    usability = may_use(session, equipment_or_room, at)
    if not usability.usable:
        raise NotUsable(usability)
    return usability


# --- reading -----------------------------------------------------------------------------------------


def _clean_code(code: str) -> str:
    """A scanned code: keyboard-wedge scanners may add control characters (GS, CR) around it."""
    return "".join(ch for ch in code if ch.isprintable()).strip().upper()


def find_by_code(session: Session, code: str) -> Equipment | Room:
    wanted = _clean_code(code)
    equipment = session.scalar(select(Equipment).where(Equipment.code == wanted))
    if equipment is not None:
        return equipment
    room = session.scalar(select(Room).where(Room.code == wanted))
    if room is not None:
        return room
    raise NotFound(N_("No equipment or room with the code “{code}”"), code=wanted)


def get_equipment(session: Session, equipment_id: int) -> Equipment:
    equipment = session.get(Equipment, equipment_id)
    if equipment is None:
        raise NotFound(N_("No equipment with ID {id}"), id=equipment_id)
    return equipment


def get_room(session: Session, room_id: int) -> Room:
    room = session.get(Room, room_id)
    if room is None:
        raise NotFound(N_("No room with ID {id}"), id=room_id)
    return room


def room_by_code(session: Session, code: str) -> Room:
    room = session.scalar(select(Room).where(Room.code == code))
    if room is None:
        raise NotFound(N_("No room with the code “{code}”"), code=code)
    return room


def list_equipment(
    session: Session,
    *,
    text: str = "",
    equipment_class: str = "",
    lifecycle: str = "",
    room_id: int | None = None,
    weighing_only: bool = False,
    include_void: bool = False,
) -> list[Equipment]:
    query = select(Equipment).order_by(Equipment.code)
    if text.strip():
        wanted = _clean_code(text)
        query = query.where(Equipment.code.like(f"%{wanted}%") | Equipment.name.like(f"%{text.strip()}%"))
    if equipment_class:
        query = query.where(Equipment.equipment_class == equipment_class)
    if lifecycle:
        query = query.where(Equipment.lifecycle == lifecycle)
    if room_id is not None:
        query = query.where(Equipment.room_id == room_id)
    if weighing_only:
        query = query.where(Equipment.capacity.is_not(None))
    if not include_void:
        query = query.where(Equipment.voided_at.is_(None))
    return list(session.scalars(query).unique())


def list_rooms(
    session: Session, *, text: str = "", grade: str = "", include_void: bool = False
) -> list[Room]:
    query = select(Room).order_by(Room.code)
    if text.strip():
        query = query.where(Room.code.like(f"%{_clean_code(text)}%") | Room.name.like(f"%{text.strip()}%"))
    if grade:
        query = query.where(Room.grade == grade)
    if not include_void:
        query = query.where(Room.voided_at.is_(None))
    return list(session.scalars(query))


def logbook(
    session: Session, *, equipment_id: int | None = None, room_id: int | None = None, kind: str = ""
) -> list[LogEntry]:
    """The logbook of one piece of equipment or one room, newest first."""
    query = select(LogEntry).order_by(LogEntry.performed_at.desc(), LogEntry.id.desc())
    if equipment_id is not None:
        query = query.where(LogEntry.equipment_id == equipment_id)
    if room_id is not None:
        query = query.where(LogEntry.room_id == room_id)
    if kind:
        query = query.where(LogEntry.kind == kind)
    return list(session.scalars(query))


# --- writing: rooms ----------------------------------------------------------------------------------


def _live_room(uow: UnitOfWork, room_id: int) -> Room:
    room = get_room(uow.session, room_id)
    if room.voided_at is not None:
        raise Conflict(N_("The room record is void"))
    return room


def create_room(uow: UnitOfWork, data: RoomCreate) -> Room:
    if uow.session.scalar(select(Room.id).where(Room.code == data.code)) is not None:
        raise Conflict(N_("The room code “{code}” is already taken"), code=data.code)
    room = Room(**data.model_dump(), status="to_clean", created_at=clock.now(), created_by=uow.actor.login)
    uow.session.add(room)
    uow.session.flush()
    return room


def update_room(uow: UnitOfWork, room_id: int, data: RoomUpdate) -> Room:
    room = _live_room(uow, room_id)
    for key, value in data.model_dump(exclude={"reason"}, exclude_unset=True).items():
        if value is None:
            raise ValidationFailed(N_("This field cannot be cleared: {field}"), field=key)
        setattr(room, key, value)
    uow.session.flush()
    return room


def void_room(uow: UnitOfWork, room_id: int) -> Room:
    room = _live_room(uow, room_id)
    if uow.session.scalar(
        select(Equipment.id).where(Equipment.room_id == room_id, Equipment.voided_at.is_(None)).limit(1)
    ):
        raise Conflict(N_("The room still holds equipment: move or void it first"))
    uow.void(room)
    return room


def set_room_status(uow: UnitOfWork, room_id: int, status: str) -> Room:
    """Put a room in use, to clean or into maintenance. It becomes clean only through a cleaning entry."""
    room = _live_room(uow, room_id)
    if status == "clean":
        raise Conflict(N_("A room becomes clean only through a cleaning entry in its logbook"))
    if status == "in_use":
        refuse_unless_usable(uow, room, clock.now(), action="status in_use")
    room.status = status
    uow.session.flush()
    return room


# --- writing: equipment ------------------------------------------------------------------------------


def _quantized(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(SCALE)


def _live_equipment(uow: UnitOfWork, equipment_id: int) -> Equipment:
    equipment = get_equipment(uow.session, equipment_id)
    if equipment.voided_at is not None:
        raise Conflict(N_("The equipment record is void"))
    return equipment


def _room_id(uow: UnitOfWork, code: str | None) -> int | None:
    if code is None:
        return None
    room = room_by_code(uow.session, code)
    if room.voided_at is not None:
        raise Conflict(N_("The room record is void"))
    return room.id


def create_equipment(uow: UnitOfWork, data: EquipmentCreate) -> Equipment:
    if uow.session.scalar(select(Equipment.id).where(Equipment.code == data.code)) is not None:
        raise Conflict(N_("The equipment code “{code}” is already taken"), code=data.code)
    values = data.model_dump(exclude={"room_code", "capacity", "readability", "min_weight"})
    equipment = Equipment(
        **values,
        room_id=_room_id(uow, data.room_code),
        capacity=_quantized(data.capacity),
        readability=_quantized(data.readability),
        min_weight=_quantized(data.min_weight),
        operating_status="stopped",
        cleaning_status="to_clean" if data.cleaning_validity_hours else None,
        sterilisation_status="not_sterile" if data.sterilisation_validity_hours else None,
        calibration_status="not_calibrated" if data.calibration_interval_days else None,
        qualification_status="not_qualified",
        created_at=clock.now(),
        created_by=uow.actor.login,
    )
    uow.session.add(equipment)
    uow.session.flush()
    return equipment


# A validity setting switched on starts with the status that needs the event; switched off clears it.
_TRACKED = (
    ("cleaning_validity_hours", "cleaning_status", "to_clean", ("cleaned_at", "clean_until")),
    (
        "sterilisation_validity_hours",
        "sterilisation_status",
        "not_sterile",
        ("sterilised_at", "sterile_until"),
    ),
    (
        "calibration_interval_days",
        "calibration_status",
        "not_calibrated",
        ("calibrated_at", "calibrated_until"),
    ),
)


def update_equipment(uow: UnitOfWork, equipment_id: int, data: EquipmentUpdate) -> Equipment:
    """Change the equipment file (SH-6.3.2.1.a); the trail keeps every old value."""
    equipment = _live_equipment(uow, equipment_id)
    changes: dict[str, Any] = data.model_dump(exclude={"reason"}, exclude_unset=True)
    for required in ("name", "model", "manufacturer", "serial_no", "location", "gmp_critical"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(N_("This field cannot be cleared: {field}"), field=required)
    if "room_code" in changes:
        equipment.room_id = _room_id(uow, changes.pop("room_code"))
    for key in ("capacity", "readability", "min_weight"):
        if key in changes:
            changes[key] = _quantized(changes[key])
    merged = {key: changes.get(key, getattr(equipment, key)) for key in
              ("capacity", "readability", "min_weight", "weight_unit", "calibration_interval_days")}  # fmt: skip
    broken = weighing_rule(equipment.equipment_class, **merged)
    if broken:
        raise ValidationFailed(broken)
    for setting, status, initial, times in _TRACKED:
        if setting not in changes:
            continue
        was, now = getattr(equipment, setting), changes[setting]
        if was is None and now is not None:
            setattr(equipment, status, initial)
        elif was is not None and now is None:
            setattr(equipment, status, None)
            for column in times:
                setattr(equipment, column, None)
    for key, value in changes.items():
        setattr(equipment, key, value)
    uow.session.flush()
    return equipment


def void_equipment(uow: UnitOfWork, equipment_id: int) -> Equipment:
    equipment = _live_equipment(uow, equipment_id)
    uow.void(equipment)
    return equipment


def change_lifecycle(uow: UnitOfWork, equipment_id: int, state: str) -> Equipment:
    """Move the equipment one step along its lifecycle (SH-6.3.2.1.b). GMP-critical equipment enters
    service only with a valid qualification; leaving service stops it; returning from maintenance
    needs cleaning (and sterilisation) again."""
    equipment = _live_equipment(uow, equipment_id)
    if state not in TRANSITIONS.get(equipment.lifecycle, ()):
        raise Conflict(
            N_("The equipment cannot go from “{old}” to “{new}”"),
            old=Msgid(LIFECYCLE_LABELS[equipment.lifecycle]),
            new=Msgid(LIFECYCLE_LABELS.get(state, state)),
        )
    if state == "in_service" and equipment.gmp_critical:
        qualification = qualification_status(equipment, clock.now())
        if qualification.effective != "qualified":
            raise Conflict(N_("GMP-critical equipment enters service only with a valid qualification"))
    if state != "in_service":
        equipment.operating_status = "stopped"
    if equipment.lifecycle == "maintenance" and state == "in_service":
        _needs_cleaning(equipment)
    equipment.lifecycle = state
    uow.session.flush()
    return equipment


def set_operating_status(uow: UnitOfWork, equipment_id: int, status: str) -> Equipment:
    equipment = _live_equipment(uow, equipment_id)
    if status == "running" and equipment.lifecycle != "in_service":
        raise Conflict(N_("Only equipment in service can run"))
    equipment.operating_status = status
    uow.session.flush()
    return equipment


def _needs_cleaning(equipment: Equipment) -> None:
    if equipment.cleaning_status is not None:
        equipment.cleaning_status = "to_clean"
    if equipment.sterilisation_status is not None:
        equipment.sterilisation_status = "not_sterile"


def _performed(performed_at: datetime | None, now: datetime) -> datetime:
    if performed_at is None:
        return now
    if performed_at > now:
        raise ValidationFailed(N_("An activity cannot be recorded in the future"))
    return performed_at


def _entry(
    uow: UnitOfWork, data: LogEntryCreate, performed: datetime, now: datetime, **target: int
) -> LogEntry:
    return LogEntry(
        **target,
        kind=data.kind,
        performed_at=performed,
        recorded_at=now,
        recorded_by=uow.actor.login,
        recorded_by_name=uow.actor.full_name,
        description=data.description,
        result=data.result,
        batch_no=data.batch_no,
        reference=data.reference,
    )


def _not_tracked(what: str) -> Conflict:
    messages = {
        "cleaning": N_(
            "Cleaning is not tracked for this equipment: set a cleaning validity in its file first"
        ),
        "sterilisation": N_(
            "Sterilisation is not tracked for this equipment: set a sterilisation validity in its file first"
        ),
        "calibration": N_(
            "Calibration is not tracked for this equipment: set a calibration interval in its file first"
        ),
    }
    return Conflict(messages[what])


def record_equipment_entry(
    uow: UnitOfWork, equipment_id: int, data: LogEntryCreate, *, performed_at: datetime | None = None
) -> LogEntry:
    """Append an entry to the equipment's logbook and make its status change in the same unit of work.

    ``performed_at`` is for importing an existing paper logbook (the demo seed): the API and the pages
    never pass it, so a recorded activity happens at the server's time (ALCOA: contemporaneous).
    """
    use = data.kind == "use"
    # A use is checked for every reason it may not happen (void and scrapped too) and refused on the record.
    equipment = get_equipment(uow.session, equipment_id) if use else _live_equipment(uow, equipment_id)
    if equipment.lifecycle == "scrapped" and not use:
        raise Conflict(N_("The equipment is scrapped"))
    now = clock.now()
    performed = _performed(performed_at, now)
    entry = _entry(uow, data, performed, now, equipment_id=equipment.id)
    if use:
        refuse_unless_usable(uow, equipment, performed, action="use", batch_no=data.batch_no)
        _needs_cleaning(equipment)
    elif data.kind == "cleaning":
        if equipment.cleaning_validity_hours is None:
            raise _not_tracked("cleaning")
        entry.valid_until = performed + timedelta(hours=equipment.cleaning_validity_hours)
        equipment.cleaning_status = "clean"
        equipment.cleaned_at, equipment.clean_until = performed, entry.valid_until
        if equipment.sterilisation_status is not None:
            equipment.sterilisation_status = "not_sterile"  # sterilisation follows the cleaning
    elif data.kind == "sterilisation":
        if equipment.sterilisation_validity_hours is None:
            raise _not_tracked("sterilisation")
        cleaning = cleaning_status(equipment, performed)
        if cleaning.required and cleaning.effective != "clean":
            raise Conflict(N_("Sterilisation needs clean equipment within its cleaning validity"))
        entry.valid_until = performed + timedelta(hours=equipment.sterilisation_validity_hours)
        equipment.sterilisation_status = "sterile"
        equipment.sterilised_at, equipment.sterile_until = performed, entry.valid_until
    elif data.kind == "calibration":
        if equipment.calibration_interval_days is None:
            raise _not_tracked("calibration")
        equipment.calibrated_at = performed
        if data.result == "pass":
            entry.valid_until = performed + timedelta(days=equipment.calibration_interval_days)
            equipment.calibration_status = "calibrated"
        else:
            equipment.calibration_status = "out_of_tolerance"
        equipment.calibrated_until = entry.valid_until
    elif data.kind == "qualification":
        equipment.qualified_at = performed
        if data.result == "pass":
            if equipment.qualification_interval_days is not None:
                entry.valid_until = performed + timedelta(days=equipment.qualification_interval_days)
            equipment.qualification_status = "qualified"
        else:
            equipment.qualification_status = "failed"
        equipment.qualified_until = entry.valid_until
    else:  # maintenance, repair: the equipment was opened, it is cleaned again before use
        _needs_cleaning(equipment)
        if data.kind == "repair" and equipment.calibration_status is not None:
            equipment.calibration_status = "not_calibrated"  # a repaired instrument is calibrated again
            equipment.calibrated_until = None
    uow.session.add(entry)
    uow.session.flush()
    return entry


def record_room_entry(
    uow: UnitOfWork, room_id: int, data: LogEntryCreate, *, performed_at: datetime | None = None
) -> LogEntry:
    """Append an entry to the room's logbook: use puts it in use, cleaning makes it clean for its
    validity, maintenance leaves it to clean."""
    use = data.kind == "use"
    room = get_room(uow.session, room_id) if use else _live_room(uow, room_id)
    if data.kind not in ROOM_LOG_KINDS:
        raise ValidationFailed(N_("A room logbook records use, cleaning and maintenance only"))
    now = clock.now()
    performed = _performed(performed_at, now)
    entry = _entry(uow, data, performed, now, room_id=room.id)
    if use:
        refuse_unless_usable(uow, room, performed, action="use", batch_no=data.batch_no)
        room.status = "in_use"
    elif data.kind == "cleaning":
        entry.valid_until = performed + timedelta(hours=room.clean_validity_hours)
        room.status = "clean"
        room.cleaned_at, room.clean_until = performed, entry.valid_until
    else:
        room.status = "to_clean"
    uow.session.add(entry)
    uow.session.flush()
    return entry


# --- output ------------------------------------------------------------------------------------------


def equipment_public(equipment: Equipment) -> EquipmentPublic:
    room = equipment.room
    return EquipmentPublic(
        id=equipment.id,
        code=equipment.code,
        name=equipment.name,
        equipment_class=equipment.equipment_class,
        model=equipment.model,
        manufacturer=equipment.manufacturer,
        serial_no=equipment.serial_no,
        room_id=equipment.room_id,
        room_code=room.code if room else None,
        room_name=room.name if room else None,
        location=equipment.location,
        gmp_critical=equipment.gmp_critical,
        lifecycle=equipment.lifecycle,
        operating_status=equipment.operating_status,
        cleaning_validity_hours=equipment.cleaning_validity_hours,
        sterilisation_validity_hours=equipment.sterilisation_validity_hours,
        calibration_interval_days=equipment.calibration_interval_days,
        qualification_interval_days=equipment.qualification_interval_days,
        capacity=plain_number(equipment.capacity),
        readability=plain_number(equipment.readability),
        min_weight=plain_number(equipment.min_weight),
        weight_unit=equipment.weight_unit,
        created_at=equipment.created_at,
        created_by=equipment.created_by,
        voided_at=equipment.voided_at,
    )


def usability_public(usability: Usability, translate: Callable[..., str]) -> UsabilityPublic:
    """``translate`` is the edge's (``pharmatrace.web.i18n.translate``): reasons in the reader's language."""
    return UsabilityPublic(
        object_type="equipment" if usability.object_type == "equipment" else "room",
        id=usability.object_id,
        code=usability.code,
        name=usability.name,
        at=usability.at,
        usable=usability.usable,
        reasons=[
            ReasonPublic(code=r.code, message=translate(r.message, **r.params)) for r in usability.reasons
        ],
    )


# TJ-B.2.1 / TJ-B.2.2.2 exchange values: the guide's own words, independent of the reader's language.
_EXCHANGE_VALUES = {
    "standby": "备用",
    "running": "运行中",
    "stopped": "停机",
    "fault": "故障",
    "clean": "已清洁",
    "to_clean": "待清洁",
    "sterile": "已灭菌",
    "not_sterile": "未灭菌",
    "calibrated": "已校验",
    "not_calibrated": "未校验",
    "out_of_tolerance": "校验不合格",
    "expired": "已过期",
    "not_required": "",
}


@dataclass(frozen=True)
class _EquipmentAt:
    """The equipment and its statuses at one moment: what one TJ-B.2.1 record describes."""

    equipment: Equipment
    cleaning: Any
    sterilisation: Any
    calibration: Any


EQUIPMENT_DATA_SET = register(
    DataSet(
        "TJ-B.2.1",
        "设备设施识别的通用数据集",
        (
            Item("SBMC", "设备名称", "字符型", lambda v: v.equipment.name),
            Item("SBBH", "设备编号", "字符型", lambda v: v.equipment.code),
            Item("YXZT", "运行状态", "字符型", lambda v: _EXCHANGE_VALUES[v.equipment.operating_status]),
            Item("QJZT", "清洁状态", "字符型", lambda v: _EXCHANGE_VALUES[v.cleaning.effective]),
            Item("QJSJ", "清洁时间", "日期时间型", lambda v: v.cleaning.since),
            Item("QJYXQ", "清洁有效期", "日期型", lambda v: v.cleaning.valid_until),
            Item("MJZT", "灭菌状态", "字符型", lambda v: _EXCHANGE_VALUES[v.sterilisation.effective]),
            Item("MJSJ", "灭菌时间", "日期时间型", lambda v: v.sterilisation.since),
            Item("MJYXQ", "灭菌有效期", "日期型", lambda v: v.sterilisation.valid_until),
            Item("JYZT", "校验状态", "字符型", lambda v: _EXCHANGE_VALUES[v.calibration.effective]),
            Item("JYSJ", "校验时间", "日期型", lambda v: v.calibration.since),
            Item("JYYXQ", "校验有效期", "日期型", lambda v: v.calibration.valid_until),
        ),
    )
)


def _equipment_at(equipment: Equipment, at: datetime) -> _EquipmentAt:
    return _EquipmentAt(equipment, cleaning_status(equipment, at), sterilisation_status(equipment, at),
                        calibration_status(equipment, at))  # fmt: skip


def equipment_for_exchange(session: Session) -> list[_EquipmentAt]:
    """Every equipment record that is not void, with its statuses now (the TJ-B.2.1 export's source)."""
    moment = clock.now()
    found = session.scalars(select(Equipment).where(Equipment.voided_at.is_(None)).order_by(Equipment.code))
    return [_equipment_at(equipment, moment) for equipment in found.unique()]


register_source(EQUIPMENT_DATA_SET.clause, equipment_for_exchange, permission="equipment.view")


def equipment_data_set(equipment: Equipment, at: datetime) -> dict[str, str]:
    """The equipment as TJ-B.2.1 (table B.2) short names: dates ``YYYYMMDD``, date-times ``YYYYMMDDThhmmss``."""
    record = EQUIPMENT_DATA_SET.record(_equipment_at(equipment, at))
    return {short: "" if value is None else str(value) for short, value in record.items()}


def scale_data_set(equipment: Equipment, at: datetime) -> dict[str, str]:
    """The scale part of TJ-B.2.2.2 (table B.4): CJMC, CJBH, CJZT (calibration status), CJJD (readability)."""
    return {
        "CJMC": equipment.name,
        "CJBH": equipment.code,
        "CJZT": _EXCHANGE_VALUES[calibration_status(equipment, at).effective],
        "CJJD": f"{plain_number(equipment.readability)} {equipment.weight_unit}",
    }


def equipment_status_public(
    session: Session, equipment: Equipment, translate: Callable[..., str], at: datetime | None = None
) -> EquipmentStatusPublic:
    moment = at or clock.now()
    return EquipmentStatusPublic(
        id=equipment.id,
        code=equipment.code,
        name=equipment.name,
        at=moment,
        lifecycle=equipment.lifecycle,
        operating_status=equipment.operating_status,
        cleaning=cleaning_status(equipment, moment).public(),
        sterilisation=sterilisation_status(equipment, moment).public(),
        calibration=calibration_status(equipment, moment).public(),
        qualification=qualification_status(equipment, moment).public(),
        usability=usability_public(may_use(session, equipment, moment), translate),
        data_set=equipment_data_set(equipment, moment),
    )


def scale_public(session: Session, equipment: Equipment, at: datetime | None = None) -> ScalePublic:
    moment = at or clock.now()
    return ScalePublic(
        id=equipment.id,
        code=equipment.code,
        name=equipment.name,
        room_code=equipment.room.code if equipment.room else None,
        capacity=plain_number(equipment.capacity) or "",
        readability=plain_number(equipment.readability) or "",
        min_weight=plain_number(equipment.min_weight),
        weight_unit=equipment.weight_unit or "",
        calibration=calibration_status(equipment, moment).public(),
        usable=may_use(session, equipment, moment).usable,
        data_set=scale_data_set(equipment, moment),
    )


def room_public(session: Session, room: Room, at: datetime | None = None) -> RoomPublic:
    moment = at or clock.now()
    return RoomPublic(
        id=room.id,
        code=room.code,
        name=room.name,
        grade=room.grade,
        workshop=room.workshop,
        status=room.status,
        effective_status=room_status(room, moment).effective,
        clean_validity_hours=room.clean_validity_hours,
        cleaned_at=room.cleaned_at,
        clean_until=room.clean_until,
        usable=may_use(session, room, moment).usable,
        created_at=room.created_at,
        created_by=room.created_by,
        voided_at=room.voided_at,
    )


def log_entry_public(entry: LogEntry) -> LogEntryPublic:
    return LogEntryPublic.model_validate(entry, from_attributes=True)
