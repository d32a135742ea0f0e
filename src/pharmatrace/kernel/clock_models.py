"""Clock checks: the recorded evidence that the server's time agrees with the national standard time.

One row per NTP server per check (SH-7.1.5, TJ-10.1.1.2.d). The table is append-only in the database
itself, like the audit trail: a recorded check is never changed or deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

CHECK_STATUSES = ("ok", "alarm", "unreachable")


class ClockCheck(Base):
    """The server's offset from one time server at one moment (positive: the server is behind)."""

    __tablename__ = "clock_checks"
    __table_args__ = (
        CheckConstraint("status IN ('ok', 'alarm', 'unreachable')", name="status"),
        # An unreachable server gives no offset; every answer does.
        CheckConstraint(
            "(status = 'unreachable' AND offset_ms IS NULL) "
            "OR (status <> 'unreachable' AND offset_ms IS NOT NULL)",
            name="offset_when_answered",
        ),
        Index("ix_clock_checks_server", "server", "id"),
        Index("ix_clock_checks_checked_at", "checked_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # the server's UTC time
    server: Mapped[str] = mapped_column(String(255), nullable=False)  # host[:port] as configured
    offset_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    delay_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    stratum: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
