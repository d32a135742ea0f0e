"""Packaging records (包装记录, TJ-6.4.6, TJ-B.2.3.4).

* ``PackagingRecord``: one per batch order — the bulk (intermediate) batch and quantity received, the
  finished-product batch number and planned quantity, the line and room, the packaging instruction followed
  (a controlled document, number and effective version), the manufacture date, the product's shelf life and
  the expiry date computed from them, and the limits the checks below are held against.
* ``PackagingLineCheck``: the pre-packaging line check (包装前检查) with its checklist and results, signed by
  its performer and verified by another person (DB CHECK).
* ``PrintedMaterialCheck`` (append-only): each printed packaging material (label, carton, leaflet) verified
  against the current effective version of its artwork (a controlled drawing or specification).
* ``PackagingSpecimen`` (append-only): a specimen image of a printed material (kept by SM3 in the file store).
* ``PrintDataCheck`` (append-only): the batch number and expiry date as printed, equal to the record's (DB CHECK).
* ``VisualInspection`` (灯检, append-only): units inspected, good, rejected by defect category; totals add up
  (DB CHECK).
* ``MaterialReconciliation`` (印刷包装材料物料平衡, append-only): issued, used, destroyed, returned per material.
* ``PackagingBalance`` (append-only): finished units, samples and rejects against the bulk quantity.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

QUANTITY = Decimal("0.001")
PERCENT = Decimal("0.01")
PRINTED_KINDS = ("label", "carton", "leaflet")  # 标签、小盒/纸箱、说明书
DEFECTS = ("particles", "glass", "fill_volume", "cracks", "cosmetic", "other")


def _q(value: Decimal | None, scale: Decimal) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(scale)


class PackagingRecord(Audited, Base):
    """The packaging record of a batch order (包装记录, TJ-B.2.3.4)."""

    __tablename__ = "packaging_records"
    __audit_type__ = "packaging_record"
    __audit_label__ = N_("Packaging record")
    __table_args__ = (
        CheckConstraint("bulk_quantity > 0 AND planned_quantity > 0", name="quantities"),
        CheckConstraint("shelf_life_months > 0", name="shelf_life"),
        CheckConstraint("expiry_date > manufacture_date", name="expiry"),
        CheckConstraint(
            "reconciliation_limit_pct >= 0 AND reconciliation_limit_pct <= 100", name="recon_limit"
        ),
        CheckConstraint(
            "yield_low_pct > 0 AND yield_low_pct <= yield_high_pct AND yield_high_pct <= 200",
            name="yield_limits",
        ),
        CheckConstraint(
            "reject_alert_pct >= 0 AND reject_alert_pct <= reject_action_pct AND reject_action_pct <= 100",
            name="reject_limits",
        ),
        CheckConstraint("instruction_version >= 1", name="instruction_version"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), unique=True, nullable=False)
    batch_no: Mapped[str] = mapped_column(String(32), nullable=False)  # the finished product's batch number
    product_code: Mapped[str] = mapped_column(String(32), nullable=False)
    product_name: Mapped[str] = mapped_column(String(128), nullable=False)
    bulk_batch_no: Mapped[str] = mapped_column(String(32), nullable=False)  # 待包装产品批号
    bulk_quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)  # received for packaging
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    planned_quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    pack_size: Mapped[str] = mapped_column(String(64), nullable=False, default="")  # BZGG, e.g. 10 支/盒
    line: Mapped[str] = mapped_column(String(64), nullable=False)
    room: Mapped[str] = mapped_column(String(64), nullable=False)
    instruction_number: Mapped[str] = mapped_column(String(64), nullable=False)  # 包装指令
    instruction_version: Mapped[int] = mapped_column(Integer, nullable=False)
    manufacture_date: Mapped[date] = mapped_column(Date, nullable=False)
    shelf_life_months: Mapped[int] = mapped_column(Integer, nullable=False)
    expiry_date: Mapped[date] = mapped_column(Date, nullable=False)
    reconciliation_limit_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    yield_low_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    yield_high_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    reject_alert_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    reject_action_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)

    @validates("bulk_quantity", "planned_quantity")
    def _quantity(self, _key: str, value: Decimal) -> Decimal | None:
        return _q(value, QUANTITY)

    @validates(
        "reconciliation_limit_pct", "yield_low_pct", "yield_high_pct", "reject_alert_pct", "reject_action_pct"
    )
    def _percent(self, _key: str, value: Decimal) -> Decimal | None:
        return _q(value, PERCENT)


class PackagingLineCheck(Audited, Base):
    """The pre-packaging line check (包装前检查, TJ-6.4.6): checklist, performer, a different verifier."""

    __tablename__ = "packaging_line_checks"
    __audit_type__ = "packaging_line_check"
    __audit_label__ = N_("Pre-packaging line check")
    __table_args__ = (
        CheckConstraint("verified_by IS NULL OR verified_by <> performed_by", name="four_eyes"),
        CheckConstraint("(verified_by IS NULL) = (verified_at IS NULL)", name="verified"),
        CheckConstraint("length(checks_sm3) = 64", name="checks_sm3"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("packaging_records.id"), unique=True, nullable=False)
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    room: Mapped[str] = mapped_column(String(64), nullable=False)
    checks: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON [{item, result, note}]
    checks_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    performed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PrintedMaterialCheck(Audited, Base):
    """A printed packaging material verified against its artwork's effective version (TJ-6.4.6)."""

    __tablename__ = "packaging_material_checks"
    __audit_type__ = "packaging_material_check"
    __audit_label__ = N_("Printed packaging material check")
    __table_args__ = (
        CheckConstraint("kind IN ('label', 'carton', 'leaflet')", name="kind"),
        CheckConstraint("artwork_version >= 1", name="artwork_version"),
        CheckConstraint("per_unit > 0", name="per_unit"),
        UniqueConstraint("record_id", "material_code"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("packaging_records.id"), nullable=False)
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_name: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    lot_number: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    artwork_number: Mapped[str] = mapped_column(String(64), nullable=False)
    artwork_version: Mapped[int] = mapped_column(Integer, nullable=False)  # the effective one, = as issued
    per_unit: Mapped[Decimal] = mapped_column(Numeric(10, 3), nullable=False)  # pieces per finished unit
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    checked_by: Mapped[str] = mapped_column(String(64), nullable=False)

    @validates("per_unit")
    def _per_unit(self, _key: str, value: Decimal) -> Decimal | None:
        return _q(value, QUANTITY)


class PackagingSpecimen(Audited, Base):
    """A specimen image of a printed material (印刷包装材料实样), kept by SM3 in the file store."""

    __tablename__ = "packaging_specimens"
    __audit_type__ = "packaging_specimen"
    __audit_label__ = N_("Printed material specimen")
    __table_args__ = (
        CheckConstraint("length(sm3) = 64", name="sm3"),
        CheckConstraint("size > 0", name="size"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    material_check_id: Mapped[int] = mapped_column(ForeignKey("packaging_material_checks.id"), nullable=False)
    sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    media_type: Mapped[str] = mapped_column(String(64), nullable=False)
    file_name: Mapped[str] = mapped_column(String(256), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    uploaded_by: Mapped[str] = mapped_column(String(64), nullable=False)


class PrintDataCheck(Audited, Base):
    """The batch number and expiry date as printed, checked against the record (TJ-6.4.6)."""

    __tablename__ = "packaging_print_checks"
    __audit_type__ = "packaging_print_check"
    __audit_label__ = N_("Batch and expiry printing check")
    __table_args__ = (
        CheckConstraint(
            "printed_batch_no = expected_batch_no AND printed_expiry = expected_expiry", name="match"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("packaging_records.id"), nullable=False)
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)  # where it was printed
    printed_batch_no: Mapped[str] = mapped_column(String(32), nullable=False)
    printed_expiry: Mapped[date] = mapped_column(Date, nullable=False)
    expected_batch_no: Mapped[str] = mapped_column(String(32), nullable=False)
    expected_expiry: Mapped[date] = mapped_column(Date, nullable=False)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    checked_by: Mapped[str] = mapped_column(String(64), nullable=False)


class VisualInspection(Audited, Base):
    """Visual inspection (灯检): units inspected, good and rejected by defect category (TJ-6.4.6)."""

    __tablename__ = "packaging_visual_inspections"
    __audit_type__ = "visual_inspection"
    __audit_label__ = N_("Visual inspection")
    __table_args__ = (
        CheckConstraint(
            "good >= 0 AND particles >= 0 AND glass >= 0 AND fill_volume >= 0 AND cracks >= 0 "
            "AND cosmetic >= 0 AND other >= 0",
            name="counts",
        ),
        CheckConstraint("inspected > 0", name="inspected"),
        CheckConstraint(
            "rejected = particles + glass + fill_volume + cracks + cosmetic + other AND inspected = good + rejected",
            name="totals",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("packaging_records.id"), nullable=False)
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    inspected: Mapped[int] = mapped_column(Integer, nullable=False)
    good: Mapped[int] = mapped_column(Integer, nullable=False)
    rejected: Mapped[int] = mapped_column(Integer, nullable=False)
    particles: Mapped[int] = mapped_column(Integer, nullable=False)  # 可见异物
    glass: Mapped[int] = mapped_column(Integer, nullable=False)  # 玻璃屑
    fill_volume: Mapped[int] = mapped_column(Integer, nullable=False)  # 装量
    cracks: Mapped[int] = mapped_column(Integer, nullable=False)  # 裂瓶
    cosmetic: Mapped[int] = mapped_column(Integer, nullable=False)  # 外观
    other: Mapped[int] = mapped_column(Integer, nullable=False)
    reject_pct: Mapped[Decimal] = mapped_column(Numeric(6, 2), nullable=False)
    inspected_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    inspected_by: Mapped[str] = mapped_column(String(64), nullable=False)
    inspected_by_name: Mapped[str] = mapped_column(String(128), nullable=False)

    @validates("reject_pct")
    def _percent(self, _key: str, value: Decimal) -> Decimal | None:
        return _q(value, PERCENT)


class MaterialReconciliation(Audited, Base):
    """Printed packaging material reconciliation (TJ-6.4.6): issued = used + destroyed + returned within limits,
    and the pieces used against the finished units (units × pieces per unit)."""

    __tablename__ = "packaging_reconciliations"
    __audit_type__ = "packaging_reconciliation"
    __audit_label__ = N_("Printed material reconciliation")
    __table_args__ = (
        CheckConstraint("issued > 0 AND used >= 0 AND destroyed >= 0 AND returned >= 0", name="counts"),
        CheckConstraint("expected_used >= 0", name="expected_used"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    material_check_id: Mapped[int] = mapped_column(
        ForeignKey("packaging_material_checks.id"), unique=True, nullable=False
    )
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    issued: Mapped[int] = mapped_column(Integer, nullable=False)
    used: Mapped[int] = mapped_column(Integer, nullable=False)
    destroyed: Mapped[int] = mapped_column(Integer, nullable=False)  # damaged, samples
    returned: Mapped[int] = mapped_column(Integer, nullable=False)
    balance_pct: Mapped[Decimal] = mapped_column(
        Numeric(7, 2), nullable=False
    )  # (used+destroyed+returned)/issued
    expected_used: Mapped[Decimal] = mapped_column(
        Numeric(14, 3), nullable=False
    )  # finished units × per unit
    within_limits: Mapped[bool] = mapped_column(nullable=False)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    checked_by: Mapped[str] = mapped_column(String(64), nullable=False)

    @validates("balance_pct")
    def _percent(self, _key: str, value: Decimal) -> Decimal | None:
        return _q(value, PERCENT)

    @validates("expected_used")
    def _quantity(self, _key: str, value: Decimal) -> Decimal | None:
        return _q(value, QUANTITY)


class PackagingBalance(Audited, Base):
    """Yield and quantity balance of packaging (TJ-6.4.6, TJ-6.3.2.3): finished + samples + rejects vs bulk."""

    __tablename__ = "packaging_balances"
    __audit_type__ = "packaging_balance"
    __audit_label__ = N_("Packaging yield and balance")
    __table_args__ = (CheckConstraint("finished >= 0 AND samples >= 0 AND rejects >= 0", name="counts"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("packaging_records.id"), unique=True, nullable=False)
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    finished: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    samples: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    rejects: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    yield_pct: Mapped[Decimal] = mapped_column(Numeric(7, 2), nullable=False)  # finished / bulk
    balance_pct: Mapped[Decimal] = mapped_column(
        Numeric(7, 2), nullable=False
    )  # (finished+samples+rejects)/bulk
    within_limits: Mapped[bool] = mapped_column(nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)

    @validates("finished", "samples", "rejects")
    def _quantity(self, _key: str, value: Decimal) -> Decimal | None:
        return _q(value, QUANTITY)

    @validates("yield_pct", "balance_pct")
    def _percent(self, _key: str, value: Decimal) -> Decimal | None:
        return _q(value, PERCENT)
