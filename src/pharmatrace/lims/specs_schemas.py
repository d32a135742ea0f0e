"""Inputs and outputs of specifications (TJ-7.2): what an author writes, what the API and pages show.

Pydantic checks each test item whole (:class:`ItemIn`): the limits its limit type needs and no others, lower ≤
upper, no limit with more places than the result is reported with, a formula that reads and whose inputs are
exactly the raw inputs listed. The database holds the same rules (migration 0021); the service adds what needs
the plant: materials that exist and fit the category, controlled documents that are effective.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Name, Password, Reason, Strict, UpperCode
from pharmatrace.lims.judgement import NUMERIC_LIMITS, formula_inputs
from pharmatrace.mes.formulas import FormulaInvalid

Category = Literal[
    "herb", "decoction_piece", "excipient", "primary_packaging", "secondary_packaging", "intermediate", "bulk",
    "finished_product",
]  # fmt: skip
StandardKind = Literal["pharmacopoeia", "in_house"]
Purpose = Literal["release", "shelf_life", "both"]
LimitType = Literal["range", "le", "ge", "lt", "gt", "conforms", "text"]
Rounding = Literal["gbt8170", "none"]

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Long = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Summary = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
FormulaText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]
InputName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")]
Limit = Annotated[Decimal, Field(max_digits=20, decimal_places=6, allow_inf_nan=False)]
Decimals = Annotated[int, Field(ge=0, le=10)]


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class RawInput(Strict):
    """A raw entry a formula is computed from (原始数据): its name in the formula, what it is, its unit."""

    name: InputName
    label: Short = ""
    unit: Unit = ""


class ItemIn(Strict):
    """A test item (检验项目) as the author writes it."""

    name: Name
    method: Long = ""
    method_sop: UpperCode | None = None
    unit: Unit = ""
    limit_type: LimitType
    lower: Limit | None = None
    upper: Limit | None = None
    requirement: Long = ""  # 标准规定 as written: needed for conforms and text items
    decimals: Decimals = 1
    rounding: Rounding = "gbt8170"
    formula: FormulaText = ""
    raw_inputs: Annotated[list[RawInput], Field(max_length=20)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _limits(self) -> ItemIn:
        kind = self.limit_type
        if kind == "range":
            if self.lower is None or self.upper is None:
                raise PydanticCustomError(RULE, N_("A range needs a lower and an upper limit"))
            if self.lower > self.upper:
                raise PydanticCustomError(RULE, N_("The lower limit is above the upper limit"))
        elif kind in ("le", "lt"):
            if self.upper is None or self.lower is not None:
                raise PydanticCustomError(RULE, N_("A “≤” or “<” limit has an upper limit only"))
        elif kind in ("ge", "gt"):
            if self.lower is None or self.upper is not None:
                raise PydanticCustomError(RULE, N_("A “≥” or “>” limit has a lower limit only"))
        else:
            if self.lower is not None or self.upper is not None:
                raise PydanticCustomError(RULE, N_("A conforms or descriptive item has no numeric limits"))
            if not self.requirement:
                raise PydanticCustomError(RULE, N_("A conforms or descriptive item states its requirement"))
            if self.formula or self.raw_inputs:
                raise PydanticCustomError(RULE, N_("Only an item with numeric limits has a formula"))
        for limit in (self.lower, self.upper):
            if limit is not None and _places(limit) > self.decimals:
                raise PydanticCustomError(
                    RULE, N_("A limit has more decimal places than the result is reported with")
                )
        self._check_formula()
        return self

    def _check_formula(self) -> None:
        if not self.formula:
            if self.raw_inputs:
                raise PydanticCustomError(RULE, N_("Raw inputs are listed only for a formula"))
            return
        try:
            names = formula_inputs(self.formula)
        except FormulaInvalid:
            raise PydanticCustomError(
                RULE, N_("The formula cannot be read: write “name = expression” with + − × ÷ and parentheses")
            ) from None
        listed = [raw.name for raw in self.raw_inputs]
        if len(set(listed)) != len(listed):
            raise PydanticCustomError(RULE, N_("A raw input is listed twice"))
        if set(listed) != set(names):
            raise PydanticCustomError(
                RULE, N_("The raw inputs listed must be exactly the names the formula uses")
            )

    @property
    def numeric(self) -> bool:
        return self.limit_type in NUMERIC_LIMITS


class SpecHeader(Strict):
    """What a version says besides its items: title, basis, kind, purpose, written standard, materials."""

    title: Title
    basis: Title  # 《中国药典》2025年版一部, 企业内控标准 …
    standard_kind: StandardKind = "pharmacopoeia"
    purpose: Purpose = "release"
    document_number: UpperCode | None = None  # the controlled document of the written standard
    material_codes: Annotated[list[UpperCode], Field(min_length=1, max_length=50)]
    change_summary: Summary = ""

    @model_validator(mode="after")
    def _materials_once(self) -> SpecHeader:
        if len(set(self.material_codes)) != len(self.material_codes):
            raise PydanticCustomError(RULE, N_("A material is listed twice"))
        return self


class SpecContent(SpecHeader):
    """A version's whole content: the header and its test items, in order."""

    items: Annotated[list[ItemIn], Field(max_length=100)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_once(self) -> SpecContent:
        names = [item.name for item in self.items]
        if len(set(names)) != len(names):
            raise PydanticCustomError(RULE, N_("Two test items have the same name"))
        return self


class SpecificationCreate(SpecContent):
    """A new specification: its code and category, and version 1 as a draft."""

    code: UpperCode
    category: Category


class DraftReplace(SpecContent):
    """A draft's whole content replaced (API); ``reason`` for the trail (default: "draft edited")."""

    reason: Reason | None = None


class HeaderUpdate(SpecHeader):
    reason: Reason | None = None


class NewVersion(Strict):
    change_summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]


