"""The compliance matrix: each clause of the catalogue with the tests that prove it and their outcome.

Status comes only from a recorded test run:

* ``passing`` — tests mark the clause (or all its software sub-clauses) and every one passed;
* ``failing`` — at least one of its tests failed or errored in this run;
* ``partial`` — some of its software sub-clauses are proven, others not yet;
* ``uncovered`` — no test marks it: not yet built or not yet proven;
* ``not_run`` — tests mark it but did not run (skipped, deselected, or no run recorded);
* ``procedural`` — the plant's organisation does it; the catalogue names the supporting feature;
* ``heading`` / ``informative`` — no requirement of its own (headings aggregate their sub-clauses).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pharmatrace.compliance.catalogue import Catalogue, Kind, Requirement
from pharmatrace.compliance.results import TestResult, TestRun


class Status(StrEnum):
    PASSING = "passing"
    FAILING = "failing"
    PARTIAL = "partial"
    UNCOVERED = "uncovered"
    NOT_RUN = "not_run"
    PROCEDURAL = "procedural"
    HEADING = "heading"
    INFORMATIVE = "informative"


FAILED = ("failed", "error", "xpassed")
# Order in summaries and charts.
SOFTWARE_STATUSES = (Status.PASSING, Status.FAILING, Status.PARTIAL, Status.NOT_RUN, Status.UNCOVERED)


@dataclass
class Row:
    requirement: Requirement
    status: Status
    tests: list[TestResult] = field(default_factory=list)
    aggregate: Status | None = None  # for headings: the state of their software sub-clauses

    @property
    def id(self) -> str:
        return self.requirement.id

    def as_json(self) -> dict[str, Any]:
        r = self.requirement
        return {
            "id": r.id,
            "kind": r.kind.value,
            "area": r.area,
            "status": self.status.value,
            "summary": r.summary,
            "issue": r.issue,
            "supported_by": r.supported_by,
            "tests": [{"nodeid": t.nodeid, "outcome": t.outcome, "duration": t.duration} for t in self.tests],
        }


@dataclass
class Tally:
    """Software clauses by status, for one standard or chapter."""

    label: str
    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(SOFTWARE_STATUSES, 0))
    procedural: int = 0

    @property
    def software(self) -> int:
        return sum(self.counts.values())

    def add(self, row: Row) -> None:
        if row.requirement.kind is Kind.SOFTWARE:
            self.counts[row.status] += 1
        elif row.requirement.kind is Kind.PROCEDURAL:
            self.procedural += 1


@dataclass
class Matrix:
    rows: list[Row]
    run: TestRun | None

    def __post_init__(self) -> None:
        self.by_id = {row.id: row for row in self.rows}

    def tally(self, rows: Iterable[Row] | None = None, label: str = "") -> Tally:
        tally = Tally(label)
        for row in self.rows if rows is None else rows:
            tally.add(row)
        return tally

    def by_standard(self) -> list[Tally]:
        tallies: dict[str, Tally] = {}
        for row in self.rows:
            source = row.requirement.source
            tallies.setdefault(source, Tally(source)).add(row)
        return list(tallies.values())

    def by_chapter(self) -> list[Tally]:
        tallies: dict[str, Tally] = {}
        for row in self.rows:
            key = f"{row.requirement.source}-{row.requirement.chapter}"
            tallies.setdefault(key, Tally(key)).add(row)
        return list(tallies.values())

    def software_uncovered(self) -> int:
        return self.tally().counts[Status.UNCOVERED]

    def as_json(self) -> list[dict[str, Any]]:
        return [row.as_json() for row in self.rows]


def build(catalogue: Catalogue, run: TestRun | None) -> Matrix:
    tests_of: dict[str, list[TestResult]] = {}
    for test in run.tests if run else ():
        for clause in test.clauses:
            tests_of.setdefault(clause, []).append(test)
    statuses: dict[str, Status] = {}

    def status_of(requirement: Requirement) -> Status:
        if requirement.id in statuses:
            return statuses[requirement.id]
        own = _own_status(tests_of.get(requirement.id, []), has_run=run is not None)
        parts = [own] if own is not None else []
        for child_id in catalogue.children.get(requirement.id, ()):
            child = catalogue[child_id]
            child_status = status_of(child)
            if child.kind in (Kind.SOFTWARE, Kind.HEADING) and child_status in SOFTWARE_STATUSES:
                parts.append(child_status)
        if requirement.kind is Kind.PROCEDURAL:
            status = Status.FAILING if own is Status.FAILING else Status.PROCEDURAL
        elif requirement.kind is Kind.INFORMATIVE:
            status = Status.FAILING if own is Status.FAILING else Status.INFORMATIVE
        elif run is None:
            status = Status.NOT_RUN  # no run recorded: nothing is known about coverage
        else:
            status = _combine(parts)
        statuses[requirement.id] = status
        return status

    rows = []
    for requirement in catalogue:
        status = status_of(requirement)
        row = Row(requirement, status, sorted(tests_of.get(requirement.id, []), key=lambda t: t.nodeid))
        if requirement.kind is Kind.HEADING:
            row.aggregate, row.status = status, Status.HEADING
        rows.append(row)
    return Matrix(rows, run)


def _own_status(tests: list[TestResult], *, has_run: bool) -> Status | None:
    if not tests:
        return None
    if any(t.outcome in FAILED for t in tests):
        return Status.FAILING
    if any(t.outcome == "passed" for t in tests):
        return Status.PASSING
    return Status.NOT_RUN if has_run else None


def _combine(parts: list[Status]) -> Status:
    if not parts:
        return Status.UNCOVERED
    if Status.FAILING in parts:
        return Status.FAILING
    if all(p is Status.PASSING for p in parts):
        return Status.PASSING
    if all(p is Status.UNCOVERED for p in parts):
        return Status.UNCOVERED
    if all(p in (Status.NOT_RUN, Status.UNCOVERED) for p in parts):
        return Status.NOT_RUN
    return Status.PARTIAL
