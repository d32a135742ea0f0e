"""``pharmatrace monitoring``: run the demo plant's simulated peers, collect a configured source into the
historian through its local journal (SH-8.4.3, store-and-forward: ADR 0025), show what that journal still holds,
prepare the historian's monthly partitions on PostgreSQL (ADR 0028), take and check a month's archive copy, or
execute an approved destruction of raw values past their retention (ADR 0029).
To be registered in ``pharmatrace/cli.py``: ``app.add_typer(monitoring_app, name="monitoring")``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from pharmatrace.cli_support import database, fail
from pharmatrace.config import get_settings
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import PharmaTraceError
from pharmatrace.monitoring import buffer
from pharmatrace.monitoring.collector import Batching, Collector, collect
from pharmatrace.monitoring.simulation import DemoPeers, run_demo_peers

monitoring_app = typer.Typer(
    help="Integrated monitoring: simulated peers, the collector", no_args_is_help=True
)


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal_number, stop.set)
    await stop.wait()


@monitoring_app.command("simulate")
def simulate(
    opcua_port: Annotated[int, typer.Option(help="the freeze-dryer's OPC UA port")] = 4840,
    modbus_port: Annotated[int, typer.Option(help="the water point's Modbus TCP port")] = 5020,
    broker: Annotated[str, typer.Option(help="the MQTT broker, host:port")] = "127.0.0.1:1883",
    every: Annotated[float, typer.Option(help="seconds between clean-room messages")] = 10.0,
) -> None:
    """Run the demo's freeze-dryer (OPC UA), water point (Modbus TCP) and clean-room sensors (MQTT) until
    interrupted (Ctrl-C); the demo's sources point at them. A port already taken is left alone (with a warning)."""
    peers = DemoPeers(opcua_port=opcua_port, modbus_port=modbus_port, broker=broker, every=every)

    async def run() -> None:
        stop = asyncio.Event()
        stopping = asyncio.create_task(_until_stopped())
        stopping.add_done_callback(lambda _: stop.set())

        def started(lines: list[str]) -> None:
            typer.echo("; ".join(lines) if lines else "no simulator could start")

        try:
            await run_demo_peers(peers, stop, started)
        finally:
            stopping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopping

    asyncio.run(run())
    typer.echo("simulators stopped")


