"""document distribution, acknowledgements, printed copies (TJ-9.2)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Never deleted (a copy is returned and destroyed, a task acknowledged or closed with its version);
# written only through the unit of work.
TABLES = ("document_distributions", "document_read_tasks", "document_copies")

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "document_distributions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("targets", sa.Text(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("due_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("distributed_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("distributed_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("recipients >= 1", name=op.f("ck_document_distributions_recipients")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["document_versions.id"],
            name=op.f("fk_document_distributions_version_id_document_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_distributions")),
    )
    op.create_index(
        "ix_document_distributions_version_id", "document_distributions", ["version_id"], unique=False
    )
    op.create_table(
        "document_read_tasks",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("distribution_id", ID, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=128), nullable=False),
        sa.Column("resolved_via", sa.String(length=200), nullable=False),
        sa.Column("due_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["distribution_id"],
            ["document_distributions.id"],
            name=op.f("fk_document_read_tasks_distribution_id_document_distributions"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["document_versions.id"],
            name=op.f("fk_document_read_tasks_version_id_document_versions"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_document_read_tasks_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_read_tasks")),
        sa.UniqueConstraint("version_id", "user_id", name=op.f("uq_document_read_tasks_version_id")),
    )
    op.create_index("ix_document_read_tasks_user_id", "document_read_tasks", ["user_id"], unique=False)
    op.create_index(
        "ix_document_read_tasks_distribution_id", "document_read_tasks", ["distribution_id"], unique=False
    )
    op.create_table(
        "document_copies",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("copy_no", sa.Integer(), nullable=True),
        sa.Column("printer", sa.String(length=128), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("printed_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("printed_by", sa.String(length=64), nullable=False),
        sa.Column("printed_by_name", sa.String(length=128), nullable=False),
        sa.Column("returned_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("returned_by", sa.String(length=64), nullable=True),
        sa.Column("return_note", sa.String(length=500), nullable=False),
        sa.Column("destroyed_at", pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("destroyed_by", sa.String(length=64), nullable=True),
        sa.Column("destruction_witness", sa.String(length=64), nullable=True),
        sa.Column("destruction_method", sa.String(length=16), nullable=True),
        sa.CheckConstraint("kind IN ('controlled', 'uncontrolled')", name=op.f("ck_document_copies_kind")),
        sa.CheckConstraint(
            "(kind = 'controlled' AND copy_no IS NOT NULL AND copy_no >= 1)"
            " OR (kind = 'uncontrolled' AND copy_no IS NULL)",
            name=op.f("ck_document_copies_copy_no"),
        ),
        sa.CheckConstraint(
            "destroyed_at IS NULL OR returned_at IS NOT NULL",
            name=op.f("ck_document_copies_destroyed_after_return"),
        ),
        sa.CheckConstraint(
            "returned_at IS NULL OR kind = 'controlled'",
            name=op.f("ck_document_copies_only_controlled_returned"),
        ),
        sa.CheckConstraint(
            "(destroyed_at IS NULL AND destroyed_by IS NULL AND destruction_witness IS NULL"
            " AND destruction_method IS NULL)"
            " OR (destroyed_at IS NOT NULL AND destroyed_by IS NOT NULL AND destruction_witness IS NOT NULL"
            " AND destruction_method IN ('shredding', 'incineration', 'pulping', 'other'))",
            name=op.f("ck_document_copies_destruction_complete"),
        ),
        sa.CheckConstraint(
            "destruction_witness IS NULL OR destruction_witness <> destroyed_by",
            name=op.f("ck_document_copies_witness"),
        ),
        sa.CheckConstraint(
            "(returned_at IS NULL) = (returned_by IS NULL)", name=op.f("ck_document_copies_return_complete")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["document_versions.id"],
            name=op.f("fk_document_copies_version_id_document_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_copies")),
        sa.UniqueConstraint("version_id", "copy_no", name=op.f("uq_document_copies_version_id")),
    )
    op.create_index("ix_document_copies_version_id", "document_copies", ["version_id"], unique=False)
    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("document_copies", "document_read_tasks", "document_distributions"):
        op.drop_table(table)
