"""Change control (变更控制, TJ-10.3, SH-6.2.4): proposal, impact and risk assessment, affected items, approval by
signatures, implementation tasks, verification of effectiveness and closure.

The lifecycle is a declared state machine (:data:`TRANSITIONS`) whose guards are small named functions::

    draft ──submit──> submitted ──approve (each required function, signed)──> approved ──implement──>
      in_implementation ──verify──> verification ──close (QA, signed)──> closed
                  ^                      │
                  └────────reopen────────┘
    submitted ──reject (reason)──> rejected;   any open state ──cancel (reason)──> cancelled

* A holder of ``qms.change.propose`` proposes a change as a draft: title, description, justification, type,
  class, target date, the impact and risk assessment of the eight areas (:data:`AREAS`) and the affected items,
  each checked against its register (documents, master recipes, equipment and rooms, specifications).
* Submission needs every area assessed; the class the answers suggest (:func:`suggest_class`) is taken unless the
  proposer chose another with a rationale. The content is then frozen and hashed (SM3, ``content_sm3``).
* The approver functions derive from type, class and affected items (:func:`required_functions`): QA always;
  the production head for process, equipment and facility changes; the QC head for specification and method
  changes; the system owner for changes to a computerized system; production and QC for a major change. Each
  approval is an electronic signature (``qms.change.approve.<function>``) on a decision row naming the content
  hash, by a holder of the function's permission who is not the proposer and signs no other function of it.
  A rejection, with its reason, ends the change.
* A holder of ``qms.change.manage`` (QA) plans the tasks and starts the implementation; a computerized-system
  change needs a validation task (TJ-10.3: 测试/验证). Task owners mark their tasks done with the evidence.
  With every task done the change goes to verification; QA closes it with the verification of effectiveness,
  signed (``qms.change.close``), or reopens it with a reason.

Every refusal raises a typed error and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger, workflow
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal, find_user
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import numbering
from pharmatrace.qms.change_models import (
    AREAS,
    FUNCTION_LABELS,
    FUNCTIONS,
    ITEM_LABELS,
    OPEN_STATUSES,
    STATUS_LABELS,
    STATUSES,
    ChangeDecision,
    ChangeImpact,
    ChangeItem,
    ChangeRequest,
    ChangeTask,
)
from pharmatrace.qms.change_schemas import (
    AgeingBucket,
    ChangeApprove,
    ChangeClose,
    ChangeCreate,
    ChangeDetail,
    ChangePublic,
    ChangeReject,
    ChangeUpdate,
    Dashboard,
    DecisionPublic,
    ImpactPublic,
    ItemPublic,
    Proposal,
    SignaturePublic,
    TaskCreate,
    TaskDone,
    TaskPublic,
)

PROPOSE = "qms.change.propose"
MANAGE = "qms.change.manage"  # QA: plans tasks, starts implementation and verification, closes, cancels
# The permission each approver function's signer needs, and the signable action of its approval.
FUNCTION_PERMISSIONS = {
    "qa": "qms.change.manage",
    "production": "mes.batch.supervise",
    "qc": "lims.result.review",
    "system_owner": "qms.change.system_owner",
}
APPROVE_ACTIONS = {f: f"qms.change.approve.{f}" for f in FUNCTIONS}
REJECT_ACTIONS = {f: f"qms.change.reject.{f}" for f in FUNCTIONS}
CLOSE_ACTION = "qms.change.close"
DECISION_TYPE = "qms_change_decision"
AGEING = ((30, N_("0–30 days")), (60, N_("31–60 days")), (90, N_("61–90 days")), (None, N_("over 90 days")))


class ChangeRefused(Conflict):
    """A transition the change's state or its guards do not allow: the message says why."""

    code = "change_refused"


class ChangeDutiesNotSegregated(NotPermitted):
    """The proposer may not approve or close their own change; one person signs one function (SH-7.1.4)."""

    code = "change_duties"


class UnknownAffectedItem(ValidationFailed):
    """An affected item whose code is not in its register."""

    code = "change_unknown_item"


# --- dates ------------------------------------------------------------------------------------------------


today = clock.today  # the plant's calendar day (Beijing)


