"""Late entries (补录) and late signatures (TJ-10.1.3.1, TJ-6.4.3.3.i): a value may carry the time it was
observed; the server still stamps the recording. Recorded later than the recipe's window, it needs its reason
and raises a ``late_entry`` exception showing both times; an observation in the future, before the step
started, or on a step that observes nothing is refused and changes nothing. A second signature given later than
the recipe's window raises a ``late_entry`` exception naming the sign-off; both reach the QA review and the
batch record through the exception records."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from helpers import principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import ebr, execution, recipes, review
from pharmatrace.mes.execution_models import BatchException, BatchSignoff, StepExecution
from pharmatrace.mes.execution_schemas import OrderCreate, StepComplete
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.mes.review_schemas import ReviewFilter
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

CODE = "MR-L-001"
OPERATOR, SUPERVISOR = "zhangwei", "lina"
PW = DEMO_PASSWORD
ENTRY_WINDOW, SIGNATURE_WINDOW = 20, 240  # the recipe's own windows (the defaults are 30 and 480 min)
RECIPE: dict[str, Any] = {
    "recipe_code": CODE, "product_code": "FG-L-001", "product_name": "补录测试冻干粉", "batch_size": "1000",
    "batch_unit": "支", "mpr_number": "MPR-DH-001", "late_entry_minutes": ENTRY_WINDOW,
    "late_signature_minutes": SIGNATURE_WINDOW,
    "unit_procedures": [{"code": "UP-L", "name": "配制", "operations": [
        {"code": "OP-L1", "name": "配制", "room": "RM-WEIGH", "steps": [
            {"code": "L-DE", "name": "称量记录", "type": "data_entry", "instruction": "记录重量",
             "signoff": "operator_verifier", "parameters": [
                 {"code": "weight", "name": "重量", "unit": "kg", "action_low": "9", "action_high": "11"}]},
            {"code": "L-IN", "name": "清洁", "type": "instruction", "instruction": "清洁台面", "signoff": "none"},
        ]},
    ]}],
}  # fmt: skip


class Clock:
    """The engine's clock, moved forward by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta()
        real = clock.now
        monkeypatch.setattr(clock, "now", lambda: real() + self.offset)

    def forward(self, minutes: int) -> None:
        self.offset += timedelta(minutes=minutes)


