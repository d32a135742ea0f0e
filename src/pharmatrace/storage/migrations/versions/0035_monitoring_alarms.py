"""monitoring alarms: rules per tag and alarms with their lifecycle (TJ-6.4.3.4, TJ-6.5)

Revision ID: 0035
Revises: 0034
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)
LIMIT = sa.Numeric(18, 6)
OPEN = sa.text("cleared_at IS NULL")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


# As in monitoring/alarm_models.py on 2026-11-29 (a migration keeps its own copy).
CONDITIONS = ("high_alert", "low_alert", "high_action", "low_action", "rate", "deviation", "bad_quality")
STATES = ("active", "acknowledged", "cleared", "closed")
TRANSITIONS = ("raised", "acknowledged", "cleared", "closed")


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


def upgrade() -> None:
    op.create_table(
        "monitoring_alarm_rules",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tag_id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("alert_low", LIMIT, nullable=True),
        sa.Column("alert_high", LIMIT, nullable=True),
        sa.Column("action_low", LIMIT, nullable=True),
        sa.Column("action_high", LIMIT, nullable=True),
        sa.Column("rate_per_minute", LIMIT, nullable=True),
        sa.Column("set_point", LIMIT, nullable=True),
        sa.Column("deviation", LIMIT, nullable=True),
        sa.Column("deadband", LIMIT, nullable=False),
        sa.Column("on_delay_s", sa.Integer(), nullable=False),
        sa.Column("off_delay_s", sa.Integer(), nullable=False),
        sa.Column("bad_quality", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        *(
            sa.CheckConstraint(sql, name=op.f(f"ck_monitoring_alarm_rules_{name}"))
            for sql, name in RULE_CHECKS
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["monitoring_tags.id"], name=op.f("fk_monitoring_alarm_rules_tag_id_monitoring_tags")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_alarm_rules")),
        sa.UniqueConstraint("tag_id", "name", name="uq_monitoring_alarm_rules_tag_name"),
    )
    op.create_table(
        "monitoring_alarms",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("rule_id", ID, nullable=False),
        sa.Column("tag_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=True),
        sa.Column("equipment_id", ID, nullable=True),
        sa.Column("condition", sa.String(length=16), nullable=False),
        sa.Column("limit_value", LIMIT, nullable=True),
        sa.Column("value_text", sa.String(length=64), nullable=True),
        sa.Column("began_at", WHEN, nullable=False),
        sa.Column("raised_at", WHEN, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("acknowledged_at", WHEN, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("cleared_at", WHEN, nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        *(sa.CheckConstraint(sql, name=op.f(f"ck_monitoring_alarms_{name}")) for sql, name in ALARM_CHECKS),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["monitoring_alarm_rules.id"],
            name=op.f("fk_monitoring_alarms_rule_id_monitoring_alarm_rules"),
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["monitoring_tags.id"], name=op.f("fk_monitoring_alarms_tag_id_monitoring_tags")
        ),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_monitoring_alarms_room_id_rooms")),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_monitoring_alarms_equipment_id_equipment")
        ),
        sa.ForeignKeyConstraint(
            ["tag_id", "raised_at"],
            ["monitoring_values.tag_id", "monitoring_values.source_time"],
            name="fk_monitoring_alarms_raised_value",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_alarms")),
    )
    op.create_index(
        "uq_monitoring_alarms_open", "monitoring_alarms", ["rule_id", "condition"], unique=True,
        sqlite_where=OPEN, postgresql_where=OPEN,
    )  # fmt: skip
    op.create_index("ix_monitoring_alarms_raised_at", "monitoring_alarms", ["raised_at"])
    op.create_index("ix_monitoring_alarms_room_id", "monitoring_alarms", ["room_id"])
    op.create_index("ix_monitoring_alarms_state", "monitoring_alarms", ["state"])
    op.create_table(
        "monitoring_alarm_transitions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("alarm_id", ID, nullable=False),
        sa.Column("transition", sa.String(length=16), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("source_time", WHEN, nullable=True),
        sa.Column("value_text", sa.String(length=64), nullable=True),
        sa.Column("actor_login", sa.String(length=64), nullable=False),
        sa.Column("actor_name", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.CheckConstraint(
            _in("transition", TRANSITIONS), name=op.f("ck_monitoring_alarm_transitions_transition")
        ),
        sa.CheckConstraint(
            "transition <> 'acknowledged' OR length(comment) >= 2",
            name=op.f("ck_monitoring_alarm_transitions_comment"),
        ),
        sa.ForeignKeyConstraint(
            ["alarm_id"],
            ["monitoring_alarms.id"],
            name=op.f("fk_monitoring_alarm_transitions_alarm_id_monitoring_alarms"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_alarm_transitions")),
        sa.UniqueConstraint("alarm_id", "transition", name="uq_monitoring_alarm_transitions_step"),
    )
    op.create_table(
        "monitoring_alarm_watches",
        sa.Column("rule_id", ID, nullable=False),
        sa.Column("condition", sa.String(length=16), nullable=False),
        sa.Column("since", WHEN, nullable=True),
        sa.Column("last_time", WHEN, nullable=True),
        sa.Column("last_number", sa.Double(), nullable=True),
        sa.CheckConstraint(_in("condition", CONDITIONS), name=op.f("ck_monitoring_alarm_watches_condition")),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["monitoring_alarm_rules.id"],
            name=op.f("fk_monitoring_alarm_watches_rule_id_monitoring_alarm_rules"),
        ),
        sa.PrimaryKeyConstraint("rule_id", "condition", name=op.f("pk_monitoring_alarm_watches")),
    )
    for table in (
        "monitoring_alarm_rules",
        "monitoring_alarms",
    ):  # GMP records: voided or closed, never deleted
        guards.no_delete(table)
        guards.uow_only(table)
    guards.append_only("monitoring_alarm_transitions")
    guards.uow_only("monitoring_alarm_transitions")
    guards.uow_only("monitoring_alarm_watches")  # the evaluation's memory: only the ingest's unit of work
    guards.grant_app_role()


def downgrade() -> None:
    for table in (
        "monitoring_alarm_watches",
        "monitoring_alarm_transitions",
        "monitoring_alarms",
        "monitoring_alarm_rules",
    ):
        op.drop_table(table)
