"""Environmental monitoring (洁净区环境监控, TJ-6.5, TJ-6.6, TJ-6.7, TJ-6.8, SH-8.4.3): clean-room grade limits,
the state of every room and utility system now, and the floor plan they are drawn on.

**Grade limits** (:data:`GRADE_PARTICLES`, :func:`grade_limit`) are data, with their source: airborne particles
≥0.5 µm and ≥5 µm per m³ at rest and in operation for grades A–D (China GMP 2010, Annex 1 sterile products §9 —
``docs/REFERENCE.md`` "Clean rooms"); differential pressure ≥ 10 Pa to the adjacent lower grade (same annex; for
grade D, to the unclassified area); temperature 18–26 °C and humidity 45–65 %RH, which the annex leaves to the
product, are the **plant's defaults**. A room *in use* (:data:`pharmatrace.equipment.models.ROOM_STATUSES`) is
judged against the in-operation limits, any other status against the at-rest ones.

**A tag's measure** (:func:`measure_of`) comes from the signal part of its name (after the dot) *and* its unit,
both must agree — a ``temperature`` signal in °F is not compared with limits in °C:

* ``particles_0_5`` / ``particles_5`` — signal ``particles_0_5`` (or ``particle_0_5``, ``particles_0_5um``) and
  ``particles_5`` (``particles_5_0``, ``particles_5um``), unit a count per cubic metre (``/m³``, ``个/m³``, ``/m3``);
* ``temperature`` — signal ``temperature`` or ``room_temperature``, unit ``°C``;
* ``humidity`` — signal ``humidity`` or ``relative_humidity``, unit ``%RH`` or ``%``;
* ``differential_pressure`` — signal ``differential_pressure``, ``dp`` or one starting ``differential_pressure_``
  / ``dp_`` (towards a named neighbour), unit ``Pa``;
* anything else has no measure (``None``): it is not judged against grade limits.

**Utility systems** (:func:`system_of`, TJ-6.7, TJ-6.8) are recognised by the signal too: ``compressed_air_…``,
``pure_steam_…``, ``wfi_…`` and ``pw_…`` prefixes, and the water point's plain signals ``conductivity``, ``toc``,
``loop_temperature``, ``flow`` (purified water). Their limits (:data:`UTILITY_LIMITS`) are the **plant's settings**,
citing what they follow: ``docs/REFERENCE.md`` holds no pharmacopoeial water figures, so the ChP 2020 纯化水 /
注射用水 monograph figures used here (conductivity 5.1 and 1.3 µS/cm at 25 °C, TOC 0.50 mg/L) are to be verified
against the edition in force.

**Which limit**: a tag's own limits (:class:`~.models.Tag` ``low_limit`` / ``high_limit``), when set, win over the
grade or plant limit — side by side: a tag that sets only a low limit keeps the grade's high one.

**State** (:func:`room_states`, :func:`utility_states`), per room and per utility system, at a moment:

* ``alert`` — an alarm of it awaits acknowledgement (:mod:`.alarms`), or a latest value lies beyond its limit;
* ``stale`` — a tag has no trustworthy value recent enough: none within ``STALE_SCANS`` × its scan rate or
  ``STALE_FLOOR`` (15 min), whichever is longer, or its latest value is Bad (no value);
* ``no_data`` — it has no tag, or none of its tags has ever reported;
* ``ok`` — otherwise.

An alert outranks staleness: a last value beyond a limit stays an alert however old it is, until a value inside
the limit is stored. A room's tags are those bound to it that have a measure, and those bound to the room itself
(not through its equipment) that belong to no utility system; the process tags of its equipment (the freeze
dryer's shelf temperature) belong to the batch record, not to the room's environment. A utility tag's alarms
count for its system, not for the room of its point of use.

**Floor plan** (:func:`floor_plan`, :func:`set_floor_plan`): an audited site setting ``monitoring.floor_plan``
mapping room codes to rectangles on a 1000 × 600 plan, plus boxes for the utility systems; changed with a reason by
whoever maintains equipment, on the editor page ``/monitoring/floor-plan/edit`` (:mod:`.environment_views`). The
shape (whole numbers, inside the plan) is checked by :class:`FloorPlan`; the plant's facts (the rooms exist, no
rectangles overlap) by the service. A refused plan stores nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.equipment.models import ROOM_GRADES, Room
from pharmatrace.kernel.errors import N_, RULE, ValidationFailed
from pharmatrace.kernel.identity.models import Setting
from pharmatrace.kernel.identity.schemas import Reason, Strict
from pharmatrace.kernel.identity.service import Principal, store_setting
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import historian, tags
from pharmatrace.monitoring.alarm_models import Alarm
from pharmatrace.monitoring.models import HistorianValue, Tag

SETTINGS_KEY = "monitoring.floor_plan"
PLAN_WIDTH, PLAN_HEIGHT = 1000, 600
STALE_SCANS = 3
STALE_FLOOR = timedelta(minutes=15)

MEASURES = ("particles_0_5", "particles_5", "temperature", "humidity", "differential_pressure")
STATES = ("ok", "alert", "stale", "no_data")
SYSTEMS = ("purified_water", "wfi", "compressed_air", "pure_steam")

MEASURE_LABELS = {
    "particles_0_5": N_("Particles ≥0.5 µm"),
    "particles_5": N_("Particles ≥5 µm"),
    "temperature": N_("Temperature"),
    "humidity": N_("Relative humidity"),
    "differential_pressure": N_("Differential pressure"),
}
STATE_LABELS = {
    "ok": N_("Within limits"),
    "alert": N_("Alert"),
    "stale": N_("No current value"),
    "no_data": N_("No data"),
}
SYSTEM_LABELS = {
    "purified_water": N_("Purified water"),
    "wfi": N_("Water for injection"),
    "compressed_air": N_("Compressed air"),
    "pure_steam": N_("Pure steam"),
}
QUANTITY_LABELS = {
    "conductivity": N_("Conductivity"),
    "toc": N_("TOC"),
    "temperature": N_("Temperature"),
    "flow": N_("Flow"),
    "pressure": N_("Pressure"),
    "dew_point": N_("Pressure dew point"),
    "condensate_conductivity": N_("Condensate conductivity"),
}

# China GMP 2010 Annex 1 (sterile products) §9, docs/REFERENCE.md "Clean rooms": maximum particles per m³,
# (≥0.5 µm at rest, ≥5 µm at rest, ≥0.5 µm in operation, ≥5 µm in operation); None: not specified.
GRADE_PARTICLES: dict[str, tuple[int, int, int | None, int | None]] = {
    "A": (3_520, 20, 3_520, 20),
    "B": (3_520, 29, 352_000, 2_900),
    "C": (352_000, 2_900, 3_520_000, 29_000),
    "D": (3_520_000, 29_000, None, None),
}
assert set(GRADE_PARTICLES) == set(ROOM_GRADES)
GMP_ANNEX = N_("China GMP Annex 1 (sterile products)")
PLANT_DEFAULT = N_("plant default")
PLANT_SETTING = N_("plant setting")
OWN_LIMIT = N_("tag's own limit")
MIN_DIFFERENTIAL_PRESSURE = Decimal(10)  # Pa, to the adjacent lower grade (Annex 1 §9; REFERENCE.md)
TEMPERATURE_RANGE = (Decimal(18), Decimal(26))  # °C, plant default: the annex sets them per product
HUMIDITY_RANGE = (Decimal(45), Decimal(65))  # %RH, plant default

PARTICLE_UNITS = ("/m³", "/m3", "个/m³", "个/m3", "count/m³", "pcs/m³")
_PARTICLES = re.compile(r"^particles?_(?P<size>0_5|5|5_0)(um)?$")
_DP = re.compile(r"^(differential_pressure|dp)(_[a-z0-9_]+)?$")
WATER_SIGNALS = {
    "conductivity": "conductivity",
    "toc": "toc",
    "loop_temperature": "temperature",
    "flow": "flow",
}
SYSTEM_PREFIXES = (
    ("compressed_air_", "compressed_air"),
    ("pure_steam_", "pure_steam"),
    ("wfi_", "wfi"),
    ("pw_", "purified_water"),
)


@dataclass(frozen=True, slots=True)
class Limit:
    """An acceptable range (either side open) and where each side comes from (msgids)."""

    low: Decimal | None
    high: Decimal | None
    basis: str
    low_basis: str = ""
    high_basis: str = ""

    def beyond(self, value: Decimal) -> bool:
        return (self.low is not None and value < self.low) or (self.high is not None and value > self.high)


def _plant(low: str | None, high: str | None, basis: str) -> Limit:
    return Limit(Decimal(low) if low else None, Decimal(high) if high else None, basis, basis, basis)


# (system, quantity, unit) → the plant's limit, citing what it follows (TJ-6.7, TJ-6.8). To be verified against the
# pharmacopoeia in force: REFERENCE.md gives no water figures.
PW_CONDUCTIVITY = N_("ChP 2020 purified water, 25 °C (plant setting)")
WFI_CONDUCTIVITY = N_("ChP 2020 water for injection, 25 °C (plant setting)")
CHP_TOC = N_("ChP 2020 TOC 0.50 mg/L (plant setting)")
UTILITY_LIMITS: dict[tuple[str, str, str], Limit] = {
    ("purified_water", "conductivity", "µS/cm"): _plant(None, "5.1", PW_CONDUCTIVITY),
    ("purified_water", "toc", "ppb"): _plant(None, "500", CHP_TOC),
    ("purified_water", "toc", "mg/L"): _plant(None, "0.50", CHP_TOC),
    ("wfi", "conductivity", "µS/cm"): _plant(None, "1.3", WFI_CONDUCTIVITY),
    ("wfi", "toc", "ppb"): _plant(None, "500", CHP_TOC),
    ("wfi", "toc", "mg/L"): _plant(None, "0.50", CHP_TOC),
    ("wfi", "temperature", "°C"): _plant("70", None, N_("hot WFI loop ≥ 70 °C (plant setting)")),
    ("compressed_air", "pressure", "MPa"): _plant("0.50", "0.80", PLANT_SETTING),
    ("compressed_air", "dew_point", "°C"): _plant(None, "-20", N_("ISO 8573-1 dew point (plant setting)")),
    ("pure_steam", "temperature", "°C"): _plant("121", None, N_("sterilising temperature (plant setting)")),
    ("pure_steam", "condensate_conductivity", "µS/cm"): _plant(None, "1.3", WFI_CONDUCTIVITY),
}


# --- what a tag measures -----------------------------------------------------------------------------------


def signal_of(name: str) -> str:
    """``"RM-FILL.differential_pressure"`` → ``"differential_pressure"``."""
    return name.split(".", 1)[1] if "." in name else name


def measure_of(name: str, unit: str) -> str | None:
    """The clean-room measure of a tag, from its signal *and* unit (the rule in the module docstring)."""
    signal, unit = signal_of(name).lower(), unit.strip()
    particles = _PARTICLES.match(signal)
    if particles:
        if unit not in PARTICLE_UNITS:
            return None
        return "particles_0_5" if particles.group("size") == "0_5" else "particles_5"
    if signal in ("temperature", "room_temperature"):
        return "temperature" if unit == "°C" else None
    if signal in ("humidity", "relative_humidity"):
        return "humidity" if unit in ("%RH", "%") else None
    if _DP.match(signal):
        return "differential_pressure" if unit == "Pa" else None
    return None


def system_of(name: str) -> tuple[str, str] | None:
    """The utility system and quantity of a tag (``("compressed_air", "dew_point")``), or None."""
    signal = signal_of(name).lower()
    for prefix, system in SYSTEM_PREFIXES:
        if signal.startswith(prefix) and len(signal) > len(prefix):
            rest = signal[len(prefix) :]
            return system, WATER_SIGNALS.get(rest, rest)
    if signal in WATER_SIGNALS:
        return "purified_water", WATER_SIGNALS[signal]
    return None


def grade_limit(grade: str, measure: str, *, in_operation: bool) -> Limit | None:
    """The limit a room of ``grade`` holds for ``measure``; None where the annex specifies none."""
    if measure in ("particles_0_5", "particles_5"):
        rest_05, rest_5, op_05, op_5 = GRADE_PARTICLES[grade]
        high = (
            (op_05 if in_operation else rest_05)
            if measure == "particles_0_5"
            else (op_5 if in_operation else rest_5)
        )
        return None if high is None else Limit(None, Decimal(high), GMP_ANNEX, "", GMP_ANNEX)
    if measure == "differential_pressure":
        return Limit(MIN_DIFFERENTIAL_PRESSURE, None, GMP_ANNEX, GMP_ANNEX, "")
    if measure == "temperature":
        return Limit(*TEMPERATURE_RANGE, PLANT_DEFAULT, PLANT_DEFAULT, PLANT_DEFAULT)
    if measure == "humidity":
        return Limit(*HUMIDITY_RANGE, PLANT_DEFAULT, PLANT_DEFAULT, PLANT_DEFAULT)
    return None


def effective_limit(tag: Tag, default: Limit | None) -> Limit | None:
    """The tag's own limits win over the default, side by side."""
    if tag.low_limit is None and tag.high_limit is None:
        return default
    low_basis = OWN_LIMIT if tag.low_limit is not None else (default.low_basis if default else "")
    high_basis = OWN_LIMIT if tag.high_limit is not None else (default.high_basis if default else "")
    return Limit(
        tag.low_limit if tag.low_limit is not None else (default.low if default else None),
        tag.high_limit if tag.high_limit is not None else (default.high if default else None),
        OWN_LIMIT,
        low_basis,
        high_basis,
    )


