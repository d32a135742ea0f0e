"""Document pages, API and CLI (SH-6.3.3, TJ-9.2): the library and its filters, the version page with its
trail and signatures, the floor view, the forms of the lifecycle, the JSON API with uploads, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from test_documents_content import PDF
from test_documents_steps import AUTHOR, CONTROLLER, OPERATOR, QA_REVIEWER, QP, effective
from typer.testing import CliRunner

from helpers import log_in, token
from pharmatrace.cli import app
from pharmatrace.config import get_settings
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import store
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.mark.clause("SH-6.3.3", "TJ-9.2")
def test_the_library_filters_searches_and_opens_a_document_by_its_number(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, OPERATOR)
        page = client.get("/documents")
        assert (
            page.status_code == 200
            and 'data-number="SOP-PR-001"' in page.text
            and 'data-number="MPR-DH-001"' in page.text
        )
        typed = client.get("/documents", params={"doc_type": "specification"}).text
        assert 'data-number="SPEC-DH-001"' in typed and 'data-number="SOP-PR-001"' not in typed
        searched = client.get("/documents", params={"q": "一次干燥"}).text
        assert 'data-number="SOP-PR-007"' in searched and 'data-number="SOP-PR-001"' not in searched
        opened = client.get("/documents", params={"q": "sop-pr-006"}, follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == "/documents/SOP-PR-006"
        document = client.get("/documents/SOP-PR-006").text
        assert (
            'data-version="2" data-state="in_review"' in document
            and 'data-version="1" data-state="effective"' in document
        )
        assert 'data-testid="audit-trail"' in document and 'data-testid="signatures"' in document
        assert 'data-testid="review-form"' not in document  # an operator reviews nothing
        assert 'href="/documents/SOP-PR-006/v/2"' not in document  # nor opens a draft from the library
        live = client.get("/documents", params={"q": "SOP-PR-006"}, headers={"HX-Request": "true"})
        assert (
            live.status_code == 200 and 'data-number="SOP-PR-006"' in live.text
        )  # htmx: the table, no redirect
        due = client.get("/documents/reviews")
        assert due.status_code == 200 and 'data-testid="due-reviews"' in due.text


@pytest.mark.clause("SH-6.3.3", "TJ-9.2", "SH-7.1.4")
def test_the_version_page_shows_its_content_sm3_trail_and_signatures(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, QA_REVIEWER)
        page = client.get("/documents/SOP-PR-007/v/2").text
        assert 'data-testid="version-content"' in page and "板层温度 -15 ℃" in page
        assert 'data-testid="version-sm3"' in page
        assert 'data-testid="audit-trail"' in page
        trail = page.split('data-testid="audit-trail"')[1]
        assert "陈静 (chenjing)" in trail or "(chenjing)" in trail
        signatures = page.split('data-testid="signatures"')[1].split('data-testid="audit-trail"')[0]
        assert "陈静 (chenjing)" in signatures and "赵敏 (zhaomin)" in signatures
        assert signatures.count('class="sig-valid"') == 2
        old = client.get("/documents/SOP-PR-007/v/1").text
        assert 'data-testid="version-banner" data-state="superseded"' in old


@pytest.mark.clause("SH-6.3.3", "TJ-6.1")
def test_the_floor_view_opens_the_effective_version_and_refuses_another(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, OPERATOR)
        floor = client.get("/documents/floor/SOP-PR-007")
        assert (
            floor.status_code == 200 and 'data-testid="floor-version"' in floor.text and "-15 ℃" in floor.text
        )
        refused = client.get("/documents/floor/SOP-PR-007", params={"version": 1})
        assert refused.status_code == 409 and 'data-testid="floor-refused"' in refused.text
        assert 'href="/documents/floor/SOP-PR-007" data-testid="floor-current"' in refused.text
        assert client.get("/documents/SOP-PR-007/v/1").status_code == 403  # the library is not the floor
        assert client.get("/documents/SOP-PR-007/v/2").status_code == 200


@pytest.mark.clause("SH-6.3.3", "TJ-9.2")
def test_the_forms_take_a_document_from_draft_to_effective(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, AUTHOR)
        refused = client.post("/documents/new", data={"title": "配液罐使用规程", "doc_type": "memo", "department": "PR",
                                                       "markdown": "# 配液罐"})  # fmt: skip
        assert refused.status_code == 422 and 'data-testid="document-form"' in refused.text
        made = client.post("/documents/new", data={"title": "配液罐使用规程", "doc_type": "sop", "department": "PR",
                                                    "markdown": "# 配液罐使用规程\n\n1. 使用前检查清洁状态标识。",
                                                    "gmp_present": "1", "gmp": "1"}, follow_redirects=False)  # fmt: skip
        assert made.status_code == 303 and made.headers["location"] == "/documents/SOP-PR-011?done=1"
        edited = client.post("/documents/SOP-PR-011/draft", data={"version": "1", "markdown": "# 配液罐使用规程\n\n1. 核对状态标识。",
                                                                   "reason": "措辞"}, follow_redirects=False)  # fmt: skip
        assert edited.status_code == 303
        assert client.post("/documents/SOP-PR-011/submit", follow_redirects=False).status_code == 303
        log_in(client, QA_REVIEWER)
        page = client.get("/documents/SOP-PR-011").text
        assert 'data-testid="review-form"' in page and 'name="login"' in page
        wrong = client.post("/documents/SOP-PR-011/review", data={"login": QA_REVIEWER, "password": "wrong"})
        assert wrong.status_code == 401
        signed = client.post("/documents/SOP-PR-011/review", data={"login": QA_REVIEWER, "password": DEMO_PASSWORD},
                             follow_redirects=False)  # fmt: skip
        assert signed.status_code == 303, signed.text
        log_in(client, QP)
        approved = client.post("/documents/SOP-PR-011/approve", data={"login": QP, "password": DEMO_PASSWORD},
                               follow_redirects=False)  # fmt: skip
        assert approved.status_code == 303, approved.text
    assert effective(db, "SOP-PR-011") == 1


@pytest.mark.clause("TJ-9.2", "SH-7.1.4")
def test_the_api_creates_uploads_reviews_approves_and_serves_the_effective_version(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        author, qa, qp = token(client, CONTROLLER), token(client, QA_REVIEWER), token(client, QP)
        bad = client.post("/api/v1/documents", headers=author, json={"title": "x", "doc_type": "memo",
                                                                      "department": "QA", "markdown": "x"})  # fmt: skip
        assert bad.status_code == 422
        dup = client.post("/api/v1/documents", headers=author, json={"number": "SOP-PR-001", "title": "x",
                                                                      "doc_type": "sop", "department": "PR", "markdown": "x"})  # fmt: skip
        assert dup.status_code == 409 and dup.json()["error"]["code"] == "conflict"
        uploaded = client.post("/api/v1/documents/upload", headers=author,
                               data={"title": "灌装线验证方案", "doc_type": "validation_protocol", "department": "QA"},
                               files={"file": ("方案.pdf", PDF, "application/pdf")})  # fmt: skip
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["number"] == "VP-QA-001" and uploaded.json()["sm3"] == store.sm3_hex(PDF)
        odd = client.post("/api/v1/documents/upload", headers=author,
                          data={"title": "x", "doc_type": "drawing", "department": "EQ"},
                          files={"file": ("x.pdf", b"GIF89a....", "application/pdf")})  # fmt: skip
        assert odd.status_code == 422 and odd.json()["error"]["code"] == "document_file_refused"
        assert client.post("/api/v1/documents/VP-QA-001/submit", headers=author).status_code == 200
        early = client.post(
            "/api/v1/documents/VP-QA-001/approve", headers=qp, json={"password": DEMO_PASSWORD, "login": QP}
        )
        assert early.status_code == 409 and early.json()["error"]["code"] == "document_transition_refused"
        reviewed = client.post("/api/v1/documents/VP-QA-001/review", headers=qa,
                               json={"password": DEMO_PASSWORD, "login": QA_REVIEWER})  # fmt: skip
        assert reviewed.status_code == 200 and reviewed.json()["signatures"][0]["meaning"] == "reviewed"
        approved = client.post("/api/v1/documents/VP-QA-001/approve", headers=qp,
                               json={"password": DEMO_PASSWORD, "login": QP})  # fmt: skip
        assert approved.status_code == 200 and approved.json()["state"] == "effective"
        floor = client.get("/api/v1/documents/VP-QA-001/effective", headers=token(client, OPERATOR))
        assert floor.status_code == 200 and floor.json()["version"] == 1
        served = client.get("/api/v1/documents/VP-QA-001/versions/1/file", headers=author)
        assert served.status_code == 200 and served.content == PDF
        store.path_of(db, store.sm3_hex(PDF)).write_bytes(PDF + b"%tampered")
        tampered = client.get("/api/v1/documents/VP-QA-001/versions/1/file", headers=author)
        assert tampered.status_code == 409 and tampered.json()["error"]["code"] == "document_file_tampered"
        old = client.get("/api/v1/documents/SOP-PR-007/effective", params={"version": 1}, headers=author)
        assert old.status_code == 409 and old.json()["error"]["code"] == "document_version_not_effective"


@pytest.fixture
def documents_cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("PHARMATRACE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PHARMATRACE_VAR", str(db.state_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.clause("TJ-9.2")
def test_the_cli_lists_shows_and_imports_documents(documents_cli: CliRunner, tmp_path: object) -> None:
    listed = documents_cli.invoke(app, ["documents", "list", "--type", "sop", "--department", "PR"])
    assert listed.exit_code == 0 and "SOP-PR-007" in listed.output and "SPEC-DH-001" not in listed.output
    shown = documents_cli.invoke(app, ["documents", "show", "SOP-PR-007", "--json"])
    assert shown.exit_code == 0, shown.output
    versions = json.loads(shown.output)["versions"]
    assert [(v["version"], v["state"]) for v in versions] == [(1, "superseded"), (2, "effective")]
    assert documents_cli.invoke(app, ["documents", "show", "SOP-XX-999"]).exit_code == 2
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    source = tmp_path / "方案.pdf"
    source.write_bytes(PDF)
    imported = documents_cli.invoke(app, ["documents", "import", str(source), "--title", "清洁验证方案",
                                          "--type", "validation_protocol", "--department", "QA", "--as", CONTROLLER,
                                          "--password-stdin"], input=DEMO_PASSWORD + "\n")  # fmt: skip
    assert imported.exit_code == 0, imported.output
    assert f"created VP-QA-001 version 1 (draft), sm3 {store.sm3_hex(PDF)}" in imported.output
