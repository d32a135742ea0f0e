"""The packaging-line transports (SH-6.2.5, SH-8.1; issue 10 item 2): MQTT through the plant's broker and a TCP
connection to the line controller, both speaking the JSON messages of :mod:`pharmatrace.trace.line`
(``docs/trace-line-protocol.md``).

Each adapter is an async context manager: entering connects; :meth:`send_job` hands the print data over and waits
for the controller's ``job_ack``; read results arrive on ``queue`` as :class:`~pharmatrace.trace.line.Delivery`
objects whose ``ack`` the :class:`~pharmatrace.trace.line.LineCollector` calls only after their batch committed.

* **MQTT** (paho-mqtt 2): QoS 1, a persistent session (``clean_session=False``, a stable client id per set of
  lines) and manual acknowledgement — the PUBACK of a result is sent after its unit of work commits, so results
  published while the collector is down, or received but not yet stored when it stopped, are delivered (again)
  when it returns. An acknowledgement for a message of a connection that has since dropped is not sent: the
  broker re-delivers that message and the collector counts it as a duplicate.
* **TCP**: newline-delimited JSON. The host connects to the controller and says ``hello``; the controller sends
  every result not yet acknowledged, in sequence order, then new ones as they are read; the host acknowledges each
  result by its sequence number (``{"type": "ack", "seq": n}``) after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from pharmatrace.trace.line import (
    Delivery,
    JobAckMessage,
    MessageRefused,
    PrintJob,
    decode_job_ack,
    decode_result,
    encode_job,
)

log = logging.getLogger(__name__)
DEFAULT_PREFIX = "pharmatrace/line"
CONNECT_TIMEOUT_S = 5.0
JOB_ACK_TIMEOUT_S = 10.0
MAX_LINE_BYTES = 16 * 1024 * 1024  # a job of 100,000 codes


def topic(prefix: str, line: str, kind: str) -> str:
    """``<prefix>/<line>/job`` (host → line), ``…/job_ack`` and ``…/result`` (line → host)."""
    return f"{prefix}/{line}/{kind}"


def _job_refused(ack: JobAckMessage) -> None:
    if ack.error:
        raise ConnectionError(f"line {ack.line} refused job {ack.job_id}: {ack.error}")


def _seq_of(payload: bytes) -> int | None:
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    seq = body.get("seq") if isinstance(body, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 1 else None


class MqttLineAdapter:
    """``async with MqttLineAdapter(host, port, ["PK-01"]) as adapter:`` results arrive on ``adapter.queue``."""

    def __init__(self, host: str, port: int, lines: Sequence[str], *, prefix: str = DEFAULT_PREFIX,
                 client_id: str | None = None) -> None:  # fmt: skip
        self.host = host
        self.port = port
        self.lines = list(lines)
        self.prefix = prefix
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        # the session is the collector's: the same client id finds the messages queued while it was away
        self.client_id = (
            client_id or f"pharmatrace-line-{prefix.replace('/', '_')}-{'_'.join(self.lines)}"[:64]
        )
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False,
                                   manual_ack=True)  # fmt: skip
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed = threading.Event()
        self._connection = 0  # counts connections: an ack never crosses into a newer one
        self._job_acks: dict[str, asyncio.Future[JobAckMessage]] = {}
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not await asyncio.to_thread(self._subscribed.wait, CONNECT_TIMEOUT_S):
            await asyncio.to_thread(self._stop)
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

    async def send_job(self, job: PrintJob) -> int:
        """Publish the print data (QoS 1) and wait for the controller's ``job_ack``: the codes it accepted."""
        assert self._loop is not None
        waiting: asyncio.Future[JobAckMessage] = self._loop.create_future()
        self._job_acks[job.job_id] = waiting
        try:
            info = self._client.publish(topic(self.prefix, job.line, "job"), encode_job(job), qos=1)
            await asyncio.to_thread(info.wait_for_publish, JOB_ACK_TIMEOUT_S)
            ack = await asyncio.wait_for(waiting, JOB_ACK_TIMEOUT_S)
        finally:
            self._job_acks.pop(job.job_id, None)
        _job_refused(ack)
        return ack.accepted

    # --- paho's network thread -------------------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        self._connection += 1
        kinds = ("result", "job_ack")
        client.subscribe([(topic(self.prefix, line, kind), 1) for line in self.lines for kind in kinds])

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        assert self._loop is not None
        payload = bytes(message.payload)
        mid, qos, connection = message.mid, message.qos, self._connection
        if message.topic.endswith("/job_ack"):
            client.ack(mid, qos)
            try:
                ack = decode_job_ack(payload)
            except MessageRefused as error:
                log.warning("job_ack on %s refused: %s", message.topic, error)
                return
            self._loop.call_soon_threadsafe(self._job_acked, ack)
            return

        def acknowledge() -> None:
            if connection == self._connection:
                client.ack(mid, qos)

        try:
            delivery = Delivery(decode_result(payload), acknowledge, raw=payload)
        except MessageRefused as error:
            log.warning("MQTT message on %s refused: %s", message.topic, error)
            delivery = Delivery(None, acknowledge, error=f"{message.topic}: {error}", raw=payload)
        self._loop.call_soon_threadsafe(self.queue.put_nowait, delivery)

    def _job_acked(self, ack: JobAckMessage) -> None:
        waiting = self._job_acks.get(ack.job_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(ack)


class TcpLineAdapter:
    """``async with TcpLineAdapter(host, port, "PK-01") as adapter:`` a connection to the line controller."""

    def __init__(self, host: str, port: int, line: str) -> None:
        self.host = host
        self.port = port
        self.line = line
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._writer: asyncio.StreamWriter | None = None
        self._receiving: asyncio.Task[None] | None = None
        self._job_acks: dict[str, asyncio.Future[JobAckMessage]] = {}

    async def __aenter__(self) -> Self:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=MAX_LINE_BYTES), CONNECT_TIMEOUT_S
        )
        self._writer = writer
        self._send({"type": "hello", "v": 1, "line": self.line})
        self._receiving = asyncio.create_task(self._receive(reader, writer))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._receiving is not None:
            self._receiving.cancel()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _send(self, body: dict[str, Any]) -> None:
        if self._writer is None or self._writer.is_closing():
            return  # the controller re-sends what was not acknowledged on this connection
        self._writer.write(json.dumps(body, separators=(",", ":")).encode() + b"\n")

    async def send_job(self, job: PrintJob) -> int:
        """Send the print data and wait for the controller's ``job_ack``: the codes it accepted."""
        if self._writer is None:
            raise ConnectionError("not connected")
        waiting: asyncio.Future[JobAckMessage] = asyncio.get_running_loop().create_future()
        self._job_acks[job.job_id] = waiting
        try:
            self._writer.write(encode_job(job) + b"\n")
            await self._writer.drain()
            ack = await asyncio.wait_for(waiting, JOB_ACK_TIMEOUT_S)
        finally:
            self._job_acks.pop(job.job_id, None)
        _job_refused(ack)
        return ack.accepted

    async def _receive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while raw := await reader.readline():
            payload = raw.rstrip(b"\r\n")
            if not payload:
                continue
            if b'"job_ack"' in payload:
                try:
                    ack = decode_job_ack(payload)
                except MessageRefused as error:
                    log.warning("job_ack refused: %s", error)
                    continue
                waiting = self._job_acks.get(ack.job_id)
                if waiting is not None and not waiting.done():
                    waiting.set_result(ack)
                continue
            try:
                result = decode_result(payload)
            except MessageRefused as error:
                log.warning("line %s: message refused: %s", self.line, error)
                seq = _seq_of(payload)  # acknowledged when it names its sequence number: reported once
                acknowledge = self._acknowledger(writer, seq) if seq is not None else (lambda: None)
                self.queue.put_nowait(Delivery(None, acknowledge, error=str(error), raw=payload))
                continue
            self.queue.put_nowait(Delivery(result, self._acknowledger(writer, result.seq), raw=payload))
        log.warning("line %s: the controller closed the connection", self.line)

    def _acknowledger(self, writer: asyncio.StreamWriter, seq: int) -> Callable[[], None]:
        def acknowledge() -> None:
            if writer is self._writer:  # not across a reconnection: the controller re-sends instead
                self._send({"type": "ack", "v": 1, "line": self.line, "seq": seq})

        return acknowledge


def end_session(host: str, port: int, client_id: str) -> None:
    """Discard the broker's persistent session of ``client_id`` (a line taken out of service, a test's end)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(host, port, keepalive=10)
    client.loop_start()
    client.disconnect()
    client.loop_stop()
