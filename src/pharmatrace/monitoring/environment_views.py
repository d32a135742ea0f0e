"""Pages: environmental monitoring (洁净区环境监控, TJ-6.5, TJ-6.7, TJ-6.8, SH-8.4.3).

* ``/monitoring/floor-plan`` — the plant's floor plan (SVG): each room a rectangle coloured by its state now with
  its grade and code, the latest values on hover (SVG ``<title>``) and in a side table for keyboard and screen
  readers, the utility systems beside; refreshed every 30 s by htmx from ``/monitoring/floor-plan/fragment``.
* ``/monitoring/environment`` — per room, its grade limits against the latest values, and the utilities' tags
  against the plant's limits.

Times are Beijing time; whoever views monitoring (``monitoring.view``) sees both."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel import clock
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import alarms, environment, tags
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.templating import render

router = APIRouter(prefix="/monitoring", include_in_schema=False)

View = Annotated[Principal, Depends(Requires(tags.VIEW_PERMISSION))]
LABELS = {
    "states": environment.STATE_LABELS,
    "measures": environment.MEASURE_LABELS,
    "systems": environment.SYSTEM_LABELS,
    "quantities": environment.QUANTITY_LABELS,
    "qualities": tags.QUALITY_LABELS,
    "conditions": alarms.CONDITION_LABELS,
    "alarm_states": alarms.STATE_LABELS,
}
# fill and stroke per state; the state is also written in the rectangle, never told by colour alone
COLOURS = {
    "ok": ("#d8f0df", "#1c7c3a"),
    "alert": ("#f8d7d3", "#b3261e"),
    "stale": ("#fff1cc", "#9a6200"),
    "no_data": ("#eceff3", "#8a94a3"),
}


def _plan(db: DbDep) -> dict[str, Any]:
    at = clock.now()
    with db.sessions() as session:
        rooms = environment.room_states(session, at)
        utilities = environment.utility_states(session, at)
        plan = environment.floor_plan(session)
    boxes: dict[str, environment.Rect] = {**plan.rooms, **{u.system: u for u in plan.utilities}}
    labels = {u.system: u.label for u in plan.utilities}
    return {"rooms": rooms, "utilities": utilities, "boxes": boxes, "utility_labels": labels, "at": at,
            "colours": COLOURS, "labels": LABELS, "width": environment.PLAN_WIDTH,
            "height": environment.PLAN_HEIGHT}  # fmt: skip


@router.get("/floor-plan", response_class=HTMLResponse)
def floor_plan(request: Request, db: DbDep, principal: View) -> Response:
    """The live floor plan of the rooms and utility systems."""
    return render(request, "monitoring/floorplan.html", **_plan(db))


@router.get("/floor-plan/fragment", response_class=HTMLResponse)
def floor_plan_fragment(request: Request, db: DbDep, principal: View) -> Response:
    """The plan and its table alone, for htmx to swap in every 30 s."""
    return render(request, "monitoring/floorplan_svg.html", **_plan(db))


@router.get("/environment", response_class=HTMLResponse)
def environment_page(request: Request, db: DbDep, principal: View) -> Response:
    """Per room, the grade limits against the latest values; the utilities against the plant's limits."""
    at = clock.now()
    with db.sessions() as session:
        rooms = environment.room_states(session, at)
        utilities = environment.utility_states(session, at)
    return render(request, "monitoring/environment.html", rooms=rooms, utilities=utilities, at=at, labels=LABELS,
                  particles=environment.GRADE_PARTICLES)  # fmt: skip
