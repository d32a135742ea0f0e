"""QA review by exception (TJ-6.4.7): the review list shows exactly the exceptions of the batches — each kind,
with its explanation and status — and nothing else; QA's review sign-off is refused while a step is not done
or an exception has no supervisor's decision, and to anyone who took part in the batch; accepted after the
decisions, the batch is ``reviewed`` and handed to release (``BatchReviewed``)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from batch_steps import (
    approved_recipe,
    client_fixture,  # noqa: F401 (the client fixture)
    do,
    released,
    signed,
)
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import audit_entries, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock, events
from pharmatrace.kernel.errors import NotPermitted, SegregationOfDuties
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, review
from pharmatrace.mes.events import BatchReviewed
from pharmatrace.mes.execution_models import BatchOrder, StepExecution
from pharmatrace.mes.execution_schemas import CorrectionCreate, ExceptionDecision
from pharmatrace.mes.review_models import BatchReview
from pharmatrace.mes.review_schemas import ReviewFilter
from pharmatrace.monitoring import alarms, historian, tags
from pharmatrace.monitoring.alarm_schemas import AlarmFilter, RuleCreate
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.schemas import SourceCreate, TagCreate
from pharmatrace.storage.engine import Database

CODE = "MR-K-001"
OPERATOR, SUPERVISOR, FLOOR_QA, REVIEWER = "zhangwei", "lina", "chenjing", "zhaomin"
PW = DEMO_PASSWORD
RECIPE: dict[str, Any] = {
    "recipe_code": CODE, "product_code": "FG-K-001", "product_name": "审核测试冻干粉", "batch_size": "1000",
    "batch_unit": "支", "mpr_number": "MPR-DH-001",
    "unit_procedures": [{"code": "UP-A", "name": "配制", "operations": [
        {"code": "OP-A1", "name": "称量与配制", "room": "RM-WEIGH", "steps": [
            {"code": "K-IN", "name": "穿戴", "type": "instruction", "instruction": "按规定更衣", "signoff": "none"},
            {"code": "K-DE", "name": "称量记录", "type": "data_entry", "instruction": "记录重量",
             "sop": "SOP-PR-001", "signoff": "operator_verifier", "parameters": [
                 {"code": "weight", "name": "重量", "unit": "kg", "alert_low": "9.5", "alert_high": "10.5",
                  "action_low": "9", "action_high": "11"}]},
            {"code": "K-CPP", "name": "搅拌", "type": "cpp", "instruction": "搅拌", "max_hold_minutes": 120,
             "parameters": [{"code": "temp", "name": "温度", "unit": "°C", "target": "25", "action_low": "20",
                             "action_high": "30"}]},
            {"code": "K-IPC", "name": "中控", "type": "ipc", "instruction": "测 pH", "signoff": "supervisor",
             "controls": [{"code": "ph", "name": "pH", "low": "5.5", "high": "6.5"}]},
            {"code": "K-Y", "name": "收率", "type": "yield", "instruction": "计算收率", "signoff": "qa",
             "yield_limits": {"low_pct": "90", "high_pct": "100"}},
        ]},
    ]}],
}  # fmt: skip


# --- the plant: a recipe of the test's own, batches run through the engine -------------------------------


class Clock:
    """The engine's clock, moved forward by the test (time limits, late signatures)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta()
        real = clock.now
        monkeypatch.setattr(clock, "now", lambda: real() + self.offset)

    def forward(self, minutes: int) -> None:
        self.offset += timedelta(minutes=minutes)


def clean_batch(db: Database, order_no: str, *, until: str | None = None) -> None:
    """Every step within its limits, signed on time (no exception); stops before ``until``."""
    plan: list[tuple[str, str, dict[str, Any], str | None]] = [
        ("K-IN", OPERATOR, {"acknowledged": True}, None),
        ("K-DE", OPERATOR, signed({"values": {"weight": "10.2"}}), SUPERVISOR),
        ("K-CPP", OPERATOR, signed({"values": {"temp": "25"}}), None),
        ("K-IPC", OPERATOR, signed({"values": {"ph": "6.0"}}), SUPERVISOR),
        ("K-Y", OPERATOR, signed({"values": {"actual": "950", "theoretical": "1000"}}), FLOOR_QA),
    ]
    for code, who, data, second in plan:
        if code == until:
            return
        do(db, who, "start", order_no, code)
        do(db, who, "complete", order_no, code, data)
        if second:
            do(db, second, "sign", order_no, code)


