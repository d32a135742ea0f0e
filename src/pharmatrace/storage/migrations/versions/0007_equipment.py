"""equipment register, rooms and their logbooks (SH-6.3.2, TJ-6.1, TJ-B.2.1, TJ-B.2.2.2)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _key(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=nullable)


def _id() -> sa.Column[int]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=nullable)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _tracked(setting: str, status: str, until: str, good: str) -> str:
    return (
        f"(({setting} IS NULL AND {status} IS NULL) OR ({setting} IS NOT NULL AND {setting} > 0 "
        f"AND {status} IS NOT NULL)) AND ({status} IS NULL OR {status} <> '{good}' OR {until} IS NOT NULL)"
    )


# The values as of this revision (the models may grow later; a migration never changes).
EQUIPMENT_CLASSES = ("freeze_dryer", "filling_line", "capping_machine", "tunnel_steriliser", "vial_washer",
                     "autoclave", "isolator", "tank", "filter", "balance", "scale", "instrument", "other")  # fmt: skip
WEIGHING_CLASSES = ("balance", "scale")
LIFECYCLE_STATES = (
    "requirement",
    "design",
    "installation",
    "in_service",
    "maintenance",
    "retired",
    "scrapped",
)
OPERATING_STATUSES = ("standby", "running", "stopped", "fault")
LOG_KINDS = ("use", "cleaning", "sterilisation", "maintenance", "calibration", "repair", "qualification")
RESULT_KINDS = ("calibration", "qualification")


def upgrade() -> None:
    op.create_table(
        "rooms",
        _id(),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("workshop", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("clean_validity_hours", sa.Integer(), nullable=False),
        _time("cleaned_at", nullable=True),
        _time("clean_until", nullable=True),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _time("voided_at", nullable=True),
        sa.CheckConstraint("grade IN ('A', 'B', 'C', 'D')", name=op.f("ck_rooms_grade")),
        sa.CheckConstraint(
            "status IN ('clean', 'in_use', 'to_clean', 'maintenance')", name=op.f("ck_rooms_status")
        ),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_rooms_code_length")),
        sa.CheckConstraint("clean_validity_hours > 0", name=op.f("ck_rooms_clean_validity")),
        sa.CheckConstraint(
            "status <> 'clean' OR clean_until IS NOT NULL", name=op.f("ck_rooms_clean_has_validity")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("code", name=op.f("uq_rooms_code")),
    )
    op.create_table(
        "equipment",
        _id(),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("equipment_class", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("manufacturer", sa.String(length=128), nullable=False),
        sa.Column("serial_no", sa.String(length=64), nullable=False),
        _key("room_id", nullable=True),
        sa.Column("location", sa.String(length=128), nullable=False),
        sa.Column("gmp_critical", sa.Boolean(), nullable=False),
        sa.Column("lifecycle", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("cleaning_validity_hours", sa.Integer(), nullable=True),
        sa.Column("cleaning_status", sa.String(length=16), nullable=True),
        _time("cleaned_at", nullable=True),
        _time("clean_until", nullable=True),
        sa.Column("sterilisation_validity_hours", sa.Integer(), nullable=True),
        sa.Column("sterilisation_status", sa.String(length=16), nullable=True),
        _time("sterilised_at", nullable=True),
        _time("sterile_until", nullable=True),
        sa.Column("calibration_interval_days", sa.Integer(), nullable=True),
        sa.Column("calibration_status", sa.String(length=16), nullable=True),
        _time("calibrated_at", nullable=True),
        _time("calibrated_until", nullable=True),
        sa.Column("qualification_interval_days", sa.Integer(), nullable=True),
        sa.Column("qualification_status", sa.String(length=16), nullable=False),
        _time("qualified_at", nullable=True),
        _time("qualified_until", nullable=True),
        sa.Column("capacity", sa.Numeric(14, 6), nullable=True),
        sa.Column("readability", sa.Numeric(14, 6), nullable=True),
        sa.Column("min_weight", sa.Numeric(14, 6), nullable=True),
        sa.Column("weight_unit", sa.String(length=8), nullable=True),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _time("voided_at", nullable=True),
        sa.CheckConstraint(
            _in("equipment_class", EQUIPMENT_CLASSES), name=op.f("ck_equipment_equipment_class")
        ),
        sa.CheckConstraint(_in("lifecycle", LIFECYCLE_STATES), name=op.f("ck_equipment_lifecycle")),
        sa.CheckConstraint(
            _in("operating_status", OPERATING_STATUSES), name=op.f("ck_equipment_operating_status")
        ),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_equipment_code_length")),
        sa.CheckConstraint(
            "cleaning_status IS NULL OR cleaning_status IN ('clean', 'to_clean')",
            name=op.f("ck_equipment_cleaning_status"),
        ),
        sa.CheckConstraint(
            "sterilisation_status IS NULL OR sterilisation_status IN ('sterile', 'not_sterile')",
            name=op.f("ck_equipment_sterilisation_status"),
        ),
        sa.CheckConstraint(
            "calibration_status IS NULL OR calibration_status IN ('calibrated', 'not_calibrated', 'out_of_tolerance')",
            name=op.f("ck_equipment_calibration_status"),
        ),
        sa.CheckConstraint(
            "qualification_status IN ('not_qualified', 'qualified', 'failed')",
            name=op.f("ck_equipment_qualification_status"),
        ),
        sa.CheckConstraint(
            _tracked("cleaning_validity_hours", "cleaning_status", "clean_until", "clean"),
            name=op.f("ck_equipment_cleaning"),
        ),
        sa.CheckConstraint(
            _tracked("sterilisation_validity_hours", "sterilisation_status", "sterile_until", "sterile"),
            name=op.f("ck_equipment_sterilisation"),
        ),
        sa.CheckConstraint(
            _tracked("calibration_interval_days", "calibration_status", "calibrated_until", "calibrated"),
            name=op.f("ck_equipment_calibration"),
        ),
        sa.CheckConstraint(
            "(qualification_interval_days IS NULL OR qualification_interval_days > 0) AND "
            "(qualification_status <> 'qualified' OR qualified_at IS NOT NULL)",
            name=op.f("ck_equipment_qualification"),
        ),
        sa.CheckConstraint(
            f"({_in('equipment_class', WEIGHING_CLASSES)} AND capacity IS NOT NULL AND readability IS NOT NULL "
            "AND weight_unit IS NOT NULL AND calibration_interval_days IS NOT NULL) OR "
            f"(NOT {_in('equipment_class', WEIGHING_CLASSES)} AND capacity IS NULL AND readability IS NULL "
            "AND min_weight IS NULL AND weight_unit IS NULL)",
            name=op.f("ck_equipment_weighing"),
        ),
        sa.CheckConstraint(
            "capacity IS NULL OR (readability > 0 AND readability < capacity AND "
            "(min_weight IS NULL OR (min_weight >= readability AND min_weight < capacity)))",
            name=op.f("ck_equipment_weighing_range"),
        ),
        sa.CheckConstraint(
            "weight_unit IS NULL OR weight_unit IN ('mg', 'g', 'kg')", name=op.f("ck_equipment_weight_unit")
        ),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_equipment_room_id_rooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment")),
        sa.UniqueConstraint("code", name=op.f("uq_equipment_code")),
    )
    op.create_index("ix_equipment_room_id", "equipment", ["room_id"], unique=False)
    op.create_table(
        "equipment_log_entries",
        _id(),
        _key("equipment_id", nullable=True),
        _key("room_id", nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _time("performed_at"),
        _time("recorded_at"),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_by_name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("result", sa.String(length=8), nullable=True),
        sa.Column("batch_no", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        _time("valid_until", nullable=True),
        sa.CheckConstraint(_in("kind", LOG_KINDS), name=op.f("ck_equipment_log_entries_kind")),
        sa.CheckConstraint(
            "(equipment_id IS NOT NULL AND room_id IS NULL) OR (equipment_id IS NULL AND room_id IS NOT NULL)",
            name=op.f("ck_equipment_log_entries_one_target"),
        ),
        sa.CheckConstraint(
            "room_id IS NULL OR kind IN ('use', 'cleaning', 'maintenance')",
            name=op.f("ck_equipment_log_entries_room_kind"),
        ),
        sa.CheckConstraint(
            f"({_in('kind', RESULT_KINDS)} AND result IN ('pass', 'fail')) OR "
            f"(NOT {_in('kind', RESULT_KINDS)} AND result IS NULL)",
            name=op.f("ck_equipment_log_entries_result"),
        ),
        sa.CheckConstraint(
            "performed_at <= recorded_at", name=op.f("ck_equipment_log_entries_performed_before_recorded")
        ),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until > performed_at",
            name=op.f("ck_equipment_log_entries_validity"),
        ),
        sa.CheckConstraint("length(description) >= 2", name=op.f("ck_equipment_log_entries_description")),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_equipment_log_entries_equipment_id_equipment")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_equipment_log_entries_room_id_rooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_log_entries")),
    )
    op.create_index(
        "ix_equipment_log_entries_equipment", "equipment_log_entries", ["equipment_id", "performed_at"]
    )
    op.create_index("ix_equipment_log_entries_room", "equipment_log_entries", ["room_id", "performed_at"])
    for table in ("rooms", "equipment"):
        guards.no_delete(table)  # voided, never deleted
        guards.uow_only(table)
    guards.append_only("equipment_log_entries")  # a logbook entry is never changed or removed
    guards.uow_only("equipment_log_entries")
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_index("ix_equipment_log_entries_room", table_name="equipment_log_entries")
    op.drop_index("ix_equipment_log_entries_equipment", table_name="equipment_log_entries")
    op.drop_table("equipment_log_entries")
    op.drop_index("ix_equipment_room_id", table_name="equipment")
    op.drop_table("equipment")
    op.drop_table("rooms")
