"""QMS validation and qualification: projects, protocol items with acceptance criteria, append-only execution
results, QA's signed protocol and report approvals (SH-6.2.4, SH-6.3.2.1.c, TJ-10.3, TJ-11.2.1; issue 9 item 10)

Revision ID: 0044
Revises: 0043
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


# As in qms/validation_models.py on 2026-11-30 (a migration keeps its own copy).
KINDS = (
    "equipment_qualification",
    "process",
    "cleaning",
    "analytical_method",
    "computerized_system",
    "utility",
)
STAGES = ("DQ", "IQ", "OQ", "PQ", "PV", "CV", "MV")
STATUSES = ("draft", "protocol_review", "executing", "report_review", "completed", "cancelled")
OUTCOMES = ("validated", "failed")
VOID = "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)"

VALIDATION_CHECKS = (
    (_in("kind", KINDS), "kind"),
    (_in("status", STATUSES), "status"),
    ("length(number) >= 6", "number"),
    ("length(title) >= 1", "title"),
    ("length(subject) >= 1", "subject"),
    ("length(stages) >= 2", "stages"),
    ("(kind = 'equipment_qualification') = (equipment_id IS NOT NULL)", "equipment"),
    ("revalidation_months IS NULL OR revalidation_months BETWEEN 1 AND 120", "revalidation_months"),
    (f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", "outcome"),
    (
        "status <> 'completed' OR (completed_at IS NOT NULL AND completed_by IS NOT NULL "
        "AND outcome IS NOT NULL AND length(conclusion) >= 2)",
        "completed",
    ),
    (
        "status NOT IN ('executing', 'report_review', 'completed') OR protocol_approved_by IS NOT NULL",
        "protocol_approved",
    ),
    (
        "(protocol_approved_by IS NULL OR protocol_approved_by <> author) "
        "AND (completed_by IS NULL OR completed_by <> author)",
        "approver",
    ),
    (
        "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL "
        "AND length(cancel_reason) >= 2)",
        "cancelled",
    ),
)
TEST_CHECKS = (
    (_in("stage", STAGES), "stage"),
    ("seq >= 1", "seq"),
    ("length(item) >= 1", "item"),
    ("length(criterion) >= 1", "criterion"),
    (VOID, "void_reason"),
)
RESULT_CHECKS = (
    (_in("outcome", ("pass", "fail")), "outcome"),
    ("length(observed) >= 1", "observed"),
    (
        "(supersedes_id IS NULL) = (correction_reason IS NULL) "
        "AND (correction_reason IS NULL OR length(correction_reason) >= 2)",
        "correction",
    ),
)
DECISION_CHECKS = (
    (_in("kind", ("protocol", "report")), "kind"),
    ("length(content_sm3) = 64", "content_sm3"),
    (f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", "outcome"),
    ("(kind = 'report') = (outcome IS NOT NULL)", "report_outcome"),
)

# The project and its protocol items change while drafted, never deleted: cancelled or voided with a reason.
TABLES = ("qms_validations", "qms_validation_tests")
# Execution results (a correction is a new row) and QA's signed approvals: never changed, never deleted.
APPEND_ONLY = ("qms_validation_results", "qms_validation_decisions")


def _checks(table: str, checks: tuple[tuple[str, str], ...]) -> list[sa.CheckConstraint]:
    return [sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{name}")) for sql, name in checks]


def upgrade() -> None:
    op.create_table(
        "qms_validations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=4000), nullable=False),
        sa.Column("equipment_id", ID, nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("change_number", sa.String(length=32), nullable=True),
        sa.Column("risk_number", sa.String(length=32), nullable=True),
        sa.Column("stages", sa.String(length=64), nullable=False),
        sa.Column("revalidation_months", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("author_name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("submitted_at", WHEN, nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.Column("protocol_approved_at", WHEN, nullable=True),
        sa.Column("protocol_approved_by", sa.String(length=64), nullable=True),
        sa.Column("conclusion", sa.String(length=4000), nullable=False),
        sa.Column("report_submitted_at", WHEN, nullable=True),
        sa.Column("report_submitted_by", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("completed_at", WHEN, nullable=True),
        sa.Column("completed_by", sa.String(length=64), nullable=True),
        sa.Column("revalidation_due", sa.Date(), nullable=True),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        *_checks("qms_validations", VALIDATION_CHECKS),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_qms_validations_equipment_id_equipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_validations")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_validations_number")),
    )
    op.create_index("ix_qms_validations_status", "qms_validations", ["status"])
    op.create_index("ix_qms_validations_subject", "qms_validations", ["kind", "subject"])
    op.create_index("ix_qms_validations_equipment_id", "qms_validations", ["equipment_id"])

    op.create_table(
        "qms_validation_tests",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("validation_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("item", sa.String(length=500), nullable=False),
        sa.Column("procedure", sa.String(length=2000), nullable=False),
        sa.Column("criterion", sa.String(length=1000), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        *_checks("qms_validation_tests", TEST_CHECKS),
        sa.ForeignKeyConstraint(
            ["validation_id"],
            ["qms_validations.id"],
            name=op.f("fk_qms_validation_tests_validation_id_qms_validations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_validation_tests")),
    )
    op.create_index(
        "uq_qms_validation_tests_seq", "qms_validation_tests", ["validation_id", "seq"], unique=True
    )

    op.create_table(
        "qms_validation_results",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("validation_id", ID, nullable=False),
        sa.Column("test_id", ID, nullable=False),
        sa.Column("observed", sa.String(length=2000), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("deviation_number", sa.String(length=32), nullable=True),
        sa.Column("supersedes_id", ID, nullable=True),
        sa.Column("correction_reason", sa.String(length=500), nullable=True),
        sa.Column("executed_at", WHEN, nullable=False),
        sa.Column("executed_by", sa.String(length=64), nullable=False),
        sa.Column("executed_by_name", sa.String(length=128), nullable=False),
        *_checks("qms_validation_results", RESULT_CHECKS),
        sa.ForeignKeyConstraint(
            ["validation_id"],
            ["qms_validations.id"],
            name=op.f("fk_qms_validation_results_validation_id_qms_validations"),
        ),
        sa.ForeignKeyConstraint(
            ["test_id"],
            ["qms_validation_tests.id"],
            name=op.f("fk_qms_validation_results_test_id_qms_validation_tests"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["qms_validation_results.id"],
            name=op.f("fk_qms_validation_results_supersedes_id_qms_validation_results"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_validation_results")),
    )
    op.create_index(
        "uq_qms_validation_results_supersedes", "qms_validation_results", ["supersedes_id"], unique=True
    )
    op.create_index("ix_qms_validation_results_test_id", "qms_validation_results", ["test_id"])

    op.create_table(
        "qms_validation_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("validation_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        *_checks("qms_validation_decisions", DECISION_CHECKS),
        sa.ForeignKeyConstraint(
            ["validation_id"],
            ["qms_validations.id"],
            name=op.f("fk_qms_validation_decisions_validation_id_qms_validations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_validation_decisions")),
    )
    op.create_index(
        "uq_qms_validation_decisions_kind", "qms_validation_decisions", ["validation_id", "kind"], unique=True
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
        "qms_validation_decisions",
        "qms_validation_results",
        "qms_validation_tests",
        "qms_validations",
    ):
        op.drop_table(table)
