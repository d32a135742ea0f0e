"""The packaging record of a batch, read like the packaging SOP (TJ-6.4.6, TJ-B.2.3.4): opened on a packaging
step in progress, the line checked by one operator and verified by another, each printed material verified
against the effective version of its artwork with a specimen image, the printed batch number and expiry
checked, visual inspection counted, and the yield, balance and printed-material reconciliation held to limits.
"""

from __future__ import annotations

import struct
import zlib
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from dispensing_plant import count_new, new_order, run_step
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from helpers import actor, audit_entries, behind_the_apps_back, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import service as documents
from pharmatrace.documents.schemas import ApproveDecision, DocumentCreate, ReviewDecision, VersionCreate
from pharmatrace.kernel import clock
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, packaging
from pharmatrace.mes.execution_models import BatchException
from pharmatrace.mes.execution_schemas import StepComplete
from pharmatrace.mes.packaging_models import (
    PackagingLineCheck,
    PackagingRecord,
    PrintDataCheck,
    PrintedMaterialCheck,
    VisualInspection,
)
from pharmatrace.storage.engine import Database
from pharmatrace.wms.lots import add_months
from pharmatrace.wms.models import Material

PRODUCT = "FG-DH-0200"
CARTON = "SP-BOX-10"  # 小盒（10 支装）: one carton per 10 vials
INSTRUCTION = "SOP-PR-010"  # 包装岗位标准操作规程, the packaging instruction of the demo plant
SHELF_LIFE = 24


def png() -> bytes:
    """A real 1×1 PNG (a photo of the printed carton, as far as the tests care)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))


def give_shelf_life(db: Database, months: int = SHELF_LIFE) -> None:
    """The product's shelf life in the material master (test set-up, with its reason)."""
    with UnitOfWork(db, actor(db, "zhouqiang"), reason="test set-up: shelf life of the product") as uow:
        product = uow.session.scalar(select(Material).where(Material.code == PRODUCT))
        assert product is not None
        product.shelf_life_months = months
        uow.commit()


