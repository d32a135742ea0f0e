"""Schemas of distribution, acknowledgement and printed copies (TJ-9.2) — the API's and the forms' edge."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE

CopyKind = Literal["controlled", "uncontrolled"]
DestructionMethod = Literal["shredding", "incineration", "pulping", "other"]
TaskState = Literal["open", "overdue", "acknowledged", "superseded", "obsolete"]
CopyStatus = Literal["out", "to_recall", "returned", "destroyed", "uncontrolled"]


def _clean_list(values: list[str], *, lower: bool = False) -> list[str]:
    seen: list[str] = []
    for value in values:
        for part in str(value).replace("，", ",").replace("\n", ",").split(","):
            text = part.strip()
            text = text.lower() if lower else text
            if text and text not in seen:
                seen.append(text)
    return seen


class DistributionCreate(BaseModel):
    """Distribute a version to roles (codes), departments and named users (log-in IDs)."""

    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(default_factory=list, max_length=50)
    departments: list[str] = Field(default_factory=list, max_length=50)
    users: list[str] = Field(default_factory=list, max_length=500)
    due_on: date | None = None  # to be read by the end of this day (Beijing time)
    note: str = Field(default="", max_length=500)

    @field_validator("roles", "users", mode="after")
    @classmethod
    def _codes(cls, values: list[str]) -> list[str]:
        return _clean_list(values, lower=True)

    @field_validator("departments", mode="after")
    @classmethod
    def _departments(cls, values: list[str]) -> list[str]:
        return _clean_list(values)

    @field_validator("note", mode="after")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _someone(self) -> DistributionCreate:
        if not (self.roles or self.departments or self.users):
            raise PydanticCustomError(RULE, N_("Name at least one role, department or user to distribute to"))
        return self


class DistributionPublic(BaseModel):
    id: int
    version_id: int
    number: str
    version: int
    targets: str
    recipients: int
    due_at: datetime | None
    note: str
    distributed_at: datetime
    distributed_by: str


class ReadTaskPublic(BaseModel):
    id: int
    distribution_id: int
    version_id: int
    number: str
    title: str
    version: int
    version_state: str
    user_id: int
    login: str
    full_name: str
    resolved_via: str
    due_at: datetime | None
    created_at: datetime
    acknowledged_at: datetime | None
    state: TaskState
    signed_by: str | None = None  # the signature's printed name, when acknowledged
    signature_status: str | None = None  # valid | changed | invalid


class LeftOut(BaseModel):
    """Someone the addressees named who got no task: ``already_reading`` (has this version to read) or
    ``may_not_read`` (holds no permission to read controlled documents, e.g. the administrator)."""

    login: str
    reason: Literal["already_reading", "may_not_read"]


class DistributionResult(BaseModel):
    """What a distribution did: the record, the tasks it created and whom it left out and why."""

    distribution: DistributionPublic
    tasks: list[ReadTaskPublic]
    skipped: list[LeftOut]


class VersionDistributionPublic(BaseModel):
    """Who has and who has not acknowledged a version (the distribution status of TJ-9.2)."""

    version_id: int
    number: str
    title: str
    version: int
    version_state: str
    distributions: list[DistributionPublic]
    tasks: list[ReadTaskPublic]
    counts: dict[str, int]


class AcknowledgementCreate(BaseModel):
    """ "Read and understood", signed with the password re-entered (log-in ID for a session's first)."""

    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=256)
    login: str | None = Field(default=None, max_length=64)


class CopyCreate(BaseModel):
    """Print a copy: controlled (numbered, recalled) or an uncontrolled reference copy (recorded only)."""

    model_config = ConfigDict(extra="forbid")

    kind: CopyKind
    printer: str = Field(min_length=1, max_length=128)
    recipient: str = Field(min_length=1, max_length=128)
    location: str = Field(default="", max_length=200)
    purpose: str = Field(min_length=2, max_length=500)

    @field_validator("printer", "recipient", "location", "purpose", mode="after")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _filled(self) -> CopyCreate:
        if not self.printer or not self.recipient or len(self.purpose) < 2:
            raise PydanticCustomError(RULE, N_("Printer, recipient and purpose are required"))
        return self


class CopyReturn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=500)


class CopyDestroy(BaseModel):
    """Destruction of a returned controlled copy, witnessed by another user (log-in ID)."""

    model_config = ConfigDict(extra="forbid")

    method: DestructionMethod
    witness: str = Field(min_length=2, max_length=64)

    @field_validator("witness", mode="after")
    @classmethod
    def _login(cls, value: str) -> str:
        return value.strip().lower()


class CopyPublic(BaseModel):
    id: int
    version_id: int
    number: str
    title: str
    version: int
    version_state: str
    kind: CopyKind
    copy_no: int | None
    printer: str
    recipient: str
    location: str
    purpose: str
    pages: int
    printed_at: datetime
    printed_by: str
    printed_by_name: str
    returned_at: datetime | None
    returned_by: str | None
    return_note: str
    destroyed_at: datetime | None
    destroyed_by: str | None
    destruction_witness: str | None
    destruction_method: str | None
    status: CopyStatus
