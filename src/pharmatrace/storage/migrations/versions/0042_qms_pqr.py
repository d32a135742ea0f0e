"""QMS product quality review: compiled snapshots, QA's conclusions, the qualified person's signed approval
(TJ-9.4, SH-6.2.4; issue 9 item 9)

Revision ID: 0042
Revises: 0041
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)
LIVE = "status <> 'superseded'"

# As in qms/pqr_models.py on 2026-11-30 (a migration keeps its own copy).
STATUSES = ("compiled", "in_review", "approved", "superseded")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


PQR_CHECKS = (
    (_in("status", STATUSES), "status"),
    ("length(number) >= 6", "number"),
    ("version >= 1", "version"),
    ("period_end >= period_start", "period"),
    ("length(content_sm3) = 64", "content_sm3"),
    ("version = 1 OR (supersedes_id IS NOT NULL AND length(recompile_reason) >= 2)", "recompiled"),
    ("(status = 'superseded') = (superseded_at IS NOT NULL)", "superseded"),
    (
        "status <> 'approved' OR (approved_at IS NOT NULL AND approved_by IS NOT NULL "
        "AND length(overall_conclusion) >= 2)",
        "approved",
    ),
    ("approved_by IS NULL OR approved_by <> compiled_by", "approver"),
)

# A compiled version changes only by QA's review, its approval or its supersession; never deleted.
TABLES = ("qms_pqrs",)
# The qualified person's signed approval: never changed, never deleted.
APPEND_ONLY = ("qms_pqr_decisions",)


def upgrade() -> None:
    op.create_table(
        "qms_pqrs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("product_id", ID, nullable=False),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("product_name", sa.String(length=128), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("compiled_at", WHEN, nullable=False),
        sa.Column("compiled_by", sa.String(length=64), nullable=False),
        sa.Column("compiled_by_name", sa.String(length=128), nullable=False),
        sa.Column("supersedes_id", ID, nullable=True),
        sa.Column("recompile_reason", sa.String(length=500), nullable=False),
        sa.Column("section_comments", sa.Text(), nullable=False),
        sa.Column("process_stable", sa.Boolean(), nullable=True),
        sa.Column("actions", sa.String(length=4000), nullable=False),
        sa.Column("overall_conclusion", sa.String(length=4000), nullable=False),
        sa.Column("reviewed_at", WHEN, nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_by_name", sa.String(length=128), nullable=True),
        sa.Column("approved_at", WHEN, nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("superseded_at", WHEN, nullable=True),
        *(sa.CheckConstraint(sql, name=op.f(f"ck_qms_pqrs_{name}")) for sql, name in PQR_CHECKS),
        sa.ForeignKeyConstraint(
            ["product_id"], ["materials.id"], name=op.f("fk_qms_pqrs_product_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"], ["qms_pqrs.id"], name=op.f("fk_qms_pqrs_supersedes_id_qms_pqrs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_pqrs")),
    )
    op.create_index("uq_qms_pqrs_version", "qms_pqrs", ["number", "version"], unique=True)
    op.create_index(
        "uq_qms_pqrs_live", "qms_pqrs", ["number"], unique=True,
        sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE),
    )  # fmt: skip
    op.create_index(
        "uq_qms_pqrs_product_period", "qms_pqrs", ["product_id", "period_start", "period_end"], unique=True,
        sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE),
    )  # fmt: skip
    op.create_index("ix_qms_pqrs_status", "qms_pqrs", ["status"])

    op.create_table(
        "qms_pqr_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("pqr_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("review_sm3", sa.String(length=64), nullable=False),
        sa.Column("conclusion", sa.String(length=4000), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("kind IN ('approve')", name=op.f("ck_qms_pqr_decisions_kind")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_qms_pqr_decisions_content_sm3")),
        sa.CheckConstraint("length(review_sm3) = 64", name=op.f("ck_qms_pqr_decisions_review_sm3")),
        sa.CheckConstraint("length(conclusion) >= 2", name=op.f("ck_qms_pqr_decisions_conclusion")),
        sa.ForeignKeyConstraint(
            ["pqr_id"], ["qms_pqrs.id"], name=op.f("fk_qms_pqr_decisions_pqr_id_qms_pqrs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_pqr_decisions")),
    )
    op.create_index("uq_qms_pqr_decisions_kind", "qms_pqr_decisions", ["pqr_id", "kind"], unique=True)

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("qms_pqr_decisions", "qms_pqrs"):
        op.drop_table(table)
