"""Pages: monitoring alarms (报警, TJ-6.4.3.4, TJ-6.5, TJ-6.6). The alarms awaiting action and the history, searched
by Beijing dates, room, equipment, tag and state, and "mine" (the alarms of the rooms and equipment assigned to me),
printable as PDF; an alarm with its transitions and the acknowledgement form (with the assessment); a tag's alarm
rules with the editor for whoever maintains equipment; a small badge with the count of the alarms awaiting my
acknowledgement, for whoever may acknowledge (loaded by the navigation)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import alarm_pdf, alarms, assignments, tags
from pharmatrace.monitoring.alarm_models import Alarm
from pharmatrace.monitoring.alarm_schemas import AlarmAcknowledge, AlarmFilter, RuleCreate, RuleVoid
from pharmatrace.monitoring.models import Tag
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, OptionalPrincipal, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/monitoring", include_in_schema=False)

View = Annotated[Principal, Depends(Requires(alarms.VIEW_PERMISSION))]
LABELS = {
    "conditions": alarms.CONDITION_LABELS,
    "states": alarms.STATE_LABELS,
    "transitions": alarms.TRANSITION_LABELS,
}
STATES = ("open", "active", "acknowledged", "cleared", "closed")


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


def _beijing_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.BEIJING).astimezone(UTC)


def _filter(request: Request, principal: Principal) -> tuple[AlarmFilter, dict[str, str]]:
    q = request.query_params
    values = {
        key: q.get(key, "").strip() for key in ("from", "to", "room", "equipment", "tag", "state", "mine")
    }
    values["mine"] = "1" if values["mine"] in ("1", "on", "true") else ""
    start, end = _day(values["from"]), _day(values["to"])
    state = values["state"] if values["state"] in STATES else None
    f = AlarmFilter(
        start=_beijing_midnight(start) if start else None,
        end=_beijing_midnight(end + timedelta(days=1)) if end else None,
        room=values["room"][:32], equipment=values["equipment"][:32], tag=values["tag"][:96],
        state=state,  # one of STATES
        told=principal.user_id if values["mine"] else None,  # "mine": the alarms told to me
    )  # fmt: skip
    return f, values


def _page(request: Request, db: Any, principal: Principal, status: int = 200, **values: Any) -> Response:
    f, query = _filter(request, principal)
    with db.sessions() as session:
        found = alarms.search(session, f)
        awaiting = alarms.awaiting_count(session, principal)
        covered = assignments.covered(
            session, {a.room for a in found if a.room}, {a.equipment for a in found if a.equipment}
        )
    pending = [a for a in found if a.acknowledged_at is None]
    return render(request, "monitoring/alarms.html", status, alarms=found, pending=pending, awaiting=awaiting,
                  q=query, states=STATES, labels=LABELS, covered=covered, **values)  # fmt: skip


@router.get("/alarms", response_class=HTMLResponse)
def alarm_list(request: Request, db: DbDep, principal: View) -> Response:
    """Alarms awaiting acknowledgement, and the history with its filters."""
    return _page(request, db, principal)


@router.get("/alarms/badge", response_class=HTMLResponse)
def badge(request: Request, db: DbDep, principal: OptionalPrincipal) -> Response:
    """The count of the alarms awaiting my acknowledgement (of my rooms and equipment), for the navigation, which
    loads it once per page for whoever may acknowledge (never polled: a poll would keep an idle session alive).
    Empty for the others."""
    with db.sessions() as session:
        count = alarms.awaiting_count(session, principal)
    return render(request, "monitoring/alarm_badge.html", count=count)


@router.get("/alarms/history.pdf")
def history_pdf(request: Request, db: DbDep, principal: View) -> Response:
    """The alarm history as filtered, printed (time, location, equipment, content); the print is recorded."""
    f, query = _filter(request, principal)
    with UnitOfWork(db, principal.actor) as uow:
        found = alarms.search(uow.session, f, transitions=True)
        data = alarm_pdf.render_pdf(found, filters=query, printed_by=principal.full_name, printed_at=clock.now(),
                                    translate=i18n.translate)  # fmt: skip
        uow.record("monitoring.alarms.pdf", "monitoring_alarm", "history",
                   changes={"filters": [None, query], "alarms": [None, len(found)]},
                   reason="alarm history output as pdf")  # fmt: skip
        uow.commit()
    return Response(data, media_type="application/pdf",
                    headers={"content-disposition": 'inline; filename="alarm-history.pdf"'})  # fmt: skip


# --- rules ---------------------------------------------------------------------------------------------


def _rules_page(request: Request, db: Any, principal: Principal, tag_name: str, status: int = 200,
                **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        tag = tags.get_tag(session, tag_name)  # NotFound: the error page
        public = tags.tag_public(session, tag)
        rules = alarms.rules_of(session, tag.name, voided=True)
        trail = trail_of(session, [("monitoring_alarm_rule", [r.id for r in rules])]) if rules else []
    return render(request, "monitoring/alarm_rules.html", status, tag=public, rules=rules, trail=trail,
                  **values)  # fmt: skip


@router.get("/tags/{name}/alarm-rules", response_class=HTMLResponse)
def rules_page(name: str, request: Request, db: DbDep, principal: View) -> Response:
    """A tag's alarm rules, and the editor for whoever maintains equipment."""
    return _rules_page(request, db, principal, name)


