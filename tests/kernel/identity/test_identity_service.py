"""Identity and access control (SH-7.1.2, TJ-10.1.2): log-in, lock-out, passwords, sessions, SoD."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from helpers import actor, audit_entries, behind_the_apps_back, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import (
    AccountLocked,
    AuthenticationFailed,
    NotPermitted,
    SegregationOfDuties,
    ValidationFailed,
)
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.models import AuthSession, User
from pharmatrace.kernel.identity.schemas import PolicyUpdate, UserCreate
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

LOGIN = Actor.system("login")


def _login(db: Database, login: str, password: str) -> User:
    with UnitOfWork(db, LOGIN) as uow:
        user = identity.authenticate(uow, login, password)
        uow.commit()
        return user


def _new_user(
    db: Database, login: str = "xuli", password: str = "Initial#2026", roles: list[str] | None = None
) -> User:
    with UnitOfWork(db, actor(db, "sysadmin")) as uow:
        user = identity.create_user(
            uow,
            UserCreate(
                login=login,
                full_name="徐丽",
                employee_no=f"E7{len(login):03d}",
                department="质量控制部",
                position="微生物检验员",
                password=password,
                roles=roles if roles is not None else ["qc_analyst"],
            ),
        )
        uow.commit()
        return user


@pytest.mark.clause("TJ-10.1.1.1", "TJ-10.1.1.2.c")
def test_log_in_success_and_failure_are_audit_events(db: Database) -> None:
    user = _login(db, "zhangwei", DEMO_PASSWORD)
    with pytest.raises(AuthenticationFailed):
        _login(db, "zhangwei", "wrong-password")
    with pytest.raises(AuthenticationFailed):
        _login(db, "nobody", "whatever")
    events = [(e.event, e.actor_login) for e in audit_entries(db) if e.event.startswith("login")]
    assert events[-3:] == [
        ("login.success", "zhangwei"),
        ("login.failure", "zhangwei"),
        ("login.failure", "nobody"),
    ]
    with db.sessions() as session:
        assert session.get(User, user.id).last_login_at is not None  # type: ignore[union-attr]


@pytest.mark.clause("SH-8.5.2", "TJ-10.1.2.2.e")
def test_five_failures_lock_the_account_until_an_admin_unlocks_it(db: Database) -> None:
    for _ in range(4):
        with pytest.raises(AuthenticationFailed) as refused:
            _login(db, "wangfang", "Wrong#Password1")
        assert not isinstance(refused.value, AccountLocked)
    with pytest.raises(AccountLocked):
        _login(db, "wangfang", "Wrong#Password1")
    with pytest.raises(AccountLocked):  # the right password no longer helps
        _login(db, "wangfang", DEMO_PASSWORD)
    assert [e.event for e in audit_entries(db, event="login.locked")] == ["login.locked"]
    with UnitOfWork(db, actor(db, "sysadmin"), reason="本人确认，电话核实") as uow:
        identity.unlock_user(uow, principal(db, "wangfang").user_id)
        uow.commit()
    assert _login(db, "wangfang", DEMO_PASSWORD).login == "wangfang"


@pytest.mark.clause("SH-8.5.2", "TJ-10.1.1.2.b")
def test_the_lockout_threshold_is_configurable_and_the_change_audited(db: Database) -> None:
    with UnitOfWork(db, actor(db, "sysadmin"), reason="x") as uow:
        identity.set_password_policy(
            uow,
            PolicyUpdate(
                min_length=10,
                min_classes=3,
                history=5,
                expiry_days=90,
                lockout_threshold=3,
                idle_timeout_minutes=10,
                reason="信息安全评审后收紧策略",
            ),
        )
        uow.commit()
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            _login(db, "sunli", "Wrong#Password1")
    with pytest.raises(AccountLocked):
        _login(db, "sunli", "Wrong#Password1")
    [entry] = audit_entries(db, object_type="setting", object_id=identity.POLICY_KEY)
    assert entry.reason == "信息安全评审后收紧策略"
    assert entry.changes["value"][1]["lockout_threshold"] == 3


@pytest.mark.clause("SH-8.5.2")
@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Ab#1234", "at least"),  # too short
        ("abcdefgh1", "mix"),  # two classes
        ("Xuli#2026abc", "log-in ID"),  # contains the login
    ],
)
def test_weak_passwords_are_refused(db: Database, password: str, problem: str) -> None:
    with pytest.raises(ValidationFailed, match=problem):
        _new_user(db, password=password)
    with db.sessions() as session:
        assert identity.find_user(session, "xuli") is None


@pytest.mark.clause("SH-8.5.2", "TJ-10.1.2.2.e")
def test_new_users_must_change_their_password_and_cannot_reuse_the_last_five(db: Database) -> None:
    user = _new_user(db)
    assert _login(db, "xuli", "Initial#2026").must_change_password
    assert principal(db, "xuli").must_change_password
    passwords = ["Initial#2026", "Second#2026", "Third#2026", "Fourth#2026", "Fifth#2026"]
    for current, new in itertools.pairwise(passwords):
        with UnitOfWork(db, actor(db, "xuli")) as uow:
            identity.change_password(uow, user.id, current, new)
            uow.commit()
    for reused in passwords:
        with pytest.raises(ValidationFailed, match="last 5"), UnitOfWork(db, actor(db, "xuli")) as uow:
            identity.change_password(uow, user.id, "Fifth#2026", reused)
    with UnitOfWork(db, actor(db, "xuli")) as uow:
        identity.change_password(uow, user.id, "Fifth#2026", "Sixth#2026")
        uow.commit()
    assert not principal(db, "xuli").must_change_password
    assert len(audit_entries(db, event="password.change", object_id=str(user.id))) == 5
    updates = [
        e for e in audit_entries(db, object_type="user", object_id=str(user.id)) if e.event == "update"
    ]
    assert all(e.changes["password_hash"] == ["******", "******"] for e in updates)


@pytest.mark.clause("SH-8.5.2")
def test_an_expired_password_must_be_changed(db: Database) -> None:
    with UnitOfWork(db, actor(db, "sysadmin"), reason="test: password aged") as uow:
        user = identity.find_user(uow.session, "lina")
        assert user is not None
        user.password_changed_at = clock.now() - timedelta(days=91)
        uow.commit()
    assert principal(db, "lina").must_change_password is False  # principal() ignores expiry without policy
    with db.sessions() as session:
        lina = identity.find_user(session, "lina")
        assert lina is not None
        assert identity.principal_of(lina, policy=identity.password_policy(session)).must_change_password


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.2.e")
def test_sessions_end_after_the_idle_timeout(db: Database) -> None:
    with UnitOfWork(db, LOGIN) as uow:
        user = identity.authenticate(uow, "chenjing", DEMO_PASSWORD)
        token = identity.start_session(uow, user, kind="web")
        uow.commit()
    with UnitOfWork(db, LOGIN) as uow:
        assert identity.resolve_session(uow, token) is not None
    with db.sessions.begin() as session:  # 16 minutes pass
        session.execute(update(AuthSession).values(last_seen_at=clock.now() - timedelta(minutes=16)))
    with UnitOfWork(db, LOGIN) as uow:
        assert identity.resolve_session(uow, token) is None
    with UnitOfWork(db, LOGIN) as uow:
        assert identity.resolve_session(uow, token) is None  # stays ended
    assert [e.event for e in audit_entries(db, event="session.expired")] == ["session.expired"]


@pytest.mark.clause("TJ-10.1.2.2.d")
def test_deactivated_users_cannot_log_in_and_are_kept(db: Database) -> None:
    uid = principal(db, "liuyang").user_id
    with UnitOfWork(db, actor(db, "sysadmin"), reason="离职") as uow:
        identity.deactivate_user(uow, uid)
        uow.commit()
    with pytest.raises(AuthenticationFailed):
        _login(db, "liuyang", DEMO_PASSWORD)
    with db.sessions() as session:
        kept = session.get(User, uid)
        assert kept is not None and not kept.active and kept.deactivated_at is not None
    with pytest.raises(ValidationFailed), UnitOfWork(db, actor(db, "sysadmin"), reason="x") as uow:
        identity.deactivate_user(uow, principal(db, "sysadmin").user_id)


@pytest.mark.clause("TJ-10.1.2.2.b", "TJ-10.1.2.2.c")
def test_admin_and_business_roles_cannot_be_given_to_one_user(db: Database) -> None:
    uid = principal(db, "zhouqiang").user_id
    with pytest.raises(SegregationOfDuties), UnitOfWork(db, actor(db, "sysadmin"), reason="x") as uow:
        identity.set_user_roles(uow, uid, ["warehouse_keeper", "system_admin"])
    with pytest.raises(SegregationOfDuties):
        _new_user(db, roles=["system_admin", "qc_analyst"])
    assert principal(db, "zhouqiang").role_codes == {"warehouse_keeper"}


@pytest.mark.clause("TJ-10.1.2.2.b", "TJ-10.1.2.2.c")
@pytest.mark.parametrize(
    ("role", "permission"),
    [
        ("system_admin", "wms.material.manage"),  # business permission into the admin role
        ("system_admin", "qms.release.decide"),
        ("qa_release", "admin.users.manage"),  # admin permission into a business role
        ("warehouse_keeper", "admin.roles.manage"),
    ],
)
def test_permissions_of_the_other_kind_are_refused_on_assignment(
    db: Database, role: str, permission: str
) -> None:
    with db.sessions() as session:
        target = next(r for r in identity.list_roles(session) if r.code == role)
        before = target.permission_codes
    with pytest.raises(SegregationOfDuties), UnitOfWork(db, actor(db, "sysadmin"), reason="x") as uow:
        identity.set_role_permissions(uow, target.id, before | {permission})
    with db.sessions() as session:
        assert identity.get_role(session, target.id).permission_codes == before


@pytest.mark.clause("TJ-10.1.2.2.c")
def test_the_admin_is_refused_every_business_action(db: Database) -> None:
    from pharmatrace.kernel.identity.permissions import CATALOGUE

    admin = principal(db, "sysadmin")
    for permission in CATALOGUE:
        if permission.kind == "business":
            with pytest.raises(SegregationOfDuties):
                admin.require(permission.code)
    admin.require("admin.users.manage")


@pytest.mark.clause("TJ-10.1.2.2.b", "TJ-10.1.2.2.c", "TJ-10.1.2.2.d")
def test_an_account_holding_both_kinds_behind_the_apps_back_is_refused_both(
    db: Database, backend: str
) -> None:
    """Even when someone drops the database guard and grants both kinds, every request is refused."""
    drop = (
        "DROP TRIGGER user_roles_sod_insert"
        if backend == "sqlite"
        else "DROP TRIGGER user_roles_sod ON user_roles"
    )
    with behind_the_apps_back(db) as conn:
        conn.execute(text(drop))
        uid = conn.scalar(text("SELECT id FROM users WHERE login = 'zhaomin'"))
        rid = conn.scalar(text("SELECT id FROM roles WHERE code = 'system_admin'"))
        conn.execute(
            text(
                "INSERT INTO user_roles (user_id, role_id, granted_at, granted_by) "
                "VALUES (:u, :r, CURRENT_TIMESTAMP, 'raw-sql')"
            ),
            {"u": uid, "r": rid},
        )
    both = principal(db, "zhaomin")
    with pytest.raises(SegregationOfDuties):
        both.require("qms.release.decide")
    with pytest.raises(SegregationOfDuties):
        both.require("admin.users.manage")
    both.require("qms.view")  # reading stays possible
    with db.sessions() as session:
        [row] = [r for r in identity.access_review(session, "en") if r.login == "zhaomin"]
    assert "administration and business roles together" in row.findings


@pytest.mark.clause("TJ-10.1.2.2.d", "SH-7.1.2")
def test_access_review_lists_roles_since_when_and_findings(db: Database) -> None:
    _login(db, "zhangwei", DEMO_PASSWORD)
    with db.sessions() as session:
        rows = {r.login: r for r in identity.access_review(session, "zh_CN")}
    assert len(rows) == 14  # the demo users (DEMO_USERS), with the second qualified person qianyu
    assert [g.name for g in rows["zhaomin"].roles] == ["质量受权人"]
    assert "qms.release.decide" in rows["zhaomin"].permissions
    assert "never logged in" in rows["zhaomin"].findings
    assert rows["zhangwei"].findings == []
    assert rows["zhangwei"].last_login_at is not None


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.1")
def test_permission_refusal_names_the_permission(db: Database) -> None:
    with pytest.raises(NotPermitted, match=r"qms\.release\.decide"):
        principal(db, "zhangwei").require("qms.release.decide")


@pytest.mark.clause("TJ-10.1.2.2.a", "TJ-10.1.1.2.b")
def test_role_grants_and_revocations_are_audited_with_reason(db: Database) -> None:
    uid = principal(db, "lina").user_id
    with UnitOfWork(db, actor(db, "sysadmin"), reason="兼任QA现场监督") as uow:
        identity.set_user_roles(uow, uid, ["production_supervisor", "qa_reviewer"])
        uow.commit()
    with UnitOfWork(db, actor(db, "sysadmin"), reason="兼任结束") as uow:
        identity.set_user_roles(uow, uid, ["production_supervisor"])
        uow.commit()
    grants = [
        (e.event, e.reason)
        for e in audit_entries(db, object_type="user_role")
        if e.object_id.startswith(f"{uid}:")
    ]
    assert grants[-2:] == [("create", "兼任QA现场监督"), ("delete", "兼任结束")]
    with db.sessions() as session:
        assert (
            session.scalars(select(User).where(User.login == "lina")).one().grants[0].role.code
            == "production_supervisor"
        )