def age_days(change: ChangeRequest, on: date | None = None) -> int:
    return ((on or today()) - clock.to_beijing(change.created_at).date()).days


def is_overdue(change: ChangeRequest, on: date | None = None) -> bool:
    return change.status in OPEN_STATUSES and change.target_date < (on or today())


def task_overdue(task: ChangeTask, on: date | None = None) -> bool:
    return task.done_at is None and task.due_date < (on or today())


# --- finding ----------------------------------------------------------------------------------------------


def find_change(session: Session, number: str) -> ChangeRequest | None:
    return session.scalar(select(ChangeRequest).where(ChangeRequest.number == number.strip().upper()))


def get_change(session: Session, number: str) -> ChangeRequest:
    found = find_change(session, number)
    if found is None:
        raise NotFound(N_("No change request {number}"), number=number.strip())
    return found


def list_changes(
    session: Session, *, status: str = "", text: str = "", overdue: bool = False
) -> list[ChangeRequest]:
    """Changes, newest first; ``status`` one of :data:`STATUSES` or ``open``; ``text`` matches number, title,
    proposer; ``overdue`` only open changes past their target date."""
    query = select(ChangeRequest).order_by(ChangeRequest.id.desc())
    if status in STATUSES:
        query = query.where(ChangeRequest.status == status)
    elif status == "open":
        query = query.where(ChangeRequest.status.in_(OPEN_STATUSES))
    found = list(session.scalars(query).unique())
    needle = text.strip().lower()
    if needle:
        found = [c for c in found if needle in c.number.lower() or needle in c.title.lower()
                 or needle in c.proposer.lower() or needle in c.proposer_name.lower()]  # fmt: skip
    if overdue:
        found = [c for c in found if is_overdue(c)]
    return found


def require_approved_change(
    session: Session, number: str, *, change_type: str | None = None
) -> ChangeRequest:
    """The change ``number`` if it is approved or in implementation (and of ``change_type``, when given);
    refused otherwise. Other areas call this before a controlled change takes effect, e.g. a configuration change
    of the computerized system itself (TJ-10.3: 确保计算机化系统的变更都处于控制下)."""
    change = find_change(session, number)
    if change is None:
        raise NotFound(N_("No change request {number}"), number=number.strip())
    if change.status not in ("approved", "in_implementation"):
        raise ChangeRefused(N_("Change {number} is “{status}”: only an approved change may be implemented"),
                            number=change.number, status=Msgid(STATUS_LABELS[change.status]))  # fmt: skip
    if change_type is not None and change.change_type != change_type:
        raise ChangeRefused(N_("Change {number} is not a change of this kind"), number=change.number)
    return change


# --- assessment rules -------------------------------------------------------------------------------------


def suggest_class(impacts: Sequence[ImpactPublic | ChangeImpact]) -> str:
    """The class the impact answers suggest: *major* for a high risk or an impact on the registration, *moderate*
    for a medium risk or an impact on product quality, validation, stability or a computerized system, else
    *minor*. The proposer may choose another with a rationale."""
    if any(i.risk == "high" for i in impacts) or any(i.impact and i.area == "regulatory" for i in impacts):
        return "major"
    weighty = {"product_quality", "validation", "stability", "computerized_systems"}
    if any(i.risk == "medium" for i in impacts) or any(i.impact and i.area in weighty for i in impacts):
        return "moderate"
    return "minor"


def required_functions(change_type: str, change_class: str | None, item_kinds: set[str],
                       impacted: set[str]) -> list[str]:  # fmt: skip
    """The approver functions a change needs, in the order of :data:`FUNCTIONS`."""
    needed = {"qa"}  # QA approves every change
    if change_type in ("process", "equipment", "facility") or item_kinds & {"recipe", "equipment"}:
        needed.add("production")
    if change_type in ("specification", "analytical_method") or "specification" in item_kinds:
        needed.add("qc")
    if change_class == "major":
        needed |= {"production", "qc"}
    if (
        change_type == "computerized_system"
        or "system_component" in item_kinds
        or "computerized_systems" in impacted
    ):
        needed.add("system_owner")
    return [f for f in FUNCTIONS if f in needed]


