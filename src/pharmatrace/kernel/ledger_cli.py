"""``pharmatrace ledger verify | checkpoint | prove | check-proof | prove-consistency | check-consistency`` (SH-8.4.5)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from pharmatrace.kernel import ledger

ledger_app = typer.Typer(help="The SM3 Merkle ledger over the audit trail", no_args_is_help=True)


def _checked(path: Path, check: Callable[..., list[str]], key: str | None) -> Any:
    """Read a proof file (``-``: standard input), check it offline; exit 1 naming each failure."""
    data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    failures = check(data, trusted_key=key)
    if failures:
        for failure in failures:
            typer.echo(f"INVALID: {failure}")
        raise typer.Exit(code=1)
    return json.loads(data)


def _print_proof(make: Callable[[Session], dict[str, Any]]) -> None:
    """Checkpoint what is recorded so far, then print the proof ``make`` builds (exit 2 if it cannot)."""
    from pharmatrace.cli_support import database
    from pharmatrace.kernel.ledger_jobs import checkpoint

    db = database()
    checkpoint(db)
    try:
        with db.sessions() as session:
            document = make(session)
    except LookupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps(document, ensure_ascii=False, indent=1))


@ledger_app.command("verify")
def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable report")] = False,
) -> None:
    """Re-hash the ledger, its checkpoints and witness, every current GMP row and the rows audited records vouch
    for (code event items, historian values). Exit 1 on any mismatch."""
    from pharmatrace.cli_support import database

    report = ledger.verify(database())  # with the vouched checks the areas registered (pharmatrace.cli)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "intact": report.intact,
                    "size": report.size,
                    "checkpoints": report.checkpoints,
                    "witnessed": report.witnessed,
                    "rows_checked": report.rows_checked,
                    "vouched_rows_checked": report.vouched_rows_checked,
                    "vouched_checks": report.vouched_checks,
                    "problems": [p.__dict__ for p in report.problems],
                    "warnings": [p.__dict__ for p in report.warnings],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        typer.echo(
            f"ledger: {report.size} entries, {report.checkpoints} signed checkpoints, "
            f"{report.witnessed} witnessed, {report.rows_checked} GMP rows checked, "
            f"{report.vouched_rows_checked} vouched rows checked ({', '.join(report.vouched_checks) or 'none'})"
        )
        for problem in report.problems:
            typer.echo(f"  MISMATCH {problem}")
        for warning in report.warnings:
            typer.echo(f"  WARNING {warning}")
        typer.echo("intact" if report.intact else f"NOT INTACT: {len(report.problems)} problem(s)")
    raise typer.Exit(code=0 if report.intact else 1)


@ledger_app.command("checkpoint")
def checkpoint_command() -> None:
    """Sign a checkpoint at the current tree size now and append it to the witness."""
    from pharmatrace.cli_support import database
    from pharmatrace.kernel.ledger_jobs import checkpoint

    db = database()
    made = checkpoint(db)
    typer.echo(f"checkpoint at size {made['tree_size']}: {made['root']}" if made else "already checkpointed")
    pending = ledger.witness_of(db).pending()
    if pending:
        typer.echo(
            f"WARNING: {len(pending)} checkpoint(s) not yet received by the witness "
            f"{ledger.witness_of(db).location}; kept pending, sent again with the next checkpoint"
        )


@ledger_app.command("witness-resend")
def witness_resend_command() -> None:
    """Send the checkpoints a remote witness refused again (after fixing the cause, e.g. its trusted key)."""
    from pharmatrace.cli_support import database

    witness = ledger.witness_of(database())
    if not isinstance(witness, ledger.RemoteWitness):
        typer.echo(f"the witness {witness.location} never refuses checkpoints: nothing to resend")
        return
    delivered, still = witness.resend_refused()
    typer.echo(f"{delivered} checkpoint(s) taken by {witness.location}; {still} refused again")
    raise typer.Exit(code=1 if still else 0)


@ledger_app.command("prove")
def prove_command(
    target: Annotated[str, typer.Argument(help="TYPE:ID, e.g. material:3")],
) -> None:
    """Print one record's history with inclusion proofs against a signed checkpoint (JSON)."""
    object_type, _, object_id = target.partition(":")
    if not object_type or not object_id:
        typer.echo("error: expected TYPE:ID", err=True)
        raise typer.Exit(code=2)
    _print_proof(lambda session: ledger.prove(session, object_type, object_id))


@ledger_app.command("check-proof")
def check_proof_command(
    path: Annotated[Path, typer.Argument(help="proof file, or - for standard input")],
    key: Annotated[str | None, typer.Option("--key", help="trusted site key fingerprint")] = None,
) -> None:
    """Check a proof offline, without the database. Exit 0 when valid."""
    proof = _checked(path, ledger.check_proof, key)
    typer.echo(
        f"valid: {len(proof['entries'])} entries of {proof['object']} are in the tree of size "
        f"{proof['checkpoint']['tree_size']} signed at {proof['checkpoint']['at']} by key "
        f"{proof['checkpoint']['key']}"
    )


@ledger_app.command("prove-consistency")
def prove_consistency_command(
    since: Annotated[int, typer.Option("--from", help="tree size of the older signed checkpoint you kept")],
) -> None:
    """Print a consistency proof (JSON): the newest checkpoint's tree extends the older one unchanged."""
    _print_proof(lambda session: ledger.prove_consistency(session, since))


@ledger_app.command("check-consistency")
def check_consistency_command(
    path: Annotated[Path, typer.Argument(help="consistency proof file, or - for standard input")],
    key: Annotated[str | None, typer.Option("--key", help="trusted site key fingerprint")] = None,
) -> None:
    """Check a consistency proof offline, without the database. Exit 0 when the newer tree extends the older."""
    document = _checked(path, ledger.check_consistency, key)
    typer.echo(
        f"valid: the tree of size {document['new']['tree_size']} signed at {document['new']['at']} extends "
        f"the tree of size {document['old']['tree_size']} signed at {document['old']['at']} unchanged"
    )


@ledger_app.command("site-key")
def site_key_command() -> None:
    """Print the site's public checkpoint key (PEM) and its fingerprint, e.g. for `witness serve --public-key`."""
    from pharmatrace.cli_support import database
    from pharmatrace.kernel import crypto

    keys = ledger.site_key(database().state_dir)
    typer.echo(crypto.public_key_pem(keys.public_key), nl=False)
    typer.echo(f"fingerprint: {crypto.fingerprint(keys.public_key)}", err=True)
