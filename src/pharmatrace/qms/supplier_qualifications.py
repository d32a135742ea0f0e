"""Supplier qualification (供应商资质确认; SH-6.2.4, TJ-5.1, TJ-5.2.1.1; issue 9 item 6): the service.

A qualification (``SQ-YYYY-NNNN``) of one active supplier for one active material is drafted by a holder of
``qms.supplier.manage``: a new supplier, a requalification, or a change at the supplier (a new site, a new
process). The material's kind sets the least risk class (:func:`rule_risk_class`: herbs, decoction pieces and
primary packaging are high); the requester may raise it, never lower it. A high risk requires an on-site audit: a
supplier audit (``AU-YYYY-NNNN``) of this supplier, linked by its number. The evidence documents
(:class:`QualificationDocument`) are added and voided with a reason while a draft; the supplier's kind sets the
documents required (:data:`REQUIRED_DOCUMENTS`: a planting base its GAP evidence, TJ-5.1; a manufacturer its
manufacturing licence). Its lifecycle is the declared state machine :data:`TRANSITIONS`::

    draft ──submit (evidence complete and valid; audit linked when required; trial lots evaluated)──> in_review
    in_review ──return (with a reason)──> draft
    in_review ──approve (QA signs; the audit closed when required; never the requester)──> approved
    in_review ──reject (QA, with a reason; never the requester)──> rejected
    draft / in_review ──cancel (with a reason)──> cancelled

* The approval is QA's electronic signature (``qms.supplier.qualify``) on a :class:`QualificationDecision` row
  keeping the canonical content (:func:`canonical_content`) and its SM3; in the same unit of work it writes the
  approved-supplier list through :func:`pharmatrace.wms.service.decide_approval` — the proposed status (approved or
  conditional) until the proposed date, with a reason naming the SQ number — so the warehouse receives from the
  supplier from then on (TJ-5.2.1.1). A rejection keeps its reason on a decision row and leaves the list as it is.
* :func:`due_for_requalification` lists the approved and conditional lines of the list whose validity ends within
  a window (90 days unless told) or has ended, and that no open qualification covers.

Every refusal raises a typed, translatable error and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger, workflow
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import numbering, supplier_performance
from pharmatrace.qms.audit_models import Audit
from pharmatrace.qms.signatures import signatures_of
from pharmatrace.qms.supplier_qualification_models import (
    DOCUMENT_LABELS,
    KINDS,
    OPEN_STATUSES,
    RISK_CLASSES,
    RISK_LABELS,
    STATUS_LABELS,
    STATUSES,
    QualificationDecision,
    QualificationDocument,
    SupplierQualification,
)
from pharmatrace.qms.supplier_qualification_schemas import (
    AuditLinkPublic,
    DecisionPublic,
    DeviationLinkPublic,
    DocumentCreate,
    DocumentPublic,
    DuePublic,
    PerformancePublic,
    QualificationApprove,
    QualificationCreate,
    QualificationDetail,
    QualificationEvaluation,
    QualificationPublic,
    QualificationUpdate,
)
from pharmatrace.wms import service as wms
from pharmatrace.wms.models import Material, Supplier, SupplierApproval
from pharmatrace.wms.schemas import ApprovalDecision

MANAGE_PERMISSION = "qms.supplier.manage"
VIEW_PERMISSION = "qms.view"
QA_PERMISSION = "qms.deviation.approve"  # the signature step of qms.supplier.qualify (kernel/esign/policy.py)
QUALIFY_ACTION = "qms.supplier.qualify"
DECISION_TYPE = "qms_supplier_qualification_decision"
DUE_WITHIN_DAYS = 90

# The least risk class by the material's kind (SH-6.2.4, TJ-5.1): what goes into the product as it is grown or
# touches it is high; the requester may raise a class, never lower it.
RULE_RISK = {
    "herb": "high",
    "decoction_piece": "high",
    "primary_packaging": "high",
    "extract": "medium",
    "excipient": "medium",
    "intermediate": "medium",
    "finished_good": "medium",
    "secondary_packaging": "low",
}
RISK_RANK = {"low": 0, "medium": 1, "high": 2}
# The evidence each kind of supplier gives (TJ-5.1: a planting base its GAP record; a manufacturer its licence).
REQUIRED_DOCUMENTS = {
    "manufacturer": ("business_licence", "manufacturing_licence", "quality_agreement"),
    "distributor": ("business_licence", "quality_agreement"),
    "planting_base": ("business_licence", "gap", "quality_agreement"),
}


class QualificationDutiesNotSegregated(NotPermitted):
    """Who asked for a supplier qualification may not decide on it (SH-7.1.4)."""

    code = "supplier_qualification_duties"


class QualificationTransitionRefused(Conflict):
    """A step of a supplier qualification that its state or its guards do not allow now: the message says why."""

    code = "supplier_qualification_refused"


# --- reading -------------------------------------------------------------------------------------------------


def find_qualification(session: Session, number: str) -> SupplierQualification | None:
    return session.scalar(
        select(SupplierQualification).where(SupplierQualification.number == number.strip().upper())
    )


def get_qualification(session: Session, number: str) -> SupplierQualification:
    found = find_qualification(session, number)
    if found is None:
        raise NotFound(N_("No supplier qualification {number}"), number=number)
    return found


def live_documents(q: SupplierQualification) -> list[QualificationDocument]:
    return [d for d in q.documents if d.voided_at is None]


def get_document(q: SupplierQualification, seq: int) -> QualificationDocument:
    for doc in q.documents:
        if doc.seq == seq:
            return doc
    raise NotFound(N_("No document {seq} in {number}"), seq=seq, number=q.number)


def list_qualifications(
    session: Session, *, status: str = "", kind: str = "", risk_class: str = "", text: str = ""
) -> list[SupplierQualification]:
    """Qualifications, newest first; ``status`` one of :data:`STATUSES` or ``open``; ``text`` in the number, the
    supplier's or the material's code or name."""
    query = (
        select(SupplierQualification)
        .join(Supplier, Supplier.id == SupplierQualification.supplier_id)
        .join(Material, Material.id == SupplierQualification.material_id)
        .order_by(SupplierQualification.id.desc())
    )
    if status == "open":
        query = query.where(SupplierQualification.status.in_(OPEN_STATUSES))
    elif status in STATUSES:
        query = query.where(SupplierQualification.status == status)
    if kind in KINDS:
        query = query.where(SupplierQualification.kind == kind)
    if risk_class in RISK_CLASSES:
        query = query.where(SupplierQualification.risk_class == risk_class)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            or_(
                SupplierQualification.number.ilike(like),
                Supplier.code.ilike(like),
                Supplier.name.ilike(like),
                Material.code.ilike(like),
                Material.name.ilike(like),
            )
        )
    return list(session.scalars(query).unique())


def qualifications_for_supplier(session: Session, supplier_id: int) -> list[SupplierQualification]:
    """The qualifications of one supplier, newest first (for the supplier's page)."""
    query = select(SupplierQualification).where(SupplierQualification.supplier_id == supplier_id)
    return list(session.scalars(query.order_by(SupplierQualification.id.desc())).unique())


def rule_risk_class(material_kind: str) -> str:
    """The least risk class of a material of this kind (:data:`RULE_RISK`)."""
    return RULE_RISK.get(material_kind, "medium")


def required_documents(q: SupplierQualification) -> tuple[str, ...]:
    return REQUIRED_DOCUMENTS.get(q.supplier.kind, ("business_licence", "quality_agreement"))


def missing_documents(q: SupplierQualification) -> list[str]:
    present = {d.kind for d in live_documents(q)}
    return [kind for kind in required_documents(q) if kind not in present]


def expired_documents(q: SupplierQualification, on: date | None = None) -> list[QualificationDocument]:
    day = on or clock.today()
    return [d for d in live_documents(q) if d.valid_until is not None and d.valid_until < day]


def linked_audit(session: Session, q: SupplierQualification) -> Audit | None:
    if not q.audit_number:
        return None
    return session.scalar(select(Audit).where(Audit.number == q.audit_number))


# --- requalification reminders -------------------------------------------------------------------------------


def due_for_requalification(
    session: Session, within_days: int = DUE_WITHIN_DAYS, on: date | None = None
) -> list[DuePublic]:
    """Approved and conditional lines of the approved-supplier list whose validity ends within ``within_days`` of
    ``on`` (today) or has ended, of an active supplier and material, and which no open qualification covers;
    soonest first."""
    day = on or clock.today()
    limit = wms.end_of_day(day + timedelta(days=within_days))
    open_pairs = {
        (supplier_id, material_id)
        for supplier_id, material_id in session.execute(
            select(SupplierQualification.supplier_id, SupplierQualification.material_id).where(
                SupplierQualification.status.in_(OPEN_STATUSES)
            )
        )
    }
    rows = session.scalars(
        select(SupplierApproval)
        .where(
            SupplierApproval.status.in_(("approved", "conditional")),
            SupplierApproval.valid_until.is_not(None),
            SupplierApproval.valid_until <= limit,
        )
        .order_by(SupplierApproval.valid_until, SupplierApproval.id)
    ).unique()
    due: list[DuePublic] = []
    for a in rows:
        if (a.supplier_id, a.material_id) in open_pairs:
            continue
        if a.supplier.voided_at is not None or a.material.voided_at is not None or a.valid_until is None:
            continue
        until = clock.to_beijing(a.valid_until).date()
        due.append(DuePublic(
            supplier_code=a.supplier.code, supplier_name=a.supplier.name, material_code=a.material.code,
            material_name=a.material.name, status=a.status, valid_until=until, days_left=(until - day).days,
        ))  # fmt: skip
    return due


# --- performance ---------------------------------------------------------------------------------------------


def performance_of(
    session: Session, supplier_code: str, days: int = supplier_performance.DEFAULT_DAYS
) -> PerformancePublic:
    """What :func:`pharmatrace.qms.supplier_performance.performance` computes for the supplier over the last
    ``days`` (30 to 1825), as the API and the qualification page show it."""
    supplier = session.scalar(select(Supplier).where(Supplier.code == supplier_code.strip().upper()))
    if supplier is None:
        raise NotFound(N_("No supplier with code “{code}”"), code=supplier_code)
    p = supplier_performance.performance(session, supplier.id, days=days)
    return PerformancePublic(
        supplier_code=supplier.code, supplier_name=supplier.name, days=days, since=p.since, until=p.until,
        lots=p.lots, by_status=p.by_status, decided=p.decided, acceptance_rate=p.acceptance_rate,
        open_findings=p.open_findings,
        deviations=[DeviationLinkPublic(number=d.number, classification=d.classification, status=d.status,
                                        lots=list(d.lots)) for d in p.deviations],
        audits=[AuditLinkPublic(number=a.number, kind=a.kind, status=a.status, planned_start=a.planned_start,
                                planned_end=a.planned_end, findings=len(a.findings)) for a in p.audits],
    )  # fmt: skip


# --- content and its hash ------------------------------------------------------------------------------------


def canonical_content(q: SupplierQualification) -> str:
    """The qualification as canonical JSON — supplier, material, risk, audit, trial lots, proposal, conclusion
    and every live document: what the decision keeps and its ``content_sm3`` hashes."""
    return ledger.canonical_text({
        "number": q.number, "supplier": q.supplier.code, "material": q.material.code, "kind": q.kind,
        "description": q.description, "risk_class": q.risk_class, "audit_required": q.audit_required,
        "audit": q.audit_number,
        "samples": {"tested": q.samples_tested, "conforming": q.samples_conforming, "notes": q.sample_notes},
        "proposed": [q.proposed_status,
                     q.proposed_valid_until.isoformat() if q.proposed_valid_until else None],
        "conclusion": q.conclusion, "requester": q.requester,
        "documents": [
            {"seq": d.seq, "kind": d.kind, "reference": d.reference,
             "valid_until": d.valid_until.isoformat() if d.valid_until else None, "note": d.note}
            for d in live_documents(q)
        ],
    })  # fmt: skip


def content_hash(q: SupplierQualification) -> str:
    return crypto.sm3(canonical_content(q).encode()).hex()


# --- the state machine ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    qualification: SupplierQualification
    principal: Principal


Guard = Callable[[Context], None]


def guard_documents(ctx: Context) -> None:
    # SH-6.2.4, TJ-5.1: the evidence the supplier's kind requires, none of it expired
    q = ctx.qualification
    missing = missing_documents(q)
    if missing:
        raise QualificationTransitionRefused(
            N_("{number} lacks the required documents: {kinds}"),
            number=q.number,
            kinds=", ".join(Msgid(DOCUMENT_LABELS[k]) for k in missing),
        )
    expired = expired_documents(q)
    if expired:
        raise QualificationTransitionRefused(
            N_("Documents {seqs} of {number} have expired"),
            seqs=", ".join(str(d.seq) for d in expired),
            number=q.number,
        )


def guard_audit_linked(ctx: Context) -> None:
    q = ctx.qualification
    if q.audit_required and not q.audit_number:
        raise QualificationTransitionRefused(
            N_("{number} requires an on-site audit: link the supplier audit"), number=q.number
        )


def guard_evaluated(ctx: Context) -> None:
    # trial lots tested and the proposal made before review
    q = ctx.qualification
    if q.samples_tested < 1:
        raise QualificationTransitionRefused(N_("{number} has no trial lot evaluated"), number=q.number)
    if q.proposed_status is None or q.proposed_valid_until is None:
        raise QualificationTransitionRefused(
            N_("{number} has no proposed status and valid-until date"), number=q.number
        )
    if q.proposed_status == "approved" and q.samples_conforming < q.samples_tested:
        raise QualificationTransitionRefused(
            N_("Not every trial lot of {number} conforms: propose a conditional approval"), number=q.number
        )
    if q.proposed_valid_until <= clock.today():
        raise QualificationTransitionRefused(
            N_("The proposed valid-until date of {number} has passed"), number=q.number
        )


def guard_audit_closed(ctx: Context) -> None:
    # the on-site audit is done and closed before QA approves
    q = ctx.qualification
    if not q.audit_required and not q.audit_number:
        return
    audit = linked_audit(ctx.session, q)
    if audit is None or audit.status != "closed":
        raise QualificationTransitionRefused(
            N_("The supplier audit {audit} of {number} is not closed"),
            audit=q.audit_number or "—",
            number=q.number,
        )


def guard_not_the_requester(ctx: Context) -> None:
    # SH-7.1.4: who asked for a qualification does not decide on it
    if ctx.principal.login == ctx.qualification.requester:
        raise QualificationDutiesNotSegregated(
            N_("The requester of a supplier qualification may not decide on it")
        )


Transition = workflow.Transition[Context]

SUBMIT_GUARDS: tuple[Guard, ...] = (guard_documents, guard_audit_linked, guard_evaluated)

# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("submit", ("draft",), "in_review", (MANAGE_PERMISSION,), SUBMIT_GUARDS),
        Transition("return", ("in_review",), "draft", (QA_PERMISSION, MANAGE_PERMISSION), ()),
        Transition("approve", ("in_review",), "approved", (QA_PERMISSION,),
                   (*SUBMIT_GUARDS, guard_audit_closed, guard_not_the_requester), signed=QUALIFY_ACTION),
        Transition("reject", ("in_review",), "rejected", (QA_PERMISSION,), (guard_not_the_requester,)),
        Transition("cancel", ("draft", "in_review"), "cancelled", (MANAGE_PERMISSION,), ()),
    )
}
# fmt: on


