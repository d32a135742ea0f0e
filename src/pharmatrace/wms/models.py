"""Material master data (物料主数据, TJ-6.3.1)."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

MATERIAL_KINDS = (
    "herb",  # 中药材
    "decoction_piece",  # 饮片
    "extract",  # 提取物
    "excipient",  # 辅料
    "primary_packaging",  # 内包材
    "secondary_packaging",  # 外包材
    "intermediate",  # 中间产品
    "finished_good",  # 成品
)


class Material(Audited, Base):
    __tablename__ = "materials"
    __audit_type__ = "material"
    __audit_label__ = N_("Material master data")
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in MATERIAL_KINDS) + ")",
            name="kind",
        ),
        CheckConstraint("length(code) >= 2", name="code_length"),
        CheckConstraint(
            "temp_min_c IS NULL OR temp_max_c IS NULL OR temp_min_c <= temp_max_c", name="temp_range"
        ),
        CheckConstraint(
            "humidity_max_pct IS NULL OR (humidity_max_pct > 0 AND humidity_max_pct <= 100)", name="humidity"
        ),
        CheckConstraint("shelf_life_months IS NULL OR shelf_life_months > 0", name="shelf_life"),
        CheckConstraint(
            "retest_months IS NULL OR (retest_months > 0 AND (shelf_life_months IS NULL OR retest_months <= shelf_life_months))",
            name="retest",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    storage_condition: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    # 规格: what one unit holds, "200 mg/支" (NMPAB/T 1002: shown on the public verification of a pack)
    strength: Mapped[str] = mapped_column(String(64), nullable=False, default="", server_default="")
    # Specification of storage (TJ-5.2.1.2): limits a location and a temperature record are checked against.
    temp_min_c: Mapped[Decimal | None] = mapped_column(Numeric(5, 1), nullable=True)
    temp_max_c: Mapped[Decimal | None] = mapped_column(Numeric(5, 1), nullable=True)
    humidity_max_pct: Mapped[Decimal | None] = mapped_column(Numeric(4, 1), nullable=True)
    shelf_life_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retest_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @validates("temp_min_c", "temp_max_c", "humidity_max_pct")
    def _one_decimal(self, _key: str, value: Decimal | None) -> Decimal | None:
        # Stored with one decimal place: the object holds what the database will give back, so the ledger
        # entry written at flush and the row read back by `ledger verify` are the same bytes (20 → 20.0).
        return None if value is None else Decimal(value).quantize(Decimal("0.1"))


SUPPLIER_KINDS = (
    "manufacturer",  # 生产商
    "distributor",  # 经销商
    "planting_base",  # 中药材种植基地
)
APPROVAL_STATUSES = (
    "approved",  # 合格
    "conditional",  # 有条件批准
    "suspended",  # 暂停
    "disqualified",  # 取消资格
)


class Supplier(Audited, Base):
    """A supplier of materials (供应商); planting bases of herbal materials are suppliers too (TJ-5.1)."""

    __tablename__ = "suppliers"
    __audit_type__ = "supplier"
    __audit_label__ = N_("Supplier")
    __table_args__ = (
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in SUPPLIER_KINDS) + ")", name="kind"),
        CheckConstraint("length(code) >= 2", name="code_length"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    address: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    contact: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SupplierApproval(Audited, Base):
    """One line of the approved-supplier list (合格供应商目录): this supplier for this material.

    The status changes only through QA's decisions (approve, suspend, disqualify), each with a reason
    and recorded in the audit trail; a lot from a supplier without a valid approval is refused at receipt.
    """

    __tablename__ = "supplier_approvals"
    __audit_type__ = "supplier_approval"
    __audit_label__ = N_("Approved-supplier list entry")
    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in APPROVAL_STATUSES) + ")", name="status"),
        Index("uq_supplier_approvals_pair", "supplier_id", "material_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)

    supplier: Mapped[Supplier] = relationship(lazy="joined")
    material: Mapped[Material] = relationship(lazy="joined")


# --- lots, containers and goods receipt (TJ-6.3.1, TJ-B.2.2.1, TJ-5.2.1.1) ---------------------------

# Printing a label changes no row but is recorded (who printed which labels, in which form); the event is
# listed in pharmatrace.kernel.audit.SECURITY_EVENTS.
LABEL_PRINT_EVENT = "label.print"

LOT_STATUSES = (
    "quarantine",  # 待验
    "under_test",  # 检验中
    "released",  # 已放行
    "rejected",  # 不放行
    "expired",  # 已过期
    "on_hold",  # 暂停使用
)
# Each event a lot's status may go through, the statuses it may start from, and where it leads. A status is
# never edited: it changes only by one of these events (the service functions in ``wms.lots``).
LOT_EVENTS: dict[str, tuple[frozenset[str], str | None]] = {
    "start_testing": (frozenset({"quarantine"}), "under_test"),  # QC samples the lot
    "release": (frozenset({"under_test"}), "released"),  # QA release, signed
    "reject": (frozenset({"quarantine", "under_test", "on_hold"}), "rejected"),  # QA rejection, signed
    "hold": (frozenset({"quarantine", "under_test", "released"}), "on_hold"),
    "release_hold": (frozenset({"on_hold"}), None),  # back to the status it was held from
    "expire": (frozenset({"quarantine", "under_test", "released", "on_hold"}), "expired"),
}
LOT_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {(start, end) for starts, end in LOT_EVENTS.values() if end for start in starts}
    | {("on_hold", back) for back in LOT_EVENTS["hold"][0]}
)
RECEIPT_STATUSES = ("open", "completed")
QUANTITY = Decimal("0.001")


def _quantity(value: Decimal | None) -> Decimal | None:
    # Held at the column's scale, so the ledger entry and the row read back are the same (25 → 25.000).
    return None if value is None else Decimal(value).quantize(QUANTITY)


_LOT_EVENT: ContextVar[str | None] = ContextVar("pharmatrace_lot_event", default=None)


class LotStatusRefused(PharmaTraceError):
    """A status change outside the lot's declared events."""

    code = "lot_status_refused"
    http_status = 409


