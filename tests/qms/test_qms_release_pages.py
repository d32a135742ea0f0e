"""Batch release pages and API: the list of batches awaiting release, a batch's checklist, summary and decision
form for the qualified person, and ``/api/v1/qms/release`` (TJ-9.1, TJ-6.4.7, SH-7.1.2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from demo_codes import demo_codes
from helpers import count_rows, log_in, token
from mes.handover_plant import complete, started_batch
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.qms.release_models import ReleaseDecision
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as test_client:
        yield test_client


@pytest.mark.clause("TJ-9.1", "TJ-6.4.7", "SH-7.1.2")
def test_release_pages_and_api(client: TestClient, db: Database) -> None:
    codes = demo_codes(db)
    demo = codes.batch_done  # the demo batch, released by qianyu on its own lot
    batch = started_batch(db)  # a one-step batch of the product, completed: its lot in quarantine, untested
    complete(db, batch)
    log_in(client, "zhaomin", language="en")
    board = client.get("/qms/release")
    assert board.status_code == 200 and f'data-testid="awaiting-{batch}"' in board.text
    assert 'data-testid="release-tab"' in board.text
    page = client.get(f"/qms/release/{batch.lower()}")
    assert page.status_code == 200, page.text
    for code, status in (("record_review", "fail"), ("tests", "fail"), ("environment", "not_applicable")):
        assert f'data-testid="check-{code}" data-status="{status}"' in page.text, code
    assert "Environmental monitoring not connected" in page.text
    assert 'data-testid="decision-form"' in page.text
    assert 'value="release"' not in page.text  # a failing item: no release offered
    released = client.get(f"/qms/release/{demo}")
    assert released.status_code == 200 and codes.deviation(1) in released.text
    for code in ("record_review", "tests", "certificate", "packaging", "materials"):
        assert f'data-testid="check-{code}" data-status="pass"' in released.text, code
    printed = client.get(f"/qms/release/{demo}/summary.pdf")
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF")
    before = count_rows(db, ReleaseDecision)
    refused = client.post(
        f"/qms/release/{batch}/decision", data={"decision": "release", "password": DEMO_PASSWORD}
    )
    assert refused.status_code == 409 and "cannot be released" in refused.text
    with db.sessions() as session:
        order_no = session.scalars(select(BatchOrder.order_no).where(BatchOrder.batch_no == demo)).one()
    assert client.get(f"/mes/batches/{order_no}").text.count('data-testid="release-link"') == 1
    log_in(client, "inspector", language="en")
    read_only = client.get(f"/qms/release/{batch}")
    assert read_only.status_code == 200 and "decision-form" not in read_only.text
    assert client.post(f"/qms/release/{batch}/decision", data={"decision": "quarantine"}).status_code == 403

    qp, qa = token(client, "zhaomin"), token(client, "chenjing")
    got = client.get(f"/api/v1/qms/release/{batch}", headers=qa)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["state"] == "awaiting" and body["ready"] is False
    assert {i["code"]: i["status"] for i in body["checklist"]}["certificate"] == "fail"
    assert body["summary"]["product_code"] == "FG-DH-0200" and body["summary"]["finished_lot"] == batch
    listed = client.get("/api/v1/qms/release", headers=qa).json()
    assert [r["failing"] for r in listed if r["batch_no"] == batch] == [
        ["record_review", "tests", "certificate", "materials"]
    ]
    assert [r["state"] for r in listed if r["batch_no"] == demo] == ["release"]
    url = f"/api/v1/qms/release/{batch}/decision"
    assert client.post(url, json={"decision": "quarantine", "reason": "待定"}, headers=qa).status_code == 403
    bad = client.post(url, json={"decision": "reject", "password": DEMO_PASSWORD}, headers=qp)
    assert bad.status_code == 422  # a rejection needs its reason
    again = client.post(
        f"/api/v1/qms/release/{demo}/decision",
        json={"decision": "reject", "reason": "不合格", "password": DEMO_PASSWORD}, headers=qp,
    )  # fmt: skip
    assert again.status_code == 409  # decided already
    assert client.get("/api/v1/qms/release/NO-SUCH", headers=qa).status_code == 404
    assert count_rows(db, ReleaseDecision) == before
