"""The raw values' quality check as equalities joined by OR, not an IN list (SH-8.4.3, issue 11)

``ck_monitoring_values_quality`` said ``quality IN ('good', 'uncertain', 'bad')``. SQLite checks an ``IN`` list of
three or more values by building a lookup table at every row of an ``executemany``: about 1.6 µs of each raw value's
~5 µs insert. The constraint is now ``(quality = 'good' OR quality = 'uncertain' OR quality = 'bad')``
(:func:`pharmatrace.storage.base.one_of`): the same rule, which every stored row already satisfies.

* SQLite: the table's stored definition is rewritten in place, as SQLite documents for changing a constraint that
  the rows already satisfy (https://sqlite.org/lang_altertable.html, "otheralter": ``writable_schema``, the
  schema version moved on so every connection reads the new definition). Rebuilding the table instead would copy
  every raw value and drop its triggers and the alarms' foreign key to it. The old text must be found exactly, or
  the migration stops.
* PostgreSQL: the constraint is dropped and added again (on the partitioned table: on every partition).

Revision ID: 0056
Revises: 0055
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

from pharmatrace.storage import guards
from pharmatrace.storage.base import one_of

revision = "0056"
down_revision = "0055"
branch_labels = None
depends_on = None

TABLE = "monitoring_values"
NAME = "ck_monitoring_values_quality"
QUALITIES = ("good", "uncertain", "bad")
IN_LIST = "quality IN ('good', 'uncertain', 'bad')"


def _replace(old: str, new: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f(NAME), TABLE, type_="check")
        op.create_check_constraint(op.f(NAME), TABLE, new)
        return
    guards.rewrite_sqlite_table(TABLE, f"CONSTRAINT {NAME} CHECK ({old})", f"CONSTRAINT {NAME} CHECK ({new})")


def upgrade() -> None:
    _replace(IN_LIST, one_of("quality", QUALITIES))


def downgrade() -> None:
    _replace(one_of("quality", QUALITIES), IN_LIST)
