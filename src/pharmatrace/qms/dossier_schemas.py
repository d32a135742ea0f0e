"""Input and output of registration and contract records (SH-6.2.4): the record, the review, QA's signed approval,
termination, cancellation, and the expiry reminders."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Password, Reason, Strict
from pharmatrace.qms.capa_schemas import SignaturePublic
from pharmatrace.qms.dossier_models import CONTRACT_KINDS, PRODUCT_KINDS, REGISTRATION_KINDS

Category = Literal["registration", "contract"]
Kind = Literal[
    "drug_registration_certificate", "supplementary_approval", "re_registration", "manufacturing_licence",
    "other_registration", "contract_manufacturing", "contract_testing", "quality_agreement", "other_contract",
]  # fmt: skip
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
OwnerText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]
Summary = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=2, max_length=32)]
RecordNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=6, max_length=32)
]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class DossierCreate(Strict):
    """A registration (the product for a certificate or a supplementary approval, the issuing authority) or a
    contract (a supplier by code or a named third party); its validity; the reminder lead time (default 180 days
    for a registration, 90 for a contract); the record it renews."""

    category: Category
    kind: Kind
    title: Title
    reference_no: Reference = ""
    material_code: Code | None = None
    supplier_code: Code | None = None
    counterparty: ShortText = ""
    issuing_authority: ShortText = ""
    effective_from: date | None = None
    valid_until: date
    reminder_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    owner: OwnerText = ""
    summary: Summary = ""
    renews: RecordNumber | None = None

    @model_validator(mode="after")
    def _rules(self) -> DossierCreate:
        kinds = REGISTRATION_KINDS if self.category == "registration" else CONTRACT_KINDS
        if self.kind not in kinds:
            raise PydanticCustomError(RULE, N_("This kind of record does not belong to the category chosen"))
        if self.kind in PRODUCT_KINDS and not self.material_code:
            raise PydanticCustomError(RULE, N_("A registration certificate or approval names its product"))
        if self.category == "contract" and not self.supplier_code and len(self.counterparty) < 2:
            raise PydanticCustomError(
                RULE, N_("A contract names its counterparty: a supplier or a third party")
            )
        if self.effective_from is not None and self.valid_until < self.effective_from:
            raise PydanticCustomError(RULE, N_("“Valid until” cannot be before “effective from”"))
        return self


class DossierUpdate(DossierCreate):
    """The header of a draft changed."""


class DossierApprove(Strict):
    """QA approves the record by an electronic signature."""

    password: Password
    login: str | None = None
    comment: OptionalText = ""


class ReasonBody(Strict):
    """A return to draft, a termination or a cancellation, with its reason."""

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


class DossierPublic(BaseModel):
    id: int
    number: str
    category: str
    kind: str
    title: str
    reference_no: str
    material_code: str | None
    material_name: str | None
    supplier_code: str | None
    supplier_name: str | None
    counterparty: str
    issuing_authority: str
    effective_from: date | None
    valid_until: date
    reminder_days: int
    owner: str
    author: str
    author_name: str
    status: str
    expiry: str | None  # expired, due, valid: only for an effective record (computed from the clock)
    days_left: int | None
    renews: str | None
    renewed_by: str | None  # the latest renewal drafted or approved for this record
    has_file: bool
    created_at: datetime
    approved_at: datetime | None
    approved_by: str | None
    ended_at: datetime | None
    end_reason: str | None


class DossierDetail(DossierPublic):
    summary: str
    file_name: str | None
    media_type: str | None
    file_size: int | None
    file_sm3: str | None
    submitted_at: datetime | None
    submitted_by: str | None
    ended_by: str | None
    content_sm3: str
    decisions: list[DecisionPublic]