class Lot(Audited, Base):
    """A lot of material with its internal lot number (物料批号, TJ-B.2.2.1 WLBM); never deleted."""

    __tablename__ = "lots"
    __audit_type__ = "lot"
    __audit_label__ = N_("Material lot")
    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in LOT_STATUSES) + ")", name="status"),
        CheckConstraint(
            "held_from IS NULL OR held_from IN ('quarantine', 'under_test', 'released')", name="held_from"
        ),
        CheckConstraint("quantity >= 0", name="quantity"),
        CheckConstraint("expiry_date IS NULL OR expiry_date > manufacture_date", name="expiry"),
        CheckConstraint("retest_date IS NULL OR retest_date > manufacture_date", name="retest"),
        CheckConstraint("length(lot_number) >= 4", name="lot_number_length"),
        Index("ix_lots_material_status", "material_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lot_number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), nullable=False)
    supplier_lot: Mapped[str] = mapped_column(String(64), nullable=False)
    manufacture_date: Mapped[date] = mapped_column(Date, nullable=False)
    expiry_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    retest_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    held_from: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    material: Mapped[Material] = relationship(lazy="joined")
    supplier: Mapped[Supplier] = relationship(lazy="joined")
    containers: Mapped[list[Container]] = relationship(
        back_populates="lot", order_by="Container.number", lazy="selectin"
    )

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _quantity(value)

    @validates("status")
    def _only_through_events(self, _key: str, value: str) -> str:
        # a loaded lot asks the database for its status (it may be expired after a commit)
        current = self.status if inspect(self).has_identity else self.__dict__.get("status")
        if current is None:
            if value != "quarantine":
                raise LotStatusRefused(N_("A new lot starts in quarantine"))
            return value
        if _LOT_EVENT.get() is None:
            raise LotStatusRefused(
                N_("The status of a lot changes only through its events (sampling, QA release, rejection…)")
            )
        if (current, value) not in LOT_TRANSITIONS:
            raise LotStatusRefused(N_("A lot cannot go from {old} to {new}"), old=current, new=value)
        return value

    def apply(self, event: str) -> str:
        """Move the lot by ``event`` (see ``LOT_EVENTS``); refuses an event its status does not allow."""
        starts, end = LOT_EVENTS[event]
        if self.status not in starts:
            raise LotStatusRefused(
                N_("“{event}” is not possible for a lot in status {status}"), event=event, status=self.status
            )
        target = end or self.held_from
        assert target is not None
        held_from = self.status if event == "hold" else None
        token = _LOT_EVENT.set(event)
        try:
            self.status = target
        finally:
            _LOT_EVENT.reset(token)
        self.held_from = held_from
        return target


class Container(Audited, Base):
    """One container (件) of a lot, with its own code: lot number + "-" + its number (``YC261100001-007``)."""

    __tablename__ = "containers"
    __audit_type__ = "container"
    __audit_label__ = N_("Material container")
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("number >= 1 AND number <= 999", name="number"),
        Index("uq_containers_lot_number", "lot_id", "number", unique=True),
        Index("uq_containers_lot_scan", "lot_id", "supplier_scan", unique=True),
        Index("ix_containers_supplier_serial", "supplier_serial"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    supplier_scan: Mapped[str | None] = mapped_column(String(256), nullable=True)
    supplier_serial: Mapped[str | None] = mapped_column(String(64), nullable=True)
    damaged: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    lot: Mapped[Lot] = relationship(back_populates="containers", lazy="joined")

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _quantity(value)


class Receipt(Audited, Base):
    """A goods-received record (到货接收记录, TJ-5.2.1.1): one delivery of one supplier lot, scanned in."""

    __tablename__ = "receipts"
    __audit_type__ = "receipt"
    __audit_label__ = N_("Goods receipt")
    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in RECEIPT_STATUSES) + ")", name="status"),
        CheckConstraint("expected_containers >= 1 AND expected_containers <= 999", name="expected"),
        CheckConstraint("quantity_per_container > 0", name="quantity_per_container"),
        CheckConstraint(
            "status = 'open' OR (completed_at IS NOT NULL AND packaging_intact IS NOT NULL "
            "AND seals_intact IS NOT NULL AND labels_legible IS NOT NULL)",
            name="completed_checks",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), unique=True, nullable=False)
    delivery_note: Mapped[str] = mapped_column(String(64), nullable=False)
    supplier_lot: Mapped[str] = mapped_column(String(64), nullable=False)
    expected_containers: Mapped[int] = mapped_column(Integer, nullable=False)
    quantity_per_container: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    packaging_intact: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    seals_intact: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    labels_legible: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    remarks: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    short_delivery_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_by: Mapped[str] = mapped_column(String(64), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    supplier: Mapped[Supplier] = relationship(lazy="joined")
    material: Mapped[Material] = relationship(lazy="joined")
    lot: Mapped[Lot] = relationship(lazy="joined")

    @validates("quantity_per_container")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _quantity(value)


class CodeCounter(Base):
    """The last serial used per code prefix (``YC2611`` → 7). Not GMP data but guarded like it: only the unit of
    work writes it, one atomic upsert per code, so two receipts at once never get the same serial."""

    __tablename__ = "code_counters"

    prefix: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_serial: Mapped[int] = mapped_column(BigInteger, nullable=False)
