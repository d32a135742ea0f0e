"""Exports of the audit trail: CSV in the TJ-B.2.5 fields, a printable PDF with an embedded Chinese font,
from the UI, the API and the CLI — and every export is itself an audit event (SH-7.1.3.e)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from typer.testing import CliRunner

from helpers import actor, audit_entries, token
from pharmatrace.cli import app
from pharmatrace.config import get_settings
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock, pdf
from pharmatrace.kernel.audit_trail import export
from pharmatrace.kernel.audit_trail.service import TrailFilter
from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.web import i18n
from pharmatrace.web.app import create_app
from pharmatrace.wms import service as wms
from pharmatrace.wms.schemas import MaterialCreate

HEADER = [
    "记录号",
    "操作对象(CZDX)",
    "操作类型(CZLX)",
    "操作者(CZZ)",
    "操作时间(CZSJ)",
    "操作原因(CZYY)",
    "字段",
    "旧值(JZ)",
    "新值(XZ)",
]
VOID_REASON = "物料停用：供应商资质过期"


def _at(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    moment = datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=clock.BEIJING)
    monkeypatch.setattr(clock, "now", lambda: moment)


@pytest.fixture
def voided(db: Database, monkeypatch: pytest.MonkeyPatch) -> int:
    """A material the warehouse keeper received at 08:30 and voided at 09:00 (Beijing time)."""
    with monkeypatch.context() as patch:
        _at(patch, "2020-03-02 08:30:00")
        with UnitOfWork(db, actor(db, "zhouqiang")) as uow:
            material = wms.create_material(
                uow, MaterialCreate(code="HB-HQ-001", name="黄芪（中药材）", kind="herb", unit="kg")
            )
            uow.commit()
        _at(patch, "2020-03-02 09:00:00")
        with UnitOfWork(db, actor(db, "zhouqiang"), reason=VOID_REASON) as uow:
            wms.void_material(uow, material.id)
            uow.commit()
    return material.id


def _export(db: Database, f: TrailFilter, fmt: str, login: str = "inspector") -> export.ExportFile:
    return export.export_trail(db, actor(db, login), f, fmt, translate=i18n.gettext)


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


@pytest.mark.clause("SH-7.1.3.e", "TJ-B.2.5", "TJ-10.1.1.2.c", "SH-7.1.5")
def test_the_csv_has_a_bom_the_tj_header_and_one_row_per_changed_field(db: Database, voided: int) -> None:
    result = _export(db, TrailFilter.for_object("material", str(voided), order="asc"), "csv")
    assert result.content.startswith("\ufeff".encode())
    rows = _csv_rows(result.content.removeprefix("\ufeff".encode()))
    assert rows[0] == HEADER
    created = [r for r in rows[1:] if r[2] == "create"]
    assert {r[6] for r in created} == {
        "id",
        "code",
        "name",
        "kind",
        "unit",
        "strength",
        "storage_condition",
        "created_at",
        "created_by",
    }
    name = next(r for r in created if r[6] == "name")
    assert name[1:6] == [f"material:{voided}", "create", "周强 (zhouqiang)", "2020-03-02 08:30:00", ""]
    assert name[7:] == ["", "黄芪（中药材）"]
    [void] = [r for r in rows[1:] if r[2] == "void"]
    assert void[4:8] == ["2020-03-02 09:00:00", VOID_REASON, "voided_at", ""]
    assert void[8].startswith("2020-03-02T01:00:00")  # values keep their stored UTC form
    assert len(rows) == 1 + len(created) + 1


@pytest.mark.clause("SH-7.1.3.e")
def test_every_export_is_itself_an_audit_event(db: Database, voided: int) -> None:
    _export(db, TrailFilter.for_object("material", str(voided)), "csv")
    entry = audit_entries(db)[-1]
    assert (entry.event, entry.object_type, entry.object_id) == (
        "audit.export",
        "audit_trail",
        f"material:{voided}",
    )
    assert (entry.actor_login, entry.actor_name) == ("inspector", "钱立")
    assert entry.changes == {
        "object_type": [None, "material"],
        "object_id": [None, str(voided)],
        "parts": [None, "1"],
        "format": [None, "csv"],
        "entries": [None, 2],
    }


def _fonts(reader: PdfReader) -> list[dict[str, object]]:
    """The font descriptors of every font on every page (CID fonts keep theirs in the descendant)."""
    descriptors = []
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].values():  # type: ignore[index]
            font = ref.get_object()
            for item in font.get("/DescendantFonts", [font]):
                descriptors.append(item.get_object()["/FontDescriptor"].get_object())
    return descriptors


@pytest.mark.clause("SH-7.1.3.e", "SH-7.1.5")
def test_the_pdf_embeds_a_chinese_font_and_prints_the_trail(db: Database, voided: int) -> None:
    result = _export(db, TrailFilter(since="2020-03-02", until="2020-03-02", object_type="material"), "pdf")
    assert result.content.startswith(b"%PDF-")
    assert result.media_type == "application/pdf"
    reader = PdfReader(io.BytesIO(result.content))
    fonts = _fonts(reader)
    assert fonts and all("/FontFile2" in f or "/FontFile3" in f for f in fonts)  # embedded, not referenced
    # fpdf2 writes 2-byte codes through its own encoding CMap, which pypdf reads a byte at a time: it
    # finds the right characters with a NUL before each (poppler's pdftotext reads it cleanly).
    text = reader.pages[0].extract_text().replace("\x00", "")
    assert i18n.gettext("Audit trail report") in text
    assert "黄芪（中药材）" in text and "周强 (zhouqiang)" in text and VOID_REASON in text
    assert "2020-03-02 09:00:00" in text and "钱立 (inspector)" in text
    pages = len(reader.pages)
    assert i18n.translate("Page {page} of {pages}", page=1, pages=pages) in text
    assert audit_entries(db)[-1].changes["format"] == [None, "pdf"]


@pytest.mark.clause("SH-7.1.3.e")
def test_a_pdf_too_large_to_print_is_refused_and_not_recorded(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PDF_LIMIT", 3)
    before = len(audit_entries(db))
    with pytest.raises(ValidationFailed):
        _export(db, TrailFilter(object_type="material"), "pdf")
    assert len(audit_entries(db)) == before


@pytest.mark.clause("SH-7.1.3.e")
def test_a_missing_chinese_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pdf.FONT_ENV, "/nonexistent/font.ttf")
    with pytest.raises(pdf.PdfFontMissing, match="PHARMATRACE_PDF_FONT"):
        pdf.pdf_font()
    monkeypatch.delenv(pdf.FONT_ENV)
    monkeypatch.setattr(pdf, "KNOWN_FONTS", ())
    with pytest.raises(pdf.PdfFontMissing, match="fonts-noto-cjk"):
        pdf.pdf_font()


@pytest.fixture
def inspector(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as client:
        assert (
            client.post("/login", data={"login": "inspector", "password": DEMO_PASSWORD}).status_code == 200
        )
        yield client


@pytest.mark.clause("SH-7.1.3.e")
def test_the_export_buttons_export_what_the_screen_shows(
    inspector: TestClient, db: Database, voided: int
) -> None:
    page = inspector.get(f"/audit?object_type=material&object_id={voided}")
    assert 'action="/audit/export"' in page.text and 'name="object_id" value="' in page.text
    response = inspector.post(
        "/audit/export", data={"object_type": "material", "object_id": str(voided), "format": "csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="audit-trail-')
    assert (
        len(_csv_rows(response.content.removeprefix("\ufeff".encode()))) == 1 + 9 + 1
    )  # header, 9 fields created, 1 voided
    printed = inspector.post("/audit/export", data={"event": "void", "format": "pdf"})
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF-")
    exports = audit_entries(db, event="audit.export")
    assert all(e.request_id and e.client_address for e in exports)  # the request's context reaches the export
    assert [(e.actor_login, e.changes["format"][1]) for e in exports] == [
        ("inspector", "csv"),
        ("inspector", "pdf"),
    ]


@pytest.mark.clause("SH-7.1.3.e")
def test_the_api_exports_csv_and_pdf(db: Database, voided: int) -> None:
    with TestClient(create_app(db)) as client:
        headers = token(client, "zhaomin")  # the qualified person
        response = client.get("/api/v1/audit/export?format=csv&event=void", headers=headers)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert VOID_REASON in response.content.decode("utf-8")
        wrong = client.get("/api/v1/audit/export?format=xls", headers=headers)
        assert wrong.status_code == 422
    [entry] = audit_entries(db, event="audit.export")
    assert entry.actor_login == "zhaomin" and entry.changes["event"] == [None, "void"]


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[CliRunner]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PHARMATRACE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PHARMATRACE_VAR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.clause("SH-7.1.3.a", "SH-7.1.3.e")
def test_the_cli_lists_functions_and_exports(cli: CliRunner, db: Database, voided: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    listing = cli.invoke(app, ["audit", "functions"])
    assert listing.exit_code == 0, listing.output
    assert "material" in listing.output and "login.failure" in listing.output

    result = cli.invoke(app, ["audit", "export", "--object", f"material:{voided}", "--since", "2020-03-02"])
    assert result.exit_code == 0, result.output
    rows = _csv_rows(result.stdout_bytes.removeprefix("\ufeff".encode()))
    assert rows[0] == HEADER and len(rows) == 1 + 9 + 1  # header, 9 fields created, 1 voided

    target = tmp_path / "trail.pdf"
    printed = cli.invoke(
        app, ["audit", "export", "--format", "pdf", "--until", "2020-03-02", "-o", str(target)]
    )
    assert printed.exit_code == 0, printed.output
    assert target.read_bytes().startswith(b"%PDF-")

    exports = audit_entries(db, event="audit.export")
    assert [e.changes["format"][1] for e in exports] == ["csv", "pdf"]
    assert all(e.actor_login.startswith("system:cli:") for e in exports)
    assert exports[1].changes["until"] == [None, "2020-03-02"]

    assert cli.invoke(app, ["audit", "export", "--object", "material"]).exit_code == 2
    assert cli.invoke(app, ["audit", "export", "--format", "xls"]).exit_code == 2


@pytest.mark.clause("SH-7.1.4.b", "SH-7.1.4.e", "SH-7.1.3.e")
def test_a_records_print_carries_its_signature_manifestation(db: Database) -> None:
    """Printed name, Beijing time, meaning and state of every signature appear on the record's print."""
    from pharmatrace.kernel.context import Actor
    from pharmatrace.kernel.esign import service as esign
    from pharmatrace.kernel.identity import service as identity

    with UnitOfWork(db, Actor.system("login")) as uow:
        user = identity.authenticate(uow, "chenjing", DEMO_PASSWORD)
        uow.commit()
    with db.sessions() as session:
        found = identity.find_user(session, "chenjing")
        assert found is not None
        qa = identity.principal_of(found)
    with UnitOfWork(db, qa.actor) as uow:
        signature = esign.sign(
            uow,
            qa,
            object_type="material",
            object_id="1",
            action_code="material.approve",
            password=DEMO_PASSWORD,
            login="chenjing",
        )
        uow.commit()
    result = _export(db, TrailFilter(object_type="material", object_id="1"), "pdf")
    text = PdfReader(io.BytesIO(result.content)).pages[0].extract_text().replace("\x00", "")
    assert i18n.gettext("Electronic signatures") in text
    assert "陈静 (chenjing)" in text and i18n.gettext("Approved") in text
    assert clock.format_beijing(signature.signed_at) in text and i18n.gettext("valid") in text
    assert user.login == "chenjing"
