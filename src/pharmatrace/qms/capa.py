"""QMS corrective and preventive actions (CAPA, 纠正和预防措施; SH-6.2.4, TJ-9.4, TJ-6.4.4): the service.

A CAPA is raised (``CAPA-YYYY-NNNN``) from a deviation, an OOS case, an audit, a complaint, a change or another
source by a holder of ``qms.deviation.raise`` (its *originator*): the problem, the root cause (or the reference
of the investigation that found it), the owner, the due date and the plan's actions — each with its owner, due
date, type and description. Its lifecycle is the declared state machine :data:`TRANSITIONS`, whose guards are
small named functions (SENAITE style)::

    draft ──approve (QA signs "approved")──> approved ──first action done──> implementation
                                                  └──────────── last open action done ───────┐
    implementation ──last open action done──> effectiveness_pending <─────────────────────────┘
    effectiveness_pending ──close (QA signs "verified": effective)──> closed
    effectiveness_pending ──reopen (QA signs "verified": not effective, with a new action)──> implementation
    draft / approved / implementation / effectiveness_pending ──cancel (QA, with a reason)──> cancelled

* QA (``qms.deviation.approve``) approves the plan by an electronic signature (action ``qms.capa.approve``) and
  sets the effectiveness check then: its criteria and planned date. Whoever wrote the plan — the originator,
  anyone who edited it or added an action to the draft — may not approve it (SH-7.1.4 segregation of duties).
* An action is completed by its owner or by QA, with the implementation evidence: text, and optionally a file
  (PDF, DOCX, PNG, JPEG) kept in the file store under its SM3 (:data:`EVIDENCE`).
* A ``retraining`` action orders the retraining of the people it names on the controlled document's effective
  version (:func:`pharmatrace.training.service.require_retraining`, source = the CAPA number) **when it is
  issued**: at the plan's approval, or when QA adds it to an approved CAPA (including the new action of a CAPA
  found not effective). The orders make the training gate refuse those people on that SOP until they pass the
  training again; completing the action then records that evidence.
* When every action of the current round is done, the CAPA waits for its effectiveness check. QA records the
  check's result and signs the verdict (action ``qms.capa.effectiveness``, never the originator): effective
  closes the CAPA; not effective takes it back to implementation with a new action (the next round).
* Signed decisions are append-only rows (:class:`~pharmatrace.qms.capa_models.CapaDecision`) naming the SM3 of
  the CAPA's canonical content (:func:`content_hash`) they were given on; the signature is given on that row.

Due dates are visible and derived: a CAPA or an action past its due date while open is *overdue*; the
dashboard counts CAPAs by status, the overdue ones and the ageing of the open ones (0–30, 31–60, 61–90, > 90
days since raised). Every refusal raises a typed, translatable error and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, filestore, ledger, workflow
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.models import User
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import numbering
from pharmatrace.qms.capa_models import (
    OPEN_STATUSES,
    STATUS_LABELS,
    STATUSES,
    Capa,
    CapaAction,
    CapaDecision,
)
from pharmatrace.qms.capa_schemas import (
    ActionAdd,
    ActionCreate,
    ActionPublic,
    CapaApprove,
    CapaCreate,
    CapaDetail,
    CapaPublic,
    CapaUpdate,
    Dashboard,
    DecisionPublic,
    EffectivenessVerdict,
)
from pharmatrace.qms.signatures import signatures_of

RAISE_PERMISSION = "qms.deviation.raise"
QA_PERMISSION = "qms.deviation.approve"
APPROVE_ACTION = "qms.capa.approve"  # signable actions (kernel/esign/policy.py)
EFFECTIVENESS_ACTION = "qms.capa.effectiveness"
DECISION_TYPE = "qms_capa_decision"
PLAN_FIELDS = frozenset({"title", "problem", "root_cause", "owner", "due_date"})
AGEING_BUCKETS = ("0-30", "31-60", "61-90", ">90")

EVIDENCE = filestore.FileStore(
    area="qms-capa",
    accepted=(filestore.PDF, filestore.DOCX, filestore.PNG, filestore.JPEG),
    refused_message=N_("Evidence is accepted as PDF, DOCX, PNG or JPEG; “{name}” is refused"),
    default_name="evidence",
)
MAX_BYTES = EVIDENCE.max_bytes


class CapaDutiesNotSegregated(NotPermitted):
    """Who wrote a CAPA plan may not approve it; the originator may not sign its effectiveness (SH-7.1.4)."""

    code = "capa_duties"


class CapaTransitionRefused(Conflict):
    """A CAPA step that its state or its guards do not allow now: the message says why."""

    code = "capa_transition_refused"


# --- reading -------------------------------------------------------------------------------------------------


today = clock.today  # the plant's calendar day (Beijing)


def find_capa(session: Session, number: str) -> Capa | None:
    return session.scalar(select(Capa).where(Capa.number == number.strip().upper()))


def get_capa(session: Session, number: str) -> Capa:
    capa = find_capa(session, number)
    if capa is None:
        raise NotFound(N_("No CAPA {number}"), number=number)
    return capa


def capas_for_source(session: Session, source_type: str, source_ref: str) -> list[Capa]:
    """The CAPAs raised from one source record (e.g. ``("deviation", "DEV-2026-0001")``), oldest first."""
    return list(
        session.scalars(
            select(Capa)
            .where(Capa.source_type == source_type, Capa.source_ref == source_ref.strip())
            .order_by(Capa.id)
        )
    )


def list_capas(
    session: Session, *, status: str = "", text: str = "", overdue: bool = False, on: date | None = None
) -> list[Capa]:
    """CAPAs, newest first; ``status`` one of :data:`STATUSES` or ``open``; ``text`` in number, title, source."""
    query = select(Capa).order_by(Capa.id.desc())
    if status == "open":
        query = query.where(Capa.status.in_(OPEN_STATUSES))
    elif status in STATUSES:
        query = query.where(Capa.status == status)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(or_(Capa.number.ilike(like), Capa.title.ilike(like), Capa.source_ref.ilike(like)))
    found = list(session.scalars(query))
    if overdue:
        found = [c for c in found if is_overdue(c, on)]
    return found


def live_actions(capa: Capa) -> list[CapaAction]:
    return [a for a in capa.actions if a.status != "voided"]


def is_overdue(capa: Capa, on: date | None = None) -> bool:
    return capa.status in OPEN_STATUSES and capa.due_date < (on or today())


def action_overdue(capa: Capa, action: CapaAction, on: date | None = None) -> bool:
    return capa.status in OPEN_STATUSES and action.status == "open" and action.due_date < (on or today())


def is_late(capa: Capa, on: date | None = None) -> bool:
    """The CAPA, or one of its open actions, is past its due date (what the quality overview counts)."""
    return is_overdue(capa, on) or any(action_overdue(capa, a, on) for a in capa.actions)


def age_days(capa: Capa, on: date | None = None) -> int:
    return ((on or today()) - clock.to_beijing(capa.created_at).date()).days


def ageing_bucket(days: int) -> str:
    if days <= 30:
        return AGEING_BUCKETS[0]
    if days <= 60:
        return AGEING_BUCKETS[1]
    if days <= 90:
        return AGEING_BUCKETS[2]
    return AGEING_BUCKETS[3]


def dashboard(session: Session, on: date | None = None) -> Dashboard:
    """Counts by status, overdue CAPAs and actions, and the ageing of the open CAPAs."""
    capas = list(session.scalars(select(Capa)))
    by_status = dict.fromkeys(STATUSES, 0)
    ageing = dict.fromkeys(AGEING_BUCKETS, 0)
    overdue_actions = 0
    for capa in capas:
        by_status[capa.status] += 1
        if capa.status in OPEN_STATUSES:
            ageing[ageing_bucket(age_days(capa, on))] += 1
            overdue_actions += sum(1 for a in capa.actions if action_overdue(capa, a, on))
    return Dashboard(
        by_status=by_status,
        open=sum(by_status[s] for s in OPEN_STATUSES),
        overdue=sum(1 for c in capas if is_overdue(c, on)),
        overdue_actions=overdue_actions,
        ageing=ageing,
    )


def actions_of(session: Session, login: str) -> list[tuple[Capa, CapaAction]]:
    """The open actions a person owns on open CAPAs, soonest due first ("my CAPA actions")."""
    rows = session.execute(
        select(Capa, CapaAction)
        .join(CapaAction, CapaAction.capa_id == Capa.id)
        .where(CapaAction.owner == login, CapaAction.status == "open", Capa.status.in_(OPEN_STATUSES))
        .order_by(CapaAction.due_date, CapaAction.id)
    )
    return [(capa, action) for capa, action in rows]


# --- content and its hash ------------------------------------------------------------------------------------


def _action_content(action: CapaAction) -> dict[str, Any]:
    return {
        "seq": action.seq, "cycle": action.cycle, "type": action.action_type, "description": action.description,
        "owner": action.owner, "due_date": action.due_date.isoformat(), "document": action.document_number,
        "retrain": retrain_logins(action), "status": action.status, "evidence": action.evidence,
        "evidence_sm3": action.evidence_sm3, "completed_by": action.completed_by,
    }  # fmt: skip


def canonical_content(capa: Capa) -> str:
    """The CAPA as canonical JSON — description, plan, effectiveness check, actions and their evidence: what a
    decision's ``content_sm3`` hashes."""
    return ledger.canonical_text({
        "number": capa.number, "kind": capa.kind, "source_type": capa.source_type, "source_ref": capa.source_ref,
        "title": capa.title, "problem": capa.problem, "root_cause": capa.root_cause, "owner": capa.owner,
        "due_date": capa.due_date.isoformat(), "cycle": capa.cycle,
        "effectiveness_criteria": capa.effectiveness_criteria,
        "effectiveness_due": capa.effectiveness_due.isoformat() if capa.effectiveness_due else None,
        "actions": [_action_content(a) for a in live_actions(capa)],
    })  # fmt: skip


