"""Demo lots: received by scanning, in the statuses a warehouse shows (quarantine, under test, released,
rejected). Everything goes through the service functions and signatures of a real receipt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import lots, receipts
from pharmatrace.wms.models import Lot
from pharmatrace.wms.schemas import ReceiptComplete, ReceiptCreate, ScanIn

GTIN = "06901234567892"  # a demo GTIN (valid check digit)


@dataclass(frozen=True, slots=True)
class DemoLot:
    supplier: str
    material: str
    supplier_lot: str
    days_old: int
    containers: int
    per_container: Decimal
    status: str  # quarantine | under_test | released | rejected
    gs1: bool = True
    shipment: str = ""  # a herb lot from a planting base: the base's shipment (pharmatrace.origin.demo)


DEMO_LOTS: tuple[DemoLot, ...] = (
    DemoLot("SUP-SL-DS", "HB-DS-001", "DS20260915", 60, 4, Decimal("25"), "released", True, "SL-FY-2609-01"),
    DemoLot("SUP-SL-DS", "HB-DS-001", "DS20261020", 20, 3, Decimal("25"), "quarantine", False, "SL-FY-2610-01"),
    DemoLot("SUP-WS-SQ", "HB-SQ-001", "SQ20261025", 36, 4, Decimal("20"), "under_test", True, "WS-FY-2610-01"),
    DemoLot("SUP-TL-MAN", "EXC-MAN-01", "MN2610-118", 40, 5, Decimal("25"), "under_test"),
    DemoLot("SUP-LZ-GLS", "PP-VIAL-10", "GL261002", 30, 2, Decimal("5000"), "rejected"),
)  # fmt: skip


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None
        return identity.principal_of(user)


def seed_lots(db: Database, password: str) -> int:
    """Receive the demo lots unless lots exist already; returns how many were added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(Lot)):
            return 0
    keeper, qc, qa = (_principal(db, login) for login in ("zhouqiang", "wangfang", "zhaomin"))
    for demo in DEMO_LOTS:
        with UnitOfWork(db, keeper.actor) as uow:
            receipt = receipts.create_receipt(uow, ReceiptCreate(
                supplier_code=demo.supplier, material_code=demo.material, delivery_note=f"DN-{demo.supplier_lot}",
                supplier_lot=demo.supplier_lot, manufacture_date=lots.today() - timedelta(days=demo.days_old),
                expected_containers=demo.containers, quantity_per_container=demo.per_container,
                origin_shipment=demo.shipment,
            ))  # fmt: skip
            uow.commit()
            receipt_id, lot_id = receipt.id, receipt.lot_id
        for n in range(1, demo.containers + 1):
            label = (
                f"]d201{GTIN}10{demo.supplier_lot}\x1d21{n:04d}"
                if demo.gs1
                else f"{demo.supplier_lot} 第{n}件"
            )
            with UnitOfWork(db, keeper.actor) as uow:
                receipts.scan(uow, receipt_id, ScanIn(scan=label))
                uow.commit()
        with UnitOfWork(db, keeper.actor) as uow:
            checks = ReceiptComplete(packaging_intact=True, seals_intact=True, labels_legible=True,
                                     password=password, login=keeper.login)  # fmt: skip
            receipts.complete(uow, keeper, receipt_id, checks)
            uow.commit()
        if demo.status == "quarantine":
            continue
        with UnitOfWork(db, qc.actor, reason="QC sampling (demo)") as uow:
            lots.start_testing(uow, lot_id)
            uow.commit()
        if demo.status == "released":
            with UnitOfWork(db, qa.actor, reason="all tests conform to the specification (demo)") as uow:
                lots.release(uow, qa, lot_id, password, qa.login)
                uow.commit()
        elif demo.status == "rejected":
            with UnitOfWork(
                db, qa.actor, reason="visible particles in the vials: out of specification (demo)"
            ) as uow:
                lots.reject(uow, qa, lot_id, password, qa.login)
                uow.commit()
    return len(DEMO_LOTS)
