"""Deviation pages: the list with its counts, ageing and overdue filter; a deviation's page with its record,
impacts, timeline and closure signature; the forms of each step shown to whoever may take it, and the new
deviation's form for those who raise but do not read quality records (TJ-6.4.4, SH-6.2.4)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from demo_codes import demo_codes
from helpers import log_in
from pharmatrace.kernel import clock
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.mark.clause("TJ-6.4.4", "SH-6.2.4", "TJ-B.2.3.2")
def test_the_pages_list_show_and_take_a_deviation_through_its_steps(db: Database) -> None:
    lot = demo_codes(db).lot("YC", 3)  # the demo's 三七 lot
    occurred = clock.to_beijing(clock.now() - timedelta(hours=1))  # datetime-local: Beijing time
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        log_in(client, "zhouqiang", language="en")  # the keeper raises, on a page of its own
        assert client.get("/qms/deviations").status_code == 403
        form = {"description": "冷库门未关严，温度 8.6 °C。", "occurred_at": f"{occurred:%Y-%m-%dT%H:%M}",
                "immediate_actions": "关闭库门，温度 10 min 内恢复。", "affected_lots": lot.lower(),
                "source_kind": "wms", "source": "wms:WH-CS", "category": "storage"}  # fmt: skip
        created = client.post("/qms/deviations", data=form)
        assert created.status_code == 200 and created.url.path == "/qms/deviations/new"
        number = re.search(r'data-testid="recorded">(DEV-\d{4}-\d{4})<', created.text).group(1)  # type: ignore[union-attr]
        bad = client.post("/qms/deviations", data={**form, "description": ""})
        assert bad.status_code == 422 and 'data-testid="error"' in bad.text

        log_in(client, "chenjing", language="en")
        listed = client.get("/qms/deviations", params={"status": "active"})
        assert listed.status_code == 200
        for testid in ("dashboard", "counts", "ageing", f"deviation-{number}", "create-form"):
            assert f'data-testid="{testid}"' in listed.text, testid
        page = client.get(f"/qms/deviations/{number}")
        assert page.status_code == 200 and lot in page.text
        for testid in (
            "record",
            "impacts",
            "timeline",
            "classify-form",
            "impact-form",
            "cancel-form",
            "audit-trail",
        ):
            assert f'data-testid="{testid}"' in page.text, testid
        done = client.post(f"/qms/deviations/{number}/classify", data={
            "category": "storage", "product_quality": "on", "rationale": "可能影响冷藏物料质量。"})  # fmt: skip
        assert done.status_code == 200 and 'data-testid="class">Major<' in done.text
        refused = client.post(f"/qms/deviations/{number}/investigation", data={"root_cause": "门禁故障"})
        assert refused.status_code == 422 and 'data-testid="error"' in refused.text

        listed_closed = client.get("/qms/deviations", params={"status": "closed"}).text
        closed = re.findall(r'data-testid="deviation-(DEV-[\d-]+)"', listed_closed)
        demo = client.get(f"/qms/deviations/{closed[-1]}").text
        assert "赵敏" in demo and ">valid<" in demo and "close-form" not in demo
        assert 'data-testid="overdue"' not in client.get("/qms/deviations", params={"overdue": "1"}).text

        log_in(client, "zhangwei", language="en")  # the operator neither reads nor classifies
        assert client.get(f"/qms/deviations/{number}").status_code == 403
        assert client.post(f"/qms/deviations/{number}/classify", data={}).status_code == 403
