"""The matrix derives each clause's status from the recorded run, and from nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pharmatrace.compliance import catalogue, matrix
from pharmatrace.compliance.catalogue import Catalogue, Kind
from pharmatrace.compliance.matrix import Status
from pharmatrace.compliance.results import Outcome, TestResult, TestRun

pytestmark = pytest.mark.clause("SH-7.2.b", "SH-7.2.g", "TJ-10.5.1")


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return catalogue.load()


def make_run(*tests: tuple[str, Outcome, tuple[str, ...]]) -> TestRun:
    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    return TestRun(
        started=at,
        finished=at,
        duration=1.0,
        command=["pytest"],
        complete=True,
        exitstatus=0,
        host="qa-pc",
        python="3.11",
        tests=[TestResult(nodeid=n, outcome=o, duration=0.1, clauses=c) for n, o, c in tests],
    )


def test_list_items_and_their_clause(cat: Catalogue) -> None:
    built = matrix.build(
        cat,
        make_run(
            ("t::a", "passed", ("SH-7.1.3.a",)),
            ("t::b", "failed", ("SH-7.1.3.b",)),
            ("t::b2", "passed", ("SH-7.1.3.b",)),
        ),
    )
    status = {row.id: row.status for row in built.rows}
    assert status["SH-7.1.3.a"] is Status.PASSING
    assert status["SH-7.1.3.b"] is Status.FAILING  # one failing test is enough
    assert status["SH-7.1.3.c"] is Status.UNCOVERED
    assert status["SH-7.1.3"] is Status.FAILING
    assert [t.nodeid for t in built.by_id["SH-7.1.3.b"].tests] == ["t::b", "t::b2"]


def test_a_clause_is_passing_only_when_all_its_software_items_are(cat: Catalogue) -> None:
    items = [f"SH-7.1.3.{letter}" for letter in "abcde"]
    all_pass = matrix.build(cat, make_run(*[(f"t::{i}", "passed", (i,)) for i in items]))
    assert all_pass.by_id["SH-7.1.3"].status is Status.PASSING
    some = matrix.build(cat, make_run(("t::a", "passed", ("SH-7.1.3.a",))))
    assert some.by_id["SH-7.1.3"].status is Status.PARTIAL
    heading = some.by_id["SH-7"]
    assert heading.status is Status.HEADING and heading.aggregate is Status.PARTIAL


def test_skipped_tests_do_not_cover_a_clause(cat: Catalogue) -> None:
    built = matrix.build(cat, make_run(("t::s", "skipped", ("SH-7.1.3.c",))))
    assert built.by_id["SH-7.1.3.c"].status is Status.NOT_RUN


def test_procedural_clauses_keep_their_kind_unless_their_evidence_fails(cat: Catalogue) -> None:
    procedural = next(r.id for r in cat if r.kind is Kind.PROCEDURAL)
    assert (
        matrix.build(cat, make_run(("t::p", "passed", (procedural,)))).by_id[procedural].status
        is Status.PROCEDURAL
    )
    assert (
        matrix.build(cat, make_run(("t::p", "error", (procedural,)))).by_id[procedural].status
        is Status.FAILING
    )


def test_without_a_recorded_run_nothing_counts_as_covered(cat: Catalogue) -> None:
    built = matrix.build(cat, None)
    software = [row for row in built.rows if row.requirement.kind is Kind.SOFTWARE]
    assert software and all(row.status is Status.NOT_RUN for row in software)
    assert built.software_uncovered() == 0
    assert built.tally().counts[Status.PASSING] == 0


def test_the_summary_counts_every_software_clause_once(cat: Catalogue) -> None:
    built = matrix.build(cat, make_run(("t::a", "passed", ("SH-7.1.3.a", "TJ-10.2"))))
    software = sum(1 for r in cat if r.kind is Kind.SOFTWARE)
    overall = built.tally()
    assert overall.software == software
    assert sum(t.software for t in built.by_standard()) == software
    assert sum(t.software for t in built.by_chapter()) == software
    assert built.software_uncovered() == sum(1 for row in built.rows if row.status is Status.UNCOVERED)
    assert overall.counts[Status.PASSING] == 2
    rows = {row["id"]: row for row in built.as_json()}
    assert rows["TJ-10.2"]["tests"] == [{"nodeid": "t::a", "outcome": "passed", "duration": 0.1}]
    assert rows["TJ-10.2"]["kind"] == "software" and rows["TJ-10.2"]["status"] == "passing"
