"""Input and output of packaging records (TJ-6.4.6, TJ-B.2.3.4)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from pharmatrace.kernel.identity.schemas import Login, Password, Strict, UpperCode

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
BatchText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
DocNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=3, allow_inf_nan=False)]
Count = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=3, allow_inf_nan=False)]
Pieces = Annotated[int, Field(ge=0, le=100_000_000)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2, allow_inf_nan=False)]
YieldPercent = Annotated[Decimal, Field(gt=0, le=200, max_digits=5, decimal_places=2, allow_inf_nan=False)]
PerUnit = Annotated[Decimal, Field(gt=0, le=1000, max_digits=10, decimal_places=3, allow_inf_nan=False)]
Step = UpperCode


class PackagingRecordCreate(Strict):
    """Bulk received, finished batch and planned quantity, line and room, the packaging instruction."""

    step: Step  # the packaging step in progress on which the record is opened
    bulk_batch_no: BatchText
    bulk_quantity: Quantity
    planned_quantity: Quantity
    pack_size: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""  # BZGG, 10 支/盒
    line: Short
    room: Short
    # the packaging instruction (a controlled document): its effective version is recorded
    instruction: DocNumber
    reconciliation_limit_pct: Percent = Decimal("0.5")  # used + destroyed + returned = issued ± this %
    yield_low_pct: YieldPercent = Decimal("95")
    yield_high_pct: YieldPercent = Decimal("100")
    reject_alert_pct: Percent = Decimal("2")
    reject_action_pct: Percent = Decimal("3")

    @model_validator(mode="after")
    def _limits(self) -> PackagingRecordCreate:
        if self.yield_low_pct > self.yield_high_pct:
            raise ValueError("yield_low_pct must not exceed yield_high_pct")
        if self.reject_alert_pct > self.reject_action_pct:
            raise ValueError("reject_alert_pct must not exceed reject_action_pct")
        return self


class CheckItem(Strict):
    item: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    result: Literal["pass", "fail"]
    note: Note = ""


class LineCheckCreate(Strict):
    """The pre-packaging line check, signed by its performer."""

    step: Step
    checks: Annotated[list[CheckItem], Field(min_length=1, max_length=50)]
    password: Password
    login: Login | None = None


class LineCheckVerify(Strict):
    password: Password
    login: Login | None = None


class MaterialCheckCreate(Strict):
    """A printed material as issued: its artwork document number and the version printed on it."""

    step: Step
    material: UpperCode
    kind: Literal["label", "carton", "leaflet"]
    lot_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""
    artwork: DocNumber
    artwork_version: Annotated[int, Field(ge=1, le=10_000)]
    per_unit: PerUnit = Decimal(1)


class PrintCheckCreate(Strict):
    """The batch number and expiry date as printed (entered or scanned from the printed material)."""

    step: Step
    material: UpperCode
    printed_batch_no: BatchText
    printed_expiry: date


class VisualInspectionCreate(Strict):
    """Visual inspection (灯检): units inspected, good, and rejected by defect category."""

    step: Step
    inspected: Annotated[int, Field(gt=0, le=100_000_000)]
    good: Pieces
    particles: Pieces = 0
    glass: Pieces = 0
    fill_volume: Pieces = 0
    cracks: Pieces = 0
    cosmetic: Pieces = 0
    other: Pieces = 0


class ReconciliationCreate(Strict):
    step: Step
    material: UpperCode
    issued: Annotated[int, Field(gt=0, le=100_000_000)]
    used: Pieces
    destroyed: Pieces = 0
    returned: Pieces = 0


class BalanceCreate(Strict):
    step: Step
    finished: Count
    samples: Count = Decimal(0)
    rejects: Count = Decimal(0)


class SpecimenPublic(BaseModel):
    id: int
    sm3: str
    media_type: str
    file_name: str
    size: int
    uploaded_at: datetime
    uploaded_by: str


class MaterialCheckPublic(BaseModel):
    id: int
    step_code: str
    material_code: str
    material_name: str
    kind: str
    lot_number: str
    artwork_number: str
    artwork_version: int
    per_unit: Decimal
    checked_at: datetime
    checked_by: str
    specimens: list[SpecimenPublic]


class LineCheckPublic(BaseModel):
    id: int
    step_code: str
    room: str
    checks: list[CheckItem]
    performed_at: datetime
    performed_by: str
    verified_at: datetime | None
    verified_by: str | None


class PrintCheckPublic(BaseModel):
    id: int
    step_code: str
    material_code: str
    printed_batch_no: str
    printed_expiry: date
    checked_at: datetime
    checked_by: str


class VisualInspectionPublic(BaseModel):
    id: int
    step_code: str
    inspected: int
    good: int
    rejected: int
    particles: int
    glass: int
    fill_volume: int
    cracks: int
    cosmetic: int
    other: int
    reject_pct: Decimal
    inspected_at: datetime
    inspected_by: str
    inspected_by_name: str


class ReconciliationPublic(BaseModel):
    id: int
    material_code: str
    step_code: str
    issued: int
    used: int
    destroyed: int
    returned: int
    balance_pct: Decimal
    expected_used: Decimal
    within_limits: bool
    checked_at: datetime
    checked_by: str


class BalancePublic(BaseModel):
    id: int
    step_code: str
    finished: Decimal
    samples: Decimal
    rejects: Decimal
    yield_pct: Decimal
    balance_pct: Decimal
    within_limits: bool
    recorded_at: datetime
    recorded_by: str


class PackagingRecordPublic(BaseModel):
    id: int
    batch_no: str
    product_code: str
    product_name: str
    bulk_batch_no: str
    bulk_quantity: Decimal
    unit: str
    planned_quantity: Decimal
    pack_size: str
    line: str
    room: str
    instruction_number: str
    instruction_version: int
    manufacture_date: date
    shelf_life_months: int
    expiry_date: date
    reconciliation_limit_pct: Decimal
    yield_low_pct: Decimal
    yield_high_pct: Decimal
    reject_alert_pct: Decimal
    reject_action_pct: Decimal
    created_at: datetime
    created_by: str
    line_check: LineCheckPublic | None
    materials: list[MaterialCheckPublic]
    print_checks: list[PrintCheckPublic]
    inspections: list[VisualInspectionPublic]
    reconciliations: list[ReconciliationPublic]
    balance: BalancePublic | None
    missing: list[str]  # what the record still lacks before the packaging is complete (English)
