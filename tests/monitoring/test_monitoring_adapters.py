"""Each adapter against a real peer on loopback: what goes over the wire is what the historian holds — value,
precision, source timestamp and quality — every value once, none lost (SH-8.4.1, SH-8.1, SH-6.3.1, TJ-6.5–6.7).

MQTT runs on both databases (the database's keeping of digits and microseconds is part of what is tested); OPC UA
and Modbus run on PostgreSQL only (``scenario``): their database half is the same code."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from monitoring_steps import assert_same, configure, stored_of

from pharmatrace.monitoring import historian
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.adapters.modbus import ModbusAdapter
from pharmatrace.monitoring.adapters.mqtt import MqttAdapter
from pharmatrace.monitoring.adapters.opcua import OpcUaAdapter
from pharmatrace.monitoring.collector import Collector
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.simulators import Point
from pharmatrace.monitoring.simulators.modbus_water import WaterSystemDevice
from pharmatrace.monitoring.simulators.mqtt_cleanroom import MqttCleanroomPublisher
from pharmatrace.monitoring.simulators.opcua_freeze_dryer import (
    BAD_SENSOR_FAILURE,
    UNCERTAIN,
    FreezeDryerServer,
)
from pharmatrace.storage.engine import Database

BROKER = ("127.0.0.1", 1883)  # the local Mosquitto
WAIT_S = 10.0  # no wait without a time-out


@pytest.mark.clause("SH-8.4.1", "SH-8.1", "SH-6.3.1", "TJ-6.5", "TJ-6.6")
def test_mqtt_json_and_sparkplug_values_arrive_exactly(db: Database) -> None:
    run = uuid.uuid4().hex[:8]  # topics of this run only
    points = [
        Point(
            Binding("RM-FILL.temperature_t", f"t{run}/cleanroom/RM-FILL#temperature", "decimal", 2), 21.5, 0.8
        ),
        Point(Binding("RM-FILL.humidity_t", f"t{run}/cleanroom/RM-FILL#humidity", "float"), 50.0, 4.0),
        Point(Binding("RM-FILL.dp_t", f"t{run}/cleanroom/RM-FILL#dp", "decimal", 1), 15.0, 2.0),
        Point(
            Binding(
                "RM-CAP.temperature_t", f"spBv1.0/t{run}/DDATA/warehouse/LOG-7#temperature", "decimal", 1
            ),
            5.0,
            1.5,
        ),
    ]
    code = configure(db, "mqtt", "mqtt://127.0.0.1:1883", [p.binding for p in points])
    steps = 12

    async def main() -> tuple[list[Reading], int, int]:
        collector = Collector(db, code, batch_size=10, flush_seconds=0.2)
        async with MqttAdapter(*BROKER, [p.binding for p in points]) as adapter:
            collecting = asyncio.create_task(collector.run(adapter.queue, limit=steps * len(points)))
            async with MqttCleanroomPublisher(*BROKER, points) as sim:
                start = datetime.now(UTC)
                for step in range(steps):
                    quality = "uncertain" if step == 5 else "good"
                    await sim.publish_step(
                        step, start + timedelta(microseconds=1001 * step + 7), quality=quality
                    )
                taken = await asyncio.wait_for(collecting, WAIT_S)
            return sim.sent, taken, len(adapter.rejected)

    sent, taken, rejected = asyncio.run(main())
    assert taken == steps * len(points) and rejected == 0
    stored = stored_of(db, [p.binding.tag for p in points])
    assert_same(sent, stored)
    assert any(v.text is not None and v.text.endswith("0") and "." in v.text for v in stored)  # 21.50 kept
    assert any(v.quality == "uncertain" for v in stored)
    assert {v.source_time.microsecond % 1000 for v in stored if v.tag.startswith("RM-FILL")} != {0}  # µs kept


@pytest.mark.scenario
@pytest.mark.clause("SH-8.4.1", "SH-8.1", "TJ-6.1", "TJ-6.4.3.2", "SH-6.3.1")
def test_opcua_values_and_status_codes_arrive_exactly(db: Database) -> None:
    async def main() -> tuple[list[Reading], list[Reading]]:
        async with FreezeDryerServer("FD-01", tag_suffix="_t") as sim:
            bindings = sim.bindings()
            code = configure(db, "opcua", sim.url, bindings)
            collector = Collector(db, code, batch_size=8, flush_seconds=0.2)
            async with OpcUaAdapter(sim.url, bindings) as adapter:
                initial = [await asyncio.wait_for(adapter.queue.get(), WAIT_S) for _ in bindings]
                for reading in initial:  # the values the server held when the subscription began: kept too
                    adapter.queue.put_nowait(reading)
                start = datetime.now(UTC).replace(microsecond=0)
                for step in range(10):
                    at = start + timedelta(seconds=step, microseconds=123457)
                    await sim.write("shelf_temperature", -40.0 + step / 3, at)
                    await sim.write("chamber_pressure", 10.0 + step * 0.123456789, at)
                await sim.write(
                    "product_temperature", -35.25, start + timedelta(seconds=20), status=UNCERTAIN
                )
                await sim.write(
                    "condenser_temperature", -70.5, start + timedelta(seconds=21), status=BAD_SENSOR_FAILURE
                )
                expected = len(initial) + len(sim.sent)
                taken = await asyncio.wait_for(collector.run(adapter.queue, limit=expected), WAIT_S)
                assert taken == expected
            return initial, sim.sent

    initial, sent = asyncio.run(main())
    bad = [r for r in sent if r.quality == "bad"]
    # a Bad value carries no value on the wire: stored Bad, without a value, with its status code — never dropped
    expected = [
        *initial,
        *(Reading(r.tag, r.source_time, None, r.quality, r.status_code) if r in bad else r for r in sent),
    ]
    stored = stored_of(db, {r.tag for r in sent})
    assert_same(expected, stored)
    assert {(v.tag, v.quality, v.status_code) for v in stored if v.quality != "good"} == {
        ("FD-01.product_temperature_t", "uncertain", UNCERTAIN), ("FD-01.condenser_temperature_t", "bad", BAD_SENSOR_FAILURE)}  # fmt: skip


@pytest.mark.scenario
@pytest.mark.clause("SH-8.4.1", "SH-8.1", "TJ-6.7")
def test_modbus_polls_arrive_exactly(db: Database) -> None:
    async def main() -> tuple[list[Reading], list[Reading]]:
        async with WaterSystemDevice("RM-PREP", tag_suffix="_t") as sim:
            code = configure(db, "modbus", f"modbus://127.0.0.1:{sim.port}/1", sim.bindings())
            polled: list[Reading] = []
            async with ModbusAdapter("127.0.0.1", sim.port, sim.bindings()) as adapter:
                for step in range(6):
                    sim.set("conductivity", Decimal("0.50") + Decimal(step) / 100)
                    sim.set("loop_temperature", Decimal("-2.5") if step == 3 else Decimal("25.0") + step)
                    sim.set("ozone_on", step % 2 == 0)
                    polled += await asyncio.wait_for(adapter.poll_once(), WAIT_S)
            lost: list[Reading] = []
            async with ModbusAdapter("127.0.0.1", sim.port, sim.bindings(), timeout_s=0.3) as adapter:
                await sim.__aexit__(None, None, None)  # the device goes away: the poll is Bad, not skipped
                lost = await asyncio.wait_for(adapter.poll_once(), WAIT_S)
            historian.ingest(db, code, polled + lost)
            return polled, lost

    polled, lost = asyncio.run(main())
    assert len(polled) == 6 * 5 and {r.quality for r in lost} == {"bad"} and len(lost) == 5
    stored = stored_of(db, {r.tag for r in polled})
    assert_same(polled + lost, stored)
    conductivity = [v.text for v in stored if v.tag == "RM-PREP.conductivity_t" and v.quality == "good"]
    assert conductivity == ["0.50", "0.51", "0.52", "0.53", "0.54", "0.55"]
    assert "-2.5" in [v.text for v in stored if v.tag == "RM-PREP.loop_temperature_t"]
