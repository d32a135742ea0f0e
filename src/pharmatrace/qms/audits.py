"""Quality audits and self-inspection (质量审计与自检; TJ-11.1, TJ-11.2.1 a–e, SH-6.2.4; issue 9 item 7): the service.

An audit (``AU-YYYY-NNNN``) is planned by a holder of ``qms.audit.manage``: its kind — a self-inspection (自检), a
supplier audit of a named supplier (供应商审计), a computerized-system audit (计算机化系统审计, TJ-11) or an external
inspection by a regulator or a customer (外部检查; its lead auditor is the plant's host of the inspection) — its
title, scope, auditee, lead auditor and team, and the planned dates. Its lifecycle is the declared state machine
:data:`TRANSITIONS`, whose guards are small named functions (SENAITE style)::

    planned ──start──> in_progress ──report (a checklist exists)──> reporting
    reporting ──close (QA signs "approved"; never the lead auditor; every question assessed;
                       every critical or major finding handled by a CAPA and verified)──> closed
    planned / in_progress / reporting ──cancel (with a reason)──> cancelled

* The checklist: a computerized-system audit starts with TJ-11.2.1 a–e (:data:`TJ11_CHECKLIST`), each question
  with the pages of this system that hold its evidence; other kinds start empty and questions are added. Each
  question is answered conforms, finding or not applicable, with the evidence seen.
* Findings (critical, major, minor, recommendation) with the clause they are against; the auditee responds, a
  CAPA (an existing number, :func:`pharmatrace.qms.capa.get_capa`) handles it, the auditor verifies it.
* The audit is *overdue* when its planned end has passed and it is not closed or cancelled.
* QA (``qms.deviation.approve`` as well) closes it by an electronic signature (``qms.audit.close``) on an
  :class:`AuditDecision` naming the SM3 of its content (:func:`content_hash`) and the conclusion; the lead auditor
  may not close their own audit (SH-7.1.4). A closed or cancelled audit is not changed.

Every refusal raises a typed, translatable error and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger, workflow
from pharmatrace.kernel.errors import N_, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.models import User
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import numbering
from pharmatrace.qms.audit_models import (
    KINDS,
    NEEDS_CAPA,
    OPEN_STATUSES,
    STATUS_LABELS,
    STATUSES,
    WORKING_STATUSES,
    Audit,
    AuditChecklistItem,
    AuditDecision,
    AuditFinding,
)
from pharmatrace.qms.audit_schemas import (
    AuditClose,
    AuditCreate,
    AuditDetail,
    AuditPublic,
    AuditUpdate,
    ChecklistAssessment,
    ChecklistItemCreate,
    ChecklistItemPublic,
    DecisionPublic,
    FindingCreate,
    FindingPublic,
    FindingResponse,
    FindingVerification,
)
from pharmatrace.qms.signatures import signatures_of
from pharmatrace.wms.models import Supplier

MANAGE_PERMISSION = "qms.audit.manage"
VIEW_PERMISSION = "qms.view"
QA_PERMISSION = "qms.deviation.approve"
CLOSE_ACTION = "qms.audit.close"  # signable action (kernel/esign/policy.py)
DECISION_TYPE = "qms_audit_decision"

# TJ-11.2.1 a–e: the audit points of a computerized-system audit, each with the pages of this system that hold
# the evidence (the inventory of audited functions, the SOPs, the validation matrix, the deviations and changes,
# the access review and the audit trail).
TJ11_CHECKLIST: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("TJ-11.2.1 a", N_("Is there an inventory of the computerized systems, stating for each its functions, "
                       "intended use and scope of use?"), ("/audit/functions", "/compliance")),
    ("TJ-11.2.1 b", N_("Are the rules and procedures for managing the computerized systems approved and in "
                       "force?"), ("/documents",)),
    ("TJ-11.2.1 c", N_("Is there a validation procedure for the computerized systems, and is its execution "
                       "documented?"), ("/compliance",)),
    ("TJ-11.2.1 d", N_("Are the deviations, changes and other quality records about the computerized systems "
                       "recorded and handled?"), ("/qms/deviations", "/qms/changes")),
    ("TJ-11.2.1 e", N_("Is the computerized system used securely (access control, periodic access review, "
                       "audit trail)?"), ("/admin/access-review", "/audit")),
)  # fmt: skip


class AuditDutiesNotSegregated(NotPermitted):
    """The lead auditor of an audit may not close it, nor who responded to a finding verify it (SH-7.1.4)."""

    code = "audit_duties"


class AuditTransitionRefused(Conflict):
    """An audit step that its state or its guards do not allow now: the message says why."""

    code = "audit_transition_refused"


# --- reading -------------------------------------------------------------------------------------------------


today = clock.today  # the plant's calendar day (Beijing)


def find_audit(session: Session, number: str) -> Audit | None:
    return session.scalar(select(Audit).where(Audit.number == number.strip().upper()))


def get_audit(session: Session, number: str) -> Audit:
    audit = find_audit(session, number)
    if audit is None:
        raise NotFound(N_("No audit {number}"), number=number)
    return audit


def is_overdue(audit: Audit, on: date | None = None) -> bool:
    """Not closed (nor cancelled) and its planned end has passed."""
    return audit.status in OPEN_STATUSES and audit.planned_end < (on or today())


def list_audits(
    session: Session, *, kind: str = "", status: str = "", text: str = "", overdue: bool = False,
    on: date | None = None,
) -> list[Audit]:  # fmt: skip
    """Audits, newest first; ``kind`` one of :data:`KINDS`; ``status`` one of :data:`STATUSES` or ``open``;
    ``text`` in number, title, auditee, lead auditor; ``overdue`` only the overdue."""
    query = select(Audit).order_by(Audit.id.desc())
    if kind in KINDS:
        query = query.where(Audit.kind == kind)
    if status == "open":
        query = query.where(Audit.status.in_(OPEN_STATUSES))
    elif status in STATUSES:
        query = query.where(Audit.status == status)
    if overdue:
        query = query.where(Audit.status.in_(OPEN_STATUSES), Audit.planned_end < (on or today()))
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            or_(
                Audit.number.ilike(like),
                Audit.title.ilike(like),
                Audit.auditee.ilike(like),
                Audit.lead_auditor.ilike(like),
            )
        )
    return list(session.scalars(query))


def audits_for_supplier(session: Session, supplier_id: int) -> list[Audit]:
    """The audits of one supplier, newest planned first (for the supplier's page)."""
    return list(
        session.scalars(
            select(Audit)
            .where(Audit.supplier_id == supplier_id)
            .order_by(Audit.planned_start.desc(), Audit.id.desc())
        )
    )


def _item(audit: Audit, seq: int) -> AuditChecklistItem:
    for item in audit.items:
        if item.seq == seq:
            return item
    raise NotFound(N_("{number} has no checklist item {seq}"), number=audit.number, seq=seq)


def _finding(audit: Audit, seq: int) -> AuditFinding:
    for finding in audit.findings:
        if finding.seq == seq:
            return finding
    raise NotFound(N_("{number} has no finding {seq}"), number=audit.number, seq=seq)


# --- content and its hash ------------------------------------------------------------------------------------


def canonical_content(session: Session, audit: Audit) -> str:
    """The audit as canonical JSON — plan, checklist with results and evidence, findings with their response,
    CAPA and verification: what the closure's ``content_sm3`` hashes."""
    a = audit
    return ledger.canonical_text({
        "number": a.number, "kind": a.kind, "supplier": _supplier_code(session, a.supplier_id), "title": a.title,
        "scope": a.scope, "auditee": a.auditee, "lead_auditor": a.lead_auditor, "team": a.audit_team,
        "planned": [a.planned_start.isoformat(), a.planned_end.isoformat()],
        "checklist": [[i.seq, i.code, i.question, i.result, i.evidence_note] for i in a.items],
        "findings": [
            [f.seq, f.classification, f.clause_ref, f.description, f.response,
             f.due_date.isoformat() if f.due_date else None, f.capa_number, f.status, f.verification_note]
            for f in a.findings
        ],
    })  # fmt: skip


def content_hash(session: Session, audit: Audit) -> str:
    return crypto.sm3(canonical_content(session, audit).encode()).hex()


# --- the state machine ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    audit: Audit
    principal: Principal


Guard = Callable[[Context], None]


def guard_has_checklist(ctx: Context) -> None:
    if not ctx.audit.items:
        raise AuditTransitionRefused(N_("The checklist of {number} is empty"), number=ctx.audit.number)


def guard_qa(ctx: Context) -> None:
    # the signed closure is QA's (the signable action's step needs the same permission)
    ctx.principal.require(QA_PERMISSION)


def guard_all_assessed(ctx: Context) -> None:
    # TJ-11.2.1: every audit point is assessed before the report is closed
    left = [i.code for i in ctx.audit.items if i.result == "not_assessed"]
    if left:
        raise AuditTransitionRefused(N_("Checklist items not assessed yet: {items}"), items=", ".join(left))


def guard_findings_handled(ctx: Context) -> None:
    # TJ-11.1: a critical or major finding is handled by a CAPA, and verified, before the audit closes
    for f in ctx.audit.findings:
        if f.classification in NEEDS_CAPA and not f.capa_number:
            raise AuditTransitionRefused(N_("Finding {seq} is critical or major and has no CAPA"), seq=f.seq)
        if f.classification in NEEDS_CAPA and f.status != "verified":
            raise AuditTransitionRefused(N_("Finding {seq} is critical or major and not verified"), seq=f.seq)


def guard_not_the_lead_auditor(ctx: Context) -> None:
    # SH-7.1.4: who led an audit may not close it.
    if ctx.principal.login == ctx.audit.lead_auditor:
        raise AuditDutiesNotSegregated(N_("The lead auditor of an audit may not close it"))


Transition = workflow.Transition[Context]


# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("start", ("planned",), "in_progress", (MANAGE_PERMISSION,), ()),
        Transition("report", ("in_progress",), "reporting", (MANAGE_PERMISSION,), (guard_has_checklist,)),
        Transition("close", ("reporting",), "closed", (MANAGE_PERMISSION,),
                   (guard_qa, guard_has_checklist, guard_all_assessed, guard_findings_handled,
                    guard_not_the_lead_auditor),
                   signed=CLOSE_ACTION),
        Transition("cancel", OPEN_STATUSES, "cancelled", (MANAGE_PERMISSION,), ()),
    )
}
# fmt: on


