"""Change-control pages and API: the dashboard with counts by status and ageing, the demo's changes in their
stages, a change proposed, approved and closed through the pages and through ``/api/v1/qms/changes``
(TJ-10.3, SH-6.2.4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from qms_change_steps import assessment
from sqlalchemy import select

from helpers import count_rows, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.qms import changes
from pharmatrace.qms.change_models import ChangeRequest
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as test_client:
        yield test_client


def _demo(db: Database) -> dict[str, str]:
    """The demo's change numbers by status."""
    with db.sessions() as session:
        return {c.status: c.number for c in session.scalars(select(ChangeRequest))}


@pytest.mark.clause("TJ-10.3", "SH-6.2.4")
def test_the_pages_show_the_demo_changes_and_carry_a_change_to_approval(
    client: TestClient, db: Database
) -> None:
    demo = _demo(db)
    assert set(demo) == {"closed", "in_implementation", "submitted"}
    log_in(client, "inspector", language="en")
    board = client.get("/qms/changes")
    assert board.status_code == 200
    for testid in ("change-dashboard", "by-status", "ageing", "changes", "qms-tabs"):
        assert f'data-testid="{testid}"' in board.text, testid
    assert 'data-testid="new-change"' not in board.text  # the inspector reads only
    for number in demo.values():
        assert f'data-number="{number}"' in board.text
    closed = client.get(f"/qms/changes/{demo['closed']}").text
    assert "SOP-PR-002" in closed and 'data-decision="close"' in closed and "valid" in closed
    assert 'data-testid="audit-trail"' in closed and 'data-testid="approve-form"' not in closed
    pending = client.get(f"/qms/changes/{demo['submitted']}").text
    assert 'data-function="system_owner"' in pending and 'data-testid="approve-form"' not in pending

    log_in(client, "lina", language="en")
    form = {
        "title": "提取岗位投料顺序调整", "description": "先加水后投料，减少药材结块。", "justification": "提高提取收率一致性。",
        "change_type": "process", "target_date": (changes.today() + timedelta(days=20)).isoformat(),
        "item_kind_0": "recipe", "item_ref_0": "mr-dh-001", "item_kind_1": "document", "item_ref_1": "SOP-XX-404",
    }  # fmt: skip
    for row in assessment(product_quality="medium"):
        form[f"impact_{row['area']}"] = "yes" if row["impact"] else "no"
        form[f"risk_{row['area']}"] = row["risk"]
        form[f"comment_{row['area']}"] = row["comment"]
    before = count_rows(db, ChangeRequest)
    refused = client.post("/qms/changes/new", data=form)
    assert refused.status_code == 422 and "SOP-XX-404" in refused.text
    assert count_rows(db, ChangeRequest) == before
    del form["item_ref_1"]
    created = client.post("/qms/changes/new", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    number = created.headers["location"].split("/")[-1].split("?")[0]
    assert client.post(f"/qms/changes/{number}/submit", follow_redirects=False).status_code == 303
    own = client.get(f"/qms/changes/{number}").text
    assert 'data-testid="approve-form"' not in own  # the proposer never approves

    log_in(client, "chenjing", language="en")
    page = client.get(f"/qms/changes/{number}").text
    assert 'data-testid="approve-form"' in page and 'data-function="production"' in page
    signed = client.post(f"/qms/changes/{number}/approve", data={
        "function": "qa", "login": "chenjing", "password": DEMO_PASSWORD, "comment": "同意"}, follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303, signed.text
    wrong = client.post(
        f"/qms/changes/{number}/approve", data={"function": "production", "password": DEMO_PASSWORD}
    )
    assert wrong.status_code == 403 and 'data-testid="error"' in wrong.text
    with db.sessions() as session:
        change = changes.get_change(session, number)
        assert change.status == "submitted" and changes.approved_functions(change) == ["qa"]


@pytest.mark.clause("TJ-10.3", "SH-7.1.2")
def test_the_api_carries_a_change_from_proposal_to_closure(client: TestClient) -> None:
    proposer, qa = token(client, "zhaomin"), token(client, "chenjing")
    body = {
        "title": "冻干机 FD-01 搁板温度探头更换", "description": "更换 3 号搁板温度探头。", "justification": "探头漂移。",
        "change_type": "equipment", "target_date": (changes.today() + timedelta(days=15)).isoformat(),
        "impacts": assessment(validation="low"), "items": [{"kind": "equipment", "reference": "FD-01"}],
    }  # fmt: skip
    assert client.post("/api/v1/qms/changes", json=body, headers=qa).status_code == 403  # QA does not propose
    created = client.post("/api/v1/qms/changes", json=body, headers=proposer)
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    assert created.json()["items"][0]["name"] == "冻干机"
    submitted = client.post(f"/api/v1/qms/changes/{number}/submit", headers=proposer).json()
    assert submitted["status"] == "submitted" and submitted["required_functions"] == ["qa", "production"]
    own = client.post(f"/api/v1/qms/changes/{number}/approve", headers=proposer,
                      json={"function": "production", "password": DEMO_PASSWORD, "login": "zhaomin"})  # fmt: skip
    assert own.status_code == 403
    for login, function in (("chenjing", "qa"), ("lina", "production")):
        signed = client.post(f"/api/v1/qms/changes/{number}/approve", headers=token(client, login),
                             json={"function": function, "password": DEMO_PASSWORD, "login": login})  # fmt: skip
        assert signed.status_code == 200, signed.text
        assert signed.json()["signatures"][0]["status"] == "valid"
    task = client.post(f"/api/v1/qms/changes/{number}/tasks", headers=qa, json={
        "title": "更换探头并校准", "owner": "wuhao", "due_date": changes.today().isoformat(), "kind": "action"})  # fmt: skip
    assert task.status_code == 201, task.text
    assert (
        client.post(f"/api/v1/qms/changes/{number}/implement", headers=qa).json()["status"]
        == "in_implementation"
    )
    done = client.post(
        f"/api/v1/qms/changes/{number}/tasks/1/done", headers=qa, json={"evidence": "校准合格"}
    )
    assert done.status_code == 200 and done.json()["done_by"] == "chenjing"
    assert client.post(f"/api/v1/qms/changes/{number}/verify", headers=qa).json()["status"] == "verification"
    closed = client.post(f"/api/v1/qms/changes/{number}/close", headers=qa, json={
        "summary": "三批冻干曲线正常", "effective": True, "password": DEMO_PASSWORD, "login": "chenjing"})  # fmt: skip
    assert closed.status_code == 200, closed.text
    detail = client.get(f"/api/v1/qms/changes/{number}", headers=token(client, "inspector")).json()
    assert detail["status"] == "closed" and [d["kind"] for d in detail["decisions"]] == [
        "approve",
        "approve",
        "close",
    ]
    board = client.get("/api/v1/qms/changes/dashboard", headers=qa).json()
    assert board["by_status"]["closed"] >= 2
    listed = client.get("/api/v1/qms/changes?status=closed", headers=qa).json()
    assert number in {c["number"] for c in listed}
