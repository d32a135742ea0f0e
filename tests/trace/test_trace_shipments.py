"""Shipments picked by scanning pallets and cases, shipped as one vouched event with everything inside; picks of
codes inside a case or of unreleased batches refused; returns restocked or destroyed by QA; the picks' guards in
the database (SH-6.2.5, TJ-9.1, SH-7.1.3.c, issue 10 item 4)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from trace_steps import codes, commissioned

from demo_codes import demo_codes
from helpers import behind_the_apps_back, count_rows, principal
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import NotFound, NotPermitted
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.trace import aggregation, lifecycle, shipments
from pharmatrace.trace.models import Customer, TraceEvent
from pharmatrace.trace.shipment_models import ShipmentPick
from pharmatrace.trace.shipment_schemas import CustomerCreate, ShipmentCreate

UNITS = [f"6901234{n:09d}7788" for n in range(1, 11)]
CASES = [f"6901299{n:09d}1234" for n in range(1, 5)]


def _run(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
        return result


def _shipment(db: Database, code: str = "HOSP-01") -> str:
    def write(uow: UnitOfWork, who: Any) -> str:
        if uow.session.scalar(select(Customer.id).where(Customer.code == code)) is None:
            body = CustomerCreate(code=code, name="上海第一人民医院", kind="hospital", address="上海市虹口区武进路85号",
                                  licence_no="沪AA0210001")  # fmt: skip
            shipments.create_customer(uow, who, body)
        return shipments.create_shipment(uow, who, ShipmentCreate(customer=code)).number

    return str(_run(db, "zhouqiang", write))


def _pick(db: Database, number: str, scan: str) -> None:
    _run(db, "zhouqiang", lambda uow, who: shipments.pick(uow, who, number, scan))


def _cases(db: Database, per_case: int = 3, cases: int = 2) -> None:
    """``cases`` cases of the demo plant's completed batch (released), ``per_case`` units each."""
    commissioned(db, UNITS[: per_case * cases])
    commissioned(db, CASES[:cases], level=3, code="6901299", pack_quantity=6)
    for n in range(cases):
        _run(db, "zhangwei", lambda uow, who, n=n: aggregation.pack(
            uow, who, CASES[n], UNITS[n * per_case : (n + 1) * per_case]))  # fmt: skip


@pytest.mark.clause("SH-6.2.5", "TJ-9.1")
def test_a_pallet_is_picked_by_its_sscc_and_ships_with_everything_inside_as_one_vouched_event(
    db: Database,
) -> None:
    batch = demo_codes(db).batch_done
    _cases(db)
    pallet = _run(db, "zhouqiang", lambda uow, who: aggregation.new_pallet(uow, who, "WH-DOCK")).value
    _run(db, "zhouqiang", lambda uow, who: aggregation.pack(uow, who, pallet, CASES[:2]))
    number = _shipment(db)
    _pick(db, number, f"]C100{pallet}")  # GS1-128 as the scanner types it
    with db.sessions() as session:
        detail = shipments.shipment_detail(session, number)
        assert detail.status == "picking" and detail.units_by_batch == {batch: 6}
        assert [(p.code, p.status) for p in detail.picks] == [(pallet, "picked")]
    with pytest.raises(aggregation.AggregationRefused, match=f"picked onto shipment {number}"):
        _run(db, "zhangwei", lambda uow, who: aggregation.unpack(uow, who, CASES[0], None, "rework"))

    event = _run(db, "zhouqiang", lambda uow, who: shipments.ship(uow, who, number))
    inside = codes(db, [pallet, *CASES[:2], *UNITS[:6]])
    assert {c.state for c in inside} == {"shipped"}
    with db.sessions() as session:
        shipment = shipments.get_shipment(session, number)
        assert {c.shipment_id for c in inside} == {shipment.id} and shipment.shipped_at is not None
        ship = session.get_one(TraceEvent, event.id)
        assert ship.action == "ship" and ship.count == 9 and ship.shipment_id == shipment.id
        assert lifecycle.verify_event(session, ship.id)
        assert all(lifecycle.verify_code(session, c) for c in inside)
        assert shipments.shipment_detail(session, number).units_by_batch == {batch: 6}
        assert [
            s.number for s in shipments.list_shipments(session, status="shipped", customer="hosp-01")
        ] == [number]
    commissioned(db, [UNITS[9]])
    with pytest.raises(aggregation.AggregationRefused, match=f"{CASES[0]} is shipped"):  # a shipped parent
        _run(db, "zhangwei", lambda uow, who: aggregation.pack(uow, who, CASES[0], [UNITS[9]]))


