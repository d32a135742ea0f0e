"""The people assigned to a room or a system are told of its alarms: in-app (their count, "mine", the navigation
badge) and on a webhook posted after commit; assignments are kept by whoever may acknowledge, ended with a reason,
never deleted (TJ-6.5, TJ-6.6, TJ-6.7, TJ-6.4.3.4, SH-8.4.3)."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from monitoring_steps import configure
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import audit_entries, behind_the_apps_back, count_rows, log_in, principal, token
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import Conflict, NotFound, NotPermitted, ReasonRequired, ValidationFailed
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import alarms, assignments, historian
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.alarm_models import Alarm
from pharmatrace.monitoring.alarm_schemas import AlarmFilter, RuleCreate
from pharmatrace.monitoring.assignment_models import MonitoringAssignment
from pharmatrace.monitoring.assignment_schemas import AssignmentCreate
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.models import Tag
from pharmatrace.storage.engine import Database

T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
TAG = "RM-WEIGH.temperature"  # the weighing room: no demo tags, nobody assigned


def _assign(db: Database, login: str, who: str = "lina", **target: str) -> int:
    keeper = principal(db, who)
    with UnitOfWork(db, keeper.actor) as uow:
        made = assignments.assign(uow, keeper, AssignmentCreate.model_validate({"login": login, **target}))
        uow.commit()
        return made.id


def _end(db: Database, assignment_id: int, reason: str, who: str = "lina") -> None:
    keeper = principal(db, who)
    with UnitOfWork(db, keeper.actor) as uow:
        assignments.end(uow, keeper, assignment_id, reason)
        uow.commit()


def _weighing_alarm(db: Database) -> str:
    """The weighing room's temperature with an alert limit at 24 °C; returns the source's code."""
    code = configure(db, "mqtt", "mqtt://127.0.0.1:1883", [Binding(TAG, "plant/RM-WEIGH#t", "decimal", 2)])
    engineer = principal(db, "wuhao")
    with UnitOfWork(db, engineer.actor) as uow:
        alarms.create_rule(
            uow, engineer, RuleCreate.model_validate({"tag": TAG, "name": "EM", "alert_high": "24"})
        )
        uow.commit()
    return code


def _feed(db: Database, code: str, seconds: int, value: str) -> None:
    historian.ingest(db, code, [Reading(TAG, T0 + timedelta(seconds=seconds), Decimal(value))])


def _recipients(db: Database, tag: str) -> list[tuple[str, str | None]]:
    """Who is told of the tag's alarm awaiting acknowledgement."""
    with db.sessions() as session:
        [alarm] = session.scalars(
            select(Alarm)
            .join(Tag, Tag.id == Alarm.tag_id)
            .where(Tag.name == tag, Alarm.acknowledged_at.is_(None))
        )
        return [(r.login, r.role) for r in assignments.recipients(session, alarm)]


def _awaiting(db: Database, login: str) -> int:
    with db.sessions() as session:
        return alarms.awaiting_count(session, principal(db, login))


def _mine(db: Database, login: str) -> list[str]:
    with db.sessions() as session:
        return sorted(a.tag for a in alarms.search(session, AlarmFilter(told=principal(db, login).user_id))
                      if a.acknowledged_at is None)  # fmt: skip


