"""The demo plant: a TCM lyophilized-injection maker with people in every role."""

from __future__ import annotations

import re

import pytest

from helpers import count_rows
from pharmatrace.demo.seed import DEMO_USERS, seed
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.roles import STANDARD_ROLES
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Material

EXPECTED_ROLES = {
    "system_admin",
    "production_operator",
    "production_supervisor",
    "qa_reviewer",
    "qa_release",
    "qc_analyst",
    "qc_reviewer",
    "warehouse_keeper",
    "equipment_engineer",
    "document_controller",
    "training_coordinator",
}


@pytest.mark.clause("SH-8.4.2")
def test_seed_is_idempotent(db: Database) -> None:
    before = count_rows(db, AuditEntry), count_rows(db, Material)
    assert set(seed(db).values()) == {0}  # nothing added the second time
    assert (count_rows(db, AuditEntry), count_rows(db, Material)) == before


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.1")
def test_every_role_has_a_person_with_a_chinese_name(db: Database) -> None:
    assert {u.role for u in DEMO_USERS} >= EXPECTED_ROLES
    with db.sessions() as session:
        users = identity.list_users(session)
        held = {g.role.code for u in users for g in u.grants}
    assert held >= EXPECTED_ROLES
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", u.full_name) for u in users)
    assert {r.code for r in STANDARD_ROLES} <= held


@pytest.mark.clause("SH-7.1.3", "TJ-10.1.1.1")
def test_the_seed_itself_is_in_the_audit_trail(db: Database) -> None:
    with db.sessions() as session:
        from sqlalchemy import select

        actors = set(session.scalars(select(AuditEntry.actor_login).where(AuditEntry.event == "create")))
    assert "system:demo-seed" in actors
