"""suppliers, the approved-supplier list, and the material master's storage specification (TJ-5.2.1, TJ-6.3.1)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("materials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("temp_min_c", sa.Numeric(5, 1), nullable=True))
        batch_op.add_column(sa.Column("temp_max_c", sa.Numeric(5, 1), nullable=True))
        batch_op.add_column(sa.Column("humidity_max_pct", sa.Numeric(4, 1), nullable=True))
        batch_op.add_column(sa.Column("shelf_life_months", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("retest_months", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_materials_temp_range"),
            "temp_min_c IS NULL OR temp_max_c IS NULL OR temp_min_c <= temp_max_c",
        )
        batch_op.create_check_constraint(
            op.f("ck_materials_humidity"),
            "humidity_max_pct IS NULL OR (humidity_max_pct > 0 AND humidity_max_pct <= 100)",
        )
        batch_op.create_check_constraint(
            op.f("ck_materials_shelf_life"), "shelf_life_months IS NULL OR shelf_life_months > 0"
        )
        batch_op.create_check_constraint(
            op.f("ck_materials_retest"),
            "retest_months IS NULL OR (retest_months > 0 AND (shelf_life_months IS NULL OR retest_months <= shelf_life_months))",
        )
    if sqlite:  # batch mode rebuilt the table: its guards go with it
        guards.no_delete("materials")
        guards.uow_only("materials")

    op.create_table(
        "suppliers",
        _id(),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=256), nullable=False),
        sa.Column("contact", sa.String(length=128), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _time("voided_at", nullable=True),
        sa.CheckConstraint(
            "kind IN ('manufacturer', 'distributor', 'planting_base')", name=op.f("ck_suppliers_kind")
        ),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_suppliers_code_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppliers")),
        sa.UniqueConstraint("code", name=op.f("uq_suppliers_code")),
    )
    op.create_table(
        "supplier_approvals",
        _id(),
        sa.Column("supplier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("material_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _time("valid_until", nullable=True),
        _time("decided_at"),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "status IN ('approved', 'conditional', 'suspended', 'disqualified')",
            name=op.f("ck_supplier_approvals_status"),
        ),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_supplier_approvals_material_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_supplier_approvals_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_approvals")),
    )
    op.create_index(
        "uq_supplier_approvals_pair", "supplier_approvals", ["supplier_id", "material_id"], unique=True
    )
    for table in ("suppliers", "supplier_approvals"):
        guards.no_delete(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_index("uq_supplier_approvals_pair", table_name="supplier_approvals")
    op.drop_table("supplier_approvals")
    op.drop_table("suppliers")
    with op.batch_alter_table("materials", schema=None) as batch_op:
        for name in ("retest", "shelf_life", "humidity", "temp_range"):
            batch_op.drop_constraint(op.f(f"ck_materials_{name}"), type_="check")
        for column in ("retest_months", "shelf_life_months", "humidity_max_pct", "temp_max_c", "temp_min_c"):
            batch_op.drop_column(column)
