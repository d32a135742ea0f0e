"""Environmental monitoring: rooms judged against their clean-room grade (a tag's own limits winning), stale values,
the utilities against the plant's limits; the floor plan kept as an audited setting, refused whole when wrong; the
live floor-plan and limits pages for whoever views monitoring (TJ-6.5, TJ-6.6, TJ-6.7, TJ-6.8, SH-8.4.3)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from helpers import audit_entries, log_in, principal
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import NotPermitted, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims.result_models import OosCase
from pharmatrace.monitoring import alarms, environment, historian, tags
from pharmatrace.monitoring.adapters.modbus import ModbusAdapter
from pharmatrace.monitoring.demo import FLOOR_PLAN
from pharmatrace.monitoring.environment import FloorPlanUpdate
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.schemas import TagChange
from pharmatrace.monitoring.simulators.modbus_water import WaterSystemDevice
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

DEMO_ROOMS = ("RM-WEIGH", "RM-PREP", "RM-FILL", "RM-FILL-A", "RM-LYO", "RM-CAP", "RM-PACK")
WFI_TAGS = ("RM-PREP.wfi_conductivity", "RM-PREP.wfi_toc", "RM-PREP.wfi_loop_temperature", "RM-PREP.wfi_flow")


def poll_wfi_loop() -> tuple[list[Reading], list[Reading]]:
    """The utilities PLC's WFI registers read over Modbus TCP: as it starts, then with the hot loop cooled."""

    async def main() -> tuple[list[Reading], list[Reading]]:
        plc = WaterSystemDevice("RM-PREP")
        async with plc, ModbusAdapter("127.0.0.1", plc.port, plc.wfi_bindings()) as adapter:
            hot = await asyncio.wait_for(adapter.poll_once(), 10)
            plc.set("wfi_loop_temperature", Decimal("68.0"))
            return hot, await asyncio.wait_for(adapter.poll_once(), 10)

    return asyncio.run(main())