# --- state now -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagCheck:
    """One tag's latest value judged against its limit: verdict ``ok`` | ``beyond`` | ``stale`` | ``no_data``."""

    name: str
    description: str
    unit: str
    measure: str | None  # a clean-room measure, or a utility quantity
    value: str | None
    quality: str | None
    source_time: datetime | None
    limit: Limit | None
    verdict: str


@dataclass(frozen=True, slots=True)
class OpenAlarm:
    id: int
    number: str
    tag: str
    condition: str
    state: str
    value: str | None
    raised_at: datetime
    awaiting: bool  # not yet acknowledged


@dataclass(slots=True)
class AreaState:
    """A room (``kind`` "room": code, name, grade) or a utility system (``kind`` "utility": code = system)."""

    kind: str
    code: str
    name: str
    grade: str | None
    in_operation: bool
    tags: list[TagCheck] = field(default_factory=list)
    alarms: list[OpenAlarm] = field(default_factory=list)
    state: str = "no_data"


def is_stale(tag: Tag, latest: HistorianValue, at: datetime) -> bool:
    window = max(STALE_FLOOR, timedelta(milliseconds=STALE_SCANS * tag.scan_rate_ms))
    return latest.source_time < at - window


def check(
    tag: Tag, latest: HistorianValue | None, limit: Limit | None, measure: str | None, at: datetime
) -> TagCheck:
    verdict = "no_data"
    if latest is not None:
        number = _decimal(latest.value)
        if number is not None and limit is not None and limit.beyond(number):
            verdict = "beyond"  # an alert however old: nothing has shown it back inside
        elif number is None or latest.quality == "bad" or is_stale(tag, latest, at):
            verdict = "stale"
        else:
            verdict = "ok"
    return TagCheck(
        name=tag.name, description=tag.description, unit=tag.unit, measure=measure,
        value=latest.value if latest else None, quality=latest.quality if latest else None,
        source_time=latest.source_time if latest else None, limit=limit, verdict=verdict,
    )  # fmt: skip


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def overall(checks: Sequence[TagCheck], alarms: Sequence[OpenAlarm]) -> str:
    """alert > no_data (nothing ever reported) > stale > ok."""
    if any(a.awaiting for a in alarms) or any(c.verdict == "beyond" for c in checks):
        return "alert"
    if not checks or all(c.verdict == "no_data" for c in checks):
        return "no_data"
    if any(c.verdict in ("stale", "no_data") for c in checks):
        return "stale"
    return "ok"


