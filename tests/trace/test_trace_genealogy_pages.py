"""Genealogy and recall-impact pages and ``/api/v1/trace/genealogy``: the graph drawn with the vendored ECharts,
the PDF export (audited), the recall impact, refusals for unknown codes and without ``trace.view`` (SH-6.2.5,
TJ-9.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from trace_steps import act, charge, commissioned, ship_to

from demo_codes import demo_codes
from helpers import audit_entries, log_in, token
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services are tested on PostgreSQL

UNITS = ["69012340000000015151", "69012340000000025151"]
CASE = "69012990000000015151"


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as test_client:
        yield test_client


@pytest.mark.clause("SH-6.2.5", "TJ-9.1")
def test_genealogy_pages_draw_export_and_refuse(client: TestClient, db: Database) -> None:
    plant = demo_codes(db)
    batch, herb = plant.batch_in_progress, plant.lot("YC", 1)
    charge(db, batch, herb)
    commissioned(db, UNITS, batch_no=batch)
    commissioned(db, [CASE], level=3, code="6901299", pack_quantity=2, batch_no=batch)
    act(db, "pack", UNITS, parent=CASE)
    ship_to(db, [CASE], customer="C-GEN-01")
    log_in(client, "chenjing", language="en")
    page = client.get("/trace/genealogy", params={"code": UNITS[0]})
    assert page.status_code == 200, page.text
    assert '<script src="/static/vendor/echarts.min.js"></script>' in page.text
    assert "expandAndCollapse: true" in page.text and 'type: "tree"' in page.text
    assert "saveAsImage" in page.text and "DS-01" in page.text and CASE in page.text
    assert 'data-testid="em-alarms">Environmental monitoring not connected' in page.text
    forward = client.get("/trace/genealogy", params={"ref": herb})
    assert (
        forward.status_code == 200
        and "C-GEN-01" in forward.text
        and 'data-testid="trace-shipments"' in forward.text
    )
    printed = client.get("/trace/genealogy.pdf", params={"code": UNITS[0]})
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF")
    assert len(audit_entries(db, event="trace.genealogy.pdf")) == 1
    unknown = client.get("/trace/genealogy", params={"code": "0000"})
    assert unknown.status_code == 404 and "No traceability code 0000" in unknown.text
    recall = client.get("/trace/recall-impact", params={"ref": batch})
    assert recall.status_code == 200 and 'data-testid="recall-customers"' in recall.text
    assert "C-GEN-01" in recall.text and "2 unit(s), 2 shipped to 1 customer(s)" in recall.text

    api = token(client, "chenjing")
    client.cookies.clear()
    backward = client.get(f"/api/v1/trace/genealogy/backward/{UNITS[1]}", headers=api).json()
    assert {n["ref"] for n in backward["nodes"] if n["kind"] == "plot"} == {"DS-01"}
    impact = client.get(f"/api/v1/trace/genealogy/recall-impact/{herb}", headers=api).json()
    assert impact["units_by_state"] == {"packed": 2} and impact["shipped_units"] == 2  # shipped in their case
    first = client.get(
        f"/api/v1/trace/genealogy/forward/{batch}/units", params={"limit": 1}, headers=api
    ).json()
    second = client.get(f"/api/v1/trace/genealogy/forward/{batch}/units",
                        params={"limit": 1, "after": first["next_after"]}, headers=api).json()  # fmt: skip
    assert [u["value"] for u in first["units"] + second["units"]] == UNITS
    assert client.get("/api/v1/trace/genealogy/forward/NOPE", headers=api).status_code == 404
    outsider = token(client, "wuhao")  # equipment engineer: no trace.view
    assert client.get(f"/api/v1/trace/genealogy/backward/{UNITS[0]}", headers=outsider).status_code == 403