MACHINE = workflow.Machine(
    TRANSITIONS,
    Context,
    workflow.state_refusal(QualificationTransitionRefused, STATUS_LABELS),
)
_refuse_state = MACHINE.refused
_check = MACHINE.check
allowed = MACHINE.allowed


def _draft(principal: Principal, q: SupplierQualification) -> None:
    """Documents and the evaluation change only while a draft."""
    principal.require(MANAGE_PERMISSION)
    if q.status != "draft":
        raise _refuse_state(q)


# --- checks against the plant --------------------------------------------------------------------------------


def _supplier(session: Session, code: str) -> Supplier:
    supplier = session.scalar(select(Supplier).where(Supplier.code == code.strip().upper()))
    if supplier is None:
        raise NotFound(N_("No supplier with code “{code}”"), code=code)
    if supplier.voided_at is not None:
        raise Conflict(N_("The supplier “{code}” is void"), code=code)
    return supplier


def _material(session: Session, code: str) -> Material:
    material = session.scalar(select(Material).where(Material.code == code.strip().upper()))
    if material is None:
        raise NotFound(N_("No material with code “{code}”"), code=code)
    if material.voided_at is not None:
        raise Conflict(N_("The material “{code}” is void"), code=code)
    return material


def _risk(material: Material, asked: str | None) -> str:
    rule = rule_risk_class(material.kind)
    if asked is None:
        return rule
    if RISK_RANK[asked] < RISK_RANK[rule]:
        raise ValidationFailed(
            N_("A material of this kind is at least of “{rule}” risk: the class may be raised, not lowered"),
            rule=Msgid(RISK_LABELS[rule]),
        )
    return asked