def content_hash(capa: Capa) -> str:
    return crypto.sm3(canonical_content(capa).encode()).hex()


def retrain_logins(action: CapaAction) -> list[str]:
    return list(json.loads(action.retrain_logins)) if action.retrain_logins else []


def retraining_order_ids(action: CapaAction) -> list[int]:
    return [int(i) for i in (action.retraining_orders or "").split(",") if i]


def authors(session: Session, capa: Capa) -> set[str]:
    """Who wrote the plan: the originator, everyone who changed its description while a draft (audit trail)
    and everyone who added an action before the approval."""
    entries = session.scalars(
        select(AuditEntry).where(
            AuditEntry.object_type == Capa.__audit_type__, AuditEntry.object_id == str(capa.id)
        )
    )
    editors = {e.actor_login for e in entries if PLAN_FIELDS & set(e.changes or {}) and e.event != "create"}
    approved = capa.approved_at
    adders = {a.created_by for a in capa.actions if approved is None or a.created_at < approved}
    return {capa.created_by} | editors | adders


# --- the state machine ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    capa: Capa
    principal: Principal


Guard = Callable[[Context], None]


def guard_not_an_author(ctx: Context) -> None:
    # SH-7.1.4: the originator (or anyone who wrote the plan) may not approve their own CAPA.
    if ctx.principal.login in authors(ctx.session, ctx.capa):
        raise CapaDutiesNotSegregated(N_("Who wrote a CAPA plan may not approve it"))


