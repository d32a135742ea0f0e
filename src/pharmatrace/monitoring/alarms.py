"""Monitoring alarms (报警管理, TJ-6.4.3.4, TJ-6.5, TJ-6.6, TJ-6.7, SH-8.4.3): rules, evaluation, lifecycle.

**Rules** (:func:`create_rule`, :func:`change_rule`, :func:`void_rule`) are GMP configuration of a tag, kept by
whoever maintains equipment (``equipment.manage``, as tags, ADR 0019): alert and action limits high and low, a
rate of change per minute, a deviation from a set point, a deadband, on- and off-delays in seconds, and whether
a Bad-quality value raises an alarm. Changes need a reason and land in the trail; a rule is voided, never deleted.

**Evaluation** (:func:`evaluate`) runs inside the historian ingest's unit of work, over the values it stores, in
source-time order per tag. Each condition of a rule (``high_alert``, ``low_alert``, ``high_action``,
``low_action``, ``rate``, ``deviation``, ``bad_quality``) has its own episode:

* a value beyond the limit starts the excursion; when the condition still holds ``on_delay_s`` seconds (source
  time) later, the value that reaches the delay raises **one** alarm — never one per value; the database refuses
  a second open alarm of a rule's condition. The alarm names that value (tag, source time, exact value: a
  foreign key onto ``monitoring_values``) and when the excursion began;
* the alarm clears when the values have stayed inside the limit *minus the deadband* (for the high limits;
  *plus* it for the low ones) for ``off_delay_s`` seconds; values inside the deadband neither clear nor re-raise;
* the rate of change is ``|Δvalue| / Δminutes`` between consecutive evaluated values of the tag, and clears
  when it is back at or under its limit (the deadband, in the value's unit, does not apply to it);
* **Bad quality**: a Bad value carries no trustworthy value, so it neither raises, clears nor delays a limit,
  rate or deviation alarm (those wait for the next usable value; Uncertain values are evaluated, the
  conservative choice). A rule with ``bad_quality`` raises a ``bad_quality`` alarm when the tag stays Bad for
  the on-delay, cleared by a non-Bad value held for the off-delay;
* a value older than the last one evaluated for a rule (a late back-fill) is stored but not evaluated again.

**Lifecycle**: active → acknowledged (:func:`acknowledge`, ``monitoring.alarm.acknowledge``, a comment with the
assessment required) → cleared (by a value) → closed. A value may clear an alarm first (state ``cleared``); it
still needs its acknowledgement, and the alarm is closed by whichever of the two comes last — automatically,
there is nothing left to decide. Every transition is an append-only :class:`AlarmTransition` with who, when and
the comment or the value. The acknowledgement is not an electronic signature: it is an attributable record
(the logged-in user, their comment, the trail); the product decision on an alarm is the QA assessment of the
deviation it may lead to and the signed batch release, whose checklist lists every alarm of the batch's rooms
not yet acknowledged (:class:`DatabaseAlarmSource`, registered with :mod:`pharmatrace.qms.release`).

**Notification** (TJ-6.5, TJ-6.6): an alarm is told to the people assigned to its room or equipment, primary
first, or to everyone who may acknowledge when nobody is (:mod:`pharmatrace.monitoring.assignments`). In-app — the
alarm list with its "mine" filter and the navigation badge count the alarms awaiting acknowledgement *of the rooms
and equipment assigned to the user* (:func:`awaiting_count`; all of them for a user who may acknowledge and has
no assignment) — and pluggable channels (:class:`NotificationChannel`): an MQTT one publishing to
``pharmatrace/alarms/<room or equipment>/<tag>`` on the plant broker, so the panel or pager of a room subscribes
to its own room's topic, and a webhook (:class:`WebhookChannel`, an HTTP POST of the notice as JSON to
``PHARMATRACE_ALARM_WEBHOOK``, for a pager gateway or a messaging bot). Each notice names its recipients' logins.
Channels are called only after the unit of work committed: an alarm that was rolled back is never announced, and
a channel's failure never loses an alarm (it is logged; the alarm is in the database and on the pages).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import event, func, or_, select
from sqlalchemy.orm import Session

from pharmatrace.equipment.models import Equipment, Room
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import assignments, tags
from pharmatrace.monitoring.alarm_models import Alarm, AlarmRule, AlarmTransition, AlarmWatch
from pharmatrace.monitoring.alarm_schemas import (
    LIMIT_FIELDS,
    AlarmAcknowledge,
    AlarmFilter,
    AlarmPublic,
    RuleChange,
    RuleCreate,
    RulePublic,
    TransitionPublic,
    rule_problem,
)
from pharmatrace.monitoring.models import Tag
from pharmatrace.storage.engine import Database

log = logging.getLogger(__name__)

MANAGE_PERMISSION = tags.MANAGE_PERMISSION
VIEW_PERMISSION = tags.VIEW_PERMISSION
ACKNOWLEDGE_PERMISSION = assignments.ACKNOWLEDGE_PERMISSION
MQTT_ENV = "PHARMATRACE_ALARM_MQTT"  # e.g. mqtt://127.0.0.1:1883: the web app announces alarms there
WEBHOOK_ENV = (
    "PHARMATRACE_ALARM_WEBHOOK"  # e.g. https://pager.plant.example/alarms: each notice POSTed as JSON
)
TOPIC_PREFIX = "pharmatrace/alarms"

CONDITION_LABELS = {
    "high_alert": N_("Above the alert limit"),
    "low_alert": N_("Below the alert limit"),
    "high_action": N_("Above the action limit"),
    "low_action": N_("Below the action limit"),
    "rate": N_("Rate of change"),
    "deviation": N_("Deviation from the set point"),
    "bad_quality": N_("Bad quality"),
}
STATE_LABELS = {
    "active": N_("Active"),
    "acknowledged": N_("Acknowledged"),
    "cleared": N_("Cleared, not acknowledged"),
    "closed": N_("Closed"),
}
TRANSITION_LABELS = {
    "raised": N_("Raised"),
    "acknowledged": N_("Acknowledged"),
    "cleared": N_("Cleared"),
    "closed": N_("Closed"),
}


# --- rules -------------------------------------------------------------------------------------------------


def get_rule(session: Session, rule_id: int) -> AlarmRule:
    rule = session.get(AlarmRule, rule_id)
    if rule is None:
        raise NotFound(N_("No alarm rule {id}"), id=rule_id)
    return rule


def create_rule(uow: UnitOfWork, principal: Principal, body: RuleCreate) -> AlarmRule:
    """A new alarm rule on a tag in use (TJ-6.5)."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    tag = tags.get_tag(session, body.tag)
    if tag.voided_at is not None:
        raise Conflict(N_("The tag {name} is voided"), name=tag.name)
    if tag.data_type == "bool" and any(
        getattr(body, key) is not None for key in ("rate_per_minute", "deviation")
    ):
        raise ValidationFailed(N_("A yes/no tag has no rate of change or deviation"))
    if session.scalar(select(AlarmRule.id).where(AlarmRule.tag_id == tag.id, AlarmRule.name == body.name)):
        raise Conflict(N_("The tag {tag} has a rule {name} already"), tag=tag.name, name=body.name)
    rule = AlarmRule(
        tag_id=tag.id, name=body.name, **body.model_dump(include=set(LIMIT_FIELDS)), description=body.description,
        created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(rule)
    session.flush()
    return rule


def change_rule(uow: UnitOfWork, principal: Principal, rule_id: int, body: RuleChange) -> AlarmRule:
    """Change a rule's limits, delays or description: with a reason, old and new values in the trail."""
    principal.require(MANAGE_PERMISSION)
    if uow.reason is None:
        raise ValidationFailed(N_("A reason is required for this change"))
    rule = get_rule(uow.session, rule_id)
    if rule.voided_at is not None:
        raise Conflict(N_("The alarm rule {name} is voided"), name=rule.name)
    fields = body.model_dump(exclude_unset=True, exclude={"reason"})
    for key in ("deadband", "on_delay_s", "off_delay_s", "bad_quality", "description"):
        if key in fields and fields[key] is None:
            del fields[key]  # not removable: keep the current value
    merged = {key: fields.get(key, getattr(rule, key)) for key in LIMIT_FIELDS}
    problem = rule_problem(merged)
    if problem:
        raise ValidationFailed(problem)
    for key, value in fields.items():
        setattr(rule, key, value)
    uow.session.flush()
    return rule


def void_rule(uow: UnitOfWork, principal: Principal, rule_id: int) -> AlarmRule:
    """A rule out of use (its alarms stay, open ones included: they still need acknowledgement)."""
    principal.require(MANAGE_PERMISSION)
    if uow.reason is None:
        raise ValidationFailed(N_("A reason is required for this change"))
    rule = get_rule(uow.session, rule_id)
    if rule.voided_at is None:
        uow.void(rule)
    return rule


def rules_of(session: Session, tag_name: str | None = None, *, voided: bool = False) -> list[RulePublic]:
    query = (
        select(AlarmRule, Tag.name).join(Tag, Tag.id == AlarmRule.tag_id).order_by(Tag.name, AlarmRule.name)
    )
    if tag_name:
        query = query.where(Tag.name == tag_name.strip())
    if not voided:
        query = query.where(AlarmRule.voided_at.is_(None))
    return [rule_public(rule, name) for rule, name in session.execute(query)]


def rule_public(rule: AlarmRule, tag_name: str) -> RulePublic:
    return RulePublic(
        id=rule.id, tag=tag_name, name=rule.name, **{key: getattr(rule, key) for key in LIMIT_FIELDS},
        description=rule.description, created_by=rule.created_by, created_at=rule.created_at,
        voided_at=rule.voided_at,
    )  # fmt: skip


# --- notification ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlarmNotice:
    """What a channel announces: one transition of one alarm."""

    number: str
    transition: str
    state: str
    tag: str
    room: str | None
    equipment: str | None
    location: str
    condition: str
    limit: str | None
    value: str | None
    source_time: str | None
    at: str
    by: str
    comment: str
    recipients: tuple[str, ...] = ()  # the logins told of it, primary first (empty when no channel listens)

    @property
    def topic(self) -> str:
        return f"{TOPIC_PREFIX}/{self.room or self.equipment or 'plant'}/{self.tag}"

    def payload(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


class NotificationChannel(Protocol):
    def send(self, notices: Sequence[AlarmNotice]) -> None: ...


class MqttChannel:
    """Announces alarms on the plant's MQTT broker (QoS 1), one message per transition."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, timeout_s: float = 5.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s

    @classmethod
    def from_url(cls, url: str) -> MqttChannel:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 1883)

    def send(self, notices: Sequence[AlarmNotice]) -> None:
        import paho.mqtt.publish as publish

        messages: list[Any] = [{"topic": n.topic, "payload": n.payload(), "qos": 1} for n in notices]
        publish.multiple(messages, hostname=self.host, port=self.port, keepalive=int(self.timeout_s) + 5)


class WebhookChannel:
    """Announces alarms by an HTTP POST of each notice as JSON (``application/json``, UTF-8) to one URL, with a
    timeout. A refused or unanswered POST is logged and the rest of the batch is not tried (the receiver is down:
    each would wait for the timeout); the alarms stay in the database and on the pages."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{WEBHOOK_ENV} must be an http(s) URL, not {url!r}")
        self.url, self.timeout_s = url, timeout_s

    def __repr__(self) -> str:
        parts = urlsplit(self.url)  # no credentials, path or query in the logs: they may carry a token
        port = f":{parts.port}" if parts.port else ""
        return f"WebhookChannel({parts.scheme}://{parts.hostname}{port})"

    def send(self, notices: Sequence[AlarmNotice]) -> None:
        for index, notice in enumerate(notices):
            request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s) above
                self.url, data=notice.payload().encode(), method="POST",
                headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "PharmaTrace alarms"},
            )  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                    response.read()
            except (OSError, ValueError) as error:  # URLError, HTTPError, a timeout
                log.warning("alarm %s %s: %r failed (%s); %d notice(s) of this batch not sent", notice.number,
                            notice.transition, self, error, len(notices) - index)  # fmt: skip
                return