@monitoring_app.command("collect")
def collect_source(
    source: Annotated[str, typer.Argument(help="the data source's code, e.g. CLEANROOM-MQTT")],
    count: Annotated[
        int | None, typer.Option(help="stop after this many values (default: until Ctrl-C)")
    ] = None,
) -> None:
    """Connect to a configured data source and store its values in the historian, in audited batches, through
    the source's local journal: while the database is away values are kept on disk and back-filled in order."""
    db = database()

    collector = Collector.batched(db, source.upper(), Batching.of_settings())  # as the collector service does
    typer.echo(f"{source.upper()}: {collector.batching.summary()}")

    async def run() -> None:
        collecting = asyncio.create_task(collect(db, source, limit=count, collector=collector))
        stopping = asyncio.create_task(_until_stopped())
        done, _ = await asyncio.wait({collecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (collecting, stopping):
            if task not in done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if collecting in done:
            collecting.result()  # its error, if any

    try:
        asyncio.run(run())
    except (PharmaTraceError, OSError, TimeoutError) as error:
        fail(error)
    finally:
        typer.echo(f"{source.upper()}: {collector.counts().summary()}")
    typer.echo(f"{len(collector.results)} audited batches")


@monitoring_app.command("buffer")
def buffer_status(
    source: Annotated[str, typer.Argument(help="the data source's code, e.g. CLEANROOM-MQTT")],
) -> None:
    """What the collector's local journal of a source still holds for the database (read while it runs, too)."""
    try:
        found = buffer.status(get_settings().var_dir, source)
    except PharmaTraceError as error:
        fail(error)
    typer.echo(f"{found.source_code}: {found.pending_readings} values in {found.pending_batches} batches pending "
               f"({found.size_bytes} bytes, {found.path})")  # fmt: skip
    if found.oldest_journaled_at is not None and found.newest_journaled_at is not None:
        typer.echo(f"journaled {clock.format_beijing(found.oldest_journaled_at)} → "
                   f"{clock.format_beijing(found.newest_journaled_at)}")  # fmt: skip
    if found.torn_bytes:
        typer.echo(f"an incomplete last record of {found.torn_bytes} bytes (a write in progress or interrupted): "
                   "the collector drops it when it starts")  # fmt: skip


@monitoring_app.command("partitions")
def partitions_command(
    ahead: Annotated[int, typer.Option(min=0, max=120, help="months after the current one to prepare")] = 3,
) -> None:
    """PostgreSQL: give the historian's raw values a partition for this month and the next ones (the table
    owner's job; the web process also does it daily). Lists the partitions; exit 1 if a month could not be made."""
    from pharmatrace.monitoring import partitions

    db = database()
    report = partitions.ensure(db, ahead=ahead)
    if db.engine.dialect.name != "postgresql":
        typer.echo("SQLite: the raw values are one table (no partitions)")
        return
    with db.engine.connect() as connection:
        present = partitions.partitions(connection)
    for name in report.created:
        typer.echo(f"created {name}")
    for name, count in report.blocked.items():
        typer.echo(f"not created {name}: {count} values of its month are in {partitions.DEFAULT}")
    if report.refused:
        typer.echo(f"refused: {report.refused} (run as the tables' owner)")
    typer.echo(f"{len(present)} partitions: {', '.join(present)}")
    if report.refused or report.blocked:
        raise typer.Exit(1)


@monitoring_app.command("archive")
def archive_month(
    month: Annotated[str, typer.Argument(help="the month, YYYY-MM (UTC), e.g. 2026-10")],
    out: Annotated[Path, typer.Option(help="the directory for the data file and its signed manifest")],
) -> None:
    """Write an archive copy of a month's raw values with a signed manifest (TJ-10.1.6.2); nothing is removed.
    The copy is an audit event; check it anywhere with ``check-archive``."""
    import getpass

    from pharmatrace.kernel.context import Actor
    from pharmatrace.monitoring import archive

    try:
        done = archive.export_month(
            database(), archive.parse_month(month), out, Actor.system(f"cli:{getpass.getuser()}")
        )
    except PharmaTraceError as error:
        fail(error)
    typer.echo(
        f"{done.values} values of {done.ingests} ingests → {done.data} (SM3 {done.data_sm3}); manifest {done.manifest}"
    )


@monitoring_app.command("check-archive")
def check_archive(
    manifest: Annotated[Path, typer.Argument(help="the archive copy's manifest (…manifest.json)")],
) -> None:
    """Verify an archive copy offline, without the database: the file, every ingest's SM3, the signature.
    Exit 0 when intact; otherwise 1, naming each problem."""
    from pharmatrace.monitoring import archive

    problems = archive.check(manifest)
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo("intact")


@monitoring_app.command("destroy")
def destroy(
    number: Annotated[str, typer.Argument(help="the approved destruction, e.g. DS-2026-0001")],
    manifest: Annotated[Path, typer.Option(help="the manifest of a verified archive copy of the month")],
) -> None:
    """Execute an approved destruction of raw values past their retention (TJ-10.1.6.3), run by IT on the server:
    refused, with nothing changed, unless the archive copy passes its check, is this site's and holds exactly the
    month's values still in the database. On PostgreSQL run it with the tables' owner's connection."""
    import getpass

    from pharmatrace.kernel.context import Actor
    from pharmatrace.monitoring import destruction

    try:
        done = destruction.execute(database(), number, manifest, Actor.system(f"cli:{getpass.getuser()}"))
    except PharmaTraceError as error:
        fail(error)
    typer.echo(f"{done.number}: {done.values_destroyed} raw values of {done.month} ({done.retention_class}) "
               f"destroyed from {done.ingests_affected} ingests by {done.method}; {done.values_kept} kept (they raised "
               f"an alarm); archive manifest SM3 {done.manifest_sm3}")  # fmt: skip


if __name__ == "__main__":  # `python -m pharmatrace.monitoring.cli collect SOURCE`: the collector alone
    monitoring_app()