def guard_not_the_originator(ctx: Context) -> None:
    if ctx.principal.login == ctx.capa.created_by:
        raise CapaDutiesNotSegregated(N_("The originator of a CAPA may not sign its effectiveness check"))


def guard_has_actions(ctx: Context) -> None:
    if not any(a.status == "open" for a in ctx.capa.actions):
        raise CapaTransitionRefused(N_("A CAPA plan needs at least one action before it is approved"))


def guard_all_actions_done(ctx: Context) -> None:
    open_ = [a.seq for a in ctx.capa.actions if a.status == "open"]
    if open_:
        raise CapaTransitionRefused(
            N_("Actions {actions} of {number} are still open"),
            actions=", ".join(str(s) for s in open_),
            number=ctx.capa.number,
        )


Transition = workflow.Transition[Context]


# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("approve", ("draft",), "approved", (QA_PERMISSION,), (guard_not_an_author, guard_has_actions),
                   signed=APPROVE_ACTION),
        Transition("implement", ("approved",), "implementation", (), ()),
        Transition("await_check", ("approved", "implementation"), "effectiveness_pending", (),
                   (guard_all_actions_done,)),
        Transition("close", ("effectiveness_pending",), "closed", (QA_PERMISSION,),
                   (guard_not_the_originator, guard_all_actions_done), signed=EFFECTIVENESS_ACTION),
        Transition("reopen", ("effectiveness_pending",), "implementation", (QA_PERMISSION,),
                   (guard_not_the_originator,), signed=EFFECTIVENESS_ACTION),
        Transition("cancel", OPEN_STATUSES, "cancelled", (QA_PERMISSION,), ()),
    )
}
# fmt: on


