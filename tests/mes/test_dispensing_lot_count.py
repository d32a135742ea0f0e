"""The number of lots a product is made from (TJ-6.4.1: 根据成品类别记录批次需要的中药材批号数量, 识别投产中药材是否符合
需要): a BOM line may ask for at least N different lots of its material; the weighing or charging step completes
only when that many lots were used, and says how many it has. A body without it keeps its text and SM3."""

from __future__ import annotations

from decimal import Decimal

import pytest
from dispensing_plant import containers, count_new, lot_number, new_order, release_lot, run_step
from sqlalchemy import func, select

from helpers import principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import dispensing, execution, recipes
from pharmatrace.mes.dispensing_models import MaterialCharge
from pharmatrace.mes.dispensing_schemas import ChargeCreate
from pharmatrace.mes.execution import EvidenceMissing
from pharmatrace.mes.execution_models import StepExecution
from pharmatrace.mes.execution_schemas import StepComplete
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database

CODE, MANNITOL_STEP = "MR-DH-001", "CMP-C"


def _v2_with_lots(db: Database, min_lots: int) -> None:
    """lina drafts v2 of the demo recipe asking for ``min_lots`` mannitol lots on CMP-C; zhaomin reviews,
    chenjing approves."""
    author, reviewer, approver = (principal(db, login) for login in ("lina", "zhaomin", "chenjing"))
    with UnitOfWork(db, author.actor) as uow:
        version_id = recipes.new_version(uow, CODE, "甘露醇按批号数量投料").id
        uow.commit()
    with db.sessions() as session:
        data = recipes.body_of(recipes.get_version(session, version_id)).model_dump(mode="json")
    for item in data["bom"]:
        if item["step"] == MANNITOL_STEP:
            item["min_lots"] = min_lots
    with UnitOfWork(db, author.actor, reason="甘露醇至少两个批号混合投料") as uow:
        recipes.replace_body(uow, version_id, RecipeBody.model_validate(data))
        uow.commit()
    with UnitOfWork(db, author.actor) as uow:
        recipes.submit(uow, version_id)
        uow.commit()
    with UnitOfWork(db, reviewer.actor) as uow:
        recipes.review(uow, reviewer, version_id, password=DEMO_PASSWORD, login=reviewer.login)
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        recipes.approve(uow, approver, version_id, password=DEMO_PASSWORD, login=approver.login)
        uow.commit()


def _charged(db: Database, min_lots: int) -> str:
    """A batch of v2 with CMP-C running and its whole mannitol charged from one lot; returns the batch number."""
    _v2_with_lots(db, min_lots)
    batch = new_order(db)
    release_lot(db)
    run_step(db, batch, MANNITOL_STEP)
    operator = principal(db, "zhangwei")
    with UnitOfWork(db, operator.actor) as uow:
        dispensing.charge(
            uow, operator, batch, MANNITOL_STEP, ChargeCreate(scan=containers(db)[3], quantity=Decimal("0.6"))
        )
        uow.commit()
    return batch


def _complete(db: Database, batch: str) -> None:
    operator = principal(db, "zhangwei")
    with UnitOfWork(db, operator.actor) as uow:
        order = execution.get_order(uow.session, batch)
        execution.complete(uow, operator, order, MANNITOL_STEP,
                           StepComplete(password=DEMO_PASSWORD, login="zhangwei"))  # fmt: skip
        uow.commit()


def _state(db: Database, batch: str) -> str:
    with db.sessions() as session:
        return execution.step_of(session, execution.get_order(session, batch), MANNITOL_STEP).state


@pytest.mark.clause("TJ-6.4.1")
def test_a_step_short_of_the_lots_its_product_needs_is_not_completed(db: Database) -> None:
    batch = _charged(db, min_lots=2)
    with db.sessions() as session:
        missing = dispensing.missing_evidence(session, execution.get_order(session, batch), MANNITOL_STEP)
        steps = int(session.scalar(select(func.count()).select_from(StepExecution)) or 0)
    assert missing == [
        f"EXC-MAN-01: lots used 1 ({lot_number(db)}); the product needs at least 2"
    ]  # the quantity is complete: only the lots are short
    with pytest.raises(EvidenceMissing, match="needs at least 2"):
        _complete(db, batch)
    assert _state(db, batch) == "in_progress" and count_new(db, MaterialCharge) == 1
    with db.sessions() as session:
        assert int(session.scalar(select(func.count()).select_from(StepExecution)) or 0) == steps


@pytest.mark.clause("TJ-6.4.1", "TJ-6.4.3.1")
def test_enough_lots_complete_the_step_and_a_body_without_the_rule_keeps_its_text(db: Database) -> None:
    with db.sessions() as session:
        v1 = recipes.version_of(session, CODE, 1)
        assert "min_lots" not in v1.body and recipes.body_hash(v1.body) == v1.body_sm3
    batch = _charged(db, min_lots=1)
    with db.sessions() as session:
        assert dispensing.missing_evidence(session, execution.get_order(session, batch), MANNITOL_STEP) == []
        v2 = recipes.version_of(session, CODE, 2)
        assert '"min_lots":1' in v2.body
    _complete(db, batch)
    assert _state(db, batch) == "signing"  # operator + verifier: waits for the second signature
