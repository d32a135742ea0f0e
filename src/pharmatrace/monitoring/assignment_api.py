"""People assigned to rooms and equipment for alarm notification over the REST API (TJ-6.5, TJ-6.6): listed by
whoever views monitoring, made and ended (with a reason) by whoever may acknowledge alarms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import alarms, assignments
from pharmatrace.monitoring.assignment_schemas import AssignmentCreate, AssignmentEnd, AssignmentPublic
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/monitoring", tags=["monitoring"])

View = Annotated[Principal, Depends(Requires(alarms.VIEW_PERMISSION))]
Keep = Annotated[Principal, Depends(Requires(assignments.ACKNOWLEDGE_PERMISSION))]


def _one(db: DbDep, assignment_id: int) -> AssignmentPublic:
    with db.sessions() as session:
        return assignments.assignment_public(session, assignment_id)


@router.get("/assignments", response_model=list[AssignmentPublic])
def list_assignments(
    db: DbDep, _: View, room: str = "", equipment: str = "", login: str = "", ended: bool = False
) -> list[AssignmentPublic]:
    """The live assignments (ended ones too with ``ended=true``), of a room, equipment (codes) or user (login)."""
    with db.sessions() as session:
        return assignments.assignments_of(session, room=room, equipment=equipment, login=login, ended=ended)


@router.post("/assignments", response_model=AssignmentPublic, status_code=201)
def assign(body: AssignmentCreate, db: DbDep, principal: Keep) -> AssignmentPublic:
    """Assign a user who may acknowledge alarms to a room *or* equipment, as ``primary`` or ``backup``."""
    with uow_for(db, principal) as uow:
        made = assignments.assign(uow, principal, body)
        uow.commit()
        made_id = made.id
    return _one(db, made_id)


@router.post("/assignments/{assignment_id}/end", response_model=AssignmentPublic)
def end(assignment_id: int, body: AssignmentEnd, db: DbDep, principal: Keep) -> AssignmentPublic:
    """End an assignment; ``reason`` is required and recorded (never deleted)."""
    with uow_for(db, principal, body.reason) as uow:
        assignments.end(uow, principal, assignment_id, body.reason)
        uow.commit()
    return _one(db, assignment_id)