_channels: list[NotificationChannel] = []
_NOTICES = "monitoring_alarm_notices"


def register_channel(channel: NotificationChannel) -> None:
    if channel not in _channels:
        _channels.append(channel)


def unregister_channel(channel: NotificationChannel | None) -> None:
    if channel in _channels:
        _channels.remove(channel)


def _send(notices: Sequence[AlarmNotice]) -> None:
    for channel in list(_channels):
        try:
            channel.send(notices)
        except Exception:  # the alarm is committed: an unreachable channel must not undo it
            log.exception("alarm notification through %r failed", channel)


def _announce(uow: UnitOfWork, notice: AlarmNotice) -> None:
    """Queue ``notice`` for the channels, sent once the unit of work committed (dropped if it rolls back)."""
    session = uow.session
    queued: list[AlarmNotice] | None = session.info.get(_NOTICES)
    if queued is None:
        queued = session.info[_NOTICES] = []

        def committed(_session: Session) -> None:
            pending = list(queued)
            queued.clear()
            if pending:
                _send(pending)

        def rolled_back(_session: Session) -> None:
            queued.clear()

        event.listen(session, "after_commit", committed)
        event.listen(session, "after_soft_rollback", lambda s, _t: rolled_back(s))
    queued.append(notice)


# --- evaluation (inside the ingest's unit of work) ----------------------------------------------------------


