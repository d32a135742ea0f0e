"""Input and output of stability studies: protocols, placements, pulls, schedule, trends (SH-6.2.3, TJ-7.7)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Password, Reason, Strict, UpperCode
from pharmatrace.lims.stability_models import MAX_MONTHS, MAX_WINDOW_DAYS

StudyType = Literal["long_term", "accelerated", "intermediate", "ongoing"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Condition = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
ItemName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
BatchNo = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=32)]
SampleCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=2, max_length=32)
]
Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Summary = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Positive = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=3)]
Months = Annotated[int, Field(ge=0, le=MAX_MONTHS)]
WindowDays = Annotated[int, Field(ge=0, le=MAX_WINDOW_DAYS)]
AnalystLogin = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=2, max_length=64)
]


class Protocol(Strict):
    """A stability protocol (稳定性考察方案, SH-6.2.3): what is stored where, pulled when and tested how.

    ``spec_version`` None takes the effective version of the shelf-life specification ``spec_code``;
    ``attributes`` are the specification's numeric test items to trend; ``pull_months`` the pull points
    (months after ``start_date``), each pulled within ± ``window_days`` of its due date.
    """

    title: Title
    material_code: UpperCode
    study_type: StudyType
    condition: Condition  # 25 °C ± 2 °C / 60 % RH ± 5 % RH
    chamber_code: UpperCode
    spec_code: UpperCode
    spec_version: Annotated[int, Field(ge=1)] | None = None
    attributes: Annotated[list[ItemName], Field(min_length=1, max_length=30)]
    pull_months: Annotated[list[Months], Field(min_length=1, max_length=40)]
    window_days: WindowDays = 7
    start_date: date
    pull_quantity: Positive
    batches: Annotated[list[BatchNo], Field(min_length=1, max_length=20)]
    protocol_document: UpperCode | None = None

    @field_validator("pull_months")
    @classmethod
    def _months(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise PydanticCustomError(RULE, N_("A pull point is given once"))
        return sorted(value)

    @field_validator("attributes", "batches")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise PydanticCustomError(RULE, N_("Each entry is given once"))
        return value


class StudyCreate(Protocol):
    pass


class StudyUpdate(Protocol):
    """A draft's whole protocol replaced; the reason goes to the audit trail."""

    reason: Reason | None = None


class StudyApprove(Strict):
    """The approval signature: the password (and, for the first signature of a session, the log-in ID)."""

    password: Password
    login: str | None = None
    comment: Summary = ""


class StudyCancel(Strict):
    reason: Reason


class PlacementCreate(Strict):
    """Stability samples of one batch placed in the chamber (放样).

    For a warehouse lot, ``sample_code`` is a stability sample of that lot from the samples service (it is
    stored in the chamber through that service); for a batch order it is left out and the study gives the
    units a code of its own.
    """

    batch_no: BatchNo
    sample_code: SampleCode | None = None
    quantity: Positive
    position: Place  # shelf / tray in the chamber
    note: Note = ""


class PullCreate(Strict):
    """Pull a point (取样): every batch of the study at once; each gets its test order."""

    months: Months
    analyst: AnalystLogin | None = None
    note: Note = ""

    @model_validator(mode="after")
    def _blank_analyst(self) -> PullCreate:
        if self.analyst == "":
            self.analyst = None
        return self


# --- outputs -------------------------------------------------------------------------------------------


class SignaturePublic(BaseModel):
    action: str
    meaning: str
    signer_login: str
    signer_name: str
    signed_at: datetime
    status: str


class ApprovalPublic(BaseModel):
    id: int
    content_sm3: str
    approved_at: datetime
    approved_by: str
    approved_by_name: str
    comment: str
    signatures: list[SignaturePublic] = Field(default_factory=list)


class BatchPublic(BaseModel):
    batch_no: str
    source: Literal["lot", "batch_order"]
    lot_number: str | None
    order_no: str | None


class PlacementPublic(BaseModel):
    id: int
    batch_no: str
    sample_code: str
    from_samples: bool  # a stability sample of the samples service
    quantity: Decimal
    unit: str
    left: Decimal  # what the pulls have not taken yet
    chamber_code: str
    position: str
    note: str
    placed_at: datetime
    placed_by: str
    placed_by_name: str


class PullPublic(BaseModel):
    id: int
    batch_no: str
    months: int
    due_date: date
    window_from: date
    window_to: date
    quantity: Decimal
    sample_code: str
    source_ref: str
    order_id: int | None
    order_code: str | None
    pulled_at: datetime
    pulled_by: str
    pulled_by_name: str


class SchedulePoint(BaseModel):
    """A pull point's due date and window, and where it stands today (derived)."""

    months: int
    label: str  # T3
    due_date: date
    window_from: date
    window_to: date
    state: Literal["pulled", "partly_pulled", "overdue", "due", "upcoming"]
    pulled_batches: list[str]


class StudyPublic(BaseModel):
    id: int
    code: str
    title: str
    material_code: str
    material_name: str
    study_type: str
    condition: str
    chamber_id: int
    chamber_code: str
    chamber_name: str
    spec_code: str
    spec_version: int
    attributes: list[str]
    pull_months: list[int]
    window_days: int
    start_date: date
    pull_quantity: Decimal
    unit: str
    protocol_document: str | None
    batches: list[BatchPublic]
    status: str  # draft, approved, cancelled, or complete (derived)
    content_sm3: str
    created_at: datetime
    created_by: str
    edited_at: datetime | None
    edited_by: str | None
    approved_at: datetime | None
    approved_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    next_point: SchedulePoint | None


class StudyDetail(StudyPublic):
    schedule: list[SchedulePoint]
    placements: list[PlacementPublic]
    pulls: list[PullPublic]
    approvals: list[ApprovalPublic]


class DueRow(BaseModel):
    """A pull point due within the horizon, or overdue (the reminders list)."""

    study_code: str
    study_title: str
    material_code: str
    material_name: str
    chamber_code: str
    months: int
    label: str
    due_date: date
    window_from: date
    window_to: date
    state: Literal["overdue", "due", "upcoming"]
    days_left: int  # days to the end of the window; below 0: overdue
    open_batches: list[str]


class TrendPoint(BaseModel):
    batch_no: str
    months: float
    value: float
    order_code: str | None = None


class LinePublic(BaseModel):
    """A fitted line and what its confidence band needs: se(t) = s·√(1/n + (t − t_mean)²/sxx)."""

    batch_no: str
    intercept: float
    slope: float
    s: float
    df: int
    n: int
    t_mean: float
    sxx: float


class BoundPublic(BaseModel):
    batch_no: str
    side: Literal["lower", "upper"]
    limit: float
    confidence: float
    crossing: float | None


class EstimatePublic(BaseModel):
    """The ICH Q1E estimate of one attribute: model, lines, bounds, the time the worst batch meets the
    criterion, the extrapolation cap, the claim in whole months and what held it."""

    sides: str
    confidence: float
    model: str
    slopes_p: float | None
    intercepts_p: float | None
    lines: list[LinePublic]
    bounds: list[BoundPublic]
    worst_batch: str
    estimate: float | None
    data_span: float
    cap: float
    months: int
    limited_by: str
    rule: str


class TrendPublic(BaseModel):
    """One attribute of a study over time, with its criterion and, from three results, the estimate."""

    attribute: str
    unit: str
    lower: float | None
    upper: float | None
    limit_text: str
    points: list[TrendPoint]
    estimate: EstimatePublic | None
    problem: str | None  # why there is no estimate (too few results, not numeric …), in English
