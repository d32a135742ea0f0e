"""What the national drug-traceability platform expects of a batch: codes, aggregation, shipments (issue 10 item 7).

NMPAB/T 1001 asks the marketing-authorisation holder and the manufacturer to upload the codes they commissioned,
the links between packaging levels and where the product went (SH-6.2.5.2, SH-6.2.5.1). The collaboration
platform and the code issuers each take files in their own layout; this module writes one documented XML file
per batch — **PharmaTrace platform upload 1.0** (``docs/trace-exports.md`` is its specification) — which an
adapter per platform maps on. As SH-8.3.1 asks of data messages, the file has a header (sender, creation time,
batch, counts; the file's SHA-256 goes with its receipt and audit entry) and a body with the business data:

* ``Codes``: the batch's codes in use per product identifier (scheme, code, level, pack quantity) with the
  product, batch number, production and expiry dates; ``Cancelled``: decommissioned codes with their reason;
* ``Aggregation``: each parent (case, middle pack, pallet SSCC) with its children;
* ``Shipments``: each shipment carrying the batch's codes, its consignee (name, code, licence, address) and the
  top-level codes shipped.

Nothing here talks to a network: :class:`PlatformClient` is the seam, :class:`FileDropClient` the one
implementation (a file dropped, atomically, in an outbox directory that the platform's client software watches).
"""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET  # building only; nothing is parsed here
from dataclasses import dataclass
from datetime import UTC, date
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.storage.engine import Database
from pharmatrace.trace import public
from pharmatrace.trace.epcis import EXPORT_EVENT, EXPORT_OBJECT_TYPE, PERMISSION
from pharmatrace.trace.models import Customer, OutboundShipment, ProductIdentifier, TraceCode
from pharmatrace.wms import production

FORMAT = "pharmatrace-platform-upload"
VERSION = "1.0"
NAMESPACE = "urn:pharmatrace:platform-upload:1"
IN_USE = ("commissioned", "packed", "shipped", "returned")


@dataclass(frozen=True, slots=True)
class PlatformUpload:
    """One batch's upload file: its name, its bytes and what it holds."""

    batch_no: str
    filename: str
    content: bytes
    codes: int
    cancelled: int
    parents: int
    shipments: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True, slots=True)
class UploadReceipt:
    reference: str  # where the platform's client will find it (a path here)
    sha256: str


class PlatformClient(Protocol):
    """The seam to the national platform (or an issuer's client software): one call per batch file."""

    def upload(self, upload: PlatformUpload) -> UploadReceipt: ...


class FileDropClient:
    """Drops each file into ``outbox`` (written to a temporary name, then renamed: the watcher never reads half a
    file); an existing file of the same name is never overwritten."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    def upload(self, upload: PlatformUpload) -> UploadReceipt:
        self.outbox.mkdir(parents=True, exist_ok=True)
        target = self.outbox / upload.filename
        if target.exists():
            raise FileExistsError(target)
        partial = target.with_suffix(".part")
        partial.write_bytes(upload.content)
        os.replace(partial, target)
        return UploadReceipt(str(target), upload.sha256)


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = value
    return element


def _day(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def _codes_of(session: Session, order: BatchOrder) -> list[tuple[TraceCode, ProductIdentifier | None]]:
    """The batch's codes and the pallets (SSCC, no batch) its codes are on."""
    rows: list[tuple[TraceCode, ProductIdentifier | None]] = [
        (code, identifier)
        for code, identifier in session.execute(
            select(TraceCode, ProductIdentifier)
            .outerjoin(ProductIdentifier, ProductIdentifier.id == TraceCode.identifier_id)
            .where(TraceCode.batch_order_id == order.id)
            .order_by(TraceCode.id)
        )
    ]
    pallet = aliased(TraceCode)
    parents = {code.parent_id for code, _ in rows if code.parent_id is not None}
    known = {code.id for code, _ in rows}
    missing = sorted(parents - known)
    if missing:
        rows.extend((code, None) for code in session.scalars(select(pallet).where(pallet.id.in_(missing))))
    return rows


