"""The record of one test run, as the pytest plugin writes it and the compliance report reads it.

The plugin writes ``<PHARMATRACE_VAR>/compliance/test-run.json`` at the end of every run. It is the only
source of "covered" in the compliance matrix: nobody marks a clause covered by hand.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

RESULTS_FILE = Path("compliance") / "test-run.json"
FORMAT = 1

Outcome = Literal["passed", "failed", "skipped", "error", "xfailed", "xpassed"]


class TestResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: Outcome
    duration: float
    clauses: tuple[str, ...]
    message: str | None = None


class TestRun(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    __test__ = False

    format: int = FORMAT
    started: datetime
    finished: datetime
    duration: float
    command: list[str]
    complete: bool  # the whole suite ran: no file, -k, -m or --lf selection, nothing deselected
    exitstatus: int
    host: str
    python: str
    tests: list[TestResult]

    def totals(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for test in self.tests:
            counts[test.outcome] = counts.get(test.outcome, 0) + 1
        return counts


class ResultsError(Exception):
    """The recorded run cannot be read."""


def default_path(var_dir: Path) -> Path:
    return var_dir / RESULTS_FILE


def load(path: Path) -> TestRun | None:
    """The recorded run, or ``None`` when no run has been recorded yet."""
    if not path.exists():
        return None
    try:
        return TestRun.model_validate_json(path.read_bytes())
    except ValidationError as error:
        raise ResultsError(f"{path} is not a PharmaTrace test-run record: {error}") from error


def save(run: TestRun, path: Path) -> None:
    """Write atomically: a report never reads half a run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(
        json.dumps(run.model_dump(mode="json"), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    os.replace(partial, path)
