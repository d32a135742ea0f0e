"""SQLite: audit entries guarded by an AFTER INSERT trigger, not a CHECK, so that ``PRAGMA integrity_check`` runs
(SH-7.1.3.c; ADR 0031 addendum)

Migration 0060 refused an INSERT into ``audit_entries`` outside the unit of work by a CHECK calling
``pharmatrace_uow()``, because a BEFORE INSERT trigger makes SQLite compute every generated column twice. But
``PRAGMA integrity_check`` and ``quick_check`` evaluate every CHECK on every stored row: on PharmaTrace's own
connection, outside a unit of work, they reported "CHECK constraint failed in audit_entries"; any other client (the
``sqlite3`` shell, a backup tool) could not run them at all ("unknown function: pharmatrace_uow()"). The CHECK is
taken out of the table's stored definition in place (``guards.rewrite_sqlite_table``: removing a constraint every
row satisfies; no rebuild) and an AFTER INSERT trigger refuses such an INSERT instead — AFTER, because SQLite then
computes the generated columns once. PostgreSQL is unchanged: it guards the table with its usual trigger.

Revision ID: 0061
Revises: 0060
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from pharmatrace.kernel.audit import UOW_CHECK
from pharmatrace.storage import guards

revision = "0061"
down_revision = "0060"
branch_labels = None
depends_on = None

CHECK = f", \n\t{UOW_CHECK}"  # as the last constraint of 0060's definition (kernel.audit.entry_table_sql)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    guards.rewrite_sqlite_table("audit_entries", CHECK, "")
    guards.uow_only("audit_entries", sqlite_verbs=("INSERT",), sqlite_insert_after=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER audit_entries_uow_only_insert")
    guards.rewrite_sqlite_table("audit_entries", "\n)", f"{CHECK}\n)")
