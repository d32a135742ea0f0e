"""LIMS reagents, reference standards and solutions (TJ-7.6, TJ-B.2.4.2)

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

# The usage log, the preparation records and the signed standardizations are never changed (TJ-7.6, TJ-10.2).
APPEND_ONLY = ("lims_reagent_log", "lims_solution_components", "lims_standardizations")


def upgrade() -> None:
    op.create_table(
        "lims_reagents",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("grade", sa.String(length=64), nullable=False),
        sa.Column("cas_no", sa.String(length=16), nullable=False),
        sa.Column("manufacturer", sa.String(length=128), nullable=False),
        sa.Column("lot_no", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("remaining", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("retest_date", sa.Date(), nullable=True),
        sa.Column("storage_condition", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("content_pct", sa.Numeric(precision=7, scale=3), nullable=True),
        sa.Column("content_basis", sa.String(length=64), nullable=False),
        sa.Column("use_conditions", sa.String(length=500), nullable=False),
        sa.Column("open_use_days", sa.Integer(), nullable=True),
        sa.Column("opened_at", WHEN, nullable=True),
        sa.Column("concentration", sa.Numeric(precision=18, scale=8), nullable=True),
        sa.Column("concentration_unit", sa.String(length=16), nullable=True),
        sa.Column("validity_days", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=500), nullable=False),
        sa.Column("invalidated_at", WHEN, nullable=True),
        sa.Column("destroyed_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "(kind IN ('reagent', 'reference_standard') AND concentration IS NULL AND concentration_unit IS NULL AND validity_days IS NULL) OR (kind IN ('solution', 'volumetric_solution') AND concentration > 0 AND concentration_unit IS NOT NULL AND validity_days > 0 AND open_use_days IS NULL AND retest_date IS NULL)",
            name=op.f("ck_lims_reagents_received_or_prepared"),
        ),
        sa.CheckConstraint(
            "kind <> 'reference_standard' OR length(source) >= 2",
            name=op.f("ck_lims_reagents_standard_source"),
        ),
        sa.CheckConstraint(
            "kind IN ('reagent', 'reference_standard', 'solution', 'volumetric_solution')",
            name=op.f("ck_lims_reagents_kind"),
        ),
        sa.CheckConstraint(
            "content_pct IS NULL OR (content_pct > 0 AND content_pct <= 100)",
            name=op.f("ck_lims_reagents_content"),
        ),
        sa.CheckConstraint(
            "destroyed_at IS NULL OR remaining = 0", name=op.f("ck_lims_reagents_destroyed_empty")
        ),
        sa.CheckConstraint("length(code) >= 4", name=op.f("ck_lims_reagents_code_length")),
        sa.CheckConstraint(
            "length(name) >= 1 AND length(lot_no) >= 1", name=op.f("ck_lims_reagents_identity")
        ),
        sa.CheckConstraint("length(unit) >= 1", name=op.f("ck_lims_reagents_unit")),
        sa.CheckConstraint(
            "open_use_days IS NULL OR open_use_days > 0", name=op.f("ck_lims_reagents_open_use_days")
        ),
        sa.CheckConstraint(
            "opened_at IS NULL OR opened_at >= created_at", name=op.f("ck_lims_reagents_opened_after_receipt")
        ),
        sa.CheckConstraint(
            "quantity > 0 AND remaining >= 0 AND remaining <= quantity",
            name=op.f("ck_lims_reagents_quantity"),
        ),
        sa.CheckConstraint(
            "retest_date IS NULL OR retest_date <= expiry_date",
            name=op.f("ck_lims_reagents_retest_before_expiry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_reagents")),
        sa.UniqueConstraint("code", name=op.f("uq_lims_reagents_code")),
    )
    op.create_index("ix_lims_reagents_expiry_date", "lims_reagents", ["expiry_date"], unique=False)
    op.create_index("ix_lims_reagents_kind", "lims_reagents", ["kind"], unique=False)
    op.create_table(
        "lims_reagent_log",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("reagent_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("remaining_after", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("issue_id", ID, nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("retest_date", sa.Date(), nullable=True),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("witness", sa.String(length=64), nullable=True),
        sa.Column("witness_name", sa.String(length=128), nullable=True),
        sa.Column("performed_at", WHEN, nullable=False),
        sa.Column("performed_by", sa.String(length=64), nullable=False),
        sa.Column("performed_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "(kind = 'destruction' AND witness IS NOT NULL AND witness <> performed_by) OR (kind <> 'destruction' AND witness IS NULL)",
            name=op.f("ck_lims_reagent_log_witness"),
        ),
        sa.CheckConstraint(
            "(kind = 'retest' AND retest_date IS NOT NULL) OR kind = 'receipt' OR (kind NOT IN ('retest', 'receipt') AND retest_date IS NULL)",
            name=op.f("ck_lims_reagent_log_retest_date"),
        ),
        sa.CheckConstraint(
            "(kind = 'return') = (issue_id IS NOT NULL)", name=op.f("ck_lims_reagent_log_return_of_issue")
        ),
        sa.CheckConstraint(
            "(kind IN ('issue', 'consumption', 'destruction') AND quantity > 0) OR (kind = 'return' AND quantity >= 0) OR (kind IN ('receipt', 'preparation') AND quantity > 0) OR (kind IN ('opening', 'retest', 'invalidation') AND quantity IS NULL)",
            name=op.f("ck_lims_reagent_log_quantity"),
        ),
        sa.CheckConstraint(
            "NOT kind IN ('invalidation', 'destruction') OR length(reason) >= 2",
            name=op.f("ck_lims_reagent_log_reason"),
        ),
        sa.CheckConstraint(
            "kind IN ('receipt', 'preparation', 'opening', 'issue', 'consumption', 'return', 'retest', 'invalidation', 'destruction')",
            name=op.f("ck_lims_reagent_log_kind"),
        ),
        sa.CheckConstraint("remaining_after >= 0", name=op.f("ck_lims_reagent_log_remaining_after")),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["lims_reagent_log.id"], name=op.f("fk_lims_reagent_log_issue_id_lims_reagent_log")
        ),
        sa.ForeignKeyConstraint(
            ["reagent_id"], ["lims_reagents.id"], name=op.f("fk_lims_reagent_log_reagent_id_lims_reagents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_reagent_log")),
    )
    op.create_index("ix_lims_reagent_log_issue_id", "lims_reagent_log", ["issue_id"], unique=False)
    op.create_index(
        "ix_lims_reagent_log_reagent", "lims_reagent_log", ["reagent_id", "performed_at"], unique=False
    )
    op.create_table(
        "lims_solution_components",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("solution_id", ID, nullable=False),
        sa.Column("source_id", ID, nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_lims_solution_components_quantity")),
        sa.CheckConstraint("solution_id <> source_id", name=op.f("ck_lims_solution_components_not_itself")),
        sa.ForeignKeyConstraint(
            ["solution_id"],
            ["lims_reagents.id"],
            name=op.f("fk_lims_solution_components_solution_id_lims_reagents"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["lims_reagents.id"],
            name=op.f("fk_lims_solution_components_source_id_lims_reagents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_solution_components")),
    )
    op.create_index(
        "ix_lims_solution_components_solution_id", "lims_solution_components", ["solution_id"], unique=False
    )
    op.create_index(
        "ix_lims_solution_components_source_id", "lims_solution_components", ["source_id"], unique=False
    )
    op.create_table(
        "lims_standardizations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("solution_id", ID, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("primary_id", ID, nullable=True),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("mean", sa.Numeric(precision=18, scale=8), nullable=False),
        sa.Column("relative_deviation_pct", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("between_deviation_pct", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("concentration", sa.Numeric(precision=18, scale=8), nullable=True),
        sa.Column("f_factor", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("standard_id", ID, nullable=True),
        sa.Column("method", sa.String(length=500), nullable=False),
        sa.Column("performed_at", WHEN, nullable=False),
        sa.Column("performed_by", sa.String(length=64), nullable=False),
        sa.Column("performed_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "(role = 'verification' AND accepted AND concentration > 0 AND f_factor > 0) OR (NOT (role = 'verification' AND accepted) AND concentration IS NULL AND f_factor IS NULL)",
            name=op.f("ck_lims_standardizations_result"),
        ),
        sa.CheckConstraint(
            "(role = 'verification' AND between_deviation_pct IS NOT NULL) OR (role = 'primary' AND between_deviation_pct IS NULL)",
            name=op.f("ck_lims_standardizations_between_deviation"),
        ),
        sa.CheckConstraint(
            "(role = 'verification') = (primary_id IS NOT NULL)",
            name=op.f("ck_lims_standardizations_verifies_primary"),
        ),
        sa.CheckConstraint("role IN ('primary', 'verification')", name=op.f("ck_lims_standardizations_role")),
        sa.CheckConstraint(
            "mean > 0 AND relative_deviation_pct >= 0", name=op.f("ck_lims_standardizations_mean")
        ),
        sa.ForeignKeyConstraint(
            ["primary_id"],
            ["lims_standardizations.id"],
            name=op.f("fk_lims_standardizations_primary_id_lims_standardizations"),
        ),
        sa.ForeignKeyConstraint(
            ["solution_id"],
            ["lims_reagents.id"],
            name=op.f("fk_lims_standardizations_solution_id_lims_reagents"),
        ),
        sa.ForeignKeyConstraint(
            ["standard_id"],
            ["lims_reagents.id"],
            name=op.f("fk_lims_standardizations_standard_id_lims_reagents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_standardizations")),
    )
    op.create_index(
        "ix_lims_standardizations_solution_id", "lims_standardizations", ["solution_id"], unique=False
    )

    # Containers are destroyed or invalidated with a reason, never deleted; every table only through the UoW.
    guards.no_delete("lims_reagents")
    guards.uow_only("lims_reagents")
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("lims_standardizations", "lims_solution_components", "lims_reagent_log", "lims_reagents"):
        op.drop_table(table)
