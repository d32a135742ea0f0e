"""Upgrading a plant: permissions new in a release reach the standard roles, revocations stay revoked."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from helpers import audit_entries
from pharmatrace.bootstrap import prepare
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

NEW = "admin.compliance.view"
ADMIN = Actor.system("test-admin")


def holders(db: Database) -> set[str]:
    with db.sessions() as session:
        return {r.code for r in identity.list_roles(session) if NEW in r.permission_codes}


def revoke(db: Database, role_code: str) -> None:
    with UnitOfWork(db, ADMIN, reason="the plant decided otherwise") as uow:
        role = next(r for r in identity.list_roles(uow.session) if r.code == role_code)
        identity.set_role_permissions(uow, role.id, role.permission_codes - {NEW})
        uow.commit()


@pytest.mark.clause("TJ-10.1.2.2.a", "TJ-10.1.1.2.b", "TJ-10.3")
def test_a_permission_new_in_a_release_is_granted_to_its_standard_roles_with_an_audit_entry(
    db: Database,
) -> None:
    shipped = {"system_admin", "qa_reviewer", "qa_release", "inspector"}
    assert holders(db) == shipped
    # the database as an older release left it: the permission did not exist, nobody held it
    for role in shipped:
        revoke(db, role)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM permissions WHERE code = :code"), {"code": NEW})
    before = max(e.id for e in audit_entries(db))
    prepare(db)
    assert holders(db) == shipped
    grants = [e for e in audit_entries(db, object_type="role_permission") if e.id > before]
    assert len(grants) == len(shipped)
    assert {e.event for e in grants} == {"create"} and {e.actor_login for e in grants} == {"system:install"}
    assert all(e.reason == "standard roles shipped with PharmaTrace" for e in grants)


@pytest.mark.clause("TJ-10.1.2.2.a", "TJ-10.1.2.2.d")
def test_a_permission_the_plant_revoked_is_not_granted_again_by_an_upgrade(db: Database) -> None:
    revoke(db, "qa_release")
    prepare(db)
    prepare(db)
    assert "qa_release" not in holders(db)
    assert "qa_reviewer" in holders(db)
