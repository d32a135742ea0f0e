"""MQTT end to end through the plant's broker (SH-8.4.3, TJ-6.5), on SQLite and PostgreSQL, against a baseline
measured in the same run:

A throwaway database with one MQTT source of ``BENCH_MQTT_TAGS`` float tags (default 5,000), published as
``BENCH_MQTT_TOPICS`` device topics (default 50, each a JSON object with one member per tag — what a gateway sends),
and a high-alert rule (no delays, no deadband) on the first ``BENCH_MQTT_ALARM_TAGS`` tags (default 100). The real
collector (:func:`pharmatrace.monitoring.collector.collect`: the persistent QoS 1 session, the fsync'd journal,
acknowledgement after journaling, one audited ``historian.ingest`` per journal batch with roll-ups and the alarm
evaluation) runs in this process; a publisher in a subprocess (paho) sends every tag once a second for
``BENCH_MQTT_SECONDS`` (default 20), the device messages spread over the second, each stamped with its publish time
as the source time. Every alarm tag goes above its limit for 3 s in every 10 s: one alarm raised, one cleared.
The collector batches at most ``BENCH_MQTT_BATCH`` readings (default: the tag count) for at most
``BENCH_MQTT_FLUSH`` seconds (default: the collector service's, ``PHARMATRACE_COLLECTOR_FLUSH_SECONDS``, 5 s); a
reading that may raise or clear an alarm sends its batch within ``BENCH_MQTT_PRIORITY`` seconds (default: the
service's, ``PHARMATRACE_COLLECTOR_PRIORITY_SECONDS``, 0.2 s; ``off``: it waits like the others).

Baseline: a second paho client in the publisher's process subscribes to the same topics through the same broker
(QoS 1) — the raw publish → subscribe round trip, under the same load.

Printed: points/s stored vs points/s the raw subscriber received; p95 latency publish → stored (the source time vs
when the ingest holding the value had committed) and publish → alarm raised (the raising value's source time vs the
commit of the ingest that raised the alarm), each vs the raw round trip's p95, and whether the issue's aim (p95
alarm latency under 1 s at 5,000 tags × 1 Hz) is met. Skipped, with a message, when the broker
(``BENCH_MQTT_HOST``:``BENCH_MQTT_PORT``, default 127.0.0.1:1883) does not answer.

``python -m bench.mqtt``; the publisher is ``python -m bench.mqtt publish`` with its plan as JSON on stdin (started
by the bench).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from bench.databases import on_each_database
from pharmatrace.config import get_settings
from pharmatrace.equipment.models import Room
from pharmatrace.kernel import clock
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring.alarm_models import Alarm, AlarmRule
from pharmatrace.monitoring.collector import Collector, collect, collector_client_id
from pharmatrace.monitoring.historian import IngestResult
from pharmatrace.monitoring.models import DataSource, HistorianValue, Tag
from pharmatrace.storage.engine import Database

HOST = os.environ.get("BENCH_MQTT_HOST", "127.0.0.1")
PORT = int(os.environ.get("BENCH_MQTT_PORT", "1883"))
TAGS = int(os.environ.get("BENCH_MQTT_TAGS", "5000"))
TOPICS = int(os.environ.get("BENCH_MQTT_TOPICS", "50"))
ALARM_TAGS = int(os.environ.get("BENCH_MQTT_ALARM_TAGS", "100"))
SECONDS = int(os.environ.get("BENCH_MQTT_SECONDS", "20"))
BATCH = int(os.environ.get("BENCH_MQTT_BATCH", str(TAGS)))  # readings per journal batch (one ingest) at most
# the collector service's batching unless set: a batch waits 5 s at most, a reading that may change an alarm 0.2 s
FLUSH_S = float(os.environ.get("BENCH_MQTT_FLUSH", "") or get_settings().collector_flush_seconds)
_PRIORITY = os.environ.get("BENCH_MQTT_PRIORITY", "").strip()
PRIORITY_S = (None if _PRIORITY == "off" else float(_PRIORITY) if _PRIORITY
              else get_settings().collector_priority_seconds)  # fmt: skip
DRAIN_S = 60.0  # after the last publish: how long the collector may take to store the rest
LIMIT = 50.0  # the alarm tags' high alert limit; values are about 20, 60 during an excursion
ACTOR = Actor(user_id=None, login="bench", full_name="bench")


def broker_answers() -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, PORT), timeout=2.0):
        return True
    return False


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] if ordered else math.nan


def _value(tag: int, second: int) -> float:
    """A tag's value in a second: about 20; an alarm tag is at 60 for 3 s in every 10 s (staggered)."""
    if tag < ALARM_TAGS and (second + tag) % 10 < 3:
        return 60.0
    return round(20.0 + 5.0 * math.sin(second / 60 + tag) + (second * 7919 + tag) % 100 / 1000, 3)


# --- the publisher (a subprocess: its JSON and its network work never wait on the collector's GIL) -----------


