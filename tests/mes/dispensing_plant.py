"""A batch of the demo recipe on the floor, for the dispensing tests: order released, a step running, the
mannitol lot released, the 6.2 kg balance BAL-02 calibrated again, and its simulator registered.

The step is put in progress directly (with a reason, through the unit of work): the engine's own start
with its predecessors is batch execution's to test; these tests are about what happens on the step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from helpers import principal
from pharmatrace.adapters.simulators.mtsics import MtSicsSimulator, SimulatedScale
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.equipment import service as equipment_service
from pharmatrace.equipment.models import Equipment
from pharmatrace.equipment.schemas import LogEntryCreate
from pharmatrace.kernel import clock
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import dispensing, execution
from pharmatrace.mes.dispensing_schemas import ScaleEndpointCreate
from pharmatrace.mes.execution_models import BatchOrder, StepExecution
from pharmatrace.mes.execution_schemas import OrderCreate
from pharmatrace.mes.packaging_models import PackagingRecord
from pharmatrace.storage.engine import Database
from pharmatrace.wms import lots, stock
from pharmatrace.wms.models import Container, Lot
from pharmatrace.wms.stock_models import StockBalance
from pharmatrace.wms.stock_schemas import MovementCreate

MANNITOL = "MN2610-118"  # the supplier lot of the demo's mannitol, under test until a test releases it
BAL_02 = SimulatedScale(
    capacity=Decimal("6200"), readability=Decimal("0.01"), unit="g", serial_number="B947654321",
    settle_time=0.05, stable_wait=0.5,
)  # fmt: skip


def new_order(db: Database) -> str:
    """A released order of the demo recipe for 10 000 vials (the BOM as written); returns its batch number."""
    lina = principal(db, "lina")
    today = clock.to_beijing(clock.now()).date()
    with UnitOfWork(db, lina.actor) as uow:
        order = execution.create_order(
            uow, lina, OrderCreate(recipe_code="MR-DH-001", batch_size=Decimal(10000), planned_start=today,
                                   planned_end=today + timedelta(days=3)),
        )  # fmt: skip
        uow.commit()
        order_id = order.id
    with UnitOfWork(db, lina.actor) as uow:
        order = execution.get_order(uow.session, order_id)
        execution.release(uow, lina, order, password=DEMO_PASSWORD, login="lina")
        uow.commit()
        return order.batch_no


def run_step(db: Database, batch_no: str, step_code: str, login: str = "zhangwei") -> None:
    """Put the step in progress (test set-up, recorded with its reason)."""
    with UnitOfWork(db, principal(db, login).actor, reason="test set-up: step started") as uow:
        order = execution.get_order(uow.session, batch_no)
        step = uow.session.scalar(
            select(StepExecution).where(
                StepExecution.batch_order_id == order.id, StepExecution.step_code == step_code
            )
        )
        assert step is not None
        step.state = "in_progress"
        step.started_at = clock.now()
        step.started_by = login
        uow.commit()


def release_lot(db: Database, supplier_lot: str = MANNITOL) -> None:
    """QA releases the lot, and assesses the storage anomalies its record shows (the ambient store's
    air-conditioning failure of the demo plant), so that the lot may be issued."""
    qa = principal(db, "zhaomin")
    with UnitOfWork(db, qa.actor, reason="all tests conform (test)") as uow:
        lot = uow.session.scalar(select(Lot).where(Lot.supplier_lot == supplier_lot))
        assert lot is not None
        lots.release(uow, qa, lot.id, DEMO_PASSWORD, "zhaomin")
        uow.commit()
        lot_id, first = lot.id, lot.containers[0].code
    keeper = principal(db, "zhouqiang")
    with UnitOfWork(db, keeper.actor) as uow, contextlib.suppress(stock.IssueRefused):
        # a refused issue records the anomalies the record shows (wms.stock.refuse_issue)
        stock.move(
            uow, MovementCreate(kind="issue", container=first, quantity=Decimal("0.001"), batch_no="TEST")
        )
    reviewer = principal(db, "chenjing")
    with UnitOfWork(
        db, reviewer.actor, reason="excursion assessed: no impact on the sealed drums (test)"
    ) as uow:
        for anomaly in stock.list_anomalies(uow.session, lot_id=lot_id):
            stock.close_anomaly(uow, anomaly.id)
        uow.commit()


def containers(db: Database, supplier_lot: str = MANNITOL) -> list[str]:
    with db.sessions() as session:
        return list(
            session.scalars(
                select(Container.code)
                .join(Lot)
                .where(Lot.supplier_lot == supplier_lot)
                .order_by(Container.number)
            )
        )


def lot_number(db: Database, supplier_lot: str = MANNITOL) -> str:
    """The internal lot number the site gave the supplier's lot at receipt."""
    with db.sessions() as session:
        found = session.scalar(select(Lot.lot_number).where(Lot.supplier_lot == supplier_lot))
        assert found is not None
        return found