@pytest.mark.both  # the CHECK, the partial unique index and the triggers: proven on both dialects
@pytest.mark.clause("TJ-6.5", "TJ-6.6", "TJ-10.1.2.1", "TJ-10.1.3.3")
def test_assignments_are_kept_by_who_may_acknowledge_and_refusals_change_nothing(db: Database) -> None:
    with db.sessions() as session:  # the demo plant: the filling room's primary and backup
        assert [(a.login, a.role) for a in assignments.assignments_of(session, room="rm-fill")] == [
            ("lina", "primary"), ("wuhao", "backup"),
        ]  # fmt: skip
        # the QC laboratory's room: its QC reviewer, the equipment engineer behind her
        assert [(a.login, a.role) for a in assignments.assignments_of(session, room="RM-QC-PC")] == [
            ("sunli", "primary"), ("wuhao", "backup"),
        ]  # fmt: skip
    for bad in ({"login": "wuhao"}, {"login": "wuhao", "room": "RM-WEIGH", "equipment": "FD-01"},
                {"login": "wuhao", "room": "RM-WEIGH", "role": "deputy"}):  # fmt: skip
        with pytest.raises(ValidationError):
            AssignmentCreate.model_validate(bad)
    operator, lina = principal(db, "zhangwei"), principal(db, "lina")
    before = count_rows(db, MonitoringAssignment), len(audit_entries(db, object_type="monitoring_assignment"))
    past = clock.now() - timedelta(days=1)
    for who, body, error, message in (
        (operator, {"login": "zhangwei", "room": "RM-WEIGH"}, NotPermitted, None),
        (lina, {"login": "zhangwei", "room": "RM-WEIGH"}, assignments.NotAssignable, "may not acknowledge alarms"),
        (lina, {"login": "wuhao", "room": "RM-FILL"}, Conflict, "assigned to RM-FILL already"),
        (lina, {"login": "wuhao", "room": "RM-NOWHERE"}, NotFound, "No room RM-NOWHERE"),
        (lina, {"login": "nobody", "room": "RM-WEIGH"}, NotFound, "No user nobody"),
        (lina, {"login": "wuhao", "room": "RM-WEIGH", "valid_from": past}, ValidationFailed, "not in the past"),
    ):  # fmt: skip
        with UnitOfWork(db, who.actor) as uow, pytest.raises(error, match=message):
            assignments.assign(uow, who, AssignmentCreate.model_validate(body))
    with db.sessions() as session:
        [fill] = [a.id for a in assignments.assignments_of(session, room="RM-FILL", login="wuhao")]
    with UnitOfWork(db, lina.actor) as uow, pytest.raises(ReasonRequired):
        assignments.end(uow, lina, fill, " ")
    with UnitOfWork(db, operator.actor) as uow, pytest.raises(NotPermitted):
        assignments.end(uow, operator, fill, "调岗")
    for sql in (
        "DELETE FROM monitoring_assignments",
        # a second live assignment of wuhao to the filling room; one naming both a room and equipment
        "INSERT INTO monitoring_assignments (user_id, room_id, role, valid_from, created_at, created_by) "
        "SELECT user_id, room_id, 'primary', valid_from, created_at, 'x' FROM monitoring_assignments WHERE id = :id",
        "INSERT INTO monitoring_assignments (user_id, room_id, equipment_id, role, valid_from, created_at, created_by) "
        "SELECT user_id, room_id, (SELECT min(id) FROM equipment), 'primary', valid_from, created_at, 'x' "
        "FROM monitoring_assignments WHERE id = :id",
        "UPDATE monitoring_assignments SET ended_at = created_at, ended_by = 'x' WHERE id = :id",  # no reason
    ):  # fmt: skip
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
            conn.execute(text(sql), {"id": fill})
    with pytest.raises(DBAPIError), db.engine.begin() as conn:  # outside the unit of work
        conn.execute(text("UPDATE monitoring_assignments SET role = 'backup'"))
    assert (
        count_rows(db, MonitoringAssignment),
        len(audit_entries(db, object_type="monitoring_assignment")),
    ) == before

    made = _assign(db, "wuhao", "wuhao", equipment="fd-01", role="backup")  # the engineer keeps them too
    _end(db, made, "冻干机FD-01转由冻干岗位主管负责", who="lina")
    with pytest.raises(Conflict, match="ended already"):
        _end(db, made, "再次结束")
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # an ended assignment is frozen
        conn.execute(
            text("UPDATE monitoring_assignments SET end_reason = 'changed' WHERE id = :id"), {"id": made}
        )
    entries = audit_entries(db, object_type="monitoring_assignment", object_id=str(made))
    assert [(e.event, e.actor_login) for e in entries] == [("create", "wuhao"), ("update", "lina")]
    assert entries[1].reason == "冻干机FD-01转由冻干岗位主管负责" and "end_reason" in entries[1].changes
    again = _assign(db, "wuhao", equipment="FD-01")  # ended: a new live one may be made
    assert again != made

    sysadmin = principal(db, "sysadmin")
    with UnitOfWork(db, sysadmin.actor, reason="离职") as uow:
        user = identity.find_user(uow.session, "wuhao")
        assert user is not None
        identity.deactivate_user(uow, user.id)
        uow.commit()
    with UnitOfWork(db, lina.actor) as uow, pytest.raises(assignments.NotAssignable, match="deactivated"):
        assignments.assign(uow, lina, AssignmentCreate(login="wuhao", room="RM-WEIGH"))
    with (
        db.sessions() as session
    ):  # a deactivated contact is told nothing: the filling room falls to lina alone
        [fill_alarm_room] = [
            a for a in assignments.assignments_of(session, room="RM-FILL") if a.login == "wuhao"
        ]
        assert fill_alarm_room.ended_at is None  # the assignment stays, as it was made
        assert [r.login for r in assignments.assignable(session)] == ["lina", "sunli"]