MACHINE = workflow.Machine(
    TRANSITIONS,
    Context,
    workflow.state_refusal(AuditTransitionRefused, STATUS_LABELS),
)
_refuse_state = MACHINE.refused
_check = MACHINE.check
allowed = MACHINE.allowed


def _editable(audit: Audit, statuses: tuple[str, ...]) -> None:
    """A closed or cancelled audit is not changed; the checklist and findings have their states."""
    if audit.status not in statuses:
        raise _refuse_state(audit)


# --- checks against the plant --------------------------------------------------------------------------------


def _supplier_code(session: Session, supplier_id: int | None) -> str | None:
    if supplier_id is None:
        return None
    return session.scalar(select(Supplier.code).where(Supplier.id == supplier_id))


def _supplier(session: Session, code: str) -> Supplier:
    supplier = session.scalar(select(Supplier).where(Supplier.code == code.strip().upper()))
    if supplier is None or supplier.voided_at is not None:
        raise NotFound(N_("No supplier {code}"), code=code)
    return supplier


def _auditor(session: Session, login: str) -> User:
    """An active account that may conduct audits."""
    user = identity.find_user(session, login)
    if user is None:
        raise NotFound(N_("No user {login}"), login=login)
    if not user.active:
        raise Conflict(N_("The account “{login}” is not active"), login=user.login)
    if not identity.principal_of(user).can(MANAGE_PERMISSION):
        raise ValidationFailed(
            N_("{login} cannot lead an audit: the account holds no audit role"), login=user.login
        )
    return user


