"""QMS supplier qualification: the qualification of a supplier for a material, its evidence documents and QA's
decision feeding the approved-supplier list (SH-6.2.4, TJ-5.1, TJ-5.2.1.1; issue 9 item 6)

Revision ID: 0046
Revises: 0045
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


# As in qms/supplier_qualification_models.py on 2026-11-30 (a migration keeps its own copy).
KINDS = ("new", "requalification", "change")
RISK_CLASSES = ("high", "medium", "low")
PROPOSED_STATUSES = ("approved", "conditional")
STATUSES = ("draft", "in_review", "approved", "rejected", "cancelled")
DOCUMENT_KINDS = ("business_licence", "manufacturing_licence", "gap", "quality_agreement", "other")
DECISION_KINDS = ("approve", "reject")
VOID = "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)"

QUALIFICATION_CHECKS = (
    (_in("kind", KINDS), "kind"),
    (_in("risk_class", RISK_CLASSES), "risk_class"),
    (_in("status", STATUSES), "status"),
    ("proposed_status IS NULL OR " + _in("proposed_status", PROPOSED_STATUSES), "proposed"),
    ("length(number) >= 6", "number"),
    ("risk_class <> 'high' OR audit_required", "audit_required"),
    ("samples_tested >= 0 AND samples_conforming >= 0 AND samples_conforming <= samples_tested", "samples"),
    (
        "status NOT IN ('in_review', 'approved') OR (proposed_status IS NOT NULL AND "
        "proposed_valid_until IS NOT NULL AND samples_tested >= 1)",
        "evaluated",
    ),
    (
        "status NOT IN ('approved', 'rejected') OR (decided_at IS NOT NULL AND decided_by IS NOT NULL)",
        "decided",
    ),
    ("decided_by IS NULL OR decided_by <> requester", "decider"),
    (
        "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL "
        "AND length(cancel_reason) >= 2)",
        "cancelled",
    ),
)
DOCUMENT_CHECKS = (
    (_in("kind", DOCUMENT_KINDS), "kind"),
    ("length(reference) >= 1", "reference"),
    ("seq >= 1", "seq"),
    (VOID, "void_reason"),
)
DECISION_CHECKS = (
    (_in("kind", DECISION_KINDS), "kind"),
    ("length(content_sm3) = 64", "content_sm3"),
    ("kind <> 'reject' OR length(comment) >= 2", "reason"),
)

# The qualification and its documents change while drafted, never deleted: cancelled or voided with a reason.
TABLES = ("qms_supplier_qualifications", "qms_supplier_qualification_documents")
# QA's decision (the approval signed): never changed, never deleted.
APPEND_ONLY = ("qms_supplier_qualification_decisions",)


def upgrade() -> None:
    op.create_table(
        "qms_supplier_qualifications",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("supplier_id", ID, nullable=False),
        sa.Column("material_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("risk_class", sa.String(length=8), nullable=False),
        sa.Column("audit_required", sa.Boolean(), nullable=False),
        sa.Column("audit_number", sa.String(length=32), nullable=True),
        sa.Column("samples_tested", sa.Integer(), nullable=False),
        sa.Column("samples_conforming", sa.Integer(), nullable=False),
        sa.Column("sample_notes", sa.String(length=2000), nullable=False),
        sa.Column("proposed_status", sa.String(length=16), nullable=True),
        sa.Column("proposed_valid_until", sa.Date(), nullable=True),
        sa.Column("conclusion", sa.String(length=4000), nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("requester_name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("submitted_at", WHEN, nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        *(
            sa.CheckConstraint(sql, name=op.f(f"ck_qms_supplier_qualifications_{name}"))
            for sql, name in QUALIFICATION_CHECKS
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_qms_supplier_qualifications_supplier_id_suppliers"),
        ),
        sa.ForeignKeyConstraint(
            ["material_id"],
            ["materials.id"],
            name=op.f("fk_qms_supplier_qualifications_material_id_materials"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_supplier_qualifications")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_supplier_qualifications_number")),
    )
    op.create_index("ix_qms_supplier_qualifications_status", "qms_supplier_qualifications", ["status"])
    op.create_index(
        "ix_qms_supplier_qualifications_pair", "qms_supplier_qualifications", ["supplier_id", "material_id"]
    )

    op.create_table(
        "qms_supplier_qualification_documents",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("qualification_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        *(
            sa.CheckConstraint(sql, name=op.f(f"ck_qms_supplier_qualification_documents_{name}"))
            for sql, name in DOCUMENT_CHECKS
        ),
        sa.ForeignKeyConstraint(
            ["qualification_id"],
            ["qms_supplier_qualifications.id"],
            name=op.f("fk_qms_supplier_qualification_documents_qualification_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_supplier_qualification_documents")),
    )
    op.create_index(
        "uq_qms_supplier_qualification_documents_seq",
        "qms_supplier_qualification_documents",
        ["qualification_id", "seq"],
        unique=True,
    )

    op.create_table(
        "qms_supplier_qualification_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("qualification_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        *(
            sa.CheckConstraint(sql, name=op.f(f"ck_qms_supplier_qualification_decisions_{name}"))
            for sql, name in DECISION_CHECKS
        ),
        sa.ForeignKeyConstraint(
            ["qualification_id"],
            ["qms_supplier_qualifications.id"],
            name=op.f("fk_qms_supplier_qualification_decisions_qualification_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_supplier_qualification_decisions")),
    )
    op.create_index(
        "uq_qms_supplier_qualification_decisions_one",
        "qms_supplier_qualification_decisions",
        ["qualification_id"],
        unique=True,
    )

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in (
        "qms_supplier_qualification_decisions",
        "qms_supplier_qualification_documents",
        "qms_supplier_qualifications",
    ):
        op.drop_table(table)
