"""Customers, shipments picked by scanning, the shipping event and returns (发货与退货; issue 10 item 4, SH-6.2.5,
TJ-9.1).

* **Customers** (收货单位): code, name, kind, address, licence number; created and voided with a reason by the
  warehouse (``trace.codes.manage``). A voided customer gets no new shipment.
* **Shipments** (发货单): made for a customer, to its address unless another is given, then **picked by scanning**
  pallets (SSCC), cases or loose units — the printed value or a GS1 element string. A pick is refused, naming the
  code, when the code is unknown, inside a case or pallet (pick its top-level container, or unpack it first), not
  commissioned, empty, already picked on a shipment (this one or another being picked), or of a batch **not
  released by QA**. The release gate is the WMS status of the batch's finished-product lot (lot number = batch
  number), which the qualified person's decision sets in the same transaction (:mod:`pharmatrace.qms.release`,
  TJ-9.1: only released product is handed over to distribution): ``released`` passes, anything else — no lot yet,
  quarantine, under test, on hold, rejected, expired — is refused. The gate is checked again when the shipment
  leaves. Picks are :class:`~pharmatrace.trace.shipment_models.ShipmentPick` rows (audited; taken off with a
  reason).
* :func:`ship` moves every picked code and everything packed inside it to ``shipped`` with the shipment, as **one**
  ``ship`` event (:mod:`pharmatrace.trace.lifecycle`), and marks the shipment shipped. :func:`cancel` takes every
  pick off, with the reason.
* **Returns**: :func:`receive_return` records the codes (whole pallets or cases with their content, or units) coming
  back from a shipped shipment as a ``return`` event; QA then decides (:func:`decide_return`): ``restock`` (back
  into stock: a code returned with its container goes back packed in it; one returned without it is unpacked in
  the same unit of work) or ``destroy`` (decommissioned as ``destroyed``). No permission of the catalogue is
  about returned goods: QA's ``wms.material.approve`` (QA releases and rejects lots) is used for the decision.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.trace import aggregation, lifecycle
from pharmatrace.trace.aggregation import descendants, find_code, open_picks
from pharmatrace.trace.models import Customer, OutboundShipment, TraceCode, TraceEvent, TraceEventItem
from pharmatrace.trace.shipment_models import ShipmentPick
from pharmatrace.trace.shipment_schemas import (
    CustomerCreate,
    CustomerPublic,
    PickPublic,
    ShipmentCreate,
    ShipmentDetail,
    ShipmentPublic,
)
from pharmatrace.wms.models import Lot

MANAGE_PERMISSION = aggregation.MANAGE_PERMISSION  # the warehouse keeper picks, ships and receives returns
VIEW_PERMISSION = aggregation.VIEW_PERMISSION
RETURN_DECISION_PERMISSION = "wms.material.approve"  # QA: no trace permission is about returned goods
RELEASED = "released"


class ShipmentRefused(Conflict):
    code = "trace_shipment_refused"


# --- customers ---------------------------------------------------------------------------------------------------


def get_customer(session: Session, code: str) -> Customer:
    customer = session.scalar(select(Customer).where(Customer.code == code.strip().upper()))
    if customer is None:
        raise NotFound(N_("No customer {code}"), code=code)
    return customer


def list_customers(session: Session, *, include_voided: bool = False) -> list[Customer]:
    query = select(Customer).order_by(Customer.code)
    if not include_voided:
        query = query.where(Customer.voided_at.is_(None))
    return list(session.scalars(query))


def customer_public(customer: Customer) -> CustomerPublic:
    return CustomerPublic.model_validate(customer, from_attributes=True)


def create_customer(uow: UnitOfWork, principal: Principal, body: CustomerCreate) -> Customer:
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    if session.scalar(select(Customer.id).where(Customer.code == body.code)) is not None:
        raise Conflict(N_("A customer {code} exists already"), code=body.code)
    customer = Customer(code=body.code, name=body.name, kind=body.kind, address=body.address,
                        licence_no=body.licence_no, created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
    session.add(customer)
    session.flush()
    return customer


def void_customer(uow: UnitOfWork, principal: Principal, code: str, reason: str) -> Customer:
    """A customer out of use (its shipments stay), with a reason."""
    principal.require(MANAGE_PERMISSION)
    if len(reason.strip()) < 2:
        raise ValidationFailed(N_("A reason is required for this change"))
    customer = get_customer(uow.session, code)
    if customer.voided_at is None:
        uow.void(customer, reason.strip())
    return customer


# --- shipments ---------------------------------------------------------------------------------------------------


def next_number(session: Session) -> str:
    """``SHP-`` + the year (Beijing) + a 4-digit serial per year: ``SHP-2026-0001``."""
    from pharmatrace.wms.codes import next_serial

    year = clock.to_beijing(clock.now()).year
    while True:
        number = f"SHP-{year}-{next_serial(session, f'TRACE:SHP-{year}-#'):04d}"
        if session.scalar(select(OutboundShipment.id).where(OutboundShipment.number == number)) is None:
            return number


def get_shipment(session: Session, number: str) -> OutboundShipment:
    shipment = session.scalar(
        select(OutboundShipment).where(OutboundShipment.number == number.strip().upper())
    )
    if shipment is None:
        raise NotFound(N_("No shipment {number}"), number=number)
    return shipment


def create_shipment(uow: UnitOfWork, principal: Principal, body: ShipmentCreate) -> OutboundShipment:
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    customer = get_customer(session, body.customer)
    if customer.voided_at is not None:
        raise Conflict(N_("The customer {code} is voided"), code=customer.code)
    address = body.address or customer.address
    if len(address) < 2:
        raise ValidationFailed(N_("Give the address the shipment goes to"))
    shipment = OutboundShipment(number=next_number(session), customer_id=customer.id, address=address,
                                status="picking", created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
    session.add(shipment)
    session.flush()
    return shipment


def _picking(session: Session, number: str) -> OutboundShipment:
    shipment = get_shipment(session, number)
    if shipment.status != "picking":
        raise ShipmentRefused(
            N_("Shipment {number} is {status}: it is no longer being picked"),
            number=shipment.number, status=shipment.status,
        )  # fmt: skip
    return shipment


def _active_picks(session: Session, shipment: OutboundShipment) -> list[ShipmentPick]:
    query = select(ShipmentPick).where(
        ShipmentPick.shipment_id == shipment.id, ShipmentPick.status == "picked"
    )
    return list(session.scalars(query.order_by(ShipmentPick.id)))


def unreleased(session: Session, codes: Sequence[TraceCode]) -> list[tuple[str, str]]:
    """The batches of ``codes`` whose finished-product lot is not released: ``(batch number, lot status)``."""
    batch_ids = {c.batch_order_id for c in codes if c.batch_order_id is not None}
    if not batch_ids:
        return []
    found: list[tuple[str, str]] = []
    rows = session.execute(
        select(BatchOrder.batch_no, Lot.status)
        .outerjoin(Lot, Lot.lot_number == BatchOrder.batch_no)
        .where(BatchOrder.id.in_(batch_ids))
        .order_by(BatchOrder.batch_no)
    )
    for batch_no, status in rows:
        if status != RELEASED:
            found.append((str(batch_no), str(status or "no lot")))
    return found


def _require_released(session: Session, codes: Sequence[TraceCode], scanned: str) -> None:
    blocked = unreleased(session, codes)
    if blocked:
        batch, status = blocked[0]
        raise ShipmentRefused(
            N_("{code}: batch {batch} is not released by QA (finished lot {status}): it cannot be shipped"),
            code=scanned, batch=batch, status=status,
        )  # fmt: skip


def pick(uow: UnitOfWork, principal: Principal, number: str, scan: str) -> ShipmentPick:
    """Put a scanned pallet, case or loose unit on the shipment, or refuse naming the code (nothing written)."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    shipment = _picking(session, number)
    code = find_code(session, scan)
    if code.parent_id is not None:
        holders = aggregation.chain(session, code)
        raise ShipmentRefused(
            N_("Code {code} is inside {parent}: pick {top}, or unpack the code first"),
            code=code.value, parent=holders[1].value, top=holders[-1].value,
        )  # fmt: skip
    if code.state != "commissioned":
        raise ShipmentRefused(
            N_("Code {code} is {state}: only commissioned codes are shipped"),
            code=code.value,
            state=code.state,
        )
    picked = open_picks(session, [code.id])
    if code.id in picked:
        raise ShipmentRefused(
            N_("Code {code} is already picked on shipment {shipment}"),
            code=code.value,
            shipment=picked[code.id],
        )
    inside = descendants(session, [code.id], states=("packed",))
    if code.level > 1 and not inside:
        raise ShipmentRefused(N_("{code} holds nothing"), code=code.value)
    _require_released(session, [code, *inside], code.value)
    row = ShipmentPick(shipment_id=shipment.id, code_id=code.id, status="picked", picked_at=clock.now(),
                       picked_by=uow.actor.login)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def _take_off(uow: UnitOfWork, row: ShipmentPick, reason: str) -> None:
    row.status = "unpicked"
    row.unpicked_at = clock.now()
    row.unpicked_by = uow.actor.login
    row.unpick_reason = reason[:500]