class RuleLimits(Protocol):
    """What judging a value needs of a rule: an :class:`AlarmRule`, or the collector's snapshot of one
    (:class:`pharmatrace.monitoring.priority.RuleSnapshot`)."""

    @property
    def deadband(self) -> Decimal: ...
    @property
    def set_point(self) -> Decimal | None: ...
    @property
    def bad_quality(self) -> bool: ...


class LastValue(Protocol):
    """The last value evaluated for a rule's condition (an :class:`AlarmWatch`), for the rate of change."""

    @property
    def last_time(self) -> datetime | None: ...
    @property
    def last_number(self) -> float | None: ...


def conditions(rule: RuleLimits) -> list[tuple[str, Decimal | None]]:
    """The rule's conditions and their limits (the deviation's is its allowed distance from the set point)."""
    found: list[tuple[str, Decimal | None]] = [
        (condition, getattr(rule, column))
        for condition, column in (("high_alert", "alert_high"), ("low_alert", "alert_low"),
                                  ("high_action", "action_high"), ("low_action", "action_low"),
                                  ("rate", "rate_per_minute"), ("deviation", "deviation"))
        if getattr(rule, column) is not None
    ]  # fmt: skip
    if rule.bad_quality:
        found.append(("bad_quality", None))
    return found


def judge(
    rule: RuleLimits, condition: str, limit: Decimal | None, row: dict[str, Any], watch: LastValue
) -> tuple[bool, bool] | None:
    """``(beyond, back)``: the value keeps the condition / is back inside (deadband included); ``None``: the value
    says nothing about this condition (Bad quality, no value, the first value of a rate)."""
    bad = row["quality"] == "bad" or row["number"] is None
    if condition == "bad_quality":
        return row["quality"] == "bad", row["quality"] != "bad"
    if bad or limit is None:
        return None
    number = Decimal(repr(float(row["number"])))
    band = rule.deadband
    if condition in ("high_alert", "high_action"):
        return number > limit, number <= limit - band
    if condition in ("low_alert", "low_action"):
        return number < limit, number >= limit + band
    if condition == "deviation":
        off = abs(number - (rule.set_point or Decimal(0)))
        return off > limit, off <= limit - band
    # rate of change per minute since the last evaluated value
    if watch.last_time is None or watch.last_number is None:
        return None
    minutes = Decimal(repr((row["source_time"] - watch.last_time).total_seconds() / 60))
    if minutes <= 0:
        return None
    rate = abs(number - Decimal(repr(watch.last_number))) / minutes
    return rate > limit, rate <= limit


