"""Chinese first, English available; every message translated; no asset from the internet (SH-8.5.5)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from pharmatrace.web import i18n

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "pharmatrace"
PLACEHOLDERS = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)s")


def _extract(tmp_path: Path) -> list[str]:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "N_",
            "-o",
            str(pot),
            str(ROOT / "src"),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return [str(m.id) for m in read_po(handle) if m.id]


@pytest.mark.clause("TJ-4.5", "SH-7.1.1")
def test_every_message_in_code_and_templates_has_a_chinese_translation(tmp_path: Path) -> None:
    wanted = _extract(tmp_path)
    assert len(wanted) > 150
    with (SRC / "web" / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    missing = [m for m in wanted if not (catalog.get(m) and catalog.get(m).string)]
    assert missing == [], f"untranslated (run `make i18n` and translate): {missing}"
    for message in catalog:
        if message.id and message.string:
            assert sorted(PLACEHOLDERS.findall(str(message.id))) == sorted(
                PLACEHOLDERS.findall(str(message.string))
            )


@pytest.mark.clause("TJ-4.5", "SH-7.1.1")
def test_translation_follows_the_context_locale() -> None:
    from pharmatrace.kernel import context

    token = context.locale.set("zh_CN")
    try:
        assert i18n.gettext("Log in") == "登录"
        context.locale.set("en")
        assert i18n.gettext("Log in") == "Log in"
    finally:
        context.locale.reset(token)


@pytest.mark.clause("TJ-4.5", "SH-7.1.1")
def test_pages_are_chinese_by_default_and_english_on_request(client: TestClient) -> None:
    page = client.get("/login")
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    client.get("/lang/en")
    page = client.get("/login")
    assert '<html lang="en">' in page.text and "Log in" in page.text


@pytest.mark.clause("SH-7.1.5", "TJ-B.1.5")
def test_times_on_screen_are_beijing_time() -> None:
    from datetime import UTC, datetime

    from pharmatrace.kernel import clock

    assert clock.format_beijing(datetime(2026, 11, 23, 17, 30, tzinfo=UTC)) == "2026-11-24 01:30:00"
    assert clock.format_exchange(datetime(2026, 11, 23, 17, 30, tzinfo=UTC)) == "20261124T013000"


@pytest.mark.clause("SH-8.5.5")
def test_nothing_is_loaded_from_the_internet(client: TestClient) -> None:
    external = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//""", re.IGNORECASE)
    for path in SRC.rglob("*"):
        if path.suffix in {".html", ".css"}:
            assert not external.search(path.read_text(encoding="utf-8")), path
            assert "@import url(http" not in path.read_text(encoding="utf-8")
    client.post("/login", data={"login": "sysadmin", "password": "Pharma@2026"})
    for url in ["/", "/admin/users", "/admin/permissions", "/login"]:
        assert not external.search(client.get(url).text), url
    assert client.get("/static/vendor/htmx.min.js").status_code == 200
    docs = client.get("/api/v1/docs").text
    assert not external.search(docs) and "/static/vendor/swagger-ui-bundle.js" in docs
    assert client.get("/static/vendor/swagger-ui-bundle.js").status_code == 200