class SignedDecision(Strict):
    """An approval: the password (and, for the first signature of a session, the log-in ID)."""

    password: Password
    login: str | None = None
    comment: Summary = ""


class ReasonedDecision(Strict):
    reason: Reason


class Measurement(Strict):
    """A value to judge against an item: the result itself, or the raw inputs of its formula; or the answer
    of a conforms item; or the text of a descriptive one."""

    value: Decimal | None = Field(default=None, allow_inf_nan=False)
    raws: dict[str, Annotated[Decimal, Field(allow_inf_nan=False)]] = Field(default_factory=dict)
    answer: Literal["conforms", "does_not_conform"] | None = None
    text: Long = ""


# --- outputs ---------------------------------------------------------------------------------------------


class RawInputPublic(BaseModel):
    name: str
    label: str
    unit: str


class ItemPublic(BaseModel):
    id: int
    position: int
    name: str
    method: str
    method_sop: str | None
    unit: str
    limit_type: str
    lower: Decimal | None
    upper: Decimal | None
    limit: str  # as people read it: 98.0 ~ 102.0, ≤ 13.0, or the requirement
    requirement: str
    decimals: int
    rounding: str
    formula: str
    raw_inputs: list[RawInputPublic]


class SignaturePublic(BaseModel):
    action: str
    meaning: str
    signer_login: str
    signer_name: str
    signed_at: datetime
    status: str


class DecisionPublic(BaseModel):
    id: int
    kind: str
    content_sm3: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str
    comment: str
    signatures: list[SignaturePublic] = Field(default_factory=list)


class VersionPublic(BaseModel):
    id: int
    code: str
    category: str
    version: int
    status: str
    title: str
    basis: str
    standard_kind: str
    purpose: str
    document_number: str | None
    material_codes: list[str]
    change_summary: str
    content_sm3: str
    created_at: datetime
    created_by: str
    edited_at: datetime | None
    edited_by: str | None
    submitted_at: datetime | None
    submitted_by: str | None
    approved_at: datetime | None
    approved_by: str | None
    superseded_at: datetime | None


class VersionDetail(VersionPublic):
    items: list[ItemPublic]
    decisions: list[DecisionPublic]


class SpecificationPublic(BaseModel):
    id: int
    code: str
    category: str
    title: str  # of the latest version
    material_codes: list[str]  # of the latest version
    effective_version: int | None
    latest_version: int
    latest_status: str
    created_at: datetime
    created_by: str


class SpecificationDetail(SpecificationPublic):
    versions: list[VersionPublic]


class VerdictPublic(BaseModel):
    item_id: int
    outcome: str  # pass | fail | review
    computed: Decimal | None  # the full-precision result of the formula
    reported: Decimal | None  # rounded once (GB/T 8170) to the item's decimals
    limit: str
    reason: str