def _open_alarms(session: Session) -> dict[int, list[tuple[Alarm, str]]]:
    """Alarms not closed, by tag id, newest first."""
    found: dict[int, list[tuple[Alarm, str]]] = {}
    rows = session.execute(
        select(Alarm, Tag.name).join(Tag, Tag.id == Alarm.tag_id).where(Alarm.state != "closed")
        .order_by(Alarm.raised_at.desc(), Alarm.id.desc())
    )  # fmt: skip
    for alarm, name in rows:
        found.setdefault(alarm.tag_id, []).append((alarm, name))
    return found


def _alarm(alarm: Alarm, tag_name: str) -> OpenAlarm:
    return OpenAlarm(id=alarm.id, number=alarm.number, tag=tag_name, condition=alarm.condition, state=alarm.state,
                     value=alarm.value_text, raised_at=alarm.raised_at,
                     awaiting=alarm.acknowledged_at is None)  # fmt: skip


def _room_tag(tag: Tag) -> bool:
    if measure_of(tag.name, tag.unit) is not None:
        return True
    return tag.equipment_id is None and system_of(tag.name) is None


def active_rooms(session: Session) -> list[Room]:
    """The rooms of the plant (not voided), in the order of their codes: those the plan may place."""
    return list(session.scalars(select(Room).where(Room.voided_at.is_(None)).order_by(Room.code)))


