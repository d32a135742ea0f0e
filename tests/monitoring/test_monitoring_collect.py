"""``collect``: a configured source read through the adapter its endpoint names, into the historian; an MQTT
message the adapter cannot read is kept with its reason and stores nothing (SH-8.4.1, SH-8.1, SH-6.3.1)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import paho.mqtt.client as mqtt
import pytest
from monitoring_steps import configure, stored_of
from paho.mqtt.enums import CallbackAPIVersion

from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.adapters.modbus import ModbusAdapter
from pharmatrace.monitoring.adapters.mqtt import MqttAdapter
from pharmatrace.monitoring.adapters.opcua import OpcUaAdapter
from pharmatrace.monitoring.collector import Collector, adapter_for, bindings_of, collect
from pharmatrace.monitoring.models import DataSource
from pharmatrace.storage.engine import Database

WAIT_S = 10.0


def _publisher() -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:10]}")
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    return client


@pytest.mark.clause("SH-8.4.1", "SH-8.1", "SH-6.3.1")
def test_collect_stores_a_configured_source_and_keeps_what_it_cannot_read(db: Database) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"c{run}/cleanroom/RM-FILL"
    bindings = [Binding(f"RM-FILL.t{run}", f"{topic}#temperature", "decimal", 2)]
    code = configure(db, "mqtt", "mqtt://127.0.0.1:1883", bindings)
    source, found = bindings_of(db, code)
    assert [b.tag for b in found] == [bindings[0].tag]

    # each protocol gets its own client, addressed by the endpoint (the Modbus client wants a running loop)
    async def made() -> list[object]:
        return [
            adapter_for(source, found),
            adapter_for(DataSource(code="X", protocol="modbus", endpoint="modbus://10.0.0.5:1502/7"), []),
            adapter_for(DataSource(code="Y", protocol="opcua", endpoint="opc.tcp://127.0.0.1:4840"), []),
        ]

    mqtt_client, modbus, opcua = asyncio.run(made())
    assert isinstance(mqtt_client, MqttAdapter) and (mqtt_client.host, mqtt_client.port) == (
        "127.0.0.1",
        1883,
    )
    assert isinstance(modbus, ModbusAdapter) and isinstance(opcua, OpcUaAdapter)
    start = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    values = ["21.50", "21.55", "21.60"]

    async def main() -> int:
        collector = Collector(db, code, batch_size=2, flush_seconds=0.2)
        task = asyncio.create_task(collect(db, code, limit=len(values), collector=collector))
        await asyncio.sleep(1.0)  # subscribed
        publisher = _publisher()
        try:
            for i, value in enumerate(values):
                at = (start + timedelta(seconds=i)).isoformat()
                publisher.publish(
                    topic, f'{{"ts": "{at}", "temperature": {value}}}', qos=1
                ).wait_for_publish()
            return await asyncio.wait_for(task, WAIT_S)
        finally:
            publisher.loop_stop()
            publisher.disconnect()

    assert asyncio.run(main()) == len(values)
    stored = stored_of(db, [bindings[0].tag])
    assert [s.value for s in stored] == [Decimal(v) for v in values]

    async def refused() -> list[tuple[str, str]]:
        async with MqttAdapter("127.0.0.1", 1883, found) as adapter:
            publisher = _publisher()
            try:
                for payload in ("not json", json.dumps({"temperature": 1}), json.dumps({"ts": "2026-11-29T09:00:00",
                                                                                       "temperature": 2})):  # fmt: skip
                    publisher.publish(topic, payload, qos=1).wait_for_publish()
                for _ in range(100):
                    if len(adapter.rejected) == 3:
                        break
                    await asyncio.sleep(0.05)
            finally:
                publisher.loop_stop()
                publisher.disconnect()
            assert adapter.queue.empty()  # nothing to store
            return adapter.rejected

    rejected = asyncio.run(refused())
    assert [t for t, _ in rejected] == [topic] * 3
    reasons = " | ".join(r for _, r in rejected)
    assert (
        "Expecting value" in reasons and "payload has no ts" in reasons and "ts has no time zone" in reasons
    )
    assert len(stored_of(db, [bindings[0].tag])) == len(values)
