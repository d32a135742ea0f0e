"""Identity services: authentication, sessions, users, roles, the permission matrix, the access review.

Every write goes through the unit of work, so user, role, grant and setting changes land in the audit
trail with their reason; log-ins, failures, lock-outs and log-outs are audit events (TJ-10.1.1.2.b).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload, object_session

from pharmatrace.kernel import clock
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import (
    N_,
    AccountLocked,
    AuthenticationFailed,
    Conflict,
    NotFound,
    NotPermitted,
    QualificationRequired,
    SegregationOfDuties,
    ValidationFailed,
)
from pharmatrace.kernel.identity import permissions as catalogue
from pharmatrace.kernel.identity.models import (
    AuthSession,
    PasswordHistory,
    PermissionRow,
    Role,
    RolePermission,
    Setting,
    User,
    UserRole,
)
from pharmatrace.kernel.identity.passwords import PasswordPolicy, dummy_hash, hash_password, verify_password
from pharmatrace.kernel.identity.schemas import (
    AccessReviewRow,
    PolicyPublic,
    PolicyUpdate,
    RoleCreate,
    RoleGrantPublic,
    RolePublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from pharmatrace.kernel.uow import UnitOfWork

POLICY_KEY = "security.password_policy"
WRONG_CREDENTIALS = N_("Wrong log-in ID or password")
LOCKED = N_(
    "This account is locked after repeated failed log-ins. Ask the system administrator to unlock it."
)


# --- principals and permission checks -------------------------------------------------------------

# TJ-10.1.2.2.d: training gates permissions. An area registers ``check(session, user_id)`` returning
# permission → the training missing for it ("SOP-WH-001 v2"); the kernel imports no area (training registers
# itself at import, pharmatrace.training.gates).
QUALIFICATION_CHECKS: list[Callable[[Session, int], dict[str, str]]] = []


@dataclass(frozen=True)
class Principal:
    """The authenticated user of one request, with effective permissions and the kinds of roles held."""

    user_id: int
    login: str
    full_name: str
    permissions: frozenset[str]
    role_kinds: frozenset[str]
    role_codes: frozenset[str]
    must_change_password: bool
    session_id: int | None = None
    locale: str = "zh_CN"
    extra: dict[str, str] = field(default_factory=dict)
    unqualified: dict[str, str] = field(default_factory=dict)  # permission → missing training (TJ-10.1.2.2.d)

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.user_id, login=self.login, full_name=self.full_name)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.role_kinds

    def can(self, code: str) -> bool:
        try:
            self.require(code)
        except NotPermitted:
            return False
        return True

    def require(self, code: str) -> None:
        """Refuse unless the user holds ``code`` and segregation of duties allows it (TJ-10.1.2.2.b/c).

        Checked on every request, so an account that somehow holds both kinds of role (a grant made
        behind the application's back) is refused both kinds of action.
        """
        kind = catalogue.kind_of(code)
        if kind == "business" and "admin" in self.role_kinds:
            raise SegregationOfDuties(N_("System administrators cannot create, change or sign business data"))
        if kind == "admin" and "business" in self.role_kinds:
            raise SegregationOfDuties(N_("Business users cannot administer the system"))
        if code not in self.permissions:
            raise NotPermitted(N_("You do not have the permission “{permission}”"), permission=code)
        if code in self.unqualified:
            raise QualificationRequired(
                N_("“{permission}” needs training on {training}, which you have not completed"),
                permission=code,
                training=self.unqualified[code],
            )


def principal_of(
    user: User, *, session_id: int | None = None, policy: PasswordPolicy | None = None
) -> Principal:
    session = object_session(user)
    if (
        session is not None
    ):  # one query of plain rows, not the user's grants, roles and permissions as objects
        rows = session.execute(
            select(Role.code, Role.kind, RolePermission.permission_code)
            .join(UserRole, UserRole.role_id == Role.id)
            .outerjoin(RolePermission, RolePermission.role_id == Role.id)
            .where(UserRole.user_id == user.id, Role.active.is_(True))
        ).all()
        roles = {(code, kind) for code, kind, _ in rows}
        held = frozenset(permission for _, _, permission in rows if permission is not None)
    else:
        active = [grant.role for grant in user.grants if grant.role.active]
        roles = {(role.code, role.kind) for role in active}
        held = frozenset(code for role in active for code in role.permission_codes)
    expired = False
    if policy is not None:
        expired = clock.now() - user.password_changed_at > timedelta(days=policy.expiry_days)
    kinds = frozenset(kind for _, kind in roles)
    unqualified: dict[str, str] = {}
    if session is not None and "business" in kinds:
        for check in QUALIFICATION_CHECKS:
            for code, missing in check(session, user.id).items():
                if code in held:
                    unqualified[code] = f"{unqualified[code]}, {missing}" if code in unqualified else missing
    return Principal(
        user_id=user.id,
        login=user.login,
        full_name=user.full_name,
        permissions=held,
        role_kinds=kinds,
        role_codes=frozenset(code for code, _ in roles),
        must_change_password=user.must_change_password or expired,
        session_id=session_id,
        unqualified=unqualified,
    )


# --- settings ---------------------------------------------------------------------------------------


def password_policy(session: Session) -> PasswordPolicy:
    row = session.get(Setting, POLICY_KEY)
    return PasswordPolicy(**row.value) if row is not None else PasswordPolicy()


def policy_public(policy: PasswordPolicy) -> PolicyPublic:
    return PolicyPublic.model_validate(policy, from_attributes=True)


def store_setting(uow: UnitOfWork, key: str, values: dict[str, Any], reason: str) -> None:
    """Create or replace a site setting; the unit of work audits old → new with the reason."""
    uow.reason = reason
    row = uow.session.get(Setting, key)
    if row is None:
        uow.session.add(Setting(key=key, value=values, updated_at=clock.now()))
    else:
        row.value = values
        row.updated_at = clock.now()


def set_password_policy(uow: UnitOfWork, update: PolicyUpdate) -> PasswordPolicy:
    values = update.model_dump(exclude={"reason"})
    store_setting(uow, POLICY_KEY, values, update.reason)
    return PasswordPolicy(**values)


# --- authentication and sessions ------------------------------------------------------------------


def _anonymous(login: str) -> Actor:
    return Actor(user_id=None, login=login[:64] or "?", full_name="(unauthenticated)")


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, login=user.login, full_name=user.full_name)


def find_user(session: Session, login: str) -> User | None:
    return session.scalar(select(User).where(User.login == login.strip().lower()))


def authenticate(uow: UnitOfWork, login: str, password: str) -> User:
    """Check a log-in; record success or failure, lock after the policy's threshold (SH-7.1.2).

    Failures are committed before the error is raised, so they are recorded even though the caller
    sees an error.
    """
    session = uow.session
    policy = password_policy(session)
    user = find_user(session, login)
    if user is None:
        verify_password(dummy_hash(), password)
        uow.record(
            "login.failure",
            "user",
            login.strip().lower()[:64],
            actor=_anonymous(login),
            reason="unknown log-in ID",
        )
        uow.commit()
        raise AuthenticationFailed(WRONG_CREDENTIALS)
    actor = _actor(user)
    password_ok = verify_password(user.password_hash, password)  # always, so timing tells nothing
    if not user.active:
        uow.record("login.failure", "user", user.id, actor=actor, reason="account deactivated")
        uow.commit()
        raise AuthenticationFailed(WRONG_CREDENTIALS)
    if user.locked:
        uow.record("login.failure", "user", user.id, actor=actor, reason="account locked")
        uow.commit()
        raise AccountLocked(LOCKED)
    if not password_ok:
        user.failed_logins += 1
        uow.record("login.failure", "user", user.id, actor=actor, reason="wrong password")
        locked_now = user.failed_logins >= policy.lockout_threshold
        if locked_now:
            user.locked_at = clock.now()
            uow.reason = f"locked after {user.failed_logins} consecutive failed log-ins"
            uow.record("login.locked", "user", user.id, actor=actor)
        uow.commit()
        raise AccountLocked(LOCKED) if locked_now else AuthenticationFailed(WRONG_CREDENTIALS)
    user.failed_logins = 0
    user.last_login_at = clock.now()
    uow.record("login.success", "user", user.id, actor=actor)
    from pharmatrace.kernel.esign import service as esign

    if esign.active_key(session, user.id) is None:  # accounts from before e-signatures get theirs now
        esign.issue_key(uow, user, password)
    return user


def token_digest(token: str) -> str:
    return hashlib.new("sm3", token.encode()).hexdigest()


def start_session(uow: UnitOfWork, user: User, *, kind: str, client_address: str | None = None) -> str:
    token = secrets.token_urlsafe(32)
    moment = clock.now()
    uow.session.add(
        AuthSession(
            token_hash=token_digest(token),
            user_id=user.id,
            kind=kind,
            created_at=moment,
            last_seen_at=moment,
            client_address=client_address,
        )
    )
    return token


# A session's last use is written at most this often: not a database write on every request. The idle timeout
# (minutes) may thus end a session up to this much early.
SESSION_TOUCH = timedelta(seconds=30)


def resolve_session(uow: UnitOfWork, token: str) -> Principal | None:
    """The principal behind a session token, or ``None`` when it is unknown, ended or idle too long."""
    session = uow.session
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == token_digest(token)))
    if row is None or row.ended_at is not None:
        return None
    user = session.get(
        User, row.user_id, options=[lazyload(User.grants)]
    )  # principal_of reads the roles itself
    policy = password_policy(session)
    moment = clock.now()
    if user is None or not user.active or user.locked:
        row.ended_at, row.end_reason = moment, "account"
        uow.commit()
        return None
    if moment - row.last_seen_at > timedelta(minutes=policy.idle_timeout_minutes):
        row.ended_at, row.end_reason = moment, "idle"
        uow.record(
            "session.expired",
            "user",
            user.id,
            actor=_actor(user),
            reason=f"idle for more than {policy.idle_timeout_minutes} minutes",
        )
        uow.commit()
        return None
    if moment - row.last_seen_at >= SESSION_TOUCH:
        row.last_seen_at = moment
        uow.commit()
    return principal_of(user, session_id=row.id, policy=policy)


def end_session(uow: UnitOfWork, token: str) -> None:
    row = uow.session.scalar(select(AuthSession).where(AuthSession.token_hash == token_digest(token)))
    if row is None or row.ended_at is not None:
        return
    row.ended_at, row.end_reason = clock.now(), "logout"
    uow.record("logout", "user", row.user_id)


def _end_all_sessions(session: Session, user_id: int, reason: str) -> None:
    for row in session.scalars(
        select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
    ):
        row.ended_at, row.end_reason = clock.now(), reason


# --- passwords ------------------------------------------------------------------------------------


def _check_new_password(session: Session, user: User, new_password: str) -> None:
    policy = password_policy(session)
    policy.check(new_password, login=user.login)
    earlier = session.scalars(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user.id)
        .order_by(PasswordHistory.id.desc())
        .limit(max(policy.history - 1, 0))
    ).all()
    if any(verify_password(h, new_password) for h in (user.password_hash, *earlier)):
        raise ValidationFailed(
            N_("The new password must differ from your last {history} passwords"), history=policy.history
        )


def _set_password(session: Session, user: User, new_password: str, *, must_change: bool) -> None:
    moment = clock.now()
    session.add(
        PasswordHistory(user_id=user.id, password_hash=user.password_hash, set_at=user.password_changed_at)
    )
    user.password_hash = hash_password(new_password)
    user.password_changed_at = moment
    user.must_change_password = must_change


def change_password(uow: UnitOfWork, user_id: int, current: str, new: str) -> None:
    user = get_user(uow.session, user_id)
    if not verify_password(user.password_hash, current):
        raise AuthenticationFailed(N_("The current password is wrong"))
    _check_new_password(uow.session, user, new)
    uow.reason = uow.reason or "password changed by its owner"
    from pharmatrace.kernel.esign import service as esign

    esign.rewrap_key(uow, user, current, new)  # the same key pair, now under the new password
    _set_password(uow.session, user, new, must_change=False)
    uow.record("password.change", "user", user.id)


def reset_password(uow: UnitOfWork, user_id: int, new: str) -> None:
    """An administrator sets a one-time password; the user must change it at the next log-in."""
    user = get_user(uow.session, user_id)
    _check_new_password(uow.session, user, new)
    from pharmatrace.kernel.esign import service as esign

    esign.issue_key(uow, user, new)  # nobody else knows the old password: a new pair, the old one retired
    _set_password(uow.session, user, new, must_change=True)
    _end_all_sessions(uow.session, user.id, "password reset")
    uow.record("password.reset", "user", user.id)


# --- users ----------------------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No user with ID {id}"), id=user_id)
    return user


def list_users(session: Session, *, text: str = "", active: bool | None = None) -> list[User]:
    query = select(User).order_by(User.login)
    if text:
        like = f"%{text.strip().lower()}%"
        query = query.where(
            User.login.like(like)
            | User.full_name.like(f"%{text.strip()}%")
            | User.employee_no.like(like)
            | User.department.like(f"%{text.strip()}%")
        )
    if active is not None:
        query = query.where(User.active.is_(active))
    return list(session.scalars(query))


def create_user(uow: UnitOfWork, data: UserCreate) -> User:
    session = uow.session
    if find_user(session, data.login) is not None:
        raise Conflict(N_("The log-in ID “{login}” is already taken"), login=data.login)
    if session.scalar(select(User.id).where(User.employee_no == data.employee_no)) is not None:
        raise Conflict(
            N_("The employee number “{employee_no}” is already registered"), employee_no=data.employee_no
        )
    password_policy(session).check(data.password, login=data.login)
    roles = _roles_by_code(session, data.roles)
    _check_role_kinds(roles)
    moment = clock.now()
    user = User(
        login=data.login,
        full_name=data.full_name,
        employee_no=data.employee_no,
        department=data.department,
        position=data.position,
        password_hash=hash_password(data.password),
        password_changed_at=moment,
        must_change_password=True,
        failed_logins=0,
        active=True,
        created_at=moment,
    )
    session.add(user)
    session.flush()
    from pharmatrace.kernel.esign import service as esign

    esign.issue_key(uow, user, data.password)
    for role in roles:
        user.grants.append(
            UserRole(
                user_id=user.id, role_id=role.id, role=role, granted_at=moment, granted_by=uow.actor.login
            )
        )
    session.flush()
    return user


def update_user(uow: UnitOfWork, user_id: int, data: UserUpdate) -> User:
    user = get_user(uow.session, user_id)
    uow.reason = data.reason
    changes = data.model_dump(exclude={"reason"}, exclude_none=True)
    if "employee_no" in changes and changes["employee_no"] != user.employee_no:
        clash = uow.session.scalar(select(User.id).where(User.employee_no == changes["employee_no"]))
        if clash is not None:
            raise Conflict(
                N_("The employee number “{employee_no}” is already registered"),
                employee_no=changes["employee_no"],
            )
    for key, value in changes.items():
        setattr(user, key, value)
    uow.session.flush()
    return user


def deactivate_user(uow: UnitOfWork, user_id: int) -> User:
    user = get_user(uow.session, user_id)
    if user.id == uow.actor.user_id:
        raise ValidationFailed(N_("You cannot deactivate your own account"))
    if not user.active:
        raise Conflict(N_("The account is already deactivated"))
    user.active = False
    user.deactivated_at = clock.now()
    _end_all_sessions(uow.session, user.id, "deactivated")
    uow.session.flush()
    return user


def unlock_user(uow: UnitOfWork, user_id: int) -> User:
    user = get_user(uow.session, user_id)
    if not user.locked:
        raise Conflict(N_("The account is not locked"))
    user.locked_at = None
    user.failed_logins = 0
    uow.session.flush()
    return user


def _roles_by_code(session: Session, codes: Iterable[str]) -> list[Role]:
    wanted = sorted(set(codes))
    roles = list(session.scalars(select(Role).where(Role.code.in_(wanted)))) if wanted else []
    missing = set(wanted) - {r.code for r in roles}
    if missing:
        raise ValidationFailed(N_("Unknown role “{role}”"), role=sorted(missing)[0])
    inactive = [r.code for r in roles if not r.active]
    if inactive:
        raise ValidationFailed(N_("The role “{role}” is inactive"), role=inactive[0])
    return roles


def _check_role_kinds(roles: list[Role]) -> None:
    if len({role.kind for role in roles}) > 1:
        raise SegregationOfDuties(N_("A user cannot hold administration and business roles together"))


def set_user_roles(uow: UnitOfWork, user_id: int, codes: list[str]) -> User:
    session = uow.session
    user = get_user(session, user_id)
    roles = _roles_by_code(session, codes)
    _check_role_kinds(roles)
    if user.id == uow.actor.user_id and not any(r.kind == "admin" for r in roles):
        raise ValidationFailed(N_("You cannot remove your own administration role"))
    wanted = {r.id: r for r in roles}
    for grant in list(user.grants):
        if grant.role_id not in wanted:
            user.grants.remove(grant)
    held = {grant.role_id for grant in user.grants}
    moment = clock.now()
    for role_id, role in wanted.items():
        if role_id not in held:
            user.grants.append(
                UserRole(
                    user_id=user.id, role_id=role_id, role=role, granted_at=moment, granted_by=uow.actor.login
                )
            )
    session.flush()
    return user


def user_public(user: User, locale: str) -> UserPublic:
    return UserPublic(
        id=user.id,
        login=user.login,
        full_name=user.full_name,
        employee_no=user.employee_no,
        department=user.department,
        position=user.position,
        active=user.active,
        locked=user.locked,
        must_change_password=user.must_change_password,
        last_login_at=user.last_login_at,
        password_changed_at=user.password_changed_at,
        created_at=user.created_at,
        roles=[
            RoleGrantPublic(code=g.role.code, name=g.role.name(locale), kind=g.role.kind, since=g.granted_at)
            for g in sorted(user.grants, key=lambda g: g.role.code)
        ],
    )


# --- roles and the permission matrix --------------------------------------------------------------


def sync_permission_catalogue(session: Session) -> list[str]:
    """Mirror the code-declared catalogue into ``permissions`` (idempotent; run by ``db upgrade``).

    Returns the codes that are new to this database: a release that adds a permission hands it to the
    standard roles that ship with it (see :func:`pharmatrace.bootstrap.install_standard_roles`).
    """
    existing = {row.code: row for row in session.scalars(select(PermissionRow))}
    added = []
    for perm in catalogue.CATALOGUE:
        row = existing.get(perm.code)
        if row is None:
            session.add(PermissionRow(code=perm.code, area=perm.area, kind=perm.kind))
            added.append(perm.code)
        elif (row.area, row.kind) != (perm.area, perm.kind):
            row.area, row.kind = perm.area, perm.kind
    return added


def list_roles(session: Session) -> list[Role]:
    return list(session.scalars(select(Role).order_by(Role.kind, Role.code)))


def get_role(session: Session, role_id: int) -> Role:
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound(N_("No role with ID {id}"), id=role_id)
    return role


def _check_permissions_for(role_kind: str, codes: Iterable[str]) -> list[str]:
    wanted = sorted(set(codes))
    for code in wanted:
        perm = catalogue.BY_CODE.get(code)
        if perm is None:
            raise ValidationFailed(N_("Unknown permission “{permission}”"), permission=code)
        if perm.kind != "read" and perm.kind != role_kind:
            if role_kind == "admin":
                raise SegregationOfDuties(
                    N_("An administration role cannot hold the business permission “{permission}”"),
                    permission=code,
                )
            raise SegregationOfDuties(
                N_("A business role cannot hold the administration permission “{permission}”"),
                permission=code,
            )
    return wanted


def create_role(uow: UnitOfWork, data: RoleCreate) -> Role:
    session = uow.session
    if session.scalar(select(Role.id).where(Role.code == data.code)) is not None:
        raise Conflict(N_("The role code “{code}” is already taken"), code=data.code)
    codes = _check_permissions_for(data.kind, data.permissions)
    moment = clock.now()
    role = Role(
        code=data.code,
        name_zh=data.name_zh,
        name_en=data.name_en,
        kind=data.kind,
        description=data.description,
        active=True,
        created_at=moment,
    )
    session.add(role)
    session.flush()
    for code in codes:
        role.permissions.append(
            RolePermission(
                role_id=role.id, permission_code=code, granted_at=moment, granted_by=uow.actor.login
            )
        )
    session.flush()
    return role


def set_role_permissions(uow: UnitOfWork, role_id: int, codes: Iterable[str]) -> Role:
    role = get_role(uow.session, role_id)
    wanted = set(_check_permissions_for(role.kind, codes))
    for grant in list(role.permissions):
        if grant.permission_code not in wanted:
            role.permissions.remove(grant)
    held = role.permission_codes
    moment = clock.now()
    for code in sorted(wanted - held):
        role.permissions.append(
            RolePermission(
                role_id=role.id, permission_code=code, granted_at=moment, granted_by=uow.actor.login
            )
        )
    uow.session.flush()
    return role


def role_public(role: Role) -> RolePublic:
    return RolePublic(
        id=role.id,
        code=role.code,
        name_zh=role.name_zh,
        name_en=role.name_en,
        kind=role.kind,
        description=role.description,
        active=role.active,
        permissions=sorted(role.permission_codes),
    )


# --- access review (SH-7.1.2: periodic review of who has what) ------------------------------------

STALE_DAYS = 90


def access_review(session: Session, locale: str) -> list[AccessReviewRow]:
    policy = password_policy(session)
    moment = clock.now()
    rows: list[AccessReviewRow] = []
    for user in list_users(session):
        principal = principal_of(user, policy=policy)
        findings: list[str] = []
        if user.active and user.last_login_at is None:
            findings.append(N_("never logged in"))
        elif user.active and user.last_login_at and moment - user.last_login_at > timedelta(days=STALE_DAYS):
            findings.append(N_("no log-in for more than 90 days"))
        if user.active and moment - user.password_changed_at > timedelta(days=policy.expiry_days):
            findings.append(N_("password expired"))
        if user.locked:
            findings.append(N_("locked"))
        if user.active and not user.grants:
            findings.append(N_("no role"))
        if len(principal.role_kinds) > 1:
            findings.append(N_("administration and business roles together"))
        rows.append(
            AccessReviewRow(
                login=user.login,
                full_name=user.full_name,
                employee_no=user.employee_no,
                department=user.department,
                active=user.active,
                locked=user.locked,
                roles=user_public(user, locale).roles,
                permissions=sorted(principal.permissions),
                last_login_at=user.last_login_at,
                password_changed_at=user.password_changed_at,
                findings=findings,
            )
        )
    return rows
