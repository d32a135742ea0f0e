"""Locations, stock, movements, temperature records and storage anomalies (TJ-6.3.3, TJ-6.4.3.6, TJ-5.2.1.2).

* :class:`Location` — the plant's storage places as a tree: warehouses, zones and bins, the receiving dock,
  quarantine and sampling areas, the weighing centre and the workshop stores (暂存间、缓冲间、中间站).
  A location that keeps its own storage conditions (temperature, humidity, the longest allowed gap between
  two readings) is a *climate location*; a bin without conditions of its own takes those of its nearest
  ancestor that has them.
* :class:`StockBalance` — the current state, one row per container: where it is and what is left. Real-time
  stock is read from here; the lot's status is joined in, never copied (it lives on the lot).
* :class:`StockMovement` — append-only, one row per move of one container, with who, when and why.
* :class:`TemperatureReading` — append-only readings of a climate location; ``manual`` now, ``monitoring``
  once the monitoring area feeds them (one entry point: ``wms.stock.record_reading``).
* :class:`StorageAnomaly` — a storage problem found (an excursion, a gap in the record, a lot stored where
  its conditions are not kept…); an open one blocks the lot's issue until QA closes it with a reason.
* :class:`IntermediateLot` and :class:`IntermediateMovement` — intermediate products made in-house and held
  in the workshop stores with their hold time (TJ-6.3.3, table B.5 of TJ-B.2.2.3).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime
from pharmatrace.wms.models import Container, Lot, Material, _quantity

LOCATION_KINDS = (
    "warehouse",  # 仓库
    "zone",  # 库区
    "bin",  # 货位
    "receiving",  # 收货区
    "quarantine",  # 待验区
    "sampling",  # 取样间
    "weighing_centre",  # 称量中心
    "staging",  # 车间暂存间
    "buffer",  # 缓冲间
    "intermediate_store",  # 中间站（中间产品库）
    "retained_samples",  # 留样室
    "rejected_store",  # 不合格品库
)
# Workshop stores (TJ-6.3.3): material gets there only by an issue to production, never by a plain transfer.
WORKSHOP_KINDS = ("weighing_centre", "staging", "buffer", "intermediate_store")

MOVEMENT_KINDS = (
    "receive",  # 收货：scanned at goods receipt, into the receiving area
    "put_away",  # 上架
    "transfer",  # 移库
    "issue",  # 发料：to a batch (into a workshop store, or consumed)
    "return",  # 退库
    "sample",  # 取样
    "retain",  # 留样
    "destroy",  # 销毁
)
# Moves that take a quantity out of the container (it stays where it is, or is gone when nothing is left).
TAKING_KINDS = ("issue", "sample", "retain", "destroy")

READING_SOURCES = ("manual", "monitoring")

ANOMALY_KINDS = (
    "location_unfit",  # 储存位置条件不符合物料储存要求
    "temperature_out_of_range",  # 温湿度超标
    "temperature_record_gap",  # 温湿度记录不完整
    "expired",  # 已过有效期
    "retest_due",  # 已到复验期
    "hold_time_exceeded",  # 中间产品超过存放期限
)
ANOMALY_STATUSES = ("open", "closed")

INTERMEDIATE_STATUSES = (
    "quarantine",  # 待检
    "released",  # 合格
    "rejected",  # 不合格
)
INTERMEDIATE_MOVES = (
    "stock_in",  # 入库 RKSJ/RKR/RKWZ
    "stock_out",  # 出库 CKSJ/CKR
    "transfer",  # 移库
    "sample",  # 取样 QYL/QYR/QYSJ
    "retain",  # 留样
    "charge",  # 投料 TLL/TLSJ/TLR
    "return",  # 退库 TKSJ/TKR, with its reviewer FHR
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _one_decimal(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.1"))


class Location(Audited, Base):
    """A storage place (库位) with its code on a scannable label; never deleted, voided when given up."""

    __tablename__ = "locations"
    __audit_type__ = "location"
    __audit_label__ = N_("Storage location")
    __table_args__ = (
        CheckConstraint(_in("kind", LOCATION_KINDS), name="kind"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        CheckConstraint(
            "temp_min_c IS NULL OR temp_max_c IS NULL OR temp_min_c <= temp_max_c", name="temp_range"
        ),
        CheckConstraint(
            "humidity_max_pct IS NULL OR (humidity_max_pct > 0 AND humidity_max_pct <= 100)", name="humidity"
        ),
        CheckConstraint("max_reading_gap_minutes IS NULL OR max_reading_gap_minutes > 0", name="reading_gap"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        Index("ix_locations_parent", "parent_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)
    # The codes from the root down to this location, "/WH-RM/WH-RM-CL/": finds a location's whole subtree
    # with one prefix match. Fixed at creation (a location does not change its parent).
    path: Mapped[str] = mapped_column(String(400), unique=True, nullable=False)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), nullable=True)
    # Storage conditions kept here (TJ-5.2.1.2); none set: the nearest ancestor's apply.
    temp_min_c: Mapped[Decimal | None] = mapped_column(Numeric(5, 1), nullable=True)
    temp_max_c: Mapped[Decimal | None] = mapped_column(Numeric(5, 1), nullable=True)
    humidity_max_pct: Mapped[Decimal | None] = mapped_column(Numeric(4, 1), nullable=True)
    # The temperature record is complete when no two readings are further apart than this (TJ-6.4.1).
    max_reading_gap_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @validates("temp_min_c", "temp_max_c", "humidity_max_pct")
    def _scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _one_decimal(value)

    @property
    def keeps_climate(self) -> bool:
        """Does this location keep conditions (and a record) of its own?"""
        return (
            self.temp_min_c is not None
            or self.temp_max_c is not None
            or self.humidity_max_pct is not None
            or self.max_reading_gap_minutes is not None
        )

    @property
    def is_workshop(self) -> bool:
        return self.kind in WORKSHOP_KINDS


class StockBalance(Audited, Base):
    """Where one container is now and how much is left in it (the real-time stock, TJ-6.4.3.6).

    Changed only together with a :class:`StockMovement` in the same unit of work. An empty container has no
    location. Material and lot are copied from the container (they never change) for fast queries.
    """

    __tablename__ = "stock_balances"
    __audit_type__ = "stock_balance"
    __audit_label__ = N_("Stock of a container")
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity"),
        CheckConstraint(
            "(quantity > 0 AND location_id IS NOT NULL) OR (quantity = 0 AND location_id IS NULL)",
            name="located_while_not_empty",
        ),
        Index("ix_stock_balances_material_location", "material_id", "location_id"),
        Index("ix_stock_balances_location_material", "location_id", "material_id"),
        Index("ix_stock_balances_lot", "lot_id"),
        # What is in stock, in the order the stock list shows it: a query by material or by lot status
        # reads its first page off this index and stops (1,000,000 containers, most of them long empty).
        Index(
            "ix_stock_balances_in_stock",
            "material_id",
            "lot_id",
            "container_id",
            postgresql_where=text("quantity > 0"),
            sqlite_where=text("quantity > 0"),
        ),
    )

    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"), primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    located_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # arrived where it is
    batch_no: Mapped[str] = mapped_column(String(64), nullable=False, default="")  # issued to this batch
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    container: Mapped[Container] = relationship(lazy="joined")
    lot: Mapped[Lot] = relationship(lazy="joined", viewonly=True)
    location: Mapped[Location | None] = relationship(lazy="joined")

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _quantity(value)


class StockMovement(Audited, Base):
    """One move of one container (库存移动): append-only; a wrong move is corrected by a later one."""

    __tablename__ = "stock_movements"
    __audit_type__ = "stock_movement"
    __audit_label__ = N_("Stock movement")
    __table_args__ = (
        CheckConstraint(_in("kind", MOVEMENT_KINDS), name="kind"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("from_location_id IS NOT NULL OR to_location_id IS NOT NULL", name="somewhere"),
        CheckConstraint("length(reason) >= 2", name="reason"),
        CheckConstraint("kind <> 'issue' OR length(batch_no) >= 1", name="issue_batch"),
        Index("ix_stock_movements_container", "container_id", "moved_at"),
        Index("ix_stock_movements_lot", "lot_id", "moved_at"),
        Index("ix_stock_movements_from", "from_location_id", "moved_at"),
        Index("ix_stock_movements_to", "to_location_id", "moved_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"), nullable=False)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    from_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)
    to_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)
    # The batch the material is issued to; a batch number until the production area has batch orders.
    batch_no: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    reference: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # sample number, order…
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    moved_by: Mapped[str] = mapped_column(String(64), nullable=False)
    moved_by_name: Mapped[str] = mapped_column(String(128), nullable=False)

    container: Mapped[Container] = relationship(lazy="joined")
    from_location: Mapped[Location | None] = relationship(foreign_keys=[from_location_id], lazy="joined")
    to_location: Mapped[Location | None] = relationship(foreign_keys=[to_location_id], lazy="joined")

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _quantity(value)


class TemperatureReading(Audited, Base):
    """One reading of a climate location (温湿度记录): append-only."""

    __tablename__ = "temperature_readings"
    __audit_type__ = "temperature_reading"
    __audit_label__ = N_("Temperature and humidity reading")
    __table_args__ = (
        CheckConstraint(_in("source", READING_SOURCES), name="source"),
        CheckConstraint("measured_at <= recorded_at", name="measured_before_recorded"),
        CheckConstraint("temp_c >= -80 AND temp_c <= 80", name="temp"),
        CheckConstraint(
            "humidity_pct IS NULL OR (humidity_pct >= 0 AND humidity_pct <= 100)", name="humidity"
        ),
        Index("ix_temperature_readings_location", "location_id", "measured_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), nullable=False)
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    temp_c: Mapped[Decimal] = mapped_column(Numeric(5, 1), nullable=False)
    humidity_pct: Mapped[Decimal | None] = mapped_column(Numeric(4, 1), nullable=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)

    location: Mapped[Location] = relationship(lazy="joined")

    @validates("temp_c", "humidity_pct")
    def _scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _one_decimal(value)


class StorageAnomaly(Audited, Base):
    """A storage problem found by the system (储存异常, TJ-5.2.1.2): open until QA closes it with a reason.

    ``covered_from``/``covered_until`` is the stretch of the temperature record the anomaly is about; once
    QA has closed it, that stretch no longer blocks the lot (QA assessed it).
    """

    __tablename__ = "storage_anomalies"
    __audit_type__ = "storage_anomaly"
    __audit_label__ = N_("Storage anomaly")
    __table_args__ = (
        CheckConstraint(_in("kind", ANOMALY_KINDS), name="kind"),
        CheckConstraint(_in("status", ANOMALY_STATUSES), name="status"),
        CheckConstraint(
            "lot_id IS NOT NULL OR location_id IS NOT NULL OR intermediate_id IS NOT NULL", name="subject"
        ),
        CheckConstraint(
            "(status = 'open' AND closed_at IS NULL) OR "
            "(status = 'closed' AND closed_at IS NOT NULL AND closed_by IS NOT NULL AND closing_reason IS NOT NULL)",
            name="closed",
        ),
        Index("ix_storage_anomalies_lot", "lot_id", "status"),
        Index("ix_storage_anomalies_location", "location_id", "status"),
        Index("ix_storage_anomalies_status", "status", "detected_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"), nullable=True)
    intermediate_id: Mapped[int | None] = mapped_column(ForeignKey("intermediate_lots.id"), nullable=True)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)
    reading_id: Mapped[int | None] = mapped_column(ForeignKey("temperature_readings.id"), nullable=True)
    covered_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    covered_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    detail: Mapped[str] = mapped_column(String(500), nullable=False)  # English, as the trail keeps it
    # The same as its msgid and placeholders (JSON text), so a page shows it in the reader's language.
    message: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    params: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    detected_by: Mapped[str] = mapped_column(String(64), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    closing_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    lot: Mapped[Lot | None] = relationship(lazy="joined")
    location: Mapped[Location | None] = relationship(lazy="joined")


class IntermediateLot(Audited, Base):
    """An intermediate product held in a workshop store (中间产品, TJ-6.3.3; B.5 ZJCPMC, ZJCPPH, CCWZ, YXQZ,
    ZLZT). Made by a batch, not received; past ``hold_until`` (its hold time, 保存期) it cannot be charged."""

    __tablename__ = "intermediate_lots"
    __audit_type__ = "intermediate_lot"
    __audit_label__ = N_("Intermediate product lot")
    __table_args__ = (
        CheckConstraint(_in("status", INTERMEDIATE_STATUSES), name="status"),
        CheckConstraint("quantity >= 0", name="quantity"),
        CheckConstraint("hold_until > produced_at", name="hold"),
        CheckConstraint(
            "(quantity > 0 AND location_id IS NOT NULL) OR quantity = 0", name="located_while_not_empty"
        ),
        CheckConstraint("length(lot_number) >= 4", name="lot_number_length"),
        Index("ix_intermediate_lots_material", "material_id", "status"),
        Index("ix_intermediate_lots_location", "location_id"),
        Index("ix_intermediate_lots_batch_no", "batch_no"),  # the genealogy: what a batch made
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lot_number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # ZJCPPH
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)  # ZJCPMC
    batch_no: Mapped[str] = mapped_column(String(64), nullable=False)  # the batch that made it
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)  # left in store
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)  # CCWZ
    located_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    produced_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    hold_until: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # YXQZ
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # ZLZT
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    material: Mapped[Material] = relationship(lazy="joined")
    location: Mapped[Location | None] = relationship(lazy="joined")

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _quantity(value)


class IntermediateMovement(Audited, Base):
    """One move of an intermediate lot (入库、出库、取样、留样、投料、退库): append-only."""

    __tablename__ = "intermediate_movements"
    __audit_type__ = "intermediate_movement"
    __audit_label__ = N_("Intermediate product movement")
    __table_args__ = (
        CheckConstraint(_in("kind", INTERMEDIATE_MOVES), name="kind"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("kind <> 'charge' OR length(batch_no) >= 1", name="charge_batch"),
        CheckConstraint("kind <> 'return' OR reviewed_by IS NOT NULL", name="return_reviewed"),
        CheckConstraint("reviewed_by IS NULL OR reviewed_by <> moved_by", name="reviewer_not_mover"),
        CheckConstraint("length(reason) >= 2", name="reason"),
        Index("ix_intermediate_movements_lot", "intermediate_id", "moved_at"),
        Index("ix_intermediate_movements_batch_no", "batch_no"),  # the genealogy: what a batch was charged
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    intermediate_id: Mapped[int] = mapped_column(ForeignKey("intermediate_lots.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    from_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)
    to_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)
    batch_no: Mapped[str] = mapped_column(String(64), nullable=False, default="")  # charged into
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    moved_by: Mapped[str] = mapped_column(String(64), nullable=False)
    moved_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # 复核人 FHR
    reviewed_by_name: Mapped[str | None] = mapped_column(String(128), nullable=True)

    intermediate: Mapped[IntermediateLot] = relationship(lazy="joined")
    from_location: Mapped[Location | None] = relationship(foreign_keys=[from_location_id], lazy="joined")
    to_location: Mapped[Location | None] = relationship(foreign_keys=[to_location_id], lazy="joined")

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _quantity(value)
