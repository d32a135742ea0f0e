"""OPC UA acquisition (asyncua): subscriptions, status codes and source timestamps kept (SH-8.1, SH-8.4.1).

A tag's address is the variable's NodeId (``ns=2;s=FD-01.shelf_temperature``). The adapter opens one subscription
with a monitored item per tag — a FIFO queue on the server (no value lost between two publishes) and the trigger
status-value-timestamp (a repeated value with a new source time is a new sample). Every notification becomes a
reading with the DataValue's SourceTimestamp (the server's when the source gave none, marked so by its quality
staying as the server sent it), its StatusCode mapped to a quality — Good, Uncertain or Bad, never dropped, never
made good — and the raw status code kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.attribute_ids import AttributeIds

from pharmatrace.kernel import clock
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.adapters.mqtt import typed
from pharmatrace.monitoring.historian import Reading

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0


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
        self, url: str, bindings: Iterable[Binding], *, publishing_ms: float = 50.0, queue_size: int = 100
    ) -> None:
        self.url = url
        self.bindings = list(bindings)
        self.publishing_ms = publishing_ms
        self.queue_size = queue_size
        self.queue: asyncio.Queue[Reading] = asyncio.Queue()
        self._by_node: dict[str, Binding] = {}
        self._client = Client(url, timeout=TIMEOUT_S)

    async def __aenter__(self) -> Self:
        await asyncio.wait_for(self._client.connect(), TIMEOUT_S)
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
        except BaseException:
            await self._client.disconnect()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.wait_for(self._client.disconnect(), TIMEOUT_S)

    def receive(self, node: Node, value: ua.DataValue) -> None:
        binding = self._by_node.get(node.nodeid.to_string())
        if binding is None:
            return
        received = clock.now()
        raw = value.Value.Value if value.Value is not None else None
        at = utc(value.SourceTimestamp) or utc(value.ServerTimestamp) or received
        status = value.StatusCode
        self.queue.put_nowait(
            Reading(binding.tag, at, typed(binding, raw), quality_of(status),
                    int(status.value) if status is not None else None, server_time=received)
        )  # fmt: skip
