"""Material master data (物料主数据, TJ-6.3.1)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
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
