"""Product quality review (产品质量回顾, PQR; TJ-9.4, SH-6.2.4; issue 9 item 9): the tables.

* :class:`ProductQualityReview` — one compilation of the review of a product (a finished good of the material
  master, the ``product_code`` of the MES batches) over a period, by default a calendar year (``PQR-YYYY-NNNN``).
  The compiled content — batches and their release, yields, deviations, OOS/OOT, changes, complaints and recalls,
  stability — is kept as canonical JSON with its SM3 (``content_sm3``), who compiled it and when. QA's reviewer
  conclusions (a comment per section, whether the process is stable and capable, the actions, the overall
  conclusion) are entered on it. Its status: ``compiled`` → ``in_review`` → ``approved``; recompiling before the
  approval adds the next version under the same number and marks this one ``superseded`` — so every snapshot stays
  a row of its own (and in the audit trail and the ledger), never overwritten nor deleted.
* :class:`PqrDecision` — the qualified person's signed approval, append-only, naming the SM3 of the compiled
  content and of the conclusions it was given on; the e-signature (``qms.pqr.approve``) is given on this row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

STATUSES = (
    "compiled",  # 已汇编：待 QA 审阅
    "in_review",  # 审阅中：已填写结论
    "approved",  # 已批准（质量受权人签名）
    "superseded",  # 已被重新汇编取代
)
STATUS_LABELS = {
    "compiled": N_("Compiled"),
    "in_review": N_("In review"),
    "approved": N_("Approved"),
    "superseded": N_("Superseded"),
}
OPEN_STATUSES = ("compiled", "in_review")
# The sections of a review, in the order of the report (TJ-9.4: 工艺稳定可靠、质量标准适用、不良趋势).
SECTIONS = ("batches", "yields", "deviations", "laboratory", "changes", "complaints", "stability")
SECTION_LABELS = {
    "batches": N_("Batches and release decisions"),
    "yields": N_("Yields"),
    "deviations": N_("Deviations"),
    "laboratory": N_("Test results, OOS and OOT"),
    "changes": N_("Changes"),
    "complaints": N_("Complaints and recalls"),
    "stability": N_("Stability"),
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class ProductQualityReview(Audited, Base):
    """One compiled version of a product quality review and QA's review of it (TJ-9.4)."""

    __tablename__ = "qms_pqrs"
    __audit_type__ = "qms_pqr"
    __audit_label__ = N_("Product quality review")
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("length(number) >= 6", name="number"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint("period_end >= period_start", name="period"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint(
            "version = 1 OR (supersedes_id IS NOT NULL AND length(recompile_reason) >= 2)", name="recompiled"
        ),
        CheckConstraint("(status = 'superseded') = (superseded_at IS NOT NULL)", name="superseded"),
        CheckConstraint(
            "status <> 'approved' OR (approved_at IS NOT NULL AND approved_by IS NOT NULL "
            "AND length(overall_conclusion) >= 2)",
            name="approved",
        ),
        # TJ-9.4 / SH-7.1.4: who compiled the review does not approve it
        CheckConstraint("approved_by IS NULL OR approved_by <> compiled_by", name="approver"),
        Index("uq_qms_pqrs_version", "number", "version", unique=True),
        # one live version per number, one live review per product and period
        Index(
            "uq_qms_pqrs_live",
            "number",
            unique=True,
            sqlite_where=text("status <> 'superseded'"),
            postgresql_where=text("status <> 'superseded'"),
        ),
        Index(
            "uq_qms_pqrs_product_period",
            "product_id",
            "period_start",
            "period_end",
            unique=True,
            sqlite_where=text("status <> 'superseded'"),
            postgresql_where=text("status <> 'superseded'"),
        ),
        Index("ix_qms_pqrs_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False)  # PQR-2026-0001
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    product_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    product_code: Mapped[str] = mapped_column(String(32), nullable=False)
    product_name: Mapped[str] = mapped_column(String(128), nullable=False)
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    period_end: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON: the compiled sections
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    compiled_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    compiled_by: Mapped[str] = mapped_column(String(64), nullable=False)
    compiled_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("qms_pqrs.id"), nullable=True)
    recompile_reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    # QA's review
    section_comments: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # canonical JSON
    process_stable: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # stable and capable?
    actions: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    overall_conclusion: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_by_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    decisions: Mapped[list[PqrDecision]] = relationship(
        order_by=lambda: PqrDecision.id, lazy="selectin", viewonly=True
    )


class PqrDecision(Audited, Base):
    """The qualified person's signed approval of a review, naming its content and conclusions SM3. Append-only."""

    __tablename__ = "qms_pqr_decisions"
    __audit_type__ = "qms_pqr_decision"
    __audit_label__ = N_("Product quality review decision")
    __table_args__ = (
        CheckConstraint("kind IN ('approve')", name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("length(review_sm3) = 64", name="review_sm3"),
        CheckConstraint("length(conclusion) >= 2", name="conclusion"),
        Index("uq_qms_pqr_decisions_kind", "pqr_id", "kind", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    pqr_id: Mapped[int] = mapped_column(ForeignKey("qms_pqrs.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)  # the compiled content decided on
    review_sm3: Mapped[str] = mapped_column(String(64), nullable=False)  # the conclusions decided on
    conclusion: Mapped[str] = mapped_column(String(4000), nullable=False)  # the overall conclusion, as signed
    comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
