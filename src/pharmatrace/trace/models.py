"""Serialization and traceability records (追溯码, NMPAB/T 1002-2019, SH-6.2.5, TJ-9.1).

* :class:`ProductIdentifier` — the product identifier of one packaging level of a finished product (药品标识码):
  either the 7-digit code of the national scheme (``nmpa``) or a GTIN-14 (``gs1``). Level 1 is the minimum
  saleable unit, 2 the middle pack, 3 the outer case; ``pack_quantity`` is how many items of the level below one
  item of this level holds. GMP configuration: audited, voided with a reason, never deleted.
* :class:`CodePool` — one import of codes from the issuer (a file, kept by its SM3) or one generation of GS1
  serials: the codes it brought are ``available``.
* :class:`TraceCode` — one code: a unit, a pack, a case (level 1–3, of an identifier) or a pallet (level 4, an
  SSCC). Its state (available → allocated → commissioned → packed → shipped, decommissioned with a reason,
  returned), its batch and line once allocated, its parent once aggregated and its shipment once shipped. Millions
  of rows: not audited row by row; written only inside a unit of work (triggers), never deleted, and every change
  is an item of a :class:`TraceEvent`.
* :class:`TraceEvent` — one lifecycle event over a set of codes (import, allocation, commissioning, packing, …):
  audited and append-only, carrying the count and **the SM3 of its items**, so the ledger's Merkle tree vouches
  for every code's history without an audit row per code (the monitoring historian's pattern, ADR 0019/0020).
* :class:`TraceEventItem` — one code's transition in one event: from state, to state, the parent after the
  event. Append-only, written only inside a unit of work.
* :class:`Customer`, :class:`OutboundShipment` — consignees (收货单位) and shipments (发货单), GMP records.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

SCHEMES = ("nmpa", "gs1")
LEVELS = (1, 2, 3, 4)  # 1 unit (最小销售包装), 2 middle pack (中包装), 3 case (外箱), 4 pallet (托盘, SSCC)
# Own msgids: "Unit" and "Case" already mean 单位 and an OOS case elsewhere in the catalogue.
LEVEL_NAMES = {1: N_("Minimum saleable unit"), 2: N_("Middle pack"), 3: N_("Outer case"), 4: N_("Pallet")}
POOL_ORIGINS = ("issuer_file", "generated")
STATES = ("available", "allocated", "commissioned", "packed", "shipped", "returned", "decommissioned")
DECOMMISSION_REASONS = ("sample", "damaged", "destroyed", "stolen", "rejected")
# Reactivation only where the rules allow: a stolen item that was recovered. A sample, a damaged, destroyed or
# camera-rejected item never comes back (its code is never reused either).
REACTIVATABLE = ("stolen",)
ACTIONS = (
    "import",  # codes of an issuer's file enter a pool
    "generate",  # GS1 serials (or SSCCs) generated
    "allocate",  # available -> allocated to a batch and line
    "deallocate",  # allocated -> available (the batch will not use them)
    "commission",  # allocated -> commissioned (printed and read good on the line)
    "decommission",  # -> decommissioned, with a reason
    "reactivate",  # decommissioned -> commissioned, where the rules allow (a stolen item recovered)
    "pack",  # commissioned -> packed into a parent
    "unpack",  # packed -> commissioned (disaggregation), with a reason
    "ship",  # commissioned/packed -> shipped, on a shipment
    "return",  # shipped -> returned
    "restock",  # returned -> commissioned/packed (QA accepted the return back into stock)
)
STATE_LABELS = {
    "available": N_("Available"),
    "allocated": N_("Allocated"),
    "commissioned": N_("Commissioned"),
    "packed": N_("Packed"),
    "shipped": N_("Shipped"),
    "returned": N_("Returned"),
    "decommissioned": N_("Decommissioned"),
}
assert set(STATE_LABELS) == set(STATES)
ACTION_LABELS = {
    "import": N_("Imported"),
    "generate": N_("Generated"),
    "allocate": N_("Allocated"),
    "deallocate": N_("Deallocated"),
    "commission": N_("Commissioned"),
    "decommission": N_("Decommissioned"),
    "reactivate": N_("Reactivated"),
    "pack": N_("Packed"),
    "unpack": N_("Unpacked"),
    "ship": N_("Shipped"),
    "return": N_("Returned"),
    "restock": N_("Restocked"),
}
DISPOSITION_LABELS = {
    "sample": N_("Sample"),
    "damaged": N_("Damaged"),
    "destroyed": N_("Destroyed"),
    "stolen": N_("Stolen"),
    "rejected": N_("Rejected by the camera"),
}
assert set(ACTION_LABELS) == set(ACTIONS)
assert set(DISPOSITION_LABELS) == set(DECOMMISSION_REASONS)
CUSTOMER_KINDS = ("distributor", "hospital", "pharmacy", "other")
SHIPMENT_STATUSES = ("picking", "shipped", "cancelled")
SHIPMENT_STATUS_LABELS = {"picking": N_("Picking"), "shipped": N_("Shipped"), "cancelled": N_("Cancelled")}

VOID = "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)"


def _in(column: str, values: tuple[str, ...] | tuple[int, ...]) -> str:
    return f"{column} IN (" + ", ".join(repr(v) for v in values) + ")"


class ProductIdentifier(Audited, Base):
    """A product identifier per packaging level (药品标识码 or GTIN-14)."""

    __tablename__ = "trace_identifiers"
    __audit_type__ = "trace_identifier"
    __audit_label__ = N_("Product identifier")
    __table_args__ = (
        CheckConstraint(_in("scheme", SCHEMES), name="scheme"),
        CheckConstraint("level IN (1, 2, 3)", name="level"),
        CheckConstraint(
            "(scheme = 'nmpa' AND length(code) = 7) OR (scheme = 'gs1' AND length(code) = 14)",
            name="code_length",
        ),
        CheckConstraint("pack_quantity >= 1 AND (level > 1 OR pack_quantity = 1)", name="pack_quantity"),
        CheckConstraint(VOID, name="void_reason"),
        Index("ix_trace_identifiers_material", "material_id", "level"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    scheme: Mapped[str] = mapped_column(String(8), nullable=False)
    code: Mapped[str] = mapped_column(String(14), unique=True, nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)  # the finished good
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    pack_quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    description: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class CodePool(Audited, Base):
    """Codes brought in at once: an issuer's file (kept by SM3) or a generation of serials."""

    __tablename__ = "trace_pools"
    __audit_type__ = "trace_pool"
    __audit_label__ = N_("Traceability code pool")
    __table_args__ = (
        CheckConstraint(_in("origin", POOL_ORIGINS), name="origin"),
        CheckConstraint("count >= 1", name="count"),
        CheckConstraint("origin <> 'issuer_file' OR length(file_sm3) = 64", name="file_sm3"),
        Index("ix_trace_pools_identifier", "identifier_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    identifier_id: Mapped[int | None] = mapped_column(
        ForeignKey("trace_identifiers.id"), nullable=True
    )  # None: SSCC
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    reference: Mapped[str] = mapped_column(String(200), nullable=False, default="")  # file name, issuer order
    file_sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)


