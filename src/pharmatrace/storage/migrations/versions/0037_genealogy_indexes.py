"""genealogy indexes: the lots charged into batches, and what batches made and were charged (issue 10)

The genealogy walks these columns set-at-a-time (``pharmatrace.trace.genealogy``); without an index each round of
a forward trace from a lot scans the whole table.

Revision ID: 0037
Revises: 0036
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_material_charges_lot_id", "material_charges", ["lot_id"]),
    ("ix_intermediate_lots_batch_no", "intermediate_lots", ["batch_no"]),
    ("ix_intermediate_movements_batch_no", "intermediate_movements", ["batch_no"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
