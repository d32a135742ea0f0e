"""QMS deviations (偏差管理, TJ-6.4.4, TJ-B.2.3.2, SH-6.2.4): the tables.

* :class:`Deviation` — the deviation (table ``deviations``, opened by the MES seam since 0016, taken over by the
  QMS in 0026): what happened, when, the immediate actions, the affected batches and lots, the recorder and
  reviewer (TJ-B.2.3.2 表 B.7), then QA's classification (minor / major / critical, the class the rules
  suggested and the rationale of an override), the investigation (root cause, 5-why chain, fishbone categories
  人机料法环测, conclusion, the CAPA decision), the current step's due date, closure and cancellation. Changed
  through its lifecycle with a reason, never deleted.
* :class:`DeviationImpact` — an impact assessment of one affected batch or lot (conclusion, rationale, who and
  when), append-only: a re-assessment is a new row, the latest one per object counts.
* :class:`DeviationEvent` — the deviation's timeline, append-only: recorded, classified, further immediate
  actions, investigation, impacts, escalations of an overdue step (one per step, unique in the database),
  closure and cancellation.
* :class:`DeviationClosure` — QA's closure, append-only, naming the SM3 of the deviation's content; the SM2
  signature (action ``qms.deviation.close``) is given on this row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

STATUSES = (
    "open",  # 已记录：待 QA 分级
    "classified",  # 已分级：待调查
    "investigating",  # 调查中
    "investigated",  # 调查完成：待影响评估与关闭
    "closed",  # 已关闭（QA 电子签名）
    "cancelled",  # 已取消（附理由，如误报）
)
ACTIVE_STATUSES = ("open", "classified", "investigating", "investigated")
CLASSES = ("minor", "major", "critical")  # 微小 / 主要 / 重大
SOURCE_KINDS = ("mes", "lims", "monitoring", "wms", "manual")
CATEGORIES = (
    "process", "equipment", "material", "environment", "facility", "documentation", "laboratory", "storage",
    "personnel", "other",
)  # fmt: skip
FISHBONE = ("man", "machine", "material", "method", "environment", "measurement")  # 人机料法环测
OBJECT_KINDS = ("batch", "lot")
CONCLUSIONS = ("no_impact", "impact_acceptable", "reprocess", "reject")
EVENT_KINDS = (
    "recorded", "classified", "immediate_action", "investigation_started", "investigated", "impact",
    "escalated", "closed", "cancelled", "note",
)  # fmt: skip
STEPS = ("triage", "investigation", "closure")  # the overdue steps escalated, once each


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Deviation(Audited, Base):
    """A deviation and its lifecycle (TJ-6.4.4); the fields of 表 B.7 (TJ-B.2.3.2) are the seam's first ones."""

    __tablename__ = "deviations"
    __audit_type__ = "deviation"
    __audit_label__ = N_("Deviation")
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("source_kind", SOURCE_KINDS), name="source_kind"),
        CheckConstraint(f"classification IS NULL OR {_in('classification', CLASSES)}", name="classification"),
        CheckConstraint(
            f"suggested_class IS NULL OR {_in('suggested_class', CLASSES)}", name="suggested_class"
        ),
        CheckConstraint(f"category IS NULL OR {_in('category', CATEGORIES)}", name="category"),
        CheckConstraint(
            "status IN ('open', 'cancelled') OR (classification IS NOT NULL AND classified_at IS NOT NULL "
            "AND category IS NOT NULL)",
            name="classified",
        ),
        CheckConstraint("classification IS NULL OR length(classification_rationale) >= 2", name="rationale"),
        CheckConstraint(
            "status NOT IN ('investigated', 'closed') OR (investigated_at IS NOT NULL "
            "AND length(root_cause) >= 2 AND length(investigation_conclusion) >= 2)",
            name="investigated",
        ),
        CheckConstraint(
            "status <> 'closed' OR (closed_at IS NOT NULL AND closed_by IS NOT NULL AND closed_by <> recorded_by)",
            name="closed",
        ),
        CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND length(cancel_reason) >= 2)",
            name="cancelled",
        ),
        Index("ix_deviations_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(2000), nullable=False)  # PCMS
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # PCFSSJ
    immediate_actions: Mapped[str] = mapped_column(String(2000), nullable=False)  # JJCLCS
    affected_batches: Mapped[str] = mapped_column(String(500), nullable=False)  # SYXCPPH, comma separated
    affected_products: Mapped[str] = mapped_column(String(500), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)  # PCJLR
    reviewer: Mapped[str | None] = mapped_column(String(64), nullable=True)  # PCFHR: QA who classified it
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    source: Mapped[str] = mapped_column(String(64), nullable=False)  # e.g. batch_exception:12, lims:OOS-…
    source_kind: Mapped[str] = mapped_column(String(16), nullable=False, default="mes")
    affected_lots: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    due_date: Mapped[date | None] = mapped_column(Date(), nullable=True)  # of the current step (Beijing date)
    # classification (QA triage)
    triage: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # the answers, canonical JSON
    suggested_class: Mapped[str | None] = mapped_column(String(16), nullable=True)
    classification: Mapped[str | None] = mapped_column(String(16), nullable=True)
    classification_rationale: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    classified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    classified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # investigation
    investigation_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    investigator: Mapped[str | None] = mapped_column(String(64), nullable=True)
    root_cause: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    why_chain: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # 5-why, canonical JSON list
    fishbone: Mapped[str] = mapped_column(String(100), nullable=False, default="")  # comma separated FISHBONE
    investigation_conclusion: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    no_capa_rationale: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    investigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    investigated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the end
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")

    impacts: Mapped[list[DeviationImpact]] = relationship(
        order_by="DeviationImpact.id", viewonly=True, lazy="selectin"
    )
    events: Mapped[list[DeviationEvent]] = relationship(order_by="DeviationEvent.id", viewonly=True)
    closures: Mapped[list[DeviationClosure]] = relationship(order_by="DeviationClosure.id", viewonly=True)


class DeviationImpact(Audited, Base):
    """An impact assessment of one affected batch or lot (TJ-6.4.4: linked into the batch's quality evaluation)."""

    __tablename__ = "deviation_impacts"
    __audit_type__ = "deviation_impact"
    __audit_label__ = N_("Deviation impact assessment")
    __table_args__ = (
        CheckConstraint(_in("object_kind", OBJECT_KINDS), name="object_kind"),
        CheckConstraint(_in("conclusion", CONCLUSIONS), name="conclusion"),
        CheckConstraint("length(rationale) >= 2", name="rationale"),
        CheckConstraint("length(object_ref) >= 1", name="object_ref"),
        Index("ix_deviation_impacts_deviation_id", "deviation_id"),
        Index("ix_deviation_impacts_object", "object_kind", "object_ref"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    deviation_id: Mapped[int] = mapped_column(ForeignKey("deviations.id"), nullable=False)
    object_kind: Mapped[str] = mapped_column(String(8), nullable=False)
    object_ref: Mapped[str] = mapped_column(String(32), nullable=False)  # batch no / lot number
    conclusion: Mapped[str] = mapped_column(String(32), nullable=False)
    rationale: Mapped[str] = mapped_column(String(1000), nullable=False)
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    assessed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    assessed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class DeviationEvent(Audited, Base):
    """One entry of a deviation's timeline; an escalation names its step, once per step (idempotent job)."""

    __tablename__ = "deviation_events"
    __audit_type__ = "deviation_event"
    __audit_label__ = N_("Deviation timeline entry")
    __table_args__ = (
        CheckConstraint(_in("kind", EVENT_KINDS), name="kind"),
        CheckConstraint(f"step IS NULL OR {_in('step', STEPS)}", name="step"),
        CheckConstraint("kind <> 'escalated' OR step IS NOT NULL", name="escalation_step"),
        Index("ix_deviation_events_deviation_id", "deviation_id"),
        Index(
            "uq_deviation_events_escalation",
            "deviation_id",
            "step",
            unique=True,
            sqlite_where=text("kind = 'escalated'"),
            postgresql_where=text("kind = 'escalated'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    deviation_id: Mapped[int] = mapped_column(ForeignKey("deviations.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    step: Mapped[str | None] = mapped_column(String(16), nullable=True)
    text: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    by: Mapped[str] = mapped_column(String(64), nullable=False)
    by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class DeviationClosure(Audited, Base):
    """QA's closure of a deviation: the signature (``qms.deviation.close``) is given on this row."""

    __tablename__ = "deviation_closures"
    __audit_type__ = "deviation_closure"
    __audit_label__ = N_("Deviation closure")
    __table_args__ = (
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        Index("uq_deviation_closures_deviation_id", "deviation_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    deviation_id: Mapped[int] = mapped_column(ForeignKey("deviations.id"), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    closed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    closed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")
