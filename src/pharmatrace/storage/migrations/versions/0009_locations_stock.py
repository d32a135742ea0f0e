"""locations, stock movements, storage conditions and temperature records (TJ-6.3.3, TJ-6.4.3.6, TJ-5.2.1.2)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Tables of this revision; the value lists in the check constraints are those of this revision (a migration
# never changes, the models may grow later).
CURRENT_STATE = ("locations", "stock_balances", "storage_anomalies", "intermediate_lots")
APPEND_ONLY = ("stock_movements", "temperature_readings", "intermediate_movements")


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("temp_min_c", sa.Numeric(precision=5, scale=1), nullable=True),
        sa.Column("temp_max_c", sa.Numeric(precision=5, scale=1), nullable=True),
        sa.Column("humidity_max_pct", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column("max_reading_gap_minutes", sa.Integer(), nullable=True),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('warehouse', 'zone', 'bin', 'receiving', 'quarantine', 'sampling', 'weighing_centre', 'staging', 'buffer', 'intermediate_store', 'retained_samples', 'rejected_store')",
            name=op.f("ck_locations_kind"),
        ),
        sa.CheckConstraint(
            "humidity_max_pct IS NULL OR (humidity_max_pct > 0 AND humidity_max_pct <= 100)",
            name=op.f("ck_locations_humidity"),
        ),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_locations_code_length")),
        sa.CheckConstraint(
            "max_reading_gap_minutes IS NULL OR max_reading_gap_minutes > 0",
            name=op.f("ck_locations_reading_gap"),
        ),
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", name=op.f("ck_locations_not_own_parent")),
        sa.CheckConstraint(
            "temp_min_c IS NULL OR temp_max_c IS NULL OR temp_min_c <= temp_max_c",
            name=op.f("ck_locations_temp_range"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["locations.id"], name=op.f("fk_locations_parent_id_locations")
        ),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_locations_room_id_rooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("code", name=op.f("uq_locations_code")),
        sa.UniqueConstraint("path", name=op.f("uq_locations_path")),
    )
    op.create_index("ix_locations_parent", "locations", ["parent_id"], unique=False)
    op.create_table(
        "intermediate_lots",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        sa.Column("material_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_no", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("located_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("produced_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("hold_until", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('quarantine', 'released', 'rejected')", name=op.f("ck_intermediate_lots_status")
        ),
        sa.CheckConstraint(
            "(quantity > 0 AND location_id IS NOT NULL) OR quantity = 0",
            name=op.f("ck_intermediate_lots_located_while_not_empty"),
        ),
        sa.CheckConstraint("hold_until > produced_at", name=op.f("ck_intermediate_lots_hold")),
        sa.CheckConstraint("length(lot_number) >= 4", name=op.f("ck_intermediate_lots_lot_number_length")),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_intermediate_lots_quantity")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_intermediate_lots_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_intermediate_lots_material_id_materials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intermediate_lots")),
        sa.UniqueConstraint("lot_number", name=op.f("uq_intermediate_lots_lot_number")),
    )
    op.create_index("ix_intermediate_lots_location", "intermediate_lots", ["location_id"], unique=False)
    op.create_index(
        "ix_intermediate_lots_material", "intermediate_lots", ["material_id", "status"], unique=False
    )
    op.create_table(
        "temperature_readings",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("measured_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("temp_c", sa.Numeric(precision=5, scale=1), nullable=False),
        sa.Column("humidity_pct", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("source IN ('manual', 'monitoring')", name=op.f("ck_temperature_readings_source")),
        sa.CheckConstraint(
            "humidity_pct IS NULL OR (humidity_pct >= 0 AND humidity_pct <= 100)",
            name=op.f("ck_temperature_readings_humidity"),
        ),
        sa.CheckConstraint(
            "measured_at <= recorded_at", name=op.f("ck_temperature_readings_measured_before_recorded")
        ),
        sa.CheckConstraint("temp_c >= -80 AND temp_c <= 80", name=op.f("ck_temperature_readings_temp")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_temperature_readings_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_temperature_readings")),
    )
    op.create_index(
        "ix_temperature_readings_location",
        "temperature_readings",
        ["location_id", "measured_at"],
        unique=False,
    )
    op.create_table(
        "stock_balances",
        sa.Column("container_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("material_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("located_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("batch_no", sa.String(length=64), nullable=False),
        sa.Column("updated_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(quantity > 0 AND location_id IS NOT NULL) OR (quantity = 0 AND location_id IS NULL)",
            name=op.f("ck_stock_balances_located_while_not_empty"),
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_stock_balances_quantity")),
        sa.ForeignKeyConstraint(
            ["container_id"], ["containers.id"], name=op.f("fk_stock_balances_container_id_containers")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_stock_balances_location_id_locations")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_stock_balances_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_stock_balances_material_id_materials")
        ),
        sa.PrimaryKeyConstraint("container_id", name=op.f("pk_stock_balances")),
    )
    op.create_index(
        "ix_stock_balances_location_material", "stock_balances", ["location_id", "material_id"], unique=False
    )
    op.create_index("ix_stock_balances_lot", "stock_balances", ["lot_id"], unique=False)
    op.create_index(
        "ix_stock_balances_in_stock",
        "stock_balances",
        ["material_id", "lot_id", "container_id"],
        unique=False,
        postgresql_where=sa.text("quantity > 0"),
        sqlite_where=sa.text("quantity > 0"),
    )
    op.create_index(
        "ix_stock_balances_material_location", "stock_balances", ["material_id", "location_id"], unique=False
    )
    op.create_table(
        "stock_movements",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("container_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("from_location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("to_location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("batch_no", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("moved_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("moved_by", sa.String(length=64), nullable=False),
        sa.Column("moved_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "kind <> 'issue' OR length(batch_no) >= 1", name=op.f("ck_stock_movements_issue_batch")
        ),
        sa.CheckConstraint(
            "kind IN ('receive', 'put_away', 'transfer', 'issue', 'return', 'sample', 'retain', 'destroy')",
            name=op.f("ck_stock_movements_kind"),
        ),
        sa.CheckConstraint(
            "from_location_id IS NOT NULL OR to_location_id IS NOT NULL",
            name=op.f("ck_stock_movements_somewhere"),
        ),
        sa.CheckConstraint("length(reason) >= 2", name=op.f("ck_stock_movements_reason")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_stock_movements_quantity")),
        sa.ForeignKeyConstraint(
            ["container_id"], ["containers.id"], name=op.f("fk_stock_movements_container_id_containers")
        ),
        sa.ForeignKeyConstraint(
            ["from_location_id"], ["locations.id"], name=op.f("fk_stock_movements_from_location_id_locations")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_stock_movements_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["to_location_id"], ["locations.id"], name=op.f("fk_stock_movements_to_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
    )
    op.create_index(
        "ix_stock_movements_container", "stock_movements", ["container_id", "moved_at"], unique=False
    )
    op.create_index(
        "ix_stock_movements_from", "stock_movements", ["from_location_id", "moved_at"], unique=False
    )
    op.create_index("ix_stock_movements_lot", "stock_movements", ["lot_id", "moved_at"], unique=False)
    op.create_index("ix_stock_movements_to", "stock_movements", ["to_location_id", "moved_at"], unique=False)
    op.create_table(
        "intermediate_movements",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("intermediate_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("from_location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("to_location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("batch_no", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("moved_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("moved_by", sa.String(length=64), nullable=False),
        sa.Column("moved_by_name", sa.String(length=128), nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_by_name", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "kind <> 'charge' OR length(batch_no) >= 1", name=op.f("ck_intermediate_movements_charge_batch")
        ),
        sa.CheckConstraint(
            "kind <> 'return' OR reviewed_by IS NOT NULL",
            name=op.f("ck_intermediate_movements_return_reviewed"),
        ),
        sa.CheckConstraint(
            "kind IN ('stock_in', 'stock_out', 'transfer', 'sample', 'retain', 'charge', 'return')",
            name=op.f("ck_intermediate_movements_kind"),
        ),
        sa.CheckConstraint("length(reason) >= 2", name=op.f("ck_intermediate_movements_reason")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_intermediate_movements_quantity")),
        sa.CheckConstraint(
            "reviewed_by IS NULL OR reviewed_by <> moved_by",
            name=op.f("ck_intermediate_movements_reviewer_not_mover"),
        ),
        sa.ForeignKeyConstraint(
            ["from_location_id"],
            ["locations.id"],
            name=op.f("fk_intermediate_movements_from_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["intermediate_id"],
            ["intermediate_lots.id"],
            name=op.f("fk_intermediate_movements_intermediate_id_intermediate_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["to_location_id"],
            ["locations.id"],
            name=op.f("fk_intermediate_movements_to_location_id_locations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intermediate_movements")),
    )
    op.create_index(
        "ix_intermediate_movements_lot",
        "intermediate_movements",
        ["intermediate_id", "moved_at"],
        unique=False,
    )
    op.create_table(
        "storage_anomalies",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("intermediate_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reading_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("covered_from", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("covered_until", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("detected_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detected_by", sa.String(length=64), nullable=False),
        sa.Column("closed_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closing_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "(status = 'open' AND closed_at IS NULL) OR (status = 'closed' AND closed_at IS NOT NULL AND closed_by IS NOT NULL AND closing_reason IS NOT NULL)",
            name=op.f("ck_storage_anomalies_closed"),
        ),
        sa.CheckConstraint(
            "kind IN ('location_unfit', 'temperature_out_of_range', 'temperature_record_gap', 'expired', 'retest_due', 'hold_time_exceeded')",
            name=op.f("ck_storage_anomalies_kind"),
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_storage_anomalies_status")),
        sa.CheckConstraint(
            "lot_id IS NOT NULL OR location_id IS NOT NULL OR intermediate_id IS NOT NULL",
            name=op.f("ck_storage_anomalies_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["intermediate_id"],
            ["intermediate_lots.id"],
            name=op.f("fk_storage_anomalies_intermediate_id_intermediate_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_storage_anomalies_location_id_locations")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_storage_anomalies_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["reading_id"],
            ["temperature_readings.id"],
            name=op.f("fk_storage_anomalies_reading_id_temperature_readings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_anomalies")),
    )
    op.create_index(
        "ix_storage_anomalies_location", "storage_anomalies", ["location_id", "status"], unique=False
    )
    op.create_index("ix_storage_anomalies_lot", "storage_anomalies", ["lot_id", "status"], unique=False)
    op.create_index(
        "ix_storage_anomalies_status", "storage_anomalies", ["status", "detected_at"], unique=False
    )

    for table in CURRENT_STATE:
        guards.no_delete(table)  # voided or closed, never deleted
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)  # a movement or a reading is never changed or removed
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in (
        "storage_anomalies",
        "intermediate_movements",
        "stock_movements",
        "stock_balances",
        "temperature_readings",
        "intermediate_lots",
        "locations",
    ):
        op.drop_table(table)
