"""Stability studies (稳定性考察, SH-6.2.3; trend and shelf life by ICH Q1E, OOT per TJ-7.7).

* :class:`StabilityStudy` — the protocol (稳定性考察方案): product, study type (long-term, accelerated,
  intermediate, on-going 持续稳定性考察), storage condition and the stability chamber (an equipment code of the
  register), pull points in months, the window around each due date, the start date, the shelf-life
  specification (code and version) and the test items to trend. Written by a specification author as a draft,
  approved by signature by someone else; its canonical content has its SM3 in ``content_sm3``. Cancelled with a
  reason, never deleted. A study whose every pull point is pulled for every batch is *complete* (derived).
* :class:`StabilityBatch` — a batch on the study: a lot of the material in the warehouse (``lot_id``) or a
  batch order of the MES that makes it (``batch_order_id``). Removed from a draft by voiding.
* :class:`StabilityApproval` — the approval, append-only, naming the protocol's content hash; the signature is
  given on this row (like specification decisions), so it stays valid whatever the study does next.
* :class:`StabilityPlacement` — stability samples of a batch placed in the chamber, append-only. For a lot, a
  stability sample of the samples service (``sample_id``), which serves one pull point (a test order is one per
  sample and specification version); a batch order has no warehouse lot to sample, so its units are recorded
  here under a code of the study's (``STB-2611-001-1``) and serve pulls until they are used up.
* :class:`StabilityPull` — a pull point pulled for a batch (who, when, the due date and window then in force,
  the test order made), append-only; (batch, months) is unique, so a point cannot be pulled twice.

The pull-point schedule (due dates, window, due and overdue reminders) is derived from the protocol, never
stored twice.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

QUANTITY = Decimal("0.001")

STUDY_TYPES = (
    "long_term",  # 长期试验
    "accelerated",  # 加速试验
    "intermediate",  # 中间条件试验
    "ongoing",  # 持续稳定性考察
)
STUDY_TYPE_LABELS = {
    "long_term": N_("Long-term"),
    "accelerated": N_("Accelerated"),
    "intermediate": N_("Intermediate"),
    "ongoing": N_("On-going"),
}
STUDY_STATUSES = (
    "draft",  # 草稿：作者可编辑
    "approved",  # 已批准：可放样、取样
    "cancelled",  # 已终止（附理由）
)
STATUS_LABELS = {
    "draft": N_("Draft"),
    "approved": N_("Approved"),
    "cancelled": N_("Cancelled"),
    "complete": N_("Complete"),  # derived: every pull point pulled for every batch
}
MAX_MONTHS = 120
MAX_WINDOW_DAYS = 60


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _scaled(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(QUANTITY)


class StabilityStudy(Audited, Base):
    """A stability study's protocol (稳定性考察方案) and its lifecycle (SH-6.2.3)."""

    __tablename__ = "lims_stability_studies"
    __audit_type__ = "lims_stability_study"
    __audit_label__ = N_("Stability study")
    __table_args__ = (
        CheckConstraint(_in("study_type", STUDY_TYPES), name="study_type"),
        CheckConstraint(_in("status", STUDY_STATUSES), name="status"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        CheckConstraint("length(title) >= 1", name="title"),
        CheckConstraint("length(condition) >= 1", name="condition"),
        CheckConstraint("spec_version >= 1", name="spec_version"),
        CheckConstraint(f"window_days >= 0 AND window_days <= {MAX_WINDOW_DAYS}", name="window_days"),
        CheckConstraint("pull_quantity > 0", name="pull_quantity"),
        CheckConstraint("pull_months <> '[]' AND attributes <> '[]'", name="protocol_lists"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("status <> 'draft' OR approved_at IS NULL", name="draft_unapproved"),
        CheckConstraint(
            "status <> 'approved' OR (approved_at IS NOT NULL AND approved_by IS NOT NULL)", name="approved"
        ),
        CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND length(cancel_reason) >= 2)",
            name="cancelled",
        ),
        Index("ix_lims_stability_studies_material_id", "material_id"),
        Index("ix_lims_stability_studies_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # STB-2611-001
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_name: Mapped[str] = mapped_column(String(128), nullable=False)
    study_type: Mapped[str] = mapped_column(String(16), nullable=False)
    condition: Mapped[str] = mapped_column(String(128), nullable=False)  # 25 °C ± 2 °C / 60 % RH ± 5 % RH
    chamber_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), nullable=False)
    chamber_code: Mapped[str] = mapped_column(String(32), nullable=False)
    spec_code: Mapped[str] = mapped_column(String(32), nullable=False)  # the shelf-life specification
    spec_version: Mapped[int] = mapped_column(Integer, nullable=False)
    attributes: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of the test items trended
    pull_months: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list, ascending: [0, 3, 6, …]
    window_days: Mapped[int] = mapped_column(Integer, nullable=False)  # a pull is allowed due ± window
    start_date: Mapped[date] = mapped_column(Date, nullable=False)  # T0 (Beijing date)
    pull_quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)  # per batch and pull
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    protocol_document: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the written protocol
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    edited_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    batches: Mapped[list[StabilityBatch]] = relationship(
        order_by=lambda: StabilityBatch.id,
        primaryjoin="and_(StabilityBatch.study_id == StabilityStudy.id, StabilityBatch.voided_at.is_(None))",
        lazy="selectin",
        viewonly=True,
    )
    placements: Mapped[list[StabilityPlacement]] = relationship(
        order_by=lambda: StabilityPlacement.id, lazy="selectin", viewonly=True
    )
    pulls: Mapped[list[StabilityPull]] = relationship(
        order_by=lambda: StabilityPull.id, lazy="selectin", viewonly=True
    )
    approvals: Mapped[list[StabilityApproval]] = relationship(
        order_by=lambda: StabilityApproval.id, lazy="selectin", viewonly=True
    )

    @validates("pull_quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value)


class StabilityBatch(Audited, Base):
    """A batch on a study: a warehouse lot of the material, or a batch order of the MES that makes it."""

    __tablename__ = "lims_stability_batches"
    __audit_type__ = "lims_stability_batch"
    __audit_label__ = N_("Batch of a stability study")
    __table_args__ = (
        CheckConstraint("(lot_id IS NULL) <> (batch_order_id IS NULL)", name="lot_or_order"),
        CheckConstraint("length(batch_no) >= 1", name="batch_no"),
        Index(
            "uq_lims_stability_batches_active",
            "study_id",
            "batch_no",
            unique=True,
            sqlite_where=text("voided_at IS NULL"),
            postgresql_where=text("voided_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("lims_stability_studies.id"), nullable=False)
    batch_no: Mapped[str] = mapped_column(String(32), nullable=False)  # the lot number or the batch number
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"), nullable=True)
    batch_order_id: Mapped[int | None] = mapped_column(ForeignKey("batch_orders.id"), nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StabilityApproval(Audited, Base):
    """The approval of a protocol (signed on this row), naming the content hash it approved. Append-only."""

    __tablename__ = "lims_stability_approvals"
    __audit_type__ = "lims_stability_approval"
    __audit_label__ = N_("Approval of a stability protocol")
    __table_args__ = (
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        Index("uq_lims_stability_approvals_study_id", "study_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("lims_stability_studies.id"), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    approved_by: Mapped[str] = mapped_column(String(64), nullable=False)
    approved_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")


class StabilityPlacement(Audited, Base):
    """Stability samples of a batch placed in the study's chamber (放样): what, how much, where, who, when."""

    __tablename__ = "lims_stability_placements"
    __audit_type__ = "lims_stability_placement"
    __audit_label__ = N_("Stability samples placed in a chamber")
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("length(sample_code) >= 2", name="sample_code"),
        CheckConstraint("length(position) >= 1", name="position"),
        Index("ix_lims_stability_placements_batch_id", "batch_id"),
        Index("ix_lims_stability_placements_study_id", "study_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("lims_stability_studies.id"), nullable=False)
    batch_id: Mapped[int] = mapped_column(ForeignKey("lims_stability_batches.id"), nullable=False)
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("lims_samples.id"), nullable=True)
    sample_code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    chamber_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), nullable=False)
    chamber_code: Mapped[str] = mapped_column(String(32), nullable=False)
    position: Mapped[str] = mapped_column(String(128), nullable=False)  # shelf / tray in the chamber
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    placed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    placed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value)


class StabilityPull(Audited, Base):
    """A pull point pulled for a batch (取样): due date and window then in force, who, when, the test order."""

    __tablename__ = "lims_stability_pulls"
    __audit_type__ = "lims_stability_pull"
    __audit_label__ = N_("Stability pull point pulled")
    __table_args__ = (
        CheckConstraint(f"months >= 0 AND months <= {MAX_MONTHS}", name="months"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("window_from <= due_date AND due_date <= window_to", name="window"),
        Index("uq_lims_stability_pulls_point", "batch_id", "months", unique=True),
        Index("ix_lims_stability_pulls_study_id", "study_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("lims_stability_studies.id"), nullable=False)
    batch_id: Mapped[int] = mapped_column(ForeignKey("lims_stability_batches.id"), nullable=False)
    placement_id: Mapped[int] = mapped_column(ForeignKey("lims_stability_placements.id"), nullable=False)
    months: Mapped[int] = mapped_column(Integer, nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    window_from: Mapped[date] = mapped_column(Date, nullable=False)
    window_to: Mapped[date] = mapped_column(Date, nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    source_ref: Mapped[str] = mapped_column(String(64), nullable=False)  # STB-2611-001/T3
    order_id: Mapped[int | None] = mapped_column(ForeignKey("lims_test_orders.id"), nullable=True)
    order_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pulled_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    pulled_by: Mapped[str] = mapped_column(String(64), nullable=False)
    pulled_by_name: Mapped[str] = mapped_column(String(128), nullable=False)

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value)
