"""Specifications (质量标准, TJ-7.2, SH-6.2.3 检验标准管理): electronic quality standards, versioned and approved.

A ``Specification`` is the code its versions share (``QS-HB-001``) and the material category it is for.
Each ``SpecificationVersion`` carries what the standard says: title, basis (《中国药典》2025年版一部 or the
plant's in-house standard), whether it is a pharmacopoeia (药典) or an in-house (内控) standard, its purpose
(release 放行, shelf life 货架期, or both), the controlled document of the written standard, the materials it
applies to (``SpecificationMaterial``) and its test items (``SpecificationItem``: method, unit, limit type and
limits, the decimals and the rounding rule the result is judged with, the formula over named raw inputs).
A material may have several specifications (pharmacopoeia and in-house; release and shelf life).

Items and materials are rows so that the database itself holds the rules of a limit (type in the set, a range
has lower ≤ upper, 0–10 decimals, a formula only for numeric limits, …). The version's canonical content (header,
materials, items; :func:`pharmatrace.lims.specs.canonical_content`) has its SM3 in ``content_sm3``; the approval
is signed on a ``SpecificationDecision`` row (append-only) that names that hash, like master recipes (ADR 0014).

Lifecycle (stored on the version)::

    draft ──submit──> in_review ──approve (signed, not by an author)──> approved ──(next approval)──> superseded
      ^                   │
      └──return (reason)──┘

Once a version leaves draft its content never changes: the service refuses it, and database triggers refuse
any change to its header, its items and its materials (migration 0021).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.lims.judgement import LIMIT_TYPES, NUMERIC_LIMITS, ROUNDING_RULES
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

CATEGORIES = (
    "herb",  # 中药材
    "decoction_piece",  # 中药饮片
    "excipient",  # 辅料（原辅料）
    "primary_packaging",  # 内包装材料
    "secondary_packaging",  # 外包装材料
    "intermediate",  # 中间产品（含提取物）
    "bulk",  # 待包装产品
    "finished_product",  # 成品
)
# The material kinds (wms.models.MATERIAL_KINDS) a specification of each category may apply to.
CATEGORY_KINDS: dict[str, tuple[str, ...]] = {
    "herb": ("herb",),
    "decoction_piece": ("decoction_piece",),
    "excipient": ("excipient",),
    "primary_packaging": ("primary_packaging",),
    "secondary_packaging": ("secondary_packaging",),
    "intermediate": ("intermediate", "extract"),
    "bulk": ("intermediate", "finished_good"),
    "finished_product": ("finished_good",),
}
STANDARD_KINDS = (
    "pharmacopoeia",  # 药典标准
    "in_house",  # 企业内控标准
)
PURPOSES = (
    "release",  # 放行
    "shelf_life",  # 货架期
    "both",  # 放行及货架期
)
SPEC_STATUSES = (
    "draft",  # 草稿：作者可编辑
    "in_review",  # 待批准
    "approved",  # 已批准（现行）
    "superseded",  # 已被新版本替代
)
OPEN_STATUSES = ("draft", "in_review")
DECISION_KINDS = (
    "approved",  # 批准（电子签名）
    "returned",  # 退回草稿
)
LIMIT_SCALE = 6  # places a limit is stored with
LIMIT_UNIT = Decimal(1).scaleb(-LIMIT_SCALE)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Specification(Audited, Base):
    """A quality standard (质量标准): the code its versions share and the category of material it is for."""

    __tablename__ = "lims_specifications"
    __audit_type__ = "lims_specification"
    __audit_label__ = N_("Specification")
    __table_args__ = (
        CheckConstraint("length(code) >= 2", name="code_length"),
        CheckConstraint(_in("category", CATEGORIES), name="category"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    versions: Mapped[list[SpecificationVersion]] = relationship(
        back_populates="specification", order_by="SpecificationVersion.version", lazy="selectin"
    )


class SpecificationVersion(Audited, Base):
    """One version of a specification: what it says, its content hash and its lifecycle (TJ-7.2).

    At most one approved and one open (draft or in review) version per specification: partial unique indexes
    hold this in the database too.
    """

    __tablename__ = "lims_spec_versions"
    __audit_type__ = "lims_spec_version"
    __audit_label__ = N_("Specification version")
    __table_args__ = (
        CheckConstraint(_in("status", SPEC_STATUSES), name="status"),
        CheckConstraint(_in("standard_kind", STANDARD_KINDS), name="standard_kind"),
        CheckConstraint(_in("purpose", PURPOSES), name="purpose"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint("length(title) >= 1", name="title"),
        CheckConstraint("length(basis) >= 1", name="basis"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("status <> 'draft' OR approved_at IS NULL", name="draft_unapproved"),
        CheckConstraint("status = 'draft' OR submitted_at IS NOT NULL", name="submitted"),
        CheckConstraint(
            "status NOT IN ('approved', 'superseded') OR (approved_at IS NOT NULL AND approved_by IS NOT NULL)",
            name="approved",
        ),
        CheckConstraint("status <> 'superseded' OR superseded_at IS NOT NULL", name="superseded"),
        Index("uq_lims_spec_versions_number", "specification_id", "version", unique=True),
        Index(
            "uq_lims_spec_versions_approved",
            "specification_id",
            unique=True,
            sqlite_where=text("status = 'approved'"),
            postgresql_where=text("status = 'approved'"),
        ),
        Index(
            "uq_lims_spec_versions_open",
            "specification_id",
            unique=True,
            sqlite_where=text("status IN ('draft', 'in_review')"),
            postgresql_where=text("status IN ('draft', 'in_review')"),
        ),
        Index("ix_lims_spec_versions_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    specification_id: Mapped[int] = mapped_column(ForeignKey("lims_specifications.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    basis: Mapped[str] = mapped_column(
        String(200), nullable=False
    )  # 《中国药典》2025年版一部, 企业内控标准 …
    standard_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    document_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the written standard
    change_summary: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    edited_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    specification: Mapped[Specification] = relationship(back_populates="versions", lazy="joined")
    # The active (not voided) items and materials; written as rows of their own, read through these.
    items: Mapped[list[SpecificationItem]] = relationship(
        order_by=lambda: [SpecificationItem.position, SpecificationItem.id],
        primaryjoin="and_(SpecificationItem.version_id == SpecificationVersion.id, "
        "SpecificationItem.voided_at.is_(None))",
        lazy="selectin",
        viewonly=True,
    )
    materials: Mapped[list[SpecificationMaterial]] = relationship(
        order_by=lambda: [SpecificationMaterial.material_code],
        primaryjoin="and_(SpecificationMaterial.version_id == SpecificationVersion.id, "
        "SpecificationMaterial.voided_at.is_(None))",
        lazy="selectin",
        viewonly=True,
    )
    decisions: Mapped[list[SpecificationDecision]] = relationship(
        back_populates="version", order_by="SpecificationDecision.id", lazy="selectin"
    )


class SpecificationMaterial(Audited, Base):
    """A material the version applies to (by the material master). Removed from a draft by voiding."""

    __tablename__ = "lims_spec_materials"
    __audit_type__ = "lims_spec_material"
    __audit_label__ = N_("Material of a specification version")
    __table_args__ = (
        Index(
            "uq_lims_spec_materials_active",
            "version_id",
            "material_id",
            unique=True,
            sqlite_where=text("voided_at IS NULL"),
            postgresql_where=text("voided_at IS NULL"),
        ),
        Index("ix_lims_spec_materials_material_id", "material_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("lims_spec_versions.id"), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)  # as the master had it
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SpecificationItem(Audited, Base):
    """A test item (检验项目) of a version: method, unit, limit, decimals and rounding rule, formula.

    ``lower``/``upper`` are the limits as the standard states them (stored with six places); ``decimals`` the
    places the result is reported and compared with (修约值比较法, :mod:`pharmatrace.lims.judgement`).
    ``formula`` (``name = expression``) computes the result from the raw inputs listed in ``raw_inputs``
    (JSON: ``[{"name", "label", "unit"}]``). Removed from a draft by voiding.
    """

    __tablename__ = "lims_spec_items"
    __audit_type__ = "lims_spec_item"
    __audit_label__ = N_("Test item of a specification version")
    __table_args__ = (
        CheckConstraint(_in("limit_type", LIMIT_TYPES), name="limit_type"),
        CheckConstraint(_in("rounding", ROUNDING_RULES), name="rounding"),
        CheckConstraint("position >= 1", name="position"),
        CheckConstraint("length(name) >= 1", name="name"),
        CheckConstraint("decimals >= 0 AND decimals <= 10", name="decimals"),
        CheckConstraint(
            "limit_type <> 'range' OR (lower IS NOT NULL AND upper IS NOT NULL AND lower <= upper)",
            name="range_limits",
        ),
        CheckConstraint(
            "limit_type NOT IN ('le', 'lt') OR (upper IS NOT NULL AND lower IS NULL)", name="upper_limit"
        ),
        CheckConstraint(
            "limit_type NOT IN ('ge', 'gt') OR (lower IS NOT NULL AND upper IS NULL)", name="lower_limit"
        ),
        CheckConstraint(
            "limit_type NOT IN ('conforms', 'text') OR (lower IS NULL AND upper IS NULL "
            "AND length(requirement) >= 1 AND formula = '')",
            name="word_limits",
        ),
        CheckConstraint(
            "(formula = '' AND raw_inputs = '[]') OR (formula <> '' AND raw_inputs <> '[]' "
            f"AND {_in('limit_type', NUMERIC_LIMITS)})",
            name="formula",
        ),
        Index("ix_lims_spec_items_version_id", "version_id"),
        Index(
            "uq_lims_spec_items_name",
            "version_id",
            "name",
            unique=True,
            sqlite_where=text("voided_at IS NULL"),
            postgresql_where=text("voided_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("lims_spec_versions.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)  # 含量测定（丹酚酸B）, 水分, 性状 …
    method: Mapped[str] = mapped_column(String(500), nullable=False, default="")  # 通则0832第二法 …
    method_sop: Mapped[str | None] = mapped_column(String(32), nullable=True)  # controlled method document
    unit: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    limit_type: Mapped[str] = mapped_column(String(16), nullable=False)
    lower: Mapped[Decimal | None] = mapped_column(Numeric(20, LIMIT_SCALE), nullable=True)
    upper: Mapped[Decimal | None] = mapped_column(Numeric(20, LIMIT_SCALE), nullable=True)
    requirement: Mapped[str] = mapped_column(String(500), nullable=False, default="")  # 标准规定 as written
    decimals: Mapped[int] = mapped_column(Integer, nullable=False)
    rounding: Mapped[str] = mapped_column(String(8), nullable=False)
    formula: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    raw_inputs: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # canonical JSON list
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @validates("lower", "upper")
    def _scaled(self, _key: str, value: Decimal | None) -> Decimal | None:
        # Held as the database gives it back (six places), so the ledger entry written at flush and the row
        # read back by `ledger verify` are the same bytes; judgement compares numbers, not their form.
        return None if value is None else Decimal(value).quantize(LIMIT_UNIT)


class SpecificationDecision(Audited, Base):
    """An approval or a return of a version, naming the content hash it decided on. Append-only: the approval
    signature is given on this row, so it stays valid whatever the version does next (superseded)."""

    __tablename__ = "lims_spec_decisions"
    __audit_type__ = "lims_spec_decision"
    __audit_label__ = N_("Approval or return of a specification version")
    __table_args__ = (
        CheckConstraint(_in("kind", DECISION_KINDS), name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        Index("ix_lims_spec_decisions_version_id", "version_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("lims_spec_versions.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")

    version: Mapped[SpecificationVersion] = relationship(back_populates="decisions", lazy="joined")
