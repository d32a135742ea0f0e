"""Input and output of change control (TJ-10.3, SH-6.2.4): proposals, assessment, approvals, tasks, closure."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Login, Password, Reason, Strict

ChangeType = Literal[
    "process", "equipment", "facility", "document", "material", "supplier", "specification",
    "analytical_method", "computerized_system", "other",
]  # fmt: skip
ChangeClass = Literal["minor", "moderate", "major"]
Area = Literal[
    "product_quality", "regulatory", "validation", "stability", "documents", "training", "computerized_systems",
    "supply",
]  # fmt: skip
Risk = Literal["low", "medium", "high"]
ItemKind = Literal["document", "recipe", "equipment", "specification", "validation", "system_component"]
Function = Literal["qa", "production", "qc", "system_owner"]
TaskKind = Literal["action", "validation"]

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=4000)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Reference = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=2, max_length=64)
]
Evidence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
ShortRef = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]


class ImpactIn(Strict):
    """The impact of the change on one area: yes/no, why, and the risk level (影响与风险评估)."""

    area: Area
    impact: bool
    risk: Risk
    comment: Comment = ""

    @model_validator(mode="after")
    def _explained(self) -> ImpactIn:
        if self.impact and len(self.comment) < 2:
            raise PydanticCustomError(RULE, N_("An impact needs a comment saying what is affected"))
        return self


class ItemIn(Strict):
    """An affected item by its code: a document number, master recipe code, equipment code, specification code,
    validation record or system component."""

    kind: ItemKind
    reference: Reference
    note: Note = ""


class Proposal(Strict):
    """The change as proposed (变更申请) with its assessment and affected items.

    ``change_class`` may be left out: submission takes the class the impact answers suggest. A class other than
    the suggested one needs ``class_rationale``.
    """

    title: Title
    description: LongText
    justification: LongText
    change_type: ChangeType
    change_class: ChangeClass | None = None
    class_rationale: Comment = ""
    target_date: date
    fmea_ref: ShortRef = ""
    impacts: Annotated[list[ImpactIn], Field(default_factory=list, max_length=8)]
    items: Annotated[list[ItemIn], Field(default_factory=list, max_length=50)]

    @field_validator("impacts")
    @classmethod
    def _areas_once(cls, value: list[ImpactIn]) -> list[ImpactIn]:
        if len({i.area for i in value}) != len(value):
            raise PydanticCustomError(RULE, N_("Each area is assessed once"))
        return value

    @field_validator("items")
    @classmethod
    def _items_once(cls, value: list[ItemIn]) -> list[ItemIn]:
        if len({(i.kind, i.reference) for i in value}) != len(value):
            raise PydanticCustomError(RULE, N_("Each entry is given once"))
        return value


class ChangeCreate(Proposal):
    pass


class ChangeUpdate(Proposal):
    """A draft's whole proposal replaced; the reason goes to the audit trail."""

    reason: Reason | None = None


class Signed(Strict):
    """An electronic signature: the password (and, for the first signature of a session, the log-in ID)."""

    password: Password
    login: str | None = None


class ChangeApprove(Signed):
    function: Function
    comment: Comment = ""


class ChangeReject(Signed):
    function: Function
    reason: Reason


class ChangeClose(Signed):
    """Closure by QA: the verification of effectiveness (效果确认) and its outcome."""

    summary: Evidence
    effective: bool


class ReasonIn(Strict):
    reason: Reason


class TaskCreate(Strict):
    title: Title
    owner: Login
    due_date: date
    kind: TaskKind = "action"


class TaskDone(Strict):
    evidence: Evidence
    validation_ref: ShortRef = ""


# --- output --------------------------------------------------------------------------------------------------


class ImpactPublic(BaseModel):
    area: str
    impact: bool
    risk: str
    comment: str


class ItemPublic(BaseModel):
    kind: str
    reference: str
    name: str
    note: str
    link: str | None


class SignaturePublic(BaseModel):
    meaning: str
    signer_login: str
    signer_name: str
    signed_at: datetime
    status: str


class DecisionPublic(BaseModel):
    id: int
    kind: str
    function: str | None
    comment: str
    effective: bool | None
    content_sm3: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    signatures: list[SignaturePublic]


class TaskPublic(BaseModel):
    id: int
    seq: int
    kind: str
    title: str
    owner: str
    owner_name: str
    due_date: date
    overdue: bool
    done_at: datetime | None
    done_by: str | None
    evidence: str
    validation_ref: str


class ChangePublic(BaseModel):
    number: str
    title: str
    change_type: str
    change_class: str | None
    status: str
    proposer: str
    proposer_name: str
    target_date: date
    overdue: bool
    age_days: int
    created_at: datetime
    open_tasks: int


class ChangeDetail(ChangePublic):
    description: str
    justification: str
    suggested_class: str | None
    class_rationale: str
    fmea_ref: str
    content_sm3: str
    submitted_at: datetime | None
    approved_at: datetime | None
    implementation_at: datetime | None
    verification_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    rejected_at: datetime | None
    reject_reason: str
    cancelled_at: datetime | None
    cancel_reason: str
    required_functions: list[str]
    approved_functions: list[str]
    impacts: list[ImpactPublic]
    items: list[ItemPublic]
    decisions: list[DecisionPublic]
    tasks: list[TaskPublic]


class AgeingBucket(BaseModel):
    label: str
    count: int


class Dashboard(BaseModel):
    """Counts by status, the ageing of open changes, overdue changes and tasks (item 11)."""

    by_status: dict[str, int]
    ageing: list[AgeingBucket]
    open_total: int
    overdue_changes: int
    overdue_tasks: int
