"""The shape of a master recipe body and the inputs and outputs of the recipe area (TJ-6.4.3.1).

The body is what an import file holds (YAML or JSON) and what a version stores as canonical JSON. Pydantic
checks types and ranges here; the rules across fields (codes unique, predecessors acyclic, limits ordered,
what each step type needs, BOM links) are checked by :func:`pharmatrace.mes.recipes.check_body`, which
names the step and the field of each refusal.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from pharmatrace.kernel.identity.schemas import Name, Password, Reason, Strict, UpperCode
from pharmatrace.mes.historian_seam import TAG_PATTERN

STEP_TYPES = (
    "instruction",  # 操作指令
    "data_entry",  # 数据记录
    "calculation",  # 计算
    "pre_use_check",  # 使用前检查（设备、房间状态）
    "material_identification",  # 物料确认
    "weighing",  # 称量
    "charging",  # 投料
    "cpp",  # 关键工艺参数
    "ipc",  # 中间控制
    "yield",  # 收率
    "line_clearance",  # 清场
)
SIGNOFFS = (
    "none",  # 无需签名
    "operator",  # 操作人
    "operator_verifier",  # 操作人 + 复核人
    "supervisor",  # 生产主管
    "qa",  # QA
)
StepType = Literal[
    "instruction", "data_entry", "calculation", "pre_use_check", "material_identification", "weighing",
    "charging", "cpp", "ipc", "yield", "line_clearance",
]  # fmt: skip
SignOff = Literal["none", "operator", "operator_verifier", "supervisor", "qa"]
STAGES = (
    "production",  # 生产
    "inspection",  # 灯检（目检）
    "packaging",  # 包装
)
Stage = Literal["production", "inspection", "packaging"]
CLEARANCE_PHASES = (
    "before",  # 生产前清场确认
    "after",  # 生产结束清场
)
ClearancePhase = Literal["before", "after"]
# Late entries and late signatures (TJ-10.1.3.1): the windows a recipe allows, by default.
LATE_ENTRY_MINUTES = 30
LATE_SIGNATURE_MINUTES = 8 * 60

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Instruction = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)]
NeededUnit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
ParamCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")]
Value = Annotated[Decimal, Field(max_digits=14, decimal_places=6, allow_inf_nan=False)]
Minutes = Annotated[int, Field(ge=0, le=60 * 24 * 60)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=6, allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(ge=0, le=200, max_digits=6, decimal_places=2)]
Window = Annotated[int, Field(ge=1, le=7 * 24 * 60)]  # minutes
Tag = Annotated[str, StringConstraints(strip_whitespace=True, pattern=TAG_PATTERN)]


class Parameter(Strict):
    """A process parameter with its unit and limits, ordered action low ≤ alert low ≤ target ≤ alert high ≤
    action high (those given). A CPP needs a target and at least one action limit. ``tag``: a CPP's historian
    tag on its operation's equipment, ``"FD-01.shelf_temperature"`` (:mod:`pharmatrace.mes.historian_seam`)."""

    code: ParamCode
    name: Name
    unit: Unit = ""
    target: Value | None = None
    alert_low: Value | None = None
    alert_high: Value | None = None
    action_low: Value | None = None
    action_high: Value | None = None
    tag: Tag | None = None


class Control(Strict):
    """An in-process control (中间控制): what is tested, how often, and its acceptance limits."""

    code: ParamCode
    name: Name
    method: Short = ""  # test method or specification text
    frequency: Short = ""  # 每批 / 每 30 分钟 …
    unit: Unit = ""
    low: Value | None = None
    high: Value | None = None
    sop: UpperCode | None = None


class YieldLimits(Strict):
    low_pct: Percent
    high_pct: Percent


class Step(Strict):
    """A phase (步骤). ``predecessors`` omitted: the previous step of its operation (or none for the first);
    ``[]``: none, it may start with its operation (parallel)."""

    code: UpperCode
    name: Name
    type: StepType
    instruction: Instruction
    sop: UpperCode | None = None  # the controlled document number, e.g. SOP-PR-001
    parameters: Annotated[list[Parameter], Field(max_length=50)] = Field(default_factory=list)
    controls: Annotated[list[Control], Field(max_length=50)] = Field(default_factory=list)
    material_code: UpperCode | None = None  # weighing, charging: the BOM item
    materials: Annotated[list[UpperCode], Field(max_length=50)] = Field(
        default_factory=list
    )  # material identification
    checks: Annotated[list[Short], Field(max_length=50)] = Field(
        default_factory=list
    )  # pre-use checks, line clearance
    formula: Short = ""  # calculation
    yield_limits: YieldLimits | None = None
    min_minutes: Minutes | None = None
    max_minutes: Minutes | None = None
    max_hold_minutes: Minutes | None = None  # after the end of its predecessor(s)
    signoff: SignOff = "operator"
    predecessors: Annotated[list[UpperCode], Field(max_length=20)] | None = None
    # TJ-6.4.5: a line clearance before production (the default) or after it (the room cleared of this batch).
    phase: ClearancePhase = "before"