MACHINE = workflow.Machine(TRANSITIONS, Context, workflow.state_refusal(CapaTransitionRefused, STATUS_LABELS))
_refused_in_state = MACHINE.refused
_check = MACHINE.check


def _move(capa: Capa, transition: Transition) -> None:
    capa.status = transition.target


# --- checks against the plant --------------------------------------------------------------------------------


def _active_user(session: Session, login: str) -> User:
    user = identity.find_user(session, login)
    if user is None:
        raise NotFound(N_("No user {login}"), login=login)
    if not user.active:
        raise Conflict(N_("The account “{login}” is not active"), login=user.login)
    return user


def _owner(session: Session, login: str) -> User:
    """An owner of a CAPA or an action: an active account that may work in the quality system."""
    user = _active_user(session, login)
    who = identity.principal_of(user)
    if not (who.can(RAISE_PERMISSION) or who.can(QA_PERMISSION)):
        raise ValidationFailed(
            N_("{login} cannot own CAPA work: the account holds no quality-system role"), login=user.login
        )
    return user


def check_source(session: Session, source_type: str, source_ref: str) -> str:
    """The source's reference as its record has it; a deviation or OOS case that does not exist is refused."""
    ref = source_ref.strip()
    if source_type == "deviation":
        from pharmatrace.mes.deviation_seam import get_deviation

        return get_deviation(session, ref).number
    if source_type == "oos":
        from pharmatrace.lims.result_models import OosCase

        code = session.scalar(select(OosCase.code).where(OosCase.code == ref.upper()))
        if code is None:
            raise NotFound(N_("No OOS investigation {code}"), code=ref)
        return code
    return ref


def _check_action(session: Session, body: ActionCreate) -> tuple[User, list[User]]:
    owner = _owner(session, body.owner)
    people = [_active_user(session, login) for login in body.retrain]
    if body.document_number:
        from pharmatrace.documents.service import require_effective

        require_effective(session, body.document_number)
    return owner, people


def next_number(session: Session) -> str:
    """``CAPA-2026-0001``: the year (Beijing) and a serial per year (``qms.numbering``)."""
    return numbering.next_number(session, "CAPA", find_capa)


# --- writing -------------------------------------------------------------------------------------------------


def _may_write_draft(principal: Principal) -> None:
    workflow.require_any(principal, (RAISE_PERMISSION, QA_PERMISSION))


def _add_action(uow: UnitOfWork, principal: Principal, capa: Capa, body: ActionCreate) -> CapaAction:
    session = uow.session
    owner, _people = _check_action(session, body)
    seq = max((a.seq for a in capa.actions), default=0) + 1
    action = CapaAction(
        capa_id=capa.id, seq=seq, cycle=capa.cycle, action_type=body.action_type, description=body.description,
        owner=owner.login, owner_name=owner.full_name, due_date=body.due_date,
        document_number=body.document_number,
        retrain_logins=json.dumps(body.retrain) if body.action_type == "retraining" else None,
        status="open", created_at=clock.now(), created_by=principal.login, evidence="",
    )  # fmt: skip
    session.add(action)
    session.flush()
    session.expire(capa, ["actions"])
    return action


def _issue(uow: UnitOfWork, capa: Capa, action: CapaAction) -> None:
    """Issue an action: a retraining action orders the retraining of its people now (SH-6.3.4, TJ-9.3)."""
    if action.action_type != "retraining" or action.retraining_orders:
        return
    from pharmatrace.training.service import require_retraining

    session = uow.session
    ids = [_active_user(session, login).id for login in retrain_logins(action)]
    assert action.document_number is not None  # the table's check holds it
    orders = require_retraining(
        uow,
        user_ids=ids,
        document_number=action.document_number,
        reason=f"{capa.number} action {action.seq}: {action.description}"[:500],
        source=capa.number,
    )
    action.retraining_orders = ",".join(str(o.id) for o in orders)
    session.flush()