def source_rules(session: Session, source_id: int) -> list[AlarmRule]:
    """The active alarm rules of a source's tags, in id order (the ingest asks before it converts its rows)."""
    return list(
        session.scalars(
            select(AlarmRule)
            .join(Tag, Tag.id == AlarmRule.tag_id)
            .where(AlarmRule.voided_at.is_(None), Tag.source_id == source_id)
            .order_by(AlarmRule.id)
        )
    )


def evaluate(
    uow: UnitOfWork, rows: Sequence[dict[str, Any]], source_id: int | None = None,
    rules: Sequence[AlarmRule] | None = None,
) -> int:  # fmt: skip
    """Evaluate the alarm rules of the tags of ``rows`` (the values an ingest stores: ``tag_id``,
    ``source_time``, ``value``, ``number``, ``quality``); returns how many alarms were raised or cleared.
    ``source_id``: the source all the rows' tags belong to (the ingest's), so the rules are found by their tags'
    source rather than by a list of thousands of tag ids; ``rules``: that source's rules, read already
    (:func:`source_rules`)."""
    session = uow.session
    tag_ids = {row["tag_id"] for row in rows}
    if not tag_ids:
        return 0
    if rules is None and source_id is not None:
        rules = source_rules(session, source_id)
    if rules is not None:
        rules = [rule for rule in rules if rule.tag_id in tag_ids]
    else:
        active = select(AlarmRule).where(AlarmRule.voided_at.is_(None)).order_by(AlarmRule.id)
        rules = list(session.scalars(active.where(AlarmRule.tag_id.in_(tag_ids))))
    if not rules:
        return 0
    ruled = {rule.tag_id for rule in rules}
    rows = [row for row in rows if row["tag_id"] in ruled]
    ids = [rule.id for rule in rules]
    watches = {(w.rule_id, w.condition): w for w in session.scalars(select(AlarmWatch).where(AlarmWatch.rule_id.in_(ids)))}  # fmt: skip
    open_alarms = {
        (a.rule_id, a.condition): a
        for a in session.scalars(select(Alarm).where(Alarm.rule_id.in_(ids), Alarm.cleared_at.is_(None)))
    }
    tag_of = {t.id: t for t in session.scalars(select(Tag).where(Tag.id.in_({r.tag_id for r in rules})))}
    by_tag: dict[int, list[dict[str, Any]]] = {}  # each rule reads its own tag's values, in source-time order
    for row in sorted(rows, key=lambda row: row["source_time"]):
        by_tag.setdefault(row["tag_id"], []).append(row)
    changed = 0
    for rule in rules:
        tag = tag_of[rule.tag_id]
        for condition, limit in conditions(rule):
            watch = watches.get((rule.id, condition))
            if watch is None:
                watch = watches[(rule.id, condition)] = AlarmWatch(rule_id=rule.id, condition=condition)
                session.add(watch)
            for row in by_tag.get(rule.tag_id, ()):
                at: datetime = row["source_time"]
                if watch.last_time is not None and at <= watch.last_time:
                    continue  # a late back-fill: stored, not evaluated again
                verdict = judge(rule, condition, limit, row, watch)
                if row["quality"] != "bad" and row["number"] is not None:
                    watch.last_time, watch.last_number = at, float(row["number"])
                if verdict is None:
                    continue
                if condition == "bad_quality":
                    watch.last_time = at
                beyond, back = verdict
                alarm = open_alarms.get((rule.id, condition))
                if alarm is None:
                    if not beyond:
                        watch.since = None
                        continue
                    watch.since = watch.since or at
                    if (at - watch.since).total_seconds() >= rule.on_delay_s:
                        open_alarms[(rule.id, condition)] = _raise(
                            uow, rule, tag, condition, limit, row, watch.since
                        )
                        watch.since = None
                        changed += 1
                    continue
                if not back:
                    watch.since = None
                    continue
                watch.since = watch.since or at
                if (at - watch.since).total_seconds() >= rule.off_delay_s:
                    _clear(uow, alarm, tag, row)
                    del open_alarms[(rule.id, condition)]
                    watch.since = None
                    changed += 1
    session.flush()
    return changed


