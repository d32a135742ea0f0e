"""Input and output of sampling plans, sampling records, samples and their lifecycle (TJ-7.5, TJ-B.2.4.1)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Name, Password, Reason, Strict, UpperCode
from pharmatrace.wms.schemas import MaterialKind

RuleName = Literal["herb_chp0211", "sqrt_n_plus_1", "all", "fixed"]
Purpose = Literal["release_test", "retained", "stability", "retest"]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=3)]
Positive = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=3)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Login = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]
FixedCount = Annotated[int, Field(ge=1, le=999)]


def _rule_checks(rule: str, fixed_count: int | None, precious: bool) -> None:
    if rule == "fixed" and fixed_count is None:
        raise PydanticCustomError(RULE, N_("Give the number of containers of the fixed rule"))
    if rule != "fixed" and fixed_count is not None:
        raise PydanticCustomError(RULE, N_("Only the fixed rule takes a number of containers"))
    if precious and rule != "herb_chp0211":
        raise PydanticCustomError(RULE, N_("“Precious material” belongs to the pharmacopoeia rule for herbs"))


def _takes_something(test: Decimal, retained: Decimal) -> None:
    if test == 0 and retained == 0:
        raise PydanticCustomError(
            RULE, N_("A plan takes a quantity for the test sample or the retained sample")
        )


class PlanCreate(Strict):
    """A sampling plan (TJ-7.5.1) for one material (its code) or every material of a kind."""

    code: UpperCode
    name: Name
    material_code: UpperCode | None = None
    material_kind: MaterialKind | None = None
    rule: RuleName
    fixed_count: FixedCount | None = None
    precious: bool = False
    quantity_per_container: Amount
    retained_per_container: Amount = Decimal(0)
    tool: Text = ""
    storage_condition: Text = ""

    @model_validator(mode="after")
    def _consistent(self) -> PlanCreate:
        if (self.material_code is None) == (self.material_kind is None):
            raise PydanticCustomError(RULE, N_("A plan is for one material or for one kind of material"))
        _rule_checks(self.rule, self.fixed_count, self.precious)
        _takes_something(self.quantity_per_container, self.retained_per_container)
        return self


class PlanUpdate(Strict):
    """A change of a plan's rule or quantities, with the reason; sampling records keep what they used."""

    name: Name
    rule: RuleName
    fixed_count: FixedCount | None = None
    precious: bool = False
    quantity_per_container: Amount
    retained_per_container: Amount = Decimal(0)
    tool: Text = ""
    storage_condition: Text = ""
    reason: Reason

    @model_validator(mode="after")
    def _consistent(self) -> PlanUpdate:
        _rule_checks(self.rule, self.fixed_count, self.precious)
        _takes_something(self.quantity_per_container, self.retained_per_container)
        return self


class PlanVoid(Strict):
    reason: Reason


class SamplingCreate(Strict):
    """Sample a lot (TJ-B.2.4.1.1): the plan gives the count, the server draws the containers at random.

    ``lot`` is the internal lot number or any code that finds it (a container code, a scanned GS1 string).
    The quantities default to the plan's; the time is the server's, the sampler the one logged in.
    """

    lot: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    purpose: Purpose
    plan_code: UpperCode | None = None
    quantity_per_container: Amount | None = None
    retained_per_container: Amount | None = None
    place: Place
    tool: Text = ""
    conditions: Text = ""
    remarks: Note = ""


class SampleReceive(Strict):
    """The lab receives the sample (TJ-B.2.4.1.2): the amount received and its condition on receipt."""

    quantity: Positive
    condition: Required  # e.g. 封口完好，标签清晰
    note: Note = ""


class SampleStore(Strict):
    """The sample is stored (TJ-B.2.4.1.3): where, in which equipment (optional), under which conditions."""

    location: Place
    equipment_code: UpperCode | None = None
    conditions: Required  # e.g. 阴凉（≤20 °C）, 2–8 °C
    note: Note = ""