def create_capa(uow: UnitOfWork, principal: Principal, body: CapaCreate) -> Capa:
    """A new CAPA, as a draft, with the actions of its plan so far."""
    _may_write_draft(principal)
    session = uow.session
    source_ref = check_source(session, body.source_type, body.source_ref)
    owner = _owner(session, body.owner)
    for item in body.actions:
        _check_action(session, item)
    number = next_number(session)
    uow.reason = uow.reason or f"CAPA {number} raised"
    capa = Capa(
        number=number, kind=body.kind, source_type=body.source_type, source_ref=source_ref, title=body.title,
        problem=body.problem, root_cause=body.root_cause, owner=owner.login, owner_name=owner.full_name,
        due_date=body.due_date, status="draft", cycle=1, created_at=clock.now(), created_by=principal.login,
        created_by_name=principal.full_name,
    )  # fmt: skip
    session.add(capa)
    session.flush()
    for item in body.actions:
        _add_action(uow, principal, capa, item)
    return capa


def _draft(session: Session, number: str) -> Capa:
    capa = get_capa(session, number)
    if capa.status != "draft":
        raise CapaTransitionRefused(
            N_("Only a draft CAPA can be changed; {number} is “{status}”"),
            number=capa.number,
            status=Msgid(STATUS_LABELS[capa.status]),
        )
    return capa


def update_capa(uow: UnitOfWork, principal: Principal, number: str, body: CapaUpdate) -> Capa:
    """A draft's description replaced; the audit trail keeps old and new."""
    _may_write_draft(principal)
    session = uow.session
    capa = _draft(session, number)
    owner = _owner(session, body.owner)
    uow.reason = uow.reason or body.reason or "CAPA plan edited"
    capa.title, capa.problem, capa.root_cause = body.title, body.problem, body.root_cause
    capa.owner, capa.owner_name, capa.due_date = owner.login, owner.full_name, body.due_date
    session.flush()
    return capa


def add_action(uow: UnitOfWork, principal: Principal, number: str, body: ActionAdd) -> CapaAction:
    """An action added: to a draft's plan, or by QA (with a reason) to an approved CAPA in implementation,
    where it is issued at once."""
    session = uow.session
    capa = get_capa(session, number)
    if capa.status == "draft":
        _may_write_draft(principal)
        uow.reason = uow.reason or body.reason or f"CAPA {capa.number}: action added to the plan"
        return _add_action(uow, principal, capa, body)
    principal.require(QA_PERMISSION)
    if capa.status not in ("approved", "implementation"):
        raise CapaTransitionRefused(
            N_("No action can be added to {number} while it is “{status}”"),
            number=capa.number,
            status=Msgid(STATUS_LABELS[capa.status]),
        )
    if body.reason is None:
        raise ValidationFailed(N_("A reason is required for this change"))
    uow.reason = body.reason
    action = _add_action(uow, principal, capa, body)
    _issue(uow, capa, action)
    return action


def _action(capa: Capa, seq: int) -> CapaAction:
    for action in capa.actions:
        if action.seq == seq:
            return action
    raise NotFound(N_("{number} has no action {seq}"), number=capa.number, seq=seq)


def void_action(uow: UnitOfWork, principal: Principal, number: str, seq: int, reason: str) -> CapaAction:
    """An action taken out of a draft's plan, with the reason; the row stays."""
    _may_write_draft(principal)
    capa = _draft(uow.session, number)
    action = _action(capa, seq)
    if action.status == "voided":
        raise Conflict(N_("Action {seq} of {number} is already voided"), seq=seq, number=capa.number)
    if len(reason.strip()) < 2:
        raise ValidationFailed(N_("A reason is required for this change"))
    action.status = "voided"
    uow.void(action, reason.strip())
    return action


def approve(uow: UnitOfWork, principal: Principal, number: str, body: CapaApprove) -> CapaDecision:
    """QA approves the plan by signature and sets the effectiveness check; retraining actions are issued."""
    session = uow.session
    capa = get_capa(session, number)
    transition = _check(session, principal, capa, "approve")
    if body.effectiveness_due < today():
        raise ValidationFailed(N_("The effectiveness check cannot be planned in the past"))
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    uow.reason = uow.reason or f"CAPA {capa.number} plan approved"
    now = clock.now()
    capa.effectiveness_criteria = body.effectiveness_criteria
    capa.effectiveness_due = body.effectiveness_due
    capa.approved_at = now
    capa.approved_by = principal.login
    _move(capa, transition)
    session.flush()
    for action in live_actions(capa):
        _issue(uow, capa, action)
    return _decide(uow, principal, capa, "plan_approval", "approved", APPROVE_ACTION, body.password, body.login,
                   comment=body.comment)  # fmt: skip


