"""Controlled documents and their versions (SH-6.3.3, TJ-9.2).

A :class:`Document` is the controlled identity (number, title, classification); its content lives in
:class:`DocumentVersion` rows (1, 2, …), each either Markdown authored in the application or a stored file
(PDF, DOCX, PNG/JPEG) kept outside the database under its SM3 hash (:mod:`pharmatrace.documents.store`).

The stored lifecycle of a version is ``status`` (draft → in_review → approved; ``withdrawn`` for a revision
abandoned, or open when the document was withdrawn). Whether a version is *effective*, *superseded* or
*obsolete* is never stored: it is derived from ``effective_from`` and the document's ``withdrawn_at``
(:func:`pharmatrace.documents.service.version_state`, STYLE rule 4).

Every decision on a version (submit, QA review, rejection, approval, periodic review, withdrawal) is an
append-only :class:`DocumentDecision`; the signed ones carry the electronic signature, which covers the
decision together with the SM3 hash of the content it was given on (TJ-9.2, SH-7.1.4).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

DOC_TYPES = (
    "sop",  # 标准操作规程
    "specification",  # 质量标准
    "master_production_record",  # 工艺规程
    "policy",  # 管理规程/方针
    "form",  # 记录表格
    "validation_protocol",  # 验证方案
    "validation_report",  # 验证报告
    "drawing",  # 图纸
)
# The default number prefix of each type (SOP-PR-001); a DocumentNumberRule row overrides it.
DEFAULT_PREFIXES = {
    "sop": "SOP",
    "specification": "SPEC",
    "master_production_record": "MPR",
    "policy": "POL",
    "form": "FRM",
    "validation_protocol": "VP",
    "validation_report": "VR",
    "drawing": "DWG",
}
VERSION_STATUSES = ("draft", "in_review", "approved", "withdrawn")
DECISION_KINDS = ("submit", "review", "reject", "approve", "periodic_review", "withdraw")
PERIODIC_OUTCOMES = ("still_valid", "revise")
MEDIA_TYPES = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "image/png",
    "image/jpeg",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class DocumentNumberRule(Audited, Base):
    """The numbering rule of a document type (文件编号规则): prefix + department + sequence of ``digits``."""

    __tablename__ = "document_number_rules"
    __audit_type__ = "document_number_rule"
    __audit_label__ = N_("Document numbering rule")
    __table_args__ = (
        CheckConstraint(_in("doc_type", DOC_TYPES), name="doc_type"),
        CheckConstraint("digits BETWEEN 3 AND 4", name="digits"),
        CheckConstraint("length(prefix) BETWEEN 2 AND 5", name="prefix"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    doc_type: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(8), nullable=False)
    digits: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)


class Document(Audited, Base):
    """A controlled document (受控文件): number, title, classification, review interval, withdrawal."""

    __tablename__ = "documents"
    __audit_type__ = "document"
    __audit_label__ = N_("Controlled document")
    __table_args__ = (
        CheckConstraint(_in("doc_type", DOC_TYPES), name="doc_type"),
        CheckConstraint("length(number) >= 6", name="number_length"),
        CheckConstraint("length(title) >= 1", name="title"),
        CheckConstraint("review_interval_months BETWEEN 1 AND 120", name="review_interval"),
        CheckConstraint(
            "(withdrawn_at IS NULL AND withdrawn_by IS NULL) OR "
            "(withdrawn_at IS NOT NULL AND withdrawn_by IS NOT NULL AND length(withdrawal_reason) >= 2)",
            name="withdrawal",
        ),
        Index("ix_documents_type_department", "doc_type", "department"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(256), nullable=False)
    doc_type: Mapped[str] = mapped_column(String(32), nullable=False)
    department: Mapped[str] = mapped_column(String(8), nullable=False)
    gmp: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    keywords: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    review_interval_months: Mapped[int] = mapped_column(Integer, nullable=False, default=24)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    withdrawal_reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")

    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", order_by="DocumentVersion.version", lazy="selectin"
    )


class DocumentVersion(Audited, Base):
    """One version of a document (版本): content (Markdown or a stored file), change summary, lifecycle."""

    __tablename__ = "document_versions"
    __audit_type__ = "document_version"
    __audit_label__ = N_("Controlled document version")
    __table_args__ = (
        UniqueConstraint("document_id", "version"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint(_in("status", VERSION_STATUSES), name="status"),
        CheckConstraint("training_grace_days >= 0", name="grace_days"),
        CheckConstraint("status <> 'approved' OR effective_from IS NOT NULL", name="approved_effective"),
        CheckConstraint(
            "(markdown IS NOT NULL AND sm3 IS NULL AND file_name IS NULL AND media_type IS NULL "
            "AND size IS NULL) OR "
            "(markdown IS NULL AND length(sm3) = 64 AND file_name IS NOT NULL AND media_type IS NOT NULL "
            "AND size > 0)",
            name="content",
        ),
        CheckConstraint("media_type IS NULL OR " + _in("media_type", MEDIA_TYPES), name="media_type"),
        # One open revision (draft or in review) per document at a time.
        Index(
            "uq_document_versions_open",
            "document_id",
            unique=True,
            sqlite_where=text("status IN ('draft', 'in_review')"),
            postgresql_where=text("status IN ('draft', 'in_review')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    change_summary: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    change_control_ref: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    effective_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    training_grace_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    training_required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    markdown: Mapped[str | None] = mapped_column(Text, nullable=True)
    file_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    search_text: Mapped[str] = mapped_column(Text, nullable=False, default="")  # normalized, for search
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)

    document: Mapped[Document] = relationship(back_populates="versions", lazy="joined")


class DocumentDecision(Audited, Base):
    """A decision on a document or version (提交、QA审核、退回、批准、定期回顾、废止). Append-only.

    ``content_sm3`` is the SM3 hash of the version's content when the decision was taken, so the signature
    on the decision binds that content (a later edit of a draft needs a new review).
    """

    __tablename__ = "document_decisions"
    __audit_type__ = "document_decision"
    __audit_label__ = N_("Decision on a controlled document")
    __table_args__ = (
        CheckConstraint(_in("kind", DECISION_KINDS), name="kind"),
        CheckConstraint(
            "(kind = 'periodic_review' AND " + _in("outcome", PERIODIC_OUTCOMES) + ") OR "
            "(kind <> 'periodic_review' AND outcome IS NULL)",
            name="outcome",
        ),
        CheckConstraint("kind NOT IN ('reject', 'withdraw') OR length(reason) >= 2", name="reason"),
        CheckConstraint("kind <> 'approve' OR effective_from IS NOT NULL", name="approve_effective"),
        CheckConstraint("kind = 'withdraw' OR version_id IS NOT NULL", name="version"),
        Index("ix_document_decisions_document", "document_id", "id"),
        Index("ix_document_decisions_version", "version_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), nullable=False)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("document_versions.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    content_sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    effective_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