def room_states(session: Session, at: datetime) -> list[AreaState]:
    """Every room (not voided) with its environment tags judged against its grade, its open alarms and its
    state at ``at`` (TJ-6.5), in the order of their codes."""
    rooms = active_rooms(session)
    all_tags = tags.list_tags(session)
    newest = historian.latest(session, [t.id for t in all_tags])
    open_alarms = _open_alarms(session)
    by_room: dict[int, list[Tag]] = {}
    for tag in all_tags:
        if tag.room_id is not None and _room_tag(tag):
            by_room.setdefault(tag.room_id, []).append(tag)
    utility_ids = {t.id for t in all_tags if system_of(t.name) is not None}
    room_alarms: dict[int, list[OpenAlarm]] = {}
    for tag_id, found in open_alarms.items():
        if tag_id in utility_ids:
            continue
        for alarm, name in found:
            if alarm.room_id is not None:
                room_alarms.setdefault(alarm.room_id, []).append(_alarm(alarm, name))
    states: list[AreaState] = []
    for room in rooms:
        in_operation = room.status == "in_use"
        area = AreaState("room", room.code, room.name, room.grade, in_operation,
                         alarms=room_alarms.get(room.id, []))  # fmt: skip
        for tag in by_room.get(room.id, []):
            measure = measure_of(tag.name, tag.unit)
            default = grade_limit(room.grade, measure, in_operation=in_operation) if measure else None
            area.tags.append(check(tag, newest.get(tag.id), effective_limit(tag, default), measure, at))
        area.state = overall(area.tags, area.alarms)
        states.append(area)
    return states


