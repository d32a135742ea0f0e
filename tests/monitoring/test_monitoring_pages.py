"""The monitoring page and API: sources and tags with their latest values for whoever may view monitoring, refused
to the others; the web app registers the historian with the batch record while it runs (SH-8.4.3, TJ-6.5)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from helpers import log_in, token
from pharmatrace.mes import historian_seam
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.mark.clause("SH-8.4.3", "TJ-6.5", "TJ-6.7", "SH-6.3.1", "TJ-6.4.3.4")
def test_the_page_lists_sources_and_tags_with_their_latest_values(db: Database) -> None:
    assert not historian_seam.registered()
    with TestClient(create_app(db, historian_reader=True), cookies={"pt_lang": "en"}) as client:
        assert historian_seam.registered()  # the batch record reads bound tags from this historian
        log_in(client, "inspector", language="en")
        home = client.get("/")
        assert 'href="/monitoring"' in home.text
        page = client.get("/monitoring")
        assert page.status_code == 200, page.text
        for testid in ("sources", "source-FD-01-OPCUA", "source-CLEANROOM-MQTT", "source-WATER-MODBUS", "tags",
                       "tag-RM-FILL.temperature", "tag-FD-01.shelf_temperature", "tag-RM-PREP.conductivity"):  # fmt: skip
            assert f'data-testid="{testid}"' in page.text, testid
        assert "Uncertain" in page.text or "Good" in page.text
        filtered = client.get("/monitoring", params={"source": "WATER-MODBUS"})
        assert "tag-RM-PREP.toc" in filtered.text and "tag-RM-FILL.temperature" not in filtered.text
        detail = client.get("/monitoring/tags/RM-FILL.humidity", params={"hours": "168"})
        assert detail.status_code == 200 and "12 values" in detail.text and "Uncertain" in detail.text
        assert "Audit trail" in detail.text and "wuhao" in detail.text
        assert client.get("/monitoring/tags/XX-01.nothing").status_code == 404

        log_in(client, "zhengxue", language="en")  # the document controller does not view monitoring
        assert client.get("/monitoring").status_code == 403

        api = token(client, "wuhao")
        listed = client.get("/api/v1/monitoring/tags", headers=api, params={"source": "CLEANROOM-MQTT"})
        assert listed.status_code == 200
        rows = {row["name"]: row for row in listed.json()}
        assert (
            rows["RM-FILL.temperature"]["latest_value"] is not None
            and rows["RM-FILL.temperature"]["room"] == "RM-FILL"
        )
        values = client.get("/api/v1/monitoring/tags/RM-FILL.temperature/values", headers=api,
                            params={"start": "2000-01-01T00:00:00+00:00", "end": "2000-01-20T00:00:00+00:00"})  # fmt: skip
        assert values.status_code == 200 and values.json() == []
        changed = client.patch("/api/v1/monitoring/tags/RM-FILL.temperature", headers=api,
                               json={"high_limit": "25", "reason": "alert level per EM trend review"})  # fmt: skip
        assert changed.status_code == 200 and changed.json()["high_limit"] in ("25", "25.000000")
        refused = client.patch("/api/v1/monitoring/tags/RM-FILL.temperature", headers=token(client, "zhangwei"),
                               json={"high_limit": "30", "reason": "raise the limit"})  # fmt: skip
        assert refused.status_code == 403
    assert not historian_seam.registered()  # taken back at shutdown
    with TestClient(create_app(db)):
        assert not historian_seam.registered()  # only when asked (serve does): MES tests register their own
