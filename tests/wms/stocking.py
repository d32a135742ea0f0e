"""Shared steps of the stock tests: the demo plant's stores and its containers, moved by the keeper."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from helpers import LOGIN_BY_ROLE, principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import stock
from pharmatrace.wms.models import Container, Lot
from pharmatrace.wms.stock_models import StockBalance, StockMovement, StorageAnomaly
from pharmatrace.wms.stock_schemas import MovementCreate, ReadingCreate

KEEPER = LOGIN_BY_ROLE["warehouse_keeper"]
QA = LOGIN_BY_ROLE["qa_release"]
OPERATOR = LOGIN_BY_ROLE["production_operator"]
RELEASED = "DS20260915"  # 丹参, released, in the cool store (WH-RM-CL-01)
QUARANTINED = "DS20261020"  # 丹参, quarantine area
UNDER_TEST = "MN2610-118"  # 甘露醇, ambient store, an excursion recorded on it by the seed
REJECTED = "GL261002"  # vials, rejected store


def containers(db: Database, supplier_lot: str) -> list[str]:
    with db.sessions() as session:
        lot = session.scalars(select(Lot).where(Lot.supplier_lot == supplier_lot)).unique().one()
        return [c.code for c in lot.containers]


def lot_id(db: Database, supplier_lot: str) -> int:
    with db.sessions() as session:
        return int(session.scalars(select(Lot.id).where(Lot.supplier_lot == supplier_lot)).one())


def move(db: Database, login: str = KEEPER, reason: str | None = None, **fields: Any) -> StockMovement:
    with UnitOfWork(db, principal(db, login).actor, reason=reason) as uow:
        movement = stock.move(uow, MovementCreate(**fields, reason=reason))
        uow.commit()
        uow.session.refresh(movement)
        uow.session.expunge(movement)
        return movement


def reading(db: Database, location: str, temp: str, *, at: Any = None, humidity: str | None = None) -> None:
    from pharmatrace.kernel import clock

    with UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        stock.record_reading(uow, ReadingCreate(location=location, measured_at=at or clock.now(),
                                                temp_c=Decimal(temp), humidity_pct=humidity))  # fmt: skip
        uow.commit()


def where(db: Database, code: str) -> tuple[str | None, Decimal]:
    """The container's location code and the quantity left in it."""
    with db.sessions() as session:
        container = session.scalars(select(Container).where(Container.code == code)).one()
        balance = session.get(StockBalance, container.id)
        assert balance is not None
        return (balance.location.code if balance.location else None), balance.quantity


def moves_of(db: Database, code: str) -> list[tuple[str, str | None, str | None]]:
    with db.sessions() as session:
        container = session.scalars(select(Container).where(Container.code == code)).one()
        return [
            (
                m.kind,
                m.from_location.code if m.from_location else None,
                m.to_location.code if m.to_location else None,
            )
            for m in stock.movements(session, container_id=container.id)
        ][::-1]


def open_anomalies(db: Database, lot: int | None = None) -> list[StorageAnomaly]:
    with db.sessions() as session:
        query = select(StorageAnomaly).where(StorageAnomaly.status == "open").order_by(StorageAnomaly.id)
        if lot is not None:
            query = query.where(StorageAnomaly.lot_id == lot)
        found = list(session.scalars(query).unique())
        session.expunge_all()
        return found


def close_all(db: Database, lot: int) -> None:
    with UnitOfWork(db, principal(db, QA).actor, reason="assessed: no impact on quality (test)") as uow:
        for anomaly in stock.list_anomalies(uow.session, lot_id=lot):
            stock.close_anomaly(uow, anomaly.id)
        uow.commit()