@pytest.mark.clause("TJ-6.5", "TJ-6.7", "TJ-6.8", "SH-8.4.3")
def test_rooms_are_judged_against_their_grade_the_tags_own_limits_winning_and_go_stale(db: Database) -> None:
    # the annex's figures, by grade and occupancy; the 10 Pa rule; the measure needs the signal and the unit
    assert environment.grade_limit("B", "particles_5", in_operation=False) == environment.Limit(
        None, Decimal(29), environment.GMP_ANNEX, "", environment.GMP_ANNEX
    )
    assert environment.grade_limit("B", "particles_0_5", in_operation=True).high == 352_000  # type: ignore[union-attr]
    assert environment.grade_limit("D", "particles_5", in_operation=True) is None  # not specified
    assert environment.grade_limit("A", "differential_pressure", in_operation=False).low == 10  # type: ignore[union-attr]
    assert [environment.measure_of(n, u) for n, u in (("RM-X.particles_0_5", "/m³"), ("RM-X.dp_to_corridor", "Pa"),
            ("RM-X.temperature", "°F"), ("FD-01.shelf_temperature", "°C"))] == [
        "particles_0_5", "differential_pressure", None, None]  # fmt: skip
    assert environment.system_of("RM-PREP.toc") == ("purified_water", "toc")
    assert environment.system_of("RM-PREP.compressed_air_dew_point") == ("compressed_air", "dew_point")
    assert environment.system_of("RM-PREP.wfi_loop_temperature") == ("wfi", "temperature")

    engineer = principal(db, "wuhao")
    with UnitOfWork(db, engineer.actor, reason="LYO differential pressure alert level per EM review") as uow:
        tags.change_tag(uow, engineer, "RM-LYO.differential_pressure", TagChange.model_validate(
            {"low_limit": "15", "reason": "LYO differential pressure alert level per EM review"}))  # fmt: skip
        uow.commit()
    now = clock.now().replace(microsecond=0)
    fresh = {
        "RM-FILL.temperature": Decimal("21.50"), "RM-FILL.humidity": Decimal("50.0"),
        "RM-FILL.differential_pressure": Decimal("14.0"), "RM-FILL.particles_0_5": 5000,  # > 3,520 at rest (B)
        "RM-FILL.particles_5": 12,
        "RM-LYO.temperature": Decimal("20.50"), "RM-LYO.particles_0_5": 900, "RM-LYO.particles_5": 25,
        "RM-LYO.differential_pressure": Decimal("12.0"),  # ≥ 10 Pa of the grade, but under the tag's own 15
        "RM-FILL-A.particles_0_5": 200, "RM-FILL-A.particles_5": 0, "RM-FILL-A.differential_pressure": Decimal("12.4"),
    }  # fmt: skip
    historian.ingest(db, "CLEANROOM-MQTT", [Reading(n, now, v) for n, v in fresh.items()])
    utilities = {"RM-PREP.compressed_air_pressure": Decimal("0.62"), "RM-PREP.compressed_air_dew_point": Decimal("-45.0"),
                 "RM-PREP.pure_steam_temperature": Decimal("119.5"),  # under the 121 °C the plant sets
                 "RM-PREP.pure_steam_condensate_conductivity": Decimal("0.40")}  # fmt: skip
    historian.ingest(db, "WATER-MODBUS", [Reading(n, now, v) for n, v in utilities.items()])
    hot, cooled = poll_wfi_loop()  # TJ-6.7: the demo's WFI tags, read from the simulated PLC over the wire
    assert {(r.tag, r.value, r.quality) for r in hot} == {
        ("RM-PREP.wfi_conductivity", Decimal("0.55"), "good"), ("RM-PREP.wfi_toc", 45, "good"),
        ("RM-PREP.wfi_loop_temperature", Decimal("80.5"), "good"), ("RM-PREP.wfi_flow", Decimal("6.50"), "good")}  # fmt: skip
    historian.ingest(db, "WATER-MODBUS", hot)

    def states(minutes: int) -> dict[str, environment.AreaState]:
        with db.sessions() as session:
            at = now + timedelta(minutes=minutes)
            found = environment.room_states(session, at) + environment.utility_states(session, at)
        return {a.code: a for a in found}

    soon = states(1)
    checks = {t.name: t for a in soon.values() for t in a.tags}
    assert checks["RM-FILL.particles_0_5"].verdict == "beyond" and soon["RM-FILL"].state == "alert"
    lyo = checks["RM-LYO.differential_pressure"]
    assert (lyo.verdict, lyo.limit.low, lyo.limit.basis) == ("beyond", 15, environment.OWN_LIMIT)  # type: ignore[union-attr]
    assert checks["RM-LYO.particles_5"].verdict == "ok" and soon["RM-LYO"].state == "alert"
    assert (soon["RM-FILL-A"].state, soon["RM-FILL-A"].grade) == ("ok", "A")
    assert soon["RM-WEIGH"].state == "no_data" and soon["RM-PREP"].state == "no_data"  # water is a utility
    # the water's conductivity alarm awaits acknowledgement; the steam is under the plant's temperature
    assert soon["purified_water"].state == "alert" and any(a.awaiting for a in soon["purified_water"].alarms)
    assert (soon["compressed_air"].state, soon["pure_steam"].state, soon["wfi"].state) == (
        "ok",
        "alert",
        "ok",
    )
    wfi = {t.name: t for t in soon["wfi"].tags}
    assert sorted(wfi) == sorted(WFI_TAGS) and not soon["wfi"].alarms
    assert (wfi["RM-PREP.wfi_conductivity"].limit.high, wfi["RM-PREP.wfi_conductivity"].limit.basis) == (  # type: ignore[union-attr]
        Decimal("1.3"), environment.WFI_CONDUCTIVITY)  # fmt: skip
    assert wfi["RM-PREP.wfi_loop_temperature"].limit.low == 70  # type: ignore[union-attr]
    assert wfi["RM-PREP.wfi_toc"].limit.high == 500 and wfi["RM-PREP.wfi_flow"].limit is None  # type: ignore[union-attr]
    with db.sessions() as session:
        rules = {r.tag: r for r in alarms.rules_of(session) if r.tag in WFI_TAGS}
    assert (rules["RM-PREP.wfi_conductivity"].alert_high, rules["RM-PREP.wfi_conductivity"].action_high) == (
        Decimal("1.1"), Decimal("1.3"))  # fmt: skip
    assert (
        rules["RM-PREP.wfi_toc"].action_high == 500 and rules["RM-PREP.wfi_loop_temperature"].action_low == 70
    )
    historian.ingest(db, "WATER-MODBUS", cooled)  # the hot loop under 70 °C: the WFI system is in alert
    cold = states(1)
    assert cold["wfi"].state == "alert" and cold["purified_water"].state == "alert"
    assert {t.name for t in cold["wfi"].tags if t.verdict == "beyond"} == {"RM-PREP.wfi_loop_temperature"}
    assert {t.limit.high for t in soon["pure_steam"].tags if t.measure == "condensate_conductivity"} == {  # type: ignore[union-attr]
        Decimal("1.3")}  # fmt: skip
    assert "RM-LYO.temperature" in checks and "FD-01.shelf_temperature" not in checks  # process tags are not
    # no value for 15 minutes (three scans of 10 s are less): stale — but an alert stays an alert
    later = states(16)
    assert later["RM-FILL-A"].state == "stale" and later["RM-LYO"].state == "alert"
    assert {t.verdict for t in later["RM-FILL-A"].tags} == {"stale"}