def _audit(session: Session, supplier: Supplier, number: str | None) -> str | None:
    """A linked audit exists and is a supplier audit of this supplier."""
    if not number:
        return None
    audit = session.scalar(select(Audit).where(Audit.number == number.strip().upper()))
    if audit is None:
        raise NotFound(N_("No audit {number}"), number=number)
    if audit.kind != "supplier" or audit.supplier_id != supplier.id:
        raise Conflict(N_("{audit} is not an audit of the supplier {supplier}"), audit=audit.number,
                       supplier=supplier.code)  # fmt: skip
    if audit.status == "cancelled":
        raise Conflict(N_("The audit {audit} was cancelled"), audit=audit.number)
    return audit.number


def _evaluate(session: Session, q: SupplierQualification, body: QualificationEvaluation) -> None:
    q.description = body.description
    q.risk_class = _risk(q.material, body.risk_class)
    q.audit_required = q.risk_class == "high" or body.onsite_audit
    q.audit_number = _audit(session, q.supplier, body.audit_number)
    q.samples_tested = body.samples_tested
    q.samples_conforming = body.samples_conforming
    q.sample_notes = body.sample_notes
    q.proposed_status = body.proposed_status
    q.proposed_valid_until = body.proposed_valid_until
    q.conclusion = body.conclusion