def batch_with_exceptions(db: Database, time: Clock) -> str:
    """One batch with one of each kind: a refused (skipped) step, a limit excursion, a late verification, a
    correction, a hold time exceeded, a failed control, a yield out of limits, and a manual weighing."""
    order_no = released(db, CODE)
    with pytest.raises(execution.StepRefused):
        do(db, OPERATOR, "start", order_no, "K-DE")  # K-IN first: refused and recorded
    do(db, OPERATOR, "start", order_no, "K-IN")
    do(db, OPERATOR, "complete", order_no, "K-IN", {"acknowledged": True})
    do(db, OPERATOR, "start", order_no, "K-DE")
    do(db, OPERATOR, "complete", order_no, "K-DE",
       signed({"values": {"weight": "11.4"}, "comments": {"weight": "称量桶未去皮"}}))  # fmt: skip
    time.forward(90)  # the verifier signs 90 min after completion: late (> 60 min)
    do(db, SUPERVISOR, "sign", order_no, "K-DE")
    operator = principal(db, OPERATOR)
    with UnitOfWork(db, operator.actor) as uow:
        execution.correct(uow, operator, execution.get_order(uow.session, order_no), "K-DE", CorrectionCreate(
            field="weight", new_value=Decimal("10.8"), reason="去皮后复称为 10.8", password=PW, login=OPERATOR))  # fmt: skip
        uow.commit()
    time.forward(60)  # 150 min after K-DE's end: the 120 min hold is passed
    do(db, OPERATOR, "start", order_no, "K-CPP")
    do(db, OPERATOR, "complete", order_no, "K-CPP", signed({"values": {"temp": "25"}}))
    do(db, OPERATOR, "start", order_no, "K-IPC")
    do(
        db,
        OPERATOR,
        "complete",
        order_no,
        "K-IPC",
        signed({"values": {"ph": "6.8"}, "comments": {"ph": "复测 6.7"}}),
    )
    do(db, SUPERVISOR, "sign", order_no, "K-IPC")
    do(db, OPERATOR, "start", order_no, "K-Y")
    do(db, OPERATOR, "complete", order_no, "K-Y",
       signed({"values": {"actual": "850", "theoretical": "1000"}, "comments": {"yield": "过滤损失"}}))  # fmt: skip
    do(db, FLOOR_QA, "sign", order_no, "K-Y")
    with UnitOfWork(db, operator.actor) as uow:  # what the dispensing area records for a manual weighing
        execution.record_exception(uow, execution.get_order(uow.session, order_no), "K-DE", "manual_weighing",
                                   "Manual weighing of {material}", {"material": "RM-001"}, "照片 SM3 …")  # fmt: skip
        uow.commit()
    return order_no


def decide_all(db: Database, order_no: str) -> None:
    lina = principal(db, SUPERVISOR)
    for item in items_of(db, order_no):
        if item.status != "open" or item.exception_id is None:
            continue
        deviation = item.kind == "yield_limit"
        with UnitOfWork(db, lina.actor) as uow:
            execution.decide(uow, lina, item.exception_id, ExceptionDecision(
                decision="deviation" if deviation else "no_deviation", comment=f"已评估：{item.kind}",
                immediate_actions="隔离本批" if deviation else "", password=PW, login=SUPERVISOR))  # fmt: skip
            uow.commit()


def items_of(db: Database, order_no: str) -> list[Any]:
    with db.sessions() as session:
        return review.review_items(session, ReviewFilter(batch=order_no))


def status_of(db: Database, order_no: str) -> str:
    with db.sessions() as session:
        return execution.get_order(session, order_no).status


