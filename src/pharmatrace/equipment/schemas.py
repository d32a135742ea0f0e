"""Equipment, scales, rooms and logbooks: validated input and public output."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Name, Reason, Strict, UpperCode

EquipmentClass = Literal[
    "freeze_dryer",
    "filling_line",
    "capping_machine",
    "tunnel_steriliser",
    "vial_washer",
    "autoclave",
    "isolator",
    "tank",
    "filter",
    "balance",
    "scale",
    "instrument",
    "other",
]
LifecycleState = Literal[
    "requirement", "design", "installation", "in_service", "maintenance", "retired", "scrapped"
]
NewLifecycleState = Literal["requirement", "design", "installation"]  # a new record starts before service
OperatingStatus = Literal["standby", "running", "stopped", "fault"]
WeightUnit = Literal["mg", "g", "kg"]
Grade = Literal["A", "B", "C", "D"]
RoomStatus = Literal["in_use", "to_clean", "maintenance"]  # "clean" only through a cleaning entry
LogKind = Literal["use", "cleaning", "sterilisation", "maintenance", "calibration", "repair", "qualification"]
LogResult = Literal["pass", "fail"]

Hours = Annotated[int, Field(ge=1, le=8760)]
Days = Annotated[int, Field(ge=1, le=3650)]
Weight = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=6)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]
SerialNo = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]

WEIGHING = ("balance", "scale")


def weighing_rule(
    equipment_class: str,
    capacity: Decimal | None,
    readability: Decimal | None,
    min_weight: Decimal | None,
    weight_unit: str | None,
    calibration_interval_days: int | None,
) -> str | None:
    """The msgid of the first broken rule of a weighing instrument's data, or ``None`` (TJ-B.2.2.2)."""
    if equipment_class in WEIGHING:
        if capacity is None or readability is None or weight_unit is None:
            return N_("A balance or scale needs its capacity, readability (d) and unit")
        if calibration_interval_days is None:
            return N_("A balance or scale needs a calibration interval")
        if readability >= capacity:
            return N_("The readability (d) must be smaller than the capacity")
        if min_weight is not None and not (readability <= min_weight < capacity):
            return N_("The minimum weight must lie between the readability (d) and the capacity")
        return None
    if capacity is not None or readability is not None or min_weight is not None or weight_unit is not None:
        return N_("Only a balance or scale has a capacity, readability and minimum weight")
    return None


class EquipmentCreate(Strict):
    code: UpperCode
    name: Name
    equipment_class: EquipmentClass
    model: Short = ""
    manufacturer: Short = ""
    serial_no: SerialNo = ""
    room_code: UpperCode | None = None
    location: Short = ""
    gmp_critical: bool = True
    lifecycle: NewLifecycleState = "installation"
    cleaning_validity_hours: Hours | None = None
    sterilisation_validity_hours: Hours | None = None
    calibration_interval_days: Days | None = None
    qualification_interval_days: Days | None = None
    capacity: Weight | None = None
    readability: Weight | None = None
    min_weight: Weight | None = None
    weight_unit: WeightUnit | None = None

    @model_validator(mode="after")
    def _weighing(self) -> EquipmentCreate:
        broken = weighing_rule(
            self.equipment_class,
            self.capacity,
            self.readability,
            self.min_weight,
            self.weight_unit,
            self.calibration_interval_days,
        )
        if broken:
            raise PydanticCustomError(RULE, broken)
        return self


class EquipmentUpdate(Strict):
    """A change of the equipment file (档案维护、设备变更). Fields left out stay as they are; ``null`` clears
    an optional one (a cleared validity setting means the status is no longer needed)."""

    name: Name | None = None
    model: Short | None = None
    manufacturer: Short | None = None
    serial_no: SerialNo | None = None
    room_code: UpperCode | None = None
    location: Short | None = None
    gmp_critical: bool | None = None
    cleaning_validity_hours: Hours | None = None
    sterilisation_validity_hours: Hours | None = None
    calibration_interval_days: Days | None = None
    qualification_interval_days: Days | None = None
    capacity: Weight | None = None
    readability: Weight | None = None
    min_weight: Weight | None = None
    weight_unit: WeightUnit | None = None
    reason: Reason


class LifecycleChange(Strict):
    state: LifecycleState
    reason: Reason


