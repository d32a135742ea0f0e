"""Input and output of validation and qualification (SH-6.2.4, SH-6.3.2.1.c, TJ-10.3, TJ-11.2.1, GMP Annex 15):
the project, its protocol items with acceptance criteria, execution results and their corrections, the report, QA's
signed approvals of protocol and report, cancellation and the revalidation reminders."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Password, Reason, Strict
from pharmatrace.qms.capa_schemas import SignaturePublic
from pharmatrace.qms.validation_models import KIND_STAGES, STAGES

Kind = Literal[
    "equipment_qualification", "process", "cleaning", "analytical_method", "computerized_system", "utility"
]
Stage = Literal["DQ", "IQ", "OQ", "PQ", "PV", "CV", "MV"]
Outcome = Literal["pass", "fail"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Scope = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Conclusion = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=4000)]
ItemText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Procedure = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Criterion = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Observed = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
RecordNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=4, max_length=32)
]


class ValidationCreate(Strict):
    """A new validation: its kind, its subject (an equipment's code for an equipment qualification; otherwise the
    product and process, the method, the system or the utility in text), the change control and the risk assessment
    it answers to, the stages it covers and the revalidation interval."""

    kind: Kind
    title: Title
    scope: Scope = ""
    subject: Subject
    change_number: RecordNumber | None = None
    risk_number: RecordNumber | None = None
    stages: list[Stage] = Field(min_length=1)
    revalidation_months: Annotated[int, Field(ge=1, le=120)] | None = None

    @field_validator("stages", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):  # "OQ, PQ" from a text field
            return [part.strip().upper() for part in value.replace("，", ",").split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _stages(self) -> ValidationCreate:
        allowed = KIND_STAGES[self.kind]
        wrong = [s for s in self.stages if s not in allowed]
        if wrong:
            raise PydanticCustomError(RULE, N_(
                "The stages do not fit this kind of validation: DQ, IQ, OQ, PQ for a qualification; PV, CV or MV "
                "for a process, cleaning or method validation"))  # fmt: skip
        self.stages = sorted(set(self.stages), key=STAGES.index)
        if self.kind == "equipment_qualification":
            self.subject = self.subject.upper()
        return self


class ProtocolItemInput(Strict):
    """A protocol item: the stage, the test, how it is done and what it must meet."""

    stage: Stage
    item: ItemText
    procedure: Procedure = ""
    criterion: Criterion


class ResultInput(Strict):
    """An execution result: what was observed and pass or fail; a failure names its deviation (now or by a
    correction before the report); a correction names the reason."""

    observed: Observed
    outcome: Outcome
    deviation_number: RecordNumber | None = None
    correction_reason: Reason | None = None


class ReportSubmit(Strict):
    conclusion: Conclusion


class SignBody(Strict):
    """QA approves the protocol or the report by an electronic signature."""

    password: Password
    login: str | None = None
    comment: OptionalText = ""


class ReasonBody(Strict):
    """A return, a cancellation or a voided item, with its reason."""

    reason: Reason


# --- output ------------------------------------------------------------------------------------------------


class ResultPublic(BaseModel):
    id: int
    test_seq: int
    observed: str
    outcome: str
    deviation_number: str | None
    supersedes_id: int | None
    correction_reason: str | None
    executed_at: datetime
    executed_by: str
    executed_by_name: str
    current: bool


class ProtocolItemPublic(BaseModel):
    id: int
    seq: int
    stage: str
    item: str
    procedure: str
    criterion: str
    voided_at: datetime | None
    void_reason: str | None
    result: ResultPublic | None  # the current one
    history: list[ResultPublic]  # every result, the superseded ones too, oldest first


class DecisionPublic(BaseModel):
    id: int
    kind: str
    outcome: str | None
    content_sm3: str
    comment: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    signatures: list[SignaturePublic]


class ValidationPublic(BaseModel):
    id: int
    number: str
    kind: str
    title: str
    subject: str
    equipment_id: int | None
    change_number: str | None
    risk_number: str | None
    stages: list[str]
    revalidation_months: int | None
    author: str
    author_name: str
    status: str
    outcome: str | None
    tests: int
    passed: int
    failed: int
    created_at: datetime
    completed_at: datetime | None
    revalidation_due: date | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class ValidationDetail(ValidationPublic):
    scope: str
    conclusion: str
    submitted_at: datetime | None
    submitted_by: str | None
    protocol_approved_at: datetime | None
    protocol_approved_by: str | None
    report_submitted_at: datetime | None
    report_submitted_by: str | None
    completed_by: str | None
    content_sm3: str
    protocol: list[ProtocolItemPublic]
    decisions: list[DecisionPublic]


class DuePublic(BaseModel):
    """A completed validation whose revalidation is due within the window, or overdue."""

    number: str
    kind: str
    title: str
    subject: str
    equipment_id: int | None
    completed_at: datetime | None
    revalidation_due: date
    days_left: int  # negative: overdue
