"""LIMS: a recorded OOS step is corrected by a later step that names it; OOT re-evaluations of a result awaiting
review (TJ-7.7, TJ-B.2.4.3, TJ-10.1.3.4, SH-7.1.3)

* ``lims_oos_steps`` gets ``corrects_id`` (the step a correction supersedes) and ``reason``. One original step per
  case and kind (the unique index becomes partial), each step corrected at most once (unique ``corrects_id``, so
  only the current content of a phase is corrected), and a correction names its reason. The table stays
  append-only: the original is never changed.
* ``lims_oot_evaluations``: the out-of-trend flag of a result re-evaluated after its entry (the history of the
  same material and test item changed, or a reviewer asked), append-only; the result row keeps its flag at entry.

Revision ID: 0053
Revises: 0052
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0053"
down_revision = "0052"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)
ORIGINAL = sa.text("corrects_id IS NULL")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    # Plain ALTERs on both dialects: SQLite adds the columns and keeps the table's append-only triggers.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("lims_oos_steps")}
    if "corrects_id" not in columns:  # SQLite's downgrade cannot drop it (a foreign key): it stays, unused
        op.execute(
            f"ALTER TABLE lims_oos_steps ADD COLUMN corrects_id {'BIGINT' if postgresql else 'INTEGER'} "
            "CONSTRAINT fk_lims_oos_steps_corrects_id_lims_oos_steps REFERENCES lims_oos_steps (id)"
        )
    op.execute("ALTER TABLE lims_oos_steps ADD COLUMN reason VARCHAR(500) DEFAULT '' NOT NULL")
    op.drop_index("uq_lims_oos_steps_case_kind", table_name="lims_oos_steps")
    op.create_index("uq_lims_oos_steps_case_kind", "lims_oos_steps", ["case_id", "kind"], unique=True,
                    sqlite_where=ORIGINAL, postgresql_where=ORIGINAL)  # fmt: skip
    op.create_index("uq_lims_oos_steps_corrects_id", "lims_oos_steps", ["corrects_id"], unique=True)
    # A CHECK added to an existing table: SQLite cannot ALTER one in without rebuilding the table (and its triggers)
    guards.refused_when("lims_oos_steps", "correction_reason",
                        "NEW.corrects_id IS NOT NULL AND length(NEW.reason) < 2",
                        "a correction names its reason")  # fmt: skip

    op.create_table(
        "lims_oot_evaluations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("result_id", ID, nullable=False),
        sa.Column("oot", sa.Boolean(), nullable=True),
        sa.Column("oot_findings", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("evaluated_at", WHEN, nullable=False),
        sa.Column("evaluated_by", sa.String(length=64), nullable=False),
        sa.Column("evaluated_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("length(reason) >= 2", name=op.f("ck_lims_oot_evaluations_reason")),
        sa.ForeignKeyConstraint(
            ["result_id"], ["lims_results.id"], name=op.f("fk_lims_oot_evaluations_result_id_lims_results")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_oot_evaluations")),
    )
    op.create_index("ix_lims_oot_evaluations_result_id", "lims_oot_evaluations", ["result_id"])
    guards.append_only("lims_oot_evaluations")
    guards.uow_only("lims_oot_evaluations")
    guards.grant_app_role()  # guards.APPEND_ONLY_TABLES names it: INSERT and SELECT only


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.drop_table("lims_oot_evaluations")
    for trigger in (
        ["correction_reason"] if postgresql else ["correction_reason_insert", "correction_reason_update"]
    ):
        op.execute(
            f"DROP TRIGGER IF EXISTS lims_oos_steps_{trigger}" + (" ON lims_oos_steps" if postgresql else "")
        )
    op.drop_index("uq_lims_oos_steps_corrects_id", table_name="lims_oos_steps")
    op.drop_index("uq_lims_oos_steps_case_kind", table_name="lims_oos_steps")
    op.create_index("uq_lims_oos_steps_case_kind", "lims_oos_steps", ["case_id", "kind"], unique=True)
    op.execute("ALTER TABLE lims_oos_steps DROP COLUMN reason")  # SQLite ≥ 3.35 keeps its triggers
    if postgresql:  # SQLite does not drop a column that references a table: it stays, unused (always NULL)
        op.execute("ALTER TABLE lims_oos_steps DROP COLUMN corrects_id")