class OperatingStatusChange(Strict):
    status: OperatingStatus
    reason: Reason


class LogEntryCreate(Strict):
    """What happened (使用、清洁、灭菌、维护、校准、维修、确认). Who and when are the server's."""

    kind: LogKind
    description: Description
    result: LogResult | None = None
    batch_no: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    reference: Short = ""

    @model_validator(mode="after")
    def _result(self) -> LogEntryCreate:
        needs = self.kind in ("calibration", "qualification")
        if needs and self.result is None:
            raise PydanticCustomError(RULE, N_("A calibration or qualification entry needs its result"))
        if not needs and self.result is not None:
            raise PydanticCustomError(RULE, N_("Only calibration and qualification entries have a result"))
        return self

    def audit_reason(self) -> str:
        """The reason of the status change the entry makes (TJ-B.2.5 CZYY): the entry itself."""
        return f"logbook {self.kind}: {self.description}"[:500]


class RoomCreate(Strict):
    code: UpperCode
    name: Name
    grade: Grade
    workshop: Short = ""
    clean_validity_hours: Hours


class RoomUpdate(Strict):
    name: Name | None = None
    grade: Grade | None = None
    workshop: Short | None = None
    clean_validity_hours: Hours | None = None
    reason: Reason


class RoomStatusChange(Strict):
    status: RoomStatus
    reason: Reason


# --- output -------------------------------------------------------------------------------------------


class StatusPublic(BaseModel):
    """One status with its validity: what was recorded, and what holds at ``at``."""

    required: bool
    recorded: str | None  # the stored status (clean, to_clean, calibrated…)
    effective: str  # recorded, or "expired" past the validity, or "not_required"
    since: datetime | None  # the time of the event that set it (QJSJ, MJSJ, JYSJ)
    valid_until: datetime | None  # QJYXQ, MJYXQ, JYYXQ


class ReasonPublic(BaseModel):
    code: str
    message: str  # translated into the reader's language


class UsabilityPublic(BaseModel):
    object_type: Literal["equipment", "room"]
    id: int
    code: str
    name: str
    at: datetime
    usable: bool
    reasons: list[ReasonPublic]


class EquipmentPublic(BaseModel):
    id: int
    code: str
    name: str
    equipment_class: str
    model: str
    manufacturer: str
    serial_no: str
    room_id: int | None
    room_code: str | None
    room_name: str | None
    location: str
    gmp_critical: bool
    lifecycle: str
    operating_status: str
    cleaning_validity_hours: int | None
    sterilisation_validity_hours: int | None
    calibration_interval_days: int | None
    qualification_interval_days: int | None
    capacity: str | None
    readability: str | None
    min_weight: str | None
    weight_unit: str | None
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class EquipmentStatusPublic(BaseModel):
    """The status panel (TJ-B.2.1): every status with its validity, and the usability now."""

    id: int
    code: str
    name: str
    at: datetime
    lifecycle: str
    operating_status: str
    cleaning: StatusPublic
    sterilisation: StatusPublic
    calibration: StatusPublic
    qualification: StatusPublic
    usability: UsabilityPublic
    data_set: dict[str, str]  # TJ-B.2.1 short names (SBMC…JYYXQ), exchange formats


class ScalePublic(BaseModel):
    """A weighing instrument (TJ-B.2.2.2 CJMC, CJBH, CJZT, CJJD)."""

    id: int
    code: str
    name: str
    room_code: str | None
    capacity: str
    readability: str
    min_weight: str | None
    weight_unit: str
    calibration: StatusPublic
    usable: bool
    data_set: dict[str, str]


class RoomPublic(BaseModel):
    id: int
    code: str
    name: str
    grade: str
    workshop: str
    status: str
    effective_status: str  # status, or "expired" when a clean room is past its cleaning validity
    clean_validity_hours: int
    cleaned_at: datetime | None
    clean_until: datetime | None
    usable: bool
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class LogEntryPublic(BaseModel):
    id: int
    equipment_id: int | None
    room_id: int | None
    kind: str
    performed_at: datetime
    recorded_at: datetime
    recorded_by: str
    recorded_by_name: str
    description: str
    result: str | None
    batch_no: str
    reference: str
    valid_until: datetime | None
