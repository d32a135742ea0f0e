"""controlled documents and versions (SH-6.3.3, TJ-9.2)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Never deleted (decisions never changed either); written only through the unit of work.
TABLES = ("document_number_rules", "documents", "document_versions")
APPEND_ONLY = ("document_decisions",)

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_DOC_TYPES = (
    "doc_type IN ('sop', 'specification', 'master_production_record', 'policy', 'form', "
    "'validation_protocol', 'validation_report', 'drawing')"
)
_MEDIA_TYPES = (
    "media_type IN ('application/pdf', "
    "'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'image/png', 'image/jpeg')"
)


def _id() -> sa.Column[int]:
    return sa.Column("id", _ID, autoincrement=True, nullable=False)


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, pharmatrace.storage.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "document_number_rules",
        _id(),
        sa.Column("doc_type", sa.String(length=32), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("digits", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(_DOC_TYPES, name=op.f("ck_document_number_rules_doc_type")),
        sa.CheckConstraint("digits BETWEEN 3 AND 4", name=op.f("ck_document_number_rules_digits")),
        sa.CheckConstraint("length(prefix) BETWEEN 2 AND 5", name=op.f("ck_document_number_rules_prefix")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_number_rules")),
        sa.UniqueConstraint("doc_type", name=op.f("uq_document_number_rules_doc_type")),
    )
    op.create_table(
        "documents",
        _id(),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("doc_type", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=8), nullable=False),
        sa.Column("gmp", sa.Boolean(), nullable=False),
        sa.Column("keywords", sa.String(length=512), nullable=False),
        sa.Column("review_interval_months", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _time("withdrawn_at", nullable=True),
        sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
        sa.Column("withdrawal_reason", sa.String(length=500), nullable=False),
        sa.CheckConstraint(_DOC_TYPES, name=op.f("ck_documents_doc_type")),
        sa.CheckConstraint("length(number) >= 6", name=op.f("ck_documents_number_length")),
        sa.CheckConstraint("length(title) >= 1", name=op.f("ck_documents_title")),
        sa.CheckConstraint(
            "review_interval_months BETWEEN 1 AND 120", name=op.f("ck_documents_review_interval")
        ),
        sa.CheckConstraint(
            "(withdrawn_at IS NULL AND withdrawn_by IS NULL) OR "
            "(withdrawn_at IS NOT NULL AND withdrawn_by IS NOT NULL AND length(withdrawal_reason) >= 2)",
            name=op.f("ck_documents_withdrawal"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("number", name=op.f("uq_documents_number")),
    )
    op.create_index("ix_documents_type_department", "documents", ["doc_type", "department"], unique=False)
    op.create_table(
        "document_versions",
        _id(),
        sa.Column("document_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change_summary", sa.String(length=1000), nullable=False),
        sa.Column("change_control_ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _time("effective_from", nullable=True),
        sa.Column("training_grace_days", sa.Integer(), nullable=False),
        sa.Column("training_required", sa.Boolean(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("media_type", sa.String(length=128), nullable=True),
        sa.Column("sm3", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("author_id", _ID, nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_document_versions_version")),
        sa.CheckConstraint(
            "status IN ('draft', 'in_review', 'approved', 'withdrawn')",
            name=op.f("ck_document_versions_status"),
        ),
        sa.CheckConstraint("training_grace_days >= 0", name=op.f("ck_document_versions_grace_days")),
        sa.CheckConstraint(
            "status <> 'approved' OR effective_from IS NOT NULL",
            name=op.f("ck_document_versions_approved_effective"),
        ),
        sa.CheckConstraint(
            "(markdown IS NOT NULL AND sm3 IS NULL AND file_name IS NULL AND media_type IS NULL "
            "AND size IS NULL) OR "
            "(markdown IS NULL AND length(sm3) = 64 AND file_name IS NOT NULL AND media_type IS NOT NULL "
            "AND size > 0)",
            name=op.f("ck_document_versions_content"),
        ),
        sa.CheckConstraint(
            "media_type IS NULL OR " + _MEDIA_TYPES, name=op.f("ck_document_versions_media_type")
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_document_versions_document_id_documents")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_document_versions_author_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_versions")),
        sa.UniqueConstraint("document_id", "version", name=op.f("uq_document_versions_document_id")),
    )
    # One open revision (draft or in review) per document at a time.
    op.create_index(
        "uq_document_versions_open",
        "document_versions",
        ["document_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('draft', 'in_review')"),
        postgresql_where=sa.text("status IN ('draft', 'in_review')"),
    )
    op.create_table(
        "document_decisions",
        _id(),
        sa.Column("document_id", _ID, nullable=False),
        sa.Column("version_id", _ID, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=True),
        _time("effective_from", nullable=True),
        sa.Column("decided_by_id", _ID, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        _time("decided_at"),
        sa.CheckConstraint(
            "kind IN ('submit', 'review', 'reject', 'approve', 'periodic_review', 'withdraw')",
            name=op.f("ck_document_decisions_kind"),
        ),
        sa.CheckConstraint(
            "(kind = 'periodic_review' AND outcome IN ('still_valid', 'revise')) OR "
            "(kind <> 'periodic_review' AND outcome IS NULL)",
            name=op.f("ck_document_decisions_outcome"),
        ),
        sa.CheckConstraint(
            "kind NOT IN ('reject', 'withdraw') OR length(reason) >= 2",
            name=op.f("ck_document_decisions_reason"),
        ),
        sa.CheckConstraint(
            "kind <> 'approve' OR effective_from IS NOT NULL",
            name=op.f("ck_document_decisions_approve_effective"),
        ),
        sa.CheckConstraint(
            "kind = 'withdraw' OR version_id IS NOT NULL", name=op.f("ck_document_decisions_version")
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_document_decisions_document_id_documents")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["document_versions.id"],
            name=op.f("fk_document_decisions_version_id_document_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_document_decisions_decided_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_decisions")),
    )
    op.create_index(
        "ix_document_decisions_document", "document_decisions", ["document_id", "id"], unique=False
    )
    op.create_index("ix_document_decisions_version", "document_decisions", ["version_id"], unique=False)
    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in (*reversed(APPEND_ONLY), *reversed(TABLES)):
        op.drop_table(table)
