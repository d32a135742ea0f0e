"""Retraining ordered by a deviation or CAPA: the people named are lapsed on the document's current version —
refused by the step gate and by the permissions that need the document — until they pass again; an order
voided with a reason restores them; bad orders are refused and change nothing (SH-6.3.4, TJ-9.3,
TJ-10.1.2.2.d; issue 6 item 5)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from helpers import audit_entries, count_rows, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import service as documents
from pharmatrace.documents.schemas import WithdrawDecision
from pharmatrace.kernel.errors import QualificationRequired
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.training import courses, gates, service
from pharmatrace.training.models import RetrainingOrder


def user_id(db: Database, login: str) -> int:
    return principal(db, login).user_id


def standing(db: Database, login: str, number: str) -> gates.Qualification:
    with db.sessions() as session:
        return gates.standings(session, user_id(db, login), [number])[0]


def matrix_status(db: Database, login: str, course_code: str) -> str:
    with db.sessions() as session:
        grid = courses.matrix(session)
    column = next(n for n, c in enumerate(grid.columns) if c.code == course_code)
    return next(r.cells[column].status for r in grid.rows if r.login == login)


def retrain(client: TestClient, headers: dict[str, str], **body: object) -> object:
    payload = {"logins": ["zhangwei"], "document_number": "SOP-PR-007", "reason": "偏差调查：冻干曲线设置错误",
               "source": "DEV-2026-012"} | body  # fmt: skip
    return client.post("/api/v1/training/retraining", json=payload, headers=headers)


def passes_again(db: Database, login: str, number: str) -> None:
    with db.sessions() as session:
        current = documents.current_effective(session, number)
        assert current is not None
        version_id = current.id
    coordinator = principal(db, "huangmei")
    with UnitOfWork(db, coordinator.actor) as uow:
        service.record_completion(uow, user_id=user_id(db, login), document_version_id=version_id, course_id=None,
                                  method="classroom", passed=True, score=None, trainer_user_id=coordinator.user_id,
                                  evidence="偏差 DEV-2026-012 再培训签到表", valid_until=None)  # fmt: skip
        uow.commit()


@pytest.mark.clause("TJ-10.1.2.2.d", "SH-6.3.4", "TJ-9.3")
def test_retraining_lapses_the_step_gate_until_the_person_passes_again(
    db: Database, client: TestClient
) -> None:
    with db.sessions() as session:
        gates.require_trained(session, user_id(db, "zhangwei"), "SOP-PR-007")  # trained on v2
    response = retrain(client, token(client, "huangmei"))
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    [order] = response.json()  # type: ignore[attr-defined]
    assert (order["login"], order["document_number"], order["version"], order["passed"]) == (
        "zhangwei",
        "SOP-PR-007",
        2,
        False,
    )
    assert standing(db, "zhangwei", "SOP-PR-007").status == "retraining"
    with db.sessions() as session, pytest.raises(QualificationRequired) as refused:
        gates.require_trained(session, user_id(db, "zhangwei"), "SOP-PR-007")
    assert "SOP-PR-007 v2" in str(refused.value)
    assert standing(db, "lina", "SOP-PR-007").ok  # only the people named
    passes_again(db, "zhangwei", "SOP-PR-007")
    assert standing(db, "zhangwei", "SOP-PR-007").status == "qualified"
    with db.sessions() as session:
        gates.require_trained(session, user_id(db, "zhangwei"), "SOP-PR-007")
    listed = client.get(
        "/api/v1/training/retraining", params={"login": "zhangwei"}, headers=token(client, "huangmei")
    )
    assert [o["passed"] for o in listed.json()] == [True]
    [entry] = audit_entries(db, object_type="training_retraining_order", object_id=str(order["id"]))
    assert entry.event == "create" and entry.reason == "DEV-2026-012: 偏差调查：冻干曲线设置错误"


@pytest.mark.clause("TJ-10.1.2.2.d", "SH-7.1.2")
def test_retraining_lapses_a_permission_that_needs_the_document_and_a_void_restores_it(
    db: Database, client: TestClient
) -> None:
    principal(db, "zhangwei").require("mes.batch.execute")  # needs SOP-WH-001 and SOP-QA-001
    assert matrix_status(db, "zhangwei", "TC-WH-001") == "trained"
    coordinator = token(client, "huangmei")
    [order] = retrain(client, coordinator, document_number="SOP-WH-001", source="CAPA-2026-003").json()  # type: ignore[attr-defined]
    with pytest.raises(QualificationRequired) as refused:
        principal(db, "zhangwei").require("mes.batch.execute")
    assert "SOP-WH-001 v1" in str(refused.value)
    assert matrix_status(db, "zhangwei", "TC-WH-001") != "trained"  # the matrix follows the order too
    no_reason = client.post(
        f"/api/v1/training/retraining/{order['id']}/void", json={"reason": ""}, headers=coordinator
    )
    assert no_reason.status_code == 422
    voided = client.post(f"/api/v1/training/retraining/{order['id']}/void", json={"reason": "误下达，CAPA 不涉及称量岗位"},
                         headers=coordinator)  # fmt: skip
    assert voided.status_code == 200 and voided.json()["voided_at"] is not None
    principal(db, "zhangwei").require("mes.batch.execute")
    assert matrix_status(db, "zhangwei", "TC-WH-001") == "trained"
    again = client.post(
        f"/api/v1/training/retraining/{order['id']}/void", json={"reason": "再次作废"}, headers=coordinator
    )
    assert again.status_code == 409


@pytest.mark.clause("TJ-10.1.2.2.d", "SH-7.1.2")
def test_bad_retraining_orders_are_refused_and_change_nothing(db: Database, client: TestClient) -> None:
    coordinator = token(client, "huangmei")
    controller = principal(db, "zhengxue")
    with UnitOfWork(db, controller.actor) as uow:
        documents.withdraw(uow, controller, "SOP-CL-107",
                           WithdrawDecision(login="zhengxue", password=DEMO_PASSWORD, reason="包装间改造，规程作废"))  # fmt: skip
        uow.commit()
    before = count_rows(db, RetrainingOrder)
    cases = [
        ({"logins": ["zhangwei", "nobody"]}, 404, "not_found"),
        ({"document_number": "SOP-XX-999"}, 404, "not_found"),
        ({"document_number": "SOP-CL-107"}, 409, "document_not_effective"),
        ({"logins": []}, 422, "validation_failed"),
        ({"reason": "短"}, 422, "validation_failed"),
        ({"source": ""}, 422, "validation_failed"),
    ]
    for body, status, code in cases:
        response = retrain(client, coordinator, **body)
        assert response.status_code == status, (body, response.text)  # type: ignore[attr-defined]
        assert response.json()["error"]["code"] == code, body  # type: ignore[attr-defined]
    assert retrain(client, token(client, "lina")).status_code == 403  # type: ignore[attr-defined]
    assert client.get("/api/v1/training/retraining", headers=token(client, "zhangwei")).status_code == 403
    assert count_rows(db, RetrainingOrder) == before
    assert standing(db, "zhangwei", "SOP-PR-007").status == "qualified"


@pytest.mark.clause("TJ-9.3", "TJ-10.1.2.2.d")
def test_my_training_lists_the_retraining_ordered_with_the_way_to_pass_it(
    db: Database, client: TestClient
) -> None:
    assert retrain(client, token(client, "huangmei")).status_code == 201  # type: ignore[attr-defined]
    client.cookies.set("pt_lang", "en")
    assert client.post("/login", data={"login": "zhangwei", "password": DEMO_PASSWORD}).status_code == 200
    page = client.get("/training/mine").text
    assert 'data-number="SOP-PR-007" data-status="retraining"' in page
    row = re.search(r'<table class="grid" data-testid="retraining">(.*?)</table>', page, re.S)
    assert row is not None and "DEV-2026-012" in row.group(1)
    assert 'data-testid="retrain-assess-SOP-PR-007"' in row.group(1)  # TC-PR-007 ends with an assessment
    passes_again(db, "zhangwei", "SOP-PR-007")
    assert 'data-testid="retraining"' not in client.get("/training/mine").text


TRAINING_PAGES = ("/training/mine", "/training/courses", "/training/curricula", "/training/plans",
                  "/training/sessions", "/training/matrix", "/training/expiring", "/training/effectiveness",
                  "/training/requirements", "/training/overdue", "/training/records", "/training/access")  # fmt: skip
DOCUMENT_PAGES = ("/documents", "/documents/reading", "/documents/copies", "/documents/reviews",
                  "/documents/SOP-PR-006", "/documents/SOP-PR-006/v/1")  # fmt: skip


@pytest.mark.clause("SH-7.1.2", "TJ-9.3", "SH-6.3.3")
def test_one_tab_bar_on_every_training_and_documents_page_showing_only_what_may_be_opened(
    client: TestClient,
) -> None:
    client.cookies.set("pt_lang", "en")
    assert client.post("/login", data={"login": "inspector", "password": DEMO_PASSWORD}).status_code == 200
    for path in TRAINING_PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.text.count('<nav class="tabs"') == 1 and 'data-testid="training-tabs"' in page.text, path
        assert all(f'href="{p}"' in page.text for p in TRAINING_PAGES), path
        assert 'href="/training/access/review"' in page.text  # the inspector may view the review queue
    for path in DOCUMENT_PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.text.count('<nav class="tabs"') == 1 and 'data-testid="documents-tabs"' in page.text, path
        assert 'href="/documents/reading"' in page.text and 'href="/documents/copies"' in page.text, path
        assert 'href="/documents/new"' not in page.text  # not an author
    version_page = client.get("/documents/SOP-PR-006/v/1").text
    assert re.search(r'href="/documents/versions/\d+/distribution"', version_page)
    client.post("/logout")
    assert client.post("/login", data={"login": "liuyang", "password": DEMO_PASSWORD}).status_code == 200
    mine = client.get("/training/mine").text
    assert 'href="/training/access/review"' not in mine and 'href="/training/courses"' in mine
    client.post("/logout")
    assert client.post("/login", data={"login": "sysadmin", "password": DEMO_PASSWORD}).status_code == 200
    users = client.get("/admin/users").text
    assert 'data-testid="access-review-link"' in users and 'href="/training/access/review"' in users
    review = client.get("/training/access/review").text
    assert (
        'href="/training/access/review"' in review and 'href="/training/mine"' not in review
    )  # no training.view
