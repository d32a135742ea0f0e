"""The collector: readings from an adapter's queue into the historian in batches, through a local journal
(SH-8.4.3, SH-8.4.1, TJ-10.1.3.3.a; store-and-forward, ADR 0025).

An adapter (:mod:`.adapters`) puts :class:`~.historian.Reading` objects on an ``asyncio.Queue``; the collector
takes them off and, when a batch is full or its oldest reading waited ``flush_seconds``, appends it to the source's
journal (:mod:`.buffer`, fsync'd) — and only then acknowledges it to the source (MQTT: the PUBACK). A reading that
may raise or clear an alarm (:mod:`.priority`: the source's alarm rules, read again every ``rules_seconds``) sends
its batch within ``priority_seconds`` instead: alarms do not wait for the batching (TJ-6.5). A forwarder
task stores the journal's batches in order, each as one unit of work (:func:`pharmatrace.monitoring.historian.ingest`
with the batch's key), in a worker thread so the event loop keeps receiving. While the database is away (refused,
restarting, cut off) the collector keeps receiving and journaling, retries with a capped back-off and back-fills in
order, with the original source times, when it returns. On start it first forwards what an earlier run left.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError

from pharmatrace.adapters import get_within
from pharmatrace.config import get_settings
from pharmatrace.kernel.errors import N_, Conflict, NotFound
from pharmatrace.monitoring import historian
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.adapters.modbus import ModbusAdapter
from pharmatrace.monitoring.adapters.mqtt import MqttAdapter
from pharmatrace.monitoring.adapters.opcua import OpcUaAdapter
from pharmatrace.monitoring.buffer import Batch, Journal
from pharmatrace.monitoring.historian import IngestResult, Reading
from pharmatrace.monitoring.models import DataSource, Tag
from pharmatrace.monitoring.priority import AlarmTriggers, rules_of_source
from pharmatrace.storage.engine import Database

log = logging.getLogger(__name__)
# The database is away (refused, shut down, the connection cut): keep the batch, try again later. Anything else
# (a refusal of the batch itself) stops the collector with its error, the batch kept in the journal.
DATABASE_AWAY = (OperationalError, InterfaceError)


@dataclass(frozen=True, slots=True)
class Counts:
    """Readings received from the adapter, journaled, forwarded to the database (stored or found there already),
    stored (new rows), and still pending in the journal; the times the database was found away."""

    received: int
    journaled: int
    forwarded: int
    stored: int
    pending: int
    outages: int

    def summary(self) -> str:
        return (f"{self.received} received, {self.journaled} journaled, {self.forwarded} forwarded "
                f"({self.stored} stored), {self.pending} pending; database away {self.outages} times")  # fmt: skip


def _held(journal: Journal, run: list[Batch], result: IngestResult | None) -> list[Batch]:
    """The pending batches that ``result`` holds: the whole ``run``, or — the run's key found stored by an earlier
    collector that died before marking its run forwarded — the first batches of as many readings as that ingest
    took (its run may have been shorter, or longer under a larger ``forward_size``)."""
    if result is None:
        return run
    taken, total = result.stored + result.duplicates, 0
    if taken > sum(len(batch.readings) for batch in run):
        run = journal.pending_run(taken)
    for count, batch in enumerate(run, 1):
        total += len(batch.readings)
        if total == taken:
            return run[:count]
    raise Conflict(N_("Ingest {key} holds {count} readings, which no run of the journal's batches makes"),
                   key=result.batch_key, count=taken)  # fmt: skip


@dataclass(frozen=True)
class Batching:
    """How a collector batches: how long a reading may wait for its batch, its batch's most readings, how long a
    reading that may raise or clear an alarm may wait, and the most readings of one ingest in a back-fill."""

    flush_seconds: float
    batch_size: int
    priority_seconds: float | None
    forward_size: int

    def summary(self) -> str:
        urgent = (
            ""
            if self.priority_seconds is None
            else f", a reading for an alarm within {self.priority_seconds:g} s"
        )
        return (f"batches of ≤ {self.batch_size:,} readings or {self.flush_seconds:g} s{urgent}; "
                f"back-fill ≤ {self.forward_size:,} readings an ingest")  # fmt: skip

    @classmethod
    def of_settings(
        cls, *, flush_seconds: float | None = None, batch_size: int | None = None,
        priority_seconds: float | None = None, forward_size: int | None = None,
    ) -> Batching:  # fmt: skip
        """The plant's settings (``PHARMATRACE_COLLECTOR_FLUSH_SECONDS``, ``…_BATCH_SIZE``, ``…_PRIORITY_SECONDS``,
        ``…_FORWARD_SIZE``), each replaced by a value given that is not ``None``: how the collector service and
        ``pharmatrace monitoring collect`` batch."""
        settings = get_settings()
        return cls(
            settings.collector_flush_seconds if flush_seconds is None else flush_seconds,
            settings.collector_batch_size if batch_size is None else batch_size,
            settings.collector_priority_seconds if priority_seconds is None else priority_seconds,
            settings.collector_forward_size if forward_size is None else forward_size,
        )


@dataclass
class Collector:
    db: Database
    source_code: str
    batch_size: int = 200
    flush_seconds: float = 1.0
    idle_seconds: float = 0.2  # with acknowledgements: the broker's in-flight window waits for them
    retry_seconds: float = (
        0.5  # the first back-off while the database is away, doubled up to retry_max_seconds
    )
    retry_max_seconds: float = 30.0
    # a reading that may raise or clear an alarm sends its batch within this (None: it waits like any other);
    # the source's alarm rules are read again every rules_seconds (ADR 0021 addendum)
    priority_seconds: float | None = 0.2
    rules_seconds: float = 10.0
    # batches waiting together (a back-fill) are stored as one ingest of up to this many readings: a transaction
    # per journal batch would change each tag's pages of the raw values' key again for every batch
    forward_size: int = 20_000
    triggers: AlarmTriggers = field(default_factory=AlarmTriggers)
    journal: Journal | None = None  # opened (and closed) by ``run`` when not given
    results: list[IngestResult] = field(default_factory=list)
    received: int = 0
    journaled: int = 0
    forwarded: int = 0
    outages: int = 0

    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _step: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    @property
    def batching(self) -> Batching:
        return Batching(self.flush_seconds, self.batch_size, self.priority_seconds, self.forward_size)

    @classmethod
    def batched(cls, db: Database, source_code: str, how: Batching) -> Self:
        return cls(db, source_code, batch_size=how.batch_size, flush_seconds=how.flush_seconds,
                   priority_seconds=how.priority_seconds, forward_size=how.forward_size)  # fmt: skip

    def counts(self) -> Counts:
        pending = self.journal.pending_readings if self.journal is not None else 0
        return Counts(self.received, self.journaled, self.forwarded, sum(r.stored for r in self.results), pending,
                      self.outages)  # fmt: skip

    # --- receiving ----------------------------------------------------------------------------------------

    async def flush(self, batch: list[Reading], acknowledge: Callable[[int], None] | None = None) -> None:
        """Journal the batch (durably), then acknowledge it to the source and wake the forwarder."""
        if not batch:
            return
        readings = list(batch)
        batch.clear()
        assert self.journal is not None
        await asyncio.shield(asyncio.to_thread(self.journal.append, readings))
        self.journaled += len(readings)
        if acknowledge is not None:
            acknowledge(len(readings))
        self._wake.set()

    async def _receive(self, queue: asyncio.Queue[Reading], limit: int | None,
                       acknowledge: Callable[[int], None] | None) -> int:  # fmt: skip
        taken = 0
        batch: list[Reading] = []
        due = last = 0.0  # when the batch goes out at the latest; when its last reading came
        try:
            while limit is None or taken < limit:
                wait = None
                if batch:
                    wait = due
                    if acknowledge is not None:  # the source holds back more until these are acknowledged
                        wait = min(wait, last + self.idle_seconds)
                    wait = max(0.0, wait - time.monotonic())
                try:
                    reading = await get_within(queue, wait)
                except TimeoutError:
                    await self.flush(batch, acknowledge)
                    continue
                batch.append(reading)
                taken += 1
                self.received += 1
                last = time.monotonic()
                if len(batch) == 1:
                    due = last + self.flush_seconds
                if self.priority_seconds is not None and self.triggers.urgent(reading):
                    # TJ-6.5: a reading that may raise or clear an alarm does not wait for the batch
                    due = min(due, last + self.priority_seconds)
                # due is checked here too: a queue that is never empty would not let the wait above time out
                if len(batch) >= self.batch_size or last >= due:
                    await self.flush(batch, acknowledge)
        finally:
            await asyncio.shield(self.flush(batch, acknowledge))  # cancelled or not: nothing received is lost
        return taken

    # --- forwarding ---------------------------------------------------------------------------------------

    async def _read_rules(self) -> None:
        """Read the source's alarm rules now and every ``rules_seconds``; while the database is away (or the
        rules cannot be read) the rules read last stay."""
        while True:
            try:
                self.triggers.replace(await asyncio.to_thread(rules_of_source, self.db, self.source_code))
            except DATABASE_AWAY:  # the forwarder says so already
                pass
            except Exception as error:  # never stops the collector: alarms are still raised, batched
                log.warning("collector %s: alarm rules not read, the last ones stay: %s", self.source_code,
                            str(error).splitlines()[0] if str(error) else type(error).__name__)  # fmt: skip
            await asyncio.sleep(self.rules_seconds)

    async def _forward_one(self) -> bool:
        """Store the oldest pending batches as one ingest and mark them forwarded; ``False`` when nothing is
        pending. Batches waiting together (a back-fill) go as one ingest of up to ``forward_size`` readings."""
        assert self.journal is not None
        journal = self.journal
        run = await asyncio.to_thread(journal.pending_run, self.forward_size)
        if not run:
            return False

        async def step() -> None:
            readings = [reading for batch in run for reading in batch.readings]
            # the run's key is its first batch's: a run stored before the collector died is found again by it
            result = await asyncio.to_thread(
                historian.ingest, self.db, self.source_code, readings, batch_key=run[0].key
            )
            stored = await asyncio.to_thread(_held, journal, run, result)
            await asyncio.to_thread(journal.forwarded, run[0].seq, stored[-1].seq)
            self.forwarded += sum(len(batch.readings) for batch in stored)
            if result is not None:
                self.results.append(result)

        self._step = asyncio.ensure_future(step())
        await asyncio.shield(self._step)  # a cancellation lets the run in flight finish being stored
        return True

    async def _forward(self, closing: asyncio.Event, *, once: bool = False) -> None:
        """Forward the journal in order, waiting for the database while it is away; returns when ``closing`` is
        set and nothing is pending (or, ``once``, after one pass, which a database away ends)."""
        delay = self.retry_seconds
        while True:
            try:
                while await self._forward_one():
                    pass
                delay = self.retry_seconds
            except DATABASE_AWAY as error:
                self.outages += 1
                if once:
                    log.warning("collector %s: database away, %d readings stay journaled: %s",
                                self.source_code, self.counts().pending, str(error).splitlines()[0])  # fmt: skip
                    return
                log.warning("collector %s: database away, retrying in %.1f s: %s", self.source_code, delay,
                            str(error).splitlines()[0])  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_seconds)
                continue
            if once or closing.is_set():
                return
            await self._wake.wait()
            self._wake.clear()

    async def run(self, queue: asyncio.Queue[Reading], *, limit: int | None = None,
                  acknowledge: Callable[[int], None] | None = None) -> int:  # fmt: skip
        """Collect until ``limit`` readings were taken (or forever); returns how many were taken, once every
        batch is in the database. ``acknowledge(n)`` is called after each batch of ``n`` readings is journaled.

        Cancelling it journals what it holds and forwards what it can; nothing received is dropped — what the
        database did not take stays in the journal for the next run."""
        opened = self.journal is None
        if self.journal is None:
            self.journal = await asyncio.to_thread(Journal.open, self.db.state_dir, self.source_code)
        closing = asyncio.Event()
        self._wake = asyncio.Event()
        self._wake.set()  # first what an earlier run left
        forwarding = asyncio.create_task(self._forward(closing))
        rules = asyncio.create_task(self._read_rules()) if self.priority_seconds is not None else None
        receiving = asyncio.create_task(self._receive(queue, limit, acknowledge))
        try:
            done, _ = await asyncio.wait({receiving, forwarding}, return_when=asyncio.FIRST_COMPLETED)
            if forwarding in done:  # the forwarder failed: a batch the database refuses (kept in the journal)
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiving
                forwarding.result()
            taken = receiving.result()
            closing.set()
            self._wake.set()
            await forwarding
            return taken
        except asyncio.CancelledError:
            receiving.cancel()  # it journals what it holds
            forwarding.cancel()  # the batch it is storing finishes (_final_pass waits for it)
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
            with contextlib.suppress(asyncio.CancelledError):
                await forwarding
            await asyncio.shield(self._final_pass())
            raise
        finally:
            for task in (receiving, forwarding, rules, self._step):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if opened and self.journal is not None:
                self.journal.close()

    async def _final_pass(self) -> None:
        if self._step is not None and not self._step.done():
            with contextlib.suppress(*DATABASE_AWAY):
                await self._step
        await self._forward(asyncio.Event(), once=True)


def bindings_of(db: Database, source_code: str) -> tuple[DataSource, list[Binding]]:
    """A source and the bindings of its tags in use, as the adapters take them."""
    with db.sessions() as session:
        source = session.scalar(select(DataSource).where(DataSource.code == source_code.upper()))
        if source is None or source.voided_at is not None:
            raise NotFound(N_("No active data source {code}"), code=source_code)
        found = session.scalars(select(Tag).where(Tag.source_id == source.id, Tag.voided_at.is_(None)))
        return source, [Binding(t.name, t.address, t.data_type, t.decimals) for t in found]


def configuration(db: Database, journal: Journal) -> tuple[DataSource, list[Binding]]:
    """The source's configuration from the database, kept beside its journal; while the database is away, the
    configuration the last run kept: a collector restarted during an outage journals from its first message."""
    try:
        source, bindings = bindings_of(db, journal.source_code)
    except DATABASE_AWAY:
        saved = journal.saved_source()
        if saved is None:
            raise
        log.warning("collector %s: database away, starting from the configuration kept in %s",
                    journal.source_code, journal.directory)  # fmt: skip
        return (DataSource(code=saved["code"], protocol=saved["protocol"], endpoint=saved["endpoint"]),
                [Binding(*b) for b in saved["bindings"]])  # fmt: skip
    journal.save_source({"code": source.code, "protocol": source.protocol, "endpoint": source.endpoint,
                         "bindings": [[b.tag, b.address, b.data_type, b.decimals] for b in bindings]})  # fmt: skip
    return source, bindings


def held_until(db: Database, journal: Journal, bindings: list[Binding]) -> dict[str, datetime]:
    """Each tag's last source time the plant holds — in the historian or still in the journal — from which an
    OPC UA source's history is back-filled on (re)connection. While the database is away, the journal's alone."""
    held = journal.latest_pending()
    try:
        with db.sessions() as session:
            wanted = select(Tag.id, Tag.name).where(Tag.name.in_([b.tag for b in bindings]))
            names: dict[int, str] = {tag_id: name for tag_id, name in session.execute(wanted)}  # noqa: C416
            for tag_id, value in historian.latest(session, names).items():
                name = names[tag_id]
                held[name] = max(held.get(name, value.source_time), value.source_time)
    except DATABASE_AWAY:
        log.warning(
            "collector %s: database away, back-fill from the journal's times only", journal.source_code
        )
    return held


def collector_client_id(source_code: str, state_dir: Path) -> str:
    """The collector's MQTT client id for a source of the installation whose state (and journal) is in
    ``state_dir``: the same on every start, so it finds its session; two installations (or two copies of one
    plant) sharing a broker never take over each other's session."""
    site = hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:8]
    return f"pharmatrace-collector-{site}-{source_code.upper()}"[:64]


