"""Batch release records: the checklist snapshot and the qualified person's decision (TJ-6.3.4, TJ-6.4.7, TJ-9.1).

:class:`ReleaseDecision` (append-only) — the qualified person's (质量受权人) release, rejection or quarantine of a
batch. It keeps the checklist and the release summary the decision was made on, as canonical JSON with its SM3
(``content_sm3``); the release and the rejection are signed on this row (``qms.batch.release`` /
``qms.batch.reject``). A quarantine (hold pending, with its reason) is not signed and may be followed by a
release or a rejection; a release or a rejection is final. The batch's release state is derived from these rows,
never stored. The finished-product lot's status after the decision, when the warehouse holds such a lot, is kept
in ``lot_status``; the batch's own status is ``decision``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

DECISIONS = (
    "release",  # 放行（质量受权人签名）
    "reject",  # 不放行（质量受权人签名）
    "quarantine",  # 暂缓放行（待定，附理由）
)
FINAL_DECISIONS = ("release", "reject")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class ReleaseDecision(Audited, Base):
    """The qualified person's decision on a batch (批放行, TJ-9.1), on the checklist it names. Append-only."""

    __tablename__ = "qms_release_decisions"
    __audit_type__ = "qms_release_decision"
    __audit_label__ = N_("Batch release decision")
    __table_args__ = (
        CheckConstraint(_in("decision", DECISIONS), name="decision"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("decision = 'release' OR length(reason) >= 2", name="reason"),
        Index("ix_qms_release_decisions_batch_order_id", "batch_order_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), nullable=False)
    batch_no: Mapped[str] = mapped_column(String(32), nullable=False)
    product_code: Mapped[str] = mapped_column(String(32), nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    lot_id: Mapped[int | None] = mapped_column(
        ForeignKey("lots.id"), nullable=True
    )  # the finished-product lot
    lot_status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # its status after the decision
    content: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON: checklist + summary
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
