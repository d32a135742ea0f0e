"""Shared steps of the receipt and lot tests: a delivery of 丹参 scanned in by the warehouse keeper."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from helpers import LOGIN_BY_ROLE, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import lots, receipts
from pharmatrace.wms.models import Container, Lot, Receipt
from pharmatrace.wms.schemas import ReceiptComplete, ReceiptCreate, ScanIn

KEEPER = LOGIN_BY_ROLE["warehouse_keeper"]
QC = LOGIN_BY_ROLE["qc_analyst"]
QA = LOGIN_BY_ROLE["qa_release"]
GTIN = "06901234567892"
SUPPLIER_LOT = "DS2611-T01"
MANUFACTURED = date(2026, 10, 8)
SHIPMENT = "SL-FY-2611-01"  # the demo base's shipment in transit (pharmatrace.origin.demo)


def delivery(**changes: Any) -> ReceiptCreate:
    values: dict[str, Any] = {
        "supplier_code": "SUP-SL-DS", "material_code": "HB-DS-001", "delivery_note": "SL-DN-2611-07",
        "supplier_lot": SUPPLIER_LOT, "manufacture_date": MANUFACTURED, "expected_containers": 3,
        "quantity_per_container": Decimal("25"),
        "origin_shipment": SHIPMENT,
    }  # fmt: skip
    values.update(changes)
    return ReceiptCreate(**values)


def gs1_label(serial: int, *, batch: str = SUPPLIER_LOT, expiry: str | None = None) -> str:
    """What a keyboard-wedge scanner types for the supplier's GS1 DataMatrix: ]d2, GS after variable AIs."""
    middle = f"17{expiry}" if expiry else ""
    return f"]d201{GTIN}{middle}10{batch}\x1d21{serial:04d}"


def create(db: Database, **changes: Any) -> int:
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        receipt = receipts.create_receipt(uow, delivery(**changes))
        uow.commit()
        return receipt.id


def scan(db: Database, receipt_id: int, label: str, **extra: Any) -> str:
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        container = receipts.scan(uow, receipt_id, ScanIn(scan=label, **extra))
        uow.commit()
        return container.code


def checks(**changes: Any) -> ReceiptComplete:
    values: dict[str, Any] = {"packaging_intact": True, "seals_intact": True, "labels_legible": True,
                              "password": DEMO_PASSWORD, "login": KEEPER}  # fmt: skip
    values.update(changes)
    return ReceiptComplete(**values)


def complete(db: Database, receipt_id: int, **changes: Any) -> None:
    keeper = principal(db, KEEPER)
    with UnitOfWork(db, keeper.actor) as uow:
        receipts.complete(uow, keeper, receipt_id, checks(**changes))
        uow.commit()


def received(db: Database, containers: int = 3, supplier_lot: str = SUPPLIER_LOT) -> tuple[int, int]:
    """A completed receipt of ``containers`` containers: (receipt ID, lot ID)."""
    receipt_id = create(db, expected_containers=containers, supplier_lot=supplier_lot)
    for serial in range(1, containers + 1):
        scan(db, receipt_id, gs1_label(serial, batch=supplier_lot))
    complete(db, receipt_id)
    return receipt_id, lot_of(db, receipt_id).id


def lot_of(db: Database, receipt_id: int) -> Lot:
    with db.sessions() as session:
        lot = receipts.get_receipt(session, receipt_id).lot
        session.expunge_all()
        return lot


def receipt(db: Database, receipt_id: int) -> Receipt:
    with db.sessions() as session:
        found = receipts.get_receipt(session, receipt_id)
        _ = found.lot.containers
        session.expunge_all()
        return found


def status(db: Database, lot_id: int) -> str:
    with db.sessions() as session:
        return lots.get_lot(session, lot_id).status


def counts(db: Database) -> tuple[int, int, int]:
    from helpers import count_rows

    return count_rows(db, Receipt), count_rows(db, Lot), count_rows(db, Container)


def in_days(days: int) -> date:
    return lots.today() + timedelta(days=days)


def scan_refusals(db: Database, receipt_id: int) -> list[tuple[str, str | None]]:
    """The refused scans recorded on the receipt (``receipt.scan.refused``): (what was scanned, why)."""
    from helpers import audit_entries

    found = audit_entries(
        db, event=receipts.SCAN_REFUSED_EVENT, object_type="receipt", object_id=str(receipt_id)
    )
    return [(e.changes["scan"][1], e.reason) for e in found]


def snapshot(db: Database, receipt_id: int) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The receipt's and its lot's audited values and the lot's container codes, to show nothing changed."""
    from pharmatrace.kernel import ledger

    found = receipt(db, receipt_id)
    return (ledger.record_values(found), ledger.record_values(found.lot),
            [c.code for c in found.lot.containers])  # fmt: skip