def _capa(session: Session, number: str | None) -> str | None:
    """A linked CAPA number must name an existing CAPA."""
    if not number:
        return None
    from pharmatrace.qms.capa import get_capa

    return get_capa(session, number).number


def next_number(session: Session) -> str:
    """``AU-2026-0001``: the year (Beijing) and a serial per year (``qms.numbering``)."""
    return numbering.next_number(session, "AU", find_audit)


# --- writing: the audit --------------------------------------------------------------------------------------


def create_audit(uow: UnitOfWork, principal: Principal, body: AuditCreate) -> Audit:
    """An audit planned (``planned``); a computerized-system audit with the TJ-11.2.1 a–e checklist."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    if body.kind == "supplier" and not body.supplier:
        raise ValidationFailed(N_("A supplier audit names its supplier"))
    supplier = _supplier(session, body.supplier) if body.supplier else None
    lead = _auditor(session, body.lead_auditor)
    number = next_number(session)
    uow.reason = uow.reason or f"audit {number} planned"
    now = clock.now()
    audit = Audit(
        number=number, kind=body.kind, supplier_id=supplier.id if supplier is not None else None, title=body.title,
        scope=body.scope, auditee=body.auditee, lead_auditor=lead.login, lead_auditor_name=lead.full_name,
        audit_team=body.audit_team, planned_start=body.planned_start, planned_end=body.planned_end,
        status="planned", created_at=now, created_by=principal.login, created_by_name=principal.full_name,
    )  # fmt: skip
    session.add(audit)
    session.flush()
    if body.kind == "computerized_system":
        for seq, (code, question, links) in enumerate(TJ11_CHECKLIST, start=1):
            session.add(AuditChecklistItem(
                audit_id=audit.id, seq=seq, code=code, question=question, evidence_links=" ".join(links),
                result="not_assessed", evidence_note="", created_at=now, created_by=principal.login,
            ))  # fmt: skip
        session.flush()
        session.expire(audit, ["items"])
    return audit


# the plan: what may change while the audit is planned or carried out
PLAN_FIELDS = ("title", "scope", "auditee", "audit_team", "planned_start", "planned_end")


def update_audit(uow: UnitOfWork, principal: Principal, number: str, body: AuditUpdate) -> Audit:
    """The plan changed (title, scope, auditee, lead auditor, team, dates) while the audit is planned or carried
    out, with the reason; its kind and supplier do not change (a different audit is a new one)."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    audit = get_audit(session, number)
    _editable(audit, ("planned", "in_progress"))
    lead = _auditor(session, body.lead_auditor)
    changed = [f for f in PLAN_FIELDS if getattr(audit, f) != getattr(body, f)]
    if not changed and lead.login == audit.lead_auditor:
        raise Conflict(N_("Nothing was changed"))
    uow.reason = body.reason
    for field in changed:
        setattr(audit, field, getattr(body, field))
    audit.lead_auditor, audit.lead_auditor_name = lead.login, lead.full_name
    session.flush()
    return audit


