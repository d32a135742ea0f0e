"""Pages: the people assigned to rooms and equipment for alarm notification (报警通知责任人, TJ-6.5, TJ-6.6). The
live assignments (ended ones on request) with who made and ended them, the form to assign a user who may acknowledge
alarms to a room or equipment as primary or backup, and ending one with a reason; the trail of the changes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import alarms, assignments
from pharmatrace.monitoring.assignment_schemas import AssignmentCreate, AssignmentEnd
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import filled, form_data, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/monitoring", include_in_schema=False)

View = Annotated[Principal, Depends(Requires(alarms.VIEW_PERMISSION))]
FILTERS = ("room", "equipment", "login", "ended")


def _page(request: Request, db: Any, status: int = 200, **values: Any) -> Response:
    q = {key: request.query_params.get(key, "").strip()[:64] for key in FILTERS}
    with db.sessions() as session:
        found = assignments.assignments_of(session, room=q["room"], equipment=q["equipment"], login=q["login"],
                                           ended=bool(q["ended"]))  # fmt: skip
        rooms, equipment = assignments.targets(session)
        people = assignments.assignable(session)
        trail = trail_of(session, [("monitoring_assignment", [a.id for a in found])]) if found else []
    return render(request, "monitoring/assignments.html", status, assignments=found, rooms=rooms,
                  equipment=equipment, people=people, roles=assignments.ROLE_LABELS, q=q, trail=trail,
                  **values)  # fmt: skip


@router.get("/assignments", response_class=HTMLResponse)
def assignment_list(request: Request, db: DbDep, principal: View) -> Response:
    """Who is told of the alarms of which room or equipment; the form to assign and end."""
    return _page(request, db)


@router.post("/assignments", response_class=HTMLResponse)
async def assign(request: Request, db: DbDep, principal: View) -> Response:
    data = filled(await form_data(request), ("login", "room", "equipment", "role"))
    return submit(db, principal, AssignmentCreate, data,
                  write=lambda uow, body: assignments.assign(uow, principal, body),
                  rerender=lambda status, **values: _page(request, db, status, form=data, **values),
                  permission=lambda _: assignments.ACKNOWLEDGE_PERMISSION,
                  done="/monitoring/assignments?done=1")  # fmt: skip


@router.post("/assignments/{assignment_id}/end", response_class=HTMLResponse)
async def end(assignment_id: int, request: Request, db: DbDep, principal: View) -> Response:
    data = await form_data(request)
    return submit(db, principal, AssignmentEnd, {"reason": data.get("reason", "")},
                  write=lambda uow, body: assignments.end(uow, principal, assignment_id, body.reason),
                  rerender=lambda status, **values: _page(request, db, status, **values),
                  reason=lambda body: body.reason, permission=lambda _: assignments.ACKNOWLEDGE_PERMISSION,
                  done="/monitoring/assignments?done=1")  # fmt: skip
