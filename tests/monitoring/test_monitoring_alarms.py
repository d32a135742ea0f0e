"""Alarms are raised by the values the historian stores, once per excursion, cleared by the values with deadband
and off-delay, acknowledged with an assessment, announced after commit and asked for by the batch release
(TJ-6.4.3.4, TJ-6.5, TJ-6.6, TJ-6.7, SH-8.4.3)."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import paho.mqtt.client as mqtt
import pytest
from monitoring_steps import configure
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from helpers import audit_entries, behind_the_apps_back, count_rows, principal
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import review
from pharmatrace.monitoring import alarms, historian
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.alarm_models import Alarm, AlarmRule, AlarmTransition
from pharmatrace.monitoring.alarm_schemas import (
    AlarmAcknowledge,
    AlarmFilter,
    AlarmPublic,
    RuleChange,
    RuleCreate,
)
from pharmatrace.monitoring.historian import Reading
from pharmatrace.qms import release
from pharmatrace.storage.engine import Database

T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
TAG = "RM-WEIGH.temperature"  # the weighing room has no demo tags


def _configure(db: Database, **limits: object) -> tuple[str, int]:
    """A source with the weighing room's temperature tag and one alarm rule on it, by the equipment engineer."""
    code = configure(db, "mqtt", "mqtt://127.0.0.1:1883", [Binding(TAG, "plant/RM-WEIGH#t", "decimal", 2)])
    engineer = principal(db, "wuhao")
    with UnitOfWork(db, engineer.actor) as uow:
        rule = alarms.create_rule(
            uow, engineer, RuleCreate.model_validate({"tag": TAG, "name": "EM", **limits})
        )
        uow.commit()
        return code, rule.id


def _feed(db: Database, code: str, *points: tuple[int, str | None]) -> None:
    """One ingest of values ``(seconds after T0, value)``; ``None``: a Bad reading without a value."""
    historian.ingest(db, code, [
        Reading(TAG, T0 + timedelta(seconds=s), Decimal(v) if v is not None else None,
                "good" if v is not None else "bad", None if v is not None else 0x80000000)
        for s, v in points
    ])  # fmt: skip


def _alarms(db: Database) -> list[AlarmPublic]:
    with db.sessions() as session:
        return sorted(alarms.search(session, AlarmFilter(tag=TAG), transitions=True), key=lambda a: a.id)


def _ack(
    db: Database, login: str, alarm_id: int, comment: str = "核实为传感器校准期间的短时波动，未影响产品"
) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        alarms.acknowledge(uow, who, alarm_id, AlarmAcknowledge(comment=comment))
        uow.commit()


@pytest.mark.clause("TJ-6.5", "TJ-6.4.3.4", "SH-8.4.3")
def test_a_limit_held_for_the_on_delay_raises_exactly_one_alarm_naming_its_value(db: Database) -> None:
    code, _ = _configure(db, alert_high="24", action_high="26", on_delay_s=60)
    _feed(db, code, (0, "23.00"), (10, "30.00"), (20, "23.50"))  # a spike shorter than the on-delay
    assert _alarms(db) == []
    _feed(db, code, (100, "24.60"), (130, "25.10"))  # beyond the alert limit since 100 s: 30 s so far
    assert _alarms(db) == []
    _feed(
        db, code, (160, "25.40"), (170, "25.90"), (200, "25.80")
    )  # 60 s at 160 s: one alarm, not one per value
    [alarm] = _alarms(db)
    assert (alarm.condition, alarm.value, alarm.limit, alarm.state) == (
        "high_alert",
        "25.40",
        Decimal("24"),
        "active",
    )
    assert (alarm.began_at, alarm.raised_at) == (T0 + timedelta(seconds=100), T0 + timedelta(seconds=160))
    assert (alarm.room, alarm.number) == ("RM-WEIGH", f"ALM-{alarm.id:06d}")
    assert [(t.transition, t.by, t.value) for t in alarm.transitions] == [
        ("raised", "system:monitoring-collector", "25.40")
    ]
    with db.sessions() as session:  # the alarm's key names the stored value that raised it
        stored = session.execute(
            text("SELECT v.value FROM monitoring_alarms a JOIN monitoring_values v "
                 "ON v.tag_id = a.tag_id AND v.source_time = a.raised_at WHERE a.id = :id"), {"id": alarm.id}
        ).scalar_one()  # fmt: skip
    assert stored == "25.40"
    assert [e.event for e in audit_entries(db, object_type="monitoring_alarm", object_id=str(alarm.id))] == [
        "create"
    ]


