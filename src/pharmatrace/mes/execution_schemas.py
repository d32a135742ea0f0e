"""Inputs and outputs of batch orders and their execution (TJ-6.4). Pydantic checks types and sizes at the
edge; the rules that read the batch (state, predecessors, limits, training, equipment) are the engine's."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Password, Reason, Strict, UpperCode

Login = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
ParamCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")]
Value = Annotated[Decimal, Field(max_digits=16, decimal_places=6, allow_inf_nan=False)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=3, allow_inf_nan=False)]
CheckResult = Literal["pass", "fail", "na"]


class OrderCreate(Strict):
    """A batch order (批生产指令): the recipe's usable approved version is taken; dates in Beijing time."""

    recipe_code: UpperCode
    batch_size: Quantity
    planned_start: date
    planned_end: date
    note: Comment = ""

    @model_validator(mode="after")
    def _dates(self) -> OrderCreate:
        if self.planned_end < self.planned_start:
            raise PydanticCustomError(RULE, N_("The planned end is before the planned start"))
        return self


class Signed(Strict):
    """An electronic signature: the password (and the log-in ID for a session's first signature)."""

    password: Password
    login: Login | None = None


class OrderRelease(Signed):
    comment: Comment = ""


class OrderCancel(Strict):
    reason: Reason


class StepComplete(Strict):
    """The evidence of a step, by its type, and the performer's signature (when the step has a sign-off).

    * instruction: ``acknowledged``;
    * data entry, CPP: ``values`` for every parameter, ``comments`` for those out of their limits;
    * calculation: ``values`` for inputs that no earlier step recorded;
    * IPC: ``values`` for controls with limits, ``results`` (pass/fail) for the others;
    * yield: ``values`` ``actual`` and ``theoretical``;
    * pre-use check, line clearance: ``checks`` (one result per item of the recipe, in order), ``equipment``
      (the codes of the units used, for a pre-use check).

    ``observed_at`` (data entry, CPP, IPC, yield; optional): when the values were actually observed or read, e.g.
    copied from a paper backup after an outage. The server still stamps the recording time; recorded more than
    the recipe's window after the observation is a late entry (补录, TJ-10.1.3.1), which needs ``late_reason``.
    """

    acknowledged: bool = False
    values: Annotated[dict[ParamCode, Value], Field(max_length=60)] = Field(default_factory=dict)
    comments: Annotated[dict[ParamCode, Comment], Field(max_length=60)] = Field(default_factory=dict)
    results: Annotated[dict[ParamCode, Literal["pass", "fail"]], Field(max_length=60)] = Field(
        default_factory=dict
    )
    checks: Annotated[list[CheckResult], Field(max_length=50)] = Field(default_factory=list)
    equipment: Annotated[list[UpperCode], Field(max_length=10)] = Field(default_factory=list)
    note: Comment = ""
    observed_at: AwareDatetime | None = None
    late_reason: Comment = ""
    password: Annotated[str, Field(max_length=256)] = ""
    login: Login | None = None


class StepSignoff(Signed):
    """The second signature of a step: verifier, supervisor or QA on the floor."""

    comment: Comment = ""


class CorrectionCreate(Signed):
    """A correction of a recorded value (TJ-10.1.4): the new value, the reason, re-signed."""

    field: ParamCode
    new_value: Value
    reason: Reason


class ExceptionDecision(Signed):
    """The supervisor's decision on an exception: no deviation (justified) or a deviation (TJ-6.4.4)."""

    decision: Literal["no_deviation", "deviation"]
    comment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
    immediate_actions: LongText = ""

    @model_validator(mode="after")
    def _actions(self) -> ExceptionDecision:
        if self.decision == "deviation" and len(self.immediate_actions) < 2:
            raise PydanticCustomError(RULE, N_("A deviation needs the immediate actions taken"))
        return self


# --- output --------------------------------------------------------------------------------------------


class OrderPublic(BaseModel):
    id: int
    order_no: str
    batch_no: str
    product_code: str
    product_name: str
    recipe_code: str
    recipe_version: int
    batch_size: Decimal
    unit: str
    planned_start: datetime
    planned_end: datetime
    status: str
    note: str
    created_at: datetime
    created_by: str
    released_at: datetime | None
    released_by: str | None
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    steps_done: int
    steps_total: int
    open_exceptions: int


class SignoffPublic(BaseModel):
    id: int
    step_code: str | None
    role: str
    covers_sm3: str
    signed_at: datetime
    signed_by: str
    signed_by_name: str
    comment: str


class StepPublic(BaseModel):
    id: int
    seq: int
    unit_code: str
    operation_code: str
    step_code: str
    step_type: str
    name: str
    signoff: str
    sop: str | None
    state: str
    started_at: datetime | None
    started_by: str | None
    completed_at: datetime | None
    performed_by: str | None
    verified_at: datetime | None
    verified_by: str | None
    record: dict[str, Any]
    record_sm3: str | None


class ExceptionPublic(BaseModel):
    id: int
    batch_no: str
    step_code: str
    kind: str
    message: str  # English
    msgid: str  # the message id, translated on pages with ``params``
    params: dict[str, Any]
    evidence: str
    raised_at: datetime
    raised_by: str
    status: str
    decided_at: datetime | None
    decided_by: str | None
    decision_comment: str | None
    deviation_number: str | None


class CorrectionPublic(BaseModel):
    id: int
    step_code: str
    field: str
    old_value: str
    new_value: str
    reason: str
    corrected_at: datetime
    corrected_by: str


class OrderDetail(OrderPublic):
    control_recipe_sm3: str | None
    steps: list[StepPublic]
    exceptions: list[ExceptionPublic]
    signoffs: list[SignoffPublic]
    corrections: list[CorrectionPublic]
