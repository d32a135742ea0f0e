"""Inputs and outputs of OOS investigations (TJ-7.7, TJ-B.2.4.3).

The edge checks the shape (every phase I check answered, texts present, a reason for an invalidation, a password
for the closure); the service checks the investigation (the step is due, phase II before a conclusion, a CAPA or
its rationale for a confirmed OOS) and the database holds what it can (migration 0031).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.identity.schemas import Password, Strict

RULE = "oos_rule"
CHECKS = ("calculation", "instrument", "standard_reagent", "sample_preparation", "analyst")

Answer = Literal["ok", "error"]  # no assignable cause found / an assignable laboratory error found
Conclusion = Literal["confirmed", "invalidated", "inconclusive"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class CheckAnswer(Strict):
    answer: Answer
    note: Note = ""


class PhaseOne(Strict):
    """Phase I (laboratory): every assignable-cause check answered, and the phase I conclusion. An assignable
    laboratory error found invalidates the result, with the reason (a retest follows within the case); none
    found escalates the case to phase II."""

    calculation: CheckAnswer
    instrument: CheckAnswer
    standard_reagent: CheckAnswer
    sample_preparation: CheckAnswer
    analyst: CheckAnswer
    assignable_cause: bool
    summary: Text
    invalidation_reason: OptionalText = ""

    @model_validator(mode="after")
    def _consistent(self) -> PhaseOne:
        errors = [name for name in CHECKS if getattr(self, name).answer == "error"]
        if self.assignable_cause and not errors:
            raise PydanticCustomError(RULE, N_("An assignable cause names the check that found it"))
        if self.assignable_cause and len(self.invalidation_reason) < 2:
            raise PydanticCustomError(RULE, N_("An invalidated result needs the reason"))
        if not self.assignable_cause and self.invalidation_reason:
            raise PydanticCustomError(RULE, N_("Only an assignable cause invalidates the result"))
        return self


class PhaseTwo(Strict):
    """Phase II (full investigation): the manufacturing investigation, the impact on other batches, the root
    cause. The linked deviation is raised (or found) before."""

    manufacturing: Text
    other_batches: Text
    root_cause: Text


class ConclusionCreate(Strict):
    """The investigation's conclusion; a confirmed OOS without a CAPA gives the rationale for none."""

    conclusion: Conclusion
    summary: Text
    no_capa_rationale: OptionalText = ""


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]


class StepCorrection(Strict):
    """A correction of a recorded step (TJ-10.1.3.4): the reason, and the step's whole content as it should read —
    ``phase1``, ``phase2`` or ``conclusion``, the one of the corrected step's kind."""

    reason: Reason
    phase1: PhaseOne | None = None
    phase2: PhaseTwo | None = None
    conclusion: ConclusionCreate | None = None

    @model_validator(mode="after")
    def _one(self) -> StepCorrection:
        if sum(x is not None for x in (self.phase1, self.phase2, self.conclusion)) != 1:
            raise PydanticCustomError(RULE, N_("Give the corrected content of the one step"))
        return self

    @property
    def body(self) -> PhaseOne | PhaseTwo | ConclusionCreate:
        found = self.phase1 or self.phase2 or self.conclusion
        assert found is not None
        return found


class DeviationRaise(Strict):
    """The deviation phase II raises through the QMS seam (immediate actions taken)."""

    immediate_actions: Text


class OosClose(Strict):
    """QA's closure by signature (log-in ID needed for the first signature of a session)."""

    comment: Note = ""
    password: Password
    login: str | None = None


class StepPublic(BaseModel):
    """A recorded step; a correction names the step it ``corrects`` and its reason, a corrected one the correction
    that superseded it (``superseded_by``). ``current``: this is the phase's content now."""

    id: int
    kind: str
    content: dict[str, Any]
    recorded_at: datetime
    recorded_by: str
    recorded_by_name: str
    corrects_id: int | None = None
    reason: str = ""
    superseded_by: int | None = None
    current: bool = True


class SignaturePublic(BaseModel):
    action: str
    meaning: str
    signer_login: str
    signer_name: str
    signed_at: datetime
    status: str


class ClosurePublic(BaseModel):
    conclusion: str
    content_sm3: str
    closed_at: datetime
    closed_by: str
    closed_by_name: str
    comment: str
    signatures: list[SignaturePublic]


class LinkedDeviation(BaseModel):
    number: str
    status: str
    classification: str | None


class LinkedCapa(BaseModel):
    number: str
    title: str
    status: str
    due_date: date | None


class Blocker(BaseModel):
    message: str
    params: dict[str, Any]


class Environment(BaseModel):
    """The room environment during the test, from the historian; ``connected`` False when no reader is
    registered (never an invented value)."""

    connected: bool
    room: str | None
    readings: list[dict[str, Any]]


class InvestigationDetail(BaseModel):
    code: str
    stage: str
    phase: str
    status: str
    result_id: int
    test_id: int
    order_code: str
    sample_code: str
    lot_number: str
    batch_no: str | None
    material_name: str
    item_name: str
    limit: str
    result: str
    analyst: str
    analyst_name: str
    tested_at: datetime
    instrument_code: str | None
    instrument_name: str | None
    calibrated_until: datetime | None
    method: str
    method_sop: str | None
    reagents: list[dict[str, Any]]
    retests: list[dict[str, Any]]
    environment: Environment
    opened_at: datetime
    opened_by: str
    steps: list[StepPublic]  # the current content of each phase
    history: list[StepPublic]  # every recorded step and correction, oldest first
    deviations: list[LinkedDeviation]
    capas: list[LinkedCapa]
    blockers: list[Blocker]
    content_sm3: str
    closure: ClosurePublic | None
