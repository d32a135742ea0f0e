"""QMS registration dossiers and contract agreements as controlled records with expiry reminders: the records and
QA's signed approval; ended records and effective ones frozen by triggers (SH-6.2.4; issue 9 item 10)

Revision ID: 0045
Revises: 0044
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


# As in qms/dossier_models.py on 2026-11-30 (a migration keeps its own copy).
CATEGORIES = ("registration", "contract")
REGISTRATION_KINDS = ("drug_registration_certificate", "supplementary_approval", "re_registration",
                      "manufacturing_licence", "other_registration")  # fmt: skip
CONTRACT_KINDS = ("contract_manufacturing", "contract_testing", "quality_agreement", "other_contract")
STATUSES = ("draft", "in_review", "effective", "terminated", "superseded", "cancelled")

DOSSIER_CHECKS = (
    (_in("category", CATEGORIES), "category"),
    (
        f"(category = 'registration' AND {_in('kind', REGISTRATION_KINDS)}) "
        f"OR (category = 'contract' AND {_in('kind', CONTRACT_KINDS)})",
        "kind",
    ),
    (_in("status", STATUSES), "status"),
    ("length(number) >= 6", "number"),
    ("length(title) >= 1", "title"),
    (
        "kind NOT IN ('drug_registration_certificate', 'supplementary_approval') OR material_id IS NOT NULL",
        "product",
    ),
    ("category <> 'contract' OR supplier_id IS NOT NULL OR length(counterparty) >= 2", "counterparty"),
    ("effective_from IS NULL OR valid_until >= effective_from", "validity"),
    ("reminder_days BETWEEN 0 AND 3650", "reminder_days"),
    (
        "(file_sm3 IS NULL) = (file_name IS NULL) AND (file_sm3 IS NULL) = (media_type IS NULL) "
        "AND (file_sm3 IS NULL) = (file_size IS NULL) AND (file_sm3 IS NULL OR length(file_sm3) = 64)",
        "file",
    ),
    ("renews_id IS NULL OR renews_id <> id", "renews"),
    (
        "status NOT IN ('effective', 'terminated', 'superseded') OR (approved_at IS NOT NULL "
        "AND approved_by IS NOT NULL)",
        "approved",
    ),
    ("approved_by IS NULL OR approved_by <> author", "approver"),
    (
        "status NOT IN ('terminated', 'superseded', 'cancelled') OR (ended_at IS NOT NULL "
        "AND end_reason IS NOT NULL AND length(end_reason) >= 2)",
        "ended",
    ),
)

# The records change while drafted and by their transitions, never deleted.
TABLES = ("qms_dossiers",)
# QA's signed approval: never changed, never deleted.
APPEND_ONLY = ("qms_dossier_decisions",)
# An ended record stays as it ended; an effective one changes only by leaving "effective" (terminated, or
# superseded by its approved renewal): its header is corrected by a renewal, never in place.
FROZEN = "OLD.status IN ('terminated', 'superseded', 'cancelled') OR (OLD.status = 'effective' AND NEW.status = 'effective')"


def upgrade() -> None:
    op.create_table(
        "qms_dossiers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("reference_no", sa.String(length=100), nullable=False),
        sa.Column("material_id", ID, nullable=True),
        sa.Column("supplier_id", ID, nullable=True),
        sa.Column("counterparty", sa.String(length=200), nullable=False),
        sa.Column("issuing_authority", sa.String(length=200), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("reminder_days", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("summary", sa.String(length=4000), nullable=False),
        sa.Column("file_sm3", sa.String(length=64), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=True),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("renews_id", ID, nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("author_name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("submitted_at", WHEN, nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", WHEN, nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("end_reason", sa.String(length=500), nullable=True),
        *(sa.CheckConstraint(sql, name=op.f(f"ck_qms_dossiers_{name}")) for sql, name in DOSSIER_CHECKS),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_qms_dossiers_material_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_qms_dossiers_supplier_id_suppliers")
        ),
        sa.ForeignKeyConstraint(
            ["renews_id"], ["qms_dossiers.id"], name=op.f("fk_qms_dossiers_renews_id_qms_dossiers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_dossiers")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_dossiers_number")),
    )
    op.create_index("ix_qms_dossiers_status", "qms_dossiers", ["status"])
    op.create_index("ix_qms_dossiers_material", "qms_dossiers", ["material_id"])

    op.create_table(
        "qms_dossier_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("dossier_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("kind IN ('approve')", name=op.f("ck_qms_dossier_decisions_kind")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_qms_dossier_decisions_content_sm3")),
        sa.ForeignKeyConstraint(
            ["dossier_id"], ["qms_dossiers.id"], name=op.f("fk_qms_dossier_decisions_dossier_id_qms_dossiers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_dossier_decisions")),
    )
    op.create_index(
        "uq_qms_dossier_decisions_kind", "qms_dossier_decisions", ["dossier_id", "kind"], unique=True
    )

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.frozen_when("qms_dossiers", FROZEN, "ended or effective records are frozen")
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("qms_dossier_decisions", "qms_dossiers"):
        op.drop_table(table)
