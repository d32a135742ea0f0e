"""Inputs and outputs of deviations (TJ-6.4.4, TJ-B.2.3.2): what people enter, what the API and pages show.

The database holds the same rules (migration 0026); the service adds what needs the plant: batches and lots
that exist, the state a transition starts from, who may do it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, field_validator

from pharmatrace.kernel.identity.schemas import Password, Reason, Strict

Class = Literal["minor", "major", "critical"]
SourceKind = Literal["mes", "lims", "monitoring", "wms", "manual"]
Category = Literal[
    "process", "equipment", "material", "environment", "facility", "documentation", "laboratory", "storage",
    "personnel", "other",
]  # fmt: skip
Fishbone = Literal["man", "machine", "material", "method", "environment", "measurement"]
ObjectKind = Literal["batch", "lot"]
Conclusion = Literal["no_impact", "impact_acceptable", "reprocess", "reject"]

Text2000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
Text1000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=1000)]
Optional1000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Why = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=32)]
Source = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class DeviationCreate(Strict):
    """A deviation entered by hand (or raised by another area): what, when, the immediate actions, the scope."""

    description: Text2000
    occurred_at: AwareDatetime
    immediate_actions: Text2000
    affected_batches: list[Ref] = Field(default_factory=list, max_length=20)
    affected_lots: list[Ref] = Field(default_factory=list, max_length=20)
    affected_products: list[Ref] = Field(default_factory=list, max_length=20)
    category: Category | None = None
    source_kind: SourceKind = "manual"
    source: Source = ""  # e.g. lims:OOS-2026-0001, monitoring:CR-01, wms:LOC-COLD-01

    @field_validator("affected_batches", "affected_lots", "affected_products")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))


class Triage(Strict):
    """QA's triage answers; the classification rules read them (:func:`pharmatrace.qms.deviations.suggest_class`)."""

    patient_safety: bool = False  # may affect patient safety
    sterility_assurance: bool = False  # may affect sterility assurance
    product_quality: bool = False  # may affect product quality
    validated_state: bool = False  # may affect a validated state (process, equipment, method, facility)


class Classification(Strict):
    """QA's classification: the category, the triage answers, the class (None: the one the rules suggest) and
    the rationale."""

    category: Category
    triage: Triage
    classification: Class | None = None
    rationale: Text1000


class ImmediateAction(Strict):
    text: Text2000


class Investigation(Strict):
    """The investigation's result: root cause, the 5-why chain, the fishbone categories (人机料法环测), the
    conclusion, and for a deviation needing no CAPA the rationale."""

    root_cause: Text2000
    why_chain: list[Why] = Field(min_length=1, max_length=7)
    fishbone: list[Fishbone] = Field(min_length=1, max_length=6)
    conclusion: Text2000
    no_capa_rationale: Optional1000 = ""

    @field_validator("fishbone")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))


class ImpactAssessment(Strict):
    """The impact on one affected batch (batch number) or lot (lot number)."""

    object_kind: ObjectKind
    object_ref: Ref
    conclusion: Conclusion
    rationale: Text1000


class Closure(Strict):
    """QA's closure signature: the password (and, for the first signature of a session, the log-in ID)."""

    password: Password
    login: str | None = None
    comment: Comment = ""


class Cancellation(Strict):
    reason: Reason


# --- outputs -------------------------------------------------------------------------------------------


class ImpactPublic(BaseModel):
    object_kind: str
    object_ref: str
    conclusion: str
    rationale: str
    assessed_at: datetime
    assessed_by: str
    assessed_by_name: str


class EventPublic(BaseModel):
    kind: str
    step: str | None
    text: str
    at: datetime
    by: str
    by_name: str


class SignaturePublic(BaseModel):
    action: str
    meaning: str
    signer_login: str
    signer_name: str
    signed_at: datetime
    status: str


class ClosurePublic(BaseModel):
    content_sm3: str
    closed_at: datetime
    closed_by: str
    closed_by_name: str
    comment: str
    signatures: list[SignaturePublic]


class CapaLink(BaseModel):
    number: str
    title: str
    status: str
    due_date: date | None


class AffectedObject(BaseModel):
    object_kind: str
    object_ref: str
    impact: ImpactPublic | None  # the latest assessment, None while pending


class DeviationPublic(BaseModel):
    number: str
    status: str
    description: str
    occurred_at: datetime
    immediate_actions: str
    affected_batches: list[str]
    affected_lots: list[str]
    affected_products: list[str]
    source_kind: str
    source: str
    category: str | None
    recorded_at: datetime
    recorded_by: str
    reviewer: str | None
    suggested_class: str | None
    classification: str | None
    due_date: date | None
    overdue: bool
    age_days: int


class DeviationDetail(DeviationPublic):
    triage: dict[str, bool]
    classification_rationale: str
    classified_at: datetime | None
    classified_by: str | None
    investigator: str | None
    investigation_started_at: datetime | None
    root_cause: str
    why_chain: list[str]
    fishbone: list[str]
    investigation_conclusion: str
    no_capa_rationale: str
    investigated_at: datetime | None
    investigated_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str
    affected: list[AffectedObject]
    events: list[EventPublic]
    closure: ClosurePublic | None
    capas: list[CapaLink]


class BatchDeviation(BaseModel):
    """A deviation touching a batch, for its quality evaluation (TJ-6.4.4: 关联至本批产品的量化质量评价结论)."""

    number: str
    status: str
    classification: str | None
    description: str
    conclusion: str | None  # the impact conclusion on this batch, None while not assessed
    rationale: str | None
    closed: bool


class Ageing(BaseModel):
    """Active deviations by age since recorded: 0–7, 8–30, over 30 days."""

    upto_7: int
    upto_30: int
    over_30: int


class Dashboard(BaseModel):
    by_status: dict[str, int]
    by_class: dict[str, int]
    overdue: int
    ageing: Ageing
