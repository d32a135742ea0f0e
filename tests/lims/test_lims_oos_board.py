"""The OOS board (TJ-7.7, TJ-B.2.4.3): the demo's open 三七 水分 case with what it is linked to."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.mark.clause("TJ-7.7", "TJ-B.2.4.3")
def test_the_oos_board_shows_the_open_case_with_analyst_instrument_and_calibration(db: Database) -> None:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        assert client.post("/login", data={"login": "inspector", "password": DEMO_PASSWORD}).status_code in (
            200,
            303,
        )
        page = client.get("/lims/oos")
        assert page.status_code == 200, page.text
        row = re.search(r'<tr data-case="OOS[^"]+">.*?</tr>', page.text, re.S)
        assert row is not None
        shown = row.group(0)
        assert "水分" in shown and "14.6 %" in shown and "王芳" in shown and "BAL-QC-01" in shown
        assert "calibrated until" in shown and "Phase I (laboratory)" in shown and "Open" in shown
        closed = client.get("/lims/oos", params={"status": "closed"})
        assert 'data-case="' not in closed.text and "No OOS case" in closed.text