class Operation(Strict):
    """An operation (操作) in a room with equipment of the named classes. ``predecessors`` omitted: the
    previous operation of the recipe; ``[]``: none (a parallel branch)."""

    code: UpperCode
    name: Name
    equipment_classes: Annotated[list[str], Field(max_length=10)] = Field(default_factory=list)
    room: UpperCode | None = None
    predecessors: Annotated[list[UpperCode], Field(max_length=20)] | None = None
    steps: Annotated[list[Step], Field(min_length=1, max_length=200)]


class UnitProcedure(Strict):
    """A unit procedure (单元操作/工序): extraction, concentration, compounding … ``stage`` says what its steps
    are: ``production`` (the default), ``inspection`` (visual inspection, 灯检) or ``packaging`` (包装); the steps
    of the last two carry the packaging record (TJ-6.4.6, :mod:`pharmatrace.mes.packaging`)."""

    code: UpperCode
    name: Name
    stage: Stage = "production"
    operations: Annotated[list[Operation], Field(min_length=1, max_length=50)]


class BomItem(Strict):
    """One line of the bill of materials: the theoretical quantity for the recipe's batch size, its
    tolerance, and the step that charges it. ``decimals``: the places a scaled quantity is rounded to.
    ``min_lots``: how many different lots of the material the batch is made from at least (TJ-6.4.1: the number
    of herb lots a product category needs, 投产中药材批号数量); the step completes only with that many."""

    material_code: UpperCode
    quantity: Quantity
    unit: NeededUnit
    tolerance_pct: Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)] = Decimal("0")
    step: UpperCode
    decimals: Annotated[int, Field(ge=0, le=6)] = 3
    min_lots: Annotated[int, Field(ge=1, le=20)] | None = None


class RecipeBody(Strict):
    """The whole content of a master recipe version (the import file, the canonical body)."""

    recipe_code: UpperCode
    product_code: UpperCode
    product_name: Name
    batch_size: Quantity
    batch_unit: NeededUnit
    mpr_number: UpperCode  # the master production record it implements (工艺规程), e.g. MPR-DH-001
    unit_procedures: Annotated[list[UnitProcedure], Field(min_length=1, max_length=50)]
    bom: Annotated[list[BomItem], Field(max_length=200)] = Field(default_factory=list)
    # TJ-10.1.3.1: a value recorded more than this after it was observed is a late entry (补录); a second
    # signature given more than this after its step was completed is a late signature.
    late_entry_minutes: Window = LATE_ENTRY_MINUTES
    late_signature_minutes: Window = LATE_SIGNATURE_MINUTES


ChangeSummary = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class RecipeImport(Strict):
    """A draft from a file: a new recipe, or the next version of one that has no open version."""

    body: RecipeBody
    change_summary: ChangeSummary = ""


class BodyReplace(Strict):
    """A draft's body replaced as a whole, with the reason (TJ-B.2.5)."""

    body: RecipeBody
    reason: Reason


class NewVersion(Strict):
    change_summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]


class Submit(Strict):
    comment: ChangeSummary = ""


class SignedDecision(Strict):
    """A review or approval, signed: the password (and the log-in ID for a session's first signature)."""

    password: Password
    login: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    comment: ChangeSummary = ""


class ReasonedDecision(Strict):
    """A return to draft or a withdrawal, with its reason."""

    reason: Reason


# --- output --------------------------------------------------------------------------------------------


class DecisionPublic(BaseModel):
    id: int
    kind: str
    body_sm3: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    comment: str


class VersionPublic(BaseModel):
    id: int
    recipe_code: str
    product_code: str
    product_name: str
    version: int
    status: str
    batch_size: Decimal
    batch_unit: str
    mpr_number: str
    change_summary: str
    body_sm3: str
    created_at: datetime
    created_by: str
    edited_at: datetime | None
    edited_by: str | None
    submitted_at: datetime | None
    submitted_by: str | None
    approved_at: datetime | None
    superseded_at: datetime | None
    withdrawn_at: datetime | None
    decisions: list[DecisionPublic]


class VersionDetail(VersionPublic):
    body: dict[str, Any]


class RecipePublic(BaseModel):
    id: int
    code: str
    product_code: str
    product_name: str
    versions: int
    usable_version: int | None
    latest_version: int
    latest_status: str
    created_at: datetime
    created_by: str


class ScaledItem(BaseModel):
    material_code: str
    unit: str
    step: str
    quantity: Decimal  # for the requested batch size, rounded per GB/T 8170
    low: Decimal  # quantity − tolerance
    high: Decimal  # quantity + tolerance
    tolerance_pct: Decimal


class ScaledBom(BaseModel):
    recipe_code: str
    version: int
    batch_size: Decimal
    batch_unit: str
    items: list[ScaledItem]


class Change(BaseModel):
    """One difference between two versions: where (``header``, a step code, ``BOM …``), the field, old → new."""

    where: str
    field: str
    old: Any = None
    new: Any = None


class VersionDiff(BaseModel):
    recipe_code: str
    old_version: int
    new_version: int
    changes: list[Change]
