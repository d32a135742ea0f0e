"""Documents and training in real headless Chromium: an operator requalifies on the urgent SOP change by
passing its assessment, and QA reviews and approves a revision that then reaches the floor and calls its
printed copies back (SH-6.3.3, SH-6.3.4, TJ-9.3, TJ-10.1.2.2.d, TJ-10.2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser import log_in
from playwright.sync_api import Page, expect
from sqlalchemy import select

from pharmatrace.storage.engine import Database
from pharmatrace.training.course_models import Assessment, Question

pytestmark = pytest.mark.e2e


def plant(tmp_path: Path) -> Database:
    """The server's own copy of the demo plant (tests/e2e/conftest.py), read to know the answer key."""
    return Database.from_url(f"sqlite:///{tmp_path / 'plant.sqlite3'}", state_dir=tmp_path / "var")


@pytest.mark.clause("TJ-10.1.2.2.d", "SH-6.3.4", "TJ-9.3")
def test_liuyang_passes_the_lyophilization_assessment_and_is_qualified_again(
    page: Page, server: str, tmp_path: Path
) -> None:
    log_in(page, server, "liuyang")
    page.goto(f"{server}/training/mine")
    row = page.locator("[data-testid=qualifications] tr[data-number='SOP-PR-007']")
    expect(row).to_have_attribute("data-status", "lapsed")
    expect(page.get_by_test_id("gate-gaps")).to_have_count(0)  # a step gate, not a permission gate
    page.get_by_test_id("assess-SOP-PR-007").click()
    expect(page.locator("h1")).to_contain_text("TC-PR-007")
    page.get_by_test_id("start-assessment").get_by_role("button").click()
    expect(page.get_by_test_id("assessment-paper")).to_be_visible()
    match = re.search(r"/training/assessments/(\d+)$", page.url)
    assert match is not None, page.url
    db = plant(tmp_path)
    try:
        with db.sessions() as session:
            assessment = session.get(Assessment, int(match.group(1)))
            assert assessment is not None
            keys = {q.id: list(q.answer_key) for q in session.scalars(
                select(Question).where(Question.id.in_(assessment.question_ids)))}  # fmt: skip
    finally:
        db.dispose()
    assert len(keys) == len(assessment.question_ids) > 0
    paper = page.get_by_test_id("assessment-paper")
    for question_id, key in keys.items():
        for option in key:
            paper.locator(f"input[name='q_{question_id}'][value='{option}']").check()
    paper.get_by_role("button").click()
    result = page.get_by_test_id("assessment-result")
    expect(result).to_contain_text("100")
    expect(result.locator(".tag.business")).to_have_count(1)  # passed
    page.goto(f"{server}/training/mine")
    expect(page.locator("[data-testid=qualifications] tr[data-number='SOP-PR-007']")).to_have_attribute(
        "data-status", "qualified"
    )
    expect(page.locator("[data-testid=tasks] tr[data-number='SOP-PR-007']").first).not_to_have_class(
        re.compile("danger")
    )


@pytest.mark.clause("SH-6.3.3", "TJ-10.2", "SH-7.1.4.b")
def test_qa_reviews_and_approves_the_filling_sop_which_reaches_the_floor_and_recalls_v1_copies(
    page: Page, server: str
) -> None:
    log_in(page, server, "chenjing")
    page.goto(f"{server}/documents/SOP-PR-006")
    review = page.get_by_test_id("review-form")
    review.locator("input[name=login]").fill("chenjing")
    review.locator("input[name=password]").fill("Pharma@2026")
    review.get_by_role("button").click()
    expect(page.get_by_test_id("review-form")).to_have_count(0)  # reviewed: not offered twice
    page.context.clear_cookies()

    log_in(page, server, "zhaomin")
    page.goto(f"{server}/documents/SOP-PR-006")
    approve = page.get_by_test_id("approve-form")
    approve.locator("input[name=login]").fill("zhaomin")
    approve.locator("input[name=password]").fill("Pharma@2026")
    approve.get_by_role("button").click()
    expect(page.get_by_test_id("approve-form")).to_have_count(0)  # approved: effective from now

    page.goto(f"{server}/documents/floor/SOP-PR-006")
    expect(page.get_by_test_id("floor-version")).to_contain_text("2")
    expect(page.get_by_test_id("floor-content")).to_contain_text("每 15 分钟在线称重抽查装量")  # the v2 text
    page.goto(f"{server}/documents/copies?number=SOP-PR-006&status=to_recall")
    copies = page.locator("[data-testid=copies] tbody tr")
    expect(copies).to_have_count(2)  # both controlled copies of v1 are called back
    for index in range(2):
        expect(copies.nth(index).locator("td").nth(1)).to_have_text("1")
