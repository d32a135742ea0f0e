"""Input and output of complaints (SH-6.2.4): intake, classification, investigation, response, signed closure."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Login, Password, Reason, Strict, UpperCode
from pharmatrace.qms.capa_schemas import SignaturePublic

Channel = Literal["phone", "email", "letter", "visit", "regulator", "other"]
Category = Literal["quality", "adverse_reaction", "packaging", "suspected_counterfeit", "other"]
Classification = Literal["critical", "major", "minor"]
Conclusion = Literal["justified", "not_justified"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Rationale = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
BatchNo = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=2, max_length=32)]
Scan = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=300)]
RecordNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=4, max_length=32)
]

AT_LEAST_MAJOR = ("adverse_reaction", "suspected_counterfeit")


def check_classification(category: str, classification: str | None) -> None:
    """SH-6.2.4: an adverse reaction or a suspected counterfeit is at least major (also the service's rule)."""
    if classification == "minor" and category in AT_LEAST_MAJOR:
        raise PydanticCustomError(
            RULE, N_("An adverse reaction or a suspected counterfeit is classified at least major")
        )


class ComplaintCreate(Strict):
    """A complaint received: who, how, what, and the product — a batch number and/or a scanned code (either
    names the batch; both must agree). The classification may be given now or later."""

    received_at: AwareDatetime | None = None  # default: now
    channel: Channel
    complainant_name: Name
    complainant_org: ShortText = ""
    complainant_contact: ShortText = ""
    customer: UpperCode | None = None
    category: Category
    description: Description
    batch_no: BatchNo | None = None
    code: Scan | None = None
    classification: Classification | None = None
    classification_rationale: OptionalText = ""

    @model_validator(mode="after")
    def _rules(self) -> ComplaintCreate:
        if not self.batch_no and not self.code:
            raise PydanticCustomError(
                RULE, N_("Name the product: its batch number or a scanned traceability code")
            )
        if self.classification is not None and len(self.classification_rationale) < 2:
            raise PydanticCustomError(RULE, N_("A classification needs its rationale"))
        check_classification(self.category, self.classification)
        return self


class ComplaintClassify(Strict):
    """The classification and its rationale; changing one already given needs a reason."""

    classification: Classification
    rationale: Rationale
    reason: Reason | None = None


class InvestigatorAssign(Strict):
    """The investigation starts with its investigator."""

    investigator: Login


class InvestigationRecord(Strict):
    """What the investigation found, what it reviewed, what it links to, and (when done) its conclusion."""

    findings: LongText
    root_cause: OptionalText = ""
    batch_record_reviewed: bool = False
    batch_record_notes: OptionalText = ""
    retained_sample_reviewed: bool = False
    retained_sample_notes: OptionalText = ""
    deviation_number: RecordNumber | None = None
    capa_number: RecordNumber | None = None
    recall_number: RecordNumber | None = None
    conclusion: Conclusion | None = None
    reason: Reason | None = None


class ResponseRecord(Strict):
    """The response given to the complainant, and when (default now)."""

    response: LongText
    responded_at: AwareDatetime | None = None


class ComplaintClose(Strict):
    """QA closes the complaint by an electronic signature."""

    password: Password
    login: str | None = None
    comment: OptionalText = ""


class ComplaintCancel(Strict):
    reason: Reason


# --- output ------------------------------------------------------------------------------------------------


class DecisionPublic(BaseModel):
    id: int
    kind: str
    content_sm3: str
    comment: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    signatures: list[SignaturePublic]


class ComplaintPublic(BaseModel):
    id: int
    number: str
    received_at: datetime
    channel: str
    complainant_name: str
    complainant_org: str
    complainant_contact: str
    customer_code: str | None
    customer_name: str | None
    category: str
    description: str
    batch_no: str
    order_no: str
    product_code: str
    product_name: str
    code_value: str | None
    classification: str | None
    classification_rationale: str
    classified_at: datetime | None
    classified_by: str | None
    due_date: date
    overdue: bool
    status: str
    investigator: str | None
    investigator_name: str | None
    conclusion: str | None
    responded_at: datetime | None
    created_at: datetime
    created_by: str
    created_by_name: str
    closed_at: datetime | None
    closed_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class ComplaintDetail(ComplaintPublic):
    findings: str
    root_cause: str
    batch_record_reviewed: bool
    batch_record_notes: str
    retained_sample_reviewed: bool
    retained_sample_notes: str
    deviation_number: str | None
    capa_number: str | None
    recall_number: str | None
    investigated_at: datetime | None
    response: str | None
    responded_by: str | None
    content_sm3: str
    decisions: list[DecisionPublic]
