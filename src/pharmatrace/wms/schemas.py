"""Material master input and output."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Name, Password, Reason, Strict, UpperCode

Temperature = Annotated[Decimal, Field(ge=-80, le=60, max_digits=5, decimal_places=1)]
Months = Annotated[int, Field(ge=1, le=600)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]

MaterialKind = Literal[
    "herb",
    "decoction_piece",
    "extract",
    "excipient",
    "primary_packaging",
    "secondary_packaging",
    "intermediate",
    "finished_good",
]


class MaterialCreate(Strict):
    code: UpperCode
    name: Name
    kind: MaterialKind
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    strength: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""  # 规格
    storage_condition: Text = ""
    temp_min_c: Temperature | None = None
    temp_max_c: Temperature | None = None
    humidity_max_pct: Annotated[Decimal, Field(gt=0, le=100, max_digits=4, decimal_places=1)] | None = None
    shelf_life_months: Months | None = None
    retest_months: Months | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MaterialCreate:
        if self.temp_min_c is not None and self.temp_max_c is not None and self.temp_min_c > self.temp_max_c:
            raise PydanticCustomError(RULE, N_("The lowest storage temperature is above the highest"))
        if self.retest_months and self.shelf_life_months and self.retest_months > self.shelf_life_months:
            raise PydanticCustomError(RULE, N_("The retest period is longer than the shelf life"))
        return self


class MaterialPublic(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    unit: str
    strength: str
    storage_condition: str
    temp_min_c: Decimal | None
    temp_max_c: Decimal | None
    humidity_max_pct: Decimal | None
    shelf_life_months: int | None
    retest_months: int | None
    created_at: datetime
    created_by: str
    voided_at: datetime | None


SupplierKind = Literal["manufacturer", "distributor", "planting_base"]
ApprovalStatus = Literal["approved", "conditional", "suspended", "disqualified"]


class SupplierCreate(Strict):
    code: UpperCode
    name: Name
    kind: SupplierKind
    address: Text = ""
    contact: Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] = ""


class SupplierPublic(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    address: str
    contact: str
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class ApprovalDecision(Strict):
    """QA's decision on one supplier for one material (合格供应商目录)."""

    supplier_code: UpperCode
    material_code: UpperCode
    status: ApprovalStatus
    valid_until: date | None = None  # the last day (Beijing) the approval holds; needed to approve
    reason: Reason

    @model_validator(mode="after")
    def _validity(self) -> ApprovalDecision:
        if self.status in ("approved", "conditional") and self.valid_until is None:
            raise PydanticCustomError(RULE, N_("An approval needs the date until which it is valid"))
        return self


class ApprovalPublic(BaseModel):
    id: int
    supplier_code: str
    supplier_name: str
    material_code: str
    material_name: str
    status: str
    valid_until: datetime | None
    decided_at: datetime
    decided_by: str


class SupplierCheck(BaseModel):
    approved: bool
    reason: str | None


# --- lots, containers and goods receipt -------------------------------------------------------------

Quantity = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=3)]
SupplierLot = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[!-~][ -~]{0,63}$")]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Remarks = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
ShipmentCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, max_length=32)]
LotStatus = Literal["quarantine", "under_test", "released", "rejected", "expired", "on_hold"]


class ReceiptCreate(Strict):
    """An expected delivery: what the delivery note and the supplier's label say."""

    supplier_code: UpperCode
    material_code: UpperCode
    delivery_note: Note
    supplier_lot: SupplierLot
    manufacture_date: date
    expiry_date: date | None = None  # from the supplier's label; otherwise manufacture date + shelf life
    expected_containers: Annotated[int, Field(ge=1, le=999)]
    quantity_per_container: Quantity
    remarks: Remarks = ""
    # The base's shipment a herb lot from a planting base comes with (TJ-5.1, pharmatrace.origin).
    origin_shipment: ShipmentCode = ""

    @model_validator(mode="after")
    def _dates(self) -> ReceiptCreate:
        if self.expiry_date is not None and self.expiry_date <= self.manufacture_date:
            raise PydanticCustomError(RULE, N_("The expiry date is not after the manufacture date"))
        return self


class ScanIn(Strict):
    """What the scanner typed: a GS1 element string or the supplier's plain container label."""

    scan: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    quantity: Quantity | None = None  # the receipt's quantity per container when not given
    damaged: bool = False


class ReceiptComplete(Strict):
    """The checks at receipt (TJ-5.2.1.1) and the receiver's signature."""

    packaging_intact: bool
    seals_intact: bool
    labels_legible: bool
    remarks: Remarks = ""
    short_delivery_reason: Reason | None = None
    password: Password
    login: Annotated[str | None, Field(default=None, max_length=64)] = None


class LotEvent(Strict):
    reason: Reason


class LotDecision(Strict):
    """A QA decision on a lot (release or rejection): a reason and the signer's password."""

    reason: Reason
    password: Password
    login: Annotated[str | None, Field(default=None, max_length=64)] = None


class ContainerPublic(BaseModel):
    id: int
    code: str
    lot_number: str
    number: int
    quantity: Decimal
    unit: str
    supplier_scan: str | None
    damaged: bool
    created_at: datetime
    created_by: str


class LotPublic(BaseModel):
    id: int
    lot_number: str
    material_code: str
    material_name: str
    supplier_code: str
    supplier_name: str
    supplier_lot: str
    manufacture_date: date
    expiry_date: date | None
    retest_date: date | None
    quantity: Decimal
    unit: str
    status: str
    held_from: str | None
    containers: int
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class LotDetail(LotPublic):
    container_list: list[ContainerPublic]


class ReceiptPublic(BaseModel):
    id: int
    number: str
    status: str
    supplier_code: str
    supplier_name: str
    material_code: str
    material_name: str
    lot_id: int
    lot_number: str
    delivery_note: str
    supplier_lot: str
    manufacture_date: date
    expiry_date: date | None
    expected_containers: int
    quantity_per_container: Decimal
    unit: str
    scanned: int
    containers: list[ContainerPublic]
    packaging_intact: bool | None
    seals_intact: bool | None
    labels_legible: bool | None
    remarks: str
    short_delivery_reason: str | None
    received_at: datetime
    received_by: str
    completed_at: datetime | None
    completed_by: str | None
    voided_at: datetime | None
