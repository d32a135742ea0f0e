"""The aggregation station, customers and shipments pages and API: the warehouse packs, picks by scanning and
ships; refusals are shown with nothing written; read-only roles see but do not act (SH-6.2.5, TJ-9.1)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from trace_steps import codes, commissioned

from demo_codes import demo_codes
from helpers import log_in, token
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

UNITS = [f"6901234{n:09d}7788" for n in range(1, 5)]
CASE = "69012990000000011234"


@pytest.mark.clause("SH-6.2.5", "TJ-9.1")
def test_the_warehouse_packs_picks_and_ships_from_the_pages(db: Database) -> None:
    batch = demo_codes(db).batch_done  # the batch ``commissioned`` allocates to
    commissioned(db, UNITS)
    commissioned(db, [CASE], level=3, code="6901299", pack_quantity=6)
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        log_in(client, "zhouqiang", language="en")
        packed = client.post(
            "/trace/aggregation/pack", data={"parent": CASE, "children": "\n".join(UNITS[:3])}
        )
        assert packed.status_code == 200, packed.text  # followed the redirect to the station
        assert 'data-testid="count">3 / 6' in packed.text and f"child-{UNITS[0]}" in packed.text
        refused = client.post("/trace/aggregation/pack", data={"parent": CASE, "children": UNITS[0]})
        assert refused.status_code == 409 and f"{UNITS[0]} is already in {CASE}" in refused.text

        created = client.post("/trace/customers", data={"code": "dist-01", "name": "国药控股上海", "kind": "distributor",
                                                        "address": "上海市浦东新区", "licence_no": "沪AA0210088"})  # fmt: skip
        assert created.status_code == 200 and 'data-testid="customer-DIST-01"' in created.text
        shipment = client.post("/trace/shipments", data={"customer": "DIST-01", "address": ""})
        assert shipment.status_code == 200 and "上海市浦东新区" in shipment.text
        number = str(shipment.url).rsplit("/", 1)[-1].split("?")[0]
        inside = client.post(f"/trace/shipments/{number}/picks", data={"scan": UNITS[0]})
        assert inside.status_code == 409 and f"pick {CASE}" in inside.text
        picked = client.post(f"/trace/shipments/{number}/picks", data={"scan": CASE})
        assert f'data-testid="pick-{CASE}"' in picked.text and f"{batch}: 3" in picked.text
        shipped = client.post(f"/trace/shipments/{number}/ship")
        assert 'data-testid="status">Shipped' in shipped.text
        assert {c.state for c in codes(db, [CASE, *UNITS[:3]])} == {"shipped"}
        listed = client.get("/trace/shipments", params={"status": "shipped", "customer": "DIST-01"})
        assert f'data-testid="shipment-{number}"' in listed.text

        api = token(client, "zhouqiang")
        content = client.get(f"/api/v1/trace/aggregation/{CASE}", headers=api)
        assert content.status_code == 200 and content.json()["code"]["shipment"] == number
        pallet = client.post("/api/v1/trace/pallets", headers=api, json={"line": "WH-DOCK"})
        assert pallet.status_code == 201 and len(pallet.json()["value"]) == 18

        log_in(client, "inspector", language="en")  # reads, does not act
        assert client.get(f"/trace/shipments/{number}").status_code == 200
        assert 'data-testid="pick-form"' not in client.get("/trace/aggregation", params={"parent": CASE}).text
        assert (
            client.post("/trace/customers", data={"code": "X-1", "name": "xx", "kind": "other"}).status_code
            == 403
        )
