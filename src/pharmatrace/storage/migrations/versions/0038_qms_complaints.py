"""QMS complaints: intake, classification, investigation, response, signed closure (SH-6.2.4, issue 9 item 5)

Revision ID: 0038
Revises: 0037
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


# As in qms/complaint_models.py on 2026-11-30 (a migration keeps its own copy).
CHANNELS = ("phone", "email", "letter", "visit", "regulator", "other")
CATEGORIES = ("quality", "adverse_reaction", "packaging", "suspected_counterfeit", "other")
CLASSIFICATIONS = ("critical", "major", "minor")
CONCLUSIONS = ("justified", "not_justified")
STATUSES = ("received", "investigating", "responded", "closed", "cancelled")

COMPLAINT_CHECKS = (
    (_in("channel", CHANNELS), "channel"),
    (_in("category", CATEGORIES), "category"),
    (_in("status", STATUSES), "status"),
    ("classification IS NULL OR " + _in("classification", CLASSIFICATIONS), "classification"),
    ("conclusion IS NULL OR " + _in("conclusion", CONCLUSIONS), "conclusion"),
    ("length(number) >= 6", "number"),
    ("length(description) >= 1", "description"),
    ("length(complainant_name) >= 1", "complainant_name"),
    ("classification IS NULL OR length(classification_rationale) >= 2", "classification_rationale"),
    (
        "category NOT IN ('adverse_reaction', 'suspected_counterfeit') OR classification IS NULL "
        "OR classification IN ('critical', 'major')",
        "at_least_major",
    ),
    (
        "status = 'received' OR status = 'cancelled' OR (classification IS NOT NULL AND investigator IS NOT NULL)",
        "investigating",
    ),
    (
        "status NOT IN ('responded', 'closed') OR (conclusion IS NOT NULL AND length(findings) >= 1 "
        "AND response IS NOT NULL AND length(response) >= 1 AND responded_at IS NOT NULL)",
        "responded",
    ),
    ("status <> 'closed' OR (closed_at IS NOT NULL AND closed_by IS NOT NULL)", "closed"),
    ("closed_by IS NULL OR investigator IS NULL OR closed_by <> investigator", "closer"),
    (
        "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL "
        "AND length(cancel_reason) >= 2)",
        "cancelled",
    ),
)

# The complaint changes along its lifecycle, never deleted: cancelled with a reason.
TABLES = ("qms_complaints",)
# QA's signed closure: never changed, never deleted.
APPEND_ONLY = ("qms_complaint_decisions",)


def upgrade() -> None:
    op.create_table(
        "qms_complaints",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("complainant_name", sa.String(length=128), nullable=False),
        sa.Column("complainant_org", sa.String(length=200), nullable=False),
        sa.Column("complainant_contact", sa.String(length=200), nullable=False),
        sa.Column("customer_code", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("batch_order_id", ID, nullable=False),
        sa.Column("batch_no", sa.String(length=32), nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("product_name", sa.String(length=128), nullable=False),
        sa.Column("code_id", ID, nullable=True),
        sa.Column("code_value", sa.String(length=64), nullable=True),
        sa.Column("classification", sa.String(length=16), nullable=True),
        sa.Column("classification_rationale", sa.String(length=2000), nullable=False),
        sa.Column("classified_at", WHEN, nullable=True),
        sa.Column("classified_by", sa.String(length=64), nullable=True),
        sa.Column("investigator", sa.String(length=64), nullable=True),
        sa.Column("investigator_name", sa.String(length=128), nullable=True),
        sa.Column("findings", sa.String(length=4000), nullable=False),
        sa.Column("root_cause", sa.String(length=2000), nullable=False),
        sa.Column("batch_record_reviewed", sa.Boolean(), nullable=False),
        sa.Column("batch_record_notes", sa.String(length=2000), nullable=False),
        sa.Column("retained_sample_reviewed", sa.Boolean(), nullable=False),
        sa.Column("retained_sample_notes", sa.String(length=2000), nullable=False),
        sa.Column("deviation_number", sa.String(length=32), nullable=True),
        sa.Column("capa_number", sa.String(length=32), nullable=True),
        sa.Column("recall_number", sa.String(length=32), nullable=True),
        sa.Column("conclusion", sa.String(length=16), nullable=True),
        sa.Column("investigated_at", WHEN, nullable=True),
        sa.Column("response", sa.String(length=4000), nullable=True),
        sa.Column("responded_at", WHEN, nullable=True),
        sa.Column("responded_by", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_by_name", sa.String(length=128), nullable=False),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        *(sa.CheckConstraint(sql, name=op.f(f"ck_qms_complaints_{name}")) for sql, name in COMPLAINT_CHECKS),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_qms_complaints_batch_order_id_batch_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["code_id"], ["trace_codes.id"], name=op.f("fk_qms_complaints_code_id_trace_codes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_complaints")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_complaints_number")),
    )
    op.create_index("ix_qms_complaints_status", "qms_complaints", ["status"])
    op.create_index("ix_qms_complaints_batch", "qms_complaints", ["batch_order_id"])
    op.create_index("ix_qms_complaints_code", "qms_complaints", ["code_id"])

    op.create_table(
        "qms_complaint_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("complaint_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("kind IN ('close')", name=op.f("ck_qms_complaint_decisions_kind")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_qms_complaint_decisions_content_sm3")),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["qms_complaints.id"],
            name=op.f("fk_qms_complaint_decisions_complaint_id_qms_complaints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_complaint_decisions")),
    )
    op.create_index(
        "uq_qms_complaint_decisions_kind", "qms_complaint_decisions", ["complaint_id", "kind"], unique=True
    )

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("qms_complaint_decisions", "qms_complaints"):
        op.drop_table(table)
