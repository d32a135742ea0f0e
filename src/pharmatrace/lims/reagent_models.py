"""Reagents, reference standards, solutions and volumetric standard solutions of the laboratory
(试剂、标准品/对照品、试液、滴定液; TJ-7.6, TJ-B.2.4.2).

The pieces::

    Reagent ─ one container (bottle) with its code and label: a received reagent or reference standard, or a
              solution prepared in the laboratory. What holds now (in use, expired, used up, destroyed,
              awaiting standardization) is derived from dates and the usage log, never stored as a status.
    ReagentLogEntry ─ append-only usage log of a container: receipt, preparation, opening, issue (领用),
              consumption, return (归还), retest, invalidation (失效), destruction (销毁).
    SolutionComponent ─ append-only: which containers, how much, went into a prepared solution.
    Standardization ─ append-only, signed: one round of replicate titrations of a volumetric solution
              (初标 by one analyst, 复标 by a second person); the accepted verification gives the
              concentration and the F factor, rounded once by GB/T 8170.

``remaining`` is the quantity left in the container in storage (the database refuses a negative one); what
an analyst took and has not yet returned is the open issues in the log.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

KINDS = ("reagent", "reference_standard", "solution", "volumetric_solution")
RECEIVED_KINDS = ("reagent", "reference_standard")  # received from a supplier
PREPARED_KINDS = ("solution", "volumetric_solution")  # prepared in the laboratory
CODE_PREFIXES = {"reagent": "RG", "reference_standard": "RS", "solution": "SL", "volumetric_solution": "VS"}

LOG_KINDS = (
    "receipt",  # 入库
    "preparation",  # 配制
    "opening",  # 开启
    "issue",  # 领用 (returnable)
    "consumption",  # 配制消耗 (used in a preparation, not returned)
    "return",  # 归还
    "retest",  # 复验
    "invalidation",  # 失效
    "destruction",  # 销毁
)
STANDARDIZATION_ROLES = ("primary", "verification")  # 初标, 复标

QUANTITY = Decimal("0.0001")  # Numeric(14, 4)
CONCENTRATION = Decimal("0.00000001")  # Numeric(18, 8)
PERCENT = Decimal("0.0001")  # Numeric(10, 4)
CONTENT = Decimal("0.001")  # Numeric(7, 3)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _scaled(value: Decimal | None, unit: Decimal) -> Decimal | None:
    # Held at the column's scale, so the ledger entry and the row read back are the same (500 → 500.0000).
    return None if value is None else Decimal(value).quantize(unit)


class Reagent(Audited, Base):
    """One container of a reagent, reference standard or solution, with its own code and label (瓶)."""

    __tablename__ = "lims_reagents"
    __audit_type__ = "lims_reagent"
    __audit_label__ = N_("Reagent, reference standard or solution container")
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint("length(code) >= 4", name="code_length"),
        CheckConstraint("length(name) >= 1 AND length(lot_no) >= 1", name="identity"),
        CheckConstraint("quantity > 0 AND remaining >= 0 AND remaining <= quantity", name="quantity"),
        CheckConstraint("length(unit) >= 1", name="unit"),
        CheckConstraint("retest_date IS NULL OR retest_date <= expiry_date", name="retest_before_expiry"),
        CheckConstraint("open_use_days IS NULL OR open_use_days > 0", name="open_use_days"),
        CheckConstraint("content_pct IS NULL OR (content_pct > 0 AND content_pct <= 100)", name="content"),
        CheckConstraint("kind <> 'reference_standard' OR length(source) >= 2", name="standard_source"),
        # A received container has no concentration; a prepared one has its target and its validity.
        CheckConstraint(
            f"({_in('kind', RECEIVED_KINDS)} AND concentration IS NULL AND concentration_unit IS NULL "
            "AND validity_days IS NULL) OR "
            f"({_in('kind', PREPARED_KINDS)} AND concentration > 0 AND concentration_unit IS NOT NULL "
            "AND validity_days > 0 AND open_use_days IS NULL AND retest_date IS NULL)",
            name="received_or_prepared",
        ),
        CheckConstraint("opened_at IS NULL OR opened_at >= created_at", name="opened_after_receipt"),
        CheckConstraint("destroyed_at IS NULL OR remaining = 0", name="destroyed_empty"),
        Index("ix_lims_reagents_kind", "kind"),
        Index("ix_lims_reagents_expiry_date", "expiry_date"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # 瓶号 PH01, on the label
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)  # SJBZPMC / SYMC
    grade: Mapped[str] = mapped_column(
        String(64), nullable=False, default=""
    )  # 规格: 色谱纯, 分析纯, 基准试剂
    cas_no: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    manufacturer: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # CJ
    lot_no: Mapped[str] = mapped_column(String(64), nullable=False)  # PH; a solution's own code (SYPH)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4), nullable=False)  # as received or prepared
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    remaining: Mapped[Decimal] = mapped_column(Numeric(14, 4), nullable=False)  # left in storage
    expiry_date: Mapped[date] = mapped_column(Date, nullable=False)  # YXRQ, usable through this day
    retest_date: Mapped[date | None] = mapped_column(Date, nullable=True)  # 复验期
    storage_condition: Mapped[str] = mapped_column(String(200), nullable=False, default="")  # ZCTJ
    location: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # RKWZ
    # Reference standards (标准品/对照品): where from (中检院), content or purity and how to use it
    source: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    content_pct: Mapped[Decimal | None] = mapped_column(Numeric(7, 3), nullable=True)
    content_basis: Mapped[str] = mapped_column(String(64), nullable=False, default="")  # 按无水物计…
    use_conditions: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    # Opening: "use within N days after opening" (开启后 N 天内使用)
    open_use_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Prepared solutions: target concentration (PZND), validity after preparation, how it was made
    concentration: Mapped[Decimal | None] = mapped_column(Numeric(18, 8), nullable=True)
    concentration_unit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    validity_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    method: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    invalidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # 失效
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # 销毁
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # RKSJ / PZSJ
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)  # RKR / PZR
    created_by_name: Mapped[str] = mapped_column(String(128), nullable=False)

    @validates("quantity", "remaining")
    def _quantity_scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value, QUANTITY)

    @validates("concentration")
    def _concentration_scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value, CONCENTRATION)

    @validates("content_pct")
    def _content_scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value, CONTENT)

    @property
    def prepared(self) -> bool:
        return self.kind in PREPARED_KINDS


class ReagentLogEntry(Audited, Base):
    """One event of a container's usage log (使用记录). Append-only: the database refuses UPDATE and DELETE;
    a wrong entry is answered by a later one."""

    __tablename__ = "lims_reagent_log"
    __audit_type__ = "lims_reagent_log_entry"
    __audit_label__ = N_("Reagent usage log entry")
    __table_args__ = (
        CheckConstraint(_in("kind", LOG_KINDS), name="kind"),
        CheckConstraint(
            f"({_in('kind', ('issue', 'consumption', 'destruction'))} AND quantity > 0) OR "
            f"(kind = 'return' AND quantity >= 0) OR "
            f"({_in('kind', ('receipt', 'preparation'))} AND quantity > 0) OR "
            f"({_in('kind', ('opening', 'retest', 'invalidation'))} AND quantity IS NULL)",
            name="quantity",
        ),
        CheckConstraint("(kind = 'return') = (issue_id IS NOT NULL)", name="return_of_issue"),
        CheckConstraint("remaining_after >= 0", name="remaining_after"),
        CheckConstraint(
            f"NOT {_in('kind', ('invalidation', 'destruction'))} OR length(reason) >= 2", name="reason"
        ),
        CheckConstraint(
            "(kind = 'destruction' AND witness IS NOT NULL AND witness <> performed_by) OR "
            "(kind <> 'destruction' AND witness IS NULL)",
            name="witness",
        ),
        # A retest sets the next retest date; a receipt keeps the first one (the container's is the latest).
        CheckConstraint(
            "(kind = 'retest' AND retest_date IS NOT NULL) OR kind = 'receipt' OR "
            "(kind NOT IN ('retest', 'receipt') AND retest_date IS NULL)",
            name="retest_date",
        ),
        Index("ix_lims_reagent_log_reagent", "reagent_id", "performed_at"),
        Index("ix_lims_reagent_log_issue_id", "issue_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    reagent_id: Mapped[int] = mapped_column(ForeignKey("lims_reagents.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(14, 4), nullable=True)  # LYSL, GHSL, XHSL
    remaining_after: Mapped[Decimal] = mapped_column(Numeric(14, 4), nullable=False)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("lims_reagent_log.id"), nullable=True)
    purpose: Mapped[str] = mapped_column(String(200), nullable=False, default="")  # test, sample, solution
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")  # YY
    retest_date: Mapped[date | None] = mapped_column(Date, nullable=True)  # set by a retest or the receipt
    reference: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # report, method
    witness: Mapped[str | None] = mapped_column(String(64), nullable=True)
    witness_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    performed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    performed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)

    @validates("quantity", "remaining_after")
    def _quantity_scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value, QUANTITY)


class SolutionComponent(Audited, Base):
    """What went into a prepared solution: a container and the quantity taken (配制记录). Append-only."""

    __tablename__ = "lims_solution_components"
    __audit_type__ = "lims_solution_component"
    __audit_label__ = N_("Component of a prepared solution")
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("solution_id <> source_id", name="not_itself"),
        Index("ix_lims_solution_components_solution_id", "solution_id"),
        Index("ix_lims_solution_components_source_id", "source_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    solution_id: Mapped[int] = mapped_column(ForeignKey("lims_reagents.id"), nullable=False)
    source_id: Mapped[int] = mapped_column(ForeignKey("lims_reagents.id"), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)

    @validates("quantity")
    def _quantity_scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value, QUANTITY)


class Standardization(Audited, Base):
    """One round of the standardization of a volumetric solution (标定), signed by its analyst. Append-only.

    ``results`` are the replicate concentrations as entered (raw data). A round is accepted when the
    relative average deviation of its replicates is within the limit; a verification (复标) by a second
    person is accepted when, besides, its mean agrees with the primary round's. Only an accepted
    verification carries the standardized concentration and F factor, computed from the unrounded means
    and rounded once (GB/T 8170, four significant figures).
    """

    __tablename__ = "lims_standardizations"
    __audit_type__ = "lims_standardization"
    __audit_label__ = N_("Standardization of a volumetric solution")
    __table_args__ = (
        CheckConstraint(_in("role", STANDARDIZATION_ROLES), name="role"),
        CheckConstraint("(role = 'verification') = (primary_id IS NOT NULL)", name="verifies_primary"),
        CheckConstraint("mean > 0 AND relative_deviation_pct >= 0", name="mean"),
        CheckConstraint(
            "(role = 'verification' AND between_deviation_pct IS NOT NULL) OR "
            "(role = 'primary' AND between_deviation_pct IS NULL)",
            name="between_deviation",
        ),
        CheckConstraint(
            "(role = 'verification' AND accepted AND concentration > 0 AND f_factor > 0) OR "
            "(NOT (role = 'verification' AND accepted) AND concentration IS NULL AND f_factor IS NULL)",
            name="result",
        ),
        Index("ix_lims_standardizations_solution_id", "solution_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    solution_id: Mapped[int] = mapped_column(ForeignKey("lims_reagents.id"), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    primary_id: Mapped[int | None] = mapped_column(ForeignKey("lims_standardizations.id"), nullable=True)
    results: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    mean: Mapped[Decimal] = mapped_column(Numeric(18, 8), nullable=False)  # shown; the result uses raw data
    relative_deviation_pct: Mapped[Decimal] = mapped_column(Numeric(10, 4), nullable=False)
    between_deviation_pct: Mapped[Decimal | None] = mapped_column(Numeric(10, 4), nullable=True)
    accepted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    concentration: Mapped[Decimal | None] = mapped_column(Numeric(18, 8), nullable=True)  # BDND
    f_factor: Mapped[Decimal | None] = mapped_column(Numeric(10, 4), nullable=True)
    standard_id: Mapped[int | None] = mapped_column(ForeignKey("lims_reagents.id"), nullable=True)  # 基准物质
    method: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # BDSJ
    performed_by: Mapped[str] = mapped_column(String(64), nullable=False)  # BDR
    performed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)

    @validates("mean", "concentration")
    def _concentration_scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value, CONCENTRATION)

    @validates("relative_deviation_pct", "between_deviation_pct", "f_factor")
    def _percent_scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value, PERCENT)
