"""The trace events of a batch as a GS1 EPCIS 2.0 document in JSON-LD (SH-6.2.5.1, SH-6.2.5.2; issue 10 item 7).

What each lifecycle action becomes (CBV 2.0 bare words; ``docs/trace-exports.md`` has the full table):

* ``commission`` → ObjectEvent ADD, bizStep ``commissioning``, disposition ``active``; the units', packs' and
  cases' events carry the batch and expiry as ILMD (``cbvmda:lotNumber``, ``cbvmda:itemExpirationDate``);
* ``decommission`` → ObjectEvent DELETE, bizStep ``decommissioning``, the disposition from the reason
  (:data:`DECOMMISSION_DISPOSITIONS`); ``reactivate`` → ObjectEvent OBSERVE, ``inspecting``, ``active``;
* ``pack`` / ``unpack`` → AggregationEvent ADD / DELETE with ``parentID`` and ``childEPCs`` (SH-6.2.5.1: levels
  linked), bizStep ``packing`` / ``unpacking``; an unpack of children of several parents is one event per parent;
* ``ship`` → ObjectEvent OBSERVE, bizStep ``shipping``, disposition ``in_transit``, the consignee as
  ``owning_party`` destination and the shipment as a ``desadv`` business transaction; ``return`` and ``restock``
  → OBSERVE ``receiving``/``returned`` and ``storing``/``sellable_not_accessible``;
* the lots charged into the batch (``mes`` material charges) → one TransformationEvent: inputs as lot-level
  quantities (``inputQuantityList``), outputs the batch's commissioned units (``outputEPCList``).

Allocation, pool imports and generation are the plant's own bookkeeping, not visibility events: not exported.

Identifiers (EPC URIs): a GS1 code as its canonical GS1 Digital Link URI (``https://id.gs1.org/01/…/21/…``,
``/00/…`` for an SSCC); a 20-digit code of the national scheme (NMPAB/T 1002) has no GS1 key, so it is written in
the private URI scheme ``pharmatrace:`` (``pharmatrace:nmpa:<20 digits>``; classes, lots, parties and shipments
likewise — :func:`epc_uri` and the documentation list them). ``@context`` is the EPCIS 2.0 context URL as a
string: nothing is fetched, here or at the reader's.

``eventID`` is the **EPCIS event hash ID** (CBV 2.0 §8.9, "ni:///sha-256;…?ver=CBV2.0"): :func:`event_hash`
builds the pre-hash string from the event's fields in the canonical property order, bare CBV words expanded to
``https://ref.gs1.org/cbv/…`` web URIs, times in UTC to the millisecond with ``Z``, list members sorted,
quantities without trailing zeros, and SHA-256 over its UTF-8 bytes. What is followed and where this
implementation is narrower than the algorithm (no user extensions, no sensor data) is written in the docs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from pharmatrace.codes import gs1
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, NotFound, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.dispensing_models import MaterialCharge
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.storage.engine import Database
from pharmatrace.trace.models import (
    Customer,
    OutboundShipment,
    ProductIdentifier,
    TraceCode,
    TraceEvent,
    TraceEventItem,
)
from pharmatrace.wms import production

PERMISSION = "trace.view"
EXPORT_EVENT = (
    "dataset.export"  # exports are audited like the Appendix B data sets (kernel.audit.SECURITY_EVENTS)
)
EXPORT_OBJECT_TYPE = "trace_export"
EXPORTED = ("commission", "decommission", "reactivate", "pack", "unpack", "ship", "return", "restock")
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
SCHEMA_VERSION = "2.0"
TIME_ZONE_OFFSET = "+08:00"  # the plant's local time (Beijing); eventTime itself is UTC
HASH_VERSION = "CBV2.0"
DIGITAL_LINK = "https://id.gs1.org"
PRIVATE = "pharmatrace:"  # the private URI scheme of identifiers that have no GS1 key
CBV = "https://ref.gs1.org/cbv/"

# CBV 2.0 disposition of each decommissioning reason. A sample leaves the saleable stock (non_sellable_other); a
# code the line's camera rejected was never on a saleable pack (inactive).
DECOMMISSION_DISPOSITIONS = {
    "sample": "non_sellable_other",
    "damaged": "damaged",
    "destroyed": "destroyed",
    "stolen": "stolen",
    "rejected": "inactive",
}
# Unit of measure of a charge (the BOM's unit) as a UN/ECE Rec. 20 code, which EPCIS quantities use.
UOM = {"kg": "KGM", "g": "GRM", "mg": "MGM", "L": "LTR", "l": "LTR", "mL": "MLT", "ml": "MLT",
       "个": "H87", "只": "H87", "支": "H87", "瓶": "H87", "袋": "H87", "桶": "H87"}  # fmt: skip
# CBV vocabulary types of the bare words used in this export (for the hash's web-URI expansion, rule 16).
_VOCABULARY = {"bizStep": "BizStep-", "disposition": "Disp-"}
_SOURCE_DEST = "SDT-"
_BIZ_TRANSACTION = "BTT-"


class ExportRefused(ValidationFailed):
    code = "trace_export_refused"


@dataclass(frozen=True, slots=True)
class Scope:
    """What to export: one batch, or every event recorded in ``[since, until)`` (UTC)."""

    batch_no: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class _Code:
    value: str
    level: int
    scheme: str | None
    identifier: str | None


@dataclass
class _Event:
    row: TraceEvent
    items: list[tuple[_Code, int | None]] = field(default_factory=list)  # code, parent id after the event


# --- identifiers -------------------------------------------------------------------------------------------


def _dl_value(value: str) -> str:
    # GS1 Digital Link 1.2 §4.11: a key qualifier's value is percent-encoded where it is not unreserved.
    return quote(value, safe="")


def epc_uri(value: str, *, level: int, scheme: str | None) -> str:
    """The EPC URI of one code: GS1 Digital Link for GS1 codes and SSCCs, ``pharmatrace:nmpa:…`` otherwise."""
    if level == 4 or scheme == "gs1":
        digits = value[2:] if len(value) == 20 and value.startswith("00") else value
        if level == 4 and len(digits) == 18 and gs1.valid_check_digit(digits):
            return f"{DIGITAL_LINK}/00/{digits}"
        parsed = gs1.parse(value)
        sscc = parsed.get("00")
        if sscc is not None:
            return f"{DIGITAL_LINK}/00/{sscc}"
        if parsed.gtin is not None and parsed.serial is not None:
            return f"{DIGITAL_LINK}/01/{parsed.gtin}/21/{_dl_value(parsed.serial)}"
        raise ExportRefused(N_("Code {code} has no GS1 key the export can name"), code=value)
    return f"{PRIVATE}nmpa:{value}"


def class_uri(scheme: str, identifier: str, lot: str) -> str:
    """A product identifier with a lot: LGTIN Digital Link, or ``pharmatrace:nmpa-class:<7 digits>:lot:<lot>``."""
    if scheme == "gs1":
        return f"{DIGITAL_LINK}/01/{identifier}/10/{_dl_value(lot)}"
    return f"{PRIVATE}nmpa-class:{identifier}:lot:{_dl_value(lot)}"


def lot_uri(material_code: str, lot_number: str) -> str:
    """A warehouse lot of a material (an input of the batch): ``pharmatrace:lot:<material>:<lot>``."""
    return f"{PRIVATE}lot:{_dl_value(material_code)}:{_dl_value(lot_number)}"


def party_uri(customer_code: str) -> str:
    return f"{PRIVATE}party:{_dl_value(customer_code)}"


def shipment_uri(number: str) -> str:
    return f"{PRIVATE}shipment:{_dl_value(number)}"


def batch_uri(batch_no: str) -> str:
    return f"{PRIVATE}batch:{_dl_value(batch_no)}"


# --- times and numbers ---------------------------------------------------------------------------------------


def utc_time(moment: datetime) -> str:
    """ISO 8601 in UTC to the millisecond with ``Z`` (the form the event hash requires, rules 8 and 9)."""
    at = moment.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def plain_quantity(value: Decimal | int | float) -> str:
    """A quantity without trailing zeros and without exponent (rule 6): ``25.000`` → ``25``."""
    return format(Decimal(str(value)).normalize(), "f")


def _quantity_number(value: Decimal) -> int | float:
    number = Decimal(value).normalize()
    return int(number) if number == number.to_integral_value() else float(number)


# --- the event hash (CBV 2.0 §8.9) ---------------------------------------------------------------------------

# The canonical property order: (name, sub-order). A sub-order of None is a plain value; a list member's fields
# follow in the given order.
_QUANTITY = ("epcClass", "quantity", "uom")
_ORDER: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", ()),
    ("inputEPCList", ()),
    ("childEPCs", ()),
    ("quantityList", _QUANTITY),
    ("childQuantityList", _QUANTITY),
    ("inputQuantityList", _QUANTITY),
    ("outputEPCList", ()),
    ("outputQuantityList", _QUANTITY),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", ("set", "unset")),
    ("readPoint", ("id",)),
    ("bizLocation", ("id",)),
    ("bizTransactionList", ("bizTransaction", "type")),
    ("sourceList", ("source", "type")),
    ("destinationList", ("destination", "type")),
)
_ILMD_NAMESPACES = {"cbvmda:": "{urn:epcglobal:cbv:mda}"}
_LIST_MEMBER = {"epcList": "epc", "inputEPCList": "epc", "childEPCs": "epc", "outputEPCList": "epc"}
_QUANTITY_MEMBER = "quantityElement"
_TYPED_MEMBER = {
    "bizTransactionList": "bizTransaction",
    "sourceList": "source",
    "destinationList": "destination",
}
_TYPE_PREFIX = {
    "bizTransactionList": _BIZ_TRANSACTION,
    "sourceList": _SOURCE_DEST,
    "destinationList": _SOURCE_DEST,
}


def _web(name: str, value: str) -> str:
    """Rule 16: a bare CBV word as its web URI (``shipping`` → ``https://ref.gs1.org/cbv/BizStep-shipping``)."""
    prefix = _VOCABULARY.get(name)
    if prefix is not None and ":" not in value:
        return CBV + prefix + value
    return value


def _pair(key: str, value: Any) -> str:
    text = plain_quantity(value) if isinstance(value, int | float | Decimal) else str(value).strip()
    return f"{key}={text}" if text else ""


def pre_hash(event: dict[str, Any]) -> str:
    """The pre-hash string of one event (CBV 2.0 §8.9 rules 1–19, for the fields this export writes)."""
    parts = [f"eventType={event['type']}"]
    for name, order in _ORDER:
        if name not in event:
            continue
        value = event[name]
        if order is None:
            if name == "eventTime":
                parts.append(_pair(name, value))  # already UTC, ms, Z
            else:
                parts.append(_pair(name, _web(name, value)))
        elif name in _LIST_MEMBER:
            members = sorted(_pair(_LIST_MEMBER[name], epc) for epc in value)
            parts.append(name + "".join(members))
        elif order is _QUANTITY:
            members = sorted(
                _QUANTITY_MEMBER + "".join(_pair(k, element[k]) for k in order if k in element)
                for element in value
            )
            parts.append(name + "".join(members))
        elif name in _TYPED_MEMBER:
            member = _TYPED_MEMBER[name]
            # rule 13: the value first, then its type, before the members are sorted
            members = sorted(
                _pair(member, element[member])
                + (_pair("type", CBV + _TYPE_PREFIX[name] + element["type"]) if "type" in element else "")
                for element in value
            )
            parts.append(name + "".join(members))
        else:  # readPoint, bizLocation, persistentDisposition
            parts.append(name + "".join(_pair(k, value[k]) for k in order if k in value))
    if "ilmd" in event:  # rule 19: {namespace}localName=value, sorted
        members = []
        for key, value in event["ilmd"].items():
            for prefix, namespace in _ILMD_NAMESPACES.items():
                if key.startswith(prefix):
                    key = namespace + key[len(prefix) :]
            members.append(_pair(key, value))
        parts.append("ilmd" + "".join(sorted(members)))
    return "".join(parts)


def event_hash(event: dict[str, Any]) -> str:
    """The EPCIS event hash ID: ``ni:///sha-256;<hex>?ver=CBV2.0`` of the event's pre-hash string (RFC 6920)."""
    digest = hashlib.sha256(pre_hash(event).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_VERSION}"


# --- building the document ----------------------------------------------------------------------------------


def _event(kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "eventTime": utc_time(at), "eventTimeZoneOffset": TIME_ZONE_OFFSET}
    body.update({k: v for k, v in fields.items() if v not in (None, [], {})})
    return {"type": kind, "eventID": event_hash(body), **{k: v for k, v in body.items() if k != "type"}}


def _scoped_events(session: Session, scope: Scope, order: BatchOrder | None) -> list[TraceEvent]:
    query = select(TraceEvent).where(TraceEvent.action.in_(EXPORTED)).order_by(TraceEvent.id)
    if (
        order is not None
    ):  # the batch's events, and those over its codes recorded without it (a pallet shipped)
        touching = (
            select(TraceEventItem.event_id)
            .join(TraceCode, TraceCode.id == TraceEventItem.code_id)
            .where(TraceCode.batch_order_id == order.id)
        )
        query = query.where(or_(TraceEvent.batch_order_id == order.id, TraceEvent.id.in_(touching)))
    if scope.since is not None:
        query = query.where(TraceEvent.recorded_at >= scope.since)
    if scope.until is not None:
        query = query.where(TraceEvent.recorded_at < scope.until)
    found = list(session.scalars(query))
    if order is None:
        return found
    # The pallets (SSCC) the batch's cases went onto have no batch: their commissioning and shipping are the
    # batch's too (a mixed pallet's in each of its batches).
    parents = {e.parent_code_id for e in found if e.action == "pack" and e.parent_code_id is not None}
    known = {e.id for e in found}
    if parents:
        extra = session.scalars(
            select(TraceEvent)
            .join(TraceEventItem, TraceEventItem.event_id == TraceEvent.id)
            .where(TraceEventItem.code_id.in_(parents), TraceEvent.action.in_(EXPORTED),
                   TraceEvent.batch_order_id.is_(None))
        )  # fmt: skip
        for event in extra:
            if event.id not in known:
                known.add(event.id)
                found.append(event)
        found.sort(key=lambda e: e.id)
    return found


def _items(session: Session, events: Sequence[TraceEvent]) -> dict[int, _Event]:
    loaded = {e.id: _Event(e) for e in events}
    ids = list(loaded)
    for start in range(0, len(ids), 2000):
        rows = session.execute(
            select(TraceEventItem.event_id, TraceEventItem.parent_id, TraceCode.value, TraceCode.level,
                   ProductIdentifier.scheme, ProductIdentifier.code)
            .join(TraceCode, TraceCode.id == TraceEventItem.code_id)
            .outerjoin(ProductIdentifier, ProductIdentifier.id == TraceCode.identifier_id)
            .where(TraceEventItem.event_id.in_(ids[start : start + 2000]))
            .order_by(TraceEventItem.id)
        )  # fmt: skip
        for event_id, parent_id, value, level, scheme, identifier in rows:
            loaded[event_id].items.append((_Code(value, level, scheme, identifier), parent_id))
    return loaded


def _code_uris(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(set(ids))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 2000):
        rows = session.execute(
            select(TraceCode.id, TraceCode.value, TraceCode.level, ProductIdentifier.scheme)
            .outerjoin(ProductIdentifier, ProductIdentifier.id == TraceCode.identifier_id)
            .where(TraceCode.id.in_(wanted[start : start + 2000]))
        )
        for code_id, value, level, scheme in rows:
            found[code_id] = epc_uri(value, level=level, scheme=scheme)
    return found


def _parents_before(session: Session, event_id: int) -> dict[str, int | None]:
    """For an unpack event: each code's parent before it (the parent of the code's previous item)."""
    item, before, code = aliased(TraceEventItem), aliased(TraceEventItem), aliased(TraceCode)
    previous = (
        select(before.parent_id)
        .where(before.code_id == item.code_id, before.id < item.id)
        .order_by(before.id.desc())
        .limit(1)
        .correlate(item)
        .scalar_subquery()
    )
    rows = session.execute(
        select(code.value, previous)
        .select_from(item)
        .join(code, code.id == item.code_id)
        .where(item.event_id == event_id)
    )
    found: dict[str, int | None] = {}
    for value, parent in rows:
        found[value] = parent
    return found


def _ilmd(order: BatchOrder | None, expiry: date | None) -> dict[str, str]:
    if order is None:
        return {}
    ilmd = {"cbvmda:lotNumber": order.batch_no}
    if expiry is not None:
        ilmd["cbvmda:itemExpirationDate"] = expiry.isoformat()
    return ilmd


def _uri(code: _Code) -> str:
    return epc_uri(code.value, level=code.level, scheme=code.scheme)


def _visibility(
    session: Session, loaded: _Event, orders: dict[int, tuple[BatchOrder, date | None]]
) -> list[dict[str, Any]]:
    row = loaded.row
    at = row.recorded_at
    epcs = [_uri(code) for code, _ in loaded.items]
    order, expiry = orders.get(row.batch_order_id or 0, (None, None))
    if row.action == "commission":
        saleable = [code for code, _ in loaded.items if code.level < 4]
        return [_event("ObjectEvent", at, epcList=epcs, action="ADD", bizStep="commissioning", disposition="active",
                       ilmd=_ilmd(order, expiry) if saleable else None)]  # fmt: skip
    if row.action == "decommission":
        return [_event("ObjectEvent", at, epcList=epcs, action="DELETE", bizStep="decommissioning",
                       disposition=DECOMMISSION_DISPOSITIONS[row.disposition])]  # fmt: skip
    if row.action == "reactivate":
        return [
            _event(
                "ObjectEvent", at, epcList=epcs, action="OBSERVE", bizStep="inspecting", disposition="active"
            )
        ]
    if row.action == "pack":
        parent = _code_uris(session, [row.parent_code_id or 0]).get(row.parent_code_id or 0)
        return [_event("AggregationEvent", at, parentID=parent, childEPCs=epcs, action="ADD", bizStep="packing",
                       disposition="in_progress")]  # fmt: skip
    if row.action == "unpack":
        before = _parents_before(session, row.id)
        by_parent: dict[int | None, list[str]] = {}
        for code, _ in loaded.items:
            by_parent.setdefault(before.get(code.value), []).append(_uri(code))
        uris = _code_uris(session, [p for p in by_parent if p is not None])
        return [
            _event("AggregationEvent", at, parentID=uris.get(parent) if parent is not None else None,
                   childEPCs=children, action="DELETE", bizStep="unpacking")
            for parent, children in sorted(by_parent.items(), key=lambda pair: pair[0] or 0)
        ]  # fmt: skip
    shipment = session.get(OutboundShipment, row.shipment_id) if row.shipment_id is not None else None
    customer = session.get(Customer, shipment.customer_id) if shipment is not None else None
    if row.action == "ship":
        return [_event(
            "ObjectEvent", at, epcList=epcs, action="OBSERVE", bizStep="shipping", disposition="in_transit",
            bizTransactionList=[{"bizTransaction": shipment_uri(shipment.number), "type": "desadv"}] if shipment else None,
            destinationList=[{"destination": party_uri(customer.code), "type": "owning_party"}] if customer else None,
        )]  # fmt: skip
    if row.action == "return":
        return [_event("ObjectEvent", at, epcList=epcs, action="OBSERVE", bizStep="receiving", disposition="returned",
                       sourceList=[{"source": party_uri(customer.code), "type": "owning_party"}] if customer else None)]  # fmt: skip
    return [_event("ObjectEvent", at, epcList=epcs, action="OBSERVE", bizStep="storing",
                   disposition="sellable_not_accessible")]  # fmt: skip


def _transformation(session: Session, order: BatchOrder, expiry: date | None) -> dict[str, Any] | None:
    """The lots charged into the batch (inputs) → the batch's commissioned units (outputs)."""
    totals: dict[tuple[str, str, str], Decimal] = {}
    for material, lot, quantity, unit in session.execute(
        select(MaterialCharge.material_code, MaterialCharge.lot_number, MaterialCharge.quantity, MaterialCharge.unit)
        .where(MaterialCharge.batch_order_id == order.id)
        .order_by(MaterialCharge.id)
    ):  # fmt: skip
        key = (material, lot, unit)
        totals[key] = totals.get(key, Decimal(0)) + Decimal(quantity)
    commissioned = session.execute(
        select(TraceCode.value, TraceCode.level, ProductIdentifier.scheme, TraceEvent.recorded_at)
        .join(TraceEventItem, TraceEventItem.code_id == TraceCode.id)
        .join(TraceEvent, TraceEvent.id == TraceEventItem.event_id)
        .outerjoin(ProductIdentifier, ProductIdentifier.id == TraceCode.identifier_id)
        .where(TraceEvent.batch_order_id == order.id, TraceEvent.action == "commission", TraceCode.level == 1)
        .order_by(TraceEventItem.id)
    ).all()  # fmt: skip
    if not totals or not commissioned:
        return None
    inputs = []
    for (material, lot, unit), quantity in totals.items():
        element: dict[str, Any] = {"epcClass": lot_uri(material, lot), "quantity": _quantity_number(quantity)}
        if unit in UOM:
            element["uom"] = UOM[unit]
        inputs.append(element)
    outputs = list(
        dict.fromkeys(epc_uri(v, level=level, scheme=scheme) for v, level, scheme, _ in commissioned)
    )
    last = max(at for *_, at in commissioned)
    return _event("TransformationEvent", last, inputQuantityList=inputs, outputEPCList=outputs,
                  transformationID=batch_uri(order.batch_no), bizStep="commissioning", disposition="active",
                  ilmd=_ilmd(order, expiry))  # fmt: skip


def document(session: Session, scope: Scope) -> dict[str, Any]:
    """The EPCISDocument of ``scope``: the batch's (or the period's) visibility events, oldest first."""
    order: BatchOrder | None = None
    if scope.batch_no is not None:
        order = session.scalar(select(BatchOrder).where(BatchOrder.batch_no == scope.batch_no))
        if order is None:
            raise NotFound(N_("Batch {batch} not found"), batch=scope.batch_no)
    elif scope.since is None or scope.until is None:
        raise ExportRefused(N_("Give a batch, or a period with its start and end"))
    elif scope.until <= scope.since:
        raise ExportRefused(N_("The end of the period must come after its start"))
    if scope.since is not None or scope.until is not None:  # a time without offset is Beijing time
        scope = Scope(scope.batch_no, *(t.replace(tzinfo=clock.BEIJING) if t is not None and t.tzinfo is None else t
                                        for t in (scope.since, scope.until)))  # fmt: skip
    events = _scoped_events(session, scope, order)
    loaded = _items(session, events)
    orders: dict[int, tuple[BatchOrder, date | None]] = {}
    for batch_id in {e.batch_order_id for e in events if e.batch_order_id is not None}:
        found = session.get(BatchOrder, batch_id)
        if found is not None:
            lot = production.lot_of_batch(session, found.batch_no)
            orders[batch_id] = (found, lot.expiry_date if lot is not None else None)
    body: list[dict[str, Any]] = []
    if order is not None:
        transformation = _transformation(session, order, orders.get(order.id, (order, None))[1])
        if transformation is not None:
            body.append(transformation)
    for event in events:
        body.extend(_visibility(session, loaded[event.id], orders))
    body.sort(key=lambda e: e["eventTime"])  # stable: same-time events keep their recorded order
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": utc_time(clock.now()),
        "epcisBody": {"eventList": body},
    }


def export(db: Database, principal: Principal, scope: Scope) -> dict[str, Any]:
    """:func:`document` for someone who may trace (``trace.view``); the export is audited (``dataset.export``)."""
    principal.require(PERMISSION)
    with UnitOfWork(db, principal.actor) as uow:
        built = document(uow.session, scope)
        what = (
            scope.batch_no or f"{utc_time(scope.since or clock.now())}/{utc_time(scope.until or clock.now())}"
        )
        uow.record(EXPORT_EVENT, EXPORT_OBJECT_TYPE, f"epcis:{what}",
                   changes={"format": [None, "epcis-2.0-jsonld"], "events": [None, len(built["epcisBody"]["eventList"])]})  # fmt: skip
        uow.commit()
    return built
