"""A simulated packaging-line controller (printer + camera), a real protocol peer on loopback, for the tests and
the demo (SH-6.2.5, SH-8.4.1; issue 10 item 2).

The controller takes a print job, "prints" its codes in order at the line's speed (400 units/min by default) and
reads each one back: good with an ISO/IEC 15415 grade A–C, or — at ``reject_rate`` (about 2 %) — rejected by the
camera with grade D or F. Every result carries the line's next sequence number. ``sent`` records every result
message as it went on the wire, so a test compares the ledger with the wire exactly.

* :class:`MqttLineController` — a real MQTT client of the broker: subscribes to ``<prefix>/<line>/job``, answers
  ``job_ack`` and publishes each result at QoS 1 on ``<prefix>/<line>/result``, whether a collector listens or not.
* :class:`TcpLineController` — a real TCP server: a host connects and says ``hello``; the controller keeps every
  result until the host acknowledges its sequence number and re-sends the unacknowledged ones, in order, to the
  next host that connects.

``resend`` puts results on the wire again (a controller that lost the acknowledgement), ``publish_raw`` sends any
bytes (a broken controller): the collector must not commit twice and must report what it refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from pharmatrace.trace.line import (
    MessageRefused,
    PrintJob,
    ReadResult,
    decode_job,
    encode_job_ack,
    encode_result,
)
from pharmatrace.trace.line_adapters import DEFAULT_PREFIX, MAX_LINE_BYTES, topic

PUBLISH_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 5.0
GOOD_GRADES = ("A", "A", "A", "B", "B", "C")
REJECT_GRADES = ("D", "F")


class LinePrinter:
    """What both controllers share: the line's sequence counter, the camera's verdicts and the line's pace."""

    def __init__(self, line: str, *, rate_per_min: float = 400.0, reject_rate: float = 0.02,
                 seed: int | None = None) -> None:  # fmt: skip
        self.line = line
        self.interval = 60.0 / rate_per_min
        self.reject_rate = reject_rate
        self.rng = random.Random(seed)  # noqa: S311 - a simulated camera, not a secret
        self.seq = 0
        self.jobs: list[PrintJob] = []
        self.sent: list[ReadResult] = []  # every result put on the wire, re-sends included
        self._running: list[asyncio.Task[None]] = []

    def refusal(self, job: PrintJob) -> str:
        return "" if job.line == self.line else f"this controller runs line {self.line}, not {job.line}"

    def read(self, job: PrintJob, code: str) -> ReadResult:
        self.seq += 1
        rejected = self.rng.random() < self.reject_rate
        grade = self.rng.choice(REJECT_GRADES if rejected else GOOD_GRADES)
        return ReadResult(self.line, job.job_id, job.batch_no, self.seq, code,
                          "rejected" if rejected else "good", grade, datetime.now(UTC))  # fmt: skip

    def start(self, job: PrintJob, emit: Callable[[ReadResult], Awaitable[None]]) -> None:
        if any(known.job_id == job.job_id for known in self.jobs):
            return  # a job sent again (its job_ack was lost) is the same job: printed once
        self.jobs.append(job)
        self._running.append(asyncio.ensure_future(self._print(job, emit)))

    async def _print(self, job: PrintJob, emit: Callable[[ReadResult], Awaitable[None]]) -> None:
        began = time.monotonic()
        for index, code in enumerate(job.codes):
            await asyncio.sleep(max(0.0, began + index * self.interval - time.monotonic()))
            await emit(self.read(job, code))

    async def finished(self, timeout: float = 60.0) -> None:
        """Wait until every job taken so far is printed and read."""
        for task in list(self._running):
            await asyncio.wait_for(task, timeout)

    def _cancel(self) -> None:
        for task in self._running:
            task.cancel()


class MqttLineController(LinePrinter):
    """``async with MqttLineController(host, port, "PK-01") as line:`` takes jobs and publishes results."""

    def __init__(self, host: str, port: int, line: str, *, prefix: str = DEFAULT_PREFIX, **pace: Any) -> None:
        super().__init__(line, **pace)
        self.host = host
        self.port = port
        self.prefix = prefix
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-line-{uuid.uuid4().hex[:12]}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not await asyncio.to_thread(self._subscribed.wait, CONNECT_TIMEOUT_S):
            await asyncio.to_thread(self._client.loop_stop)
            raise TimeoutError(f"MQTT broker {self.host}:{self.port} did not confirm the subscription")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._cancel()
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not reason.is_failure:
            client.subscribe(topic(self.prefix, self.line, "job"), qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._job, bytes(message.payload))

    def _job(self, payload: bytes) -> None:
        try:
            job = decode_job(payload)
        except MessageRefused:
            return  # a job the controller cannot read is not acknowledged: the host times out and says so
        error = self.refusal(job)
        ack = encode_job_ack(job.job_id, job.line, 0 if error else len(job.codes), error)
        self._client.publish(topic(self.prefix, self.line, "job_ack"), ack, qos=1)
        if not error:
            self.start(job, self.publish)

    async def publish_raw(self, payload: bytes) -> None:
        info = self._client.publish(topic(self.prefix, self.line, "result"), payload, qos=1)
        await asyncio.to_thread(info.wait_for_publish, PUBLISH_TIMEOUT_S)
        if not info.is_published():
            raise TimeoutError("MQTT publish not acknowledged by the broker")

    async def publish(self, result: ReadResult) -> None:
        await self.publish_raw(encode_result(result))
        self.sent.append(result)

    async def resend(self, results: Iterable[ReadResult]) -> None:
        for result in results:
            await self.publish(result)


class TcpLineController(LinePrinter):
    """``async with TcpLineController("PK-01") as line:`` a line controller listening on ``127.0.0.1:line.port``."""

    def __init__(self, line: str, *, port: int = 0, **pace: Any) -> None:
        super().__init__(line, **pace)
        self.port = port
        self.unacked: dict[int, bytes] = {}  # seq -> message, until the host acknowledges it
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, limit=MAX_LINE_BYTES)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._cancel()
        if self._writer is not None:
            self._writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while raw := await reader.readline():
                try:
                    body = json.loads(raw)
                except ValueError:
                    continue
                kind = body.get("type") if isinstance(body, dict) else None
                if kind == "hello":
                    self.connections += 1
                    for seq in sorted(self.unacked):  # the backlog first, in order, then the new reads
                        writer.write(self.unacked[seq] + b"\n")
                    self._writer = writer
                elif kind == "ack":
                    self.unacked.pop(int(body.get("seq", 0)), None)
                elif kind == "job":
                    self._job(raw, writer)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()

    def _job(self, raw: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            job = decode_job(raw)
        except MessageRefused as refused:
            writer.write(encode_job_ack("?", self.line, 0, str(refused)) + b"\n")
            return
        error = self.refusal(job)
        writer.write(encode_job_ack(job.job_id, job.line, 0 if error else len(job.codes), error) + b"\n")
        if not error:
            self.start(job, self.publish)

    async def publish_raw(self, payload: bytes, seq: int | None = None) -> None:
        if seq is not None:
            self.unacked[seq] = payload
        writer = self._writer
        if writer is None:
            return  # no host connected: it gets the backlog when it says hello
        writer.write(payload + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def publish(self, result: ReadResult) -> None:
        self.sent.append(result)
        await self.publish_raw(encode_result(result), result.seq)

    async def resend(self, results: Iterable[ReadResult]) -> None:
        for result in results:
            await self.publish(result)
