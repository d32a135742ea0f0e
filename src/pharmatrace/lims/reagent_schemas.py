"""Reagents, reference standards, solutions and instruments: validated input and public output (TJ-7.6)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.equipment.schemas import ReasonPublic, StatusPublic
from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Login, Name, Password, Reason, Strict


def _code(value: object) -> object:
    """A scanned or typed container code: keyboard-wedge scanners add control characters around it."""
    if isinstance(value, str):
        return "".join(ch for ch in value if ch.isprintable()).strip().upper()
    return value


ReceivedKind = Literal["reagent", "reference_standard"]
PreparedKind = Literal["solution", "volumetric_solution"]
ContainerCode = Annotated[
    str, BeforeValidator(_code), StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{3,31}$")
]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=4)]
Days = Annotated[int, Field(ge=1, le=3650)]
CasNo = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(\d{2,7}-\d{2}-\d)?$")]
Concentration = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=8)]


class ReagentReceive(Strict):
    """The receipt of reagent or reference-standard containers of one lot (入库); each gets its own code."""

    kind: ReceivedKind
    name: Name
    grade: Short = ""  # 规格/级别: 色谱纯, 分析纯, 基准试剂, 对照品
    cas_no: CasNo = ""
    manufacturer: Required
    lot_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    quantity: Quantity  # per container
    unit: Unit
    containers: Annotated[int, Field(ge=1, le=50)] = 1
    expiry_date: date
    retest_date: date | None = None
    storage_condition: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    location: Required
    source: Short = ""  # reference standards: 中国食品药品检定研究院 (中检院)…
    content_pct: Annotated[Decimal, Field(gt=0, le=100, max_digits=7, decimal_places=3)] | None = None
    content_basis: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    use_conditions: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    open_use_days: Days | None = None  # "use within N days after opening"

    @model_validator(mode="after")
    def _rules(self) -> ReagentReceive:
        if self.retest_date is not None and self.retest_date > self.expiry_date:
            raise PydanticCustomError(RULE, N_("The retest date cannot be after the expiry date"))
        if self.kind == "reference_standard" and len(self.source) < 2:
            raise PydanticCustomError(RULE, N_("A reference standard needs its source (e.g. NIFDC)"))
        return self


class ComponentIn(Strict):
    """One container a solution is prepared from, and how much of it was taken."""

    code: ContainerCode
    quantity: Quantity
    unit: Unit


class SolutionPrepare(Strict):
    """The preparation record of a solution or volumetric standard solution (配制)."""

    kind: PreparedKind
    name: Name
    concentration: Concentration  # the target (配制浓度)
    concentration_unit: Unit
    quantity: Quantity  # the volume (or mass) prepared
    unit: Unit = "mL"
    validity_days: Days
    storage_condition: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    location: Required
    method: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]
    components: Annotated[list[ComponentIn], Field(min_length=1, max_length=12)]

    @model_validator(mode="after")
    def _distinct(self) -> SolutionPrepare:
        codes = [c.code for c in self.components]
        if len(set(codes)) != len(codes):
            raise PydanticCustomError(RULE, N_("Name each component container once"))
        return self


class IssueCreate(Strict):
    """Issue (领用) of a quantity from a container, for a test, a sample or a preparation."""

    quantity: Quantity
    purpose: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]


class ReturnCreate(Strict):
    """Return (归还) of what is left of an issue; 0 when it was all used."""

    issue_id: Annotated[int, Field(ge=1)]
    quantity: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]


class RetestCreate(Strict):
    """A retest (复验) passed: the container may be used until the next retest date."""

    retest_date: date
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=128)]


class InvalidationCreate(Strict):
    """The container is declared no longer usable (失效): broken, contaminated, failed its retest…"""

    reason: Reason


class DestructionCreate(Strict):
    """Destruction (销毁) of what is left, with the reason and a witness who is another user."""

    reason: Reason
    witness: Annotated[
        str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=2, max_length=64)
    ]


class StandardizationCreate(Strict):
    """One round of replicate standardizations (初标 or 复标), signed with the password."""

    results: Annotated[list[Concentration], Field(min_length=3, max_length=6)]
    method: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    standard_code: ContainerCode | None = None  # the primary standard's container (基准物质)
    password: Password
    login: Login | None = None


# --- output ------------------------------------------------------------------------------------------


class UsabilityPublic(BaseModel):
    """May the container be used at ``at``? Every reason when it may not (translated for the reader)."""

    code: str
    at: datetime
    usable: bool
    state: str
    reasons: list[ReasonPublic]


class ReagentPublic(BaseModel):
    id: int
    code: str
    kind: str
    name: str
    grade: str
    cas_no: str
    manufacturer: str
    lot_no: str
    quantity: str
    remaining: str
    out: str  # issued and not yet returned
    unit: str
    expiry_date: date
    retest_date: date | None
    use_by: datetime  # the earlier of the expiry and the end of the use period after opening
    storage_condition: str
    location: str
    source: str
    content_pct: str | None
    content_basis: str
    use_conditions: str
    open_use_days: int | None
    opened_at: datetime | None
    concentration: str | None
    concentration_unit: str | None
    validity_days: int | None
    method: str
    standardized_concentration: str | None
    f_factor: str | None
    state: str
    usable: bool
    invalidated_at: datetime | None
    destroyed_at: datetime | None
    created_at: datetime
    created_by: str
    created_by_name: str


class LogEntryPublic(BaseModel):
    id: int
    kind: str
    quantity: str | None
    remaining_after: str
    issue_id: int | None
    returned: bool | None  # issues only: has it come back
    purpose: str
    reason: str
    retest_date: date | None
    reference: str
    witness: str | None
    witness_name: str | None
    performed_at: datetime
    performed_by: str
    performed_by_name: str


class ComponentPublic(BaseModel):
    code: str
    name: str
    lot_no: str
    quantity: str
    unit: str


class StandardizationPublic(BaseModel):
    id: int
    role: str
    primary_id: int | None
    results: list[str]
    mean: str
    relative_deviation_pct: str
    between_deviation_pct: str | None
    accepted: bool
    concentration: str | None
    f_factor: str | None
    standard_code: str | None
    method: str
    performed_at: datetime
    performed_by: str
    performed_by_name: str


class ReagentDetail(ReagentPublic):
    usability: UsabilityPublic
    log: list[LogEntryPublic]
    components: list[ComponentPublic]
    used_in: list[str]  # the solutions prepared from this container
    standardizations: list[StandardizationPublic]


class ReminderPublic(BaseModel):
    """A container whose expiry, end of use after opening or retest falls within the window (or has passed
    while it is still in the inventory)."""

    code: str
    name: str
    kind: str
    lot_no: str
    location: str
    due: str  # "expiry" | "retest"
    due_on: date
    days_left: int  # negative: overdue
    state: str


class InstrumentPublic(BaseModel):
    """A laboratory instrument from the equipment register, with its calibration and usability at ``at``."""

    id: int
    code: str
    name: str
    model: str
    manufacturer: str
    room_code: str | None
    room_name: str | None
    location: str
    lifecycle: str
    calibration: StatusPublic
    at: datetime
    usable: bool
    reasons: list[ReasonPublic]
