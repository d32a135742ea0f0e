"""Material master input and output."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Name, Reason, Strict, UpperCode

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
