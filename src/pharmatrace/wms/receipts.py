"""Goods receipt by scanning (到货接收, TJ-5.2.1.1).

1. :func:`create_receipt` records the expected delivery (supplier, delivery note, material, supplier lot,
   dates, expected containers and quantity per container). A supplier without a valid approval for the
   material is refused (``require_approved_supplier``). The lot gets its internal number now, in quarantine.
2. :func:`scan` takes each container's label as the scanner typed it: a GS1 element string (``]d2`` prefix,
   GS separators or the parenthesised form), whose batch (10) must be the supplier lot and expiry (17) the
   lot's expiry, or the supplier's plain label text. A label scanned before is a duplicate; a container
   beyond the expected count is refused. Each accepted scan creates a container with its own code.
3. :func:`complete` needs the count to match (or a short delivery with its reason) and the checks, and is
   signed by the receiver (``receipt.complete``).

Every refusal is a typed error with an English msgid. A scan refused (a label that is not this receipt's,
unreadable, scanned before, or beyond the expected count) changes nothing and is recorded on the receipt as
``receipt.scan.refused`` with what was scanned and why (TJ-5.2.1.1, SH-7.1.3.a).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.codes import gs1
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.wms import codes, lots, stock
from pharmatrace.wms.models import Container, Lot, Material, Receipt, Supplier
from pharmatrace.wms.schemas import ReceiptComplete, ReceiptCreate, ReceiptPublic, ScanIn
from pharmatrace.wms.service import require_approved_supplier

ACTION = "receipt.complete"
SCAN_REFUSED_EVENT = "receipt.scan.refused"


class ScanRefused(Conflict):
    """A scanned label that does not belong to this receipt, or was scanned before."""

    code = "scan_refused"


def create_receipt(uow: UnitOfWork, data: ReceiptCreate) -> Receipt:
    session = uow.session
    require_approved_supplier(session, data.supplier_code, data.material_code)
    supplier = session.scalars(select(Supplier).where(Supplier.code == data.supplier_code)).one()
    material = session.scalars(select(Material).where(Material.code == data.material_code)).one()
    today = lots.today()
    if data.manufacture_date > today:
        raise ValidationFailed(N_("The manufacture date {date} is in the future"), date=data.manufacture_date)
    expiry = data.expiry_date
    if expiry is None and material.shelf_life_months:
        expiry = lots.add_months(data.manufacture_date, material.shelf_life_months)
    if expiry is not None and expiry <= today:
        raise ValidationFailed(N_("The lot expired on {date}; it cannot be received"), date=expiry)
    retest = None
    if material.retest_months:
        retest = lots.add_months(data.manufacture_date, material.retest_months)
        retest = min(retest, expiry) if expiry is not None else retest
    from pharmatrace.origin import service as origin

    expected = data.expected_containers * data.quantity_per_container
    shipment = origin.shipment_for_receipt(session, supplier, material, data.origin_shipment, expected)
    now = clock.now()
    lot = Lot(
        lot_number=codes.next_lot_number(session, material.kind, now), material_id=material.id,
        supplier_id=supplier.id, supplier_lot=data.supplier_lot, manufacture_date=data.manufacture_date,
        expiry_date=expiry, retest_date=retest, quantity=Decimal(0), unit=material.unit, status="quarantine",
        created_at=now, created_by=uow.actor.login,
    )  # fmt: skip
    session.add(lot)
    session.flush()
    receipt = Receipt(
        number=codes.next_receipt_number(session, now), supplier_id=supplier.id, material_id=material.id,
        lot_id=lot.id, delivery_note=data.delivery_note, supplier_lot=data.supplier_lot,
        expected_containers=data.expected_containers, quantity_per_container=data.quantity_per_container,
        status="open", remarks=data.remarks, received_at=now, received_by=uow.actor.login,
    )  # fmt: skip
    session.add(receipt)
    session.flush()
    if shipment is not None:
        origin.link_lot(uow, lot, shipment)  # the lot links back to its plots (TJ-5.1)
    return receipt


def get_receipt(session: Session, receipt_id: int) -> Receipt:
    receipt = session.get(Receipt, receipt_id)
    if receipt is None:
        raise NotFound(N_("No receipt with ID {id}"), id=receipt_id)
    return receipt


def _open_receipt(uow: UnitOfWork, receipt_id: int) -> Receipt:
    """The receipt, its row locked until commit: two scanners on one receipt are serialised."""
    uow.session.execute(select(Receipt.id).where(Receipt.id == receipt_id).with_for_update())
    receipt = get_receipt(uow.session, receipt_id)
    if receipt.voided_at is not None:
        raise Conflict(N_("The receipt {number} is void"), number=receipt.number)
    if receipt.status != "open":
        raise Conflict(
            N_("The receipt {number} is complete; nothing more can be scanned"), number=receipt.number
        )
    return receipt


_GS1_START = re.compile(r"^(0[0-2]\d{14}|\(\d{2,4}\))")


def _looks_like_gs1(text: str) -> bool:
    return text.startswith(gs1.SYMBOLOGY_PREFIXES) or gs1.GS in text or bool(_GS1_START.match(text))


def scan(uow: UnitOfWork, receipt_id: int, data: ScanIn) -> Container:
    """Accept one container's label; refused with the reason, recorded, when it is not this receipt's."""
    session = uow.session
    receipt = _open_receipt(uow, receipt_id)
    lot = receipt.lot
    try:
        key, serial = _label(session, receipt, lot, data)
    except (ScanRefused, gs1.InvalidElementString) as refused:
        changes: dict[str, Any] = {"scan": [None, shown_scan(data.scan)]}
        if data.quantity is not None:
            changes["quantity"] = [None, str(data.quantity)]
        if data.damaged:
            changes["damaged"] = [None, True]
        uow.refuse(refused, SCAN_REFUSED_EVENT, "receipt", receipt_id, changes=changes)
    number = len(lot.containers) + 1
    container = Container(
        code=codes.container_code(lot.lot_number, number), lot_id=lot.id, number=number,
        quantity=data.quantity if data.quantity is not None else receipt.quantity_per_container,
        unit=lot.unit, supplier_scan=key, supplier_serial=serial, damaged=data.damaged,
        created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(container)
    session.flush()
    stock.receive(uow, container)  # into the receiving area (TJ-6.4.3.6)
    session.refresh(lot, ["containers"])
    return container


def shown_scan(text: str) -> str:
    """What was scanned, as the trail shows it: a GS1 separator as ``<GS>``, other control characters as
    ``<0x..>``, so the entry is readable and stores on every database."""
    return "".join(
        ch if ch.isprintable() else "<GS>" if ch == gs1.GS else f"<0x{ord(ch):02X}>" for ch in text
    )


def _label(session: Session, receipt: Receipt, lot: Lot, data: ScanIn) -> tuple[str, str | None]:
    """The label's key and GS1 serial when it is this receipt's next container; refused with why if not."""
    if len(lot.containers) >= receipt.expected_containers:
        raise ScanRefused(
            N_("All {expected} containers expected are received; a further container is refused"),
            expected=receipt.expected_containers,
        )
    text = data.scan.strip("\r\n\t ")
    serial = None
    if _looks_like_gs1(text):
        elements = gs1.parse(text)  # a damaged or mistyped element string is refused with the parser's reason
        internal = elements.get("91")
        if internal:
            raise ScanRefused(
                N_("This is our own container label ({code}), not the supplier's"), code=internal
            )
        if elements.batch is None:
            raise ScanRefused(N_("The label carries no batch number (10)"))
        if elements.batch != receipt.supplier_lot:
            raise ScanRefused(
                N_("The label's batch {batch} is not the supplier lot {lot} of this receipt"),
                batch=elements.batch, lot=receipt.supplier_lot,
            )  # fmt: skip
        if elements.expiry is not None and elements.expiry != lot.expiry_date:
            raise ScanRefused(
                N_("The label's expiry date {date} is not the lot's expiry date {expected}"),
                date=elements.expiry.isoformat(),
                expected=lot.expiry_date.isoformat() if lot.expiry_date else "—",
            )
        key, serial = elements.human_readable(), elements.serial
    else:
        if any(ord(c) < 32 for c in text) or len(text) > 256:
            raise ScanRefused(N_("The scan is not a label this receipt can take"))
        key = text
        internal_code = codes.CONTAINER_CODE.match(text.upper())
        if internal_code:
            known = session.scalar(select(Container).where(Container.code == text.upper()))
            if known is not None:
                raise ScanRefused(
                    N_("{code} is already container {number} of lot {lot}"),
                    code=known.code, number=known.number, lot=known.lot.lot_number,
                )  # fmt: skip
            if session.scalar(select(Lot.id).where(Lot.lot_number == internal_code.group(1))) is not None:
                raise ScanRefused(N_("Unknown container code {code}"), code=text.upper())
    _refuse_duplicate(session, lot, key, serial)
    return key, serial


def _refuse_duplicate(session: Session, lot: Lot, key: str, serial: str | None) -> None:
    for container in lot.containers:
        if container.supplier_scan == key or (serial is not None and container.supplier_serial == serial):
            raise ScanRefused(N_("This label was scanned before: container {code}"), code=container.code)
    if serial is not None:  # a GS1 serial identifies one container in the world: not in another lot either
        elsewhere = session.scalar(select(Container).where(Container.supplier_scan == key).limit(1))
        if elsewhere is not None:
            raise ScanRefused(N_("This label was scanned before: container {code}"), code=elsewhere.code)


def complete(uow: UnitOfWork, principal: Principal, receipt_id: int, data: ReceiptComplete) -> Receipt:
    """Close the receipt: count and checks recorded, the lot's quantity set, signed by the receiver."""
    from pharmatrace.wms.signing import check_signer, require_permission, sign

    require_permission(principal, ACTION)
    receipt = _open_receipt(uow, receipt_id)
    containers = receipt.lot.containers
    scanned = len(containers)
    if scanned == 0:
        raise Conflict(N_("No container has been scanned"))
    short = scanned < receipt.expected_containers
    if short and data.short_delivery_reason is None:
        raise Conflict(
            N_("{scanned} of {expected} containers are scanned: scan the rest, or record the short delivery with its reason"),
            scanned=scanned, expected=receipt.expected_containers,
        )  # fmt: skip
    damaged = any(c.damaged for c in containers)
    failed = not (data.packaging_intact and data.seals_intact and data.labels_legible)
    remarks = data.remarks or receipt.remarks
    if (failed or damaged) and not data.remarks:
        raise ValidationFailed(N_("A failed check or a damaged container needs a remark"))
    check_signer(uow, principal, ACTION, data.password, data.login)
    uow.reason = uow.reason or (data.short_delivery_reason if short else None) or "goods receipt completed"
    receipt.status = "completed"
    receipt.packaging_intact = data.packaging_intact
    receipt.seals_intact = data.seals_intact
    receipt.labels_legible = data.labels_legible
    receipt.remarks = remarks
    receipt.short_delivery_reason = data.short_delivery_reason if short else None
    receipt.completed_at = clock.now()
    receipt.completed_by = uow.actor.login
    receipt.lot.quantity = sum((c.quantity for c in containers), Decimal(0))
    uow.session.flush()
    sign(uow, principal, "receipt", receipt.id, ACTION, data.password, data.login)
    return receipt