def required_of(change: ChangeRequest) -> list[str]:
    return required_functions(change.change_type, change.change_class, {i.kind for i in change.items},
                              {i.area for i in change.impacts if i.impact})  # fmt: skip


def approved_functions(change: ChangeRequest) -> list[str]:
    return [d.function for d in change.decisions if d.kind == "approve" and d.function is not None]


# --- affected items ---------------------------------------------------------------------------------------


def resolve_item(session: Session, kind: str, reference: str) -> str:
    """The name of an affected item in its register; an unknown code is refused. Validation records and system
    components have no register yet: their reference is taken as written."""
    from pharmatrace.documents.models import Document
    from pharmatrace.equipment.models import Equipment, Room
    from pharmatrace.lims.specs_models import Specification
    from pharmatrace.mes.recipe_models import MasterRecipe

    if kind == "document":
        doc = session.scalar(select(Document).where(Document.number == reference))
        if doc is not None:
            return doc.title
    elif kind == "recipe":
        recipe = session.scalar(select(MasterRecipe).where(MasterRecipe.code == reference))
        if recipe is not None and recipe.voided_at is None:
            return recipe.product_name
    elif kind == "equipment":
        item = session.scalar(select(Equipment).where(Equipment.code == reference))
        if item is not None and item.voided_at is None:
            return item.name
        room = session.scalar(select(Room).where(Room.code == reference))
        if room is not None and room.voided_at is None:
            return room.name
    elif kind == "specification":
        spec = session.scalar(select(Specification).where(Specification.code == reference))
        if spec is not None and spec.voided_at is None:
            return spec.versions[-1].title if spec.versions else ""
    else:
        return ""
    raise UnknownAffectedItem(N_("{kind} “{reference}” is not in the register"),
                              kind=Msgid(ITEM_LABELS[kind]), reference=reference)  # fmt: skip


def item_link(kind: str, reference: str) -> str | None:
    return {"document": f"/documents/{reference}", "recipe": f"/mes/recipes/{reference}",
            "specification": f"/lims/specifications/{reference}"}.get(kind)  # fmt: skip


# --- content ----------------------------------------------------------------------------------------------


def _content(change: ChangeRequest) -> dict[str, Any]:
    return {
        "number": change.number, "title": change.title, "description": change.description,
        "justification": change.justification, "change_type": change.change_type,
        "change_class": change.change_class, "class_rationale": change.class_rationale,
        "target_date": change.target_date.isoformat(), "fmea_ref": change.fmea_ref, "proposer": change.proposer,
        "impacts": sorted([i.area, i.impact, i.risk, i.comment] for i in change.impacts),
        "items": sorted([i.kind, i.reference, i.note] for i in change.items),
    }  # fmt: skip


def content_hash(change: ChangeRequest) -> str:
    """SM3 of the change as submitted: what the approvals sign."""
    return crypto.sm3(ledger.canonical_text(_content(change)).encode()).hex()


def _set_proposal(session: Session, change: ChangeRequest, body: Proposal) -> None:
    names = {(i.kind, i.reference): resolve_item(session, i.kind, i.reference) for i in body.items}
    change.title, change.description, change.justification = body.title, body.description, body.justification
    change.change_type, change.change_class = body.change_type, body.change_class
    change.class_rationale, change.target_date, change.fmea_ref = (
        body.class_rationale,
        body.target_date,
        body.fmea_ref,
    )
    session.flush()
    current = {i.area: i for i in change.impacts}
    for impact in body.impacts:
        found = current.get(impact.area)
        if found is None:
            session.add(ChangeImpact(change_id=change.id, area=impact.area, impact=impact.impact, risk=impact.risk,
                                     comment=impact.comment))  # fmt: skip
        else:
            found.impact, found.risk, found.comment = impact.impact, impact.risk, impact.comment
    items = {(i.kind, i.reference): i for i in change.items}
    for key, row in items.items():
        if key not in names:
            row.voided_at = clock.now()
    session.flush()
    for item in body.items:
        existing = items.get((item.kind, item.reference))
        if existing is None:
            session.add(ChangeItem(change_id=change.id, kind=item.kind, reference=item.reference,
                                   name=names[(item.kind, item.reference)][:256], note=item.note))  # fmt: skip
        else:
            existing.note = item.note
    session.flush()
    session.expire(change, ["impacts", "items"])


