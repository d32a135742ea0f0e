"""Quality records: rules the database keeps (SH-7.1.4, SH-7.1.3.c, SH-6.2.4, TJ-9.4, TJ-11)

* An audit finding is not verified by the person who responded to it (four eyes), and a closed or cancelled audit
  is frozen, like a closed complaint or recall (0043).
* A product quality review is not approved by the person who wrote its conclusions; an approved version changes
  only by being superseded (a correction of an approved review is its next version), and a superseded one not at all.
* A failure mode of an FMEA gets the residual-risk acceptance: why a residual risk whose severity still reaches the
  severity threshold is accepted (the approval refuses it without one).

Revision ID: 0047
Revises: 0046
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pharmatrace.storage import guards

revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None


def upgrade() -> None:
    guards.refused_when(
        "qms_audit_findings",
        "verifier",
        "NEW.verified_by IS NOT NULL AND NEW.verified_by = NEW.responded_by",
        "the responder does not verify the response",
    )
    guards.frozen_when("qms_audits", "OLD.status IN ('closed', 'cancelled')", "closed records are frozen")
    guards.refused_when(
        "qms_pqrs",
        "approver",
        "NEW.approved_by IS NOT NULL AND NEW.approved_by = NEW.reviewed_by",
        "the author of the conclusions does not approve them",
    )
    guards.frozen_when(
        "qms_pqrs",
        "OLD.status = 'superseded' OR (OLD.status = 'approved' AND NEW.status <> 'superseded')",
        "approved and superseded versions are frozen",
    )
    op.add_column(
        "qms_risk_items",
        sa.Column("residual_acceptance", sa.String(1000), nullable=False, server_default=""),
    )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    triggers = [("qms_audits", "frozen"), ("qms_pqrs", "frozen")]
    for table, name in (("qms_audit_findings", "verifier"), ("qms_pqrs", "approver")):
        triggers += [(table, name)] if postgresql else [(table, f"{name}_insert"), (table, f"{name}_update")]
    for table, name in triggers:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_{name}" + (f" ON {table}" if postgresql else ""))
    op.execute(
        "ALTER TABLE qms_risk_items DROP COLUMN residual_acceptance"
    )  # SQLite ≥ 3.35 keeps its triggers
