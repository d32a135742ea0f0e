"""Input and output of supplier qualification (SH-6.2.4, TJ-5.1, TJ-5.2.1.1): the qualification, its evidence
documents, the review, QA's signed approval feeding the approved-supplier list, a rejection, the requalification
reminders and the supplier's performance."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Password, Reason, Strict, UpperCode
from pharmatrace.qms.capa_schemas import SignaturePublic

Kind = Literal["new", "requalification", "change"]
RiskClass = Literal["high", "medium", "low"]
ProposedStatus = Literal["approved", "conditional"]
DocumentKind = Literal["business_licence", "manufacturing_licence", "gap", "quality_agreement", "other"]
Text2000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Text4000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
AuditNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=4, max_length=32)
]
Count = Annotated[int, Field(ge=0, le=1000)]


class QualificationEvaluation(Strict):
    """What the requester fills in while a draft: the risk class (empty: the rule for the material's kind), the
    on-site audit and its number, the trial lots, the proposed status and validity, the conclusion."""

    description: Text2000 = ""
    risk_class: RiskClass | None = None
    onsite_audit: bool = False  # asked for although not required (a high risk always requires one)
    audit_number: AuditNumber | None = None
    samples_tested: Count = 0
    samples_conforming: Count = 0
    sample_notes: Text2000 = ""
    proposed_status: ProposedStatus | None = None
    proposed_valid_until: date | None = None
    conclusion: Text4000 = ""

    @model_validator(mode="after")
    def _samples(self) -> QualificationEvaluation:
        if self.samples_conforming > self.samples_tested:
            raise PydanticCustomError(RULE, N_("More conforming trial lots than tested ones"))
        return self


class QualificationCreate(QualificationEvaluation):
    """A new qualification of a supplier for a material, both named by their codes."""

    supplier_code: UpperCode
    material_code: UpperCode
    kind: Kind = "new"


class QualificationUpdate(QualificationEvaluation):
    """The draft's evaluation changed (the supplier and the material stay; the kind unless given)."""

    kind: Kind | None = None


class DocumentCreate(Strict):
    """A piece of evidence: its kind, reference (licence or agreement number) and the date it is valid until."""

    kind: DocumentKind
    reference: Reference
    valid_until: date | None = None
    note: Note = ""


class ReasonBody(Strict):
    """A return to draft, a rejection, a cancellation or a voided document, with its reason."""

    reason: Reason


class QualificationApprove(Strict):
    """QA approves the qualification by an electronic signature; it writes the approved-supplier list."""

    password: Password
    login: str | None = None
    comment: Text2000 = ""


# --- output ------------------------------------------------------------------------------------------------


class DocumentPublic(BaseModel):
    id: int
    seq: int
    kind: str
    reference: str
    valid_until: date | None
    expired: bool
    note: str
    created_at: datetime
    created_by: str
    voided_at: datetime | None
    void_reason: str | None


class DecisionPublic(BaseModel):
    id: int
    kind: str
    content_sm3: str
    comment: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    signatures: list[SignaturePublic]


class QualificationPublic(BaseModel):
    id: int
    number: str
    supplier_code: str
    supplier_name: str
    supplier_kind: str
    material_code: str
    material_name: str
    material_kind: str
    kind: str
    risk_class: str
    audit_required: bool
    audit_number: str | None
    proposed_status: str | None
    proposed_valid_until: date | None
    requester: str
    requester_name: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None


class QualificationDetail(QualificationPublic):
    description: str
    rule_risk_class: str
    samples_tested: int
    samples_conforming: int
    sample_notes: str
    conclusion: str
    audit_status: str | None
    required_documents: list[str]
    missing_documents: list[str]
    submitted_at: datetime | None
    submitted_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    content_sm3: str
    documents: list[DocumentPublic]
    decisions: list[DecisionPublic]


class DuePublic(BaseModel):
    """A line of the approved-supplier list due for requalification: its validity ends within the window or has
    ended, and no qualification of the pair is open."""

    supplier_code: str
    supplier_name: str
    material_code: str
    material_name: str
    status: str
    valid_until: date
    days_left: int  # negative: expired that many days ago


class DeviationLinkPublic(BaseModel):
    number: str
    classification: str | None
    status: str
    lots: list[str]


class AuditLinkPublic(BaseModel):
    number: str
    kind: str
    status: str
    planned_start: date
    planned_end: date
    findings: int


class PerformancePublic(BaseModel):
    """What a supplier's lots, deviations and audits say about it over a period (the evidence of a
    requalification)."""

    supplier_code: str
    supplier_name: str
    days: int
    since: datetime
    until: datetime
    lots: int
    by_status: dict[str, int]
    decided: int
    acceptance_rate: Decimal | None
    open_findings: int
    deviations: list[DeviationLinkPublic]
    audits: list[AuditLinkPublic]