# --- the review list ---------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.4.7", "TJ-6.4.3.3.i", "TJ-6.4.3.3.b", "TJ-10.1.4", "TJ-10.1.3")
def test_the_review_lists_exactly_the_exceptions_of_each_kind_and_nothing_else(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_recipe(db, RECIPE)
    time = Clock(monkeypatch)
    noisy = batch_with_exceptions(db, time)
    quiet = released(db, CODE)
    clean_batch(db, quiet)  # within limits (an alert flag is no exception), signed on time
    kinds = Counter(item.kind for item in items_of(db, noisy))
    assert kinds == Counter({
        "refused_step": 1, "limit_excursion": 1, "late_signature": 1, "correction": 1, "time_limit": 1,
        "ipc_failure": 1, "yield_limit": 1, "manual_weighing": 1,
    })  # fmt: skip
    assert items_of(db, quiet) == []
    by_kind = {item.kind: item for item in items_of(db, noisy)}
    late = by_kind["late_signature"]
    assert late.step_code == "K-DE" and late.by == SUPERVISOR and late.params["minutes"] >= 90
    assert late.status == "recorded" and by_kind["refused_step"].status == "recorded"
    assert "K-IN" in by_kind["refused_step"].message  # the refusal's reason, from the audit trail
    assert (
        by_kind["limit_excursion"].evidence == "称量桶未去皮" and by_kind["limit_excursion"].status == "open"
    )
    # across batches: every item belongs to one of the two test batches or the demo plant's own
    with db.sessions() as session:
        everything = review.review_items(session)
        demo_orders = {o.order_no for o in session.scalars(select(BatchOrder))} - {noisy, quiet}
    assert {i.order_no for i in everything} <= demo_orders | {noisy}
    assert Counter(i.kind for i in everything if i.order_no == noisy) == kinds
    # filters: kind, status, product, dates
    with db.sessions() as session:
        only = review.review_items(session, ReviewFilter(kind="time_limit"))
        tests_own = [(i.order_no, i.kind) for i in only if i.order_no not in demo_orders]
        assert tests_own == [(noisy, "time_limit")]
        assert {i.kind for i in review.review_items(session, ReviewFilter(status="recorded", batch=noisy))} == {
            "refused_step", "late_signature"}  # fmt: skip
        assert (
            review.review_items(session, ReviewFilter(product="FG-K-001", kind="correction"))[0].order_no
            == noisy
        )
        today = clock.to_beijing(clock.now()).date()
        assert (
            review.review_items(session, ReviewFilter(batch=noisy, date_to=today - timedelta(days=3))) == []
        )


@pytest.mark.clause("TJ-6.4.3.4", "TJ-6.4.7", "TJ-6.5")
def test_an_alarm_in_a_steps_room_while_it_ran_is_listed_for_the_review(db: Database) -> None:
    approved_recipe(db, RECIPE)
    order_no = released(db, CODE)
    clean_batch(db, order_no)  # every step in RM-WEIGH (OP-A1), within its limits: nothing to review
    with db.sessions() as session:
        order_id = session.scalars(select(BatchOrder.id).where(BatchOrder.order_no == order_no)).one()
        start, end = session.execute(select(StepExecution.started_at, StepExecution.completed_at).where(
            StepExecution.batch_order_id == order_id, StepExecution.step_code == "K-DE")).one()  # fmt: skip
    # the weighing room's temperature, its rule and a reading above the limit while K-DE ran: a real ingest
    tag, engineer = "RM-WEIGH.temperature", principal(db, "wuhao")
    with UnitOfWork(db, engineer.actor) as uow:
        tags.create_source(uow, engineer, SourceCreate(code="T-REVIEW", name="称量间温湿度", protocol="mqtt",
                                                       endpoint="mqtt://127.0.0.1:1883"))  # fmt: skip
        tags.create_tag(uow, engineer, TagCreate(name=tag, source="T-REVIEW", address="plant/RM-WEIGH#t",
                                                 data_type="decimal", decimals=2, unit="℃"))  # fmt: skip
        alarms.create_rule(
            uow, engineer, RuleCreate.model_validate({"tag": tag, "name": "EM", "alert_high": "24"})
        )
        uow.commit()
    historian.ingest(
        db, "T-REVIEW", [Reading(tag, start + (end - start) / 2, Decimal("25.00"), "good", None)]
    )
    with db.sessions() as session:
        (alarm,) = alarms.search(session, AlarmFilter(tag=tag))
    assert review.registered() is None and items_of(db, order_no) == []  # monitoring not connected: nothing
    review.register(alarms.DatabaseAlarmSource(db))
    try:
        found = [i for i in items_of(db, order_no) if i.kind == "alarm"]
    finally:
        review.register(None)
    assert found and {i.params["number"] for i in found} == {alarm.number}
    k_de = next(i for i in found if i.step_code == "K-DE")  # and every later step of the room while it lasts
    assert (k_de.status, k_de.key) == ("recorded", f"alarm:{alarm.id}:{k_de.key.rsplit(':', 1)[1]}")
    assert f"Alarm {alarm.number} in RM-WEIGH: {tag} high_alert 25.00" in k_de.message


@pytest.mark.pages
@pytest.mark.clause("TJ-6.4.7", "TJ-6.4.4")
def test_the_review_page_opens_on_the_exceptions_for_qa_only(
    db: Database, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_recipe(db, RECIPE)
    noisy = batch_with_exceptions(db, Clock(monkeypatch))
    with db.sessions() as session:
        batch_no = execution.get_order(session, noisy).batch_no
    page = client.get("/mes/review", params={"batch": noisy}, headers=token(client, "chenjing"))
    assert page.status_code == 200
    for item in items_of(db, noisy):
        assert f'data-testid="review-{item.key}"' in page.text
    assert f"/mes/batches/{noisy}/steps/K-DE" in page.text and f"/mes/batches/{noisy}/record" in page.text
    one = client.get(f"/mes/batches/{noisy}/review", headers=token(client, REVIEWER))
    assert one.status_code == 200 and batch_no in one.text and 'data-testid="review-form"' in one.text
    api = client.get("/api/v1/mes/review", params={"batch": noisy, "kind": "correction"},
                     headers=token(client, REVIEWER))  # fmt: skip
    assert api.status_code == 200 and [i["kind"] for i in api.json()] == ["correction"]
    for login in (OPERATOR, SUPERVISOR, "inspector"):
        assert client.get("/mes/review", headers=token(client, login)).status_code == 403
        assert client.get("/api/v1/mes/review", headers=token(client, login)).status_code == 403


# --- the QA review sign-off ---------------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.4.7", "SH-7.1.3")
def test_the_review_is_refused_while_a_step_is_not_done_and_the_refusal_is_recorded(db: Database) -> None:
    approved_recipe(db, RECIPE)
    order_no = released(db, CODE)
    clean_batch(db, order_no, until="K-Y")
    qp = principal(db, REVIEWER)
    with UnitOfWork(db, qp.actor) as uow, pytest.raises(review.ReviewRefused) as refused:
        review.review_batch(uow, qp, execution.get_order(uow.session, order_no), password=PW, login=REVIEWER)
    assert "K-Y" in str(refused.value) and refused.value.code == "review_refused"
    assert status_of(db, order_no) == "in_progress"
    [entry] = audit_entries(db, event="mes.review.refused")
    assert entry.actor_login == REVIEWER and "K-Y" in (entry.reason or "")


@pytest.mark.clause("TJ-6.4.7", "TJ-6.4.4")
def test_the_review_is_refused_while_an_exception_has_no_decision_then_accepted_after_the_decisions(
    db: Database, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_recipe(db, RECIPE)
    order_no = batch_with_exceptions(db, Clock(monkeypatch))
    assert status_of(db, order_no) == "completed"
    url = f"/api/v1/mes/batches/{order_no}/review"
    qp = token(client, REVIEWER)
    refused = client.post(url, headers=qp, json={"password": PW, "login": REVIEWER})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "review_refused"
    assert status_of(db, order_no) == "completed" and "#6" in refused.json()["error"]["message"]
    decide_all(db, order_no)
    assert {i.status for i in items_of(db, order_no) if i.exception_id} == {"no_deviation", "deviation"}
    published: list[BatchReviewed] = []
    events.subscribe(BatchReviewed, lambda _uow, event: published.append(event))
    wrong = client.post(url, headers=qp, json={"password": "wrong", "login": REVIEWER})
    assert wrong.status_code == 401 and status_of(db, order_no) == "completed"
    done = client.post(url, headers=qp, json={"password": PW, "login": REVIEWER, "comment": "批记录审核完毕"})
    assert done.status_code == 200, done.text
    assert done.json()["reviewed_by"] == REVIEWER and done.json()["exceptions_total"] == 6
    assert status_of(db, order_no) == "reviewed"
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        row = session.scalar(select(BatchReview).where(BatchReview.batch_order_id == order.id))
        assert row is not None and row.covers_sm3 == review.review_digest(session, order)
        [signature] = esign.manifestations(session, "batch_review", str(row.id))
        assert (signature.meaning, signature.signer_login, signature.status) == (
            "reviewed",
            REVIEWER,
            "valid",
        )
    assert [(e.order_no, e.reviewed_by) for e in published][-1:] == [(order_no, REVIEWER)]
    again = client.post(url, headers=token(client, "chenjing"), json={"password": PW, "login": "chenjing"})
    assert again.status_code == 403  # chenjing signed K-Y on the floor: a participant, refused first


@pytest.mark.clause("TJ-6.4.7", "TJ-10.1.2.2.c")
def test_the_review_is_refused_to_a_person_who_performed_or_signed_a_step(db: Database) -> None:
    approved_recipe(db, RECIPE)
    order_no = released(db, CODE)
    clean_batch(db, order_no)
    floor_qa = principal(db, FLOOR_QA)  # signed K-Y as QA on the floor
    with UnitOfWork(db, floor_qa.actor) as uow, pytest.raises(SegregationOfDuties) as refused:
        review.review_batch(
            uow, floor_qa, execution.get_order(uow.session, order_no), password=PW, login=FLOOR_QA
        )
    assert FLOOR_QA in str(refused.value)
    operator = principal(db, OPERATOR)  # performed every step, and holds no review permission anyway
    with UnitOfWork(db, operator.actor) as uow, pytest.raises(NotPermitted):
        review.review_batch(
            uow, operator, execution.get_order(uow.session, order_no), password=PW, login=OPERATOR
        )
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        assert session.scalar(select(BatchReview).where(BatchReview.batch_order_id == order.id)) is None
    assert status_of(db, order_no) == "completed"
    qp = principal(db, REVIEWER)
    with UnitOfWork(db, qp.actor) as uow:
        review.review_batch(uow, qp, execution.get_order(uow.session, order_no), password=PW, login=REVIEWER)
        uow.commit()
    assert status_of(db, order_no) == "reviewed"


@pytest.mark.clause("TJ-6.4.7", "TJ-6.4.3.3.e", "TJ-6.4.1")
def test_a_refused_scan_at_dispensing_is_listed_from_the_audit_trail(
    db: Database, client: TestClient
) -> None:
    from dispensing_plant import containers, new_order, run_step

    batch_no = new_order(db)
    run_step(db, batch_no, "CMP-ID")
    refused = client.post(f"/api/v1/mes/batches/{batch_no}/steps/CMP-ID/identifications",
                          json={"scan": containers(db)[0]}, headers=token(client, OPERATOR))  # fmt: skip
    assert refused.status_code == 409  # the mannitol lot is still under test
    with db.sessions() as session:
        order_no = execution.get_order(session, batch_no).order_no
    [item] = items_of(db, order_no)
    assert (item.kind, item.step_code, item.by, item.status) == (
        "refused_scan",
        "CMP-ID",
        OPERATOR,
        "recorded",
    )
    assert "under_test" in item.evidence and batch_no in item.message


@pytest.mark.clause("TJ-6.4.7")
def test_qa_signs_the_review_on_the_batch_page(db: Database, client: TestClient) -> None:
    approved_recipe(db, RECIPE)
    order_no = released(db, CODE)
    clean_batch(db, order_no, until="K-Y")
    qp = token(client, REVIEWER)
    url = f"/mes/batches/{order_no}/review"
    page = client.get(url, headers=qp)
    assert 'data-testid="review-problem"' in page.text  # why it cannot be signed yet, before trying
    refused = client.post(url, headers=qp, data={"password": PW, "login": REVIEWER}, follow_redirects=False)
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    assert status_of(db, order_no) == "in_progress"
    do(db, OPERATOR, "start", order_no, "K-Y")
    do(
        db,
        OPERATOR,
        "complete",
        order_no,
        "K-Y",
        signed({"values": {"actual": "950", "theoretical": "1000"}}),
    )
    do(db, FLOOR_QA, "sign", order_no, "K-Y")
    done = client.post(url, headers=qp, data={"password": PW, "login": REVIEWER, "comment": "同意放行审核"},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and "done=" in done.headers["location"]
    assert status_of(db, order_no) == "reviewed"
    page = client.get(url, headers=qp)
    assert 'data-testid="review-done"' in page.text and 'data-testid="review-form"' not in page.text
    order_page = client.get(f"/mes/batches/{order_no}", headers=qp)
    assert f'href="/mes/batches/{order_no}/review"' in order_page.text
    assert f'href="/mes/batches/{order_no}/record"' in order_page.text
