"""``pharmatrace scale``: read a balance over MT-SICS, or run the simulated balance (TJ-6.3.2.2.a)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from pharmatrace.adapters import scale as mtsics
from pharmatrace.adapters.simulators.mtsics import MtSicsSimulator, SimulatedScale
from pharmatrace.cli_support import fail
from pharmatrace.kernel import clock

scale_app = typer.Typer(
    help="Scales and balances over MT-SICS: read one, run the simulator", no_args_is_help=True
)


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise typer.BadParameter(f"not a number: {text!r}")
    return value


@scale_app.command("read")
def scale_read(
    host: Annotated[str, typer.Option(help="the balance's address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the balance's MT-SICS port")] = mtsics.DEFAULT_PORT,
    command: Annotated[
        str, typer.Option("--command", help="S: the stable weight; SI: the weight now, stable or not")
    ] = "S",
    timeout: Annotated[
        float, typer.Option(help="seconds to wait for a stable weight (S)")
    ] = mtsics.STABLE_TIMEOUT_S,
    reply_timeout: Annotated[
        float, typer.Option(help="seconds to wait for any reply")
    ] = mtsics.REPLY_TIMEOUT_S,
    as_json: Annotated[bool, typer.Option("--json", help="the reading as JSON")] = False,
) -> None:
    """Read one weight from a balance; exit status 2 with the reason when it cannot give one."""
    if command not in mtsics.READ_COMMANDS:
        raise typer.BadParameter("S or SI", param_hint="--command")
    if timeout <= 0 or reply_timeout <= 0:
        raise typer.BadParameter("time-outs are positive seconds")
    try:
        weight = mtsics.read_scale(
            host,
            port,
            "S" if command == "S" else "SI",
            stable_timeout=timeout,
            reply_timeout=reply_timeout,
            connect_timeout=reply_timeout,
        )
    except mtsics.ScaleError as error:
        fail(error)
    read_at = clock.now()
    if as_json:
        record = {
            "host": host,
            "port": port,
            "command": command,
            "value": format(weight.value, "f"),
            "unit": weight.unit,
            "stable": weight.stable,
            "read_at": read_at.isoformat(),
        }
        typer.echo(json.dumps(record, ensure_ascii=False, indent=1))
    else:
        state = "stable" if weight.stable else "dynamic"
        typer.echo(f"{weight.value} {weight.unit}  ({state}, {clock.format_beijing(read_at)} Beijing time)")


@scale_app.command("simulate")
def scale_simulate(
    host: Annotated[str, typer.Option(help="address to listen on (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = mtsics.DEFAULT_PORT,
    capacity: Annotated[str, typer.Option(help="maximum capacity, in the unit")] = "6200",
    readability: Annotated[str, typer.Option(help="readability d, in the unit")] = "0.01",
    unit: Annotated[str, typer.Option(help="weight unit")] = "g",
    serial_number: Annotated[
        str, typer.Option("--serial-number", help="answered to I4 and @")
    ] = "B123456789",
    settle_time: Annotated[float, typer.Option(help="seconds the weight is dynamic after a change")] = 1.0,
    load: Annotated[str, typer.Option(help="the gross load on the pan at start")] = "0",
) -> None:
    """Run a simulated MT-SICS balance until interrupted (Ctrl-C). Change its load with the
    simulator-only command ``XLOAD <value>`` (e.g. ``printf 'XLOAD 125.5\\r\\n' | nc 127.0.0.1 4305``)."""
    try:
        spec = SimulatedScale(
            capacity=_decimal(capacity),
            readability=_decimal(readability),
            unit=unit,
            serial_number=serial_number,
            settle_time=settle_time,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    simulator = MtSicsSimulator(spec, host=host, port=port)
    simulator.set_load(_decimal(load))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):  # a service manager stops it cleanly too
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal_number, stop.set)
        await simulator.start()
        typer.echo(
            f"simulated balance {spec.serial_number}: capacity {spec.capacity} {spec.unit}, d = "
            f"{spec.readability} {spec.unit}, MT-SICS on {host}:{simulator.port} (Ctrl-C stops it)"
        )
        try:
            await stop.wait()
        finally:
            await simulator.stop()
        typer.echo("simulator stopped")

    try:
        asyncio.run(run())
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error}")
    except KeyboardInterrupt:
        typer.echo("simulator stopped")  # where no signal handler could be installed