def next_number(session: Session) -> str:
    """``SQ-2026-0001``: the year (Beijing) and a serial per year (``qms.numbering``)."""
    return numbering.next_number(session, "SQ", find_qualification)


# --- writing -------------------------------------------------------------------------------------------------


def create_qualification(
    uow: UnitOfWork, principal: Principal, body: QualificationCreate
) -> SupplierQualification:
    """A new qualification (``draft``) of an active supplier for an active material."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    supplier = _supplier(session, body.supplier_code)
    material = _material(session, body.material_code)
    q = SupplierQualification(
        supplier_id=supplier.id, material_id=material.id, kind=body.kind, requester=principal.login,
        requester_name=principal.full_name, status="draft", created_at=clock.now(),
    )  # fmt: skip
    q.supplier, q.material = supplier, material
    _evaluate(session, q, body)
    q.number = next_number(session)
    uow.reason = uow.reason or f"supplier qualification {q.number} drafted"
    session.add(q)
    session.flush()
    return q


def update_qualification(
    uow: UnitOfWork, principal: Principal, number: str, body: QualificationUpdate
) -> SupplierQualification:
    """The evaluation of a draft: kind, risk class, audit, trial lots, proposal and conclusion."""
    session = uow.session
    q = get_qualification(session, number)
    _draft(principal, q)
    uow.reason = uow.reason or f"supplier qualification {q.number}: evaluation changed"
    q.kind = body.kind or q.kind
    _evaluate(session, q, body)
    session.flush()
    return q


def add_document(
    uow: UnitOfWork, principal: Principal, number: str, body: DocumentCreate
) -> QualificationDocument:
    """A piece of evidence added to a draft, numbered after the last one (voided ones keep their number)."""
    session = uow.session
    q = get_qualification(session, number)
    _draft(principal, q)
    seq = max((d.seq for d in q.documents), default=0) + 1
    uow.reason = uow.reason or f"supplier qualification {q.number}: document {seq} added"
    doc = QualificationDocument(
        qualification_id=q.id, seq=seq, kind=body.kind, reference=body.reference, valid_until=body.valid_until,
        note=body.note, created_at=clock.now(), created_by=principal.login,
    )  # fmt: skip
    session.add(doc)
    session.flush()
    session.expire(q, ["documents"])
    return doc


def void_document(
    uow: UnitOfWork, principal: Principal, number: str, seq: int, reason: str
) -> QualificationDocument:
    """A document of a draft put out of the evidence with a reason; it stays, void."""
    session = uow.session
    q = get_qualification(session, number)
    _draft(principal, q)
    doc = get_document(q, seq)
    if doc.voided_at is not None:
        raise Conflict(N_("Document {seq} is void"), seq=seq)
    uow.void(doc, uow.give_reason(reason))
    session.expire(q, ["documents"])
    return doc


def submit(uow: UnitOfWork, principal: Principal, number: str) -> SupplierQualification:
    """The draft goes to QA once its evidence is complete and valid, its audit linked and its trial lots evaluated."""
    session = uow.session
    q = get_qualification(session, number)
    transition = _check(session, principal, q, "submit")
    uow.reason = uow.reason or f"supplier qualification {q.number} submitted"
    q.status = transition.target
    q.submitted_at = clock.now()
    q.submitted_by = principal.login
    session.flush()
    return q


def return_to_draft(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> SupplierQualification:
    """QA sends the qualification back to its requester, with a reason."""
    session = uow.session
    q = get_qualification(session, number)
    transition = _check(session, principal, q, "return")
    uow.give_reason(reason)
    q.status = transition.target
    session.flush()
    return q


def approve(
    uow: UnitOfWork, principal: Principal, number: str, body: QualificationApprove
) -> QualificationDecision:
    """QA approves by signature on a decision keeping the content and its SM3 (never the requester), and the
    approved-supplier list gets the proposed status and validity in the same transaction (TJ-5.2.1.1)."""
    session = uow.session
    q = get_qualification(session, number)
    transition = _check(session, principal, q, "approve")
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    # guard_evaluated made sure of both
    assert q.proposed_status is not None
    assert q.proposed_valid_until is not None
    uow.reason = f"supplier qualification {q.number} approved"
    content = canonical_content(q)
    entry = session.scalar(
        select(SupplierApproval).where(
            SupplierApproval.supplier_id == q.supplier_id, SupplierApproval.material_id == q.material_id
        )
    )
    if entry is None or (entry.status, entry.valid_until) != (
        q.proposed_status,
        wms.end_of_day(q.proposed_valid_until),
    ):  # a list that already says this is left as it is
        wms.decide_approval(uow, ApprovalDecision(
            supplier_code=q.supplier.code, material_code=q.material.code, status=q.proposed_status,
            valid_until=q.proposed_valid_until, reason=uow.reason,
        ))  # fmt: skip
    now = clock.now()
    q.status = transition.target
    q.decided_at = now
    q.decided_by = principal.login
    session.flush()
    decision = QualificationDecision(
        qualification_id=q.id, kind="approve", content=content, content_sm3=crypto.sm3(content.encode()).hex(),
        comment=body.comment, decided_at=now, decided_by=principal.login, decided_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=QUALIFY_ACTION, password=body.password,
                              login=body.login, expire=(q, "decisions"))  # fmt: skip
    return decision


def reject(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> QualificationDecision:
    """QA does not qualify the supplier, with the reason on a decision row; the approved-supplier list stays."""
    session = uow.session
    q = get_qualification(session, number)
    transition = _check(session, principal, q, "reject")
    text = uow.give_reason(reason)
    content = canonical_content(q)
    now = clock.now()
    q.status = transition.target
    q.decided_at = now
    q.decided_by = principal.login
    session.flush()
    decision = QualificationDecision(
        qualification_id=q.id, kind="reject", content=content, content_sm3=crypto.sm3(content.encode()).hex(),
        comment=text, decided_at=now, decided_by=principal.login, decided_by_name=principal.full_name,
    )  # fmt: skip
    session.add(decision)
    session.flush()
    session.expire(q, ["decisions"])
    return decision


def cancel(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> SupplierQualification:
    """An open qualification no longer pursued, with the reason; it stays."""
    session = uow.session
    q = get_qualification(session, number)
    transition = _check(session, principal, q, "cancel")
    uow.give_reason(reason)
    q.status = transition.target
    q.cancelled_at = clock.now()
    q.cancelled_by = principal.login
    q.cancel_reason = uow.reason
    session.flush()
    return q


# --- output --------------------------------------------------------------------------------------------------


def decision_public(session: Session, decision: QualificationDecision) -> DecisionPublic:
    signatures = signatures_of(session, DECISION_TYPE, str(decision.id))
    d = decision
    return DecisionPublic(
        id=d.id, kind=d.kind, content_sm3=d.content_sm3, comment=d.comment, decided_at=d.decided_at,
        decided_by=d.decided_by, decided_by_name=d.decided_by_name, signatures=signatures,
    )  # fmt: skip


def document_public(doc: QualificationDocument, on: date | None = None) -> DocumentPublic:
    day = on or clock.today()
    return DocumentPublic(
        id=doc.id, seq=doc.seq, kind=doc.kind, reference=doc.reference, valid_until=doc.valid_until,
        expired=doc.valid_until is not None and doc.valid_until < day, note=doc.note, created_at=doc.created_at,
        created_by=doc.created_by, voided_at=doc.voided_at, void_reason=doc.void_reason,
    )  # fmt: skip


def qualification_public(q: SupplierQualification) -> QualificationPublic:
    return QualificationPublic(
        id=q.id, number=q.number, supplier_code=q.supplier.code, supplier_name=q.supplier.name,
        supplier_kind=q.supplier.kind, material_code=q.material.code, material_name=q.material.name,
        material_kind=q.material.kind, kind=q.kind, risk_class=q.risk_class, audit_required=q.audit_required,
        audit_number=q.audit_number, proposed_status=q.proposed_status, proposed_valid_until=q.proposed_valid_until,
        requester=q.requester, requester_name=q.requester_name, status=q.status, created_at=q.created_at,
        decided_at=q.decided_at, decided_by=q.decided_by,
    )  # fmt: skip


def qualification_detail(session: Session, q: SupplierQualification) -> QualificationDetail:
    audit = linked_audit(session, q)
    return QualificationDetail(
        **qualification_public(q).model_dump(), description=q.description,
        rule_risk_class=rule_risk_class(q.material.kind), samples_tested=q.samples_tested,
        samples_conforming=q.samples_conforming, sample_notes=q.sample_notes, conclusion=q.conclusion,
        audit_status=audit.status if audit else None, required_documents=list(required_documents(q)),
        missing_documents=missing_documents(q), submitted_at=q.submitted_at, submitted_by=q.submitted_by,
        cancelled_at=q.cancelled_at, cancel_reason=q.cancel_reason, content_sm3=content_hash(q),
        documents=[document_public(d) for d in q.documents],
        decisions=[decision_public(session, d) for d in q.decisions],
    )  # fmt: skip