@router.post("/tags/{name}/alarm-rules", response_class=HTMLResponse)
async def create_rule(name: str, request: Request, db: DbDep, principal: View) -> Response:
    data = {k: v for k, v in (await form_data(request)).items() if v != "" or k == "name"}
    data["tag"] = name
    if "bad_quality" in data:
        data["bad_quality"] = data["bad_quality"] in ("on", "true", "1")
    for key in ("on_delay_s", "off_delay_s"):
        if key in data and str(data[key]).lstrip("-").isdigit():
            data[key] = int(data[key])
    return submit(db, principal, RuleCreate, data,
                  write=lambda uow, body: alarms.create_rule(uow, principal, body),
                  rerender=lambda status, **values: _rules_page(request, db, principal, name, status, form=data,
                                                                **values),
                  permission=lambda _: alarms.MANAGE_PERMISSION,
                  done=f"/monitoring/tags/{name}/alarm-rules")  # fmt: skip


@router.post("/alarm-rules/{rule_id}/void", response_class=HTMLResponse)
async def void_rule(rule_id: int, request: Request, db: DbDep, principal: View) -> Response:
    data = await form_data(request)
    with db.sessions() as session:
        rule = alarms.get_rule(session, rule_id)
        tag = session.get(Tag, rule.tag_id)
        name = tag.name if tag is not None else ""
    return submit(db, principal, RuleVoid, {"reason": data.get("reason", "")},
                  write=lambda uow, body: alarms.void_rule(uow, principal, rule_id),
                  rerender=lambda status, **values: _rules_page(request, db, principal, name, status, **values),
                  reason=lambda body: body.reason, permission=lambda _: alarms.MANAGE_PERMISSION,
                  done=f"/monitoring/tags/{name}/alarm-rules")  # fmt: skip


# --- one alarm -----------------------------------------------------------------------------------------


def _alarm_page(request: Request, db: Any, alarm_id: int, status: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        found = alarms.alarm_public(session, alarm_id)  # NotFound: the error page
        trail = trail_of(session, [("monitoring_alarm", [alarm_id])])
        row = session.get(Alarm, alarm_id)
        told = assignments.recipients(session, row) if row is not None else []
        assigned = any(person.role is not None for person in told)
    return render(request, "monitoring/alarm_detail.html", status, alarm=found, trail=trail, labels=LABELS,
                  recipients=told, assigned=assigned, role_labels=assignments.ROLE_LABELS, **values)  # fmt: skip


@router.get("/alarms/{alarm_id}", response_class=HTMLResponse)
def alarm_page(alarm_id: int, request: Request, db: DbDep, principal: View) -> Response:
    """An alarm: the value that raised it, its transitions, the acknowledgement form."""
    return _alarm_page(request, db, alarm_id)


@router.post("/alarms/{alarm_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge(alarm_id: int, request: Request, db: DbDep, principal: View) -> Response:
    data = await form_data(request)
    return submit(db, principal, AlarmAcknowledge, {"comment": data.get("comment", "")},
                  write=lambda uow, body: alarms.acknowledge(uow, principal, alarm_id, body),
                  rerender=lambda status, **values: _alarm_page(request, db, alarm_id, status, **values),
                  reason=lambda body: body.comment[:500], permission=lambda _: alarms.ACKNOWLEDGE_PERMISSION,
                  done=f"/monitoring/alarms/{alarm_id}?done=1")  # fmt: skip