def _transition(uow: UnitOfWork, alarm: Alarm, transition: str, *, row: dict[str, Any] | None = None,
                comment: str = "") -> AlarmTransition:  # fmt: skip
    step = AlarmTransition(
        alarm_id=alarm.id, transition=transition, at=clock.now(),
        source_time=row["source_time"] if row else None, value_text=row["value"] if row else None,
        actor_login=uow.actor.login, actor_name=uow.actor.full_name, comment=comment,
    )  # fmt: skip
    uow.session.add(step)
    return step


def _notice(uow: UnitOfWork, alarm: Alarm, tag: Tag, step: AlarmTransition) -> None:
    session = uow.session
    told = tuple(r.login for r in assignments.recipients(session, alarm)) if _channels else ()
    room = session.get(Room, alarm.room_id) if alarm.room_id is not None else None
    equipment = session.get(Equipment, alarm.equipment_id) if alarm.equipment_id is not None else None
    _announce(uow, AlarmNotice(
        number=alarm.number, transition=step.transition, state=alarm.state, tag=tag.name,
        room=room.code if room else None, equipment=equipment.code if equipment else None, location=tag.location,
        condition=alarm.condition, limit=format(alarm.limit_value, "f") if alarm.limit_value is not None else None,
        value=step.value_text if step.source_time else alarm.value_text,
        source_time=(step.source_time or alarm.raised_at).isoformat(), at=step.at.isoformat(),
        by=step.actor_login, comment=step.comment, recipients=told,
    ))  # fmt: skip