def _decide(
    uow: UnitOfWork, principal: Principal, capa: Capa, kind: str, verdict: str, action: str, password: str,
    login: str | None, *, content_sm3: str | None = None, cycle: int | None = None, **values: Any,
) -> CapaDecision:  # fmt: skip
    decision = CapaDecision(
        capa_id=capa.id, kind=kind, verdict=verdict, cycle=cycle or capa.cycle,
        content_sm3=content_sm3 or content_hash(capa), decided_at=clock.now(), decided_by=principal.login,
        decided_by_name=principal.full_name, **values,
    )  # fmt: skip
    decision.comment = decision.comment or ""
    decision.evidence = decision.evidence or ""
    esign.add_signed_decision(uow, principal, decision, action_code=action, password=password, login=login,
                              expire=(capa, "decisions"))  # fmt: skip
    return decision


def _store(uow: UnitOfWork, upload: tuple[bytes, str] | None) -> filestore.StoredFile | None:
    if upload is None:
        return None
    data, name = upload
    return EVIDENCE.put(uow.db, data, name)


def complete_action(
    uow: UnitOfWork, principal: Principal, number: str, seq: int, evidence: str,
    upload: tuple[bytes, str] | None = None,
) -> CapaAction:  # fmt: skip
    """An action done, with its implementation evidence; by its owner or by QA. The first moves the CAPA into
    implementation, the last open one to its effectiveness check."""
    session = uow.session
    capa = get_capa(session, number)
    action = _action(capa, seq)
    if principal.login != action.owner and not principal.can(QA_PERMISSION):
        raise NotPermitted(
            N_("Only the owner of action {seq} ({owner}) or QA may complete it"), seq=seq, owner=action.owner
        )
    if capa.status not in ("approved", "implementation"):
        raise CapaTransitionRefused(
            N_("No action of {number} can be completed while it is “{status}”"),
            number=capa.number,
            status=Msgid(STATUS_LABELS[capa.status]),
        )
    if action.status != "open":
        raise Conflict(N_("Action {seq} of {number} is not open"), seq=seq, number=capa.number)
    text = evidence.strip()
    if not text:
        raise ValidationFailed(N_("Describe the implementation evidence"))
    if upload is not None:
        EVIDENCE.check(*upload)
    stored = _store(uow, upload)
    uow.reason = uow.reason or f"CAPA {capa.number} action {seq} done"
    action.status = "done"
    action.completed_at = clock.now()
    action.completed_by = principal.login
    action.completed_by_name = principal.full_name
    action.evidence = text[:2000]
    if stored is not None:
        action.evidence_sm3, action.evidence_name = stored.sm3, stored.file_name
        action.evidence_media_type, action.evidence_size = stored.media_type, stored.size
    session.flush()
    session.expire(capa, ["actions"])
    if capa.status == "approved":
        _move(capa, _check(session, principal, capa, "implement"))
    if not any(a.status == "open" for a in capa.actions):
        _move(capa, _check(session, principal, capa, "await_check"))
    session.flush()
    return action


def record_effectiveness(
    uow: UnitOfWork, principal: Principal, number: str, body: EffectivenessVerdict,
    upload: tuple[bytes, str] | None = None,
) -> CapaDecision:  # fmt: skip
    """QA signs the effectiveness verdict: effective closes the CAPA; not effective takes it back to
    implementation with a new action (the next round), issued at once."""
    session = uow.session
    capa = get_capa(session, number)
    transition = _check(session, principal, capa, "close" if body.verdict == "effective" else "reopen")
    if body.new_action is not None:
        _check_action(session, body.new_action)
    if upload is not None:
        EVIDENCE.check(*upload)
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    stored = _store(uow, upload)
    uow.reason = uow.reason or f"CAPA {capa.number} effectiveness check: {body.verdict.replace('_', ' ')}"
    checked, cycle = content_hash(capa), capa.cycle
    files: dict[str, Any] = {}
    if stored is not None:
        files = {"evidence_sm3": stored.sm3, "evidence_name": stored.file_name,
                 "evidence_media_type": stored.media_type, "evidence_size": stored.size}  # fmt: skip
    _move(capa, transition)
    if body.verdict == "effective":
        capa.closed_at = clock.now()
    else:
        capa.cycle += 1
    session.flush()
    decision = _decide(uow, principal, capa, "effectiveness", body.verdict, EFFECTIVENESS_ACTION, body.password,
                       body.login, content_sm3=checked, cycle=cycle, comment=body.comment,
                       evidence=body.evidence, **files)  # fmt: skip
    if body.new_action is not None:
        action = _add_action(uow, principal, capa, body.new_action)
        _issue(uow, capa, action)
    return decision


