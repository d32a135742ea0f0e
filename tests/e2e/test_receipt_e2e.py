"""Goods receipt by scanning in real headless Chromium: the scan input keeps the focus a wedge scanner needs."""

from __future__ import annotations

import re

import pytest
from browser import log_in
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e
GTIN = "06901234567892"


def wedge(page: Page, text: str) -> None:
    """A keyboard-wedge scanner: it types into whatever has the focus, then presses Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


@pytest.mark.clause("TJ-5.2.1.1", "TJ-6.3.1", "TJ-6.3.2.1")
def test_the_warehouse_keeper_scans_a_delivery_in(page: Page, server: str) -> None:
    log_in(page, server, "zhouqiang")
    page.goto(f"{server}/wms/receipts")
    form = page.get_by_test_id("receipt-form")
    form.locator("select[name=supplier_code]").select_option("SUP-SL-DS")
    form.locator("select[name=material_code]").select_option("HB-DS-001")
    form.locator("input[name=delivery_note]").fill("SL-DN-2611-21")
    form.locator("input[name=supplier_lot]").fill("DS2611E2E")
    form.locator("input[name=manufacture_date]").fill("2026-10-20")
    form.locator("input[name=expected_containers]").fill("3")
    form.locator("input[name=quantity_per_container]").fill("25")
    form.locator("input[name=origin_shipment]").fill("SL-FY-2611-01")  # the base's shipment (TJ-5.1)
    form.get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/wms/receipts/\d+$"))
    scan_input = page.get_by_test_id("scan-input")
    expect(scan_input).to_be_focused()  # ready for the scanner without a tap
    wedge(page, f"(01){GTIN}(10)DS2611E2E(21)0001")
    expect(page.get_by_test_id("scan-count")).to_have_text("1 / 3")
    expect(page.get_by_test_id("scan-ok")).to_contain_text("-001")
    expect(page.get_by_test_id("scan-input")).to_be_focused()  # still focused after the htmx swap
    wedge(page, f"(01){GTIN}(10)DS2611XXX(21)0002")  # a container of another lot
    expect(page.get_by_test_id("scan-error")).to_contain_text("DS2611XXX")
    expect(page.get_by_test_id("scan-count")).to_have_text("1 / 3")
    expect(page.get_by_test_id("scan-input")).to_be_focused()
    wedge(page, f"(01){GTIN}(10)DS2611E2E(21)0001")  # the same label twice
    expect(page.get_by_test_id("scan-error")).to_contain_text("-001")
    wedge(page, f"(01){GTIN}(10)DS2611E2E(21)0002")
    expect(page.get_by_test_id("scan-count")).to_have_text("2 / 3")
    wedge(page, "商洛丹参 DS2611E2E 第3件")  # a plain supplier label
    expect(page.get_by_test_id("scan-count")).to_have_text("3 / 3")
    expect(page.get_by_test_id("containers")).to_contain_text("-003")
    done = page.get_by_test_id("complete-form")
    for check in ("packaging_intact", "seals_intact", "labels_legible"):
        done.locator(f"input[name={check}]").check()
    done.locator("input[name=login]").fill("zhouqiang")
    done.locator("input[name=password]").fill("Pharma@2026")
    done.get_by_role("button").click()
    expect(page.get_by_test_id("signatures")).to_contain_text("周强")
    expect(page.get_by_test_id("scan-form")).to_have_count(0)
    page.get_by_test_id("lot-link").click()
    expect(page.locator("[data-testid=lot-status] [data-status]")).to_have_attribute(
        "data-status", "quarantine"
    )
    expect(page.get_by_test_id("containers")).to_contain_text("DS2611E2E")
