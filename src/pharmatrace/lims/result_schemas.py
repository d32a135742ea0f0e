"""Inputs and outputs of test orders, results, reviews and OOS cases (TJ-7.3, TJ-7.4, TJ-7.7, TJ-B.2.4.1.4).

The edge checks what can be checked without the plant: a source reference where the source needs one, a result
given in one form only, a reason for every new version, a comment for a return. The service checks the rest
(the sample, the specification, the analyst's permission, the instrument's calibration, the reagents, the lock
of an OOS result) and the database holds the same rules (migration 0024).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Login, Password, Reason, Strict, UpperCode

Source = Literal["receipt", "batch", "stability", "other"]
FileFormat = Literal["balance_csv", "ph_csv", "hplc_csv"]
Answer = Literal["conforms", "does_not_conform"]
Judgement = Literal["pass", "fail"]
Decision = Literal["approved", "returned"]
InputName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")]
RawValue = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=28)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Equipment = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=32)
]
ReagentCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=32)
]
Peak = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class TestOrderCreate(Strict):
    """A test order (请验): a sample against a specification. ``spec_version`` None is the effective version;
    ``spec_code`` None is the material's release specification (the one there is). ``source_ref`` names the batch
    of a batch order, or the stability pull point (``STB-…/T3``); ``analyst`` assigns every test at once."""

    __test__ = False  # not a pytest test class

    sample_code: UpperCode
    spec_code: UpperCode | None = None
    spec_version: Annotated[int, Field(ge=1)] | None = None
    source: Source = "receipt"
    source_ref: Ref | None = None
    analyst: Login | None = None
    note: Note = ""

    @model_validator(mode="after")
    def _reference(self) -> TestOrderCreate:
        if self.source == "batch" and not self.source_ref:
            raise PydanticCustomError(RULE, N_("A batch test order names the batch number"))
        return self


class TestAssign(Strict):
    """The analyst a test is assigned to (a holder of ``lims.result.enter``)."""

    __test__ = False

    analyst: Login


class OrderVoid(Strict):
    reason: Reason


class ResultEntry(Strict):
    """A result as the analyst enters it (TJ-7.3): the raw values of the item's formula (or the value itself for
    an item without one), the answer of a conforms item, the description of a descriptive one; instrument files
    already attached to the test (``file_ids``) may give raw values. The instrument and the reagents used are
    checked at ``tested_at`` (None: now)."""

    raws: dict[InputName, RawValue] = Field(default_factory=dict)
    value: RawValue | None = None
    answer: Answer | None = None
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = None
    file_ids: list[int] = Field(default_factory=list, max_length=10)
    instrument_code: Equipment | None = None
    reagent_codes: list[ReagentCode] = Field(default_factory=list, max_length=20)
    tested_at: AwareDatetime | None = None
    processing: Note = ""  # the processing method and parameters (TJ-10.1.3.4)
    comment: Note = ""

    @model_validator(mode="after")
    def _one_form(self) -> ResultEntry:
        forms = sum([bool(self.raws) or self.value is not None or bool(self.file_ids), self.answer is not None,
                     self.text is not None])  # fmt: skip
        if forms > 1:
            raise PydanticCustomError(
                RULE, N_("Give the result in one form: values, an answer or a description")
            )
        if self.raws and self.value is not None:
            raise PydanticCustomError(RULE, N_("Give the raw values of the formula or the result, not both"))
        if len(set(self.reagent_codes)) != len(self.reagent_codes):
            raise PydanticCustomError(RULE, N_("A reagent is listed twice"))
        if len(set(self.file_ids)) != len(self.file_ids):
            raise PydanticCustomError(RULE, N_("A file is listed twice"))
        return self


class ResultRevision(ResultEntry):
    """A new version of a result (a correction, or reprocessing of the raw data): always with its reason."""

    reason: Reason


class RetestEntry(ResultEntry):
    """A retest: a new determination linked to the original result, which stays. An OOS result is retested only
    within its investigation (``oos_case``: the OOS case code)."""

    reason: Reason
    oos_case: UpperCode | None = None


class ReviewDecision(Strict):
    """The reviewer's decision on a result version (TJ-7.4), signed: approve (a descriptive result with the
    reviewer's judgement), or return to the analyst with the reason."""

    decision: Decision
    judgement: Judgement | None = None
    comment: Note = ""
    password: Password
    login: str | None = None

    @model_validator(mode="after")
    def _reason(self) -> ReviewDecision:
        if self.decision == "returned" and len(self.comment) < 2:
            raise PydanticCustomError(RULE, N_("Say why the result is returned"))
        return self