@pytest.mark.clause("TJ-6.5", "SH-8.4.3", "SH-7.1.3")
def test_the_floor_plan_is_an_audited_setting_refused_whole_when_wrong(db: Database) -> None:
    with db.sessions() as session:
        assert environment.floor_plan(session).model_dump(mode="json") == FLOOR_PLAN  # the demo's
    trail = len(audit_entries(db, object_type="setting", object_id=environment.SETTINGS_KEY))

    def attempt(plan: dict[str, object], login: str = "wuhao") -> None:
        who = principal(db, login)
        with UnitOfWork(db, who.actor, reason="re-layout") as uow:
            environment.set_floor_plan(
                uow, who, FloorPlanUpdate.model_validate({**plan, "reason": "re-layout"})
            )
            uow.commit()

    rooms = dict(FLOOR_PLAN["rooms"])  # type: ignore[call-overload]
    with pytest.raises(ValidationFailed, match="Not a room of the plant") as unknown:
        attempt({"rooms": {**rooms, "RM-NOPE": {"x": 900, "y": 300, "w": 60, "h": 60}}})
    assert unknown.value.params == {"codes": "RM-NOPE"}
    with pytest.raises(ValidationFailed, match="overlap") as overlap:
        attempt({"rooms": {**rooms, "RM-CAP": {"x": 500, "y": 200, "w": 100, "h": 100}}})  # into RM-FILL-A
    assert overlap.value.params == {"first": "RM-FILL-A", "second": "RM-CAP"}
    with pytest.raises(ValidationError, match="inside the plan"):
        attempt({"rooms": {"RM-PACK": {"x": 900, "y": 260, "w": 220, "h": 180}}})
    with pytest.raises(ValidationError, match="appears twice"):
        attempt({"utilities": [{"system": "wfi", "label": "W", "x": 0, "y": 0, "w": 50, "h": 50},
                               {"system": "wfi", "label": "W2", "x": 100, "y": 0, "w": 50, "h": 50}]})  # fmt: skip
    with pytest.raises(NotPermitted):
        attempt({"rooms": {"RM-PACK": {"x": 0, "y": 0, "w": 50, "h": 50}}}, "zhangwei")
    with db.sessions() as session:
        assert environment.floor_plan(session).model_dump(mode="json") == FLOOR_PLAN  # nothing stored
    assert len(audit_entries(db, object_type="setting", object_id=environment.SETTINGS_KEY)) == trail

    attempt(
        {"rooms": {"RM-FILL": {"x": 0, "y": 0, "w": 300, "h": 200}}}
    )  # edges may touch; rooms may be left off
    entries = audit_entries(db, object_type="setting", object_id=environment.SETTINGS_KEY)
    assert len(entries) == trail + 1 and (entries[-1].reason, entries[-1].actor_login) == (
        "re-layout",
        "wuhao",
    )
    with db.sessions() as session:
        assert set(environment.floor_plan(session).rooms) == {"RM-FILL"}


