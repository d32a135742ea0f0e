"""``pharmatrace clock``: check the server's clock against the NTP servers now, or show the status."""

from __future__ import annotations

from typing import Annotated

import typer

from pharmatrace.cli_support import database
from pharmatrace.kernel import clock
from pharmatrace.kernel import clock_monitor as monitor
from pharmatrace.kernel.clock_models import ClockCheck

clock_app = typer.Typer(help="Clock management: NTP offset checks and alarms", no_args_is_help=True)


def _line(check: ClockCheck) -> str:
    offset = f"{check.offset_ms:+.3f} ms" if check.offset_ms is not None else "-"
    delay = f"{check.delay_ms:.3f} ms" if check.delay_ms is not None else "-"
    stratum = str(check.stratum) if check.stratum is not None else "-"
    text = (
        f"{clock.format_beijing(check.checked_at)}  {check.server:<28} offset {offset:>14}  "
        f"delay {delay:>11}  stratum {stratum:>2}  {check.status.upper()}"
    )
    return f"{text}  {check.error}" if check.error else text


@clock_app.command("check")
def clock_check(
    timeout: Annotated[float, typer.Option(help="seconds to wait for each time server")] = (
        monitor.DEFAULT_TIMEOUT_S
    ),
) -> None:
    """Check the clock against every configured NTP server now; exit code 1 on any alarm."""
    checks = monitor.check_clock(database(), timeout=timeout)
    for check in checks:
        typer.echo(_line(check))
    if any(check.status != "ok" for check in checks):
        raise typer.Exit(code=1)


@clock_app.command("status")
def clock_status() -> None:
    """Show the server time, the time settings and the latest check of each NTP server."""
    with database().sessions() as session:
        status = monitor.clock_status(session)
    settings = status.settings
    typer.echo(f"server time      {clock.format_beijing(status.now)} Beijing time (UTC+8)")
    typer.echo(f"                 {status.now.strftime('%Y-%m-%d %H:%M:%S')} UTC")
    typer.echo(f"time servers     {', '.join(settings.servers)}")
    typer.echo(f"alarm threshold  {settings.alarm_threshold_ms} ms")
    typer.echo(f"check interval   {settings.check_interval_seconds} s")
    state = "ALARM" if status.alarm else "ok"
    if status.stale:
        state += " (no recent check)"
    typer.echo(f"status           {state}")
    for check in status.latest:
        typer.echo(_line(check))
    for server in status.unchecked:
        typer.echo(f"{'':19} {server:<28} not checked yet")
