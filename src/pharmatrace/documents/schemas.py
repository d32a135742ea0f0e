"""Input and output of the documents area (SH-6.3.3, TJ-9.2)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, StringConstraints

from pharmatrace.kernel.identity.schemas import Password, Reason, Strict


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


DocType = Literal[
    "sop",
    "specification",
    "master_production_record",
    "policy",
    "form",
    "validation_protocol",
    "validation_report",
    "drawing",
]
PeriodicOutcome = Literal["still_valid", "revise"]
DocumentNumber = Annotated[
    str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{2,5}-[A-Z]{2,4}-[0-9]{3,4}$")
]
Department = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{2,4}$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Keywords = Annotated[str, StringConstraints(strip_whitespace=True, max_length=512)]
Markdown = Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
Summary = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
NeededSummary = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=1000)]
ChangeRef = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
NeededChangeRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Login = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
GraceDays = Annotated[int, Field(ge=0, le=365)]
IntervalMonths = Annotated[int, Field(ge=1, le=120)]


class DocumentCreate(Strict):
    """A new controlled document and its first draft. ``number`` empty: the type's numbering rule gives one.

    The content is ``markdown`` here; a file is given instead through the upload form or endpoint.
    """

    number: DocumentNumber | None = None
    title: Title
    doc_type: DocType
    department: Department
    gmp: bool = True
    keywords: Keywords = ""
    review_interval_months: IntervalMonths = 24
    markdown: Markdown | None = None
    change_summary: Summary = ""
    change_control_ref: ChangeRef = ""
    training_grace_days: GraceDays = 0
    training_required: bool = True


class VersionCreate(Strict):
    """A new version: a draft copied from the current one, with why it changes (变更控制)."""

    change_summary: NeededSummary
    change_control_ref: NeededChangeRef
    training_grace_days: GraceDays = 0
    training_required: bool = True


class DraftUpdate(Strict):
    """A change of the open draft (its text, its change summary); the audit trail keeps each edit."""

    markdown: Markdown | None = None
    change_summary: Summary | None = None
    change_control_ref: ChangeRef | None = None
    training_grace_days: GraceDays | None = None
    training_required: bool | None = None
    reason: Note = ""


class SignIn(Strict):
    """Re-authentication for an electronic signature (log-in ID for a session's first signature)."""

    password: Password
    login: Login = ""


class ReviewDecision(SignIn):
    note: Note = ""


class RejectDecision(Strict):
    reason: Reason


class ApproveDecision(SignIn):
    effective_from: AwareDatetime | None = None  # default: now; never in the past
    note: Note = ""


class WithdrawDecision(SignIn):
    reason: Reason


class PeriodicReviewCreate(SignIn):
    outcome: PeriodicOutcome
    note: Note = ""


class NumberRuleUpdate(Strict):
    doc_type: DocType
    prefix: Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{2,5}$")]
    digits: Annotated[int, Field(ge=3, le=4)] = 3
    reason: Reason


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
    version: int | None
    outcome: str | None
    reason: str
    content_sm3: str | None
    effective_from: datetime | None
    decided_by: str
    decided_at: datetime
    signatures: list[SignaturePublic]


class VersionPublic(BaseModel):
    id: int
    number: str
    title: str
    version: int
    status: str
    state: str  # derived now: draft, in_review, approved, effective, superseded, obsolete
    change_summary: str
    change_control_ref: str
    effective_from: datetime | None
    training_grace_days: int
    training_required: bool
    content: Literal["markdown", "file"]
    markdown: str | None
    file_name: str | None
    media_type: str | None
    sm3: str
    size: int | None
    created_at: datetime
    created_by: str
    decisions: list[DecisionPublic] = []


class DocumentPublic(BaseModel):
    id: int
    number: str
    title: str
    doc_type: str
    department: str
    gmp: bool
    keywords: str
    review_interval_months: int
    state: str  # the state of the document: effective, draft, in_review, approved, obsolete
    effective_version: int | None
    effective_from: datetime | None
    open_version: int | None
    next_review_due: date | None
    created_at: datetime
    created_by: str
    withdrawn_at: datetime | None
    withdrawal_reason: str
    versions: list[VersionPublic] = []


class DueReviewPublic(BaseModel):
    number: str
    title: str
    department: str
    effective_version: int
    next_review_due: date
    overdue: bool
