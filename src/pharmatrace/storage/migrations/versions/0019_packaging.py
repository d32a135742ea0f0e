"""packaging records, visual inspection, printed-material reconciliation (TJ-6.4.6, TJ-B.2.3.4)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# Voided or completed (a line check is verified later), never deleted; written only through the unit of work.
TABLES = ("packaging_records", "packaging_line_checks")
# Evidence of packaging: never changed, never deleted (refusals leave audit events, not rows).
APPEND_ONLY = (
    "packaging_material_checks",
    "packaging_specimens",
    "packaging_print_checks",
    "packaging_visual_inspections",
    "packaging_reconciliations",
    "packaging_balances",
)


def upgrade() -> None:
    op.create_table(
        "packaging_records",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("batch_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_no", sa.String(length=32), nullable=False),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("product_name", sa.String(length=128), nullable=False),
        sa.Column("bulk_batch_no", sa.String(length=32), nullable=False),
        sa.Column("bulk_quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("planned_quantity", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("pack_size", sa.String(length=64), nullable=False),
        sa.Column("line", sa.String(length=64), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("instruction_number", sa.String(length=64), nullable=False),
        sa.Column("instruction_version", sa.Integer(), nullable=False),
        sa.Column("manufacture_date", sa.Date(), nullable=False),
        sa.Column("shelf_life_months", sa.Integer(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("reconciliation_limit_pct", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("yield_low_pct", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("yield_high_pct", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("reject_alert_pct", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("reject_action_pct", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "bulk_quantity > 0 AND planned_quantity > 0", name=op.f("ck_packaging_records_quantities")
        ),
        sa.CheckConstraint("expiry_date > manufacture_date", name=op.f("ck_packaging_records_expiry")),
        sa.CheckConstraint("instruction_version >= 1", name=op.f("ck_packaging_records_instruction_version")),
        sa.CheckConstraint(
            "reconciliation_limit_pct >= 0 AND reconciliation_limit_pct <= 100",
            name=op.f("ck_packaging_records_recon_limit"),
        ),
        sa.CheckConstraint(
            "reject_alert_pct >= 0 AND reject_alert_pct <= reject_action_pct AND reject_action_pct <= 100",
            name=op.f("ck_packaging_records_reject_limits"),
        ),
        sa.CheckConstraint("shelf_life_months > 0", name=op.f("ck_packaging_records_shelf_life")),
        sa.CheckConstraint(
            "yield_low_pct > 0 AND yield_low_pct <= yield_high_pct AND yield_high_pct <= 200",
            name=op.f("ck_packaging_records_yield_limits"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_packaging_records_batch_order_id_batch_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packaging_records")),
        sa.UniqueConstraint("batch_order_id", name=op.f("uq_packaging_records_batch_order_id")),
    )
    op.create_table(
        "packaging_balances",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("finished", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("samples", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("rejects", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("yield_pct", sa.Numeric(precision=7, scale=2), nullable=False),
        sa.Column("balance_pct", sa.Numeric(precision=7, scale=2), nullable=False),
        sa.Column("within_limits", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "finished >= 0 AND samples >= 0 AND rejects >= 0", name=op.f("ck_packaging_balances_counts")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["packaging_records.id"],
            name=op.f("fk_packaging_balances_record_id_packaging_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packaging_balances")),
        sa.UniqueConstraint("record_id", name=op.f("uq_packaging_balances_record_id")),
    )
    op.create_table(
        "packaging_line_checks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("checks", sa.Text(), nullable=False),
        sa.Column("checks_sm3", sa.String(length=64), nullable=False),
        sa.Column("performed_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("performed_by", sa.String(length=64), nullable=False),
        sa.Column("verified_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("verified_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "(verified_by IS NULL) = (verified_at IS NULL)", name=op.f("ck_packaging_line_checks_verified")
        ),
        sa.CheckConstraint("length(checks_sm3) = 64", name=op.f("ck_packaging_line_checks_checks_sm3")),
        sa.CheckConstraint(
            "verified_by IS NULL OR verified_by <> performed_by",
            name=op.f("ck_packaging_line_checks_four_eyes"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["packaging_records.id"],
            name=op.f("fk_packaging_line_checks_record_id_packaging_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packaging_line_checks")),
        sa.UniqueConstraint("record_id", name=op.f("uq_packaging_line_checks_record_id")),
    )
    op.create_table(
        "packaging_material_checks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("material_name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        sa.Column("artwork_number", sa.String(length=64), nullable=False),
        sa.Column("artwork_version", sa.Integer(), nullable=False),
        sa.Column("per_unit", sa.Numeric(precision=10, scale=3), nullable=False),
        sa.Column("checked_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "kind IN ('label', 'carton', 'leaflet')", name=op.f("ck_packaging_material_checks_kind")
        ),
        sa.CheckConstraint("artwork_version >= 1", name=op.f("ck_packaging_material_checks_artwork_version")),
        sa.CheckConstraint("per_unit > 0", name=op.f("ck_packaging_material_checks_per_unit")),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["packaging_records.id"],
            name=op.f("fk_packaging_material_checks_record_id_packaging_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packaging_material_checks")),
        sa.UniqueConstraint(
            "record_id", "material_code", name=op.f("uq_packaging_material_checks_record_id")
        ),
    )
    op.create_table(
        "packaging_print_checks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("printed_batch_no", sa.String(length=32), nullable=False),
        sa.Column("printed_expiry", sa.Date(), nullable=False),
        sa.Column("expected_batch_no", sa.String(length=32), nullable=False),
        sa.Column("expected_expiry", sa.Date(), nullable=False),
        sa.Column("checked_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "printed_batch_no = expected_batch_no AND printed_expiry = expected_expiry",
            name=op.f("ck_packaging_print_checks_match"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["packaging_records.id"],
            name=op.f("fk_packaging_print_checks_record_id_packaging_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packaging_print_checks")),
    )
    op.create_table(
        "packaging_visual_inspections",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("inspected", sa.Integer(), nullable=False),
        sa.Column("good", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("particles", sa.Integer(), nullable=False),
        sa.Column("glass", sa.Integer(), nullable=False),
        sa.Column("fill_volume", sa.Integer(), nullable=False),
        sa.Column("cracks", sa.Integer(), nullable=False),
        sa.Column("cosmetic", sa.Integer(), nullable=False),
        sa.Column("other", sa.Integer(), nullable=False),
        sa.Column("reject_pct", sa.Numeric(precision=6, scale=2), nullable=False),
        sa.Column("inspected_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("inspected_by", sa.String(length=64), nullable=False),
        sa.Column("inspected_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "good >= 0 AND particles >= 0 AND glass >= 0 AND fill_volume >= 0 AND cracks >= 0 AND cosmetic >= 0 AND other >= 0",
            name=op.f("ck_packaging_visual_inspections_counts"),
        ),
        sa.CheckConstraint("inspected > 0", name=op.f("ck_packaging_visual_inspections_inspected")),
        sa.CheckConstraint(
            "rejected = particles + glass + fill_volume + cracks + cosmetic + other AND inspected = good + rejected",
            name=op.f("ck_packaging_visual_inspections_totals"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["packaging_records.id"],
            name=op.f("fk_packaging_visual_inspections_record_id_packaging_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packaging_visual_inspections")),
    )
    op.create_table(
        "packaging_reconciliations",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("material_check_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("destroyed", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("balance_pct", sa.Numeric(precision=7, scale=2), nullable=False),
        sa.Column("expected_used", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("within_limits", sa.Boolean(), nullable=False),
        sa.Column("checked_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("expected_used >= 0", name=op.f("ck_packaging_reconciliations_expected_used")),
        sa.CheckConstraint(
            "issued > 0 AND used >= 0 AND destroyed >= 0 AND returned >= 0",
            name=op.f("ck_packaging_reconciliations_counts"),
        ),
        sa.ForeignKeyConstraint(
            ["material_check_id"],
            ["packaging_material_checks.id"],
            name=op.f("fk_packaging_reconciliations_material_check_id_packaging_material_checks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packaging_reconciliations")),
        sa.UniqueConstraint("material_check_id", name=op.f("uq_packaging_reconciliations_material_check_id")),
    )
    op.create_table(
        "packaging_specimens",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("material_check_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sm3", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=256), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("length(sm3) = 64", name=op.f("ck_packaging_specimens_sm3")),
        sa.CheckConstraint("size > 0", name=op.f("ck_packaging_specimens_size")),
        sa.ForeignKeyConstraint(
            ["material_check_id"],
            ["packaging_material_checks.id"],
            name=op.f("fk_packaging_specimens_material_check_id_packaging_material_checks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packaging_specimens")),
    )
    # ### end Alembic commands ###

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in (
        "packaging_specimens",
        "packaging_reconciliations",
        "packaging_balances",
        "packaging_print_checks",
        "packaging_visual_inspections",
        "packaging_line_checks",
        "packaging_material_checks",
        "packaging_records",
    ):
        op.drop_table(table)
