"""Lists in real headless Chromium: every list's columns sort on a click (static/js/sort.js)."""

from __future__ import annotations

import pytest
from browser import log_in
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def _column(page: Page, testid: str, index: int) -> list[str]:
    return [
        t.strip()
        for t in page.locator(f"[data-testid={testid}] tbody tr td:nth-child({index})").all_inner_texts()
    ]


@pytest.mark.clause("TJ-6.3.3")
def test_the_keeper_sorts_the_stock_by_quantity_then_by_location(page: Page, server: str) -> None:
    log_in(page, server, "zhouqiang")
    page.goto(f"{server}/wms/stock")
    heading = page.locator("[data-testid=stock-rows] thead th").nth(4)  # quantity
    heading.click()
    expect(heading).to_have_attribute("aria-sort", "ascending")
    quantities = [float(q.split()[0]) for q in _column(page, "stock-rows", 5)]
    assert quantities == sorted(quantities) and quantities[0] < quantities[-1]
    heading.click()
    expect(heading).to_have_attribute("aria-sort", "descending")
    assert [float(q.split()[0]) for q in _column(page, "stock-rows", 5)] == sorted(quantities, reverse=True)
    location = page.locator("[data-testid=stock-rows] thead th").nth(3)
    location.press("Enter")  # keyboard users sort too
    expect(location).to_have_attribute("aria-sort", "ascending")
    expect(heading).not_to_have_attribute("aria-sort", "ascending")
    codes = [c.split()[0] for c in _column(page, "stock-rows", 4)]
    assert codes == sorted(codes)
