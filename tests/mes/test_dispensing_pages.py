"""The dispensing pages: the panel of a weighing step, the weighing records list and record page with its
trail and label reprint, and the scale interfaces page (TJ-6.3.2.2, TJ-B.2.2.2, TJ-6.3.1)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from dispensing_plant import balance, calibrate, containers, new_order, new_scale, release_lot, run_step
from fastapi.testclient import TestClient

from helpers import audit_entries, log_in
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-6.3.2.2.b", "TJ-6.3.2.2.c", "TJ-B.2.2.2")
def test_the_weigher_weighs_on_the_panel_and_finds_the_record_with_its_trail_and_label(db: Database) -> None:
    batch_no = new_order(db)
    release_lot(db)
    run_step(db, batch_no, "CMP-W")
    calibrate(db)
    base = f"/mes/batches/{batch_no}/steps/CMP-W/dispensing"
    with TestClient(create_app(db)) as client, balance(db) as scale:
        log_in(client, "zhangwei")
        page = client.get(base)
        assert page.status_code == 200 and 'data-testid="weigh-form"' in page.text
        assert 'data-testid="dispensing-missing"' in page.text and "EXC-MAN-01" in page.text
        step_page = client.get(
            f"/mes/batches/{batch_no}/steps/CMP-W"
        )  # batch execution's page includes the slot
        assert step_page.status_code == 200 and 'data-testid="dispensing-slot"' in step_page.text
        assert f'hx-get="{base}?partial=1"' in step_page.text
        slot = client.get(base, params={"partial": 1})
        assert 'id="dispensing-panel"' in slot.text
        assert "<html" not in slot.text  # the partial alone, for the step page's slot
        scale.set_load(Decimal("600.30"))
        weighed = client.post(base + "/weigh", data={"container": containers(db)[0], "scale": "BAL-02"},
                              headers={"HX-Request": "true"})  # fmt: skip
        assert weighed.status_code == 200 and 'data-testid="dispensing-ok"' in weighed.text, weighed.text[
            :2000
        ]
        assert 'data-testid="dispensing-complete"' in weighed.text
        listed = client.get("/mes/weighings", params={"batch": batch_no})
        assert listed.status_code == 200 and f"WG-{batch_no}-001" in listed.text
        assert client.get("/mes/weighings", params={"batch": "NOPE"}).text.count(f"WG-{batch_no}") == 0
        record_url = next(
            part.split('"')[0]
            for part in listed.text.split('href="')[1:]
            if part.startswith("/mes/weighings/")
        )
        record = client.get(record_url)
        assert record.status_code == 200
        scanned = client.get(
            "/mes/weighings", params={"q": f" wg-{batch_no}-001\r\n"}, follow_redirects=False
        )
        assert scanned.status_code == 303 and scanned.headers["location"] == record_url  # TJ-6.3.2.2.c
        for shown in ('data-testid="audit-trail"', 'data-testid="weighing-dataset"', 'data-testid="label-form"',
                      "600.3 g", "BAL-02", "CJZT"):  # fmt: skip
            assert shown in record.text, shown
        label = client.post(record_url + "/label", data={"format": "pdf", "reason": "标签污损，补打"})
        assert label.status_code == 200 and label.content.startswith(b"%PDF")
        printed = audit_entries(db, event="label.print", object_type="weighing_record")[-1]
        assert printed.reason == "标签污损，补打"


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_a_refusal_shows_on_the_panel_with_its_reason(db: Database) -> None:
    batch_no = new_order(db)
    release_lot(db)
    run_step(db, batch_no, "CMP-W")
    base = f"/mes/batches/{batch_no}/steps/CMP-W/dispensing"
    with TestClient(create_app(db)) as client, balance(db):
        log_in(client, "zhangwei")
        refused = client.post(base + "/weigh", data={"container": containers(db)[0], "scale": "BAL-02"})
        assert refused.status_code == 409 and 'data-testid="dispensing-error"' in refused.text
        assert "BAL-02" in refused.text
        bad = client.post(base + "/weigh", data={"scale": "BAL-02"}, headers={"HX-Request": "true"})
        assert bad.status_code == 200 and 'data-testid="dispensing-error"' in bad.text
        identify = client.get(f"/mes/batches/{batch_no}/steps/CMP-ID/dispensing")
        assert identify.status_code == 200 and 'data-testid="identify-form"' in identify.text
        refused_scan = client.post(f"/mes/batches/{batch_no}/steps/CMP-ID/dispensing/identify",
                                   data={"scan": "NO-SUCH-CODE"}, headers={"HX-Request": "true"})  # fmt: skip
        assert 'data-testid="dispensing-error"' in refused_scan.text  # the step is not running
        charge = client.get(f"/mes/batches/{batch_no}/steps/CMP-C/dispensing")
        assert charge.status_code == 200 and 'data-testid="charge-form"' in charge.text
        assert "0.597 … 0.603 kg" in charge.text


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_the_engineer_registers_a_scale_interface_on_its_page(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, "zhangwei")
        assert 'data-testid="scale-form"' not in client.get("/mes/scales").text
        log_in(client, "wuhao")
        assert 'data-testid="scale-form"' in client.get("/mes/scales").text
        scale = new_scale(db)  # the demo's SC-01 has its address already
        saved = client.post("/mes/scales", data={"equipment": scale, "host": "10.0.8.21", "port": "4305"},
                            follow_redirects=False)  # fmt: skip
        assert saved.status_code == 303
        page = client.get(saved.headers["location"]).text
        assert "10.0.8.21:4305" in page
        refused = client.post("/mes/scales", data={"equipment": scale, "host": "10.0.8.21", "port": "4305"})
        assert refused.status_code == 409


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-6.4.3.3.i")
def test_the_manual_fallback_form_needs_the_photo_and_shows_the_flag_on_the_record(db: Database) -> None:
    batch_no = new_order(db)
    release_lot(db)
    run_step(db, batch_no, "CMP-W")
    calibrate(db)
    base = f"/mes/batches/{batch_no}/steps/CMP-W/dispensing"
    form = {"container": containers(db)[0], "scale": "BAL-02", "tare": "150", "net": "600.1",
            "reason": "天平数据口故障", "supervisor": "lina", "supervisor_password": DEMO_PASSWORD}  # fmt: skip
    with TestClient(create_app(db)) as client:
        log_in(client, "zhangwei")
        no_photo = client.post(base + "/manual", data=form)
        assert no_photo.status_code == 422 and 'data-testid="dispensing-error"' in no_photo.text
        done = client.post(base + "/manual", data=form, files={"photo": ("display.jpg", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg")},
                           follow_redirects=False)  # fmt: skip
        assert done.status_code == 303, done.text[:1500]
        listed = client.get("/mes/weighings", params={"source": "manual"})
        assert f"WG-{batch_no}-001" in listed.text
        record_url = next(
            part.split('"')[0]
            for part in listed.text.split('href="')[1:]
            if part.startswith("/mes/weighings/")
        )
        record = client.get(record_url).text
        assert "天平数据口故障" in record and record_url + "/photo" in record
        photo = client.get(record_url + "/photo")
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
