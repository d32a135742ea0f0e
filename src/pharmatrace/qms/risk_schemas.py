"""Input and output of FMEA risk assessments (SH-6.2.4, ICH Q9): the assessment, its failure modes with their
S, O, D scores, the review, QA's signed approval, withdrawal and a new revision."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Password, Reason, Strict
from pharmatrace.qms.capa_schemas import SignaturePublic

SubjectKind = Literal["change", "deviation", "validation", "process", "equipment", "other"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
TeamText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Scope = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
ItemText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
FailureMode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
ActionText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
OwnerText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
RecordNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=4, max_length=32)
]
Score = Annotated[int, Field(ge=1, le=10)]


class AssessmentCreate(Strict):
    """A new FMEA: what it assesses (a change or a deviation by its number; the others described in text), the
    product or process step, the thresholds and the team."""

    title: Title
    scope: Scope = ""
    subject_kind: SubjectKind
    subject_ref: ShortText = ""
    product_step: ShortText = ""
    action_threshold: Annotated[int, Field(ge=1, le=1000)] = 100
    severity_threshold: Score = 9
    team: TeamText = ""

    @model_validator(mode="after")
    def _subject(self) -> AssessmentCreate:
        if self.subject_kind in ("change", "deviation"):
            if len(self.subject_ref) < 4:
                raise PydanticCustomError(RULE, N_("Name the change control or the deviation by its number"))
            self.subject_ref = self.subject_ref.upper()
        return self


class AssessmentUpdate(AssessmentCreate):
    """The assessment's header changed while a draft."""


class RiskItemInput(Strict):
    """A failure mode: its scores (1–10 each; the RPN is computed), the action and the residual scores, all
    three or none."""

    step: ShortText = ""
    failure_mode: FailureMode
    effect: ItemText = ""
    cause: ItemText = ""
    controls: ItemText = ""
    severity: Score
    occurrence: Score
    detection: Score
    action: ActionText = ""
    action_owner: OwnerText = ""
    capa_number: RecordNumber | None = None
    residual_severity: Score | None = None
    residual_occurrence: Score | None = None
    residual_detection: Score | None = None
    residual_acceptance: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = ""

    @model_validator(mode="after")
    def _residual(self) -> RiskItemInput:
        given = [self.residual_severity, self.residual_occurrence, self.residual_detection]
        if any(v is not None for v in given) and any(v is None for v in given):
            raise PydanticCustomError(RULE, N_("Give the three residual scores, or none"))
        return self


class ItemVoid(Strict):
    reason: Reason


class AssessmentApprove(Strict):
    """QA approves the assessment by an electronic signature."""

    password: Password
    login: str | None = None
    comment: OptionalText = ""


class ReasonBody(Strict):
    """A withdrawal, a return to draft or a new revision, with its reason."""

    reason: Reason


# --- output ------------------------------------------------------------------------------------------------


class BandCounts(BaseModel):
    high: int
    medium: int
    low: int


class RiskMatrix(BaseModel):
    """Failure modes by RPN band before and after mitigation, and a 5 × 5 severity × occurrence heat map."""

    before: BandCounts
    after: BandCounts
    unmitigated: int  # items with no residual scores
    heat: list[list[int]]  # rows: severity 9–10 … 1–2; columns: occurrence 1–2 … 9–10


class ItemPublic(BaseModel):
    id: int
    seq: int
    step: str
    failure_mode: str
    effect: str
    cause: str
    controls: str
    severity: int
    occurrence: int
    detection: int
    rpn: int
    band: str
    needs_action: bool
    action: str
    action_owner: str
    capa_number: str | None
    residual_severity: int | None
    residual_occurrence: int | None
    residual_detection: int | None
    residual_rpn: int | None
    residual_acceptance: str = ""
    residual_band: str | None
    voided_at: datetime | None
    void_reason: str | None


class DecisionPublic(BaseModel):
    id: int
    revision: int
    kind: str
    content_sm3: str
    comment: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    signatures: list[SignaturePublic]


class AssessmentPublic(BaseModel):
    id: int
    number: str
    title: str
    subject_kind: str
    subject_ref: str
    product_step: str
    action_threshold: int
    severity_threshold: int
    author: str
    author_name: str
    revision: int
    status: str
    items: int
    high_items: int
    created_at: datetime
    approved_at: datetime | None
    approved_by: str | None
    withdrawn_at: datetime | None
    withdraw_reason: str | None


class AssessmentDetail(AssessmentPublic):
    scope: str
    team: str
    submitted_at: datetime | None
    submitted_by: str | None
    content_sm3: str
    risk_items: list[ItemPublic]
    matrix: RiskMatrix
    decisions: list[DecisionPublic]
