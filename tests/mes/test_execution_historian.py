"""Critical process parameters bound to historian tags (TJ-6.4.3.3.f, TJ-6.4.3.4): the binding checked at recipe
import and kept by the control recipe; with no historian registered the operator enters the value and the record
says ``manual`` with the binding; with one registered the values over the step's window are captured (min, max,
mean, count), judged against the limits, and an excursion raises an exception."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from helpers import principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import ebr, execution, historian_seam, recipes
from pharmatrace.mes.execution import CommentRequired, EvidenceMissing
from pharmatrace.mes.execution_models import StepExecution
from pharmatrace.mes.execution_schemas import OrderCreate, StepComplete
from pharmatrace.mes.recipe_demo import demo_body
from pharmatrace.mes.recipe_models import MasterRecipeVersion
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

CODE = "MR-T-HIST"
OPERATOR, SUPERVISOR = "zhangwei", "lina"
PW = DEMO_PASSWORD
SHELF, PRESSURE = "FD-01.shelf_temperature", "FD-01.chamber_pressure"
RECIPE: dict[str, Any] = {
    "recipe_code": CODE, "product_code": "FG-T-HIST", "product_name": "测试冻干粉", "batch_size": "1000",
    "batch_unit": "支", "mpr_number": "MPR-DH-001",
    "unit_procedures": [{"code": "UP-L", "name": "冻干", "operations": [
        {"code": "OP-L1", "name": "冷冻干燥", "equipment_classes": ["freeze_dryer"], "room": "RM-LYO", "steps": [
            {"code": "L-CPP", "name": "一次干燥", "type": "cpp", "instruction": "一次干燥", "parameters": [
                {"code": "shelf", "name": "板层温度", "unit": "°C", "target": "-10", "alert_low": "-12",
                 "alert_high": "-8", "action_low": "-15", "action_high": "-5", "tag": SHELF},
                {"code": "pressure", "name": "箱体压力", "unit": "Pa", "target": "15", "action_low": "10",
                 "action_high": "20", "tag": PRESSURE},
                {"code": "load", "name": "装载量", "unit": "支", "target": "1000", "action_low": "900",
                 "action_high": "1100"}]},
        ]},
    ]}],
}  # fmt: skip


class Historian:
    """A historian of the test's own: it serves the samples the test wrote (the seam's contract)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[datetime, Decimal, str]]] = {}

    def write(self, tag: str, at: datetime, *values: str, quality: str = "good") -> None:
        self.samples.setdefault(tag, []).extend((at, Decimal(v), quality) for v in values)

    def values_during(
        self, tag: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, Decimal, str]] | None:
        if tag not in self.samples:
            return None
        return [s for s in self.samples[tag] if start <= s[0] <= end]


@pytest.fixture
def historian() -> Iterator[Historian]:
    reader = Historian()
    historian_seam.register(reader)
    yield reader
    historian_seam.register(None)


def _approved(db: Database, body: dict[str, Any] = RECIPE) -> None:
    author, reviewer, approver = (principal(db, login) for login in ("lina", "zhaomin", "chenjing"))
    with UnitOfWork(db, author.actor) as uow:
        version_id = recipes.import_draft(uow, RecipeBody.model_validate(body), "test").id
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


def _started(db: Database) -> tuple[str, datetime]:
    """A released order of the test recipe with its CPP step started: (order number, start time)."""
    _approved(db)
    lina = principal(db, SUPERVISOR)
    with UnitOfWork(db, lina.actor) as uow:
        order = execution.create_order(uow, lina, OrderCreate.model_validate(
            {"recipe_code": CODE, "batch_size": "1000", "planned_start": "2026-12-01", "planned_end": "2026-12-02"}))  # fmt: skip
        execution.release(uow, lina, order, password=PW, login=SUPERVISOR)
        uow.commit()
        order_no = order.order_no
    operator = principal(db, OPERATOR)
    with UnitOfWork(db, operator.actor) as uow:
        row = execution.start(uow, operator, execution.get_order(uow.session, order_no), "L-CPP")
        uow.commit()
        assert row.started_at is not None
        return order_no, row.started_at


def _complete(db: Database, order_no: str, at: datetime, data: dict[str, Any]) -> StepExecution:
    operator = principal(db, OPERATOR)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", lambda: at)
        with UnitOfWork(db, operator.actor) as uow:
            order = execution.get_order(uow.session, order_no)
            row = execution.complete(uow, operator, order, "L-CPP", StepComplete.model_validate(
                {"password": PW, "login": OPERATOR, **data}))  # fmt: skip
            uow.commit()
            uow.session.expunge(row)
            return row


