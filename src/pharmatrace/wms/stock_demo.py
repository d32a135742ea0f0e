"""Demo locations and stock: the plant's stores with their conditions, the demo containers put away, a week of
twice-daily manual readings, one excursion with its anomaly, an issue to a batch and an intermediate held
in the intermediate store (TJ-6.3.3, TJ-6.4.3.6, TJ-5.2.1.2). Everything goes through the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from pharmatrace.kernel import clock
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import stock
from pharmatrace.wms.models import Lot
from pharmatrace.wms.stock_models import IntermediateLot, Location, StockMovement, TemperatureReading
from pharmatrace.wms.stock_schemas import IntermediateCreate, LocationCreate, MovementCreate, ReadingCreate

D = Decimal
GAP = 13 * 60  # readings twice a day: at most 13 hours apart

DEMO_LOCATIONS: tuple[LocationCreate, ...] = (
    LocationCreate(code="WH-RM", name="原辅料库", kind="warehouse"),
    LocationCreate(code="WH-RM-RCV", name="收货区", kind="receiving", parent="WH-RM"),
    LocationCreate(code="WH-RM-QA", name="待验区（阴凉）", kind="quarantine", parent="WH-RM", temp_max_c=D(20),
                   humidity_max_pct=D(65), max_reading_gap_minutes=GAP),
    LocationCreate(code="WH-RM-CL", name="阴凉库", kind="zone", parent="WH-RM", temp_max_c=D(20),
                   humidity_max_pct=D(65), max_reading_gap_minutes=GAP),
    LocationCreate(code="WH-RM-CL-01", name="阴凉库 1 号货位", kind="bin", parent="WH-RM-CL"),
    LocationCreate(code="WH-RM-CL-02", name="阴凉库 2 号货位", kind="bin", parent="WH-RM-CL"),
    LocationCreate(code="WH-RM-AM", name="常温库", kind="zone", parent="WH-RM", temp_min_c=D(10), temp_max_c=D(30),
                   humidity_max_pct=D(65), max_reading_gap_minutes=GAP),
    LocationCreate(code="WH-RM-AM-01", name="常温库 1 号货位", kind="bin", parent="WH-RM-AM"),
    LocationCreate(code="WH-RM-AM-02", name="常温库 2 号货位", kind="bin", parent="WH-RM-AM"),
    LocationCreate(code="WH-RM-SMP", name="取样间", kind="sampling", parent="WH-RM"),
    LocationCreate(code="WH-RM-REJ", name="不合格品库", kind="rejected_store", parent="WH-RM"),
    LocationCreate(code="WH-CS", name="冷库", kind="warehouse", temp_min_c=D(2), temp_max_c=D(8),
                   max_reading_gap_minutes=GAP),
    LocationCreate(code="WH-CS-01", name="冷库 1 号货位", kind="bin", parent="WH-CS"),
    LocationCreate(code="WS-WC", name="称量中心", kind="weighing_centre", room="RM-WEIGH", temp_min_c=D(18),
                   temp_max_c=D(26), humidity_max_pct=D(65), max_reading_gap_minutes=GAP),
    LocationCreate(code="WS-ST", name="车间暂存间", kind="staging", temp_min_c=D(18), temp_max_c=D(26),
                   humidity_max_pct=D(65), max_reading_gap_minutes=GAP),
    LocationCreate(code="WS-BF", name="缓冲间", kind="buffer", room="RM-PREP"),
    LocationCreate(code="WS-IM", name="中间站", kind="intermediate_store", temp_min_c=D(2), temp_max_c=D(8),
                   max_reading_gap_minutes=GAP),
    LocationCreate(code="QC-RS", name="留样室", kind="retained_samples", temp_max_c=D(20), humidity_max_pct=D(65),
                   max_reading_gap_minutes=GAP),
)  # fmt: skip

# Where each demo lot's containers are put away (by the supplier lot of wms.demo).
PUT_AWAY = {"DS20260915": "WH-RM-CL-01", "DS20261020": "WH-RM-QA", "MN2610-118": "WH-RM-AM-01",
            "GL261002": "WH-RM-REJ"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Climate:
    temp: Decimal  # typical reading
    humidity: Decimal | None


CLIMATES = {
    "WH-RM-QA": Climate(D("16.5"), D("55")), "WH-RM-CL": Climate(D("16.0"), D("55")),
    "WH-RM-AM": Climate(D("22.0"), D("50")), "WH-CS": Climate(D("5.0"), None),
    "WS-WC": Climate(D("21.5"), D("50")), "WS-ST": Climate(D("21.0"), D("50")), "WS-IM": Climate(D("5.5"), None),
    "QC-RS": Climate(D("17.0"), D("52")),
}  # fmt: skip


def _login(db: Database, login: str) -> identity.Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None
        return identity.principal_of(user)


def _slots(now: datetime, days: int) -> list[datetime]:
    """08:00 and 20:00 Beijing time over the last ``days`` days, up to now."""
    today = clock.to_beijing(now).date()
    moments = []
    for back in range(days, -1, -1):
        day = today - timedelta(days=back)
        for hour in (8, 20):
            moment = datetime.combine(day, time(hour), tzinfo=clock.BEIJING)
            if moment <= now:
                moments.append(moment)
    return moments


def seed_locations(db: Database) -> int:
    """The demo stores that are missing (the plant's set-up); returns how many were added."""
    with db.sessions() as session:
        existing = set(session.scalars(select(Location.code)))
    keeper = _login(db, "zhouqiang")
    with UnitOfWork(db, keeper.actor, reason="demo plant seed: storage locations") as uow:
        missing = [location for location in DEMO_LOCATIONS if location.code not in existing]
        for location in missing:
            stock.create_location(uow, location)
        uow.commit()
    return len(missing)


def seed_stock(db: Database) -> int:
    """Set up the demo stock unless its intermediate exists already; returns how many locations were added.
    Lots put away before (the demo seed's history, mes.history_demo) stay where they are."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(IntermediateLot)):
            return 0
    added = seed_locations(db)
    keeper, qa, operator = (_login(db, login) for login in ("zhouqiang", "zhaomin", "zhangwei"))
    now = clock.now()
    with UnitOfWork(db, keeper.actor, reason="demo plant seed: storage locations and their records") as uow:
        # A week of the keeper's twice-daily readings, all within limits (written at once: nothing to check).
        for index, moment in enumerate(_slots(now, 7)):
            for code, climate in CLIMATES.items():
                wobble = D((index * 7 + len(code)) % 9 - 4) / 10
                uow.session.add(TemperatureReading(
                    location_id=stock.location_by_code(uow.session, code).id, measured_at=moment,
                    temp_c=climate.temp + wobble, humidity_pct=climate.humidity + wobble * 5 if climate.humidity else None,
                    source="manual", recorded_at=now, recorded_by=keeper.login,
                ))  # fmt: skip
        uow.commit()
    with db.sessions() as session:
        placed = select(StockMovement.lot_id)
        demo_lots = list(
            session.scalars(
                select(Lot).where(Lot.voided_at.is_(None), Lot.id.not_in(placed)).order_by(Lot.id)
            ).unique()
        )
        found = {lot.supplier_lot: [c.code for c in lot.containers] for lot in demo_lots}
        places = {  # a lot of another area's demo waits in quarantine (or with the rejected goods)
            lot.supplier_lot: PUT_AWAY.get(
                lot.supplier_lot, "WH-RM-REJ" if lot.status == "rejected" else "WH-RM-QA"
            )
            for lot in demo_lots
        }
    for supplier_lot, codes in found.items():
        for code in codes:
            with UnitOfWork(db, keeper.actor) as uow:
                put = MovementCreate(kind="put_away", container=code, to_location=places[supplier_lot])
                stock.move(uow, put)
                uow.commit()
    from pharmatrace.mes.history_demo import completed_batch_no

    batch_no = completed_batch_no(db)
    released = found.get("DS20260915", [])
    if released:
        if batch_no:  # 10 kg of the released 丹参 issued to the completed batch
            with UnitOfWork(db, keeper.actor) as uow:
                move = MovementCreate(kind="issue", container=released[0], quantity=D(10), batch_no=batch_no)
                stock.move(uow, move)
                uow.commit()
        with UnitOfWork(db, keeper.actor) as uow:  # QC's retained sample of the lot (TJ-6.4.1)
            stock.move(uow, MovementCreate(kind="retain", container=released[1], quantity=D("0.5"),
                                           to_location="QC-RS", reference="LY-DS20260915"))  # fmt: skip
            uow.commit()
    with UnitOfWork(db, keeper.actor) as uow:  # the excursion: the ambient store's air conditioning failed
        stock.record_reading(uow, ReadingCreate(location="WH-RM-AM", measured_at=clock.now(), temp_c=D("31.5"),
                                                humidity_pct=D("58")))  # fmt: skip
        uow.commit()
    if batch_no is None:
        return added
    # the prepared solution of the completed batch, held 24 h at 2–8 °C
    with UnitOfWork(db, operator.actor) as uow:
        item = stock.create_intermediate(uow, IntermediateCreate(
            material="IM-DH-SOL", lot_number=f"{batch_no}-SOL", batch_no=batch_no, quantity=D(120),
            location="WS-IM", produced_at=now - timedelta(hours=6), hold_hours=24,
        ))  # fmt: skip
        uow.commit()
        item_id = item.id
    with UnitOfWork(db, qa.actor, reason="in-process control results conform (demo)") as uow:
        stock.decide_intermediate(uow, item_id, "release")
        uow.commit()
    return added
