"""Printed copies of controlled documents: numbered controlled copies, recorded reference copies, the
watermark on every page, refusals recorded, recall when a version is superseded, return and destruction
(TJ-9.2: 打印件的分发、撤销和销毁的电子记录; SH-6.3.3 文档回收管理)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy.exc import IntegrityError
from test_documents_distribution_steps import (
    CONTROLLER,
    approved_upload,
    copy_row,
    ensure_demo_documents,
    make_v2_effective,
    print_copy,
    version_id,
    withdraw,
)

from helpers import audit_entries, behind_the_apps_back, count_rows, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import distribution
from pharmatrace.documents.distribution_models import DocumentCopy
from pharmatrace.documents.distribution_schemas import CopyDestroy, CopyReturn
from pharmatrace.kernel.errors import Conflict, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app


@pytest.fixture
def plant(db: Database) -> Database:
    ensure_demo_documents(db)
    return db


def _pages(pdf: bytes) -> list[str]:
    # fpdf2's 2-byte codes come out of pypdf with a NUL before each character (see test_audit_export)
    return [page.extract_text().replace("\x00", "") for page in PdfReader(io.BytesIO(pdf)).pages]


def _return(db: Database, copy_id: int, note: str = "") -> DocumentCopy:
    controller = principal(db, CONTROLLER)
    with UnitOfWork(db, controller.actor) as uow:
        copy = distribution.record_return(uow, copy_id, CopyReturn(note=note))
        uow.commit()
        return copy


def _destroy(db: Database, copy_id: int, witness: str = "chenjing") -> DocumentCopy:
    controller = principal(db, CONTROLLER)
    with UnitOfWork(db, controller.actor) as uow:
        copy = distribution.record_destruction(uow, copy_id, CopyDestroy(method="shredding", witness=witness))
        uow.commit()
        return copy


# --- printing -----------------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-9.2", "SH-7.1.3")
def test_a_controlled_copy_is_recorded_and_watermarked_on_every_page(plant: Database) -> None:
    vid = version_id(plant, "MPR-DH-001", 1)
    copy_id, pdf = print_copy(plant, vid)
    copy = copy_row(plant, copy_id)
    assert (copy.kind, copy.copy_no, copy.printed_by, copy.printed_by_name) == (
        "controlled",
        1,
        CONTROLLER,
        "郑雪",
    )
    assert (copy.printer, copy.recipient, copy.purpose) == ("QA-HP-M406 文件室", "冻干岗位", "岗位使用")
    pages = _pages(pdf)
    assert len(pages) == copy.pages >= 1
    for text in pages:
        assert "受控副本" in text and "未受控副本" not in text
        assert "MPR-DH-001 第1版" in text and "副本号 Copy No. 1" in text
        assert "打印人 Printed by 郑雪 (zhengxue)" in text and "以电子系统现行版本为准" in text
        assert "（北京时间）" in text
    assert "注射用丹红冻干粉" in "".join(pages)  # the version's text itself
    (event,) = audit_entries(plant, event="document.print", object_id=str(copy_id))
    assert (event.object_type, event.object_id, event.actor_login) == (
        "document_copy",
        str(copy_id),
        CONTROLLER,
    )
    assert event.changes["copy_no"] == [None, 1] and event.changes["document"] == [None, "MPR-DH-001"]


@pytest.mark.clause("TJ-9.2")
def test_controlled_copy_numbers_are_sequential_per_version_and_reference_copies_are_not_numbered(
    plant: Database,
) -> None:
    first, second = version_id(plant, "SOP-PR-002", 1), version_id(plant, "SOP-PR-003", 1)
    printed = len(audit_entries(plant, event="document.print"))
    numbers = [copy_row(plant, print_copy(plant, first)[0]).copy_no for _ in range(3)]
    reference_id, reference_pdf = print_copy(plant, first, kind="uncontrolled")
    numbers.append(copy_row(plant, print_copy(plant, first)[0]).copy_no)
    assert numbers == [1, 2, 3, 4]
    assert copy_row(plant, print_copy(plant, second)[0]).copy_no == 1  # numbered per version
    reference = copy_row(plant, reference_id)
    assert (reference.kind, reference.copy_no) == ("uncontrolled", None)
    text = _pages(reference_pdf)[0]
    assert "未受控副本" in text and "副本号 Copy No. —" in text
    assert len(audit_entries(plant, event="document.print")) == printed + 6


@pytest.mark.clause("TJ-9.2")
def test_the_database_refuses_a_second_copy_with_the_same_number(plant: Database) -> None:
    vid = version_id(plant, "SOP-PR-001", 1)
    copy = copy_row(plant, print_copy(plant, vid)[0])
    columns = (
        "version_id, kind, copy_no, printer, recipient, location, purpose, pages, printed_at, printed_by, "
        "printed_by_name, return_note"
    )
    with pytest.raises(IntegrityError), behind_the_apps_back(plant) as conn:  # the same number again
        conn.exec_driver_sql(
            f"INSERT INTO document_copies ({columns}) SELECT {columns} FROM document_copies WHERE id = {copy.id}"
        )
    with pytest.raises(IntegrityError), behind_the_apps_back(plant) as conn:  # destroyed before returned
        conn.exec_driver_sql(
            "UPDATE document_copies SET destroyed_at = printed_at, destroyed_by = 'x', destruction_witness = 'y', "
            f"destruction_method = 'shredding' WHERE id = {copy.id}"
        )


@pytest.mark.clause("TJ-9.2", "SH-6.3.3", "SH-7.1.3")
def test_printing_a_superseded_version_as_a_controlled_copy_is_refused_and_recorded(plant: Database) -> None:
    old = version_id(plant, "SOP-PR-007", 1)  # superseded by the urgent change v2
    before, printed = count_rows(plant, DocumentCopy), len(audit_entries(plant, event="document.print"))
    with pytest.raises(distribution.PrintRefused) as refused:
        print_copy(plant, old)
    assert str(refused.value) == (
        "SOP-PR-007 v1 is Superseded: only the current effective version is printed as a controlled copy"
    )
    assert count_rows(plant, DocumentCopy) == before
    (entry,) = audit_entries(plant, event="document.print.refused")
    assert (entry.object_type, entry.object_id, entry.actor_login) == (
        "document_version",
        str(old),
        CONTROLLER,
    )
    assert entry.reason == str(refused.value) and entry.changes["kind"] == [None, "controlled"]
    assert len(audit_entries(plant, event="document.print")) == printed
    # a reference copy of the old version stays possible (an investigation), and is marked uncontrolled
    copy_id, _ = print_copy(plant, old, kind="uncontrolled")
    assert copy_row(plant, copy_id).copy_no is None


@pytest.mark.clause("TJ-9.2")
def test_a_version_in_review_is_not_printed_at_all(plant: Database) -> None:
    draft = version_id(plant, "SOP-PR-006", 2)
    for kind in ("controlled", "uncontrolled"):
        with pytest.raises(distribution.PrintRefused, match="In review"):
            print_copy(plant, draft, kind=kind)
    assert len(audit_entries(plant, event="document.print.refused")) == 2


def _original_pdf(pages: int) -> bytes:
    """A drawing as a plant would upload it (Latin text in a core font, the last sheet landscape)."""
    from fpdf import FPDF

    drawing = FPDF()
    drawing.set_font("helvetica", size=14)
    for number in range(1, pages + 1):
        drawing.add_page(orientation="L" if number == pages else "P")
        drawing.cell(0, 10, f"LYO-01 piping drawing, sheet {number}")
    return bytes(drawing.output())


@pytest.mark.clause("TJ-9.2")
def test_an_uploaded_pdf_prints_as_itself_with_every_page_stamped(plant: Database) -> None:
    vid = approved_upload(plant, "DWG-EQ-001", _original_pdf(3), "lyo-01.pdf")
    copy_id, pdf = print_copy(plant, vid)
    pages = _pages(pdf)
    assert len(pages) == copy_row(plant, copy_id).pages == 3  # the original's pages, not a retyped text
    for number, text in enumerate(pages, start=1):
        assert f"LYO-01 piping drawing, sheet {number}" in text
        assert "受控副本" in text and "副本号 Copy No. 1" in text and "郑雪" in text
        assert f"第 {number} 页 / 共 3 页" in text


@pytest.mark.clause("TJ-9.2", "SH-7.1.3")
def test_a_tampered_stored_file_is_not_printed(plant: Database) -> None:
    from pharmatrace.documents import store
    from pharmatrace.documents.models import DocumentVersion

    vid = approved_upload(plant, "DWG-EQ-002", _original_pdf(1), "lyo-02.pdf")
    with plant.sessions() as session:
        version = session.get(DocumentVersion, vid)
        assert version is not None and version.sm3 is not None
        store.path_of(plant, version.sm3).write_bytes(_original_pdf(2))
    before = count_rows(plant, DocumentCopy)
    with pytest.raises(store.StoredFileTampered):
        print_copy(plant, vid)
    assert count_rows(plant, DocumentCopy) == before


# --- recall, return, destruction ----------------------------------------------------------------------------


@pytest.mark.clause("TJ-9.2", "SH-6.3.3")
def test_copies_still_out_are_to_be_recalled_when_v2_becomes_effective(plant: Database) -> None:
    v1 = version_id(plant, "SOP-PR-006", 1)
    out_id = print_copy(plant, v1)[0]
    back_id = print_copy(plant, v1)[0]
    reference_id = print_copy(plant, v1, kind="uncontrolled")[0]
    _return(plant, back_id, "岗位换版前交回")
    with plant.sessions() as session:
        assert distribution.to_recall(session) == []
    make_v2_effective(plant, "SOP-PR-006")
    with plant.sessions() as session:
        recall = distribution.to_recall(session)
        statuses = {c.id: c.status for c in distribution.list_copies(session, number="SOP-PR-006")}
    assert out_id in {c.id for c in recall} and {(c.number, c.version) for c in recall} == {("SOP-PR-006", 1)}
    assert back_id not in {c.id for c in recall}  # the demo's copies at the filling station are recalled too
    assert (statuses[out_id], statuses[back_id], statuses[reference_id]) == (
        "to_recall",
        "returned",
        "uncontrolled",
    )
    with pytest.raises(distribution.PrintRefused, match="Superseded"):
        print_copy(plant, v1)
    v2_copy = copy_row(plant, print_copy(plant, version_id(plant, "SOP-PR-006", 2))[0])
    assert v2_copy.copy_no == 1


@pytest.mark.clause("TJ-9.2", "SH-6.3.3")
def test_a_withdrawn_documents_copies_are_to_be_recalled(plant: Database) -> None:
    copy_id = print_copy(plant, version_id(plant, "SOP-QA-001", 1))[0]
    withdraw(plant, "SOP-QA-001")
    with plant.sessions() as session:
        assert [c.id for c in distribution.to_recall(session)] == [copy_id]


@pytest.mark.clause("TJ-9.2")
def test_a_copy_cannot_be_destroyed_before_it_is_returned(plant: Database) -> None:
    copy_id = print_copy(plant, version_id(plant, "SOP-WH-001", 1))[0]
    with pytest.raises(distribution.CopyNotReturned) as refused:
        _destroy(plant, copy_id)
    assert str(refused.value) == (
        "Copy SOP-WH-001 v1 #1 has not been returned: it cannot be destroyed before it is back"
    )
    assert copy_row(plant, copy_id).destroyed_at is None
    _return(plant, copy_id, "换版收回")
    with pytest.raises(ValidationFailed, match="another person"):
        _destroy(plant, copy_id, witness=CONTROLLER)
    with pytest.raises(ValidationFailed, match="No active user"):
        _destroy(plant, copy_id, witness="nobody")
    _destroy(plant, copy_id)
    copy = copy_row(plant, copy_id)
    assert (copy.destroyed_by, copy.destruction_witness, copy.destruction_method) == (
        CONTROLLER,
        "chenjing",
        "shredding",
    )
    entries = [
        e
        for e in audit_entries(plant, object_type="document_copy", object_id=str(copy_id))
        if e.event == "update"
    ]
    assert [sorted(e.changes) for e in entries] == [
        ["return_note", "returned_at", "returned_by"],
        ["destroyed_at", "destroyed_by", "destruction_method", "destruction_witness"],
    ]
    assert entries[1].reason == "controlled copy destroyed (shredding), witness chenjing"
    with pytest.raises(Conflict, match="already destroyed"):
        _destroy(plant, copy_id)


@pytest.mark.clause("TJ-9.2")
def test_an_uncontrolled_copy_is_not_recalled(plant: Database) -> None:
    copy_id = print_copy(plant, version_id(plant, "SOP-PR-001", 1), kind="uncontrolled")[0]
    with pytest.raises(Conflict, match="not recalled"):
        _return(plant, copy_id)


# --- API, pages and permissions ------------------------------------------------------------------------------


@pytest.fixture
def client(plant: Database) -> Iterator[TestClient]:
    with TestClient(create_app(plant)) as test_client:
        yield test_client


@pytest.mark.clause("TJ-9.2", "SH-7.1.2")
def test_the_api_prints_the_pdf_and_records_return_and_destruction(
    plant: Database, client: TestClient
) -> None:
    vid = version_id(plant, "SOP-PR-004", 1)
    controller = token(client, CONTROLLER)
    body = {"kind": "controlled", "printer": "PR-01", "recipient": "超滤岗位", "purpose": "岗位使用"}
    printed = client.post(f"/api/v1/documents/versions/{vid}/prints", headers=controller, json=body)
    assert printed.status_code == 201, printed.text
    assert printed.headers["content-type"] == "application/pdf" and printed.headers["x-copy-no"] == "1"
    assert "受控副本" in _pages(printed.content)[0]
    copy_id = int(printed.headers["x-copy-id"])
    early = client.post(f"/api/v1/documents/copies/{copy_id}/destruction", headers=controller,
                        json={"method": "shredding", "witness": "chenjing"})  # fmt: skip
    assert early.status_code == 409 and early.json()["error"]["code"] == "copy_not_returned"
    back = client.post(
        f"/api/v1/documents/copies/{copy_id}/return", headers=controller, json={"note": "交回"}
    )
    assert back.status_code == 200 and back.json()["status"] == "returned"
    gone = client.post(f"/api/v1/documents/copies/{copy_id}/destruction", headers=controller,
                       json={"method": "incineration", "witness": "chenjing"})  # fmt: skip
    assert gone.status_code == 200 and gone.json()["status"] == "destroyed"
    params = {"status": "destroyed", "number": "pr-004"}
    listed = client.get("/api/v1/documents/copies", headers=controller, params=params).json()
    assert [c["id"] for c in listed] == [copy_id]
    bad = client.post(
        f"/api/v1/documents/versions/{vid}/prints", headers=controller, json={**body, "kind": "photo"}
    )
    assert bad.status_code == 422


@pytest.mark.clause("TJ-9.2", "SH-7.1.2", "TJ-10.1.2.2.c")
def test_who_may_not_print_or_recall_is_refused(plant: Database, client: TestClient) -> None:
    vid = version_id(plant, "SOP-PR-001", 1)
    body = {"kind": "controlled", "printer": "PR-01", "recipient": "x", "purpose": "岗位使用"}
    before, printed = count_rows(plant, DocumentCopy), len(audit_entries(plant, event="document.print"))
    for login in ("zhangwei", "chenjing", "zhaomin", "inspector"):  # documents.print is the controller's
        refused = client.post(
            f"/api/v1/documents/versions/{vid}/prints", headers=token(client, login), json=body
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_permitted", login
    admin = client.post(
        f"/api/v1/documents/versions/{vid}/prints", headers=token(client, "sysadmin"), json=body
    )
    assert admin.status_code == 403
    copy_id = print_copy(plant, vid)[0]
    operator = token(client, "zhangwei")
    assert (
        client.post(f"/api/v1/documents/copies/{copy_id}/return", headers=operator, json={}).status_code
        == 403
    )
    assert client.get("/api/v1/documents/copies", headers=operator).status_code == 200  # may see them
    assert count_rows(plant, DocumentCopy) == before + 1
    assert len(audit_entries(plant, event="document.print")) == printed + 1


@pytest.mark.clause("TJ-9.2", "SH-7.1.3.d")
def test_the_copies_dashboard_filters_and_a_copy_page_shows_its_trail(
    plant: Database, client: TestClient
) -> None:
    v1 = version_id(plant, "SOP-PR-006", 1)
    out = print_copy(plant, v1)[0]
    print_copy(plant, version_id(plant, "SOP-PR-001", 1))
    make_v2_effective(plant, "SOP-PR-006")
    client.post("/login", data={"login": CONTROLLER, "password": DEMO_PASSWORD})
    page = client.get("/documents/copies", params={"status": "to_recall"})
    assert page.status_code == 200
    assert (
        f'data-testid="copy-{out}"' in page.text
        and "SOP-PR-001" not in page.text.split('data-testid="copies"')[1]
    )
    detail = client.get(f"/documents/copies/{out}")
    assert 'data-testid="audit-trail"' in detail.text and 'data-testid="return-form"' in detail.text
    returned = client.post(f"/documents/copies/{out}/return", data={"note": "收回"})
    assert returned.status_code == 200 and 'data-testid="destroy-form"' in returned.text
    refused = client.post(
        f"/documents/copies/{out}/destruction", data={"method": "shredding", "witness": CONTROLLER}
    )
    assert refused.status_code == 422 and 'data-testid="error"' in refused.text
    printed = client.post(f"/documents/versions/{v1}/prints",
                          data={"kind": "controlled", "printer": "PR-01", "recipient": "x", "purpose": "岗位使用"})  # fmt: skip
    assert printed.status_code == 409 and 'data-testid="error"' in printed.text
    pdf = client.post(f"/documents/versions/{version_id(plant, 'SOP-PR-006', 2)}/prints",
                      data={"kind": "controlled", "printer": "PR-01", "recipient": "x", "purpose": "岗位使用"})  # fmt: skip
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