@pytest.mark.clause("TJ-6.5", "TJ-6.7")
def test_values_back_inside_the_deadband_for_the_off_delay_clear_the_alarm(db: Database) -> None:
    code, _ = _configure(db, alert_high="24", deadband="0.5", off_delay_s=30)
    _feed(db, code, (0, "24.50"))  # no on-delay: raised at once
    _feed(db, code, (10, "23.80"), (20, "23.40"), (30, None), (40, "23.60"))  # 23.80: inside the deadband
    [alarm] = _alarms(db)
    assert alarm.state == "active"  # 23.60 at 40 s is above 24 − 0.5 again: the off-delay starts over
    _feed(db, code, (50, "23.40"), (70, "23.20"), (80, "23.00"))  # back since 50 s: 30 s at 80 s
    [alarm] = _alarms(db)
    assert (alarm.state, alarm.cleared_at) == ("cleared", T0 + timedelta(seconds=80))
    assert [t.transition for t in alarm.transitions] == ["raised", "cleared"]
    _feed(db, code, (90, "24.10"))  # a new excursion: a new alarm
    assert [a.state for a in _alarms(db)] == ["cleared", "active"]


@pytest.mark.clause("TJ-6.5", "TJ-6.6", "SH-8.4.3")
def test_the_rate_of_change_and_bad_quality_raise_their_own_alarms(db: Database) -> None:
    code, _ = _configure(db, rate_per_minute="1", bad_quality=True, on_delay_s=0)
    _feed(db, code, (0, "20.00"), (60, "20.50"), (90, None), (120, "22.00"), (180, "22.20"))
    found = sorted(_alarms(db), key=lambda a: a.raised_at)
    assert [(a.condition, a.raised_at, a.cleared_at) for a in found] == [
        ("bad_quality", T0 + timedelta(seconds=90), T0 + timedelta(seconds=120)),
        (
            "rate",
            T0 + timedelta(seconds=120),
            T0 + timedelta(seconds=180),
        ),  # 1.5/min since the last usable value
    ]
    assert found[0].value is None  # a Bad reading has no value, and raises no rate or limit alarm


@pytest.mark.clause("TJ-6.5", "TJ-6.4.3.4", "TJ-10.1.2.1")
def test_acknowledgement_needs_the_permission_and_an_assessment_then_the_alarm_closes(db: Database) -> None:
    code, _ = _configure(db, alert_high="24", action_high="26")
    _feed(db, code, (0, "27.00"))
    alert, action = _alarms(db)
    assert (alert.condition, action.condition) == ("high_alert", "high_action")
    operator = principal(db, "zhangwei")
    with UnitOfWork(db, operator.actor) as uow, pytest.raises(NotPermitted):
        alarms.acknowledge(uow, operator, action.id, AlarmAcknowledge(comment="看到了"))
    with pytest.raises(ValidationError):
        AlarmAcknowledge(comment=" ")
    _ack(db, "lina", action.id)  # acknowledged while the condition holds
    _feed(db, code, (10, "23.00"))  # the value clears both
    alert, action = _alarms(db)
    assert (alert.state, action.state) == ("cleared", "closed")  # cleared first: still awaits acknowledgement
    assert [(t.transition, t.by) for t in action.transitions] == [
        ("raised", "system:monitoring-collector"), ("acknowledged", "lina"), ("cleared", "system:monitoring-collector"),
        ("closed", "system:monitoring-collector"),
    ]  # fmt: skip
    _ack(db, "wuhao", alert.id, "空调机组切换导致，已恢复")
    [alert, _] = _alarms(db)
    assert (alert.state, alert.acknowledged_by) == ("closed", "wuhao")
    assert alert.transitions[-2].comment == "空调机组切换导致，已恢复"
    with pytest.raises(Conflict, match="acknowledged already"):
        _ack(db, "lina", alert.id)
    [entry] = [e for e in audit_entries(db, object_type="monitoring_alarm", object_id=str(alert.id))
               if e.actor_login == "wuhao"]  # fmt: skip
    assert (entry.event, entry.reason) == ("update", "空调机组切换导致，已恢复")


