"""``pharmatrace compliance`` — the requirements matrix and the validation report (SH-7.2, TJ-10.5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from pharmatrace.compliance import catalogue, matrix, results

compliance_app = typer.Typer(help="Requirements matrix and validation report", no_args_is_help=True)

ResultsOption = Annotated[
    Path | None,
    typer.Option(
        "--results", help="the recorded test run (default $PHARMATRACE_VAR/compliance/test-run.json)"
    ),
]


def results_path(configured: Path | None) -> Path:
    from pharmatrace.config import get_settings

    return configured or results.default_path(get_settings().var_dir)


def load_matrix(path: Path) -> matrix.Matrix:
    try:
        known = catalogue.load()
        run = results.load(path)
    except (catalogue.CatalogueError, results.ResultsError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    return matrix.build(known, run)


def run_suite(path: Path) -> int:
    """Run the whole test suite from the checkout, recording into ``path``; returns pytest's exit code."""
    root = catalogue.requirements_dir().parents[1]
    typer.echo(f"running the test suite in {root} …")
    command = [sys.executable, "-m", "pytest", "-q", f"--compliance-results={path}"]
    return subprocess.run(command, cwd=root, check=False).returncode  # noqa: S603 - our own interpreter


@compliance_app.command("report")
def report_command(
    out: Annotated[Path, typer.Option("--out", help="directory for index.html, report.pdf, matrix.json")],
    run: Annotated[bool, typer.Option("--run", help="run the whole test suite first")] = False,
    results_file: ResultsOption = None,
) -> None:
    """Write the validation report: matrix, installation and operational qualification."""
    from pharmatrace.bootstrap import open_database
    from pharmatrace.compliance import qualification, report
    from pharmatrace.config import get_settings
    from pharmatrace.kernel.errors import PharmaTraceError

    path = results_path(results_file)
    if run:
        code = run_suite(path)
        typer.echo(f"test suite finished with exit status {code}")
    built = load_matrix(path)
    if built.run is None:
        typer.echo(f"note: no test run recorded at {path}; every clause shows as not run", err=True)
    db = open_database()
    try:
        iq = qualification.installation(db, get_settings())
    finally:
        db.dispose()
    try:
        written = report.write(out, built, iq)
    except PharmaTraceError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    for file in written:
        typer.echo(f"wrote {file}")
    typer.echo(f"software clauses not yet covered: {built.software_uncovered()}")


@compliance_app.command("status")
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="the matrix as JSON")] = False,
    results_file: ResultsOption = None,
) -> None:
    """Print the coverage of each standard from the last recorded test run."""
    built = load_matrix(results_path(results_file))
    if as_json:
        typer.echo(json.dumps(built.as_json(), ensure_ascii=False, indent=1))
        return
    run = built.run
    typer.echo(
        "last run: "
        + ("none recorded" if run is None else f"{run.finished:%Y-%m-%d %H:%M} UTC, {run.totals()}")
    )
    header = f"{'':<6}{'software':>9}" + "".join(f"{s.value:>11}" for s in matrix.SOFTWARE_STATUSES)
    typer.echo(header + f"{'procedural':>12}")
    for tally in [*built.by_standard(), built.tally(label="all")]:
        counts = "".join(f"{tally.counts[s]:>11}" for s in matrix.SOFTWARE_STATUSES)
        typer.echo(f"{tally.label:<6}{tally.software:>9}{counts}{tally.procedural:>12}")
    typer.echo(f"software clauses not yet covered: {built.software_uncovered()}")