def next_number(session: Session) -> str:
    """``CC-2026-0001``: the year (Beijing) and a serial per year (``qms.numbering``)."""
    return numbering.next_number(session, "CC", find_change)


# --- the state machine ------------------------------------------------------------------------------------


@dataclass
class Context:
    session: Session
    principal: Principal
    change: ChangeRequest


Guard = Callable[[Context], None]


def guard_proposer_or_manager(ctx: Context) -> None:
    if not ctx.principal.can(MANAGE) and ctx.principal.user_id != ctx.change.proposer_id:
        raise NotPermitted(
            N_("Only the proposer or QA may do this to change {number}"), number=ctx.change.number
        )


def guard_assessment_complete(ctx: Context) -> None:
    # TJ-10.3: every change is assessed (评估) before it is approved.
    missing = [a for a in AREAS if a not in {i.area for i in ctx.change.impacts}]
    if missing:
        raise ChangeRefused(N_("The impact and risk assessment is incomplete: {areas} not assessed"),
                            areas=", ".join(missing))  # fmt: skip


def guard_class_rationale(ctx: Context) -> None:
    chosen = ctx.change.change_class
    if (
        chosen is not None
        and chosen != suggest_class(ctx.change.impacts)
        and len(ctx.change.class_rationale) < 2
    ):
        raise ChangeRefused(N_("The class differs from the one the assessment suggests: give the rationale"))


def guard_not_proposer(ctx: Context) -> None:
    if ctx.principal.user_id == ctx.change.proposer_id:
        raise ChangeDutiesNotSegregated(N_("The proposer of a change cannot approve or close it"))


def guard_tasks_planned(ctx: Context) -> None:
    if not ctx.change.tasks:
        raise ChangeRefused(N_("Plan the implementation tasks first"))
    if ctx.change.change_type == "computerized_system" and not any(
        t.kind == "validation" for t in ctx.change.tasks
    ):
        raise ChangeRefused(N_("A change to a computerized system needs a validation task (test evidence)"))


def guard_tasks_done(ctx: Context) -> None:
    open_tasks = [t for t in ctx.change.tasks if t.done_at is None]
    if open_tasks:
        raise ChangeRefused(N_("{count} implementation task(s) are still open"), count=len(open_tasks))
    if ctx.change.change_type == "computerized_system" and not any(
        t.kind == "validation" and t.done_at is not None for t in ctx.change.tasks
    ):
        raise ChangeRefused(
            N_("A change to a computerized system needs its validation done before verification")
        )


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    label: str  # gettext msgid
    sources: tuple[str, ...]
    target: str
    permissions: tuple[str, ...]  # any one of them; approvals check their function's permission themselves
    guards: tuple[Guard, ...]
    signed: str | None = None


# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("submit", N_("submitted"), ("draft",), "submitted", (PROPOSE, MANAGE),
                   (guard_proposer_or_manager, guard_assessment_complete, guard_class_rationale)),
        Transition("approve", N_("approved"), ("submitted",), "approved", (), (guard_not_proposer,),
                   signed="qms.change.approve.<function>"),
        Transition("reject", N_("rejected"), ("submitted",), "rejected", (), (guard_not_proposer,)),
        Transition("implement", N_("put into implementation"), ("approved",), "in_implementation", (MANAGE,),
                   (guard_tasks_planned,)),
        Transition("verify", N_("sent to verification"), ("in_implementation",), "verification", (MANAGE,),
                   (guard_tasks_done,)),
        Transition("reopen", N_("reopened"), ("verification",), "in_implementation", (MANAGE,), ()),
        Transition("close", N_("closed"), ("verification",), "closed", (MANAGE,),
                   (guard_not_proposer, guard_tasks_done), signed=CLOSE_ACTION),
        Transition("cancel", N_("cancelled"), OPEN_STATUSES, "cancelled", (MANAGE, PROPOSE),
                   (guard_proposer_or_manager,)),
    )
}
# fmt: on


