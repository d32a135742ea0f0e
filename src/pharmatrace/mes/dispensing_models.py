"""Scale endpoints, weighing records, material identifications and charges (TJ-6.3.2.2, TJ-6.4.3.3.e, TJ-B.2.2.2).

* ``ScaleEndpoint``: which registered weighing instrument answers MT-SICS at which host:port. A weight is
  always read from that address by the server (TJ-6.3.2.2.a), never taken from the client.
* ``WeighingRecord`` (称量记录, append-only): one accepted weighing of a BOM material for a batch step, with
  everything TJ-B.2.2.2 and TJ-6.3.2.2.b name — the scale (name, code, calibration status, readability),
  the product, batch, material, lot and container, target and tolerance, tare/gross/net, who and when —
  and the stock movement that issued the weighed quantity to the batch. Refused weighings leave no row,
  only their recorded refusal (``mes.weighing.refused``).
* ``MaterialIdentification`` (物料确认, append-only): a container scanned on a ``material_identification``
  step and found to be the BOM's material, of a lot that may be used.
* ``MaterialCharge`` (投料, append-only): the actual lot and quantity charged on a ``charging`` step
  (TJ-6.4.3.3.e), from a weighing (its label scanned) or straight from an identified container.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

WEIGHING_SOURCES = ("scale", "manual")  # read over MT-SICS | typed in as a permitted fallback (flagged)
CHARGE_SOURCES = ("weighing", "container")
WEIGHT = Decimal("0.000001")  # weights are kept with the decimals any registered balance shows (d ≥ 0.1 mg)
QUANTITY = Decimal("0.001")  # the stock's scale


def _scaled(value: Decimal | None, scale: Decimal) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(scale)


class ScaleEndpoint(Audited, Base):
    """Where a registered scale or balance answers MT-SICS over TCP (managed with ``equipment.manage``)."""

    __tablename__ = "scale_endpoints"
    __audit_type__ = "scale_endpoint"
    __audit_label__ = N_("Scale endpoint")
    __table_args__ = (
        CheckConstraint("port >= 1 AND port <= 65535", name="port"),
        CheckConstraint("length(host) >= 1", name="host"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), unique=True, nullable=False)
    host: Mapped[str] = mapped_column(String(253), nullable=False)
    port: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WeighingRecord(Audited, Base):
    """One accepted weighing (称量记录, TJ-B.2.2.2); never changed, never deleted."""

    __tablename__ = "weighing_records"
    __audit_type__ = "weighing_record"
    __audit_label__ = N_("Weighing record")
    __table_args__ = (
        CheckConstraint("source IN ('scale', 'manual')", name="source"),
        # gross = tare + net, exactly: in millionths of the unit (weights keep six decimals, WEIGHT), as SQLite
        # compares NUMERIC as binary floats (14.8513 + 200.05 ≠ 214.9013 there); migration 0030.
        CheckConstraint(
            "net > 0 AND tare >= 0 AND round(gross * 1000000) = round(tare * 1000000) + round(net * 1000000)",
            name="weights",
        ),
        CheckConstraint("quantity > 0 AND target > 0 AND tolerance >= 0", name="quantities"),
        CheckConstraint(
            "quantity >= target - tolerance AND quantity <= target + tolerance", name="tolerance"
        ),
        CheckConstraint(
            "(source = 'scale' AND manual_reason IS NULL AND photo_sm3 IS NULL AND approved_by IS NULL) OR "
            "(source = 'manual' AND length(manual_reason) >= 2 AND length(photo_sm3) = 64 "
            "AND approved_by IS NOT NULL AND approved_by <> weighed_by)",
            name="manual",
        ),
        Index("ix_weighing_records_batch_order_id", "batch_order_id", "step_code"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(
        String(48), unique=True, nullable=False
    )  # on the label, scanned at charging
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), nullable=False)
    batch_no: Mapped[str] = mapped_column(String(32), nullable=False)  # CPPH
    product_code: Mapped[str] = mapped_column(String(32), nullable=False)
    product_name: Mapped[str] = mapped_column(String(128), nullable=False)  # CPMC
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_name: Mapped[str] = mapped_column(String(128), nullable=False)  # WLMC
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    lot_number: Mapped[str] = mapped_column(String(32), nullable=False)  # WLPH
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"), nullable=False)
    container_code: Mapped[str] = mapped_column(String(40), nullable=False)
    scale_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), nullable=False)
    scale_code: Mapped[str] = mapped_column(String(32), nullable=False)  # CJBH
    scale_name: Mapped[str] = mapped_column(String(128), nullable=False)  # CJMC
    scale_serial: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    calibration_status: Mapped[str] = mapped_column(String(32), nullable=False)  # CJZT, at the weighing
    readability: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)  # CJJD (d)
    weight_unit: Mapped[str] = mapped_column(String(8), nullable=False)  # the scale's unit
    tare: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)
    gross: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)
    net: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)  # CLZL, as the scale showed it
    unit: Mapped[str] = mapped_column(String(16), nullable=False)  # the BOM's unit
    target: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)
    tolerance: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)  # ± absolute, in ``unit``
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)  # net in ``unit``
    issued_quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)  # at the stock's scale
    source: Mapped[str] = mapped_column(String(8), nullable=False)
    manual_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    photo_sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the supervisor (manual)
    movement_id: Mapped[int] = mapped_column(ForeignKey("stock_movements.id"), nullable=False)
    weighed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # CLRQ
    weighed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    weighed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)  # CLR

    @validates("readability", "tare", "gross", "net", "target", "tolerance", "quantity")
    def _weight(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value, WEIGHT)

    @validates("issued_quantity")
    def _quantity(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value, QUANTITY)


class MaterialIdentification(Audited, Base):
    """A container identified on a ``material_identification`` step (物料确认): right material, usable lot."""

    __tablename__ = "material_identifications"
    __audit_type__ = "material_identification"
    __audit_label__ = N_("Material identification")
    __table_args__ = (Index("ix_material_identifications_batch_order_id", "batch_order_id", "step_code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), nullable=False)
    batch_no: Mapped[str] = mapped_column(String(32), nullable=False)
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    scan: Mapped[str] = mapped_column(String(256), nullable=False)  # what the scanner read
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"), nullable=False)
    container_code: Mapped[str] = mapped_column(String(40), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_name: Mapped[str] = mapped_column(String(128), nullable=False)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    lot_number: Mapped[str] = mapped_column(String(32), nullable=False)
    lot_status: Mapped[str] = mapped_column(String(16), nullable=False)
    identified_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    identified_by: Mapped[str] = mapped_column(String(64), nullable=False)
    identified_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class MaterialCharge(Audited, Base):
    """What was actually charged (实际投料, TJ-6.4.3.3.e): lot and quantity, from a weighing or a container."""

    __tablename__ = "material_charges"
    __audit_type__ = "material_charge"
    __audit_label__ = N_("Material charge")
    __table_args__ = (
        CheckConstraint("source IN ('weighing', 'container')", name="source"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint(
            "(source = 'weighing' AND weighing_id IS NOT NULL) OR (source = 'container' AND weighing_id IS NULL)",
            name="weighing",
        ),
        Index("ix_material_charges_batch_order_id", "batch_order_id", "step_code"),
        Index("ix_material_charges_lot_id", "lot_id"),  # forward traces from a lot (issue 10)
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), nullable=False)
    batch_no: Mapped[str] = mapped_column(String(32), nullable=False)
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    weighing_id: Mapped[int | None] = mapped_column(
        ForeignKey("weighing_records.id"), unique=True, nullable=True
    )
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"), nullable=False)
    container_code: Mapped[str] = mapped_column(String(40), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_name: Mapped[str] = mapped_column(String(128), nullable=False)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    lot_number: Mapped[str] = mapped_column(String(32), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id"), nullable=True)
    charged_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    charged_by: Mapped[str] = mapped_column(String(64), nullable=False)
    charged_by_name: Mapped[str] = mapped_column(String(128), nullable=False)

    weighing: Mapped[WeighingRecord | None] = relationship(lazy="joined")

    @validates("quantity")
    def _quantity(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value, WEIGHT)
