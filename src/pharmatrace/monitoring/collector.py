"""The collector: readings from an adapter's queue into the historian in batches (SH-8.4.3).

An adapter (:mod:`.adapters`) puts :class:`~.historian.Reading` objects on an ``asyncio.Queue``; the collector
takes them off, and stores a batch when it is full or the oldest reading waited ``flush_seconds``. Each batch is
one unit of work (:func:`pharmatrace.monitoring.historian.ingest`), run in a worker thread so the event loop keeps
receiving. Store-and-forward (a local buffer while the database is away) is a later session's; the batch key
already makes a re-sent batch idempotent.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select

from pharmatrace.adapters import get_within
from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.monitoring import historian
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.adapters.modbus import ModbusAdapter
from pharmatrace.monitoring.adapters.mqtt import MqttAdapter
from pharmatrace.monitoring.adapters.opcua import OpcUaAdapter
from pharmatrace.monitoring.historian import IngestResult, Reading
from pharmatrace.monitoring.models import DataSource, Tag
from pharmatrace.storage.engine import Database


@dataclass
class Collector:
    db: Database
    source_code: str
    batch_size: int = 200
    flush_seconds: float = 1.0
    results: list[IngestResult] = field(default_factory=list)

    async def flush(self, batch: list[Reading]) -> None:
        if batch:
            result = await asyncio.to_thread(historian.ingest, self.db, self.source_code, list(batch))
            if result is not None:
                self.results.append(result)
            batch.clear()

    async def run(self, queue: asyncio.Queue[Reading], *, limit: int | None = None) -> int:
        """Collect until ``limit`` readings were taken (or forever); returns how many were taken.

        Cancelling it stores what it holds first: nothing received is dropped."""
        taken = 0
        batch: list[Reading] = []
        started: float | None = None
        try:
            while limit is None or taken < limit:
                wait = None if started is None else max(0.0, started + self.flush_seconds - time.monotonic())
                try:
                    reading = await get_within(queue, wait)
                except TimeoutError:
                    await self.flush(batch)
                    started = None
                    continue
                batch.append(reading)
                taken += 1
                if started is None:
                    started = time.monotonic()
                if len(batch) >= self.batch_size:
                    await self.flush(batch)
                    started = None
        finally:
            await asyncio.shield(self.flush(batch))
        return taken


def bindings_of(db: Database, source_code: str) -> tuple[DataSource, list[Binding]]:
    """A source and the bindings of its tags in use, as the adapters take them."""
    with db.sessions() as session:
        source = session.scalar(select(DataSource).where(DataSource.code == source_code.upper()))
        if source is None or source.voided_at is not None:
            raise NotFound(N_("No active data source {code}"), code=source_code)
        found = session.scalars(select(Tag).where(Tag.source_id == source.id, Tag.voided_at.is_(None)))
        return source, [Binding(t.name, t.address, t.data_type, t.decimals) for t in found]


def adapter_for(source: DataSource, bindings: list[Binding]) -> OpcUaAdapter | MqttAdapter | ModbusAdapter:
    """The protocol client of a source, from its endpoint (``opc.tcp://…``, ``mqtt://host:port``,
    ``modbus://host:port/device``); Modbus polls at the fastest scan rate of its tags (at least 100 ms)."""
    url = urlsplit(source.endpoint)
    if source.protocol == "opcua":
        return OpcUaAdapter(source.endpoint, bindings)
    if source.protocol == "mqtt":
        return MqttAdapter(url.hostname or "127.0.0.1", url.port or 1883, bindings)
    device = int(url.path.strip("/") or 1)
    return ModbusAdapter(
        url.hostname or "127.0.0.1", url.port or 502, bindings, device_id=device, interval_s=1.0
    )


async def collect(
    db: Database, source_code: str, *, limit: int | None = None, collector: Collector | None = None
) -> int:
    """Connect to a configured source and store what it sends until ``limit`` readings (or cancelled); pass a
    ``collector`` to read its results after a cancellation."""
    source, bindings = await asyncio.to_thread(bindings_of, db, source_code)
    async with adapter_for(source, bindings) as adapter:
        return await (collector or Collector(db, source.code)).run(adapter.queue, limit=limit)