def _locked(uow: UnitOfWork, number: str) -> ChangeRequest:
    """The change, its row locked until commit (one transition of a change at a time)."""
    session = uow.session
    session.execute(
        select(ChangeRequest.id).where(ChangeRequest.number == number.strip().upper()).with_for_update()
    )
    change = get_change(session, number)
    session.refresh(change)
    return change


def _transition(uow: UnitOfWork, principal: Principal, number: str, name: str) -> Context:
    """Check a transition's permission, source state and guards; nothing is written yet."""
    transition = TRANSITIONS[name]
    change = _locked(uow, number)
    workflow.require_any(principal, transition.permissions)
    if change.status not in transition.sources:
        raise ChangeRefused(N_("Change {number} is “{status}”: it cannot be {action}"), number=change.number,
                            status=Msgid(STATUS_LABELS[change.status]), action=Msgid(transition.label))  # fmt: skip
    ctx = Context(uow.session, principal, change)
    for guard in transition.guards:
        guard(ctx)
    return ctx


# --- proposing --------------------------------------------------------------------------------------------


def create_change(uow: UnitOfWork, principal: Principal, body: ChangeCreate) -> ChangeRequest:
    """A new change request, as a draft, proposed by ``principal``."""
    principal.require(PROPOSE)
    session = uow.session
    for item in body.items:  # refused before anything is written
        resolve_item(session, item.kind, item.reference)
    number = next_number(session)
    uow.reason = uow.reason or f"change {number} proposed"
    change = ChangeRequest(
        number=number, title=body.title, description=body.description, justification=body.justification,
        change_type=body.change_type, target_date=body.target_date, proposer_id=principal.user_id,
        proposer=principal.login, proposer_name=principal.full_name, status="draft", created_at=clock.now(),
    )  # fmt: skip
    session.add(change)
    session.flush()
    _set_proposal(session, change, body)
    return change


def update_change(uow: UnitOfWork, principal: Principal, number: str, body: ChangeUpdate) -> ChangeRequest:
    """A draft's whole proposal replaced (items left out are voided); the audit trail keeps old and new."""
    change = _locked(uow, number)
    workflow.require_any(principal, (PROPOSE, MANAGE))
    if change.status != "draft":
        raise ChangeRefused(N_("Only a draft change can be edited; {number} is “{status}”"), number=change.number,
                            status=Msgid(STATUS_LABELS[change.status]))  # fmt: skip
    guard_proposer_or_manager(Context(uow.session, principal, change))
    uow.reason = uow.reason or body.reason or "change proposal edited"
    _set_proposal(uow.session, change, body)
    return change


def submit(uow: UnitOfWork, principal: Principal, number: str) -> ChangeRequest:
    """draft → submitted: the assessment is complete, the class set, the content frozen and hashed."""
    ctx = _transition(uow, principal, number, "submit")
    change = ctx.change
    uow.reason = uow.reason or f"change {change.number} submitted for approval"
    change.suggested_class = suggest_class(change.impacts)
    change.change_class = change.change_class or change.suggested_class
    change.status = "submitted"
    change.submitted_at = clock.now()
    change.content_sm3 = content_hash(change)
    uow.session.flush()
    return change


# --- approving --------------------------------------------------------------------------------------------


def _decision(principal: Principal, change: ChangeRequest, kind: str, function: str | None, comment: str,
              effective: bool | None = None) -> ChangeDecision:  # fmt: skip
    """The decision row, not yet added: :func:`esign.add_signed_decision` adds and signs it."""
    return ChangeDecision(change_id=change.id, kind=kind, function=function, content_sm3=change.content_sm3,
                          comment=comment, effective=effective, decided_at=clock.now(),
                          decided_by_id=principal.user_id, decided_by=principal.login,
                          decided_by_name=principal.full_name)  # fmt: skip


def _check_function(ctx: Context, function: str) -> None:
    ctx.principal.require(FUNCTION_PERMISSIONS[function])
    change = ctx.change
    if function not in required_of(change):
        raise ChangeRefused(N_("Change {number} does not need the approval of “{function}”"), number=change.number,
                            function=Msgid(FUNCTION_LABELS[function]))  # fmt: skip
    if any(d.function == function for d in change.decisions):
        raise ChangeRefused(N_("“{function}” has already decided on change {number}"), number=change.number,
                            function=Msgid(FUNCTION_LABELS[function]))  # fmt: skip
    if any(d.decided_by_id == ctx.principal.user_id for d in change.decisions):
        raise ChangeDutiesNotSegregated(N_("You have already signed another function of this change"))
    if content_hash(change) != change.content_sm3:
        raise Conflict(N_("The content of change {number} does not match its hash"), number=change.number)


