"""Sources and tags configured on the monitoring pages by the equipment engineer: created, changed and voided with a
reason, every refusal shown on the form with nothing changed; the forms and their posts refused to whoever may not
maintain equipment (SH-8.4.3, SH-7.1.3.b, TJ-6.5, TJ-10.3)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from helpers import count_rows, log_in, token
from pharmatrace.monitoring.models import DataSource, Tag
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

SOURCE = {
    "code": "LAB-MQTT",
    "name": "化验室环境 MQTT",
    "protocol": "mqtt",
    "endpoint": "mqtt://10.0.0.9:1883",
}
TAG = {"source": "LAB-MQTT", "name": "RM-LYO.humidity", "address": "lab/RM-LYO#rh", "data_type": "decimal",
       "decimals": "1", "unit": "%RH", "low_limit": "30", "high_limit": "70", "scan_rate_ms": "10000",
       "retention_class": "environment", "location": "", "description": "冻干间相对湿度"}  # fmt: skip


def _counts(db: Database) -> tuple[int, int]:
    return count_rows(db, DataSource), count_rows(db, Tag)


@pytest.mark.clause("SH-8.4.3", "SH-7.1.3.b", "TJ-6.5", "TJ-10.3")
def test_the_engineer_creates_changes_and_voids_sources_and_tags_on_the_pages(db: Database) -> None:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        log_in(client, "wuhao", language="en")
        page = client.get("/monitoring")
        assert 'data-testid="source-form"' in page.text and 'data-testid="tag-form"' in page.text
        assert 'data-testid="trend"' not in page.text and 'id="collectors"' in page.text  # the overview stays
        before = _counts(db)

        wrong = client.post("/monitoring/sources", data={**SOURCE, "endpoint": "opc.tcp://10.0.0.9:4840"})
        assert wrong.status_code == 422 and "write it as mqtt://" in wrong.text, wrong.text
        assert 'value="opc.tcp://10.0.0.9:4840"' in wrong.text  # the form shows what was posted
        made = client.post("/monitoring/sources", data=SOURCE, follow_redirects=False)
        assert (made.status_code, made.headers["location"]) == (303, "/monitoring/sources/LAB-MQTT"), (
            made.text
        )
        again = client.post("/monitoring/sources", data=SOURCE)
        assert again.status_code == 409 and "exists already" in again.text

        refused = [
            ({"low_limit": "80"}, 422, "low limit must be below the high limit"),
            ({"name": "XX-99.humidity"}, 422, "neither in the equipment register nor a room"),
            ({"name": "RM-LYO.humidity", "address": ""}, 422, 'data-testid="field-error-address"'),
        ]  # fmt: skip
        for change, status, message in refused:
            answer = client.post("/monitoring/tags", data={**TAG, **change})
            assert answer.status_code == status and message in answer.text, (change, answer.text)
            assert 'data-testid="error"' in answer.text
        assert _counts(db) == (before[0] + 1, before[1])  # the source only
        made = client.post("/monitoring/tags", data=TAG, follow_redirects=False)
        assert (made.status_code, made.headers["location"]) == (303, "/monitoring/tags/RM-LYO.humidity"), (
            made.text
        )
        twin = client.post("/monitoring/tags", data={**TAG, "name": "RM-LYO.dew_point"})  # the same address
        assert twin.status_code == 409 and "reads lab/RM-LYO#rh already" in twin.text

        url = "/monitoring/tags/RM-LYO.humidity"
        tag = client.get(url)
        assert 'data-testid="tag-change-form"' in tag.text and "Environmental monitoring" in tag.text
        assert 'data-testid="trend"' in tag.text and 'data-testid="values"' in tag.text  # the tag page stays
        unreasoned = client.post(f"{url}/change", data={"high_limit": "65", "reason": ""})
        assert unreasoned.status_code == 422 and 'data-testid="field-error-reason"' in unreasoned.text
        inverted = client.post(f"{url}/change", data={"low_limit": "75", "reason": "按URS修订"})
        assert inverted.status_code == 422 and "low limit must be below" in inverted.text
        changed = client.post(f"{url}/change", follow_redirects=False,
                              data={"low_limit": "30", "high_limit": "65", "unit": "%RH", "scan_rate_ms": "10000",
                                    "retention_class": "environment", "reason": "按URS-LYO-03修订警戒限"})  # fmt: skip
        assert changed.status_code == 303, changed.text
        update = re.search(r"<tr>((?!</tr>).)*按URS-LYO-03修订警戒限.*?</tr>", client.get(url).text, re.S)
        assert update is not None and re.search(r"high_limit</code>: 70(\.0+)? → 65(\.0+)?<", update.group(0))
        assert "low_limit" not in update.group(0)  # only what changed

        source = "/monitoring/sources/LAB-MQTT"
        busy = client.post(f"{source}/void", data={"reason": "化验室改用有线网关"})
        assert busy.status_code == 409 and "still has 1 tags in use (RM-LYO.humidity)" in busy.text
        assert client.post(f"{url}/void", data={"reason": " "}).status_code == 422
        assert (
            client.post(f"{url}/void", data={"reason": "传感器拆除"}, follow_redirects=False).status_code
            == 303
        )
        voided = client.get(url).text
        assert 'data-testid="voided"' in voided and "传感器拆除" in voided and "tag-change-form" not in voided
        moved = client.post(f"{source}/change", follow_redirects=False,
                            data={"name": SOURCE["name"], "endpoint": "mqtt://10.0.0.10:1883", "reason": "网关迁移"})  # fmt: skip
        assert moved.status_code == 303, moved.text
        assert client.post(f"{source}/void", data={"reason": "化验室改用有线网关"},
                           follow_redirects=False).status_code == 303  # fmt: skip
        shown = client.get(source).text
        assert 'data-testid="voided"' in shown and "source-void-form" not in shown
        assert "mqtt://10.0.0.9:1883 → mqtt://10.0.0.10:1883" in shown and "化验室改用有线网关" in shown
        assert _counts(db) == (before[0] + 1, before[1] + 1)  # voided, never deleted


@pytest.mark.clause("SH-8.4.3", "TJ-10.3", "SH-7.1.3.b")
def test_whoever_may_not_maintain_equipment_sees_no_forms_and_the_api_refuses_the_same(db: Database) -> None:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        before = _counts(db)
        log_in(client, "lina", language="en")  # the supervisor views monitoring, does not configure it
        pages = [client.get(u).text for u in ("/monitoring", "/monitoring/sources/WATER-MODBUS",
                                               "/monitoring/tags/RM-PREP.toc")]  # fmt: skip
        assert "RM-PREP.toc" in pages[1] and "modbus://127.0.0.1:5020/1" in pages[1]
        for testid in ("source-form", "tag-form", "source-change-form", "source-void-form", "tag-change-form",
                       "tag-void-form"):  # fmt: skip
            assert all(f'data-testid="{testid}"' not in p for p in pages), testid
        posts = {
            "/monitoring/sources": SOURCE, "/monitoring/tags": {**TAG, "source": "WATER-MODBUS"},
            "/monitoring/sources/WATER-MODBUS/change": {"name": "x", "reason": "试试"},
            "/monitoring/sources/WATER-MODBUS/void": {"reason": "试试"},
            "/monitoring/tags/RM-PREP.toc/change": {"high_limit": "1", "reason": "试试"},
            "/monitoring/tags/RM-PREP.toc/void": {"reason": "试试"},
        }  # fmt: skip
        for url, data in posts.items():
            assert client.post(url, data=data).status_code == 403, url
        assert _counts(db) == before

        lina, wuhao = token(client, "lina"), token(client, "wuhao")
        api = "/api/v1/monitoring"
        assert (
            client.post(f"{api}/tags/RM-PREP.toc/void", headers=lina, json={"reason": "试试"}).status_code
            == 403
        )
        busy = client.post(f"{api}/sources/WATER-MODBUS/void", headers=wuhao, json={"reason": "停用"})
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "monitoring_source_in_use", (
            busy.text
        )
        bad = client.patch(f"{api}/sources/WATER-MODBUS", headers=wuhao,
                           json={"endpoint": "modbus://10.0.0.5:502/999", "reason": "换网关"})  # fmt: skip
        assert bad.status_code == 422, bad.text
        moved = client.patch(f"{api}/sources/WATER-MODBUS", headers=wuhao,
                             json={"endpoint": "modbus://10.0.0.5:502/2", "reason": "换网关"})  # fmt: skip
        assert moved.status_code == 200 and moved.json()["endpoint"] == "modbus://10.0.0.5:502/2", moved.text
        gone = client.post(f"{api}/tags/RM-PREP.toc/void", headers=wuhao, json={"reason": "仪表拆除"})
        assert gone.status_code == 200 and gone.json()["name"] == "RM-PREP.toc"
        assert "RM-PREP.toc" not in [t["name"] for t in client.get(f"{api}/tags", headers=wuhao).json()]
        assert _counts(db) == before
