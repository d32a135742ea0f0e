"""Storage locations (TJ-6.3.3, TJ-6.4.3.6, TJ-5.2.1.2): warehouses, zones and bins, the weighing centre and the
workshop stores, each with its storage conditions; a bin takes the conditions of the zone it is in."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from stocking import KEEPER

from helpers import audit_entries, count_rows, principal
from pharmatrace.kernel.errors import Conflict, NotFound, ReasonRequired
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import stock
from pharmatrace.wms.models import Material
from pharmatrace.wms.stock_models import Location
from pharmatrace.wms.stock_schemas import LocationCreate

pytestmark = pytest.mark.clause("TJ-6.3.3", "TJ-6.4.3.6")


def create(db: Database, **values: Any) -> int:
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        location = stock.create_location(uow, LocationCreate(**values))
        uow.commit()
        return location.id


def test_the_demo_plant_has_its_stores_and_workshop_locations(db: Database) -> None:
    with db.sessions() as session:
        kinds = {loc.kind for loc in stock.list_locations(session)}
        bin_ = stock.location_by_code(session, "WH-RM-CL-01")
        weighing = stock.location_by_code(session, "WS-WC")
        climate = stock.climate_of(session, bin_)
        assert climate is not None and climate.code == "WH-RM-CL" and climate.temp_max_c == Decimal("20.0")
        assert stock.climate_of(session, stock.location_by_code(session, "WH-RM-RCV")) is None
        assert [loc.code for loc in stock.ancestors(session, bin_)] == ["WH-RM-CL-01", "WH-RM-CL", "WH-RM"]
        assert weighing.room_id is not None and weighing.is_workshop
    assert {"weighing_centre", "staging", "buffer", "intermediate_store", "receiving", "bin"} <= kinds


def test_a_bin_under_a_zone_has_its_path_and_its_zone_s_conditions(db: Database) -> None:
    zone = create(db, code="WH-RM-C2", name="阴凉库二区", kind="zone", parent="WH-RM", temp_max_c=Decimal("20"),
                  humidity_max_pct=Decimal("65"), max_reading_gap_minutes=780)  # fmt: skip
    create(db, code="WH-RM-C2-01", name="二区 1 号货位", kind="bin", parent="wh-rm-c2")
    with db.sessions() as session:
        bin_ = stock.location_by_code(session, "WH-RM-C2-01")
        assert bin_.path == "/WH-RM/WH-RM-C2/WH-RM-C2-01/" and bin_.parent_id == zone
        assert set(stock.subtree_ids(session, stock.get_location(session, zone))) == {zone, bin_.id}
        herb = session.query(Material).filter_by(code="HB-DS-001").one()
        extract = session.query(Material).filter_by(code="EX-DH-001").one()  # 2–8 °C
        assert stock.unfit(herb, stock.climate_of(session, bin_)) is None
        problem = stock.unfit(extract, stock.climate_of(session, bin_))
    assert problem is not None and problem.params["needed"] == "≥2.0 °C, ≤8.0 °C"
    entry = audit_entries(db, object_type="location", object_id=str(zone))[-1]
    assert entry.event == "create" and entry.changes["temp_max_c"] == [None, "20.0"]


def test_bad_locations_are_refused_and_nothing_is_written(db: Database) -> None:
    before = count_rows(db, Location)
    with pytest.raises(Conflict, match="WH-RM exists already"):
        create(db, code="WH-RM", name="重复", kind="warehouse")
    with pytest.raises(NotFound, match="No location with code “NO-SUCH”"):
        create(db, code="WH-X1", name="无上级", kind="zone", parent="NO-SUCH")
    with pytest.raises(NotFound, match="No room"):
        create(db, code="WS-X1", name="无房间", kind="staging", room="RM-NONE")
    with pytest.raises(ValidationError):
        LocationCreate(
            code="WH-X2", name="温度倒置", kind="zone", temp_min_c=Decimal(20), temp_max_c=Decimal(10)
        )
    with pytest.raises(ValidationError):
        LocationCreate(code="WH-X3", name="未知类型", kind="garage")  # type: ignore[arg-type]
    assert count_rows(db, Location) == before


def test_a_location_is_voided_with_a_reason_only_when_empty(db: Database) -> None:
    keeper = principal(db, KEEPER).actor
    with db.sessions() as session:
        full = stock.location_by_code(session, "WH-RM-CL").id
    with (
        UnitOfWork(db, keeper, reason="store closed") as uow,
        pytest.raises(Conflict, match="still holds stock"),
    ):
        stock.void_location(uow, full)
    empty = create(db, code="WH-RM-TMP", name="临时区", kind="zone", parent="WH-RM")
    with UnitOfWork(db, keeper) as uow, pytest.raises(ReasonRequired):
        stock.void_location(uow, empty)
        uow.session.flush()
    with UnitOfWork(db, keeper, reason="temporary area given up") as uow:
        stock.void_location(uow, empty)
        uow.commit()
    with db.sessions() as session, pytest.raises(stock.StockRefused, match="is void"):
        stock.location_by_code(session, "WH-RM-TMP")
    assert audit_entries(db, object_type="location", object_id=str(empty))[-1].event == "void"