@pytest.mark.clause("TJ-9.1", "SH-6.2.5")
def test_refused_picks_name_the_code_and_change_nothing(db: Database) -> None:
    in_progress = demo_codes(db).batch_in_progress  # no released finished lot
    _cases(db, per_case=2, cases=1)
    commissioned(db, UNITS[6:8], batch_no=in_progress)
    commissioned(db, [CASES[3]], level=3, code="6901299", batch_no=in_progress)
    _run(db, "zhangwei", lambda uow, who: aggregation.pack(uow, who, CASES[3], UNITS[6:8]))
    number, other = _shipment(db), _shipment(db)
    _pick(db, number, CASES[0])
    commissioned(db, [UNITS[8]], commission=False)
    before = (count_rows(db, ShipmentPick), count_rows(db, TraceEvent))
    refusals: list[tuple[str, str, type[Exception], str]] = [
        (number, UNITS[0], shipments.ShipmentRefused, f"{UNITS[0]} is inside {CASES[0]}: pick {CASES[0]}"),
        (number, CASES[3], shipments.ShipmentRefused, f"batch {in_progress} is not released by QA"),
        (number, "69012340000000999999", NotFound, "No traceability code 69012340000000999999"),
        (other, CASES[0], shipments.ShipmentRefused, f"{CASES[0]} is already picked on shipment {number}"),
        (number, UNITS[8], shipments.ShipmentRefused, f"{UNITS[8]} is allocated: only commissioned codes"),
    ]
    for shipment, scan, error, message in refusals:
        with pytest.raises(error, match=message):
            _pick(db, shipment, scan)
    _run(
        db, "zhouqiang", lambda uow, who: shipments.cancel(uow, who, other, "order withdrawn by the customer")
    )
    with pytest.raises(shipments.ShipmentRefused, match="cancelled: it is no longer being picked"):
        _pick(db, other, UNITS[8])
    assert (count_rows(db, ShipmentPick), count_rows(db, TraceEvent)) == before
    with db.sessions() as session:
        assert [(p.code, p.status) for p in shipments.shipment_detail(session, number).picks] == [
            (CASES[0], "picked")
        ]


@pytest.mark.clause("TJ-9.1", "SH-6.2.5")
def test_returned_goods_are_restocked_or_destroyed_by_qa(db: Database) -> None:
    _cases(db)
    number = _shipment(db)
    _pick(db, number, CASES[0])
    _pick(db, number, CASES[1])
    _run(db, "zhouqiang", lambda uow, who: shipments.ship(uow, who, number))
    # case 1 comes back whole, one unit of case 2 alone; another unit of case 2 later, broken
    _run(db, "zhouqiang", lambda uow, who: shipments.receive_return(uow, who, number, [CASES[0], UNITS[3]],
                                                                    "wrong product ordered"))  # fmt: skip
    assert [c.state for c in codes(db, [CASES[0], *UNITS[:4], CASES[1]])] == ["returned"] * 5 + ["shipped"]
    with pytest.raises(NotPermitted):  # the decision on returned goods is QA's
        _run(
            db,
            "zhouqiang",
            lambda uow, who: shipments.decide_return(uow, who, [CASES[0]], "restock", "intact"),
        )
    _run(db, "chenjing", lambda uow, who: shipments.decide_return(uow, who, [CASES[0], UNITS[3]], "restock",
                                                                  "seals intact, stored 2–8 °C throughout"))  # fmt: skip
    case, *units = codes(db, [CASES[0], *UNITS[:4]])
    assert (case.state, case.shipment_id, case.parent_id) == ("commissioned", None, None)
    assert [(u.state, u.parent_id) for u in units[:3]] == [("packed", case.id)] * 3
    assert (units[3].state, units[3].parent_id) == ("commissioned", None)  # back without its case: loose

    _run(
        db,
        "zhouqiang",
        lambda uow, who: shipments.receive_return(uow, who, number, [UNITS[4]], "vial cracked"),
    )
    with pytest.raises(shipments.ShipmentRefused, match=f"{UNITS[3]} is commissioned: it is not out"):
        _run(
            db, "zhouqiang", lambda uow, who: shipments.receive_return(uow, who, number, [UNITS[3]], "again")
        )
    _run(
        db,
        "chenjing",
        lambda uow, who: shipments.decide_return(uow, who, [UNITS[4]], "destroy", "vial cracked"),
    )
    broken = codes(db, [UNITS[4]])[0]
    assert (broken.state, broken.disposition) == ("decommissioned", "destroyed")
    with db.sessions() as session:
        actions = [e.action for e in session.scalars(select(TraceEvent).where(TraceEvent.id > 0)
                                                     .order_by(TraceEvent.id))][-5:]  # fmt: skip
        assert actions == ["return", "restock", "unpack", "return", "decommission"]
        assert all(lifecycle.verify_event(session, e.id) for e in session.scalars(select(TraceEvent)))


@pytest.mark.both  # the picks' rules the database itself enforces
@pytest.mark.clause("SH-7.1.3.c", "SH-6.2.5")
def test_a_code_is_picked_once_and_picks_are_never_deleted_nor_written_outside_the_unit_of_work(
    db: Database,
) -> None:
    commissioned(db, UNITS[:1])
    number, other = _shipment(db), _shipment(db)
    _pick(db, number, UNITS[0])
    with db.sessions() as session:
        first = shipments.get_shipment(session, number).id
        pick = session.scalars(select(ShipmentPick).where(ShipmentPick.shipment_id == first)).one()
        other_id = shipments.get_shipment(session, other).id
    picks = count_rows(db, ShipmentPick)  # the demo plant's picks and this one
    row = {"s": other_id, "c": pick.code_id, "at": clock.now()}
    insert = "INSERT INTO trace_shipment_picks (shipment_id, code_id, status, picked_at, picked_by) "
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # picked on two shipments at once
        conn.execute(text(insert + "VALUES (:s, :c, 'picked', :at, 'x')"), row)
    with pytest.raises(DBAPIError), db.engine.begin() as conn:  # outside the unit of work
        conn.execute(text(insert + "VALUES (:s, :c, 'unpicked', :at, 'x')"), row)
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # taken off without who, when and why
        conn.execute(
            text("UPDATE trace_shipment_picks SET status = 'unpicked' WHERE id = :i"), {"i": pick.id}
        )
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("DELETE FROM trace_shipment_picks WHERE id = :i"), {"i": pick.id})
    assert count_rows(db, ShipmentPick) == picks
