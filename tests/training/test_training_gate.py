"""Training gates permissions and steps (TJ-10.1.2.2.d): a user may use a function only while trained on the
current effective version of the SOP it needs; a new version's grace period, expiry and retraining."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from helpers import principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import service as documents
from pharmatrace.documents.models import DocumentVersion
from pharmatrace.documents.schemas import (
    ApproveDecision,
    DocumentCreate,
    DraftUpdate,
    ReviewDecision,
    VersionCreate,
)
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import QualificationRequired
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.training import gates, service
from pharmatrace.training.models import TrainingTask
from pharmatrace.training.schemas import RequirementCreate
from pharmatrace.web.app import create_app


def user_id(db: Database, login: str) -> int:
    return principal(db, login).user_id


def require(db: Database, login: str, permission: str = "mes.batch.execute") -> None:
    principal(db, login).require(permission)


def add_requirement(db: Database, permission: str, number: str) -> None:
    coordinator = principal(db, "huangmei")
    with UnitOfWork(db, coordinator.actor) as uow:
        service.add_requirement(
            uow, coordinator, RequirementCreate(permission=permission, document_number=number)
        )
        uow.commit()


def train(db: Database, login: str, number: str, *, valid_until: date | None = None) -> None:
    """The training coordinator records a passing classroom training on the current effective version."""
    with UnitOfWork(db, principal(db, "huangmei").actor) as uow:
        version = service.version_of(uow.session, number)
        service.record_completion(
            uow, user_id=user_id(db, login), document_version_id=version.id, course_id=None, method="classroom",
            passed=True, score=None, trainer_user_id=user_id(db, "huangmei"), evidence="培训签到表 TR-2026-101",
            valid_until=valid_until,
        )  # fmt: skip
        uow.commit()


def revise(db: Database, number: str, grace_days: int) -> DocumentVersion:
    """lina revises ``number``; chenjing reviews, zhaomin approves it, effective now with ``grace_days``."""
    lina, chenjing, zhaomin = principal(db, "lina"), principal(db, "chenjing"), principal(db, "zhaomin")
    with UnitOfWork(db, lina.actor, reason="revision") as uow:
        documents.new_version(uow, lina, number, VersionCreate(
            change_summary="称量复核要求调整为双人复核", change_control_ref="CC-2026-090",
            training_grace_days=grace_days, training_required=True,
        ))  # fmt: skip
        draft = documents.get_document(uow.session, number).versions[-1]
        documents.update_draft(
            uow, lina, number, DraftUpdate(markdown=(draft.markdown or "") + "\n\n双人复核。\n")
        )
        documents.submit(uow, lina, number)
        uow.commit()
    with UnitOfWork(db, chenjing.actor) as uow:
        documents.review(uow, chenjing, number, ReviewDecision(password=DEMO_PASSWORD, login="chenjing"))
        uow.commit()
    with UnitOfWork(db, zhaomin.actor) as uow:
        version = documents.approve(
            uow, zhaomin, number, ApproveDecision(password=DEMO_PASSWORD, login="zhaomin")
        )
        uow.commit()
        return version


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


@pytest.mark.clause("TJ-10.1.2.2.d", "SH-6.3.4")
def test_the_gate_refuses_an_untrained_operator_naming_the_document_and_version_then_admits_him(
    db: Database,
) -> None:
    add_requirement(db, "mes.batch.execute", "SOP-PR-007")
    require(db, "zhangwei")  # trained on SOP-PR-007 v2
    with pytest.raises(QualificationRequired) as refused:
        require(db, "liuyang")
    assert "SOP-PR-007 v2" in str(refused.value)
    assert refused.value.code == "qualification_required" and refused.value.http_status == 403
    assert not principal(db, "liuyang").can("mes.batch.execute")
    train(db, "liuyang", "SOP-PR-007")
    require(db, "liuyang")


@pytest.mark.clause("TJ-10.1.2.2.d", "TJ-9.3")
def test_the_lyophilization_step_refuses_liuyang_whose_grace_period_is_over(db: Database) -> None:
    with db.sessions() as session:
        gates.require_trained(session, user_id(db, "zhangwei"), "SOP-PR-007")
        with pytest.raises(QualificationRequired, match="SOP-PR-007 v2"):
            gates.require_trained(session, user_id(db, "liuyang"), "SOP-PR-007")
        [missing] = gates.missing_training(session, user_id(db, "liuyang"), ["SOP-PR-007", "SOP-WH-001"])
    assert (missing.number, missing.version, missing.status) == ("SOP-PR-007", 2, "lapsed")


@pytest.mark.clause("TJ-10.1.2.2.d", "TJ-9.3", "SH-6.3.3")
def test_a_new_version_keeps_the_trained_qualified_during_its_grace_period_and_refuses_them_after(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = revise(db, "SOP-WH-001", grace_days=7)
    require(db, "zhangwei")  # trained on v1, inside the 7 days
    with db.sessions() as session:
        [standing] = gates.standings(session, user_id(db, "zhangwei"), ["SOP-WH-001"])
    assert standing.status == "grace" and standing.version == 2
    assert version.effective_from is not None
    monkeypatch.setattr(clock, "now", lambda: version.effective_from + timedelta(days=7, minutes=1))
    with pytest.raises(QualificationRequired, match="SOP-WH-001 v2"):
        require(db, "zhangwei")
    train(db, "zhangwei", "SOP-WH-001")
    require(db, "zhangwei")


@pytest.mark.clause("TJ-9.3", "SH-6.3.4")
def test_approval_gives_tasks_to_exactly_the_people_who_need_the_document(db: Database) -> None:
    version = revise(db, "SOP-WH-001", grace_days=5)
    with db.sessions() as session:
        tasks = list(
            session.scalars(select(TrainingTask).where(TrainingTask.document_version_id == version.id))
        )
        logins = {identity.get_user(session, t.user_id).login for t in tasks}
        # operators and the supervisor by role, the warehouse keeper by role; nobody else
        assert logins == {"zhangwei", "liuyang", "lina", "zhouqiang"}
        assert version.effective_from is not None
        assert {t.due_at for t in tasks} == {version.effective_from + timedelta(days=5)}
        assert {t.source for t in tasks} == {"version_approved"}
        open_ = [
            v for v in service.task_views(session, state="open") if v.task.document_version_id == version.id
        ]
    assert len(open_) == 4
    train(db, "lina", "SOP-WH-001")
    with db.sessions() as session:
        still = {
            v.user.login
            for v in service.task_views(session, state="open")
            if v.task.document_version_id == version.id
        }
    assert still == {"zhangwei", "liuyang", "zhouqiang"}


@pytest.mark.clause("TJ-10.1.2.2.d", "TJ-9.3")
def test_an_expired_record_lapses(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    wangfang = user_id(db, "wangfang")
    with db.sessions() as session, pytest.raises(QualificationRequired, match="SPEC-DH-001 v1"):
        gates.require_trained(session, wangfang, "SPEC-DH-001")
    train(
        db, "wangfang", "SPEC-DH-001", valid_until=clock.to_beijing(clock.now()).date() + timedelta(days=30)
    )
    with db.sessions() as session:
        gates.require_trained(session, wangfang, "SPEC-DH-001")
    later = clock.now() + timedelta(days=32)
    monkeypatch.setattr(clock, "now", lambda: later)
    with db.sessions() as session:
        [standing] = gates.standings(session, wangfang, ["SPEC-DH-001"])
        assert standing.status == "expired"
        with pytest.raises(QualificationRequired, match="SPEC-DH-001 v1"):
            gates.require_trained(session, wangfang, "SPEC-DH-001")


@pytest.mark.clause("TJ-10.1.2.2.d")
def test_a_requirement_on_a_document_without_an_effective_version_is_not_enforced(db: Database) -> None:
    lina = principal(db, "lina")
    with UnitOfWork(db, lina.actor) as uow:
        documents.create_document(uow, lina, DocumentCreate(
            number="SOP-PR-011", title="冻干机在线清洗", doc_type="sop", department="PR", markdown="# 草稿\n",
        ))  # fmt: skip
        uow.commit()
    add_requirement(db, "mes.batch.execute", "SOP-PR-011")
    require(db, "liuyang")
    with db.sessions() as session:
        assert service.unenforced(session) == ["SOP-PR-011"]
        [standing] = gates.standings(session, user_id(db, "liuyang"), ["SOP-PR-011"])
    assert standing.status == "not_enforced" and standing.ok


@pytest.mark.clause("TJ-10.1.2.2.d")
def test_the_gate_costs_two_queries_per_principal(db: Database) -> None:
    add_requirement(db, "mes.batch.execute", "SOP-PR-007")
    with db.sessions() as session:
        liuyang = identity.find_user(session, "liuyang")
        assert liuyang is not None
        with counted(db) as statements:
            gaps = gates.permission_gaps(session, liuyang.id)
    assert gaps == {"mes.batch.execute": "SOP-PR-007 v2"}
    assert len(statements) <= 2


@pytest.mark.clause("TJ-10.1.2.2.d", "SH-7.1.2")
def test_the_api_refuses_an_untrained_operator_with_qualification_required(db: Database) -> None:
    add_requirement(db, "mes.batch.execute", "SOP-PR-007")
    with TestClient(create_app(db)) as client:
        refused = client.post("/api/v1/intermediates", json={}, headers=token(client, "liuyang"))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "qualification_required"
        allowed = client.post("/api/v1/intermediates", json={}, headers=token(client, "zhangwei"))
        assert allowed.status_code == 422  # past the gate, stopped by the empty body


@pytest.mark.clause("TJ-10.1.2.2.d", "SH-6.3.4")
def test_requirements_are_managed_by_the_training_coordinator_only_and_bad_input_is_refused(
    db: Database,
) -> None:
    with TestClient(create_app(db)) as client:
        coordinator, operator = token(client, "huangmei"), token(client, "zhangwei")
        body = {"permission": "mes.batch.execute", "document_number": "SOP-PR-007"}
        refused = client.post("/api/v1/training/requirements", json=body, headers=operator)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_permitted"
        for bad, code in (
            ({"permission": "mes.batch.execute", "document_number": "SOP-XX-999"}, 422),  # no such document
            ({"permission": "mes.nothing", "document_number": "SOP-PR-007"}, 422),  # no such permission
            ({"permission": "training.view", "document_number": "SOP-PR-007"}, 422),  # a read permission
            ({"permission": "mes.batch.execute"}, 422),
        ):
            response = client.post("/api/v1/training/requirements", json=bad, headers=coordinator)
            assert response.status_code == code, (bad, response.text)
        assert client.get("/api/v1/training/requirements", headers=operator).json()[0]["permission"] == (
            "mes.batch.execute"
        )
        made = client.post("/api/v1/training/requirements", json=body, headers=coordinator)
        assert made.status_code == 201, made.text
        assert made.json()["effective_version"] == 2
        again = client.post("/api/v1/training/requirements", json=body, headers=coordinator)
        assert again.status_code == 409
        voided = client.post(f"/api/v1/training/requirements/{made.json()['id']}/void", json={"reason": "x"},
                             headers=coordinator)  # fmt: skip
        assert voided.status_code == 422  # a reason of one character
        voided = client.post(f"/api/v1/training/requirements/{made.json()['id']}/void",
                             json={"reason": "改为岗位级控制"}, headers=coordinator)  # fmt: skip
        assert voided.status_code == 200 and voided.json()["voided_at"] is not None
        assert (
            client.post("/api/v1/intermediates", json={}, headers=token(client, "liuyang")).status_code == 422
        )
