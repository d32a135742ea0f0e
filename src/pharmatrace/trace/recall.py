"""Recall impact in one call (召回影响评估; TJ-9.1, SH-6.2.5, issue 10 item 6), for the QMS recall to use.

:func:`impact` takes a batch number or a lot number (material, herb, intermediate or finished lot; a planting
plot's code works too) and answers with every batch downstream of it (through intermediates and finished lots
charged again), the unit counts by state (per batch and in all), the shipments that carried its units with their
customers and unit counts, and the customers. It is the forward trace of :mod:`pharmatrace.trace.genealogy`
without the graph drawing: the same set-at-a-time queries (counts, never the unit list).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.trace import genealogy
from pharmatrace.trace.genealogy import ShipmentUnits


class AffectedBatch(BaseModel):
    batch_no: str
    product_code: str
    product_name: str
    status: str
    units: dict[str, int]  # unit counts by state


class AffectedCustomer(BaseModel):
    code: str
    name: str
    shipments: list[str]
    units: int


class RecallImpact(BaseModel):
    """What a recall of ``ref`` reaches."""

    ref: str
    start_kind: str
    batches: list[AffectedBatch]
    units_by_state: dict[str, int]
    units_total: int
    shipped_units: int
    shipments: list[ShipmentUnits]
    customers: list[AffectedCustomer]
    generated_at: datetime


def impact(session: Session, ref: str) -> RecallImpact:
    """Affected batches, unit counts by state, shipments with customers and counts; unknown ref: NotFound."""
    start, keys, _ = genealogy.downstream_batches(session, ref)
    batch_ids = {i for kind, i in keys if kind == "batch"}
    per_batch: dict[int, dict[str, int]] = defaultdict(dict)
    total: dict[str, int] = defaultdict(int)
    for batch, level, state, count in genealogy.code_counts(session, batch_ids):
        if level == 1:
            per_batch[batch][state] = count
            total[state] += count
    orders = sorted(
        (o for o in session.scalars(select(BatchOrder).where(BatchOrder.id.in_(sorted(batch_ids))))),
        key=lambda o: o.batch_no,
    ) if batch_ids else []  # fmt: skip
    per = genealogy.unit_shipments(session, batch_ids)
    lines = genealogy.shipment_lines(session, per, {o.id: o.batch_no for o in orders})
    customers: dict[str, AffectedCustomer] = {}
    for line in lines:
        found = customers.setdefault(
            line.customer_code, AffectedCustomer(code=line.customer_code, name=line.customer_name, shipments=[], units=0)
        )  # fmt: skip
        if line.number not in found.shipments:
            found.shipments.append(line.number)
        found.units += line.units
    return RecallImpact(
        ref=ref.strip(), start_kind=start[0],
        batches=[AffectedBatch(batch_no=o.batch_no, product_code=o.product_code, product_name=o.product_name,
                               status=o.status, units=dict(sorted(per_batch[o.id].items()))) for o in orders],
        units_by_state=dict(sorted(total.items())), units_total=sum(total.values()),
        shipped_units=sum(line.units for line in lines), shipments=lines,
        customers=sorted(customers.values(), key=lambda c: c.code), generated_at=clock.now(),
    )  # fmt: skip