def _raise(uow: UnitOfWork, rule: AlarmRule, tag: Tag, condition: str, limit: Decimal | None,
           row: dict[str, Any], began: datetime) -> Alarm:  # fmt: skip
    alarm = Alarm(
        rule_id=rule.id, tag_id=tag.id, room_id=tag.room_id, equipment_id=tag.equipment_id, condition=condition,
        limit_value=limit, value_text=row["value"], began_at=began, raised_at=row["source_time"], state="active",
        created_at=clock.now(),
    )  # fmt: skip
    uow.session.add(alarm)
    uow.session.flush()
    _notice(uow, alarm, tag, _transition(uow, alarm, "raised", row=row))
    return alarm


def _closing(alarm: Alarm) -> bool:
    """Set the state from the timestamps; whether the alarm closes now (cleared and acknowledged).

    Every column is set before any query may autoflush: the CHECKs hold at every flush."""
    closes = alarm.cleared_at is not None and alarm.acknowledged_at is not None
    if closes:
        alarm.state, alarm.closed_at = "closed", clock.now()
    else:
        alarm.state = "cleared" if alarm.cleared_at is not None else "acknowledged"
    return closes


def _clear(uow: UnitOfWork, alarm: Alarm, tag: Tag, row: dict[str, Any]) -> None:
    alarm.cleared_at = row["source_time"]
    closes = _closing(alarm)
    _notice(uow, alarm, tag, _transition(uow, alarm, "cleared", row=row))
    if closes:  # acknowledged and back to normal: nothing left to do
        _notice(uow, alarm, tag, _transition(uow, alarm, "closed"))


# --- the lifecycle ---------------------------------------------------------------------------------------


def get_alarm(session: Session, alarm_id: int) -> Alarm:
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound(N_("No alarm {id}"), id=alarm_id)
    return alarm


def acknowledge(uow: UnitOfWork, principal: Principal, alarm_id: int, body: AlarmAcknowledge) -> Alarm:
    """Acknowledge an alarm with the assessment as comment; closes it when a value cleared it already."""
    principal.require(ACKNOWLEDGE_PERMISSION)
    session = uow.session
    alarm = get_alarm(session, alarm_id)
    if alarm.acknowledged_at is not None:
        raise Conflict(N_("The alarm {number} is acknowledged already"), number=alarm.number)
    if uow.reason is None:
        uow.reason = body.comment[:500]  # the assessment is the reason of the change in the trail
    tag = session.get(Tag, alarm.tag_id)
    assert tag is not None
    alarm.acknowledged_at = clock.now()
    alarm.acknowledged_by = uow.actor.login
    closes = _closing(alarm)
    _notice(uow, alarm, tag, _transition(uow, alarm, "acknowledged", comment=body.comment))
    if closes:  # a value cleared it already
        _notice(uow, alarm, tag, _transition(uow, alarm, "closed"))
    session.flush()
    return alarm


