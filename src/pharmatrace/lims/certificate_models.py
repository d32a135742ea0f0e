"""Certificates of analysis (检验报告书, TJ-7.1, TJ-9.1) and QA's release decisions on them (TJ-5.2.1.4).

* :class:`Certificate` — the report of a lot's testing against one effective release specification version:
  what was tested (material, lot, supplier or planting base), the specification (code, version, its SM3), each
  test item with the reported value, unit, limit and verdict, the overall conclusion (符合规定 / 不符合规定),
  the analysts and reviewers. The content is frozen at issue as canonical JSON with its SM3 (``content_sm3``);
  the database refuses any change to it. Only ``voided_at``/``void_reason`` are ever set, with a reason.
* :class:`CertificateSignoff` (append-only) — the QC reviewer's signature, given on this row, naming the
  content hash it signed (like specification approvals, ADR 0014).
* :class:`LotDecision` (append-only) — QA's release or rejection of the lot *from* the signed certificate,
  made through the warehouse seam (``wms.lots.release`` / ``wms.lots.reject``, which sign the lot itself).

A certificate's state (issued, signed, decided, void) is derived from these rows, never stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

CONCLUSIONS = (
    "conforms",  # 符合规定
    "does_not_conform",  # 不符合规定
)
DECISIONS = (
    "release",  # 放行
    "reject",  # 不放行
)
# What the database refuses to change once a certificate is issued (migration 0029).
FROZEN_COLUMNS = (
    "code",
    "lot_id",
    "spec_version_id",
    "conclusion",
    "content",
    "content_sm3",
    "issued_at",
    "issued_by",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Certificate(Audited, Base):
    """A certificate of analysis (检验报告书) of a lot against one release specification version."""

    __tablename__ = "lims_certificates"
    __audit_type__ = "lims_certificate"
    __audit_label__ = N_("Certificate of analysis")
    __table_args__ = (
        CheckConstraint(_in("conclusion", CONCLUSIONS), name="conclusion"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("length(spec_sm3) = 64", name="spec_sm3"),
        CheckConstraint("spec_version >= 1", name="spec_version"),
        CheckConstraint(
            "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)",
            name="void_reason",
        ),
        Index(
            "uq_lims_certificates_lot_spec",
            "lot_id",
            "spec_version_id",
            unique=True,
            sqlite_where=text("voided_at IS NULL"),
            postgresql_where=text("voided_at IS NULL"),
        ),
        Index("ix_lims_certificates_lot_id", "lot_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # COA2611-0001
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    lot_number: Mapped[str] = mapped_column(String(32), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_name: Mapped[str] = mapped_column(String(128), nullable=False)
    spec_version_id: Mapped[int] = mapped_column(ForeignKey("lims_spec_versions.id"), nullable=False)
    spec_code: Mapped[str] = mapped_column(String(32), nullable=False)
    spec_version: Mapped[int] = mapped_column(Integer, nullable=False)
    spec_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    conclusion: Mapped[str] = mapped_column(String(24), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON: what content_sm3 hashes
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    issued_by: Mapped[str] = mapped_column(String(64), nullable=False)
    issued_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    signoffs: Mapped[list[CertificateSignoff]] = relationship(
        order_by="CertificateSignoff.id", lazy="selectin", viewonly=True
    )
    decisions: Mapped[list[LotDecision]] = relationship(
        order_by="LotDecision.id", lazy="selectin", viewonly=True
    )


class CertificateSignoff(Audited, Base):
    """The QC reviewer's signature of a certificate, naming the content hash it signed. Append-only."""

    __tablename__ = "lims_certificate_signoffs"
    __audit_type__ = "lims_certificate_signoff"
    __audit_label__ = N_("Signature of a certificate of analysis")
    __table_args__ = (
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        Index("uq_lims_certificate_signoffs_certificate_id", "certificate_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("lims_certificates.id"), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    signed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    signed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")


class LotDecision(Audited, Base):
    """QA's release or rejection of a lot from a signed certificate (TJ-5.2.1.4). Append-only; the signature is
    the lot's own (``lot.release`` / ``lot.reject``), given by the warehouse seam in the same transaction."""

    __tablename__ = "lims_lot_decisions"
    __audit_type__ = "lims_lot_decision"
    __audit_label__ = N_("Release decision on a certificate of analysis")
    __table_args__ = (
        CheckConstraint(_in("decision", DECISIONS), name="decision"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("length(reason) >= 2", name="reason"),
        Index("uq_lims_lot_decisions_certificate_id", "certificate_id", unique=True),
        Index("ix_lims_lot_decisions_lot_id", "lot_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("lims_certificates.id"), nullable=False)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)  # the certificate it was made on
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
