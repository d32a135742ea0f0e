"""``/api/v1`` — locations, stock, movements, temperature readings, storage anomalies, alerts, intermediates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web.deps import DbDep, Requires, uow_for
from pharmatrace.wms import lots, stock
from pharmatrace.wms.stock_schemas import (
    AlertsPublic,
    AnomalyPublic,
    IntermediateCreate,
    IntermediateDecision,
    IntermediateMove,
    IntermediatePublic,
    IssueCheckPublic,
    LocationCreate,
    LocationPublic,
    MovementCreate,
    MovementPublic,
    ReadingCreate,
    ReadingPublic,
    StockPublic,
)

router = APIRouter(tags=["stock"])

StockView = Annotated[Principal, Depends(Requires("wms.material.view"))]
LocationManage = Annotated[Principal, Depends(Requires("wms.location.manage"))]
StockMove = Annotated[Principal, Depends(Requires("wms.stock.move"))]
AnomalyClose = Annotated[Principal, Depends(Requires("wms.anomaly.close"))]
BatchExecute = Annotated[Principal, Depends(Requires("mes.batch.execute"))]
LotDecide = Annotated[Principal, Depends(Requires("wms.material.approve"))]


@router.get("/locations", response_model=list[LocationPublic])
def list_locations(db: DbDep, _: StockView, q: str = "", kind: str = "") -> list[LocationPublic]:
    with db.sessions() as session:
        return [
            stock.location_public(session, loc) for loc in stock.list_locations(session, text=q, kind=kind)
        ]


@router.post("/locations", response_model=LocationPublic, status_code=201)
def create_location(body: LocationCreate, db: DbDep, principal: LocationManage) -> LocationPublic:
    """A storage location with its conditions (temperature, humidity, longest gap between readings)."""
    with uow_for(db, principal) as uow:
        location = stock.create_location(uow, body)
        uow.commit()
        return stock.location_public(uow.session, location)


@router.get("/locations/{location_id}", response_model=LocationPublic)
def get_location(location_id: int, db: DbDep, _: StockView) -> LocationPublic:
    with db.sessions() as session:
        return stock.location_public(session, stock.get_location(session, location_id))


@router.post("/locations/{location_id}/void", response_model=LocationPublic)
def void_location(location_id: int, body: ReasonOnly, db: DbDep, principal: LocationManage) -> LocationPublic:
    """Give up an empty location (never deleted)."""
    with uow_for(db, principal, body.reason) as uow:
        location = stock.void_location(uow, location_id)
        uow.commit()
        return stock.location_public(uow.session, location)


@router.get("/locations/{location_id}/readings", response_model=list[ReadingPublic])
def location_readings(location_id: int, db: DbDep, _: StockView, days: int = 7) -> list[ReadingPublic]:
    with db.sessions() as session:
        location = stock.get_location(session, location_id)
        return [stock.reading_public(r) for r in stock.readings_of(session, location, days=min(days, 366))]


@router.get("/stock", response_model=StockPublic)
def get_stock(
    db: DbDep, _: StockView, material: str = "", lot: str = "", location: str = "", status: str = "", q: str = "",
    limit: int = 500,
) -> StockPublic:  # fmt: skip
    """Stock now, by material code, lot number, location code (with the locations in it), lot status or a
    scanned code; with totals per material."""
    with db.sessions() as session:
        result = stock.stock_query(session, material=material, lot=lot, location=location, status=status, text=q,
                                   limit=max(1, min(limit, 5000)))  # fmt: skip
        return stock.stock_public(result)


@router.post("/stock/movements", response_model=MovementPublic, status_code=201)
def create_movement(body: MovementCreate, db: DbDep, principal: StockMove) -> MovementPublic:
    """Put away, transfer, issue, return, sample, retain or destroy one container (by its scanned code).
    An issue the storage checks refuse answers 409 with every reason, and is recorded."""
    with uow_for(db, principal, body.reason) as uow:
        movement = stock.move(uow, body)
        uow.commit()
        return stock.movement_public(uow.session, movement)


@router.get("/stock/movements", response_model=list[MovementPublic])
def list_movements(
    db: DbDep, _: StockView, container: str = "", lot_id: int | None = None, location: str = ""
) -> list[MovementPublic]:
    """The movements of a container (code), a lot or a location (code), newest first."""
    with db.sessions() as session:
        container_id = lots.container_by_code(session, container).id if container else None
        location_id = stock.location_by_code(session, location, active=False).id if location else None
        found = stock.movements(session, container_id=container_id, lot_id=lot_id, location_id=location_id)
        return [stock.movement_public(session, m) for m in found]


@router.get("/lots/{lot_id}/issue-check", response_model=IssueCheckPublic, tags=["lots"])
def issue_check(lot_id: int, db: DbDep, _: StockView) -> IssueCheckPublic:
    """May the lot be issued to production now? If not, every reason (TJ-6.4.1, TJ-5.2.1.2)."""
    with db.sessions() as session:
        return stock.issue_check_public(session, lots.get_lot(session, lot_id))


@router.post("/temperature-readings", response_model=ReadingPublic, status_code=201)
def record_reading(body: ReadingCreate, db: DbDep, principal: StockMove) -> ReadingPublic:
    """A manual reading of a location's temperature and humidity; an excursion raises anomalies."""
    with uow_for(db, principal) as uow:
        reading = stock.record_reading(uow, body)
        uow.commit()
        return stock.reading_public(reading)