def unpick(uow: UnitOfWork, principal: Principal, number: str, scan: str, reason: str) -> ShipmentPick:
    """Take a picked code off the shipment, with a reason."""
    principal.require(MANAGE_PERMISSION)
    if len(reason.strip()) < 2:
        raise ValidationFailed(N_("A reason is required for this change"))
    session = uow.session
    shipment = _picking(session, number)
    code = find_code(session, scan)
    row = session.scalar(
        select(ShipmentPick).where(
            ShipmentPick.shipment_id == shipment.id,
            ShipmentPick.code_id == code.id,
            ShipmentPick.status == "picked",
        )
    )
    if row is None:
        raise ShipmentRefused(
            N_("Code {code} is not picked on shipment {number}"), code=code.value, number=shipment.number
        )
    uow.reason = reason.strip()
    _take_off(uow, row, reason.strip())
    session.flush()
    return row


def ship(uow: UnitOfWork, principal: Principal, number: str) -> TraceEvent:
    """Every picked code and all its content to ``shipped`` with the shipment: one ``ship`` event (TJ-9.1)."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    shipment = _picking(session, number)
    picks = _active_picks(session, shipment)
    if not picks:
        raise ShipmentRefused(N_("Nothing is picked on shipment {number}"), number=shipment.number)
    tops = [session.get_one(TraceCode, p.code_id) for p in picks]
    for top in tops:  # the pick's rules still hold (aggregation refuses changes to picked codes)
        if top.parent_id is not None or top.state != "commissioned":
            raise ShipmentRefused(
                N_("Code {code} is {state}: only commissioned codes are shipped"),
                code=top.value,
                state=top.state,
            )
    inside = descendants(session, [t.id for t in tops], states=("packed",))
    _require_released(session, [*tops, *inside], shipment.number)
    uow.reason = uow.reason or f"shipment {shipment.number} shipped"
    event = lifecycle.record(uow, "ship", [*tops, *inside], shipment_id=shipment.id)
    for row in picks:
        row.status = "shipped"
    shipment.status = "shipped"
    shipment.shipped_at = clock.now()
    session.flush()
    return event


def cancel(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> OutboundShipment:
    """A shipment that will not leave: cancelled, every pick taken off with the reason."""
    principal.require(MANAGE_PERMISSION)
    if len(reason.strip()) < 2:
        raise ValidationFailed(N_("A reason is required for this change"))
    session = uow.session
    shipment = _picking(session, number)
    uow.reason = reason.strip()
    for row in _active_picks(session, shipment):
        _take_off(uow, row, f"shipment cancelled: {reason.strip()}")
    shipment.status = "cancelled"
    session.flush()
    return shipment


# --- returns -----------------------------------------------------------------------------------------------------


def _with_content(session: Session, found: list[TraceCode], state: str) -> list[TraceCode]:
    ids = {c.id for c in found}
    inside = [c for c in descendants(session, ids, states=(state,)) if c.id not in ids]
    return [*found, *inside]


def receive_return(uow: UnitOfWork, principal: Principal, number: str, scans: Sequence[str],
                   reason: str) -> TraceEvent:  # fmt: skip
    """Codes coming back from the shipment's customer (pallets and cases with their content, or units)."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    shipment = get_shipment(session, number)
    if shipment.status != "shipped":
        raise ShipmentRefused(N_("Shipment {number} has not been shipped"), number=shipment.number)
    found = aggregation.find_codes(session, scans)
    for code in found:
        if code.state != "shipped" or code.shipment_id != shipment.id:
            raise ShipmentRefused(
                N_("Code {code} is {state}: it is not out on shipment {number}"),
                code=code.value, state=code.state, number=shipment.number,
            )  # fmt: skip
    codes = [c for c in _with_content(session, found, "shipped") if c.shipment_id == shipment.id]
    return lifecycle.record(uow, "return", codes, shipment_id=shipment.id, reason=reason)


