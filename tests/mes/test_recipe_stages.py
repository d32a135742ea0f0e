"""The stage of a unit procedure (production, visual inspection, packaging) and the late-entry windows are
recipe settings (TJ-6.4.6, TJ-6.4.3.1, TJ-10.1.3.1): validated on import, shown on the recipe page, compared
between versions; packaging steps are found by the stage, not by a unit procedure's code. A body written before
these settings existed loads with their defaults and keeps its canonical text and SM3 (ADR 0014)."""

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
    state,
)
from fastapi.testclient import TestClient
from pydantic import ValidationError

from helpers import principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import ledger
from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, packaging, recipes
from pharmatrace.mes.packaging_schemas import PackagingRecordCreate
from pharmatrace.mes.recipe_demo import demo_body
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database

PW = DEMO_PASSWORD
OPERATOR = "zhangwei"
# A body as recipes were written before stages and late-entry windows: its canonical text's SM3, computed by
# the code of that time. The unit procedure coded UP-VI is *not* a packaging unit without its stage.
OLD_SM3 = "454ed8f6bec42bbf8d0fc4eadbb225348364d25d5553a35e1f1d58c6f25d4357"
OLD: dict[str, Any] = {
    "recipe_code": "MR-S-001", "product_code": "FG-S-001", "product_name": "阶段测试冻干粉", "batch_size": "1000",
    "batch_unit": "支", "mpr_number": "MPR-DH-001",
    "unit_procedures": [
        {"code": "UP-MIX", "name": "配制", "operations": [
            {"code": "MIX-10", "name": "配制", "room": "RM-WEIGH", "steps": [
                {"code": "MIX-IN", "name": "配制", "type": "instruction", "instruction": "按规程配制", "signoff": "none"},
            ]},
        ]},
        {"code": "UP-VI", "name": "灯检", "operations": [
            {"code": "VI-10", "name": "灯检", "steps": [
                {"code": "VI-DE", "name": "灯检记录", "type": "data_entry", "instruction": "记录灯检结果",
                 "signoff": "none", "parameters": [{"code": "good", "name": "合格数", "unit": "支"}]},
            ]},
        ]},
    ],
}  # fmt: skip
# The same process with stages under codes that say nothing: a light-inspection unit and a boxing unit (both
# packaging steps), and a unit coded UP-PKG that is production. Parallel branches, so each can start at once.
STAGED: dict[str, Any] = {
    "recipe_code": "MR-S-002", "product_code": "FG-S-001", "product_name": "阶段测试冻干粉", "batch_size": "1000",
    "batch_unit": "支", "mpr_number": "MPR-DH-001",
    "unit_procedures": [
        {"code": "UP-PKG", "name": "配制（编码无含义）", "stage": "production", "operations": [
            {"code": "P-10", "name": "配制", "predecessors": [], "steps": [
                {"code": "P-Y", "name": "配制收率", "type": "yield", "instruction": "计算收率", "signoff": "none",
                 "yield_limits": {"low_pct": "90", "high_pct": "100"}},
            ]},
        ]},
        {"code": "UP-LIGHT", "name": "灯检", "stage": "inspection", "operations": [
            {"code": "L-10", "name": "灯检", "predecessors": [], "steps": [
                {"code": "L-DE", "name": "灯检记录", "type": "data_entry", "instruction": "记录灯检结果",
                 "signoff": "none", "parameters": [{"code": "good", "name": "合格数", "unit": "支"}]},
            ]},
        ]},
        {"code": "UP-BOX", "name": "装盒", "stage": "packaging", "operations": [
            {"code": "B-10", "name": "装盒", "predecessors": [], "steps": [
                {"code": "B-Y", "name": "成品收率", "type": "yield", "instruction": "计算收率", "signoff": "none",
                 "yield_limits": {"low_pct": "95", "high_pct": "100"}},
            ]},
        ]},
    ],
}  # fmt: skip


