"""QMS deviations: classification, investigation, impact, closure (TJ-6.4.4)

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-29

The seam's ``deviations`` table (0016) gets the QMS lifecycle's columns and constraints; the impact
assessments, the timeline and the signed closures are new, append-only tables.

SQLite: the table is not rebuilt (a batch "move and copy" would drop it under ``batch_exceptions``' foreign key,
which SQLite refuses once rows reference it, and would lose its guard triggers). The columns are added in place,
and the CHECK constraints are rewritten in the stored schema, the procedure SQLite documents for changing
constraints that existing rows satisfy (https://sqlite.org/lang_altertable.html, "otherwise unsupported
changes"): every existing row is ``open`` and every new column has its default.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

APPEND_ONLY = ("deviation_impacts", "deviation_events", "deviation_closures")


def _new_columns() -> tuple[sa.Column[object], ...]:
    """Fresh column objects each call (a column belongs to one table once added)."""
    return (
        sa.Column("source_kind", sa.String(length=16), nullable=False, server_default="mes"),
        sa.Column("affected_lots", sa.String(length=500), nullable=False, server_default=""),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("triage", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("suggested_class", sa.String(length=16), nullable=True),
        sa.Column("classification", sa.String(length=16), nullable=True),
        sa.Column("classification_rationale", sa.String(length=1000), nullable=False, server_default=""),
        sa.Column("classified_at", WHEN, nullable=True),
        sa.Column("classified_by", sa.String(length=64), nullable=True),
        sa.Column("investigation_started_at", WHEN, nullable=True),
        sa.Column("investigator", sa.String(length=64), nullable=True),
        sa.Column("root_cause", sa.String(length=2000), nullable=False, server_default=""),
        sa.Column("why_chain", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("fishbone", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("investigation_conclusion", sa.String(length=2000), nullable=False, server_default=""),
        sa.Column("no_capa_rationale", sa.String(length=1000), nullable=False, server_default=""),
        sa.Column("investigated_at", WHEN, nullable=True),
        sa.Column("investigated_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=False, server_default=""),
    )


OLD_STATUS = "status IN ('open')"
CHECKS = {
    "ck_deviations_status": (
        "status IN ('open', 'classified', 'investigating', 'investigated', 'closed', 'cancelled')"
    ),
    "ck_deviations_source_kind": "source_kind IN ('mes', 'lims', 'monitoring', 'wms', 'manual')",
    "ck_deviations_classification": "classification IS NULL OR classification IN ('minor', 'major', 'critical')",
    "ck_deviations_suggested_class": (
        "suggested_class IS NULL OR suggested_class IN ('minor', 'major', 'critical')"
    ),
    "ck_deviations_category": (
        "category IS NULL OR category IN ('process', 'equipment', 'material', 'environment', 'facility', "
        "'documentation', 'laboratory', 'storage', 'personnel', 'other')"
    ),
    "ck_deviations_classified": (
        "status IN ('open', 'cancelled') OR (classification IS NOT NULL AND classified_at IS NOT NULL "
        "AND category IS NOT NULL)"
    ),
    "ck_deviations_rationale": "classification IS NULL OR length(classification_rationale) >= 2",
    "ck_deviations_investigated": (
        "status NOT IN ('investigated', 'closed') OR (investigated_at IS NOT NULL "
        "AND length(root_cause) >= 2 AND length(investigation_conclusion) >= 2)"
    ),
    "ck_deviations_closed": (
        "status <> 'closed' OR (closed_at IS NOT NULL AND closed_by IS NOT NULL AND closed_by <> recorded_by)"
    ),
    "ck_deviations_cancelled": (
        "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND length(cancel_reason) >= 2)"
    ),
}


def _sqlite_rewrite_checks() -> None:
    """Replace the seam's status CHECK by the lifecycle's CHECKs in SQLite's stored schema."""
    bind = op.get_bind()
    stored = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'deviations'"
    )
    sql = str(stored.scalar_one())
    old = f"CONSTRAINT ck_deviations_status CHECK ({OLD_STATUS})"
    assert old in sql, "the seam's deviations table as migration 0016 made it"
    new = ", ".join(f"CONSTRAINT {name} CHECK ({check})" for name, check in CHECKS.items())
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'deviations'",
        (sql.replace(old, new),),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column in _new_columns():
        op.add_column("deviations", column)
    if sqlite:
        _sqlite_rewrite_checks()
    else:
        op.drop_constraint(op.f("ck_deviations_status"), "deviations", type_="check")
        for name, check in CHECKS.items():
            op.create_check_constraint(op.f(name), "deviations", check)
    op.create_index("ix_deviations_status", "deviations", ["status"], unique=False)

    op.create_table(
        "deviation_impacts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deviation_id", ID, nullable=False),
        sa.Column("object_kind", sa.String(length=8), nullable=False),
        sa.Column("object_ref", sa.String(length=32), nullable=False),
        sa.Column("conclusion", sa.String(length=32), nullable=False),
        sa.Column("rationale", sa.String(length=1000), nullable=False),
        sa.Column("assessed_at", WHEN, nullable=False),
        sa.Column("assessed_by", sa.String(length=64), nullable=False),
        sa.Column("assessed_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("object_kind IN ('batch', 'lot')", name=op.f("ck_deviation_impacts_object_kind")),
        sa.CheckConstraint(
            "conclusion IN ('no_impact', 'impact_acceptable', 'reprocess', 'reject')",
            name=op.f("ck_deviation_impacts_conclusion"),
        ),
        sa.CheckConstraint("length(rationale) >= 2", name=op.f("ck_deviation_impacts_rationale")),
        sa.CheckConstraint("length(object_ref) >= 1", name=op.f("ck_deviation_impacts_object_ref")),
        sa.ForeignKeyConstraint(
            ["deviation_id"], ["deviations.id"], name=op.f("fk_deviation_impacts_deviation_id_deviations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deviation_impacts")),
    )
    op.create_index("ix_deviation_impacts_deviation_id", "deviation_impacts", ["deviation_id"], unique=False)
    op.create_index(
        "ix_deviation_impacts_object", "deviation_impacts", ["object_kind", "object_ref"], unique=False
    )
    op.create_table(
        "deviation_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deviation_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=True),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "kind IN ('recorded', 'classified', 'immediate_action', 'investigation_started', 'investigated', "
            "'impact', 'escalated', 'closed', 'cancelled', 'note')",
            name=op.f("ck_deviation_events_kind"),
        ),
        sa.CheckConstraint(
            "step IS NULL OR step IN ('triage', 'investigation', 'closure')",
            name=op.f("ck_deviation_events_step"),
        ),
        sa.CheckConstraint(
            "kind <> 'escalated' OR step IS NOT NULL", name=op.f("ck_deviation_events_escalation_step")
        ),
        sa.ForeignKeyConstraint(
            ["deviation_id"], ["deviations.id"], name=op.f("fk_deviation_events_deviation_id_deviations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deviation_events")),
    )
    op.create_index("ix_deviation_events_deviation_id", "deviation_events", ["deviation_id"], unique=False)
    op.create_index(
        "uq_deviation_events_escalation",
        "deviation_events",
        ["deviation_id", "step"],
        unique=True,
        sqlite_where=sa.text("kind = 'escalated'"),
        postgresql_where=sa.text("kind = 'escalated'"),
    )
    op.create_table(
        "deviation_closures",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deviation_id", ID, nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("closed_at", WHEN, nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.Column("closed_by_name", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_deviation_closures_content_sm3")),
        sa.ForeignKeyConstraint(
            ["deviation_id"], ["deviations.id"], name=op.f("fk_deviation_closures_deviation_id_deviations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deviation_closures")),
    )
    op.create_index("uq_deviation_closures_deviation_id", "deviation_closures", ["deviation_id"], unique=True)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("deviation_closures", "deviation_events", "deviation_impacts"):
        op.drop_table(table)
    op.drop_index("ix_deviations_status", "deviations")
    if op.get_bind().dialect.name == "postgresql":
        for name in CHECKS:
            op.drop_constraint(op.f(name), "deviations", type_="check")
        op.create_check_constraint(op.f("ck_deviations_status"), "deviations", OLD_STATUS)
        for column in _new_columns():
            op.drop_column("deviations", column.name)
    # SQLite: the added columns and constraints stay (dropping them would rebuild the referenced table).
