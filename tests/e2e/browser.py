"""Browser steps shared by the end-to-end tests."""

from __future__ import annotations

from playwright.sync_api import Page


def log_in(page: Page, base: str, login: str, password: str = "Pharma@2026") -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit]")
