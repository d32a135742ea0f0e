"""weighing records: gross = tare + net compared exactly, in millionths of the unit (TJ-6.3.2.2, TJ-B.2.2.2)

SQLite keeps NUMERIC values as binary floating point, so ``gross = tare + net`` refused true weighings such as
14.8513 g + 200.05 g = 214.9013 g (the float sum is 214.90130000000002). Every weight is stored with six decimals
(``mes.dispensing_models.WEIGHT``): compared as whole millionths of the unit, the sum is exact on PostgreSQL
(numeric) and on SQLite (integers below 2**53, i.e. weights below 9 × 10**9 units).

SQLite cannot alter a CHECK constraint; its documented procedure for changing only a constraint's text
(https://sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema Changes") rewrites the table's
definition in ``sqlite_schema`` under ``writable_schema`` and bumps ``schema_version``. The rows, their
indexes and the append-only and unit-of-work triggers stay untouched, and every row kept satisfies the new text
(it satisfied the stricter old one). PostgreSQL drops and re-creates the named constraint.

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

TABLE = "weighing_records"
NAME = "ck_weighing_records_weights"
OLD = "gross = tare + net"
NEW = "round(gross * 1000000) = round(tare * 1000000) + round(net * 1000000)"


def _replace(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint(op.f(NAME), TABLE, type_="check")  # op.f: the name as it is, not re-conventioned
        op.create_check_constraint(op.f(NAME), TABLE, f"net > 0 AND tare >= 0 AND {new}")
        return
    version = int(bind.execute(text("PRAGMA schema_version")).scalar_one())
    bind.execute(text("PRAGMA writable_schema = ON"))
    changed = bind.execute(
        text(
            "UPDATE sqlite_master SET sql = replace(sql, :old, :new) WHERE type = 'table' AND name = :table"
        ),
        {"old": old, "new": new, "table": TABLE},
    ).rowcount
    bind.execute(text(f"PRAGMA schema_version = {version + 1}"))
    bind.execute(text("PRAGMA writable_schema = OFF"))
    if changed != 1:
        raise RuntimeError(f"{TABLE}: the check {NAME} was not found")
    found = bind.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": TABLE}
    )
    if new not in str(found.scalar_one()):
        raise RuntimeError(f"{TABLE}: the check {NAME} was not rewritten")


def upgrade() -> None:
    _replace(OLD, NEW)


def downgrade() -> None:
    _replace(NEW, OLD)
