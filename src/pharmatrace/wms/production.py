"""Finished product from production into the warehouse (成品入库, TJ-6.3.4, TJ-9.1, TJ-5.2.1.2).

A batch's finished product enters the warehouse as a lot in quarantine (待验) — called by the MES hand-over
(:mod:`pharmatrace.mes.handover`) in the batch completion's own transaction:

* the product's finished-good material master (kind ``finished_good``, code = the product code);
* lot number = the batch number, and the supplier lot too: the batch number is recorded on the lot and the LIMS
  links the batch's samples, tests and certificate to it; the plant itself is the lot's maker (the supplier
  :data:`OWN_SUPPLIER`, created once with the first lot, audited);
* one container (件) holding the good quantity, put in the receiving area like a received container
  (:func:`pharmatrace.wms.stock.receive`), so QC samples it the usual way;
* manufacture and expiry dates as given (the packaging record's, or the batch's start plus the material's shelf
  life). The status then moves only through the lot's events (:mod:`pharmatrace.wms.lots`).

Idempotent: one lot per batch number (``lots.lot_number`` is UNIQUE); a second call returns the first lot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.wms import codes, stock
from pharmatrace.wms.models import Container, Lot, Material, Supplier

OWN_SUPPLIER = "OWN-PLANT"  # the plant as the maker of its own products (本厂)
OWN_SUPPLIER_NAME = "本厂（自产成品）"


@dataclass(frozen=True, slots=True)
class ProductionOutput:
    """What a batch hands over: its product, batch number, good quantity and dates."""

    product_code: str
    batch_no: str
    quantity: Decimal
    manufacture_date: date
    expiry_date: date | None


def finished_material(session: Session, product_code: str) -> Material | None:
    """The product's finished-good material master, or None (an intermediate or unknown product)."""
    return session.scalar(select(Material).where(
        Material.code == product_code, Material.kind == "finished_good", Material.voided_at.is_(None),
    ))  # fmt: skip


def lot_of_batch(session: Session, batch_no: str) -> Lot | None:
    """The finished-product lot of a batch: numbered as the batch."""
    return session.scalar(select(Lot).where(Lot.lot_number == batch_no, Lot.voided_at.is_(None)))


def _own_supplier(uow: UnitOfWork) -> Supplier:
    found = uow.session.scalar(select(Supplier).where(Supplier.code == OWN_SUPPLIER))
    if found is not None:
        return found
    from pharmatrace.wms import service
    from pharmatrace.wms.schemas import SupplierCreate

    return service.create_supplier(
        uow, SupplierCreate(code=OWN_SUPPLIER, name=OWN_SUPPLIER_NAME, kind="manufacturer")
    )


def stock_in_finished(uow: UnitOfWork, data: ProductionOutput) -> tuple[Lot, bool]:
    """The batch's finished product as a lot in quarantine; ``(lot, True)`` when created now, ``(lot, False)`` when
    the batch has its lot already (never two)."""
    session = uow.session
    material = finished_material(session, data.product_code)
    if material is None:
        raise ValidationFailed(N_("{material} is not a finished-good material"), material=data.product_code)
    existing = session.scalar(select(Lot).where(Lot.lot_number == data.batch_no))
    if existing is not None:
        if existing.material_id != material.id:
            raise Conflict(N_("Lot number {lot} is taken by another material"), lot=data.batch_no)
        return existing, False
    if data.quantity <= 0:
        raise ValidationFailed(N_("Batch {batch} has no good quantity to hand over"), batch=data.batch_no)
    supplier = _own_supplier(uow)
    now = clock.now()
    uow.reason = uow.reason or f"batch {data.batch_no}: finished product into the warehouse"
    lot = Lot(
        lot_number=data.batch_no, material_id=material.id, supplier_id=supplier.id, supplier_lot=data.batch_no,
        manufacture_date=data.manufacture_date, expiry_date=data.expiry_date, retest_date=None,
        quantity=data.quantity, unit=material.unit, status="quarantine", created_at=now,
        created_by=uow.actor.login,
    )  # fmt: skip
    session.add(lot)
    session.flush()
    container = Container(
        code=codes.container_code(lot.lot_number, 1), lot_id=lot.id, number=1, quantity=data.quantity,
        unit=material.unit, created_at=now, created_by=uow.actor.login,
    )  # fmt: skip
    session.add(container)
    session.flush()
    stock.receive(uow, container)
    session.refresh(lot, ["containers"])
    return lot, True