def _counts(db: Database, order_no: str) -> tuple[int, int, str]:
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        exceptions = len(execution.exceptions_of(session, order))
        audit = int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
        return exceptions, audit, execution.step_of(session, order, "L-CPP").state


def _import_refused(db: Database, body: dict[str, Any]) -> ValidationFailed:
    author = principal(db, "lina")
    with db.sessions() as session:
        before = int(session.scalar(select(func.count()).select_from(MasterRecipeVersion)) or 0)
    with pytest.raises(recipes.RecipeInvalid) as refused, UnitOfWork(db, author.actor) as uow:
        recipes.import_draft(uow, RecipeBody.model_validate(body), "test")
    with db.sessions() as session:
        assert int(session.scalar(select(func.count()).select_from(MasterRecipeVersion)) or 0) == before
    return refused.value


# --- the binding in the recipe ---------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.4.3.3.f", "TJ-6.4.3.1")
def test_a_tag_must_name_usable_equipment_of_the_operations_class(db: Database) -> None:
    wrong_class = copy.deepcopy(RECIPE)
    wrong_class["unit_procedures"][0]["operations"][0]["steps"][0]["parameters"][0]["tag"] = (
        "BAL-01.temperature"
    )
    refused = _import_refused(db, wrong_class)
    assert refused.params["where"] == "L-CPP" and refused.params["field"] == "parameters.shelf.tag"
    assert "BAL-01" in str(refused.params) and "freeze_dryer" in str(refused.params)
    unknown = copy.deepcopy(RECIPE)
    unknown["unit_procedures"][0]["operations"][0]["steps"][0]["parameters"][0]["tag"] = (
        "FD-99.shelf_temperature"
    )
    assert _import_refused(db, unknown).params["code"] == "FD-99"
    not_cpp = copy.deepcopy(RECIPE)
    step = not_cpp["unit_procedures"][0]["operations"][0]["steps"][0]
    step["type"] = "data_entry"
    assert _import_refused(db, not_cpp).params["field"] == "parameters.shelf.tag"
    malformed = copy.deepcopy(RECIPE)
    malformed["unit_procedures"][0]["operations"][0]["steps"][0]["parameters"][0]["tag"] = "shelf temperature"
    with pytest.raises(ValueError, match="pattern"):
        RecipeBody.model_validate(malformed)


@pytest.mark.clause("TJ-6.4.3.3.f", "TJ-6.4.3.1")
def test_the_demo_lyophilization_cpps_are_bound_and_an_untagged_body_keeps_its_text() -> None:
    body = demo_body()
    tags = {(s.code, p.code): p.tag for _o, s in recipes.steps_of(body) for p in s.parameters if p.tag}
    assert tags[("LYO-CPP2", "shelf_temperature")] == SHELF
    assert tags[("LYO-CPP2", "chamber_pressure")] == PRESSURE
    assert {code for code, _p in tags} == {"LYO-CPP1", "LYO-CPP2", "LYO-CPP3"}
    text = recipes.canonical_body(body)
    assert '"tag":"FD-01.shelf_temperature"' in text
    # an unbound parameter's text is as it was before tags existed (ADR 0014: its SM3 unchanged)
    assert text.count('"tag"') == len(tags)


# --- capture at completion -------------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.4.3.3.f", "TJ-6.4.3.4")
def test_without_a_historian_the_operator_enters_the_values_and_the_binding_is_kept(db: Database) -> None:
    assert not historian_seam.registered()
    order_no, started = _started(db)
    with db.sessions() as session:  # the control recipe keeps the binding
        body = execution.control_body(session, execution.get_order(session, order_no))
        assert body.unit_procedures[0].operations[0].steps[0].parameters[0].tag == SHELF
    row = _complete(db, order_no, started + timedelta(minutes=20),
                    {"values": {"shelf": "-10.2", "pressure": "15", "load": "1000"}})  # fmt: skip
    record = json.loads(row.record)
    assert record["source"] == "manual"
    assert record["values"]["shelf"] == {"value": "-10.2", "unit": "°C", "flag": "ok", "comment": "",
                                         "source": "manual", "tag": SHELF}  # fmt: skip
    assert "tag" not in record["values"]["load"] and "captured" not in record
    with db.sessions() as session:
        lines = ebr.batch_record(session, execution.get_order(session, order_no)).steps[0].values
    assert lines[0].value == f"-10.2 [{SHELF}: manual]"


