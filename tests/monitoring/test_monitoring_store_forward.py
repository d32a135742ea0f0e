"""Store-and-forward: the collector journals every batch before it acknowledges or forwards it, keeps receiving
while the database is away and back-fills in order with the original times; nothing is lost or stored twice across
a collector killed with SIGKILL (MQTT QoS 1, persistent session, acknowledged after journaling); a torn journal
tail is dropped, a damaged record refused (SH-8.4.1, SH-8.4.3, TJ-10.1.3.3.a; ADR 0025)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from monitoring_steps import assert_same, configure, stored_of
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from databases import pg_admin
from pharmatrace.config import get_settings
from pharmatrace.kernel.errors import Conflict, NotFound, ValidationFailed
from pharmatrace.monitoring import buffer, historian
from pharmatrace.monitoring import collector as collector_module
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.adapters.mqtt import MqttAdapter
from pharmatrace.monitoring.buffer import Journal, JournalCorrupt
from pharmatrace.monitoring.cli import monitoring_app
from pharmatrace.monitoring.collector import Collector, collect, collector_client_id
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.models import HistorianValue, Tag
from pharmatrace.storage.engine import Database

WAIT_S = 20.0
BROKER = ("127.0.0.1", 1883)
BAD_SENSOR_FAILURE = 0x808B0000


def until(condition: Callable[[], bool], what: str, seconds: float = WAIT_S) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def until_async(condition: Callable[[], bool], what: str, seconds: float = WAIT_S) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def readings(tags: list[str], steps: int, start: datetime) -> list[Reading]:
    """A value of each tag per step, in source-time order: exact decimals, long floats, an Uncertain value, a Bad
    one without a value (with its status code), microseconds, and a receipt time of its own."""
    out: list[Reading] = []
    for step in range(steps):
        at = start + timedelta(seconds=step, microseconds=7 * step + 1)
        received = at + timedelta(milliseconds=3)
        decimal_tag, float_tag = tags
        out.append(Reading(decimal_tag, at, Decimal(f"21.{step % 10}0"), "good", server_time=received))
        if step == 11:
            out.append(Reading(float_tag, at, None, "bad", BAD_SENSOR_FAILURE, server_time=received))
        else:
            out.append(Reading(float_tag, at, 45.0 + step / 7, "uncertain" if step == 7 else "good",
                               server_time=received))  # fmt: skip
    return out


def allow_connections(db: Database, allowed: bool) -> None:
    """The database refuses new connections and its sessions are cut (a database restart, as the collector
    sees it); or it takes them again."""
    name = db.engine.url.database
    admin = pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
            if not allowed:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})  # fmt: skip
    finally:
        admin.dispose()


def order_stored(db: Database, tags: list[str]) -> list[tuple[str, datetime]]:
    with db.sessions() as session:
        rows = session.execute(select(Tag.name, HistorianValue.source_time).join(Tag, Tag.id == HistorianValue.tag_id)
                               .where(Tag.name.in_(tags)).order_by(HistorianValue.id))  # fmt: skip
        return [(name, at) for name, at in rows]


def source_of(db: Database, run: str, port: int = BROKER[1]) -> tuple[str, list[str], str]:
    """A clean-room MQTT source of this run with a decimal and a float tag on one topic (at the broker on
    ``port`` of the loopback)."""
    topic = f"sf{run}/cleanroom/RM-FILL"
    tags = [f"RM-FILL.t{run}", f"RM-FILL.h{run}"]
    bindings = [Binding(tags[0], f"{topic}#temperature", "decimal", 2), Binding(tags[1], f"{topic}#humidity")]
    return configure(db, "mqtt", f"mqtt://127.0.0.1:{port}", bindings), tags, topic


@pytest.mark.clause("SH-8.4.3", "SH-8.4.1", "TJ-10.1.3.3.a")
def test_the_database_goes_away_and_every_reading_is_back_filled_once_in_order(db: Database) -> None:
    code, tags, _ = source_of(db, uuid.uuid4().hex[:8])
    sent = readings(tags, 30, datetime(2026, 11, 29, 2, 0, tzinfo=UTC))
    before, during = sent[:20], sent[20:]
    collector = Collector(
        db, code, batch_size=6, flush_seconds=0.05, retry_seconds=0.05, retry_max_seconds=0.2
    )
    queue: asyncio.Queue[Reading] = asyncio.Queue()

    async def main() -> int:
        collecting = asyncio.create_task(collector.run(queue, limit=len(sent)))
        for reading in before:
            queue.put_nowait(reading)
        await until_async(lambda: collector.forwarded == len(before), "the first readings stored")
        await asyncio.to_thread(allow_connections, db, False)
        try:
            for reading in during:  # readings keep arriving while the database is away: journaled, not lost
                queue.put_nowait(reading)
            await until_async(lambda: collector.journaled == len(sent) and collector.outages >= 2, "retries")
            counts = collector.counts()
            assert (counts.received, counts.forwarded, counts.pending) == (
                len(sent),
                len(before),
                len(during),
            )
            held = buffer.status(db.state_dir, code)  # what `monitoring buffer` shows meanwhile
            assert (held.pending_readings, held.pending_batches, held.torn_bytes) == (len(during), 7, 0)
        finally:
            await asyncio.to_thread(allow_connections, db, True)
        return await asyncio.wait_for(collecting, WAIT_S)

    assert asyncio.run(main()) == len(sent)
    stored = stored_of(db, tags)
    assert_same(
        sent, stored
    )  # each once, exact value, source time (µs) and quality, the Bad one's status code
    assert {(s.tag, s.source_time): s.server_time for s in stored} == {
        (r.tag, r.source_time): r.server_time for r in sent}  # the original receipt times, not the back-fill's  # fmt: skip
    assert order_stored(db, tags) == [(r.tag, r.source_time) for r in sent]  # back-filled in order
    counts = collector.counts()
    assert (counts.forwarded, counts.stored, counts.pending, sum(r.duplicates for r in collector.results)) == (
        len(sent), len(sent), 0, 0)  # fmt: skip
    assert buffer.status(db.state_dir, code).size_bytes == 0  # forwarded records are compacted away


def _client(client_id: str, *, clean: bool = True, port: int = BROKER[1]) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    client.connect(BROKER[0], port)
    client.loop_start()
    return client


def _stop(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def _payload(start: datetime, step: int) -> str:
    """The JSON message of a step: a decimal temperature (``21.50``: its digits), a float humidity (its repr)."""
    at = (start + timedelta(seconds=step, microseconds=step)).isoformat()
    return f'{{"ts": "{at}", "temperature": 21.{step % 10}0, "humidity": {45 + step / 7!r}}}'


def _rows(db: Database, tags: list[str]) -> tuple[int, int]:
    """The rows stored for the tags, and how many distinct (tag, source time) among them."""
    with db.sessions() as s:
        rows = s.execute(select(func.count(), func.count(func.distinct(func.concat(HistorianValue.tag_id, "@",
                                                                                   HistorianValue.source_time))))
                         .join(Tag).where(Tag.name.in_(tags))).one()  # fmt: skip
    return int(rows[0]), int(rows[1])


def _assert_points(db: Database, tags: list[str], start: datetime, steps: int) -> None:
    """The points of ``steps`` messages of :func:`_payload` are stored: exact digits and doubles, every time."""
    values = stored_of(db, tags)
    temperatures = [v.text for v in values if v.tag == tags[0]]
    assert temperatures == [f"21.{step % 10}0" for step in range(steps)]  # exact digits, in time order
    assert [v.value for v in values if v.tag == tags[1]] == [45 + step / 7 for step in range(steps)]
    assert {v.source_time for v in values} == {
        start + timedelta(seconds=i, microseconds=i) for i in range(steps)
    }


def _collector_process(db: Database, code: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PHARMATRACE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
           "PHARMATRACE_VAR": str(db.state_dir)}  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "pharmatrace.monitoring.cli", "collect", code], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


@pytest.mark.clause("SH-8.4.3", "SH-8.4.1", "TJ-10.1.3.3.a", "SH-8.1")
def test_a_collector_killed_mid_stream_loses_and_duplicates_nothing(db: Database, tmp_path: Path) -> None:
    code, tags, topic = source_of(db, uuid.uuid4().hex[:8])
    client_id = collector_client_id(code, db.state_dir)
    session = _client(
        client_id, clean=False
    )  # the collector's session exists: what is published is kept for it
    session.subscribe(topic, qos=1)[1]
    _stop(session)
    start = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    first, then = 40, 20
    publisher = _client(f"test-{uuid.uuid4().hex[:10]}")

    def publish(steps: range) -> None:
        for step in steps:
            publisher.publish(topic, _payload(start, step), qos=1).wait_for_publish(5)

    def stored() -> int:
        return _rows(db, tags)[0]

    log = tmp_path / "collector.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(_collector_process(db, code, log))
        publish(range(first))
        until(lambda: stored() > 0, "the collector storing")
        os.kill(
            processes[0].pid, signal.SIGKILL
        )  # mid-stream: batches received, journaled, not yet forwarded
        assert processes[0].wait(5) == -signal.SIGKILL
        publish(range(first, first + then))  # while it is dead: queued by the broker for its session
        processes.append(_collector_process(db, code, log))
        until(lambda: stored() == 2 * (first + then), "every point stored after the restart")
        processes[1].send_signal(signal.SIGTERM)
        assert processes[1].wait(10) == 0, log.read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(5)
        _stop(publisher)
        _stop(_client(client_id))  # the test's session is not left at the broker
    assert _rows(db, tags) == (
        2 * (first + then),
        2 * (first + then),
    )  # every point once: none lost, none twice
    _assert_points(db, tags, start, first + then)
    output = log.read_text()
    assert ", 0 pending" in output, output  # the second run ended with its journal empty
    assert buffer.status(db.state_dir, code).pending_readings == 0


MOSQUITTO = "/usr/sbin/mosquitto"


class PrivateBroker:
    """A Mosquitto of the test's own (not the shared one on 1883) on a free loopback port, persisting to a
    directory of its own: it can be stopped and started again on the same port without disturbing other tests."""

    def __init__(self, directory: Path, extra: str = "") -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.config = directory / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                               f"persistence_location {directory}/\n{extra}"
                               f"user {pwd.getpwuid(os.geteuid()).pw_name}\n")  # as root it would drop to mosquitto  # fmt: skip
        self.log = directory / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the private Mosquitto did not start: {self.log.read_text()}"
                    ) from None
                time.sleep(0.02)

    def stop(self) -> None:
        """A graceful stop (SIGTERM): Mosquitto saves its sessions, in-flight and queued messages, and exits."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(5) == 0, self.log.read_text()
        self.process = None

    def kill(self) -> None:
        """SIGKILL (also the clean-up): nothing saved on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@pytest.mark.clause("SH-8.4.3", "SH-8.4.1", "TJ-10.1.3.3.a", "SH-8.1")
def test_a_broker_restart_loses_and_duplicates_nothing(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = PrivateBroker(tmp_path)
    broker.start()
    try:
        _broker_restarts(db, broker, monkeypatch)
    finally:
        broker.kill()
    output = broker.log.read_text()
    assert output.count("Saving in-memory database") == 2 and "Error" not in output, output


def _broker_restarts(db: Database, broker: PrivateBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector connected through a broker restart (A in flight, B published before it is back), then
    stopped while C is queued for its session and the broker restarts: 40 messages, 80 points, each stored once."""
    code, tags, topic = source_of(db, uuid.uuid4().hex[:8], broker.port)
    session = _client(collector_client_id(code, db.state_dir), clean=False, port=broker.port)
    session.subscribe(topic, qos=1)  # the collector's session exists from the start, as after its first run
    _stop(session)
    adapters: list[MqttAdapter] = []
    adapter_for = collector_module.adapter_for

    def watched(*args: Any, **kwargs: Any) -> Any:
        adapter = adapter_for(*args, **kwargs)
        assert isinstance(adapter, MqttAdapter) and adapter.manual_ack
        adapters.append(adapter)
        return adapter

    monkeypatch.setattr(collector_module, "adapter_for", watched)
    start = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
    a, b, c = range(0, 10), range(10, 25), range(25, 40)  # A at most Mosquitto's in-flight window (20)

    def publish(steps: range) -> None:
        publisher = _client(f"test-{uuid.uuid4().hex[:10]}", port=broker.port)
        try:
            for step in steps:
                publisher.publish(topic, _payload(start, step), qos=1).wait_for_publish(5)
        finally:
            _stop(publisher)

    def collector_of() -> Collector:  # a batch is journaled (and acknowledged) 0.5 s after its last message
        return Collector(db, code, flush_seconds=0.5, idle_seconds=0.5, retry_seconds=0.05)

    async def stopped(task: asyncio.Task[int]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def main() -> tuple[Collector, Collector]:
        first = collector_of()
        collecting = asyncio.create_task(collect(db, code, collector=first))
        await until_async(lambda: bool(adapters) and adapters[0].connections == 1, "the collector connected")
        await asyncio.to_thread(publish, a)
        await until_async(lambda: first.received == 2 * len(a), "A received")
        # all of A in flight: received, none journaled, none acknowledged; the event loop (which would
        # acknowledge) is held from here until the broker is gone and back, so A stays in flight at the broker
        assert (first.journaled, adapters[0].unacknowledged) == (0, len(a))
        broker.stop()
        broker.start()
        # B goes into the collector's session restored from the broker's file, before the collector is back
        publish(b)
        assert adapters[0].connections == 1
        await until_async(lambda: _rows(db, tags)[0] == 2 * (len(a) + len(b)), "A and B stored")
        await until_async(lambda: first.forwarded == first.received, "the journal forwarded")
        assert adapters[0].connections == 2  # paho reconnected (back-off from 1 s) and subscribed again
        assert first.received == 2 * (2 * len(a) + len(b))  # A delivered again after the restart, B once
        await stopped(collecting)

        publish(c)  # the collector is away: queued for its persistent session …
        broker.stop()  # … kept across the broker's restart only in its persistence file
        broker.start()
        second = collector_of()
        collecting = asyncio.create_task(collect(db, code, collector=second))
        await until_async(lambda: _rows(db, tags)[0] == 2 * (len(a) + len(b) + len(c)), "C stored")
        await until_async(lambda: second.forwarded == second.received, "the journal forwarded")
        await stopped(collecting)
        assert (second.received, adapters[1].connections) == (2 * len(c), 1)
        return first, second

    first, second = asyncio.run(main())
    total = 2 * (len(a) + len(b) + len(c))
    assert _rows(db, tags) == (total, total)  # every point once: none lost, none twice
    _assert_points(db, tags, start, len(a) + len(b) + len(c))
    assert [(sum(r.stored for r in x.results), sum(r.duplicates for r in x.results), x.outages)
            for x in (first, second)] == [(2 * (len(a) + len(b)), 2 * len(a), 0), (2 * len(c), 0, 0)]  # fmt: skip
    held = buffer.status(db.state_dir, code)
    assert (held.pending_readings, held.size_bytes) == (0, 0)  # the journal empty at the end


# Mosquitto saves its in-memory database after every change (a subscription, a message queued for a session) at the
# end of the loop pass that made it; in-flight messages are saved with the next save. The PUBACK of a publish goes out
# during the pass, before that save: SIGKILL between the two loses what the pass acknowledged and queued.
DURABLE = "autosave_on_changes true\nautosave_interval 1\n"


class Publisher(threading.Thread):
    """Streams ``steps`` QoS 1 messages, each waiting for its PUBACK; when the broker is gone, connects again once it
    is back and publishes the message it has no PUBACK for again (what a QoS 1 publisher is for)."""

    def __init__(self, port: int, topic: str, start: datetime, steps: int) -> None:
        super().__init__(daemon=True)
        self.port, self.topic, self.start_at, self.steps = port, topic, start, steps
        self.acknowledged: list[int] = []  # in order, each step once (also one published again)
        self.connections = 0  # how many times it has connected
        self.first_broker: list[int] = []  # the steps the broker it first connected to acknowledged
        self.error: BaseException | None = None

    def _connect(self) -> mqtt.Client:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                client = _client(f"test-{uuid.uuid4().hex[:10]}", port=self.port)
                until(client.is_connected, "the publisher connected")
                self.connections += 1
                return client
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @staticmethod
    def _published(info: mqtt.MQTTMessageInfo) -> bool:
        try:
            info.wait_for_publish(1.0)
            return info.is_published()
        except (RuntimeError, ValueError):  # the connection went away meanwhile
            return False

    def run(self) -> None:
        try:
            client, step = self._connect(), 0
            while step < self.steps:
                if self._published(client.publish(self.topic, _payload(self.start_at, step), qos=1)):
                    if step not in self.acknowledged:
                        self.acknowledged.append(step)
                    if self.connections == 1:
                        self.first_broker.append(step)
                    step += 1
                    time.sleep(0.004)
                    continue
                # no PUBACK: the broker is gone; publish this step again once it is back
                with contextlib.suppress(Exception):
                    _stop(client)
                client = self._connect()
            _stop(client)
        except BaseException as error:  # seen by the test
            self.error = error


@pytest.mark.clause("SH-8.4.3", "SH-8.4.1", "TJ-10.1.3.3.a", "SH-8.1")
def test_a_broker_killed_mid_stream_loses_nothing_it_had_saved_and_duplicates_nothing(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The private Mosquitto saves on every change (``autosave_on_changes``); SIGKILL while 80 QoS 1 messages stream
    to the connected collector (its in-flight window full: later ones queued for its session), restarted on the same
    port and file. Every message is stored once — the ones in flight or queued at the kill from the broker's file,
    the one without a PUBACK published again — except, at most, the message the broker acknowledged in the very
    pass the kill interrupted, before that pass's save (Mosquitto acknowledges before it saves)."""
    broker = PrivateBroker(tmp_path, DURABLE)
    broker.start()
    code, tags, topic = source_of(db, uuid.uuid4().hex[:8], broker.port)
    session = _client(collector_client_id(code, db.state_dir), clean=False, port=broker.port)
    session.subscribe(topic, qos=1)
    _stop(session)
    start, steps = datetime(2026, 11, 29, 6, 0, tzinfo=UTC), 80
    publisher = Publisher(broker.port, topic, start, steps)
    # batches journaled (and acknowledged) 0.3 s after the last message: the broker's window of 20 fills, it queues
    collector = Collector(db, code, flush_seconds=0.3, idle_seconds=0.3, retry_seconds=0.05)
    adapters: list[MqttAdapter] = []
    adapter_for = collector_module.adapter_for

    def watched(*args: Any, **kwargs: Any) -> Any:
        adapters.append(adapter_for(*args, **kwargs))
        return adapters[-1]

    monkeypatch.setattr(collector_module, "adapter_for", watched)

    async def main() -> tuple[list[int], int]:
        collecting = asyncio.create_task(collect(db, code, collector=collector))
        try:
            await until_async(lambda: bool(adapters) and adapters[0].connections == 1, "connected")
            publisher.start()
            await until_async(lambda: len(publisher.acknowledged) >= 30, "30 messages acknowledged")
            broker.kill()  # mid-stream: messages in flight to the collector, more queued for it, one without PUBACK
            before, received = list(publisher.acknowledged), collector.received
            broker.start()
            await asyncio.to_thread(publisher.join, WAIT_S)
            assert publisher.error is None and not publisher.is_alive(), publisher.error
            await until_async(lambda: _rows(db, tags)[0] >= 2 * (steps - 1) and collector.forwarded == collector.received,
                              "the stream stored after the restart")  # fmt: skip
            await asyncio.sleep(1.0)  # the collector's session redelivers what the broker kept: let it come
            await until_async(lambda: collector.forwarded == collector.received, "the journal forwarded")
            return before, received
        finally:
            collecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collecting
            # no session left behind
            _stop(_client(collector_client_id(code, db.state_dir), port=broker.port))
            broker.kill()

    try:
        before, received = asyncio.run(main())
    finally:
        broker.kill()
    # killed mid-stream: acknowledged to the publisher but not yet delivered to the collector when the broker died
    # (queued for its session: only the broker's file had them), and more published after the restart
    assert len(before) - received // 2 >= 5 and len(before) < steps, (len(before), received)
    with db.sessions() as s:
        query = select(HistorianValue.source_time).join(Tag).where(Tag.name == tags[0])
        stored = {at for (at,) in s.execute(query)}
    rows, distinct = _rows(db, tags)
    assert rows == distinct  # nothing twice, whatever the broker delivered again
    times = {step: start + timedelta(seconds=step, microseconds=step) for step in range(steps)}
    missing = sorted(step for step, at in times.items() if at not in stored)
    # at most the last message the killed broker acknowledged: the pass the kill interrupted had not saved it.
    # (Not the last in ``before``: a PUBACK sent just before the kill may reach the publisher's list after it.)
    assert set(missing) <= {publisher.first_broker[-1]}, (missing, before[-3:], publisher.first_broker[-3:])
    assert rows == 2 * (steps - len(missing))
    output = broker.log.read_text()
    saves = output.count("Saving in-memory database")  # on every change, not every 30 minutes
    assert saves > steps / 2 and "Error" not in output, output


@pytest.mark.clause("SH-8.4.3", "SH-8.4.1", "TJ-10.1.3.3.a")
def test_a_torn_journal_tail_is_dropped_and_the_rest_forwarded_once(db: Database) -> None:
    run = uuid.uuid4().hex[:8]
    code, tags, _ = source_of(db, run)
    sent = readings(tags, 9, datetime(2026, 11, 29, 4, 0, tzinfo=UTC))
    with Journal.open(db.state_dir, code) as journal:
        batches = [journal.append(sent[i : i + 6]) for i in (0, 6, 12)]
        with pytest.raises(Conflict, match="held by another running collector"):
            Journal.open(db.state_dir, code)
        with pytest.raises(Conflict, match="not the next to forward"):
            journal.forwarded(batches[1].seq)
        with pytest.raises(ValidationFailed, match="empty batch"):
            journal.append([])
        back = journal.first_pending()
        assert back is not None and back.key == batches[0].key
        # read back exactly: 21.50 as 21.50, the float's repr, µs, quality, status code, receipt time
        assert [buffer.encode_reading(r) for r in back.readings] == [
            buffer.encode_reading(r) for r in sent[:6]
        ]
    # the first batch reached the database, then the collector died before marking it forwarded …
    first = historian.ingest(db, code, list(batches[0].readings), batch_key=batches[0].key)
    assert first is not None
    # … and, on another run, died writing a fourth batch: half a frame at the end
    path = buffer.journal_dir(db.state_dir, code) / buffer.JOURNAL
    tail = buffer.frame({"k": "batch", "seq": 4, "key": "never-acknowledged", "at": "2026-11-29T04:00:00+00:00",
                         "r": [buffer.encode_reading(sent[0])]})  # fmt: skip
    with path.open("ab") as out:
        out.write(tail[: len(tail) // 2])
    held = buffer.status(db.state_dir, code)
    assert (held.pending_batches, held.pending_readings, held.torn_bytes) == (3, 18, len(tail) // 2)

    collector = Collector(db, code)
    assert asyncio.run(collector.run(asyncio.Queue(), limit=0)) == 0  # on start: what the earlier runs left
    assert collector.journal is not None and collector.journal.dropped_bytes == len(tail) // 2
    assert collector.results[0] == first  # the re-sent batch is the same ingest (its key), not a second one
    # the two batches after it waited together: one ingest, under the key of the first of them
    assert [(r.batch_key, r.stored, r.duplicates) for r in collector.results[1:]] == [(batches[1].key, 12, 0)]
    assert collector.forwarded == 18
    assert_same(sent, stored_of(db, tags))
    assert path.stat().st_size == 0

    # a batch the database refuses (its source unknown there) stops the collector with the reason, kept
    stray = f"T-GONE{run.upper()}"
    with Journal.open(db.state_dir, stray) as journal:
        journal.append(sent[:2])
    with pytest.raises(Conflict, match=f"No active data source {stray}"):
        asyncio.run(Collector(db, stray).run(asyncio.Queue(), limit=0))
    assert buffer.status(db.state_dir, stray).pending_readings == 2

    # damage in the middle of a journal is not a torn write: refused, nothing dropped
    with Journal.open(db.state_dir, stray) as journal:
        journal.append(sent[2:4])
        journal.append(sent[4:6])
    path = buffer.journal_dir(db.state_dir, stray) / buffer.JOURNAL
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match="is damaged at byte"):
        Journal.open(db.state_dir, stray)
    with pytest.raises(JournalCorrupt):
        buffer.status(db.state_dir, stray)
    assert path.read_bytes() == bytes(data)

    # a journal that grew but whose last write never reached the disk (zeros) drops that tail only
    zeros = buffer.journal_dir(db.state_dir, f"{stray}Z") / buffer.JOURNAL
    with Journal.open(db.state_dir, f"{stray}Z") as journal:
        journal.append(sent[:3])
    with zeros.open("ab") as out:
        out.write(bytes(64))
    with Journal.open(db.state_dir, f"{stray}Z") as journal:
        assert (journal.pending_readings, journal.dropped_bytes) == (3, 64)

    # unknown sources and codes that are not codes
    with pytest.raises(NotFound, match="No collector journal for NO-SUCH"):
        buffer.status(db.state_dir, "no-such")
    with pytest.raises(ValidationFailed, match="is not a data source code"):
        buffer.journal_dir(db.state_dir, "../etc")
    result = CliRunner().invoke(monitoring_app, ["buffer", "NO-SUCH"])
    assert result.exit_code == 2 and "No collector journal for NO-SUCH" in result.output
    with Journal.open(get_settings().var_dir, stray) as journal:  # the instance's own PHARMATRACE_VAR
        journal.append(sent[:2])
    result = CliRunner().invoke(monitoring_app, ["buffer", stray])
    assert result.exit_code == 0 and f"{stray}: 2 values in 1 batches pending" in result.output, result.output


@pytest.mark.clause("SH-8.4.3", "SH-8.4.1", "TJ-10.1.3.3.a")
def test_batches_waiting_together_go_as_one_ingest_found_again_by_its_first_key(db: Database) -> None:
    run = uuid.uuid4().hex[:8]
    code, tags, _ = source_of(db, run)
    sent = readings(tags, 20, datetime(2026, 11, 29, 5, 0, tzinfo=UTC))  # 40 readings
    with Journal.open(db.state_dir, code) as journal:
        batches = [journal.append(sent[i : i + 4]) for i in range(0, 40, 4)]
        # the first batch, then those after it while the run holds at most so many readings
        assert [b.seq for b in journal.pending_run(12)] == [b.seq for b in batches[:3]]
        assert [b.seq for b in journal.pending_run(15)] == [b.seq for b in batches[:3]]
        assert [b.seq for b in journal.pending_run(1)] == [batches[0].seq]  # a first batch over it goes alone
        whole = journal.pending_run(1000)
        assert [buffer.encode_reading(r) for b in whole for r in b.readings] == [
            buffer.encode_reading(r) for r in sent
        ]
        with pytest.raises(Conflict, match="Batch 999 is not pending"):
            journal.forwarded(batches[0].seq, 999)
        with pytest.raises(Conflict, match="not the next to forward"):
            journal.forwarded(batches[1].seq, batches[2].seq)
        assert journal.pending_readings == 40  # nothing marked
    # an earlier collector stored a run of three batches under the first one's key, then died before marking it
    first = historian.ingest(db, code, [r for b in batches[:3] for r in b.readings], batch_key=batches[0].key)
    assert first is not None
    collector = Collector(db, code, forward_size=16)
    assert asyncio.run(collector.run(asyncio.Queue(), limit=0)) == 0
    assert collector.results[0] == first  # found again: not stored twice
    assert [(r.batch_key, r.stored, r.duplicates) for r in collector.results[1:]] == [
        (batches[3].key, 16, 0),
        (batches[7].key, 12, 0),
    ]
    assert collector.forwarded == 40
    assert_same(sent, stored_of(db, tags))

    # a run stored under a larger forward_size than the collector's now is found again whole
    later = readings(tags, 6, datetime(2026, 11, 29, 5, 30, tzinfo=UTC))
    with Journal.open(db.state_dir, code) as journal:
        again = [journal.append(later[i : i + 4]) for i in (0, 4, 8)]
    found = historian.ingest(db, code, later[:8], batch_key=again[0].key)
    smaller = Collector(db, code, forward_size=4)
    assert asyncio.run(smaller.run(asyncio.Queue(), limit=0)) == 0
    assert smaller.results[0] == found
    assert [(r.batch_key, r.stored) for r in smaller.results[1:]] == [(again[2].key, 4)]
    assert smaller.forwarded == 12
    assert_same(sent + later, stored_of(db, tags))

    # an ingest under a run's first key that no run of the journal's batches makes: refused, nothing marked
    more = readings(tags, 4, datetime(2026, 11, 29, 6, 0, tzinfo=UTC))
    with Journal.open(db.state_dir, code) as journal:
        odd = journal.append(more[:4])
        journal.append(more[4:])
    historian.ingest(db, code, more[:3], batch_key=odd.key)
    with pytest.raises(Conflict, match="holds 3 readings, which no run of the journal's batches makes"):
        asyncio.run(Collector(db, code).run(asyncio.Queue(), limit=0))
    assert buffer.status(db.state_dir, code).pending_readings == 8

    # one mark says a whole run is forwarded, and says it after the journal is opened again
    other = f"{code}J"
    path = buffer.journal_dir(db.state_dir, other) / buffer.JOURNAL
    with Journal.open(db.state_dir, other) as journal:
        marked = [journal.append(sent[i : i + 4]) for i in (0, 4, 8)]
        size = path.stat().st_size
        journal.forwarded(marked[0].seq, marked[1].seq)
        assert path.stat().st_size - size == len(buffer.frame({"k": "forwarded", "seq": marked[1].seq}))
    with Journal.open(db.state_dir, other) as journal:
        assert [b.seq for b in journal.pending_run(1000)] == [marked[2].seq]
        assert journal.pending_readings == 4


@pytest.mark.scenario
@pytest.mark.clause("SH-8.4.1", "SH-8.4.3", "TJ-10.1.3.3.a", "SH-8.1")
def test_an_opcua_source_read_again_back_fills_what_its_plc_kept_meanwhile(db: Database) -> None:
    """The link (or the collector) is down while the freeze-dryer goes on; on reconnection the collector reads the
    server's history after each tag's last stored value and stores every value once, with its own time and status."""
    from pharmatrace.monitoring.simulators.opcua_freeze_dryer import FreezeDryerServer

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)

    async def main() -> tuple[list[Reading], list[Reading], Collector]:
        async with FreezeDryerServer("FD-01", tag_suffix=f"_{uuid.uuid4().hex[:4]}") as sim:
            code = configure(db, "opcua", sim.url, sim.bindings())
            early = await sim.write_many(
                [("shelf_temperature", -41.0)], start
            )  # before anyone read the source
            await sim.write("shelf_temperature", -40.5, start + timedelta(seconds=1))
            first = Collector(db, code, batch_size=50, flush_seconds=0.2)
            assert await asyncio.wait_for(collect(db, code, limit=4, collector=first), WAIT_S) == 4
            meanwhile: list[Reading] = []  # nobody connected: the PLC's values only in its history
            base = datetime.now(UTC) - timedelta(milliseconds=50)
            for step in range(5):
                at = base + timedelta(milliseconds=step * 7, microseconds=1)
                meanwhile.append(await sim.write("shelf_temperature", -40.0 + step / 4, at))
                status = BAD_SENSOR_FAILURE if step == 3 else 0
                meanwhile.append(await sim.write("chamber_pressure", 9.5 + step * 0.125, at, status=status))
            again = Collector(db, code, batch_size=50, flush_seconds=0.2)
            # the history (10 values) and then the live values held meanwhile, of which the two unchanged signals'
            # are already stored (found again, stored once) and the other two were in the history (queued once)
            assert await asyncio.wait_for(collect(db, code, limit=12, collector=again), WAIT_S) == 12
            return early, meanwhile, again

    early, meanwhile, again = asyncio.run(main())
    assert again.counts().stored == 10 and again.counts().pending == 0
    shelf, pressure = meanwhile[0].tag, meanwhile[1].tag
    stored = stored_of(db, {shelf, pressure})
    # the first connection started from the current values (-40.5); what came before a tag was first read is not
    # fetched — back-fill starts after the last value the plant holds
    assert [v.value for v in stored if v.tag == shelf][:1] == [-40.5]
    assert early[0].source_time not in {v.source_time for v in stored}
    after = [v for v in stored if v.source_time >= meanwhile[0].source_time]
    # exactly as the server kept them: value, source time, status — the Bad one too, with the value its history
    # holds (a live notification of a Bad value carries none: each is stored as read)
    assert_same(meanwhile, after)
    assert [(v.quality, v.status_code) for v in after if v.tag == pressure][3] == ("bad", BAD_SENSOR_FAILURE)
