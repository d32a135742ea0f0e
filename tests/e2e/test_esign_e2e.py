"""Electronic signatures and the ledger in real headless Chromium."""

from __future__ import annotations

import pytest
from browser import log_in
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.e2e


@pytest.mark.clause("SH-7.1.4.b", "SH-7.1.4.d", "SH-7.1.4.e", "TJ-10.2")
def test_qa_signs_a_material_and_a_later_change_shows_on_the_signature(
    page: Page, server: str, browser: Browser
) -> None:
    log_in(page, server, "chenjing")
    page.goto(f"{server}/wms/materials/1")
    form = page.get_by_test_id("sign-material.approve")
    form.locator("input[name=password]").fill("Pharma@2026")  # the log-in ID is missing: refused
    form.get_by_role("button").click()
    expect(page.get_by_test_id("sign-error")).to_contain_text("登录账号")
    form = page.get_by_test_id("sign-material.approve")
    form.locator("input[name=login]").fill("chenjing")
    form.locator("input[name=password]").fill("Pharma@2026")
    form.get_by_role("button").click()
    panel = page.get_by_test_id("signatures")
    expect(panel).to_contain_text("陈静")
    expect(panel).to_contain_text("批准")
    expect(page.get_by_test_id("sign-material.approve")).to_have_count(0)  # fully signed: nothing to offer
    expect(page.get_by_test_id("audit-trail")).to_contain_text("create")

    keeper = browser.new_context().new_page()
    log_in(keeper, server, "zhouqiang")
    keeper.goto(f"{server}/wms/materials/1")
    expect(keeper.get_by_test_id("sign-material.approve")).to_have_count(0)  # not a QA permission
    keeper.locator("details.card summary").click()
    keeper.locator("form[action$='/void'] input[name=reason]").fill("供应商停产")
    keeper.locator("form[action$='/void'] button").click()
    expect(keeper.get_by_test_id("signatures")).to_contain_text("签名后记录已更改")
    keeper.context.close()


@pytest.mark.clause("TJ-10.1.2.2.c", "SH-7.1.4.c")
def test_the_administrator_is_offered_no_signature(page: Page, server: str) -> None:
    log_in(page, server, "sysadmin")
    page.goto(f"{server}/esign/actions")
    expect(page.get_by_test_id("esign-actions")).to_contain_text("material.approve")
    response = page.goto(f"{server}/wms/materials/1")
    assert response is not None and response.status == 403


@pytest.mark.clause("SH-8.4.5")
def test_the_ledger_page_verifies(page: Page, server: str) -> None:
    log_in(page, server, "inspector")
    page.goto(f"{server}/ledger")
    # the link re-hashes the whole ledger before its page answers: a loaded machine (3 workers) needs the time
    page.get_by_test_id("verify").click(timeout=60_000)
    expect(page.get_by_test_id("verify-result")).to_have_attribute(
        "data-intact", "true", timeout=60_000
    )  # after log-ins too
