"""The alarm pages and API: the demo's alarms listed and searched, printed, acknowledged with an assessment by whoever
may, refused to the others; a tag's alarm rules kept by the equipment engineer (TJ-6.5, TJ-6.7, SH-8.4.3)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from helpers import log_in, token
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.mark.clause("TJ-6.5", "TJ-6.7", "SH-8.4.3", "TJ-10.1.2.1")
def test_alarms_are_listed_printed_and_acknowledged_on_the_pages(db: Database) -> None:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        api = token(client, "wuhao")
        found = client.get("/api/v1/monitoring/alarms", headers=api).json()
        by_tag = {a["tag"]: a for a in found}
        water, pressure = by_tag["RM-PREP.conductivity"], by_tag["RM-FILL.differential_pressure"]
        assert (water["state"], water["value"], pressure["state"]) == ("active", "1.48", "closed")
        detail = client.get(f"/api/v1/monitoring/alarms/{pressure['id']}", headers=api).json()
        assert [t["transition"] for t in detail["transitions"]] == [
            "raised",
            "cleared",
            "acknowledged",
            "closed",
        ]

        log_in(client, "lina", language="en")
        page = client.get("/monitoring/alarms")
        assert page.status_code == 200, page.text
        for testid in (
            "awaiting",
            "alarm-filters",
            "alarms",
            f"alarm-{water['number']}",
            f"alarm-{pressure['number']}",
        ):
            assert f'data-testid="{testid}"' in page.text, testid
        assert 'data-testid="awaiting-count">1<' in page.text
        filtered = client.get("/monitoring/alarms", params={"room": "RM-FILL", "state": "closed"})
        assert pressure["number"] in filtered.text and water["number"] not in filtered.text
        assert 'data-testid="alarm-badge"' in client.get("/monitoring/alarms/badge").text
        printed = client.get("/monitoring/alarms/history.pdf", params={"room": "RM-PREP"})
        assert printed.status_code == 200 and printed.content.startswith(b"%PDF")

        url = f"/monitoring/alarms/{water['id']}"
        assert 'data-testid="acknowledge-form"' in client.get(url).text
        empty = client.post(f"{url}/acknowledge", data={"comment": " "})
        assert empty.status_code == 422 and 'data-testid="field-error-comment"' in empty.text
        log_in(client, "zhangwei", language="en")  # the operator views alarms but does not acknowledge them
        assert 'data-testid="acknowledge-form"' not in client.get(url).text
        assert client.post(f"{url}/acknowledge", data={"comment": "已确认"}).status_code == 403
        assert client.get("/monitoring/alarms/badge").text.strip() == ""
        log_in(client, "lina", language="en")
        done = client.post(f"{url}/acknowledge", data={"comment": "使用点取样复测，已通知设备部冲洗管路"},
                           follow_redirects=False)  # fmt: skip
        assert done.status_code == 303, done.text
        acknowledged = client.get(url)
        assert "Acknowledged" in acknowledged.text and "使用点取样复测" in acknowledged.text
        assert "acknowledge-form" not in acknowledged.text

        log_in(client, "wuhao", language="en")
        rules = client.get("/monitoring/tags/RM-PREP.conductivity/alarm-rules")
        assert (
            rules.status_code == 200 and 'data-testid="rule-PW"' in rules.text and "rule-form" in rules.text
        )
        bad = client.post("/monitoring/tags/RM-PREP.conductivity/alarm-rules",
                          data={"name": "ALERT", "alert_high": "1.5", "action_high": "1.3"})  # fmt: skip
        assert bad.status_code == 422 and "inside the action limits" in bad.text
        made = client.post("/monitoring/tags/RM-PREP.conductivity/alarm-rules",
                           data={"name": "ALERT", "alert_high": "1.1", "on_delay_s": "120"}, follow_redirects=False)  # fmt: skip
        assert made.status_code == 303, made.text
        rules = client.get("/monitoring/tags/RM-PREP.conductivity/alarm-rules")
        assert 'data-testid="rule-ALERT"' in rules.text and "Audit trail" in rules.text
        created = client.post("/api/v1/monitoring/alarms/rules", headers=api,
                              json={"tag": "RM-PREP.toc", "name": "ALERT", "alert_high": "400"})  # fmt: skip
        assert created.status_code == 201, created.text
        operator = token(client, "zhangwei")
        assert client.post(f"/api/v1/monitoring/alarms/{water['id']}/acknowledge", headers=operator,
                           json={"comment": "已确认"}).status_code == 403  # fmt: skip
