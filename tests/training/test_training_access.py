"""Access requests (TJ-10.1.2.2.d): a role is requested with a justification, brings the training it needs,
and is granted by the system administrator only once that training is complete."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import audit_entries, count_rows, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import Conflict, NotPermitted, QualificationRequired, ValidationFailed
from pharmatrace.kernel.identity import access_requests
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.access_requests import AccessRequest
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.training import service
from pharmatrace.training.models import TrainingTask
from pharmatrace.web.app import create_app


def pending_id(db: Database) -> int:
    with db.sessions() as session:
        found = session.scalar(select(AccessRequest.id).where(AccessRequest.status == "pending"))
        assert found is not None
        return found


def approve(db: Database, request_id: int) -> AccessRequest:
    admin = principal(db, "sysadmin")
    with UnitOfWork(db, admin.actor) as uow:
        row = access_requests.approve(uow, admin, request_id, "培训已完成")
        uow.commit()
        return row


def complete_training(db: Database, login: str) -> None:
    """The coordinator records the trainings the user's open tasks ask for."""
    who = principal(db, login)
    with UnitOfWork(db, principal(db, "huangmei").actor) as uow:
        for view in service.task_views(uow.session, user_id=who.user_id, state="open"):
            service.record_completion(
                uow, user_id=who.user_id, document_version_id=view.task.document_version_id, course_id=None,
                method="on_the_job", passed=True, score=None, trainer_user_id=principal(db, "lina").user_id,
                evidence="岗位带教记录 OJT-2026-015", valid_until=None,
            )  # fmt: skip
        uow.commit()


@pytest.mark.clause("TJ-10.1.2.2.d", "SH-7.1.2")
def test_approval_is_refused_while_training_is_incomplete_and_grants_the_role_after(db: Database) -> None:
    request_id = pending_id(db)  # lina asked for production_operator for zhouqiang (demo)
    assert "production_operator" not in principal(db, "zhouqiang").role_codes
    with pytest.raises(QualificationRequired) as refused:
        approve(db, request_id)
    assert "SOP-PR-007 v2" in str(refused.value) and "production_operator" in str(refused.value)
    with db.sessions() as session:
        assert access_requests.get_request(session, request_id).status == "pending"
    complete_training(db, "zhouqiang")
    row = approve(db, request_id)
    assert row.status == "approved" and row.decided_by == "sysadmin"
    keeper = principal(db, "zhouqiang")
    assert {"production_operator", "warehouse_keeper"} <= keeper.role_codes
    keeper.require("mes.batch.execute")  # trained on SOP-WH-001 and SOP-QA-001 as well
    grants = [e for e in audit_entries(db, object_type="user_role") if e.event == "create"]
    assert grants[-1].actor_login == "sysadmin"
    with pytest.raises(Conflict, match="already been decided"):
        approve(db, request_id)


@pytest.mark.clause("TJ-10.1.2.2.d", "TJ-9.3")
def test_a_request_assigns_the_training_the_role_needs(db: Database) -> None:
    with db.sessions() as session:
        tasks = session.scalars(
            select(TrainingTask).where(
                TrainingTask.user_id == principal(db, "zhouqiang").user_id,
                TrainingTask.source == "access_request",
            )
        ).all()
        numbers = {t.document_number for t in tasks}
    assert {"SOP-PR-001", "SOP-PR-007", "SOP-QA-001"} <= numbers
    assert "SOP-WH-001" not in numbers  # trained already as warehouse keeper


