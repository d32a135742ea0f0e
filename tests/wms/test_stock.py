"""Stock movements and the real-time stock (TJ-6.4.3.6, TJ-6.3.3): every move recorded with who, when and why;
stock by material, lot, location and status, read from the balances."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError
from receiving import received
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from stocking import (
    KEEPER,
    QUARANTINED,
    REJECTED,
    RELEASED,
    UNDER_TEST,
    containers,
    lot_id,
    move,
    moves_of,
    where,
)

from demo_codes import demo_codes
from helpers import audit_entries, behind_the_apps_back, count_rows
from pharmatrace.kernel.errors import NotFound
from pharmatrace.storage.engine import Database
from pharmatrace.wms import stock
from pharmatrace.wms.stock import StockRefused
from pharmatrace.wms.stock_models import StockMovement
from pharmatrace.wms.stock_schemas import MovementCreate

pytestmark = pytest.mark.clause("TJ-6.4.3.6")


def test_a_scanned_container_is_in_the_receiving_area_then_put_away(db: Database) -> None:
    _, lot = received(db, containers=2, supplier_lot="DS2611-ST1")
    with db.sessions() as session:
        codes = [c.code for c in stock.lots.get_lot(session, lot).containers]
    assert where(db, codes[0]) == ("WH-RM-RCV", Decimal("25.000"))
    assert moves_of(db, codes[0]) == [("receive", None, "WH-RM-RCV")]

    movement = move(db, kind="put_away", container=codes[0], to_location="WH-RM-QA")
    assert where(db, codes[0]) == ("WH-RM-QA", Decimal("25.000"))
    assert (movement.moved_by, movement.reason) == (KEEPER, "put away")
    assert moves_of(db, codes[0])[-1] == ("put_away", "WH-RM-RCV", "WH-RM-QA")
    trail = audit_entries(db, object_type="stock_balance", object_id=str(movement.container_id))
    assert [e.event for e in trail] == ["create", "update"]
    assert trail[-1].reason == "put away" and trail[-1].actor_login == KEEPER


def test_a_transfer_needs_its_reason_and_records_from_and_to(db: Database) -> None:
    code = containers(db, UNDER_TEST)[0]
    with pytest.raises(ValidationError):
        MovementCreate(kind="transfer", container=code, to_location="WH-RM-AM-02")
    move(db, kind="transfer", container=code, to_location="WH-RM-AM-02", reason="bin 1 is being cleaned")
    assert where(db, code)[0] == "WH-RM-AM-02"
    assert moves_of(db, code)[-1] == ("transfer", "WH-RM-AM-01", "WH-RM-AM-02")


@pytest.mark.clause("TJ-6.3.3")
def test_material_reaches_a_workshop_store_only_by_an_issue(db: Database) -> None:
    code = containers(db, UNDER_TEST)[0]
    before = count_rows(db, StockMovement)
    with pytest.raises(StockRefused, match="only by an issue"):
        move(db, kind="transfer", container=code, to_location="WS-WC", reason="to the weighing centre")
    with pytest.raises(StockRefused, match="stored at WH-RM-AM-01 already"):
        move(db, kind="put_away", container=code, to_location="WH-RM-AM-02")
    with pytest.raises(StockRefused, match="Only material in a workshop store is returned"):
        move(db, kind="return", container=code, to_location="WH-RM-AM-02", reason="not needed")
    assert where(db, code) == ("WH-RM-AM-01", Decimal("25.000"))
    assert count_rows(db, StockMovement) == before


def test_sampling_takes_a_quantity_and_no_more_than_is_left(db: Database) -> None:
    code = containers(db, QUARANTINED)[0]
    move(db, kind="sample", container=code, quantity=Decimal("0.25"), reference="QC-2611-001")
    assert where(db, code) == ("WH-RM-QA", Decimal("24.750"))
    before = count_rows(db, StockMovement)
    with pytest.raises(StockRefused, match=r"holds 24\.75 kg"):
        move(db, kind="sample", container=code, quantity=Decimal("30"))
    assert where(db, code) == ("WH-RM-QA", Decimal("24.750"))
    assert count_rows(db, StockMovement) == before


def test_only_rejected_expired_or_damaged_material_is_destroyed(db: Database) -> None:
    good = containers(db, RELEASED)[3]
    with pytest.raises(StockRefused, match="Only rejected, expired or damaged"):
        move(db, kind="destroy", container=good, reason="clearing the bin")
    assert where(db, good) == ("WH-RM-CL-01", Decimal("25.000"))
    bad = containers(db, REJECTED)[0]
    movement = move(db, kind="destroy", container=bad, reason="rejected lot destroyed under QA supervision")
    assert where(db, bad) == (None, Decimal("0.000"))
    assert movement.quantity == Decimal("5000.000") and movement.to_location_id is None
    with pytest.raises(StockRefused, match="not in stock"):
        move(db, kind="transfer", container=bad, to_location="WH-RM-QA", reason="again")


def test_an_unknown_container_or_location_is_named_in_the_refusal(db: Database) -> None:
    with pytest.raises(NotFound, match="No container with code “YC000000000-001”"):
        move(db, kind="put_away", container="YC000000000-001", to_location="WH-RM-QA")
    code = containers(db, UNDER_TEST)[0]
    with pytest.raises(NotFound, match="No location with code “NOWHERE”"):
        move(db, kind="transfer", container=code, to_location="NOWHERE", reason="test")


def test_stock_by_material_lot_location_and_status_with_totals(db: Database) -> None:
    with db.sessions() as session:
        everything = stock.stock_query(session)
        herbs = stock.stock_query(session, material="hb-ds-001")
        cool = stock.stock_query(session, location="WH-RM-CL")  # the zone: its bins included
        released = stock.stock_query(session, status="released")
        one_lot = stock.stock_query(session, lot=herbs.rows[0].lot_number)
        scanned = stock.stock_query(session, text=containers(db, UNDER_TEST)[2])
        nothing = stock.stock_query(session, material="NO-SUCH")
    assert everything.containers == len(everything.rows) >= 14
    assert {r.material_code for r in herbs.rows} == {"HB-DS-001"}
    total = herbs.totals[0]
    assert total.quantity == sum(r.quantity for r in herbs.rows)
    assert (total.containers, total.lots) == (len(herbs.rows), len({r.lot_id for r in herbs.rows}))
    assert {r.location_code for r in cool.rows} == {"WH-RM-CL-01"}
    assert {r.status for r in released.rows} == {"released"}
    assert {r.lot_id for r in one_lot.rows} == {herbs.rows[0].lot_id}
    assert [r.container_code for r in scanned.rows] == [containers(db, UNDER_TEST)[2]]
    assert nothing.rows == [] and nothing.totals == []


def test_the_stock_is_real_time(db: Database) -> None:
    code = containers(db, UNDER_TEST)[0]
    with db.sessions() as session:
        before = stock.stock_query(session, location="WH-RM-AM-02").containers
    move(db, kind="transfer", container=code, to_location="WH-RM-AM-02", reason="re-slotting")
    with db.sessions() as session:
        assert stock.stock_query(session, location="WH-RM-AM-02").containers == before + 1
        assert code not in {r.container_code for r in stock.stock_query(session, location="WH-RM-AM-01").rows}


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
def test_movements_are_append_only_in_the_database(db: Database) -> None:
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE stock_movements SET quantity = 1"))
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("DELETE FROM stock_movements"))
    with pytest.raises(DBAPIError), db.engine.begin() as conn:  # outside the unit of work
        conn.execute(text("UPDATE stock_balances SET quantity = 1"))


def test_movements_of_a_lot_and_a_location_are_traceable(db: Database) -> None:
    lot = lot_id(db, RELEASED)
    with db.sessions() as session:
        of_lot = stock.movements(session, lot_id=lot)
        place = stock.location_by_code(session, "WH-RM-CL-01")
        of_place = stock.movements(session, location_id=place.id)
    assert {m.kind for m in of_lot} >= {"put_away", "issue", "retain"}
    assert {m.lot_id for m in of_place} >= {lot}
    issued = next(m for m in of_lot if m.kind == "issue")
    assert issued.batch_no == demo_codes(db).batch_done and issued.quantity == Decimal("10.000")


@pytest.mark.clause("TJ-6.4.3.6", "SH-7.1.3.c")
def test_moves_and_readings_keep_the_ledger_verifiable(db: Database) -> None:
    from stocking import reading

    from pharmatrace.kernel import ledger

    move(db, kind="sample", container=containers(db, QUARANTINED)[0], quantity=Decimal("0.125"))
    move(
        db, kind="transfer", container=containers(db, UNDER_TEST)[0], to_location="WH-RM-AM-02", reason="test"
    )
    reading(db, "WH-RM-CL", "17", humidity="55")  # 17 → 17.0: held at the column's scale
    assert ledger.verify(db).problems == []


@pytest.mark.clause("TJ-6.3.3")
def test_a_container_issued_into_the_weighing_centre_and_returned(db: Database) -> None:
    from stocking import open_anomalies

    code = containers(db, RELEASED)[3]
    batch = demo_codes(db).batch_in_progress
    with pytest.raises(StockRefused, match="goes into a workshop store whole"):
        move(db, kind="issue", container=code, to_location="WS-WC", quantity=Decimal("5"), batch_no=batch)
    issued = move(db, kind="issue", container=code, to_location="WS-WC", batch_no=batch)
    assert (issued.quantity, issued.batch_no) == (Decimal("25.000"), batch)
    assert where(db, code) == ("WS-WC", Decimal("25.000"))
    with db.sessions() as session:
        row = stock.stock_query(session, text=code).rows[0]
    assert (row.location_code, row.batch_no) == ("WS-WC", batch)
    # the weighing centre keeps 18–26 °C, not the herb's ≤20 °C: flagged at once
    assert [a.kind for a in open_anomalies(db, lot_id(db, RELEASED))] == ["location_unfit"]
    with pytest.raises(StockRefused, match="by a return"):
        move(db, kind="transfer", container=code, to_location="WH-RM-CL-01", reason="back")
    move(db, kind="return", container=code, to_location="WH-RM-CL-01", reason=f"batch {batch} postponed")
    with db.sessions() as session:
        row = stock.stock_query(session, text=code).rows[0]
    assert (row.location_code, row.batch_no) == ("WH-RM-CL-01", "")
    assert moves_of(db, code)[-2:] == [("issue", "WH-RM-CL-01", "WS-WC"), ("return", "WS-WC", "WH-RM-CL-01")]
