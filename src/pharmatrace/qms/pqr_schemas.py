"""Input and output of product quality reviews (TJ-9.4, SH-6.2.4): compile, recompile, QA's conclusions, the
qualified person's signed approval."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Password, Reason, Strict, UpperCode
from pharmatrace.qms.capa_schemas import SignaturePublic

Section = Literal["batches", "yields", "deviations", "laboratory", "changes", "complaints", "stability"]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Year = Annotated[int, Field(ge=2000, le=2100)]


def check_period(start: date | None, end: date | None) -> None:
    """A period ends on or after its start (also the service's rule and a CHECK in the database)."""
    if start is not None and end is not None and end < start:
        raise PydanticCustomError(RULE, N_("The period cannot end before it starts"))


class PqrCompile(Strict):
    """Compile the review of a product (its finished-good code): a calendar ``year`` (default the current one), or
    a period from ``period_start`` to ``period_end`` (both dates included)."""

    product: UpperCode
    year: Year | None = None
    period_start: date | None = None
    period_end: date | None = None

    @model_validator(mode="after")
    def _rules(self) -> PqrCompile:
        if (self.period_start is None) != (self.period_end is None):
            raise PydanticCustomError(RULE, N_("Give both the start and the end of the period, or a year"))
        check_period(self.period_start, self.period_end)
        return self


class PqrRecompile(Strict):
    """Compile again (new data, a correction, also of an approved review); the earlier version is kept,
    superseded."""

    reason: Reason


class PqrReview(Strict):
    """QA's conclusions: a comment per section, whether the process is stable and capable, the actions (CAPA,
    improvements) and the overall conclusion."""

    comments: dict[Section, Comment] = Field(default_factory=dict)
    process_stable: bool | None = None
    actions: LongText = ""
    overall_conclusion: LongText = ""
    reason: Reason | None = None  # changing conclusions already recorded


class PqrApprove(Strict):
    """The qualified person approves the review by an electronic signature."""

    password: Password
    login: str | None = None
    comment: Comment = ""


# --- output ------------------------------------------------------------------------------------------------


class PqrDecisionPublic(BaseModel):
    id: int
    kind: str
    content_sm3: str
    review_sm3: str
    conclusion: str
    comment: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    signatures: list[SignaturePublic]


class PqrVersionPublic(BaseModel):
    version: int
    status: str
    content_sm3: str
    compiled_at: datetime
    compiled_by: str
    recompile_reason: str
    superseded_at: datetime | None


class PqrPublic(BaseModel):
    id: int
    number: str
    version: int
    product_code: str
    product_name: str
    period_start: date
    period_end: date
    status: str
    content_sm3: str
    compiled_at: datetime
    compiled_by: str
    compiled_by_name: str
    counts: dict[str, dict[str, Any]]
    reviewed_at: datetime | None
    reviewed_by: str | None
    approved_at: datetime | None
    approved_by: str | None


class PqrDetail(PqrPublic):
    recompile_reason: str
    content: dict[str, Any]
    charts: dict[str, Any]
    comments: dict[str, str]
    process_stable: bool | None
    actions: str
    overall_conclusion: str
    reviewed_by_name: str | None
    review_sm3: str
    versions: list[PqrVersionPublic]
    decisions: list[PqrDecisionPublic]