def utility_states(session: Session, at: datetime) -> list[AreaState]:
    """The utility systems (TJ-6.7, TJ-6.8) with their tags judged against the plant's limits, their open
    alarms and their state at ``at``; every system is listed, with no tag it is ``no_data``."""
    all_tags = [t for t in tags.list_tags(session) if system_of(t.name) is not None]
    newest = historian.latest(session, [t.id for t in all_tags])
    open_alarms = _open_alarms(session)
    states = {system: AreaState("utility", system, SYSTEM_LABELS[system], None, False) for system in SYSTEMS}
    for tag in all_tags:
        found = system_of(tag.name)
        assert found is not None
        system, quantity = found
        area = states[system]
        default = UTILITY_LIMITS.get((system, quantity, tag.unit.strip()))
        area.tags.append(check(tag, newest.get(tag.id), effective_limit(tag, default), quantity, at))
        area.alarms.extend(_alarm(alarm, name) for alarm, name in open_alarms.get(tag.id, []))
    for area in states.values():
        area.state = overall(area.tags, area.alarms)
    return list(states.values())


# --- the floor plan --------------------------------------------------------------------------------------------

Coordinate = Annotated[int, Field(ge=0, le=PLAN_WIDTH)]
Size = Annotated[int, Field(ge=20, le=PLAN_WIDTH)]
RoomCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=2, max_length=32)
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
System = Literal["purified_water", "wfi", "compressed_air", "pure_steam"]


