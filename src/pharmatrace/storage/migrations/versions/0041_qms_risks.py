"""QMS quality risk assessment by FMEA: assessments, failure modes with S, O, D and RPN, QA's signed approval
(SH-6.2.4, ICH Q9; issue 9 item 8)

Revision ID: 0041
Revises: 0040
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


# As in qms/risk_models.py on 2026-11-30 (a migration keeps its own copy).
SUBJECT_KINDS = ("change", "deviation", "validation", "process", "equipment", "other")
STATUSES = ("draft", "in_review", "approved", "withdrawn")
SCORE = "{0} BETWEEN 1 AND 10"
VOID = "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)"
RESIDUAL_SCORES = (
    "residual_severity IS NULL OR (residual_severity BETWEEN 1 AND 10 AND residual_occurrence BETWEEN 1 AND 10 "
    "AND residual_detection BETWEEN 1 AND 10 "
    "AND residual_rpn = residual_severity * residual_occurrence * residual_detection)"
)

ASSESSMENT_CHECKS = (
    (_in("subject_kind", SUBJECT_KINDS), "subject_kind"),
    (_in("status", STATUSES), "status"),
    ("length(number) >= 6", "number"),
    ("length(title) >= 1", "title"),
    ("subject_kind NOT IN ('change', 'deviation') OR length(subject_ref) >= 4", "subject_ref"),
    ("action_threshold BETWEEN 1 AND 1000", "action_threshold"),
    ("severity_threshold BETWEEN 1 AND 10", "severity_threshold"),
    ("revision >= 1", "revision"),
    ("status <> 'approved' OR (approved_at IS NOT NULL AND approved_by IS NOT NULL)", "approved"),
    ("approved_by IS NULL OR approved_by <> author", "approver"),
    (
        "status <> 'withdrawn' OR (withdrawn_at IS NOT NULL AND withdraw_reason IS NOT NULL "
        "AND length(withdraw_reason) >= 2)",
        "withdrawn",
    ),
)
ITEM_CHECKS = (
    (SCORE.format("severity"), "severity"),
    (SCORE.format("occurrence"), "occurrence"),
    (SCORE.format("detection"), "detection"),
    ("rpn = severity * occurrence * detection", "rpn"),
    (
        "(residual_severity IS NULL) = (residual_occurrence IS NULL) "
        "AND (residual_severity IS NULL) = (residual_detection IS NULL) "
        "AND (residual_severity IS NULL) = (residual_rpn IS NULL)",
        "residual_all",
    ),
    (RESIDUAL_SCORES, "residual"),
    ("seq >= 1", "seq"),
    ("length(failure_mode) >= 1", "failure_mode"),
    (VOID, "void_reason"),
)

# The assessment and its failure modes change while drafted, never deleted: withdrawn or voided with a reason.
TABLES = ("qms_risk_assessments", "qms_risk_items")
# QA's signed approval of each revision: never changed, never deleted.
APPEND_ONLY = ("qms_risk_decisions",)


def upgrade() -> None:
    op.create_table(
        "qms_risk_assessments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=4000), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_ref", sa.String(length=200), nullable=False),
        sa.Column("product_step", sa.String(length=200), nullable=False),
        sa.Column("action_threshold", sa.Integer(), nullable=False),
        sa.Column("severity_threshold", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(length=500), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("author_name", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("submitted_at", WHEN, nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", WHEN, nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("withdrawn_at", WHEN, nullable=True),
        sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
        sa.Column("withdraw_reason", sa.String(length=500), nullable=True),
        *(
            sa.CheckConstraint(sql, name=op.f(f"ck_qms_risk_assessments_{name}"))
            for sql, name in ASSESSMENT_CHECKS
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_risk_assessments")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_risk_assessments_number")),
    )
    op.create_index("ix_qms_risk_assessments_status", "qms_risk_assessments", ["status"])
    op.create_index(
        "ix_qms_risk_assessments_subject", "qms_risk_assessments", ["subject_kind", "subject_ref"]
    )

    op.create_table(
        "qms_risk_items",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("assessment_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=200), nullable=False),
        sa.Column("failure_mode", sa.String(length=1000), nullable=False),
        sa.Column("effect", sa.String(length=1000), nullable=False),
        sa.Column("cause", sa.String(length=1000), nullable=False),
        sa.Column("controls", sa.String(length=1000), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("detection", sa.Integer(), nullable=False),
        sa.Column("rpn", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=2000), nullable=False),
        sa.Column("action_owner", sa.String(length=128), nullable=False),
        sa.Column("capa_number", sa.String(length=32), nullable=True),
        sa.Column("residual_severity", sa.Integer(), nullable=True),
        sa.Column("residual_occurrence", sa.Integer(), nullable=True),
        sa.Column("residual_detection", sa.Integer(), nullable=True),
        sa.Column("residual_rpn", sa.Integer(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        *(sa.CheckConstraint(sql, name=op.f(f"ck_qms_risk_items_{name}")) for sql, name in ITEM_CHECKS),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["qms_risk_assessments.id"],
            name=op.f("fk_qms_risk_items_assessment_id_qms_risk_assessments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_risk_items")),
    )
    op.create_index("uq_qms_risk_items_seq", "qms_risk_items", ["assessment_id", "seq"], unique=True)

    op.create_table(
        "qms_risk_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("assessment_id", ID, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("kind IN ('approve')", name=op.f("ck_qms_risk_decisions_kind")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_qms_risk_decisions_content_sm3")),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_qms_risk_decisions_revision")),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["qms_risk_assessments.id"],
            name=op.f("fk_qms_risk_decisions_assessment_id_qms_risk_assessments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_risk_decisions")),
    )
    op.create_index(
        "uq_qms_risk_decisions_revision",
        "qms_risk_decisions",
        ["assessment_id", "revision", "kind"],
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
    for table in ("qms_risk_decisions", "qms_risk_items", "qms_risk_assessments"):
        op.drop_table(table)
