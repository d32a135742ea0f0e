"""OOS investigations: phase I and II steps, conclusion and closure by QA signature (TJ-7.7, TJ-B.2.4.3)

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

# Every step and the signed closure: never changed, never deleted.
APPEND_ONLY = ("lims_oos_steps", "lims_oos_closures")


def upgrade() -> None:
    op.create_table(
        "lims_oos_steps",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("kind IN ('phase1', 'phase2', 'conclusion')", name=op.f("ck_lims_oos_steps_kind")),
        sa.CheckConstraint("length(content) >= 2", name=op.f("ck_lims_oos_steps_content")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["lims_oos_cases.id"], name=op.f("fk_lims_oos_steps_case_id_lims_oos_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_oos_steps")),
    )
    op.create_index("uq_lims_oos_steps_case_kind", "lims_oos_steps", ["case_id", "kind"], unique=True)
    op.create_table(
        "lims_oos_closures",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("conclusion", sa.String(length=16), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("closed_at", WHEN, nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.Column("closed_by_name", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.CheckConstraint(
            "conclusion IN ('confirmed', 'invalidated', 'inconclusive')",
            name=op.f("ck_lims_oos_closures_conclusion"),
        ),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_lims_oos_closures_content_sm3")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["lims_oos_cases.id"], name=op.f("fk_lims_oos_closures_case_id_lims_oos_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_oos_closures")),
    )
    op.create_index("uq_lims_oos_closures_case_id", "lims_oos_closures", ["case_id"], unique=True)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("lims_oos_closures", "lims_oos_steps"):
        op.drop_table(table)
