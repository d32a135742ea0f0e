"""Inputs and outputs of product identifiers, code pools, allocation and the manual lifecycle operations
(NMPAB/T 1002, SH-6.2.5.1, TJ-6.3.4). The database holds the same rules (migration 0034); the service adds what
needs the plant (the material, the batch, the codes already stored, who may do it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.codes import gs1, nmpa
from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Reason, Strict, UpperCode


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Scheme = Literal["nmpa", "gs1"]
Level = Annotated[int, Field(ge=1, le=3)]
Disposition = Literal["sample", "damaged", "destroyed", "stolen", "rejected"]
Alphabet = Literal["alphanumeric", "digits"]
IdentifierCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{7}$|^[0-9]{14}$")]
BatchRef = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_./-]{0,31}$")]
Line = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$")]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
# A code as printed or scanned: a 20-digit code, a GS1 element string (FNC1 as GS), its bracketed form, or a
# GS1 Digital Link URI; the service turns it into the stored value.
Scan = Annotated[str, StringConstraints(min_length=1, max_length=300)]
MAX_IMPORT = 1_000_000  # codes in one pool
MAX_GENERATE = 100_000  # serials generated at once
MAX_CODES = 10_000  # codes in one manual operation


class IdentifierCreate(Strict):
    """A product identifier of one packaging level of a finished good: 7-digit 药品标识码 or GTIN-14."""

    scheme: Scheme
    code: IdentifierCode
    material: UpperCode  # the finished good's material code
    level: Level
    pack_quantity: Annotated[int, Field(ge=1, le=100_000)] = 1
    description: Description = ""

    @model_validator(mode="after")
    def _check(self) -> IdentifierCreate:
        if self.scheme == "nmpa" and len(self.code) != nmpa.PRODUCT_DIGITS:
            raise PydanticCustomError(RULE, N_("A product identifier of the national scheme has 7 digits"))
        if self.scheme == "gs1" and not (
            len(self.code) == gs1.GTIN_LENGTH and gs1.valid_check_digit(self.code)
        ):
            raise PydanticCustomError(RULE, N_("A GTIN-14 has 14 digits, the last its check digit"))
        if self.level == 1 and self.pack_quantity != 1:
            raise PydanticCustomError(RULE, N_("A unit (level 1) holds nothing: its pack quantity is 1"))
        if self.level > 1 and self.pack_quantity < 2:
            raise PydanticCustomError(RULE, N_("A pack holds at least 2 items of the level below"))
        return self


class IdentifierVoid(Strict):
    reason: Reason


class PoolImport(Strict):
    """The codes of an issuer's pool as a JSON list (the API's alternative to uploading the file)."""

    identifier: IdentifierCode
    codes: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]], Field(min_length=1, max_length=MAX_IMPORT)
    ]
    reference: Reference = ""


class PoolGenerate(Strict):
    """Random GS1 serials for a GTIN-14 identifier."""

    identifier: IdentifierCode
    count: Annotated[int, Field(ge=1, le=MAX_GENERATE)]
    serial_length: Annotated[int, Field(ge=6, le=gs1.SERIAL_MAX)] = 12
    alphabet: Alphabet = "alphanumeric"
    reference: Reference = ""


class AllocationCreate(Strict):
    """Take ``count`` available codes of ``identifier`` for a batch and its packaging line."""

    batch: BatchRef  # batch number or order number
    line: Line
    identifier: IdentifierCode
    count: Annotated[int, Field(ge=1, le=MAX_IMPORT)]


class Deallocation(Strict):
    """Give back allocated codes of a batch the line will not use: ``count`` of them, or all when omitted."""

    batch: BatchRef
    identifier: IdentifierCode
    count: Annotated[int, Field(ge=1, le=MAX_IMPORT)] | None = None
    reason: Reason


class CodesCommission(Strict):
    """Codes printed and read good, allocated to ``batch`` (manual entry of the line's read results)."""

    batch: BatchRef
    codes: Annotated[list[Scan], Field(min_length=1, max_length=MAX_CODES)]


class CodesDecommission(Strict):
    codes: Annotated[list[Scan], Field(min_length=1, max_length=MAX_CODES)]
    disposition: Disposition
    reason: Reason


class CodesReactivate(Strict):
    codes: Annotated[list[Scan], Field(min_length=1, max_length=MAX_CODES)]
    reason: Reason


class IdentifierPublic(BaseModel):
    scheme: str
    code: str
    material: str
    material_name: str
    level: int
    pack_quantity: int
    description: str
    created_at: datetime
    created_by: str
    voided_at: datetime | None
    void_reason: str | None
    available: int  # codes still available


class PoolPublic(BaseModel):
    number: str
    identifier: str | None
    scheme: str | None
    level: int | None
    origin: str
    reference: str
    file_sm3: str | None
    count: int
    created_at: datetime
    created_by: str
    states: dict[str, int]  # codes by state now


class EventPublic(BaseModel):
    event_key: str
    action: str
    count: int
    batch: str | None
    line: str
    disposition: str
    reason: str
    items_sm3: str
    recorded_at: datetime
    recorded_by: str


class BatchCodesPublic(BaseModel):
    """The codes of one identifier allocated to one batch, by state."""

    batch: str
    order_no: str
    product_code: str
    batch_status: str
    identifier: str
    level: int
    states: dict[str, int]


class HistoryPublic(BaseModel):
    at: datetime
    action: str
    from_state: str | None
    to_state: str
    parent: str | None
    batch: str | None
    line: str
    disposition: str
    reason: str
    by: str
    by_name: str
    pool: str | None
    event_verified: bool


class CodePublic(BaseModel):
    value: str
    level: int
    identifier: str | None
    scheme: str | None
    product_code: str | None
    product_name: str | None
    gtin: str | None
    serial: str | None
    pool: str
    state: str
    disposition: str | None
    batch: str | None
    line: str
    parent: str | None
    children: int
    shipment: str | None
    verified: bool  # the row agrees with its last event and that event's SM3 (lifecycle.verify_code)
    history: list[HistoryPublic]