def decide_return(uow: UnitOfWork, principal: Principal, scans: Sequence[str], decision: str,
                  reason: str) -> list[TraceEvent]:  # fmt: skip
    """QA's decision on returned codes (with their returned content): ``restock`` or ``destroy``."""
    principal.require(RETURN_DECISION_PERMISSION)
    if decision not in ("restock", "destroy"):
        raise ValidationFailed(N_("Decide restock or destroy"))
    session = uow.session
    found = aggregation.find_codes(session, scans)
    for code in found:
        if code.state != "returned":
            raise ShipmentRefused(
                N_("Code {code} is {state}: only returned codes await this decision"),
                code=code.value, state=code.state,
            )  # fmt: skip
    codes = _with_content(session, found, "returned")
    if decision == "destroy":
        return [lifecycle.record(uow, "decommission", codes, disposition="destroyed", reason=reason)]
    ids = {c.id for c in codes}
    loose = []
    for code in codes:  # back without its container: restocked, then unpacked from the container still out
        if code.parent_id is not None and code.parent_id not in ids:
            holder = session.get_one(TraceCode, code.parent_id)
            if holder.state not in ("commissioned", "packed"):
                loose.append(code)
    events = [lifecycle.record(uow, "restock", codes, shipment_id=None, reason=reason)]
    if loose:
        events.append(
            lifecycle.record(uow, "unpack", loose, reason=f"returned without its container: {reason}")
        )
    return events