def publish(plan: dict[str, Any]) -> dict[str, Any]:
    """Publish every tag once a second for ``seconds``; a second client measures the raw round trip."""
    prefix, topics, fields, seconds = plan["prefix"], plan["topics"], plan["fields"], plan["seconds"]
    latencies: list[float] = []
    received = [0, 0.0]  # count, time of the last
    lock = threading.Lock()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = time.time()
        body = json.loads(message.payload)
        with lock:
            latencies.append(now - body["sent"])
            received[0] += len(body) - 2  # points: the members besides ts and sent
            received[1] = now

    subscribed = threading.Event()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{uuid.uuid4().hex[:8]}")
    listener.on_message = on_message
    listener.on_connect = lambda c, u, f, r, p: c.subscribe(f"{prefix}/#", qos=1)
    listener.on_subscribe = lambda c, u, m, r, p: subscribed.set()
    listener.connect(HOST, PORT)
    listener.loop_start()
    sender = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
    sender.max_queued_messages_set(0)
    sender.max_inflight_messages_set(1000)
    sender.connect(HOST, PORT)
    sender.loop_start()
    if not subscribed.wait(5.0):
        raise TimeoutError("the baseline subscriber was not subscribed")
    start = math.ceil(time.time())  # on a whole second
    published = 0
    for second in range(seconds):
        for device in range(topics):
            due = start + second + device / topics
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            sent = time.time()
            body: dict[str, Any] = {"ts": datetime.fromtimestamp(sent, UTC).isoformat(timespec="microseconds"),
                                    "sent": sent}  # fmt: skip
            for name, tag in zip(fields[device], plan["tags"][device], strict=True):
                body[name] = _value(tag, second)
            sender.publish(f"{prefix}/d{device:03d}", json.dumps(body), qos=1)
            published += len(fields[device])
    end = time.time()
    deadline = end + 10.0
    while time.time() < deadline:
        with lock:
            if received[0] >= published:
                break
        time.sleep(0.05)
    sender.loop_stop()
    sender.disconnect()
    listener.loop_stop()
    listener.disconnect()
    with lock:
        return {"start": start, "end": end, "published": published, "received": received[0],
                "last_received": received[1], "p95": p95(latencies)}  # fmt: skip


# --- the plant and the collector --------------------------------------------------------------------------


def _plant(db: Database, prefix: str) -> tuple[str, dict[str, Any]]:
    """A room, an MQTT source, ``TAGS`` float tags on ``TOPICS`` device topics and the alarm rules — made
    through one unit of work (audited, as the service would)."""
    now = clock.now()
    code = "BENCH-MQTT"
    with UnitOfWork(db, ACTOR) as uow:
        session = uow.session
        room = Room(code="RM-MQTT", name="bench mqtt", grade="D", status="in_use", clean_validity_hours=24,
                    created_at=now, created_by="bench")  # fmt: skip
        source = DataSource(code=code, name="bench", protocol="mqtt", endpoint=f"mqtt://{HOST}:{PORT}",
                            created_at=now, created_by="bench")  # fmt: skip
        session.add_all([room, source])
        session.flush()
        tags = [
            Tag(name=f"RM-MQTT.t{i:05d}", source_id=source.id, room_id=room.id, data_type="float", decimals=3,
                scan_rate_ms=1000, address=f"{prefix}/d{i % TOPICS:03d}#t{i:05d}", created_at=now,
                created_by="bench")
            for i in range(TAGS)
        ]  # fmt: skip
        session.add_all(tags)
        session.flush()
        session.add_all(
            AlarmRule(
                tag_id=tags[i].id, name="high", alert_high=Decimal(LIMIT), created_at=now, created_by="bench"
            )
            for i in range(ALARM_TAGS)
        )
        uow.commit()
    fields: list[list[str]] = [[] for _ in range(TOPICS)]
    numbers: list[list[int]] = [[] for _ in range(TOPICS)]
    for i in range(TAGS):
        fields[i % TOPICS].append(f"t{i:05d}")
        numbers[i % TOPICS].append(i)
    return code, {"prefix": prefix, "topics": TOPICS, "fields": fields, "tags": numbers, "seconds": SECONDS}


class Stamped(list[IngestResult]):
    """The collector's results, each with when it was appended: the ingest had committed by then."""

    def __init__(self) -> None:
        super().__init__()
        self.at: dict[int, float] = {}

    def append(self, result: IngestResult) -> None:
        self.at[result.ingest_id] = time.time()
        super().append(result)


def _probe(prefix: str, collector: Collector) -> None:
    """Publish one device's message until the collector receives: its subscriptions are in place."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{uuid.uuid4().hex[:8]}")
    client.connect(HOST, PORT)
    client.loop_start()
    try:
        deadline = time.time() + 20.0
        while collector.received == 0:
            if time.time() > deadline:
                raise TimeoutError("the collector received nothing: not subscribed")
            stamp = datetime.now(UTC).isoformat(timespec="microseconds")
            client.publish(
                f"{prefix}/d000", json.dumps({"ts": stamp, "t00000": 20.0}), qos=1
            ).wait_for_publish(5)
            time.sleep(0.2)
    finally:
        client.loop_stop()
        client.disconnect()


def _forget_session(client_id: str) -> None:
    """End the collector's persistent session at the broker (a clean connection with its id)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    with contextlib.suppress(OSError):
        client.connect(HOST, PORT)
        client.loop_start()
        time.sleep(0.2)
        client.disconnect()
        client.loop_stop()


