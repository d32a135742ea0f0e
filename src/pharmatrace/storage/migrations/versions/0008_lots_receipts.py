"""lots, containers, goods receipts and the code counters (TJ-6.3.1, TJ-B.2.2.1, TJ-5.2.1.1)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The values as of this revision (the models may grow later; a migration never changes).
LOT_STATUSES = ("quarantine", "under_test", "released", "rejected", "expired", "on_hold")
RECEIPT_STATUSES = ("open", "completed")


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


def upgrade() -> None:
    op.create_table(
        "lots",
        _id(),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        _key("material_id"),
        _key("supplier_id"),
        sa.Column("supplier_lot", sa.String(length=64), nullable=False),
        sa.Column("manufacture_date", sa.Date(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("retest_date", sa.Date(), nullable=True),
        sa.Column("quantity", sa.Numeric(14, 3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("held_from", sa.String(length=16), nullable=True),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _time("voided_at", nullable=True),
        sa.CheckConstraint(_in("status", LOT_STATUSES), name=op.f("ck_lots_status")),
        sa.CheckConstraint(
            "held_from IS NULL OR held_from IN ('quarantine', 'under_test', 'released')",
            name=op.f("ck_lots_held_from"),
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_lots_quantity")),
        sa.CheckConstraint(
            "expiry_date IS NULL OR expiry_date > manufacture_date", name=op.f("ck_lots_expiry")
        ),
        sa.CheckConstraint(
            "retest_date IS NULL OR retest_date > manufacture_date", name=op.f("ck_lots_retest")
        ),
        sa.CheckConstraint("length(lot_number) >= 4", name=op.f("ck_lots_lot_number_length")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_lots_material_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_lots_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lots")),
        sa.UniqueConstraint("lot_number", name=op.f("uq_lots_lot_number")),
    )
    op.create_index("ix_lots_material_status", "lots", ["material_id", "status"])
    op.create_table(
        "containers",
        _id(),
        sa.Column("code", sa.String(length=40), nullable=False),
        _key("lot_id"),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Numeric(14, 3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("supplier_scan", sa.String(length=256), nullable=True),
        sa.Column("supplier_serial", sa.String(length=64), nullable=True),
        sa.Column("damaged", sa.Boolean(), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _time("voided_at", nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_containers_quantity")),
        sa.CheckConstraint("number >= 1 AND number <= 999", name=op.f("ck_containers_number")),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_containers_lot_id_lots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_containers")),
        sa.UniqueConstraint("code", name=op.f("uq_containers_code")),
    )
    op.create_index("uq_containers_lot_number", "containers", ["lot_id", "number"], unique=True)
    op.create_index("uq_containers_lot_scan", "containers", ["lot_id", "supplier_scan"], unique=True)
    op.create_index("ix_containers_supplier_serial", "containers", ["supplier_serial"])
    op.create_table(
        "receipts",
        _id(),
        sa.Column("number", sa.String(length=32), nullable=False),
        _key("supplier_id"),
        _key("material_id"),
        _key("lot_id"),
        sa.Column("delivery_note", sa.String(length=64), nullable=False),
        sa.Column("supplier_lot", sa.String(length=64), nullable=False),
        sa.Column("expected_containers", sa.Integer(), nullable=False),
        sa.Column("quantity_per_container", sa.Numeric(14, 3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("packaging_intact", sa.Boolean(), nullable=True),
        sa.Column("seals_intact", sa.Boolean(), nullable=True),
        sa.Column("labels_legible", sa.Boolean(), nullable=True),
        sa.Column("remarks", sa.String(length=500), nullable=False),
        sa.Column("short_delivery_reason", sa.String(length=500), nullable=True),
        _time("received_at"),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        _time("completed_at", nullable=True),
        sa.Column("completed_by", sa.String(length=64), nullable=True),
        _time("voided_at", nullable=True),
        sa.CheckConstraint(_in("status", RECEIPT_STATUSES), name=op.f("ck_receipts_status")),
        sa.CheckConstraint(
            "expected_containers >= 1 AND expected_containers <= 999", name=op.f("ck_receipts_expected")
        ),
        sa.CheckConstraint("quantity_per_container > 0", name=op.f("ck_receipts_quantity_per_container")),
        sa.CheckConstraint(
            "status = 'open' OR (completed_at IS NOT NULL AND packaging_intact IS NOT NULL "
            "AND seals_intact IS NOT NULL AND labels_legible IS NOT NULL)",
            name=op.f("ck_receipts_completed_checks"),
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_receipts_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_receipts_material_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_receipts_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("number", name=op.f("uq_receipts_number")),
        sa.UniqueConstraint("lot_id", name=op.f("uq_receipts_lot_id")),
    )
    op.create_table(
        "code_counters",
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("last_serial", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_code_counters")),
    )
    for table in ("lots", "containers", "receipts", "code_counters"):
        guards.no_delete(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table("code_counters")
    op.drop_table("receipts")
    op.drop_index("ix_containers_supplier_serial", table_name="containers")
    op.drop_index("uq_containers_lot_scan", table_name="containers")
    op.drop_index("uq_containers_lot_number", table_name="containers")
    op.drop_table("containers")
    op.drop_index("ix_lots_material_status", table_name="lots")
    op.drop_table("lots")
