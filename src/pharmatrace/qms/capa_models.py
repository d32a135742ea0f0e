"""QMS corrective and preventive actions (CAPA, 纠正和预防措施; SH-6.2.4, TJ-9.4, TJ-6.4.4): tables.

* :class:`Capa` — the record (``CAPA-YYYY-NNNN``): corrective or preventive, its source (a deviation, an OOS case,
  an audit, a complaint, a change, other) and the source's reference, the problem, the root cause reference, the
  owner and the due date, the originator; the effectiveness criteria and the planned check date set when QA
  approves the plan; its status along the declared state machine of :mod:`pharmatrace.qms.capa`. Cancelled with a
  reason, never deleted.
* :class:`CapaAction` — one action of the plan: type, description, owner, due date, and when done the
  implementation evidence (text, and optionally a file kept in the file store under its SM3). A ``retraining``
  action names the controlled document and the people to retrain; its retraining orders are issued when the
  action is issued (plan approval, or added to an approved CAPA). ``cycle`` is the effectiveness round it
  belongs to (a CAPA found not effective goes back to implementation with new actions of the next cycle).
* :class:`CapaDecision` — a signed decision, append-only: the plan approval, and each effectiveness verdict
  (effective, or not effective), naming the SM3 of the CAPA content it was given on; the e-signature is given
  on this row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

KINDS = ("corrective", "preventive")
KIND_LABELS = {"corrective": N_("Corrective action"), "preventive": N_("Preventive action")}
SOURCE_TYPES = ("deviation", "oos", "audit", "complaint", "change", "other")
SOURCE_LABELS = {
    "deviation": N_("Deviation"),
    "oos": N_("OOS investigation"),
    "audit": N_("Audit"),
    "complaint": N_("Complaint"),
    "change": N_("Change control"),
    "other": N_("Other"),
}
STATUSES = (
    "draft",  # 草稿：计划编制中
    "approved",  # 计划已批准（QA 签名）
    "implementation",  # 实施中
    "effectiveness_pending",  # 措施全部完成，待有效性检查
    "closed",  # 有效，已关闭（QA 签名）
    "cancelled",  # 已取消（附理由）
)
STATUS_LABELS = {
    "draft": N_("Draft"),
    "approved": N_("Plan approved"),
    "implementation": N_("In implementation"),
    "effectiveness_pending": N_("Effectiveness check pending"),
    "closed": N_("Closed (effective)"),
    "cancelled": N_("Cancelled"),
}
OPEN_STATUSES = ("draft", "approved", "implementation", "effectiveness_pending")
ACTION_TYPES = ("general", "retraining", "document_change", "equipment", "process_change")
ACTION_TYPE_LABELS = {
    "general": N_("General"),
    "retraining": N_("Retraining"),
    "document_change": N_("Document change"),
    "equipment": N_("Equipment or facility"),
    "process_change": N_("Process change"),
}
ACTION_STATUSES = ("open", "done", "voided")
ACTION_STATUS_LABELS = {"open": N_("Open"), "done": N_("Done"), "voided": N_("Voided")}
DECISION_KINDS = ("plan_approval", "effectiveness")
VERDICTS = ("approved", "effective", "not_effective")
VERDICT_LABELS = {
    "approved": N_("Plan approved"),
    "effective": N_("Effective"),
    "not_effective": N_("Not effective"),
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Capa(Audited, Base):
    """A CAPA record and its lifecycle (SH-6.2.4, TJ-9.4)."""

    __tablename__ = "qms_capas"
    __audit_type__ = "qms_capa"
    __audit_label__ = N_("CAPA")
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("source_type", SOURCE_TYPES), name="source_type"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("length(number) >= 6", name="number"),
        CheckConstraint("length(title) >= 1", name="title"),
        CheckConstraint("length(problem) >= 1", name="problem"),
        CheckConstraint("length(owner) >= 1", name="owner"),
        CheckConstraint("cycle >= 1", name="cycle"),
        CheckConstraint("status <> 'draft' OR approved_at IS NULL", name="draft_unapproved"),
        CheckConstraint(
            "status IN ('draft', 'cancelled') OR (approved_at IS NOT NULL AND approved_by IS NOT NULL "
            "AND effectiveness_criteria IS NOT NULL AND effectiveness_due IS NOT NULL)",
            name="approved",
        ),
        CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL", name="closed"),
        CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL "
            "AND length(cancel_reason) >= 2)",
            name="cancelled",
        ),
        Index("ix_qms_capas_status", "status"),
        Index("ix_qms_capas_source", "source_type", "source_ref"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # CAPA-2026-0001
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    source_type: Mapped[str] = mapped_column(String(16), nullable=False)
    source_ref: Mapped[str] = mapped_column(String(64), nullable=False)  # DEV-2026-0001, OOS2611-0001, …
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    problem: Mapped[str] = mapped_column(String(2000), nullable=False)
    root_cause: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    owner_name: Mapped[str] = mapped_column(String(128), nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    cycle: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    effectiveness_criteria: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    effectiveness_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)  # the originator
    created_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    actions: Mapped[list[CapaAction]] = relationship(
        order_by=lambda: CapaAction.seq, lazy="selectin", viewonly=True
    )
    decisions: Mapped[list[CapaDecision]] = relationship(
        order_by=lambda: CapaDecision.id, lazy="selectin", viewonly=True
    )


class CapaAction(Audited, Base):
    """One action of a CAPA: who does what by when, and the evidence that it was done."""

    __tablename__ = "qms_capa_actions"
    __audit_type__ = "qms_capa_action"
    __audit_label__ = N_("CAPA action")
    __table_args__ = (
        CheckConstraint(_in("action_type", ACTION_TYPES), name="action_type"),
        CheckConstraint(_in("status", ACTION_STATUSES), name="status"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint("cycle >= 1", name="cycle"),
        CheckConstraint("length(description) >= 1", name="description"),
        CheckConstraint("length(owner) >= 1", name="owner"),
        CheckConstraint(
            "status <> 'done' OR (completed_at IS NOT NULL AND completed_by IS NOT NULL AND length(evidence) >= 1)",
            name="done",
        ),
        CheckConstraint(
            "status <> 'voided' OR (voided_at IS NOT NULL AND void_reason IS NOT NULL AND length(void_reason) >= 2)",
            name="voided",
        ),
        CheckConstraint(
            "action_type <> 'retraining' OR (document_number IS NOT NULL AND retrain_logins IS NOT NULL)",
            name="retraining",
        ),
        CheckConstraint("action_type <> 'document_change' OR document_number IS NOT NULL", name="document"),
        CheckConstraint("evidence_sm3 IS NULL OR length(evidence_sm3) = 64", name="evidence_sm3"),
        Index("uq_qms_capa_actions_seq", "capa_id", "seq", unique=True),
        Index("ix_qms_capa_actions_owner", "owner"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    capa_id: Mapped[int] = mapped_column(ForeignKey("qms_capas.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # 1, 2, … within the CAPA
    cycle: Mapped[int] = mapped_column(Integer, nullable=False)
    action_type: Mapped[str] = mapped_column(String(24), nullable=False)
    description: Mapped[str] = mapped_column(String(2000), nullable=False)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    owner_name: Mapped[str] = mapped_column(String(128), nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    document_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    retrain_logins: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list of log-in IDs
    retraining_orders: Mapped[str | None] = mapped_column(String(500), nullable=True)  # ids, comma-separated
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    completed_by_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    evidence: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    evidence_sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evidence_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    evidence_media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    evidence_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class CapaDecision(Audited, Base):
    """A signed decision on a CAPA (plan approval, effectiveness verdict), naming the content SM3. Append-only."""

    __tablename__ = "qms_capa_decisions"
    __audit_type__ = "qms_capa_decision"
    __audit_label__ = N_("CAPA decision")
    __table_args__ = (
        CheckConstraint(_in("kind", DECISION_KINDS), name="kind"),
        CheckConstraint(_in("verdict", VERDICTS), name="verdict"),
        CheckConstraint("(kind = 'plan_approval') = (verdict = 'approved')", name="verdict_of_kind"),
        CheckConstraint("kind <> 'effectiveness' OR length(evidence) >= 1", name="effectiveness_evidence"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("evidence_sm3 IS NULL OR length(evidence_sm3) = 64", name="evidence_sm3"),
        CheckConstraint("cycle >= 1", name="cycle"),
        Index("uq_qms_capa_decisions_round", "capa_id", "kind", "cycle", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    capa_id: Mapped[int] = mapped_column(ForeignKey("qms_capas.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    verdict: Mapped[str] = mapped_column(String(16), nullable=False)
    cycle: Mapped[int] = mapped_column(Integer, nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    evidence: Mapped[str] = mapped_column(String(2000), nullable=False, default="")  # the check's result
    evidence_sm3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evidence_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    evidence_media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    evidence_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
