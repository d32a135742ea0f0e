"""Input and output of locations, stock movements, readings, anomalies and intermediates (TJ-6.3.3, TJ-6.4.3.6)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Login, Name, Password, Reason, Strict, UpperCode
from pharmatrace.wms.schemas import Quantity, Temperature

LocationKind = Literal[
    "warehouse", "zone", "bin", "receiving", "quarantine", "sampling", "weighing_centre", "staging", "buffer",
    "intermediate_store", "retained_samples", "rejected_store",
]  # fmt: skip
MoveKind = Literal["put_away", "transfer", "issue", "return", "sample", "retain", "destroy"]
IntermediateMoveKind = Literal["stock_out", "transfer", "sample", "retain", "charge", "return"]
Scan = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
BatchNo = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Humidity = Annotated[Decimal, Field(ge=0, le=100, max_digits=4, decimal_places=1)]


class LocationCreate(Strict):
    code: UpperCode
    name: Name
    kind: LocationKind
    parent: UpperCode | None = None  # the parent location's code
    room: UpperCode | None = None  # the room (equipment area) it is in
    temp_min_c: Temperature | None = None
    temp_max_c: Temperature | None = None
    humidity_max_pct: Annotated[Decimal, Field(gt=0, le=100, max_digits=4, decimal_places=1)] | None = None
    max_reading_gap_minutes: Annotated[int, Field(ge=1, le=10080)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LocationCreate:
        if self.temp_min_c is not None and self.temp_max_c is not None and self.temp_min_c > self.temp_max_c:
            raise PydanticCustomError(RULE, N_("The lowest storage temperature is above the highest"))
        return self


class LocationPublic(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    parent_code: str | None
    path: str
    room_code: str | None
    temp_min_c: Decimal | None
    temp_max_c: Decimal | None
    humidity_max_pct: Decimal | None
    max_reading_gap_minutes: int | None
    climate_code: str | None  # the location whose conditions and record apply here
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class MovementCreate(Strict):
    """One move of one container, by its scanned label and the scanned location."""

    kind: MoveKind
    container: Scan
    to_location: Scan | None = None
    quantity: Quantity | None = None
    batch_no: BatchNo = ""
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] = ""
    reason: Reason | None = None

    @model_validator(mode="after")
    def _complete(self) -> MovementCreate:
        if self.kind in ("put_away", "transfer", "return") and not self.to_location:
            raise PydanticCustomError(RULE, N_("Scan the location the container goes to"))
        if self.kind == "issue" and not self.batch_no:
            raise PydanticCustomError(RULE, N_("An issue names the batch the material is issued to"))
        if self.kind in ("sample", "retain") and self.quantity is None:
            raise PydanticCustomError(RULE, N_("Give the quantity taken"))
        if self.kind in ("transfer", "return", "destroy") and not self.reason:
            raise PydanticCustomError(RULE, N_("A reason is required for this movement"))
        return self


class MovementPublic(BaseModel):
    id: int
    kind: str
    container_code: str
    lot_id: int
    lot_number: str
    quantity: Decimal
    unit: str
    from_location: str | None
    to_location: str | None
    batch_no: str
    reference: str
    reason: str
    moved_at: datetime
    moved_by: str
    moved_by_name: str


class StockRowPublic(BaseModel):
    container_code: str
    lot_id: int
    lot_number: str
    material_code: str
    material_name: str
    location_code: str
    location_name: str
    quantity: Decimal
    unit: str
    status: str
    expiry_date: date | None
    retest_date: date | None
    located_at: datetime
    batch_no: str


class StockTotalPublic(BaseModel):
    material_code: str
    material_name: str
    unit: str
    quantity: Decimal
    containers: int
    lots: int


class StockPublic(BaseModel):
    rows: list[StockRowPublic]
    totals: list[StockTotalPublic]
    containers: int  # all that match (``rows`` may stop at the limit)
    truncated: bool


class ReadingCreate(Strict):
    location: Scan
    measured_at: AwareDatetime
    temp_c: Temperature
    humidity_pct: Humidity | None = None


class ReadingPublic(BaseModel):
    id: int
    location_code: str
    measured_at: datetime
    temp_c: Decimal
    humidity_pct: Decimal | None
    source: str
    recorded_at: datetime
    recorded_by: str


class AnomalyPublic(BaseModel):
    id: int
    kind: str
    lot_number: str | None
    intermediate_lot_number: str | None
    location_code: str | None
    reading_id: int | None
    covered_from: datetime | None
    covered_until: datetime | None
    detail: str  # English, as the audit trail keeps it
    message: str  # the same as msgid …
    params: str  # … and its placeholders (JSON text)
    status: str
    detected_at: datetime
    detected_by: str
    closed_at: datetime | None
    closed_by: str | None
    closing_reason: str | None


class IssueProblemPublic(BaseModel):
    kind: str
    message: str


class IssueCheckPublic(BaseModel):
    lot_id: int
    lot_number: str
    may_issue: bool
    problems: list[IssueProblemPublic]


class AlertPublic(BaseModel):
    kind: (
        str  # expired | expiring | retest_due | retest_soon | hold_time_passed | hold_time_soon | record_late
    )
    subject: str
    due: date | datetime | None
    message: str
    link: str


class AlertsPublic(BaseModel):
    alerts: list[AlertPublic]
    anomalies: list[AnomalyPublic]


class IntermediateCreate(Strict):
    """An intermediate product put into a workshop store (入库) by the batch that made it."""

    material: UpperCode
    lot_number: UpperCode
    batch_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    quantity: Quantity
    location: Scan
    produced_at: AwareDatetime
    hold_hours: Annotated[int, Field(ge=1, le=24 * 365)]


class IntermediateMove(Strict):
    kind: IntermediateMoveKind
    quantity: Quantity | None = None
    to_location: Scan | None = None
    batch_no: BatchNo = ""
    reason: Reason | None = None
    reviewer_login: Login | None = None  # 复核人 FHR of a return
    reviewer_password: Password | None = None

    @model_validator(mode="after")
    def _complete(self) -> IntermediateMove:
        if self.kind in ("stock_out", "transfer", "return") and not self.to_location:
            raise PydanticCustomError(RULE, N_("Scan the location the container goes to"))
        if self.kind in ("sample", "retain", "charge") and self.quantity is None:
            raise PydanticCustomError(RULE, N_("Give the quantity taken"))
        if self.kind == "charge" and not self.batch_no:
            raise PydanticCustomError(RULE, N_("A charge names the batch the intermediate goes into"))
        if self.kind == "return" and not (self.reviewer_login and self.reviewer_password):
            raise PydanticCustomError(
                RULE, N_("A return is checked by a reviewer with log-in ID and password")
            )
        return self


class IntermediateDecision(Strict):
    decision: Literal["release", "reject"]
    reason: Reason


class IntermediatePublic(BaseModel):
    id: int
    lot_number: str
    material_code: str
    material_name: str
    batch_no: str
    quantity: Decimal
    unit: str
    location_code: str | None
    produced_at: datetime
    hold_until: datetime
    status: str
    data_set: dict[str, str]  # TJ-B.2.2.3 (table B.5) under the guide's short names
    created_at: datetime
    created_by: str
