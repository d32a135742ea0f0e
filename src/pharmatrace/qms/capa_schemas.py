"""Input and output of CAPA (SH-6.2.4, TJ-9.4): the record, its actions, the signed decisions, the dashboard."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Login, Password, Reason, Strict, UpperCode

CapaKind = Literal["corrective", "preventive"]
SourceType = Literal["deviation", "oos", "audit", "complaint", "change", "other"]
ActionType = Literal["general", "retraining", "document_change", "equipment", "process_change"]
Verdict = Literal["effective", "not_effective"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
SourceRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]


class ActionCreate(Strict):
    """One action of a CAPA plan: who does what by when.

    A ``retraining`` action names the controlled document (``document_number``) and the people to retrain
    (``retrain``, log-in IDs); their retraining orders are issued when the action is issued (plan approval, or
    the action added to an approved CAPA). A ``document_change`` action names the document to change.
    """

    action_type: ActionType = "general"
    description: LongText
    owner: Login
    due_date: date
    document_number: UpperCode | None = None
    retrain: Annotated[list[Login], Field(default_factory=list, max_length=50)]

    @field_validator("retrain")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise PydanticCustomError(RULE, N_("Each person is named once"))
        return value

    @model_validator(mode="after")
    def _by_type(self) -> ActionCreate:
        if self.action_type in ("retraining", "document_change") and not self.document_number:
            raise PydanticCustomError(RULE, N_("This action names the controlled document it concerns"))
        if self.action_type == "retraining" and not self.retrain:
            raise PydanticCustomError(RULE, N_("A retraining action names the people to retrain"))
        if self.action_type != "retraining" and self.retrain:
            raise PydanticCustomError(RULE, N_("Only a retraining action names people to retrain"))
        return self


class CapaCreate(Strict):
    """A new CAPA (draft): what, why, from which source, whose, by when, and its first actions."""

    kind: CapaKind
    source_type: SourceType
    source_ref: SourceRef
    title: Title
    problem: LongText
    root_cause: OptionalText = ""  # the root cause, or the reference of the investigation that found it
    owner: Login
    due_date: date
    actions: Annotated[list[ActionCreate], Field(default_factory=list, max_length=30)]


class CapaUpdate(Strict):
    """A draft's description replaced (its actions are added or voided one by one); the reason is audited."""

    title: Title
    problem: LongText
    root_cause: OptionalText = ""
    owner: Login
    due_date: date
    reason: Reason | None = None


class ActionAdd(ActionCreate):
    """An action added to a CAPA; after the plan's approval (QA only) the reason is required."""

    reason: Reason | None = None


class ActionVoid(Strict):
    reason: Reason


class ActionComplete(Strict):
    """The implementation evidence of an action (the file, if any, is uploaded alongside)."""

    evidence: LongText


class CapaApprove(Strict):
    """QA approves the plan by signature and sets the effectiveness check: its criteria and planned date."""

    effectiveness_criteria: LongText
    effectiveness_due: date
    password: Password
    login: str | None = None
    comment: OptionalText = ""


class EffectivenessVerdict(Strict):
    """The effectiveness check's result and its verdict, signed by QA. Not effective: the new action that
    takes the CAPA back to implementation."""

    verdict: Verdict
    evidence: LongText
    password: Password
    login: str | None = None
    comment: OptionalText = ""
    new_action: ActionCreate | None = None

    @model_validator(mode="after")
    def _new_action(self) -> EffectivenessVerdict:
        if self.verdict == "not_effective" and self.new_action is None:
            raise PydanticCustomError(RULE, N_("A CAPA found not effective goes back with a new action"))
        if self.verdict == "effective" and self.new_action is not None:
            raise PydanticCustomError(RULE, N_("An effective CAPA is closed: it takes no new action"))
        return self


class CapaCancel(Strict):
    reason: Reason


# --- output ------------------------------------------------------------------------------------------------


class SignaturePublic(BaseModel):
    action: str
    meaning: str
    signer_login: str
    signer_name: str
    signed_at: datetime
    status: str


class ActionPublic(BaseModel):
    id: int
    seq: int
    cycle: int
    action_type: str
    description: str
    owner: str
    owner_name: str
    due_date: date
    overdue: bool
    document_number: str | None
    retrain: list[str]
    retraining_orders: list[int]
    status: str
    created_at: datetime
    created_by: str
    completed_at: datetime | None
    completed_by: str | None
    completed_by_name: str | None
    evidence: str
    evidence_sm3: str | None
    evidence_name: str | None
    evidence_size: int | None
    void_reason: str | None


class DecisionPublic(BaseModel):
    id: int
    kind: str
    verdict: str
    cycle: int
    content_sm3: str
    comment: str
    evidence: str
    evidence_sm3: str | None
    evidence_name: str | None
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    signatures: list[SignaturePublic]


class CapaPublic(BaseModel):
    id: int
    number: str
    kind: str
    source_type: str
    source_ref: str
    title: str
    problem: str
    root_cause: str
    owner: str
    owner_name: str
    due_date: date
    overdue: bool
    age_days: int
    status: str
    cycle: int
    effectiveness_criteria: str | None
    effectiveness_due: date | None
    created_at: datetime
    created_by: str
    created_by_name: str
    approved_at: datetime | None
    approved_by: str | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    open_actions: int
    done_actions: int


class CapaDetail(CapaPublic):
    content_sm3: str
    actions: list[ActionPublic]
    decisions: list[DecisionPublic]


class Dashboard(BaseModel):
    """Counts by status, overdue CAPAs and actions, and the ageing of the open CAPAs (days since raised)."""

    by_status: dict[str, int]
    open: int
    overdue: int
    overdue_actions: int
    ageing: dict[str, int]  # "0-30", "31-60", "61-90", ">90"
