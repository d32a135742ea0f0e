"""Line clearance after production (TJ-6.4.5, TJ-B.2.3.3): a clearance step's phase (``before``, the default,
left out of the canonical recipe text; or ``after``); the next batch's clearance in a room is refused while the
previous batch's clearance after production there is not done and verified (nothing changes), allowed once it
is; a batch completes only with its clearances after production; the batch record shows each phase."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from helpers import audit_entries, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import ebr, execution, recipes
from pharmatrace.mes.execution_models import BatchSignoff, StepExecution
from pharmatrace.mes.execution_schemas import OrderCreate, StepComplete
from pharmatrace.mes.recipe_models import MasterRecipeVersion
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

CODE = "MR-T-CLR-001"
OPERATOR, VERIFIER = "zhangwei", "lina"
PW = DEMO_PASSWORD
ROOM = "RM-PREP"
RECIPE: dict[str, Any] = {
    "recipe_code": CODE, "product_code": "FG-T-CLR", "product_name": "清场测试冻干粉", "batch_size": "1000",
    "batch_unit": "支", "mpr_number": "MPR-DH-001",
    "unit_procedures": [
        {"code": "UP-C", "name": "配液", "operations": [
            {"code": "OP-C1", "name": "配液", "room": ROOM, "steps": [
                {"code": "C-LC", "name": "生产前清场确认", "type": "line_clearance", "instruction": "确认清场",
                 "sop": "SOP-QA-001", "checks": ["无上批物料", "清场合格证有效"], "signoff": "operator_verifier"},
                {"code": "C-IN", "name": "配液", "type": "instruction", "instruction": "按规程配液",
                 "signoff": "none"},
                {"code": "C-ALC", "name": "生产结束清场", "type": "line_clearance", "phase": "after",
                 "instruction": "清除本批物料、文件", "sop": "SOP-QA-001",
                 "checks": ["本批物料已移出", "房间已清洁"], "signoff": "operator_verifier"},
            ]},
        ]},
    ],
}  # fmt: skip


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as test_client:
        yield test_client


def _approved_recipe(db: Database, body: dict[str, Any] = RECIPE) -> None:
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


def _released(db: Database) -> str:
    lina = principal(db, VERIFIER)
    with UnitOfWork(db, lina.actor) as uow:
        order = execution.create_order(uow, lina, OrderCreate.model_validate(
            {"recipe_code": CODE, "batch_size": "1000", "planned_start": "2026-12-01", "planned_end": "2026-12-02"}))  # fmt: skip
        execution.release(uow, lina, order, password=PW, login=VERIFIER)
        uow.commit()
        return order.order_no


def _do(db: Database, login: str, action: str, order_no: str, code: str, data: Any = None) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        order = execution.get_order(uow.session, order_no)
        if action == "start":
            execution.start(uow, who, order, code)
        elif action == "complete":
            execution.complete(uow, who, order, code, StepComplete.model_validate(data))
        else:
            execution.sign_step(uow, who, order, code, password=PW, login=login)
        uow.commit()


CHECKS = {"password": PW, "login": OPERATOR, "checks": ["pass", "pass"]}


def _clearance(db: Database, order_no: str, code: str, *, sign: bool = True) -> None:
    _do(db, OPERATOR, "start", order_no, code)
    _do(db, OPERATOR, "complete", order_no, code, CHECKS)
    if sign:
        _do(db, VERIFIER, "sign", order_no, code)


def _status(db: Database, order_no: str) -> tuple[str, str]:
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        return order.status, order.batch_no


def _counts(db: Database, order_no: str) -> tuple[int, int, int, str, str]:
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        row = execution.step_of(session, order, "C-LC")
        signoffs = session.scalar(
            select(func.count()).select_from(BatchSignoff).where(BatchSignoff.batch_order_id == order.id)
        )
        done = session.scalar(select(func.count()).select_from(StepExecution).where(
            StepExecution.batch_order_id == order.id, StepExecution.state == "done"))  # fmt: skip
        return len(audit_entries(db)), int(signoffs or 0), int(done or 0), row.state, row.record


@pytest.mark.clause("TJ-6.4.5", "TJ-B.2.3.3")
def test_the_next_batch_is_not_cleared_into_a_room_before_the_previous_batch_is_cleared_out(
    db: Database,
) -> None:
    _approved_recipe(db)
    first, second = _released(db), _released(db)
    _clearance(db, first, "C-LC")
    _do(db, OPERATOR, "start", first, "C-IN")
    _do(db, OPERATOR, "complete", first, "C-IN", {"acknowledged": True})
    _clearance(db, first, "C-ALC", sign=False)  # performed, not yet verified
    status, first_batch = _status(db, first)
    assert status == "in_progress"  # the batch completes only with its clearance after production verified
    _do(db, OPERATOR, "start", second, "C-LC")
    before = _counts(db, second)
    with pytest.raises(execution.StepRefused) as refused:
        _do(db, OPERATOR, "complete", second, "C-LC", CHECKS)
    assert refused.value.params == {"room": ROOM, "batch": first_batch, "clearance": "C-ALC"}
    assert ROOM in str(refused.value) and first_batch in str(refused.value)
    assert _counts(db, second) == before and before[3] == "in_progress"  # nothing changed
    # verified: the first batch completes with it, and the room is cleared for the second
    _do(db, VERIFIER, "sign", first, "C-ALC")
    assert _status(db, first)[0] == "completed"
    _do(db, OPERATOR, "complete", second, "C-LC", CHECKS)
    with db.sessions() as session:
        order = execution.get_order(session, second)
        record = json.loads(execution.step_of(session, order, "C-LC").record)
        assert record["clearance"]["phase"] == "before" and record["clearance"]["room"] == ROOM
        after = json.loads(execution.step_of(session, execution.get_order(session, first), "C-ALC").record)
        assert after["clearance"]["phase"] == "after"


@pytest.mark.clause("TJ-6.4.5")
def test_a_batch_that_has_not_used_the_room_holds_nothing_up(db: Database) -> None:
    """The first batch released but not yet in the room: the second is cleared in; then the first waits for
    the second's clearance after production."""
    _approved_recipe(db)
    first, second = _released(db), _released(db)
    _clearance(db, second, "C-LC")
    _do(db, OPERATOR, "start", second, "C-IN")
    _do(db, OPERATOR, "complete", second, "C-IN", {"acknowledged": True})
    _do(db, OPERATOR, "start", first, "C-LC")
    with pytest.raises(execution.StepRefused) as refused:
        _do(db, OPERATOR, "complete", first, "C-LC", CHECKS)
    assert refused.value.params["batch"] == _status(db, second)[1]
    _clearance(db, second, "C-ALC")
    _do(db, OPERATOR, "complete", first, "C-LC", CHECKS)
    assert _status(db, second)[0] == "completed"


