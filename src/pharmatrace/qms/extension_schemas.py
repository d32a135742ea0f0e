"""Input and output of due-date extensions (TJ-6.4.4, SH-6.2.4): the request, QA's signed approval, a rejection
or a withdrawal with its reason, and a record's extensions as the pages and the API show them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from pharmatrace.kernel.identity.schemas import Password, Reason, Strict
from pharmatrace.qms.capa_schemas import SignaturePublic

RecordKind = Literal["deviation", "capa", "change"]
Justification = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class ExtensionRequest(Strict):
    """More time for a record: the proposed due date, why, and what is done meanwhile."""

    new_due: date
    justification: Justification
    interim_measures: OptionalText = ""


class ExtensionApprove(Strict):
    """QA approves the extension by an electronic signature."""

    password: Password
    login: str | None = None
    comment: OptionalText = ""


class ReasonBody(Strict):
    """A rejection or a withdrawal, with its reason."""

    reason: Reason


class ExtensionPublic(BaseModel):
    id: int
    record_kind: str
    record_number: str
    due_before: date
    new_due: date
    justification: str
    interim_measures: str
    requested_at: datetime
    requested_by: str
    requested_by_name: str
    status: str
    decided_at: datetime | None
    decided_by: str | None
    decided_by_name: str | None
    decision_comment: str
    content_sm3: str | None  # of the approval, when approved
    signatures: list[SignaturePublic]


class ExtensionSummary(BaseModel):
    """A record's extensions: its original and current due dates, the approved extensions, the history."""

    record_kind: str
    record_number: str
    open: bool  # the record is open: an extension may be requested
    original_due: date | None
    current_due: date | None
    approved: int  # approved extensions of the current due date
    extensions: list[ExtensionPublic]
