"""``pharmatrace trace``: traceability codes and the genealogy from the command line (issue 10)."""

from __future__ import annotations

import typer

trace_app = typer.Typer(help="Serialization and traceability: code pools, trace forward and backward",
                        no_args_is_help=True)  # fmt: skip
