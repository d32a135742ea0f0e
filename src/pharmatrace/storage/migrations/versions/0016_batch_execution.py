"""batch orders, control recipes, step execution, exceptions, deviations seam (TJ-6.4)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


ORDER_STATUSES = ("planned", "released", "in_progress", "completed", "reviewed", "cancelled")
STEP_STATES = ("waiting", "ready", "in_progress", "signing", "done")
SIGNOFF_ROLES = ("release", "performed", "verified", "supervisor", "qa", "correction", "decision")
EXCEPTION_KINDS = (
    "limit_excursion", "time_limit", "yield_limit", "ipc_failure", "manual_weighing", "late_entry",
    "correction", "weighing_tolerance", "refused_material", "other",
)  # fmt: skip
EXCEPTION_STATUSES = ("open", "no_deviation", "deviation")


def upgrade() -> None:
    op.create_table(
        "deviations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.Column("immediate_actions", sa.String(length=2000), nullable=False),
        sa.Column("affected_batches", sa.String(length=500), nullable=False),
        sa.Column("affected_products", sa.String(length=500), nullable=False),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.CheckConstraint("status IN ('open')", name=op.f("ck_deviations_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deviations")),
        sa.UniqueConstraint("number", name=op.f("uq_deviations_number")),
    )
    op.create_table(
        "batch_orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("batch_no", sa.String(length=32), nullable=False),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("product_name", sa.String(length=128), nullable=False),
        sa.Column("recipe_code", sa.String(length=32), nullable=False),
        sa.Column("master_version_id", ID, nullable=False),
        sa.Column("batch_size", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("planned_start", WHEN, nullable=False),
        sa.Column("planned_end", WHEN, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("released_at", WHEN, nullable=True),
        sa.Column("released_by", sa.String(length=64), nullable=True),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("completed_at", WHEN, nullable=True),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(_in("status", ORDER_STATUSES), name=op.f("ck_batch_orders_status")),
        sa.CheckConstraint("batch_size > 0", name=op.f("ck_batch_orders_batch_size")),
        sa.CheckConstraint("planned_end >= planned_start", name=op.f("ck_batch_orders_planned_dates")),
        sa.CheckConstraint(
            "status IN ('planned', 'cancelled') OR released_at IS NOT NULL",
            name=op.f("ck_batch_orders_released"),
        ),
        sa.CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND length(cancel_reason) > 0)",
            name=op.f("ck_batch_orders_cancelled"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('completed', 'reviewed') OR completed_at IS NOT NULL",
            name=op.f("ck_batch_orders_completed"),
        ),
        sa.ForeignKeyConstraint(
            ["master_version_id"],
            ["master_recipe_versions.id"],
            name=op.f("fk_batch_orders_master_version_id_master_recipe_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_orders")),
        sa.UniqueConstraint("batch_no", name=op.f("uq_batch_orders_batch_no")),
        sa.UniqueConstraint("order_no", name=op.f("uq_batch_orders_order_no")),
    )
    op.create_index("ix_batch_orders_status", "batch_orders", ["status"], unique=False)
    op.create_table(
        "control_recipes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("batch_order_id", ID, nullable=False),
        sa.Column("master_version_id", ID, nullable=False),
        sa.Column("recipe_code", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_sm3", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint("length(body_sm3) = 64", name=op.f("ck_control_recipes_body_sm3")),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_control_recipes_batch_order_id_batch_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["master_version_id"],
            ["master_recipe_versions.id"],
            name=op.f("fk_control_recipes_master_version_id_master_recipe_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_recipes")),
        sa.UniqueConstraint("batch_order_id", name=op.f("uq_control_recipes_batch_order_id")),
    )
    op.create_table(
        "step_executions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("batch_order_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("operation_code", sa.String(length=32), nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("step_type", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("started_by", sa.String(length=64), nullable=True),
        sa.Column("completed_at", WHEN, nullable=True),
        sa.Column("performed_by", sa.String(length=64), nullable=True),
        sa.Column("verified_at", WHEN, nullable=True),
        sa.Column("verified_by", sa.String(length=64), nullable=True),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("record_sm3", sa.String(length=64), nullable=True),
        sa.CheckConstraint(_in("state", STEP_STATES), name=op.f("ck_step_executions_state")),
        sa.CheckConstraint(
            "state NOT IN ('in_progress', 'signing', 'done') OR started_at IS NOT NULL",
            name=op.f("ck_step_executions_started"),
        ),
        sa.CheckConstraint(
            "state NOT IN ('signing', 'done') OR completed_at IS NOT NULL",
            name=op.f("ck_step_executions_completed"),
        ),
        sa.CheckConstraint(
            "verified_by IS NULL OR verified_by <> performed_by", name=op.f("ck_step_executions_four_eyes")
        ),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_step_executions_batch_order_id_batch_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_executions")),
        sa.UniqueConstraint("batch_order_id", "step_code", name=op.f("uq_step_executions_batch_order_id")),
    )
    op.create_index("ix_step_executions_state", "step_executions", ["state"], unique=False)
    op.create_table(
        "batch_exceptions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("batch_order_id", ID, nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("raised_at", WHEN, nullable=False),
        sa.Column("raised_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_comment", sa.String(length=2000), nullable=True),
        sa.Column("deviation_id", ID, nullable=True),
        sa.CheckConstraint(_in("kind", EXCEPTION_KINDS), name=op.f("ck_batch_exceptions_kind")),
        sa.CheckConstraint(_in("status", EXCEPTION_STATUSES), name=op.f("ck_batch_exceptions_status")),
        sa.CheckConstraint(
            "status = 'open' OR (decided_at IS NOT NULL AND length(decision_comment) > 0)",
            name=op.f("ck_batch_exceptions_decided"),
        ),
        sa.CheckConstraint(
            "status <> 'deviation' OR deviation_id IS NOT NULL", name=op.f("ck_batch_exceptions_deviation")
        ),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_batch_exceptions_batch_order_id_batch_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["deviation_id"], ["deviations.id"], name=op.f("fk_batch_exceptions_deviation_id_deviations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_exceptions")),
    )
    op.create_index(
        "ix_batch_exceptions_batch_order_id", "batch_exceptions", ["batch_order_id"], unique=False
    )
    op.create_index("ix_batch_exceptions_status", "batch_exceptions", ["status"], unique=False)
    op.create_table(
        "batch_signoffs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("batch_order_id", ID, nullable=False),
        sa.Column("step_code", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("covers_sm3", sa.String(length=64), nullable=False),
        sa.Column("exception_id", ID, nullable=True),
        sa.Column("signed_at", WHEN, nullable=False),
        sa.Column("signed_by", sa.String(length=64), nullable=False),
        sa.Column("signed_by_name", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.CheckConstraint(_in("role", SIGNOFF_ROLES), name=op.f("ck_batch_signoffs_role")),
        sa.ForeignKeyConstraint(
            ["batch_order_id"],
            ["batch_orders.id"],
            name=op.f("fk_batch_signoffs_batch_order_id_batch_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["exception_id"],
            ["batch_exceptions.id"],
            name=op.f("fk_batch_signoffs_exception_id_batch_exceptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_signoffs")),
    )
    op.create_index("ix_batch_signoffs_batch_order_id", "batch_signoffs", ["batch_order_id"], unique=False)
    op.create_table(
        "step_corrections",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("step_execution_id", ID, nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("old_value", sa.String(length=500), nullable=False),
        sa.Column("new_value", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("corrected_at", WHEN, nullable=False),
        sa.Column("corrected_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("length(reason) >= 2", name=op.f("ck_step_corrections_reason")),
        sa.ForeignKeyConstraint(
            ["step_execution_id"],
            ["step_executions.id"],
            name=op.f("fk_step_corrections_step_execution_id_step_executions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_corrections")),
    )
    op.create_index(
        "ix_step_corrections_step_execution_id", "step_corrections", ["step_execution_id"], unique=False
    )
    for table in ("deviations", "batch_orders", "step_executions", "batch_exceptions"):
        guards.no_delete(table)
        guards.uow_only(table)
    for table in ("control_recipes", "batch_signoffs", "step_corrections"):
        guards.append_only(table)  # a frozen copy, signatures, corrections: never changed or removed
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("step_corrections", "batch_signoffs", "batch_exceptions", "step_executions", "control_recipes",
                  "batch_orders", "deviations"):  # fmt: skip
        op.drop_table(table)
