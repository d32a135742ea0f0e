"""``/api/v1/trace``: aggregation (pack, unpack, re-aggregate, new SSCC pallets, a code's content), customers,
shipments picked by scanning, shipping, returns and QA's decision on them (SH-6.2.5, TJ-9.1; issue 10 items 3–4).

Reading needs ``trace.view``; aggregation, customers, picking, shipping and receiving returns ``trace.codes.manage``
(the packaging line and the warehouse); the decision on returned goods ``wms.material.approve`` (QA)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.trace import aggregation, shipments
from pharmatrace.trace.shipment_schemas import (
    CodePublic,
    CustomerCreate,
    CustomerPublic,
    PackContent,
    PackCreate,
    PalletCreate,
    PickCreate,
    ReaggregateCreate,
    ReturnCreate,
    ReturnDecision,
    ShipmentCreate,
    ShipmentDetail,
    ShipmentPublic,
    UnpackCreate,
    UnpickCreate,
    VoidBody,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/trace", tags=["trace"])

View = Annotated[Principal, Depends(Requires(aggregation.VIEW_PERMISSION))]
Manage = Annotated[Principal, Depends(Requires(aggregation.MANAGE_PERMISSION))]
QA = Annotated[Principal, Depends(Requires(shipments.RETURN_DECISION_PERMISSION))]


# --- aggregation -------------------------------------------------------------------------------------------------


@router.get("/aggregation/{scan}", response_model=PackContent)
def content(scan: str, db: DbDep, _: View) -> PackContent:
    """A code (value or GS1 element string) with what it holds and what holds it."""
    with db.sessions() as session:
        return aggregation.content(session, scan)


@router.post("/aggregation/pack", response_model=PackContent)
def pack(body: PackCreate, db: DbDep, principal: Manage) -> PackContent:
    """Pack the scanned children into the scanned parent; refused, naming the code, with nothing written."""
    with uow_for(db, principal) as uow:
        aggregation.pack(uow, principal, body.parent, body.children)
        uow.commit()
        return aggregation.content(uow.session, body.parent)


@router.post("/aggregation/unpack", response_model=PackContent)
def unpack(body: UnpackCreate, db: DbDep, principal: Manage) -> PackContent:
    """Take the given children (all when none are given) out of the parent, with a reason."""
    with uow_for(db, principal, body.reason) as uow:
        aggregation.unpack(uow, principal, body.parent, body.children or None, body.reason)
        uow.commit()
        return aggregation.content(uow.session, body.parent)


@router.post("/aggregation/reaggregate", response_model=PackContent)
def reaggregate(body: ReaggregateCreate, db: DbDep, principal: Manage) -> PackContent:
    """Move children from ``source`` into ``target`` with a reason; returns the target's content."""
    with uow_for(db, principal, body.reason) as uow:
        aggregation.reaggregate(uow, principal, body.source, body.target, body.children, body.reason)
        uow.commit()
        return aggregation.content(uow.session, body.target)


@router.post("/pallets", response_model=CodePublic, status_code=201)
def new_pallet(body: PalletCreate, db: DbDep, principal: Manage) -> CodePublic:
    """A new pallet: its SSCC generated and commissioned."""
    with uow_for(db, principal) as uow:
        code = aggregation.new_pallet(uow, principal, body.line)
        uow.commit()
        return aggregation.code_public(uow.session, code)


# --- customers ---------------------------------------------------------------------------------------------------


@router.get("/customers", response_model=list[CustomerPublic])
def list_customers(db: DbDep, _: View, voided: bool = False) -> list[CustomerPublic]:
    with db.sessions() as session:
        return [
            shipments.customer_public(c) for c in shipments.list_customers(session, include_voided=voided)
        ]


@router.post("/customers", response_model=CustomerPublic, status_code=201)
def create_customer(body: CustomerCreate, db: DbDep, principal: Manage) -> CustomerPublic:
    with uow_for(db, principal) as uow:
        customer = shipments.create_customer(uow, principal, body)
        uow.commit()
        return shipments.customer_public(customer)


