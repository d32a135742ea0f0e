"""The collector service: every active source of the plant collected at once, each supervised — a source nothing
answers is retried with a back-off and shown with its error while the others go on storing; a source added while it
runs is picked up; the web app runs it and shows it on the monitoring page (SH-8.4.3, SH-8.1, TJ-6.5)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from monitoring_steps import configure, stored_of
from typer.testing import CliRunner

from helpers import log_in
from pharmatrace.monitoring import service
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.collector import Batching
from pharmatrace.monitoring.service import CollectorService, SourceStatus
from pharmatrace.monitoring.simulation import demo_points
from pharmatrace.monitoring.simulators import free_port
from pharmatrace.monitoring.simulators.mqtt_cleanroom import MqttCleanroomPublisher
from pharmatrace.storage.engine import Database

WAIT_S = 15.0


def _of(found: CollectorService) -> dict[str, SourceStatus]:
    return {s.code: s for s in found.status()}


async def _within(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _until(condition: Callable[[], bool], what: str) -> None:
    assert await _within(condition, WAIT_S), f"not within {WAIT_S} s: {what}"


@pytest.mark.clause("SH-8.4.3", "SH-8.1", "TJ-6.5")
def test_the_service_collects_every_source_retries_the_unreachable_one_and_picks_up_a_new_one(
    db: Database,
) -> None:
    # an OPC UA server that nothing serves: a port just found free
    dead = configure(db, "opcua", f"opc.tcp://127.0.0.1:{free_port()}/none",
                     [Binding(f"FD-01.t{uuid.uuid4().hex[:6]}", "ns=2;s=FD-01.none", "float", 1)])  # fmt: skip
    started = datetime.now(UTC)

    async def main() -> None:
        collectors = CollectorService(db, rescan_seconds=0.5, retry_seconds=0.1, retry_max_seconds=0.4,
                                      flush_seconds=0.2)  # fmt: skip
        assert service.current_status() is None
        async with collectors, MqttCleanroomPublisher("127.0.0.1", 1883, demo_points()) as rooms:
            assert service.current() is collectors
            await _until(lambda: {"CLEANROOM-MQTT", "FD-01-OPCUA", "WATER-MODBUS", dead} <= set(_of(collectors)),
                         "every active source started")  # fmt: skip
            for step in range(30):  # the sensors publish until the collector is subscribed and has stored
                await rooms.publish_step(step)
                if await _within(lambda: _of(collectors)["CLEANROOM-MQTT"].forwarded > 0, 0.5):
                    break
            else:
                pytest.fail("the clean-room collector stored nothing")
            # the unreachable source is retried with a back-off, its error shown; the others are not held up
            await _until(lambda: _of(collectors)[dead].starts >= 3, "the dead source retried")
            failing = _of(collectors)[dead]
            assert failing.state in ("retrying", "running") and failing.error, failing
            assert "Connect" in failing.error or "refused" in failing.error.lower(), failing.error
            assert failing.received == failing.forwarded == failing.pending == 0
            rooms_status = _of(collectors)["CLEANROOM-MQTT"]
            assert rooms_status.state == "running" and rooms_status.error is None, rooms_status
            assert rooms_status.last_value_at is not None and rooms_status.last_value_at >= started

            # a source configured while the service runs is collected at the next re-scan
            topic = f"s{uuid.uuid4().hex[:8]}/cleanroom/RM-FILL"
            tag = f"RM-FILL.t{uuid.uuid4().hex[:6]}"
            added = await asyncio.to_thread(configure, db, "mqtt", "mqtt://127.0.0.1:1883",
                                            [Binding(tag, f"{topic}#temperature", "decimal", 2)])  # fmt: skip
            await _until(lambda: added in _of(collectors), "the added source picked up")
            assert _of(collectors)[added].state == "running"
        # stopped: nothing current; every source stopped with what it counted; nothing left pending
        assert service.current_status() is None
        final = _of(collectors)
        assert {s.state for s in final.values()} == {"stopped"}
        assert final["CLEANROOM-MQTT"].pending == 0
        assert final["CLEANROOM-MQTT"].forwarded == final["CLEANROOM-MQTT"].received
        sent = {(r.tag, r.source_time): r.value for r in rooms.sent}
        kept = [v for v in stored_of(db, {r.tag for r in rooms.sent}) if (v.tag, v.source_time) in sent]
        assert kept and all(sent[(v.tag, v.source_time)] == v.value for v in kept)  # exact, as published

    asyncio.run(main())


@pytest.mark.pages
@pytest.mark.clause("SH-8.4.3", "SH-8.1")
def test_the_web_app_runs_the_service_and_shows_its_sources(db: Database) -> None:
    from pharmatrace.web.app import create_app

    def app(collectors: bool) -> TestClient:
        return TestClient(create_app(db, collectors=collectors))

    with app(False) as client:
        assert client.get("/monitoring/collectors", follow_redirects=False).status_code in (303, 401)
        log_in(client, "inspector", language="en")
        assert 'hx-get="/monitoring/collectors"' in client.get("/monitoring").text
        assert 'data-testid="collectors-off"' in client.get("/monitoring/collectors").text
    with app(True) as client:
        assert service.current() is not None
        log_in(client, "inspector", language="en")
        deadline = time.monotonic() + WAIT_S
        while (
            'data-testid="collector-WATER-MODBUS"' not in (page := client.get("/monitoring/collectors")).text
        ):
            assert time.monotonic() < deadline, page.text  # the first scan runs beside the first requests
            time.sleep(0.1)
        for code in ("FD-01-OPCUA", "CLEANROOM-MQTT", "WATER-MODBUS"):
            assert f'data-testid="collector-{code}"' in page.text
    assert service.current_status() is None  # stopped with the app


@pytest.mark.clause("SH-8.4.3", "SH-8.4.1")
def test_the_collect_command_batches_as_the_settings_say(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pharmatrace monitoring collect`` runs its collector as the service does, with the plant's settings (it
    had run with the collector's own defaults), and says so before it connects."""
    from pharmatrace.cli import app
    from pharmatrace.config import get_settings

    monkeypatch.setenv("PHARMATRACE_COLLECTOR_FLUSH_SECONDS", "2.5")
    monkeypatch.setenv("PHARMATRACE_COLLECTOR_BATCH_SIZE", "700")
    monkeypatch.setenv("PHARMATRACE_COLLECTOR_PRIORITY_SECONDS", "0.4")
    monkeypatch.setenv("PHARMATRACE_COLLECTOR_FORWARD_SIZE", "30000")
    get_settings.cache_clear()
    made = cli.invoke(app, ["monitoring", "collect", "NO-SUCH-SOURCE", "--count", "1"])
    assert made.exit_code == 2, made.output  # refused: no such source, nothing collected
    assert made.output.splitlines()[0] == (
        "NO-SUCH-SOURCE: batches of ≤ 700 readings or 2.5 s, a reading for an alarm within 0.4 s; "
        "back-fill ≤ 30,000 readings an ingest"
    )


