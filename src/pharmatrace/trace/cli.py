"""``pharmatrace trace``: traceability codes and the genealogy from the command line (issue 10)."""

from __future__ import annotations

import typer

trace_app = typer.Typer(help="Serialization and traceability: code pools, trace forward and backward",
                        no_args_is_help=True)  # fmt: skip


def _register_subcommands() -> None:
    from pharmatrace.trace.line_cli import line_app

    trace_app.add_typer(line_app, name="line")


_register_subcommands()
