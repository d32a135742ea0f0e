"""Supplier qualification (供应商资质确认 / 供应商审计与批准; SH-6.2.4, TJ-5.1, TJ-5.2.1.1; issue 9 item 6): the tables.

* :class:`SupplierQualification` — the record (``SQ-YYYY-NNNN``): one supplier for one material (both from the
  master data), its kind (a new supplier, a requalification, or a change at the supplier such as a new site or
  process), the risk class of the material (high, medium, low — never below the rule of
  :func:`pharmatrace.qms.supplier_qualifications.rule_risk_class`), whether an on-site audit is required (always for
  high risk) and the supplier audit that did it (``AU-YYYY-NNNN``), the evaluation of trial lots (tested,
  conforming, notes), the proposed status on the approved-supplier list (approved or conditional) and its date of
  validity, the conclusion, the requester, and its status along the declared state machine of
  :mod:`pharmatrace.qms.supplier_qualifications`. Cancelled with a reason, never deleted.
* :class:`QualificationDocument` — one piece of evidence: a business licence, a manufacturing licence or GMP
  certificate, a GAP record of a planting base, a quality agreement or another document, with its reference and the
  date it is valid until. Voided with a reason, never deleted.
* :class:`QualificationDecision` — QA's decision, append-only, keeping the canonical content it was given on and its
  SM3: an approval (signed ``qms.supplier.qualify`` on this row, which writes the approved-supplier list in the same
  transaction) or a rejection with its reason.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime
from pharmatrace.wms.models import Material, Supplier

KINDS = ("new", "requalification", "change")
KIND_LABELS = {
    "new": N_("New supplier"),
    "requalification": N_("Requalification"),
    "change": N_("Change at the supplier"),
}
RISK_CLASSES = ("high", "medium", "low")
RISK_LABELS = {"high": N_("High"), "medium": N_("Medium"), "low": N_("Low")}
PROPOSED_STATUSES = ("approved", "conditional")  # what the approval writes on the approved-supplier list
STATUSES = (
    "draft",  # 草稿：收集资质资料、样品评价
    "in_review",  # QA 审核中
    "approved",  # 已批准（QA 签名），已写入合格供应商目录
    "rejected",  # 不批准（附理由），目录不变
    "cancelled",  # 已取消（附理由）
)
STATUS_LABELS = {
    "draft": N_("Draft"),
    "in_review": N_("In review"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "cancelled": N_("Cancelled"),
}
OPEN_STATUSES = ("draft", "in_review")
DOCUMENT_KINDS = ("business_licence", "manufacturing_licence", "gap", "quality_agreement", "other")
DOCUMENT_LABELS = {
    "business_licence": N_("Business licence"),
    "manufacturing_licence": N_("Manufacturing licence / GMP certificate"),
    "gap": N_("GAP evidence of the planting base"),
    "quality_agreement": N_("Quality agreement"),
    "other": N_("Other document"),
}
DECISION_KINDS = ("approve", "reject")

VOID = "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class SupplierQualification(Audited, Base):
    """The qualification of one supplier for one material, leading to its line on the approved-supplier list
    (SH-6.2.4 供应商管理; TJ-5.1 planting bases)."""

    __tablename__ = "qms_supplier_qualifications"
    __audit_type__ = "qms_supplier_qualification"
    __audit_label__ = N_("Supplier qualification")
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("risk_class", RISK_CLASSES), name="risk_class"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(
            "proposed_status IS NULL OR " + _in("proposed_status", PROPOSED_STATUSES), name="proposed"
        ),
        CheckConstraint("length(number) >= 6", name="number"),
        # a high-risk material is qualified with an on-site audit
        CheckConstraint("risk_class <> 'high' OR audit_required", name="audit_required"),
        CheckConstraint(
            "samples_tested >= 0 AND samples_conforming >= 0 AND samples_conforming <= samples_tested",
            name="samples",
        ),
        CheckConstraint(
            "status NOT IN ('in_review', 'approved') OR (proposed_status IS NOT NULL AND "
            "proposed_valid_until IS NOT NULL AND samples_tested >= 1)",
            name="evaluated",
        ),
        CheckConstraint(
            "status NOT IN ('approved', 'rejected') OR (decided_at IS NOT NULL AND decided_by IS NOT NULL)",
            name="decided",
        ),
        # SH-7.1.4: who asked for the qualification does not decide on it
        CheckConstraint("decided_by IS NULL OR decided_by <> requester", name="decider"),
        CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL "
            "AND length(cancel_reason) >= 2)",
            name="cancelled",
        ),
        Index("ix_qms_supplier_qualifications_status", "status"),
        Index("ix_qms_supplier_qualifications_pair", "supplier_id", "material_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # SQ-2026-0001
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    description: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    risk_class: Mapped[str] = mapped_column(String(8), nullable=False)
    audit_required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    audit_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # qms_audits.number
    samples_tested: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    samples_conforming: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sample_notes: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    proposed_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    proposed_valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    conclusion: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    requester: Mapped[str] = mapped_column(String(64), nullable=False)
    requester_name: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    supplier: Mapped[Supplier] = relationship(lazy="joined")
    material: Mapped[Material] = relationship(lazy="joined")
    documents: Mapped[list[QualificationDocument]] = relationship(
        order_by=lambda: QualificationDocument.seq, lazy="selectin", viewonly=True
    )
    decisions: Mapped[list[QualificationDecision]] = relationship(
        order_by=lambda: QualificationDecision.id, lazy="selectin", viewonly=True
    )


class QualificationDocument(Audited, Base):
    """One piece of evidence of a qualification: a licence, a GAP record, a quality agreement (SH-6.2.4, TJ-5.1)."""

    __tablename__ = "qms_supplier_qualification_documents"
    __audit_type__ = "qms_supplier_qualification_document"
    __audit_label__ = N_("Supplier qualification document")
    __table_args__ = (
        CheckConstraint(_in("kind", DOCUMENT_KINDS), name="kind"),
        CheckConstraint("length(reference) >= 1", name="reference"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint(VOID, name="void_reason"),
        Index("uq_qms_supplier_qualification_documents_seq", "qualification_id", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    qualification_id: Mapped[int] = mapped_column(
        ForeignKey("qms_supplier_qualifications.id"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    reference: Mapped[str] = mapped_column(String(200), nullable=False)  # licence number, agreement number…
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class QualificationDecision(Audited, Base):
    """QA's decision on a qualification, keeping the content it was given on and its SM3; an approval is signed
    (``qms.supplier.qualify``). Append-only (SH-6.2.4, SH-7.1.4)."""

    __tablename__ = "qms_supplier_qualification_decisions"
    __audit_type__ = "qms_supplier_qualification_decision"
    __audit_label__ = N_("Supplier qualification decision")
    __table_args__ = (
        CheckConstraint(_in("kind", DECISION_KINDS), name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("kind <> 'reject' OR length(comment) >= 2", name="reason"),
        Index("uq_qms_supplier_qualification_decisions_one", "qualification_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    qualification_id: Mapped[int] = mapped_column(
        ForeignKey("qms_supplier_qualifications.id"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # the canonical JSON the SM3 is of
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")  # a rejection's reason
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
