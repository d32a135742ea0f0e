"""LIMS test orders, tests, results, OOS cases (TJ-7.3, TJ-7.4, TJ-7.7)

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pharmatrace.storage.base
from pharmatrace.storage import guards

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = pharmatrace.storage.base.UTCDateTime(timezone=True)

# Orders are voided with a reason, tests re-assigned, OOS cases move on (phase, status): never deleted.
TABLES = ("lims_test_orders", "lims_tests", "lims_oos_cases")
# Result versions, their raw data, reagents, files and reviews (signed): never changed, never deleted.
APPEND_ONLY = (
    "lims_results",
    "lims_result_raws",
    "lims_result_reagents",
    "lims_result_files",
    "lims_result_reviews",
)


def upgrade() -> None:
    op.create_table(
        "lims_test_orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("sample_id", ID, nullable=False),
        sa.Column("sample_code", sa.String(length=32), nullable=False),
        sa.Column("lot_id", ID, nullable=False),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        sa.Column("material_id", ID, nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("material_name", sa.String(length=128), nullable=False),
        sa.Column("spec_version_id", ID, nullable=False),
        sa.Column("spec_code", sa.String(length=32), nullable=False),
        sa.Column("spec_version", sa.Integer(), nullable=False),
        sa.Column("spec_title", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_by_name", sa.String(length=128), nullable=False),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "source IN ('receipt', 'batch', 'stability', 'other')", name=op.f("ck_lims_test_orders_source")
        ),
        sa.CheckConstraint("spec_version >= 1", name=op.f("ck_lims_test_orders_spec_version")),
        sa.CheckConstraint(
            "(voided_at IS NULL) = (void_reason IS NULL)", name=op.f("ck_lims_test_orders_void_reason")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_lims_test_orders_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_lims_test_orders_material_id_materials")
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["lims_samples.id"], name=op.f("fk_lims_test_orders_sample_id_lims_samples")
        ),
        sa.ForeignKeyConstraint(
            ["spec_version_id"],
            ["lims_spec_versions.id"],
            name=op.f("fk_lims_test_orders_spec_version_id_lims_spec_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_test_orders")),
        sa.UniqueConstraint("code", name=op.f("uq_lims_test_orders_code")),
    )
    op.create_index(
        "uq_lims_test_orders_sample_spec",
        "lims_test_orders",
        ["sample_id", "spec_version_id"],
        unique=True,
        sqlite_where=sa.text("voided_at IS NULL"),
        postgresql_where=sa.text("voided_at IS NULL"),
    )
    op.create_index("ix_lims_test_orders_lot_id", "lims_test_orders", ["lot_id"])
    op.create_index("ix_lims_test_orders_material_code", "lims_test_orders", ["material_code"])

    op.create_table(
        "lims_tests",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("spec_item_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_name", sa.String(length=128), nullable=False),
        sa.Column("analyst", sa.String(length=64), nullable=True),
        sa.Column("analyst_name", sa.String(length=128), nullable=True),
        sa.Column("assigned_at", WHEN, nullable=True),
        sa.Column("assigned_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("position >= 1", name=op.f("ck_lims_tests_position")),
        sa.CheckConstraint(
            "(analyst IS NULL) = (assigned_at IS NULL) AND (analyst IS NULL) = (analyst_name IS NULL)",
            name=op.f("ck_lims_tests_assignment"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["lims_test_orders.id"], name=op.f("fk_lims_tests_order_id_lims_test_orders")
        ),
        sa.ForeignKeyConstraint(
            ["spec_item_id"], ["lims_spec_items.id"], name=op.f("fk_lims_tests_spec_item_id_lims_spec_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_tests")),
    )
    op.create_index("uq_lims_tests_item", "lims_tests", ["order_id", "spec_item_id"], unique=True)
    op.create_index("ix_lims_tests_analyst", "lims_tests", ["analyst"])

    op.create_table(
        "lims_result_files",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("test_id", ID, nullable=False),
        sa.Column("sm3", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("instrument_code", sa.String(length=32), nullable=False),
        sa.Column("parsed", sa.Text(), nullable=False),
        sa.Column("uploaded_at", WHEN, nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "format IN ('balance_csv', 'ph_csv', 'hplc_csv')", name=op.f("ck_lims_result_files_format")
        ),
        sa.CheckConstraint("length(sm3) = 64", name=op.f("ck_lims_result_files_sm3")),
        sa.CheckConstraint("size > 0", name=op.f("ck_lims_result_files_size")),
        sa.ForeignKeyConstraint(
            ["test_id"], ["lims_tests.id"], name=op.f("fk_lims_result_files_test_id_lims_tests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_result_files")),
    )
    op.create_index("ix_lims_result_files_test_id", "lims_result_files", ["test_id"])

    op.create_table(
        "lims_results",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("test_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("supersedes_id", ID, nullable=True),
        sa.Column("retest_of_id", ID, nullable=True),
        sa.Column("oos_case_code", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("tested_at", WHEN, nullable=False),
        sa.Column("entered_at", WHEN, nullable=False),
        sa.Column("entered_by", sa.String(length=64), nullable=False),
        sa.Column("entered_by_name", sa.String(length=128), nullable=False),
        sa.Column("instrument_id", ID, nullable=True),
        sa.Column("instrument_code", sa.String(length=32), nullable=False),
        sa.Column("instrument_name", sa.String(length=128), nullable=False),
        sa.Column("calibrated_until", WHEN, nullable=True),
        sa.Column("method", sa.String(length=500), nullable=False),
        sa.Column("method_sop", sa.String(length=32), nullable=True),
        sa.Column("formula", sa.String(length=256), nullable=False),
        sa.Column("processing", sa.Text(), nullable=False),
        sa.Column("computed", sa.String(length=64), nullable=True),
        sa.Column("reported", sa.String(length=64), nullable=True),
        sa.Column("answer", sa.String(length=24), nullable=True),
        sa.Column("text_result", sa.String(length=500), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("limit_text", sa.String(length=500), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("rounding", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("verdict_reason", sa.String(length=200), nullable=False),
        sa.Column("oot", sa.Boolean(), nullable=True),
        sa.Column("oot_findings", sa.Text(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "kind IN ('entry', 'correction', 'reprocess', 'retest')", name=op.f("ck_lims_results_kind")
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_lims_results_seq")),
        sa.CheckConstraint(
            "(kind = 'entry' AND supersedes_id IS NULL AND retest_of_id IS NULL) "
            "OR (kind IN ('correction', 'reprocess') AND supersedes_id IS NOT NULL AND retest_of_id IS NULL) "
            "OR (kind = 'retest' AND retest_of_id IS NOT NULL AND supersedes_id IS NULL)",
            name=op.f("ck_lims_results_links"),
        ),
        sa.CheckConstraint("kind = 'entry' OR length(reason) >= 2", name=op.f("ck_lims_results_reason")),
        sa.CheckConstraint("outcome IN ('pass', 'fail', 'review')", name=op.f("ck_lims_results_outcome")),
        sa.CheckConstraint(
            "answer IS NULL OR answer IN ('conforms', 'does_not_conform')",
            name=op.f("ck_lims_results_answer"),
        ),
        sa.CheckConstraint("(computed IS NULL) = (reported IS NULL)", name=op.f("ck_lims_results_numbers")),
        sa.CheckConstraint(
            "computed IS NOT NULL OR answer IS NOT NULL OR text_result IS NOT NULL",
            name=op.f("ck_lims_results_has_result"),
        ),
        sa.CheckConstraint("decimals >= 0 AND decimals <= 10", name=op.f("ck_lims_results_decimals")),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_lims_results_content_sm3")),
        sa.CheckConstraint("tested_at <= entered_at", name=op.f("ck_lims_results_tested_before_entered")),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["equipment.id"], name=op.f("fk_lims_results_instrument_id_equipment")
        ),
        sa.ForeignKeyConstraint(
            ["retest_of_id"], ["lims_results.id"], name=op.f("fk_lims_results_retest_of_id_lims_results")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"], ["lims_results.id"], name=op.f("fk_lims_results_supersedes_id_lims_results")
        ),
        sa.ForeignKeyConstraint(
            ["test_id"], ["lims_tests.id"], name=op.f("fk_lims_results_test_id_lims_tests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_results")),
    )
    op.create_index("uq_lims_results_seq", "lims_results", ["test_id", "seq"], unique=True)
    op.create_index("ix_lims_results_entered_by", "lims_results", ["entered_by"])

    op.create_table(
        "lims_result_raws",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("result_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("file_id", ID, nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.CheckConstraint("source IN ('manual', 'file')", name=op.f("ck_lims_result_raws_source")),
        sa.CheckConstraint(
            "(source = 'file') = (file_id IS NOT NULL)", name=op.f("ck_lims_result_raws_file")
        ),
        sa.CheckConstraint("position >= 1", name=op.f("ck_lims_result_raws_position")),
        sa.CheckConstraint("length(value) >= 1", name=op.f("ck_lims_result_raws_value")),
        sa.ForeignKeyConstraint(
            ["file_id"], ["lims_result_files.id"], name=op.f("fk_lims_result_raws_file_id_lims_result_files")
        ),
        sa.ForeignKeyConstraint(
            ["result_id"], ["lims_results.id"], name=op.f("fk_lims_result_raws_result_id_lims_results")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_result_raws")),
    )
    op.create_index("uq_lims_result_raws_name", "lims_result_raws", ["result_id", "name"], unique=True)

    op.create_table(
        "lims_result_reagents",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("result_id", ID, nullable=False),
        sa.Column("reagent_id", ID, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("lot_no", sa.String(length=64), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reagent_id"],
            ["lims_reagents.id"],
            name=op.f("fk_lims_result_reagents_reagent_id_lims_reagents"),
        ),
        sa.ForeignKeyConstraint(
            ["result_id"], ["lims_results.id"], name=op.f("fk_lims_result_reagents_result_id_lims_results")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_result_reagents")),
    )
    op.create_index(
        "uq_lims_result_reagents_pair", "lims_result_reagents", ["result_id", "reagent_id"], unique=True
    )

    op.create_table(
        "lims_result_reviews",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("result_id", ID, nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("judgement", sa.String(length=8), nullable=True),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("content_sm3", sa.String(length=64), nullable=False),
        sa.Column("reviewed_at", WHEN, nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=False),
        sa.Column("reviewed_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "decision IN ('approved', 'returned')", name=op.f("ck_lims_result_reviews_decision")
        ),
        sa.CheckConstraint(
            "judgement IS NULL OR judgement IN ('pass', 'fail')",
            name=op.f("ck_lims_result_reviews_judgement"),
        ),
        sa.CheckConstraint(
            "decision = 'approved' OR length(comment) >= 2", name=op.f("ck_lims_result_reviews_return_reason")
        ),
        sa.CheckConstraint("length(content_sm3) = 64", name=op.f("ck_lims_result_reviews_content_sm3")),
        sa.ForeignKeyConstraint(
            ["result_id"], ["lims_results.id"], name=op.f("fk_lims_result_reviews_result_id_lims_results")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_result_reviews")),
    )
    op.create_index("ix_lims_result_reviews_result_id", "lims_result_reviews", ["result_id"])

    op.create_table(
        "lims_oos_cases",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("result_id", ID, nullable=False),
        sa.Column("test_id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("sample_code", sa.String(length=32), nullable=False),
        sa.Column("lot_number", sa.String(length=32), nullable=False),
        sa.Column("material_name", sa.String(length=128), nullable=False),
        sa.Column("item_name", sa.String(length=128), nullable=False),
        sa.Column("limit_text", sa.String(length=500), nullable=False),
        sa.Column("result_text", sa.String(length=200), nullable=False),
        sa.Column("phase", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", WHEN, nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_by_name", sa.String(length=128), nullable=False),
        sa.CheckConstraint("phase IN ('I', 'II')", name=op.f("ck_lims_oos_cases_phase")),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_lims_oos_cases_status")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["lims_test_orders.id"], name=op.f("fk_lims_oos_cases_order_id_lims_test_orders")
        ),
        sa.ForeignKeyConstraint(
            ["result_id"], ["lims_results.id"], name=op.f("fk_lims_oos_cases_result_id_lims_results")
        ),
        sa.ForeignKeyConstraint(
            ["test_id"], ["lims_tests.id"], name=op.f("fk_lims_oos_cases_test_id_lims_tests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lims_oos_cases")),
        sa.UniqueConstraint("code", name=op.f("uq_lims_oos_cases_code")),
    )
    op.create_index("uq_lims_oos_cases_result_id", "lims_oos_cases", ["result_id"], unique=True)
    op.create_index("ix_lims_oos_cases_test_id", "lims_oos_cases", ["test_id"])

    for table in TABLES:
        guards.no_delete(table)
        guards.uow_only(table)
    for table in APPEND_ONLY:
        guards.append_only(table)
        guards.uow_only(table)
    guards.grant_app_role()


def downgrade() -> None:
    op.drop_table("lims_oos_cases")
    op.drop_table("lims_result_reviews")
    op.drop_table("lims_result_reagents")
    op.drop_table("lims_result_raws")
    op.drop_table("lims_results")
    op.drop_table("lims_result_files")
    op.drop_table("lims_tests")
    op.drop_table("lims_test_orders")
