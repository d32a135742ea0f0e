"""The stock, location, alert and intermediate pages (TJ-6.4.3.6, TJ-5.2.1.2, TJ-6.3.3)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from stocking import KEEPER, QUARANTINED, RELEASED, containers, open_anomalies, where

from demo_codes import demo_codes, month_of
from helpers import LOGIN_BY_ROLE, log_in
from pharmatrace.kernel import clock
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = [pytest.mark.clause("TJ-6.4.3.6"), pytest.mark.pages]


@pytest.mark.clause("SHD-6.2.2", "SH-6.2.2")  # stock, movements and status managed by labels (scanned codes)
def test_the_keeper_queries_the_stock_and_moves_a_container_by_scanning(db: Database) -> None:
    code, batch = containers(db, RELEASED)[3], demo_codes(db).batch_in_progress
    with TestClient(create_app(db)) as client:
        log_in(client, KEEPER)
        page = client.get("/wms/stock", params={"location": "WH-RM-CL"})
        assert page.status_code == 200 and 'href="/wms/stock"' in page.text
        assert code in page.text and 'data-testid="move-form"' in page.text
        moved = client.post("/wms/stock/move", data={"kind": "transfer", "container": code, "to_location": "WH-RM-CL-02",
                                                     "quantity": "", "reason": "re-slotting"}, follow_redirects=False)  # fmt: skip
        assert moved.status_code == 303, moved.text
        quarantined = containers(db, QUARANTINED)[0]
        refused = client.post("/wms/stock/move", data={"kind": "issue", "container": quarantined, "quantity": "",
                                                       "batch_no": batch})  # fmt: skip
        assert (
            refused.status_code == 409
            and 'data-testid="error"' in refused.text
            and "quarantine" in refused.text
        )
    assert where(db, code)[0] == "WH-RM-CL-02"
    assert where(db, quarantined) == ("WH-RM-QA", Decimal("25.000"))


@pytest.mark.clause("TJ-5.2.1.2")
def test_a_reading_on_the_location_page_and_its_anomaly_closed_on_the_alerts_page(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, KEEPER)
        locations = client.get("/wms/locations")
        assert locations.status_code == 200 and "WH-RM-CL-01" in locations.text
        location_id = next(
            line.split('href="/wms/locations/')[1].split('"')[0]
            for line in locations.text.splitlines() if "<code>WH-RM-CL</code>" in line
        )  # fmt: skip
        detail = client.get(f"/wms/locations/{location_id}")
        assert 'data-testid="reading-form"' in detail.text and containers(db, RELEASED)[0] in detail.text
        now = clock.to_beijing(clock.now()).strftime("%Y-%m-%dT%H:%M:%S")
        recorded = client.post(f"/wms/locations/{location_id}/readings",
                               data={"measured_at": now, "temp_c": "25.0", "humidity_pct": ""}, follow_redirects=False)  # fmt: skip
        assert recorded.status_code == 303, recorded.text
        log_in(client, LOGIN_BY_ROLE["qa_reviewer"])
        alerts = client.get("/wms/alerts")
        anomaly = next(a for a in open_anomalies(db) if a.lot_id is not None and "25.0" in a.detail)
        assert f'data-testid="close-{anomaly.id}"' in alerts.text
        # the anomaly reads in the reader's language (kept as msgid + placeholders beside its English text)
        assert "25.0 °C / — % RH，超出" in alerts.text and "outside the range" not in alerts.text
        closed = client.post(f"/wms/anomalies/{anomaly.id}/close", data={"reason": "short excursion; no impact"},
                             follow_redirects=False)  # fmt: skip
        assert closed.status_code == 303
    assert anomaly.id not in {a.id for a in open_anomalies(db)}


@pytest.mark.clause("TJ-6.3.3", "TJ-B.2.2.3", "SH-7.1.3.a")
def test_an_intermediate_is_stored_released_and_charged_on_its_page(db: Database) -> None:
    seeded = f"{demo_codes(db).batch_done}-SOL"  # the seed's intermediate: the completed batch's solution
    batch = f"DH{month_of()}003"  # a batch of this month the plant has not made yet
    with TestClient(create_app(db)) as client:
        log_in(client, LOGIN_BY_ROLE["production_operator"])
        page = client.get("/wms/intermediates")
        assert page.status_code == 200 and 'data-testid="intermediate-form"' in page.text
        assert seeded in page.text and "<code>FHR</code>" in page.text and "合格" in page.text
        produced = clock.to_beijing(clock.now()).strftime("%Y-%m-%dT%H:%M:%S")
        made = client.post("/wms/intermediates", data={"material": "IM-DH-SOL", "lot_number": f"{batch}-SOL",
                                                       "batch_no": batch, "quantity": "90", "location": "WS-IM",
                                                       "produced_at": produced, "hold_hours": "24"},
                           follow_redirects=False)  # fmt: skip
        assert made.status_code == 303, made.text
        url = made.headers["location"].split("?")[0]
        charge = {"kind": "charge", "quantity": "10", "to_location": "", "batch_no": batch, "reason": "",
                  "reviewer_login": "", "reviewer_password": ""}  # fmt: skip
        refused = client.post(f"{url}/move", data=charge)
        assert refused.status_code == 409 and "quarantine" in refused.text
        assert (
            client.post("/wms/stock/move", data={"kind": "sample"}).status_code == 403
        )  # no stock permission
        log_in(client, LOGIN_BY_ROLE["qa_reviewer"])
        decided = client.post(f"{url}/decision", data={"decision": "release", "reason": "IPC conforms"},
                              follow_redirects=False)  # fmt: skip
        assert decided.status_code == 303, decided.text
        log_in(client, LOGIN_BY_ROLE["production_operator"])
        charged = client.post(f"{url}/move", data=charge, follow_redirects=False)
        assert charged.status_code == 303, charged.text
        detail = client.get(url)
        assert 'data-testid="intermediate-movements"' in detail.text and "80" in detail.text
        # its audit trail: created, the refused charge recorded (TJ-6.4.1), released with the reason
        trail = detail.text.split('data-testid="audit-trail"')[1]
        assert (
            "<td>create</td>" in trail and "<td>stock.issue.refused</td>" in trail and "IPC conforms" in trail
        )


@pytest.mark.clause("SH-7.1.3.a", "TJ-10.1.1.2.b", "TJ-6.4.3.6")
def test_the_location_page_shows_its_audit_trail(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, KEEPER)
        made = client.post("/wms/locations", data={"code": "WH-RM-CL-09", "name": "临时货架", "kind": "bin",
                                                   "parent": "WH-RM-CL"}, follow_redirects=False)  # fmt: skip
        assert made.status_code == 303, made.text
        url = made.headers["location"].split("?")[0]
        fresh = client.get(url)
        assert fresh.status_code == 200 and 'data-testid="audit-trail"' in fresh.text
        trail = fresh.text.split('data-testid="audit-trail"')[1]
        assert "<td>create</td>" in trail and "WH-RM-CL-09" in trail and "<td>void</td>" not in trail
        voided = client.post(f"{url}/void", data={"reason": "rack taken down after re-slotting"},
                             follow_redirects=False)  # fmt: skip
        assert voided.status_code == 303, voided.text
        trail = client.get(url).text.split('data-testid="audit-trail"')[1]
        assert "<td>void</td>" in trail and "rack taken down after re-slotting" in trail
        assert trail.index("<td>void</td>") < trail.index("<td>create</td>")  # newest first