@pytest.mark.pages
@pytest.mark.clause("TJ-6.5", "TJ-6.7", "TJ-6.8", "TJ-7.7", "SH-8.4.3")
def test_the_floor_plan_page_shows_the_rooms_by_state_refreshes_and_is_refused_without_monitoring(
    db: Database,
) -> None:
    with db.sessions() as session:
        oos_code = session.scalars(select(OosCase.code).order_by(OosCase.id)).first()
    with TestClient(create_app(db, historian_reader=True), cookies={"pt_lang": "en"}) as client:
        log_in(client, "inspector", language="en")
        page = client.get("/monitoring/floor-plan")
        assert page.status_code == 200, page.text
        for code in DEMO_ROOMS:
            assert f'data-testid="plan-{code}" data-state="' in page.text, code
            assert f'data-testid="row-{code}"' in page.text, code
        # state does not depend on the clock here: the water alarm awaits acknowledgement, RM-WEIGH has no tags
        assert 'data-testid="plan-purified_water" data-state="alert"' in page.text
        assert 'data-testid="plan-RM-WEIGH" data-state="no_data"' in page.text
        assert 'data-testid="plan-wfi" data-state="' in page.text  # the WFI loop's seeded values
        assert 'data-testid="plan-wfi" data-state="no_data"' not in page.text
        assert (
            'hx-get="/monitoring/floor-plan/fragment"' in page.text and 'hx-trigger="every 30s"' in page.text
        )
        assert 'data-testid="legend"' in page.text and "<title>RM-FILL-A 灌装加塞A级区 · Grade A" in page.text
        fragment = client.get("/monitoring/floor-plan/fragment")
        assert fragment.status_code == 200 and "<html" not in fragment.text
        assert 'data-testid="floor-plan-svg"' in fragment.text and 'data-testid="plan-table"' in fragment.text
        limits = client.get("/monitoring/environment")
        assert limits.status_code == 200, limits.text
        for testid in ("grade-A", "grade-D", "room-RM-FILL-A", "utility-compressed_air", "utility-pure_steam",
                       "value-RM-FILL-A.particles_5", "value-RM-PREP.pure_steam_condensate_conductivity",
                       "utility-wfi", "value-RM-PREP.wfi_loop_temperature", "value-RM-QC-PC.humidity"):  # fmt: skip
            assert f'data-testid="{testid}"' in limits.text, testid
        assert "352,000" in limits.text and "China GMP Annex 1" in limits.text
        # TJ-7.7: the demo OOS's balance stands in 理化室, whose sensors the historian holds for the test's hour
        investigation = client.get(f"/lims/oos/{oos_code}")
        assert investigation.status_code == 200, investigation.text
        shown = re.search(r'data-testid="environment">(.*?)</dd>', investigation.text, re.S)
        assert shown is not None and "not connected" not in shown.group(1), investigation.text
        for tag in ("RM-QC-PC.temperature", "RM-QC-PC.humidity"):
            assert re.search(
                rf"<code>{re.escape(tag)}</code> [\d.]+ – [\d.]+ \(mean [\d.]+, n = [1-9]", shown.group(1)
            ), tag

        log_in(client, "wangfang", language="en")  # the QC analyst does not view monitoring
        for url in ("/monitoring/floor-plan", "/monitoring/floor-plan/fragment", "/monitoring/environment"):
            assert client.get(url).status_code == 403, url