def approve(uow: UnitOfWork, principal: Principal, number: str, body: ChangeApprove) -> ChangeDecision:
    """The approval of one function, signed "approved"; the last required approval approves the change."""
    ctx = _transition(uow, principal, number, "approve")
    _check_function(ctx, body.function)
    esign.authenticate_signer(uow.db, principal, body.password, body.login or None)
    change = ctx.change
    uow.reason = uow.reason or f"change {change.number} approved ({body.function})"
    decision = _decision(principal, change, "approve", body.function, body.comment)
    esign.add_signed_decision(uow, principal, decision, action_code=APPROVE_ACTIONS[body.function],
                              password=body.password, login=body.login or None, expire=(change, "decisions"))  # fmt: skip
    if set(required_of(change)) <= set(approved_functions(change)):
        change.status = "approved"
        change.approved_at = clock.now()
        uow.session.flush()
    return decision


def reject(uow: UnitOfWork, principal: Principal, number: str, body: ChangeReject) -> ChangeRequest:
    """A required function rejects the change, with the reason and its signature "rejected": the change ends."""
    ctx = _transition(uow, principal, number, "reject")
    _check_function(ctx, body.function)
    esign.authenticate_signer(uow.db, principal, body.password, body.login or None)
    change = ctx.change
    uow.reason = body.reason
    decision = _decision(principal, change, "reject", body.function, body.reason)
    esign.add_signed_decision(uow, principal, decision, action_code=REJECT_ACTIONS[body.function],
                              password=body.password, login=body.login or None)  # fmt: skip
    change.status = "rejected"
    change.rejected_at = clock.now()
    change.reject_reason = body.reason
    uow.session.flush()
    return change


# --- implementing -----------------------------------------------------------------------------------------


def _task_state(change: ChangeRequest, doing: str) -> None:
    if change.status not in ("approved", "in_implementation"):
        raise ChangeRefused(N_("Change {number} is “{status}”: {doing} is not possible now"), number=change.number,
                            status=Msgid(STATUS_LABELS[change.status]), doing=Msgid(doing))  # fmt: skip


def add_task(uow: UnitOfWork, principal: Principal, number: str, body: TaskCreate) -> ChangeTask:
    """A task planned by QA: owner (a user of the plant), due date, kind."""
    session = uow.session
    change = _locked(uow, number)
    principal.require(MANAGE)
    _task_state(change, N_("planning a task"))
    owner = find_user(session, body.owner)
    if owner is None or not owner.active:
        raise ValidationFailed(N_("No active user {login}"), login=body.owner)
    if body.due_date < today():
        raise ValidationFailed(N_("The due date may not lie in the past"))
    seq = (session.scalar(select(func.max(ChangeTask.seq)).where(ChangeTask.change_id == change.id)) or 0) + 1
    uow.reason = uow.reason or f"task {seq} of change {change.number} planned"
    task = ChangeTask(change_id=change.id, seq=seq, kind=body.kind, title=body.title, owner=owner.login,
                      owner_name=owner.full_name, due_date=body.due_date, created_at=clock.now(),
                      created_by=principal.login)  # fmt: skip
    session.add(task)
    session.flush()
    session.expire(change, ["tasks"])
    return task


def _task(change: ChangeRequest, seq: int) -> ChangeTask:
    for task in change.tasks:
        if task.seq == seq:
            return task
    raise NotFound(N_("Change {number} has no task {seq}"), number=change.number, seq=seq)


