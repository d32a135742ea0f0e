"""A recipe of the test's own through the engine, for the execution, review and recipe tests: the body
approved (imported, submitted, reviewed, approved), an order of it released, each step started, completed or
signed through the service, a step's state, the order's exceptions, the signed body, and a TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, recipes
from pharmatrace.mes.execution_models import BatchException
from pharmatrace.mes.execution_schemas import OrderCreate, StepComplete
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

PW = DEMO_PASSWORD
OPERATOR = "zhangwei"
SUPERVISOR = "lina"


def approved_recipe(db: Database, body: dict[str, Any]) -> int:
    """Import, submit, review and approve a recipe body; the version's id."""
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
    return version_id


def released(db: Database, recipe_code: str) -> str:
    """The order number of an order of the approved recipe (1000), created and released by the supervisor."""
    lina = principal(db, SUPERVISOR)
    with UnitOfWork(db, lina.actor) as uow:
        order = execution.create_order(uow, lina, OrderCreate.model_validate(
            {"recipe_code": recipe_code, "batch_size": "1000", "planned_start": "2026-12-01",
             "planned_end": "2026-12-02"}))  # fmt: skip
        execution.release(uow, lina, order, password=PW, login=SUPERVISOR)
        uow.commit()
        return order.order_no


def do(db: Database, login: str, action: str, order_no: str, code: str, data: Any = None) -> Any:
    """``login`` starts, completes (with ``data``) or signs (any other action) the step; the engine's result."""
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        order = execution.get_order(uow.session, order_no)
        if action == "start":
            result = execution.start(uow, who, order, code)
        elif action == "complete":
            result = execution.complete(uow, who, order, code, StepComplete.model_validate(data))
        else:
            result = execution.sign_step(uow, who, order, code, password=PW, login=login)
        uow.commit()
        return result


def state(db: Database, order_no: str, code: str) -> str:
    with db.sessions() as session:
        return execution.step_of(session, execution.get_order(session, order_no), code).state


def exceptions(db: Database, order_no: str) -> list[BatchException]:
    with db.sessions() as session:
        found = execution.exceptions_of(session, execution.get_order(session, order_no))
        session.expunge_all()
        return found


def signed(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A completion body signed by the operator, with ``extra``."""
    return {"password": PW, "login": OPERATOR, **(extra or {})}


@pytest.fixture(name="client")
def client_fixture(db: Database) -> Iterator[TestClient]:
    """A TestClient on the plant; a test module imports it (``client_fixture``) to ask for ``client``."""
    with TestClient(create_app(db)) as test_client:
        yield test_client