def _act(db: Database, login: str, work: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = work(uow, who)
        uow.commit()
        return result


def artwork(db: Database) -> str:
    """A controlled drawing (the carton's artwork) whose version 2 is effective and version 1 superseded."""
    body = DocumentCreate(title="丹红冻干粉小盒印刷稿", doc_type="drawing", department="PR",
                          markdown="# 小盒印刷稿\n\n品名、规格、批号、有效期位置。")  # fmt: skip
    number: str = _act(db, "lina", lambda uow, who: documents.create_document(uow, who, body).document.number)

    def through() -> None:
        _act(db, "lina", lambda uow, who: documents.submit(uow, who, number))
        review = ReviewDecision(password=DEMO_PASSWORD, login="chenjing")
        _act(db, "chenjing", lambda uow, who: documents.review(uow, who, number, review))
        approve = ApproveDecision(password=DEMO_PASSWORD, login="zhaomin")
        _act(db, "zhaomin", lambda uow, who: documents.approve(uow, who, number, approve))

    through()
    change = VersionCreate(change_summary="更换条码位置", change_control_ref="CC-2026-201")
    _act(db, "lina", lambda uow, who: documents.new_version(uow, who, number, change))
    through()
    with db.sessions() as session:
        current = documents.current_effective(session, number)
        assert current is not None and current.version == 2
    return number


@pytest.fixture
def line(db: Database) -> dict[str, Any]:
    """A released batch with its visual inspection and packaging steps in progress, the product's shelf life
    known and the carton's artwork at version 2."""
    batch = new_order(db)
    give_shelf_life(db)
    for step in ("VI-DE", "PKG-ID", "PKG-Y"):
        run_step(db, batch, step)
    return {"batch": batch, "artwork": artwork(db)}


def url(batch: str, tail: str = "") -> str:
    return f"/api/v1/mes/batches/{batch}/packaging{tail}"


OPEN = {"step": "PKG-ID", "bulk_batch_no": "", "pack_size": "10 支/盒", "bulk_quantity": "10100", "planned_quantity": "10000",
        "line": "包装线 1", "room": "RM-PACK", "instruction": INSTRUCTION}  # fmt: skip


def open_record(client: TestClient, batch: str, login: str = "zhangwei") -> dict[str, Any]:
    body = dict(OPEN, bulk_batch_no=batch)
    response = client.post(url(batch), json=body, headers=token(client, login))
    assert response.status_code == 201, response.text
    return dict(response.json())


def carton(client: TestClient, batch: str, art: str, version: int = 2) -> Any:
    body = {"step": "PKG-ID", "material": CARTON, "kind": "carton", "lot_number": "BX2611-03", "artwork": art,
            "artwork_version": version, "per_unit": "0.1"}  # fmt: skip
    return client.post(url(batch, "/materials"), json=body, headers=token(client, "zhangwei"))


CHECKS = [{"item": "无上批包装材料和标签", "result": "pass"}, {"item": "打印模板为本批", "result": "pass"},
          {"item": "清场合格证在有效期内", "result": "pass"}]  # fmt: skip


@pytest.mark.scenario
@pytest.mark.clause("TJ-6.4.6", "TJ-B.2.3.4", "TJ-6.3.2.3")
def test_the_whole_packaging_record_through_the_api(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch, art = line["batch"], line["artwork"]
    operator, other = token(client, "zhangwei"), token(client, "liuyang")
    record = open_record(client, batch)
    assert record["bulk_batch_no"] == batch and record["instruction_number"] == INSTRUCTION
    assert record["instruction_version"] >= 1 and record["shelf_life_months"] == SHELF_LIFE
    expiry = date.fromisoformat(record["expiry_date"])
    assert expiry == add_months(date.fromisoformat(record["manufacture_date"]), SHELF_LIFE)
    assert "the pre-packaging line check" in record["missing"]

    signed = {"password": DEMO_PASSWORD, "login": "zhangwei"}
    checked = client.post(url(batch, "/line-check"), json={"step": "PKG-ID", "checks": CHECKS, **signed},
                          headers=operator)  # fmt: skip
    assert checked.status_code == 201, checked.text
    verified = client.post(
        url(batch, "/line-check/verify"), json={"password": DEMO_PASSWORD, "login": "liuyang"}, headers=other
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["performed_by"] == "zhangwei" and verified.json()["verified_by"] == "liuyang"

    material = carton(client, batch, art)
    assert material.status_code == 201, material.text
    assert material.json()["artwork_number"] == art and material.json()["artwork_version"] == 2
    specimen = client.post(url(batch, f"/materials/{CARTON}/specimens"), data={"step": "PKG-ID"},
                           files={"image": ("carton.png", png(), "image/png")}, headers=operator)  # fmt: skip
    assert specimen.status_code == 201, specimen.text
    assert len(specimen.json()["sm3"]) == 64
    image = client.get(url(batch, f"/specimens/{specimen.json()['id']}"), headers=operator)
    assert image.status_code == 200 and image.content == png()

    printed = {
        "step": "PKG-ID",
        "material": CARTON,
        "printed_batch_no": batch,
        "printed_expiry": expiry.isoformat(),
    }
    assert client.post(url(batch, "/print-checks"), json=printed, headers=operator).status_code == 201

    counts = {"step": "VI-DE", "inspected": 10100, "good": 10000, "particles": 60, "glass": 10, "cracks": 30}
    inspection = client.post(url(batch, "/inspections"), json=counts, headers=operator)
    assert inspection.status_code == 201, inspection.text
    assert inspection.json()["rejected"] == 100 and Decimal(inspection.json()["reject_pct"]) == Decimal(
        "0.99"
    )

    balance = client.post(url(batch, "/balance"), json={"step": "PKG-Y", "finished": "10000", "samples": "20",
                                                        "rejects": "80"}, headers=operator)  # fmt: skip
    assert balance.status_code == 201, balance.text
    assert Decimal(balance.json()["yield_pct"]) == Decimal("99.01") and balance.json()["within_limits"]
    reconciled = client.post(url(batch, "/reconciliations"), json={"step": "PKG-Y", "material": CARTON,
                             "issued": 1020, "used": 1000, "destroyed": 15, "returned": 5}, headers=operator)  # fmt: skip
    assert reconciled.status_code == 201, reconciled.text
    assert reconciled.json()["within_limits"] and Decimal(reconciled.json()["expected_used"]) == 1000

    final = client.get(url(batch), headers=token(client, "inspector")).json()
    assert final["missing"] == []
    assert final["line_check"]["verified_by"] == "liuyang" and len(final["materials"][0]["specimens"]) == 1
    with db.sessions() as session:
        order = execution.get_order(session, batch)
        assert packaging.missing_evidence(session, order, "PKG-Y") == []
        assert not execution.exceptions_of(session, order)
        check = session.scalar(select(PackagingLineCheck))
        assert check is not None
        signatures = [
            s.action for s in packaging.esign.signatures_for(session, "packaging_line_check", str(check.id))
        ]
        assert sorted(signatures) == ["packaging.line_check.perform", "packaging.line_check.verify"]
        # the packaging part of the electronic batch record (TJ-B.2.3.4, 表 B.9), through the EBR's seam
        tables = {title: rows for title, _headings, rows in packaging.ebr_tables(session, order)}
        header = tables["Packaging record"][0]
        assert header[1] == batch and header[2] == "10 支/盒" and header[4] == expiry.isoformat()
        assert tables["Printed packaging materials"][0][3] == f"{art} v2"
        assert tables["Visual inspection"][0][1:4] == ["10100", "10000", "100"]
        assert tables["Printed material reconciliation"][0][:3] == [CARTON, "1020", "1000"]
        assert len(tables["Pre-packaging line check"]) == len(CHECKS)


@pytest.mark.clause("TJ-6.4.6", "TJ-6.4.3.3.i")
def test_the_engine_will_not_complete_packaging_steps_without_their_records(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch = line["batch"]
    zhangwei = principal(db, "zhangwei")
    data = StepComplete(
        values={"inspected": Decimal(10100), "rejected": Decimal(100)},
        password=DEMO_PASSWORD,
        login="zhangwei",
    )
    with UnitOfWork(db, zhangwei.actor) as uow, pytest.raises(execution.EvidenceMissing) as refused:
        execution.complete(uow, zhangwei, execution.get_order(uow.session, batch), "VI-DE", data)
    assert "visual inspection" in str(refused.value)
    with db.sessions() as session:
        order = execution.get_order(session, batch)
        assert packaging.missing_evidence(session, order, "PKG-Y") == ["the packaging record is not opened"]
        assert packaging.missing_evidence(session, order, "EXT-LC") == []
    open_record(client, batch)
    inspected = {"step": "VI-DE", "inspected": 100, "good": 100}
    assert (
        client.post(url(batch, "/inspections"), json=inspected, headers=token(client, "zhangwei")).status_code
        == 201
    )
    with UnitOfWork(db, zhangwei.actor) as uow:
        row = execution.complete(uow, zhangwei, execution.get_order(uow.session, batch), "VI-DE", data)
        uow.commit()
        assert row.state == "signing"


@pytest.mark.clause("TJ-6.4.6", "SH-6.3.3")
def test_a_printed_material_of_a_superseded_artwork_version_is_refused_and_recorded(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch, art = line["batch"], line["artwork"]
    record = open_record(client, batch)
    refused = carton(client, batch, art, version=1)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "packaging_refused"
    assert count_new(db, PrintedMaterialCheck) == 0
    events = audit_entries(db, event="mes.packaging.refused", object_id=str(record["id"]))
    assert len(events) == 1 and "effective version is 2" in (events[0].reason or "")
    not_artwork = carton(client, batch, INSTRUCTION, version=1)  # an SOP is no artwork
    assert not_artwork.status_code == 409
    assert len(audit_entries(db, event="mes.packaging.refused")) == 2
    assert carton(client, batch, art, version=2).status_code == 201


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.4.6", "TJ-B.2.3.4")
def test_a_wrong_printed_batch_or_expiry_is_refused_and_recorded(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch, art = line["batch"], line["artwork"]
    record = open_record(client, batch)
    assert carton(client, batch, art).status_code == 201
    expiry = date.fromisoformat(record["expiry_date"])
    operator = token(client, "zhangwei")
    for printed_batch, printed_expiry in ((batch[:-1] + "9", expiry), (batch, expiry + timedelta(days=1))):
        body = {"step": "PKG-ID", "material": CARTON, "printed_batch_no": printed_batch,
                "printed_expiry": printed_expiry.isoformat()}  # fmt: skip
        response = client.post(url(batch, "/print-checks"), json=body, headers=operator)
        assert response.status_code == 409 and response.json()["error"]["code"] == "packaging_refused"
    assert count_new(db, PrintDataCheck) == 0
    assert len(audit_entries(db, event="mes.packaging.refused", object_id=str(record["id"]))) == 2
    # the database holds the rule too
    with UnitOfWork(db, actor(db, "zhangwei")) as uow, pytest.raises(IntegrityError):
        uow.session.add(PrintDataCheck(
            record_id=record["id"], step_code="PKG-ID", material_code=CARTON, printed_batch_no=batch,
            printed_expiry=expiry + timedelta(days=1), expected_batch_no=batch, expected_expiry=expiry,
            checked_at=clock.now(), checked_by="zhangwei",
        ))  # fmt: skip
        uow.session.flush()


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.4.6")
def test_visual_inspection_totals_that_do_not_add_up_are_refused_by_the_service_and_the_database(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch = line["batch"]
    record = open_record(client, batch)
    bad = {"step": "VI-DE", "inspected": 1000, "good": 990, "particles": 5, "cracks": 4}  # 999 ≠ 1000
    response = client.post(url(batch, "/inspections"), json=bad, headers=token(client, "zhangwei"))
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_failed"
    assert count_new(db, VisualInspection) == 0
    with UnitOfWork(db, actor(db, "zhangwei")) as uow, pytest.raises(IntegrityError):
        uow.session.add(VisualInspection(
            record_id=record["id"], step_code="VI-DE", inspected=1000, good=990, rejected=9, particles=5, glass=0,
            fill_volume=0, cracks=4, cosmetic=0, other=0, reject_pct=Decimal("0.9"), inspected_at=clock.now(),
            inspected_by="zhangwei", inspected_by_name="张伟",
        ))  # fmt: skip
        uow.session.flush()


@pytest.mark.clause("TJ-6.4.6", "TJ-6.4.3.3.i")
def test_a_rejection_rate_above_the_limits_raises_an_exception(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch = line["batch"]
    open_record(client, batch)
    counts = {
        "step": "VI-DE",
        "inspected": 1000,
        "good": 960,
        "particles": 25,
        "glass": 15,
    }  # 4 % > 3 % action
    assert (
        client.post(url(batch, "/inspections"), json=counts, headers=token(client, "zhangwei")).status_code
        == 201
    )
    with db.sessions() as session:
        exceptions = execution.exceptions_of(session, execution.get_order(session, batch))
        assert [(e.step_code, e.kind) for e in exceptions] == [("VI-DE", "limit_excursion")]
        assert "action limit of 3.00 %" in execution.exception_text(exceptions[0])


@pytest.mark.clause("TJ-6.4.6", "TJ-6.3.2.3", "TJ-6.4.3.3.i")
def test_reconciliation_and_yield_out_of_limits_raise_exceptions(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch, art = line["batch"], line["artwork"]
    open_record(client, batch)
    operator = token(client, "zhangwei")
    assert carton(client, batch, art).status_code == 201
    early = client.post(url(batch, "/reconciliations"), json={"step": "PKG-Y", "material": CARTON, "issued": 1020,
                        "used": 1000}, headers=operator)  # fmt: skip
    assert early.status_code == 422  # the finished units come first
    balance = {"step": "PKG-Y", "finished": "9000", "samples": "20", "rejects": "80"}  # 89.11 % < 95 %
    assert (
        client.post(url(batch, "/balance"), json=balance, headers=operator).json()["within_limits"] is False
    )
    # 960 + 10 + 5 = 975 of 1020 issued: 95.59 %, outside 100 ± 0.5 %; 960 used against 900 expected
    body = {"step": "PKG-Y", "material": CARTON, "issued": 1020, "used": 960, "destroyed": 10, "returned": 5}
    reconciled = client.post(url(batch, "/reconciliations"), json=body, headers=operator)
    assert reconciled.status_code == 201 and reconciled.json()["within_limits"] is False
    with db.sessions() as session:
        exceptions = execution.exceptions_of(session, execution.get_order(session, batch))
        assert sorted(e.kind for e in exceptions) == ["limit_excursion", "limit_excursion", "yield_limit"]
        texts = " | ".join(execution.exception_text(e) for e in exceptions)
        assert "95.59 %" in texts and "960 used against 900" in texts


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.4.6", "TJ-6.4.3.3.c")
def test_the_verifier_of_the_line_check_must_be_another_person(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch = line["batch"]
    record = open_record(client, batch)
    operator = token(client, "zhangwei")
    body = {"step": "PKG-ID", "checks": CHECKS, "password": DEMO_PASSWORD, "login": "zhangwei"}
    assert client.post(url(batch, "/line-check"), json=body, headers=operator).status_code == 201
    same = client.post(
        url(batch, "/line-check/verify"),
        json={"password": DEMO_PASSWORD, "login": "zhangwei"},
        headers=operator,
    )
    assert same.status_code == 403 and same.json()["error"]["code"] == "segregation_of_duties"
    assert len(audit_entries(db, event="mes.packaging.refused", object_id=str(record["id"]))) == 1
    with db.sessions() as session:
        check = session.scalar(select(PackagingLineCheck).where(PackagingLineCheck.record_id == record["id"]))
        assert check is not None and check.verified_by is None
    with (
        UnitOfWork(db, actor(db, "zhangwei"), reason="test: forging the verifier") as uow,
        pytest.raises(IntegrityError),
    ):
        row = uow.session.scalar(
            select(PackagingLineCheck).where(PackagingLineCheck.record_id == record["id"])
        )
        assert row is not None
        row.verified_by, row.verified_at = "zhangwei", clock.now()
        uow.session.flush()
    failed = [dict(CHECKS[0], result="fail")]
    batch2 = new_order(db)
    run_step(db, batch2, "PKG-ID")
    open_record(client, batch2)
    refused = client.post(url(batch2, "/line-check"), json={"step": "PKG-ID", "checks": failed,
                          "password": DEMO_PASSWORD, "login": "zhangwei"}, headers=operator)  # fmt: skip
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "packaging_refused"
    events = audit_entries(db, event="mes.packaging.refused")
    assert "The line is not clear for packaging: 无上批包装材料和标签" in (events[-1].reason or "")
    assert count_new(db, PackagingLineCheck) == 1


@pytest.mark.clause("TJ-6.4.6")
def test_a_specimen_image_is_required_for_each_printed_material(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch, art = line["batch"], line["artwork"]
    open_record(client, batch)
    assert carton(client, batch, art).status_code == 201
    assert (
        f"a specimen image of {CARTON}"
        in client.get(url(batch), headers=token(client, "zhangwei")).json()["missing"]
    )
    not_an_image = client.post(url(batch, f"/materials/{CARTON}/specimens"), data={"step": "PKG-ID"},
                               files={"image": ("carton.txt", b"just text", "text/plain")},
                               headers=token(client, "zhangwei"))  # fmt: skip
    assert not_an_image.status_code == 422
    unknown = client.post(url(batch, "/materials/SP-LBL-99/specimens"), data={"step": "PKG-ID"},
                          files={"image": ("x.png", png(), "image/png")}, headers=token(client, "zhangwei"))  # fmt: skip
    assert unknown.status_code == 404
    missing = client.get(url(batch), headers=token(client, "zhangwei")).json()["missing"]
    assert f"a specimen image of {CARTON}" in missing


@pytest.mark.clause("TJ-6.4.6", "TJ-6.4.3.3")
def test_bad_input_is_refused_and_nothing_changes(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch = line["batch"]
    operator = token(client, "zhangwei")
    for bad in (
        dict(OPEN, bulk_batch_no=batch, bulk_quantity="-1"),
        dict(OPEN, bulk_batch_no=batch, step="EXT-LC"),  # not a packaging step, not in progress
        dict(OPEN, bulk_batch_no=batch, step="PKG-C"),  # a packaging step not in progress
        dict(OPEN, bulk_batch_no=batch, instruction="SOP-XX-999"),
        dict(OPEN, bulk_batch_no=batch, reject_alert_pct="5", reject_action_pct="3"),
        dict(OPEN, bulk_batch_no=batch, surprise="x"),
    ):
        response = client.post(url(batch), json=bad, headers=operator)
        assert 400 <= response.status_code < 500, (bad, response.text)
    assert (
        client.post(
            url(batch), json=dict(OPEN, bulk_batch_no=batch), headers=token(client, "inspector")
        ).status_code
        == 403
    )
    assert count_new(db, PackagingRecord) == 0
    assert client.get(url(batch), headers=operator).status_code == 404
    give_shelf_life_none(db)
    assert client.post(url(batch), json=dict(OPEN, bulk_batch_no=batch), headers=operator).status_code == 422
    give_shelf_life(db)
    open_record(client, batch)
    again = client.post(url(batch), json=dict(OPEN, bulk_batch_no=batch), headers=operator)
    assert again.status_code == 409
    assert count_new(db, BatchException) == 0


def give_shelf_life_none(db: Database) -> None:
    with UnitOfWork(db, actor(db, "zhouqiang"), reason="test set-up: shelf life unknown") as uow:
        product = uow.session.scalar(select(Material).where(Material.code == PRODUCT))
        assert product is not None
        product.shelf_life_months = None
        uow.commit()


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-10.1.6.1", "TJ-6.4.6")
def test_packaging_evidence_is_never_changed_or_deleted_even_with_raw_sql(
    db: Database, client: TestClient, line: dict[str, Any]
) -> None:
    batch = line["batch"]
    open_record(client, batch)
    counts = {"step": "VI-DE", "inspected": 100, "good": 100}
    assert (
        client.post(url(batch, "/inspections"), json=counts, headers=token(client, "zhangwei")).status_code
        == 201
    )
    for statement in (
        "UPDATE packaging_visual_inspections SET good = 99",
        "DELETE FROM packaging_visual_inspections",
    ):
        with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
            conn.execute(text(statement))
    with pytest.raises(DBAPIError, match="never deleted"), behind_the_apps_back(db) as conn:
        conn.execute(text("DELETE FROM packaging_records"))
    assert count_new(db, VisualInspection) == 1 and count_new(db, PackagingRecord) == 1
