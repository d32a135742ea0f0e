"""A one-step batch of the demo product, for the hand-over and release tests: its recipe (FG-DH-0200, counted in
支, no packaging stage) approved, the order released and its step started — completing it completes the batch."""

from __future__ import annotations

from typing import Any

from helpers import principal
from mes.batch_steps import approved_recipe
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution
from pharmatrace.mes.execution_models import StepExecution
from pharmatrace.mes.execution_schemas import OrderCreate, StepComplete
from pharmatrace.storage.engine import Database

CODE = "MR-T-HO"
STEP = "H-IN"
OPERATOR = "zhangwei"
RECIPE: dict[str, Any] = {
    "recipe_code": CODE, "product_code": "FG-DH-0200", "product_name": "注射用丹红冻干粉 200 mg/支",
    "batch_size": "1200", "batch_unit": "支", "mpr_number": "MPR-DH-001",
    "unit_procedures": [{"code": "UP-H", "name": "交库", "operations": [
        {"code": "OP-H1", "name": "成品交库", "room": "RM-WEIGH", "steps": [
            {"code": STEP, "name": "确认", "type": "instruction", "instruction": "确认成品数量", "signoff": "none"},
        ]},
    ]}],
}  # fmt: skip


def started_batch(db: Database, operator_login: str = OPERATOR) -> str:
    """The batch number of a released one-step batch whose step ``operator_login`` started."""
    approved_recipe(db, RECIPE)
    author = principal(db, "lina")
    with UnitOfWork(db, author.actor) as uow:
        order = execution.create_order(uow, author, OrderCreate.model_validate(
            {"recipe_code": CODE, "batch_size": "1200", "planned_start": "2026-12-01", "planned_end": "2026-12-02"}))  # fmt: skip
        execution.release(uow, author, order, password=DEMO_PASSWORD, login=author.login)
        uow.commit()
        batch_no = order.batch_no
    operator = principal(db, operator_login)
    with UnitOfWork(db, operator.actor) as uow:
        execution.start(uow, operator, execution.get_order(uow.session, batch_no), STEP)
        uow.commit()
    return batch_no


def complete(db: Database, batch_no: str, login: str = OPERATOR) -> StepExecution:
    """Complete the batch's one step (and so the batch)."""
    operator = principal(db, login)
    with UnitOfWork(db, operator.actor) as uow:
        row = execution.complete(
            uow, operator, execution.get_order(uow.session, batch_no), STEP, StepComplete(acknowledged=True)
        )
        uow.commit()
        return row
