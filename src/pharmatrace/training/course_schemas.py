"""Input and output of courses, curricula, plans, sessions, assessments and the matrix (TJ-9.3).

A trainee's view of a question (:class:`QuestionForTrainee`) has no answer key; only the question bank's
own view (:class:`QuestionPublic`, ``training.manage``) carries it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Login, Reason, Strict, UpperCode


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]
Needed = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
DocumentNumber = Annotated[
    str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9.-]{1,63}$")
]
Mark = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]
Months = Annotated[int, Field(ge=1, le=120)]
QuestionCount = Annotated[int, Field(ge=1, le=100)]
OptionText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]

CourseKind = Literal["self_study", "classroom", "on_the_job"]
QuestionKind = Literal["single", "multiple", "true_false"]
PlanStatus = Literal["draft", "approved", "closed"]
Target = Literal["role", "position"]
EffectivenessMethod = Literal[
    "written_test", "observation", "interview", "questionnaire", "performance_review"
]
EffectivenessResult = Literal["effective", "partially_effective", "not_effective"]
MatrixStatus = Literal["trained", "due", "overdue", "lapsed", "not_needed"]


# --- courses and their question banks ---------------------------------------------------------------------


class CourseCreate(Strict):
    code: UpperCode
    title: Title
    kind: CourseKind
    document_number: DocumentNumber | None = None
    description: LongText = ""
    pass_mark: Mark | None = None
    validity_months: Months | None = None
    questions_per_assessment: QuestionCount = 10


class CourseUpdate(Strict):
    """A change to a course; fields left out stay as they are."""

    title: Title | None = None
    description: LongText | None = None
    pass_mark: Mark | None = None
    validity_months: Months | None = None
    questions_per_assessment: QuestionCount | None = None
    active: bool | None = None
    reason: Reason


class CoursePublic(BaseModel):
    id: int
    code: str
    title: str
    kind: str
    document_number: str | None
    description: str
    pass_mark: Decimal | None
    validity_months: int | None
    questions_per_assessment: int
    active: bool
    questions: int
    created_at: datetime
    created_by: str


class QuestionCreate(Strict):
    """A question of the bank. ``answer_key``: the indices (from 0) of the right options; a true/false
    question has no options and its key is ``[0]`` (true) or ``[1]`` (false)."""

    kind: QuestionKind
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
    options: list[OptionText] = Field(default_factory=list, max_length=8)
    answer_key: list[Annotated[int, Field(ge=0, le=7)]] = Field(min_length=1, max_length=8)

    @model_validator(mode="after")
    def _key_fits(self) -> QuestionCreate:
        key = self.answer_key
        if len(set(key)) != len(key):
            raise PydanticCustomError(RULE, N_("An option appears twice in the answer key"))
        if self.kind == "true_false":
            if self.options:
                raise PydanticCustomError(RULE, N_("A true/false question has no options"))
            if key not in ([0], [1]):
                raise PydanticCustomError(RULE, N_("The key of a true/false question is true or false"))
            return self
        if len(self.options) < 2:
            raise PydanticCustomError(RULE, N_("A choice question needs at least two options"))
        if len(set(self.options)) != len(self.options):
            raise PydanticCustomError(RULE, N_("Two options of the question are the same"))
        if any(i >= len(self.options) for i in key):
            raise PydanticCustomError(RULE, N_("The answer key names an option the question does not have"))
        if self.kind == "single" and len(key) != 1:
            raise PydanticCustomError(RULE, N_("A single-choice question has exactly one right option"))
        return self


class QuestionUpdate(QuestionCreate):
    reason: Reason


class QuestionPublic(BaseModel):
    """A question with its answer key: the question bank's view (``training.manage``)."""

    id: int
    course_id: int
    kind: str
    text: str
    options: list[str]
    answer_key: list[int]
    voided_at: datetime | None


class QuestionForTrainee(BaseModel):
    """A question as the trainee sees it: never the answer key."""

    id: int
    kind: str
    text: str
    options: list[str]


# --- curricula ----------------------------------------------------------------------------------------------


class CurriculumCreate(Strict):
    code: UpperCode
    name: Title
    description: LongText = ""
    course_codes: list[UpperCode] = Field(default_factory=list, max_length=200)


class CurriculumCourseAdd(Strict):
    course_code: UpperCode


class AssignmentCreate(Strict):
    """A curriculum for everyone holding a role (its code) or a position (岗位, as on the user)."""

    target: Target
    value: Needed


class CourseRef(BaseModel):
    id: int
    code: str
    title: str
    kind: str
    document_number: str | None


class AssignmentPublic(BaseModel):
    id: int
    target: str
    value: str


class CurriculumPublic(BaseModel):
    id: int
    code: str
    name: str
    description: str
    courses: list[CourseRef]
    assignments: list[AssignmentPublic]
    voided_at: datetime | None


# --- annual plans ---------------------------------------------------------------------------------------------


