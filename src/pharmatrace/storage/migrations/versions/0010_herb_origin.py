"""herbal-material origin: planting bases, plots, cultivation, harvest, processing, shipment (TJ-5.1)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Voided, never deleted; written only through the unit of work.
TABLES = (
    "planting_bases",
    "plots",
    "crops",
    "harvests",
    "processing_steps",
    "herb_shipments",
    "herb_shipment_sources",
    "herb_lot_origins",
    "origin_feedback",
)


def upgrade() -> None:
    op.create_table(
        "planting_bases",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("supplier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region", sa.String(length=128), nullable=False),
        sa.Column("certificate", sa.String(length=128), nullable=False),
        sa.Column("certificate_valid_until", sa.Date(), nullable=True),
        sa.Column("area_mu", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("manager", sa.String(length=128), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("area_mu IS NULL OR area_mu > 0", name=op.f("ck_planting_bases_area")),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_planting_bases_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planting_bases")),
        sa.UniqueConstraint("supplier_id", name=op.f("uq_planting_bases_supplier_id")),
    )
    op.create_table(
        "herb_shipments",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("base_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("material_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_no", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("pack_type", sa.String(length=128), nullable=False),
        sa.Column("pack_count", sa.Integer(), nullable=False),
        sa.Column("packed_on", sa.Date(), nullable=False),
        sa.Column("storage_conditions", sa.String(length=256), nullable=False),
        sa.Column("shipped_on", sa.Date(), nullable=False),
        sa.Column("destination", sa.String(length=256), nullable=False),
        sa.Column("carrier", sa.String(length=128), nullable=False),
        sa.Column("transport_conditions", sa.String(length=256), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_herb_shipments_code_length")),
        sa.CheckConstraint("pack_count >= 1", name=op.f("ck_herb_shipments_pack_count")),
        sa.CheckConstraint("packed_on <= shipped_on", name=op.f("ck_herb_shipments_packed_before_shipped")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_herb_shipments_quantity")),
        sa.ForeignKeyConstraint(
            ["base_id"], ["planting_bases.id"], name=op.f("fk_herb_shipments_base_id_planting_bases")
        ),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_herb_shipments_material_id_materials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_herb_shipments")),
        sa.UniqueConstraint("code", name=op.f("uq_herb_shipments_code")),
    )
    op.create_index("ix_herb_shipments_base_id", "herb_shipments", ["base_id"], unique=False)
    op.create_table(
        "plots",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("base_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("area_mu", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("location", sa.String(length=256), nullable=False),
        sa.Column("coordinates", sa.String(length=64), nullable=False),
        sa.Column("soil", sa.String(length=256), nullable=False),
        sa.Column("irrigation", sa.String(length=256), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("area_mu > 0", name=op.f("ck_plots_area")),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_plots_code_length")),
        sa.ForeignKeyConstraint(
            ["base_id"], ["planting_bases.id"], name=op.f("fk_plots_base_id_planting_bases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plots")),
        sa.UniqueConstraint("code", name=op.f("uq_plots_code")),
    )
    op.create_index("ix_plots_base_id", "plots", ["base_id"], unique=False)
    op.create_table(
        "crops",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("plot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("material_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("species", sa.String(length=128), nullable=False),
        sa.Column("latin_name", sa.String(length=128), nullable=False),
        sa.Column("variety", sa.String(length=128), nullable=False),
        sa.Column("seed_kind", sa.String(length=16), nullable=False),
        sa.Column("seed_source", sa.String(length=256), nullable=False),
        sa.Column("seed_certificate", sa.String(length=128), nullable=False),
        sa.Column("planted_on", sa.Date(), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("seed_kind IN ('seed', 'seedling', 'rhizome')", name=op.f("ck_crops_seed_kind")),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_crops_code_length")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_crops_material_id_materials")
        ),
        sa.ForeignKeyConstraint(["plot_id"], ["plots.id"], name=op.f("fk_crops_plot_id_plots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crops")),
        sa.UniqueConstraint("code", name=op.f("uq_crops_code")),
    )
    op.create_index("ix_crops_plot_id", "crops", ["plot_id"], unique=False)
    op.create_table(
        "herb_lot_origins",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shipment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_herb_lot_origins_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["herb_shipments.id"],
            name=op.f("fk_herb_lot_origins_shipment_id_herb_shipments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_herb_lot_origins")),
        sa.UniqueConstraint("lot_id", name=op.f("uq_herb_lot_origins_lot_id")),
    )
    op.create_index("ix_herb_lot_origins_shipment_id", "herb_lot_origins", ["shipment_id"], unique=False)
    op.create_table(
        "origin_feedback",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("base_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shipment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("produced_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("produced_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("delivered_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('rejected', 'quality_anomaly')", name=op.f("ck_origin_feedback_kind")),
        sa.CheckConstraint(
            "status <> 'delivered' OR delivered_at IS NOT NULL", name=op.f("ck_origin_feedback_delivered")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name=op.f("ck_origin_feedback_status")
        ),
        sa.ForeignKeyConstraint(
            ["base_id"], ["planting_bases.id"], name=op.f("fk_origin_feedback_base_id_planting_bases")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_origin_feedback_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["herb_shipments.id"], name=op.f("fk_origin_feedback_shipment_id_herb_shipments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_origin_feedback")),
    )
    op.create_index("ix_origin_feedback_lot_id", "origin_feedback", ["lot_id"], unique=False)
    op.create_index("ix_origin_feedback_status", "origin_feedback", ["status"], unique=False)
    op.create_table(
        "cultivation_inputs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("crop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("active_ingredient", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("applied_by", sa.String(length=128), nullable=False),
        sa.Column("pre_harvest_days", sa.Integer(), nullable=True),
        sa.Column("remarks", sa.String(length=500), nullable=False),
        sa.Column("recorded_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "(kind = 'pesticide' AND pre_harvest_days IS NOT NULL AND pre_harvest_days >= 0) OR (kind <> 'pesticide' AND pre_harvest_days IS NULL)",
            name=op.f("ck_cultivation_inputs_pre_harvest"),
        ),
        sa.CheckConstraint(
            "kind IN ('fertilizer', 'pesticide', 'other')", name=op.f("ck_cultivation_inputs_kind")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_cultivation_inputs_amount")),
        sa.CheckConstraint("length(product) >= 1", name=op.f("ck_cultivation_inputs_product")),
        sa.ForeignKeyConstraint(["crop_id"], ["crops.id"], name=op.f("fk_cultivation_inputs_crop_id_crops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cultivation_inputs")),
    )
    op.create_index(
        "ix_cultivation_inputs_crop", "cultivation_inputs", ["crop_id", "applied_on"], unique=False
    )
    op.create_table(
        "harvests",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("crop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("harvested_on", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=256), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_harvests_code_length")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_harvests_quantity")),
        sa.ForeignKeyConstraint(["crop_id"], ["crops.id"], name=op.f("fk_harvests_crop_id_crops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_harvests")),
        sa.UniqueConstraint("code", name=op.f("uq_harvests_code")),
    )
    op.create_index("ix_harvests_crop_id", "harvests", ["crop_id"], unique=False)
    op.create_table(
        "herb_shipment_sources",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("shipment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("harvest_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_herb_shipment_sources_quantity")),
        sa.ForeignKeyConstraint(
            ["harvest_id"], ["harvests.id"], name=op.f("fk_herb_shipment_sources_harvest_id_harvests")
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["herb_shipments.id"],
            name=op.f("fk_herb_shipment_sources_shipment_id_herb_shipments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_herb_shipment_sources")),
    )
    op.create_index(
        "ix_herb_shipment_sources_harvest_id", "herb_shipment_sources", ["harvest_id"], unique=False
    )
    op.create_index(
        "uq_herb_shipment_sources_pair", "herb_shipment_sources", ["shipment_id", "harvest_id"], unique=True
    )
    op.create_table(
        "processing_steps",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("harvest_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("performed_on", sa.Date(), nullable=False),
        sa.Column("output_quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("conditions", sa.String(length=256), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "method IN ('sorting', 'washing', 'cutting', 'sun_drying', 'shade_drying', 'oven_drying', 'other')",
            name=op.f("ck_processing_steps_method"),
        ),
        sa.CheckConstraint("output_quantity > 0", name=op.f("ck_processing_steps_output")),
        sa.ForeignKeyConstraint(
            ["harvest_id"], ["harvests.id"], name=op.f("fk_processing_steps_harvest_id_harvests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processing_steps")),
    )
    op.create_index("ix_processing_steps_harvest_id", "processing_steps", ["harvest_id"], unique=False)
    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    guards.append_only("cultivation_inputs")  # an application record is never changed or removed
    guards.uow_only("cultivation_inputs")
    guards.grant_app_role()


def downgrade() -> None:
    for table in (
        "origin_feedback",
        "herb_lot_origins",
        "herb_shipment_sources",
        "herb_shipments",
        "processing_steps",
        "harvests",
        "cultivation_inputs",
        "crops",
        "plots",
        "planting_bases",
    ):
        op.drop_table(table)
