"""Goods receipt by scanning (TJ-5.2.1.1): expected delivery, each container scanned, checks, signature."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError
from receiving import (
    GTIN,
    KEEPER,
    MANUFACTURED,
    QC,
    SUPPLIER_LOT,
    checks,
    complete,
    counts,
    create,
    delivery,
    gs1_label,
    in_days,
    lot_of,
    receipt,
    scan,
    scan_refusals,
    snapshot,
)
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from helpers import audit_entries, behind_the_apps_back, principal
from pharmatrace.codes.gs1 import InvalidElementString
from pharmatrace.kernel import clock, ledger
from pharmatrace.kernel.errors import (
    AuthenticationFailed,
    Conflict,
    NotPermitted,
    ReasonRequired,
    ValidationFailed,
)
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import codes, receipts
from pharmatrace.wms.models import CodeCounter, Container, Lot
from pharmatrace.wms.schemas import ScanIn
from pharmatrace.wms.service import SupplierNotApproved


@pytest.mark.clause("TJ-5.2.1.1", "TJ-6.3.1", "TJ-B.2.2.1", "SH-7.1.4")
def test_a_delivery_is_scanned_in_container_by_container_and_signed_by_the_receiver(db: Database) -> None:
    receipt_id = create(db)
    lot = lot_of(db, receipt_id)
    assert re.fullmatch(r"YC\d{4}\d{5}", lot.lot_number)  # AAYYMMBBBBB
    assert lot.lot_number[2:6] == clock.to_beijing(clock.now()).strftime("%y%m")
    assert (lot.status, lot.expiry_date, lot.retest_date) == ("quarantine", MANUFACTURED.replace(year=2028),
                                                              MANUFACTURED.replace(year=2027))  # fmt: skip
    first = scan(db, receipt_id, gs1_label(1))  # ]d2, FNC1 as GS, as a keyboard-wedge scanner types it
    second = scan(db, receipt_id, f"(01){GTIN}(10){SUPPLIER_LOT}(21)0002")  # the human-readable form
    third = scan(db, receipt_id, "商洛丹参 DS2611-T01 第3件", quantity=Decimal("24.5"))  # a plain label
    assert [first, second, third] == [f"{lot.lot_number}-{n:03d}" for n in (1, 2, 3)]
    complete(db, receipt_id, remarks="")
    done = receipt(db, receipt_id)
    assert (done.status, done.completed_by, done.packaging_intact) == ("completed", KEEPER, True)
    assert done.lot.quantity == Decimal("74.500")
    assert [c.supplier_scan for c in done.lot.containers] == [
        f"(01){GTIN}(10){SUPPLIER_LOT}(21)0001", f"(01){GTIN}(10){SUPPLIER_LOT}(21)0002", "商洛丹参 DS2611-T01 第3件",
    ]  # fmt: skip
    with db.sessions() as session:
        signatures = esign.manifestations(session, "receipt", str(receipt_id))
    assert [(s.action, s.meaning, s.signer_login, s.status) for s in signatures] == [
        ("receipt.complete", "performed", KEEPER, "valid")
    ]
    assert ledger.verify(db).intact  # Decimal quantities are stored as the ledger committed to them


@pytest.mark.clause("TJ-5.2.1.1", "SH-6.2.4")
@pytest.mark.parametrize(
    ("supplier", "material", "why"),
    [
        ("SUP-JN-STP", "PP-STOP-20", "江南医用胶塞有限公司 is suspended for 20 mm 冻干用覆膜胶塞"),
        (
            "SUP-SL-DS",
            "EXC-MAN-01",
            "商洛丹参规范化种植基地 is not on the approved-supplier list for 甘露醇（注射用）",
        ),
        (
            "SUP-YM-HH",
            "HB-HH-001",
            "The approval of 裕民红花种植合作社 for 红花（中药材） expired on 2026-10-31",
        ),
    ],
)
def test_a_delivery_from_a_supplier_without_a_valid_approval_is_refused(
    db: Database, supplier: str, material: str, why: str
) -> None:
    before = counts(db)
    with pytest.raises(SupplierNotApproved) as refused:
        create(db, supplier_code=supplier, material_code=material)
    assert str(refused.value) == why
    assert counts(db) == before


@pytest.mark.clause("TJ-5.2.1.1", "TJ-10.1.3.2.b")
def test_bad_dates_are_refused_at_the_edge_and_in_the_service(db: Database) -> None:
    with pytest.raises(ValidationError, match="expiry date is not after the manufacture date"):
        delivery(expiry_date=MANUFACTURED)
    with pytest.raises(ValidationError):
        delivery(quantity_per_container=Decimal(0))
    with pytest.raises(ValidationError):
        delivery(expected_containers=0)
    before = counts(db)
    with pytest.raises(ValidationFailed, match="expired on"):
        create(db, manufacture_date=in_days(-800), expiry_date=in_days(-1))
    with pytest.raises(ValidationFailed, match="in the future"):
        create(db, manufacture_date=in_days(2))
    assert counts(db) == before


@pytest.mark.clause("TJ-5.2.1.1", "TJ-6.3.1")
def test_the_supplier_label_expiry_is_used_and_checked_against_the_scan(db: Database) -> None:
    receipt_id = create(db, expiry_date=in_days(400))
    expiry = in_days(400).strftime("%y%m%d")
    assert lot_of(db, receipt_id).expiry_date == in_days(400)
    scan(db, receipt_id, gs1_label(1, expiry=expiry))
    with pytest.raises(Conflict, match=r"expiry date .* is not the lot's expiry date"):
        scan(db, receipt_id, gs1_label(2, expiry=in_days(401).strftime("%y%m%d")))


@pytest.mark.clause("TJ-5.2.1.1", "TJ-6.3.2.1", "SH-7.1.3.a")
def test_scans_that_do_not_belong_to_the_receipt_are_refused_and_change_nothing(db: Database) -> None:
    receipt_id = create(db, expected_containers=2)
    code = scan(db, receipt_id, gs1_label(1))
    before = counts(db)
    refusals = [
        (gs1_label(1), receipts.ScanRefused, "scanned before: container " + code),
        (f"(01){GTIN}(10){SUPPLIER_LOT}(21)0001", receipts.ScanRefused, "scanned before"),
        (gs1_label(2, batch="DS2611-X99"), receipts.ScanRefused, "batch DS2611-X99 is not the supplier lot"),
        (f"]d201{GTIN}21{9:04d}", receipts.ScanRefused, "no batch number"),
        ("]d20106901234567891", InvalidElementString, "check digit"),
        (f"(91){code}(10)X", receipts.ScanRefused, "our own container label"),
        (code, receipts.ScanRefused, "already container 1 of lot"),
        (code[:-3] + "777", receipts.ScanRefused, "Unknown container code"),
    ]
    for label, error, message in refusals:
        with pytest.raises(error, match=message):
            scan(db, receipt_id, label)
    assert counts(db) == before
    assert len(scan_refusals(db, receipt_id)) == len(refusals)  # each refusal recorded (SH-7.1.3.a)
    scan(db, receipt_id, "PLAIN-LABEL-2")
    with pytest.raises(Conflict, match="All 2 containers expected are received"):
        scan(db, receipt_id, gs1_label(3))
    assert counts(db)[2] == before[2] + 1
    assert scan_refusals(db, receipt_id)[-1][1] == (
        "All 2 containers expected are received; a further container is refused"
    )


@pytest.mark.clause("TJ-5.2.1.1", "TJ-6.3.2.1", "SH-7.1.3.a")
def test_a_gs1_serial_received_in_another_lot_is_a_duplicate(db: Database) -> None:
    first = create(db)
    code = scan(db, first, gs1_label(1))
    second = create(db)
    with pytest.raises(receipts.ScanRefused, match="scanned before"):
        scan(db, second, gs1_label(1))
    assert scan_refusals(db, second) == [
        (f"]d201{GTIN}10{SUPPLIER_LOT}<GS>210001", f"This label was scanned before: container {code}")
    ]
    assert scan_refusals(db, first) == []  # recorded on the receipt that refused it


@pytest.mark.clause("TJ-5.2.1.1", "SH-7.1.3.a", "TJ-10.1.1.2.b")
def test_each_refused_scan_is_recorded_once_with_its_reason_and_nothing_else_changes(db: Database) -> None:
    receipt_id = create(db, expected_containers=2, expiry_date=in_days(400))
    code = scan(db, receipt_id, gs1_label(1))
    lot_number = code[:-4]
    cases = [
        (gs1_label(1), f"This label was scanned before: container {code}"),
        (gs1_label(2, batch="DS2611-X99"),
         f"The label's batch DS2611-X99 is not the supplier lot {SUPPLIER_LOT} of this receipt"),
        (gs1_label(2, expiry=in_days(401).strftime("%y%m%d")),
         f"The label's expiry date {in_days(401).isoformat()} is not the lot's expiry date {in_days(400).isoformat()}"),
        ("]d20106901234567891", "The check digit of (01) 06901234567891 is wrong"),
        (f"{lot_number}-777", f"Unknown container code {lot_number}-777"),
        ("abc\x07def", "The scan is not a label this receipt can take"),
    ]  # fmt: skip
    before_counts, before = counts(db), snapshot(db, receipt_id)
    entries_before = len(audit_entries(db))
    for number, (label, why) in enumerate(cases, start=1):
        with pytest.raises((receipts.ScanRefused, InvalidElementString)) as refused:
            scan(db, receipt_id, label, quantity=Decimal("24.5"))
        assert str(refused.value) == why  # the scanner sees the reason
        recorded = scan_refusals(db, receipt_id)
        assert len(recorded) == number  # recorded once
        assert recorded[-1] == (receipts.shown_scan(label), why)  # what was scanned, why: English msgid form
        assert counts(db) == before_counts and snapshot(db, receipt_id) == before  # nothing else changed
        assert len(audit_entries(db)) == entries_before + number  # the refusal is the only entry written
    [shown] = [s for s, _ in scan_refusals(db, receipt_id) if "abc" in s]
    assert shown == "abc<0x07>def"
    last = audit_entries(db, event=receipts.SCAN_REFUSED_EVENT)[-1]
    assert (last.actor_login, last.changes["quantity"]) == (KEEPER, [None, "24.5"])
    scan(db, receipt_id, gs1_label(2))  # the receipt goes on
    with pytest.raises(receipts.ScanRefused, match="All 2 containers"):
        scan(db, receipt_id, gs1_label(3))
    assert len(scan_refusals(db, receipt_id)) == len(cases) + 1
    assert len(receipt(db, receipt_id).lot.containers) == 2
    assert ledger.verify(db).intact


@pytest.mark.clause("TJ-5.2.1.1", "SH-7.1.3.a")
def test_a_refused_scan_takes_back_what_its_unit_of_work_wrote_before(db: Database) -> None:
    receipt_id = create(db)
    before, containers_before = snapshot(db, receipt_id), counts(db)[2]
    trail_before = len(audit_entries(db))
    with pytest.raises(receipts.ScanRefused), UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        receipts.scan(uow, receipt_id, ScanIn(scan=gs1_label(1)))  # accepted, not committed
        receipts.scan(uow, receipt_id, ScanIn(scan=gs1_label(1)))  # the same label again: refused
        uow.commit()
    assert snapshot(db, receipt_id) == before  # the first container is gone with the refused operation
    assert counts(db)[2] == containers_before
    assert [e.event for e in audit_entries(db)[trail_before:]] == [receipts.SCAN_REFUSED_EVENT]
    assert scan(db, receipt_id, gs1_label(1)).endswith("-001")  # the label was never taken


@pytest.mark.clause("TJ-5.2.1.1", "SH-7.1.4", "SH-7.1.4.a")
def test_completion_needs_the_count_the_checks_and_the_receivers_password(db: Database) -> None:
    receipt_id = create(db)
    with pytest.raises(Conflict, match="No container has been scanned"):
        complete(db, receipt_id)
    scan(db, receipt_id, gs1_label(1))
    scan(db, receipt_id, gs1_label(2, expiry=None))
    with pytest.raises(Conflict, match="2 of 3 containers are scanned"):
        complete(db, receipt_id)
    with pytest.raises(ValidationFailed, match="needs a remark"):
        complete(
            db, receipt_id, seals_intact=False, short_delivery_reason="供应商少发一件，补发单 SL-2611-07B"
        )
    with pytest.raises(AuthenticationFailed):
        complete(db, receipt_id, password="Wrong#2026", short_delivery_reason="供应商少发一件")
    assert receipt(db, receipt_id).status == "open"  # nothing of the completion was kept
    assert audit_entries(db, event="esign.failure")[-1].actor_login == KEEPER  # the failure is recorded
    qc = principal(db, QC)
    with UnitOfWork(db, qc.actor) as uow, pytest.raises(NotPermitted):
        receipts.complete(uow, qc, receipt_id, checks(login=QC, short_delivery_reason="少发一件"))
    complete(db, receipt_id, seals_intact=False, remarks="第2件封签破损，已拍照",
             short_delivery_reason="供应商少发一件，补发单 SL-2611-07B")  # fmt: skip
    done = receipt(db, receipt_id)
    assert (done.status, done.seals_intact, done.short_delivery_reason) == (
        "completed", False, "供应商少发一件，补发单 SL-2611-07B",
    )  # fmt: skip
    assert done.lot.quantity == Decimal("50.000")
    with pytest.raises(Conflict, match="is complete"):
        scan(db, receipt_id, gs1_label(3))
    with pytest.raises(Conflict, match="is complete"):
        complete(db, receipt_id)


@pytest.mark.clause("TJ-6.3.1", "TJ-B.2.2.1", "SH-7.1.3")
def test_the_code_rule_is_a_site_setting_changed_with_a_reason(db: Database) -> None:
    with db.sessions() as session:
        assert codes.code_rule(session).type_codes["excipient"] == "FL"
    with pytest.raises(ValidationError, match="serial"):
        codes.CodeRuleUpdate(pattern="{type}{yy}{mm}", reason="no serial")
    with pytest.raises(ValidationError, match="same type code"):
        codes.CodeRuleUpdate(type_codes={**codes.DEFAULT_TYPE_CODES, "extract": "YC"}, reason="duplicate")
    update = codes.CodeRuleUpdate(pattern="{type}{yyyy}{mm}{serial}", serial_digits=4,
                                  type_codes={**codes.DEFAULT_TYPE_CODES, "herb": "ZY"}, reason="SOP-WM-003 第2版")  # fmt: skip
    with UnitOfWork(db, principal(db, "sysadmin").actor) as uow:
        codes.set_code_rule(uow, update)
        uow.commit()
    change = audit_entries(db, object_type="setting", object_id=codes.SETTINGS_KEY)[-1]
    assert change.reason == "SOP-WM-003 第2版"
    receipt_id = create(db)
    year_month = clock.to_beijing(clock.now()).strftime("%Y%m")
    assert re.fullmatch(rf"ZY{year_month}\d{{4}}", lot_of(db, receipt_id).lot_number)


@pytest.mark.clause("TJ-B.2.2.1", "TJ-6.3.1")
def test_the_month_is_the_beijing_month_of_receipt(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # 2026-11-30 17:00 UTC is already 1 December in Beijing
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 11, 30, 17, 0, tzinfo=UTC))
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        first = codes.next_lot_number(uow.session, "excipient")
        second = codes.next_lot_number(uow.session, "excipient")
        other = codes.next_lot_number(uow.session, "primary_packaging")
        uow.commit()
    assert first[:6] == "FL2612" and int(second[6:]) == int(first[6:]) + 1 and other.startswith("NB2612")


@pytest.mark.clause("TJ-6.3.1", "TJ-B.2.2.1")
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # row locks are PostgreSQL's
def test_two_receipts_at_once_never_draw_the_same_serial(db: Database) -> None:
    keeper = principal(db, KEEPER).actor
    drawn: list[str] = []
    first_holds = threading.Event()
    with UnitOfWork(db, keeper) as first:
        drawn.append(codes.next_lot_number(first.session, "herb"))

        def second() -> None:
            with UnitOfWork(db, keeper) as other:
                first_holds.set()
                drawn.append(codes.next_lot_number(other.session, "herb"))  # waits for the row lock
                other.commit()

        worker = threading.Thread(target=second)
        worker.start()
        first_holds.wait(5)
        worker.join(0.5)
        assert worker.is_alive()  # blocked on the counter row until the first commits
        first.commit()
    worker.join(10)
    assert len(set(drawn)) == 2 and int(drawn[1][6:]) == int(drawn[0][6:]) + 1


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.3.1", "TJ-10.1.6.1", "SH-8.4.5")
def test_codes_are_unique_in_the_database_and_rows_are_never_deleted(db: Database) -> None:
    receipt_id = create(db)
    code = scan(db, receipt_id, gs1_label(1))
    lot = lot_of(db, receipt_id)
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow, pytest.raises(IntegrityError):
        uow.session.add(Container(code=code, lot_id=lot.id, number=2, quantity=Decimal(1), unit="kg",
                                  damaged=False, created_at=clock.now(), created_by=KEEPER))  # fmt: skip
        uow.session.flush()
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow, pytest.raises(IntegrityError):
        uow.session.add(Container(code=code + "X", lot_id=lot.id, number=2, quantity=Decimal(0), unit="kg",
                                  damaged=False, created_at=clock.now(), created_by=KEEPER))  # fmt: skip
        uow.session.flush()
    for table in ("lots", "containers", "receipts", "code_counters"):
        with pytest.raises(DBAPIError, match="refused"), behind_the_apps_back(db) as conn:
            conn.execute(text(f"DELETE FROM {table}"))
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # CHECK constraint
        conn.execute(text("UPDATE lots SET status = 'approved_by_me' WHERE id = :id"), {"id": lot.id})
    with pytest.raises(DBAPIError, match="outside the unit of work"), db.engine.begin() as conn:
        conn.execute(text("UPDATE code_counters SET last_serial = 0"))
    with db.sessions() as session:
        assert (
            session.scalar(select(CodeCounter.last_serial).where(CodeCounter.prefix.like("YC%"))) is not None
        )
        assert session.scalar(select(Lot.status).where(Lot.id == lot.id)) == "quarantine"


@pytest.mark.clause("TJ-5.2.1.1", "TJ-6.3.2.1")
def test_a_scan_needs_some_text(db: Database) -> None:
    with pytest.raises(ValidationError):
        ScanIn(scan="")
    receipt_id = create(db)
    with pytest.raises(Conflict, match="not a label"):
        scan(db, receipt_id, "abc\x07def")


@pytest.mark.clause("TJ-B.2.2.1", "TJ-10.1.1.2.d", "SH-7.1.2")
def test_the_administrator_changes_the_code_rule_through_the_api(db: Database) -> None:
    from fastapi.testclient import TestClient

    from helpers import token
    from pharmatrace.web.app import create_app

    with TestClient(create_app(db)) as client:
        keeper = token(client, KEEPER)
        assert (
            client.get("/api/v1/wms/code-rule", headers=keeper).json()["pattern"] == "{type}{yy}{mm}{serial}"
        )
        body = {"pattern": "{type}{yy}{mm}{serial}", "serial_digits": 6,
                "type_codes": {**codes.DEFAULT_TYPE_CODES, "extract": "TJ"}, "reason": "SOP-WM-003 修订"}  # fmt: skip
        assert client.put("/api/v1/wms/code-rule", headers=keeper, json=body).status_code == 403
        admin = token(client, "sysadmin")
        bad = client.put("/api/v1/wms/code-rule", headers=admin, json={**body, "pattern": "{type}-{serial}"})
        assert bad.status_code == 422
        changed = client.put("/api/v1/wms/code-rule", headers=admin, json=body)
        assert changed.status_code == 200, changed.text
        assert client.get("/api/v1/wms/code-rule", headers=keeper).json()["type_codes"]["extract"] == "TJ"
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        assert re.fullmatch(r"TJ\d{4}\d{6}", codes.next_lot_number(uow.session, "extract"))


@pytest.mark.clause("TJ-10.1.6.1", "TJ-10.1.1.2.c", "TJ-5.2.1.1")
def test_a_receipt_started_in_error_is_voided_with_a_reason_never_deleted(db: Database) -> None:
    receipt_id = create(db)
    scan(db, receipt_id, gs1_label(1))
    keeper = principal(db, KEEPER).actor
    with UnitOfWork(db, keeper) as uow, pytest.raises(ReasonRequired):
        receipts.void_receipt(uow, receipt_id)
        uow.commit()
    with UnitOfWork(db, keeper, reason="送货单与到货不符，重新登记") as uow:
        receipts.void_receipt(uow, receipt_id)
        uow.commit()
    voided = receipt(db, receipt_id)
    assert voided.voided_at is not None and voided.lot.voided_at is not None
    assert all(c.voided_at is not None for c in voided.lot.containers)
    with pytest.raises(Conflict, match="is void"):
        scan(db, receipt_id, gs1_label(2))
    assert [e.event for e in audit_entries(db, object_type="receipt", object_id=str(receipt_id))][
        -1
    ] == "void"
    complete_id = create(db, supplier_lot="DS2611-T09")
    scan(db, complete_id, gs1_label(1, batch="DS2611-T09"))
    complete(db, complete_id, short_delivery_reason="少发两件")
    with UnitOfWork(db, keeper, reason="x 错误") as uow, pytest.raises(Conflict, match="is complete"):
        receipts.void_receipt(uow, complete_id)
