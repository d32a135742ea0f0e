"""Users, roles and grants. Users are deactivated, never deleted (TJ-10.1.2.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime


class PermissionRow(Base):
    """The permission catalogue mirrored into the database so grants are foreign-key checked."""

    __tablename__ = "permissions"
    __table_args__ = (CheckConstraint("kind IN ('admin', 'business', 'read')", name="kind"),)

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    area: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)


class User(Audited, Base):
    __tablename__ = "users"
    __audit_type__ = "user"
    __audit_label__ = N_("User accounts")
    __audit_redact__ = frozenset({"password_hash"})
    __audit_ignore__ = frozenset({"failed_logins", "last_login_at"})
    __table_args__ = (
        CheckConstraint("login = lower(login)", name="login_lower"),
        CheckConstraint("length(login) >= 2", name="login_length"),
        CheckConstraint("failed_logins >= 0", name="failed_logins"),
        CheckConstraint("active OR deactivated_at IS NOT NULL", name="deactivation_dated"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    full_name: Mapped[str] = mapped_column(String(128), nullable=False)
    employee_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    department: Mapped[str] = mapped_column(String(128), nullable=False)
    position: Mapped[str] = mapped_column(String(128), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    grants: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


class Role(Audited, Base):
    __tablename__ = "roles"
    __audit_type__ = "role"
    __audit_label__ = N_("Roles")
    __table_args__ = (CheckConstraint("kind IN ('admin', 'business')", name="kind"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name_zh: Mapped[str] = mapped_column(String(128), nullable=False)
    name_en: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    description: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    permissions: Mapped[list[RolePermission]] = relationship(
        back_populates="role", cascade="all, delete-orphan", lazy="selectin"
    )

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

    @property
    def permission_codes(self) -> set[str]:
        return {grant.permission_code for grant in self.permissions}


class RolePermission(Audited, Base):
    """A permission granted to a role; revoking deletes the grant and the delete is audited."""

    __tablename__ = "role_permissions"
    __audit_type__ = "role_permission"
    __audit_label__ = N_("Permissions granted to roles (the permission matrix)")
    __audit_deletable__ = True

    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"), primary_key=True)
    permission_code: Mapped[str] = mapped_column(ForeignKey("permissions.code"), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    granted_by: Mapped[str] = mapped_column(String(64), nullable=False)

    role: Mapped[Role] = relationship(back_populates="permissions")


class UserRole(Audited, Base):
    """A role held by a user, since ``granted_at`` (for the access review)."""

    __tablename__ = "user_roles"
    __audit_type__ = "user_role"
    __audit_label__ = N_("Roles held by users")
    __audit_deletable__ = True

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    granted_by: Mapped[str] = mapped_column(String(64), nullable=False)

    user: Mapped[User] = relationship(back_populates="grants")
    role: Mapped[Role] = relationship(lazy="joined")


class PasswordHistory(Base):
    """Earlier password hashes, so the last N cannot be reused."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class AuthSession(Base):
    """A log-in session (web cookie or API bearer token); the token itself is never stored, its hash is."""

    __tablename__ = "auth_sessions"
    __table_args__ = (
        CheckConstraint("kind IN ('web', 'api')", name="kind"),
        UniqueConstraint("token_hash"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The first e-signature of a continuous session needs log-in ID and password, later ones the
    # password only (21 CFR 11.200(a)(1)).
    first_signature_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Setting(Audited, Base):
    """A site setting (security policy, site identity). Changes are audited."""

    __tablename__ = "settings"
    __audit_type__ = "setting"
    __audit_label__ = N_("Security and system settings")

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
