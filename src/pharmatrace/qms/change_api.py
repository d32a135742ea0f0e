"""``/api/v1/qms/changes``: change control (TJ-10.3, SH-6.2.4) — proposals with their assessment and affected
items, submission, approvals and rejections by the approver functions (signed), tasks, verification, closure
(signed), cancellation, and the dashboard.

Reading needs ``qms.view``; proposing ``qms.change.propose``; planning tasks, implementing, verifying and closing
``qms.change.manage`` (QA). Where who may act depends on the record, the route asks ``qms.view`` and the service
checks the rest: editing, submitting and cancelling a draft (its proposer or QA; past the draft QA cancels),
approving and rejecting (the function's own permission), completing a task (its owner or QA)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import changes
from pharmatrace.qms.change_schemas import (
    ChangeApprove,
    ChangeClose,
    ChangeCreate,
    ChangeDetail,
    ChangePublic,
    ChangeReject,
    ChangeUpdate,
    Dashboard,
    DecisionPublic,
    ReasonIn,
    TaskCreate,
    TaskDone,
    TaskPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/changes", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Proposer = Annotated[Principal, Depends(Requires("qms.change.propose"))]
Manager = Annotated[Principal, Depends(Requires("qms.change.manage"))]


def _detail(db: DbDep, number: str) -> ChangeDetail:
    with db.sessions() as session:
        return changes.change_detail(session, changes.get_change(session, number))


@router.get("", response_model=list[ChangePublic])
def list_changes(
    db: DbDep, _: QmsView, status: str = "", q: str = "", overdue: bool = False
) -> list[ChangePublic]:
    """Changes, newest first; ``status`` a state or ``open``; ``overdue`` open changes past their target date."""
    with db.sessions() as session:
        return [
            changes.change_public(c)
            for c in changes.list_changes(session, status=status, text=q, overdue=overdue)
        ]


@router.get("/dashboard", response_model=Dashboard)
def dashboard(db: DbDep, _: QmsView) -> Dashboard:
    with db.sessions() as session:
        return changes.dashboard(session)


@router.post("", response_model=ChangeDetail, status_code=201)
def create_change(body: ChangeCreate, db: DbDep, principal: Proposer) -> ChangeDetail:
    """A new change request, as a draft."""
    with uow_for(db, principal) as uow:
        number = changes.create_change(uow, principal, body).number
        uow.commit()
    return _detail(db, number)


@router.get("/{number}", response_model=ChangeDetail)
def get_change(number: str, db: DbDep, _: QmsView) -> ChangeDetail:
    return _detail(db, number)


@router.put("/{number}", response_model=ChangeDetail)
def update_change(number: str, body: ChangeUpdate, db: DbDep, principal: QmsView) -> ChangeDetail:
    """A draft's whole proposal replaced (its proposer or QA)."""
    with uow_for(db, principal, reason=body.reason) as uow:
        changes.update_change(uow, principal, number, body)
        uow.commit()
    return _detail(db, number)


@router.post("/{number}/submit", response_model=ChangeDetail)
def submit(number: str, db: DbDep, principal: QmsView) -> ChangeDetail:
    with uow_for(db, principal) as uow:
        changes.submit(uow, principal, number)
        uow.commit()
    return _detail(db, number)


@router.post("/{number}/approve", response_model=DecisionPublic)
def approve(number: str, body: ChangeApprove, db: DbDep, principal: QmsView) -> DecisionPublic:
    """One function's approval, signed "approved"; the function's permission is checked by the service."""
    with uow_for(db, principal) as uow:
        decision = changes.approve(uow, principal, number, body)
        uow.commit()
        return changes.decision_public(uow.session, decision)


@router.post("/{number}/reject", response_model=ChangeDetail)
def reject(number: str, body: ChangeReject, db: DbDep, principal: QmsView) -> ChangeDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        changes.reject(uow, principal, number, body)
        uow.commit()
    return _detail(db, number)


@router.post("/{number}/tasks", response_model=TaskPublic, status_code=201)
def add_task(number: str, body: TaskCreate, db: DbDep, principal: Manager) -> TaskPublic:
    with uow_for(db, principal) as uow:
        task = changes.add_task(uow, principal, number, body)
        uow.commit()
        return changes.task_public(task)


@router.post("/{number}/tasks/{seq}/done", response_model=TaskPublic)
def complete_task(number: str, seq: int, body: TaskDone, db: DbDep, principal: QmsView) -> TaskPublic:
    """A task done with its evidence, by its owner or QA (checked by the service)."""
    with uow_for(db, principal) as uow:
        task = changes.complete_task(uow, principal, number, seq, body)
        uow.commit()
        return changes.task_public(task)


@router.post("/{number}/tasks/{seq}/void", response_model=TaskPublic)
def void_task(number: str, seq: int, body: ReasonIn, db: DbDep, principal: Manager) -> TaskPublic:
    with uow_for(db, principal, reason=body.reason) as uow:
        task = changes.void_task(uow, principal, number, seq, body.reason)
        uow.commit()
        return changes.task_public(task)


@router.post("/{number}/implement", response_model=ChangeDetail)
def implement(number: str, db: DbDep, principal: Manager) -> ChangeDetail:
    with uow_for(db, principal) as uow:
        changes.start_implementation(uow, principal, number)
        uow.commit()
    return _detail(db, number)


@router.post("/{number}/verify", response_model=ChangeDetail)
def verify(number: str, db: DbDep, principal: Manager) -> ChangeDetail:
    with uow_for(db, principal) as uow:
        changes.to_verification(uow, principal, number)
        uow.commit()
    return _detail(db, number)


@router.post("/{number}/reopen", response_model=ChangeDetail)
def reopen(number: str, body: ReasonIn, db: DbDep, principal: Manager) -> ChangeDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        changes.reopen(uow, principal, number, body.reason)
        uow.commit()
    return _detail(db, number)


@router.post("/{number}/close", response_model=DecisionPublic)
def close(number: str, body: ChangeClose, db: DbDep, principal: Manager) -> DecisionPublic:
    """The verification of effectiveness and the closure, signed by QA."""
    with uow_for(db, principal) as uow:
        decision = changes.close(uow, principal, number, body)
        uow.commit()
        return changes.decision_public(uow.session, decision)


@router.post("/{number}/cancel", response_model=ChangeDetail)
def cancel(number: str, body: ReasonIn, db: DbDep, principal: QmsView) -> ChangeDetail:
    """A draft cancelled by its proposer, or any open change by QA (checked by the service)."""
    with uow_for(db, principal, reason=body.reason) as uow:
        changes.cancel(uow, principal, number, body.reason)
        uow.commit()
    return _detail(db, number)
