"""The batch's finished product handed to the warehouse at completion (成品交库): a lot in quarantine numbered as
the batch, with the good quantity and the dates, in the completion's transaction, audited, its event published,
never twice; nothing on a failed completion (TJ-6.3.4, TJ-9.1, TJ-5.2.1.2)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from handover_plant import complete, started_batch
from sqlalchemy import func, select

from demo_codes import demo_codes
from helpers import actor, audit_entries
from pharmatrace.kernel import clock, events
from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, handover, packaging
from pharmatrace.storage.engine import Database
from pharmatrace.wms import lots, production
from pharmatrace.wms.models import Lot
from pharmatrace.wms.stock_models import StockBalance


def _lots(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Lot)) or 0)


@pytest.fixture
def heard() -> Iterator[list[handover.BatchHandedOver]]:
    got: list[handover.BatchHandedOver] = []

    def handler(_uow: UnitOfWork, event: handover.BatchHandedOver) -> None:
        got.append(event)

    events.subscribe(handover.BatchHandedOver, handler)
    yield got
    events._HANDLERS[handover.BatchHandedOver].remove(handler)


class _Refuse(Exception):
    pass


@pytest.mark.clause("TJ-6.3.4", "TJ-9.1", "TJ-5.2.1.2")
def test_completion_hands_the_product_over_once_and_a_failed_completion_nothing(
    db: Database, heard: list[handover.BatchHandedOver]
) -> None:
    batch = started_batch(db)
    before = _lots(db)

    def refuse(_uow: UnitOfWork, _event: handover.BatchHandedOver) -> None:
        raise _Refuse("the traceability area refuses")

    events.subscribe(handover.BatchHandedOver, refuse)  # a failure in the completion's transaction
    try:
        with pytest.raises(_Refuse):
            complete(db, batch)
    finally:
        events._HANDLERS[handover.BatchHandedOver].remove(refuse)
    with db.sessions() as session:
        assert execution.get_order(session, batch).status == "in_progress"
        assert production.lot_of_batch(session, batch) is None and _lots(db) == before
    heard.clear()
    complete(db, batch)
    with db.sessions() as session:
        order = execution.get_order(session, batch)
        lot = production.lot_of_batch(session, batch)
        assert order.status == "completed" and lot is not None and _lots(db) == before + 1
        made = clock.to_beijing(order.started_at).date()  # type: ignore[arg-type]
        assert (lot.material.code, lot.material.kind, lot.status, lot.quantity, lot.unit, lot.supplier_lot) == (
            "FG-DH-0200", "finished_good", "quarantine", Decimal("1200.000"), "支", batch)  # fmt: skip
        assert (lot.manufacture_date, lot.expiry_date) == (made, lots.add_months(made, 24))
        assert lot.supplier.code == production.OWN_SUPPLIER and [c.code for c in lot.containers] == [
            f"{batch}-001"
        ]
        balance = session.get(StockBalance, lot.containers[0].id)
        assert balance is not None and balance.quantity == Decimal("1200.000")  # in the receiving area
        lot_id = lot.id
    assert [(e.event, e.batch_no, e.lot_id, e.quantity) for e in heard] == [
        ("mes.batch.handed_over", batch, lot_id, Decimal("1200.000"))
    ]
    trail = audit_entries(db, object_type="lot", object_id=str(lot_id))
    assert trail and trail[0].event == "create" and trail[0].actor_login == "zhangwei"
    with UnitOfWork(db, actor(db, "zhouqiang"), reason="test: hand over again") as uow:  # idempotent
        again = handover.hand_over(uow, execution.get_order(uow.session, batch))
        uow.commit()
        assert again is not None and again.id == lot_id
    assert _lots(db) == before + 1 and len(heard) == 1


@pytest.mark.clause("TJ-6.3.4", "TJ-9.1", "TJ-6.4.6")
def test_the_demo_batch_handed_over_its_packaged_quantity_and_refusals_change_nothing(db: Database) -> None:
    batch = demo_codes(db).batch_done
    with db.sessions() as session:
        order = execution.get_order(session, batch)
        record = packaging.record_of(session, order)
        assert record is not None
        balance = packaging.balance_of(session, record)
        lot = production.lot_of_batch(session, order.batch_no)
        assert balance is not None and lot is not None
        assert (lot.quantity, lot.manufacture_date, lot.expiry_date) == (
            balance.finished, record.manufacture_date, record.expiry_date)  # fmt: skip
        assert order.completed_at is not None  # in the completion's transaction, at the seed's time
        assert abs((lot.created_at - order.completed_at).total_seconds()) < 1
    before = _lots(db)
    output = production.ProductionOutput(product_code="IM-DH-SOL", batch_no="DH-T-0001", quantity=Decimal(5),
                                         manufacture_date=date(2026, 11, 1), expiry_date=None)  # fmt: skip
    zero = production.ProductionOutput(product_code="FG-DH-0200", batch_no="DH-T-0002", quantity=Decimal(0),
                                       manufacture_date=date(2026, 11, 1), expiry_date=None)  # fmt: skip
    for data, message in ((output, "not a finished-good material"), (zero, "no good quantity")):
        with (
            UnitOfWork(db, actor(db, "zhouqiang"), reason="test") as uow,
            pytest.raises(ValidationFailed, match=message),
        ):
            production.stock_in_finished(uow, data)
    assert _lots(db) == before
