"""Input and output of aggregation, customers, shipments and returns (SH-6.2.5, TJ-9.1; issue 10 items 3–4).

Scans are strings as the scanner typed them (printed value or GS1 element string, FNC1 as ASCII 29 included);
the service resolves them (:func:`pharmatrace.trace.aggregation.find_code`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from pharmatrace.kernel.identity.schemas import Reason, Strict

CustomerKind = Literal["distributor", "hospital", "pharmacy", "other"]
ShipmentStatus = Literal["picking", "shipped", "cancelled"]
ReturnDisposition = Literal["restock", "destroy"]
Scan = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Scans = Annotated[list[Scan], Field(min_length=1, max_length=1000)]


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


CustomerCode = Annotated[
    str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Licence = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]


# --- aggregation ---------------------------------------------------------------------------------------------


class PackCreate(Strict):
    """Scan a parent (middle pack, case or pallet), then its children."""

    parent: Scan
    children: Scans


class UnpackCreate(Strict):
    """Take codes out of a parent (all of them when ``children`` is empty), with a reason."""

    parent: Scan
    children: Annotated[list[Scan], Field(default_factory=list, max_length=1000)]
    reason: Reason


class ReaggregateCreate(Strict):
    """Move ``children`` from ``source`` into ``target``, with a reason."""

    source: Scan
    target: Scan
    children: Scans
    reason: Reason


class PalletCreate(Strict):
    """A new pallet (SSCC) built at ``line``."""

    line: Line = ""


class CodePublic(BaseModel):
    value: str
    level: int
    state: str
    disposition: str | None = None
    batch_no: str | None = None
    line: str = ""
    parent: str | None = None
    shipment: str | None = None


class PackContent(BaseModel):
    """A code, what holds it (innermost first) and what it holds."""

    code: CodePublic
    chain: list[str]
    children: list[CodePublic]
    capacity: int | None  # the identifier's pack quantity; None: a pallet
    child_level: int | None
    units_by_batch: dict[str, int]
    picked_on: str | None = None


# --- customers and shipments ------------------------------------------------------------------------------------


class CustomerCreate(Strict):
    """A consignee: code, name, kind, address and licence number (药品经营许可证号)."""

    code: CustomerCode
    name: Name
    kind: CustomerKind
    address: Address = ""
    licence_no: Licence = ""


class CustomerPublic(BaseModel):
    code: str
    name: str
    kind: str
    address: str
    licence_no: str
    created_at: datetime
    created_by: str
    voided_at: datetime | None = None
    void_reason: str | None = None


class VoidBody(Strict):
    reason: Reason


class ShipmentCreate(Strict):
    """A shipment to a customer; the customer's address unless another is given."""

    customer: CustomerCode
    address: Address = ""


class PickCreate(Strict):
    """One scanned pallet, case or loose unit."""

    scan: Scan


class UnpickCreate(Strict):
    scan: Scan
    reason: Reason


class ReturnCreate(Strict):
    """Codes (whole cases or pallets, or units) coming back from the shipment's customer."""

    codes: Scans
    reason: Reason


class ReturnDecision(Strict):
    """QA's decision on returned codes: back into stock, or destroyed."""

    codes: Scans
    decision: ReturnDisposition
    reason: Reason


class PickPublic(BaseModel):
    code: str
    level: int
    state: str
    status: str
    units_by_batch: dict[str, int]
    picked_at: datetime
    picked_by: str
    unpicked_at: datetime | None = None
    unpicked_by: str | None = None
    unpick_reason: str | None = None


class ShipmentPublic(BaseModel):
    number: str
    customer: str
    customer_name: str
    address: str
    status: str  # ShipmentStatus
    created_at: datetime
    created_by: str
    shipped_at: datetime | None = None
    picked: int  # codes on the shipment (picked or shipped)
    units: int


class ShipmentDetail(ShipmentPublic):
    picks: list[PickPublic]
    units_by_batch: dict[str, int]
    returned: list[CodePublic]  # codes of this shipment now returned, awaiting QA's decision
