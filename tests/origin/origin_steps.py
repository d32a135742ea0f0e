"""Shared steps of the origin tests: the demo bases' records, a herb delivery against a shipment, counts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from helpers import LOGIN_BY_ROLE, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.origin.models import (
    Crop,
    CultivationInput,
    Harvest,
    HerbLotOrigin,
    OriginFeedback,
    ProcessingStep,
    Shipment,
    ShipmentSource,
)
from pharmatrace.storage.engine import Database
from pharmatrace.wms import lots, receipts
from pharmatrace.wms.models import Lot, Receipt
from pharmatrace.wms.schemas import ReceiptComplete, ReceiptCreate, ScanIn

KEEPER = LOGIN_BY_ROLE["warehouse_keeper"]
QC = LOGIN_BY_ROLE["qc_analyst"]
QA = LOGIN_BY_ROLE["qa_release"]
QA_REVIEWER = LOGIN_BY_ROLE["qa_reviewer"]
IN_TRANSIT = "SL-FY-2611-01"  # the demo 丹参 shipment not received yet (600 kg)
SANQI_IN_TRANSIT = "WS-FY-2611-01"  # the demo 三七 shipment not received yet (200 kg)
ORIGIN_MODELS = (Crop, CultivationInput, Harvest, ProcessingStep, Shipment, ShipmentSource, HerbLotOrigin,
                 OriginFeedback, Receipt, Lot)  # fmt: skip


def today() -> date:
    return lots.today()


def ago(days: int) -> date:
    return today() - timedelta(days=days)


def counts(db: Database) -> tuple[int, ...]:
    return tuple(count_rows(db, model) for model in ORIGIN_MODELS)


def delivery(**changes: Any) -> ReceiptCreate:
    values: dict[str, Any] = {
        "supplier_code": "SUP-SL-DS", "material_code": "HB-DS-001", "delivery_note": "SL-DN-2611-31",
        "supplier_lot": "DS20261118", "manufacture_date": ago(3), "expected_containers": 4,
        "quantity_per_container": Decimal("25"), "origin_shipment": IN_TRANSIT,
    }  # fmt: skip
    values.update(changes)
    return ReceiptCreate(**values)


def create_receipt(db: Database, **changes: Any) -> int:
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        receipt = receipts.create_receipt(uow, delivery(**changes))
        uow.commit()
        return receipt.id


def receive(db: Database, **changes: Any) -> int:
    """A completed receipt against a shipment: the lot's ID."""
    receipt_id = create_receipt(db, **changes)
    keeper = principal(db, KEEPER)
    with db.sessions() as session:
        expected = receipts.get_receipt(session, receipt_id).expected_containers
    for n in range(1, expected + 1):
        with UnitOfWork(db, keeper.actor, reason="到货扫描") as uow:
            receipts.scan(uow, receipt_id, ScanIn(scan=f"商洛丹参 第{n}件 {receipt_id}"))
            uow.commit()
    with UnitOfWork(db, keeper.actor) as uow:
        checks = ReceiptComplete(packaging_intact=True, seals_intact=True, labels_legible=True,
                                 password=DEMO_PASSWORD, login=keeper.login)  # fmt: skip
        receipts.complete(uow, keeper, receipt_id, checks)
        uow.commit()
    with db.sessions() as session:
        return receipts.get_receipt(session, receipt_id).lot_id


def lot_id_of(db: Database, supplier_lot: str) -> int:
    with db.sessions() as session:
        found = session.scalar(select(Lot.id).where(Lot.supplier_lot == supplier_lot))
        assert found is not None, supplier_lot
        return found


def sample(db: Database, lot_id: int) -> None:
    qc = principal(db, QC)
    with UnitOfWork(db, qc.actor, reason="QC 取样") as uow:
        lots.start_testing(uow, lot_id)
        uow.commit()


def reject(db: Database, lot_id: int, reason: str) -> None:
    qa = principal(db, QA)
    with UnitOfWork(db, qa.actor, reason=reason) as uow:
        lots.reject(uow, qa, lot_id, DEMO_PASSWORD, qa.login)
        uow.commit()
