"""Herbal-material origin (中药材来源追溯, TJ-5.1): planting bases, plots, crops with their seed source,
cultivation inputs, harvests, primary processing, shipments, and the link of each herb lot to its shipment.

The chain a herb lot traces back through::

    Lot ── HerbLotOrigin ──> Shipment ──(ShipmentSource)──> Harvest ──> Crop ──> Plot ──> PlantingBase ──> Supplier
                                                               └── ProcessingStep…         └── CultivationInput…

Quantities are held in the herb material's unit (kg) at the column's scale, and are kept consistent by the
service (:mod:`pharmatrace.origin.service`): processing cannot yield more than was harvested, a shipment
cannot draw more from a harvest than is left of it, a receipt cannot take more than was shipped.
Quality feedback to the base (TJ-5.2.1.5) is an outbox row (``OriginFeedback``) that a channel delivers.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime
from pharmatrace.wms.models import Lot, Material, Supplier

INPUT_KINDS = (
    "fertilizer",  # 肥料
    "pesticide",  # 农药
    "other",  # 其他（生长调节剂、覆盖物…）
)
SEED_KINDS = ("seed", "seedling", "rhizome")  # 种子、种苗、种根/种茎
PROCESSING_METHODS = (
    "sorting",  # 挑选
    "washing",  # 清洗
    "cutting",  # 切制（切片、切段）
    "sun_drying",  # 晒干
    "shade_drying",  # 阴干
    "oven_drying",  # 烘干（无硫）
    "other",
)
FEEDBACK_KINDS = ("rejected", "quality_anomaly")  # 不合格、质量异常
FEEDBACK_STATUSES = ("pending", "delivered", "failed")

QUANTITY = Decimal("0.001")
AREA = Decimal("0.01")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _scaled(value: Decimal | None, scale: Decimal) -> Decimal | None:
    # Held at the column's scale, so the ledger entry and the row read back are the same (25 → 25.000).
    return None if value is None else Decimal(value).quantize(scale)


class PlantingBase(Audited, Base):
    """A herb planting base (中药材生产基地): the GACP details on top of its supplier row."""

    __tablename__ = "planting_bases"
    __audit_type__ = "planting_base"
    __audit_label__ = N_("Planting base")
    __table_args__ = (CheckConstraint("area_mu IS NULL OR area_mu > 0", name="area"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), unique=True, nullable=False)
    region: Mapped[str] = mapped_column(String(128), nullable=False)  # 产地（道地产区）
    certificate: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # GAP/生态种植证书
    certificate_valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    area_mu: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)  # 亩
    manager: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # 基地负责人
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    supplier: Mapped[Supplier] = relationship(lazy="joined")

    @validates("area_mu")
    def _scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value, AREA)


class Plot(Audited, Base):
    """A plot (生产地块) of a base, with its own scannable code."""

    __tablename__ = "plots"
    __audit_type__ = "plot"
    __audit_label__ = N_("Plot of a planting base")
    __table_args__ = (
        CheckConstraint("area_mu > 0", name="area"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        Index("ix_plots_base_id", "base_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    base_id: Mapped[int] = mapped_column(ForeignKey("planting_bases.id"), nullable=False)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    area_mu: Mapped[Decimal] = mapped_column(Numeric(10, 2), nullable=False)
    location: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    coordinates: Mapped[str] = mapped_column(String(64), nullable=False, default="")  # "35.10N 118.35E"
    soil: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    irrigation: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    base: Mapped[PlantingBase] = relationship(lazy="joined")

    @validates("area_mu")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value, AREA)


class Crop(Audited, Base):
    """One planting on a plot (种植记录) with its seed or seedling source (种子种苗来源); a plot has
    successive crops."""

    __tablename__ = "crops"
    __audit_type__ = "crop"
    __audit_label__ = N_("Crop and seed source")
    __table_args__ = (
        CheckConstraint(_in("seed_kind", SEED_KINDS), name="seed_kind"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        Index("ix_crops_plot_id", "plot_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id"), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    species: Mapped[str] = mapped_column(String(128), nullable=False)  # 丹参
    latin_name: Mapped[str] = mapped_column(String(128), nullable=False)  # Salvia miltiorrhiza Bge.
    variety: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # 品种/种源
    seed_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    seed_source: Mapped[str] = mapped_column(String(256), nullable=False)  # who supplied the seed
    seed_certificate: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # 种子检验/合格证
    planted_on: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    plot: Mapped[Plot] = relationship(lazy="joined")
    material: Mapped[Material] = relationship(lazy="joined")


class CultivationInput(Audited, Base):
    """One application of fertilizer or pesticide on a crop (施肥、用药记录). Append-only: never updated
    or deleted (database triggers refuse both); a wrong entry is corrected by a later one."""

    __tablename__ = "cultivation_inputs"
    __audit_type__ = "cultivation_input"
    __audit_label__ = N_("Fertilizer or pesticide application")
    __table_args__ = (
        CheckConstraint(_in("kind", INPUT_KINDS), name="kind"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(
            "(kind = 'pesticide' AND pre_harvest_days IS NOT NULL AND pre_harvest_days >= 0) OR "
            "(kind <> 'pesticide' AND pre_harvest_days IS NULL)",
            name="pre_harvest",
        ),
        CheckConstraint("length(product) >= 1", name="product"),
        Index("ix_cultivation_inputs_crop", "crop_id", "applied_on"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    crop_id: Mapped[int] = mapped_column(ForeignKey("crops.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    product: Mapped[str] = mapped_column(String(128), nullable=False)
    active_ingredient: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)  # kg, L, kg/亩…
    applied_on: Mapped[date] = mapped_column(Date, nullable=False)
    applied_by: Mapped[str] = mapped_column(String(128), nullable=False)
    pre_harvest_days: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 安全间隔期
    remarks: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)

    @validates("amount")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value, QUANTITY)


class Harvest(Audited, Base):
    """A harvest (采收) of a crop, with its code; never taken inside a pesticide's pre-harvest interval."""

    __tablename__ = "harvests"
    __audit_type__ = "harvest"
    __audit_label__ = N_("Harvest")
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        Index("ix_harvests_crop_id", "crop_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    crop_id: Mapped[int] = mapped_column(ForeignKey("crops.id"), nullable=False)
    harvested_on: Mapped[date] = mapped_column(Date, nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)  # fresh weight
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    method: Mapped[str] = mapped_column(String(256), nullable=False, default="")  # 采收方式
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    crop: Mapped[Crop] = relationship(lazy="joined")

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value, QUANTITY)


