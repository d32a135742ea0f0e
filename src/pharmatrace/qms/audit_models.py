"""Quality audits and self-inspection (质量审计与自检; TJ-11.1, TJ-11.2.1, SH-6.2.4; issue 9 item 7): the tables.

* :class:`Audit` — the record (``AU-YYYY-NNNN``): its kind (a self-inspection 自检, a supplier audit 供应商审计 of
  a named supplier, a computerized-system audit 计算机化系统审计 after TJ-11, an external inspection by a regulator or
  a customer), title, scope, the auditee (department or area), the lead auditor and the team, the planned dates,
  and its status along the declared state machine of :mod:`pharmatrace.qms.audits`. Cancelled with a reason,
  never deleted.
* :class:`AuditChecklistItem` — one line of the checklist: a question, its result (not assessed, conforms,
  finding, not applicable) and the evidence seen; a computerized-system audit starts with TJ-11.2.1 a–e, each with
  the page of this system that holds its evidence.
* :class:`AuditFinding` — a finding (critical, major, minor, recommendation) with its clause, the auditee's
  response, its due date, the CAPA it is handled by and whether the auditor verified it.
* :class:`AuditDecision` — QA's signed closure, append-only, naming the SM3 of the audit's content (checklist and
  findings) and the conclusion; the e-signature (``qms.audit.close``) is given on this row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

KINDS = ("self_inspection", "supplier", "computerized_system", "external")
KIND_LABELS = {
    "self_inspection": N_("Self-inspection"),
    "supplier": N_("Supplier audit"),
    "computerized_system": N_("Computerized-system audit"),
    "external": N_("External inspection"),
}
STATUSES = (
    "planned",  # 已计划
    "in_progress",  # 实施中
    "reporting",  # 报告中
    "closed",  # 已关闭（QA 签名）
    "cancelled",  # 已取消（附理由）
)
STATUS_LABELS = {
    "planned": N_("Planned"),
    "in_progress": N_("In progress"),
    "reporting": N_("Reporting"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}
OPEN_STATUSES = ("planned", "in_progress", "reporting")
# the checklist and the findings are worked on while the audit is carried out and reported
WORKING_STATUSES = ("in_progress", "reporting")
RESULTS = ("not_assessed", "conforms", "finding", "not_applicable")
RESULT_LABELS = {
    "not_assessed": N_("Not assessed"),
    "conforms": N_("Conforms"),
    "finding": N_("Finding"),
    "not_applicable": N_("Not applicable"),
}
CLASSIFICATIONS = ("critical", "major", "minor", "recommendation")
CLASSIFICATION_LABELS = {
    "critical": N_("Critical"),
    "major": N_("Major"),
    "minor": N_("Minor"),
    "recommendation": N_("Recommendation"),
}
# a critical or a major finding is handled by a CAPA and verified before the audit closes
NEEDS_CAPA = ("critical", "major")
FINDING_STATUSES = ("open", "responded", "verified")
FINDING_STATUS_LABELS = {"open": N_("Open"), "responded": N_("Responded"), "verified": N_("Verified")}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Audit(Audited, Base):
    """A quality audit or a self-inspection (TJ-11.1, SH-6.2.4)."""

    __tablename__ = "qms_audits"
    __audit_type__ = "qms_audit"
    __audit_label__ = N_("Audit")
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("length(number) >= 6", name="number"),
        CheckConstraint("length(title) >= 2", name="title"),
        CheckConstraint("length(scope) >= 2", name="scope"),
        CheckConstraint("length(auditee) >= 1", name="auditee"),
        CheckConstraint("length(lead_auditor) >= 1", name="lead_auditor"),
        CheckConstraint("planned_end >= planned_start", name="planned_dates"),
        # a supplier audit names its supplier
        CheckConstraint("kind <> 'supplier' OR supplier_id IS NOT NULL", name="supplier"),
        CheckConstraint("status IN ('planned', 'cancelled') OR started_at IS NOT NULL", name="started"),
        CheckConstraint(
            "status <> 'closed' OR (closed_at IS NOT NULL AND closed_by IS NOT NULL)", name="closed"
        ),
        # segregation of duties: the lead auditor does not close their own audit
        CheckConstraint("closed_by IS NULL OR closed_by <> lead_auditor", name="closer"),
        CheckConstraint(
            "status <> 'cancelled' OR (cancelled_at IS NOT NULL AND cancel_reason IS NOT NULL "
            "AND length(cancel_reason) >= 2)",
            name="cancelled",
        ),
        Index("ix_qms_audits_status", "status"),
        Index("ix_qms_audits_supplier", "supplier_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # AU-2026-0001
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), nullable=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    scope: Mapped[str] = mapped_column(String(2000), nullable=False)
    auditee: Mapped[str] = mapped_column(String(200), nullable=False)  # department or area audited
    lead_auditor: Mapped[str] = mapped_column(String(64), nullable=False)
    lead_auditor_name: Mapped[str] = mapped_column(String(128), nullable=False)
    audit_team: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    planned_start: Mapped[date] = mapped_column(Date, nullable=False)
    planned_end: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    items: Mapped[list[AuditChecklistItem]] = relationship(
        order_by=lambda: AuditChecklistItem.seq, lazy="selectin", viewonly=True
    )
    findings: Mapped[list[AuditFinding]] = relationship(
        order_by=lambda: AuditFinding.seq, lazy="selectin", viewonly=True
    )
    decisions: Mapped[list[AuditDecision]] = relationship(
        order_by=lambda: AuditDecision.id, lazy="selectin", viewonly=True
    )


class AuditChecklistItem(Audited, Base):
    """One checklist question of an audit, its result and the evidence seen (TJ-11.2.1)."""

    __tablename__ = "qms_audit_checklist_items"
    __audit_type__ = "qms_audit_checklist_item"
    __audit_label__ = N_("Audit checklist item")
    __table_args__ = (
        CheckConstraint(_in("result", RESULTS), name="result"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint("length(code) >= 1", name="code"),
        CheckConstraint("length(question) >= 2", name="question"),
        CheckConstraint(
            "result = 'not_assessed' OR (assessed_at IS NOT NULL AND assessed_by IS NOT NULL)",
            name="assessed",
        ),
        Index("uq_qms_audit_checklist_items_seq", "audit_id", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("qms_audits.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # 1, 2, … within the audit
    code: Mapped[str] = mapped_column(String(32), nullable=False)  # e.g. TJ-11.2.1 a
    question: Mapped[str] = mapped_column(
        String(1000), nullable=False
    )  # an English msgid for the TJ-11 items
    evidence_links: Mapped[str] = mapped_column(
        String(500), nullable=False, default=""
    )  # paths, space-separated
    result: Mapped[str] = mapped_column(String(16), nullable=False)
    evidence_note: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    assessed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditFinding(Audited, Base):
    """A finding of an audit: its classification, clause, the auditee's response, its CAPA, its verification."""

    __tablename__ = "qms_audit_findings"
    __audit_type__ = "qms_audit_finding"
    __audit_label__ = N_("Audit finding")
    __table_args__ = (
        CheckConstraint(_in("classification", CLASSIFICATIONS), name="classification"),
        CheckConstraint(_in("status", FINDING_STATUSES), name="status"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint("length(description) >= 2", name="description"),
        CheckConstraint(
            "status = 'open' OR (length(response) >= 1 AND responded_at IS NOT NULL)", name="responded"
        ),
        CheckConstraint(
            "status <> 'verified' OR (verified_at IS NOT NULL AND verified_by IS NOT NULL)", name="verified"
        ),
        # a critical or major finding is verified only once it is handled by a CAPA
        CheckConstraint(
            "status <> 'verified' OR classification NOT IN ('critical', 'major') OR capa_number IS NOT NULL",
            name="capa",
        ),
        Index("uq_qms_audit_findings_seq", "audit_id", "seq", unique=True),
        Index("ix_qms_audit_findings_capa", "capa_number"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("qms_audits.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    classification: Mapped[str] = mapped_column(String(16), nullable=False)
    clause_ref: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    description: Mapped[str] = mapped_column(String(4000), nullable=False)
    response: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    capa_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # qms_capas.number
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    responded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verification_note: Mapped[str] = mapped_column(String(2000), nullable=False, default="")


class AuditDecision(Audited, Base):
    """QA's signed closure of an audit, naming the content SM3 and the conclusion. Append-only (TJ-11.1)."""

    __tablename__ = "qms_audit_decisions"
    __audit_type__ = "qms_audit_decision"
    __audit_label__ = N_("Audit decision")
    __table_args__ = (
        CheckConstraint("kind IN ('close')", name="kind"),
        CheckConstraint("length(content_sm3) = 64", name="content_sm3"),
        CheckConstraint("length(conclusion) >= 2", name="conclusion"),
        Index("uq_qms_audit_decisions_kind", "audit_id", "kind", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("qms_audits.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    content_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    conclusion: Mapped[str] = mapped_column(String(4000), nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