@pytest.mark.clause("SH-8.4.3", "TJ-6.5")
def test_the_services_batches_follow_the_settings_and_refuse_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """How long a reading may wait for its batch, and one that may raise or clear an alarm (ADR 0021 addendum): the
    plant sets them, within bounds."""
    from pydantic import ValidationError

    from pharmatrace.config import get_settings

    db = object()  # the service keeps the database until it starts; nothing is read here
    try:
        get_settings.cache_clear()
        default = CollectorService(db)  # type: ignore[arg-type]
        assert default.batching == Batching(5.0, 500, 0.2, 20_000)
        assert default._collector("X").batching == default.batching
        monkeypatch.setenv("PHARMATRACE_COLLECTOR_FLUSH_SECONDS", "0.3")
        monkeypatch.setenv("PHARMATRACE_COLLECTOR_BATCH_SIZE", "5000")
        monkeypatch.setenv("PHARMATRACE_COLLECTOR_PRIORITY_SECONDS", "0")
        monkeypatch.setenv("PHARMATRACE_COLLECTOR_FORWARD_SIZE", "50000")
        get_settings.cache_clear()
        fast = CollectorService(db)  # type: ignore[arg-type]
        assert fast.batching == Batching(0.3, 5000, 0.0, 50_000)
        assert fast._collector("X").batching == fast.batching
        assert CollectorService(db, flush_seconds=2.0).batching.flush_seconds == 2.0  # type: ignore[arg-type]
        for name, value in [
            ("PHARMATRACE_COLLECTOR_FLUSH_SECONDS", "0"),
            ("PHARMATRACE_COLLECTOR_BATCH_SIZE", "0"),
            ("PHARMATRACE_COLLECTOR_PRIORITY_SECONDS", "-1"),
            ("PHARMATRACE_COLLECTOR_FORWARD_SIZE", "0"),
        ]:
            monkeypatch.setenv(name, value)
            get_settings.cache_clear()
            with pytest.raises(ValidationError):
                get_settings()
            monkeypatch.delenv(name)
    finally:
        get_settings.cache_clear()
