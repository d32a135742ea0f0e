"""Input and output of training needs, tasks, records, qualification gates and access requests."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Password, Reason, Strict


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


DocumentNumber = Annotated[
    str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$", max_length=32)
]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
PermissionCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z_]+(\.[a-z_]+)+$")]
Justification = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=2000)]
Evidence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
RoleCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{1,63}$")]

SubjectKind = Literal["role", "position", "department"]
Method = Literal["self_study", "classroom", "on_the_job", "assessment", "external"]


class NeedCreate(Strict):
    """A training need (SH-6.3.4): a role, position or department × a document number or a course."""

    subject_kind: SubjectKind
    subject: Subject
    document_number: DocumentNumber | None = None
    course_code: Annotated[str, BeforeValidator(_upper), StringConstraints(max_length=32)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> NeedCreate:
        if (self.document_number is None) == (self.course_code is None or self.course_code == ""):
            raise PydanticCustomError(RULE, N_("Name either a document number or a course, not both"))
        if self.course_code == "":
            self.course_code = None
        return self


class RequirementCreate(Strict):
    """A qualification requirement (TJ-10.1.2.2.d): ``permission`` needs training on ``document_number``."""

    permission: PermissionCode
    document_number: DocumentNumber


class VoidRequest(Strict):
    reason: Reason


class RecordCreate(Strict):
    """A training record entered by the training coordinator (classroom, on the job, external)."""

    login: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]
    document_number: DocumentNumber | None = None
    version: Annotated[int, Field(ge=1)] | None = None
    method: Method
    passed: bool = True
    score: Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)] | None = None
    trainer_login: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    evidence: Evidence
    valid_until: date | None = None

    @model_validator(mode="after")
    def _document(self) -> RecordCreate:
        if self.document_number is None:
            raise PydanticCustomError(RULE, N_("A training record names a document version or a course"))
        if self.trainer_login == "":
            self.trainer_login = None
        return self


class SelfStudy(Strict):
    """“Read and understood / self-study completed”, signed with the password (TJ-10.2)."""

    password: Password
    login: Annotated[str | None, Field(default=None, max_length=64)] = None


class AccessRequestCreate(Strict):
    login: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]
    role_code: RoleCode
    justification: Justification


class AccessDecision(Strict):
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class AccessRejection(Strict):
    note: Reason


class NeedPublic(BaseModel):
    id: int
    subject_kind: str
    subject: str
    document_number: str | None
    course_id: int | None
    course_code: str | None
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class RequirementPublic(BaseModel):
    id: int
    permission: str
    document_number: str
    effective_version: int | None
    created_at: datetime
    created_by: str
    voided_at: datetime | None


class RecordPublic(BaseModel):
    id: int
    login: str
    document_number: str | None
    version: int | None
    course_id: int | None
    method: str
    passed: bool
    score: Decimal | None
    trainer_login: str | None
    evidence: str
    valid_until: date | None
    completed_at: datetime
    recorded_by: str


class TaskPublic(BaseModel):
    id: int
    login: str
    full_name: str
    department: str
    document_number: str | None
    version: int | None
    course_id: int | None
    source: str
    due_at: datetime
    created_at: datetime
    open: bool
    overdue: bool
    closed_by_record_id: int | None


class QualificationPublic(BaseModel):
    document_number: str
    version: int | None
    status: str
    qualified: bool
    grace_until: datetime | None
    valid_until: date | None


class AccessRequestPublic(BaseModel):
    id: int
    login: str
    full_name: str
    role_code: str
    justification: str
    status: str
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str
    missing_training: list[str]


# --- retraining ordered by a deviation or CAPA (issue 6 item 5) -------------------------------------


class RetrainingCreate(Strict):
    """Order retraining of these people on a document's current effective version."""

    logins: Annotated[list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]],
                      Field(min_length=1, max_length=200)]  # fmt: skip
    document_number: DocumentNumber
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)]
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]


class RetrainingPublic(BaseModel):
    id: int
    login: str
    document_number: str
    version: int
    document_version_id: int
    reason: str
    source: str
    due_at: datetime
    created_at: datetime
    created_by: str
    passed: bool  # a passing record completed after the order exists
    voided_at: datetime | None
