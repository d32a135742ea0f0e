"""Batch numbers carry the month the order is created in, in Beijing time (TJ-6.4.3.2, SH-6.2.1): the demo's
history was numbered under the seed clock (ADR 0015), an order created now takes the real month, and a number
created just after midnight in Beijing (still the day before in UTC) takes the Beijing month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from helpers import principal
from pharmatrace.kernel import clock
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import batch_numbers, execution
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.mes.execution_schemas import OrderCreate
from pharmatrace.storage.engine import Database


@pytest.mark.clause("TJ-6.4.3.2", "SH-6.2.1")
def test_an_order_created_now_is_numbered_in_the_current_beijing_month(db: Database) -> None:
    assert clock.seed_clock() is None
    lina = principal(db, "lina")
    with UnitOfWork(db, lina.actor) as uow:
        order = execution.create_order(uow, lina, OrderCreate.model_validate(
            {"recipe_code": "MR-DH-001", "batch_size": "10000", "planned_start": "2026-12-01",
             "planned_end": "2026-12-04"}))  # fmt: skip
        uow.commit()
        number, created = order.batch_no, order.created_at
    local = clock.to_beijing(clock.now())
    # the default rule DH{yy}{mm}{seq:03}
    assert number.startswith(f"DH{local.year % 100:02d}{local.month:02d}")
    assert clock.now() - created < timedelta(minutes=5)  # stamped with the real time, not the seed clock's
    with db.sessions() as session:  # the demo's completed batch keeps the month of its (seeded) creation
        first = session.scalar(select(BatchOrder).order_by(BatchOrder.id).limit(1))
        assert first is not None
        then = clock.to_beijing(first.created_at)
        assert first.batch_no.startswith(f"DH{then.year % 100:02d}{then.month:02d}")
    assert number != first.batch_no


@pytest.mark.clause("TJ-6.4.3.2", "SH-6.2.1")
def test_the_month_and_the_serial_are_those_of_the_moment_in_beijing(db: Database) -> None:
    new_year = datetime(2030, 12, 31, 16, 30, tzinfo=UTC)  # 2031-01-01 00:30 in Beijing
    assert batch_numbers.render("DH{yyyy}{mm}{dd}{seq:03}", new_year, 7) == "DH20310101007"
    with UnitOfWork(db, principal(db, "lina").actor) as uow:  # drawn, not committed
        first = batch_numbers.next_batch_number(uow.session, new_year)
        second = batch_numbers.next_batch_number(uow.session, new_year)
        before_midnight = new_year - timedelta(hours=1)  # 2030-12-31 23:30 in Beijing
        earlier = batch_numbers.next_batch_number(uow.session, before_midnight)
    assert (first, second, earlier) == ("DH3101001", "DH3101002", "DH3012001")
