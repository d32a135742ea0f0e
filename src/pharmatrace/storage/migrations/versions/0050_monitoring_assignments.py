"""People assigned to rooms and equipment for alarm notification (TJ-6.5, TJ-6.6)

Revision ID: 0050
Revises: 0049
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0050"
down_revision = "0049"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)
LIVE = sa.text("ended_at IS NULL")

# As in monitoring/assignment_models.py on 2026-11-30 (a migration keeps its own copy).
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
TABLE = "monitoring_assignments"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=True),
        sa.Column("equipment_id", ID, nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("valid_from", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("end_reason", sa.String(length=500), nullable=True),
        *(sa.CheckConstraint(sql, name=op.f(f"ck_{TABLE}_{name}")) for sql, name in ASSIGNMENT_CHECKS),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f(f"fk_{TABLE}_user_id_users")),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f(f"fk_{TABLE}_room_id_rooms")),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f(f"fk_{TABLE}_equipment_id_equipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
    )
    # one live assignment per user and room, and per user and equipment
    op.create_index(
        "uq_monitoring_assignments_live_room", TABLE, ["user_id", "room_id"], unique=True,
        sqlite_where=LIVE, postgresql_where=LIVE,
    )  # fmt: skip
    op.create_index(
        "uq_monitoring_assignments_live_equipment", TABLE, ["user_id", "equipment_id"], unique=True,
        sqlite_where=LIVE, postgresql_where=LIVE,
    )  # fmt: skip
    op.create_index("ix_monitoring_assignments_room_id", TABLE, ["room_id"])
    op.create_index("ix_monitoring_assignments_equipment_id", TABLE, ["equipment_id"])

    # GMP configuration: ended with a reason, never deleted; an ended assignment stays as it was ended
    guards.no_delete(TABLE)
    guards.uow_only(TABLE)
    guards.frozen_when(TABLE, "OLD.ended_at IS NOT NULL", "ended assignments are frozen")
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table(TABLE)
