"""The receiving page (tablet, scanner), the lot list and the lot page with its events and signatures."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from receiving import GTIN, KEEPER, QA, QC, counts

from helpers import LOGIN_BY_ROLE, log_in
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

FORM = {"supplier_code": "SUP-LZ-GLS", "material_code": "PP-VIAL-10", "delivery_note": "LZ-DN-88",
        "supplier_lot": "GL261120", "manufacture_date": "2026-11-02", "expiry_date": "", "expected_containers": "2",
        "quantity_per_container": "4800", "remarks": ""}  # fmt: skip


@pytest.mark.clause("TJ-5.2.1.1", "TJ-6.3.1", "TJ-6.3.2.1")
def test_the_warehouse_keeper_receives_by_scanning_on_the_receipt_page(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, KEEPER)
        assert 'href="/wms/receipts"' in client.get("/wms/materials").text  # a tab of the warehouse
        refused = client.post("/wms/receipts", data={**FORM, "supplier_code": "SUP-JN-STP",
                                                     "material_code": "PP-STOP-20"})  # fmt: skip
        assert refused.status_code == 409
        assert "江南医用胶塞有限公司" in refused.text and "暂停" in refused.text
        before = counts(db)
        created = client.post("/wms/receipts", data=FORM, follow_redirects=False)
        assert created.status_code == 303
        url = created.headers["location"]
        assert counts(db)[0] == before[0] + 1
        page = client.get(url)
        assert 'id="scan-input"' in page.text and "autofocus" in page.text
        assert re.search(r'data-testid="scan-count">0 / 2<', page.text)
        htmx = {"HX-Request": "true"}
        ok = client.post(f"{url}/scan", data={"scan": f"]d201{GTIN}10GL261120\x1d21V0001", "quantity": ""},
                         headers=htmx)  # fmt: skip
        assert ok.status_code == 200 and 'data-testid="scan-ok"' in ok.text
        assert re.search(r'data-testid="scan-count">1 / 2<', ok.text)
        wrong = client.post(f"{url}/scan", data={"scan": f"(01){GTIN}(10)GL261999(21)V0002", "quantity": ""},
                            headers=htmx)  # fmt: skip
        assert wrong.status_code == 200  # shown inline by htmx
        assert 'data-testid="scan-error"' in wrong.text and "GL261999" in wrong.text
        again = client.post(f"{url}/scan", data={"scan": f"(01){GTIN}(10)GL261120(21)V0001", "quantity": ""})
        assert again.status_code == 409  # without htmx the refusal keeps its status
        assert re.search(r'data-testid="scan-count">1 / 2<', again.text)
        short = client.post(f"{url}/complete", data={"packaging_intact": "1", "seals_intact": "1",
                                                     "labels_legible": "1", "password": DEMO_PASSWORD, "login": KEEPER})  # fmt: skip
        assert short.status_code == 409 and 'data-testid="error"' in short.text  # count short, no reason
        client.post(
            f"{url}/scan", data={"scan": "鲁中药玻 GL261120 箱号 2", "quantity": "4700", "damaged": "1"}
        )
        undamaged = client.post(f"{url}/complete", data={"packaging_intact": "1", "seals_intact": "1",
                                                         "labels_legible": "1", "password": DEMO_PASSWORD, "login": KEEPER})  # fmt: skip
        assert undamaged.status_code == 422  # a damaged container needs a remark
        done = client.post(f"{url}/complete", follow_redirects=False, data={
            "packaging_intact": "1", "seals_intact": "1", "labels_legible": "1", "remarks": "第2箱外箱压痕，内包完好",
            "password": DEMO_PASSWORD, "login": KEEPER})  # fmt: skip
        assert done.status_code == 303, done.text
        page = client.get(url).text
        assert (
            'data-testid="scan-form"' not in page
            and 'data-testid="signatures"' in page
            and "receipt.complete" in page
        )
        labels = client.get(f"{url}/labels.pdf")
        assert labels.headers["content-type"] == "application/pdf"


@pytest.mark.clause("TJ-6.3.1", "TJ-6.4.1", "SH-7.1.4")
def test_the_lot_page_shows_the_status_and_qa_releases_there_with_a_signature(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, QC)
        lots_page = client.get("/wms/lots", params={"status": "under_test"})
        lot_id = int(re.findall(r'href="/wms/lots/(\d+)"', lots_page.text)[0])
        page = client.get(f"/wms/lots/{lot_id}").text
        assert 'data-status="under_test"' in page and "event-release" not in page  # QC cannot release
        client.post("/logout")
        log_in(client, QA)
        page = client.get(f"/wms/lots/{lot_id}").text
        assert 'data-testid="event-release"' in page and 'data-testid="event-reject"' in page
        assert 'data-testid="sign-lot.release"' not in page  # signed through the event, not the generic form
        wrong = client.post(f"/wms/lots/{lot_id}/events/release",
                            data={"reason": "检验合格", "password": "Wrong#2026", "login": QA})  # fmt: skip
        assert wrong.status_code == 401 and 'data-status="under_test"' in wrong.text
        done = client.post(f"/wms/lots/{lot_id}/events/release", follow_redirects=False,
                           data={"reason": "检验报告 QC-2611-009 合格", "password": DEMO_PASSWORD, "login": QA})  # fmt: skip
        assert done.status_code == 303
        page = client.get(f"/wms/lots/{lot_id}").text
        assert 'data-status="released"' in page and "检验报告 QC-2611-009 合格" in page
        assert "lot.release" in page


@pytest.mark.clause("TJ-6.3.1", "TJ-6.3.2.1")
def test_a_scanned_container_code_opens_its_lot(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, LOGIN_BY_ROLE["production_operator"])
        listed = client.get("/wms/lots").text
        lot_id = re.findall(r'href="/wms/lots/(\d+)"', listed)[-1]
        page = client.get(f"/wms/lots/{lot_id}").text
        code = re.findall(r"<code>([A-Z]{2}\d{9}-\d{3})</code>", page)[0]
        found = client.get("/wms/lots", params={"q": code.lower()}, follow_redirects=False)
        assert found.status_code == 303 and found.headers["location"] == f"/wms/lots/{lot_id}"
        assert "label.pdf" not in page  # printing labels is the warehouse's
        none = client.get("/wms/lots", params={"q": "NOTHING-HERE"})
        assert none.status_code == 200 and 'data-testid="lots"' in none.text
