"""Input and output of recalls (召回; SH-6.2.4, TJ-9.1): the record, its customers and returns, the signed
decisions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from pharmatrace.kernel.identity.schemas import Password, Reason, Strict

RecallKind = Literal["voluntary", "ordered", "mock"]
NotifyMethod = Literal["phone", "fax", "email", "letter", "visit"]
StartRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
CustomerCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class RecallCreate(Strict):
    """A new recall (draft): where it starts (a batch or a lot number), its kind and level, the health-hazard
    assessment and the reason; optionally the complaint it comes from."""

    start_ref: StartRef
    kind: RecallKind
    level: Annotated[int, Field(ge=1, le=3)]
    hazard_assessment: LongText
    reason: LongText
    complaint: Annotated[str, Field(min_length=1, max_length=32)] | None = None  # its number, CMP-YYYY-NNNN


class RecallOpen(Strict):
    """The qualified person opens the recall by signature: the impact is frozen then."""

    password: Password
    login: str | None = None
    comment: OptionalText = ""


class RecallClose(Strict):
    """The qualified person closes the recall by signature, with the effectiveness conclusion."""

    effectiveness: LongText
    password: Password
    login: str | None = None


class RecallCancel(Strict):
    reason: Reason


class Notification(Strict):
    """A customer notified: how, and to whom (contact person, number)."""

    method: NotifyMethod
    note: Note = ""


class Acknowledgement(Strict):
    note: Note = ""


class ReturnCreate(Strict):
    """Units a customer returned: how many, received when, a note."""

    quantity: Annotated[int, Field(gt=0, le=10_000_000)]
    received_on: date
    note: Note = ""


# --- output ------------------------------------------------------------------------------------------------


class SignaturePublic(BaseModel):
    action: str
    meaning: str
    signer_login: str
    signer_name: str
    signed_at: datetime
    status: str


class DecisionPublic(BaseModel):
    id: int
    kind: str
    content_sm3: str
    comment: str
    returned_units: int
    shipped_units: int
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    signatures: list[SignaturePublic]


class ReturnPublic(BaseModel):
    id: int
    customer_code: str
    quantity: int
    received_on: date
    note: str
    recorded_at: datetime
    recorded_by: str
    recorded_by_name: str


class CustomerPublic(BaseModel):
    code: str
    name: str
    shipments: list[str]
    units_shipped: int
    units_returned: int
    notified_at: datetime | None
    notified_by: str | None
    notified_by_name: str | None
    notify_method: str | None
    notify_note: str
    notified_late: bool  # notified after the deadline
    overdue: bool  # not notified, the deadline passed
    acknowledged_at: datetime | None
    acknowledged_note: str


class BatchPublic(BaseModel):
    batch_no: str
    product_code: str
    product_name: str
    status: str
    units: dict[str, int]


class ShipmentPublic(BaseModel):
    number: str
    status: str
    shipped_at: datetime | None
    customer_code: str
    customer_name: str
    batch_no: str
    units: int


class RecallPublic(BaseModel):
    id: int
    number: str
    start_ref: str
    start_kind: str
    kind: str
    level: int
    hazard_assessment: str
    reason: str
    complaint_id: int | None
    complaint_number: str | None
    status: str
    created_at: datetime
    created_by: str
    created_by_name: str
    opened_at: datetime | None
    opened_by: str | None
    notify_due: datetime | None
    units_total: int
    shipped_units: int
    returned_units: int
    customers_total: int
    customers_notified: int
    overdue: bool
    held_lots: list[str]
    impact_sm3: str | None
    closed_at: datetime | None
    closed_by: str | None
    effectiveness: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class RecallDetail(RecallPublic):
    batches: list[BatchPublic]
    shipments: list[ShipmentPublic]
    customers: list[CustomerPublic]
    returns: list[ReturnPublic]
    decisions: list[DecisionPublic]
