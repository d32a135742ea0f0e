"""Shared steps of the trace tests: a product identifier of the demo product and a pool of codes in it."""

from __future__ import annotations

from sqlalchemy import func, select

from helpers import actor
from pharmatrace.kernel import clock
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.dispensing_models import MaterialCharge
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.storage.engine import Database
from pharmatrace.trace import lifecycle
from pharmatrace.trace.models import CodePool, Customer, OutboundShipment, ProductIdentifier, TraceCode
from pharmatrace.wms.models import Container, Lot, Material
from pharmatrace.wms.stock_models import IntermediateLot, IntermediateMovement

PRODUCT = "FG-DH-0200"  # the demo plant's 注射用丹红冻干粉 200 mg/支


def batch_id(db: Database, batch_no: str | None = None) -> int:
    """A batch order of the demo plant (the first, or the one numbered ``batch_no``)."""
    with db.sessions() as session:
        query = select(BatchOrder.id).order_by(BatchOrder.id)
        if batch_no is not None:
            query = query.where(BatchOrder.batch_no == batch_no)
        found = session.scalar(query.limit(1))
        assert found is not None
        return int(found)


def pool_of(db: Database, values: list[str], *, level: int = 1, login: str = "zhouqiang", code: str = "6901234",
            pack_quantity: int = 1) -> int:  # fmt: skip
    """An NMPA identifier ``code`` at ``level`` of the demo product (made once) and a pool of ``values``."""
    with UnitOfWork(db, actor(db, login)) as uow:
        session = uow.session
        identifier = session.scalar(select(ProductIdentifier).where(ProductIdentifier.code == code))
        if identifier is None:
            material = session.scalar(select(Material).where(Material.code == PRODUCT))
            assert material is not None
            identifier = ProductIdentifier(scheme="nmpa", code=code, material_id=material.id, level=level,
                                           pack_quantity=pack_quantity, description="test",
                                           created_at=clock.now(), created_by=login)  # fmt: skip
            session.add(identifier)
            session.flush()
        number = (
            f"P{session.scalar(select(CodePool.id).order_by(CodePool.id.desc()).limit(1)) or 0:06d}-{level}"
        )
        pool = CodePool(number=number + values[0][-6:], identifier_id=identifier.id, origin="generated",
                        reference="test", count=len(values), created_at=clock.now(), created_by=login)  # fmt: skip
        session.add(pool)
        session.flush()
        lifecycle.create(uow, "generate", values, level=level, pool_id=pool.id, identifier_id=identifier.id)
        uow.commit()
        return pool.id


def codes(db: Database, values: list[str]) -> list[TraceCode]:
    with db.sessions() as session:
        found = {c.value: c for c in session.scalars(select(TraceCode).where(TraceCode.value.in_(values)))}
        return [found[v] for v in values]


def allocated(db: Database, values: list[str], *, batch: int | None = None, line: str = "PK-01",
              login: str = "zhouqiang") -> str:  # fmt: skip
    """``values`` in a new pool, allocated to ``batch`` (the demo's first batch order) on ``line``: its batch
    number."""
    pool_of(db, values, login=login)
    with UnitOfWork(db, actor(db, login)) as uow:
        session = uow.session
        order = session.get(BatchOrder, batch or batch_id(db))
        assert order is not None
        found = list(
            session.scalars(select(TraceCode).where(TraceCode.value.in_(values)).order_by(TraceCode.id))
        )
        lifecycle.record(uow, "allocate", found, batch_order_id=order.id, line=line)
        uow.commit()
        return order.batch_no


def commissioned(db: Database, values: list[str], *, level: int = 1, code: str = "6901234", pack_quantity: int = 1,
                 batch_no: str | None = None, line: str = "PK-01", login: str = "zhangwei",
                 commission: bool = True) -> list[TraceCode]:  # fmt: skip
    """``values`` in a pool of identifier ``code``, allocated to the batch ``batch_no`` (by default the demo plant's
    first, the completed and released one) and (unless ``commission`` is false) commissioned on ``line``."""
    pool_of(db, values, level=level, code=code, pack_quantity=pack_quantity)
    batch = batch_id(db, batch_no)
    with UnitOfWork(db, actor(db, login)) as uow:
        found = list(uow.session.scalars(select(TraceCode).where(TraceCode.value.in_(values))))
        lifecycle.record(uow, "allocate", found, batch_order_id=batch, line=line)
        if commission:
            lifecycle.record(uow, "commission", found)
        uow.commit()
    return codes(db, values)


