"""Recall pages: the list with each recall's progress, the new-recall form that shows the genealogy's impact
before the draft is saved, a recall's page with its frozen impact, the forms its reader may use (the signature
forms only to the qualified person), the audit trail, and the customer notification list as CSV, audited
(SH-6.2.4, TJ-9.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from demo_codes import demo_codes
from helpers import audit_entries, count_rows, log_in
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.qms import recalls as service
from pharmatrace.qms.recall_models import Recall
from pharmatrace.storage.engine import Database
from pharmatrace.trace.recall import impact
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on PostgreSQL


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as test_client:
        yield test_client


@pytest.mark.clause("SH-6.2.4", "TJ-9.1")
def test_the_list_the_impact_preview_a_draft_opened_and_a_customer_notified(
    client: TestClient, db: Database
) -> None:
    batch = demo_codes(db).batch_done
    with db.sessions() as session:
        (demo,) = session.scalars(select(Recall))
        given = impact(session, batch)
        demo_number = demo.number
    log_in(client, "chenjing", language="en")
    listing = client.get("/qms/recalls")
    assert listing.status_code == 200 and f'data-number="{demo_number}"' in listing.text
    row = listing.text.split(f'data-number="{demo_number}"')[1].split("</tr>")[0]
    n = len(given.customers)
    assert f"{n} / {n}" in row and f"{given.shipped_units} / {given.shipped_units}" in row
    page = client.get(f"/qms/recalls/{demo_number}").text
    for testid in (
        "recall-facts",
        "batches",
        "shipments",
        "customers",
        "signatures",
        "audit-trail",
        "export-csv",
    ):
        assert f'data-testid="{testid}"' in page, testid
    assert all(f'data-customer="{c.code}"' in page for c in given.customers)
    assert "close-form" not in page and "notify-form" not in page  # closed: nothing changes
    # who opened and who closed it by name, from their signed decisions: 赵敏 opened, 钱宇 closed (the demo)
    with db.sessions() as session:
        names = {
            d.kind: f"{d.decided_by_name} ({d.decided_by})"
            for d in session.get_one(Recall, demo.id).decisions
        }
    assert names["open"] in page.split('data-testid="opened-by"')[1].split("</dd>")[0]
    assert names["close"] in page.split('data-testid="closed-by"')[1].split("</dd>")[0]

    new = client.get("/qms/recalls/new", params={"ref": batch})
    assert new.status_code == 200 and 'data-testid="impact-preview"' in new.text
    assert all(c.code in new.text for c in given.customers)
    unknown = client.get("/qms/recalls/new", params={"ref": "NO-SUCH-LOT"})
    assert 'data-testid="preview-error"' in unknown.text and "recall-form" not in unknown.text
    before = count_rows(db, Recall)
    bad = client.post("/qms/recalls/new", data={"start_ref": batch, "kind": "voluntary", "level": "9",
                                                "hazard_assessment": "x", "reason": ""})  # fmt: skip
    assert bad.status_code == 422 and count_rows(db, Recall) == before
    made = client.post("/qms/recalls/new", data={"start_ref": batch, "kind": "voluntary", "level": "2",
                                                 "hazard_assessment": "可能引起暂时的健康问题（二级）",
                                                 "reason": "稳定性考察含量下降", "complaint": ""},
                       follow_redirects=False)  # fmt: skip
    assert made.status_code == 303, made.text
    number = made.headers["location"].split("/qms/recalls/")[1].split("?")[0]
    draft = client.get(f"/qms/recalls/{number}").text
    assert "open-form" not in draft and 'data-testid="cancel-form"' in draft  # QA reviewer: not a signer
    assert client.post(f"/qms/recalls/{number}/open", data={"password": DEMO_PASSWORD}).status_code == 403

    log_in(client, "zhaomin", language="en")
    draft = client.get(f"/qms/recalls/{number}").text
    assert 'data-testid="open-form"' in draft
    wrong = client.post(f"/qms/recalls/{number}/open", data={"login": "zhaomin", "password": "nope"})
    assert wrong.status_code in (401, 403) and count_rows(db, Recall) == before + 1
    opened = client.post(f"/qms/recalls/{number}/open", data={"login": "zhaomin", "password": DEMO_PASSWORD},
                         follow_redirects=False)  # fmt: skip
    assert opened.status_code == 303, opened.text
    page = client.get(f"/qms/recalls/{number}").text
    first = given.customers[0].code
    assert 'data-testid="close-form"' in page and f'data-testid="notify-form-{first}"' in page
    assert 'data-testid="held-lots"' in page and batch in page.split('data-testid="held-lots"')[1][:40]

    closing = client.post(f"/qms/recalls/{number}/close",
                          data={"effectiveness": "未全部通知", "password": DEMO_PASSWORD})  # fmt: skip
    assert closing.status_code == 409 and 'data-testid="error"' in closing.text
    notified = client.post(f"/qms/recalls/{number}/customers/{first}/notify",
                           data={"method": "phone", "note": "药剂科 李主任"}, follow_redirects=False)  # fmt: skip
    assert notified.status_code == 303
    over = client.post(f"/qms/recalls/{number}/customers/{first}/returns",
                       data={"quantity": str(given.customers[0].units + 1), "received_on": str(service.today())})  # fmt: skip
    assert over.status_code == 422 and 'data-testid="error"' in over.text
    with db.sessions() as session:
        recall = service.get_recall(session, number)
        assert recall.status == "open" and next(c.notify_method for c in recall.customers) == "phone"
        assert service.returned_units(recall) == 0
        recall_id = recall.id

    exported = client.get(f"/qms/recalls/{number}/customers.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "Customer code" in exported.text and first in exported.text and "药剂科 李主任" in exported.text
    assert [e.actor_login for e in audit_entries(db, event="dataset.export", object_id=str(recall_id))] == [
        "zhaomin"
    ]

    log_in(client, "zhangwei", language="en")  # an operator: no quality view
    assert client.get("/qms/recalls").status_code == 403
    assert client.get(f"/qms/recalls/{number}").status_code == 403
    assert client.get("/qms/recalls/new").status_code == 403
