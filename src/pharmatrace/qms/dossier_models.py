"""Registration dossiers and contract agreements as controlled records with expiry reminders (注册证书与委托协议;
SH-6.2.4; issue 9 item 10): the tables.

* :class:`Dossier` — one controlled record with a validity, numbered by category: ``REG-YYYY-NNNN`` for a
  registration (药品注册证书 with its 批准文号, 补充申请批准, 再注册, 药品生产许可证) and ``CTR-YYYY-NNNN`` for a
  contract (委托生产, 委托检验, 质量协议). It names the product (a material, required for a registration certificate
  and a supplementary approval), the counterparty of a contract (a supplier by code, or a third party in text), the
  issuing authority of a registration, the validity (effective from, valid until), the reminder lead time in days,
  the owner, the scope, an optional original file (PDF or scan, kept under its SM3 outside the database) and the
  record it renews. Its status follows the declared state machine of :mod:`pharmatrace.qms.dossiers`; "expired"
  is computed from ``valid_until`` and the clock, never stored.
* :class:`DossierDecision` — QA's signed approval, append-only, keeping the canonical content and its SM3; the
  e-signature (``qms.dossier.approve``) is given on this row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime
from pharmatrace.wms.models import Material, Supplier

CATEGORIES = ("registration", "contract")
CATEGORY_LABELS = {"registration": N_("Registration"), "contract": N_("Contract")}
PREFIXES = {"registration": "REG", "contract": "CTR"}
REGISTRATION_KINDS = (
    "drug_registration_certificate",  # 药品注册证书（批准文号）
    "supplementary_approval",  # 补充申请批准
    "re_registration",  # 再注册
    "manufacturing_licence",  # 药品生产许可证
    "other_registration",
)
CONTRACT_KINDS = (
    "contract_manufacturing",  # 委托生产
    "contract_testing",  # 委托检验
    "quality_agreement",  # 质量协议
    "other_contract",
)
KINDS = REGISTRATION_KINDS + CONTRACT_KINDS
KIND_LABELS = {
    "drug_registration_certificate": N_("Drug registration certificate"),
    "supplementary_approval": N_("Supplementary application approval"),
    "re_registration": N_("Re-registration"),
    "manufacturing_licence": N_("Drug manufacturing licence"),
    "other_registration": N_("Other registration"),
    "contract_manufacturing": N_("Contract manufacturing agreement"),
    "contract_testing": N_("Contract testing agreement"),
    "quality_agreement": N_("Quality agreement"),
    "other_contract": N_("Other contract"),
}
PRODUCT_KINDS = ("drug_registration_certificate", "supplementary_approval")  # name the product
DEFAULT_REMINDER_DAYS = {"registration": 180, "contract": 90}
STATUSES = (
    "draft",  # 草稿
    "in_review",  # 审核中
    "effective",  # 生效（QA 签名批准）
    "terminated",  # 已终止（附理由）
    "superseded",  # 已被续期/换证记录取代
    "cancelled",  # 已取消（生效前，附理由）
)
STATUS_LABELS = {
    "draft": N_("Draft"),
    "in_review": N_("In review"),
    "effective": N_("Effective"),
    "terminated": N_("Terminated"),
    "superseded": N_("Superseded"),
    "cancelled": N_("Cancelled"),
}
ENDED_STATUSES = ("terminated", "superseded", "cancelled")
OPEN_STATUSES = ("draft", "in_review")
EXPIRY_LABELS = {"expired": N_("Expired"), "due": N_("Due for renewal"), "valid": N_("Valid")}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


KIND_MATCHES = (
    f"(category = 'registration' AND {_in('kind', REGISTRATION_KINDS)}) "
    f"OR (category = 'contract' AND {_in('kind', CONTRACT_KINDS)})"
)
FILE_ALL_OR_NONE = (
    "(file_sm3 IS NULL) = (file_name IS NULL) AND (file_sm3 IS NULL) = (media_type IS NULL) "
    "AND (file_sm3 IS NULL) = (file_size IS NULL) AND (file_sm3 IS NULL OR length(file_sm3) = 64)"
)


class Dossier(Audited, Base):
    """A registration record or a contract agreement with its validity, as a controlled record (SH-6.2.4)."""

    __tablename__ = "qms_dossiers"
    __audit_type__ = "qms_dossier"
    __audit_label__ = N_("Registration or contract record")
    __table_args__ = (
        CheckConstraint(_in("category", CATEGORIES), name="category"),
        CheckConstraint(KIND_MATCHES, name="kind"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("length(number) >= 6", name="number"),
        CheckConstraint("length(title) >= 1", name="title"),
        CheckConstraint(
            f"kind NOT IN ('{PRODUCT_KINDS[0]}', '{PRODUCT_KINDS[1]}') OR material_id IS NOT NULL",
            name="product",
        ),
        CheckConstraint(
            "category <> 'contract' OR supplier_id IS NOT NULL OR length(counterparty) >= 2",
            name="counterparty",
        ),
        CheckConstraint("effective_from IS NULL OR valid_until >= effective_from", name="validity"),
        CheckConstraint("reminder_days BETWEEN 0 AND 3650", name="reminder_days"),
        CheckConstraint(FILE_ALL_OR_NONE, name="file"),
        CheckConstraint("renews_id IS NULL OR renews_id <> id", name="renews"),
        CheckConstraint(
            "status NOT IN ('effective', 'terminated', 'superseded') OR (approved_at IS NOT NULL "
            "AND approved_by IS NOT NULL)",
            name="approved",
        ),
        # SH-7.1.4: the author does not approve their own record
        CheckConstraint("approved_by IS NULL OR approved_by <> author", name="approver"),
        CheckConstraint(
            "status NOT IN ('terminated', 'superseded', 'cancelled') OR (ended_at IS NOT NULL "
            "AND end_reason IS NOT NULL AND length(end_reason) >= 2)",
            name="ended",
        ),
        Index("ix_qms_dossiers_status", "status"),
        Index("ix_qms_dossiers_material", "material_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # REG-2026-0001
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    reference_no: Mapped[str] = mapped_column(
        String(100), nullable=False, default=""
    )  # 批准文号 / 许可证号 / 合同号
    material_id: Mapped[int | None] = mapped_column(ForeignKey("materials.id"), nullable=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), nullable=True)
    counterparty: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    issuing_authority: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    effective_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_until: Mapped[date] = mapped_column(Date, nullable=False)
    reminder_days: Mapped[int] = mapped_column(Integer, nullable=False)
    owner: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    summary: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    file_sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    file_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    file_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("qms_dossiers.id"), nullable=True)
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    author_name: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    material: Mapped[Material | None] = relationship(lazy="joined", viewonly=True)
    supplier: Mapped[Supplier | None] = relationship(lazy="joined", viewonly=True)
    renews: Mapped[Dossier | None] = relationship(
        remote_side=lambda: Dossier.id, lazy="joined", viewonly=True
    )
    decisions: Mapped[list[DossierDecision]] = relationship(
        order_by=lambda: DossierDecision.id, lazy="selectin", viewonly=True
    )


class DossierDecision(Audited, Base):
    """QA's signed approval of a registration or contract record, keeping the content it was given on and its SM3.
    Append-only (SH-6.2.4)."""

    __tablename__ = "qms_dossier_decisions"
    __audit_type__ = "qms_dossier_decision"
    __audit_label__ = N_("Registration or contract decision")
    __table_args__ = (
        CheckConstraint("kind IN ('approve')", name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        Index("uq_qms_dossier_decisions_kind", "dossier_id", "kind", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("qms_dossiers.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # the canonical JSON the SM3 is of
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
