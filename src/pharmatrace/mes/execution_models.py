"""Batch orders, control recipes, step executions, sign-offs, exceptions, corrections (TJ-6.4, TJ-B.2.3).

* ``BatchOrder`` (批指令): product, master recipe version, batch size, planned dates, batch number, status::

    planned ──release (supervisor, signed)──> released ──first step──> in_progress ──last step──> completed
       │                                         │                                         (→ reviewed later)
       └──────────── cancel (reason) ────────────┘──> cancelled

* ``ControlRecipe``: the frozen byte-exact copy of the approved master body and its SM3 hash, taken at
  release (append-only: a running batch keeps its version when the master changes, TJ-6.4.3.1).
* ``StepExecution``: one row per recipe step of the order, state ``waiting → ready → in_progress →
  signing → done`` (``signing``: the performer completed it, the second signature is pending). The evidence
  recorded is one canonical JSON document (``record``) whose SM3 the sign-offs name.
* ``BatchSignoff`` (append-only): each signature of the batch record (release, performed, verified,
  supervisor, QA, correction, exception decision) is given on its own row, which names what it covers.
* ``BatchException``: every exception on its step with its evidence and the supervisor's decision
  (TJ-6.4.3.3.i, TJ-6.4.4); ``StepCorrection`` (append-only): old and new values and the reason
  (TJ-10.1.4).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.qms.deviation_models import Deviation  # owned by the QMS (TJ-6.4.4)
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

ORDER_STATUSES = (
    "planned",  # 计划
    "released",  # 已下达车间
    "in_progress",  # 生产中
    "completed",  # 生产完成
    "reviewed",  # 已审核（批记录审核，后续）
    "cancelled",  # 已取消
)
STEP_STATES = (
    "waiting",  # 等待前序步骤
    "ready",  # 可开始
    "in_progress",  # 执行中
    "signing",  # 待复核签名
    "done",  # 完成
)
SIGNOFF_ROLES = (
    "release",  # 批指令下达（主管）
    "performed",  # 操作人
    "verified",  # 复核人
    "supervisor",  # 生产主管
    "qa",  # 现场 QA
    "correction",  # 更正
    "decision",  # 异常处理决定
)
EXCEPTION_KINDS = (
    "limit_excursion",  # 超限
    "time_limit",  # 超时
    "yield_limit",  # 收率超限
    "ipc_failure",  # 中间控制不合格
    "manual_weighing",  # 手工称量
    "late_entry",  # 补录
    "correction",  # 更正
    "weighing_tolerance",  # 称量超差
    "refused_material",  # 物料被拒
    "other",
)
EXCEPTION_STATUSES = (
    "open",  # 待处理
    "no_deviation",  # 不构成偏差（有理由）
    "deviation",  # 已转偏差
)
QUANTITY = Decimal("0.001")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class BatchOrder(Audited, Base):
    """A batch order (批生产指令) and its batch number (TJ-6.4.3.2)."""

    __tablename__ = "batch_orders"
    __audit_type__ = "batch_order"
    __audit_label__ = N_("Batch order")
    __table_args__ = (
        CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
        CheckConstraint("batch_size > 0", name="batch_size"),
        CheckConstraint("planned_end >= planned_start", name="planned_dates"),
        CheckConstraint("status IN ('planned', 'cancelled') OR released_at IS NOT NULL", name="released"),
        CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND length(cancel_reason) > 0)",
            name="cancelled",
        ),
        CheckConstraint(
            "status NOT IN ('completed', 'reviewed') OR completed_at IS NOT NULL", name="completed"
        ),
        Index("ix_batch_orders_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    batch_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    product_code: Mapped[str] = mapped_column(String(32), nullable=False)
    product_name: Mapped[str] = mapped_column(String(128), nullable=False)
    recipe_code: Mapped[str] = mapped_column(String(32), nullable=False)
    master_version_id: Mapped[int] = mapped_column(ForeignKey("master_recipe_versions.id"), nullable=False)
    batch_size: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    planned_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    planned_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    @validates("batch_size")
    def _scale(self, _key: str, value: Decimal) -> Decimal:
        return Decimal(value).quantize(QUANTITY)


class ControlRecipe(Audited, Base):
    """The control recipe (控制配方): a byte-exact copy of the approved master body, frozen at release."""

    __tablename__ = "control_recipes"
    __audit_type__ = "control_recipe"
    __audit_label__ = N_("Control recipe")
    __table_args__ = (CheckConstraint("length(body_sm3) = 64", name="body_sm3"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), unique=True, nullable=False)
    master_version_id: Mapped[int] = mapped_column(ForeignKey("master_recipe_versions.id"), nullable=False)
    recipe_code: Mapped[str] = mapped_column(String(32), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    body_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class StepExecution(Audited, Base):
    """One step of a batch as executed: its state, who and when, and the evidence recorded (``record``)."""

    __tablename__ = "step_executions"
    __audit_type__ = "step_execution"
    __audit_label__ = N_("Batch step")
    __table_args__ = (
        CheckConstraint(_in("state", STEP_STATES), name="state"),
        CheckConstraint(
            "state NOT IN ('in_progress', 'signing', 'done') OR started_at IS NOT NULL", name="started"
        ),
        CheckConstraint("state NOT IN ('signing', 'done') OR completed_at IS NOT NULL", name="completed"),
        CheckConstraint("verified_by IS NULL OR verified_by <> performed_by", name="four_eyes"),
        UniqueConstraint("batch_order_id", "step_code"),
        Index("ix_step_executions_state", "state"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # the recipe's order, for display
    unit_code: Mapped[str] = mapped_column(String(32), nullable=False)
    operation_code: Mapped[str] = mapped_column(String(32), nullable=False)
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    step_type: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    performed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    record: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # canonical JSON evidence
    record_sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)


class BatchSignoff(Audited, Base):
    """One signature of the batch record, given on this append-only row (the signature's object)."""

    __tablename__ = "batch_signoffs"
    __audit_type__ = "batch_signoff"
    __audit_label__ = N_("Batch record sign-off")
    __table_args__ = (
        CheckConstraint(_in("role", SIGNOFF_ROLES), name="role"),
        Index("ix_batch_signoffs_batch_order_id", "batch_order_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), nullable=False)
    step_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    covers_sm3: Mapped[str] = mapped_column(String(64), nullable=False)  # what was signed (record, body…)
    exception_id: Mapped[int | None] = mapped_column(ForeignKey("batch_exceptions.id"), nullable=True)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    signed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    signed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")


class BatchException(Audited, Base):
    """An exception on a step (TJ-6.4.3.3.i): what, the evidence, and the supervisor's decision."""

    __tablename__ = "batch_exceptions"
    __audit_type__ = "batch_exception"
    __audit_label__ = N_("Batch exception")
    __table_args__ = (
        CheckConstraint(_in("kind", EXCEPTION_KINDS), name="kind"),
        CheckConstraint(_in("status", EXCEPTION_STATUSES), name="status"),
        CheckConstraint(
            "status = 'open' OR (decided_at IS NOT NULL AND length(decision_comment) > 0)", name="decided"
        ),
        CheckConstraint("status <> 'deviation' OR deviation_id IS NOT NULL", name="deviation"),
        Index("ix_batch_exceptions_batch_order_id", "batch_order_id"),
        Index("ix_batch_exceptions_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_order_id: Mapped[int] = mapped_column(ForeignKey("batch_orders.id"), nullable=False)
    step_code: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    message: Mapped[str] = mapped_column(String(500), nullable=False)  # English msgid
    params: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON
    evidence: Mapped[str] = mapped_column(Text, nullable=False, default="")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    raised_by: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision_comment: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    deviation_id: Mapped[int | None] = mapped_column(ForeignKey("deviations.id"), nullable=True)

    deviation: Mapped[Deviation | None] = relationship(lazy="joined")


class StepCorrection(Audited, Base):
    """A correction of a recorded value (TJ-10.1.4): old and new value, reason, who and when."""

    __tablename__ = "step_corrections"
    __audit_type__ = "step_correction"
    __audit_label__ = N_("Correction of a batch record value")
    __table_args__ = (
        CheckConstraint("length(reason) >= 2", name="reason"),
        Index("ix_step_corrections_step_execution_id", "step_execution_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    step_execution_id: Mapped[int] = mapped_column(ForeignKey("step_executions.id"), nullable=False)
    field: Mapped[str] = mapped_column(String(64), nullable=False)
    old_value: Mapped[str] = mapped_column(String(500), nullable=False)
    new_value: Mapped[str] = mapped_column(String(500), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    corrected_by: Mapped[str] = mapped_column(String(64), nullable=False)