@pytest.mark.clause("TJ-6.5", "TJ-6.6", "TJ-6.4.3.4")
def test_an_alarm_is_told_to_the_people_of_its_room_primary_first_else_to_everyone(db: Database) -> None:
    water = "RM-PREP.conductivity"  # the demo's alarm awaiting acknowledgement: 吴昊's room, 李娜 his backup
    assert _recipients(db, water) == [("wuhao", "primary"), ("lina", "backup")]
    code = _weighing_alarm(db)
    _feed(db, code, 0, "25.00")
    # nobody assigned: everyone who may acknowledge (the QC reviewer, 孙丽, too)
    assert _recipients(db, TAG) == [("lina", None), ("sunli", None), ("wuhao", None)]
    assert (_awaiting(db, "lina"), _awaiting(db, "wuhao"), _awaiting(db, "zhangwei")) == (2, 2, 0)

    weigh = _assign(db, "lina", room="RM-WEIGH")
    assert _recipients(db, TAG) == [("lina", "primary")]
    assert (_awaiting(db, "lina"), _awaiting(db, "wuhao")) == (2, 1)  # wuhao: his water alarm only
    assert (_mine(db, "lina"), _mine(db, "wuhao"), _mine(db, "zhangwei")) == ([water, TAG], [water], [])

    with db.sessions() as session:
        ids = [a.id for a in assignments.assignments_of(session, login="wuhao")]
    for assignment_id in ids:  # no assignment left: he is told of every alarm again
        _end(db, assignment_id, "调往新厂区")
    assert _recipients(db, water) == [("lina", "backup")]
    assert (_awaiting(db, "wuhao"), _mine(db, "wuhao")) == (2, [water, TAG])
    _end(db, weigh, "称量间改由QA负责")
    assert _recipients(db, TAG) == [("lina", None), ("sunli", None), ("wuhao", None)]


class _Receiver(BaseHTTPRequestHandler):
    """A pager gateway: keeps what it is posted, with whether the alarm was visible to another session then."""

    received: queue.Queue[tuple[str, str, dict[str, object], bool]]
    db: Database

    def do_POST(self) -> None:  # http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.db.sessions() as session:
            visible = session.get(Alarm, int(str(body["number"])[4:])) is not None
        self.received.put((self.path, self.headers["Content-Type"], body, visible))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def _receiver(db: Database) -> Iterator[tuple[str, queue.Queue[tuple[str, str, dict[str, object], bool]]]]:
    received: queue.Queue[tuple[str, str, dict[str, object], bool]] = queue.Queue()
    handler = type("Receiver", (_Receiver,), {"received": received, "db": db})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/alarms?token=s3cret", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.clause("TJ-6.5", "TJ-6.6", "SH-8.4.3")
def test_the_webhook_posts_a_committed_alarm_with_its_recipients_and_its_failure_loses_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    code = _weighing_alarm(db)
    _assign(db, "wuhao", room="RM-WEIGH", role="backup")
    _assign(db, "lina", room="RM-WEIGH")
    with _receiver(db) as (url, received):
        monkeypatch.setenv(alarms.WEBHOOK_ENV, url)
        monkeypatch.delenv(alarms.MQTT_ENV, raising=False)
        link = alarms.connect(db)
        try:
            assert link.webhook is not None and "s3cret" not in repr(link.webhook)
            _feed(db, code, 0, "25.00")
            path, content_type, body, visible = received.get(timeout=10)
            assert received.empty()  # one notice: one POST
        finally:
            alarms.disconnect(link)
    assert (path, content_type, visible) == (
        "/hooks/alarms?token=s3cret",
        "application/json; charset=utf-8",
        True,
    )
    assert {k: body[k] for k in ("transition", "state", "tag", "room", "equipment", "value", "source_time",
                                 "recipients")} == {
        "transition": "raised", "state": "active", "tag": TAG, "room": "RM-WEIGH", "equipment": None,
        "value": "25.00", "source_time": T0.isoformat(), "recipients": ["lina", "wuhao"],
    }  # fmt: skip

    dead = alarms.WebhookChannel(url, timeout_s=2)  # the receiver is gone: refused at once
    alarms.register_channel(dead)
    try:
        with caplog.at_level(logging.WARNING, logger="pharmatrace.monitoring.alarms"):
            _feed(db, code, 60, "23.00")  # clears the alarm: the notice cannot be posted
    finally:
        alarms.unregister_channel(dead)
    with db.sessions() as session:
        [alarm] = alarms.search(session, AlarmFilter(tag=TAG))
    assert (alarm.number, alarm.state, alarm.cleared_at) == (
        body["number"],
        "cleared",
        T0 + timedelta(seconds=60),
    )
    assert any(
        f"{alarm.number} cleared" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records
    )
    with pytest.raises(ValueError, match="http"):
        alarms.WebhookChannel("ftp://127.0.0.1/alarms")


