"""The QA reviewer reads the compliance matrix in real headless Chromium."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from browser import log_in
from playwright.sync_api import Page, expect

from pharmatrace.compliance import results
from pharmatrace.compliance.results import TestResult, TestRun
from pharmatrace.config import get_settings

pytestmark = pytest.mark.e2e


@pytest.mark.clause("SH-7.2.b", "SH-7.2.g", "TJ-10.5.1")
def test_qa_filters_the_matrix_to_the_failing_clauses(page: Page, server: str) -> None:
    at = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    run = TestRun(
        started=at,
        finished=at,
        duration=60,
        command=["pytest"],
        complete=True,
        exitstatus=1,
        host="qa-pc",
        python="3.11",
        tests=[
            TestResult(nodeid="t.py::test_on", outcome="passed", duration=0.1, clauses=("SH-7.1.3.b",)),
            TestResult(nodeid="t.py::test_copy", outcome="failed", duration=0.1, clauses=("SH-7.1.4.f",)),
        ],
    )
    results.save(run, results.default_path(get_settings().var_dir))
    log_in(page, server, "chenjing")  # QA reviewer
    page.get_by_role("link", name="合规矩阵").click()
    expect(page.locator("h1")).to_have_text("合规矩阵")
    expect(page.get_by_test_id("run-info")).to_contain_text("2026-11-23 09:00")  # Beijing time
    expect(page.locator('tr[data-clause="SH-7.1.3.b"]')).to_have_attribute("data-status", "passing")
    expect(page.get_by_test_id("uncovered")).to_contain_text("尚未覆盖的软件条款")
    page.get_by_test_id("matrix-filter").locator("select[name=status]").select_option("failing")
    page.get_by_test_id("matrix-filter").get_by_role("button").click()
    rows = page.locator("table[data-testid=matrix] tbody tr")
    expect(page.locator('tr[data-clause="SH-7.1.4.f"]')).to_contain_text("已覆盖但失败")
    expect(page.locator('tr[data-clause="SH-7.1.3.b"]')).to_have_count(0)
    assert rows.count() >= 2