@router.post("/customers/{code}/void", response_model=CustomerPublic)
def void_customer(code: str, body: VoidBody, db: DbDep, principal: Manage) -> CustomerPublic:
    with uow_for(db, principal, body.reason) as uow:
        customer = shipments.void_customer(uow, principal, code, body.reason)
        uow.commit()
        return shipments.customer_public(customer)


# --- shipments ---------------------------------------------------------------------------------------------------


@router.get("/shipments", response_model=list[ShipmentPublic])
def list_shipments(db: DbDep, _: View, status: str = "", customer: str = "") -> list[ShipmentPublic]:
    """Shipments, newest first (``status``: picking, shipped, cancelled; ``customer``: a customer's code)."""
    with db.sessions() as session:
        return shipments.list_shipments(session, status=status, customer=customer)


@router.post("/shipments", response_model=ShipmentDetail, status_code=201)
def create_shipment(body: ShipmentCreate, db: DbDep, principal: Manage) -> ShipmentDetail:
    with uow_for(db, principal) as uow:
        shipment = shipments.create_shipment(uow, principal, body)
        uow.commit()
        return shipments.shipment_detail(uow.session, shipment.number)


@router.get("/shipments/{number}", response_model=ShipmentDetail)
def get_shipment(number: str, db: DbDep, _: View) -> ShipmentDetail:
    """The shipment, its picks with units by batch, and its returned codes awaiting QA's decision."""
    with db.sessions() as session:
        return shipments.shipment_detail(session, number)


@router.post("/shipments/{number}/picks", response_model=ShipmentDetail, status_code=201)
def pick(number: str, body: PickCreate, db: DbDep, principal: Manage) -> ShipmentDetail:
    """Pick a scanned pallet, case or loose unit."""
    with uow_for(db, principal) as uow:
        shipments.pick(uow, principal, number, body.scan)
        uow.commit()
        return shipments.shipment_detail(uow.session, number)


@router.post("/shipments/{number}/unpick", response_model=ShipmentDetail)
def unpick(number: str, body: UnpickCreate, db: DbDep, principal: Manage) -> ShipmentDetail:
    with uow_for(db, principal, body.reason) as uow:
        shipments.unpick(uow, principal, number, body.scan, body.reason)
        uow.commit()
        return shipments.shipment_detail(uow.session, number)


@router.post("/shipments/{number}/ship", response_model=ShipmentDetail)
def ship(number: str, db: DbDep, principal: Manage) -> ShipmentDetail:
    """Ship every picked code with its content (one ``ship`` event)."""
    with uow_for(db, principal) as uow:
        shipments.ship(uow, principal, number)
        uow.commit()
        return shipments.shipment_detail(uow.session, number)


@router.post("/shipments/{number}/cancel", response_model=ShipmentDetail)
def cancel(number: str, body: VoidBody, db: DbDep, principal: Manage) -> ShipmentDetail:
    with uow_for(db, principal, body.reason) as uow:
        shipments.cancel(uow, principal, number, body.reason)
        uow.commit()
        return shipments.shipment_detail(uow.session, number)


@router.post("/shipments/{number}/returns", response_model=ShipmentDetail)
def receive_return(number: str, body: ReturnCreate, db: DbDep, principal: Manage) -> ShipmentDetail:
    """Codes coming back from the customer (cases and pallets with their content, or units)."""
    with uow_for(db, principal, body.reason) as uow:
        shipments.receive_return(uow, principal, number, body.codes, body.reason)
        uow.commit()
        return shipments.shipment_detail(uow.session, number)


@router.post("/returns/decision", response_model=list[CodePublic])
def decide_return(body: ReturnDecision, db: DbDep, principal: QA) -> list[CodePublic]:
    """QA: returned codes back into stock (``restock``) or destroyed (``destroy``), with a reason."""
    with uow_for(db, principal, body.reason) as uow:
        shipments.decide_return(uow, principal, body.codes, body.decision, body.reason)
        uow.commit()
        found = aggregation.find_codes(uow.session, body.codes)
        return [aggregation.code_public(uow.session, c) for c in found]
