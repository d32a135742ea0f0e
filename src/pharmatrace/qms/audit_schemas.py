"""Input and output of quality audits and self-inspections (TJ-11.1, TJ-11.2.1, SH-6.2.4): planning, checklist,
findings, signed closure."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Login, Password, Reason, Strict, UpperCode
from pharmatrace.qms.capa_schemas import SignaturePublic

Kind = Literal["self_inspection", "supplier", "computerized_system", "external"]
Result = Literal["conforms", "finding", "not_applicable"]
Classification = Literal["critical", "major", "minor", "recommendation"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
Scope = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
Auditee = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Team = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
ItemCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=1000)]
ClauseRef = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=4000)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Conclusion = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=4000)]
CapaNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=4, max_length=32)
]


class AuditCreate(Strict):
    """An audit planned: its kind (a supplier audit names the supplier by its code), what and whom it covers, who
    leads it and when. A computerized-system audit starts with the TJ-11.2.1 a–e checklist."""

    kind: Kind
    supplier: UpperCode | None = None
    title: Title
    scope: Scope
    auditee: Auditee
    lead_auditor: Login
    audit_team: Team = ""
    planned_start: date
    planned_end: date

    @model_validator(mode="after")
    def _rules(self) -> AuditCreate:
        if self.kind == "supplier" and not self.supplier:
            raise PydanticCustomError(RULE, N_("A supplier audit names its supplier"))
        if self.kind != "supplier" and self.supplier:
            raise PydanticCustomError(RULE, N_("Only a supplier audit names a supplier"))
        if self.planned_end < self.planned_start:
            raise PydanticCustomError(RULE, N_("The planned end cannot precede the planned start"))
        return self


class AuditUpdate(Strict):
    """The plan changed while the audit is planned or carried out (not its kind or supplier), with the reason."""

    title: Title
    scope: Scope
    auditee: Auditee
    lead_auditor: Login
    audit_team: Team = ""
    planned_start: date
    planned_end: date
    reason: Reason

    @model_validator(mode="after")
    def _rules(self) -> AuditUpdate:
        if self.planned_end < self.planned_start:
            raise PydanticCustomError(RULE, N_("The planned end cannot precede the planned start"))
        return self


class ChecklistItemCreate(Strict):
    """A question added to the checklist."""

    code: ItemCode = ""
    question: Question


class ChecklistAssessment(Strict):
    """A checklist question answered: conforms, a finding or not applicable, with the evidence seen."""

    result: Result
    evidence_note: OptionalText = ""
    reason: Reason | None = None  # changing a result already given


class FindingCreate(Strict):
    """A finding: its classification, the clause it is against, what was found, by when it is to be answered."""

    classification: Classification
    clause_ref: ClauseRef = ""
    description: Description
    due_date: date | None = None
    capa_number: CapaNumber | None = None


class FindingResponse(Strict):
    """The auditee's response to a finding and the CAPA that handles it (needed for a critical or major one)."""

    response: LongText
    capa_number: CapaNumber | None = None
    reason: Reason | None = None  # changing a response already given


class FindingVerification(Strict):
    """The auditor verified the response (and the CAPA) of a finding."""

    note: OptionalText = ""


class AuditClose(Strict):
    """QA closes the audit by an electronic signature, with the audit's conclusion."""

    conclusion: Conclusion
    password: Password
    login: str | None = None


class AuditCancel(Strict):
    reason: Reason


# --- output ------------------------------------------------------------------------------------------------


class ChecklistItemPublic(BaseModel):
    seq: int
    code: str
    question: str
    evidence_links: list[str]
    result: str
    evidence_note: str
    assessed_at: datetime | None
    assessed_by: str | None


class FindingPublic(BaseModel):
    seq: int
    classification: str
    clause_ref: str
    description: str
    response: str
    due_date: date | None
    capa_number: str | None
    status: str
    responded_at: datetime | None
    responded_by: str | None
    verified_at: datetime | None
    verified_by: str | None
    verification_note: str


class DecisionPublic(BaseModel):
    id: int
    kind: str
    content_sm3: str
    conclusion: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    signatures: list[SignaturePublic]


class AuditPublic(BaseModel):
    id: int
    number: str
    kind: str
    supplier_id: int | None
    supplier_code: str | None
    supplier_name: str | None
    title: str
    scope: str
    auditee: str
    lead_auditor: str
    lead_auditor_name: str
    audit_team: str
    planned_start: date
    planned_end: date
    overdue: bool
    status: str
    items_total: int
    items_open: int
    findings_total: int
    created_at: datetime
    created_by: str
    created_by_name: str
    started_at: datetime | None
    reported_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class AuditDetail(AuditPublic):
    items: list[ChecklistItemPublic]
    findings: list[FindingPublic]
    content_sm3: str
    decisions: list[DecisionPublic]
