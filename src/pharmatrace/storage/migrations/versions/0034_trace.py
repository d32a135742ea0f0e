"""serialization and traceability: identifiers, code pools, codes, events, customers, shipments (SH-6.2.5)

Revision ID: 0034
Revises: 0033
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)
VOID = "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)"
STATES = "('available', 'allocated', 'commissioned', 'packed', 'shipped', 'returned', 'decommissioned')"
REASONS = "('sample', 'damaged', 'destroyed', 'stolen', 'rejected')"
ACTIONS = (
    "('import', 'generate', 'allocate', 'deallocate', 'commission', 'decommission', 'reactivate', 'pack', "
    "'unpack', 'ship', 'return', 'restock')"
)

# GMP records changed with a reason, voided, never deleted; and the codes, changed only inside a unit of work
# (each change an event item), never deleted, their identity columns never changed.
TABLES = ("trace_identifiers", "trace_pools", "trace_customers", "trace_shipments", "trace_codes")
# Events and their items: never changed, never deleted, written only by the unit of work.
APPEND_ONLY = ("trace_events", "trace_event_items")


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}"))


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"))


def _ck(table: str, name: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{name}"))


def _created() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
    ]


def _void() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
    ]


def upgrade() -> None:
    t = "trace_identifiers"
    op.create_table(
        t,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("scheme", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=14), nullable=False),
        sa.Column("material_id", ID, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("pack_quantity", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        *_created(),
        *_void(),
        _ck(t, "scheme", "scheme IN ('nmpa', 'gs1')"),
        _ck(t, "level", "level IN (1, 2, 3)"),
        _ck(
            t,
            "code_length",
            "(scheme = 'nmpa' AND length(code) = 7) OR (scheme = 'gs1' AND length(code) = 14)",
        ),
        _ck(t, "pack_quantity", "pack_quantity >= 1 AND (level > 1 OR pack_quantity = 1)"),
        _ck(t, "void_reason", VOID),
        _fk(t, "material_id", "materials"),
        _pk(t),
        sa.UniqueConstraint("code", name=op.f(f"uq_{t}_code")),
    )
    op.create_index("ix_trace_identifiers_material", t, ["material_id", "level"])

    t = "trace_pools"
    op.create_table(
        t,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("identifier_id", ID, nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("file_sm3", sa.String(length=64), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        *_created(),
        _ck(t, "origin", "origin IN ('issuer_file', 'generated')"),
        _ck(t, "count", "count >= 1"),
        _ck(t, "file_sm3", "origin <> 'issuer_file' OR length(file_sm3) = 64"),
        _fk(t, "identifier_id", "trace_identifiers"),
        _pk(t),
        sa.UniqueConstraint("number", name=op.f(f"uq_{t}_number")),
    )
    op.create_index("ix_trace_pools_identifier", t, ["identifier_id"])

    t = "trace_customers"
    op.create_table(
        t,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("licence_no", sa.String(length=64), nullable=False),
        *_created(),
        *_void(),
        _ck(t, "kind", "kind IN ('distributor', 'hospital', 'pharmacy', 'other')"),
        _ck(t, "names", "length(code) >= 2 AND length(name) >= 2"),
        _ck(t, "void_reason", VOID),
        _pk(t),
        sa.UniqueConstraint("code", name=op.f(f"uq_{t}_code")),
    )

    t = "trace_shipments"
    op.create_table(
        t,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        *_created(),
        sa.Column("shipped_at", WHEN, nullable=True),
        _ck(t, "status", "status IN ('picking', 'shipped', 'cancelled')"),
        _ck(t, "shipped_at", "(status = 'shipped') = (shipped_at IS NOT NULL)"),
        _fk(t, "customer_id", "trace_customers"),
        _pk(t),
        sa.UniqueConstraint("number", name=op.f(f"uq_{t}_number")),
    )
    op.create_index("ix_trace_shipments_customer", t, ["customer_id"])

    t = "trace_codes"
    op.create_table(
        t,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("identifier_id", ID, nullable=True),
        sa.Column("pool_id", ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=True),
        sa.Column("batch_order_id", ID, nullable=True),
        sa.Column("line", sa.String(length=32), nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("shipment_id", ID, nullable=True),
        _ck(t, "state", f"state IN {STATES}"),
        _ck(t, "level", "level IN (1, 2, 3, 4)"),
        _ck(t, "identifier", "(level = 4) = (identifier_id IS NULL)"),
        _ck(t, "disposition", "(state = 'decommissioned') = (disposition IS NOT NULL)"),
        _ck(t, "disposition_values", f"disposition IS NULL OR disposition IN {REASONS}"),
        _ck(
            t, "batch", "state IN ('available', 'decommissioned') OR level = 4 OR batch_order_id IS NOT NULL"
        ),
        _ck(t, "packed_parent", "state <> 'packed' OR parent_id IS NOT NULL"),
        _ck(t, "unused_no_parent", "state NOT IN ('available', 'allocated') OR parent_id IS NULL"),
        _ck(t, "not_own_parent", "parent_id IS NULL OR parent_id <> id"),
        _ck(t, "shipped_shipment", "state <> 'shipped' OR shipment_id IS NOT NULL"),
        _fk(t, "identifier_id", "trace_identifiers"),
        _fk(t, "pool_id", "trace_pools"),
        _fk(t, "batch_order_id", "batch_orders"),
        _fk(t, "parent_id", "trace_codes"),
        _fk(t, "shipment_id", "trace_shipments"),
        _pk(t),
        sa.UniqueConstraint("value", name=op.f(f"uq_{t}_value")),
    )
    op.create_index("ix_trace_codes_batch_state", t, ["batch_order_id", "state"])
    op.create_index("ix_trace_codes_batch_level", t, ["batch_order_id", "level", "id"])
    op.create_index("ix_trace_codes_pool_state", t, ["pool_id", "state"])
    op.create_index("ix_trace_codes_parent", t, ["parent_id"])
    op.create_index("ix_trace_codes_shipment", t, ["shipment_id"])

    t = "trace_events"
    op.create_table(
        t,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("pool_id", ID, nullable=True),
        sa.Column("batch_order_id", ID, nullable=True),
        sa.Column("line", sa.String(length=32), nullable=False),
        sa.Column("parent_code_id", ID, nullable=True),
        sa.Column("shipment_id", ID, nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("items_sm3", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_by_name", sa.String(length=128), nullable=False),
        _ck(t, "action", f"action IN {ACTIONS}"),
        _ck(t, "count", "count >= 1"),
        _ck(t, "items_sm3", "length(items_sm3) = 64"),
        _ck(
            t,
            "reason",
            "action NOT IN ('decommission', 'reactivate', 'unpack', 'deallocate', 'return', 'restock') "
            "OR length(reason) >= 2",
        ),
        _ck(t, "decommission_disposition", f"action <> 'decommission' OR disposition IN {REASONS}"),
        _fk(t, "pool_id", "trace_pools"),
        _fk(t, "batch_order_id", "batch_orders"),
        _fk(t, "parent_code_id", "trace_codes"),
        _fk(t, "shipment_id", "trace_shipments"),
        _pk(t),
        sa.UniqueConstraint("event_key", name=op.f(f"uq_{t}_event_key")),
    )
    op.create_index("ix_trace_events_batch", t, ["batch_order_id"])
    op.create_index("ix_trace_events_shipment", t, ["shipment_id"])

    t = "trace_event_items"
    op.create_table(
        t,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("code_id", ID, nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        _ck(t, "to_state", f"to_state IN {STATES}"),
        _ck(t, "from_state", f"from_state IS NULL OR from_state IN {STATES}"),
        _fk(t, "event_id", "trace_events"),
        _fk(t, "code_id", "trace_codes"),
        sa.ForeignKeyConstraint(["parent_id"], ["trace_codes.id"], name=op.f("fk_trace_event_items_parent")),
        _pk(t),
    )
    op.create_index("ix_trace_event_items_event", t, ["event_id"])
    op.create_index("ix_trace_event_items_code", t, ["code_id", "event_id"])

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    guards.immutable_columns("trace_codes", ("value", "level", "identifier_id", "pool_id"))
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in (*APPEND_ONLY, "trace_codes", "trace_shipments", "trace_customers", "trace_pools",
                  "trace_identifiers"):  # fmt: skip
        op.drop_table(table)
