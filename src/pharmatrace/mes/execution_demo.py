"""Demo: one released batch order of the demo recipe (注射用丹红冻干粉), in progress (TJ-6.4).

lina (生产主管) plans and releases it to the floor with her signature; zhangwei (操作员) clears the
extraction line (QA chenjing signs the line clearance on the floor) and checks the extraction tank and the
balance before use. The batch waits at the material identification steps, so a visitor continues in the
browser as zhangwei (scan, weigh, charge — the dispensing area), then the CPP steps with lina verifying.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from pharmatrace.kernel import clock
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.mes.execution_schemas import OrderCreate, StepComplete
from pharmatrace.storage.engine import Database

RECIPE = "MR-DH-001"
SUPERVISOR, OPERATOR, QA = "lina", "zhangwei", "chenjing"


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def seed_batches(db: Database, password: str) -> int:
    """The demo batch in progress unless an order is on the floor already (the completed batch of
    :mod:`pharmatrace.mes.history_demo` is not); returns how many orders were added."""
    with db.sessions() as session:
        on_the_floor = select(BatchOrder.id).where(
            BatchOrder.status.in_(("planned", "released", "in_progress"))
        )
        if session.scalar(on_the_floor.limit(1)) is not None:
            return 0
    supervisor, operator, qa = (_principal(db, login) for login in (SUPERVISOR, OPERATOR, QA))
    today = clock.to_beijing(clock.now()).date()
    with UnitOfWork(db, supervisor.actor, reason="demo plant seed: batch order") as uow:
        order = execution.create_order(uow, supervisor, OrderCreate(
            recipe_code=RECIPE, batch_size=Decimal(10000), planned_start=today,
            planned_end=today + timedelta(days=4), note="11 月第 1 批",
        ))  # fmt: skip
        uow.commit()
        order_no = order.order_no

    def step(who: Principal, action: str, code: str, data: StepComplete | None = None) -> None:
        with UnitOfWork(db, who.actor) as uow:
            current = execution.get_order(uow.session, order_no)
            if action == "start":
                execution.start(uow, who, current, code)
            elif action == "complete":
                assert data is not None
                execution.complete(uow, who, current, code, data)
            else:
                execution.sign_step(uow, who, current, code, password=password, login=who.login,
                                    comment="现场确认")  # fmt: skip
            uow.commit()

    with UnitOfWork(db, supervisor.actor) as uow:
        execution.release(uow, supervisor, execution.get_order(uow.session, order_no), password=password,
                          login=supervisor.login, comment="物料、设备、人员已确认，下达车间")  # fmt: skip
        uow.commit()
    signed = {"password": password, "login": operator.login}
    step(operator, "start", "EXT-LC")
    step(
        operator,
        "complete",
        "EXT-LC",
        StepComplete(checks=["pass"] * 4, note="上批 DH2610 清场合格证在效期内", **signed),
    )
    step(qa, "sign", "EXT-LC")
    step(operator, "start", "EXT-PU")
    step(operator, "complete", "EXT-PU", StepComplete(checks=["pass"] * 3, **signed))
    step(operator, "start", "CMP-PU")
    step(operator, "complete", "CMP-PU", StepComplete(checks=["pass"] * 3, equipment=["BAL-01"], **signed))
    return 1