class PlanItemCreate(Strict):
    course_code: UpperCode
    planned_sessions: Annotated[int, Field(ge=1, le=100)]
    planned_month: Annotated[int, Field(ge=1, le=12)] | None = None
    audience: Short = ""


class PlanCreate(Strict):
    code: UpperCode
    year: Annotated[int, Field(ge=2000, le=2100)]
    title: Title
    items: list[PlanItemCreate] = Field(default_factory=list, max_length=500)


class PlanStatusChange(Strict):
    status: PlanStatus
    reason: Reason


class PlanItemPublic(BaseModel):
    id: int
    course_code: str
    course_title: str
    planned_sessions: int
    planned_month: int | None
    audience: str
    sessions_held: int


class PlanPublic(BaseModel):
    id: int
    code: str
    year: int
    title: str
    status: str
    items: list[PlanItemPublic]
    created_at: datetime
    created_by: str


# --- sessions and attendance ---------------------------------------------------------------------------------


class SessionCreate(Strict):
    code: UpperCode
    course_code: UpperCode
    plan_code: UpperCode | None = None
    held_on: date
    hours: Annotated[Decimal, Field(gt=0, le=24, max_digits=4, decimal_places=1)]
    trainer_login: Login
    place: Needed
    attendees: list[Login] = Field(default_factory=list, max_length=500)


class AttendanceEntry(Strict):
    login: Login
    present: bool


class AttendanceRecord(Strict):
    """Attendance taken (签到): present or absent per attendee. Correcting an entry already taken needs a
    reason."""

    entries: list[AttendanceEntry] = Field(min_length=1, max_length=500)
    reason: Reason | None = None


class AttendancePublic(BaseModel):
    user_id: int
    login: str
    full_name: str
    department: str
    present: bool | None
    recorded_at: datetime | None


class SessionPublic(BaseModel):
    id: int
    code: str
    course_code: str
    course_title: str
    course_kind: str
    plan_code: str | None
    held_on: date
    hours: Decimal
    trainer_login: str
    trainer_name: str
    place: str
    status: str
    attendance: list[AttendancePublic]
    created_at: datetime
    created_by: str


# --- assessments ------------------------------------------------------------------------------------------------


class AssessmentStart(Strict):
    """The trainee (the caller) starts a written assessment: the server draws the questions."""

    course_code: UpperCode
    session_code: UpperCode | None = None


class AssessmentSubmit(Strict):
    """The trainee's answers: question ID → the indices chosen (true/false: ``[0]`` true, ``[1]`` false).
    A question left out counts as wrong. The server scores them."""

    answers: dict[int, list[Annotated[int, Field(ge=0, le=7)]]] = Field(max_length=100)


class PracticalAssessmentCreate(Strict):
    """A practical (on-the-job) assessment given by the trainer (the caller), signed ``training.practical``."""

    course_code: UpperCode
    trainee_login: Login
    passed: bool
    score: Mark | None = None
    remarks: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
    session_code: UpperCode | None = None
    password: Annotated[str, Field(min_length=1, max_length=256)]
    login: Login | None = None


class AttemptPublic(BaseModel):
    id: int
    assessment_id: int
    score: Decimal | None
    pass_mark: Decimal | None
    passed: bool
    correct: int
    total: int
    remarks: str
    submitted_at: datetime
    submitted_by: str
    record_id: int | None = None


class AssessmentPaper(BaseModel):
    """What the trainee sees: the drawn questions without their keys, and the result once submitted."""

    id: int
    kind: str
    course_code: str
    course_title: str
    trainee_login: str
    trainee_name: str
    trainer_login: str | None
    pass_mark: Decimal | None
    started_at: datetime
    questions: list[QuestionForTrainee]
    attempt: AttemptPublic | None


# --- effectiveness, expiring qualifications, the matrix -----------------------------------------------------------


class EffectivenessCreate(Strict):
    course_code: UpperCode
    session_code: UpperCode | None = None
    method: EffectivenessMethod
    result: EffectivenessResult
    outcome: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=4000)]
    evaluated_on: date


class EffectivenessPublic(BaseModel):
    id: int
    course_code: str
    course_title: str
    session_code: str | None
    method: str
    result: str
    outcome: str
    evaluator_login: str
    evaluator_name: str
    evaluated_on: date
    voided_at: datetime | None


class ExpiringPublic(BaseModel):
    record_id: int
    login: str
    full_name: str
    department: str
    subject: str  # course code or document number and version
    subject_title: str
    valid_until: date
    days_left: int
    expired: bool


class MatrixCell(BaseModel):
    course_id: int
    status: MatrixStatus
    detail: str = ""  # e.g. "v1" trained on an earlier version, or the date it lapsed


class MatrixColumn(BaseModel):
    course_id: int
    code: str
    title: str
    document_number: str | None
    curricula: list[str]


class MatrixRow(BaseModel):
    user_id: int
    login: str
    full_name: str
    department: str
    position: str
    roles: list[str]
    cells: list[MatrixCell]


class Matrix(BaseModel):
    columns: list[MatrixColumn]
    rows: list[MatrixRow]
