"""Audit pages and API: the list with its filters by kind, state and overdue and the demo's audits, the planning
form, an audit's page with its TJ-11 checklist linking to the evidence, its findings with their CAPA, its signed
closure and audit trail; one audit driven from plan to signed closure on the pages, never closed by its lead
auditor; the API refuses bad input with 422 and a user without the permission with 403, writing nothing
(TJ-11.1, TJ-11.2.1, SH-6.2.4, SH-7.1.4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import count_rows, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.qms import audits as service
from pharmatrace.qms.audit_models import Audit, AuditFinding
from pharmatrace.qms.capa_models import Capa
from pharmatrace.storage.engine import Database

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


def _demo(db: Database) -> dict[str, str]:
    with db.sessions() as session:
        return {a.status: a.number for a in session.scalars(select(Audit).order_by(Audit.id))}


def _counts(db: Database) -> tuple[int, int, int]:
    return count_rows(db, Audit), count_rows(db, AuditFinding), count_rows(db, AuditEntry)


def _status(db: Database, number: str) -> str:
    with db.sessions() as session:
        return service.get_audit(session, number).status


def _capa(db: Database) -> str:
    with db.sessions() as session:
        number = session.scalar(select(Capa.number).order_by(Capa.id).limit(1))
    assert number is not None
    return number


@pytest.mark.clause("TJ-11.1", "TJ-11.2.1", "SH-6.2.4", "SH-7.1.4")
def test_the_pages_show_the_demo_and_drive_an_audit_to_signed_closure(
    client: TestClient, db: Database
) -> None:
    demo = _demo(db)
    closed, planned = demo["closed"], demo["planned"]
    log_in(client, "chenjing", language="en")
    listing = client.get("/qms/audits")
    assert listing.status_code == 200
    assert f'data-number="{closed}"' in listing.text and f'data-number="{planned}"' in listing.text
    assert 'data-testid="new-audit"' in listing.text and 'data-testid="audits-tab"' in listing.text
    suppliers = client.get("/qms/audits", params={"kind": "supplier"}).text
    assert f'data-number="{planned}"' in suppliers and f'data-number="{closed}"' not in suppliers
    closed_only = client.get("/qms/audits", params={"status": "closed"}).text
    assert f'data-number="{closed}"' in closed_only and f'data-number="{planned}"' not in closed_only

    page = client.get(f"/qms/audits/{closed}").text
    for testid in ("audit-facts", "checklist", "findings", "signatures", "audit-trail", "capa-link"):
        assert f'data-testid="{testid}"' in page, testid
    # closed by 赵敏, named as her signed decision names her, not by her bare log-in
    assert "赵敏 (zhaomin)" in page.split('data-testid="closed-by"')[1].split("</dd>")[0]
    for link in (
        "/compliance",
        "/qms/changes",
        "/qms/deviations",
        "/documents",
        "/admin/access-review",
        "/audit",
    ):
        assert f'href="{link}"' in page, link  # TJ-11.2.1: the evidence the system holds
    assert 'data-decision="close"' in page and "TJ-11.2.1 e" in page
    for form in (
        "start-form",
        "assess-form",
        "add-item-form",
        "add-finding-form",
        "close-form",
        "cancel-form",
    ):
        assert f'data-testid="{form}"' not in page, form  # a closed audit offers no step
    assert 'data-testid="supplier-link"' in client.get(f"/qms/audits/{planned}").text

    # planning on the page: bad input is refused with nothing written
    assert client.get("/qms/audits/new").status_code == 200
    past = service.today() - timedelta(days=3)
    plan = {"kind": "supplier", "title": "洁净区 GMP 自检", "scope": "冻干车间", "auditee": "生产部",
            "lead_auditor": "chenjing", "planned_start": str(past), "planned_end": str(past + timedelta(days=1))}  # fmt: skip
    before = _counts(db)
    refused = client.post("/qms/audits/new", data=plan)
    assert refused.status_code == 422 and "names its supplier" in refused.text and _counts(db) == before
    made = client.post("/qms/audits/new", data={**plan, "kind": "self_inspection"}, follow_redirects=False)
    assert made.status_code == 303, made.text
    number = made.headers["location"].split("?")[0].rsplit("/", 1)[1]
    overdue = client.get("/qms/audits", params={"overdue": "true"}).text
    assert f'data-number="{number}"' in overdue and f'data-number="{planned}"' not in overdue

    url = f"/qms/audits/{number}"
    steps: tuple[tuple[str, dict[str, str]], ...] = (
        ("items", {"code": "GMP-1", "question": "中间产品贮罐状态标识齐全？"}),
        ("start", {}),
        ("items/1", {"result": "finding", "evidence_note": "2 个贮罐无状态标识"}),
        ("findings", {"classification": "major", "clause_ref": "GMP 第一百九十二条", "description": "贮罐无状态标识"}),
        ("findings/1/response", {"response": "已悬挂标识并修订交接班检查表", "capa_number": _capa(db)}),
    )  # fmt: skip
    for path, data in steps:
        response = client.post(f"{url}/{path}", data=data, follow_redirects=False)
        assert response.status_code == 303, (path, response.text)
    # the plan changes while the audit is carried out, with a reason (and not without one)
    assert 'data-testid="plan-form"' in client.get(url).text
    moved = {**plan, "kind": "self_inspection", "planned_end": str(past + timedelta(days=5))}
    del moved["kind"]
    before = _counts(db)
    assert client.post(f"{url}/plan", data=moved).status_code == 422 and _counts(db) == before
    changed = client.post(f"{url}/plan", data={**moved, "reason": "现场检查延长"}, follow_redirects=False)
    assert changed.status_code == 303, changed.text
    assert str(past + timedelta(days=5)) in client.get(url).text
    # who recorded the response does not verify it (SH-7.1.4)
    own = client.post(f"{url}/findings/1/verification", data={"note": "现场复查"})
    assert own.status_code == 403 and "may not verify" in own.text
    log_in(client, "qianyu", language="en")
    assert (
        client.post(
            f"{url}/findings/1/verification", data={"note": "现场复查"}, follow_redirects=False
        ).status_code
        == 303
    )
    log_in(client, "chenjing", language="en")
    assert client.post(f"{url}/report", follow_redirects=False).status_code == 303
    page = client.get(url).text
    assert 'data-testid="close-form"' not in page and 'data-testid="lead-auditor-note"' in page
    assert (
        client.post(f"{url}/close", data={"conclusion": "同意", "password": DEMO_PASSWORD}).status_code == 403
    )

    log_in(client, "zhaomin", language="en")
    assert 'data-testid="close-form"' in client.get(url).text
    before = _counts(db)
    bad = client.post(f"{url}/close", data={"password": DEMO_PASSWORD, "login": "zhaomin"})
    assert bad.status_code == 422 and _counts(db) == before  # no conclusion
    wrong = client.post(
        f"{url}/close", data={"conclusion": "同意关闭", "password": "wrong", "login": "zhaomin"}
    )
    assert wrong.status_code in (401, 403) and _status(db, number) == "reporting"
    signed = client.post(f"{url}/close", data={"conclusion": "整改有效，同意关闭", "password": DEMO_PASSWORD,
                                               "login": "zhaomin"}, follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303, signed.text
    assert _status(db, number) == "closed"

    log_in(client, "inspector", language="en")
    page = client.get(url)
    assert page.status_code == 200 and "-form" not in page.text.split('data-testid="checklist"')[1].split(
        'data-testid="audit-trail"')[0]  # fmt: skip
    assert client.get("/qms/audits/new").status_code == 403
    log_in(client, "zhangwei", language="en")
    assert client.get("/qms/audits").status_code == 403


@pytest.mark.clause("TJ-11.1", "TJ-11.2.1", "SH-6.2.4")
def test_the_api_validates_and_refuses_without_permission(client: TestClient, db: Database) -> None:
    qa, operator = token(client, "chenjing"), token(client, "zhangwei")
    today = service.today()
    body = {"kind": "computerized_system", "title": "LIMS 系统审计", "scope": "TJ-11 审计点", "auditee": "QC",
            "lead_auditor": "chenjing", "planned_start": str(today), "planned_end": str(today + timedelta(days=1))}  # fmt: skip
    before = _counts(db)
    for bad in ({**body, "kind": "internal"}, {**body, "title": ""}, {**body, "kind": "supplier"},
                {**body, "planned_end": str(today - timedelta(days=1))}, {**body, "supplier": "SUP-SL-DS"},
                {**body, "extra": 1}):  # fmt: skip
        response = client.post("/api/v1/qms/audits", json=bad, headers=qa)
        assert response.status_code == 422, (bad, response.text)
    assert client.post("/api/v1/qms/audits", json=body, headers=operator).status_code == 403
    assert client.get("/api/v1/qms/audits", headers=operator).status_code == 403
    assert _counts(db) == before

    made = client.post("/api/v1/qms/audits", json=body, headers=qa)
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    assert [i["code"] for i in made.json()["items"]] == [f"TJ-11.2.1 {c}" for c in "abcde"]
    assert client.post(f"/api/v1/qms/audits/{number}/start", headers=qa).status_code == 200
    base = f"/api/v1/qms/audits/{number}"
    before = _counts(db)
    assert client.put(f"{base}/items/1", json={"result": "not_assessed"}, headers=qa).status_code == 422
    finding = {"classification": "critical", "description": "审计追踪可被关闭"}
    assert (
        client.post(f"{base}/findings", json={**finding, "classification": "severe"}, headers=qa).status_code
        == 422
    )
    unknown = client.post(f"{base}/findings", json={**finding, "capa_number": "CAPA-1999-0001"}, headers=qa)
    assert unknown.status_code == 404, unknown.text
    assert client.put(f"{base}/items/1", json={"result": "conforms"}, headers=operator).status_code == 403
    assert _counts(db) == before
    assessed = client.put(f"{base}/items/1", json={"result": "conforms", "evidence_note": "见 /audit/functions"},
                          headers=qa)  # fmt: skip
    assert assessed.status_code == 200 and assessed.json()["items"][0]["result"] == "conforms"
    added = client.post(f"{base}/findings", json={**finding, "capa_number": _capa(db)}, headers=qa)
    assert added.status_code == 201 and added.json()["findings"][0]["capa_number"] == _capa(db)
    listed = client.get(
        "/api/v1/qms/audits", params={"kind": "computerized_system", "status": "open"}, headers=qa
    )
    assert number in [a["number"] for a in listed.json()]
