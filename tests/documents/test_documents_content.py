"""Document content (TJ-9.2, SH-7.1.3): uploaded files stored outside the database under their SM3 hash and
refused when tampered with, full-text search (Chinese too), safe Markdown, and bad input refused with
nothing changed."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from test_documents_steps import AUTHOR, act, create

from pharmatrace.documents import service, store
from pharmatrace.documents.models import Document, DocumentDecision, DocumentVersion
from pharmatrace.documents.schemas import DocumentCreate
from pharmatrace.kernel.errors import Conflict, ValidationFailed
from pharmatrace.storage.engine import Database

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def docx(text: str) -> bytes:
    """A minimal Word document whose body is ``text``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="w"><w:body>'
            f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>",
        )
    return out.getvalue()


def _upload(db: Database, data: bytes, name: str, **fields: object) -> str:
    values: dict[str, object] = {
        "title": "灌装线验证方案",
        "doc_type": "validation_protocol",
        "department": "QA",
    }
    values.update(fields)
    body = DocumentCreate.model_validate(values)
    return act(
        db, AUTHOR, lambda uow, who: service.create_document(uow, who, body, (data, name)).document.number
    )


def _counts(db: Database) -> tuple[int, int, int]:
    with db.sessions() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Document, DocumentVersion, DocumentDecision)
        )


def _stored_files(db: Database) -> list[Path]:
    root = db.state_dir / "documents"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.clause("TJ-9.2", "SH-7.1.3")
def test_an_uploaded_file_is_kept_outside_the_database_under_its_sm3_and_a_tampered_file_is_refused(
    db: Database,
) -> None:
    number = _upload(db, PDF, "../../灌装线验证方案.pdf")
    with db.sessions() as session:
        version = service.get_version(session, number, 1)
        assert version.sm3 == store.sm3_hex(PDF) and version.media_type == "application/pdf"
        assert version.file_name == "灌装线验证方案.pdf" and version.size == len(PDF)
        path = store.path_of(db, version.sm3)
        assert path.is_relative_to(db.state_dir / "documents") and path.read_bytes() == PDF
        assert service.file_bytes(db, version) == PDF
        path.write_bytes(
            PDF.replace(b"Catalog", b"Catalof")
        )  # one byte changed behind the application's back
        with pytest.raises(store.StoredFileTampered) as refused:
            service.file_bytes(db, version)
        assert f"The stored file of {number} version 1 does not match its SM3 hash" in str(refused.value)
        path.unlink()
        with pytest.raises(store.StoredFileTampered) as missing:
            service.file_bytes(db, version)
        assert "is missing" in str(missing.value)


@pytest.mark.clause("TJ-9.2")
def test_search_finds_a_document_by_a_chinese_word_in_its_body(db: Database) -> None:
    with db.sessions() as session:
        found = [d.number for d in service.list_documents(session, text="板层温度")]  # only in the text
        assert found == ["SOP-PR-007"]
        assert [d.number for d in service.list_documents(session, text="sop-pr-00", doc_type="sop",
                                                         department="PR")][:2] == ["SOP-PR-001", "SOP-PR-002"]  # fmt: skip
        assert service.list_documents(session, text="不存在的词语") == []
    number = _upload(db, docx("无菌灌装工艺模拟试验"), "方案.docx")
    with db.sessions() as session:
        assert [d.number for d in service.list_documents(session, text="工艺模拟")] == [number]
        assert service.render_text(service.get_version(session, number, 1)).strip() == "无菌灌装工艺模拟试验"


def chinese_pdf(text: str) -> bytes:
    """A PDF as office software makes it: Chinese text in an embedded CID font (its text extracts with NULs)."""
    from fpdf import FPDF

    from pharmatrace.kernel.pdf import pdf_font

    path, face = pdf_font()
    pdf = FPDF()
    pdf.add_font("cjk", fname=str(path), collection_font_number=face)
    pdf.set_font("cjk", size=12)
    pdf.add_page()
    pdf.cell(0, 10, text)
    return bytes(pdf.output())


@pytest.mark.clause("SH-6.3.3", "TJ-9.2")
def test_an_uploaded_chinese_pdf_is_stored_and_found_by_its_text(db: Database) -> None:
    number = _upload(db, chinese_pdf("冻干机在线清洗验证报告"), "报告.pdf", doc_type="validation_report")
    with db.sessions() as session:
        assert [d.number for d in service.list_documents(session, text="冻干机在线清洗")] == [number]
        text = service.render_text(service.get_version(session, number, 1))
        assert "\x00" not in text and "冻干机" in text


@pytest.mark.clause("TJ-9.2")
def test_markdown_is_rendered_without_passing_raw_html(db: Database) -> None:
    number = create(
        db, markdown="# 标题\n\n<script>alert(1)</script>\n\n[链接](javascript:alert(1))\n\n- 步骤一"
    )
    with db.sessions() as session:
        html = str(service.render_html(service.get_version(session, number, 1)))
    assert "<h1>标题</h1>" in html and "<li>步骤一</li>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html and 'href="javascript:' not in html


@pytest.mark.clause("SH-6.3.3", "TJ-9.2")
def test_numbers_follow_the_rule_of_the_type_and_department(db: Database) -> None:
    assert create(db) == "SOP-PR-011"
    assert create(db, department="QA") == "SOP-QA-002"
    assert create(db, number="SOP-PR-120") == "SOP-PR-120"
    assert create(db) == "SOP-PR-121"


@pytest.mark.clause("TJ-9.2")
@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"doc_type": "memo"}, ValidationError),  # unknown type
        ({"number": "SOP_PR_1"}, ValidationError),  # malformed number
        ({"department": "生产部"}, ValidationError),
        ({"number": "SPEC-PR-001"}, ValidationFailed),  # well-formed, but not the prefix of an SOP
        ({"number": "SOP-PR-001"}, Conflict),  # taken
        ({"markdown": None}, ValidationFailed),  # no content at all
    ],
)
def test_bad_document_input_is_refused_and_changes_nothing(
    db: Database, fields: dict[str, object], error: type[Exception]
) -> None:
    before = _counts(db)
    with pytest.raises(error):
        create(db, **fields)
    assert _counts(db) == before


@pytest.mark.clause("TJ-9.2")
@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"GIF89a\x01\x00\x01\x00", "logo.pdf", "Only PDF, DOCX, PNG and JPEG files are accepted"),
        (b"PK\x03\x04not really a zip", "x.docx", "Only PDF, DOCX, PNG and JPEG files are accepted"),
        (b"%PDF-1.4\n" + b"0" * store.MAX_BYTES, "big.pdf", "at most 20971520 bytes are accepted"),
        (b"", "empty.pdf", "The file is empty"),
    ],
)
def test_an_oversize_or_unknown_file_is_refused_and_changes_nothing(
    db: Database, data: bytes, name: str, message: str
) -> None:
    before = _counts(db)
    with pytest.raises(store.UnsupportedFile) as refused:
        _upload(db, data, name)
    assert message in str(refused.value)
    assert _counts(db) == before and _stored_files(db) == []


@pytest.mark.clause("TJ-9.2")
def test_images_are_recognised_by_their_bytes_not_their_name() -> None:
    assert store.sniff(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert store.sniff(b"\xff\xd8\xff\xe0....") == "image/jpeg"
    assert store.sniff(docx("x")) == store.DOCX
    assert store.clean_name("C:\\temp\\图纸.PNG", "image/png") == "图纸.png"
    assert store.clean_name("report.exe", "application/pdf") == "report.pdf"
