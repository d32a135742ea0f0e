"""master recipes, ISA-88 shaped (TJ-6.4.3.1)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def _frozen_body() -> None:
    """TJ-6.4.3.1: the body of a version that left draft never changes, whatever client writes."""
    table = "master_recipe_versions"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(guards.PG_REFUSE_FUNCTION)
        op.execute(
            f"CREATE TRIGGER {table}_frozen_body BEFORE UPDATE OF body, body_sm3 ON {table} FOR EACH ROW "
            "WHEN (OLD.status <> 'draft' AND (OLD.body IS DISTINCT FROM NEW.body "
            "OR OLD.body_sm3 IS DISTINCT FROM NEW.body_sm3)) "
            "EXECUTE FUNCTION pharmatrace_refuse('body of a submitted master recipe version')"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_frozen_body")
        return
    op.execute(
        f"CREATE TRIGGER {table}_frozen_body BEFORE UPDATE OF body, body_sm3 ON {table} "
        "WHEN OLD.status <> 'draft' AND (OLD.body IS NOT NEW.body OR OLD.body_sm3 IS NOT NEW.body_sm3) "
        f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: UPDATE of the body of a submitted master recipe version "
        "is refused'); END"
    )


def upgrade() -> None:
    op.create_table(
        "master_recipes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("product_name", sa.String(length=128), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_master_recipes_code_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_master_recipes")),
        sa.UniqueConstraint("code", name=op.f("uq_master_recipes_code")),
    )
    op.create_table(
        "master_recipe_versions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("recipe_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("batch_size", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("batch_unit", sa.String(length=16), nullable=False),
        sa.Column("mpr_number", sa.String(length=32), nullable=False),
        sa.Column("change_summary", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_sm3", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("edited_at", WHEN, nullable=True),
        sa.Column("edited_by", sa.String(length=64), nullable=True),
        sa.Column("submitted_at", WHEN, nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", WHEN, nullable=True),
        sa.Column("superseded_at", WHEN, nullable=True),
        sa.Column("withdrawn_at", WHEN, nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'in_review', 'approved', 'superseded', 'withdrawn')",
            name=op.f("ck_master_recipe_versions_status"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_master_recipe_versions_version")),
        sa.CheckConstraint("batch_size > 0", name=op.f("ck_master_recipe_versions_batch_size")),
        sa.CheckConstraint("length(body_sm3) = 64", name=op.f("ck_master_recipe_versions_body_sm3")),
        sa.CheckConstraint(
            "status NOT IN ('approved', 'superseded') OR approved_at IS NOT NULL",
            name=op.f("ck_master_recipe_versions_approved"),
        ),
        sa.CheckConstraint(
            "status <> 'superseded' OR superseded_at IS NOT NULL",
            name=op.f("ck_master_recipe_versions_superseded"),
        ),
        sa.CheckConstraint(
            "status <> 'withdrawn' OR withdrawn_at IS NOT NULL",
            name=op.f("ck_master_recipe_versions_withdrawn"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'withdrawn') OR submitted_at IS NOT NULL",
            name=op.f("ck_master_recipe_versions_submitted"),
        ),
        sa.ForeignKeyConstraint(
            ["recipe_id"],
            ["master_recipes.id"],
            name=op.f("fk_master_recipe_versions_recipe_id_master_recipes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_master_recipe_versions")),
    )
    op.create_index(
        "uq_master_recipe_versions_number", "master_recipe_versions", ["recipe_id", "version"], unique=True
    )
    op.create_index(
        "uq_master_recipe_versions_approved",
        "master_recipe_versions",
        ["recipe_id"],
        unique=True,
        sqlite_where=sa.text("status = 'approved'"),
        postgresql_where=sa.text("status = 'approved'"),
    )
    op.create_index(
        "uq_master_recipe_versions_open",
        "master_recipe_versions",
        ["recipe_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('draft', 'in_review')"),
        postgresql_where=sa.text("status IN ('draft', 'in_review')"),
    )
    op.create_index("ix_master_recipe_versions_status", "master_recipe_versions", ["status"], unique=False)
    op.create_table(
        "master_recipe_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body_sm3", sa.String(length=64), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.CheckConstraint(
            "kind IN ('reviewed', 'approved', 'returned')", name=op.f("ck_master_recipe_decisions_kind")
        ),
        sa.CheckConstraint("length(body_sm3) = 64", name=op.f("ck_master_recipe_decisions_body_sm3")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["master_recipe_versions.id"],
            name=op.f("fk_master_recipe_decisions_version_id_master_recipe_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_master_recipe_decisions")),
    )
    op.create_index(
        "ix_master_recipe_decisions_version_id", "master_recipe_decisions", ["version_id"], unique=False
    )
    for table in ("master_recipes", "master_recipe_versions"):
        guards.no_delete(table)
        guards.uow_only(table)
    _frozen_body()
    guards.append_only("master_recipe_decisions")  # a decision carries signatures: never changed or removed
    guards.uow_only("master_recipe_decisions")
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table("master_recipe_decisions")
    op.drop_table("master_recipe_versions")
    op.drop_table("master_recipes")
