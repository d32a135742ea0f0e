"""Controlled electronic distribution and "read and understood" acknowledgements (TJ-9.2, SH-6.3.3).

The document controller distributes the current version to the people who work with it; each reads it
and signs that they understood it; a version superseded or withdrawn is not distributed and its open read
tasks close with it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_documents_distribution_steps import (
    CONTROLLER,
    distribute,
    ensure_demo_documents,
    make_v2_effective,
    state,
    version_id,
    withdraw,
)

from helpers import audit_entries, count_rows, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import distribution
from pharmatrace.documents.distribution_models import DocumentDistribution, DocumentReadTask
from pharmatrace.documents.distribution_schemas import AcknowledgementCreate, DistributionCreate
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app


@pytest.fixture
def plant(db: Database) -> Database:
    ensure_demo_documents(db)
    return db


def _task(db: Database, vid: int, login: str) -> DocumentReadTask:
    with db.sessions() as session:
        task = session.scalar(
            select(DocumentReadTask).where(
                DocumentReadTask.version_id == vid, DocumentReadTask.login == login
            )
        )
        assert task is not None, login
        session.expunge(task)
        return task


def _acknowledge(db: Database, login: str, task_id: int, password: str = DEMO_PASSWORD) -> DocumentReadTask:
    reader = principal(db, login)
    with UnitOfWork(db, reader.actor) as uow:
        task = distribution.acknowledge(
            uow, reader, task_id, AcknowledgementCreate(password=password, login=login)
        )
        uow.commit()
        return task


# --- distribution -------------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-9.2", "SH-6.3.3")
def test_a_distribution_resolves_roles_departments_and_users_into_one_read_task_each(plant: Database) -> None:
    vid = version_id(plant, "SOP-PR-005", 1)
    before = len(audit_entries(plant, object_type="document_read_task"))
    result = distribute(
        plant, vid, roles=["production_operator"], departments=["质量控制部"], users=["lina", "zhangwei"]
    )
    reached = {t.login: t.resolved_via for t in result.tasks}
    # zhangwei holds the role and is named too: one task, reached through the first way named
    assert reached == {"zhangwei": "role:production_operator", "liuyang": "role:production_operator",
                       "wangfang": "department:质量控制部", "sunli": "department:质量控制部", "lina": "user"}  # fmt: skip
    assert result.distribution.recipients == 5 and result.distribution.distributed_by == CONTROLLER
    assert {t.state for t in result.tasks} == {"open"}
    again = distribute(plant, vid, users=["zhangwei", "chenjing"])  # a second distribution adds only the new
    assert [t.login for t in again.tasks] == ["chenjing"]
    assert [(s.login, s.reason) for s in again.skipped] == [("zhangwei", "already_reading")]
    entries = audit_entries(plant, object_type="document_read_task")[before:]
    assert len(entries) == 6 and {(e.event, e.actor_login) for e in entries} == {("create", CONTROLLER)}


@pytest.mark.clause("TJ-9.2", "SH-6.3.3")
def test_a_department_reaches_its_sub_units_and_someone_who_may_not_read_is_left_out(plant: Database) -> None:
    result = distribute(plant, version_id(plant, "SOP-PR-008", 1), departments=["生产部", "信息技术部"])
    assert {t.login for t in result.tasks} == {"zhangwei", "liuyang", "lina"}  # 生产部 冻干粉针车间
    assert [(s.login, s.reason) for s in result.skipped] == [
        ("sysadmin", "may_not_read")
    ]  # the administrator


@pytest.mark.clause("TJ-9.2", "SH-6.3.3")
def test_a_superseded_version_cannot_be_distributed(plant: Database) -> None:
    old = version_id(plant, "SOP-PR-007", 1)  # v2 is effective since the seed (urgent change)
    assert state(plant, old) == "superseded"
    before = (count_rows(plant, DocumentReadTask), count_rows(plant, DocumentDistribution))
    with pytest.raises(distribution.DistributionRefused) as refused:
        distribute(plant, old, roles=["production_operator"])
    assert str(refused.value) == (
        "SOP-PR-007 v1 is Superseded: only an approved or effective version can be distributed"
    )
    assert (count_rows(plant, DocumentReadTask), count_rows(plant, DocumentDistribution)) == before


@pytest.mark.clause("TJ-9.2", "SH-6.3.3")
def test_an_obsolete_version_of_a_withdrawn_document_cannot_be_distributed(plant: Database) -> None:
    vid = version_id(plant, "SOP-QA-001", 1)
    distribute(plant, vid, users=["zhangwei"])  # fine while effective
    withdraw(plant, "SOP-QA-001")
    assert state(plant, vid) == "obsolete"
    before = count_rows(plant, DocumentReadTask)
    with pytest.raises(distribution.DistributionRefused, match="Obsolete"):
        distribute(plant, vid, users=["liuyang"])
    assert count_rows(plant, DocumentReadTask) == before


@pytest.mark.clause("TJ-9.2")
def test_a_version_in_review_cannot_be_distributed(plant: Database) -> None:
    with pytest.raises(distribution.DistributionRefused, match="In review"):
        distribute(plant, version_id(plant, "SOP-PR-006", 2), users=["zhangwei"])


@pytest.mark.clause("TJ-9.2")
@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ({"roles": ["no_such_role"]}, "No active role “no_such_role”"),
        ({"users": ["zhangwei", "nobody"]}, "No active user “nobody”"),
        ({"departments": ["月球部"]}, "Nobody active works in the department “月球部”"),
    ],
)
def test_an_unknown_addressee_is_refused_and_nothing_is_distributed(
    plant: Database, targets: dict[str, list[str]], message: str
) -> None:
    before = count_rows(plant, DocumentReadTask)
    with pytest.raises(ValidationFailed) as refused:
        distribute(plant, version_id(plant, "SOP-PR-001", 1), **{"users": ["zhangwei"], **targets})
    assert str(refused.value) == message
    assert count_rows(plant, DocumentReadTask) == before


@pytest.mark.clause("TJ-9.2")
def test_a_read_by_date_in_the_past_is_refused(plant: Database) -> None:
    from datetime import date

    before = count_rows(plant, DocumentReadTask)
    with pytest.raises(ValidationFailed, match="in the past"):
        distribute(plant, version_id(plant, "SOP-PR-001", 1), users=["zhangwei"], due_on=date(2020, 1, 1))
    assert count_rows(plant, DocumentReadTask) == before


@pytest.mark.clause("TJ-9.2")
def test_a_distribution_names_someone_and_its_addressees_are_cleaned_up() -> None:
    with pytest.raises(ValueError, match="at least one role"):
        DistributionCreate(roles=[], users=[" , "])
    assert DistributionCreate(users=["ZhangWei, liuyang，lina"]).users == ["zhangwei", "liuyang", "lina"]


# --- acknowledgement ----------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-9.2", "SH-7.1.4", "SH-7.1.4.b", "SH-7.1.4.e")
def test_read_and_understood_is_signed_with_the_right_password_and_recorded(plant: Database) -> None:
    vid = version_id(plant, "SOP-PR-009", 1)
    distribute(plant, vid, users=["zhangwei"])
    task = _task(plant, vid, "zhangwei")
    with pytest.raises(AuthenticationFailed):
        _acknowledge(plant, "zhangwei", task.id, password="Wrong#2026")
    assert _task(plant, vid, "zhangwei").acknowledged_at is None
    assert audit_entries(plant, event="esign.failure")[-1].actor_login == "zhangwei"
    _acknowledge(plant, "zhangwei", task.id)
    with plant.sessions() as session:
        (signature,) = esign.manifestations(session, "document_read_task", str(task.id))
        row = distribution.task_public(session, _task(plant, vid, "zhangwei"), distribution.get_version(session, vid),
                                       "effective")  # fmt: skip
    assert (signature.action, signature.meaning, signature.signer_name) == (
        "document.acknowledge",
        "acknowledged",
        "张伟",
    )
    assert signature.status == "valid" and row.state == "acknowledged" and row.signed_by == "张伟"
    ack = [
        e
        for e in audit_entries(plant, object_type="document_read_task", object_id=str(task.id))
        if e.event == "update"
    ]
    assert ack[-1].reason == "read and understood" and "acknowledged_at" in ack[-1].changes
    with pytest.raises(Conflict, match="already acknowledged"):
        _acknowledge(plant, "zhangwei", task.id)


@pytest.mark.clause("TJ-9.2", "SH-7.1.2")
def test_only_the_recipient_acknowledges_their_own_task(plant: Database) -> None:
    vid = version_id(plant, "SOP-PR-010", 1)
    distribute(plant, vid, users=["zhangwei"])
    with pytest.raises(NotPermitted, match="Only the recipient"):
        _acknowledge(plant, "liuyang", _task(plant, vid, "zhangwei").id)
    assert _task(plant, vid, "zhangwei").acknowledged_at is None


@pytest.mark.clause("TJ-9.2", "SH-6.3.3")
def test_open_read_tasks_close_as_superseded_when_the_next_version_becomes_effective(plant: Database) -> None:
    vid = version_id(plant, "SOP-PR-006", 1)
    distribute(plant, vid, users=["zhangwei", "liuyang"])
    _acknowledge(plant, "liuyang", _task(plant, vid, "liuyang").id)
    make_v2_effective(plant, "SOP-PR-006")
    with plant.sessions() as session:
        states = {t.login: t.state for t in distribution.version_distribution(session, vid).tasks}
        mine = distribution.my_reading(session, principal(plant, "zhangwei").user_id)
    assert states == {"zhangwei": "superseded", "liuyang": "acknowledged"}  # derived from the version's state
    assert [t.state for t in mine if t.version_id == vid] == ["superseded"]
    with pytest.raises(Conflict, match="Superseded: its read task is closed"):
        _acknowledge(plant, "zhangwei", _task(plant, vid, "zhangwei").id)


@pytest.mark.clause("TJ-9.2")
def test_a_task_past_its_date_is_overdue(plant: Database) -> None:
    from datetime import timedelta

    vid = version_id(plant, "SOP-WH-001", 1)
    distribute(plant, vid, users=["zhangwei"], due_on=None)
    task = _task(plant, vid, "zhangwei")
    assert distribution.task_state(task, "effective") == "open"
    task.due_at = task.created_at + timedelta(days=3)
    assert distribution.task_state(task, "effective", task.created_at + timedelta(days=4)) == "overdue"
    assert distribution.task_state(task, "superseded", task.created_at + timedelta(days=4)) == "superseded"


# --- API and pages ------------------------------------------------------------------------------------------


@pytest.fixture
def client(plant: Database) -> Iterator[TestClient]:
    with TestClient(create_app(plant)) as test_client:
        yield test_client


@pytest.mark.clause("TJ-9.2", "SH-7.1.2")
def test_the_api_distributes_lists_my_reading_and_acknowledges(plant: Database, client: TestClient) -> None:
    vid = version_id(plant, "SOP-PR-002", 1)
    controller, operator = token(client, CONTROLLER), token(client, "zhangwei")
    refused = client.post(
        f"/api/v1/documents/versions/{vid}/distributions", headers=operator, json={"users": ["liuyang"]}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_permitted"
    empty = client.post(f"/api/v1/documents/versions/{vid}/distributions", headers=controller, json={})
    assert empty.status_code == 422
    made = client.post(f"/api/v1/documents/versions/{vid}/distributions", headers=controller,
                       json={"roles": ["production_operator"], "note": "新版浓缩规程"})  # fmt: skip
    assert made.status_code == 201, made.text
    mine = client.get("/api/v1/documents/reading", headers=operator, params={"state": "open"}).json()
    (task,) = [t for t in mine if t["version_id"] == vid]
    wrong = client.post(f"/api/v1/documents/reading/{task['id']}/acknowledge", headers=operator,
                        json={"password": "nope", "login": "zhangwei"})  # fmt: skip
    assert wrong.status_code == 401
    done = client.post(f"/api/v1/documents/reading/{task['id']}/acknowledge", headers=operator,
                       json={"password": DEMO_PASSWORD, "login": "zhangwei"})  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "acknowledged" and done.json()["signature_status"] == "valid"
    status = client.get(f"/api/v1/documents/versions/{vid}/distribution", headers=operator).json()
    assert status["counts"]["acknowledged"] == 1 and status["counts"]["open"] == 1
    superseded = version_id(plant, "SOP-PR-007", 1)
    old = client.post(f"/api/v1/documents/versions/{superseded}/distributions", headers=controller,
                      json={"users": ["liuyang"]})  # fmt: skip
    assert old.status_code == 409 and old.json()["error"]["code"] == "distribution_refused"


@pytest.mark.clause("TJ-9.2", "SH-7.1.3.d")
def test_the_pages_show_my_reading_and_the_distribution_status_with_its_trail(
    plant: Database, client: TestClient
) -> None:
    vid = version_id(plant, "SOP-PR-003", 1)
    client.post("/login", data={"login": CONTROLLER, "password": DEMO_PASSWORD})
    page = client.post(f"/documents/versions/{vid}/distributions",
                       data={"roles": ["production_operator"], "users": "lina", "departments": ""})  # fmt: skip
    assert page.status_code == 200 and 'data-testid="task-lina"' in page.text  # after the redirect
    assert 'data-testid="audit-trail"' in page.text
    bad = client.post(f"/documents/versions/{vid}/distributions", data={"users": "nobody"})
    assert bad.status_code == 422 and 'data-testid="error"' in bad.text
    client.post("/logout")
    client.post("/login", data={"login": "lina", "password": DEMO_PASSWORD})
    reading = client.get("/documents/reading")
    assert reading.status_code == 200 and "SOP-PR-003" in reading.text
    task = _task(plant, vid, "lina")
    signed = client.post(
        f"/documents/reading/{task.id}/acknowledge", data={"password": DEMO_PASSWORD, "login": "lina"}
    )
    assert signed.status_code == 200
    assert _task(plant, vid, "lina").acknowledged_at is not None
