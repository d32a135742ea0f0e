"""Complaint pages and API: the list with its filters and the demo's complaints, a complaint's page with its links
to the batch and the code's trace page, its audit trail and the forms its reader may use; one complaint driven
through investigation, response and signed closure on the pages; the API refuses bad input with 422 and a user
without the permission with 403, writing nothing (SH-6.2.4, SH-7.1.4)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from demo_codes import demo_codes
from helpers import count_rows, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.qms import complaints as service
from pharmatrace.qms.complaint_models import Complaint
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as test_client:
        yield test_client


def _demo(db: Database) -> dict[str, str]:
    with db.sessions() as session:
        return {c.status: c.number for c in session.scalars(select(Complaint).order_by(Complaint.id))}


def _counts(db: Database) -> tuple[int, int]:
    return count_rows(db, Complaint), count_rows(db, AuditEntry)


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4")
def test_the_pages_show_the_demo_and_drive_a_complaint_to_signed_closure(
    client: TestClient, db: Database
) -> None:
    demo = _demo(db)
    assert {"closed", "investigating"} <= set(demo)
    log_in(client, "chenjing", language="en")
    listing = client.get("/qms/complaints")
    assert listing.status_code == 200
    assert all(f'data-number="{n}"' in listing.text for n in demo.values())
    assert 'data-testid="new-complaint"' in listing.text and 'data-testid="complaints-tab"' in listing.text
    closed_only = client.get("/qms/complaints", params={"status": "closed"}).text
    assert (
        f'data-number="{demo["closed"]}"' in closed_only
        and f'data-number="{demo["investigating"]}"' not in closed_only
    )
    majors = client.get("/qms/complaints", params={"classification": "major"}).text
    assert (
        f'data-number="{demo["investigating"]}"' in majors and f'data-number="{demo["closed"]}"' not in majors
    )
    overdue = client.get("/qms/complaints", params={"overdue": "true"}).text
    assert f'data-number="{demo["closed"]}"' not in overdue  # answered: never overdue

    closed = client.get(f"/qms/complaints/{demo['closed']}").text
    with db.sessions() as session:
        c = service.get_complaint(session, demo["closed"])
        order_no, code = c.order_no, c.code_value
    assert f'href="/mes/batches/{order_no}"' in closed and f'href="/trace/codes/{code}"' in closed
    for testid in (
        "complaint-facts",
        "classification",
        "investigation",
        "response",
        "signatures",
        "audit-trail",
    ):
        assert f'data-testid="{testid}"' in closed, testid
    assert 'data-decision="close"' in closed
    batch_page = client.get(f"/mes/batches/{order_no}")  # the batch record lists its complaints (SH-6.2.4)
    assert batch_page.status_code == 200, batch_page.text
    listed = batch_page.text.split('data-testid="complaints"')[1].split("</table>")[0]
    assert all(f'data-complaint="{n}"' in listed for n in demo.values())
    for form in (
        "classify-form",
        "assign-form",
        "investigation-form",
        "respond-form",
        "close-form",
        "cancel-form",
    ):
        assert f'data-testid="{form}"' not in closed, form  # a closed complaint offers no step

    number = demo["investigating"]
    page = client.get(f"/qms/complaints/{number}").text
    for form in ("classify-form", "assign-form", "investigation-form", "respond-form", "cancel-form"):
        assert f'data-testid="{form}"' in page, form
    bad = client.post(
        f"/qms/complaints/{number}/investigation", data={"findings": "", "conclusion": "justified"}
    )
    assert bad.status_code == 422 and 'data-testid="error"' in bad.text
    before = _counts(db)
    refused = client.post(f"/qms/complaints/{number}/investigation",
                          data={"findings": "留样未见异物", "capa_number": "CAPA-1999-0001"})  # fmt: skip
    assert refused.status_code == 404 and _counts(db) == before
    saved = client.post(f"/qms/complaints/{number}/investigation", data={
        "findings": "留样 20 瓶目检未见异物；批记录灌装过滤完整性测试合格", "batch_record_reviewed": "true",
        "retained_sample_reviewed": "true", "conclusion": "not_justified"}, follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303, saved.text
    answered = client.post(f"/qms/complaints/{number}/response", data={"response": "经调查投诉不成立"},
                           follow_redirects=False)  # fmt: skip
    assert answered.status_code == 303, answered.text
    page = client.get(f"/qms/complaints/{number}").text
    assert (
        'data-testid="close-form"' not in page and 'data-testid="investigator-note"' in page
    )  # chenjing investigated

    log_in(client, "zhaomin", language="en")
    page = client.get(f"/qms/complaints/{number}").text
    assert 'data-testid="close-form"' in page
    wrong = client.post(f"/qms/complaints/{number}/close", data={"password": "wrong", "login": "zhaomin"})
    assert wrong.status_code in (401, 403) and _complaint_status(db, number) == "responded"
    signed = client.post(f"/qms/complaints/{number}/close",
                         data={"password": DEMO_PASSWORD, "login": "zhaomin", "comment": "同意关闭"},
                         follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303, signed.text
    assert _complaint_status(db, number) == "closed"

    log_in(client, "inspector", language="en")
    page = client.get(f"/qms/complaints/{number}")
    assert page.status_code == 200 and "-form" not in page.text.split('data-testid="signatures"')[1].split(
        'data-testid="audit-trail"')[0]  # fmt: skip
    assert client.get("/qms/complaints/new").status_code == 403
    log_in(client, "zhangwei", language="en")
    assert client.get("/qms/complaints").status_code == 403


def _complaint_status(db: Database, number: str) -> str:
    with db.sessions() as session:
        return service.get_complaint(session, number).status


@pytest.mark.clause("SH-6.2.4")
def test_intake_on_the_page_refuses_an_unknown_batch_and_registers_a_known_one(
    client: TestClient, db: Database
) -> None:
    batch = demo_codes(db).batch_done
    log_in(client, "chenjing", language="en")
    assert client.get("/qms/complaints/new").status_code == 200
    form = {"channel": "letter", "complainant_name": "张先生", "category": "suspected_counterfeit",
            "description": "包装印刷模糊，疑似假药", "batch_no": "XX0000000", "classification": "major",
            "classification_rationale": "疑似假药须优先调查"}  # fmt: skip
    before = _counts(db)
    refused = client.post("/qms/complaints/new", data=form)
    assert refused.status_code == 404 and "XX0000000" in refused.text and _counts(db) == before
    minor = client.post("/qms/complaints/new", data={**form, "batch_no": batch, "classification": "minor"})
    assert minor.status_code == 422 and "at least major" in minor.text and _counts(db) == before
    made = client.post("/qms/complaints/new", data={**form, "batch_no": batch}, follow_redirects=False)
    assert made.status_code == 303, made.text
    number = made.headers["location"].split("?")[0].rsplit("/", 1)[1]
    page = client.get(f"/qms/complaints/{number}").text
    assert batch in page and 'data-testid="assign-form"' in page


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4")
def test_the_api_validates_refuses_without_permission_and_follows_the_lifecycle(
    client: TestClient, db: Database
) -> None:
    qa, operator = token(client, "chenjing"), token(client, "zhangwei")
    body = {"channel": "regulator", "complainant_name": "市药监局", "category": "quality",
            "description": "抽检发现装量差异", "batch_no": demo_codes(db).batch_done}  # fmt: skip
    before = _counts(db)
    for bad in ({**body, "channel": "fax"}, {**body, "description": ""}, {k: v for k, v in body.items() if k != "batch_no"},
                {**body, "category": "adverse_reaction", "classification": "minor", "classification_rationale": "轻"},
                {**body, "extra": 1}):  # fmt: skip
        response = client.post("/api/v1/qms/complaints", json=bad, headers=qa)
        assert response.status_code == 422, (bad, response.text)
    assert (
        client.post("/api/v1/qms/complaints", json={**body, "batch_no": "ZZ0000000"}, headers=qa).status_code
        == 404
    )
    assert client.post("/api/v1/qms/complaints", json=body, headers=operator).status_code == 403
    assert client.get("/api/v1/qms/complaints", headers=operator).status_code == 403
    assert _counts(db) == before

    made = client.post("/api/v1/qms/complaints", json=body, headers=qa)
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    assert made.json()["status"] == "received" and made.json()["due_date"]
    steps = (
        ("post", "classification", {"classification": "critical", "rationale": "监管部门抽检"}),
        ("post", "investigator", {"investigator": "qianyu"}),
        ("put", "investigation", {"findings": "复核装量记录合格", "conclusion": "not_justified",
                                  "batch_record_reviewed": True}),
        ("post", "response", {"response": "已书面回复监管部门"}),
    )  # fmt: skip
    for method, path, payload in steps:
        response = getattr(client, method)(
            f"/api/v1/qms/complaints/{number}/{path}", json=payload, headers=qa
        )
        assert response.status_code == 200, (path, response.text)
    investigator = token(client, "qianyu")
    own = client.post(
        f"/api/v1/qms/complaints/{number}/close", json={"password": DEMO_PASSWORD}, headers=investigator
    )
    assert own.status_code == 403, own.text
    closed = client.post(f"/api/v1/qms/complaints/{number}/close", json={"password": DEMO_PASSWORD, "login": "chenjing"},
                         headers=qa)  # fmt: skip
    assert closed.status_code == 200, closed.text
    assert closed.json()["signatures"][0]["action"] == "qms.complaint.close"
    detail = client.get(f"/api/v1/qms/complaints/{number}", headers=qa).json()
    assert detail["status"] == "closed" and detail["content_sm3"] == closed.json()["content_sm3"]
    edit = client.post(f"/api/v1/qms/complaints/{number}/classification",
                       json={"classification": "major", "rationale": "复核", "reason": "复核"}, headers=qa)  # fmt: skip
    assert edit.status_code == 409
