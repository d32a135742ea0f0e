"""QMS quality audits and self-inspection: the audit, its checklist, findings and signed closure (TJ-11.1,
TJ-11.2.1, SH-6.2.4; issue 9 item 7)

Revision ID: 0040
Revises: 0039
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


# As in qms/audit_models.py on 2026-11-30 (a migration keeps its own copy).
KINDS = ("self_inspection", "supplier", "computerized_system", "external")
STATUSES = ("planned", "in_progress", "reporting", "closed", "cancelled")
RESULTS = ("not_assessed", "conforms", "finding", "not_applicable")
CLASSIFICATIONS = ("critical", "major", "minor", "recommendation")
FINDING_STATUSES = ("open", "responded", "verified")

AUDIT_CHECKS = (
    (_in("kind", KINDS), "kind"),
    (_in("status", STATUSES), "status"),
    ("length(number) >= 6", "number"),
    ("length(title) >= 2", "title"),
    ("length(scope) >= 2", "scope"),
    ("length(auditee) >= 1", "auditee"),
    ("length(lead_auditor) >= 1", "lead_auditor"),
    ("planned_end >= planned_start", "planned_dates"),
    ("kind <> 'supplier' OR supplier_id IS NOT NULL", "supplier"),
    ("status IN ('planned', 'cancelled') OR started_at IS NOT NULL", "started"),
    ("status <> 'closed' OR (closed_at IS NOT NULL AND closed_by IS NOT NULL)", "closed"),
    ("closed_by IS NULL OR closed_by <> lead_auditor", "closer"),
    (
        "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL "
        "AND length(cancel_reason) >= 2)",
        "cancelled",
    ),
)
ITEM_CHECKS = (
    (_in("result", RESULTS), "result"),
    ("seq >= 1", "seq"),
    ("length(code) >= 1", "code"),
    ("length(question) >= 2", "question"),
    ("result = 'not_assessed' OR (assessed_at IS NOT NULL AND assessed_by IS NOT NULL)", "assessed"),
)
FINDING_CHECKS = (
    (_in("classification", CLASSIFICATIONS), "classification"),
    (_in("status", FINDING_STATUSES), "status"),
    ("seq >= 1", "seq"),
    ("length(description) >= 2", "description"),
    ("status = 'open' OR (length(response) >= 1 AND responded_at IS NOT NULL)", "responded"),
    ("status <> 'verified' OR (verified_at IS NOT NULL AND verified_by IS NOT NULL)", "verified"),
    (
        "status <> 'verified' OR classification NOT IN ('critical', 'major') OR capa_number IS NOT NULL",
        "capa",
    ),
)
DECISION_CHECKS = (
    ("kind IN ('close')", "kind"),
    ("length(content_sm3) = 64", "content_sm3"),
    ("length(conclusion) >= 2", "conclusion"),
)

# The audit, its checklist and its findings change along the lifecycle, never deleted: cancelled with a reason.
TABLES = ("qms_audits", "qms_audit_checklist_items", "qms_audit_findings")
# QA's signed closure: never changed, never deleted.
APPEND_ONLY = ("qms_audit_decisions",)


def _checks(table: str, checks: tuple[tuple[str, str], ...]) -> list[sa.CheckConstraint]:
    return [sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{name}")) for sql, name in checks]


def _parent(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["audit_id"], ["qms_audits.id"], name=op.f(f"fk_{table}_audit_id_qms_audits")
    )


def upgrade() -> None:
    op.create_table(
        "qms_audits",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("supplier_id", ID, nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=2000), nullable=False),
        sa.Column("auditee", sa.String(length=200), nullable=False),
        sa.Column("lead_auditor", sa.String(length=64), nullable=False),
        sa.Column("lead_auditor_name", sa.String(length=128), nullable=False),
        sa.Column("audit_team", sa.String(length=500), nullable=False),
        sa.Column("planned_start", sa.Date(), nullable=False),
        sa.Column("planned_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_by_name", sa.String(length=128), nullable=False),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("reported_at", WHEN, nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        *_checks("qms_audits", AUDIT_CHECKS),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_qms_audits_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_audits")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_audits_number")),
    )
    op.create_index("ix_qms_audits_status", "qms_audits", ["status"])
    op.create_index("ix_qms_audits_supplier", "qms_audits", ["supplier_id"])

    op.create_table(
        "qms_audit_checklist_items",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("audit_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("question", sa.String(length=1000), nullable=False),
        sa.Column("evidence_links", sa.String(length=500), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("evidence_note", sa.String(length=2000), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("assessed_at", WHEN, nullable=True),
        sa.Column("assessed_by", sa.String(length=64), nullable=True),
        *_checks("qms_audit_checklist_items", ITEM_CHECKS),
        _parent("qms_audit_checklist_items"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_audit_checklist_items")),
    )
    op.create_index(
        "uq_qms_audit_checklist_items_seq", "qms_audit_checklist_items", ["audit_id", "seq"], unique=True
    )

    op.create_table(
        "qms_audit_findings",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("audit_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.Column("clause_ref", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("response", sa.String(length=4000), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("capa_number", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("responded_at", WHEN, nullable=True),
        sa.Column("responded_by", sa.String(length=64), nullable=True),
        sa.Column("verified_at", WHEN, nullable=True),
        sa.Column("verified_by", sa.String(length=64), nullable=True),
        sa.Column("verification_note", sa.String(length=2000), nullable=False),
        *_checks("qms_audit_findings", FINDING_CHECKS),
        _parent("qms_audit_findings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_audit_findings")),
    )
    op.create_index("uq_qms_audit_findings_seq", "qms_audit_findings", ["audit_id", "seq"], unique=True)
    op.create_index("ix_qms_audit_findings_capa", "qms_audit_findings", ["capa_number"])

    op.create_table(
        "qms_audit_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("audit_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("conclusion", sa.String(length=4000), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        *_checks("qms_audit_decisions", DECISION_CHECKS),
        _parent("qms_audit_decisions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_audit_decisions")),
    )
    op.create_index("uq_qms_audit_decisions_kind", "qms_audit_decisions", ["audit_id", "kind"], unique=True)

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("qms_audit_decisions", "qms_audit_findings", "qms_audit_checklist_items", "qms_audits"):
        op.drop_table(table)