def _move(uow: UnitOfWork, principal: Principal, number: str, name: str) -> Audit:
    session = uow.session
    audit = get_audit(session, number)
    transition = _check(session, principal, audit, name)
    uow.reason = uow.reason or f"audit {audit.number}: {name}"
    audit.status = transition.target
    if name == "start":
        audit.started_at = clock.now()
    elif name == "report":
        audit.reported_at = clock.now()
    session.flush()
    return audit


def start(uow: UnitOfWork, principal: Principal, number: str) -> Audit:
    """The audit is being carried out (``in_progress``)."""
    return _move(uow, principal, number, "start")


def report(uow: UnitOfWork, principal: Principal, number: str) -> Audit:
    """The fieldwork is over and the report is written (``reporting``)."""
    return _move(uow, principal, number, "report")


def close(uow: UnitOfWork, principal: Principal, number: str, body: AuditClose) -> AuditDecision:
    """QA closes the audit by signature on a decision naming the content SM3 and the conclusion (never the lead
    auditor; every question assessed; every critical or major finding handled by a CAPA and verified)."""
    session = uow.session
    audit = get_audit(session, number)
    transition = _check(session, principal, audit, "close")
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    uow.reason = uow.reason or f"audit {audit.number} closed"
    checked = content_hash(session, audit)
    audit.status = transition.target
    audit.closed_at = clock.now()
    audit.closed_by = principal.login
    session.flush()
    decision = AuditDecision(
        audit_id=audit.id, kind="close", content_sm3=checked, conclusion=body.conclusion, decided_at=clock.now(),
        decided_by=principal.login, decided_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=CLOSE_ACTION, password=body.password,
                              login=body.login, expire=(audit, "decisions"))  # fmt: skip
    return decision


