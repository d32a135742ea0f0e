"""Batch release (批放行; TJ-6.3.4, TJ-6.4.7, TJ-9.1): the checklist, the release summary and the decision."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Strict
from pharmatrace.qms.deviation_schemas import BatchDeviation, SignaturePublic

CheckStatus = Literal["pass", "fail", "not_applicable"]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class CheckItem(BaseModel):
    """One item of the release checklist, computed from the record: what was checked, the verdict, the evidence."""

    code: str
    label: str  # English msgid
    status: CheckStatus
    message: str  # English msgid of the finding, with ``params``
    params: dict[str, str] = Field(default_factory=dict)
    evidence: list[str] = Field(default_factory=list)  # record codes, numbers, hashes
    link: str | None = None

    @property
    def text(self) -> str:
        return self.message.format(**self.params)


class TestLine(BaseModel):
    item: str
    result: str
    unit: str | None
    limit: str | None
    verdict: str


class CertificateRef(BaseModel):
    id: int
    code: str
    conclusion: str
    state: str
    spec: str
    lines: list[TestLine]


class CapaRef(BaseModel):
    number: str
    status: str
    title: str
    source_ref: str


class ReleaseSummary(BaseModel):
    """The batch release summary (批放行生产及检定摘要): production facts, testing, deviations."""

    batch_no: str
    order_no: str
    product_code: str
    product_name: str
    batch_size: str
    unit: str
    recipe_code: str
    recipe_version: int | None
    order_status: str
    started_at: datetime | None
    completed_at: datetime | None
    manufacture_date: str | None
    expiry_date: str | None
    finished: str | None  # finished units from the packaging balance
    yield_pct: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_sm3: str | None
    finished_lot: str | None  # the warehouse lot of the finished product, when the warehouse holds one
    lot_status: str | None
    certificates: list[CertificateRef]
    deviations: list[BatchDeviation]
    capas: list[CapaRef]
    materials: list[str]  # lots consumed, "lot number (status)"


class DecisionPublic(BaseModel):
    id: int
    decision: str
    reason: str
    lot_status: str | None
    content_sm3: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    signatures: list[SignaturePublic]


class ReleasePublic(BaseModel):
    """A batch's release page in data: its state, the checklist, the summary, the decisions so far."""

    batch_no: str
    state: str  # awaiting, quarantine, release, reject
    ready: bool  # no checklist item fails
    checklist: list[CheckItem]
    summary: ReleaseSummary
    content_sm3: str  # the SM3 of checklist + summary as they stand now (what a decision names)
    decisions: list[DecisionPublic]


class CandidatePublic(BaseModel):
    batch_no: str
    order_no: str
    product_name: str
    completed_at: datetime | None
    state: str
    failing: list[str]  # codes of the failing checklist items
    decided_at: datetime | None
    decided_by_name: str | None


class DecisionCreate(Strict):
    """The qualified person's decision: release and reject are signed (password, and the log-in ID for the
    first signature of a session); reject and quarantine give their reason."""

    decision: Literal["release", "reject", "quarantine"]
    reason: Text500 = ""
    password: Annotated[str, Field(max_length=256)] = ""
    login: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> DecisionCreate:
        if self.decision != "release" and len(self.reason) < 2:
            raise PydanticCustomError(RULE, N_("A rejection or a quarantine needs its reason"))
        if self.decision != "quarantine" and not self.password:
            raise PydanticCustomError(RULE, N_("A release or a rejection is signed: enter your password"))
        return self
