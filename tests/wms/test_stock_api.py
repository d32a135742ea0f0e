"""The stock API (TJ-6.4.3.6, TJ-6.4.1, TJ-5.2.1.2): query, movements by scan, readings, anomalies, alerts."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from stocking import KEEPER, QUARANTINED, RELEASED, containers, lot_id, where

from demo_codes import demo_codes
from helpers import LOGIN_BY_ROLE, token
from pharmatrace.kernel import clock
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.clause("TJ-6.4.3.6")


def test_stock_is_queried_by_material_and_location_with_totals(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        headers = token(client, LOGIN_BY_ROLE["qa_reviewer"])
        by_material = client.get("/api/v1/stock", params={"material": "HB-DS-001"}, headers=headers)
        by_place = client.get(
            "/api/v1/stock", params={"location": "WH-RM", "status": "quarantine"}, headers=headers
        )
        places = client.get("/api/v1/locations", params={"kind": "bin"}, headers=headers)
    assert by_material.status_code == 200, by_material.text
    body = by_material.json()
    assert body["totals"][0]["material_code"] == "HB-DS-001"
    assert body["containers"] == len(body["rows"]) == body["totals"][0]["containers"]
    assert {r["status"] for r in by_place.json()["rows"]} == {"quarantine"}
    assert {p["climate_code"] for p in places.json()} >= {"WH-RM-CL", "WH-RM-AM", "WH-CS"}


@pytest.mark.clause("TJ-6.4.1")
def test_an_issue_the_checks_refuse_answers_409_with_its_reasons(db: Database) -> None:
    code = containers(db, QUARANTINED)[0]
    batch = demo_codes(db).batch_in_progress
    before = where(db, code)
    with TestClient(create_app(db)) as client:
        keeper = token(client, KEEPER)
        refused = client.post("/api/v1/stock/movements", headers=keeper,
                              json={"kind": "issue", "container": code, "batch_no": batch})  # fmt: skip
        check = client.get(f"/api/v1/lots/{lot_id(db, QUARANTINED)}/issue-check", headers=keeper)
        operator = token(client, LOGIN_BY_ROLE["production_operator"])
        forbidden = client.post("/api/v1/stock/movements", headers=operator,
                                json={"kind": "issue", "container": code, "batch_no": batch})  # fmt: skip
        issued = client.post("/api/v1/stock/movements", headers=keeper,
                             json={"kind": "issue", "container": containers(db, RELEASED)[3], "quantity": "2.5",
                                   "batch_no": batch})  # fmt: skip
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "issue_refused"
    assert "quarantine" in refused.json()["error"]["message"]
    assert where(db, code) == before
    assert check.json()["may_issue"] is False and check.json()["problems"][0]["kind"] == "status"
    assert forbidden.status_code == 403
    assert issued.status_code == 201, issued.text
    assert issued.json()["batch_no"] == batch and issued.json()["quantity"] == "2.500"


@pytest.mark.clause("TJ-5.2.1.2")
def test_a_reading_out_of_range_shows_in_the_alerts_until_qa_closes_it(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        keeper = token(client, KEEPER)
        recorded = client.post("/api/v1/temperature-readings", headers=keeper,
                               json={"location": "WH-RM-CL", "measured_at": clock.now().isoformat(), "temp_c": "24.0"})  # fmt: skip
        alerts = client.get("/api/v1/wms/alerts", headers=keeper).json()
        mine = [a for a in alerts["anomalies"] if a["location_code"] == "WH-RM-CL" and a["lot_number"]]
        not_qa = client.post(f"/api/v1/storage-anomalies/{mine[0]['id']}/close", headers=keeper,
                             json={"reason": "no impact"})  # fmt: skip
        qa = token(client, LOGIN_BY_ROLE["qa_reviewer"])
        closed = client.post(f"/api/v1/storage-anomalies/{mine[0]['id']}/close", headers=qa,
                             json={"reason": "30 min above limit; stability data cover it"})  # fmt: skip
    assert recorded.status_code == 201, recorded.text
    assert mine and mine[0]["kind"] == "temperature_out_of_range"
    assert not_qa.status_code == 403
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
