"""integrated monitoring: data sources, tags and the historian (SH-8.4.1, SH-8.4.3, TJ-10.1.3.3)

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)
VOID = "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)"

# Sources and tags: GMP configuration, changed with a reason, voided, never deleted.
TABLES = ("monitoring_sources", "monitoring_tags")
# Ingests and the raw values they vouch for: never changed, never deleted, written only by the unit of work.
APPEND_ONLY = ("monitoring_ingests", "monitoring_values")


def upgrade() -> None:
    op.create_table(
        "monitoring_sources",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "protocol IN ('opcua', 'mqtt', 'modbus')", name=op.f("ck_monitoring_sources_protocol")
        ),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_monitoring_sources_code_length")),
        sa.CheckConstraint(VOID, name=op.f("ck_monitoring_sources_void_reason")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_sources")),
        sa.UniqueConstraint("code", name=op.f("uq_monitoring_sources_code")),
    )
    op.create_table(
        "monitoring_tags",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=96), nullable=False),
        sa.Column("source_id", ID, nullable=False),
        sa.Column("equipment_id", ID, nullable=True),
        sa.Column("room_id", ID, nullable=True),
        sa.Column("location", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("data_type", sa.String(length=8), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("low_limit", sa.Numeric(18, 6), nullable=True),
        sa.Column("high_limit", sa.Numeric(18, 6), nullable=True),
        sa.Column("scan_rate_ms", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=256), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "data_type IN ('float', 'decimal', 'int', 'bool')", name=op.f("ck_monitoring_tags_data_type")
        ),
        sa.CheckConstraint("decimals >= 0 AND decimals <= 9", name=op.f("ck_monitoring_tags_decimals")),
        sa.CheckConstraint("scan_rate_ms >= 10", name=op.f("ck_monitoring_tags_scan_rate")),
        sa.CheckConstraint(
            "low_limit IS NULL OR high_limit IS NULL OR low_limit < high_limit",
            name=op.f("ck_monitoring_tags_limits"),
        ),
        sa.CheckConstraint(
            "equipment_id IS NOT NULL OR room_id IS NOT NULL", name=op.f("ck_monitoring_tags_bound")
        ),
        sa.CheckConstraint(VOID, name=op.f("ck_monitoring_tags_void_reason")),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["monitoring_sources.id"],
            name=op.f("fk_monitoring_tags_source_id_monitoring_sources"),
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_monitoring_tags_equipment_id_equipment")
        ),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_monitoring_tags_room_id_rooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_monitoring_tags_name")),
        sa.UniqueConstraint("source_id", "address", name="uq_monitoring_tags_source_address"),
    )
    op.create_index("ix_monitoring_tags_source_id", "monitoring_tags", ["source_id"])
    op.create_table(
        "monitoring_ingests",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("batch_key", sa.String(length=64), nullable=False),
        sa.Column("source_id", ID, nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("first_source_time", WHEN, nullable=True),
        sa.Column("last_source_time", WHEN, nullable=True),
        sa.Column("values_sm3", sa.String(length=64), nullable=False),
        sa.Column("ingested_at", WHEN, nullable=False),
        sa.CheckConstraint("stored >= 0 AND duplicates >= 0", name=op.f("ck_monitoring_ingests_counts")),
        sa.CheckConstraint("length(values_sm3) = 64", name=op.f("ck_monitoring_ingests_values_sm3")),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["monitoring_sources.id"],
            name=op.f("fk_monitoring_ingests_source_id_monitoring_sources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_ingests")),
        sa.UniqueConstraint("batch_key", name=op.f("uq_monitoring_ingests_batch_key")),
    )
    op.create_index("ix_monitoring_ingests_source_id", "monitoring_ingests", ["source_id"])
    op.create_table(
        "monitoring_values",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tag_id", ID, nullable=False),
        sa.Column("ingest_id", ID, nullable=False),
        sa.Column("source_time", WHEN, nullable=False),
        sa.Column("server_time", WHEN, nullable=False),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.Column("number", sa.Double(), nullable=True),
        sa.Column("quality", sa.String(length=10), nullable=False),
        sa.Column("status_code", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "quality IN ('good', 'uncertain', 'bad')", name=op.f("ck_monitoring_values_quality")
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["monitoring_tags.id"], name=op.f("fk_monitoring_values_tag_id_monitoring_tags")
        ),
        sa.ForeignKeyConstraint(
            ["ingest_id"],
            ["monitoring_ingests.id"],
            name=op.f("fk_monitoring_values_ingest_id_monitoring_ingests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_values")),
        sa.UniqueConstraint("tag_id", "source_time", name="uq_monitoring_values_tag_time"),
    )
    op.create_index("ix_monitoring_values_ingest_id", "monitoring_values", ["ingest_id"])
    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    for table in ("monitoring_values", "monitoring_ingests", "monitoring_tags", "monitoring_sources"):
        op.drop_table(table)