def act(db: Database, action: str, values: list[str], login: str = "zhangwei", parent: str | None = None,
        **kw: object) -> None:  # fmt: skip
    """``lifecycle.record`` of ``action`` over the codes ``values`` (packed into ``parent``), committed."""
    with UnitOfWork(db, actor(db, login)) as uow:
        found = {
            c.value: c for c in uow.session.scalars(select(TraceCode).where(TraceCode.value.in_(values)))
        }
        if parent is not None:
            kw["parent"] = uow.session.scalar(select(TraceCode).where(TraceCode.value == parent))
        lifecycle.record(uow, action, [found[v] for v in values], **kw)  # type: ignore[arg-type]
        uow.commit()


def ship_to(db: Database, values: list[str], *, customer: str = "C-HOSP-01", login: str = "zhouqiang") -> int:
    """A customer (made once) and a shipped shipment carrying the codes ``values``; the shipment's id."""
    with UnitOfWork(db, actor(db, login)) as uow:
        session = uow.session
        found = session.scalar(select(Customer).where(Customer.code == customer))
        if found is None:
            found = Customer(code=customer, name="上海市第一人民医院", kind="hospital", address="上海市虹口区海宁路100号",
                             licence_no="沪AA0210001", created_at=clock.now(), created_by=login)  # fmt: skip
            session.add(found)
            session.flush()
        count = session.scalar(select(func.count()).select_from(OutboundShipment)) or 0
        shipment = OutboundShipment(number=f"SH-T{count + 1:04d}", customer_id=found.id, address=found.address,
                                    status="shipped", created_at=clock.now(), created_by=login,
                                    shipped_at=clock.now())  # fmt: skip
        session.add(shipment)
        session.flush()
        rows = {c.value: c for c in session.scalars(select(TraceCode).where(TraceCode.value.in_(values)))}
        lifecycle.record(uow, "ship", [rows[v] for v in values], shipment_id=shipment.id)
        uow.commit()
        return shipment.id


def sscc_pool(db: Database, values: list[str], *, login: str = "zhouqiang") -> int:
    """A pool of pallet SSCCs (level 4, no product identifier)."""
    with UnitOfWork(db, actor(db, login)) as uow:
        pool = CodePool(number=f"SSCC-{values[0][-8:]}", identifier_id=None, origin="generated", reference="test",
                        count=len(values), created_at=clock.now(), created_by=login)  # fmt: skip
        uow.session.add(pool)
        uow.session.flush()
        lifecycle.create(uow, "generate", values, level=4, pool_id=pool.id, identifier_id=None)
        uow.commit()
        return pool.id


# --- genealogy (issue 10 items 5-6): simplified insertions through the unit of work -------------------


def _copy(row: object, **changes: object) -> object:
    """A new row of ``row``'s model with its columns copied (no id), ``changes`` applied."""
    model = type(row)
    columns = {c.key: getattr(row, c.key) for c in model.__table__.columns if c.key != "id"}  # type: ignore[attr-defined]
    return model(**{**columns, **changes})


def new_batch(db: Database, batch_no: str, login: str = "lina") -> int:
    """A completed batch order numbered ``batch_no``, copied from the demo plant's first."""
    with UnitOfWork(db, actor(db, login)) as uow:
        first = uow.session.scalar(select(BatchOrder).order_by(BatchOrder.id).limit(1))
        assert first is not None
        order = _copy(first, batch_no=batch_no, order_no=f"PO-{batch_no}", status="completed",
                      completed_at=clock.now(), created_at=clock.now())  # fmt: skip
        uow.session.add(order)
        uow.session.flush()
        uow.commit()
        return int(order.id)  # type: ignore[attr-defined]


