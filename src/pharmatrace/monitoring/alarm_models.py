"""Alarm rules and alarms (报警规则与报警, TJ-6.4.3.4, TJ-6.5, TJ-6.6, TJ-6.7, SH-8.4.3).

* :class:`AlarmRule` — GMP configuration of one tag's alarms: alert and action limits (警戒限 / 纠偏限, high and
  low), a rate of change per minute, a deviation from a set point, a deadband, on- and off-delays, and whether a
  Bad-quality value raises an alarm. Audited, changed with a reason, voided, never deleted.
* :class:`Alarm` — one episode of one condition of one rule: raised by the value that kept the condition for the
  on-delay (the composite key ``(tag_id, raised_at)`` is that value in ``monitoring_values``), its lifecycle
  state, and the room and equipment of the tag when it was raised. Audited, never deleted; the database refuses
  a second open alarm of a rule's condition and a state that contradicts its timestamps.
* :class:`AlarmTransition` — every step of the lifecycle (raised, acknowledged, cleared, closed) with who, when
  and the comment or the value: append-only.
* :class:`AlarmWatch` — the evaluation's memory per rule and condition (since when the condition holds, or has
  ceased to hold, and the last value, for the rate of change). Operational state, written only inside the
  ingest's unit of work; derived from the values and never evidence itself.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.monitoring.models import LIMIT_SCALE
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

# One alarm per condition: a value beyond the action limit is beyond the alert limit too (HI and HIHI).
CONDITIONS = ("high_alert", "low_alert", "high_action", "low_action", "rate", "deviation", "bad_quality")
STATES = ("active", "acknowledged", "cleared", "closed")
TRANSITIONS = ("raised", "acknowledged", "cleared", "closed")
OPEN_STATES = ("active", "acknowledged")  # the condition still holds (not yet cleared by a value)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


RULE_CHECKS = (
    ("alert_low IS NULL OR alert_high IS NULL OR alert_low < alert_high", "alert_limits"),
    ("action_low IS NULL OR action_high IS NULL OR action_low < action_high", "action_limits"),
    # the alert limits lie inside the action limits
    ("action_high IS NULL OR alert_high IS NULL OR alert_high < action_high", "alert_high_inside"),
    ("action_low IS NULL OR alert_low IS NULL OR action_low < alert_low", "alert_low_inside"),
    ("deadband >= 0", "deadband"),
    ("on_delay_s >= 0 AND on_delay_s <= 86400 AND off_delay_s >= 0 AND off_delay_s <= 86400", "delays"),
    ("rate_per_minute IS NULL OR rate_per_minute > 0", "rate"),
    ("deviation IS NULL OR (deviation > 0 AND set_point IS NOT NULL)", "deviation"),
    (
        "alert_low IS NOT NULL OR alert_high IS NOT NULL OR action_low IS NOT NULL OR action_high IS NOT NULL "
        "OR rate_per_minute IS NOT NULL OR deviation IS NOT NULL OR bad_quality",
        "something",
    ),
    (
        "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)",
        "void_reason",
    ),
)
ALARM_CHECKS = (
    (_in("condition", CONDITIONS), "condition"),
    (_in("state", STATES), "state"),
    ("(acknowledged_at IS NULL) = (state IN ('active', 'cleared'))", "acknowledged"),
    ("(acknowledged_at IS NULL) = (acknowledged_by IS NULL)", "acknowledged_by"),
    ("(cleared_at IS NULL) = (state IN ('active', 'acknowledged'))", "cleared"),
    ("(closed_at IS NULL) = (state <> 'closed')", "closed"),
    ("began_at <= raised_at", "began"),
)
OPEN_WHERE = text("cleared_at IS NULL")


class AlarmRule(Audited, Base):
    """The alarms of one tag (报警规则): limits, rate, deviation, deadband and delays."""

    __tablename__ = "monitoring_alarm_rules"
    __audit_type__ = "monitoring_alarm_rule"
    __audit_label__ = N_("Alarm rule")
    __table_args__ = (
        *(CheckConstraint(sql, name=name) for sql, name in RULE_CHECKS),
        UniqueConstraint("tag_id", "name", name="uq_monitoring_alarm_rules_tag_name"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("monitoring_tags.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    alert_low: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    alert_high: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    action_low: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    action_high: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    rate_per_minute: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    set_point: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    deviation: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    deadband: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False, default=Decimal(0))
    on_delay_s: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    off_delay_s: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bad_quality: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    @validates(
        "alert_low", "alert_high", "action_low", "action_high", "rate_per_minute", "set_point", "deviation",
        "deadband",
    )  # fmt: skip
    def _scaled(self, key: str, value: Decimal | None) -> Decimal | None:
        return None if value is None else Decimal(value).quantize(LIMIT_SCALE)


class Alarm(Audited, Base):
    """One alarm (报警): a condition of a rule that held for the on-delay, until a value clears it.

    ``began_at``, ``raised_at`` and ``cleared_at`` are source times of values (when the excursion began, the
    value that raised the alarm, the value that cleared it); ``acknowledged_at`` and ``closed_at`` are the
    server's clock."""

    __tablename__ = "monitoring_alarms"
    __audit_type__ = "monitoring_alarm"
    __audit_label__ = N_("Monitoring alarm")
    __table_args__ = (
        *(CheckConstraint(sql, name=name) for sql, name in ALARM_CHECKS),
        ForeignKeyConstraint(
            ["tag_id", "raised_at"],
            ["monitoring_values.tag_id", "monitoring_values.source_time"],
            name="fk_monitoring_alarms_raised_value",
        ),
        # one episode at a time per rule and condition (TJ-6.5): a second open alarm is refused
        Index(
            "uq_monitoring_alarms_open",
            "rule_id",
            "condition",
            unique=True,
            sqlite_where=OPEN_WHERE,
            postgresql_where=OPEN_WHERE,
        ),
        Index("ix_monitoring_alarms_raised_at", "raised_at"),
        Index("ix_monitoring_alarms_room_id", "room_id"),
        Index("ix_monitoring_alarms_state", "state"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("monitoring_alarm_rules.id"), nullable=False)
    tag_id: Mapped[int] = mapped_column(ForeignKey("monitoring_tags.id"), nullable=False)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), nullable=True)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), nullable=True)
    condition: Mapped[str] = mapped_column(String(16), nullable=False)
    limit_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    value_text: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the raising value, exact
    began_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    @property
    def number(self) -> str:
        return f"ALM-{self.id:06d}"

    @validates("limit_value")
    def _scaled(self, key: str, value: Decimal | None) -> Decimal | None:
        return None if value is None else Decimal(value).quantize(LIMIT_SCALE)


class AlarmTransition(Base):
    """One step of an alarm's lifecycle (报警状态变更记录): never changed, never deleted."""

    __tablename__ = "monitoring_alarm_transitions"
    __table_args__ = (
        CheckConstraint(_in("transition", TRANSITIONS), name="transition"),
        CheckConstraint("transition <> 'acknowledged' OR length(comment) >= 2", name="comment"),
        UniqueConstraint("alarm_id", "transition", name="uq_monitoring_alarm_transitions_step"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("monitoring_alarms.id"), nullable=False)
    transition: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    source_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # of the value
    value_text: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor_login: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_name: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str] = mapped_column(String(1000), nullable=False, default="")


class AlarmWatch(Base):
    """Where a rule's condition stands between ingests: since when it holds (or has ceased to, while its alarm is
    open), and the last value evaluated."""

    __tablename__ = "monitoring_alarm_watches"
    __table_args__ = (CheckConstraint(_in("condition", CONDITIONS), name="condition"),)

    rule_id: Mapped[int] = mapped_column(ForeignKey("monitoring_alarm_rules.id"), primary_key=True)
    condition: Mapped[str] = mapped_column(String(16), primary_key=True)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_number: Mapped[float | None] = mapped_column(Double(), nullable=True)
