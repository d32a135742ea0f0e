"""Inputs and outputs of alarm rules and alarms (TJ-6.4.3.4, TJ-6.5).

The database holds the same rules (migration 0035); :func:`rule_problem` is shared by the schemas and the
service, which checks the merged values of a change again before the database does.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Reason, Strict
from pharmatrace.monitoring.schemas import Limit, TagName, Text

RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Delay = Annotated[int, Field(ge=0, le=86_400)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=1000)]
State = Literal["active", "acknowledged", "cleared", "closed", "open"]  # open: not yet closed
LIMIT_FIELDS = ("alert_low", "alert_high", "action_low", "action_high", "rate_per_minute", "set_point",
                "deviation", "deadband", "on_delay_s", "off_delay_s", "bad_quality")  # fmt: skip


def rule_problem(v: dict[str, object]) -> str | None:
    """The msgid of what is wrong with a rule's limits and delays, or ``None`` (the CHECKs of migration 0035)."""

    def num(key: str) -> Decimal | None:
        value = v.get(key)
        return None if value is None else Decimal(str(value))

    alert_low, alert_high = num("alert_low"), num("alert_high")
    action_low, action_high = num("action_low"), num("action_high")
    if alert_low is not None and alert_high is not None and alert_low >= alert_high:
        return N_("The low alert limit must be below the high alert limit")
    if action_low is not None and action_high is not None and action_low >= action_high:
        return N_("The low action limit must be below the high action limit")
    if (alert_high is not None and action_high is not None and alert_high >= action_high) or (
        alert_low is not None and action_low is not None and alert_low <= action_low
    ):
        return N_("The alert limits must lie inside the action limits")
    deadband = num("deadband") or Decimal(0)
    if deadband < 0:
        return N_("The deadband cannot be negative")
    for key in ("on_delay_s", "off_delay_s"):
        delay = v.get(key)
        if isinstance(delay, int) and not 0 <= delay <= 86_400:
            return N_("Delays are from 0 to 86400 seconds")
    rate = num("rate_per_minute")
    if rate is not None and rate <= 0:
        return N_("The rate of change must be above zero")
    deviation = num("deviation")
    if deviation is not None and (deviation <= 0 or num("set_point") is None):
        return N_("A deviation needs a set point and must be above zero")
    conditions = (alert_low, alert_high, action_low, action_high, rate, deviation)
    if all(c is None for c in conditions) and not v.get("bad_quality"):
        return N_("A rule needs at least one limit, a rate of change, a deviation or the bad-quality alarm")
    return None


class RuleCreate(Strict):
    """An alarm rule on a tag: alert and action limits (high/low), rate of change per minute, deviation from a
    set point, deadband, on- and off-delay in seconds, and whether a Bad-quality value raises an alarm."""

    tag: TagName
    name: RuleName
    alert_low: Limit | None = None
    alert_high: Limit | None = None
    action_low: Limit | None = None
    action_high: Limit | None = None
    rate_per_minute: Limit | None = None
    set_point: Limit | None = None
    deviation: Limit | None = None
    deadband: Limit = Decimal(0)
    on_delay_s: Delay = 0
    off_delay_s: Delay = 0
    bad_quality: bool = False
    description: Text = ""

    @model_validator(mode="after")
    def _check(self) -> RuleCreate:
        problem = rule_problem(self.model_dump())
        if problem:
            raise PydanticCustomError(RULE, problem)
        return self


class RuleChange(Strict):
    """A change of a rule's limits, delays or description (with a reason, audited); a field sent as ``null``
    removes that limit."""

    reason: Reason
    alert_low: Limit | None = None
    alert_high: Limit | None = None
    action_low: Limit | None = None
    action_high: Limit | None = None
    rate_per_minute: Limit | None = None
    set_point: Limit | None = None
    deviation: Limit | None = None
    deadband: Limit | None = None
    on_delay_s: Delay | None = None
    off_delay_s: Delay | None = None
    bad_quality: bool | None = None
    description: Text | None = None


class RuleVoid(Strict):
    reason: Reason


class RulePublic(BaseModel):
    id: int
    tag: str
    name: str
    alert_low: Decimal | None
    alert_high: Decimal | None
    action_low: Decimal | None
    action_high: Decimal | None
    rate_per_minute: Decimal | None
    set_point: Decimal | None
    deviation: Decimal | None
    deadband: Decimal
    on_delay_s: int
    off_delay_s: int
    bad_quality: bool
    description: str
    created_by: str
    created_at: datetime
    voided_at: datetime | None


class AlarmAcknowledge(Strict):
    """An acknowledgement with its assessment (what was seen, what it means for the product)."""

    comment: Comment


class AlarmFilter(Strict):
    """The alarm history's search: source time range (of the raising value), room, equipment, tag, state, and the
    alarms a user is told of (their rooms' and equipment's, :func:`~pharmatrace.monitoring.assignments.told_clause`)."""

    start: datetime | None = None
    end: datetime | None = None
    room: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""
    equipment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""
    tag: Annotated[str, StringConstraints(strip_whitespace=True, max_length=96)] = ""
    state: State | None = None
    limit: Annotated[int, Field(ge=1, le=5000)] = 1000
    told: int | None = None  # a user's id: only the alarms they are told of ("mine", TJ-6.5)


class TransitionPublic(BaseModel):
    transition: str
    at: datetime
    source_time: datetime | None
    value: str | None
    by: str
    by_name: str
    comment: str


class AlarmPublic(BaseModel):
    id: int
    number: str
    tag: str
    unit: str
    description: str
    room: str | None
    room_name: str | None
    equipment: str | None
    location: str
    rule: str
    condition: str
    limit: Decimal | None
    value: str | None
    began_at: datetime
    raised_at: datetime
    state: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    closed_at: datetime | None
    transitions: list[TransitionPublic] = []
