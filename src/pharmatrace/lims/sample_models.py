"""Sampling plans, sampling records, samples and their lifecycle (TJ-7.5, TJ-B.2.4.1).

* :class:`SamplingPlan` (取样计划, TJ-7.5.1) — per material, or per kind of material: the rule that gives the
  number of containers to sample (:mod:`pharmatrace.lims.sampling`), the quantity taken from each sampled
  container for the test sample and for the retained sample, the tool. Changed with a reason, voided, never
  deleted; a sampling record copies what it used, so a later change leaves the records as they were.
* :class:`SamplingRecord` (取样记录, TJ-B.2.4.1.1, append-only) — one sampling of one lot: the rule, n, k, the
  seed and the population the random draw used, who sampled when (server time) and where, with which tool
  and under which conditions, for which purpose, and the lot's status before and after.
* :class:`SampledContainer` (append-only) — each container drawn, in the order drawn, with the quantities taken
  and the stock movements that took them (``wms`` ``sample``/``retain`` movements where the plant keeps stock).
* :class:`Sample` (样品, append-only) — one sample with its code (``S2611-0001``): test sample, retained sample
  or stability sample, of a lot, with its quantity and the storage condition it needs.
* :class:`SampleEvent` (append-only) — the sample's history: sampled → received → stored → issued for testing
  → remaining sample disposed; a retained sample: sampled → received → retained (留样) → observed … →
  destroyed. The sample's state is **derived** from its last event (never stored twice); events are numbered
  per sample and the pair (sample, number) is unique, so two concurrent steps on one sample cannot both land.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.lims.sampling import RULES
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime
from pharmatrace.wms.models import MATERIAL_KINDS

QUANTITY = Decimal("0.001")  # the stock's scale

PURPOSES = (
    "release_test",  # 放行检验
    "retained",  # 留样
    "stability",  # 稳定性考察
    "retest",  # 复验
)
PURPOSE_LABELS = {
    "release_test": N_("Release test"),
    "retained": N_("Retained sample"),
    "stability": N_("Stability study"),
    "retest": N_("Re-test"),
}
SAMPLE_KINDS = (
    "test",  # 检验样品
    "retained",  # 留样
    "stability",  # 稳定性样品
)
KIND_LABELS = {
    "test": N_("Test sample"),
    "retained": N_("Retained sample"),
    "stability": N_("Stability sample"),
}
SAMPLE_STATES = (
    "sampled",  # 已取样
    "received",  # 已接收
    "stored",  # 已存放
    "in_testing",  # 检验中
    "disposed",  # 剩余样品已处理
    "retained",  # 留样中
    "destroyed",  # 留样已销毁
)
STATE_LABELS = {
    "sampled": N_("Sampled"),
    "received": N_("Received by the lab"),
    "stored": N_("Stored"),
    "in_testing": N_("Issued for testing"),
    "disposed": N_("Remaining sample disposed"),
    "retained": N_("In retention"),
    "destroyed": N_("Destroyed after retention"),
}
# The lifecycle as data: event → (the kinds of sample it applies to, the states it starts from, where it leads).
SAMPLE_EVENTS: dict[str, tuple[frozenset[str], frozenset[str], str]] = {
    "receive": (frozenset(SAMPLE_KINDS), frozenset({"sampled"}), "received"),
    "store": (frozenset({"test", "stability"}), frozenset({"received", "stored"}), "stored"),
    "issue": (
        frozenset({"test", "stability"}),
        frozenset({"received", "stored", "in_testing"}),
        "in_testing",
    ),
    "dispose": (frozenset({"test", "stability"}), frozenset({"stored", "in_testing"}), "disposed"),
    "retain": (frozenset({"retained"}), frozenset({"received"}), "retained"),
    "observe": (frozenset({"retained"}), frozenset({"retained"}), "retained"),
    "destroy": (frozenset({"retained"}), frozenset({"retained"}), "destroyed"),
}
EVENT_NAMES = ("sample", *SAMPLE_EVENTS)
EVENT_LABELS = {
    "sample": N_("Sampled"),
    "receive": N_("Receive in the lab"),
    "store": N_("Store"),
    "issue": N_("Issue for testing"),
    "dispose": N_("Dispose of the remaining sample"),
    "retain": N_("Put into retention"),
    "observe": N_("Record an observation"),
    "destroy": N_("Destroy at the end of retention"),
}
assert set(EVENT_LABELS) == set(EVENT_NAMES)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _scaled(value: Decimal | None) -> Decimal | None:
    # Held at the column's scale, so the ledger entry and the row read back are the same (0.5 → 0.500).
    return None if value is None else Decimal(value).quantize(QUANTITY)


class SamplingPlan(Audited, Base):
    """A sampling plan (取样计划, TJ-7.5.1) for one material or for every material of a kind."""

    __tablename__ = "lims_sampling_plans"
    __audit_type__ = "lims_sampling_plan"
    __audit_label__ = N_("Sampling plan")
    __table_args__ = (
        CheckConstraint(_in("rule", RULES), name="rule"),
        CheckConstraint(
            "(rule = 'fixed' AND fixed_count IS NOT NULL AND fixed_count >= 1) "
            "OR (rule <> 'fixed' AND fixed_count IS NULL)",
            name="fixed_count",
        ),
        CheckConstraint("(material_id IS NULL) <> (material_kind IS NULL)", name="material_or_kind"),
        CheckConstraint(
            f"material_kind IS NULL OR {_in('material_kind', MATERIAL_KINDS)}", name="material_kind"
        ),
        CheckConstraint("quantity_per_container >= 0 AND retained_per_container >= 0", name="quantities"),
        CheckConstraint("quantity_per_container > 0 OR retained_per_container > 0", name="takes_something"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        Index(
            "uq_lims_sampling_plans_material",
            "material_id",
            unique=True,
            sqlite_where=text("voided_at IS NULL AND material_id IS NOT NULL"),
            postgresql_where=text("voided_at IS NULL AND material_id IS NOT NULL"),
        ),
        Index(
            "uq_lims_sampling_plans_kind",
            "material_kind",
            unique=True,
            sqlite_where=text("voided_at IS NULL AND material_kind IS NOT NULL"),
            postgresql_where=text("voided_at IS NULL AND material_kind IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    material_id: Mapped[int | None] = mapped_column(ForeignKey("materials.id"), nullable=True)
    material_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rule: Mapped[str] = mapped_column(String(16), nullable=False)
    fixed_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    precious: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # 贵细药材: every package
    # in the lot's unit: taken from each sampled container for the test (or stability) sample / retained sample
    quantity_per_container: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    retained_per_container: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    tool: Mapped[str] = mapped_column(String(256), nullable=False, default="")  # 取样器具
    storage_condition: Mapped[str] = mapped_column(
        String(256), nullable=False, default=""
    )  # else the material's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @validates("quantity_per_container", "retained_per_container")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value)


class SamplingRecord(Audited, Base):
    """One sampling of one lot (取样记录, TJ-B.2.4.1.1): never changed, never deleted."""

    __tablename__ = "lims_sampling_records"
    __audit_type__ = "lims_sampling_record"
    __audit_label__ = N_("Sampling record")
    __table_args__ = (
        CheckConstraint(_in("rule", RULES), name="rule"),
        CheckConstraint(_in("purpose", PURPOSES), name="purpose"),
        CheckConstraint(
            "containers_total >= 1 AND sample_count >= 1 AND sample_count <= containers_total", name="counts"
        ),
        CheckConstraint("seed >= 0", name="seed"),
        CheckConstraint("quantity_per_container >= 0 AND retained_per_container >= 0", name="quantities"),
        CheckConstraint("length(place) >= 1", name="place"),
        Index("ix_lims_sampling_records_lot_id", "lot_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # QY2611-0001
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    lot_number: Mapped[str] = mapped_column(String(32), nullable=False)  # PH
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_name: Mapped[str] = mapped_column(String(128), nullable=False)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("lims_sampling_plans.id"), nullable=True)
    plan_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rule: Mapped[str] = mapped_column(String(16), nullable=False)
    fixed_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    precious: Mapped[bool] = mapped_column(Boolean, nullable=False)
    containers_total: Mapped[int] = mapped_column(Integer, nullable=False)  # n
    sample_count: Mapped[int] = mapped_column(Integer, nullable=False)  # k (QYJS)
    seed: Mapped[int] = mapped_column(BigInteger, nullable=False)
    population: Mapped[str] = mapped_column(
        Text, nullable=False
    )  # JSON list of the n container codes, in order
    quantity_per_container: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    retained_per_container: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    place: Mapped[str] = mapped_column(String(128), nullable=False)  # 取样地点 (room / sampling booth)
    tool: Mapped[str] = mapped_column(String(256), nullable=False, default="")  # 取样器具
    conditions: Mapped[str] = mapped_column(String(256), nullable=False, default="")  # 取样环境条件
    remarks: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    lot_status_before: Mapped[str] = mapped_column(String(16), nullable=False)
    lot_status_after: Mapped[str] = mapped_column(String(16), nullable=False)
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # QYSJ
    sampled_by: Mapped[str] = mapped_column(String(64), nullable=False)
    sampled_by_name: Mapped[str] = mapped_column(String(128), nullable=False)  # QYR

    containers: Mapped[list[SampledContainer]] = relationship(
        back_populates="record", order_by="SampledContainer.draw_order", lazy="selectin"
    )

    @validates("quantity_per_container", "retained_per_container")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value)


class SampledContainer(Audited, Base):
    """A container drawn for sampling, with what was taken from it (append-only)."""

    __tablename__ = "lims_sampled_containers"
    __audit_type__ = "lims_sampled_container"
    __audit_label__ = N_("Sampled container")
    __table_args__ = (
        CheckConstraint("draw_order >= 1", name="draw_order"),
        CheckConstraint("test_quantity >= 0 AND retained_quantity >= 0", name="quantities"),
        Index("uq_lims_sampled_containers_pair", "sampling_record_id", "container_id", unique=True),
        Index("ix_lims_sampled_containers_container_id", "container_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    sampling_record_id: Mapped[int] = mapped_column(ForeignKey("lims_sampling_records.id"), nullable=False)
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"), nullable=False)
    container_code: Mapped[str] = mapped_column(String(40), nullable=False)
    draw_order: Mapped[int] = mapped_column(Integer, nullable=False)
    test_quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    retained_quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    # the wms movements that took the quantities out of stock (none where the plant keeps no stock of it)
    sample_movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id"), nullable=True)
    retain_movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id"), nullable=True)

    record: Mapped[SamplingRecord] = relationship(back_populates="containers", lazy="joined")

    @validates("test_quantity", "retained_quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value)


class Sample(Audited, Base):
    """A sample (样品) with its code; its state is derived from its events (append-only)."""

    __tablename__ = "lims_samples"
    __audit_type__ = "lims_sample"
    __audit_label__ = N_("Sample")
    __table_args__ = (
        CheckConstraint(_in("kind", SAMPLE_KINDS), name="kind"),
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_lims_samples_lot_id", "lot_id"),
        Index("ix_lims_samples_sampling_record_id", "sampling_record_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # S2611-0001
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    sampling_record_id: Mapped[int] = mapped_column(ForeignKey("lims_sampling_records.id"), nullable=False)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), nullable=False)
    lot_number: Mapped[str] = mapped_column(String(32), nullable=False)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), nullable=False)
    material_code: Mapped[str] = mapped_column(String(32), nullable=False)
    material_name: Mapped[str] = mapped_column(String(128), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    storage_condition: Mapped[str] = mapped_column(String(256), nullable=False, default="")  # YPCCTJ / BCTJ
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)

    record: Mapped[SamplingRecord] = relationship(lazy="joined")
    events: Mapped[list[SampleEvent]] = relationship(
        back_populates="sample", order_by="SampleEvent.seq", lazy="selectin"
    )

    @validates("quantity")
    def _scale(self, _key: str, value: Decimal) -> Decimal | None:
        return _scaled(value)


class SampleEvent(Audited, Base):
    """One step of a sample's life: who, when (server time), and what that step records (append-only)."""

    __tablename__ = "lims_sample_events"
    __audit_type__ = "lims_sample_event"
    __audit_label__ = N_("Sample lifecycle step")
    __table_args__ = (
        CheckConstraint(_in("event", EVENT_NAMES), name="event"),
        CheckConstraint(_in("to_state", SAMPLE_STATES), name="to_state"),
        CheckConstraint(f"from_state IS NULL OR {_in('from_state', SAMPLE_STATES)}", name="from_state"),
        CheckConstraint("(seq = 1) = (event = 'sample') AND (seq = 1) = (from_state IS NULL)", name="first"),
        CheckConstraint("quantity IS NULL OR quantity >= 0", name="quantity"),
        CheckConstraint(
            "remaining IS NULL OR (remaining >= 0 AND quantity IS NOT NULL AND quantity <= remaining)",
            name="remaining",
        ),
        CheckConstraint(
            "event NOT IN ('receive', 'issue') OR (quantity IS NOT NULL AND quantity > 0)",
            name="quantity_given",
        ),
        CheckConstraint(
            "event NOT IN ('store', 'retain') OR (length(location) >= 1 AND length(conditions) >= 1)",
            name="storage",
        ),
        CheckConstraint(
            "event NOT IN ('dispose', 'destroy') OR (quantity IS NOT NULL AND length(method) >= 1 "
            "AND length(location) >= 1 AND witness IS NOT NULL AND witness <> done_by)",
            name="disposal",
        ),
        CheckConstraint("event <> 'observe' OR length(conditions) >= 1", name="observation"),
        Index("uq_lims_sample_events_seq", "sample_id", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("lims_samples.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # 1 = sampled, then 2, 3, …
    event: Mapped[str] = mapped_column(String(16), nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16), nullable=False)
    # receive: received amount (YPL); issue: amount issued for testing; dispose/destroy: destroyed (XHL)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(14, 3), nullable=True)
    remaining: Mapped[Decimal | None] = mapped_column(Numeric(14, 3), nullable=True)  # dispose/destroy: SYL
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    # store/retain: storage location (CFDD/LYDD); dispose/destroy: disposal site (CZDD)
    location: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), nullable=True)
    equipment_code: Mapped[str] = mapped_column(String(32), nullable=False, default="")  # SBBH
    equipment_name: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # SBMC
    # receive: condition on receipt; store/retain: conditions (HJTJ/BCTJ); observe: what was observed
    conditions: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    method: Mapped[str] = mapped_column(String(256), nullable=False, default="")  # CZFF
    witness: Mapped[str | None] = mapped_column(String(64), nullable=True)
    witness_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    done_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    done_by: Mapped[str] = mapped_column(String(64), nullable=False)
    done_by_name: Mapped[str] = mapped_column(String(128), nullable=False)

    sample: Mapped[Sample] = relationship(back_populates="events", lazy="joined")

    @validates("quantity", "remaining")
    def _scale(self, _key: str, value: Decimal | None) -> Decimal | None:
        return _scaled(value)