@pytest.mark.both  # constraints the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.5", "SH-8.4.3", "TJ-10.1.3.3")
def test_transitions_are_append_only_and_an_episode_has_one_open_alarm(db: Database) -> None:
    code, _ = _configure(db, alert_high="24")
    _feed(db, code, (0, "25.00"))
    [alarm] = _alarms(db)
    before = count_rows(db, AlarmTransition), count_rows(db, Alarm)
    for sql in ("UPDATE monitoring_alarm_transitions SET comment = 'x'", "DELETE FROM monitoring_alarm_transitions",
                "DELETE FROM monitoring_alarms"):  # fmt: skip
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
            conn.execute(text(sql))
    with pytest.raises(DBAPIError), db.engine.begin() as conn:  # outside the unit of work
        conn.execute(text("UPDATE monitoring_alarms SET state = 'closed'"))
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # a state its timestamps contradict
        conn.execute(text("UPDATE monitoring_alarms SET state = 'closed' WHERE id = :id"), {"id": alarm.id})
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # a second open alarm of the condition
        conn.execute(text(
            "INSERT INTO monitoring_alarms (rule_id, tag_id, condition, began_at, raised_at, state, created_at) "
            "SELECT rule_id, tag_id, condition, began_at, raised_at, 'active', created_at FROM monitoring_alarms "
            "WHERE id = :id"), {"id": alarm.id})  # fmt: skip
    assert (count_rows(db, AlarmTransition), count_rows(db, Alarm)) == before
    assert [(a.state, len(a.transitions)) for a in _alarms(db)] == [("active", 1)]


@pytest.mark.clause("TJ-6.5", "SH-8.4.3")
def test_the_mqtt_channel_announces_a_committed_alarm_to_a_real_subscriber(db: Database) -> None:
    code, _ = _configure(db, alert_high="24")
    received: queue.Queue[tuple[str, dict[str, object], bool]] = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"alarm-test-{uuid.uuid4().hex[:8]}")

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        payload = json.loads(message.payload)
        with db.sessions() as session:  # published after commit: the alarm is visible to another session
            visible = (
                session.scalar(select(Alarm.id).where(Alarm.id == int(payload["number"][4:]))) is not None
            )
        received.put((message.topic, payload, visible))

    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect("127.0.0.1", 1883)
    client.subscribe("pharmatrace/alarms/RM-WEIGH/#", qos=1)
    client.loop_start()
    channel = alarms.MqttChannel("127.0.0.1", 1883)
    alarms.register_channel(channel)
    try:
        assert subscribed.wait(5)
        with pytest.raises(ValidationFailed):  # a refused batch stores nothing and announces nothing
            historian.ingest(db, code, [Reading(TAG, T0, Decimal("30")), Reading("RM-WEIGH.nothing", T0, 1)])
        _feed(db, code, (0, "25.00"))
        topic, payload, visible = received.get(timeout=10)
    finally:
        alarms.unregister_channel(channel)
        client.loop_stop()
        client.disconnect()
    assert topic == f"pharmatrace/alarms/RM-WEIGH/{TAG}" and visible
    assert {k: payload[k] for k in ("transition", "tag", "room", "condition", "value", "limit")} == {
        "transition": "raised", "tag": TAG, "room": "RM-WEIGH", "condition": "high_alert", "value": "25.00",
        "limit": "24.000000",
    }  # fmt: skip
    assert received.empty()