def stock_of(db: Database, container: str) -> Decimal:
    with db.sessions() as session:
        found = session.scalar(
            select(StockBalance.quantity).join(Container, Container.id == StockBalance.container_id)
            .where(Container.code == container)
        )  # fmt: skip
        return Decimal(found or 0)


def calibrate(db: Database, code: str = "BAL-02") -> None:
    """The engineer records a passed calibration: the scale is calibrated again from now."""
    engineer = principal(db, "wuhao")
    with UnitOfWork(db, engineer.actor, reason="calibrated (test)") as uow:
        equipment = uow.session.scalar(select(Equipment).where(Equipment.code == code))
        assert equipment is not None
        equipment_service.record_equipment_entry(
            uow, equipment.id,
            LogEntryCreate(kind="calibration", description="计量检定合格", result="pass", reference="JD-TEST"),
        )  # fmt: skip
        uow.commit()


def register(db: Database, port: int, code: str = "BAL-02") -> None:
    engineer = principal(db, "wuhao")
    with UnitOfWork(db, engineer.actor) as uow:
        found = uow.session.scalar(
            select(dispensing.ScaleEndpoint).join(Equipment, Equipment.id == dispensing.ScaleEndpoint.equipment_id)
            .where(Equipment.code == code)
        )  # fmt: skip
        if found is None:
            dispensing.register_endpoint(
                uow, ScaleEndpointCreate(equipment=code, host="127.0.0.1", port=port)
            )
        else:
            found.host, found.port = "127.0.0.1", port
            uow.reason = "test: simulator port"
        uow.commit()


@contextmanager
def balance(db: Database, spec: SimulatedScale = BAL_02, code: str = "BAL-02") -> Iterator[MtSicsSimulator]:
    """The simulated balance on an ephemeral port, registered as the address of ``code``."""
    simulator = MtSicsSimulator(spec, port=0)
    with simulator.running_in_thread() as running:
        register(db, running.port, code)
        yield running


def count_new(db: Database, model: type[Any]) -> int:
    """Rows of ``model`` (a batch order's or a packaging record's) other than those of the demo's completed,
    reviewed batch (pharmatrace.mes.history_demo): what the test itself made."""
    demo = select(BatchOrder.id).where(BatchOrder.status == "reviewed")
    owner = model.batch_order_id if hasattr(model, "batch_order_id") else model.record_id
    if not hasattr(model, "batch_order_id"):
        demo = select(PackagingRecord.id).where(PackagingRecord.batch_order_id.in_(demo))
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(owner.not_in(demo))) or 0)


def new_scale(db: Database, code: str = "SC-02") -> str:
    """A calibrated floor scale without an MT-SICS address (the demo's SC-01 has one: mes.history_demo)."""
    from pharmatrace.equipment.schemas import EquipmentCreate

    with UnitOfWork(db, principal(db, "wuhao").actor, reason="new floor scale (test)") as uow:
        scale = equipment_service.create_equipment(uow, EquipmentCreate(
            code=code, name="电子台秤 60 kg", equipment_class="scale", room_code="RM-WEIGH", capacity=Decimal(60),
            readability=Decimal("0.005"), weight_unit="kg", calibration_interval_days=180))  # fmt: skip
        equipment_service.record_equipment_entry(uow, scale.id, LogEntryCreate(
            kind="calibration", description="计量检定合格", result="pass"))  # fmt: skip
        uow.commit()
    return code
