"""The trace area's pages and API for codes: the landing page with identifiers, pools by state and allocations per
batch, the forms that register, import and allocate, a code's page with its history, in Chinese (NMPAB/T 1002,
SH-6.2.5.1, TJ-6.3.4)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import log_in, token
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on PostgreSQL

UNIT_ID = "8123456"  # a middle pack (中包, level 2): the demo product has identifiers at levels 1 and 3 only
CODES = [f"{UNIT_ID}{n:09d}{(n * 7919) % 10000:04d}" for n in range(1, 11)]


def _open_batch(db: Database) -> str:
    with db.sessions() as session:
        found = session.scalar(
            select(BatchOrder.batch_no).where(BatchOrder.status.in_(("planned", "released", "in_progress")))
        )
        assert found is not None
        return found


@pytest.mark.clause("SH-6.2.5.1", "TJ-6.3.4", "TJ-9.1")
def test_the_keeper_imports_and_allocates_on_the_pages_and_a_code_shows_its_history_in_chinese(
    db: Database,
) -> None:
    batch = _open_batch(db)
    with TestClient(create_app(db), follow_redirects=False) as client:
        log_in(client, "zhouqiang", language="zh_CN")
        home = client.get("/")
        assert 'href="/trace"' in home.text
        page = client.get("/trace")
        assert page.status_code == 200 and "药品追溯码与追溯" in page.text
        for testid in ("lookup", "identifiers", "pools", "allocations", "identifier-form", "import-form"):
            assert f'data-testid="{testid}"' in page.text, testid

        registered = client.post("/trace/identifiers", data={"scheme": "nmpa", "code": UNIT_ID, "material": "fg-dh-0200",
                                                             "level": "2", "pack_quantity": "5"})  # fmt: skip
        assert registered.status_code == 303, registered.text
        bad = "\n".join([*CODES[:3], CODES[3][:-1]]).encode()
        refused = client.post("/trace/pools/import", data={"identifier": UNIT_ID},
                              files={"file": ("pool.txt", bad, "text/plain")})  # fmt: skip
        assert refused.status_code == 422 and "4" in refused.text and CODES[3][:-1] in refused.text
        imported = client.post("/trace/pools/import", data={"identifier": UNIT_ID, "reference": "MSFX-0042"},
                               files={"file": ("pool.csv", ("追溯码\n" + "\n".join(CODES)).encode(), "text/csv")})  # fmt: skip
        assert imported.status_code == 303, imported.text
        allocated = client.post("/trace/allocations", data={"batch": batch, "line": "PK-01", "identifier": UNIT_ID,
                                                             "count": "4"})  # fmt: skip
        assert allocated.status_code == 303, allocated.text
        page = client.get("/trace")
        assert (
            f'data-testid="identifier-{UNIT_ID}"' in page.text
            and f'data-testid="batch-{batch}-{UNIT_ID}"' in page.text
        )
        assert "MSFX-0042" in page.text and 'data-state="allocated">4<' in page.text

        found = client.get("/trace/lookup", params={"scan": f" {CODES[0]} "})
        assert found.status_code == 303 and found.headers["location"] == f"/trace/codes/{CODES[0]}"
        code = client.get(found.headers["location"])
        assert code.status_code == 200
        assert "注射用丹红冻干粉" in code.text and batch in code.text and "PK-01" in code.text
        assert 'data-action="import"' in code.text and 'data-action="allocate"' in code.text
        assert "✓" in code.text and 'data-testid="commission-form"' in code.text
        assert "<dt>批</dt>" in code.text  # the page speaks the plant's language
        commissioned = client.post(f"/trace/codes/{CODES[0]}/commission", data={"batch": batch})
        assert commissioned.status_code == 303
        assert 'data-action="commission"' in client.get(f"/trace/codes/{CODES[0]}").text
        assert client.get("/trace/lookup", params={"scan": "81234569"}).status_code == 404

        log_in(client, "inspector", language="zh_CN")  # reads the trace, manages nothing
        page = client.get("/trace")
        assert page.status_code == 200 and 'data-testid="import-form"' not in page.text
        assert client.post("/trace/allocations", data={"batch": batch}).status_code == 403
        log_in(client, "zhengxue", language="zh_CN")  # the document controller does not trace
        assert client.get("/trace").status_code == 403


@pytest.mark.clause("SH-6.2.5.1", "SH-7.1.2")
def test_the_api_registers_imports_as_list_or_upload_and_shows_a_code(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        keeper = token(client, "zhouqiang")
        created = client.post("/api/v1/trace/identifiers", headers=keeper,
                              json={"scheme": "gs1", "code": "06901234567891", "material": "FG-DH-0200", "level": 1})  # fmt: skip
        assert created.status_code == 422  # the check digit is wrong
        taken = client.post("/api/v1/trace/identifiers", headers=keeper,
                            json={"scheme": "nmpa", "code": UNIT_ID, "material": "FG-DH-0200", "level": 1})  # fmt: skip
        assert taken.status_code == 409 and "8612601" in taken.json()["error"]["message"]  # the demo's box
        created = client.post("/api/v1/trace/identifiers", headers=keeper,
                              json={"scheme": "nmpa", "code": UNIT_ID, "material": "FG-DH-0200", "level": 2,
                                    "pack_quantity": 5})  # fmt: skip
        assert created.status_code == 201 and created.json()["available"] == 0
        listed = client.post("/api/v1/trace/pools/import", headers=keeper,
                             json={"identifier": UNIT_ID, "codes": CODES[:5], "reference": "MSFX-0043"})  # fmt: skip
        assert listed.status_code == 201 and listed.json()["states"]["available"] == 5
        assert listed.json()["file_sm3"] and listed.json()["origin"] == "issuer_file"
        again = client.post(
            "/api/v1/trace/pools/import", headers=keeper, json={"identifier": UNIT_ID, "codes": CODES[4:6]}
        )
        assert again.status_code == 409 and CODES[4] in again.json()["error"]["message"]
        uploaded = client.post("/api/v1/trace/pools/upload", headers=keeper, data={"identifier": UNIT_ID},
                               files={"file": ("pool.txt", "\n".join(CODES[5:]).encode(), "text/plain")})  # fmt: skip
        assert uploaded.status_code == 201 and uploaded.json()["count"] == 5
        pools = client.get("/api/v1/trace/pools", headers=token(client, "inspector")).json()
        assert [p["count"] for p in pools[:2]] == [5, 5]
        shown = client.get(f"/api/v1/trace/codes/{CODES[2]}", headers=keeper)
        assert shown.status_code == 200
        body = shown.json()
        assert (body["state"], body["verified"], body["product_code"]) == ("available", True, "FG-DH-0200")
        assert [h["action"] for h in body["history"]] == ["import"]
        refused = client.post("/api/v1/trace/codes/decommission", headers=keeper,
                              json={"codes": [CODES[2]], "disposition": "lost", "reason": "gone"})  # fmt: skip
        assert refused.status_code == 422
        voided = client.post(f"/api/v1/trace/identifiers/{UNIT_ID}/void", headers=keeper,
                             json={"reason": "pack size discontinued"})  # fmt: skip
        assert voided.status_code == 200 and voided.json()["void_reason"] == "pack size discontinued"
        late = client.post(
            "/api/v1/trace/pools/import", headers=keeper, json={"identifier": UNIT_ID, "codes": CODES[:1]}
        )
        assert late.status_code == 409 and UNIT_ID in late.json()["error"]["message"]  # voided
