"""Validated input and public output shapes (``XCreate / XUpdate / XPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


# Normalised before the pattern is checked: "ZhangWei " logs in as "zhangwei".
Login = Annotated[str, BeforeValidator(_lower), StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
UpperCode = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{1,63}$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]
Password = Annotated[str, Field(min_length=1, max_length=256)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TokenRequest(Strict):
    login: Login
    password: Password


class TokenPublic(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    must_change_password: bool


class PasswordChange(Strict):
    current_password: Password
    new_password: Password


class UserCreate(Strict):
    login: Login
    full_name: Name
    employee_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    department: Name
    position: Name
    password: Password
    roles: list[Code] = Field(default_factory=list)

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: list[str]) -> list[str]:
        return sorted(set(roles))


class UserUpdate(Strict):
    full_name: Name | None = None
    employee_no: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] | None
    ) = None
    department: Name | None = None
    position: Name | None = None
    reason: Reason


class UserRolesUpdate(Strict):
    roles: list[Code]
    reason: Reason


class PasswordReset(Strict):
    new_password: Password
    reason: Reason


class ReasonOnly(Strict):
    reason: Reason


class RoleGrantPublic(BaseModel):
    code: str
    name: str
    kind: str
    since: datetime


class UserPublic(BaseModel):
    id: int
    login: str
    full_name: str
    employee_no: str
    department: str
    position: str
    active: bool
    locked: bool
    must_change_password: bool
    last_login_at: datetime | None
    password_changed_at: datetime
    created_at: datetime
    roles: list[RoleGrantPublic]


class RoleCreate(Strict):
    code: Code
    name_zh: Name
    name_en: Name
    kind: Literal["admin", "business"]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=512)] = ""
    permissions: list[str] = Field(default_factory=list)


class RolePermissionsUpdate(Strict):
    permissions: list[str]
    reason: Reason


class RolePublic(BaseModel):
    id: int
    code: str
    name_zh: str
    name_en: str
    kind: str
    description: str
    active: bool
    permissions: list[str]


class PermissionPublic(BaseModel):
    code: str
    area: str
    kind: str
    label: str


class PolicyPublic(Strict):
    min_length: int = Field(ge=8, le=128)
    min_classes: int = Field(ge=1, le=4)
    history: int = Field(ge=1, le=24)
    expiry_days: int = Field(ge=1, le=3650)
    lockout_threshold: int = Field(ge=1, le=20)
    idle_timeout_minutes: int = Field(ge=1, le=480)


class PolicyUpdate(PolicyPublic):
    reason: Reason


class AccessReviewRow(BaseModel):
    login: str
    full_name: str
    employee_no: str
    department: str
    active: bool
    locked: bool
    roles: list[RoleGrantPublic]
    permissions: list[str]
    last_login_at: datetime | None
    password_changed_at: datetime
    findings: list[str]