def new_lot(db: Database, lot_number: str, login: str = "zhouqiang") -> int:
    """A material lot (in quarantine) numbered ``lot_number`` with one container, copied from the demo plant's first."""
    with UnitOfWork(db, actor(db, login)) as uow:
        first = uow.session.scalar(select(Lot).order_by(Lot.id).limit(1))
        assert first is not None
        lot = _copy(first, lot_number=lot_number, status="quarantine", held_from=None, created_at=clock.now())
        uow.session.add(lot)
        uow.session.flush()
        uow.session.add(Container(code=f"{lot_number}-001", lot_id=lot.id, number=1, quantity=1, unit=first.unit,  # type: ignore[attr-defined]
                                  created_at=clock.now(), created_by=login))  # fmt: skip
        uow.commit()
        return int(lot.id)  # type: ignore[attr-defined]


def charge(db: Database, batch_no: str, lot_number: str, login: str = "zhangwei") -> None:
    """A charge of lot ``lot_number`` into batch ``batch_no`` (a container charge, as ``mes.dispensing`` records)."""
    with UnitOfWork(db, actor(db, login)) as uow:
        s = uow.session
        order = s.scalar(select(BatchOrder).where(BatchOrder.batch_no == batch_no))
        lot = s.scalar(select(Lot).where(Lot.lot_number == lot_number))
        assert order is not None and lot is not None
        container = s.scalar(
            select(Container).where(Container.lot_id == lot.id).order_by(Container.id).limit(1)
        )
        assert container is not None
        s.add(MaterialCharge(batch_order_id=order.id, batch_no=batch_no, step_code="TEST-C", source="container",
                             container_id=container.id, container_code=container.code, material_id=lot.material_id,
                             material_code=lot.material.code, material_name=lot.material.name, lot_id=lot.id,
                             lot_number=lot.lot_number, quantity=1, unit=lot.unit, charged_at=clock.now(),
                             charged_by=login, charged_by_name=login))  # fmt: skip
        uow.commit()


def intermediate(db: Database, lot_number: str, made_by: str, charged_into: list[str], login: str = "zhangwei") -> None:  # fmt: skip
    """An intermediate lot made by batch ``made_by`` and charged into each batch of ``charged_into``."""
    with UnitOfWork(db, actor(db, login)) as uow:
        s = uow.session
        first = s.scalar(select(IntermediateLot).order_by(IntermediateLot.id).limit(1))
        assert first is not None
        made = _copy(first, lot_number=lot_number, batch_no=made_by, created_at=clock.now())
        s.add(made)
        s.flush()
        for batch_no in charged_into:
            s.add(IntermediateMovement(intermediate_id=made.id, kind="charge", quantity=1, batch_no=batch_no,  # type: ignore[attr-defined]
                                       reason="charged in test", moved_at=clock.now(), moved_by=login,
                                       moved_by_name=login))  # fmt: skip
        uow.commit()


def gs1_pool(db: Database, gtin: str, serials: list[str], *, login: str = "zhouqiang") -> list[str]:
    """A GS1 identifier ``gtin`` (level 1) of the demo product (made once) and a pool of its serials, stored in
    the canonical ``01<GTIN>21<serial>`` form; the stored values."""
    values = [f"01{gtin}21{serial}" for serial in serials]
    with UnitOfWork(db, actor(db, login)) as uow:
        session = uow.session
        identifier = session.scalar(select(ProductIdentifier).where(ProductIdentifier.code == gtin))
        if identifier is None:
            material = session.scalar(select(Material).where(Material.code == PRODUCT))
            assert material is not None
            identifier = ProductIdentifier(scheme="gs1", code=gtin, material_id=material.id, level=1, pack_quantity=1,
                                           description="test", created_at=clock.now(), created_by=login)  # fmt: skip
            session.add(identifier)
            session.flush()
        pool = CodePool(number=f"G-{gtin[-6:]}-{serials[0][-6:]}", identifier_id=identifier.id, origin="generated",
                        reference="test", count=len(values), created_at=clock.now(), created_by=login)  # fmt: skip
        session.add(pool)
        session.flush()
        lifecycle.create(uow, "generate", values, level=1, pool_id=pool.id, identifier_id=identifier.id)
        uow.commit()
    return values
