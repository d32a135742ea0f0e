"""QMS CAPA: actions, evidence, effectiveness checks (SH-6.2.4, TJ-9.4)

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

# The CAPA and its actions change along their lifecycle (status, completion), never deleted: voided or cancelled.
TABLES = ("qms_capas", "qms_capa_actions")
# The signed decisions (plan approval, effectiveness verdicts): never changed, never deleted.
APPEND_ONLY = ("qms_capa_decisions",)


def upgrade() -> None:
    op.create_table(
        "qms_capas",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_type", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("problem", sa.String(length=2000), nullable=False),
        sa.Column("root_cause", sa.String(length=2000), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("owner_name", sa.String(length=128), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("effectiveness_criteria", sa.String(length=2000), nullable=True),
        sa.Column("effectiveness_due", sa.Date(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_by_name", sa.String(length=128), nullable=False),
        sa.Column("approved_at", WHEN, nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint("kind IN ('corrective', 'preventive')", name=op.f("ck_qms_capas_kind")),
        sa.CheckConstraint(
            "source_type IN ('deviation', 'oos', 'audit', 'complaint', 'change', 'other')",
            name=op.f("ck_qms_capas_source_type"),
        ),
        sa.CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL AND length(cancel_reason) >= 2)",
            name=op.f("ck_qms_capas_cancelled"),
        ),
        sa.CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL", name=op.f("ck_qms_capas_closed")),
        sa.CheckConstraint(
            "status <> 'draft' OR approved_at IS NULL", name=op.f("ck_qms_capas_draft_unapproved")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'implementation', 'effectiveness_pending', 'closed', 'cancelled')",
            name=op.f("ck_qms_capas_status"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'cancelled') OR (approved_at IS NOT NULL AND approved_by IS NOT NULL AND effectiveness_criteria IS NOT NULL AND effectiveness_due IS NOT NULL)",
            name=op.f("ck_qms_capas_approved"),
        ),
        sa.CheckConstraint("cycle >= 1", name=op.f("ck_qms_capas_cycle")),
        sa.CheckConstraint("length(number) >= 6", name=op.f("ck_qms_capas_number")),
        sa.CheckConstraint("length(owner) >= 1", name=op.f("ck_qms_capas_owner")),
        sa.CheckConstraint("length(problem) >= 1", name=op.f("ck_qms_capas_problem")),
        sa.CheckConstraint("length(title) >= 1", name=op.f("ck_qms_capas_title")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_capas")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_capas_number")),
    )
    op.create_index("ix_qms_capas_source", "qms_capas", ["source_type", "source_ref"], unique=False)
    op.create_index("ix_qms_capas_status", "qms_capas", ["status"], unique=False)
    op.create_table(
        "qms_capa_actions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("capa_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("action_type", sa.String(length=24), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("owner_name", sa.String(length=128), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("document_number", sa.String(length=32), nullable=True),
        sa.Column("retrain_logins", sa.Text(), nullable=True),
        sa.Column("retraining_orders", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("completed_at", WHEN, nullable=True),
        sa.Column("completed_by", sa.String(length=64), nullable=True),
        sa.Column("completed_by_name", sa.String(length=128), nullable=True),
        sa.Column("evidence", sa.String(length=2000), nullable=False),
        sa.Column("evidence_sm3", sa.String(length=64), nullable=True),
        sa.Column("evidence_name", sa.String(length=255), nullable=True),
        sa.Column("evidence_media_type", sa.String(length=100), nullable=True),
        sa.Column("evidence_size", sa.Integer(), nullable=True),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "action_type <> 'document_change' OR document_number IS NOT NULL",
            name=op.f("ck_qms_capa_actions_document"),
        ),
        sa.CheckConstraint(
            "action_type <> 'retraining' OR (document_number IS NOT NULL AND retrain_logins IS NOT NULL)",
            name=op.f("ck_qms_capa_actions_retraining"),
        ),
        sa.CheckConstraint(
            "action_type IN ('general', 'retraining', 'document_change', 'equipment', 'process_change')",
            name=op.f("ck_qms_capa_actions_action_type"),
        ),
        sa.CheckConstraint(
            "status <> 'done' OR (completed_at IS NOT NULL AND completed_by IS NOT NULL AND length(evidence) >= 1)",
            name=op.f("ck_qms_capa_actions_done"),
        ),
        sa.CheckConstraint(
            "status <> 'voided' OR (voided_at IS NOT NULL AND void_reason IS NOT NULL AND length(void_reason) >= 2)",
            name=op.f("ck_qms_capa_actions_voided"),
        ),
        sa.CheckConstraint("status IN ('open', 'done', 'voided')", name=op.f("ck_qms_capa_actions_status")),
        sa.CheckConstraint("cycle >= 1", name=op.f("ck_qms_capa_actions_cycle")),
        sa.CheckConstraint(
            "evidence_sm3 IS NULL OR length(evidence_sm3) = 64", name=op.f("ck_qms_capa_actions_evidence_sm3")
        ),
        sa.CheckConstraint("length(description) >= 1", name=op.f("ck_qms_capa_actions_description")),
        sa.CheckConstraint("length(owner) >= 1", name=op.f("ck_qms_capa_actions_owner")),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_qms_capa_actions_seq")),
        sa.ForeignKeyConstraint(
            ["capa_id"], ["qms_capas.id"], name=op.f("fk_qms_capa_actions_capa_id_qms_capas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_capa_actions")),
    )
    op.create_index("ix_qms_capa_actions_owner", "qms_capa_actions", ["owner"], unique=False)
    op.create_index("uq_qms_capa_actions_seq", "qms_capa_actions", ["capa_id", "seq"], unique=True)
    op.create_table(
        "qms_capa_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("capa_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("evidence", sa.String(length=2000), nullable=False),
        sa.Column("evidence_sm3", sa.String(length=64), nullable=True),
        sa.Column("evidence_name", sa.String(length=255), nullable=True),
        sa.Column("evidence_media_type", sa.String(length=100), nullable=True),
        sa.Column("evidence_size", sa.Integer(), nullable=True),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "(kind = 'plan_approval') = (verdict = 'approved')",
            name=op.f("ck_qms_capa_decisions_verdict_of_kind"),
        ),
        sa.CheckConstraint(
            "kind <> 'effectiveness' OR length(evidence) >= 1",
            name=op.f("ck_qms_capa_decisions_effectiveness_evidence"),
        ),
        sa.CheckConstraint(
            "kind IN ('plan_approval', 'effectiveness')", name=op.f("ck_qms_capa_decisions_kind")
        ),
        sa.CheckConstraint(
            "verdict IN ('approved', 'effective', 'not_effective')",
            name=op.f("ck_qms_capa_decisions_verdict"),
        ),
        sa.CheckConstraint("cycle >= 1", name=op.f("ck_qms_capa_decisions_cycle")),
        sa.CheckConstraint(
            "evidence_sm3 IS NULL OR length(evidence_sm3) = 64",
            name=op.f("ck_qms_capa_decisions_evidence_sm3"),
        ),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_qms_capa_decisions_content_sm3")),
        sa.ForeignKeyConstraint(
            ["capa_id"], ["qms_capas.id"], name=op.f("fk_qms_capa_decisions_capa_id_qms_capas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_capa_decisions")),
    )
    op.create_index(
        "uq_qms_capa_decisions_round", "qms_capa_decisions", ["capa_id", "kind", "cycle"], unique=True
    )

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("qms_capa_decisions", "qms_capa_actions", "qms_capas"):
        op.drop_table(table)