def complete_task(uow: UnitOfWork, principal: Principal, number: str, seq: int, body: TaskDone) -> ChangeTask:
    """The owner (or QA) marks a task done with its evidence; a validation task also names its test evidence or
    validation report (TJ-10.3)."""
    change = _locked(uow, number)
    task = _task(change, seq)
    if principal.login != task.owner:
        principal.require(MANAGE)
    if change.status != "in_implementation":
        raise ChangeRefused(N_("Change {number} is “{status}”: {doing} is not possible now"), number=change.number,
                            status=Msgid(STATUS_LABELS[change.status]), doing=Msgid(N_("completing a task")))  # fmt: skip
    if task.done_at is not None:
        raise ChangeRefused(N_("Task {seq} is already done"), seq=seq)
    if task.kind == "validation" and len(body.validation_ref.strip()) < 2:
        raise ValidationFailed(N_("A validation task needs its test evidence or validation report reference"))
    uow.reason = uow.reason or f"task {seq} of change {change.number} done"
    task.done_at = clock.now()
    task.done_by = principal.login
    task.evidence = body.evidence
    task.validation_ref = body.validation_ref.strip()
    uow.session.flush()
    return task


def void_task(uow: UnitOfWork, principal: Principal, number: str, seq: int, reason: str) -> ChangeTask:
    """A task not needed after all, voided with the reason (never deleted); a done task stays."""
    change = _locked(uow, number)
    principal.require(MANAGE)
    _task_state(change, N_("removing a task"))
    task = _task(change, seq)
    if task.done_at is not None:
        raise ChangeRefused(N_("Task {seq} is already done"), seq=seq)
    uow.void(task, reason)
    uow.session.expire(change, ["tasks"])
    return task


def start_implementation(uow: UnitOfWork, principal: Principal, number: str) -> ChangeRequest:
    """approved → in_implementation, with the tasks planned (a validation task for a computerized system)."""
    ctx = _transition(uow, principal, number, "implement")
    uow.reason = uow.reason or f"change {ctx.change.number} in implementation"
    ctx.change.status = "in_implementation"
    ctx.change.implementation_at = clock.now()
    uow.session.flush()
    return ctx.change


def to_verification(uow: UnitOfWork, principal: Principal, number: str) -> ChangeRequest:
    """in_implementation → verification, every task done (and validated, for a computerized system)."""
    ctx = _transition(uow, principal, number, "verify")
    uow.reason = uow.reason or f"change {ctx.change.number} implemented, to verification"
    ctx.change.status = "verification"
    ctx.change.verification_at = clock.now()
    uow.session.flush()
    return ctx.change