def adapter_for(
    source: DataSource, bindings: list[Binding], *, client_id: str | None = None,
    since: dict[str, datetime] | None = None,
) -> OpcUaAdapter | MqttAdapter | ModbusAdapter:  # fmt: skip
    """The protocol client of a source, from its endpoint (``opc.tcp://…``, ``mqtt://host:port``,
    ``modbus://host:port/device``); Modbus polls at the fastest scan rate of its tags (at least 100 ms).
    ``client_id``: the collector's persistent MQTT session (:func:`collector_client_id`, QoS 1, acknowledged
    after journaling). ``since``: OPC UA back-fills each tag's history after that time (:func:`held_until`)."""
    url = urlsplit(source.endpoint)
    if source.protocol == "opcua":
        return OpcUaAdapter(source.endpoint, bindings, since=since)
    if source.protocol == "mqtt":
        if client_id is not None:
            return MqttAdapter(url.hostname or "127.0.0.1", url.port or 1883, bindings,
                               client_id=client_id, manual_ack=True)  # fmt: skip
        return MqttAdapter(url.hostname or "127.0.0.1", url.port or 1883, bindings)
    device = int(url.path.strip("/") or 1)
    return ModbusAdapter(
        url.hostname or "127.0.0.1", url.port or 502, bindings, device_id=device, interval_s=1.0
    )


async def collect(
    db: Database, source_code: str, *, limit: int | None = None, collector: Collector | None = None
) -> int:
    """Connect to a configured source and store what it sends until ``limit`` readings (or cancelled); pass a
    ``collector`` to read its counts and results after a cancellation. The journal is opened before the
    source is connected: a second collector of the same source is refused before it takes any message."""
    collector = collector or Collector(db, source_code.upper())
    opened = collector.journal is None
    if collector.journal is None:
        collector.journal = await asyncio.to_thread(Journal.open, db.state_dir, collector.source_code)
    try:
        source, bindings = await asyncio.to_thread(configuration, db, collector.journal)
        client_id = collector_client_id(source.code, db.state_dir)
        since = None
        if source.protocol == "opcua":  # what the server kept while nobody read it (HistoryRead)
            since = await asyncio.to_thread(held_until, db, collector.journal, bindings)
        async with adapter_for(source, bindings, client_id=client_id, since=since) as adapter:
            acknowledge = (
                adapter.acknowledge if isinstance(adapter, MqttAdapter) and adapter.manual_ack else None
            )
            return await collector.run(adapter.queue, limit=limit, acknowledge=acknowledge)
    finally:
        if opened:
            collector.journal.close()
