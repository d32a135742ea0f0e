"""Due-date extensions of deviations, CAPA and change requests, approved by QA's signature (TJ-6.4.4, SH-6.2.4)

Revision ID: 0048
Revises: 0047
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0048"
down_revision = "0047"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


# As in qms/extension_models.py on 2026-11-30 (a migration keeps its own copy).
KINDS = ("deviation", "capa", "change")
STATUSES = ("requested", "approved", "rejected", "withdrawn")

EXTENSION_CHECKS = (
    (_in("record_kind", KINDS), "record_kind"),
    (_in("status", STATUSES), "status"),
    ("length(record_number) >= 4", "record_number"),
    ("new_due > due_before", "new_due"),
    ("length(justification) >= 2", "justification"),
    (
        "(status = 'requested') = (decided_at IS NULL) AND (decided_at IS NULL) = (decided_by IS NULL)",
        "decided",
    ),
    ("decided_by IS NULL OR (status = 'withdrawn') = (decided_by = requested_by)", "decider"),
    ("status IN ('requested', 'approved') OR length(decision_comment) >= 2", "comment"),
)

# A request changes once, when decided or withdrawn; then it is frozen. Never deleted.
TABLES = ("qms_due_date_extensions",)
# QA's signed approval: never changed, never deleted.
APPEND_ONLY = ("qms_extension_decisions",)


def upgrade() -> None:
    op.create_table(
        "qms_due_date_extensions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("record_kind", sa.String(length=16), nullable=False),
        sa.Column("record_number", sa.String(length=32), nullable=False),
        sa.Column("due_before", sa.Date(), nullable=False),
        sa.Column("new_due", sa.Date(), nullable=False),
        sa.Column("justification", sa.String(length=2000), nullable=False),
        sa.Column("interim_measures", sa.String(length=2000), nullable=False),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_by_name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_by_name", sa.String(length=128), nullable=True),
        sa.Column("decision_comment", sa.String(length=2000), nullable=False),
        *(
            sa.CheckConstraint(sql, name=op.f(f"ck_qms_due_date_extensions_{name}"))
            for sql, name in EXTENSION_CHECKS
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_due_date_extensions")),
    )
    op.create_index(
        "ix_qms_due_date_extensions_record", "qms_due_date_extensions", ["record_kind", "record_number"]
    )
    op.create_index(
        "uq_qms_due_date_extensions_open", "qms_due_date_extensions", ["record_kind", "record_number"], unique=True,
        sqlite_where=sa.text("status = 'requested'"), postgresql_where=sa.text("status = 'requested'"),
    )  # fmt: skip

    op.create_table(
        "qms_extension_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("extension_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("kind IN ('approve')", name=op.f("ck_qms_extension_decisions_kind")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_qms_extension_decisions_content_sm3")),
        sa.ForeignKeyConstraint(
            ["extension_id"],
            ["qms_due_date_extensions.id"],
            name=op.f("fk_qms_extension_decisions_extension_id_qms_due_date_extensions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_extension_decisions")),
    )
    op.create_index(
        "uq_qms_extension_decisions_extension",
        "qms_extension_decisions",
        ["extension_id", "kind"],
        unique=True,
    )

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    # TJ-6.4.4: a decided (or withdrawn) request stays as it was decided, whatever path tries to change it
    guards.frozen_when(
        "qms_due_date_extensions", "OLD.status <> 'requested'", "decided extensions are frozen"
    )
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("qms_extension_decisions", "qms_due_date_extensions"):
        op.drop_table(table)