@pytest.mark.clause("TJ-6.4.3.3.f", "TJ-6.4.3.4")
def test_a_registered_historian_supplies_the_values_over_the_steps_window(
    db: Database, historian: Historian
) -> None:
    order_no, started = _started(db)
    historian.write(SHELF, started - timedelta(minutes=5), "-30")  # before the step: not its window
    historian.write(SHELF, started + timedelta(minutes=5), "-10.4", "-9.8", "-10.1")
    historian.write(SHELF, started + timedelta(minutes=6), "99", quality="bad")  # a sensor fault: left out
    historian.write(PRESSURE, started + timedelta(minutes=5), "14", "16")
    row = _complete(db, order_no, started + timedelta(minutes=20), {"values": {"load": "1000"}})
    record = json.loads(row.record)
    shelf = record["values"]["shelf"]
    assert (shelf["source"], shelf["tag"], shelf["min"], shelf["max"], shelf["count"], shelf["rejected"]) == (
        "historian",
        SHELF,
        "-10.4",
        "-9.8",
        3,
        1,
    )
    assert shelf["value"] == shelf["mean"] == "-10.1" and shelf["flag"] == "ok"
    assert record["values"]["pressure"]["mean"] == "15" and record["values"]["load"]["value"] == "1000"
    assert record["source"] == "mixed" and record["captured"]["from"] and record["captured"]["to"]
    assert _counts(db, order_no)[0] == 0
    with db.sessions() as session:
        lines = ebr.batch_record(session, execution.get_order(session, order_no)).steps[0].values
    assert lines[0].value == f"-10.1 [{SHELF}: -10.4 ~ -9.8, n=3]"


@pytest.mark.clause("TJ-6.4.3.3.f", "TJ-6.4.3.4", "TJ-6.4.3.3.i")
def test_a_captured_excursion_needs_a_comment_and_raises_an_exception(
    db: Database, historian: Historian
) -> None:
    order_no, started = _started(db)
    historian.write(SHELF, started + timedelta(minutes=5), "-10", "-4.5")  # above the action high of −5
    historian.write(PRESSURE, started + timedelta(minutes=5), "15")
    at = started + timedelta(minutes=20)
    before = _counts(db, order_no)
    with pytest.raises(CommentRequired, match="comment"):
        _complete(db, order_no, at, {"values": {"load": "1000"}})
    with pytest.raises(ValidationFailed) as typed:  # a captured value is not typed over
        _complete(db, order_no, at, {"values": {"load": "1000", "shelf": "-10"}})
    assert typed.value.params["tag"] == SHELF
    assert _counts(db, order_no) == before  # refused: nothing changed
    row = _complete(
        db, order_no, at, {"values": {"load": "1000"}, "comments": {"shelf": "板层控温阀波动，已报告"}}
    )
    assert json.loads(row.record)["values"]["shelf"]["flag"] == "action"
    with db.sessions() as session:
        found = execution.exceptions_of(session, execution.get_order(session, order_no))
    assert [e.kind for e in found] == ["limit_excursion"]
    params = json.loads(found[0].params)
    assert (params["tag"], params["low"], params["high"], params["count"]) == (SHELF, "-10", "-4.5", "2")
    assert found[0].evidence == "板层控温阀波动，已报告"


@pytest.mark.clause("TJ-6.4.3.3.f", "TJ-6.4.3.4")
def test_a_tag_the_historian_has_no_values_for_is_entered_by_hand(db: Database, historian: Historian) -> None:
    order_no, started = _started(db)
    historian.write(PRESSURE, started + timedelta(minutes=5), "15")  # nothing for the shelf temperature
    at = started + timedelta(minutes=20)
    before = _counts(db, order_no)
    with pytest.raises(EvidenceMissing) as missing:
        _complete(db, order_no, at, {"values": {"load": "1000"}})
    assert missing.value.params["code"] == "shelf" and _counts(db, order_no) == before
    row = _complete(db, order_no, at, {"values": {"load": "1000", "shelf": "-10"}})
    values = json.loads(row.record)["values"]
    assert values["shelf"]["source"] == "manual" and values["pressure"]["source"] == "historian"


@pytest.mark.clause("TJ-6.4.3.3.f")
def test_the_step_page_shows_the_binding_and_how_the_values_come(db: Database) -> None:
    order_no, _started_at = _started(db)
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": OPERATOR, "password": PW})
        page = client.get(f"/mes/batches/{order_no}/steps/L-CPP")
        assert page.status_code == 200
        assert 'data-testid="tags"' in page.text and SHELF in page.text and PRESSURE in page.text
        assert 'data-testid="historian-manual"' in page.text
        historian_seam.register(Historian())
        try:
            page = client.get(f"/mes/batches/{order_no}/steps/L-CPP")
        finally:
            historian_seam.register(None)
        assert 'data-testid="historian-manual"' not in page.text
        assert 'name="value__load" required' in page.text
        assert 'name="value__shelf" required' not in page.text
