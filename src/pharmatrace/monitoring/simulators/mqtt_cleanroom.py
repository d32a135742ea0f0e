"""Clean-room sensors and warehouse loggers publishing over MQTT (SH-8.1, TJ-6.5): a real client of the broker.

Clean-room points go to plain JSON topics (``<prefix>/cleanroom/<room>``, ISO 8601 source times with
microseconds); warehouse loggers to a Sparkplug B-style topic (``spBv1.0/<prefix>/DDATA/warehouse/<logger>``,
millisecond timestamps). Every message is published at QoS 1 and waited for; ``sent`` holds every value with its tag.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from pharmatrace.monitoring.adapters.mqtt import EPOCH, SPARKPLUG
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.simulators import Point

PUBLISH_TIMEOUT_S = 5.0


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        raise TypeError(type(o).__name__)


def dumps(body: dict[str, Any]) -> bytes:
    """JSON with Decimals written as the digits they hold (``21.50``), floats as their shortest repr."""
    marker: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Decimal):
            key = f"@@{len(marker)}@@"
            marker[key] = format(value, "f")
            return key
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(body), cls=_Encoder)
    for key, digits in marker.items():
        text = text.replace(f'"{key}"', digits)
    return text.encode()


class MqttCleanroomPublisher:
    """``async with MqttCleanroomPublisher(host, port, points) as sim: await sim.publish_step(i)``."""

    def __init__(self, host: str, port: int, points: Iterable[Point]) -> None:
        self.host = host
        self.port = port
        self.points = list(points)
        self.sent: list[Reading] = []
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{uuid.uuid4().hex[:12]}")

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self._client.connect, self.host, self.port, 30)
        self._client.loop_start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    async def publish_step(self, step: int, at: datetime | None = None, *, quality: str = "good") -> None:
        """One message per topic with every point's value at ``step``, stamped ``at`` (now by default)."""
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        by_topic: dict[str, list[Point]] = defaultdict(list)
        for point in self.points:
            by_topic[point.binding.address.partition("#")[0]].append(point)
        for topic, points in by_topic.items():
            await self._publish(topic, points, step, moment, quality)

    async def _publish(
        self, topic: str, points: Sequence[Point], step: int, at: datetime, quality: str
    ) -> None:
        if topic.startswith(SPARKPLUG):
            ms = (at - EPOCH) // timedelta(milliseconds=1)
            at = EPOCH + timedelta(milliseconds=ms)  # Sparkplug's resolution
            code = {"good": 192, "uncertain": 64, "bad": 0}[quality]
            metrics = [{"name": p.binding.address.partition("#")[2], "timestamp": ms, "value": p.value(step),
                        "quality": code} for p in points]  # fmt: skip
            body: dict[str, Any] = {"timestamp": ms, "seq": step % 256, "metrics": metrics}
        else:
            body = {"ts": at.isoformat(timespec="microseconds"), "quality": quality}
            body.update({p.binding.address.partition("#")[2]: p.value(step) for p in points})
        info = self._client.publish(topic, dumps(body), qos=1)
        await asyncio.to_thread(info.wait_for_publish, PUBLISH_TIMEOUT_S)
        if not info.is_published():
            raise TimeoutError(f"MQTT publish on {topic} not acknowledged")
        self.sent.extend(Reading(p.binding.tag, at, p.value(step), quality) for p in points)
