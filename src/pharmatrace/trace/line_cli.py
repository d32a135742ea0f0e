"""``pharmatrace trace line``: the packaging-line interface and its simulator (SH-6.2.5, TJ-9.1; issue 10 item 2).

* ``simulate`` runs a simulated line controller (printer and camera) until interrupted: an MQTT client of the
  broker, or with ``--tcp-port`` a TCP server on loopback. It prints every job it is given at ``--rate`` units/min.
* ``collect`` connects to the line (through the broker, or to the controller with ``--tcp``), hands over the
  print data of ``--batch`` if given, and stores the read results in audited batches until the job is done,
  ``--count`` results were stored, or it is interrupted. The message format: ``docs/trace-line-protocol.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from typing import Annotated

import typer

from pharmatrace.cli_support import database, fail
from pharmatrace.kernel.errors import PharmaTraceError
from pharmatrace.trace.line import LineCollector, LineReport, print_job
from pharmatrace.trace.line_adapters import DEFAULT_PREFIX, MqttLineAdapter, TcpLineAdapter
from pharmatrace.trace.line_simulator import LinePrinter, MqttLineController, TcpLineController

line_app = typer.Typer(help="Packaging-line interface: the line controller simulator and the collector",
                       no_args_is_help=True)  # fmt: skip

Line = Annotated[str, typer.Option(help="the packaging line, e.g. PK-01")]
Broker = Annotated[str, typer.Option(help="the MQTT broker, host:port")]
Prefix = Annotated[str, typer.Option(help="the MQTT topic prefix")]


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    return host or "127.0.0.1", int(port or default_port)


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal_number, stop.set)
    await stop.wait()


async def _first_of(*awaitables: asyncio.Future[object] | asyncio.Task[object]) -> None:
    done, pending = await asyncio.wait(awaitables, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for task in done:
        task.result()  # its error, if any


@line_app.command("simulate")
def simulate(
    line: Line = "PK-01",
    broker: Broker = "127.0.0.1:1883",
    prefix: Prefix = DEFAULT_PREFIX,
    tcp_port: Annotated[
        int | None, typer.Option(help="serve TCP on this loopback port instead of MQTT")
    ] = None,
    rate: Annotated[float, typer.Option(min=1.0, help="units per minute")] = 400.0,
    reject_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of camera rejects")] = 0.02,
    seed: Annotated[int | None, typer.Option(help="seed of the simulated camera")] = None,
) -> None:
    """Run a simulated line controller (printer and camera) until interrupted (Ctrl-C)."""

    async def run() -> LinePrinter:
        controller: MqttLineController | TcpLineController
        if tcp_port is not None:
            controller = TcpLineController(line, port=tcp_port, rate_per_min=rate, reject_rate=reject_rate,
                                           seed=seed)  # fmt: skip
        else:
            host, port = _host_port(broker, 1883)
            controller = MqttLineController(host, port, line, prefix=prefix, rate_per_min=rate,
                                            reject_rate=reject_rate, seed=seed)  # fmt: skip
        async with controller:
            where = (
                f"tcp://127.0.0.1:{controller.port}"
                if tcp_port is not None
                else f"{prefix}/{line} on {broker}"
            )
            typer.echo(f"line {line} waiting for print jobs at {where} ({rate:g} units/min)")
            await _until_stopped()
        return controller

    try:
        controller = asyncio.run(run())
    except (OSError, TimeoutError) as error:
        fail(error)
    rejected = sum(1 for r in controller.sent if r.status == "rejected")
    typer.echo(f"line {line} stopped: {len(controller.jobs)} jobs, {len(controller.sent)} results sent, "
               f"{rejected} camera rejects")  # fmt: skip


def _print_report(report: LineReport) -> None:
    typer.echo(report.summary())
    for refusal in [*report.refused, *report.duplicates]:
        typer.echo(f"  seq {refusal.seq} {refusal.code}: {refusal.kind} {refusal.detail}".rstrip())
    for message in report.malformed:
        typer.echo(f"  malformed: {message}")
    for line in report.seqs:
        if gaps := report.gaps(line):
            typer.echo(f"  line {line}: sequence numbers not received: {gaps[:20]}")


@line_app.command("collect")
def collect(
    line: Line = "PK-01",
    broker: Broker = "127.0.0.1:1883",
    prefix: Prefix = DEFAULT_PREFIX,
    tcp: Annotated[
        str | None, typer.Option(help="the line controller's TCP endpoint host:port, not MQTT")
    ] = None,
    batch: Annotated[
        str | None, typer.Option(help="hand over the print data of this batch number first")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="stop after this many codes were stored")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="results per audited batch at most")] = 200,
) -> None:
    """Store the line's read results as commissioning and camera-reject events, in audited batches."""
    db = database()
    collector = LineCollector(db, batch_size=batch_size)

    async def run() -> None:
        adapter: MqttLineAdapter | TcpLineAdapter
        if tcp is not None:
            adapter = TcpLineAdapter(*_host_port(tcp, 7100), line)
        else:
            adapter = MqttLineAdapter(*_host_port(broker, 1883), [line], prefix=prefix)
        async with adapter:
            target = count
            if batch is not None:
                job = await asyncio.to_thread(print_job, db, batch, line, f"{line}-{uuid.uuid4().hex[:12]}")
                accepted = await adapter.send_job(job)
                typer.echo(f"job {job.job_id}: {accepted} codes of batch {batch} handed to line {line}")
                target = target or accepted

            def done(report: LineReport) -> bool:
                return target is not None and report.commissioned + report.rejected >= target

            collecting = asyncio.create_task(collector.run(adapter.queue, until=done))
            await _first_of(collecting, asyncio.create_task(_until_stopped()))

    try:
        asyncio.run(run())
    except (PharmaTraceError, OSError, TimeoutError) as error:
        _print_report(collector.report)
        fail(error)
    _print_report(collector.report)
