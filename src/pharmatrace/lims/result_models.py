"""Test orders, tests, results, raw data, reviews and OOS cases (TJ-7.3, TJ-7.4, TJ-7.7, TJ-10.1.3.4, TJ-B.2.4.3).

* :class:`TestOrder` (检验任务/请验) — one sample tested against one effective specification version, from a
  receipt, a batch or a stability pull point. Voided with a reason while nothing is entered, never deleted.
* :class:`LabTest` — one test per test item of that version, with the analyst it is assigned to.
* :class:`LabResult` (append-only) — one version of a result: the raw entries (:class:`ResultRaw`), the instrument
  and reagents used (:class:`ResultReagent`), the formula, the computed value at full precision, the value
  reported after rounding once, the verdict. A correction or a reprocessing (TJ-10.1.3.4) is a new version that
  supersedes the one before; a retest is a new result linked to the original. Nothing is overwritten: the old
  versions stay visible. ``content_sm3`` hashes the version's canonical content; a review names it.
* :class:`ResultFile` (append-only) — an instrument's export (balance, pH meter, HPLC summary) kept in the
  SM3-addressed file store as raw data, with what was read from it.
* :class:`ResultReview` (append-only) — the second person's approval or return, signed with it (TJ-7.4).
* :class:`OotEvaluation` (append-only) — the out-of-trend flag of a result awaiting review, re-evaluated after its
  entry because the reviewed history of its material and test item changed (or a reviewer asked), with the reason.
  The result keeps its flag at entry; the current flag is the latest re-evaluation's (TJ-7.7).
* :class:`OosCase` — the minimal out-of-specification record a failing result opens at once (phase I laboratory
  investigation, open). The OOS board and phase II build on it.

A test's state and an order's state are derived from these rows (:mod:`pharmatrace.lims.results`), never stored.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

SOURCES = (
    "receipt",  # incoming lot (来料检验)
    "batch",  # a production batch (中间产品、成品)
    "stability",  # a stability pull point
    "other",
)
RESULT_KINDS = (
    "entry",  # the first result of a test
    "correction",  # a corrected version (e.g. after the reviewer returned it)
    "reprocess",  # re-integrated / recomputed from the raw data (TJ-10.1.3.4)
    "retest",  # a new determination; the original stays (an OOS result only through its investigation)
)
OUTCOMES = ("pass", "fail", "review")
ANSWERS = ("conforms", "does_not_conform")
RAW_SOURCES = ("manual", "file")
FILE_FORMATS = ("balance_csv", "ph_csv", "hplc_csv")
DECISIONS = ("approved", "returned")
JUDGEMENTS = ("pass", "fail")
OOS_PHASES = ("I", "II")
OOS_STATUSES = ("open", "closed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class TestOrder(Audited, Base):
    """A test order (检验任务): a sample against an effective specification version (TJ-7.4)."""

    __test__ = False  # not a pytest test class
    __tablename__ = "lims_test_orders"
    __audit_type__ = "lims_test_order"
    __audit_label__ = N_("Test order")
    __table_args__ = (
        CheckConstraint(_in("source", SOURCES), name="source"),
        CheckConstraint("spec_version >= 1", name="spec_version"),
        CheckConstraint("(voided_at IS NULL) = (void_reason IS NULL)", name="void_reason"),
        Index(
            "uq_lims_test_orders_sample_spec",
            "sample_id",
            "spec_version_id",
            unique=True,
            sqlite_where=text("voided_at IS NULL"),
            postgresql_where=text("voided_at IS NULL"),
        ),
        Index("ix_lims_test_orders_lot_id", "lot_id"),
        Index("ix_lims_test_orders_material_code", "material_code"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # JY2611-0001
    sample_id: Mapped[int] = mapped_column(ForeignKey("lims_samples.id"), nullable=False)
    sample_code: Mapped[str] = mapped_column(String(32), nullable=False)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    lot_number: Mapped[str] = mapped_column(String(32), nullable=False)  # PH
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_name: Mapped[str] = mapped_column(String(128), nullable=False)  # YPMC
    spec_version_id: Mapped[int] = mapped_column(ForeignKey("lims_spec_versions.id"), nullable=False)
    spec_code: Mapped[str] = mapped_column(String(32), nullable=False)
    spec_version: Mapped[int] = mapped_column(Integer, nullable=False)
    spec_title: Mapped[str] = mapped_column(String(200), nullable=False)  # ZLBZ / JYYJ
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    source_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)  # batch no., STB-…/T3, receipt
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    requested_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    tests: Mapped[list[LabTest]] = relationship(
        back_populates="order", order_by="LabTest.position", lazy="selectin"
    )


class LabTest(Audited, Base):
    """One test of an order: one test item of the specification version, and its analyst."""

    __tablename__ = "lims_tests"
    __audit_type__ = "lims_test"
    __audit_label__ = N_("Test of a test order")
    __table_args__ = (
        CheckConstraint("position >= 1", name="position"),
        CheckConstraint(
            "(analyst IS NULL) = (assigned_at IS NULL) AND (analyst IS NULL) = (analyst_name IS NULL)",
            name="assignment",
        ),
        Index("uq_lims_tests_item", "order_id", "spec_item_id", unique=True),
        Index("ix_lims_tests_analyst", "analyst"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("lims_test_orders.id"), nullable=False)
    spec_item_id: Mapped[int] = mapped_column(ForeignKey("lims_spec_items.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    item_name: Mapped[str] = mapped_column(String(128), nullable=False)  # JYXM
    analyst: Mapped[str | None] = mapped_column(String(64), nullable=True)  # JYRY
    analyst_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    assigned_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    order: Mapped[TestOrder] = relationship(back_populates="tests", lazy="joined")
    results: Mapped[list[LabResult]] = relationship(
        back_populates="test", order_by="LabResult.seq", lazy="selectin"
    )
    oos_cases: Mapped[list[OosCase]] = relationship(order_by="OosCase.id", lazy="selectin", viewonly=True)


class LabResult(Audited, Base):
    """One version of a result (TJ-7.3): raw entries, instrument, reagents, formula, computed, reported, verdict.

    ``computed`` is the value at full precision and ``reported`` the value rounded once, both as written
    (``14.6``, ``13.0``): text keeps every digit the calculation gave and the places the report shows."""

    __tablename__ = "lims_results"
    __audit_type__ = "lims_result"
    __audit_label__ = N_("Test result (one version)")
    __table_args__ = (
        CheckConstraint(_in("kind", RESULT_KINDS), name="kind"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint(
            "(kind = 'entry' AND supersedes_id IS NULL AND retest_of_id IS NULL) "
            "OR (kind IN ('correction', 'reprocess') AND supersedes_id IS NOT NULL AND retest_of_id IS NULL) "
            "OR (kind = 'retest' AND retest_of_id IS NOT NULL AND supersedes_id IS NULL)",
            name="links",
        ),
        CheckConstraint("kind = 'entry' OR length(reason) >= 2", name="reason"),
        CheckConstraint(_in("outcome", OUTCOMES), name="outcome"),
        CheckConstraint(f"answer IS NULL OR {_in('answer', ANSWERS)}", name="answer"),
        CheckConstraint("(computed IS NULL) = (reported IS NULL)", name="numbers"),
        CheckConstraint(
            "computed IS NOT NULL OR answer IS NOT NULL OR text_result IS NOT NULL", name="has_result"
        ),
        CheckConstraint("decimals >= 0 AND decimals <= 10", name="decimals"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("tested_at <= entered_at", name="tested_before_entered"),
        Index("uq_lims_results_seq", "test_id", "seq", unique=True),
        Index("ix_lims_results_entered_by", "entered_by"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    test_id: Mapped[int] = mapped_column(ForeignKey("lims_tests.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # version 1, 2, … within the test
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("lims_results.id"), nullable=True)
    retest_of_id: Mapped[int | None] = mapped_column(ForeignKey("lims_results.id"), nullable=True)
    oos_case_code: Mapped[str | None] = mapped_column(
        String(32), nullable=True
    )  # a retest under investigation
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    tested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # JYSJ
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    entered_by: Mapped[str] = mapped_column(String(64), nullable=False)  # JYRY
    entered_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), nullable=True)
    instrument_code: Mapped[str] = mapped_column(String(32), nullable=False, default="")  # SBBH
    instrument_name: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # SBMC
    calibrated_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    method: Mapped[str] = mapped_column(String(500), nullable=False, default="")  # JYFF, as the item had it
    method_sop: Mapped[str | None] = mapped_column(String(32), nullable=True)  # JDSOP
    formula: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    processing: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # canonical JSON
    computed: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reported: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answer: Mapped[str | None] = mapped_column(String(24), nullable=True)
    text_result: Mapped[str | None] = mapped_column(String(500), nullable=True)
    unit: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    limit_text: Mapped[str] = mapped_column(String(500), nullable=False)  # ZLBZ
    decimals: Mapped[int] = mapped_column(Integer, nullable=False)
    rounding: Mapped[str] = mapped_column(String(8), nullable=False)
    outcome: Mapped[str] = mapped_column(String(8), nullable=False)
    verdict_reason: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    oot: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # out of trend; None: not evaluated
    oot_findings: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # the rules broken, JSON
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)

    test: Mapped[LabTest] = relationship(back_populates="results", lazy="joined")
    raws: Mapped[list[ResultRaw]] = relationship(order_by="ResultRaw.position", lazy="selectin")
    reagents: Mapped[list[ResultReagent]] = relationship(order_by="ResultReagent.id", lazy="selectin")
    reviews: Mapped[list[ResultReview]] = relationship(order_by="ResultReview.id", lazy="selectin")
    oot_evaluations: Mapped[list[OotEvaluation]] = relationship(
        order_by="OotEvaluation.id", lazy="selectin", viewonly=True
    )


class OotEvaluation(Audited, Base):
    """The out-of-trend flag of a result re-evaluated after its entry (TJ-7.7, append-only): the rules it breaks
    against the reviewed history as it stood then, who or what asked and why."""

    __tablename__ = "lims_oot_evaluations"
    __audit_type__ = "lims_oot_evaluation"
    __audit_label__ = N_("Out-of-trend re-evaluation of a test result")
    __table_args__ = (
        CheckConstraint("length(reason) >= 2", name="reason"),
        Index("ix_lims_oot_evaluations_result_id", "result_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("lims_results.id"), nullable=False)
    oot: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # None: history too short to judge
    oot_findings: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # the rules broken, JSON
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    evaluated_by: Mapped[str] = mapped_column(String(64), nullable=False)
    evaluated_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class ResultRaw(Audited, Base):
    """A raw entry of a result version (原始数据): its name in the formula, the value as given, where it came from
    (typed in, or read from a kept instrument file). A result without a formula keeps its measured value here."""

    __tablename__ = "lims_result_raws"
    __audit_type__ = "lims_result_raw"
    __audit_label__ = N_("Raw value of a test result")
    __table_args__ = (
        CheckConstraint(_in("source", RAW_SOURCES), name="source"),
        CheckConstraint("(source = 'file') = (file_id IS NOT NULL)", name="file"),
        CheckConstraint("position >= 1", name="position"),
        CheckConstraint("length(value) >= 1", name="value"),
        Index("uq_lims_result_raws_name", "result_id", "name", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("lims_results.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(32), nullable=False)
    label: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    value: Mapped[str] = mapped_column(String(64), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    source: Mapped[str] = mapped_column(String(8), nullable=False)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("lims_result_files.id"), nullable=True)
    detail: Mapped[str] = mapped_column(String(500), nullable=False, default="")  # e.g. mean of 2 injections


class ResultReagent(Audited, Base):
    """A reagent, standard or solution a result version used, as it was then (SJSYMC, SJSYPH, SJSYYXQ)."""

    __tablename__ = "lims_result_reagents"
    __audit_type__ = "lims_result_reagent"
    __audit_label__ = N_("Reagent used for a test result")
    __table_args__ = (Index("uq_lims_result_reagents_pair", "result_id", "reagent_id", unique=True),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("lims_results.id"), nullable=False)
    reagent_id: Mapped[int] = mapped_column(ForeignKey("lims_reagents.id"), nullable=False)
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    lot_no: Mapped[str] = mapped_column(String(64), nullable=False)
    expiry_date: Mapped[date] = mapped_column(Date, nullable=False)


class ResultFile(Audited, Base):
    """An instrument's data file kept as raw data (TJ-10.1.3.3.a): its SM3, and what was read from it."""

    __tablename__ = "lims_result_files"
    __audit_type__ = "lims_result_file"
    __audit_label__ = N_("Instrument data file of a test")
    __table_args__ = (
        CheckConstraint(_in("format", FILE_FORMATS), name="format"),
        CheckConstraint("length(sm3) = 64", name="sm3"),
        CheckConstraint("size > 0", name="size"),
        Index("ix_lims_result_files_test_id", "test_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    test_id: Mapped[int] = mapped_column(ForeignKey("lims_tests.id"), nullable=False)
    sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    file_name: Mapped[str] = mapped_column(String(200), nullable=False)
    media_type: Mapped[str] = mapped_column(String(64), nullable=False)
    format: Mapped[str] = mapped_column(String(16), nullable=False)
    instrument_code: Mapped[str] = mapped_column(
        String(32), nullable=False, default=""
    )  # as the file names it
    parsed: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON: header, values
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    uploaded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    uploaded_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class ResultReview(Audited, Base):
    """The second person's decision on a result version (TJ-7.4, FHRY), naming the content hash it decided on.
    Append-only: the signature is given on this row."""

    __tablename__ = "lims_result_reviews"
    __audit_type__ = "lims_result_review"
    __audit_label__ = N_("Review of a test result")
    __table_args__ = (
        CheckConstraint(_in("decision", DECISIONS), name="decision"),
        CheckConstraint(f"judgement IS NULL OR {_in('judgement', JUDGEMENTS)}", name="judgement"),
        CheckConstraint("decision = 'approved' OR length(comment) >= 2", name="return_reason"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        Index("ix_lims_result_reviews_result_id", "result_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("lims_results.id"), nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    judgement: Mapped[str | None] = mapped_column(
        String(8), nullable=True
    )  # a descriptive result, judged here
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reviewed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    reviewed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class OosCase(Audited, Base):
    """An out-of-specification case (超标结果, TJ-7.7, TJ-B.2.4.3), opened automatically with the failing result:
    phase I laboratory investigation, open. Kept minimal: it names the result, and through it the order, the
    sample, the analyst, the instrument and the reagents; the OOS board and phase II are built on it later."""

    __tablename__ = "lims_oos_cases"
    __audit_type__ = "lims_oos_case"
    __audit_label__ = N_("OOS investigation")
    __table_args__ = (
        CheckConstraint(_in("phase", OOS_PHASES), name="phase"),
        CheckConstraint(_in("status", OOS_STATUSES), name="status"),
        Index("uq_lims_oos_cases_result_id", "result_id", unique=True),
        Index("ix_lims_oos_cases_test_id", "test_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # OOS2611-0001
    result_id: Mapped[int] = mapped_column(ForeignKey("lims_results.id"), nullable=False)
    test_id: Mapped[int] = mapped_column(ForeignKey("lims_tests.id"), nullable=False)
    order_id: Mapped[int] = mapped_column(ForeignKey("lims_test_orders.id"), nullable=False)
    sample_code: Mapped[str] = mapped_column(String(32), nullable=False)  # YPMC via the sample
    lot_number: Mapped[str] = mapped_column(String(32), nullable=False)  # YPPH
    material_name: Mapped[str] = mapped_column(String(128), nullable=False)
    item_name: Mapped[str] = mapped_column(String(128), nullable=False)  # CBDJYXM
    limit_text: Mapped[str] = mapped_column(String(500), nullable=False)  # ZLBZ
    result_text: Mapped[str] = mapped_column(String(200), nullable=False)  # JYJG
    phase: Mapped[str] = mapped_column(String(4), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    opened_by: Mapped[str] = mapped_column(String(64), nullable=False)
    opened_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
