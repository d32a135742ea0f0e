"""The testing pages as the lab uses them on a tablet (TJ-7.3, TJ-7.4, TJ-7.7): ordering a sample's tests, entering
a result with its instrument files, the second person's signed review, the worklists; everything visible on the
test's page — formula, raw values, computed and reported value, files and whether they still match their SM3."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from lims_result_steps import (
    ANALYST,
    BALANCE_CSV,
    HPLC_CSV,
    MANNITOL_SPEC,
    REVIEWER,
    counts,
    danshen_order,
    sampled,
    state_of,
    versions,
)

from helpers import token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.filestore import sm3_hex
from pharmatrace.lims import instrument_files
from pharmatrace.storage.engine import Database

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

ITEM = "含量测定（丹酚酸B）"


@pytest.mark.clause("TJ-7.4", "TJ-7.3")
def test_the_analyst_orders_the_tests_of_a_sample_on_the_orders_page(
    db: Database, client: TestClient
) -> None:
    analyst = token(client, ANALYST)
    code = sampled(db)
    page = client.get("/lims/orders", headers=analyst, params={"sample": code})
    assert page.status_code == 200 and 'data-testid="order-form"' in page.text and code in page.text
    made = client.post("/lims/orders", headers=analyst, follow_redirects=False,
                       data={"sample_code": code, "spec_code": MANNITOL_SPEC, "source": "receipt", "analyst": ANALYST,
                             "source_ref": "", "note": ""})  # fmt: skip
    assert made.status_code == 303 and made.headers["location"].startswith("/lims/orders/JY")
    shown = client.get(made.headers["location"], headers=analyst)
    assert "干燥失重" in shown.text and 'data-state="requested"' in shown.text
    again = client.post("/lims/orders", headers=analyst,
                        data={"sample_code": code, "spec_code": MANNITOL_SPEC, "source": "receipt"})  # fmt: skip
    ordered = made.headers["location"].split("/")[-1].split("?")[0]
    assert again.status_code == 409 and 'data-testid="error"' in again.text and ordered in again.text


@pytest.mark.clause("TJ-7.3", "TJ-10.1.3.3.a", "TJ-7.4")
def test_a_result_entered_with_its_files_on_the_tablet_form_and_signed_by_the_reviewer(
    db: Database, client: TestClient
) -> None:
    tests = danshen_order(db)
    analyst, reviewer = token(client, ANALYST), token(client, REVIEWER)
    form = client.get(f"/lims/tests/{tests[ITEM]}", headers=analyst)
    assert 'data-testid="entry-form"' in form.text and "raw_A_s" in form.text and 'name="file1"' in form.text
    saved = client.post(f"/lims/tests/{tests[ITEM]}/enter", headers=analyst, follow_redirects=False,
                        data={"kind": "entry", "raw_P": "0.962", "format1": "hplc_csv", "format2": "balance_csv",
                              "processing": "DS-SAB-01 v1"},
                        files={"file1": ("summary.csv", HPLC_CSV, "text/csv"),
                               "file2": ("weighing.csv", BALANCE_CSV, "text/csv")})  # fmt: skip
    assert saved.status_code == 303, saved.text
    page = client.get(f"/lims/tests/{tests[ITEM]}", headers=reviewer).text
    assert 'data-testid="reported-1">4.5<' in page and 'data-testid="computed-1">4.4769' in page
    assert "salvianolic_b = (A_s / A_r) * (W_r / W_s) * P * 100" in page and "1402240" in page
    assert page.count('data-intact="yes"') == 2 and 'data-testid="review-form"' in page
    result = versions(db, tests[ITEM])[0]
    signed = client.post(f"/lims/results/{result.id}/review", headers=reviewer, follow_redirects=False,
                         data={"decision": "approved", "comment": "", "login": REVIEWER,
                               "password": DEMO_PASSWORD})  # fmt: skip
    assert signed.status_code == 303 and state_of(db, tests[ITEM]) == "approved"
    assert "孙丽" in client.get(f"/lims/tests/{tests[ITEM]}", headers=analyst).text


@pytest.mark.clause("TJ-7.4", "TJ-10.1.3.3.a")
def test_a_refused_entry_shows_why_and_a_changed_file_is_shown_as_refused(
    db: Database, client: TestClient
) -> None:
    tests = danshen_order(db)
    analyst = token(client, ANALYST)
    before = counts(db)
    refused = client.post(f"/lims/tests/{tests['水分']}/enter", headers=analyst,
                          data={"kind": "entry", "value": "10.1", "instrument_code": "UV-01"})  # fmt: skip
    assert refused.status_code == 409 and "UV-01" in refused.text and 'data-testid="error"' in refused.text
    assert counts(db) == before
    saved = client.post(f"/lims/tests/{tests[ITEM]}/enter", headers=analyst, follow_redirects=False,
                        data={"kind": "entry", "raw_P": "0.962", "raw_W_r": "10.12", "raw_W_s": "200.15",
                              "format1": "hplc_csv"},
                        files={"file1": ("summary.csv", HPLC_CSV, "text/csv")})  # fmt: skip
    assert saved.status_code == 303
    instrument_files.STORE.path_of(db, sm3_hex(HPLC_CSV)).write_bytes(b"Instrument,HPLC-01\nedited")
    page = client.get(f"/lims/tests/{tests[ITEM]}", headers=analyst).text
    assert 'data-intact="no"' in page
    file_id = versions(db, tests[ITEM])[0].raws[0].file_id
    assert client.get(f"/lims/files/{file_id}", headers=analyst).status_code == 409


@pytest.mark.clause("TJ-7.7", "TJ-7.4")
def test_the_worklists_show_the_analysts_open_tests_and_the_results_to_review(client: TestClient) -> None:
    analyst, reviewer = token(client, ANALYST), token(client, REVIEWER)
    mine = client.get("/lims/worklist", headers=analyst)
    queue = client.get("/lims/review", headers=reviewer)
    assert mine.status_code == 200 and "含量测定（人参皂苷Rg1" in mine.text
    assert queue.status_code == 200 and "水分" in queue.text and "OOS2" in queue.text
    assert client.get("/lims/review", headers=analyst).status_code == 403
    assert client.get("/lims/worklist", headers=reviewer).status_code == 403
    order = client.get("/lims/orders", headers=reviewer)
    assert 'data-state="oos"' in order.text