def void_receipt(uow: UnitOfWork, receipt_id: int) -> Receipt:
    """Void a receipt started in error, with its lot and containers (needs the unit of work's reason).

    Only an open receipt: a completed one has become stock, which QA rejects instead. Nothing is deleted;
    the numbers stay taken.
    """
    receipt = _open_receipt(uow, receipt_id)
    moment = clock.now()
    receipt.voided_at = moment
    receipt.lot.voided_at = moment
    for container in receipt.lot.containers:
        container.voided_at = moment
    uow.session.flush()
    return receipt


def list_receipts(session: Session, *, status: str = "", limit: int = 200) -> list[Receipt]:
    query = select(Receipt).order_by(Receipt.id.desc()).limit(limit)
    if status:
        query = query.where(Receipt.status == status)
    return list(session.scalars(query).unique())


def receipt_public(receipt: Receipt) -> ReceiptPublic:
    containers = receipt.lot.containers
    return ReceiptPublic(
        id=receipt.id, number=receipt.number, status=receipt.status, supplier_code=receipt.supplier.code,
        supplier_name=receipt.supplier.name, material_code=receipt.material.code,
        material_name=receipt.material.name, lot_id=receipt.lot_id, lot_number=receipt.lot.lot_number,
        delivery_note=receipt.delivery_note, supplier_lot=receipt.supplier_lot,
        manufacture_date=receipt.lot.manufacture_date, expiry_date=receipt.lot.expiry_date,
        expected_containers=receipt.expected_containers, quantity_per_container=receipt.quantity_per_container,
        unit=receipt.lot.unit, scanned=len(containers), containers=[lots.container_public(c) for c in containers],
        packaging_intact=receipt.packaging_intact, seals_intact=receipt.seals_intact,
        labels_legible=receipt.labels_legible, remarks=receipt.remarks,
        short_delivery_reason=receipt.short_delivery_reason, received_at=receipt.received_at,
        received_by=receipt.received_by, completed_at=receipt.completed_at, completed_by=receipt.completed_by,
        voided_at=receipt.voided_at,
    )  # fmt: skip