def build(session: Session, batch_no: str, *, sender: str = "") -> PlatformUpload:
    """The upload file of batch ``batch_no``."""
    order = session.scalar(select(BatchOrder).where(BatchOrder.batch_no == batch_no))
    if order is None:
        raise NotFound(N_("Batch {batch} not found"), batch=batch_no)
    lot = production.lot_of_batch(session, order.batch_no)
    rows = _codes_of(session, order)
    by_id = {code.id: code for code, _ in rows}

    body = ET.Element("Body")
    codes = ET.SubElement(body, "Codes")
    in_use = 0
    by_identifier: dict[int, tuple[ProductIdentifier, list[TraceCode]]] = {}
    for code, identifier in rows:
        if identifier is not None and code.state in IN_USE:
            by_identifier.setdefault(identifier.id, (identifier, []))[1].append(code)
    for identifier, members in by_identifier.values():
        product = ET.SubElement(codes, "Product", {
            "scheme": identifier.scheme, "identifier": identifier.code, "level": str(identifier.level),
            "packQuantity": str(identifier.pack_quantity), "name": order.product_name, "batch": order.batch_no,
            "productionDate": _day(lot.manufacture_date if lot else None),
            "expiryDate": _day(lot.expiry_date if lot else None),
        })  # fmt: skip
        for code in members:
            _text(product, "Code", code.value)
            in_use += 1
    cancelled = ET.SubElement(body, "Cancelled")
    dropped = [code for code, _ in rows if code.state == "decommissioned"]
    for code in dropped:
        ET.SubElement(cancelled, "Code", {"reason": code.disposition or ""}).text = code.value

    aggregation = ET.SubElement(body, "Aggregation")
    children: dict[int, list[TraceCode]] = {}
    for code, _ in rows:
        if code.parent_id is not None:
            children.setdefault(code.parent_id, []).append(code)
    for parent_id, members in children.items():
        parent = by_id[parent_id]
        element = ET.SubElement(aggregation, "Parent", {"code": parent.value, "level": str(parent.level)})
        for child in members:
            ET.SubElement(element, "Child", {"level": str(child.level)}).text = child.value

    shipments = ET.SubElement(body, "Shipments")
    shipped: dict[int, list[TraceCode]] = {}
    for code, _ in rows:
        if code.shipment_id is not None and (
            code.parent_id is None or by_id[code.parent_id].shipment_id is None
        ):
            shipped.setdefault(code.shipment_id, []).append(code)  # the top of what was shipped
    for shipment_id, members in sorted(shipped.items()):
        shipment = session.get(OutboundShipment, shipment_id)
        assert shipment is not None
        customer = session.get(Customer, shipment.customer_id)
        assert customer is not None
        element = ET.SubElement(shipments, "Shipment", {
            "number": shipment.number,
            "shippedAt": clock.to_beijing(shipment.shipped_at).isoformat(timespec="seconds")
            if shipment.shipped_at else "",
        })  # fmt: skip
        ET.SubElement(element, "Consignee", {
            "code": customer.code, "name": customer.name, "kind": customer.kind, "licence": customer.licence_no,
            "address": shipment.address,
        })  # fmt: skip
        for code in members:
            ET.SubElement(element, "Code", {"level": str(code.level)}).text = code.value

    now = clock.now()
    root = ET.Element("TraceUpload", {"xmlns": NAMESPACE, "format": FORMAT, "version": VERSION})
    header = ET.SubElement(root, "Header")
    _text(header, "Sender", sender)
    _text(header, "CreatedAt", clock.to_beijing(now).isoformat(timespec="seconds"))
    _text(header, "Batch", order.batch_no)
    ET.SubElement(header, "Counts", {"codes": str(in_use), "cancelled": str(len(dropped)),
                                     "parents": str(len(children)), "shipments": str(len(shipped))})  # fmt: skip
    root.append(body)
    ET.indent(root)
    content = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return PlatformUpload(order.batch_no, f"{order.batch_no}-{stamp}.xml", content, in_use, len(dropped),
                          len(children), len(shipped))  # fmt: skip


def export(
    db: Database, principal: Principal, batch_no: str, client: PlatformClient | None = None
) -> PlatformUpload:
    """:func:`build` for someone who may trace; handed to ``client`` when one is given. Audited with the file's
    SHA-256 (``dataset.export``)."""
    principal.require(PERMISSION)
    with UnitOfWork(db, principal.actor) as uow:
        upload = build(uow.session, batch_no, sender=public.manufacturer(uow.session))
        receipt = client.upload(upload) if client is not None else None
        uow.record(EXPORT_EVENT, EXPORT_OBJECT_TYPE, f"platform:{upload.batch_no}", changes={
            "format": [None, f"{FORMAT}-{VERSION}"], "sha256": [None, upload.sha256], "codes": [None, upload.codes],
            "delivered_to": [None, receipt.reference if receipt is not None else None],
        })  # fmt: skip
        uow.commit()
    return upload
