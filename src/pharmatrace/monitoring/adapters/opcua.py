"""OPC UA acquisition (asyncua): subscriptions, status codes and source timestamps kept (SH-8.1, SH-8.4.1).

A tag's address is the variable's NodeId (``ns=2;s=FD-01.shelf_temperature``). The adapter opens one subscription
with a monitored item per tag — a FIFO queue on the server (no value lost between two publishes) and the trigger
status-value-timestamp (a repeated value with a new source time is a new sample). Every notification becomes a
reading with the DataValue's SourceTimestamp (the server's when the source gave none, marked so by its quality
staying as the server sent it), its StatusCode mapped to a quality — Good, Uncertain or Bad, never dropped, never
made good — and the raw status code kept.

**Back-fill** (SH-8.4.1, TJ-10.1.3.3.a; ADR 0025): given ``since`` — each tag's last source time the plant
already holds — the adapter, once its subscription is in place, reads each tag's history after that time from
the server (HistoryRead, raw, OPC UA Part 11) and queues it oldest first, before the live values the subscription
delivered meanwhile (held until then; one that history returned too is queued once). Values the PLC kept while
the link or the collector was down thus arrive with their own source times and status codes. The window is at
most :data:`BACKFILL_WINDOW`; a server without history for a node is logged and the live values go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.uaerrors import UaError

from pharmatrace.kernel import clock
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.adapters.mqtt import typed
from pharmatrace.monitoring.historian import Reading

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0
BACKFILL_WINDOW = timedelta(days=7)  # a PLC's history beyond this is a migration's job, not a reconnection's


def quality_of(status: ua.StatusCode | None) -> str:
    """OPC UA's severity bits: 00 Good, 01 Uncertain, 10/11 Bad (Part 4, 7.39)."""
    if status is None:
        return "good"
    severity = (int(status.value) >> 30) & 0b11
    return "good" if severity == 0 else "uncertain" if severity == 1 else "bad"


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _Handler:
    def __init__(self, adapter: OpcUaAdapter) -> None:
        self.adapter = adapter

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.adapter.receive(node, data.monitored_item.Value)

    def status_change_notification(self, status: Any) -> None:
        log.warning("OPC UA subscription status changed: %s", status)


class OpcUaAdapter:
    """``async with OpcUaAdapter(url, bindings) as adapter:`` readings arrive on ``adapter.queue``."""

    def __init__(
        self, url: str, bindings: Iterable[Binding], *, publishing_ms: float = 50.0, queue_size: int = 100,
        since: Mapping[str, datetime] | None = None,
    ) -> None:  # fmt: skip
        self.url = url
        self.bindings = list(bindings)
        self.publishing_ms = publishing_ms
        self.queue_size = queue_size
        self.since = dict(since or {})  # tag → the last source time already held: back-fill after it
        self.queue: asyncio.Queue[Reading] = asyncio.Queue()
        self.backfilled = 0
        self.backfill_errors: dict[str, str] = {}
        self._held: list[Reading] | None = None  # live values while the back-fill runs
        self._by_node: dict[str, Binding] = {}
        self._client = Client(url, timeout=TIMEOUT_S)

    async def __aenter__(self) -> Self:
        await asyncio.wait_for(self._client.connect(), TIMEOUT_S)
        self._held = [] if self.since else None
        try:
            subscription = await self._client.create_subscription(self.publishing_ms, _Handler(self))
            trigger = ua.DataChangeFilter()
            trigger.Trigger = ua.DataChangeTrigger.StatusValueTimestamp
            requests = []
            for binding in self.bindings:
                node = self._client.get_node(binding.address)
                self._by_node[node.nodeid.to_string()] = binding
                requests.append(
                    subscription._make_monitored_item_request(
                        node,
                        AttributeIds.Value,
                        trigger,
                        self.queue_size,
                        ua.MonitoringMode.Reporting,
                        ua.Double(0.0),
                    )
                )
            results = await subscription.create_monitored_items(requests)
            for binding, result in zip(self.bindings, results, strict=True):
                if isinstance(result, ua.StatusCode):
                    raise ValueError(f"OPC UA node {binding.address} of {binding.tag} refused: {result}")
            if self.since:
                await self._backfill()
        except BaseException:
            await self._client.disconnect()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.wait_for(self._client.disconnect(), TIMEOUT_S)

    async def _backfill(self) -> None:
        until = clock.now()
        history: list[Reading] = []
        for binding in self.bindings:
            last = self.since.get(binding.tag)
            if last is None:  # a tag never stored: it starts with its live values
                continue
            node = self._client.get_node(binding.address)
            try:
                found = await asyncio.wait_for(
                    node.read_raw_history(max(last, until - BACKFILL_WINDOW), until, return_bounds=False),
                    TIMEOUT_S,
                )
            except (UaError, TimeoutError) as error:
                self.backfill_errors[binding.tag] = str(error) or type(error).__name__
                log.warning("OPC UA history of %s (%s) not read: %s", binding.tag, binding.address, error)
                continue
            received = clock.now()
            history += [
                r for r in (self._reading(binding, v, received) for v in found) if r.source_time > last
            ]
        held, self._held = self._held or [], None
        history.sort(key=lambda r: r.source_time)
        queued: set[tuple[str, datetime]] = set()
        for reading in (*history, *held):
            if (reading.tag, reading.source_time) not in queued:
                queued.add((reading.tag, reading.source_time))
                self.queue.put_nowait(reading)
        self.backfilled = len(history)
        if history:
            log.info("OPC UA %s: %d values back-filled from the server's history", self.url, len(history))

    @staticmethod
    def _reading(binding: Binding, value: ua.DataValue, received: datetime) -> Reading:
        raw = value.Value.Value if value.Value is not None else None
        at = utc(value.SourceTimestamp) or utc(value.ServerTimestamp) or received
        status = value.StatusCode
        return Reading(binding.tag, at, typed(binding, raw), quality_of(status),
                       int(status.value) if status is not None else None, server_time=received)  # fmt: skip

    def receive(self, node: Node, value: ua.DataValue) -> None:
        binding = self._by_node.get(node.nodeid.to_string())
        if binding is None:
            return
        reading = self._reading(binding, value, clock.now())
        if self._held is not None:
            self._held.append(reading)
        else:
            self.queue.put_nowait(reading)