class SampleIssue(Strict):
    """The sample is issued for testing: how much (the test's amount, TJ-B.2.4.1.4 JYYL)."""

    quantity: Positive
    note: Note = ""  # e.g. the test order or the analyst


class SampleObserve(Strict):
    """A periodic observation of a retained sample (留样观察)."""

    observation: Required
    note: Note = ""


class SampleDisposal(Strict):
    """The remaining sample disposed of, or a retained sample destroyed (TJ-B.2.4.1.5): how much, how, where,
    witnessed by another person who confirms with their password. The quantity defaults to all that is left."""

    quantity: Amount | None = None
    method: Required  # e.g. 焚烧, 按危废处理
    site: Place
    witness_login: Login
    witness_password: Password
    note: Note = ""


class PlanPublic(BaseModel):
    id: int
    code: str
    name: str
    material_code: str | None
    material_name: str | None
    material_kind: str | None
    rule: str
    rule_text: str
    fixed_count: int | None
    precious: bool
    quantity_per_container: Decimal
    retained_per_container: Decimal
    tool: str
    storage_condition: str
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class SampledContainerPublic(BaseModel):
    container_code: str
    draw_order: int
    test_quantity: Decimal
    retained_quantity: Decimal
    unit: str
    sample_movement_id: int | None
    retain_movement_id: int | None


class SamplingRecordPublic(BaseModel):
    id: int
    code: str
    lot_id: int
    lot_number: str
    material_code: str
    material_name: str
    plan_code: str | None
    rule: str
    rule_text: str
    precious: bool
    containers_total: int
    sample_count: int
    seed: str  # as text: a 63-bit integer is beyond JavaScript's exact numbers
    population: list[str]
    selected: list[str]
    reproduced: bool  # the draw repeated from the seed gives the same containers
    quantity_per_container: Decimal
    retained_per_container: Decimal
    unit: str
    purpose: str
    place: str
    tool: str
    conditions: str
    remarks: str
    lot_status_before: str
    lot_status_after: str
    sampled_at: datetime
    sampled_by: str
    sampled_by_name: str
    containers: list[SampledContainerPublic]
    samples: list[str]


class SamplingProposal(BaseModel):
    """What sampling a lot would take: the plan, n and k; the containers are drawn when it is recorded."""

    lot_id: int
    lot_number: str
    lot_status: str
    material_code: str
    material_name: str
    plan_code: str
    rule_text: str
    containers_total: int
    sample_count: int
    population: list[str]
    quantity_per_container: Decimal
    retained_per_container: Decimal
    unit: str
    tool: str


class SampleEventPublic(BaseModel):
    seq: int
    event: str
    from_state: str | None
    to_state: str
    quantity: Decimal | None
    remaining: Decimal | None
    unit: str
    location: str
    equipment_code: str
    equipment_name: str
    conditions: str
    method: str
    witness: str | None
    witness_name: str | None
    note: str
    done_at: datetime
    done_by: str
    done_by_name: str


class RetentionPublic(BaseModel):
    """Until when a retained sample is kept (TJ-6.4.1): ``until`` is None while it is open."""

    until: date | None
    open: bool
    lot_expiry: date | None
    batches: list[tuple[str, date | None]]  # (batch number, its expiry or None while unknown)


class SamplePublic(BaseModel):
    id: int
    code: str
    kind: str
    state: str
    lot_id: int
    lot_number: str
    material_code: str
    material_name: str
    quantity: Decimal
    available: Decimal
    unit: str
    storage_condition: str
    location: str
    sampling_record: str
    sampled_at: datetime
    sampled_by: str
    sampled_by_name: str
    retention: RetentionPublic | None
    events: list[SampleEventPublic]


class RetentionDuePublic(BaseModel):
    """A retained sample whose retention ends within the window asked for (TJ-6.4.1 reminder)."""

    code: str
    state: str
    lot_number: str
    material_code: str
    material_name: str
    quantity: Decimal
    unit: str
    location: str
    until: date
    days_left: int
