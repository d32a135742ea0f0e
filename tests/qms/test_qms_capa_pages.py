"""CAPA pages and API: the list with its dashboard (counts by status, overdue, ageing chart) and the demo's
CAPAs in their stages; a CAPA's page with its actions, evidence, signed decisions and the forms its reader may
use; the same lifecycle through ``/api/v1/qms/capa`` (SH-6.2.4, TJ-9.4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import count_rows, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.qms import capa as service
from pharmatrace.qms.capa_models import Capa, CapaDecision
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as test_client:
        yield test_client


def _demo(db: Database) -> dict[str, str]:
    with db.sessions() as session:
        return {c.status: c.number for c in session.scalars(select(Capa).order_by(Capa.id))}


@pytest.mark.clause("SH-6.2.4", "TJ-9.4")
def test_the_demo_capas_on_the_list_and_their_pages(client: TestClient, db: Database) -> None:
    demo = _demo(db)
    assert {"implementation", "draft", "closed"} <= set(demo)
    with db.sessions() as session:
        sources = {c.status: c.source_type for c in session.scalars(select(Capa))}
    assert sources["draft"] == "oos" and sources["implementation"] in ("deviation", "oos")

    log_in(client, "chenjing", language="en")
    board = client.get("/qms/capa")
    assert board.status_code == 200
    html = board.text
    for testid in ("dashboard", "by-status", "ageing-chart", "capas", "new-capa"):
        assert f'data-testid="{testid}"' in html, testid
    assert all(f'data-number="{n}"' in html for n in demo.values())
    assert "http" not in html.split('data-testid="ageing-chart"')[1].split("</svg>")[0]

    draft = client.get(f"/qms/capa/{demo['draft']}")
    assert draft.status_code == 200 and 'data-testid="approve-form"' in draft.text  # QA, not its author
    implementation = client.get(f"/qms/capa/{demo['implementation']}").text
    for testid in ("capa-facts", "actions", "signatures", "audit-trail", "complete-form-2", "cancel-form"):
        assert f'data-testid="{testid}"' in implementation, testid
    closed = client.get(f"/qms/capa/{demo['closed']}").text
    assert 'data-decision="effectiveness"' in closed and "cancel-form" not in closed

    log_in(
        client, "zhangwei", language="en"
    )  # an operator: no quality view, but the owner of an action of one CAPA
    assert client.get("/qms/capa").status_code == 403
    mine = client.get(f"/qms/capa/{demo['implementation']}")
    assert mine.status_code == 200 and 'data-testid="complete-form-2"' in mine.text
    assert client.get(f"/qms/capa/{demo['closed']}").status_code == 403
    done = client.post(f"/qms/capa/{demo['implementation']}/actions/2/complete",
                       data={"evidence": "第二批已执行双人复核"}, files={"file": ("复核记录.pdf", PDF, "application/pdf")},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, done.text
    with db.sessions() as session:
        capa = service.get_capa(session, demo["implementation"])
        assert capa.status == "effectiveness_pending" and capa.actions[1].evidence_name == "复核记录.pdf"
        digest = capa.actions[1].evidence_sm3
    log_in(client, "inspector", language="en")
    page = client.get(f"/qms/capa/{demo['implementation']}").text
    assert "complete-form" not in page and "effectiveness-form" not in page
    download = client.get(f"/qms/capa/{demo['implementation']}/evidence/{digest}")
    assert download.status_code == 200 and download.content == PDF


@pytest.mark.clause("SH-6.2.4", "TJ-9.4")
def test_the_capa_lifecycle_through_the_api(client: TestClient, db: Database) -> None:
    lina, qa = token(client, "lina"), token(client, "chenjing")
    with db.sessions() as session:
        oos = session.scalar(select(Capa.source_ref).where(Capa.source_type == "oos"))
    day = service.today()
    body = {
        "kind": "corrective", "source_type": "oos", "source_ref": oos, "title": "API CAPA", "problem": "问题",
        "owner": "lina", "due_date": str(day + timedelta(days=30)),
        "actions": [{"description": "措施", "owner": "lina", "due_date": str(day + timedelta(days=10))}],
    }  # fmt: skip
    assert client.post("/api/v1/qms/capa", json=body, headers=qa).status_code == 201  # QA may raise too
    refused = client.post("/api/v1/qms/capa", json={**body, "source_ref": "OOS0000-0000"}, headers=lina)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    created = client.post("/api/v1/qms/capa", json=body, headers=lina)
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    assert client.post(f"/api/v1/qms/capa/{number}/approve", headers=lina, json={}).status_code == 403
    approval = {"effectiveness_criteria": "复查", "effectiveness_due": str(day), "password": DEMO_PASSWORD,
                "login": "chenjing"}  # fmt: skip
    approved = client.post(f"/api/v1/qms/capa/{number}/approve", headers=qa, json=approval)
    assert approved.status_code == 200, approved.text
    assert approved.json()["signatures"][0]["action"] == "qms.capa.approve"
    decisions = count_rows(db, CapaDecision)
    early = client.post(f"/api/v1/qms/capa/{number}/effectiveness", headers=qa,
                        json={"verdict": "effective", "evidence": "x", "password": DEMO_PASSWORD})  # fmt: skip
    assert early.status_code == 409 and count_rows(db, CapaDecision) == decisions
    done = client.post(f"/api/v1/qms/capa/{number}/actions/1/complete", headers=lina, data={"evidence": "完成"},
                       files={"file": ("record.pdf", PDF, "application/pdf")})  # fmt: skip
    assert done.status_code == 200, done.text
    digest = done.json()["evidence_sm3"]
    assert client.get(f"/api/v1/qms/capa/{number}/evidence/{digest}", headers=qa).content == PDF
    closed = client.post(f"/api/v1/qms/capa/{number}/effectiveness", headers=qa,
                         json={"verdict": "effective", "evidence": "复查合格", "password": DEMO_PASSWORD})  # fmt: skip
    assert closed.status_code == 200, closed.text
    detail = client.get(f"/api/v1/qms/capa/{number}", headers=lina).json()
    assert detail["status"] == "closed" and [d["verdict"] for d in detail["decisions"]] == [
        "approved",
        "effective",
    ]
    board = client.get("/api/v1/qms/capa/dashboard", headers=qa).json()
    assert board["by_status"]["closed"] >= 2 and set(board["ageing"]) == {"0-30", "31-60", "61-90", ">90"}
    listed = client.get("/api/v1/qms/capa", params={"status": "closed"}, headers=qa).json()
    assert number in {c["number"] for c in listed}
