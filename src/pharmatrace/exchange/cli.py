"""``pharmatrace datasets`` — the Appendix B data sets: list them, export one (TJ-B.1.3, TJ-B.1.5).

``export`` acts as a user (``--as LOGIN``, password typed or ``--password-stdin``) with the same permission
checks and the same audit event (``dataset.export``) as ``GET /api/v1/exchange/datasets/{clause}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pharmatrace.bootstrap import open_database, prepare
from pharmatrace.exchange import export
from pharmatrace.kernel.errors import PharmaTraceError
from pharmatrace.kernel.identity.cli_login import log_in, read_password

datasets_app = typer.Typer(help="Appendix B data sets (Tianjin guide): list and export", no_args_is_help=True)


@datasets_app.command("list")
def datasets_list() -> None:
    """Every data set: clause, title, short names, and whether it is exported here."""
    for info in export.catalogue():
        where = "" if info.exportable else "  (exported with the audit trail: pharmatrace audit export)"
        typer.echo(f"{info.clause:<12} {info.title}  {' '.join(info.short_names)}{where}")


@datasets_app.command("export")
def datasets_export(
    clause: Annotated[str, typer.Argument(help="the data set's clause, e.g. TJ-B.2.2.1")],
    as_login: Annotated[str, typer.Option("--as", help="log-in ID of the user exporting (audited)")],
    format: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    out: Annotated[
        Path | None, typer.Option("--out", help="file to write (default: standard output)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
    ] = False,
) -> None:
    """Export one data set's records under the guide's short names; the export is an audit event."""
    db = open_database()
    prepare(db)
    try:
        principal = log_in(db, as_login, read_password(password_stdin, as_login))
        result = export.export(db, principal, clause, format)
    except PharmaTraceError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    if out is None:
        typer.echo(result.content.decode("utf-8-sig"), nl=False)
    else:
        out.write_bytes(result.content)
        typer.echo(f"{result.records} records of {clause.strip().upper()} written to {out}", err=True)