@router.get("/storage-anomalies", response_model=list[AnomalyPublic])
def list_anomalies(db: DbDep, _: StockView, status: str = "open") -> list[AnomalyPublic]:
    with db.sessions() as session:
        return [stock.anomaly_public(session, a) for a in stock.list_anomalies(session, status=status)]


@router.post("/storage-anomalies/{anomaly_id}/close", response_model=AnomalyPublic)
def close_anomaly(anomaly_id: int, body: ReasonOnly, db: DbDep, principal: AnomalyClose) -> AnomalyPublic:
    """QA closes an anomaly with its assessment as the reason."""
    with uow_for(db, principal, body.reason) as uow:
        anomaly = stock.close_anomaly(uow, anomaly_id)
        uow.commit()
        return stock.anomaly_public(uow.session, anomaly)


@router.get("/wms/alerts", response_model=AlertsPublic)
def get_alerts(db: DbDep, _: StockView, horizon_days: int = 30) -> AlertsPublic:
    """Expired and expiring lots, retests due, hold times ending, late temperature records, open anomalies."""
    with db.sessions() as session:
        return AlertsPublic(
            alerts=[
                stock.alert_public(a)
                for a in stock.alerts(session, horizon_days=max(0, min(horizon_days, 365)))
            ],
            anomalies=[stock.anomaly_public(session, a) for a in stock.list_anomalies(session)],
        )


@router.get("/intermediates", response_model=list[IntermediatePublic], tags=["intermediates"])
def list_intermediates(db: DbDep, _: StockView, in_stock: bool = False) -> list[IntermediatePublic]:
    with db.sessions() as session:
        return [
            stock.intermediate_public(session, i)
            for i in stock.list_intermediates(session, in_stock=in_stock)
        ]


@router.get("/intermediates/{intermediate_id}", response_model=IntermediatePublic, tags=["intermediates"])
def get_intermediate(intermediate_id: int, db: DbDep, _: StockView) -> IntermediatePublic:
    with db.sessions() as session:
        return stock.intermediate_public(session, stock.get_intermediate(session, intermediate_id))


@router.post("/intermediates", response_model=IntermediatePublic, status_code=201, tags=["intermediates"])
def create_intermediate(body: IntermediateCreate, db: DbDep, principal: BatchExecute) -> IntermediatePublic:
    """An intermediate made by a batch goes into a workshop store (入库) with its hold time."""
    with uow_for(db, principal) as uow:
        item = stock.create_intermediate(uow, body)
        uow.commit()
        return stock.intermediate_public(uow.session, item)


@router.post(
    "/intermediates/{intermediate_id}/movements", response_model=IntermediatePublic, tags=["intermediates"]
)
def move_intermediate(
    intermediate_id: int, body: IntermediateMove, db: DbDep, principal: BatchExecute
) -> IntermediatePublic:
    """出库, 移库, 取样, 留样, 投料 (refused past the hold time or unreleased), 退库 (with its reviewer)."""
    with uow_for(db, principal, body.reason) as uow:
        stock.move_intermediate(uow, intermediate_id, body)
        uow.commit()
        return stock.intermediate_public(uow.session, stock.get_intermediate(uow.session, intermediate_id))


@router.post(
    "/intermediates/{intermediate_id}/decision", response_model=IntermediatePublic, tags=["intermediates"]
)
def decide_intermediate(
    intermediate_id: int, body: IntermediateDecision, db: DbDep, principal: LotDecide
) -> IntermediatePublic:
    """QA's quality status of an intermediate (合格 / 不合格), with the reason."""
    with uow_for(db, principal, body.reason) as uow:
        item = stock.decide_intermediate(uow, intermediate_id, body.decision)
        uow.commit()
        return stock.intermediate_public(uow.session, item)
