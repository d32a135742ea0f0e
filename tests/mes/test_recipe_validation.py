"""A master recipe body is checked whole: each refusal names the step and the field, and changes nothing
(TJ-6.4.3.1, TJ-6.1)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from helpers import principal
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import recipes
from pharmatrace.mes.recipe_demo import demo_body
from pharmatrace.mes.recipe_models import MasterRecipe, MasterRecipeVersion
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database

Data = dict[str, Any]


def _body() -> Data:
    data = demo_body().model_dump(mode="json")
    data["recipe_code"] = "MR-DH-TEST"
    return data


def _step(data: Data, code: str) -> Data:
    for unit in data["unit_procedures"]:
        for operation in unit["operations"]:
            for step in operation["steps"]:
                if step["code"] == code:
                    return step  # type: ignore[no-any-return]
    raise KeyError(code)


def _operation(data: Data, code: str) -> Data:
    for unit in data["unit_procedures"]:
        for operation in unit["operations"]:
            if operation["code"] == code:
                return operation  # type: ignore[no-any-return]
    raise KeyError(code)


def _cycle(data: Data) -> None:
    _step(data, "EXT-LC")["predecessors"] = ["EXT-DE"]  # the last step of the operation before the first


def _operation_cycle(data: Data) -> None:
    _operation(data, "EXT-10")["predecessors"] = ["PKG-10"]


def _unknown_predecessor(data: Data) -> None:
    _step(data, "FIL-CPP")["predecessors"] = ["FIL-C", "SF-CPP9"]


def _unordered_limits(data: Data) -> None:
    _step(data, "LYO-CPP2")["parameters"][1]["alert_high"] = "25"  # above the action high of 20


def _weighing_without_bom_item(data: Data) -> None:
    _step(data, "EXT-W2")["material_code"] = None


def _unknown_material(data: Data) -> None:
    data["bom"][2]["material_code"] = "EXC-NONE-01"
    _step(data, "CMP-ID")["materials"] = ["EXC-NONE-01"]
    _step(data, "CMP-W")["material_code"] = "EXC-NONE-01"
    _step(data, "CMP-C")["material_code"] = "EXC-NONE-01"


def _duplicate_step_code(data: Data) -> None:
    _step(data, "CAP-IPC")["code"] = "CAP-CPP"


def _cpp_without_limits(data: Data) -> None:
    for parameter in _step(data, "CAP-CPP")["parameters"]:
        parameter["action_low"] = parameter["action_high"] = None


def _unknown_room(data: Data) -> None:
    _operation(data, "LYO-10")["room"] = "RM-NONE"


def _bom_on_a_cpp_step(data: Data) -> None:
    data["bom"][0]["step"] = "EXT-CPP1"


# Each bad body: (case, the change to the demo body, the step or BOM line named, the field named, what is said).
CASES: tuple[tuple[str, Callable[[Data], None], str, str, str], ...] = (
    ("cycle", _cycle, "EXT-LC", "predecessors", "the predecessors form a cycle"),
    ("operation cycle", _operation_cycle, "EXT-10", "predecessors", "the predecessors form a cycle"),
    ("unknown predecessor", _unknown_predecessor, "FIL-CPP", "predecessors", "SF-CPP9 does not exist"),
    ("unordered limits", _unordered_limits, "LYO-CPP2", "parameters.chamber_pressure", "not in order"),
    (
        "weighing without BOM item",
        _weighing_without_bom_item,
        "EXT-W2",
        "material_code",
        "names the BOM item",
    ),
    ("unknown material", _unknown_material, "BOM 3 (EXC-NONE-01)", "material_code", "no usable material"),
    ("duplicate step code", _duplicate_step_code, "CAP-CPP", "code", "used twice"),
    (
        "CPP without action limits",
        _cpp_without_limits,
        "CAP-CPP",
        "parameters.capping_force",
        "action limits",
    ),
    ("unknown room", _unknown_room, "LYO-10", "room", "no room RM-NONE"),
    ("BOM on a CPP step", _bom_on_a_cpp_step, "BOM 1 (DP-DS-001)", "step", "neither weighs nor charges"),
)


def _state(db: Database) -> tuple[int, int, int, list[str]]:
    with db.sessions() as session:
        return (
            int(session.scalar(select(func.count()).select_from(MasterRecipe)) or 0),
            int(session.scalar(select(func.count()).select_from(MasterRecipeVersion)) or 0),
            int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0),
            list(session.scalars(select(MasterRecipeVersion.body_sm3).order_by(MasterRecipeVersion.id))),
        )


@pytest.mark.clause("TJ-6.4.3.1", "TJ-6.1")
def test_a_refused_import_names_the_step_and_field_and_changes_nothing(db: Database) -> None:
    """Every case of CASES on one database: each import is refused naming its step (or BOM line) and field, and
    no recipe, version or audit entry is written (so the next case starts from the same plant). Every case that
    differs is named."""
    author = principal(db, "lina")
    failures: list[str] = []
    for case, change, where, field, says in CASES:
        data = _body()
        change(data)
        body = RecipeBody.model_validate(data)
        before = _state(db)
        wrong: list[str] = []
        try:
            with UnitOfWork(db, author.actor) as uow:
                recipes.import_draft(uow, body)
                uow.commit()
        except recipes.RecipeInvalid as refused:
            named = (refused.params["where"], refused.params["field"])
            if named != (where, field):
                wrong.append(f"named {named}, expected {(where, field)}")
            if says not in str(refused) or not str(refused).startswith(f"{where}, {field}: "):
                wrong.append(f"said {str(refused)!r}, expected “{where}, {field}: …{says}…”")
        except Exception as other:  # named with its case below
            wrong.append(f"raised {other!r} instead of RecipeInvalid")
        else:
            wrong.append("accepted")
        if _state(db) != before:
            wrong.append("changed the recipes or the audit trail")
        if wrong:
            failures.append(f"{case}: " + "; ".join(wrong))
    assert failures == []


@pytest.mark.clause("TJ-6.4.3.1")
def test_a_refused_body_leaves_the_draft_as_it_was(db: Database) -> None:
    author = principal(db, "lina")
    with UnitOfWork(db, author.actor) as uow:
        draft = recipes.new_version(uow, "MR-DH-001", "try a change").id
        uow.commit()
    before = _state(db)
    data = demo_body().model_dump(mode="json")
    _cycle(data)
    with (
        pytest.raises(recipes.RecipeInvalid, match="cycle"),
        UnitOfWork(db, author.actor, reason="a broken change") as uow,
    ):
        recipes.replace_body(uow, draft, RecipeBody.model_validate(data))
        uow.commit()
    assert _state(db) == before


@pytest.mark.clause("TJ-6.4.3.1")
def test_the_schema_refuses_wrong_types_and_quantities_at_the_edge() -> None:
    for change in (
        lambda d: d["bom"][0].update(quantity="0"),
        lambda d: d["bom"][0].update(quantity="-1"),
        lambda d: _step(d, "EXT-LC").update(type="dance"),
        lambda d: _step(d, "EXT-LC").update(signoff="anyone"),
        lambda d: d.update(unit_procedures=[]),
        lambda d: d.update(extra_field=1),
    ):
        data = copy.deepcopy(_body())
        change(data)
        with pytest.raises(ValidationError):
            RecipeBody.model_validate(data)
