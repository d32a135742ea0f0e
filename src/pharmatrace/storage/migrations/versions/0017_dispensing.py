"""weighing records, material identification and charging (TJ-6.3.2.2, TJ-6.4.3.3.e, TJ-B.2.2.2)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Voided, never deleted; written only through the unit of work.
TABLES = ("scale_endpoints",)
# Evidence of batch execution: never changed, never deleted (refusals leave audit events, not rows).
APPEND_ONLY = ("weighing_records", "material_identifications", "material_charges")


def upgrade() -> None:
    op.create_table(
        "scale_endpoints",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("equipment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(host) >= 1", name=op.f("ck_scale_endpoints_host")),
        sa.CheckConstraint("port >= 1 AND port <= 65535", name=op.f("ck_scale_endpoints_port")),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_scale_endpoints_equipment_id_equipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scale_endpoints")),
        sa.UniqueConstraint("equipment_id", name=op.f("uq_scale_endpoints_equipment_id")),
    )
    op.create_table(
        "material_identifications",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("batch_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_no", sa.String(length=32), nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("scan", sa.String(length=256), nullable=False),
        sa.Column("container_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("container_code", sa.String(length=40), nullable=False),
        sa.Column("material_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("material_name", sa.String(length=128), nullable=False),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        sa.Column("lot_status", sa.String(length=16), nullable=False),
        sa.Column("identified_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("identified_by", sa.String(length=64), nullable=False),
        sa.Column("identified_by_name", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_material_identifications_batch_order_id_batch_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["container_id"],
            ["containers.id"],
            name=op.f("fk_material_identifications_container_id_containers"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["lots.id"], name=op.f("fk_material_identifications_lot_id_lots")
        ),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_material_identifications_material_id_materials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_identifications")),
    )
    op.create_index(
        "ix_material_identifications_batch_order_id",
        "material_identifications",
        ["batch_order_id", "step_code"],
        unique=False,
    )
    op.create_table(
        "weighing_records",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("batch_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_no", sa.String(length=32), nullable=False),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("product_name", sa.String(length=128), nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("material_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("material_name", sa.String(length=128), nullable=False),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        sa.Column("container_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("container_code", sa.String(length=40), nullable=False),
        sa.Column("scale_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scale_code", sa.String(length=32), nullable=False),
        sa.Column("scale_name", sa.String(length=128), nullable=False),
        sa.Column("scale_serial", sa.String(length=64), nullable=False),
        sa.Column("calibration_status", sa.String(length=32), nullable=False),
        sa.Column("readability", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("weight_unit", sa.String(length=8), nullable=False),
        sa.Column("tare", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("gross", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("net", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("tolerance", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("issued_quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("manual_reason", sa.String(length=500), nullable=True),
        sa.Column("photo_sm3", sa.String(length=64), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("movement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("weighed_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("weighed_by", sa.String(length=64), nullable=False),
        sa.Column("weighed_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "(source = 'scale' AND manual_reason IS NULL AND photo_sm3 IS NULL AND approved_by IS NULL) OR (source = 'manual' AND length(manual_reason) >= 2 AND length(photo_sm3) = 64 AND approved_by IS NOT NULL AND approved_by <> weighed_by)",
            name=op.f("ck_weighing_records_manual"),
        ),
        sa.CheckConstraint("source IN ('scale', 'manual')", name=op.f("ck_weighing_records_source")),
        sa.CheckConstraint(
            "net > 0 AND tare >= 0 AND gross = tare + net", name=op.f("ck_weighing_records_weights")
        ),
        sa.CheckConstraint(
            "quantity > 0 AND target > 0 AND tolerance >= 0", name=op.f("ck_weighing_records_quantities")
        ),
        sa.CheckConstraint(
            "quantity >= target - tolerance AND quantity <= target + tolerance",
            name=op.f("ck_weighing_records_tolerance"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_weighing_records_batch_order_id_batch_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["container_id"], ["containers.id"], name=op.f("fk_weighing_records_container_id_containers")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_weighing_records_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_weighing_records_material_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["stock_movements.id"],
            name=op.f("fk_weighing_records_movement_id_stock_movements"),
        ),
        sa.ForeignKeyConstraint(
            ["scale_id"], ["equipment.id"], name=op.f("fk_weighing_records_scale_id_equipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weighing_records")),
        sa.UniqueConstraint("code", name=op.f("uq_weighing_records_code")),
    )
    op.create_index(
        "ix_weighing_records_batch_order_id",
        "weighing_records",
        ["batch_order_id", "step_code"],
        unique=False,
    )
    op.create_table(
        "material_charges",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("batch_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_no", sa.String(length=32), nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("weighing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("container_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("container_code", sa.String(length=40), nullable=False),
        sa.Column("material_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("material_name", sa.String(length=128), nullable=False),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("movement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("charged_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("charged_by", sa.String(length=64), nullable=False),
        sa.Column("charged_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "(source = 'weighing' AND weighing_id IS NOT NULL) OR (source = 'container' AND weighing_id IS NULL)",
            name=op.f("ck_material_charges_weighing"),
        ),
        sa.CheckConstraint("source IN ('weighing', 'container')", name=op.f("ck_material_charges_source")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_material_charges_quantity")),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_material_charges_batch_order_id_batch_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["container_id"], ["containers.id"], name=op.f("fk_material_charges_container_id_containers")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_material_charges_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_material_charges_material_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["stock_movements.id"],
            name=op.f("fk_material_charges_movement_id_stock_movements"),
        ),
        sa.ForeignKeyConstraint(
            ["weighing_id"],
            ["weighing_records.id"],
            name=op.f("fk_material_charges_weighing_id_weighing_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_charges")),
        sa.UniqueConstraint("weighing_id", name=op.f("uq_material_charges_weighing_id")),
    )
    op.create_index(
        "ix_material_charges_batch_order_id",
        "material_charges",
        ["batch_order_id", "step_code"],
        unique=False,
    )

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("material_charges", "weighing_records", "material_identifications", "scale_endpoints"):
        op.drop_table(table)
