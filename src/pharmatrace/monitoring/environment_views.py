"""Pages: environmental monitoring (洁净区环境监控, TJ-6.5, TJ-6.7, TJ-6.8, SH-8.4.3).

* ``/monitoring/floor-plan`` — the plant's floor plan (SVG): each room a rectangle coloured by its state now with
  its grade and code, the latest values on hover (SVG ``<title>``) and in a side table for keyboard and screen
  readers, the utility systems beside; refreshed every 30 s by htmx from ``/monitoring/floor-plan/fragment``.
* ``/monitoring/environment`` — per room, its grade limits against the latest values, and the utilities' tags
  against the plant's limits.

* ``/monitoring/floor-plan/edit`` — the plan's editor (TJ-6.5, SH-6.3.1) for whoever maintains equipment
  (``equipment.manage``, as :func:`.environment.set_floor_plan` requires): a table of every room of the plant and
  the four utility systems with x, y, w, h (all four empty: not on the plan) and a reason; saving stores the
  audited setting through the service. Without JavaScript the table is the editor; with it
  (``static/js/floorplan-editor.js``) an SVG preview above it moves and resizes the rectangles on a 10-unit
  grid, writing into the same inputs, and shows overlapping ones in red — the server still decides. A refused
  plan (a half-filled row, no reason, outside the plan, an unknown room, overlapping rectangles) re-renders the
  form with what was typed and the error, and stores nothing.

Times are Beijing time; whoever views monitoring (``monitoring.view``) sees the plan and the limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import alarms, environment, tags
from pharmatrace.monitoring.environment import FloorPlan, FloorPlanUpdate
from pharmatrace.storage.engine import Database
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import act, form_data
from pharmatrace.web.templating import render

router = APIRouter(prefix="/monitoring", include_in_schema=False)

View = Annotated[Principal, Depends(Requires(tags.VIEW_PERMISSION))]
Manage = Annotated[Principal, Depends(Requires(tags.MANAGE_PERMISSION))]  # what set_floor_plan requires
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
def floor_plan(request: Request, db: DbDep, principal: View, done: int = 0) -> Response:
    """The live floor plan of the rooms and utility systems (``?done=1``: the editor has just saved it)."""
    flash = i18n.gettext(N_("Floor plan saved")) if done else None
    return render(request, "monitoring/floorplan.html", flash=flash, **_plan(db))


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


# --- the editor ------------------------------------------------------------------------------------------------

SIDES = ("x", "y", "w", "h")
SAVED = "/monitoring/floor-plan?done=1"


def _form_of(plan: FloorPlan) -> dict[str, str]:
    """The stored plan as the editor's inputs: ``room.<code>.x`` … and ``utility.<system>.label`` …"""
    data = {
        f"room.{code}.{side}": str(getattr(rect, side)) for code, rect in plan.rooms.items() for side in SIDES
    }
    for box in plan.utilities:
        data[f"utility.{box.system}.label"] = box.label
        data.update({f"utility.{box.system}.{side}": str(getattr(box, side)) for side in SIDES})
    return data


def _rows(data: Mapping[str, str], kind: str) -> dict[str, dict[str, str]]:
    """The posted rows of one kind ("room", "utility"): name → {"x": "…", …, "label": "…"}, trimmed."""
    rows: dict[str, dict[str, str]] = {}
    for key, value in data.items():
        first, _, rest = key.partition(".")
        name, _, part = rest.rpartition(".")
        if first == kind and name and part in (*SIDES, "label"):
            rows.setdefault(name, {})[part] = str(value).strip()
    return rows


def _where(key: str) -> str:
    """A row's name for an error message: the room's code, the system's label, or the reason field."""
    kind, _, name = key.partition(".")
    if kind == "utility":
        return i18n.gettext(environment.SYSTEM_LABELS.get(name, name))
    if key == "reason":
        return i18n.gettext(N_("Reason for the change"))
    return name or key


