"""QMS change control (变更控制, TJ-10.3, SH-6.2.4): tables.

* :class:`ChangeRequest` — the change (``CC-2026-0001``): title, description, justification, type, class
  (minor 微小 / moderate 中等 / major 重大), the class the impact answers suggest and the rationale of an
  override, proposer, target date, an optional FMEA reference, and its lifecycle (status and the moment of each
  transition). From submission on its content is frozen and hashed (SM3, ``content_sm3``): the approvals sign it.
* :class:`ChangeImpact` — the impact and risk assessment: one row per area (product quality, registration,
  validation, stability, documents, training, computerized systems, supply) with impact yes/no, comment and a
  risk level. Changed while the change is a draft.
* :class:`ChangeItem` — an affected item (document, master recipe, equipment, specification, validation record,
  system component), checked against the plant's registers where they exist. Removed from a draft by voiding.
* :class:`ChangeDecision` — an approval or rejection by one approver function, or the closure; append-only,
  naming the content hash it was given on. Approvals and the closure are signed on this row.
* :class:`ChangeTask` — an implementation task: owner, due date, done with evidence; a *validation* task also
  names the test evidence or validation report. Voided with a reason, never deleted.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

CHANGE_TYPES = (
    "process",
    "equipment",
    "facility",
    "document",
    "material",
    "supplier",
    "specification",
    "analytical_method",
    "computerized_system",
    "other",
)
TYPE_LABELS = {
    "process": N_("Process"),
    "equipment": N_("Equipment"),
    "facility": N_("Facility"),
    "document": N_("Document"),
    "material": N_("Material"),
    "supplier": N_("Supplier"),
    "specification": N_("Specification"),
    "analytical_method": N_("Analytical method"),
    "computerized_system": N_("Computerized system"),
    "other": N_("Other"),
}
CLASSES = ("minor", "moderate", "major")  # 微小 / 中等 / 重大
CLASS_LABELS = {"minor": N_("Minor change"), "moderate": N_("Moderate change"), "major": N_("Major change")}
STATUSES = (
    "draft",  # 草稿：提出人可编辑
    "submitted",  # 已提交：评估完成，待批准
    "approved",  # 已批准：所需职能均已签名批准
    "in_implementation",  # 实施中
    "verification",  # 效果确认中
    "closed",  # 已关闭（QA 签名）
    "rejected",  # 已拒绝（附理由）
    "cancelled",  # 已取消（附理由）
)
STATUS_LABELS = {
    "draft": N_("Draft"),
    "submitted": N_("Submitted"),
    "approved": N_("Approved"),
    "in_implementation": N_("In implementation"),
    "verification": N_("Verification"),
    "closed": N_("Closed"),
    "rejected": N_("Rejected"),
    "cancelled": N_("Cancelled"),
}
OPEN_STATUSES = ("draft", "submitted", "approved", "in_implementation", "verification")
AREAS = (
    "product_quality",
    "regulatory",
    "validation",
    "stability",
    "documents",
    "training",
    "computerized_systems",
    "supply",
)
AREA_LABELS = {
    "product_quality": N_("Product quality"),
    "regulatory": N_("Regulatory / registration"),
    "validation": N_("Validation / qualification"),
    "stability": N_("Stability"),
    "documents": N_("Documents"),
    "training": N_("Training"),
    "computerized_systems": N_("Computerized systems"),
    "supply": N_("Supply"),
}
RISKS = ("low", "medium", "high")
RISK_LABELS = {"low": N_("Low"), "medium": N_("Medium"), "high": N_("High")}
ITEM_KINDS = ("document", "recipe", "equipment", "specification", "validation", "system_component")
ITEM_LABELS = {
    "document": N_("Controlled document"),
    "recipe": N_("Master recipe"),
    "equipment": N_("Equipment"),
    "specification": N_("Specification"),
    "validation": N_("Validation record"),
    "system_component": N_("System component"),
}
FUNCTIONS = ("qa", "production", "qc", "system_owner")  # the approver functions
FUNCTION_LABELS = {
    "qa": N_("Quality assurance"),
    "production": N_("Production head"),
    "qc": N_("Quality control head"),
    "system_owner": N_("System owner (IT)"),
}
DECISION_KINDS = ("approve", "reject", "close")
TASK_KINDS = ("action", "validation")
TASK_LABELS = {"action": N_("Action"), "validation": N_("Validation (test evidence)")}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class ChangeRequest(Audited, Base):
    """A change request (变更申请) and its lifecycle (TJ-10.3)."""

    __tablename__ = "qms_changes"
    __audit_type__ = "qms_change"
    __audit_label__ = N_("Change request")
    __table_args__ = (
        CheckConstraint(_in("change_type", CHANGE_TYPES), name="change_type"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("change_class IS NULL OR " + _in("change_class", CLASSES), name="change_class"),
        CheckConstraint(
            "suggested_class IS NULL OR " + _in("suggested_class", CLASSES), name="suggested_class"
        ),
        CheckConstraint("length(number) >= 12", name="number_length"),
        CheckConstraint("length(title) >= 2", name="title"),
        CheckConstraint("length(description) >= 2", name="description"),
        CheckConstraint("length(justification) >= 2", name="justification"),
        # Submitted and later: classified, hashed; an override of the suggested class carries its rationale.
        CheckConstraint(
            "status IN ('draft', 'cancelled') OR (change_class IS NOT NULL AND suggested_class IS NOT NULL "
            "AND submitted_at IS NOT NULL AND length(content_sm3) = 64)",
            name="submitted",
        ),
        CheckConstraint(
            "change_class IS NULL OR suggested_class IS NULL OR change_class = suggested_class "
            "OR length(class_rationale) >= 2",
            name="class_override",
        ),
        CheckConstraint(
            "status NOT IN ('approved', 'in_implementation', 'verification', 'closed') OR approved_at IS NOT NULL",
            name="approved",
        ),
        CheckConstraint(
            "status <> 'closed' OR (closed_at IS NOT NULL AND closed_by IS NOT NULL)", name="closed"
        ),
        CheckConstraint(
            "status <> 'rejected' OR (rejected_at IS NOT NULL AND length(reject_reason) >= 2)",
            name="rejected",
        ),
        CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND length(cancel_reason) >= 2)",
            name="cancelled",
        ),
        Index("ix_qms_changes_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)  # CC-2026-0001
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    justification: Mapped[str] = mapped_column(Text, nullable=False)
    change_type: Mapped[str] = mapped_column(String(24), nullable=False)
    change_class: Mapped[str | None] = mapped_column(String(16), nullable=True)
    suggested_class: Mapped[str | None] = mapped_column(String(16), nullable=True)  # at submission
    class_rationale: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    fmea_ref: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # a later FMEA
    target_date: Mapped[date] = mapped_column(Date, nullable=False)
    proposer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    proposer: Mapped[str] = mapped_column(String(64), nullable=False)
    proposer_name: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    implementation_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verification_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reject_reason: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_reason: Mapped[str] = mapped_column(String(1000), nullable=False, default="")

    impacts: Mapped[list[ChangeImpact]] = relationship(
        order_by=lambda: ChangeImpact.id, lazy="selectin", viewonly=True
    )
    items: Mapped[list[ChangeItem]] = relationship(
        order_by=lambda: ChangeItem.id,
        primaryjoin="and_(ChangeItem.change_id == ChangeRequest.id, ChangeItem.voided_at.is_(None))",
        lazy="selectin",
        viewonly=True,
    )
    decisions: Mapped[list[ChangeDecision]] = relationship(
        order_by=lambda: ChangeDecision.id, lazy="selectin", viewonly=True
    )
    tasks: Mapped[list[ChangeTask]] = relationship(
        order_by=lambda: ChangeTask.id,
        primaryjoin="and_(ChangeTask.change_id == ChangeRequest.id, ChangeTask.voided_at.is_(None))",
        lazy="selectin",
        viewonly=True,
    )


class ChangeImpact(Audited, Base):
    """The impact and risk of a change on one area (影响与风险评估)."""

    __tablename__ = "qms_change_impacts"
    __audit_type__ = "qms_change_impact"
    __audit_label__ = N_("Impact and risk assessment of a change")
    __table_args__ = (
        CheckConstraint(_in("area", AREAS), name="area"),
        CheckConstraint(_in("risk", RISKS), name="risk"),
        CheckConstraint("impact = false OR length(comment) >= 2", name="comment"),
        Index("uq_qms_change_impacts_area", "change_id", "area", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("qms_changes.id"), nullable=False)
    area: Mapped[str] = mapped_column(String(24), nullable=False)
    impact: Mapped[bool] = mapped_column(Boolean, nullable=False)
    risk: Mapped[str] = mapped_column(String(8), nullable=False)
    comment: Mapped[str] = mapped_column(String(1000), nullable=False, default="")


class ChangeItem(Audited, Base):
    """An item the change affects, by its code in the plant's register (受影响的文件、配方、设备、标准…)."""

    __tablename__ = "qms_change_items"
    __audit_type__ = "qms_change_item"
    __audit_label__ = N_("Item affected by a change")
    __table_args__ = (
        CheckConstraint(_in("kind", ITEM_KINDS), name="kind"),
        CheckConstraint("length(reference) >= 2", name="reference"),
        Index(
            "uq_qms_change_items_active",
            "change_id",
            "kind",
            "reference",
            unique=True,
            sqlite_where=text("voided_at IS NULL"),
            postgresql_where=text("voided_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("qms_changes.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    reference: Mapped[str] = mapped_column(String(64), nullable=False)  # SOP-PR-002, MR-DH-001, FD-01…
    name: Mapped[str] = mapped_column(String(256), nullable=False, default="")  # as the register had it
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ChangeDecision(Audited, Base):
    """An approval or rejection by an approver function, or the closure; append-only, signed on this row."""

    __tablename__ = "qms_change_decisions"
    __audit_type__ = "qms_change_decision"
    __audit_label__ = N_("Decision on a change request")
    __table_args__ = (
        CheckConstraint(_in("kind", DECISION_KINDS), name="kind"),
        CheckConstraint(
            "(kind = 'close' AND function IS NULL) OR (kind <> 'close' AND "
            + _in("function", FUNCTIONS)
            + ")",
            name="function",
        ),
        CheckConstraint("kind <> 'reject' OR length(comment) >= 2", name="reject_reason"),
        CheckConstraint("kind <> 'close' OR (effective = true AND length(comment) >= 2)", name="close"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        # One decision per function; one closure.
        Index(
            "uq_qms_change_decisions_function",
            "change_id",
            "function",
            unique=True,
            sqlite_where=text("function IS NOT NULL"),
            postgresql_where=text("function IS NOT NULL"),
        ),
        Index(
            "uq_qms_change_decisions_close",
            "change_id",
            unique=True,
            sqlite_where=text("kind = 'close'"),
            postgresql_where=text("kind = 'close'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("qms_changes.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    function: Mapped[str | None] = mapped_column(String(16), nullable=True)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    effective: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # closure: verified effective
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)


class ChangeTask(Audited, Base):
    """An implementation task of a change (实施任务): owner, due date, done with evidence."""

    __tablename__ = "qms_change_tasks"
    __audit_type__ = "qms_change_task"
    __audit_label__ = N_("Implementation task of a change")
    __table_args__ = (
        CheckConstraint(_in("kind", TASK_KINDS), name="kind"),
        CheckConstraint("length(title) >= 2", name="title"),
        CheckConstraint(
            "(done_at IS NULL AND done_by IS NULL) OR (done_at IS NOT NULL AND done_by IS NOT NULL "
            "AND length(evidence) >= 2)",
            name="done",
        ),
        # TJ-10.3: a validation task is done only with its test evidence or validation report.
        CheckConstraint(
            "kind <> 'validation' OR done_at IS NULL OR length(validation_ref) >= 2", name="validated"
        ),
        CheckConstraint("voided_at IS NULL OR length(void_reason) >= 2", name="voided"),
        Index("uq_qms_change_tasks_seq", "change_id", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("qms_changes.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    owner_name: Mapped[str] = mapped_column(String(128), nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    done_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evidence: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    validation_ref: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
