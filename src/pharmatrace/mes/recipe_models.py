"""Master recipes, ISA-88 shaped (主配方/工艺规程的电子化, TJ-6.4.3.1, TJ-3.6 note, TJ-6.1).

A master recipe (``MasterRecipe``) is the header every version shares: its code and the product it makes.
Each version (``MasterRecipeVersion``) carries the whole procedure — unit procedures → operations → phases
(steps), bill of materials, parameters and limits, in-process controls, time constraints, sign-offs and the
predecessor graph — as one validated, canonical JSON body with its SM3 hash (see
:mod:`pharmatrace.mes.recipe_schemas` for the shape, :mod:`pharmatrace.mes.recipes` for the rules).

Why a body and not rows: a control recipe is a byte-exact frozen copy of an approved version (the body text
and its hash), and a signature binds the whole procedure through that hash. Once a version leaves
``draft`` its body and hash never change (a database trigger refuses it too).

Decisions (``RecipeDecision``: reviewed, approved, returned) are append-only rows; the review and approval
signatures are given on them, so a later status change of the version (superseded, withdrawn) leaves the
signatures valid and each one still names the exact body hash it covered.

Lifecycle (stored on the version, TJ-6.4.3.1)::

    draft ──submit──> in_review ──review (signed) + approve (signed)──> approved ──(next approval)──> superseded
      ^                   │                                                │
      └──return (reason)──┘                                                └──withdraw (reason)──> withdrawn
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_, Conflict
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

RECIPE_STATUSES = (
    "draft",  # 草稿：可编辑
    "in_review",  # 审核中
    "approved",  # 已批准：可用于批生产
    "superseded",  # 已被新版本替代
    "withdrawn",  # 已撤销
)
OPEN_STATUSES = ("draft", "in_review")
DECISION_KINDS = (
    "reviewed",  # 审核（签名）
    "approved",  # 批准（签名）
    "returned",  # 退回草稿
)
QUANTITY = Decimal("0.001")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class MasterRecipe(Audited, Base):
    """The master recipe of a product (主配方): the code its versions share."""

    __tablename__ = "master_recipes"
    __audit_type__ = "master_recipe"
    __audit_label__ = N_("Master recipe")
    __table_args__ = (CheckConstraint("length(code) >= 2", name="code_length"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    product_code: Mapped[str] = mapped_column(String(32), nullable=False)
    product_name: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    versions: Mapped[list[MasterRecipeVersion]] = relationship(
        back_populates="recipe", order_by="MasterRecipeVersion.version", lazy="selectin"
    )


class MasterRecipeVersion(Audited, Base):
    """One version of a master recipe: the canonical body, its SM3 hash and its lifecycle.

    At most one approved version and one open (draft or in review) version per recipe: partial unique
    indexes hold this in the database too.
    """

    __tablename__ = "master_recipe_versions"
    __audit_type__ = "master_recipe_version"
    __audit_label__ = N_("Master recipe version")
    __table_args__ = (
        CheckConstraint(_in("status", RECIPE_STATUSES), name="status"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint("batch_size > 0", name="batch_size"),
        CheckConstraint("length(body_sm3) = 64", name="body_sm3"),
        CheckConstraint(
            "status NOT IN ('approved', 'superseded') OR approved_at IS NOT NULL", name="approved"
        ),
        CheckConstraint("status <> 'superseded' OR superseded_at IS NOT NULL", name="superseded"),
        CheckConstraint("status <> 'withdrawn' OR withdrawn_at IS NOT NULL", name="withdrawn"),
        CheckConstraint("status IN ('draft', 'withdrawn') OR submitted_at IS NOT NULL", name="submitted"),
        Index("uq_master_recipe_versions_number", "recipe_id", "version", unique=True),
        Index(
            "uq_master_recipe_versions_approved",
            "recipe_id",
            unique=True,
            sqlite_where=text("status = 'approved'"),
            postgresql_where=text("status = 'approved'"),
        ),
        Index(
            "uq_master_recipe_versions_open",
            "recipe_id",
            unique=True,
            sqlite_where=text("status IN ('draft', 'in_review')"),
            postgresql_where=text("status IN ('draft', 'in_review')"),
        ),
        Index("ix_master_recipe_versions_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    recipe_id: Mapped[int] = mapped_column(ForeignKey("master_recipes.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    # Copied from the body by the service, for lists and filters; the body is the reference.
    batch_size: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    batch_unit: Mapped[str] = mapped_column(String(16), nullable=False)
    mpr_number: Mapped[str] = mapped_column(String(32), nullable=False)  # 工艺规程文件编号
    change_summary: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    body: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON (RecipeBody)
    body_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)  # the author
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    edited_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # last to replace the body
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    recipe: Mapped[MasterRecipe] = relationship(back_populates="versions", lazy="joined")
    decisions: Mapped[list[RecipeDecision]] = relationship(
        back_populates="version", order_by="RecipeDecision.id", lazy="selectin"
    )

    @validates("batch_size")
    def _scale(self, _key: str, value: Decimal) -> Decimal:
        return Decimal(value).quantize(QUANTITY)

    @validates("body", "body_sm3")
    def _frozen(self, key: str, value: str) -> str:
        # TJ-6.4.3.1: an approved (or submitted) master recipe is never edited; a change is a new version.
        if (
            self.status is not None
            and self.status != "draft"
            and getattr(self, key, None) not in (None, value)
        ):
            raise Conflict(N_("Only a draft version of a master recipe can be changed"))
        return value


class RecipeDecision(Audited, Base):
    """A review, approval or return of a version, naming the body hash it decided on. Append-only: the
    review and approval signatures are given on this row, so they stay valid whatever the version does next."""

    __tablename__ = "master_recipe_decisions"
    __audit_type__ = "recipe_decision"
    __audit_label__ = N_("Review or approval of a master recipe version")
    __table_args__ = (
        CheckConstraint(_in("kind", DECISION_KINDS), name="kind"),
        CheckConstraint("length(body_sm3) = 64", name="body_sm3"),
        Index("ix_master_recipe_decisions_version_id", "version_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("master_recipe_versions.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    body_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")

    version: Mapped[MasterRecipeVersion] = relationship(back_populates="decisions", lazy="joined")