# --- reading -----------------------------------------------------------------------------------------------------


def _units_shipped(session: Session, shipment: OutboundShipment) -> dict[str, int]:
    """Units by batch that left on the shipment (its ``ship`` event's items)."""
    rows = session.execute(
        select(BatchOrder.batch_no, func.count())
        .select_from(TraceEventItem)
        .join(TraceEvent, TraceEvent.id == TraceEventItem.event_id)
        .join(TraceCode, TraceCode.id == TraceEventItem.code_id)
        .join(BatchOrder, BatchOrder.id == TraceCode.batch_order_id)
        .where(TraceEvent.shipment_id == shipment.id, TraceEvent.action == "ship", TraceCode.level == 1)
        .group_by(BatchOrder.batch_no)
        .order_by(BatchOrder.batch_no)
    )
    return {str(batch): int(count) for batch, count in rows}


def _pick_public(session: Session, row: ShipmentPick) -> PickPublic:
    code = session.get_one(TraceCode, row.code_id)
    inside = descendants(session, [code.id])
    return PickPublic(
        code=code.value, level=code.level, state=code.state, status=row.status,
        units_by_batch=aggregation.unit_counts(session, [code], inside), picked_at=row.picked_at,
        picked_by=row.picked_by, unpicked_at=row.unpicked_at, unpicked_by=row.unpicked_by,
        unpick_reason=row.unpick_reason,
    )  # fmt: skip


def _sum(counts: Sequence[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for one in counts:
        for key, value in one.items():
            total[key] = total.get(key, 0) + value
    return dict(sorted(total.items()))


def shipment_detail(session: Session, number: str) -> ShipmentDetail:
    """The shipment with its picks (units by batch each), its units by batch and its returned codes."""
    shipment = get_shipment(session, number)
    customer = session.get_one(Customer, shipment.customer_id)
    rows = list(session.scalars(select(ShipmentPick).where(ShipmentPick.shipment_id == shipment.id)
                                .order_by(ShipmentPick.id)))  # fmt: skip
    picks = [_pick_public(session, row) for row in rows]
    on = [p for p in picks if p.status != "unpicked"]
    by_batch = _units_shipped(session, shipment) if shipment.status == "shipped" else _sum(
        [p.units_by_batch for p in on]
    )  # fmt: skip
    returned = list(
        session.scalars(
            select(TraceCode)
            .where(TraceCode.shipment_id == shipment.id, TraceCode.state == "returned")
            .order_by(TraceCode.level.desc(), TraceCode.value)
        )
    )
    ids = {c.id for c in returned}
    batches = aggregation.batch_numbers(session, (c.batch_order_id for c in returned))
    return ShipmentDetail(
        number=shipment.number, customer=customer.code, customer_name=customer.name, address=shipment.address,
        status=shipment.status, created_at=shipment.created_at, created_by=shipment.created_by, shipped_at=shipment.shipped_at,
        picked=len(on), units=sum(by_batch.values()), picks=picks, units_by_batch=by_batch,
        returned=[aggregation.code_public(session, c, batches) for c in returned if c.parent_id not in ids],
    )  # fmt: skip


def list_shipments(session: Session, *, status: str = "", customer: str = "") -> list[ShipmentPublic]:
    """Shipments, newest first, filtered by status and customer code."""
    query = select(OutboundShipment, Customer).join(Customer, Customer.id == OutboundShipment.customer_id)
    if status:
        query = query.where(OutboundShipment.status == status)
    if customer:
        query = query.where(Customer.code == customer.strip().upper())
    found: list[ShipmentPublic] = []
    for shipment, owner in session.execute(query.order_by(OutboundShipment.id.desc()).limit(500)):
        if shipment.status == "shipped":
            counts = _units_shipped(session, shipment)
            picked = session.scalar(
                select(func.count()).select_from(ShipmentPick)
                .where(ShipmentPick.shipment_id == shipment.id, ShipmentPick.status == "shipped")
            )  # fmt: skip
        else:
            rows = _active_picks(session, shipment)
            counts = _sum([_pick_public(session, row).units_by_batch for row in rows])
            picked = len(rows)
        public = ShipmentPublic(
            number=shipment.number, customer=owner.code, customer_name=owner.name, address=shipment.address,
            status=shipment.status, created_at=shipment.created_at, created_by=shipment.created_by,
            shipped_at=shipment.shipped_at, picked=int(picked or 0), units=sum(counts.values()),
        )  # fmt: skip
        found.append(public)
    return found