def reopen(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> ChangeRequest:
    """verification → in_implementation: the verification found more to do (plan the tasks)."""
    ctx = _transition(uow, principal, number, "reopen")
    uow.reason = reason
    ctx.change.status = "in_implementation"
    ctx.change.verification_at = None
    uow.session.flush()
    return ctx.change


def close(uow: UnitOfWork, principal: Principal, number: str, body: ChangeClose) -> ChangeDecision:
    """verification → closed: QA records the verification of effectiveness and signs the closure."""
    ctx = _transition(uow, principal, number, "close")
    change = ctx.change
    if not body.effective:
        raise ChangeRefused(
            N_("A change not verified as effective cannot be closed: reopen it and plan the tasks")
        )
    esign.authenticate_signer(uow.db, principal, body.password, body.login or None)
    uow.reason = uow.reason or f"change {change.number} verified effective and closed"
    decision = _decision(principal, change, "close", None, body.summary, effective=True)
    esign.add_signed_decision(uow, principal, decision, action_code=CLOSE_ACTION, password=body.password,
                              login=body.login or None)  # fmt: skip
    change.status = "closed"
    change.closed_at = clock.now()
    change.closed_by = principal.login
    uow.session.flush()
    uow.session.expire(change, ["decisions"])
    return decision


def cancel(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> ChangeRequest:
    """Any open change cancelled with the reason: by QA, or by its proposer. Everything recorded stays."""
    ctx = _transition(uow, principal, number, "cancel")
    change = ctx.change
    if change.status != "draft" and not principal.can(MANAGE):
        raise NotPermitted(N_("Only QA may cancel a change that has been submitted"))
    uow.reason = reason
    change.status = "cancelled"
    change.cancelled_at = clock.now()
    change.cancel_reason = reason
    uow.session.flush()
    return change


# --- views of the records ---------------------------------------------------------------------------------


def change_public(change: ChangeRequest, on: date | None = None) -> ChangePublic:
    return ChangePublic(
        number=change.number, title=change.title, change_type=change.change_type, change_class=change.change_class,
        status=change.status, proposer=change.proposer, proposer_name=change.proposer_name,
        target_date=change.target_date, overdue=is_overdue(change, on), age_days=age_days(change, on),
        created_at=change.created_at, open_tasks=sum(1 for t in change.tasks if t.done_at is None),
    )  # fmt: skip


def decision_public(session: Session, decision: ChangeDecision) -> DecisionPublic:
    signatures = [
        SignaturePublic(meaning=s.meaning, signer_login=s.signer_login, signer_name=s.signer_name,
                        signed_at=s.signed_at, status=s.status)
        for s in esign.manifestations(session, DECISION_TYPE, str(decision.id))
    ]  # fmt: skip
    return DecisionPublic(
        id=decision.id, kind=decision.kind, function=decision.function, comment=decision.comment,
        effective=decision.effective, content_sm3=decision.content_sm3, decided_at=decision.decided_at,
        decided_by=decision.decided_by, decided_by_name=decision.decided_by_name, signatures=signatures,
    )  # fmt: skip


def task_public(task: ChangeTask, on: date | None = None) -> TaskPublic:
    return TaskPublic(
        id=task.id, seq=task.seq, kind=task.kind, title=task.title, owner=task.owner, owner_name=task.owner_name,
        due_date=task.due_date, overdue=task_overdue(task, on), done_at=task.done_at, done_by=task.done_by,
        evidence=task.evidence, validation_ref=task.validation_ref,
    )  # fmt: skip


def change_detail(session: Session, change: ChangeRequest, on: date | None = None) -> ChangeDetail:
    base = change_public(change, on).model_dump()
    impacts = sorted(change.impacts, key=lambda i: AREAS.index(i.area))
    return ChangeDetail(
        **base, description=change.description, justification=change.justification,
        suggested_class=change.suggested_class, class_rationale=change.class_rationale, fmea_ref=change.fmea_ref,
        content_sm3=change.content_sm3, submitted_at=change.submitted_at, approved_at=change.approved_at,
        implementation_at=change.implementation_at, verification_at=change.verification_at,
        closed_at=change.closed_at, closed_by=change.closed_by, rejected_at=change.rejected_at,
        reject_reason=change.reject_reason, cancelled_at=change.cancelled_at, cancel_reason=change.cancel_reason,
        required_functions=required_of(change), approved_functions=approved_functions(change),
        impacts=[ImpactPublic(area=i.area, impact=i.impact, risk=i.risk, comment=i.comment) for i in impacts],
        items=[ItemPublic(kind=i.kind, reference=i.reference, name=i.name, note=i.note,
                          link=item_link(i.kind, i.reference)) for i in change.items],
        decisions=[decision_public(session, d) for d in change.decisions],
        tasks=[task_public(t, on) for t in change.tasks],
    )  # fmt: skip


def dashboard(session: Session, on: date | None = None) -> Dashboard:
    """Counts by status, the ageing of open changes (since proposed), overdue changes and tasks."""
    on = on or today()
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in session.execute(
        select(ChangeRequest.status, func.count()).group_by(ChangeRequest.status)
    ).all():
        counts[status] = int(count)
    open_changes = list(session.scalars(select(ChangeRequest).where(ChangeRequest.status.in_(OPEN_STATUSES))))
    buckets = [0] * len(AGEING)
    for change in open_changes:
        age = age_days(change, on)
        index = next(n for n, (limit, _) in enumerate(AGEING) if limit is None or age <= limit)
        buckets[index] += 1
    overdue_tasks = sum(
        1
        for c in open_changes
        if c.status in ("approved", "in_implementation")
        for t in c.tasks
        if task_overdue(t, on)
    )
    return Dashboard(
        by_status=counts, ageing=[AgeingBucket(label=label, count=n) for (_, label), n in zip(AGEING, buckets, strict=True)],
        open_total=len(open_changes), overdue_changes=sum(1 for c in open_changes if is_overdue(c, on)),
        overdue_tasks=overdue_tasks,
    )  # fmt: skip
