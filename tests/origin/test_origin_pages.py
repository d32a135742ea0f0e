"""Origin pages: find by a scanned code, plot and shipment details with trail, forms with refusals, the origin
panel of a lot and the anomaly report (TJ-5.1, TJ-5.2.1.5)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from origin_steps import KEEPER, QA_REVIEWER, QC, ago, counts, lot_id_of, today

from helpers import log_in
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.mark.clause("TJ-5.1")
def test_a_scanned_plot_code_opens_the_plot_with_its_season_its_lots_and_its_trail(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, KEEPER)
        start = client.get("/origin")
        assert (
            start.status_code == 200 and "文山三七GAP基地" in start.text and 'data-code="SQ-03"' in start.text
        )
        found = client.get("/origin", params={"q": " ds-01\r\n"}, follow_redirects=False)
        assert found.status_code == 303
        page = client.get(found.headers["location"]).text
        assert 'data-testid="plot-code">DS-01<' in page
        for shown in ("Salvia miltiorrhiza", "苦参碱水剂", "DS-01-H2609", "商洛市丹参良种繁育场"):
            assert shown in page, shown
        lot_number = re.search(r'data-testid="plot-lots">.*?<code>(\w+)</code>', page, re.S)
        assert lot_number is not None and lot_number.group(1).startswith("YC")
        assert 'data-testid="audit-trail"' in page and 'data-testid="signatures"' in page
        shipment = client.get("/origin/shipments", params={"q": "SL-FY-2609-01"}, follow_redirects=False)
        assert shipment.status_code == 303
        detail = client.get(shipment.headers["location"]).text
        assert 'data-testid="shipment-code">SL-FY-2609-01<' in detail and lot_number.group(1) in detail
        assert f'action="{shipment.headers["location"]}/void"' not in detail  # received: it cannot be voided
        base = client.get("/origin", params={"q": "SUP-WS-SQ"})
        assert base.url.path.startswith("/origin/bases/") and 'data-testid="base-plots"' in base.text
        assert (
            "WS-FY-2610-01" in base.text and 'data-testid="feedback"' in base.text and "总皂苷" in base.text
        )
        listed = client.get("/origin/shipments", params={"base": "SUP-WS-SQ", "open_only": 1})
        assert 'data-code="WS-FY-2611-01"' in listed.text and 'data-code="WS-FY-2610-01"' not in listed.text
        assert 'data-testid="shipment-form"' in listed.text  # the keeper records shipments too
        log_in(client, QA_REVIEWER)
        in_transit = client.get("/origin/shipments", params={"q": "SL-FY-2611-01"}).url.path
        assert f'action="{in_transit}/void"' in client.get(in_transit).text


@pytest.mark.clause("TJ-5.1")
def test_the_forms_record_a_harvest_and_refuse_one_inside_the_pre_harvest_interval(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, QA_REVIEWER)
        plot_page = client.get("/origin", params={"q": "SQ-03"})
        plot_url = str(plot_page.url)
        crop_id = re.search(r'name="crop_id"><option value="(\d+)"', plot_page.text)
        assert crop_id is not None
        sprayed = client.post(f"{plot_url}/inputs", follow_redirects=False, data={
            "crop_id": crop_id.group(1), "kind": "pesticide", "product": "多抗霉素", "amount": "0.2", "unit": "kg/亩",
            "applied_on": ago(3).isoformat(), "applied_by": "罗明", "pre_harvest_days": "7", "remarks": ""})  # fmt: skip
        assert sprayed.status_code == 303, sprayed.text
        before = counts(db)
        refused = client.post(f"{plot_url}/harvests", data={
            "crop_id": crop_id.group(1), "code": "SQ-03-H1", "harvested_on": today().isoformat(), "quantity": "200",
            "method": ""})  # fmt: skip
        assert refused.status_code == 409 and 'data-testid="error"' in refused.text
        assert (
            ago(3) + timedelta(days=7)
        ).isoformat() in refused.text  # the first day a harvest may be taken
        missing = client.post(f"{plot_url}/harvests", data={"crop_id": crop_id.group(1), "code": "SQ-03-H1",
                                                            "harvested_on": "", "quantity": ""})  # fmt: skip
        assert missing.status_code == 422 and 'data-testid="field-error-quantity"' in missing.text
        assert counts(db) == before
        foreign = client.post("/origin/plots", data={"base_code": "SUP-TL-MAN", "code": "X-01", "name": "x",
                                                      "area_mu": "1"})  # fmt: skip
        assert foreign.status_code == 404 and "SUP-TL-MAN" in foreign.text
        form = {"code": "WS-FY-PAGE-01", "base_code": "SUP-WS-SQ", "material_code": "HB-SQ-001", "batch_no": "SQ-P1",
                "harvest_code_1": "SQ-01-H2610", "quantity_1": "231", "harvest_code_2": "SQ-02-H2610",
                "quantity_2": "40", "harvest_code_3": "", "quantity_3": "", "pack_type": "麻袋 20 kg",
                "pack_count": "14", "packed_on": ago(1).isoformat(), "storage_conditions": "",
                "shipped_on": today().isoformat(), "destination": "天津", "carrier": "", "transport_conditions": ""}  # fmt: skip
        too_much = client.post("/origin/shipments", data=form)  # 480 − 50 − 200 = 230 kg left of SQ-01-H2610
        assert (
            too_much.status_code == 409
            and "230 kg" in too_much.text
            and 'value="WS-FY-PAGE-01"' in too_much.text
        )
        assert counts(db) == before
        shipped = client.post("/origin/shipments", data={**form, "quantity_1": "230"}, follow_redirects=False)
        assert shipped.status_code == 303, shipped.text
        page = client.get(shipped.headers["location"]).text
        assert 'data-testid="shipment-code">WS-FY-PAGE-01<' in page and "270" in page
        before = counts(db)
        log_in(client, QC)  # QC sees the origin but records nothing at the base
        assert client.post(f"{plot_url}/harvests", data={"crop_id": crop_id.group(1)}).status_code == 403
        assert counts(db) == before


@pytest.mark.clause("TJ-5.2.1.5", "TJ-5.1")
def test_the_lot_page_shows_the_origin_and_qc_reports_an_anomaly_to_the_base(db: Database) -> None:
    sanqi = lot_id_of(db, "SQ20261025")
    vials = lot_id_of(db, "GL261002")
    with TestClient(create_app(db)) as client:
        log_in(client, QC)
        lot_page = client.get(f"/wms/lots/{sanqi}").text
        assert f'hx-get="/origin/lots/{sanqi}/panel"' in lot_page
        panel = client.get(f"/origin/lots/{sanqi}/panel").text
        assert 'data-testid="lot-origin"' in panel and "WS-FY-2610-01" in panel
        assert "SQ-01" in panel and "SQ-02" in panel and 'data-testid="anomaly-form"' in panel
        assert client.get(f"/origin/lots/{vials}/panel").text == ""  # no origin, nothing on the lot page
        before = counts(db)
        short = client.post(f"/origin/lots/{sanqi}/anomaly", data={"reason": "x"})
        assert short.status_code == 422 and counts(db) == before
        sent = client.post(
            f"/origin/lots/{sanqi}/anomaly", data={"reason": "部分药材虫蛀"}, follow_redirects=False
        )
        assert sent.status_code == 303
        origin = client.get(sent.headers["location"]).text
        assert "部分药材虫蛀" in origin and 'data-testid="feedback"' in origin
        outbox = client.get("/origin/feedback", params={"status": "pending"}).text
        assert outbox.count("部分药材虫蛀") == 1
        log_in(client, KEEPER)  # the keeper sees the origin, but reports no anomaly
        assert 'data-testid="anomaly-form"' not in client.get(f"/origin/lots/{sanqi}/panel").text
        assert client.post(f"/origin/lots/{sanqi}/anomaly", data={"reason": "外观异常"}).status_code == 403
