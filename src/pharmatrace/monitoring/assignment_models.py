"""People assigned to rooms and equipment for alarm notification (报警通知责任人, TJ-6.5, TJ-6.6, TJ-6.7).

:class:`MonitoringAssignment` — one user assigned to one room *or* one piece of equipment (a system, such as the
purified-water system), as its ``primary`` or ``backup`` contact for alarms, from ``valid_from``. GMP configuration:
audited through the unit of work, ended with a reason (never deleted, and frozen once ended); the database refuses a
second live assignment of a user to the same room or equipment, and a row naming both or neither.
See :mod:`pharmatrace.monitoring.assignments`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

ROLES = ("primary", "backup")  # primary first when told of an alarm
LIVE_WHERE = text("ended_at IS NULL")

ASSIGNMENT_CHECKS = (
    ("(room_id IS NULL) <> (equipment_id IS NULL)", "one_target"),
    ("role IN ('primary', 'backup')", "role"),
    (
        "(ended_at IS NULL) = (ended_by IS NULL) AND (ended_at IS NULL) = (end_reason IS NULL) "
        "AND (end_reason IS NULL OR length(end_reason) >= 2)",
        "ended",
    ),
    ("ended_at IS NULL OR ended_at >= created_at", "ended_after"),
)


class MonitoringAssignment(Audited, Base):
    """A user assigned to a room or a piece of equipment, told of its alarms (报警通知责任人)."""

    __tablename__ = "monitoring_assignments"
    __audit_type__ = "monitoring_assignment"
    __audit_label__ = N_("Alarm notification assignment")
    __table_args__ = (
        *(CheckConstraint(sql, name=name) for sql, name in ASSIGNMENT_CHECKS),
        # one live assignment per user and room, and per user and equipment (NULLs never collide)
        Index(
            "uq_monitoring_assignments_live_room",
            "user_id",
            "room_id",
            unique=True,
            sqlite_where=LIVE_WHERE,
            postgresql_where=LIVE_WHERE,
        ),
        Index(
            "uq_monitoring_assignments_live_equipment",
            "user_id",
            "equipment_id",
            unique=True,
            sqlite_where=LIVE_WHERE,
            postgresql_where=LIVE_WHERE,
        ),
        Index("ix_monitoring_assignments_room_id", "room_id"),
        Index("ix_monitoring_assignments_equipment_id", "equipment_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), nullable=True)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), nullable=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