# --- outputs ---------------------------------------------------------------------------------------------


class RawPublic(BaseModel):
    name: str
    label: str
    value: str
    unit: str
    source: str
    file_id: int | None
    detail: str


class ReagentUsedPublic(BaseModel):
    code: str
    name: str
    lot_no: str
    expiry_date: date


class SignaturePublic(BaseModel):
    action: str
    meaning: str
    signer_login: str
    signer_name: str
    signed_at: datetime
    status: str


class ReviewPublic(BaseModel):
    id: int
    decision: str
    judgement: str | None
    comment: str
    content_sm3: str
    reviewed_at: datetime
    reviewed_by: str
    reviewed_by_name: str
    signatures: list[SignaturePublic]


class FilePublic(BaseModel):
    id: int
    test_id: int
    sm3: str
    size: int
    file_name: str
    format: str
    instrument_code: str
    values: list[dict[str, Any]]
    header: dict[str, str]
    uploaded_at: datetime
    uploaded_by: str
    uploaded_by_name: str


class OotEvaluationPublic(BaseModel):
    """An out-of-trend re-evaluation of a result after its entry (TJ-7.7)."""

    id: int
    oot: bool | None
    oot_findings: list[dict[str, Any]]
    reason: str
    evaluated_at: datetime
    evaluated_by: str
    evaluated_by_name: str


class OotReevaluate(Strict):
    """A reviewer's explicit re-evaluation of the OOT flag (the reason is optional)."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class ResultPublic(BaseModel):
    id: int
    test_id: int
    seq: int
    kind: str
    supersedes_id: int | None
    retest_of_id: int | None
    oos_case_code: str | None
    reason: str
    tested_at: datetime
    entered_at: datetime
    entered_by: str
    entered_by_name: str
    instrument_code: str
    instrument_name: str
    calibrated_until: datetime | None
    method: str
    method_sop: str | None
    formula: str
    processing: dict[str, Any]
    computed: str | None
    reported: str | None
    answer: str | None
    text: str | None
    unit: str
    limit: str
    decimals: int
    rounding: str
    outcome: str
    verdict_reason: str
    oot: bool | None  # the flag now: the latest re-evaluation's, else the flag at entry
    oot_findings: list[dict[str, Any]]
    oot_at_entry: bool | None = None
    oot_evaluations: list[OotEvaluationPublic] = []
    comment: str
    content_sm3: str
    current: bool
    locked: bool
    raws: list[RawPublic]
    reagents: list[ReagentUsedPublic]
    reviews: list[ReviewPublic]


class OosCasePublic(BaseModel):
    id: int
    code: str
    result_id: int
    test_id: int
    order_id: int
    order_code: str
    sample_code: str
    lot_number: str
    material_name: str
    item_name: str
    limit: str
    result: str
    phase: str
    status: str
    opened_at: datetime
    opened_by: str
    opened_by_name: str


class TestPublic(BaseModel):
    __test__ = False

    id: int
    order_id: int
    order_code: str
    position: int
    item_name: str
    method: str
    unit: str
    limit: str
    limit_type: str
    analyst: str | None
    analyst_name: str | None
    state: str
    verdict: str | None
    latest: ResultPublic | None


class TestDetail(TestPublic):
    __test__ = False

    results: list[ResultPublic]
    files: list[FilePublic]
    oos_cases: list[OosCasePublic]


class OrderPublic(BaseModel):
    id: int
    code: str
    sample_code: str
    lot_number: str
    material_code: str
    material_name: str
    spec_code: str
    spec_version: int
    spec_title: str
    source: str
    source_ref: str | None
    note: str
    requested_at: datetime
    requested_by: str
    requested_by_name: str
    state: str
    verdict: str | None
    voided_at: datetime | None
    void_reason: str | None


class OrderDetail(OrderPublic):
    tests: list[TestPublic]


class HistoryPoint(BaseModel):
    """A reviewed result of a test item for a material (oldest first): what trend rules look at."""

    value: Decimal
    tested_at: datetime
    order_code: str
    sample_code: str
    lot_number: str
    result_id: int


class WorklistPublic(BaseModel):
    """An analyst's worklist: the open tests assigned to them, and the open tests nobody has taken yet."""

    mine: list[TestPublic]
    unassigned: list[TestPublic]
