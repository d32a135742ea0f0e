"""Input and output of scale endpoints, weighings, material identifications and charges (TJ-6.3.2.2, TJ-B.2.2.2)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from pharmatrace.kernel.identity.schemas import Login, Password, Reason, Strict, UpperCode

Scan = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Host = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")]
Port = Annotated[int, Field(ge=1, le=65535)]
Weight = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)]
Portion = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)]


class ScaleEndpointCreate(Strict):
    """Where a registered scale or balance answers MT-SICS over TCP."""

    equipment: UpperCode  # the equipment code, e.g. SC-01
    host: Host
    port: Port = 4305


class ScaleEndpointUpdate(Strict):
    host: Host
    port: Port
    reason: Reason


class ScaleEndpointPublic(BaseModel):
    id: int
    equipment_code: str
    equipment_name: str
    equipment_class: str
    host: str
    port: int
    capacity: str
    readability: str
    weight_unit: str
    calibration: str  # the calibration status that holds now
    usable: bool
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class TareCreate(Strict):
    scale: UpperCode


class TarePublic(BaseModel):
    scale: str
    tare: Decimal
    unit: str


class WeighingCreate(Strict):
    """Weigh from one scanned container on one scale; the weight is read from the scale (MT-SICS ``TA`` and
    ``S``), never sent by the client. ``portion``: weigh less than what is left of the BOM quantity (in the
    BOM's unit), when the material comes from several containers."""

    container: Scan
    scale: UpperCode
    portion: Portion | None = None


class ManualWeighingCreate(Strict):
    """The permitted fallback when the scale's interface fails (TJ-6.3.2.2.a): the weights as shown on the
    scale, a reason, a photo of the display (uploaded with the form) and the approving supervisor."""

    container: Scan
    scale: UpperCode
    portion: Portion | None = None
    tare: Weight
    net: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)]
    reason: Reason
    supervisor: Login
    supervisor_password: Password


class IdentificationCreate(Strict):
    scan: Scan


class ChargeCreate(Strict):
    """Charge a weighed portion (its weighing label scanned) or straight from a container (its quantity
    in the BOM's unit)."""

    scan: Scan
    quantity: Portion | None = None


class WeighingPublic(BaseModel):
    id: int
    code: str
    batch_no: str
    product_code: str
    product_name: str
    step_code: str
    material_code: str
    material_name: str
    lot_number: str
    container_code: str
    scale_code: str
    scale_name: str
    calibration_status: str
    readability: Decimal
    weight_unit: str
    tare: Decimal
    gross: Decimal
    net: Decimal
    unit: str
    target: Decimal
    tolerance: Decimal
    quantity: Decimal
    issued_quantity: Decimal
    source: str
    manual_reason: str | None
    photo_sm3: str | None
    approved_by: str | None
    weighed_at: datetime
    weighed_by: str
    weighed_by_name: str
    charged: bool
    data_set: dict[str, str | int | float | None]


class IdentificationPublic(BaseModel):
    id: int
    batch_no: str
    step_code: str
    container_code: str
    material_code: str
    material_name: str
    lot_number: str
    lot_status: str
    identified_at: datetime
    identified_by: str
    identified_by_name: str


class ChargePublic(BaseModel):
    id: int
    batch_no: str
    step_code: str
    source: str
    weighing_code: str | None
    container_code: str
    material_code: str
    material_name: str
    lot_number: str
    quantity: Decimal
    unit: str
    charged_at: datetime
    charged_by: str
    charged_by_name: str


class MaterialNeed(BaseModel):
    """One BOM material of a step: what the batch needs and what has been weighed, identified or charged."""

    material_code: str
    material_name: str
    unit: str
    quantity: Decimal
    low: Decimal
    high: Decimal
    done: Decimal
    remaining: Decimal


class StepEvidence(BaseModel):
    batch_no: str
    step_code: str
    step_type: str
    needs: list[MaterialNeed]
    weighings: list[WeighingPublic]
    identifications: list[IdentificationPublic]
    charges: list[ChargePublic]
    missing: list[str]  # English reasons the step cannot be completed yet