@pytest.mark.pages
@pytest.mark.clause("TJ-6.5", "TJ-6.6", "TJ-10.1.2.1")
def test_assignments_on_the_pages_and_the_api_and_my_alarms_in_the_navigation(client: TestClient) -> None:
    log_in(client, "lina", language="en")
    page = client.get("/monitoring/assignments")
    assert page.status_code == 200, page.text
    for testid in ("assignment-rule", "assignments", "assignment-form", 'nav-alarm-badge"'):
        assert f'data-testid="{testid}' in page.text, testid
    assert "everyone who may acknowledge" in page.text and "RM-FILL-A" in page.text
    refused = client.post("/monitoring/assignments", data={"login": "zhangwei", "room": "RM-WEIGH"})
    assert refused.status_code == 409 and "may not acknowledge alarms" in refused.text
    both = client.post(
        "/monitoring/assignments", data={"login": "wuhao", "room": "RM-WEIGH", "equipment": "FD-01"}
    )
    assert both.status_code == 422 and "either a room or a piece of equipment" in both.text
    made = client.post("/monitoring/assignments", data={"login": "wuhao", "equipment": "FD-01", "role": "backup"},
                       follow_redirects=False)  # fmt: skip
    assert made.status_code == 303, made.text
    listed = client.get("/monitoring/assignments", params={"equipment": "FD-01"})
    [row] = [
        line for line in listed.text.splitlines() if 'data-testid="assignment-' in line and "FD-01" in line
    ]
    assignment_id = row.split('data-testid="assignment-')[1].split('"')[0]
    assert (
        client.post(f"/monitoring/assignments/{assignment_id}/end", data={"reason": " "}).status_code == 422
    )
    ended = client.post(f"/monitoring/assignments/{assignment_id}/end", data={"reason": "设备移交"},
                        follow_redirects=False)  # fmt: skip
    assert ended.status_code == 303
    assert (
        "设备移交" in client.get("/monitoring/assignments", params={"ended": "1", "equipment": "FD-01"}).text
    )

    log_in(client, "wuhao", language="en")  # the water alarm is his: in the badge and under "mine"
    assert 'data-testid="alarm-badge"' in client.get("/monitoring/alarms/badge").text
    mine = client.get("/monitoring/alarms", params={"mine": "1"})
    assert 'data-testid="awaiting-count">1<' in mine.text and "RM-PREP.conductivity" in mine.text
    alarm_link = mine.text.split('href="/monitoring/alarms/', 1)[1].split('"', 1)[0]
    told = client.get(f"/monitoring/alarms/{alarm_link}").text.split('data-testid="recipients">', 1)[1]
    told = told.split("</dd>", 1)[
        0
    ]  # the alarm's page names who is told: the room's primary, then its backup
    assert told.index("(wuhao, Primary)") < told.index("(lina, Backup)") and "told to everyone" not in told
    log_in(client, "zhangwei", language="en")  # views, but neither assigns nor is told
    page = client.get("/monitoring/assignments")
    assert (
        page.status_code == 200 and "assignment-form" not in page.text and "nav-alarm-badge" not in page.text
    )

    operator, engineer = token(client, "zhangwei"), token(client, "wuhao")
    listed_api = client.get(
        "/api/v1/monitoring/assignments", params={"room": "RM-PREP"}, headers=operator
    ).json()
    assert [(a["login"], a["role"]) for a in listed_api] == [("wuhao", "primary"), ("lina", "backup")]
    body = {"login": "wuhao", "room": "RM-WEIGH"}
    assert client.post("/api/v1/monitoring/assignments", json=body, headers=operator).status_code == 403
    created = client.post("/api/v1/monitoring/assignments", json=body, headers=engineer)
    assert created.status_code == 201, created.text
    url = f"/api/v1/monitoring/assignments/{created.json()['id']}/end"
    assert client.post(url, json={"reason": "交接"}, headers=operator).status_code == 403
    done = client.post(url, json={"reason": "交接完成"}, headers=engineer).json()
    assert (done["ended_by"], done["end_reason"]) == ("wuhao", "交接完成")
    assert client.post(url, json={"reason": "交接完成"}, headers=engineer).status_code == 409
    mine_api = client.get(
        "/api/v1/monitoring/alarms", params={"mine": "true", "state": "active"}, headers=engineer
    )
    assert [a["tag"] for a in mine_api.json()] == ["RM-PREP.conductivity"]
    assert client.get("/api/v1/monitoring/alarms", params={"mine": "true"}, headers=operator).json() == []
