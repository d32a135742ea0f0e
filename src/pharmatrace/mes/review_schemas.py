"""Inputs and outputs of the QA review by exception and the batch record (TJ-6.4.7, TJ-6.4.3.5)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints

from pharmatrace.kernel.identity.schemas import Password, Strict

Login = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class ReviewFilter(Strict):
    """Filters of the review list; empty means any."""

    batch: Text = ""  # batch or order number (part of it)
    product: Text = ""  # product code or name (part of it)
    kind: Text = ""
    status: Text = ""
    date_from: date | None = None  # Beijing dates, inclusive
    date_to: date | None = None


class ReviewCreate(Strict):
    """The QA review sign-off of a batch record (e-signature, meaning “Reviewed”)."""

    password: Password
    login: Login | None = None
    comment: Comment = ""


class ReviewItemPublic(BaseModel):
    """One exception of the review list: what happened, its explanation and its status."""

    key: str  # exception:<id>, refusal:<audit entry id>, late:<sign-off id>
    order_no: str
    batch_no: str
    product_code: str
    product_name: str
    step_code: str  # "" when the event is on the order
    kind: str
    message: str  # English
    msgid: str
    params: dict[str, Any]
    evidence: str
    at: datetime
    by: str
    status: str  # open | no_deviation | deviation | recorded
    explanation: str
    decided_by: str | None
    deviation_number: str | None
    exception_id: int | None


class ReviewPublic(BaseModel):
    id: int
    order_no: str
    batch_no: str
    covers_sm3: str
    exceptions_total: int
    reviewed_at: datetime
    reviewed_by: str
    reviewed_by_name: str
    comment: str


class RecordListItem(BaseModel):
    order_no: str
    batch_no: str
    product_code: str
    product_name: str
    status: str
    started_at: datetime | None
    completed_at: datetime | None
    reviewed_at: datetime | None