@pytest.mark.clause("TJ-6.5", "TJ-6.4.7", "TJ-9.1")
def test_the_release_checklist_sees_alarms_not_yet_acknowledged(db: Database) -> None:
    code, _ = _configure(db, alert_high="24")
    _feed(db, code, (0, "25.00"), (60, "23.00"))  # raised and cleared by the values: not yet assessed
    [alarm] = _alarms(db)
    link = alarms.connect(db)
    try:
        assert release.registered()
        source = link.source
        assert source is not None and review.registered() is source  # the batch review asks it too
        [line] = source.unassessed_alarms(["RM-WEIGH"], T0 - timedelta(hours=1), T0 + timedelta(hours=1))
        assert line.startswith(f"{alarm.number} RM-WEIGH {TAG} high_alert 25.00")
        assert (
            source.unassessed_alarms(["RM-WEIGH"], T0 + timedelta(minutes=5), T0 + timedelta(hours=1)) == []
        )
        assert source.unassessed_alarms(["RM-FILL"], T0 - timedelta(hours=1), T0 + timedelta(hours=1)) == []
        [during] = source.alarms_during(["RM-WEIGH"], T0, T0 + timedelta(minutes=1))  # the MES review's seam
        assert during.id == alarm.id
        _ack(db, "lina", alarm.id)
        assert source.unassessed_alarms(["RM-WEIGH"], T0 - timedelta(hours=1), T0 + timedelta(hours=1)) == []
        now = clock.now()  # the demo's water excursion: active now, awaiting its assessment
        [demo] = source.unassessed_alarms(["RM-PREP"], now - timedelta(hours=3), now)
        assert "RM-PREP.conductivity high_action 1.48" in demo
    finally:
        alarms.disconnect(link)
    assert not release.registered() and review.registered() is None


@pytest.mark.both  # the database's CHECKs stand behind the schema and the service
@pytest.mark.clause("TJ-6.5", "SH-6.3.1", "TJ-10.1.2.1")
def test_bad_rules_are_refused_and_change_nothing(db: Database) -> None:
    _, rule_id = _configure(db, alert_high="24", action_high="26")
    for bad, message in (
        ({"alert_high": "27", "action_high": "26"}, "alert limits must lie inside the action limits"),
        ({"alert_low": "10", "action_low": "12"}, "alert limits must lie inside the action limits"),
        ({"alert_high": "24", "on_delay_s": -5}, "greater than or equal to 0"),
        ({"alert_high": "24", "deadband": "-1"}, "deadband cannot be negative"),
        ({"deviation": "2"}, "needs a set point"),
        ({}, "at least one limit"),
    ):
        with pytest.raises(ValidationError, match=message):
            RuleCreate.model_validate({"tag": TAG, "name": "X", **bad})
    engineer, operator = principal(db, "wuhao"), principal(db, "zhangwei")
    before = (count_rows(db, AlarmRule), len(audit_entries(db, object_type="monitoring_alarm_rule")))
    refusals = [
        (operator, lambda uow: alarms.create_rule(uow, operator, RuleCreate(tag=TAG, name="Y", alert_high=Decimal(1))),
         NotPermitted, None),
        (engineer, lambda uow: alarms.create_rule(uow, engineer, RuleCreate(tag="RM-WEIGH.nothing", name="Y",
                                                                            alert_high=Decimal(1))), NotFound, None),
        (engineer, lambda uow: alarms.create_rule(uow, engineer, RuleCreate(tag=TAG, name="EM", alert_high=Decimal(1))),
         Conflict, "has a rule EM already"),
        (engineer, lambda uow: alarms.change_rule(uow, engineer, rule_id, RuleChange(reason="提高警戒限",
                                                                                      alert_high=Decimal(30))),
         ValidationFailed, "inside the action limits"),
    ]  # fmt: skip
    for who, write, error, message in refusals:
        with UnitOfWork(db, who.actor, reason="测试") as uow, pytest.raises(error, match=message):
            write(uow)
    with UnitOfWork(db, engineer.actor, reason="绕过服务") as uow, pytest.raises(IntegrityError):
        rule = uow.session.get(AlarmRule, rule_id)
        assert rule is not None
        rule.on_delay_s = -1
        uow.session.flush()
    assert (count_rows(db, AlarmRule), len(audit_entries(db, object_type="monitoring_alarm_rule"))) == before
    with UnitOfWork(db, engineer.actor, reason="纠偏限按新版SOP收紧") as uow:
        changed = alarms.change_rule(uow, engineer, rule_id, RuleChange(reason="纠偏限按新版SOP收紧",
                                                                        action_high=Decimal("25.5")))  # fmt: skip
        uow.commit()
        assert changed.action_high == Decimal("25.5")
    [update] = [e for e in audit_entries(db, object_type="monitoring_alarm_rule") if e.event == "update"]
    assert update.reason == "纠偏限按新版SOP收紧" and "action_high" in update.changes
