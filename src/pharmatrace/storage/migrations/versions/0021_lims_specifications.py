"""LIMS specifications and test items (TJ-7.2)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

# What a specification version says: frozen once it has left draft (TJ-7.2).
CONTENT_COLUMNS = (
    "specification_id",
    "version",
    "title",
    "basis",
    "standard_kind",
    "purpose",
    "document_number",
    "change_summary",
    "content_sm3",
)
PG_FROZEN_FUNCTION = """
CREATE OR REPLACE FUNCTION pharmatrace_lims_spec_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT status FROM lims_spec_versions WHERE id = NEW.version_id) <> 'draft' THEN
    RAISE EXCEPTION 'pharmatrace: % on % is refused (the specification version has left draft)',
      TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF (SELECT status FROM lims_spec_versions WHERE id = OLD.version_id) <> 'draft' THEN
      RAISE EXCEPTION 'pharmatrace: % on % is refused (the specification version has left draft)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
  END IF;
  RETURN NEW;
END $$;
"""


def _frozen() -> None:
    """A version that left draft keeps its content, items and materials, whatever client writes (TJ-7.2)."""
    table = "lims_spec_versions"
    columns = ", ".join(CONTENT_COLUMNS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(guards.PG_REFUSE_FUNCTION)
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in CONTENT_COLUMNS)
        op.execute(
            f"CREATE TRIGGER {table}_frozen BEFORE UPDATE OF {columns} ON {table} FOR EACH ROW "
            f"WHEN (OLD.status <> 'draft' AND ({changed})) "
            "EXECUTE FUNCTION pharmatrace_refuse('content of a submitted specification version')"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_frozen")
        op.execute(PG_FROZEN_FUNCTION)
        for rows in ("lims_spec_items", "lims_spec_materials"):
            op.execute(
                f"CREATE TRIGGER {rows}_frozen BEFORE INSERT OR UPDATE ON {rows} FOR EACH ROW "
                "EXECUTE FUNCTION pharmatrace_lims_spec_frozen()"
            )
            op.execute(f"ALTER TABLE {rows} ENABLE ALWAYS TRIGGER {rows}_frozen")
        return
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in CONTENT_COLUMNS)
    op.execute(
        f"CREATE TRIGGER {table}_frozen BEFORE UPDATE OF {columns} ON {table} "
        f"WHEN OLD.status <> 'draft' AND ({changed}) "
        f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: UPDATE of the content of a submitted specification version "
        "is refused'); END"
    )
    status = "(SELECT status FROM lims_spec_versions WHERE id = {row}.version_id) <> 'draft'"
    for rows in ("lims_spec_items", "lims_spec_materials"):
        op.execute(
            f"CREATE TRIGGER {rows}_frozen_insert BEFORE INSERT ON {rows} WHEN {status.format(row='NEW')} "
            f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: INSERT on {rows} is refused (the specification version "
            "has left draft)'); END"
        )
        op.execute(
            f"CREATE TRIGGER {rows}_frozen_update BEFORE UPDATE ON {rows} "
            f"WHEN {status.format(row='OLD')} OR {status.format(row='NEW')} "
            f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: UPDATE on {rows} is refused (the specification version "
            "has left draft)'); END"
        )


def upgrade() -> None:
    op.create_table(
        "lims_specifications",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_lims_specifications_code_length")),
        sa.CheckConstraint(
            "category IN ('herb', 'decoction_piece', 'excipient', 'primary_packaging', 'secondary_packaging', "
            "'intermediate', 'bulk', 'finished_product')",
            name=op.f("ck_lims_specifications_category"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_specifications")),
        sa.UniqueConstraint("code", name=op.f("uq_lims_specifications_code")),
    )
    op.create_table(
        "lims_spec_versions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("specification_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("basis", sa.String(length=200), nullable=False),
        sa.Column("standard_kind", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("document_number", sa.String(length=32), nullable=True),
        sa.Column("change_summary", sa.String(length=500), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("edited_at", WHEN, nullable=True),
        sa.Column("edited_by", sa.String(length=64), nullable=True),
        sa.Column("submitted_at", WHEN, nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", WHEN, nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("superseded_at", WHEN, nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'in_review', 'approved', 'superseded')",
            name=op.f("ck_lims_spec_versions_status"),
        ),
        sa.CheckConstraint(
            "standard_kind IN ('pharmacopoeia', 'in_house')", name=op.f("ck_lims_spec_versions_standard_kind")
        ),
        sa.CheckConstraint(
            "purpose IN ('release', 'shelf_life', 'both')", name=op.f("ck_lims_spec_versions_purpose")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_lims_spec_versions_version")),
        sa.CheckConstraint("length(title) >= 1", name=op.f("ck_lims_spec_versions_title")),
        sa.CheckConstraint("length(basis) >= 1", name=op.f("ck_lims_spec_versions_basis")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_lims_spec_versions_content_sm3")),
        sa.CheckConstraint(
            "status <> 'draft' OR approved_at IS NULL", name=op.f("ck_lims_spec_versions_draft_unapproved")
        ),
        sa.CheckConstraint(
            "status = 'draft' OR submitted_at IS NOT NULL", name=op.f("ck_lims_spec_versions_submitted")
        ),
        sa.CheckConstraint(
            "status NOT IN ('approved', 'superseded') OR (approved_at IS NOT NULL AND approved_by IS NOT NULL)",
            name=op.f("ck_lims_spec_versions_approved"),
        ),
        sa.CheckConstraint(
            "status <> 'superseded' OR superseded_at IS NOT NULL",
            name=op.f("ck_lims_spec_versions_superseded"),
        ),
        sa.ForeignKeyConstraint(
            ["specification_id"],
            ["lims_specifications.id"],
            name=op.f("fk_lims_spec_versions_specification_id_lims_specifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_spec_versions")),
    )
    op.create_index(
        "uq_lims_spec_versions_number", "lims_spec_versions", ["specification_id", "version"], unique=True
    )
    op.create_index(
        "uq_lims_spec_versions_approved",
        "lims_spec_versions",
        ["specification_id"],
        unique=True,
        sqlite_where=sa.text("status = 'approved'"),
        postgresql_where=sa.text("status = 'approved'"),
    )
    op.create_index(
        "uq_lims_spec_versions_open",
        "lims_spec_versions",
        ["specification_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('draft', 'in_review')"),
        postgresql_where=sa.text("status IN ('draft', 'in_review')"),
    )
    op.create_index("ix_lims_spec_versions_status", "lims_spec_versions", ["status"], unique=False)
    op.create_table(
        "lims_spec_materials",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("material_id", ID, nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_lims_spec_materials_material_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["lims_spec_versions.id"],
            name=op.f("fk_lims_spec_materials_version_id_lims_spec_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_spec_materials")),
    )
    op.create_index(
        "uq_lims_spec_materials_active",
        "lims_spec_materials",
        ["version_id", "material_id"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL"),
        postgresql_where=sa.text("voided_at IS NULL"),
    )
    op.create_index(
        "ix_lims_spec_materials_material_id", "lims_spec_materials", ["material_id"], unique=False
    )
    op.create_table(
        "lims_spec_items",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("method", sa.String(length=500), nullable=False),
        sa.Column("method_sop", sa.String(length=32), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("limit_type", sa.String(length=16), nullable=False),
        sa.Column("lower", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("upper", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("requirement", sa.String(length=500), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("rounding", sa.String(length=8), nullable=False),
        sa.Column("formula", sa.String(length=256), nullable=False),
        sa.Column("raw_inputs", sa.Text(), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.CheckConstraint(
            "limit_type IN ('range', 'le', 'ge', 'lt', 'gt', 'conforms', 'text')",
            name=op.f("ck_lims_spec_items_limit_type"),
        ),
        sa.CheckConstraint("rounding IN ('gbt8170', 'none')", name=op.f("ck_lims_spec_items_rounding")),
        sa.CheckConstraint("position >= 1", name=op.f("ck_lims_spec_items_position")),
        sa.CheckConstraint("length(name) >= 1", name=op.f("ck_lims_spec_items_name")),
        sa.CheckConstraint("decimals >= 0 AND decimals <= 10", name=op.f("ck_lims_spec_items_decimals")),
        sa.CheckConstraint(
            "limit_type <> 'range' OR (lower IS NOT NULL AND upper IS NOT NULL AND lower <= upper)",
            name=op.f("ck_lims_spec_items_range_limits"),
        ),
        sa.CheckConstraint(
            "limit_type NOT IN ('le', 'lt') OR (upper IS NOT NULL AND lower IS NULL)",
            name=op.f("ck_lims_spec_items_upper_limit"),
        ),
        sa.CheckConstraint(
            "limit_type NOT IN ('ge', 'gt') OR (lower IS NOT NULL AND upper IS NULL)",
            name=op.f("ck_lims_spec_items_lower_limit"),
        ),
        sa.CheckConstraint(
            "limit_type NOT IN ('conforms', 'text') OR (lower IS NULL AND upper IS NULL "
            "AND length(requirement) >= 1 AND formula = '')",
            name=op.f("ck_lims_spec_items_word_limits"),
        ),
        sa.CheckConstraint(
            "(formula = '' AND raw_inputs = '[]') OR (formula <> '' AND raw_inputs <> '[]' "
            "AND limit_type IN ('range', 'le', 'ge', 'lt', 'gt'))",
            name=op.f("ck_lims_spec_items_formula"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["lims_spec_versions.id"],
            name=op.f("fk_lims_spec_items_version_id_lims_spec_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_spec_items")),
    )
    op.create_index("ix_lims_spec_items_version_id", "lims_spec_items", ["version_id"], unique=False)
    op.create_index(
        "uq_lims_spec_items_name",
        "lims_spec_items",
        ["version_id", "name"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL"),
        postgresql_where=sa.text("voided_at IS NULL"),
    )
    op.create_table(
        "lims_spec_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.CheckConstraint("kind IN ('approved', 'returned')", name=op.f("ck_lims_spec_decisions_kind")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_lims_spec_decisions_content_sm3")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["lims_spec_versions.id"],
            name=op.f("fk_lims_spec_decisions_version_id_lims_spec_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_spec_decisions")),
    )
    op.create_index("ix_lims_spec_decisions_version_id", "lims_spec_decisions", ["version_id"], unique=False)
    for table in ("lims_specifications", "lims_spec_versions", "lims_spec_materials", "lims_spec_items"):
        guards.no_delete(table)  # GMP rows are voided, never deleted
        guards.uow_only(table)
    _frozen()
    guards.append_only("lims_spec_decisions")  # a decision carries the approval signature: never changed
    guards.uow_only("lims_spec_decisions")
    guards.grant_app_role()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS pharmatrace_lims_spec_frozen() CASCADE")
    op.drop_table("lims_spec_decisions")
    op.drop_table("lims_spec_items")
    op.drop_table("lims_spec_materials")
    op.drop_table("lims_spec_versions")
    op.drop_table("lims_specifications")