async def _measure(
    db: Database, code: str, plan: dict[str, Any]
) -> tuple[Collector, Stamped, dict[str, Any]]:
    results = Stamped()
    collector = Collector(db, code, batch_size=BATCH, flush_seconds=FLUSH_S, priority_seconds=PRIORITY_S,
                          results=results)  # fmt: skip
    collecting = asyncio.create_task(collect(db, code, collector=collector))
    try:
        probing = asyncio.create_task(asyncio.to_thread(_probe, plan["prefix"], collector))
        done, _ = await asyncio.wait({collecting, probing}, return_when=asyncio.FIRST_COMPLETED)
        if collecting in done:
            collecting.result()  # its error
        await probing
        probed = collector.received
        root = str(Path(__file__).resolve().parents[1])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.mqtt", "publish", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            cwd=root, env=env,
        )  # fmt: skip
        out, _ = await publisher.communicate(json.dumps(plan).encode())
        if publisher.returncode != 0:
            raise RuntimeError(f"the publisher failed ({publisher.returncode})")
        raw = json.loads(out.decode().strip().splitlines()[-1])
        expected = probed + raw["published"]
        deadline = time.time() + DRAIN_S
        while collector.counts().stored < expected and time.time() < deadline and not collecting.done():
            await asyncio.sleep(0.1)
    finally:
        collecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collecting
    return collector, results, raw


def run(db: Database, label: str) -> None:
    prefix = f"bench/pharmatrace/{uuid.uuid4().hex[:8]}"
    code, plan = _plant(db, prefix)
    gc.collect()
    try:
        collector, results, raw = asyncio.run(_measure(db, code, plan))
    finally:
        _forget_session(collector_client_id(code, db.state_dir))
    start = datetime.fromtimestamp(raw["start"], UTC)
    with db.sessions() as session:
        stored = session.execute(
            select(HistorianValue.source_time, HistorianValue.ingest_id).where(
                HistorianValue.source_time >= start
            )
        ).all()
        raised = session.execute(
            select(Alarm.raised_at, HistorianValue.ingest_id)
            .join(HistorianValue, (HistorianValue.tag_id == Alarm.tag_id)
                  & (HistorianValue.source_time == Alarm.raised_at))
            .where(Alarm.raised_at >= start)
        ).all()  # fmt: skip
    stored_lat = [results.at[ingest] - at.timestamp() for at, ingest in stored if ingest in results.at]
    alarm_lat = [results.at[ingest] - at.timestamp() for at, ingest in raised if ingest in results.at]
    last_commit = max((results.at[ingest] for _, ingest in stored if ingest in results.at), default=math.nan)
    points = len(stored) / (last_commit - raw["start"])
    raw_points = raw["received"] / (raw["last_received"] - raw["start"])
    excursions = sum(1 for tag in range(ALARM_TAGS) for s in range(SECONDS)
                     if _value(tag, s) > LIMIT and (s == 0 or _value(tag, s - 1) <= LIMIT))  # fmt: skip
    batches = len(results)
    priority = "off" if PRIORITY_S is None else f"{PRIORITY_S:g} s"
    print(
        f"[{label}] mqtt {TAGS:,} tags × 1 Hz × {SECONDS} s on {TOPICS} topics: {raw['published']:,} points published, "
        f"{len(stored):,} stored in {batches} audited ingests ({collector.counts().pending} pending); batches of "
        f"≤ {BATCH:,} readings, ≤ {FLUSH_S:g} s, alarm priority {priority}"
    )
    print(f"[{label}] mqtt raw subscriber             {raw_points:9,.0f} points/s  (baseline)")
    print(
        f"[{label}] mqtt collector → historian      {points:9,.0f} points/s  ratio {points / raw_points:.2f} of raw"
    )
    print(f"[{label}] mqtt publish → raw subscriber p95 {raw['p95'] * 1e3:9.1f} ms  (baseline)")
    print(
        f"[{label}] mqtt publish → stored p95        {p95(stored_lat) * 1e3:9.1f} ms  "
        f"{p95(stored_lat) / raw['p95']:,.0f}× the raw round trip"
    )
    verdict = "met" if p95(alarm_lat) < 1.0 else "NOT met"
    print(
        f"[{label}] mqtt publish → alarm raised p95  {p95(alarm_lat) * 1e3:9.1f} ms  "
        f"{p95(alarm_lat) / raw['p95']:,.0f}× the raw round trip ({len(raised)} alarms of {excursions} "
        f"excursions; aim < 1 s: {verdict})"
    )


def main() -> None:
    if not broker_answers():
        print(f"[mqtt] not measured: no MQTT broker answers at {HOST}:{PORT}")
        return
    on_each_database("mqtt", run)


if __name__ == "__main__":
    if sys.argv[1:2] == ["publish"]:
        print(json.dumps(publish(json.loads(sys.stdin.read()))))
    else:
        main()
