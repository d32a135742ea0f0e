"""LIMS sampling plans and samples (TJ-7.5, TJ-B.2.4.1)

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

RULES = "('herb_chp0211', 'sqrt_n_plus_1', 'all', 'fixed')"
KINDS = (
    "('herb', 'decoction_piece', 'extract', 'excipient', 'primary_packaging', 'secondary_packaging', "
    "'intermediate', 'finished_good')"
)
STATES = "('sampled', 'received', 'stored', 'in_testing', 'disposed', 'retained', 'destroyed')"
EVENTS = "('sample', 'receive', 'store', 'issue', 'dispose', 'retain', 'observe', 'destroy')"
# Plans change with a reason and are voided, never deleted.
TABLES = ("lims_sampling_plans",)
# Sampling evidence and the samples' history: never changed, never deleted (the state is derived from events).
APPEND_ONLY = ("lims_sampling_records", "lims_sampled_containers", "lims_samples", "lims_sample_events")


def upgrade() -> None:
    op.create_table(
        "lims_sampling_plans",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("material_id", ID, nullable=True),
        sa.Column("material_kind", sa.String(length=32), nullable=True),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("fixed_count", sa.Integer(), nullable=True),
        sa.Column("precious", sa.Boolean(), nullable=False),
        sa.Column("quantity_per_container", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("retained_per_container", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("tool", sa.String(length=256), nullable=False),
        sa.Column("storage_condition", sa.String(length=256), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.CheckConstraint(f"rule IN {RULES}", name=op.f("ck_lims_sampling_plans_rule")),
        sa.CheckConstraint(
            "(rule = 'fixed' AND fixed_count IS NOT NULL AND fixed_count >= 1) "
            "OR (rule <> 'fixed' AND fixed_count IS NULL)",
            name=op.f("ck_lims_sampling_plans_fixed_count"),
        ),
        sa.CheckConstraint(
            "(material_id IS NULL) <> (material_kind IS NULL)",
            name=op.f("ck_lims_sampling_plans_material_or_kind"),
        ),
        sa.CheckConstraint(
            f"material_kind IS NULL OR material_kind IN {KINDS}",
            name=op.f("ck_lims_sampling_plans_material_kind"),
        ),
        sa.CheckConstraint(
            "quantity_per_container >= 0 AND retained_per_container >= 0",
            name=op.f("ck_lims_sampling_plans_quantities"),
        ),
        sa.CheckConstraint(
            "quantity_per_container > 0 OR retained_per_container > 0",
            name=op.f("ck_lims_sampling_plans_takes_something"),
        ),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_lims_sampling_plans_code_length")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_lims_sampling_plans_material_id_materials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_sampling_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_lims_sampling_plans_code")),
    )
    op.create_index(
        "uq_lims_sampling_plans_material",
        "lims_sampling_plans",
        ["material_id"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL AND material_id IS NOT NULL"),
        postgresql_where=sa.text("voided_at IS NULL AND material_id IS NOT NULL"),
    )
    op.create_index(
        "uq_lims_sampling_plans_kind",
        "lims_sampling_plans",
        ["material_kind"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL AND material_kind IS NOT NULL"),
        postgresql_where=sa.text("voided_at IS NULL AND material_kind IS NOT NULL"),
    )
    op.create_table(
        "lims_sampling_records",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("lot_id", ID, nullable=False),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        sa.Column("material_id", ID, nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("material_name", sa.String(length=128), nullable=False),
        sa.Column("plan_id", ID, nullable=True),
        sa.Column("plan_code", sa.String(length=32), nullable=True),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("fixed_count", sa.Integer(), nullable=True),
        sa.Column("precious", sa.Boolean(), nullable=False),
        sa.Column("containers_total", sa.Integer(), nullable=False),
        sa.Column("sample_count", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("population", sa.Text(), nullable=False),
        sa.Column("quantity_per_container", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("retained_per_container", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("place", sa.String(length=128), nullable=False),
        sa.Column("tool", sa.String(length=256), nullable=False),
        sa.Column("conditions", sa.String(length=256), nullable=False),
        sa.Column("remarks", sa.String(length=500), nullable=False),
        sa.Column("lot_status_before", sa.String(length=16), nullable=False),
        sa.Column("lot_status_after", sa.String(length=16), nullable=False),
        sa.Column("sampled_at", WHEN, nullable=False),
        sa.Column("sampled_by", sa.String(length=64), nullable=False),
        sa.Column("sampled_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(f"rule IN {RULES}", name=op.f("ck_lims_sampling_records_rule")),
        sa.CheckConstraint(
            "purpose IN ('release_test', 'retained', 'stability', 'retest')",
            name=op.f("ck_lims_sampling_records_purpose"),
        ),
        sa.CheckConstraint(
            "containers_total >= 1 AND sample_count >= 1 AND sample_count <= containers_total",
            name=op.f("ck_lims_sampling_records_counts"),
        ),
        sa.CheckConstraint("seed >= 0", name=op.f("ck_lims_sampling_records_seed")),
        sa.CheckConstraint(
            "quantity_per_container >= 0 AND retained_per_container >= 0",
            name=op.f("ck_lims_sampling_records_quantities"),
        ),
        sa.CheckConstraint("length(place) >= 1", name=op.f("ck_lims_sampling_records_place")),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_lims_sampling_records_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_lims_sampling_records_material_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["lims_sampling_plans.id"],
            name=op.f("fk_lims_sampling_records_plan_id_lims_sampling_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_sampling_records")),
        sa.UniqueConstraint("code", name=op.f("uq_lims_sampling_records_code")),
    )
    op.create_index("ix_lims_sampling_records_lot_id", "lims_sampling_records", ["lot_id"], unique=False)
    op.create_table(
        "lims_sampled_containers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("sampling_record_id", ID, nullable=False),
        sa.Column("container_id", ID, nullable=False),
        sa.Column("container_code", sa.String(length=40), nullable=False),
        sa.Column("draw_order", sa.Integer(), nullable=False),
        sa.Column("test_quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("retained_quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("sample_movement_id", ID, nullable=True),
        sa.Column("retain_movement_id", ID, nullable=True),
        sa.CheckConstraint("draw_order >= 1", name=op.f("ck_lims_sampled_containers_draw_order")),
        sa.CheckConstraint(
            "test_quantity >= 0 AND retained_quantity >= 0",
            name=op.f("ck_lims_sampled_containers_quantities"),
        ),
        sa.ForeignKeyConstraint(
            ["container_id"],
            ["containers.id"],
            name=op.f("fk_lims_sampled_containers_container_id_containers"),
        ),
        sa.ForeignKeyConstraint(
            ["retain_movement_id"],
            ["stock_movements.id"],
            name=op.f("fk_lims_sampled_containers_retain_movement_id_stock_movements"),
        ),
        sa.ForeignKeyConstraint(
            ["sample_movement_id"],
            ["stock_movements.id"],
            name=op.f("fk_lims_sampled_containers_sample_movement_id_stock_movements"),
        ),
        sa.ForeignKeyConstraint(
            ["sampling_record_id"],
            ["lims_sampling_records.id"],
            name=op.f("fk_lims_sampled_containers_sampling_record_id_lims_sampling_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_sampled_containers")),
    )
    op.create_index(
        "uq_lims_sampled_containers_pair",
        "lims_sampled_containers",
        ["sampling_record_id", "container_id"],
        unique=True,
    )
    op.create_index(
        "ix_lims_sampled_containers_container_id", "lims_sampled_containers", ["container_id"], unique=False
    )
    op.create_table(
        "lims_samples",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sampling_record_id", ID, nullable=False),
        sa.Column("lot_id", ID, nullable=False),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        sa.Column("material_id", ID, nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("material_name", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("storage_condition", sa.String(length=256), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("kind IN ('test', 'retained', 'stability')", name=op.f("ck_lims_samples_kind")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_lims_samples_quantity")),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_lims_samples_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_lims_samples_material_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["sampling_record_id"],
            ["lims_sampling_records.id"],
            name=op.f("fk_lims_samples_sampling_record_id_lims_sampling_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_samples")),
        sa.UniqueConstraint("code", name=op.f("uq_lims_samples_code")),
    )
    op.create_index("ix_lims_samples_lot_id", "lims_samples", ["lot_id"], unique=False)
    op.create_index(
        "ix_lims_samples_sampling_record_id", "lims_samples", ["sampling_record_id"], unique=False
    )
    op.create_table(
        "lims_sample_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("sample_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=3), nullable=True),
        sa.Column("remaining", sa.Numeric(precision=14, scale=3), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=128), nullable=False),
        sa.Column("equipment_id", ID, nullable=True),
        sa.Column("equipment_code", sa.String(length=32), nullable=False),
        sa.Column("equipment_name", sa.String(length=128), nullable=False),
        sa.Column("conditions", sa.String(length=256), nullable=False),
        sa.Column("method", sa.String(length=256), nullable=False),
        sa.Column("witness", sa.String(length=64), nullable=True),
        sa.Column("witness_name", sa.String(length=128), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("done_at", WHEN, nullable=False),
        sa.Column("done_by", sa.String(length=64), nullable=False),
        sa.Column("done_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(f"event IN {EVENTS}", name=op.f("ck_lims_sample_events_event")),
        sa.CheckConstraint(f"to_state IN {STATES}", name=op.f("ck_lims_sample_events_to_state")),
        sa.CheckConstraint(
            f"from_state IS NULL OR from_state IN {STATES}", name=op.f("ck_lims_sample_events_from_state")
        ),
        sa.CheckConstraint(
            "(seq = 1) = (event = 'sample') AND (seq = 1) = (from_state IS NULL)",
            name=op.f("ck_lims_sample_events_first"),
        ),
        sa.CheckConstraint("quantity IS NULL OR quantity >= 0", name=op.f("ck_lims_sample_events_quantity")),
        sa.CheckConstraint(
            "remaining IS NULL OR (remaining >= 0 AND quantity IS NOT NULL AND quantity <= remaining)",
            name=op.f("ck_lims_sample_events_remaining"),
        ),
        sa.CheckConstraint(
            "event NOT IN ('receive', 'issue') OR (quantity IS NOT NULL AND quantity > 0)",
            name=op.f("ck_lims_sample_events_quantity_given"),
        ),
        sa.CheckConstraint(
            "event NOT IN ('store', 'retain') OR (length(location) >= 1 AND length(conditions) >= 1)",
            name=op.f("ck_lims_sample_events_storage"),
        ),
        sa.CheckConstraint(
            "event NOT IN ('dispose', 'destroy') OR (quantity IS NOT NULL AND length(method) >= 1 "
            "AND length(location) >= 1 AND witness IS NOT NULL AND witness <> done_by)",
            name=op.f("ck_lims_sample_events_disposal"),
        ),
        sa.CheckConstraint(
            "event <> 'observe' OR length(conditions) >= 1", name=op.f("ck_lims_sample_events_observation")
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_lims_sample_events_equipment_id_equipment")
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["lims_samples.id"], name=op.f("fk_lims_sample_events_sample_id_lims_samples")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_sample_events")),
    )
    op.create_index("uq_lims_sample_events_seq", "lims_sample_events", ["sample_id", "seq"], unique=True)
    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table("lims_sample_events")
    op.drop_table("lims_samples")
    op.drop_table("lims_sampled_containers")
    op.drop_table("lims_sampling_records")
    op.drop_table("lims_sampling_plans")
