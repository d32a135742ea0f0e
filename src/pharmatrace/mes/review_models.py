"""QA batch review by exception (TJ-6.4.7): the review sign-off that hands a batch to release.

``BatchReview`` (append-only, one per batch order): who reviewed the batch record and when, how many
exceptions the review covered, and the SM3 of the reviewed record (every step's evidence hash and every
exception's decision, :func:`pharmatrace.mes.review.review_digest`). The QA signature (``batch.review``,
meaning "Reviewed") is given on this row, together with the batch's move to ``reviewed``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime


class BatchReview(Audited, Base):
    """The QA review of a batch record (批记录审核, TJ-6.4.7), signed; never changed afterwards."""

    __tablename__ = "batch_reviews"
    __audit_type__ = "batch_review"
    __audit_label__ = N_("Batch record review")
    __table_args__ = (
        CheckConstraint("length(covers_sm3) = 64", name="covers_sm3"),
        CheckConstraint("exceptions_total >= 0", name="exceptions_total"),
        CheckConstraint("length(reviewed_by) > 0", name="reviewed_by"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), unique=True, nullable=False)
    batch_no: Mapped[str] = mapped_column(String(32), nullable=False)
    covers_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    exceptions_total: Mapped[int] = mapped_column(Integer, nullable=False)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reviewed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    reviewed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")
