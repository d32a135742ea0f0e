"""The floor plan's editor: the equipment engineer places every room of the plant and the utility systems on the
plan in a table (no JavaScript needed) and saves it with a reason through the audited setting; a half-filled row,
no reason, a rectangle outside the plan, an unknown room or overlapping rectangles are shown on the form with what
was typed, and nothing is stored; whoever may not maintain equipment is refused (TJ-6.5, SH-6.3.1, SH-7.1.3,
TJ-10.1.1.2.b, TJ-10.1.1.2.c). The drag-and-drop preview is proven in real Chromium (tests/e2e)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import audit_entries, log_in
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.monitoring import environment
from pharmatrace.monitoring.demo import FLOOR_PLAN
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: set_floor_plan itself is tested on PostgreSQL

EDIT = "/monitoring/floor-plan/edit"
ROOMS: dict[str, dict[str, int]] = dict(FLOOR_PLAN["rooms"])  # type: ignore[arg-type]


def inputs(page: str) -> dict[str, str]:
    """The editor's inputs as the page shows them (name → value), as a browser would post them."""
    found = re.findall(r'<input type="(?:number|text)" name="([^"]+)" value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in found}


def stored(db: Database) -> dict[str, Any]:
    with db.sessions() as session:
        return environment.floor_plan(session).model_dump(mode="json")


def trail(db: Database) -> list[AuditEntry]:
    return audit_entries(db, object_type="setting", object_id=environment.SETTINGS_KEY)


@pytest.mark.clause("TJ-6.5", "SH-6.3.1", "SH-7.1.3", "TJ-10.1.1.2.b", "TJ-10.1.1.2.c")
def test_the_engineer_moves_a_room_on_the_editor_and_the_trail_keeps_old_and_new(db: Database) -> None:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        log_in(client, "wuhao", language="en")  # the equipment engineer
        assert f'href="{EDIT}"' in client.get("/monitoring/floor-plan").text
        page = client.get(EDIT)
        assert page.status_code == 200, page.text
        form = inputs(page.text)
        for code, rect in ROOMS.items():
            assert f'data-testid="edit-{code}"' in page.text, code
            assert [form[f"room.{code}.{side}"] for side in "xywh"] == [str(rect[s]) for s in "xywh"], code
        assert {form[f"room.RM-QC-PC.{side}"] for side in "xywh"} == {""}  # a room not on the plan
        assert form["utility.wfi.label"] == "注射用水系统" and form["utility.wfi.x"] == "260"
        assert 'src="/static/js/floorplan-editor.js"' in page.text
        assert client.get("/static/js/floorplan-editor.js").status_code == 200  # served locally
        before = len(trail(db))

        moved = {**form, "room.RM-PACK.x": "680", "room.RM-PACK.w": "300", "room.RM-QC-PC.x": "900",
                 "room.RM-QC-PC.y": "20", "room.RM-QC-PC.w": "100", "room.RM-QC-PC.h": "100",
                 "utility.wfi.x": "", "utility.wfi.y": "", "utility.wfi.w": "", "utility.wfi.h": "",
                 "reason": "包装间扩建，理化室加入平面图"}  # fmt: skip
        saved = client.post(EDIT, data=moved, follow_redirects=False)
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == "/monitoring/floor-plan?done=1"
        shown = client.get(saved.headers["location"]).text
        assert 'class="flash ok"' in shown and "Floor plan saved" in shown

        plan = stored(db)
        assert plan["rooms"]["RM-PACK"] == {"x": 680, "y": 260, "w": 300, "h": 180}
        assert plan["rooms"]["RM-QC-PC"] == {"x": 900, "y": 20, "w": 100, "h": 100}
        assert plan["rooms"]["RM-FILL"] == ROOMS["RM-FILL"]
        assert "wfi" not in [u["system"] for u in plan["utilities"]]
        entries = trail(db)
        assert len(entries) == before + 1
        entry = entries[-1]
        assert (entry.reason, entry.actor_login) == ("包装间扩建，理化室加入平面图", "wuhao")
        old, new = entry.changes["value"]
        assert old["rooms"]["RM-PACK"]["x"] == 660 and new["rooms"]["RM-PACK"]["x"] == 680
        shown_trail = client.get(EDIT).text
        assert 'data-testid="audit-trail"' in shown_trail and "包装间扩建，理化室加入平面图" in shown_trail


@pytest.mark.clause("TJ-6.5", "SH-6.3.1", "SH-7.1.3")
def test_a_refused_plan_is_shown_on_the_form_with_what_was_typed_and_nothing_is_stored(db: Database) -> None:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        log_in(client, "wuhao", language="en")
        form = {**inputs(client.get(EDIT).text), "reason": "重新布局"}
        plan, before = stored(db), len(trail(db))
        refused = [
            ({"room.RM-CAP.x": "500", "room.RM-CAP.y": "200"}, "The rectangles of RM-CAP and RM-FILL-A overlap",
             None),
            ({"room.RM-WEIGH.w": ""}, "RM-WEIGH: Fill in all four of x, y, w and h, or none",
             "field-error-room.RM-WEIGH"),
            ({"reason": ""}, "Reason for the change: This field is required", "field-error-reason"),
            ({"room.RM-PACK.x": "900"}, "RM-PACK: A rectangle must lie inside the plan (1000 × 600)",
             "field-error-room.RM-PACK"),
            ({"room.RM-NOPE.x": "900", "room.RM-NOPE.y": "300", "room.RM-NOPE.w": "60", "room.RM-NOPE.h": "60"},
             "Not a room of the plant: RM-NOPE", None),
            ({"utility.wfi.label": ""}, "Water for injection: A box on the plan needs a label",
             "field-error-utility.wfi"),
        ]  # fmt: skip
        for change, message, testid in refused:
            answer = client.post(EDIT, data={**form, **change})
            assert answer.status_code in (409, 422), (change, answer.status_code)
            shown = re.search(r'data-testid="error">([^<]*)<', answer.text)
            assert shown is not None and shown.group(1) == html.escape(message, quote=False), (change, shown)
            if testid:
                assert f'data-testid="{testid}"' in answer.text, change
            kept = inputs(answer.text)  # the form shows what was typed, not the stored plan
            assert all(kept[k] == v for k, v in change.items() if k in kept), change
        assert stored(db) == plan and len(trail(db)) == before


@pytest.mark.clause("TJ-6.5", "SH-6.3.1")
def test_whoever_may_not_maintain_equipment_may_not_edit_the_plan(db: Database) -> None:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        plan, before = stored(db), len(trail(db))
        log_in(client, "lina", language="en")  # the supervisor views monitoring, does not configure it
        live = client.get("/monitoring/floor-plan")
        assert live.status_code == 200 and EDIT not in live.text
        assert client.get(EDIT).status_code == 403
        posted = client.post(EDIT, data={"room.RM-PACK.x": "0", "room.RM-PACK.y": "0", "room.RM-PACK.w": "50",
                                         "room.RM-PACK.h": "50", "reason": "试试"})  # fmt: skip
        assert posted.status_code == 403
        assert stored(db) == plan and len(trail(db)) == before
