"""MQTT acquisition (paho-mqtt) through the plant's broker (SH-8.1, SH-8.2): JSON payloads and Sparkplug B-style
topics.

A tag's address is ``<topic>#<field>``:

* a plain topic (``plant/cleanroom/R-101``) carries a JSON object: ``{"ts": "2026-11-29T08:00:00.123456+00:00",
  "temperature": 21.50, "humidity": 45.2, "quality": "good"}`` — the source time in ISO 8601 (microseconds kept),
  one member per field, an optional quality (good / uncertain / bad) for every field of the message;
* a Sparkplug B-style topic (``spBv1.0/<group>/DDATA/<edge node>/<device>``) carries Sparkplug's payload as JSON:
  ``{"timestamp": <ms>, "seq": n, "metrics": [{"name": "temperature", "timestamp": <ms>, "value": 4.5,
  "quality": 192}]}`` — each metric's timestamp in milliseconds since the epoch (Sparkplug's resolution), the
  quality as Sparkplug's ``Quality`` property (OPC DA codes: 192 good, 64 uncertain, 0 bad).

Numbers are parsed as :class:`~decimal.Decimal`, so a decimal tag keeps the digits the sender wrote (``21.50``) and a
float tag gets exactly the double that was sent. Subscriptions are QoS 1 (at least once): a re-delivery has the same
tag and source time and the historian stores it once. A message that cannot be parsed is not dropped silently: it is
kept in ``rejected`` (topic, reason) and logged.

The collector's adapter (``client_id`` given, ``manual_ack=True``; ADR 0025) keeps a persistent session at the
broker (``clean_session=False``, the same client id on every start) and acknowledges a message only when the
collector says its readings are in the journal (:meth:`MqttAdapter.acknowledge`), in the order received (MQTT
3.1.1 §4.6): a message received but not yet journaled when the collector is killed, or published while it is
away, is delivered again. After a broker restart paho reconnects (capped back-off) and the adapter subscribes
again; an acknowledgement for a message of a connection that has since dropped is not sent — the broker
re-delivers that message and the historian stores it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from pharmatrace.kernel import clock
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import Reading, Value
from pharmatrace.monitoring.models import QUALITIES

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0
SPARKPLUG = "spBv1.0/"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sparkplug_quality(code: Any) -> str:
    if code is None:
        return "good"
    number = int(code)
    return "good" if number >= 192 else "uncertain" if number >= 64 else "bad"


def ms_time(ms: Any) -> datetime:
    return EPOCH + timedelta(milliseconds=int(ms))


def typed(binding: Binding, raw: Any) -> Value:
    """The payload's number as the tag's data type: a Decimal keeps its digits, a float is the double sent."""
    if raw is None:
        return None
    if binding.data_type == "bool":
        return bool(raw)
    if binding.data_type == "int":
        return int(raw)
    if binding.data_type == "decimal":
        return raw if isinstance(raw, Decimal) else Decimal(str(raw))
    return float(raw)


class MqttAdapter:
    """``async with MqttAdapter(host, port, bindings) as adapter:`` readings arrive on ``adapter.queue``."""

    def __init__(self, host: str, port: int, bindings: Iterable[Binding], *, qos: int = 1,
                 client_id: str | None = None, manual_ack: bool = False) -> None:  # fmt: skip
        self.host = host
        self.port = port
        self.qos = qos
        self.manual_ack = manual_ack
        self.fields: dict[str, dict[str, Binding]] = defaultdict(dict)
        for binding in bindings:
            topic, _, field = binding.address.partition("#")
            self.fields[topic][field] = binding
        self.queue: asyncio.Queue[Reading] = asyncio.Queue()
        self.rejected: list[tuple[str, str]] = []
        self.client_id = client_id or f"pharmatrace-{uuid.uuid4().hex[:12]}"
        # a named client keeps its session: what was published or left unacknowledged while away comes again
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                   clean_session=client_id is None, manual_ack=manual_ack)  # fmt: skip
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection = 0  # counts connections: an acknowledgement never crosses into a newer one
        self.connections = 0  # successful connections (a reconnection after a broker restart counts)
        # the event loop's side: readings put on the queue, readings the collector made durable, and the
        # deliveries awaiting their acknowledgement (readings put up to and with it, mid, qos, connection)
        self._put = 0
        self._durable = 0
        self._unacknowledged: deque[tuple[int, int, int, int]] = deque()
        self._subscribed = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not await asyncio.to_thread(self._subscribed.wait, CONNECT_TIMEOUT_S):
            self._stop()
            raise TimeoutError(f"MQTT broker {self.host}:{self.port} did not confirm the subscriptions")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        self._connection += 1  # acknowledgements still to come belong to a closed connection
        self._client.disconnect()
        self._client.loop_stop()

    # --- paho's network thread -------------------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        self._connection += 1
        self.connections += 1
        client.subscribe([(topic, self.qos) for topic in self.fields])

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._connection += 1  # the broker re-delivers what this connection had not acknowledged

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        received = clock.now()
        assert self._loop is not None
        try:
            readings = self.parse(message.topic, bytes(message.payload), received)
        except (ValueError, TypeError, KeyError, ArithmeticError) as error:
            self.rejected.append((message.topic, str(error)))
            log.warning("MQTT message on %s refused: %s", message.topic, error)
            readings = []  # nothing to keep: acknowledged in its turn
        if self.manual_ack:
            delivery = (message.mid, message.qos, self._connection)
            self._loop.call_soon_threadsafe(self._delivered, readings, *delivery)
            return
        for reading in readings:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, reading)

    # --- acknowledgement after journaling (the event loop's thread) -------------------------------------------

    def _delivered(self, readings: list[Reading], mid: int, qos: int, connection: int) -> None:
        for reading in readings:
            self.queue.put_nowait(reading)
        self._put += len(readings)
        self._unacknowledged.append((self._put, mid, qos, connection))
        self._release()

    def acknowledge(self, count: int) -> None:
        """The next ``count`` readings taken off the queue are journaled: acknowledge the messages now complete."""
        self._durable += count
        self._release()

    @property
    def unacknowledged(self) -> int:
        """Messages received and not yet acknowledged to the broker."""
        return len(self._unacknowledged)

    def _release(self) -> None:
        while self._unacknowledged and self._unacknowledged[0][0] <= self._durable:
            _, mid, qos, connection = self._unacknowledged.popleft()
            if connection == self._connection:
                self._client.ack(mid, qos)

    def parse(self, topic: str, payload: bytes, received: datetime) -> list[Reading]:
        fields = self.fields.get(topic)
        if not fields:
            return []
        body = json.loads(payload, parse_float=Decimal)
        if not isinstance(body, dict):
            raise ValueError("payload is not a JSON object")
        out: list[Reading] = []
        if topic.startswith(SPARKPLUG):
            default = body.get("timestamp")
            for metric in body.get("metrics", []):
                binding = fields.get(str(metric.get("name")))
                if binding is None:
                    continue
                stamp = metric.get("timestamp", default)
                if stamp is None:
                    raise ValueError(f"metric {binding.tag} has no timestamp")
                out.append(Reading(binding.tag, ms_time(stamp), typed(binding, metric.get("value")),
                                   sparkplug_quality(metric.get("quality")), server_time=received))  # fmt: skip
            return out
        if "ts" not in body:
            raise ValueError("payload has no ts")
        at = datetime.fromisoformat(str(body["ts"]))
        if at.tzinfo is None:
            raise ValueError("ts has no time zone")
        quality = str(body.get("quality", "good"))
        if quality not in QUALITIES:
            raise ValueError(f"unknown quality {quality}")
        for field, binding in fields.items():
            if field in body:
                out.append(Reading(binding.tag, at.astimezone(UTC), typed(binding, body[field]), quality,
                                   server_time=received))  # fmt: skip
        return out
