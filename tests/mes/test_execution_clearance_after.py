"""Line clearance after production (TJ-6.4.5, TJ-B.2.3.3): a clearance step's phase (``before``, the default,
left out of the canonical recipe text; or ``after``); the next batch's clearance in a room is refused while the
previous batch's clearance after production there is not done and verified (nothing changes), allowed once it
is; a batch completes only with its clearances after production; the batch record shows each phase."""

from __future__ import annotations

import copy
import json
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
from sqlalchemy import func, select

from helpers import audit_entries, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.mes import ebr, execution, recipes
from pharmatrace.mes.execution_models import BatchSignoff, StepExecution
from pharmatrace.mes.recipe_models import MasterRecipeVersion
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database

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


CHECKS = signed({"checks": ["pass", "pass"]})


def _clearance(db: Database, order_no: str, code: str, *, sign: bool = True) -> None:
    do(db, OPERATOR, "start", order_no, code)
    do(db, OPERATOR, "complete", order_no, code, CHECKS)
    if sign:
        do(db, VERIFIER, "sign", order_no, code)


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
    approved_recipe(db, RECIPE)
    first, second = released(db, CODE), released(db, CODE)
    _clearance(db, first, "C-LC")
    do(db, OPERATOR, "start", first, "C-IN")
    do(db, OPERATOR, "complete", first, "C-IN", {"acknowledged": True})
    _clearance(db, first, "C-ALC", sign=False)  # performed, not yet verified
    status, first_batch = _status(db, first)
    assert status == "in_progress"  # the batch completes only with its clearance after production verified
    do(db, OPERATOR, "start", second, "C-LC")
    before = _counts(db, second)
    with pytest.raises(execution.StepRefused) as refused:
        do(db, OPERATOR, "complete", second, "C-LC", CHECKS)
    assert refused.value.params == {"room": ROOM, "batch": first_batch, "clearance": "C-ALC"}
    assert ROOM in str(refused.value) and first_batch in str(refused.value)
    assert _counts(db, second) == before and before[3] == "in_progress"  # nothing changed
    # verified: the first batch completes with it, and the room is cleared for the second
    do(db, VERIFIER, "sign", first, "C-ALC")
    assert _status(db, first)[0] == "completed"
    do(db, OPERATOR, "complete", second, "C-LC", CHECKS)
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
    approved_recipe(db, RECIPE)
    first, second = released(db, CODE), released(db, CODE)
    _clearance(db, second, "C-LC")
    do(db, OPERATOR, "start", second, "C-IN")
    do(db, OPERATOR, "complete", second, "C-IN", {"acknowledged": True})
    do(db, OPERATOR, "start", first, "C-LC")
    with pytest.raises(execution.StepRefused) as refused:
        do(db, OPERATOR, "complete", first, "C-LC", CHECKS)
    assert refused.value.params["batch"] == _status(db, second)[1]
    _clearance(db, second, "C-ALC")
    do(db, OPERATOR, "complete", first, "C-LC", CHECKS)
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
    approved_recipe(db, RECIPE)
    order_no = released(db, CODE)
    _clearance(db, order_no, "C-LC")
    do(db, OPERATOR, "start", order_no, "C-IN")
    do(db, OPERATOR, "complete", order_no, "C-IN", {"acknowledged": True})
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
