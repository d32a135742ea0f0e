"""QA's approval of a historian destruction signed on a decision row (TJ-10.1.6.3.a, ADR 0023's shape)

``monitoring_destruction_decisions``: QA's approval of a destruction, naming the SM3 of the application approved
(number, month, class, reason, who asked and when), with the comment, who and when. The approval signature binds
this append-only row, no longer the destruction row, which its execution changes afterwards: signed on the record,
the approval showed as "record changed after signing" on every executed destruction. Approvals signed before this
migration stay on their destruction rows and are still accepted for its execution while they verify.

Revision ID: 0058
Revises: 0057
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0058"
down_revision = "0057"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)
TABLE = "monitoring_destruction_decisions"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("destruction_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("kind = 'approve'", name=op.f(f"ck_{TABLE}_kind")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f(f"ck_{TABLE}_content_sm3")),
        sa.ForeignKeyConstraint(
            ["destruction_id"],
            ["monitoring_destructions.id"],
            name=op.f(f"fk_{TABLE}_destruction_id_monitoring_destructions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
    )
    op.create_index(
        "uq_monitoring_destruction_decisions_kind", TABLE, ["destruction_id", "kind"], unique=True
    )
    guards.append_only(TABLE)
    guards.uow_only(TABLE)
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table(TABLE)
