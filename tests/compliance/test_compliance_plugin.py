"""The pytest plugin: unknown or missing clauses stop the run; every run is recorded with its outcomes.

Each case runs a real pytest in a subprocess on a small throwaway suite, with the plugin loaded the way
the project loads it (``-p pharmatrace.compliance.pytest_plugin``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.clause("SH-7.2.g", "TJ-10.5.1")

SUITE = """
import pytest

@pytest.mark.clause("SH-7.1.3.a")
def test_passes():
    assert True

@pytest.mark.clause("SH-7.1.3.b", "TJ-10.1.1.2.a")
def test_fails():
    assert 1 == 2, "the audit trail was switched off"

@pytest.mark.clause("SH-7.1.3.c")
def test_skipped():
    pytest.skip("not on this machine")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

@pytest.mark.clause("SH-7.1.3.d")
def test_teardown_error(broken_teardown):
    assert True
"""


def run_suite(tmp_path: Path, source: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p pharmatrace.compliance.pytest_plugin\n")
    (tmp_path / "test_sample.py").write_text(source)
    results = tmp_path / "out" / "test-run.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--compliance-results={results}",
            *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return done, results


def test_a_run_is_recorded_with_each_tests_outcome_and_clauses(tmp_path: Path) -> None:
    done, results = run_suite(tmp_path, SUITE)
    assert done.returncode == 1, done.stdout + done.stderr
    run = json.loads(results.read_text(encoding="utf-8"))
    tests = {t["nodeid"].split("::")[1]: t for t in run["tests"]}
    assert {name: t["outcome"] for name, t in tests.items()} == {
        "test_passes": "passed",
        "test_fails": "failed",
        "test_skipped": "skipped",
        "test_teardown_error": "error",
    }
    assert tests["test_fails"]["clauses"] == ["SH-7.1.3.b", "TJ-10.1.1.2.a"]
    assert "the audit trail was switched off" in tests["test_fails"]["message"]
    assert "teardown broke" in tests["test_teardown_error"]["message"]
    assert run["complete"] is True and run["exitstatus"] == 1
    assert "compliance: 1 clauses proven by passing tests" in done.stdout


def test_a_selected_subset_is_recorded_as_a_partial_run(tmp_path: Path) -> None:
    done, results = run_suite(tmp_path, SUITE, "-k", "passes")
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads(results.read_text(encoding="utf-8"))
    assert run["complete"] is False
    assert [t["outcome"] for t in run["tests"]] == ["passed"]
    done, results = run_suite(tmp_path, SUITE, "-x")  # stops at the first failure
    run = json.loads(results.read_text(encoding="utf-8"))
    assert [t["outcome"] for t in run["tests"]] == ["passed", "failed"]
    assert run["complete"] is False


def test_an_unknown_clause_id_fails_the_run_and_records_nothing(tmp_path: Path) -> None:
    source = 'import pytest\n\n@pytest.mark.clause("SH-7.1.9.z")\ndef test_x():\n    pass\n'
    done, results = run_suite(tmp_path, source)
    assert done.returncode == 4  # pytest's usage error
    assert "clause IDs that are not in docs/requirements" in done.stderr
    assert "test_sample.py::test_x: 'SH-7.1.9.z'" in done.stderr
    assert not results.exists()


def test_a_test_without_a_clause_fails_the_run(tmp_path: Path) -> None:
    done, results = run_suite(tmp_path, "def test_nothing_in_particular():\n    pass\n")
    assert done.returncode == 4
    assert "tests without a clause marker" in done.stderr
    assert "test_sample.py::test_nothing_in_particular" in done.stderr
    assert not results.exists()
