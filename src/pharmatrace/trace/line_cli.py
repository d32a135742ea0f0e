"""``pharmatrace trace line``: the packaging-line interface and its simulator (skeleton; issue 10 item 2)."""

from __future__ import annotations

import typer

line_app = typer.Typer(help="Packaging-line interface: the line controller simulator and the collector",
                       no_args_is_help=True)  # fmt: skip