# --- a body from before --------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.4.3.1", "TJ-10.1.3.1")
def test_a_body_written_before_stages_and_windows_loads_with_defaults_and_keeps_its_sm3() -> None:
    body = RecipeBody.model_validate(OLD)
    assert [u.stage for u in body.unit_procedures] == ["production", "production"]
    assert (body.late_entry_minutes, body.late_signature_minutes) == (30, 480)
    text = recipes.canonical_body(body)
    assert recipes.body_hash(text) == OLD_SM3
    assert "stage" not in text and "late_" not in text
    # the defaults written out change nothing; other values are kept in the text
    explicit = copy.deepcopy(OLD)
    explicit.update(late_entry_minutes=30, late_signature_minutes=480)
    for unit in explicit["unit_procedures"]:
        unit["stage"] = "production"
    assert recipes.canonical_body(RecipeBody.model_validate(explicit)) == text
    explicit["unit_procedures"][1]["stage"] = "inspection"
    explicit["late_signature_minutes"] = 120
    changed = json.loads(recipes.canonical_body(RecipeBody.model_validate(explicit)))
    assert changed["unit_procedures"][1]["stage"] == "inspection" and changed["late_signature_minutes"] == 120
    assert "stage" not in changed["unit_procedures"][0] and "late_entry_minutes" not in changed


@pytest.mark.clause("TJ-6.4.3.1", "TJ-6.4.6")
def test_an_approved_version_from_before_is_released_with_its_sm3_and_has_no_packaging_step_by_code(
    db: Database,
) -> None:
    version_id = approved_recipe(db, OLD)
    with db.sessions() as session:
        version = recipes.get_version(session, version_id)
        assert version.body_sm3 == OLD_SM3 and version.body == ledger.canonical_text(json.loads(version.body))
    order_no = released(db, "MR-S-001")
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        control = execution.control_recipe_of(session, order)
        assert control is not None and control.body_sm3 == OLD_SM3
        assert execution.control_body(session, order).late_entry_minutes == 30
        assert not packaging.is_packaging_step(session, order, "VI-DE")  # the code UP-VI alone means nothing
    do(db, OPERATOR, "start", order_no, "MIX-IN")
    do(db, OPERATOR, "complete", order_no, "MIX-IN", {"acknowledged": True})
    do(db, OPERATOR, "start", order_no, "VI-DE")
    # no packaging record asked for
    do(db, OPERATOR, "complete", order_no, "VI-DE", {"values": {"good": "990"}})
    assert state(db, order_no, "VI-DE") == "done"


# --- validation ----------------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.4.3.1", "TJ-6.4.6")
def test_a_stage_or_window_out_of_its_values_is_refused_at_the_edge() -> None:
    for where, value in (("stage", "labelling"), ("late_entry_minutes", 0), ("late_signature_minutes", -5),
                         ("late_entry_minutes", 7 * 24 * 60 + 1)):  # fmt: skip
        body = copy.deepcopy(STAGED)
        if where == "stage":
            body["unit_procedures"][2]["stage"] = value
        else:
            body[where] = value
        with pytest.raises(ValidationError) as refused:
            RecipeBody.model_validate(body)
        assert where in str(refused.value)


@pytest.mark.clause("TJ-6.4.3.1", "TJ-6.4.6")
def test_a_stage_without_the_step_that_holds_its_record_is_refused_naming_the_unit() -> None:
    recipes.check_structure(RecipeBody.model_validate(STAGED))
    for unit, kind in ((1, "data_entry"), (2, "yield")):
        body = copy.deepcopy(STAGED)
        body["unit_procedures"][unit]["operations"][0]["steps"][0]["type"] = "instruction"
        with pytest.raises(recipes.RecipeInvalid) as refused:
            recipes.check_structure(RecipeBody.model_validate(body))
        code = body["unit_procedures"][unit]["code"]
        assert refused.value.params["where"] == code and refused.value.params["field"] == "stage"
        assert kind in str(refused.value)


@pytest.mark.clause("TJ-6.4.3.1", "SH-7.1.3")
def test_a_refused_import_with_a_bad_stage_stores_nothing(db: Database) -> None:
    body = copy.deepcopy(STAGED)
    body["unit_procedures"][2]["operations"][0]["steps"][0]["type"] = "instruction"
    lina = principal(db, "lina")
    with UnitOfWork(db, lina.actor) as uow, pytest.raises(recipes.RecipeInvalid):
        recipes.import_draft(uow, RecipeBody.model_validate(body), "test")
    with db.sessions() as session:
        assert recipes.usable_version(session, "MR-S-002") is None
        assert [r.code for r in recipes.list_recipes(session, text="MR-S-002")] == []


