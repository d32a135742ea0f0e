"""Material master data (物料主数据, TJ-6.3.1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

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
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    storage_condition: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
