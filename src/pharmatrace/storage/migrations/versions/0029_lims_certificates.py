"""LIMS certificates of analysis and incoming-material release decisions (TJ-5.2.1.4, TJ-7.4)

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

# The certificate is voided with a reason, never deleted; its content never changes (FROZEN_COLUMNS).
TABLES = ("lims_certificates",)
# The signature and QA's decision: never changed, never deleted.
APPEND_ONLY = ("lims_certificate_signoffs", "lims_lot_decisions")
# As pharmatrace.lims.certificate_models.FROZEN_COLUMNS, written out: a migration does not change with the code.
FROZEN_COLUMNS = (
    "code", "lot_id", "spec_version_id", "conclusion", "content", "content_sm3", "issued_at", "issued_by",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "lims_certificates",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("lot_id", ID, nullable=False),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("material_name", sa.String(length=128), nullable=False),
        sa.Column("spec_version_id", ID, nullable=False),
        sa.Column("spec_code", sa.String(length=32), nullable=False),
        sa.Column("spec_version", sa.Integer(), nullable=False),
        sa.Column("spec_sm3", sa.String(length=64), nullable=False),
        sa.Column("conclusion", sa.String(length=24), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("issued_at", WHEN, nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("issued_by_name", sa.String(length=128), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "conclusion IN ('conforms', 'does_not_conform')", name=op.f("ck_lims_certificates_conclusion")
        ),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_lims_certificates_content_sm3")),
        sa.CheckConstraint("length(spec_sm3) = 64", name=op.f("ck_lims_certificates_spec_sm3")),
        sa.CheckConstraint("spec_version >= 1", name=op.f("ck_lims_certificates_spec_version")),
        sa.CheckConstraint(
            "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)",
            name=op.f("ck_lims_certificates_void_reason"),
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_lims_certificates_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["spec_version_id"],
            ["lims_spec_versions.id"],
            name=op.f("fk_lims_certificates_spec_version_id_lims_spec_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_certificates")),
        sa.UniqueConstraint("code", name=op.f("uq_lims_certificates_code")),
    )
    op.create_index(
        "uq_lims_certificates_lot_spec",
        "lims_certificates",
        ["lot_id", "spec_version_id"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL"),
        postgresql_where=sa.text("voided_at IS NULL"),
    )
    op.create_index("ix_lims_certificates_lot_id", "lims_certificates", ["lot_id"])
    op.create_table(
        "lims_certificate_signoffs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("certificate_id", ID, nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("signed_at", WHEN, nullable=False),
        sa.Column("signed_by", sa.String(length=64), nullable=False),
        sa.Column("signed_by_name", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_lims_certificate_signoffs_content_sm3")),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["lims_certificates.id"],
            name=op.f("fk_lims_certificate_signoffs_certificate_id_lims_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_certificate_signoffs")),
    )
    op.create_index(
        "uq_lims_certificate_signoffs_certificate_id",
        "lims_certificate_signoffs",
        ["certificate_id"],
        unique=True,
    )
    op.create_table(
        "lims_lot_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("certificate_id", ID, nullable=False),
        sa.Column("lot_id", ID, nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("decision IN ('release', 'reject')", name=op.f("ck_lims_lot_decisions_decision")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_lims_lot_decisions_content_sm3")),
        sa.CheckConstraint("length(reason) >= 2", name=op.f("ck_lims_lot_decisions_reason")),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["lims_certificates.id"],
            name=op.f("fk_lims_lot_decisions_certificate_id_lims_certificates"),
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_lims_lot_decisions_lot_id_lots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_lot_decisions")),
    )
    op.create_index(
        "uq_lims_lot_decisions_certificate_id", "lims_lot_decisions", ["certificate_id"], unique=True
    )
    op.create_index("ix_lims_lot_decisions_lot_id", "lims_lot_decisions", ["lot_id"])
    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    guards.immutable_columns("lims_certificates", FROZEN_COLUMNS)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("lims_lot_decisions", "lims_certificate_signoffs", "lims_certificates"):
        op.drop_table(table)
