"""Validation pages and API: the list with its filters, the revalidation panel and the demo's requalification of
FD-01 and process validation; a qualification drafted, approved, executed (with a correction), reported and approved
by signature on the pages, shown on the equipment's page; the API refuses bad input with 422, unknown records with
404 and a user without the permission with 403, writing nothing (SH-6.2.4, SH-6.3.2.1.c, SH-7.1.4)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import count_rows, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.equipment.models import Equipment
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.qms import validation as service
from pharmatrace.qms.validation_models import Validation, ValidationDecision, ValidationResult, ValidationTest
from pharmatrace.storage.engine import Database

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on PostgreSQL (ADR 0003)


def _counts(db: Database) -> tuple[int, ...]:
    return tuple(
        count_rows(db, m)
        for m in (Validation, ValidationTest, ValidationResult, ValidationDecision, AuditEntry)
    )


def _status(db: Database, number: str) -> tuple[str, str | None]:
    with db.sessions() as session:
        v = service.get_validation(session, number)
        return v.status, v.outcome


@pytest.mark.clause("SH-6.3.2.1.c", "SH-6.2.4", "SH-7.1.4")
def test_the_pages_drive_a_qualification_to_its_signed_report_and_show_it_on_the_equipment(
    client: TestClient, db: Database
) -> None:
    with db.sessions() as session:
        demo = {v.status: v.number for v in session.scalars(select(Validation))}
        ts01 = session.scalars(select(Equipment.id).where(Equipment.code == "TS-01")).one()
    assert set(demo) == {"completed", "executing"}
    log_in(client, "wuhao", language="en")
    listing = client.get("/qms/validation")
    assert listing.status_code == 200 and 'data-testid="revalidation-due"' in listing.text
    assert all(f'data-number="{n}"' in listing.text for n in demo.values())
    assert 'data-testid="new-validation"' in listing.text and 'data-testid="validation-tab"' in listing.text
    process = client.get("/qms/validation", params={"kind": "process"}).text
    assert (
        f'data-number="{demo["executing"]}"' in process
        and f'data-number="{demo["completed"]}"' not in process
    )
    assert (
        f'data-number="{demo["executing"]}"'
        not in client.get("/qms/validation", params={"status": "completed"}).text
    )
    page = client.get(f"/qms/validation/{demo['completed']}").text
    for testid in (
        "validation-facts",
        "protocol",
        "signatures",
        "equipment-link",
        "conclusion",
        "audit-trail",
    ):
        assert f'data-testid="{testid}"' in page, testid
    assert 'data-decision="report"' in page and 'data-current="no"' in page  # the corrected reading stays

    # a new qualification: an unknown equipment is 404, a missing title 422, both writing nothing
    assert client.get("/qms/validation/new").status_code == 200
    form = {"kind": "equipment_qualification", "title": "隧道烘箱再确认", "subject": "EQ-NOPE", "stages": ["OQ"],
            "revalidation_months": "12"}  # fmt: skip
    before = _counts(db)
    refused = client.post("/qms/validation/new", data=form)
    assert refused.status_code == 404 and "EQ-NOPE" in refused.text
    assert (
        client.post("/qms/validation/new", data={**form, "title": "", "subject": "TS-01"}).status_code == 422
    )
    assert (
        client.post("/qms/validation/new", data={**form, "subject": "TS-01", "stages": ["PV"]}).status_code
        == 422
    )
    assert _counts(db) == before
    made = client.post("/qms/validation/new", data={**form, "subject": "ts-01"}, follow_redirects=False)
    assert made.status_code == 303, made.text
    number = made.headers["location"].split("?")[0].rsplit("/", 1)[1]
    url = f"/qms/validation/{number}"
    assert 'data-testid="add-item-form"' in client.get(url).text
    stopped = client.post(f"{url}/submit")
    assert stopped.status_code == 409 and _status(db, number) == ("draft", None)
    item = {"stage": "OQ", "item": "空载热分布", "criterion": "各点 ≥ 300 ℃"}
    assert client.post(f"{url}/items", data=item, follow_redirects=False).status_code == 303
    assert client.post(f"{url}/submit", follow_redirects=False).status_code == 303

    log_in(client, "chenjing", language="en")
    assert 'data-testid="approve_protocol-form"' in client.get(url).text
    wrong = client.post(f"{url}/approve_protocol", data={"password": "wrong", "login": "chenjing"})
    assert wrong.status_code in (401, 403) and _status(db, number) == ("protocol_review", None)
    signed = client.post(f"{url}/approve_protocol", data={"password": DEMO_PASSWORD, "login": "chenjing"},
                         follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303, signed.text

    log_in(client, "wuhao", language="en")
    assert 'data-testid="result-form-1"' in client.get(url).text
    assert client.post(f"{url}/items/1/result", data={"observed": "最低点 290 ℃", "outcome": "fail"},
                       follow_redirects=False).status_code == 303  # fmt: skip
    uncorrected = client.post(f"{url}/items/1/result", data={"observed": "最低点 309 ℃", "outcome": "pass"})
    assert uncorrected.status_code == 422
    corrected = client.post(f"{url}/items/1/result", data={"observed": "最低点 309 ℃", "outcome": "pass",
                                                           "correction_reason": "抄录错误"}, follow_redirects=False)  # fmt: skip
    assert corrected.status_code == 303
    page = client.get(url).text
    assert page.count('data-current="no"') == 1 and 'data-result="pass"' in page
    reported = client.post(
        f"{url}/submit_report", data={"conclusion": "OQ 符合接受标准"}, follow_redirects=False
    )
    assert reported.status_code == 303 and _status(db, number) == ("report_review", None)

    log_in(client, "chenjing", language="en")
    assert 'data-testid="expected-outcome"' in client.get(url).text
    approved = client.post(f"{url}/approve_report", data={"password": DEMO_PASSWORD, "login": "chenjing"},
                           follow_redirects=False)  # fmt: skip
    assert approved.status_code == 303, approved.text
    assert _status(db, number) == ("completed", "validated")
    page = client.get(url).text
    assert (
        'data-decision="protocol"' in page
        and 'data-decision="report"' in page
        and 'data-testid="outcome"' in page
    )
    equipment_page = client.get(f"/equipment/{ts01}").text
    assert (
        'data-testid="equipment-validations"' in equipment_page
        and f'data-validation="{number}"' in equipment_page
    )

    log_in(client, "zhangwei", language="en")
    assert client.get("/qms/validation").status_code == 403


@pytest.mark.clause("SH-6.3.2.1.c", "TJ-10.3")
def test_the_api_validates_refuses_without_permission_and_lists_the_due_revalidations(
    client: TestClient, db: Database
) -> None:
    qa, engineer, operator = token(client, "chenjing"), token(client, "wuhao"), token(client, "zhangwei")
    body = {"kind": "process", "title": "注射用丹红冻干粉工艺再验证", "subject": "注射用丹红冻干粉", "stages": ["PV"],
            "revalidation_months": 1}  # fmt: skip
    before = _counts(db)
    for bad in ({**body, "kind": "vendor"}, {**body, "title": ""}, {**body, "stages": []}, {**body, "stages": ["OQ"]},
                {**body, "revalidation_months": 0}, {**body, "extra": 1}):  # fmt: skip
        response = client.post("/api/v1/qms/validation", json=bad, headers=qa)
        assert response.status_code == 422, (bad, response.text)
    for unknown in ({**body, "change_number": "CC-1999-0001"}, {**body, "risk_number": "RA-1999-0001"},
                    {**body, "kind": "equipment_qualification", "subject": "EQ-NOPE", "stages": ["OQ"]}):  # fmt: skip
        assert client.post("/api/v1/qms/validation", json=unknown, headers=qa).status_code == 404
    assert client.post("/api/v1/qms/validation", json=body, headers=operator).status_code == 403
    assert client.get("/api/v1/qms/validation", headers=operator).status_code == 403
    assert _counts(db) == before

    made = client.post("/api/v1/qms/validation", json=body, headers=qa)
    assert made.status_code == 201, made.text
    base = f"/api/v1/qms/validation/{made.json()['number']}"
    item = {"stage": "PV", "item": "第 1 批", "criterion": "符合质量标准"}
    assert client.post(f"{base}/items", json={**item, "stage": "OQ"}, headers=qa).status_code == 422
    assert client.post(f"{base}/items", json=item, headers=qa).status_code == 201
    assert (
        client.put(f"{base}/items/1", json={**item, "item": "第 1 批（DH20261201）"}, headers=qa).status_code
        == 200
    )
    assert client.post(f"{base}/submit", headers=qa).status_code == 200
    own = client.post(f"{base}/approve-protocol", json={"password": DEMO_PASSWORD}, headers=qa)
    assert own.status_code == 403, own.text
    qp = token(client, "zhaomin")
    signed = client.post(
        f"{base}/approve-protocol", json={"password": DEMO_PASSWORD, "login": "zhaomin"}, headers=qp
    )
    assert signed.status_code == 200 and signed.json()["signatures"][0]["action"] == service.PROTOCOL_ACTION
    assert client.post(f"{base}/items", json=item, headers=qa).status_code == 409
    result = client.post(
        f"{base}/items/1/results", json={"observed": "符合", "outcome": "pass"}, headers=engineer
    )
    assert result.status_code == 201 and result.json()["protocol"][0]["result"]["executed_by"] == "wuhao"
    assert (
        client.post(f"{base}/submit-report", json={"conclusion": "工艺稳定"}, headers=qa).status_code == 200
    )
    approved = client.post(
        f"{base}/approve-report", json={"password": DEMO_PASSWORD, "login": "zhaomin"}, headers=qp
    )
    assert approved.status_code == 200 and approved.json()["outcome"] == "validated"
    detail = client.get(base, headers=qa).json()
    assert detail["status"] == "completed" and detail["revalidation_due"]
    due = client.get("/api/v1/qms/validation/due", headers=engineer)
    assert due.status_code == 200 and [d["number"] for d in due.json()] == [detail["number"]]
    assert len(client.get("/api/v1/qms/validation/due", params={"within_days": 400}, headers=qa).json()) == 2
    assert client.post(f"{base}/cancel", json={"reason": "取消"}, headers=qa).status_code == 409