class ProcessingStep(Audited, Base):
    """One step of primary processing at the base (产地初加工) of a harvest, in order; each step's output
    is at most the previous one's (or the harvest's quantity)."""

    __tablename__ = "processing_steps"
    __audit_type__ = "processing_step"
    __audit_label__ = N_("Primary processing step")
    __table_args__ = (
        CheckConstraint(_in("method", PROCESSING_METHODS), name="method"),
        CheckConstraint("output_quantity > 0", name="output"),
        Index("ix_processing_steps_harvest_id", "harvest_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    harvest_id: Mapped[int] = mapped_column(ForeignKey("harvests.id"), nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    performed_on: Mapped[date] = mapped_column(Date, nullable=False)
    output_quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    conditions: Mapped[str] = mapped_column(String(256), nullable=False, default="")  # 50–60 °C, 无硫熏
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @validates("output_quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value, QUANTITY)


class Shipment(Audited, Base):
    """A shipment (发运) from a base to the plant: packed (包装), stored and transported under stated
    conditions (储运); it draws its quantity from one or more harvests (``ShipmentSource``)."""

    __tablename__ = "herb_shipments"
    __audit_type__ = "origin_shipment"
    __audit_label__ = N_("Shipment from a planting base")
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("pack_count >= 1", name="pack_count"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        CheckConstraint("packed_on <= shipped_on", name="packed_before_shipped"),
        Index("ix_herb_shipments_base_id", "base_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    base_id: Mapped[int] = mapped_column(ForeignKey("planting_bases.id"), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    batch_no: Mapped[str] = mapped_column(String(64), nullable=False)  # the base's batch on its labels
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    pack_type: Mapped[str] = mapped_column(String(128), nullable=False)  # 包装规格：编织袋 25 kg
    pack_count: Mapped[int] = mapped_column(Integer, nullable=False)
    packed_on: Mapped[date] = mapped_column(Date, nullable=False)
    storage_conditions: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    shipped_on: Mapped[date] = mapped_column(Date, nullable=False)
    destination: Mapped[str] = mapped_column(String(256), nullable=False)
    carrier: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    transport_conditions: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    base: Mapped[PlantingBase] = relationship(lazy="joined")
    material: Mapped[Material] = relationship(lazy="joined")
    sources: Mapped[list[ShipmentSource]] = relationship(
        back_populates="shipment", order_by="ShipmentSource.id", lazy="selectin"
    )

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value, QUANTITY)


class ShipmentSource(Audited, Base):
    """How much of a shipment came from one harvest."""

    __tablename__ = "herb_shipment_sources"
    __audit_type__ = "origin_shipment_source"
    __audit_label__ = N_("Harvest in a shipment")
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        Index("uq_herb_shipment_sources_pair", "shipment_id", "harvest_id", unique=True),
        Index("ix_herb_shipment_sources_harvest_id", "harvest_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("herb_shipments.id"), nullable=False)
    harvest_id: Mapped[int] = mapped_column(ForeignKey("harvests.id"), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)

    shipment: Mapped[Shipment] = relationship(back_populates="sources", lazy="joined")
    harvest: Mapped[Harvest] = relationship(lazy="joined")

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value, QUANTITY)


class HerbLotOrigin(Audited, Base):
    """The link of a herb lot to the shipment it was received from: "each herb lot links back to its plot"."""

    __tablename__ = "herb_lot_origins"
    __audit_type__ = "herb_lot_origin"
    __audit_label__ = N_("Origin of a herb lot")
    __table_args__ = (Index("ix_herb_lot_origins_shipment_id", "shipment_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), unique=True, nullable=False)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("herb_shipments.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)

    lot: Mapped[Lot] = relationship(lazy="joined")
    shipment: Mapped[Shipment] = relationship(lazy="joined")


class OriginFeedback(Audited, Base):
    """A quality message to a planting base (不合格信息反馈, TJ-5.2.1.5), kept in an outbox until a
    channel delivers it; its delivery status is the only thing that changes."""

    __tablename__ = "origin_feedback"
    __audit_type__ = "origin_feedback"
    __audit_label__ = N_("Quality feedback to a planting base")
    __table_args__ = (
        CheckConstraint(_in("kind", FEEDBACK_KINDS), name="kind"),
        CheckConstraint(_in("status", FEEDBACK_STATUSES), name="status"),
        CheckConstraint("status <> 'delivered' OR delivered_at IS NOT NULL", name="delivered"),
        Index("ix_origin_feedback_lot_id", "lot_id"),
        Index("ix_origin_feedback_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    base_id: Mapped[int] = mapped_column(ForeignKey("planting_bases.id"), nullable=False)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("herb_shipments.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)  # Chinese text for the base
    produced_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    produced_by: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    lot: Mapped[Lot] = relationship(lazy="joined")
    base: Mapped[PlantingBase] = relationship(lazy="joined")
    shipment: Mapped[Shipment] = relationship(lazy="joined")
