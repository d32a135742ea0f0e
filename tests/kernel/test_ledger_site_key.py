"""The site's SM2 checkpoint key at rest (SH-8.4.5): encrypted under a passphrase, never readable by others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from pharmatrace.config import get_settings
from pharmatrace.kernel import crypto, ledger
from pharmatrace.storage.engine import Database

pytestmark = pytest.mark.clause("SH-8.4.5")


@pytest.fixture
def passphrase(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings re-read from the environment the test sets (and restored after it)."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def use(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("PHARMATRACE_SITE_KEY_PASSPHRASE", raising=False)
    else:
        monkeypatch.setenv("PHARMATRACE_SITE_KEY_PASSPHRASE", value)
    get_settings.cache_clear()


def test_with_a_passphrase_the_key_is_stored_encrypted(
    passphrase: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(passphrase, "药厂-站点口令")
    keys = ledger.site_key(tmp_path)
    path = ledger.site_key_path(tmp_path)
    stored = path.read_text()
    assert keys.private_key.hex() not in stored and json.loads(stored)["cipher"] == "sm4-gcm"
    assert path.stat().st_mode & 0o777 == 0o600
    assert ledger.site_key_warning(tmp_path) is None
    ledger._site_key.cache_clear()
    assert ledger.site_key(tmp_path) == keys  # opened again from the file

    use(passphrase, "wrong")
    with pytest.raises(ledger.SiteKeyRefused, match="cannot be opened"):
        ledger.site_key(tmp_path)
    use(passphrase, None)
    with pytest.raises(ledger.SiteKeyRefused, match="is encrypted"):
        ledger.site_key(tmp_path)
    assert path.read_text() == stored  # refusals change nothing


def test_a_plain_key_is_warned_about_and_sealed_once_a_passphrase_is_set(
    passphrase: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(passphrase, None)
    keys = ledger.site_key(tmp_path)
    path = ledger.site_key_path(tmp_path)
    assert path.read_text().strip() == keys.private_key.hex() and path.stat().st_mode & 0o777 == 0o600
    warning = ledger.site_key_warning(tmp_path)
    assert warning is not None and warning.kind == "site_key.unencrypted"
    use(passphrase, "now sealed")
    assert ledger.site_key(tmp_path) == keys
    assert keys.private_key.hex() not in path.read_text() and path.stat().st_mode & 0o777 == 0o600
    assert ledger.site_key_warning(tmp_path) is None


def test_an_altered_sealed_key_is_refused(passphrase: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use(passphrase, "口令")
    ledger.site_key(tmp_path)
    ledger._site_key.cache_clear()
    path = ledger.site_key_path(tmp_path)
    document = json.loads(path.read_text())
    other = crypto.KeyPair.generate()
    for name, value in (("public_key", other.public_key.hex()), ("sealed", "00" * 48), ("iterations", 0)):
        path.write_text(json.dumps({**document, name: value}))
        with pytest.raises(ledger.SiteKeyRefused, match="cannot be opened"):
            ledger.site_key(tmp_path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_file_others_may_read_is_refused(
    passphrase: pytest.MonkeyPatch, tmp_path: Path, mode: int
) -> None:
    use(passphrase, None)
    ledger.site_key(tmp_path)
    ledger._site_key.cache_clear()
    path = ledger.site_key_path(tmp_path)
    path.chmod(mode)
    before = path.read_bytes()
    with pytest.raises(ledger.SiteKeyRefused, match="may be read by other users"):
        ledger.site_key(tmp_path)
    warning = ledger.site_key_warning(tmp_path)
    assert warning is not None and warning.kind == "site_key.exposed" and f"{mode:04o}" in warning.detail
    assert path.read_bytes() == before and path.stat().st_mode & 0o777 == mode


def test_verify_warns_of_an_unencrypted_site_key(db: Database) -> None:
    report = ledger.verify(db)
    assert report.intact
    assert [w.kind for w in report.warnings if w.kind.startswith("site_key")] == ["site_key.unencrypted"]


def test_the_ledger_page_shows_the_site_key_and_verify_warnings(db: Database) -> None:
    from fastapi.testclient import TestClient

    from pharmatrace.demo.seed import DEMO_PASSWORD
    from pharmatrace.web.app import create_app

    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": "chenjing", "password": DEMO_PASSWORD})
        page = client.get("/ledger?verify=1")
        assert page.status_code == 200, page.text
        assert (
            'data-testid="site-key-warning"' in page.text and "PHARMATRACE_SITE_KEY_PASSPHRASE" in page.text
        )
        assert 'data-testid="verify-warnings"' in page.text and "site_key.unencrypted" in page.text
        assert 'data-intact="true"' in page.text  # a warning, not a problem


def test_no_checkpoint_is_signed_with_an_exposed_key(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import func, select
    from test_ledger import new_material

    from pharmatrace.kernel import ledger_jobs

    never = SimpleNamespace(checkpoint_every=10**9, checkpoint_seconds=10**9, site_key_passphrase=None)
    with monkeypatch.context() as quiet:  # this write must not make the checkpoint itself
        quiet.setattr(ledger, "get_settings", lambda: never)
        new_material(db, "HB-SK-001")  # something to checkpoint
    ledger._site_key.cache_clear()
    path = ledger.site_key_path(db.state_dir)
    path.chmod(0o644)
    with db.sessions() as session:
        before = session.scalar(select(func.count()).select_from(ledger.LedgerCheckpoint))
    with pytest.raises(ledger.SiteKeyRefused, match="0644"):
        ledger_jobs.checkpoint(db)
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ledger.LedgerCheckpoint)) == before
    path.chmod(0o600)
    assert ledger_jobs.checkpoint(db) is not None  # the owner fixed the mode: signing works again
