"""The batch's output handed to the warehouse (成品交库, TJ-6.3.4, TJ-6.4.7, TJ-9.1, TJ-5.2.1.2).

When a batch completes (its last step done, :func:`pharmatrace.mes.execution.complete` or ``sign``) its finished
product enters the warehouse as a lot in quarantine (待验), in the completion's own transaction: a refused or
rolled-back completion leaves no lot. Through :func:`pharmatrace.wms.production.stock_in_finished`:

* the product's finished-good material master (WMS kind ``finished_good``, code = the product code of the batch);
* lot number = the batch number (recorded on the lot as its supplier lot too; the plant is the maker);
* quantity = the good packaged quantity of the packaging balance (``finished``), manufacture and expiry dates as
  printed on the packaging record (TJ-6.4.6). A recipe without a packaging stage hands over the batch size, when
  it is counted in the material's unit, with the batch's start date and the material's shelf life.

Nothing is handed over for a product that is not a finished good (an intermediate: ``wms.stock`` intermediates)
or without a material master; the release checklist then says the batch has no lot. Idempotent: never two lots
for one batch. :class:`BatchHandedOver` is published for the traceability area (ADR 0012); the lot's own row is
in the audit trail. The LIMS samples, tests and certifies that lot, and the batch release decides on it
(:mod:`pharmatrace.qms.release`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pharmatrace.kernel import clock, events
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import packaging
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.wms import lots, production
from pharmatrace.wms.models import Lot

EVENT = "mes.batch.handed_over"


@dataclass(frozen=True, slots=True)
class BatchHandedOver:
    """A completed batch's finished product entered the warehouse as a quarantined lot."""

    event: str
    batch_order_id: int
    batch_no: str
    product_code: str
    lot_id: int
    lot_number: str
    quantity: Decimal
    unit: str
    handed_over_by: str
    handed_over_at: datetime  # UTC


def output_of(uow: UnitOfWork, order: BatchOrder) -> production.ProductionOutput | None:
    """What the batch hands over, or None when it hands over nothing (see the module's text)."""
    session = uow.session
    material = production.finished_material(session, order.product_code)
    if material is None:
        return None
    record = packaging.record_of(session, order)
    if record is not None:
        balance = packaging.balance_of(session, record)
        if balance is None:
            return None
        return production.ProductionOutput(
            product_code=material.code, batch_no=order.batch_no, quantity=balance.finished,
            manufacture_date=record.manufacture_date, expiry_date=record.expiry_date,
        )  # fmt: skip
    if order.unit != material.unit:
        return None
    made = clock.to_beijing(packaging.manufacture_date_of(order)).date()
    months = material.shelf_life_months
    return production.ProductionOutput(
        product_code=material.code, batch_no=order.batch_no, quantity=order.batch_size, manufacture_date=made,
        expiry_date=lots.add_months(made, months) if months else None,
    )  # fmt: skip


def hand_over(uow: UnitOfWork, order: BatchOrder) -> Lot | None:
    """Hand the completed batch's finished product to the warehouse (once); None when there is nothing to hand
    over. Called by the execution engine when the batch completes."""
    if order.status != "completed":
        return None
    output = output_of(uow, order)
    if output is None:
        return None
    lot, created = production.stock_in_finished(uow, output)
    if created:
        events.publish(uow, BatchHandedOver(
            event=EVENT, batch_order_id=order.id, batch_no=order.batch_no, product_code=order.product_code,
            lot_id=lot.id, lot_number=lot.lot_number, quantity=lot.quantity, unit=lot.unit,
            handed_over_by=uow.actor.login, handed_over_at=clock.now(),
        ))  # fmt: skip
    return lot