@pytest.mark.clause("TJ-10.1.2.2.d", "TJ-10.1.2.2.b", "SH-7.1.2")
def test_who_may_request_and_decide(db: Database) -> None:
    before = count_rows(db, AccessRequest)

    def request(
        login: str, for_login: str, role: str, justification: str = "调岗支援，需要该角色的权限"
    ) -> None:
        who = principal(db, login)
        with UnitOfWork(db, who.actor) as uow:
            access_requests.request_role(
                uow,
                who,
                user_id=principal(db, for_login).user_id,
                role_code=role,
                justification=justification,
            )
            uow.commit()

    with pytest.raises(NotPermitted, match="supervisor or the training coordinator"):
        request("zhangwei", "liuyang", "qc_analyst")
    with pytest.raises(NotPermitted, match="decide access requests"):
        request("sysadmin", "liuyang", "qc_analyst")
    with pytest.raises(ValidationFailed, match="Only business roles"):
        request("lina", "liuyang", "system_admin")
    with pytest.raises(Conflict, match="already holds"):
        request("liuyang", "liuyang", "production_operator")
    with pytest.raises(Conflict, match="already pending"):
        request("lina", "zhouqiang", "production_operator")
    with pytest.raises(ValidationFailed, match="justification"):
        request("liuyang", "liuyang", "qc_analyst", "嗯")
    with pytest.raises(ValidationFailed, match="Unknown role"):
        request("liuyang", "liuyang", "astronaut")
    assert count_rows(db, AccessRequest) == before
    request("liuyang", "liuyang", "qc_analyst")  # for oneself
    assert count_rows(db, AccessRequest) == before + 1
    lina = principal(db, "lina")
    with UnitOfWork(db, lina.actor) as uow, pytest.raises(NotPermitted):
        access_requests.approve(uow, lina, pending_id(db), "")


@pytest.mark.clause("TJ-10.1.2.2.d", "SH-7.1.2")
def test_the_api_requests_rejects_and_refuses_the_wrong_people(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        admin, operator = token(client, "sysadmin"), token(client, "liuyang")
        body = {
            "login": "liuyang",
            "role_code": "qc_analyst",
            "justification": "兼任中间体取样，需要QC检验员角色",
        }
        assert client.post("/api/v1/training/access-requests", json=body, headers=admin).status_code == 403
        assert client.post("/api/v1/training/access-requests", json={**body, "justification": "短"},
                           headers=operator).status_code == 422  # fmt: skip
        made = client.post("/api/v1/training/access-requests", json=body, headers=operator)
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "pending"
        rid = made.json()["id"]
        assert client.get("/api/v1/training/access-requests", headers=operator).status_code == 403
        listed = client.get("/api/v1/training/access-requests?status=pending", headers=admin).json()
        assert {r["id"] for r in listed} >= {rid}
        assert (
            client.post(
                f"/api/v1/training/access-requests/{rid}/approve", json={}, headers=operator
            ).status_code
            == 403
        )
        assert client.post(f"/api/v1/training/access-requests/{rid}/reject", json={"note": "x"},
                           headers=admin).status_code == 422  # fmt: skip
        rejected = client.post(f"/api/v1/training/access-requests/{rid}/reject",
                               json={"note": "岗位无需兼任取样"}, headers=admin)  # fmt: skip
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        assert "qc_analyst" not in principal(db, "liuyang").role_codes
        refused = client.post(
            f"/api/v1/training/access-requests/{pending_id(db)}/approve", json={}, headers=admin
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "qualification_required"


@pytest.mark.clause("TJ-10.1.2.2.d")
def test_the_access_pages_request_and_show_the_missing_training(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": "sysadmin", "password": DEMO_PASSWORD})
        review = client.get("/training/access/review")
        assert review.status_code == 200 and "SOP-PR-007 v2" in review.text
        refused = client.post(f"/training/access/{pending_id(db)}/approve", data={"note": ""})
        assert refused.status_code == 403 and "SOP-PR-007" in refused.text
        client.post("/logout")
        client.cookies.clear()
        client.post("/login", data={"login": "zhangwei", "password": DEMO_PASSWORD})
        page = client.post("/training/access", data={"role_code": "qc_analyst", "justification": "短"})
        assert page.status_code == 422
        done = client.post("/training/access", data={"role_code": "qc_analyst", "justification": "兼任中间体取样"},
                           follow_redirects=False)  # fmt: skip
        assert done.status_code == 303
        assert 'data-status="pending"' in client.get("/training/access").text


@pytest.mark.clause("TJ-9.3", "TJ-10.1.2.2.d")
def test_a_role_granted_directly_brings_its_training_tasks(db: Database) -> None:
    admin, lina = principal(db, "sysadmin"), principal(db, "lina")
    with UnitOfWork(db, admin.actor, reason="设备维护兼职") as uow:
        identity.set_user_roles(uow, lina.user_id, ["production_supervisor", "equipment_engineer"])
        uow.commit()
    with db.sessions() as session:
        views = service.task_views(session, user_id=lina.user_id, state="open")
    assert {(v.task.document_number, v.task.source) for v in views} == {
        ("SOP-EQ-201", "role_granted"),
        ("SOP-EQ-202", "role_granted"),
        ("SOP-EQ-211", "role_granted"),
    }