# --- reading ---------------------------------------------------------------------------------------------


def _query(f: AlarmFilter) -> Any:
    query = (
        select(Alarm, Tag, AlarmRule.name, Room, Equipment)
        .join(Tag, Tag.id == Alarm.tag_id)
        .join(AlarmRule, AlarmRule.id == Alarm.rule_id)
        .outerjoin(Room, Room.id == Alarm.room_id)
        .outerjoin(Equipment, Equipment.id == Alarm.equipment_id)
    )
    if f.end is not None:
        query = query.where(Alarm.began_at <= f.end)
    if f.start is not None:  # the episode overlaps the window
        query = query.where(or_(Alarm.cleared_at.is_(None), Alarm.cleared_at >= f.start))
    if f.room:
        query = query.where(Room.code == f.room.upper())
    if f.equipment:
        query = query.where(Equipment.code == f.equipment.upper())
    if f.tag:
        query = query.where(Tag.name.ilike(f"%{f.tag}%"))
    if f.told is not None:  # "mine": the alarms this user is told of
        query = query.where(assignments.told_clause(f.told))
    if f.state == "open":
        query = query.where(Alarm.state != "closed")
    elif f.state:
        query = query.where(Alarm.state == f.state)
    return query.order_by(Alarm.raised_at.desc(), Alarm.id.desc()).limit(f.limit)


def search(session: Session, f: AlarmFilter | None = None, *, transitions: bool = False) -> list[AlarmPublic]:
    """The alarm history (TJ-6.5): newest first, filtered by time window, room, equipment, tag and state."""
    found = [
        _public(alarm, tag, rule_name, room, equipment)
        for alarm, tag, rule_name, room, equipment in session.execute(_query(f or AlarmFilter()))
    ]
    if transitions and found:
        steps: dict[int, list[TransitionPublic]] = {}
        for step in session.scalars(
            select(AlarmTransition)
            .where(AlarmTransition.alarm_id.in_([a.id for a in found]))
            .order_by(AlarmTransition.id)
        ):
            steps.setdefault(step.alarm_id, []).append(_step_public(step))
        found = [a.model_copy(update={"transitions": steps.get(a.id, [])}) for a in found]
    return found


def alarm_public(session: Session, alarm_id: int) -> AlarmPublic:
    alarm = get_alarm(session, alarm_id)
    tag = session.get(Tag, alarm.tag_id)
    rule = session.get(AlarmRule, alarm.rule_id)
    assert tag is not None
    assert rule is not None
    room = session.get(Room, alarm.room_id) if alarm.room_id is not None else None
    equipment = session.get(Equipment, alarm.equipment_id) if alarm.equipment_id is not None else None
    steps = session.scalars(
        select(AlarmTransition).where(AlarmTransition.alarm_id == alarm.id).order_by(AlarmTransition.id)
    )
    public = _public(alarm, tag, rule.name, room, equipment)
    return public.model_copy(update={"transitions": [_step_public(s) for s in steps]})


def _step_public(step: AlarmTransition) -> TransitionPublic:
    return TransitionPublic(transition=step.transition, at=step.at, source_time=step.source_time,
                            value=step.value_text, by=step.actor_login, by_name=step.actor_name,
                            comment=step.comment)  # fmt: skip


def _public(
    alarm: Alarm, tag: Tag, rule_name: str, room: Room | None, equipment: Equipment | None
) -> AlarmPublic:
    return AlarmPublic(
        id=alarm.id, number=alarm.number, tag=tag.name, unit=tag.unit, description=tag.description,
        room=room.code if room else None, room_name=room.name if room else None,
        equipment=equipment.code if equipment else None, location=tag.location, rule=rule_name,
        condition=alarm.condition, limit=alarm.limit_value, value=alarm.value_text, began_at=alarm.began_at,
        raised_at=alarm.raised_at, state=alarm.state, acknowledged_at=alarm.acknowledged_at,
        acknowledged_by=alarm.acknowledged_by, cleared_at=alarm.cleared_at, closed_at=alarm.closed_at,
    )  # fmt: skip


