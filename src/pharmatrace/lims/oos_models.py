"""OOS investigation records: phase I, phase II, conclusion and closure (TJ-7.7, TJ-B.2.4.3).

The case itself (:class:`pharmatrace.lims.result_models.OosCase`) names the failing result, which stays locked and
visible whatever happens. Its investigation is written as append-only rows, each with who and when:

* :class:`OosStep` — one per step and case: the phase I laboratory checklist and its conclusion, the phase II
  full investigation (manufacturing, impact on other batches, root cause), the investigation's conclusion
  (confirmed OOS / invalidated, laboratory error / inconclusive). A step is recorded once; its content is JSON.
  A recorded step is corrected by a new row of the same kind naming it (``corrects_id``) with the reason: the
  original stays as it was, superseded; the current content of a phase is its latest correction. Each step is
  corrected at most once (so only the current one is), and the database holds it (migration 0053).
* :class:`OosClosure` — QA's closure, signed (``lims.oos.close``) on this row, naming the SM3 of the
  investigation's content.

Where the case stands is derived from these rows (:func:`pharmatrace.lims.oos.stage_of`), never stored twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

STEP_KINDS = (
    "phase1",  # 第一阶段：实验室调查
    "phase2",  # 第二阶段：全面调查
    "conclusion",  # 调查结论
)
CONCLUSIONS = (
    "confirmed",  # 确认超标
    "invalidated",  # 实验室差错，结果无效
    "inconclusive",  # 无法确定
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class OosStep(Audited, Base):
    """One recorded step of an OOS investigation (append-only)."""

    __tablename__ = "lims_oos_steps"
    __audit_type__ = "lims_oos_step"
    __audit_label__ = N_("OOS investigation step")
    __table_args__ = (
        CheckConstraint(_in("kind", STEP_KINDS), name="kind"),
        CheckConstraint("length(content) >= 2", name="content"),
        # one original step per case and kind; its corrections follow (0053)
        Index("uq_lims_oos_steps_case_kind", "case_id", "kind", unique=True,
              sqlite_where=text("corrects_id IS NULL"), postgresql_where=text("corrects_id IS NULL")),
        Index("uq_lims_oos_steps_corrects_id", "corrects_id", unique=True),  # a step is corrected at most once
        # and a correction names its reason: trigger lims_oos_steps_correction_reason (0053)
    )  # fmt: skip

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("lims_oos_cases.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON of the step's answers
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    recorded_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("lims_oos_steps.id"), nullable=True)
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="", server_default="")


class OosClosure(Audited, Base):
    """QA's signed closure of an OOS investigation, naming the SM3 of its content (append-only)."""

    __tablename__ = "lims_oos_closures"
    __audit_type__ = "lims_oos_closure"
    __audit_label__ = N_("Closure of an OOS investigation")
    __table_args__ = (
        CheckConstraint(_in("conclusion", CONCLUSIONS), name="conclusion"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        Index("uq_lims_oos_closures_case_id", "case_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("lims_oos_cases.id"), nullable=False)
    conclusion: Mapped[str] = mapped_column(String(16), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    closed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    closed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str] = mapped_column(String(500), nullable=False, default="")
