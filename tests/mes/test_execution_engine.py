"""The execution engine on a small recipe of the test's own (no dispensing steps): a whole batch through the
API from release to completed, and each refusal — skipped step, untrained operator (recorded), the performer
verifying, unusable equipment or room, out of limits without a comment — with nothing changed; time limits,
limit and yield exceptions, corrections and exception decisions (TJ-6.4, TJ-6.4.3.3, TJ-10.1.4)."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from batch_steps import (
    approved_recipe,
    client_fixture,  # noqa: F401 (the client fixture)
    do,
    exceptions,
    released,
    signed,
    state,
)
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from helpers import audit_entries, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.equipment.service import NotUsable
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import NotPermitted, QualificationRequired, SegregationOfDuties
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, recipes
from pharmatrace.mes.execution_models import (
    BatchOrder,
    BatchSignoff,
    StepCorrection,
    StepExecution,
)
from pharmatrace.mes.execution_schemas import CorrectionCreate
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.storage.engine import Database

CODE = "MR-T-001"
OPERATOR, SUPERVISOR, QA = "zhangwei", "lina", "chenjing"
PW = DEMO_PASSWORD
RECIPE: dict[str, Any] = {
    "recipe_code": CODE, "product_code": "FG-T-001", "product_name": "测试冻干粉", "batch_size": "1000",
    "batch_unit": "支", "mpr_number": "MPR-DH-001",
    "unit_procedures": [
        {"code": "UP-A", "name": "配制", "operations": [
            {"code": "OP-A1", "name": "称量与配制", "equipment_classes": ["balance"], "room": "RM-WEIGH", "steps": [
                {"code": "A-LC", "name": "清场确认", "type": "line_clearance", "instruction": "确认清场",
                 "sop": "SOP-QA-001", "checks": ["无上批物料", "清场合格证有效"], "signoff": "operator_verifier"},
                {"code": "A-PU", "name": "天平检查", "type": "pre_use_check", "instruction": "检查天平",
                 "sop": "SOP-WH-001", "checks": ["水平泡居中"]},
                {"code": "A-IN", "name": "穿戴", "type": "instruction", "instruction": "按规定更衣", "signoff": "none"},
                {"code": "A-DE", "name": "称量记录", "type": "data_entry", "instruction": "记录重量",
                 "sop": "SOP-PR-001", "signoff": "operator_verifier", "parameters": [
                     {"code": "weight", "name": "重量", "unit": "kg", "alert_low": "9.5", "alert_high": "10.5",
                      "action_low": "9", "action_high": "11"}]},
                {"code": "A-CAL", "name": "计算比例", "type": "calculation", "instruction": "计算",
                 "formula": "ratio = weight / extra * 100", "parameters": [{"code": "ratio", "name": "比例", "unit": "%"}]},
                {"code": "A-CPP", "name": "搅拌", "type": "cpp", "instruction": "搅拌", "min_minutes": 10,
                 "max_minutes": 60, "max_hold_minutes": 120, "parameters": [
                     {"code": "temp", "name": "温度", "unit": "°C", "target": "25", "action_low": "20",
                      "action_high": "30"}]},
                {"code": "A-IPC", "name": "中控", "type": "ipc", "instruction": "测 pH", "signoff": "supervisor",
                 "controls": [{"code": "ph", "name": "pH", "low": "5.5", "high": "6.5"},
                              {"code": "clarity", "name": "澄清度"}]},
                {"code": "A-Y", "name": "收率", "type": "yield", "instruction": "计算收率", "signoff": "qa",
                 "yield_limits": {"low_pct": "90", "high_pct": "100"}},
            ]},
        ]},
        {"code": "UP-B", "name": "冻干", "operations": [
            {"code": "OP-B1", "name": "冻干", "equipment_classes": ["freeze_dryer"], "room": "RM-LYO", "steps": [
                {"code": "B-CPP", "name": "预冻", "type": "cpp", "instruction": "预冻", "sop": "SOP-PR-007",
                 "parameters": [{"code": "shelf", "name": "板层温度", "unit": "°C", "target": "-40",
                                 "action_low": "-45", "action_high": "-35"}]},
            ]},
        ]},
    ],
}  # fmt: skip


def _released(db: Database) -> str:
    approved_recipe(db, RECIPE)
    return released(db, CODE)


def _through_a_de(db: Database, order_no: str, weight: str = "10.2", comment: str = "") -> None:
    do(db, OPERATOR, "start", order_no, "A-LC")
    do(db, OPERATOR, "complete", order_no, "A-LC", signed({"checks": ["pass", "pass"]}))
    do(db, SUPERVISOR, "sign", order_no, "A-LC")
    do(db, OPERATOR, "start", order_no, "A-PU")
    do(db, OPERATOR, "complete", order_no, "A-PU", signed({"checks": ["pass"], "equipment": ["BAL-01"]}))
    do(db, OPERATOR, "start", order_no, "A-IN")
    do(db, OPERATOR, "complete", order_no, "A-IN", {"acknowledged": True})
    do(db, OPERATOR, "start", order_no, "A-DE")
    do(db, OPERATOR, "complete", order_no, "A-DE",
        signed({"values": {"weight": weight}, "comments": {"weight": comment} if comment else {}}))  # fmt: skip
    do(db, SUPERVISOR, "sign", order_no, "A-DE")


# --- the whole batch through the API ---------------------------------------------------------------------


@pytest.mark.scenario
@pytest.mark.clause(
    "TJ-6.4.3.2", "TJ-6.4.3.3", "TJ-6.4.3.3.c", "TJ-6.4.3.3.d", "TJ-6.4.5", "TJ-B.2.3.3", "TJ-6.4.3.1"
)
def test_a_whole_batch_runs_through_the_api_from_release_to_completed(
    db: Database, client: TestClient
) -> None:
    approved_recipe(db, RECIPE)
    op, sup, qa = (token(client, login) for login in (OPERATOR, SUPERVISOR, QA))
    created = client.post("/api/v1/mes/batches", headers=sup, json={
        "recipe_code": CODE, "batch_size": "1000", "planned_start": "2026-12-01", "planned_end": "2026-12-03"})  # fmt: skip
    assert created.status_code == 201, created.text
    order_no, batch_no = created.json()["order_no"], created.json()["batch_no"]
    assert created.json()["status"] == "planned"
    released = client.post(f"/api/v1/mes/batches/{order_no}/release", headers=sup,
                           json={"password": PW, "login": SUPERVISOR})  # fmt: skip
    assert released.status_code == 200, released.text
    with db.sessions() as session:
        version = recipes.usable_version(session, CODE)
        assert version is not None
        assert released.json()["control_recipe_sm3"] == version.body_sm3
    base = f"/api/v1/mes/batches/{order_no}/steps"

    def run(
        code: str, data: dict[str, Any], signer: tuple[str, dict[str, str]] | None = None
    ) -> dict[str, Any]:
        assert client.post(f"{base}/{code}/start", headers=op).status_code == 200
        done = client.post(f"{base}/{code}/complete", headers=op, json=data)
        assert done.status_code == 200, done.text
        if signer is not None:
            path, headers = signer
            login = SUPERVISOR if headers is sup else QA
            signed = client.post(
                f"{base}/{code}/{path}", headers=headers, json={"password": PW, "login": login}
            )
            assert signed.status_code == 200, signed.text
        step = client.get(f"{base}/{code}", headers=op).json()
        assert step["state"] == "done"
        return step

    lc = run("A-LC", signed({"checks": ["pass", "pass"]}), ("verify", sup))
    assert (
        lc["record"]["clearance"]["batch_no"] == batch_no and lc["record"]["clearance"]["room"] == "RM-WEIGH"
    )
    assert [c["result"] for c in lc["record"]["checks"]] == ["pass", "pass"]
    run("A-PU", signed({"checks": ["pass"], "equipment": ["BAL-01"]}))
    run("A-IN", {"acknowledged": True})
    de = run(
        "A-DE",
        signed({"values": {"weight": "10.6"}, "comments": {"weight": "天平读数稳定"}}),
        ("verify", sup),
    )
    assert de["record"]["values"]["weight"]["flag"] == "alert"
    cal = run("A-CAL", signed({"values": {"extra": "40"}}))
    assert cal["record"]["values"]["ratio"]["value"] == "26.5"  # 10.6 / 40 × 100
    assert cal["record"]["inputs"]["weight"]["source"] == "recorded"
    assert client.post(f"{base}/A-CPP/start", headers=op).status_code == 200
    # the clock moves 11 minutes: within 10–60 min (and within the idle time-out of the session)
    with pytest.MonkeyPatch.context() as patch:
        later = clock.now() + timedelta(minutes=11)
        patch.setattr(clock, "now", lambda: later)
        done = client.post(f"{base}/A-CPP/complete", headers=op, json=signed({"values": {"temp": "25.4"}}))
        assert done.status_code == 200, done.text
        run("A-IPC", signed({"values": {"ph": "6.1"}, "results": {"clarity": "pass"}}), ("verify", sup))
        run("A-Y", signed({"values": {"actual": "960", "theoretical": "1000"}}), ("qa-sign", qa))
        run("B-CPP", signed({"values": {"shelf": "-40.2"}, "equipment": []}))
    detail = client.get(f"/api/v1/mes/batches/{order_no}", headers=op).json()
    assert detail["status"] == "completed" and detail["completed_at"]
    assert detail["steps_done"] == detail["steps_total"] == 9
    assert detail["exceptions"] == []  # an alert excursion is flagged, not an exception
    roles = [(s["step_code"], s["role"], s["signed_by"]) for s in detail["signoffs"]]
    assert ("A-LC", "performed", OPERATOR) in roles and ("A-LC", "verified", SUPERVISOR) in roles
    assert ("A-Y", "qa", QA) in roles and (None, "release", SUPERVISOR) in roles
    assert "A-IN" not in {s for s, _r, _b in roles}  # sign-off "none"
    with db.sessions() as session:
        for row in session.scalars(select(BatchSignoff)):
            views = esign.manifestations(session, "batch_signoff", str(row.id))
            assert [v.status for v in views] == ["valid"], row.role


# --- refusals ----------------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.4.3.3", "SH-7.1.3")
def test_a_skipped_step_is_refused_recorded_and_nothing_changes(db: Database) -> None:
    order_no = _released(db)
    with pytest.raises(execution.StepRefused) as refused:
        do(db, OPERATOR, "start", order_no, "A-PU")
    assert "A-LC" in str(refused.value) and refused.value.code == "step_refused"
    assert state(db, order_no, "A-PU") == "waiting"
    with db.sessions() as session:
        assert execution.get_order(session, order_no).status == "released"  # not started by a refusal
    entries = audit_entries(db, event="mes.step.refused")
    assert entries and entries[-1].actor_login == OPERATOR and "A-LC" in (entries[-1].reason or "")


@pytest.mark.clause("TJ-10.1.2.2.d", "TJ-6.4.3.3", "SH-7.1.3")
def test_an_untrained_operator_is_refused_the_step_and_the_refusal_names_the_sop(db: Database) -> None:
    order_no = _released(db)
    _through_a_de(db, order_no)
    do(db, OPERATOR, "start", order_no, "A-CAL")
    do(db, OPERATOR, "complete", order_no, "A-CAL", signed({"values": {"extra": "40"}}))
    do(db, OPERATOR, "start", order_no, "A-CPP")
    with pytest.MonkeyPatch.context() as patch:
        later = clock.now() + timedelta(minutes=20)
        patch.setattr(clock, "now", lambda: later)
        do(db, OPERATOR, "complete", order_no, "A-CPP", signed({"values": {"temp": "25"}}))
        do(db, OPERATOR, "start", order_no, "A-IPC")
        do(
            db,
            OPERATOR,
            "complete",
            order_no,
            "A-IPC",
            signed({"values": {"ph": "6"}, "results": {"clarity": "pass"}}),
        )
        do(db, SUPERVISOR, "sign", order_no, "A-IPC")
        do(db, OPERATOR, "start", order_no, "A-Y")
        do(
            db,
            OPERATOR,
            "complete",
            order_no,
            "A-Y",
            signed({"values": {"actual": "950", "theoretical": "1000"}}),
        )
        do(db, QA, "sign", order_no, "A-Y")
    assert state(db, order_no, "B-CPP") == "ready"
    before = len(audit_entries(db, event="mes.step.refused"))
    with pytest.raises(QualificationRequired) as refused:
        do(db, "liuyang", "start", order_no, "B-CPP")  # lapsed on SOP-PR-007 v2
    assert getattr(refused.value, "code", "") == "qualification_required"
    assert "SOP-PR-007" in str(refused.value)
    assert state(db, order_no, "B-CPP") == "ready"
    entries = audit_entries(db, event="mes.step.refused")
    assert len(entries) == before + 1
    assert entries[-1].actor_login == "liuyang" and "SOP-PR-007" in (entries[-1].reason or "")
    do(db, OPERATOR, "start", order_no, "B-CPP")  # a trained operator may
    assert state(db, order_no, "B-CPP") == "in_progress"


@pytest.mark.clause("TJ-6.4.3.3.c", "TJ-6.4.3.3.d", "SH-7.1.4.a")
def test_the_performer_cannot_verify_the_own_step(db: Database, client: TestClient) -> None:
    order_no = _released(db)
    do(db, OPERATOR, "start", order_no, "A-LC")
    do(db, OPERATOR, "complete", order_no, "A-LC", signed({"checks": ["pass", "pass"]}))
    # through the API, an operator may not verify at all
    response = client.post(f"/api/v1/mes/batches/{order_no}/steps/A-LC/verify", headers=token(client, OPERATOR),
                           json={"password": PW, "login": OPERATOR})  # fmt: skip
    assert response.status_code == 403
    # someone who both executes and supervises is still refused on a step they performed
    both = principal(db, OPERATOR)
    both = dataclasses.replace(both, permissions=both.permissions | {"mes.batch.supervise"})
    with UnitOfWork(db, both.actor) as uow, pytest.raises(SegregationOfDuties):
        execution.sign_step(
            uow, both, execution.get_order(uow.session, order_no), "A-LC", password=PW, login=OPERATOR
        )
    assert state(db, order_no, "A-LC") == "signing"
    assert state(db, order_no, "A-PU") == "waiting"  # the successor waits for the second signature


@pytest.mark.clause("TJ-6.4.3.3.c", "TJ-6.4.3.3.d")
def test_a_qa_sign_off_is_given_by_qa_only(db: Database, client: TestClient) -> None:
    order_no = _released(db)
    _through_a_de(db, order_no)
    do(db, OPERATOR, "start", order_no, "A-CAL")
    do(db, OPERATOR, "complete", order_no, "A-CAL", signed({"values": {"extra": "40"}}))
    do(db, OPERATOR, "start", order_no, "A-CPP")
    later = clock.now() + timedelta(minutes=12)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", lambda: later)
        do(db, OPERATOR, "complete", order_no, "A-CPP", signed({"values": {"temp": "25"}}))
        do(db, OPERATOR, "start", order_no, "A-IPC")
        do(
            db,
            OPERATOR,
            "complete",
            order_no,
            "A-IPC",
            signed({"values": {"ph": "6"}, "results": {"clarity": "pass"}}),
        )
        with pytest.raises(NotPermitted):  # the IPC's sign-off is the supervisor's, not QA's
            do(db, QA, "sign", order_no, "A-IPC")
        do(db, SUPERVISOR, "sign", order_no, "A-IPC")
        do(db, OPERATOR, "start", order_no, "A-Y")
        do(
            db,
            OPERATOR,
            "complete",
            order_no,
            "A-Y",
            signed({"values": {"actual": "950", "theoretical": "1000"}}),
        )
        with pytest.raises(NotPermitted):  # a supervisor cannot give QA's signature
            do(db, SUPERVISOR, "sign", order_no, "A-Y")
    assert state(db, order_no, "A-Y") == "signing"
    response = client.post(f"/api/v1/mes/batches/{order_no}/steps/A-Y/qa-sign", headers=token(client, SUPERVISOR),
                           json={"password": PW, "login": SUPERVISOR})  # fmt: skip
    assert response.status_code == 403
    do(db, QA, "sign", order_no, "A-Y")
    assert state(db, order_no, "A-Y") == "done"


@pytest.mark.clause("TJ-6.4.1", "TJ-6.4.2", "TJ-6.1")
def test_unusable_equipment_or_room_refuses_the_pre_use_check(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_no = _released(db)
    do(db, OPERATOR, "start", order_no, "A-LC")
    do(db, OPERATOR, "complete", order_no, "A-LC", signed({"checks": ["pass", "pass"]}))
    do(db, SUPERVISOR, "sign", order_no, "A-LC")
    do(db, OPERATOR, "start", order_no, "A-PU")
    with pytest.raises(NotUsable) as refused:  # BAL-02: calibration expired in the demo plant
        do(db, OPERATOR, "complete", order_no, "A-PU", signed({"checks": ["pass"], "equipment": ["BAL-02"]}))
    assert getattr(refused.value, "code", "") == "not_usable" and "BAL-02" in str(refused.value)
    assert state(db, order_no, "A-PU") == "in_progress"
    assert audit_entries(db, event="equipment.use.refused")
    with pytest.raises(execution.StepRefused):  # equipment of another class than the operation's
        do(db, OPERATOR, "complete", order_no, "A-PU", signed({"checks": ["pass"], "equipment": ["FD-01"]}))
    with pytest.raises(execution.EvidenceMissing):  # the equipment must be named
        do(db, OPERATOR, "complete", order_no, "A-PU", signed({"checks": ["pass"]}))
    with pytest.raises(execution.StepRefused):  # a failed checklist item
        do(db, OPERATOR, "complete", order_no, "A-PU", signed({"checks": ["fail"], "equipment": ["BAL-01"]}))
    # three days later the weighing room's cleaning (72 h) has expired too
    later = clock.now() + timedelta(days=4)
    monkeypatch.setattr(clock, "now", lambda: later)
    with pytest.raises(NotUsable) as room:
        do(db, OPERATOR, "complete", order_no, "A-PU", signed({"checks": ["pass"], "equipment": ["BAL-01"]}))
    assert getattr(room.value, "code", "") == "not_usable"
    assert state(db, order_no, "A-PU") == "in_progress"


@pytest.mark.clause("TJ-6.4.3.3.f", "TJ-6.4.3.3.i")
def test_a_value_out_of_its_action_limits_needs_a_comment_and_raises_an_exception(db: Database) -> None:
    order_no = _released(db)
    with pytest.raises(execution.CommentRequired) as refused:
        _through_a_de(db, order_no, weight="11.4")
    assert refused.value.code == "comment_required"
    assert state(db, order_no, "A-DE") == "in_progress" and exceptions(db, order_no) == []
    do(db, OPERATOR, "complete", order_no, "A-DE",
        signed({"values": {"weight": "11.4"}, "comments": {"weight": "称量桶未去皮，已复称"}}))  # fmt: skip
    [exception] = exceptions(db, order_no)
    assert (
        exception.kind == "limit_excursion" and exception.step_code == "A-DE" and exception.status == "open"
    )
    assert "11.4" in execution.exception_text(exception) and exception.evidence == "称量桶未去皮，已复称"


@pytest.mark.clause("TJ-6.4.3.3.b")
def test_time_limits_raise_exceptions_at_start_and_completion(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_no = _released(db)
    _through_a_de(db, order_no)
    do(db, OPERATOR, "start", order_no, "A-CAL")
    do(db, OPERATOR, "complete", order_no, "A-CAL", signed({"values": {"extra": "40"}}))
    moment = clock.now()
    monkeypatch.setattr(clock, "now", lambda: moment + timedelta(minutes=150))  # hold limit 120 min
    do(db, OPERATOR, "start", order_no, "A-CPP")
    [hold] = exceptions(db, order_no)
    assert hold.kind == "time_limit" and "120" in execution.exception_text(hold)
    monkeypatch.setattr(
        clock, "now", lambda: moment + timedelta(minutes=155)
    )  # 5 min: under the 10 min minimum
    do(db, OPERATOR, "complete", order_no, "A-CPP", signed({"values": {"temp": "26"}}))
    kinds = [(e.kind, e.step_code) for e in exceptions(db, order_no)]
    assert kinds == [("time_limit", "A-CPP"), ("time_limit", "A-CPP")]
    assert "minimum" in execution.exception_text(exceptions(db, order_no)[1])


@pytest.mark.clause("TJ-6.3.2.3", "TJ-6.4.3.3.g", "TJ-6.4.3.3.h")
def test_a_failed_control_and_a_yield_out_of_limits_raise_exceptions(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_no = _released(db)
    _through_a_de(db, order_no)
    do(db, OPERATOR, "start", order_no, "A-CAL")
    do(db, OPERATOR, "complete", order_no, "A-CAL", signed({"values": {"extra": "40"}}))
    do(db, OPERATOR, "start", order_no, "A-CPP")
    later = clock.now() + timedelta(minutes=30)
    monkeypatch.setattr(clock, "now", lambda: later)
    do(db, OPERATOR, "complete", order_no, "A-CPP", signed({"values": {"temp": "24"}}))
    do(db, OPERATOR, "start", order_no, "A-IPC")
    with pytest.raises(execution.CommentRequired):
        do(
            db,
            OPERATOR,
            "complete",
            order_no,
            "A-IPC",
            signed({"values": {"ph": "6.8"}, "results": {"clarity": "pass"}}),
        )
    do(db, OPERATOR, "complete", order_no, "A-IPC",
        signed({"values": {"ph": "6.8"}, "results": {"clarity": "pass"}, "comments": {"ph": "复测 6.7"}}))  # fmt: skip
    do(db, SUPERVISOR, "sign", order_no, "A-IPC")
    do(db, OPERATOR, "start", order_no, "A-Y")
    with pytest.raises(execution.EvidenceMissing):
        do(db, OPERATOR, "complete", order_no, "A-Y", signed({"values": {"actual": "850"}}))
    do(db, OPERATOR, "complete", order_no, "A-Y",
        signed({"values": {"actual": "850", "theoretical": "1000"}, "comments": {"yield": "过滤损失偏大"}}))  # fmt: skip
    kinds = [e.kind for e in exceptions(db, order_no)]
    assert kinds == ["ipc_failure", "yield_limit"]
    with db.sessions() as session:
        record = json.loads(execution.step_of(session, execution.get_order(session, order_no), "A-Y").record)
    assert record["values"]["yield_pct"]["shown"] == "85.0"


# --- corrections and decisions ------------------------------------------------------------------------


@pytest.mark.clause("TJ-10.1.4", "TJ-10.1.4.1", "SH-7.1.3")
def test_a_correction_keeps_old_and_new_needs_a_reason_and_an_authorized_person(
    db: Database, client: TestClient
) -> None:
    order_no = _released(db)
    _through_a_de(db, order_no, weight="10.2")
    url = f"/api/v1/mes/batches/{order_no}/steps/A-DE/corrections"
    body = {"field": "weight", "new_value": "10.3", "password": PW, "login": OPERATOR}
    no_reason = client.post(url, headers=token(client, OPERATOR), json=body)
    assert no_reason.status_code == 422
    other = principal(db, "liuyang")  # an operator who did not perform the step
    with UnitOfWork(db, other.actor) as uow, pytest.raises(NotPermitted):
        execution.correct(uow, other, execution.get_order(uow.session, order_no), "A-DE",
                          CorrectionCreate(field="weight", new_value=Decimal("10.3"), reason="抄写错误", password=PW,
                                           login="liuyang"))  # fmt: skip
    with db.sessions() as session:
        mine = select(func.count()).select_from(StepCorrection).join(StepExecution).join(BatchOrder)
        assert session.scalar(mine.where(BatchOrder.order_no == order_no)) == 0
    done = client.post(
        url, headers=token(client, OPERATOR), json={**body, "reason": "读数抄写错误，天平打印条为 10.3"}
    )
    assert done.status_code == 201, done.text
    assert (done.json()["old_value"], done.json()["new_value"]) == ("10.2", "10.3")
    with db.sessions() as session:
        step = execution.step_of(session, execution.get_order(session, order_no), "A-DE")
        record = json.loads(step.record)
        assert record["values"]["weight"]["value"] == "10.3" and record["values"]["weight"]["corrected"]
        signoffs = list(session.scalars(select(BatchSignoff).where(BatchSignoff.step_code == "A-DE")))
        assert [s.role for s in signoffs] == ["performed", "verified", "correction"]
        assert signoffs[-1].covers_sm3 == step.record_sm3 != signoffs[0].covers_sm3
    kinds = [e.kind for e in exceptions(db, order_no)]
    assert kinds == ["correction"]
    trail = audit_entries(db, object_type="step_execution", event="update")
    assert any(
        "10.2" in json.dumps(e.changes, ensure_ascii=False) and e.reason and "10.3" in e.reason for e in trail
    )


@pytest.mark.clause("TJ-6.4.4", "TJ-B.2.3.2", "TJ-6.4.3.3.i")
def test_the_supervisor_decides_each_exception_no_deviation_or_a_deviation(
    db: Database, client: TestClient
) -> None:
    order_no = _released(db)
    _through_a_de(db, order_no, weight="8.5", comment="供料不足，已补料复称")
    [exception] = exceptions(db, order_no)
    url = f"/api/v1/mes/batches/{order_no}/exceptions/{exception.id}/decision"
    sup = token(client, SUPERVISOR)
    assert client.post(url, headers=token(client, OPERATOR), json={}).status_code == 403
    missing = client.post(url, headers=sup, json={"decision": "deviation", "comment": "需调查", "password": PW,
                                                  "login": SUPERVISOR})  # fmt: skip
    assert missing.status_code == 422  # a deviation needs the immediate actions
    source = f"batch_exception:{exception.id}"
    with db.sessions() as session:
        raised = select(func.count()).select_from(Deviation).where(Deviation.source == source)
        assert session.scalar(raised) == 0
    decided = client.post(url, headers=sup, json={
        "decision": "deviation", "comment": "称量超出行动限，启动偏差调查", "immediate_actions": "隔离物料，暂停本工序",
        "password": PW, "login": SUPERVISOR})  # fmt: skip
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "deviation" and decided.json()["deviation_number"].startswith("DEV-")
    with db.sessions() as session:
        deviation = session.scalar(select(Deviation).where(Deviation.source == source))
        assert deviation is not None and deviation.status == "open" and deviation.recorded_by == SUPERVISOR
        # the record is written in the plant's language whatever the deciding person reads on screen
        assert "超出纠偏限" in deviation.description and "action limits" not in deviation.description
        order = execution.get_order(session, order_no)
        assert (
            order.batch_no in deviation.affected_batches
            and deviation.immediate_actions == "隔离物料，暂停本工序"
        )
    again = client.post(
        url, headers=sup, json={"decision": "no_deviation", "comment": "x理由", "password": PW}
    )
    assert again.status_code == 409


@pytest.mark.clause("TJ-6.4.3.2", "SH-7.1.3")
def test_bad_input_is_refused_and_nothing_changes(db: Database, client: TestClient) -> None:
    order_no = _released(db)
    op, sup = token(client, OPERATOR), token(client, SUPERVISOR)

    def orders() -> int:
        with db.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(BatchOrder)) or 0)

    count = orders()
    for body in (
        {"recipe_code": CODE, "batch_size": "-5", "planned_start": "2026-12-01", "planned_end": "2026-12-02"},
        {
            "recipe_code": CODE,
            "batch_size": "100",
            "planned_start": "2026-12-03",
            "planned_end": "2026-12-02",
        },
        {
            "recipe_code": "MR-NONE",
            "batch_size": "100",
            "planned_start": "2026-12-01",
            "planned_end": "2026-12-02",
        },
        {
            "recipe_code": CODE,
            "batch_size": "abc",
            "planned_start": "2026-12-01",
            "planned_end": "2026-12-02",
        },
    ):
        response = client.post("/api/v1/mes/batches", headers=sup, json=body)
        assert response.status_code in (409, 422), body
    assert client.post("/api/v1/mes/batches", headers=op, json={}).status_code == 403
    assert orders() == count
    base = f"/api/v1/mes/batches/{order_no}/steps/A-LC"
    assert client.post(f"{base}/start", headers=op).status_code == 200
    for body in ({"checks": ["pass"], "password": PW, "login": OPERATOR},  # one result missing
                 {"checks": ["pass", "maybe"], "password": PW, "login": OPERATOR},
                 {"checks": ["pass", "pass"]},  # no signature
                 {"checks": ["pass", "pass"], "password": "wrong", "login": OPERATOR}):  # fmt: skip
        response = client.post(f"{base}/complete", headers=op, json=body)
        assert response.status_code in (401, 403, 409, 422), (body, response.text)
    assert state(db, order_no, "A-LC") == "in_progress"
    with db.sessions() as session:
        step = session.scalar(select(StepExecution).where(StepExecution.step_code == "A-LC"))
        assert step is not None and step.record == "{}" and step.completed_at is None
        assert (
            session.scalar(
                select(func.count()).select_from(BatchSignoff).where(BatchSignoff.step_code == "A-LC")
            )
            == 0
        )
    # a second release, a cancel of a running batch: refused
    again = client.post(
        f"/api/v1/mes/batches/{order_no}/release", headers=sup, json={"password": PW, "login": SUPERVISOR}
    )
    assert again.status_code == 409
    assert (
        client.post(
            f"/api/v1/mes/batches/{order_no}/cancel", headers=sup, json={"reason": "计划变更"}
        ).status_code
        == 409
    )
