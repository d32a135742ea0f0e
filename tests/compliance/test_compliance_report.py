"""``pharmatrace compliance report``: matrix.json, HTML and PDF with IQ and OQ evidence; the QA page."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from typer.testing import CliRunner

from helpers import LOGIN_BY_ROLE
from pharmatrace.cli import app
from pharmatrace.compliance import catalogue, qualification, results
from pharmatrace.compliance.results import TestResult, TestRun
from pharmatrace.config import Settings, get_settings
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.clause("SH-7.2.f", "SH-7.2.g", "TJ-10.5.1", "TJ-11.2.1.c")


def recorded_run() -> TestRun:
    at = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    return TestRun(
        started=at,
        finished=at.replace(minute=33),
        duration=180.0,
        command=["pytest", "-q"],
        complete=True,
        exitstatus=1,
        host="validation-pc",
        python="3.11.2",
        tests=[
            TestResult(
                nodeid="tests/a.py::test_audit_on", outcome="passed", duration=0.2, clauses=("SH-7.1.3.b",)
            ),
            TestResult(
                nodeid="tests/a.py::test_esign_copy",
                outcome="failed",
                duration=0.3,
                clauses=("SH-7.1.4.f",),
                message="AssertionError: copied signature verified",
            ),
        ],
    )


def test_the_report_holds_the_matrix_iq_and_oq(
    cli: CliRunner, db: Database, tmp_path: Path, backend: str
) -> None:
    results.save(recorded_run(), results.default_path(db.state_dir))
    out = tmp_path / "report"
    done = cli.invoke(app, ["compliance", "report", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert {p.name for p in out.iterdir()} == {"matrix.json", "index.html", "report.pdf", "installation.json"}

    data = json.loads((out / "matrix.json").read_text(encoding="utf-8"))
    clauses = {c["id"]: c for c in data["clauses"]}
    assert len(clauses) == len(catalogue.load())
    assert clauses["SH-7.1.3.b"]["status"] == "passing"
    assert clauses["SH-7.1.3.b"]["tests"] == [
        {"nodeid": "tests/a.py::test_audit_on", "outcome": "passed", "duration": 0.2}
    ]
    assert clauses["SH-7.1.4.f"]["status"] == "failing"
    assert clauses["SH-7.1.3.a"]["status"] == "uncovered"
    uncovered = sum(1 for c in clauses.values() if c["kind"] == "software" and c["status"] == "uncovered")
    assert data["software_clauses_not_yet_covered"] == uncovered > 0
    assert f"software clauses not yet covered: {uncovered}" in done.output
    assert data["installation"]["database"]["engine"] == backend
    assert data["installation"]["database"]["schema_revision"].startswith("0")

    html = (out / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), (
        "the report must load nothing from outside"
    )
    assert "尚未覆盖" in html and "validation-pc" in html and "copied signature verified" in html
    assert 'id="SH-7.1.4.f"' in html

    pdf = PdfReader(out / "report.pdf")
    text = "".join(page.extract_text() for page in pdf.pages).replace("\x00", "")
    # (pypdf maps this font's underscore to another glyph on extraction, so test names are checked by parts)
    assert "验证报告" in text and "SH-7.1.4.f" in text and "esign" in text and "validation-pc" in text
    assert len(pdf.pages) > 5


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the database only fills the IQ: proven above
def test_without_a_recorded_run_the_report_says_so(cli: CliRunner, tmp_path: Path) -> None:
    done = cli.invoke(
        app, ["compliance", "report", "--out", str(tmp_path / "r"), "--results", str(tmp_path / "none.json")]
    )
    assert done.exit_code == 0, done.output
    assert "no test run recorded" in done.output
    data = json.loads((tmp_path / "r" / "matrix.json").read_text(encoding="utf-8"))
    assert data["run"] is None and data["software_clauses_not_yet_covered"] == 0
    assert {c["status"] for c in data["clauses"] if c["kind"] == "software"} == {"not_run"}


def test_a_damaged_run_record_is_refused_clearly(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "run.json"
    bad.write_text('{"tests": "not a list"}', encoding="utf-8")
    done = cli.invoke(app, ["compliance", "status", "--results", str(bad)])
    assert done.exit_code == 2
    assert "is not a PharmaTrace test-run record" in done.output


def test_status_prints_the_coverage_by_standard(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    results.save(recorded_run(), path)
    done = cli.invoke(app, ["compliance", "status", "--results", str(path)])
    assert done.exit_code == 0, done.output
    lines = {
        line.split()[0]: line.split()
        for line in done.output.splitlines()
        if line[:3] in ("SH ", "SHD", "TJ ", "all")
    }
    assert set(lines) == {"SH", "SHD", "TJ", "all"}
    # passing: SH-7.1.3.b; failing: SH-7.1.4.f and so SH-7.1.4; partly covered: SH-7.1.3
    assert lines["SH"][2:5] == ["1", "2", "1"]


def fake_distribution(site: Path) -> metadata.Distribution:
    package = site / "fakepkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "data.txt").write_text("spec\n")
    info = site / "fakepkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n")
    import base64
    import hashlib

    def entry(name: str) -> str:
        digest = (
            base64.urlsafe_b64encode(hashlib.sha256((site / name).read_bytes()).digest())
            .rstrip(b"=")
            .decode()
        )
        return f"{name},sha256={digest},{(site / name).stat().st_size}"

    record = [entry("fakepkg/__init__.py"), entry("fakepkg/data.txt"), "fakepkg-1.0.dist-info/RECORD,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")
    return metadata.PathDistribution(info)


def test_iq_rehashes_installed_files_against_their_record(tmp_path: Path) -> None:
    dist = fake_distribution(tmp_path / "site")
    checked = qualification.check_distribution(dist)
    assert (checked.name, checked.version, checked.files, checked.verified, checked.intact) == (
        "fakepkg",
        "1.0",
        2,
        2,
        True,
    )
    (tmp_path / "site" / "fakepkg" / "__init__.py").write_text("VALUE = 2  # patched after installation\n")
    (tmp_path / "site" / "fakepkg" / "data.txt").unlink()
    checked = qualification.check_distribution(dist)
    assert checked.mismatched == ["fakepkg/__init__.py"] and checked.missing == ["fakepkg/data.txt"]
    assert not checked.intact


def test_iq_lists_our_own_files_and_masks_credentials(tmp_path: Path) -> None:
    files = qualification.source_files()
    paths = {f.path for f in files}
    assert "pharmatrace/compliance/qualification.py" in paths
    assert not any("__pycache__" in p for p in paths)
    digest = qualification.tree_digest(files)
    assert digest == qualification.tree_digest(qualification.source_files())
    copy = tmp_path / "pharmatrace"
    shutil.copytree(qualification.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "vendor"))
    before = qualification.tree_digest(qualification.source_files(copy))
    (copy / "config.py").write_text((copy / "config.py").read_text() + "\n# changed\n")
    assert qualification.tree_digest(qualification.source_files(copy)) != before

    settings = Settings(
        database_url="postgresql+psycopg://pharma:s3cret@db.plant/pt", witness_url="postgresql://w:pw2@x/w"
    )
    shown = qualification.configuration(settings)
    assert "s3cret" not in json.dumps(shown) and "pw2" not in json.dumps(shown)
    assert shown["database_url"] == "postgresql+psycopg://pharma:***@db.plant/pt"


@pytest.mark.clause("SH-7.1.2")
def test_qa_reads_the_matrix_page_and_others_may_not(db: Database) -> None:
    results.save(recorded_run(), results.default_path(get_settings().var_dir))
    with TestClient(create_app(db)) as client:
        assert (
            client.post(
                "/login", data={"login": LOGIN_BY_ROLE["qa_reviewer"], "password": "Pharma@2026"}
            ).status_code
            == 200
        )
        page = client.get("/compliance")
        assert page.status_code == 200
        assert 'data-clause="SH-7.1.4.f" data-status="failing"' in page.text
        assert 'data-clause="SH-7.1.3.b" data-status="passing"' in page.text
        filtered = client.get("/compliance", params={"status": "failing"})
        shown = dict(re.findall(r'data-clause="([^"]+)" data-status="([^"]+)"', filtered.text))
        assert shown["SH-7.1.4.f"] == shown["SH-7.1.4"] == "failing"
        assert set(shown.values()) == {"failing", "heading"}  # headings whose sub-clauses fail
        assert "SH-7.1.3.b" not in shown
        api = client.get("/api/v1/compliance/matrix")
        assert api.status_code == 200 and api.json()["run"]["exitstatus"] == 1
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": LOGIN_BY_ROLE["production_operator"], "password": "Pharma@2026"})
        assert client.get("/compliance").status_code == 403
