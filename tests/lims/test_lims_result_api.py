"""The results API as the lab's clients use it (TJ-7.3, TJ-7.4, TJ-7.7): orders, entry, instrument files, review,
worklists, OOS cases and the trend history; each write refused to who may not make it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from lims_result_steps import ANALYST, BALANCE_CSV, HPLC_CSV, MANNITOL_SPEC, REVIEWER, counts, sampled
from lims_sampling_steps import QUARANTINED

from helpers import token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.filestore import sm3_hex
from pharmatrace.storage.engine import Database

LOSS = "干燥失重"


@pytest.mark.clause("TJ-7.3", "TJ-7.4", "SH-7.1.2")
def test_an_order_is_tested_and_reviewed_through_the_api(db: Database, client: TestClient) -> None:
    analyst, reviewer = token(client, ANALYST), token(client, REVIEWER)
    body = {"sample_code": sampled(db), "spec_code": MANNITOL_SPEC, "analyst": ANALYST}
    refused = client.post("/api/v1/lims/orders", headers=reviewer, json=body)
    made = client.post("/api/v1/lims/orders", headers=analyst, json=body)
    assert refused.status_code == 403 and made.status_code == 201, made.text
    order = made.json()
    assert order["state"] == "requested" and len(order["tests"]) == 6
    loss = next(t for t in order["tests"] if t["item_name"] == LOSS)
    bad = client.post(f"/api/v1/lims/tests/{loss['id']}/results", headers=analyst,
                      json={"value": "0.2", "answer": "conforms"})  # fmt: skip
    entered = client.post(f"/api/v1/lims/tests/{loss['id']}/results", headers=analyst,
                          json={"value": "0.21", "instrument_code": "BAL-QC-01"})  # fmt: skip
    assert bad.status_code == 422 and entered.status_code == 201, entered.text
    result = entered.json()
    assert (result["computed"], result["reported"], result["outcome"], result["current"]) == ("0.21", "0.2", "pass",
                                                                                              True)  # fmt: skip
    decision = {"decision": "approved", "password": DEMO_PASSWORD, "login": ANALYST}
    own = client.post(f"/api/v1/lims/results/{result['id']}/review", headers=analyst, json=decision)
    reviewed = client.post(f"/api/v1/lims/results/{result['id']}/review", headers=reviewer,
                           json={**decision, "login": REVIEWER})  # fmt: skip
    assert own.status_code == 403 and reviewed.status_code == 201, reviewed.text
    assert reviewed.json()["signatures"][0]["meaning"] == "reviewed"
    shown = client.get(f"/api/v1/lims/orders/{order['id']}", headers=reviewer).json()
    assert next(t for t in shown["tests"] if t["item_name"] == LOSS)["state"] == "approved"
    history = client.get("/api/v1/lims/results/history", headers=reviewer,
                         params={"material": "EXC-MAN-01", "item": LOSS})  # fmt: skip
    assert [p["value"] for p in history.json()] == ["0.2"]


@pytest.mark.clause("TJ-10.1.3.3.a", "TJ-7.3")
def test_instrument_files_are_uploaded_kept_and_served_as_they_came(db: Database, client: TestClient) -> None:
    analyst = token(client, ANALYST)
    order = client.post("/api/v1/lims/orders", headers=analyst,
                        json={"sample_code": sampled(db, QUARANTINED), "spec_code": "QS-HB-DS-001"}).json()  # fmt: skip
    assay = next(t for t in order["tests"] if t["item_name"].startswith("含量测定"))
    upload = client.post(f"/api/v1/lims/tests/{assay['id']}/files", headers=analyst, data={"format": "hplc_csv"},
                         files={"file": ("summary.csv", HPLC_CSV, "text/csv")})  # fmt: skip
    balance = client.post(f"/api/v1/lims/tests/{assay['id']}/files", headers=analyst,
                          data={"format": "balance_csv"}, files={"file": ("w.csv", BALANCE_CSV, "text/csv")})  # fmt: skip
    assert upload.status_code == 201, upload.text
    kept = upload.json()
    assert kept["sm3"] == sm3_hex(HPLC_CSV) and [v["name"] for v in kept["values"]] == ["A_r", "A_s"]
    entered = client.post(f"/api/v1/lims/tests/{assay['id']}/results", headers=analyst,
                          json={"file_ids": [kept["id"], balance.json()["id"]], "raws": {"P": "0.962"}})  # fmt: skip
    assert entered.status_code == 201, entered.text
    assert entered.json()["reported"] == "4.5" and entered.json()["instrument_code"] == "HPLC-01"
    served = client.get(f"/api/v1/lims/files/{kept['id']}", headers=token(client, REVIEWER))
    assert served.status_code == 200 and served.content == HPLC_CSV and served.headers["x-sm3"] == kept["sm3"]
    detail = client.get(f"/api/v1/lims/tests/{assay['id']}", headers=analyst).json()
    assert {f["id"] for f in detail["files"]} == {kept["id"], balance.json()["id"]}
    before = counts(db)
    wrong = client.post(f"/api/v1/lims/tests/{assay['id']}/files", headers=analyst, data={"format": "hplc_csv"},
                        files={"file": ("x.csv", b"\x00\x01binary", "text/csv")})  # fmt: skip
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "raw_file_refused"
    assert counts(db) == before


@pytest.mark.clause("TJ-7.7", "TJ-7.4")
def test_worklists_and_oos_cases_show_the_demo_lot(client: TestClient) -> None:
    analyst, reviewer = token(client, ANALYST), token(client, REVIEWER)
    mine = client.get("/api/v1/lims/worklist", headers=analyst).json()
    queue = client.get("/api/v1/lims/review-queue", headers=reviewer)
    cases = client.get("/api/v1/lims/oos-cases", headers=reviewer, params={"status": "open"}).json()
    assert [t["item_name"][:4] for t in mine["mine"]] == ["含量测定"]
    assert [t["item_name"] for t in queue.json()] == ["水分"] and queue.json()[0]["state"] == "oos"
    assert [(c["item_name"], c["phase"], c["status"], c["result"]) for c in cases] == [("水分", "II", "open",
                                                                                     "14.6 %")]  # fmt: skip
    assert client.get("/api/v1/lims/review-queue", headers=analyst).status_code == 403
