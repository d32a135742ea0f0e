"""``/api/v1/origin``: the chain of a herb lot, recording a season at a base, refusals, feedback (TJ-5.1, TJ-5.2.1.5)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from origin_steps import KEEPER, QA_REVIEWER, QC, ago, counts, lot_id_of, today

from helpers import LOGIN_BY_ROLE, token
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app


@pytest.mark.scenario
@pytest.mark.clause("TJ-5.1", "SH-7.1.2")
def test_the_api_records_a_season_from_plot_to_shipment_and_a_receipt_traces_back(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        manager = token(client, QA_REVIEWER)
        keeper = token(client, KEEPER)
        plot = client.post("/api/v1/origin/plots", headers=manager, json={
            "base_code": "SUP-WS-SQ", "code": "SQ-04", "name": "砚山县 荫棚四区", "area_mu": "18.5"})  # fmt: skip
        assert plot.status_code == 201, plot.text
        plot_id = plot.json()["id"]
        crop = client.post(f"/api/v1/origin/plots/{plot_id}/crops", headers=manager, json={
            "code": "SQ-04-2024", "material_code": "HB-SQ-001", "species": "三七", "latin_name": "Panax notoginseng",
            "seed_kind": "seedling", "seed_source": "文山州三七种苗繁育中心", "planted_on": ago(700).isoformat()})  # fmt: skip
        assert crop.status_code == 201, crop.text
        crop_id = crop.json()["id"]
        sprayed = client.post(f"/api/v1/origin/crops/{crop_id}/inputs", headers=manager, json={
            "kind": "pesticide", "product": "多抗霉素", "amount": "0.15", "unit": "kg/亩",
            "applied_on": ago(12).isoformat(), "applied_by": "罗明", "pre_harvest_days": 7})  # fmt: skip
        assert sprayed.status_code == 201 and sprayed.json()["safe_from"] == ago(5).isoformat()
        early = client.post(f"/api/v1/origin/crops/{crop_id}/harvests", headers=manager, json={
            "code": "SQ-04-H1", "harvested_on": ago(8).isoformat(), "quantity": "300"})  # fmt: skip
        assert early.status_code == 409 and early.json()["error"]["code"] == "pre_harvest_interval"
        harvest = client.post(f"/api/v1/origin/crops/{crop_id}/harvests", headers=manager, json={
            "code": "SQ-04-H1", "harvested_on": ago(5).isoformat(), "quantity": "300"})  # fmt: skip
        assert harvest.status_code == 201, harvest.text
        harvest_id = harvest.json()["id"]
        dried = client.post(f"/api/v1/origin/harvests/{harvest_id}/processing", headers=manager, json={
            "method": "sun_drying", "performed_on": ago(2).isoformat(), "output_quantity": "100"})  # fmt: skip
        assert dried.status_code == 201, dried.text
        shipment = client.post("/api/v1/origin/shipments", headers=manager, json={
            "code": "WS-FY-TEST-01", "base_code": "SUP-WS-SQ", "material_code": "HB-SQ-001", "batch_no": "SQ-T-01",
            "sources": [{"harvest_code": "SQ-04-H1", "quantity": "100"}], "pack_type": "麻袋 20 kg", "pack_count": 5,
            "packed_on": ago(1).isoformat(), "shipped_on": today().isoformat(), "destination": "天津"})  # fmt: skip
        assert shipment.status_code == 201, shipment.text
        assert shipment.json()["sources"][0]["plot_code"] == "SQ-04"
        receipt = client.post("/api/v1/receipts", headers=keeper, json={
            "supplier_code": "SUP-WS-SQ", "material_code": "HB-SQ-001", "delivery_note": "WS-DN-1",
            "supplier_lot": "SQ-T-01", "manufacture_date": ago(2).isoformat(), "expected_containers": 5,
            "quantity_per_container": "20", "origin_shipment": "ws-fy-test-01"})  # fmt: skip
        assert receipt.status_code == 201, receipt.text
        chain = client.get(f"/api/v1/origin/lots/{receipt.json()['lot_id']}", headers=keeper)
        assert chain.status_code == 200
        body = chain.json()
        assert body["shipment"]["code"] == "WS-FY-TEST-01" and body["base"]["supplier_code"] == "SUP-WS-SQ"
        assert [s["plot"]["code"] for s in body["sources"]] == ["SQ-04"]
        assert body["sources"][0]["crop"]["inputs"][0]["product"] == "多抗霉素"
        detail = client.get(f"/api/v1/origin/plots/{plot_id}", headers=keeper).json()
        assert [lot["id"] for lot in detail["lots"]] == [receipt.json()["lot_id"]]
        listed = client.get("/api/v1/origin/shipments", headers=keeper, params={"q": "ws-fy-test"}).json()
        assert [(s["code"], s["received"]) for s in listed] == [("WS-FY-TEST-01", "100.000")]
        still_open = client.get("/api/v1/origin/shipments", headers=keeper, params={"open_only": True}).json()
        assert "WS-FY-TEST-01" not in {s["code"] for s in still_open}  # all of it is received
        assert "SL-FY-2611-01" in {s["code"] for s in still_open}  # the demo's shipment in transit


@pytest.mark.clause("TJ-5.2.1.5", "SH-7.1.2")
def test_the_api_reports_an_anomaly_and_lists_the_outbox_and_refuses_who_may_not(db: Database) -> None:
    sanqi = lot_id_of(db, "SQ20261025")
    with TestClient(create_app(db)) as client:
        qc, keeper = token(client, QC), token(client, KEEPER)
        operator = token(client, LOGIN_BY_ROLE["production_operator"])
        before = counts(db)
        assert client.post(f"/api/v1/origin/lots/{sanqi}/anomaly", headers=keeper,
                           json={"reason": "外观发霉"}).status_code == 403  # fmt: skip
        assert client.get("/api/v1/origin/bases", headers=operator).status_code == 403
        assert (
            client.post(f"/api/v1/origin/lots/{sanqi}/anomaly", headers=qc, json={"reason": "x"}).status_code
            == 422
        )
        assert counts(db) == before
        sent = client.post(
            f"/api/v1/origin/lots/{sanqi}/anomaly", headers=qc, json={"reason": "部分药材表面发霉"}
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["status"] == "pending" and "部分药材表面发霉" in sent.json()["message"]
        outbox = client.get(
            "/api/v1/origin/feedback", headers=keeper, params={"status": "pending", "base": "SUP-WS-SQ"}
        )
        assert next(f["id"] for f in outbox.json()) == sent.json()["id"]
        assert all(f["base_code"] == "SUP-WS-SQ" for f in outbox.json())
        vials = lot_id_of(db, "GL261002")
        missing = client.get(f"/api/v1/origin/lots/{vials}", headers=keeper)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        bases = client.get("/api/v1/origin/bases", headers=keeper, params={"q": "文山"}).json()
        assert [b["supplier_code"] for b in bases] == ["SUP-WS-SQ"] and bases[0]["plots"] == 3
