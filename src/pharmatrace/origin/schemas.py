"""Input and output of the herbal-material origin area (TJ-5.1, TJ-5.2.1.5)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Name, Reason, Strict, UpperCode

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]
Needed = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
Remarks = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=3)]
Area = Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=2)]

InputKind = Literal["fertilizer", "pesticide", "other"]
SeedKind = Literal["seed", "seedling", "rhizome"]
ProcessingMethod = Literal[
    "sorting", "washing", "cutting", "sun_drying", "shade_drying", "oven_drying", "other"
]


class BaseCreate(Strict):
    """The GACP details of a planting base, on top of its supplier (kind ``planting_base``)."""

    supplier_code: UpperCode
    region: Needed
    certificate: Short = ""
    certificate_valid_until: date | None = None
    area_mu: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)] | None = None
    manager: Short = ""


class PlotCreate(Strict):
    base_code: UpperCode  # the base's supplier code
    code: UpperCode
    name: Name
    area_mu: Area
    location: Text = ""
    coordinates: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    soil: Text = ""
    irrigation: Text = ""


class CropCreate(Strict):
    """A planting on a plot with its seed or seedling source."""

    code: UpperCode
    material_code: UpperCode
    species: Needed
    latin_name: Needed
    variety: Short = ""
    seed_kind: SeedKind
    seed_source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    seed_certificate: Short = ""
    planted_on: date


class InputCreate(Strict):
    """One application of fertilizer or pesticide; a pesticide needs its pre-harvest interval (days)."""

    kind: InputKind
    product: Needed
    active_ingredient: Short = ""
    amount: Quantity
    unit: Unit
    applied_on: date
    applied_by: Needed
    pre_harvest_days: Annotated[int, Field(ge=0, le=365)] | None = None
    remarks: Remarks = ""

    @model_validator(mode="after")
    def _interval(self) -> InputCreate:
        if self.kind == "pesticide" and self.pre_harvest_days is None:
            raise PydanticCustomError(RULE, N_("A pesticide needs its pre-harvest interval in days"))
        if self.kind != "pesticide" and self.pre_harvest_days is not None:
            raise PydanticCustomError(RULE, N_("Only a pesticide has a pre-harvest interval"))
        return self


class HarvestCreate(Strict):
    code: UpperCode
    harvested_on: date
    quantity: Quantity
    method: Text = ""


class ProcessingCreate(Strict):
    method: ProcessingMethod
    performed_on: date
    output_quantity: Quantity
    conditions: Text = ""


class SourceIn(Strict):
    harvest_code: UpperCode
    quantity: Quantity


class ShipmentCreate(Strict):
    """A shipment from a base: what it carries (from which harvests), packing, storage and transport."""

    code: UpperCode
    base_code: UpperCode
    material_code: UpperCode
    batch_no: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[!-~][ -~]{0,63}$")]
    sources: Annotated[list[SourceIn], Field(min_length=1, max_length=20)]
    pack_type: Needed
    pack_count: Annotated[int, Field(ge=1, le=99999)]
    packed_on: date
    storage_conditions: Text = ""
    shipped_on: date
    destination: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    carrier: Short = ""
    transport_conditions: Text = ""

    @model_validator(mode="after")
    def _consistent(self) -> ShipmentCreate:
        if self.packed_on > self.shipped_on:
            raise PydanticCustomError(RULE, N_("The goods are packed after they were shipped"))
        codes = [s.harvest_code for s in self.sources]
        if len(set(codes)) != len(codes):
            raise PydanticCustomError(RULE, N_("A harvest is listed twice"))
        return self


# --- changes of a record (with a reason) -------------------------------------------------------------------
# Fields left out stay as they are; ``null`` clears an optional one (a text becomes empty). Codes and the
# links other records depend on (a plot's base, a crop's plot and herb, a harvest's crop) are not changed:
# a record entered against the wrong one is voided and entered again.


class BaseUpdate(Strict):
    region: Needed | None = None
    certificate: Short | None = None
    certificate_valid_until: date | None = None
    area_mu: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)] | None = None
    manager: Short | None = None
    reason: Reason


class PlotUpdate(Strict):
    name: Name | None = None
    area_mu: Area | None = None
    location: Text | None = None
    coordinates: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    soil: Text | None = None
    irrigation: Text | None = None
    reason: Reason


class CropUpdate(Strict):
    """A correction of a crop and its seed source."""

    species: Needed | None = None
    latin_name: Needed | None = None
    variety: Short | None = None
    seed_kind: SeedKind | None = None
    seed_source: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)] | None
    ) = None
    seed_certificate: Short | None = None
    planted_on: date | None = None
    reason: Reason


class HarvestUpdate(Strict):
    harvested_on: date | None = None
    quantity: Quantity | None = None
    method: Text | None = None
    reason: Reason


class ProcessingUpdate(Strict):
    method: ProcessingMethod | None = None
    performed_on: date | None = None
    output_quantity: Quantity | None = None
    conditions: Text | None = None
    reason: Reason


class AnomalyReport(Strict):
    """A quality anomaly of a herb lot, reported to its base (TJ-5.1, TJ-5.2.1.5)."""

    reason: Reason


# --- output --------------------------------------------------------------------------------------------


class BasePublic(BaseModel):
    id: int
    supplier_code: str
    name: str
    address: str
    contact: str
    region: str
    certificate: str
    certificate_valid_until: date | None
    area_mu: Decimal | None
    manager: str
    plots: int
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class PlotPublic(BaseModel):
    id: int
    code: str
    name: str
    base_code: str
    base_name: str
    area_mu: Decimal
    location: str
    coordinates: str
    soil: str
    irrigation: str
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class InputPublic(BaseModel):
    id: int
    crop_code: str
    kind: str
    product: str
    active_ingredient: str
    amount: Decimal
    unit: str
    applied_on: date
    applied_by: str
    pre_harvest_days: int | None
    safe_from: date | None  # the first day a harvest may be taken after this pesticide
    remarks: str
    recorded_at: datetime
    recorded_by: str


class ProcessingPublic(BaseModel):
    id: int
    method: str
    performed_on: date
    output_quantity: Decimal
    conditions: str
    created_by: str
    voided_at: datetime | None = None


class HarvestPublic(BaseModel):
    id: int
    code: str
    crop_code: str
    plot_code: str
    harvested_on: date
    quantity: Decimal
    unit: str
    method: str
    processing: list[ProcessingPublic]
    processed_quantity: Decimal  # the last step's output, or the harvest when not processed
    shipped_quantity: Decimal
    available: Decimal
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class CropPublic(BaseModel):
    id: int
    code: str
    plot_code: str
    material_code: str
    species: str
    latin_name: str
    variety: str
    seed_kind: str
    seed_source: str
    seed_certificate: str
    planted_on: date
    inputs: list[InputPublic]
    harvests: list[HarvestPublic]
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class SourcePublic(BaseModel):
    harvest_code: str
    plot_code: str
    plot_id: int
    crop_code: str
    quantity: Decimal


class ShipmentPublic(BaseModel):
    id: int
    code: str
    base_code: str
    base_name: str
    material_code: str
    material_name: str
    batch_no: str
    quantity: Decimal
    unit: str
    received: Decimal
    pack_type: str
    pack_count: int
    packed_on: date
    storage_conditions: str
    shipped_on: date
    destination: str
    carrier: str
    transport_conditions: str
    sources: list[SourcePublic]
    lots: list[str]
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class FeedbackPublic(BaseModel):
    id: int
    lot_id: int
    lot_number: str
    base_code: str
    base_name: str
    shipment_code: str
    kind: str
    reason: str
    message: str
    produced_at: datetime
    produced_by: str
    status: str
    channel: str
    delivered_at: datetime | None


class ChainSource(BaseModel):
    """One harvest in the chain of a lot, with everything behind it."""

    quantity: Decimal
    harvest: HarvestPublic
    crop: CropPublic
    plot: PlotPublic


class OriginChain(BaseModel):
    """From a herb lot back to its base, plots, seed, inputs, harvest, processing and shipment (TJ-5.1)."""

    lot_id: int
    lot_number: str
    supplier_lot: str
    base: BasePublic
    shipment: ShipmentPublic
    sources: list[ChainSource]
    feedback: list[FeedbackPublic]


class PlotLot(BaseModel):
    id: int
    lot_number: str
    material_name: str
    supplier_lot: str
    status: str


class PlotDetail(PlotPublic):
    """A plot with its crops (seed, inputs, harvests) and the herb lots that came from it."""

    crops: list[CropPublic]
    lots: list[PlotLot]