@pytest.fixture
def time(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def order_no(db: Database) -> str:
    """A released batch of the test's recipe (approved by two people other than its author)."""
    author, reviewer, approver = (principal(db, login) for login in ("lina", "zhaomin", "chenjing"))
    with UnitOfWork(db, author.actor) as uow:
        version_id = recipes.import_draft(uow, RecipeBody.model_validate(RECIPE), "test").id
        uow.commit()
    with UnitOfWork(db, author.actor) as uow:
        recipes.submit(uow, version_id)
        uow.commit()
    with UnitOfWork(db, reviewer.actor) as uow:
        recipes.review(uow, reviewer, version_id, password=PW, login=reviewer.login)
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        recipes.approve(uow, approver, version_id, password=PW, login=approver.login)
        uow.commit()
    with UnitOfWork(db, author.actor) as uow:
        order = execution.create_order(uow, author, OrderCreate.model_validate(
            {"recipe_code": CODE, "batch_size": "1000", "planned_start": "2026-12-01", "planned_end": "2026-12-02"}))  # fmt: skip
        execution.release(uow, author, order, password=PW, login=SUPERVISOR)
        uow.commit()
        return order.order_no


def start(db: Database, order_no: str, code: str = "L-DE") -> datetime:
    who = principal(db, OPERATOR)
    with UnitOfWork(db, who.actor) as uow:
        row = execution.start(uow, who, execution.get_order(uow.session, order_no), code)
        uow.commit()
        assert row.started_at is not None
        return row.started_at


def complete(db: Database, order_no: str, data: dict[str, Any], code: str = "L-DE") -> None:
    who = principal(db, OPERATOR)
    payload = {"password": PW, "login": OPERATOR, **data}
    with UnitOfWork(db, who.actor) as uow:
        execution.complete(uow, who, execution.get_order(uow.session, order_no), code,
                           StepComplete.model_validate(payload))  # fmt: skip
        uow.commit()


def sign(db: Database, order_no: str, comment: str = "") -> None:
    who = principal(db, SUPERVISOR)
    with UnitOfWork(db, who.actor) as uow:
        execution.sign_step(uow, who, execution.get_order(uow.session, order_no), "L-DE", password=PW,
                            login=SUPERVISOR, comment=comment)  # fmt: skip
        uow.commit()


def step(db: Database, order_no: str, code: str = "L-DE") -> StepExecution:
    with db.sessions() as session:
        row = execution.step_of(session, execution.get_order(session, order_no), code)
        session.expunge(row)
        return row


def late_entries(db: Database, order_no: str) -> list[BatchException]:
    with db.sessions() as session:
        found = [e for e in execution.exceptions_of(session, execution.get_order(session, order_no))
                 if e.kind == "late_entry"]  # fmt: skip
        session.expunge_all()
        return found


def nothing_recorded(db: Database, order_no: str, code: str = "L-DE") -> None:
    """The refused completion left the step as it was: in progress, no evidence, no exception, no signature."""
    row = step(db, order_no, code)
    assert (row.state, row.record, row.record_sm3, row.completed_at) == ("in_progress", "{}", None, None)
    with db.sessions() as session:
        order_id = execution.get_order(session, order_no).id
        assert session.scalar(select(func.count()).select_from(BatchException)
                              .where(BatchException.batch_order_id == order_id)) == 0  # fmt: skip
        assert session.scalar(select(func.count()).select_from(BatchSignoff).where(
            BatchSignoff.batch_order_id == order_id, BatchSignoff.step_code == code)) == 0  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.isoformat()


# --- late entries of values --------------------------------------------------------------------------------


@pytest.mark.clause("TJ-10.1.3.1")
def test_a_value_observed_within_the_window_keeps_its_observation_time_and_raises_nothing(
    db: Database, order_no: str, time: Clock
) -> None:
    started = start(db, order_no)
    time.forward(15)  # 13 min after the observation: within the recipe's 20 min
    complete(db, order_no, {"values": {"weight": "10.1"}, "observed_at": iso(started + timedelta(minutes=2))})
    row = step(db, order_no)
    record = json.loads(row.record)
    assert record["observed_at"] == clock.format_beijing(started + timedelta(minutes=2))
    assert "late_reason" not in record
    assert row.completed_at is not None and row.completed_at - started >= timedelta(
        minutes=15
    )  # the server's
    assert late_entries(db, order_no) == []


@pytest.mark.clause("TJ-10.1.3.1", "TJ-6.4.3.3.i")
def test_a_late_entry_needs_its_reason_then_raises_a_late_entry_exception_with_both_times(
    db: Database, order_no: str, time: Clock
) -> None:
    started = start(db, order_no)
    observed = started + timedelta(minutes=5)
    time.forward(95)  # 90 min after the observation: the recipe allows 20
    late = {"values": {"weight": "10.4"}, "observed_at": iso(observed)}
    with pytest.raises(execution.CommentRequired) as refused:
        complete(db, order_no, late)
    message = str(refused.value)
    assert "L-DE" in message and "20 min" in message and clock.format_beijing(observed) in message
    nothing_recorded(db, order_no)

    complete(db, order_no, {**late, "late_reason": "系统停机，按应急程序从纸质记录补录"})
    row = step(db, order_no)
    assert row.state == "signing" and row.completed_at is not None
    record = json.loads(row.record)
    assert record["observed_at"] == clock.format_beijing(observed)
    assert record["late_reason"] == "系统停机，按应急程序从纸质记录补录"
    [exception] = late_entries(db, order_no)
    assert exception.step_code == "L-DE" and exception.status == "open" and exception.raised_by == OPERATOR
    assert exception.evidence == "系统停机，按应急程序从纸质记录补录"
    text = execution.exception_text(exception)
    assert clock.format_beijing(observed) in text and clock.format_beijing(row.completed_at) in text
    assert "over 20 min" in text and int(json.loads(exception.params)["minutes"]) >= 90


@pytest.mark.clause("TJ-10.1.3.1", "SH-7.1.5")
def test_an_observation_in_the_future_before_the_start_or_on_a_step_that_observes_nothing_is_refused(
    db: Database, order_no: str, time: Clock
) -> None:
    started = start(db, order_no)
    time.forward(10)
    with pytest.raises(ValidationFailed, match="in the future"):
        complete(db, order_no, {"values": {"weight": "10"}, "observed_at": iso(clock.now() + timedelta(minutes=5)),
                                "late_reason": "—— 无关"})  # fmt: skip
    nothing_recorded(db, order_no)
    with pytest.raises(ValidationFailed, match="before the step was started"):
        complete(db, order_no, {"values": {"weight": "10"}, "observed_at": iso(started - timedelta(minutes=1)),
                                "late_reason": "纸质记录"})  # fmt: skip
    nothing_recorded(db, order_no)
    complete(db, order_no, {"values": {"weight": "10"}})  # no observation time: nothing about lateness
    sign(db, order_no)
    start(db, order_no, "L-IN")
    with pytest.raises(ValidationFailed, match="records no observed values"):
        complete(db, order_no, {"acknowledged": True, "observed_at": iso(clock.now())}, code="L-IN")
    nothing_recorded(db, order_no, "L-IN")
    assert late_entries(db, order_no) == []


@pytest.mark.clause("TJ-10.1.3.1", "SH-7.1.5")
def test_the_observation_time_comes_through_the_api_with_its_time_zone(
    db: Database, order_no: str, time: Clock
) -> None:
    started = start(db, order_no)
    time.forward(45)
    observed = clock.to_beijing(started + timedelta(minutes=1))  # sent in Beijing time, +08:00
    with TestClient(create_app(db)) as client:
        headers = token(client, OPERATOR)
        url = f"/api/v1/mes/batches/{order_no}/steps/L-DE/complete"
        naive = client.post(url, headers=headers, json={"values": {"weight": "10"}, "password": PW, "login": OPERATOR,
                                                        "observed_at": observed.replace(tzinfo=None).isoformat()})  # fmt: skip
        assert naive.status_code == 422  # a time without its zone is ambiguous: refused at the edge
        done = client.post(url, headers=headers, json={"values": {"weight": "10"}, "password": PW, "login": OPERATOR,
                                                       "observed_at": observed.isoformat(), "late_reason": "网络中断后补录"})  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["record"]["observed_at"] == clock.format_beijing(observed)
    [exception] = late_entries(db, order_no)
    assert exception.evidence == "网络中断后补录"


# --- late signatures ---------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-10.1.3.1", "TJ-6.4.3.3.i", "TJ-6.4.7")
def test_a_second_signature_past_the_recipes_window_raises_a_late_entry_exception_listed_once(
    db: Database, order_no: str, time: Clock
) -> None:
    start(db, order_no)
    complete(db, order_no, {"values": {"weight": "10"}})
    completed = step(db, order_no).completed_at
    time.forward(SIGNATURE_WINDOW + 25)
    sign(db, order_no, comment="夜班无复核人，次日复核")
    row = step(db, order_no)
    assert row.state == "done" and row.verified_by == SUPERVISOR  # the signature stands
    [exception] = late_entries(db, order_no)
    params = json.loads(exception.params)
    with db.sessions() as session:
        signoff = session.scalar(select(BatchSignoff).where(BatchSignoff.role == "verified",
                                                            BatchSignoff.step_code == "L-DE"))  # fmt: skip
        assert signoff is not None and params["signoff"] == str(signoff.id)
    assert params["role"] == {"msgid": "Verified"} and params["by"] == SUPERVISOR
    assert int(params["minutes"]) >= SIGNATURE_WINDOW + 25 and params["limit"] == str(SIGNATURE_WINDOW)
    assert params["completed"] == clock.format_beijing(completed)
    assert exception.evidence == "夜班无复核人，次日复核" and exception.status == "open"
    assert "(late signature: over 240 min)" in execution.exception_text(exception)
    with db.sessions() as session:
        items = review.review_items(session, ReviewFilter(batch=order_no))
        record = ebr.batch_record(session, execution.get_order(session, order_no))
    assert [(i.kind, i.exception_id, i.status) for i in items] == [("late_entry", exception.id, "open")]
    assert [e.exception_id for e in record.exceptions] == [exception.id]


@pytest.mark.clause("TJ-10.1.3.1", "TJ-6.4.7")
def test_a_second_signature_within_the_window_raises_no_exception_and_stays_information_for_qa(
    db: Database, order_no: str, time: Clock
) -> None:
    start(db, order_no)
    complete(db, order_no, {"values": {"weight": "10"}})
    time.forward(review.LATE_SIGNATURE_MINUTES + 30)  # later than an hour, within the recipe's 240 min
    sign(db, order_no)
    assert step(db, order_no).state == "done"
    assert late_entries(db, order_no) == []
    with db.sessions() as session:
        items = review.review_items(session, ReviewFilter(batch=order_no))
    assert [(i.kind, i.status) for i in items] == [("late_signature", "recorded")]


@pytest.mark.clause("TJ-10.1.3.1", "TJ-6.4.3.3.i", "TJ-6.4.7")
def test_late_entries_reach_the_review_and_the_batch_record_and_need_a_decision(
    db: Database, order_no: str, time: Clock
) -> None:
    started = start(db, order_no)
    time.forward(60)
    complete(db, order_no, {"values": {"weight": "10"}, "observed_at": iso(started),
                            "late_reason": "停电，纸质记录补录"})  # fmt: skip
    time.forward(SIGNATURE_WINDOW + 1)
    sign(db, order_no)
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        items = review.review_items(session, ReviewFilter(batch=order_no, kind="late_entry"))
        record = ebr.batch_record(session, order)
    assert Counter(i.kind for i in items) == Counter({"late_entry": 2})
    assert {i.status for i in items} == {"open"}
    kinds = {e.exception_id: e.kind for e in record.exceptions}
    assert sorted(kinds.values()) == ["late_entry", "late_entry"]
    [de] = [s for s in record.steps if s.code == "L-DE"]
    assert ("observed_at", clock.format_beijing(started)) in de.facts
    assert ("late_reason", "停电，纸质记录补录") in de.facts


# --- the step page -----------------------------------------------------------------------------------------


@pytest.fixture
def browser(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as client:
        yield client


def log_in(client: TestClient) -> None:
    """A fresh session (the test moves the clock past the idle time-out of the one before)."""
    client.cookies.clear()
    response = client.post("/login", data={"login": OPERATOR, "password": PW})
    assert response.status_code in (200, 303), response.text
    client.get("/lang/en")  # the messages asserted are the English ones


def _alert(html: str) -> list[str]:
    return re.findall(r'role="alert"[^>]*>([^<]*)', html)


@pytest.mark.clause("TJ-10.1.3.1")
def test_the_step_page_takes_the_observation_time_in_beijing_time_and_asks_for_the_reason(
    db: Database, order_no: str, browser: TestClient, time: Clock
) -> None:
    started = start(db, order_no)
    url = f"/mes/batches/{order_no}/steps/L-DE"
    log_in(browser)
    page = browser.get(url)
    assert 'data-testid="late-entry"' in page.text and 'name="observed_at"' in page.text
    assert 'type="datetime-local"' in page.text and "more than 20 min later" in page.text
    time.forward(50)
    log_in(browser)
    observed = clock.to_beijing(started + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")  # as typed
    form = {"value__weight": "10.2", "observed_at": observed, "password": PW, "login": OPERATOR}
    refused = browser.post(f"{url}/complete", data=form)
    assert refused.status_code == 200 and "give the reason for the late entry" in " ".join(
        _alert(refused.text)
    )
    nothing_recorded(db, order_no)
    done = browser.post(f"{url}/complete", data={**form, "late_reason": "断网后补录"})
    assert done.status_code == 200 and _alert(done.text) == []
    record = json.loads(step(db, order_no).record)
    assert record["observed_at"] == observed.replace("T", " ")  # Beijing time, as the operator typed it
    shown = browser.get(url)
    assert 'data-testid="observed-at"' in shown.text and "断网后补录" in shown.text
    assert len(late_entries(db, order_no)) == 1
