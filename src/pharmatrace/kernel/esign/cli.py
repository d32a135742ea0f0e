"""``pharmatrace esign functions`` — the signable functions and what each needs (SH-7.1.4.c)."""

from __future__ import annotations

import typer

from pharmatrace.kernel.esign.policy import ACTIONS

esign_app = typer.Typer(help="Electronic signatures", no_args_is_help=True)


@esign_app.command("functions")
def functions() -> None:
    """List every signable action: record type, one or two people, meaning and permission per step."""
    for action in ACTIONS:
        who = "two people" if action.dual else "one signature"
        steps = "; ".join(f"{i}. {s.meaning} by {s.permission}" for i, s in enumerate(action.steps, start=1))
        if action.with_event:
            steps += "  (signed with its event)"
        typer.echo(f"{action.code:<18} {action.object_type:<10} {who:<14} {steps}")
