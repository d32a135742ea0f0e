"""QMS recalls: the recall, its customers, returns and signed decisions (SH-6.2.4, TJ-9.1; issue 9 item 5)

Revision ID: 0039
Revises: 0038
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

# The recall and its customer rows change along the lifecycle (notification, closure), never deleted.
TABLES = ("qms_recalls", "qms_recall_customers")
# The returns and the signed decisions: never changed, never deleted.
APPEND_ONLY = ("qms_recall_returns", "qms_recall_decisions")

RECALL_CHECKS = (
    ("kind IN ('voluntary', 'ordered', 'mock')", "kind"),
    ("level IN (1, 2, 3)", "level"),
    ("status IN ('draft', 'open', 'closed', 'cancelled')", "status"),
    ("length(number) >= 6", "number"),
    ("length(start_ref) >= 2", "start_ref"),
    ("length(hazard_assessment) >= 2", "hazard_assessment"),
    ("length(reason) >= 2", "reason"),
    ("units_total >= 0 AND shipped_units >= 0", "units"),
    ("(status IN ('draft', 'cancelled')) = (opened_at IS NULL)", "opened_at"),
    (
        "opened_at IS NULL OR (opened_by IS NOT NULL AND notify_due IS NOT NULL AND impact_sm3 IS NOT NULL "
        "AND length(impact_sm3) = 64 AND batches IS NOT NULL AND shipments IS NOT NULL)",
        "opened",
    ),
    ("(status = 'closed') = (closed_at IS NOT NULL)", "closed_at"),
    (
        "status <> 'closed' OR (closed_by IS NOT NULL AND length(effectiveness) >= 2 "
        "AND returned_units IS NOT NULL)",
        "closed",
    ),
    ("(status = 'cancelled') = (cancelled_at IS NOT NULL)", "cancelled_at"),
    ("status <> 'cancelled' OR (cancel_reason IS NOT NULL AND length(cancel_reason) >= 2)", "cancelled"),
)
CUSTOMER_CHECKS = (
    ("length(customer_code) >= 1", "customer_code"),
    ("units_shipped >= 0", "units_shipped"),
    (
        "notify_method IS NULL OR notify_method IN ('phone', 'fax', 'email', 'letter', 'visit')",
        "notify_method",
    ),
    (
        "(notified_at IS NULL) = (notify_method IS NULL) AND (notified_at IS NULL) = (notified_by IS NULL)",
        "notified",
    ),
    ("acknowledged_at IS NULL OR notified_at IS NOT NULL", "acknowledged"),
)


def _checks(table: str, checks: tuple[tuple[str, str], ...]) -> list[sa.CheckConstraint]:
    return [sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{name}")) for sql, name in checks]


def _complaints_exist() -> bool:
    # Migration 0038 creates qms_complaints; the link is a foreign key once that table is there.
    return sa.inspect(op.get_bind()).has_table("qms_complaints")


def upgrade() -> None:
    complaint_fk = (
        [sa.ForeignKeyConstraint(["complaint_id"], ["qms_complaints.id"],
                                 name=op.f("fk_qms_recalls_complaint_id_qms_complaints"))]
        if _complaints_exist() else []
    )  # fmt: skip
    op.create_table(
        "qms_recalls",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("start_ref", sa.String(length=64), nullable=False),
        sa.Column("start_kind", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("hazard_assessment", sa.String(length=2000), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("complaint_id", ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_by_name", sa.String(length=128), nullable=False),
        sa.Column("opened_at", WHEN, nullable=True),
        sa.Column("opened_by", sa.String(length=64), nullable=True),
        sa.Column("notify_due", WHEN, nullable=True),
        sa.Column("batches", sa.Text(), nullable=True),
        sa.Column("shipments", sa.Text(), nullable=True),
        sa.Column("units_total", sa.Integer(), nullable=False),
        sa.Column("shipped_units", sa.Integer(), nullable=False),
        sa.Column("impact_sm3", sa.String(length=64), nullable=True),
        sa.Column("held_lots", sa.String(length=2000), nullable=False),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("effectiveness", sa.String(length=2000), nullable=True),
        sa.Column("returned_units", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        *_checks("qms_recalls", RECALL_CHECKS),
        *complaint_fk,
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_recalls")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_recalls_number")),
    )
    op.create_index("ix_qms_recalls_status", "qms_recalls", ["status"])
    op.create_index("ix_qms_recalls_start_ref", "qms_recalls", ["start_ref"])
    op.create_index("ix_qms_recalls_complaint_id", "qms_recalls", ["complaint_id"])
    op.create_table(
        "qms_recall_customers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("recall_id", ID, nullable=False),
        sa.Column("customer_code", sa.String(length=32), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("shipments", sa.String(length=2000), nullable=False),
        sa.Column("units_shipped", sa.Integer(), nullable=False),
        sa.Column("notified_at", WHEN, nullable=True),
        sa.Column("notified_by", sa.String(length=64), nullable=True),
        sa.Column("notified_by_name", sa.String(length=128), nullable=True),
        sa.Column("notify_method", sa.String(length=16), nullable=True),
        sa.Column("notify_note", sa.String(length=500), nullable=False),
        sa.Column("acknowledged_at", WHEN, nullable=True),
        sa.Column("acknowledged_note", sa.String(length=500), nullable=False),
        *_checks("qms_recall_customers", CUSTOMER_CHECKS),
        sa.ForeignKeyConstraint(
            ["recall_id"], ["qms_recalls.id"], name=op.f("fk_qms_recall_customers_recall_id_qms_recalls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_recall_customers")),
    )
    op.create_index(
        "uq_qms_recall_customers_code", "qms_recall_customers", ["recall_id", "customer_code"], unique=True
    )
    op.create_table(
        "qms_recall_returns",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("recall_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_qms_recall_returns_quantity")),
        sa.ForeignKeyConstraint(
            ["recall_id"], ["qms_recalls.id"], name=op.f("fk_qms_recall_returns_recall_id_qms_recalls")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["qms_recall_customers.id"],
            name=op.f("fk_qms_recall_returns_customer_id_qms_recall_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_recall_returns")),
    )
    op.create_index("ix_qms_recall_returns_customer", "qms_recall_returns", ["customer_id"])
    op.create_table(
        "qms_recall_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("recall_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("returned_units", sa.Integer(), nullable=False),
        sa.Column("shipped_units", sa.Integer(), nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("kind IN ('open', 'close')", name=op.f("ck_qms_recall_decisions_kind")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_qms_recall_decisions_content_sm3")),
        sa.CheckConstraint(
            "returned_units >= 0 AND shipped_units >= 0", name=op.f("ck_qms_recall_decisions_units")
        ),
        sa.ForeignKeyConstraint(
            ["recall_id"], ["qms_recalls.id"], name=op.f("fk_qms_recall_decisions_recall_id_qms_recalls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_recall_decisions")),
    )
    op.create_index(
        "uq_qms_recall_decisions_kind", "qms_recall_decisions", ["recall_id", "kind"], unique=True
    )

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("qms_recall_decisions", "qms_recall_returns", "qms_recall_customers", "qms_recalls"):
        op.drop_table(table)
