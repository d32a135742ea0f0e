"""The codes picked onto a shipment (拣货记录, issue 10 item 4; SH-6.2.5, TJ-9.1).

:class:`ShipmentPick` — one scanned top-level code (a pallet's SSCC, a case, or a loose unit) on one
:class:`~pharmatrace.trace.models.OutboundShipment`: who picked it and when, and, if it was taken off again, who,
when and why. A pick is ``picked`` while the shipment is being picked, ``shipped`` once the shipment left (its
codes and all their contents then carry the shipment on ``trace_codes``), ``unpicked`` when taken off (a cancelled
shipment unpicks all of its picks). GMP record: audited, changed only with a reason, never deleted.

The database holds the rules a row can show on its own: an unpicked pick names who took it off, when and why; a
code is ``picked`` on at most one shipment at a time (a partial unique index).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

PICK_STATUSES = ("picked", "shipped", "unpicked")
PICK_STATUS_LABELS = {"picked": N_("Picked"), "shipped": N_("Shipped"), "unpicked": N_("Taken off")}
UNPICKED = (
    "(status = 'unpicked') = (unpicked_at IS NOT NULL) AND (unpicked_at IS NULL) = (unpicked_by IS NULL) "
    "AND (unpicked_at IS NULL) = (unpick_reason IS NULL) AND (unpick_reason IS NULL OR length(unpick_reason) >= 2)"
)


class ShipmentPick(Audited, Base):
    """A top-level code scanned onto a shipment."""

    __tablename__ = "trace_shipment_picks"
    __audit_type__ = "trace_shipment_pick"
    __audit_label__ = N_("Code picked onto a shipment")
    __table_args__ = (
        CheckConstraint("status IN ('picked', 'shipped', 'unpicked')", name="status"),
        CheckConstraint(UNPICKED, name="unpicked"),
        Index("ix_trace_shipment_picks_shipment", "shipment_id", "status"),
        # a code is on at most one shipment being picked (SH-6.2.5: one item, one place)
        Index(
            "uq_trace_shipment_picks_open_code",
            "code_id",
            unique=True,
            sqlite_where=text("status = 'picked'"),
            postgresql_where=text("status = 'picked'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("trace_shipments.id"), nullable=False)
    code_id: Mapped[int] = mapped_column(ForeignKey("trace_codes.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="picked")
    picked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    picked_by: Mapped[str] = mapped_column(String(64), nullable=False)
    unpicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    unpicked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unpick_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