# --- packaging by the stage ------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.4.6", "TJ-B.2.3.4")
def test_packaging_steps_are_the_steps_of_the_inspection_and_packaging_stages_whatever_their_codes(
    db: Database,
) -> None:
    approved_recipe(db, STAGED)
    order_no = released(db, "MR-S-002")
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        assert packaging.packaging_steps(execution.control_body(session, order)) == {"L-DE", "B-Y"}
        assert [packaging.stage_of(session, order, c) for c in ("P-Y", "L-DE", "B-Y", "NOPE")] == [
            "production", "inspection", "packaging", ""]  # fmt: skip
    for code in ("P-Y", "L-DE", "B-Y"):
        do(db, OPERATOR, "start", order_no, code)
    who = principal(db, OPERATOR)
    data = {"step": "P-Y", "bulk_batch_no": "X", "bulk_quantity": "1000", "planned_quantity": "990", "line": "L1",
            "room": "RM-PACK", "instruction": "SOP-PR-010"}  # fmt: skip
    with UnitOfWork(db, who.actor) as uow, pytest.raises(ValidationFailed, match="not a packaging or visual"):
        packaging.open_record(uow, who, order_no, PackagingRecordCreate.model_validate(data))
    # UP-PKG: production
    do(db, OPERATOR, "complete", order_no, "P-Y", {"values": {"actual": "950", "theoretical": "1000"}})
    assert state(db, order_no, "P-Y") == "done"
    with pytest.raises(execution.EvidenceMissing, match="the packaging record is not opened"):
        do(db, OPERATOR, "complete", order_no, "B-Y", {"values": {"actual": "990", "theoretical": "1000"}})
    with pytest.raises(execution.EvidenceMissing, match="visual inspection counts"):
        do(db, OPERATOR, "complete", order_no, "L-DE", {"values": {"good": "990"}})
    assert (state(db, order_no, "B-Y"), state(db, order_no, "L-DE")) == ("in_progress", "in_progress")


@pytest.mark.clause("TJ-6.4.6", "TJ-6.4.3.1")
def test_the_demo_recipe_marks_visual_inspection_and_packaging_by_stage(db: Database) -> None:
    body = demo_body()
    stages = {u.code: u.stage for u in body.unit_procedures}
    assert stages.pop("UP-VI") == "inspection" and stages.pop("UP-PKG") == "packaging"
    assert set(stages.values()) == {"production"}
    assert packaging.packaging_steps(body) == {
        s.code
        for u in body.unit_procedures
        if u.code in ("UP-VI", "UP-PKG")
        for o in u.operations
        for s in o.steps
    }
    with db.sessions() as session:
        seeded = recipes.body_of(recipes.usable_version(session, "MR-DH-001"))  # type: ignore[arg-type]
    assert {u.code: u.stage for u in seeded.unit_procedures} == {
        u.code: u.stage for u in body.unit_procedures
    }


# --- shown and compared ----------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.4.3.1", "TJ-6.4.6", "TJ-10.1.3.1")
def test_the_recipe_page_shows_each_stage_and_the_windows_and_the_diff_names_their_changes(
    db: Database, client: TestClient
) -> None:
    approved_recipe(db, OLD)
    lina = principal(db, "lina")
    changed = copy.deepcopy(OLD)
    changed["unit_procedures"][1]["stage"] = "inspection"
    changed["late_entry_minutes"] = 15
    with UnitOfWork(db, lina.actor, reason="灯检单元标记为灯检阶段") as uow:
        draft = recipes.new_version(uow, "MR-S-001", "灯检阶段与补录时限")
        recipes.replace_body(uow, draft.id, RecipeBody.model_validate(changed))
        uow.commit()
    with db.sessions() as session:
        diff = recipes.diff(
            recipes.version_of(session, "MR-S-001", 1), recipes.version_of(session, "MR-S-001", 2)
        )
    assert [(c.where, c.field, c.old, c.new) for c in diff.changes] == [
        ("header", "late_entry_minutes", 30, 15), ("UP-VI", "stage", "production", "inspection")]  # fmt: skip
    headers = token(client, "lina")
    client.get("/lang/en")
    page = client.get("/mes/recipes/MR-S-001/v/2", headers=headers)
    assert page.status_code == 200
    assert 'data-testid="stage-UP-MIX">Production<' in page.text
    assert 'data-testid="stage-UP-VI">Visual inspection<' in page.text
    assert "more than 15 min after it was observed" in page.text and "more than 480 min after" in page.text
    compared = client.get("/mes/recipes/MR-S-001/diff", params={"old": 1, "new": 2}, headers=headers)
    assert (
        compared.status_code == 200
        and "late_entry_minutes" in compared.text
        and "inspection" in compared.text
    )
