"""The product quality review as a PDF/A report to review and sign (TJ-9.4): the demo's review with its number,
product and SM3, in Chinese by default, its print recorded in the audit trail with who printed it
(TJ-10.1.1.1); an earlier version by ``?version=`` with its signed approval and the signature's status at
printing; refused without ``qms.view`` (403) and for an unknown review (404), recording nothing."""

from __future__ import annotations

import io

import pypdfium2
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from demo_codes import demo_codes
from helpers import audit_entries, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.qms import pqr as service
from pharmatrace.qms.pqr_models import ProductQualityReview
from pharmatrace.storage.engine import Database

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on PostgreSQL (ADR 0003)


def _demo(db: Database) -> ProductQualityReview:
    with db.sessions() as session:
        found = session.scalar(select(ProductQualityReview).order_by(ProductQualityReview.id))
        assert found is not None
        return found


def _text(pdf: bytes, pages: int | None = None) -> str:
    # PDFium, as test_ebr_document: pypdf misreads this CJK font on a later page as soon as the page's glyphs
    # change (a signer's name "赵敏" came out as "PtPq" for a review compiled in another month)
    document = pypdfium2.PdfDocument(pdf)
    try:
        found = list(document)[:pages]
        return "\n".join(page.get_textpage().get_text_range() for page in found).replace("\r\n", "\n")
    finally:
        document.close()


@pytest.mark.clause("TJ-9.4", "SH-6.2.4", "TJ-10.1.1.1")
def test_the_demo_review_prints_as_pdfa_in_chinese_and_the_print_is_audited(
    client: TestClient, db: Database
) -> None:
    pqr = _demo(db)
    log_in(client, "chenjing")  # the plant's language: Chinese
    assert (
        f'href="/qms/pqr/{pqr.number}/pdf" data-testid="pdf-link"'
        in client.get(f"/qms/pqr/{pqr.number}").text
    )
    printed = client.get(f"/qms/pqr/{pqr.number}/pdf")
    assert printed.status_code == 200 and printed.headers["content-type"] == "application/pdf"
    xmp = PdfReader(io.BytesIO(printed.content)).xmp_metadata
    assert xmp is not None and pqr.number in xmp.dc_title["x-default"]
    assert "<pdfaid:part>2</pdfaid:part>" in xmp.rdf_root.toxml() and b"/OutputIntents" in printed.content
    text = _text(printed.content)
    flat = text.replace("\n", "")
    assert f"{pqr.number} v1" in text and "注射用丹红冻干粉" in text and "FG-DH-0200" in text
    # the SM3 of the compiled content and of the conclusions
    assert pqr.content_sm3 in flat and service.review_hash(pqr) in flat
    assert "产品质量回顾" in text and "审核中" in text  # the title and the status in Chinese
    first = _text(printed.content, pages=1)
    codes = demo_codes(db)  # the batch in progress, the deviation, the finished lot's test order, the change
    for row in (codes.batch_in_progress, "PKG-Y", codes.deviation(1), codes.test_order(2), codes.change(1)):
        assert row in first, row  # the rows of the sections on the first page
    entries = audit_entries(db, event="qms.pqr.pdf")
    assert [(e.actor_login, e.object_type, e.object_id) for e in entries] == [
        ("chenjing", "qms_pqr", str(pqr.id))
    ]
    assert entries[0].changes["content_sm3"] == [None, pqr.content_sm3]


@pytest.mark.clause("TJ-9.4", "SH-7.1.4", "TJ-10.1.1.1")
def test_an_earlier_version_prints_with_its_signature_and_refusals_record_nothing(
    client: TestClient, db: Database
) -> None:
    number = _demo(db).number
    qa, qp = token(client, "chenjing"), token(client, "zhaomin")
    approved = client.post(f"/api/v1/qms/pqr/{number}/approve", json={"password": DEMO_PASSWORD, "login": "zhaomin"},
                           headers=qp)  # fmt: skip
    assert approved.status_code == 200, approved.text
    corrected = client.post(f"/api/v1/qms/pqr/{number}/recompile", json={"reason": "更正收率"}, headers=qa)
    assert corrected.status_code == 200 and corrected.json()["version"] == 2, corrected.text
    log_in(client, "zhaomin", language="en")
    page = client.get(f"/qms/pqr/{number}", params={"version": 1}).text
    assert f'href="/qms/pqr/{number}/pdf?version=1" data-testid="pdf-link"' in page
    old = client.get(f"/qms/pqr/{number}/pdf", params={"version": 1})
    assert old.status_code == 200, old.text
    text = _text(old.content).replace("\n", " ")
    assert f"{number} v1" in text and "Superseded" in text
    assert "Approved" in text and "赵敏 (zhaomin)" in text and "Signature: valid" in text
    assert f"{number} v2" in _text(client.get(f"/qms/pqr/{number}/pdf").content)
    printed = len(audit_entries(db, event="qms.pqr.pdf"))
    assert printed == 2
    log_in(client, "zhangwei")  # an operator: no qms.view
    assert client.get(f"/qms/pqr/{number}/pdf").status_code == 403
    log_in(client, "chenjing")
    for url, params in ((f"/qms/pqr/{number}/pdf", {"version": 9}), ("/qms/pqr/PQR-1999-0001/pdf", {})):
        assert client.get(url, params=params).status_code == 404, url
    assert len(audit_entries(db, event="qms.pqr.pdf")) == printed