class Customer(Audited, Base):
    """A consignee (收货单位): distributor, hospital or pharmacy."""

    __tablename__ = "trace_customers"
    __audit_type__ = "trace_customer"
    __audit_label__ = N_("Customer")
    __table_args__ = (
        CheckConstraint(_in("kind", CUSTOMER_KINDS), name="kind"),
        CheckConstraint("length(code) >= 2 AND length(name) >= 2", name="names"),
        CheckConstraint(VOID, name="void_reason"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    address: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    licence_no: Mapped[str] = mapped_column(String(64), nullable=False, default="")  # 药品经营许可证号
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class OutboundShipment(Audited, Base):
    """A shipment (发货单): picked by scanning cases and pallets, shipped to one customer."""

    __tablename__ = "trace_shipments"
    __audit_type__ = "trace_shipment"
    __audit_label__ = N_("Shipment")
    __table_args__ = (
        CheckConstraint(_in("status", SHIPMENT_STATUSES), name="status"),
        CheckConstraint("(status = 'shipped') = (shipped_at IS NOT NULL)", name="shipped_at"),
        Index("ix_trace_shipments_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    customer_id: Mapped[int] = mapped_column(ForeignKey("trace_customers.id"), nullable=False)
    address: Mapped[str] = mapped_column(String(300), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="picking")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TraceEvent(Audited, Base):
    """One lifecycle event over a set of codes, vouching for its items by their SM3."""

    __tablename__ = "trace_events"
    __audit_type__ = "trace_event"
    __audit_label__ = N_("Traceability code event")
    __table_args__ = (
        CheckConstraint(_in("action", ACTIONS), name="action"),
        CheckConstraint("count >= 1", name="count"),
        CheckConstraint("length(items_sm3) = 64", name="items_sm3"),
        CheckConstraint(
            "action NOT IN ('decommission', 'reactivate', 'unpack', 'deallocate', 'return', 'restock') "
            "OR length(reason) >= 2",
            name="reason",
        ),
        CheckConstraint(
            "action <> 'decommission' OR " + _in("disposition", DECOMMISSION_REASONS),
            name="decommission_disposition",
        ),
        Index("ix_trace_events_batch", "batch_order_id"),
        Index("ix_trace_events_shipment", "shipment_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)  # idempotent re-sends
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    disposition: Mapped[str] = mapped_column(String(16), nullable=False, default="")  # decommission reason
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("trace_pools.id"), nullable=True)
    batch_order_id: Mapped[int | None] = mapped_column(ForeignKey("batch_orders.id"), nullable=True)
    line: Mapped[str] = mapped_column(String(32), nullable=False, default="")  # read point (包装线)
    parent_code_id: Mapped[int | None] = mapped_column(ForeignKey("trace_codes.id"), nullable=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("trace_shipments.id"), nullable=True)
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    items_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    recorded_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class TraceCode(Base):
    """One code (一物一码): never deleted, written only inside a unit of work, each change an event item."""

    __tablename__ = "trace_codes"
    __table_args__ = (
        CheckConstraint(_in("state", STATES), name="state"),
        CheckConstraint("level IN (1, 2, 3, 4)", name="level"),
        CheckConstraint("(level = 4) = (identifier_id IS NULL)", name="identifier"),
        CheckConstraint("(state = 'decommissioned') = (disposition IS NOT NULL)", name="disposition"),
        CheckConstraint(
            "disposition IS NULL OR " + _in("disposition", DECOMMISSION_REASONS), name="disposition_values"
        ),
        # a used code has its batch; unused codes may be decommissioned too (a damaged roll of labels)
        CheckConstraint(
            "state IN ('available', 'decommissioned') OR level = 4 OR batch_order_id IS NOT NULL",
            name="batch",
        ),
        CheckConstraint("state <> 'packed' OR parent_id IS NOT NULL", name="packed_parent"),
        CheckConstraint(
            "state NOT IN ('available', 'allocated') OR parent_id IS NULL", name="unused_no_parent"
        ),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("state <> 'shipped' OR shipment_id IS NOT NULL", name="shipped_shipment"),
        Index("ix_trace_codes_batch_state", "batch_order_id", "state"),
        Index("ix_trace_codes_batch_level", "batch_order_id", "level", "id"),  # a batch's units, page by page
        Index("ix_trace_codes_pool_state", "pool_id", "state"),
        Index("ix_trace_codes_parent", "parent_id"),
        Index("ix_trace_codes_shipment", "shipment_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    value: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)  # as printed (no FNC1)
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    identifier_id: Mapped[int | None] = mapped_column(ForeignKey("trace_identifiers.id"), nullable=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("trace_pools.id"), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    disposition: Mapped[str | None] = mapped_column(String(16), nullable=True)
    batch_order_id: Mapped[int | None] = mapped_column(ForeignKey("batch_orders.id"), nullable=True)
    line: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("trace_codes.id"), nullable=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("trace_shipments.id"), nullable=True)


class TraceEventItem(Base):
    """One code's transition in one event. Append-only; the event's ``items_sm3`` covers it."""

    __tablename__ = "trace_event_items"
    __table_args__ = (
        CheckConstraint(_in("to_state", STATES), name="to_state"),
        CheckConstraint("from_state IS NULL OR " + _in("from_state", STATES), name="from_state"),
        Index("ix_trace_event_items_event", "event_id"),
        Index("ix_trace_event_items_code", "code_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("trace_events.id"), nullable=False)
    code_id: Mapped[int] = mapped_column(ForeignKey("trace_codes.id"), nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: the code's creation
    to_state: Mapped[str] = mapped_column(String(16), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("trace_codes.id"), nullable=True)  # after