def _plan_update(data: Mapping[str, str]) -> tuple[FloorPlanUpdate | None, dict[str, str]]:
    """The editor's form → the update for :func:`.environment.set_floor_plan`, or ``None`` and the translated
    problems by row (``room.<code>``, ``utility.<system>``, ``reason``). A row is on the plan with all four of x,
    y, w, h, off it with none; anything between is refused rather than guessed. The plan's own rules (whole
    numbers, inside the plan, a reason) are :class:`.environment.FloorPlanUpdate`'s."""
    rooms, utilities = _rows(data, "room"), _rows(data, "utility")
    errors: dict[str, str] = {}
    placed: dict[str, dict[str, dict[str, str]]] = {"room": {}, "utility": {}}
    for kind, rows in (("room", rooms), ("utility", utilities)):
        for name, row in rows.items():
            filled = [side for side in SIDES if row.get(side)]
            if filled and len(filled) < len(SIDES):
                errors[f"{kind}.{name}"] = i18n.gettext(N_("Fill in all four of x, y, w and h, or none"))
            elif filled and kind == "utility" and not row.get("label"):
                errors[f"{kind}.{name}"] = i18n.gettext(N_("A box on the plan needs a label"))
            elif filled:
                placed[kind][name] = row
    if errors:
        return None, errors
    body: dict[str, Any] = {
        "rooms": {code: {side: row[side] for side in SIDES} for code, row in placed["room"].items()},
        "utilities": [{"system": system, **row} for system, row in placed["utility"].items()],
    }
    if str(data.get("reason", "")).strip():
        body["reason"] = data["reason"]  # blank: "required", as on every audited form
    try:
        return FloorPlanUpdate.model_validate(body), {}
    except ValidationError as error:
        systems = list(placed["utility"])
        for problem in i18n.field_errors(list(error.errors())):
            where = problem["field"].split(".")
            if where[0] == "rooms" and len(where) > 1:
                key = f"room.{where[1]}"
            elif where[0] == "utilities" and len(where) > 1 and where[1].isdigit():
                key = f"utility.{systems[int(where[1])]}"
            else:
                key = where[0]
            errors.setdefault(key, problem["message"])
        return None, errors


def _editor(request: Request, db: Database, status: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        rooms = environment.active_rooms(session)
        plan = environment.floor_plan(session)
        trail = trail_of(session, [("setting", [environment.SETTINGS_KEY])])
    values.setdefault("data", _form_of(plan))
    gone = sorted(set(plan.rooms) - {room.code for room in rooms})  # voided since: saving takes them off
    return render(request, "monitoring/floorplan_edit.html", status, rooms=rooms, systems=environment.SYSTEMS,
                  labels=LABELS, sides=SIDES, gone=gone, trail=trail, width=environment.PLAN_WIDTH,
                  height=environment.PLAN_HEIGHT, **values)  # fmt: skip


@router.get("/floor-plan/edit", response_class=HTMLResponse)
def floor_plan_editor(request: Request, db: DbDep, principal: Manage) -> Response:
    """The floor plan's editor: every room of the plant and the utility systems with their rectangles."""
    return _editor(request, db)


@router.post("/floor-plan/edit", response_class=HTMLResponse)
async def save_floor_plan(request: Request, db: DbDep, principal: Manage) -> Response:
    """Store the edited plan through :func:`.environment.set_floor_plan`; a refusal shows the form again."""
    data = await form_data(request)
    update, errors = _plan_update(data)
    if update is None:
        key = next(iter(errors))
        error = i18n.translate(N_("{where}: {problem}"), where=_where(key), problem=errors[key])
        return _editor(request, db, 422, data=data, field_errors=errors, error=error)
    plan: FloorPlanUpdate = update
    return act(db, principal, lambda uow: environment.set_floor_plan(uow, principal, plan),
               rerender=lambda status, **values: _editor(request, db, status, **values),
               done=SAVED, reason=plan.reason, data=data)  # fmt: skip