@pytest.mark.clause("TJ-6.4.5")
def test_the_phase_is_left_out_of_the_canonical_text_at_its_default(db: Database) -> None:
    # every stored version keeps its text and its SM3 (versions written before the phase existed)
    with db.sessions() as session:
        versions = list(session.scalars(select(MasterRecipeVersion)))
    assert versions
    for version in versions:
        assert recipes.canonical_body(recipes.body_of(version)) == version.body
        assert recipes.body_hash(version.body) == version.body_sm3
    explicit = copy.deepcopy(RECIPE)
    implicit = copy.deepcopy(RECIPE)
    explicit["unit_procedures"][0]["operations"][0]["steps"][0]["phase"] = "before"
    text = recipes.canonical_body(RecipeBody.model_validate(explicit))
    assert text == recipes.canonical_body(RecipeBody.model_validate(implicit))
    steps = json.loads(text)["unit_procedures"][0]["operations"][0]["steps"]
    assert "phase" not in steps[0] and steps[2]["phase"] == "after"


@pytest.mark.clause("TJ-6.4.5")
def test_a_phase_only_on_a_line_clearance_and_after_only_in_a_room() -> None:
    on_instruction = copy.deepcopy(RECIPE)
    on_instruction["unit_procedures"][0]["operations"][0]["steps"][1]["phase"] = "after"
    with pytest.raises(recipes.RecipeInvalid) as wrong:
        recipes.check_structure(RecipeBody.model_validate(on_instruction))
    assert wrong.value.params["where"] == "C-IN" and wrong.value.params["field"] == "phase"
    roomless = copy.deepcopy(RECIPE)
    del roomless["unit_procedures"][0]["operations"][0]["room"]
    with pytest.raises(recipes.RecipeInvalid) as no_room:
        recipes.check_structure(RecipeBody.model_validate(roomless))
    assert no_room.value.params["where"] == "C-ALC"
    recipes.check_structure(RecipeBody.model_validate(RECIPE))


@pytest.mark.clause("TJ-B.2.3.3", "TJ-6.4.5")
def test_the_batch_record_shows_each_clearance_with_its_phase(db: Database, client: TestClient) -> None:
    _approved_recipe(db)
    order_no = _released(db)
    _clearance(db, order_no, "C-LC")
    _do(db, OPERATOR, "start", order_no, "C-IN")
    _do(db, OPERATOR, "complete", order_no, "C-IN", {"acknowledged": True})
    _clearance(db, order_no, "C-ALC")
    with db.sessions() as session:
        record = ebr.batch_record(session, execution.get_order(session, order_no))
    phases = {s.code: s.clearance_phase for s in record.steps}
    assert phases == {"C-LC": "before", "C-IN": "", "C-ALC": "after"}
    page = client.get(f"/mes/batches/{order_no}/record", headers=token(client, "inspector"))
    assert page.status_code == 200
    assert 'data-testid="ebr-phase-C-LC"' in page.text and 'data-testid="ebr-phase-C-ALC"' in page.text
    assert 'data-testid="ebr-phase-C-IN"' not in page.text
    pdf = client.get(f"/mes/batches/{order_no}/record.pdf", headers=token(client, "inspector"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