def cancel(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> Audit:
    """An audit cancelled before closure (postponed, planned twice) with the reason; it stays."""
    session = uow.session
    audit = get_audit(session, number)
    transition = _check(session, principal, audit, "cancel")
    if len(reason.strip()) < 2:
        raise ValidationFailed(N_("A reason is required for this change"))
    uow.reason = reason.strip()
    audit.status = transition.target
    audit.cancelled_at = clock.now()
    audit.cancelled_by = principal.login
    audit.cancel_reason = reason.strip()[:500]
    session.flush()
    return audit


# --- writing: the checklist ----------------------------------------------------------------------------------


def add_item(
    uow: UnitOfWork, principal: Principal, number: str, body: ChecklistItemCreate
) -> AuditChecklistItem:
    """A question added to the checklist (before or during the audit, or while reporting)."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    audit = get_audit(session, number)
    _editable(audit, OPEN_STATUSES)
    seq = max((i.seq for i in audit.items), default=0) + 1
    uow.reason = uow.reason or f"audit {audit.number}: checklist item {seq} added"
    item = AuditChecklistItem(
        audit_id=audit.id, seq=seq, code=body.code or str(seq), question=body.question, evidence_links="",
        result="not_assessed", evidence_note="", created_at=clock.now(), created_by=principal.login,
    )  # fmt: skip
    session.add(item)
    session.flush()
    session.expire(audit, ["items"])
    return item


def assess_item(
    uow: UnitOfWork, principal: Principal, number: str, seq: int, body: ChecklistAssessment
) -> AuditChecklistItem:
    """A question answered with the evidence seen, during the audit or while reporting; changing an answer
    already given needs a reason."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    audit = get_audit(session, number)
    _editable(audit, WORKING_STATUSES)
    item = _item(audit, seq)
    if item.result != "not_assessed":
        if body.reason is None:
            raise ValidationFailed(N_("A reason is required for this change"))
        uow.reason = body.reason
    uow.reason = uow.reason or f"audit {audit.number}: checklist item {item.code} assessed {body.result}"
    item.result = body.result
    item.evidence_note = body.evidence_note
    item.assessed_at = clock.now()
    item.assessed_by = principal.login
    session.flush()
    return item


# --- writing: the findings -----------------------------------------------------------------------------------


def add_finding(uow: UnitOfWork, principal: Principal, number: str, body: FindingCreate) -> AuditFinding:
    """A finding recorded during the audit or while reporting; a linked CAPA must exist."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    audit = get_audit(session, number)
    _editable(audit, WORKING_STATUSES)
    capa = _capa(session, body.capa_number)
    seq = max((f.seq for f in audit.findings), default=0) + 1
    uow.reason = uow.reason or f"audit {audit.number}: finding {seq} ({body.classification})"
    finding = AuditFinding(
        audit_id=audit.id, seq=seq, classification=body.classification, clause_ref=body.clause_ref,
        description=body.description, response="", due_date=body.due_date, capa_number=capa, status="open",
        created_at=clock.now(), created_by=principal.login, verification_note="",
    )  # fmt: skip
    session.add(finding)
    session.flush()
    session.expire(audit, ["findings"])
    return finding


def respond_finding(
    uow: UnitOfWork, principal: Principal, number: str, seq: int, body: FindingResponse
) -> AuditFinding:
    """The auditee's response and the CAPA handling the finding (``responded``); a verified finding is not
    changed, changing a response already given needs a reason."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    audit = get_audit(session, number)
    _editable(audit, WORKING_STATUSES)
    finding = _finding(audit, seq)
    if finding.status == "verified":
        raise AuditTransitionRefused(N_("Finding {seq} is verified: it is not changed"), seq=seq)
    capa = _capa(session, body.capa_number)
    if finding.status == "responded":
        if body.reason is None:
            raise ValidationFailed(N_("A reason is required for this change"))
        uow.reason = body.reason
    uow.reason = uow.reason or f"audit {audit.number}: finding {seq} responded"
    finding.response = body.response
    finding.capa_number = capa
    finding.status = "responded"
    finding.responded_at = clock.now()
    finding.responded_by = principal.login
    session.flush()
    return finding


def verify_finding(
    uow: UnitOfWork, principal: Principal, number: str, seq: int, body: FindingVerification
) -> AuditFinding:
    """The auditor verified the response of a finding (``verified``); a critical or major one needs its CAPA."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    audit = get_audit(session, number)
    _editable(audit, WORKING_STATUSES)
    finding = _finding(audit, seq)
    if finding.status != "responded":
        raise AuditTransitionRefused(N_("Finding {seq} has no response to verify"), seq=seq)
    if finding.responded_by == principal.login:  # SH-7.1.4: four eyes (and a trigger in the database, 0047)
        raise AuditDutiesNotSegregated(N_("Who recorded the response to a finding may not verify it"))
    if finding.classification in NEEDS_CAPA and not finding.capa_number:
        raise AuditTransitionRefused(N_("Finding {seq} is critical or major and has no CAPA"), seq=seq)
    uow.reason = uow.reason or f"audit {audit.number}: finding {seq} verified"
    finding.status = "verified"
    finding.verified_at = clock.now()
    finding.verified_by = principal.login
    finding.verification_note = body.note
    session.flush()
    return finding


# --- output --------------------------------------------------------------------------------------------------


def decision_public(session: Session, decision: AuditDecision) -> DecisionPublic:
    signatures = signatures_of(session, DECISION_TYPE, str(decision.id))
    return DecisionPublic(
        id=decision.id, kind=decision.kind, content_sm3=decision.content_sm3, conclusion=decision.conclusion,
        decided_at=decision.decided_at, decided_by=decision.decided_by, decided_by_name=decision.decided_by_name,
        signatures=signatures,
    )  # fmt: skip


def audit_public(session: Session, audit: Audit, on: date | None = None) -> AuditPublic:
    a = audit
    supplier = session.get(Supplier, a.supplier_id) if a.supplier_id is not None else None
    return AuditPublic(
        id=a.id, number=a.number, kind=a.kind, supplier_id=a.supplier_id, supplier_code=supplier.code if supplier else None,
        supplier_name=supplier.name if supplier else None, title=a.title, scope=a.scope, auditee=a.auditee,
        lead_auditor=a.lead_auditor, lead_auditor_name=a.lead_auditor_name, audit_team=a.audit_team,
        planned_start=a.planned_start, planned_end=a.planned_end, overdue=is_overdue(a, on), status=a.status,
        items_total=len(a.items), items_open=sum(1 for i in a.items if i.result == "not_assessed"),
        findings_total=len(a.findings), created_at=a.created_at, created_by=a.created_by,
        created_by_name=a.created_by_name, started_at=a.started_at, reported_at=a.reported_at,
        closed_at=a.closed_at, closed_by=a.closed_by, cancelled_at=a.cancelled_at, cancel_reason=a.cancel_reason,
    )  # fmt: skip


def audit_detail(session: Session, audit: Audit, on: date | None = None) -> AuditDetail:
    a = audit
    items = [
        ChecklistItemPublic(seq=i.seq, code=i.code, question=i.question, evidence_links=i.evidence_links.split(),
                            result=i.result, evidence_note=i.evidence_note, assessed_at=i.assessed_at,
                            assessed_by=i.assessed_by)
        for i in a.items
    ]  # fmt: skip
    findings = [
        FindingPublic(seq=f.seq, classification=f.classification, clause_ref=f.clause_ref,
                      description=f.description, response=f.response, due_date=f.due_date,
                      capa_number=f.capa_number, status=f.status, responded_at=f.responded_at,
                      responded_by=f.responded_by, verified_at=f.verified_at, verified_by=f.verified_by,
                      verification_note=f.verification_note)
        for f in a.findings
    ]  # fmt: skip
    return AuditDetail(
        **audit_public(session, a, on).model_dump(), items=items, findings=findings,
        content_sm3=content_hash(session, a), decisions=[decision_public(session, d) for d in a.decisions],
    )  # fmt: skip