class Rect(Strict):
    """A rectangle on the plan: top-left corner and size, whole units of a 1000 × 600 plan."""

    x: Coordinate
    y: Coordinate
    w: Size
    h: Size

    @model_validator(mode="after")
    def _inside(self) -> Self:
        if self.x + self.w > PLAN_WIDTH or self.y + self.h > PLAN_HEIGHT:
            raise PydanticCustomError(RULE, N_("A rectangle must lie inside the plan (1000 × 600)"))
        return self

    def overlaps(self, other: Rect) -> bool:
        """Sharing an edge is not overlapping: neighbouring rooms have a wall in common."""
        return (self.x < other.x + other.w and other.x < self.x + self.w
                and self.y < other.y + other.h and other.y < self.y + self.h)  # fmt: skip


class UtilityBox(Rect):
    system: System
    label: Label


class FloorPlan(Strict):
    """Rooms (code → rectangle) and utility systems' boxes on one plan."""

    rooms: dict[RoomCode, Rect] = Field(default_factory=dict)
    utilities: list[UtilityBox] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_box_per_system(self) -> Self:
        systems = [u.system for u in self.utilities]
        if len(set(systems)) != len(systems):
            raise PydanticCustomError(RULE, N_("A utility system appears twice on the plan"))
        return self

    def boxes(self) -> list[tuple[str, Rect]]:
        return [*self.rooms.items(), *((u.system, u) for u in self.utilities)]


class FloorPlanUpdate(FloorPlan):
    reason: Reason


def floor_plan(session: Session) -> FloorPlan:
    row = session.get(Setting, SETTINGS_KEY)
    return FloorPlan.model_validate(row.value) if row is not None else FloorPlan()


def check_plan(plan: FloorPlan, room_codes: Iterable[str]) -> None:
    """The plant's facts: every room on the plan exists; no two rectangles overlap (ValidationFailed)."""
    known = set(room_codes)
    unknown = sorted(set(plan.rooms) - known)
    if unknown:
        raise ValidationFailed(N_("Not a room of the plant: {codes}"), codes=", ".join(unknown))
    boxes = plan.boxes()
    for i, (first, a) in enumerate(boxes):
        for second, b in boxes[i + 1 :]:
            if a.overlaps(b):
                raise ValidationFailed(
                    N_("The rectangles of {first} and {second} overlap"), first=first, second=second
                )


def set_floor_plan(uow: UnitOfWork, principal: Principal, update: FloorPlanUpdate) -> FloorPlan:
    """Store the plan as the audited setting ``monitoring.floor_plan`` (old → new with the reason in the trail),
    by whoever maintains equipment; refused whole, nothing stored, when a room is unknown or rectangles overlap."""
    principal.require(tags.MANAGE_PERMISSION)
    check_plan(update, (room.code for room in active_rooms(uow.session)))
    values = update.model_dump(mode="json", exclude={"reason"})
    store_setting(uow, SETTINGS_KEY, values, update.reason)
    return FloorPlan.model_validate(values)
