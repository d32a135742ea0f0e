"""Monitoring alarms over the REST API (TJ-6.4.3.4, TJ-6.5): alarm rules kept by whoever maintains equipment,
the alarm history searched by time, room, equipment, tag, state and "mine", an alarm with its transitions, and its
acknowledgement with the assessment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import alarms
from pharmatrace.monitoring.alarm_schemas import (
    AlarmAcknowledge,
    AlarmFilter,
    AlarmPublic,
    RuleChange,
    RuleCreate,
    RulePublic,
    RuleVoid,
    State,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/monitoring", tags=["monitoring"])

View = Annotated[Principal, Depends(Requires(alarms.VIEW_PERMISSION))]
Manage = Annotated[Principal, Depends(Requires(alarms.MANAGE_PERMISSION))]
Acknowledge = Annotated[Principal, Depends(Requires(alarms.ACKNOWLEDGE_PERMISSION))]


# Rules first: ``/alarms/rules`` must not be taken for an alarm's id.
@router.get("/alarms/rules", response_model=list[RulePublic])
def list_rules(db: DbDep, _: View, tag: str = "", voided: bool = False) -> list[RulePublic]:
    """The alarm rules (of one tag with ``tag``), voided ones too with ``voided=true``."""
    with db.sessions() as session:
        return alarms.rules_of(session, tag or None, voided=voided)


@router.post("/alarms/rules", response_model=RulePublic, status_code=201)
def create_rule(body: RuleCreate, db: DbDep, principal: Manage) -> RulePublic:
    """A new alarm rule on a tag: alert and action limits, rate of change, deviation, deadband, delays."""
    with uow_for(db, principal) as uow:
        rule = alarms.create_rule(uow, principal, body)
        uow.commit()
        return alarms.rule_public(rule, body.tag)


@router.patch("/alarms/rules/{rule_id}", response_model=RulePublic)
def change_rule(rule_id: int, body: RuleChange, db: DbDep, principal: Manage) -> RulePublic:
    """Change a rule's limits or delays; ``reason`` is required and recorded."""
    with uow_for(db, principal, body.reason) as uow:
        rule = alarms.change_rule(uow, principal, rule_id, body)
        uow.commit()
        return next(r for r in alarms.rules_of(uow.session, voided=True) if r.id == rule.id)


@router.post("/alarms/rules/{rule_id}/void", response_model=RulePublic)
def void_rule(rule_id: int, body: RuleVoid, db: DbDep, principal: Manage) -> RulePublic:
    """A rule out of use, with the reason; its alarms stay."""
    with uow_for(db, principal, body.reason) as uow:
        rule = alarms.void_rule(uow, principal, rule_id)
        uow.commit()
        return next(r for r in alarms.rules_of(uow.session, voided=True) if r.id == rule.id)


@router.get("/alarms", response_model=list[AlarmPublic])
def list_alarms(
    db: DbDep, principal: View, start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None, room: str = "", equipment: str = "", tag: str = "",
    state: State | None = None, mine: bool = False, limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[AlarmPublic]:  # fmt: skip
    """The alarm history, newest first: alarms whose episode overlaps ``start`` → ``end`` (ISO 8601 with time
    zone), of a room, equipment or tag, in a state (``open``: not yet closed); with ``mine=true`` only those told
    to the caller (of the rooms and equipment assigned to them; none for who may not acknowledge)."""
    f = AlarmFilter(start=start, end=end, room=room, equipment=equipment, tag=tag, state=state, limit=limit,
                    told=principal.user_id if mine else None)  # fmt: skip
    with db.sessions() as session:
        return alarms.search(session, f)


@router.get("/alarms/{alarm_id}", response_model=AlarmPublic)
def get_alarm(alarm_id: int, db: DbDep, _: View) -> AlarmPublic:
    """An alarm with every transition of its lifecycle."""
    with db.sessions() as session:
        return alarms.alarm_public(session, alarm_id)


@router.post("/alarms/{alarm_id}/acknowledge", response_model=AlarmPublic)
def acknowledge(alarm_id: int, body: AlarmAcknowledge, db: DbDep, principal: Acknowledge) -> AlarmPublic:
    """Acknowledge an alarm; ``comment`` (the assessment) is required and recorded."""
    with uow_for(db, principal, body.comment[:500]) as uow:
        alarms.acknowledge(uow, principal, alarm_id, body)
        uow.commit()
    with db.sessions() as session:
        return alarms.alarm_public(session, alarm_id)