def awaiting_count(session: Session, principal: Principal | None) -> int:
    """In-app notification: the alarms awaiting acknowledgement that ``principal`` is told of — of the rooms and
    equipment assigned to them, of those nobody is assigned to, or all for one without assignment — for whoever
    may acknowledge (no query for the others). One query."""
    if principal is None or not principal.can(ACKNOWLEDGE_PERMISSION):
        return 0
    query = (
        select(func.count())
        .select_from(Alarm)
        .where(Alarm.acknowledged_at.is_(None), assignments.told_clause(principal.user_id))
    )
    return int(session.scalar(query) or 0)


def alarms_during(
    session: Session, rooms: Sequence[str], start: datetime, end: datetime
) -> list[AlarmPublic]:
    """The alarms of tags in ``rooms`` (room codes) whose episode overlaps ``start`` → ``end``: the seam for a
    batch step's review by exception (TJ-6.4.3.4, TJ-6.4.7; :func:`pharmatrace.mes.review.register`)."""
    found: list[AlarmPublic] = []
    for room in sorted(set(rooms)):
        found.extend(search(session, AlarmFilter(room=room, start=start, end=end)))
    return sorted(found, key=lambda a: (a.raised_at, a.id))


def alarm_line(alarm: AlarmPublic) -> str:
    """One line for the release checklist: number, room, tag, condition, value and limit, raised (Beijing)."""
    limit = f" ({format(alarm.limit, 'f').rstrip('0').rstrip('.')})" if alarm.limit is not None else ""
    return (f"{alarm.number} {alarm.room or '—'} {alarm.tag} {alarm.condition} {alarm.value or '—'} {alarm.unit}"
            f"{limit} {clock.format_beijing(alarm.raised_at)}")  # fmt: skip


class DatabaseAlarmSource:
    """What the batch release asks the monitoring area (:class:`pharmatrace.qms.release.AlarmSource`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def unassessed_alarms(self, rooms: Sequence[str], start: datetime, end: datetime) -> list[str]:
        """Alarms in ``rooms`` over the window not yet acknowledged with an assessment, one line each."""
        with self.db.sessions() as session:
            found = alarms_during(session, rooms, start, end)
        return [alarm_line(a) for a in found if a.acknowledged_at is None]

    def alarms_during(self, rooms: Sequence[str], start: datetime, end: datetime) -> list[AlarmPublic]:
        with self.db.sessions() as session:
            return alarms_during(session, rooms, start, end)


@dataclass
class Connection:
    source: DatabaseAlarmSource | None
    channel: MqttChannel | None
    webhook: WebhookChannel | None = None


def connect(db: Database) -> Connection:
    """At start-up: register the alarm source with the batch release (unless one is registered, a test's), the
    MQTT channel when ``PHARMATRACE_ALARM_MQTT`` names a broker, and the webhook when ``PHARMATRACE_ALARM_WEBHOOK``
    names an http(s) URL."""
    from pharmatrace.mes import review
    from pharmatrace.qms import release

    source = None
    if not release.registered():
        source = DatabaseAlarmSource(db)
        release.register(source)
        if review.registered() is None:  # the batch review by exception lists the alarms during each step
            review.register(source)
    url = os.environ.get(MQTT_ENV, "").strip()
    channel = MqttChannel.from_url(url) if url else None
    if channel is not None:
        register_channel(channel)
    target = os.environ.get(WEBHOOK_ENV, "").strip()
    webhook = None
    if target:
        try:
            webhook = WebhookChannel(target)
        except (
            ValueError
        ):  # the alarms are still raised and shown in-app: start, and say why nothing is POSTed
            log.exception("alarm webhook not registered")
    if webhook is not None:
        register_channel(webhook)
    return Connection(source, channel, webhook)


def disconnect(connection: Connection) -> None:
    """At shutdown: take back what :func:`connect` registered, and only that."""
    from pharmatrace.mes import review
    from pharmatrace.qms import release

    if connection.source is not None and release._alarms is connection.source:  # ours only
        release.register(None)
    if connection.source is not None and review.registered() is connection.source:
        review.register(None)
    unregister_channel(connection.channel)
    unregister_channel(connection.webhook)
