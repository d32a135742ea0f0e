"""``pharmatrace audit`` — the list of audited functions, and exports of the trail (SH-7.1.3.a/e)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pharmatrace.cli_support import database, fail
from pharmatrace.kernel.audit_trail import export, service
from pharmatrace.kernel.audit_trail.service import TrailFilter
from pharmatrace.kernel.errors import PharmaTraceError

audit_app = typer.Typer(help="Audit trail: audited functions and exports", no_args_is_help=True)


@audit_app.command("functions")
def functions() -> None:
    """List the audited functions: record types with the operations captured, and other events."""
    from pharmatrace.web import i18n

    typer.echo("records (object type, table, operations captured, parts, description):")
    for record in service.audited_records():
        typer.echo(
            f"  {record.object_type:<16} {record.table:<18} {','.join(record.operations):<24} "
            f"{','.join(record.parts) or '-':<16} {i18n.gettext(record.label)}"
        )
    typer.echo("events:")
    for event in service.audited_events():
        typer.echo(f"  {event.event:<16} {i18n.gettext(event.label)}")


@audit_app.command("export")
def export_command(
    format: Annotated[str, typer.Option("--format", help="csv, pdf or json (the TJ-B.2.5 data set)")] = "csv",
    object: Annotated[
        str | None, typer.Option("--object", help="TYPE:ID — one record's trail, with its parts")
    ] = None,
    since: Annotated[str, typer.Option("--since", help="from, Beijing time: YYYY-MM-DD[ HH:MM]")] = "",
    until: Annotated[str, typer.Option("--until", help="until, Beijing time; a date includes the day")] = "",
    event: Annotated[
        str, typer.Option("--event", help="operation or event, e.g. update, login.failure")
    ] = "",
    actor: Annotated[str, typer.Option("--actor", help="operator's log-in ID or full name")] = "",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write; default stdout")
    ] = None,
) -> None:
    """Export the trail as CSV (TJ-B.2.5 fields) or a printable PDF. The export itself is audited."""
    from pharmatrace import cli
    from pharmatrace.web import i18n

    if format not in export.FORMATS:
        typer.echo("error: --format must be csv, pdf or json", err=True)
        raise typer.Exit(code=2)
    if format == "pdf" and output is None and sys.stdout.isatty():
        typer.echo("error: a PDF is binary: give --output FILE or redirect stdout", err=True)
        raise typer.Exit(code=2)
    object_type, object_id = "", ""
    if object:
        object_type, sep, object_id = object.partition(":")
        if not sep or not object_type or not object_id:
            typer.echo("error: --object must be TYPE:ID, e.g. material:3", err=True)
            raise typer.Exit(code=2)
    try:
        f = TrailFilter(
            since=since,
            until=until,
            object_type=object_type,
            object_id=object_id,
            parts=bool(object_id),
            event=event,
            actor=actor,
        )
        result = export.export_trail(database(), cli._cli_actor(), f, format, translate=i18n.gettext)
    except PharmaTraceError as error:
        fail(error)
        return
    if output is None:
        sys.stdout.buffer.write(result.content)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(result.content)
        typer.echo(f"exported {result.entries} entries to {output}", err=True)