def cancel(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> Capa:
    """A CAPA stopped by QA with the reason; everything recorded stays."""
    session = uow.session
    capa = get_capa(session, number)
    transition = _check(session, principal, capa, "cancel")
    if len(reason.strip()) < 2:
        raise ValidationFailed(N_("A reason is required for this change"))
    uow.reason = reason.strip()
    _move(capa, transition)
    capa.cancelled_at = clock.now()
    capa.cancelled_by = principal.login
    capa.cancel_reason = reason.strip()[:500]
    session.flush()
    return capa


def evidence_file(session: Session, capa: Capa, digest: str) -> tuple[str, str]:
    """(file name, media type) of an evidence file of this CAPA; any other hash is not found."""
    rows: list[Any] = [*capa.actions, *capa.decisions]
    for row in rows:
        if row.evidence_sm3 == digest and row.evidence_name and row.evidence_media_type:
            return row.evidence_name, row.evidence_media_type
    raise NotFound(N_("No stored file {sm3}"), sm3=digest)


# --- output --------------------------------------------------------------------------------------------------


def action_public(capa: Capa, action: CapaAction, on: date | None = None) -> ActionPublic:
    return ActionPublic(
        id=action.id, seq=action.seq, cycle=action.cycle, action_type=action.action_type,
        description=action.description, owner=action.owner, owner_name=action.owner_name,
        due_date=action.due_date, overdue=action_overdue(capa, action, on), document_number=action.document_number,
        retrain=retrain_logins(action), retraining_orders=retraining_order_ids(action), status=action.status,
        created_at=action.created_at, created_by=action.created_by, completed_at=action.completed_at,
        completed_by=action.completed_by, completed_by_name=action.completed_by_name, evidence=action.evidence,
        evidence_sm3=action.evidence_sm3, evidence_name=action.evidence_name, evidence_size=action.evidence_size,
        void_reason=action.void_reason,
    )  # fmt: skip


def decision_public(session: Session, decision: CapaDecision) -> DecisionPublic:
    signatures = signatures_of(session, DECISION_TYPE, str(decision.id))
    return DecisionPublic(
        id=decision.id, kind=decision.kind, verdict=decision.verdict, cycle=decision.cycle,
        content_sm3=decision.content_sm3, comment=decision.comment, evidence=decision.evidence,
        evidence_sm3=decision.evidence_sm3, evidence_name=decision.evidence_name, decided_at=decision.decided_at,
        decided_by=decision.decided_by, decided_by_name=decision.decided_by_name, signatures=signatures,
    )  # fmt: skip


def capa_public(capa: Capa, on: date | None = None) -> CapaPublic:
    live = live_actions(capa)
    return CapaPublic(
        id=capa.id, number=capa.number, kind=capa.kind, source_type=capa.source_type, source_ref=capa.source_ref,
        title=capa.title, problem=capa.problem, root_cause=capa.root_cause, owner=capa.owner,
        owner_name=capa.owner_name, due_date=capa.due_date, overdue=is_overdue(capa, on),
        age_days=age_days(capa, on), status=capa.status, cycle=capa.cycle,
        effectiveness_criteria=capa.effectiveness_criteria, effectiveness_due=capa.effectiveness_due,
        created_at=capa.created_at, created_by=capa.created_by, created_by_name=capa.created_by_name,
        approved_at=capa.approved_at, approved_by=capa.approved_by, closed_at=capa.closed_at,
        cancelled_at=capa.cancelled_at, cancel_reason=capa.cancel_reason,
        open_actions=sum(1 for a in live if a.status == "open"),
        done_actions=sum(1 for a in live if a.status == "done"),
    )  # fmt: skip


def capa_detail(session: Session, capa: Capa, on: date | None = None) -> CapaDetail:
    return CapaDetail(
        **capa_public(capa, on).model_dump(),
        content_sm3=content_hash(capa),
        actions=[action_public(capa, a, on) for a in capa.actions],
        decisions=[decision_public(session, d) for d in capa.decisions],
    )
