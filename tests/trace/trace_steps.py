"""Shared steps of the trace tests: a product identifier of the demo product and a pool of codes in it."""

from __future__ import annotations

from sqlalchemy import select

from helpers import actor
from pharmatrace.kernel import clock
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.storage.engine import Database
from pharmatrace.trace import lifecycle
from pharmatrace.trace.models import CodePool, ProductIdentifier, TraceCode
from pharmatrace.wms.models import Material

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
