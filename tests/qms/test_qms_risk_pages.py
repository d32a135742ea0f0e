"""Risk assessment pages and API: the list with its filters and the demo's approved FMEA of the lyophilization step,
an assessment's page with its FMEA table, risk matrix, heat map, signed decision, audit trail and the forms its
reader may use; one assessment drafted, scored, submitted and approved by signature on the pages; the API refuses
bad input with 422 and a user without the permission with 403, writing nothing (SH-6.2.4, SH-7.1.4)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import count_rows, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.qms import risks as service
from pharmatrace.qms.risk_models import RiskAssessment, RiskDecision, RiskItem
from pharmatrace.storage.engine import Database

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


def _counts(db: Database) -> tuple[int, ...]:
    return tuple(count_rows(db, m) for m in (RiskAssessment, RiskItem, RiskDecision, AuditEntry))


def _status(db: Database, number: str) -> str:
    with db.sessions() as session:
        return service.get_assessment(session, number).status


ITEM = {"step": "灌装", "failure_mode": "装量偏低", "effect": "含量不足", "cause": "计量泵磨损",
        "controls": "在线称重抽检", "severity": "6", "occurrence": "4", "detection": "5"}  # fmt: skip


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4")
def test_the_pages_show_the_demo_fmea_and_drive_an_assessment_to_signed_approval(
    client: TestClient, db: Database
) -> None:
    with db.sessions() as session:
        demo = session.scalars(select(RiskAssessment.number)).one()
    log_in(client, "chenjing", language="en")
    listing = client.get("/qms/risks")
    assert listing.status_code == 200 and f'data-number="{demo}"' in listing.text
    assert 'data-testid="new-risk"' in listing.text and 'data-testid="risks-tab"' in listing.text
    assert f'data-number="{demo}"' in client.get("/qms/risks", params={"subject_kind": "process"}).text
    assert f'data-number="{demo}"' not in client.get("/qms/risks", params={"subject_kind": "change"}).text
    assert f'data-number="{demo}"' not in client.get("/qms/risks", params={"status": "open"}).text
    page = client.get(f"/qms/risks/{demo}").text
    for testid in ("risk-facts", "risk-matrix", "bands", "heat-map", "risk-items", "signatures", "capa-link",
                   "audit-trail", "revise-form", "withdraw-form"):  # fmt: skip
        assert f'data-testid="{testid}"' in page, testid
    assert 'data-decision="approve"' in page and 'data-testid="add-item-form"' not in page
    assert "胶塞未完全压紧" in page

    # a new assessment: an unknown change is refused, a missing title is 422, both writing nothing
    assert client.get("/qms/risks/new").status_code == 200
    form = {"title": "灌装机更换风险评估", "subject_kind": "change", "subject_ref": "CC-1999-0001",
            "action_threshold": "100", "severity_threshold": "9"}  # fmt: skip
    before = _counts(db)
    refused = client.post("/qms/risks/new", data=form)
    assert refused.status_code == 404 and "CC-1999-0001" in refused.text and _counts(db) == before
    blank = client.post("/qms/risks/new", data={**form, "title": "", "subject_kind": "equipment"})
    assert blank.status_code == 422 and _counts(db) == before
    made = client.post("/qms/risks/new", data={**form, "subject_kind": "equipment", "subject_ref": "灌装机 FL-02"},
                       follow_redirects=False)  # fmt: skip
    assert made.status_code == 303, made.text
    number = made.headers["location"].split("?")[0].rsplit("/", 1)[1]
    url = f"/qms/risks/{number}"
    assert 'data-testid="add-item-form"' in client.get(url).text

    # a score out of 1–10 is 422; a high item without an action stops the submission
    before = _counts(db)
    assert client.post(f"{url}/items", data={**ITEM, "severity": "11"}).status_code == 422
    assert _counts(db) == before
    assert client.post(f"{url}/items", data=ITEM, follow_redirects=False).status_code == 303
    page = client.get(url).text
    assert 'data-rpn="120"' in page and 'data-testid="action-missing"' in page
    stopped = client.post(f"{url}/submit")
    assert stopped.status_code == 409 and "no action" in stopped.text and _status(db, number) == "draft"
    edited = client.post(f"{url}/items/1", data={**ITEM, "action": "更换计量泵", "residual_severity": "6",
                                                 "residual_occurrence": "2", "residual_detection": "5"},
                         follow_redirects=False)  # fmt: skip
    assert edited.status_code == 303, edited.text
    assert client.post(f"{url}/submit", follow_redirects=False).status_code == 303
    page = client.get(url).text
    assert (
        'data-testid="approve-form"' not in page and 'data-testid="author-note"' in page
    )  # chenjing wrote it

    log_in(client, "zhaomin", language="en")
    assert 'data-testid="approve-form"' in client.get(url).text
    wrong = client.post(f"{url}/approve", data={"password": "wrong", "login": "zhaomin"})
    assert wrong.status_code in (401, 403) and _status(db, number) == "in_review"
    signed = client.post(f"{url}/approve", data={"password": DEMO_PASSWORD, "login": "zhaomin", "comment": "同意"},
                         follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303, signed.text
    assert _status(db, number) == "approved"
    assert 'data-decision="approve"' in client.get(url).text

    log_in(client, "inspector", language="en")
    page = client.get(url)
    assert page.status_code == 200 and "-form" not in page.text.split('data-testid="signatures"')[1].split(
        'data-testid="audit-trail"')[0]  # fmt: skip
    assert client.get("/qms/risks/new").status_code == 403
    log_in(client, "zhangwei", language="en")
    assert client.get("/qms/risks").status_code == 403


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4")
def test_the_api_validates_refuses_without_permission_and_follows_the_lifecycle(
    client: TestClient, db: Database
) -> None:
    qa, operator = token(client, "chenjing"), token(client, "zhangwei")
    body = {
        "title": "冻干机控制系统升级风险评估",
        "subject_kind": "validation",
        "subject_ref": "FD-01 控制系统 CSV",
    }
    before = _counts(db)
    for bad in ({**body, "subject_kind": "vendor"}, {**body, "title": ""}, {**body, "subject_kind": "deviation", "subject_ref": ""},
                {**body, "action_threshold": 0}, {**body, "severity_threshold": 11}, {**body, "extra": 1}):  # fmt: skip
        response = client.post("/api/v1/qms/risks", json=bad, headers=qa)
        assert response.status_code == 422, (bad, response.text)
    unknown = {**body, "subject_kind": "deviation", "subject_ref": "DEV-1999-0001"}
    assert client.post("/api/v1/qms/risks", json=unknown, headers=qa).status_code == 404
    assert client.post("/api/v1/qms/risks", json=body, headers=operator).status_code == 403
    assert client.get("/api/v1/qms/risks", headers=operator).status_code == 403
    assert _counts(db) == before

    made = client.post("/api/v1/qms/risks", json=body, headers=qa)
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    base = f"/api/v1/qms/risks/{number}"
    item = {"failure_mode": "审计追踪未启用", "severity": 9, "occurrence": 2, "detection": 2}
    before = _counts(db)
    for bad in ({**item, "severity": 0}, {**item, "residual_severity": 2}, {**item, "rpn": 36}):
        assert client.post(f"{base}/items", json=bad, headers=qa).status_code == 422, bad
    assert (
        client.post(f"{base}/items", json={**item, "capa_number": "CAPA-1999-0001"}, headers=qa).status_code
        == 404
    )
    assert client.post(f"{base}/items", json=item, headers=operator).status_code == 403
    assert _counts(db) == before
    added = client.post(f"{base}/items", json=item, headers=qa)
    assert added.status_code == 201 and added.json()["risk_items"][0]["rpn"] == 36
    assert added.json()["risk_items"][0]["needs_action"]  # S 9 ≥ the severity threshold
    assert client.post(f"{base}/submit", headers=qa).status_code == 409
    fixed = {**item, "action": "上线前启用审计追踪并确认", "residual_severity": 9, "residual_occurrence": 1,
             "residual_detection": 1}  # fmt: skip
    assert client.put(f"{base}/items/1", json=fixed, headers=qa).status_code == 200
    assert client.post(f"{base}/submit", headers=qa).status_code == 200
    approver = token(client, "qianyu")
    unaccepted = client.post(
        f"{base}/approve", json={"password": DEMO_PASSWORD, "login": "qianyu"}, headers=approver
    )
    assert unaccepted.status_code == 409, unaccepted.text
    assert unaccepted.json()["error"]["code"] == "risk_transition_refused" and "剩余风险" in unaccepted.text
    assert (
        client.post(f"{base}/return", json={"reason": "补充剩余风险接受理由"}, headers=approver).status_code
        == 200
    )
    fixed["residual_acceptance"] = "上线前确认审计追踪已启用且不可关闭，剩余风险可接受"
    assert client.put(f"{base}/items/1", json=fixed, headers=qa).status_code == 200
    assert client.post(f"{base}/submit", headers=qa).status_code == 200
    own = client.post(f"{base}/approve", json={"password": DEMO_PASSWORD}, headers=qa)
    assert own.status_code == 403, own.text
    signed = client.post(
        f"{base}/approve", json={"password": DEMO_PASSWORD, "login": "qianyu"}, headers=approver
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["signatures"][0]["action"] == "qms.risk.approve" and signed.json()["revision"] == 1
    detail = client.get(base, headers=operator)
    assert detail.status_code == 403
    detail = client.get(base, headers=qa).json()
    assert detail["status"] == "approved" and detail["content_sm3"] == signed.json()["content_sm3"]
    assert detail["matrix"]["after"] == {"high": 0, "medium": 0, "low": 1}
    assert client.post(f"{base}/items", json=item, headers=qa).status_code == 409
    revised = client.post(f"{base}/revise", json={"reason": "系统再次升级"}, headers=qa)
    assert (
        revised.status_code == 200 and revised.json()["revision"] == 2 and revised.json()["status"] == "draft"
    )


@pytest.mark.clause("SH-6.2.4")
def test_a_change_and_a_deviation_list_their_risk_assessments(client: TestClient, db: Database) -> None:
    from pharmatrace.qms.change_models import ChangeRequest as Change
    from pharmatrace.qms.deviation_models import Deviation

    with db.sessions() as session:
        change = session.scalars(select(Change.number).order_by(Change.id)).first()
        deviation = session.scalars(select(Deviation.number).order_by(Deviation.id)).first()
    assert change and deviation, "the demo plant has a change and a deviation"
    made = client.post("/api/v1/qms/risks", headers=token(client, "chenjing"),
                       json={"title": "变更风险评估", "subject_kind": "change", "subject_ref": change.lower()})  # fmt: skip
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    log_in(client, "chenjing", language="en")
    listed = client.get(f"/qms/changes/{change}").text.split('data-testid="risk-assessments"')[1]
    assert f'data-risk="{number}"' in listed.split("</section>")[0]
    none = client.get(f"/qms/deviations/{deviation}").text.split('data-testid="risk-assessments"')[1]
    section = none.split("</section>")[0]
    assert "data-risk=" not in section
    # the link opens the new assessment with its subject filled in
    link = f'href="/qms/risks/new?subject_kind=deviation&amp;subject_ref={deviation}"'
    assert link in section, section
    form = client.get(f"/qms/risks/new?subject_kind=deviation&subject_ref={deviation}").text
    assert f'name="subject_ref" value="{deviation}"' in form and '<option value="deviation" selected' in form
    log_in(client, "lina", language="en")  # reads quality records, drafts no FMEA: no link
    assert 'data-testid="new-risk-link"' not in client.get(f"/qms/deviations/{deviation}").text
