"""pytest plugin: links tests to requirement clauses and records every run for the compliance matrix.

Loaded with ``-p pharmatrace.compliance.pytest_plugin`` (the project's pytest ``addopts``). It

* refuses the run when a ``clause`` marker names an ID that is not in the requirements catalogue, or when
  a test carries no clause at all (every test proves something, or it is not a test of this system);
* records, per test, its outcome, duration and clauses, and writes the run to
  ``<PHARMATRACE_VAR>/compliance/test-run.json`` (``--compliance-results`` overrides) for
  ``pharmatrace compliance report`` and the QA matrix page.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pharmatrace.compliance import catalogue as catalogue_module
from pharmatrace.compliance import results

# Read before any conftest can point PHARMATRACE_VAR at a throwaway test directory: the record belongs to
# the checkout's state directory (make exports PHARMATRACE_VAR=var/).
_VAR_AT_START = os.environ.get("PHARMATRACE_VAR")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compliance", "requirements coverage (docs/requirements)")
    group.addoption(
        "--compliance-results",
        metavar="PATH",
        default=None,
        help="where to record this run for the compliance matrix (default $PHARMATRACE_VAR/compliance/test-run.json)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clause(*ids): the requirement clauses (SH-…, SHD-…, TJ-…) this test proves"
    )
    config.pluginmanager.register(Recorder(config), "pharmatrace-compliance-recorder")


class Recorder:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started = datetime.now(UTC)
        self.clock = time.monotonic()
        self.clauses: dict[str, tuple[str, ...]] = {}
        self.outcomes: dict[str, results.TestResult] = {}
        self.deselected = 0

    # --- collection: every test names known clauses -------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        try:
            known = catalogue_module.load()
        except catalogue_module.CatalogueError as error:
            raise pytest.UsageError(f"the requirements catalogue does not load: {error}") from error
        unknown: list[str] = []
        untagged: list[str] = []
        for item in items:
            clauses = tuple(c for mark in item.iter_markers("clause") for c in mark.args)
            self.clauses[item.nodeid] = clauses
            if not clauses:
                untagged.append(item.nodeid)
            unknown += [f"{item.nodeid}: {c!r}" for c in clauses if not isinstance(c, str) or c not in known]
        problems = []
        if unknown:
            problems.append("clause IDs that are not in docs/requirements:\n  " + "\n  ".join(unknown))
        if untagged:
            problems.append("tests without a clause marker:\n  " + "\n  ".join(untagged))
        if problems:
            raise pytest.UsageError("\n".join(problems))

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """Each report carries its test's clauses: with ``-n`` (pytest-xdist) the process that records the
        run did not collect the tests itself and learns them from the reports."""
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        report.user_properties.append(("clauses", self.clauses.get(item.nodeid, ())))

    # --- outcomes -----------------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = _outcome(report)
        if outcome is None:
            return
        previous = self.outcomes.get(report.nodeid)
        duration = report.duration + (previous.duration if previous else 0.0)
        if previous and report.when == "teardown" and outcome == "passed":
            outcome = previous.outcome  # a clean teardown keeps the call's outcome
        message = _first_line(report) if report.failed else previous.message if previous else None
        carried: tuple[str, ...] = next(
            (
                tuple(str(c) for c in v)
                for k, v in report.user_properties
                if k == "clauses" and isinstance(v, (list, tuple))
            ),
            (),
        )
        self.outcomes[report.nodeid] = results.TestResult(
            nodeid=report.nodeid,
            outcome=outcome,
            duration=round(duration, 4),
            clauses=self.clauses.get(report.nodeid) or carried,
            message=message,
        )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.outcomes or self.config.option.collectonly:
            return  # nothing ran (--collect-only, a usage error): keep the last recorded run
        args = [str(a) for a in self.config.invocation_params.args]
        selection = any(
            self.config.getoption(name, default=None)
            for name in ("keyword", "markexpr", "lf", "ignore", "ignore_glob", "deselect")
        )
        collected = len(self.clauses) or getattr(
            session, "testscollected", 0
        )  # the workers collected, with -n
        unfinished = len(self.outcomes) < collected  # -x, --maxfail, an interrupted run
        explicit_paths = self.config.args_source is pytest.Config.ArgsSource.ARGS
        run = results.TestRun(
            started=self.started,
            finished=datetime.now(UTC),
            duration=round(time.monotonic() - self.clock, 2),
            command=["pytest", *args],
            complete=not (selection or explicit_paths or self.deselected or unfinished),
            exitstatus=int(exitstatus),
            host=platform.node(),
            python=sys.version.split()[0],
            tests=list(self.outcomes.values()),
        )
        results.save(run, self.path())

    def path(self) -> Path:
        configured = self.config.getoption("compliance_results")
        if configured:
            return Path(configured)
        var = Path(_VAR_AT_START) if _VAR_AT_START else self.config.rootpath / "var"
        return results.default_path(var.resolve())

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.outcomes:
            return
        proven = {c for r in self.outcomes.values() if r.outcome == "passed" for c in r.clauses}
        terminalreporter.write_sep("-", f"compliance: {len(proven)} clauses proven by passing tests")
        terminalreporter.write_line(
            f"  run recorded in {self.path()} (pharmatrace compliance report --out DIR)"
        )


def _outcome(report: pytest.TestReport) -> results.Outcome | None:
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if xfail:
            return "xfailed" if report.skipped else "xpassed"
        return "passed" if report.passed else "failed" if report.failed else "skipped"
    if report.failed:
        return "error"
    if report.when == "setup" and report.skipped:
        return "skipped"
    if report.when == "teardown":
        return "passed"  # merged with the call's outcome above
    return None


def _first_line(report: pytest.TestReport) -> str:
    text = report.longreprtext.strip().splitlines()
    lines = [line for line in text if line.startswith("E ")]
    return (lines[0][1:].strip() if lines else (text[-1] if text else ""))[:300]
