"""Aggregation: units into cases, cases onto SSCC pallets, the levels linked; every refusal names the code and
changes nothing; disaggregation and re-aggregation with a reason (SH-6.2.5, NMPAB/T 1002, issue 10 item 3)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from trace_steps import batch_id, codes, commissioned, pool_of

from demo_codes import demo_codes
from helpers import count_rows, principal
from pharmatrace.codes import gs1
from pharmatrace.config import get_settings
from pharmatrace.kernel.errors import NotFound, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.trace import aggregation, lifecycle
from pharmatrace.trace.models import TraceCode, TraceEvent, TraceEventItem

UNITS = [f"6901234{n:09d}7788" for n in range(1, 9)]
CASES = [f"6901299{n:09d}1234" for n in range(1, 3)]


def _run(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
        return result


def _pack(db: Database, parent: str, children: list[str], login: str = "zhangwei") -> TraceEvent:
    return _run(db, login, lambda uow, who: aggregation.pack(uow, who, parent, children))  # type: ignore[no-any-return]


@pytest.mark.clause("SH-6.2.5")
def test_units_go_into_cases_and_cases_onto_an_sscc_pallet_and_move_with_a_reason(db: Database) -> None:
    batch = demo_codes(db).batch_done  # the batch ``commissioned`` allocates to
    with db.sessions() as session:
        demo_events = session.scalar(select(func.max(TraceEvent.id))) or 0
    commissioned(db, UNITS[:6])
    commissioned(db, CASES, level=3, code="6901299", pack_quantity=6)
    _pack(db, CASES[0], UNITS[:5])
    pallet = _run(db, "zhangwei", lambda uow, who: aggregation.new_pallet(uow, who, "PK-01")).value
    prefix = get_settings().gs1_company_prefix
    assert len(pallet) == 18 and pallet.startswith("0" + prefix) and gs1.valid_check_digit(pallet)
    _pack(db, f"(00){pallet}", [CASES[0]])  # the pallet's label scanned as a GS1 element string

    with db.sessions() as session:
        unit = aggregation.find_code(session, UNITS[0])
        assert [c.value for c in aggregation.chain(session, unit)] == [UNITS[0], CASES[0], pallet]
        case = aggregation.content(session, CASES[0])
        assert case.capacity == 6 and len(case.children) == 5 and case.chain == [pallet]
        assert case.units_by_batch == {batch: 5}
        assert aggregation.content(session, pallet).units_by_batch == {batch: 5}
        with pytest.raises(NotFound, match="No traceability code 69012340000000999999"):
            aggregation.find_code(session, "69012340000000999999")

    # two units move to the other case and one leaves it: with a reason, the links follow
    _run(db, "liuyang", lambda uow, who: aggregation.reaggregate(uow, who, CASES[0], CASES[1], UNITS[3:5],
                                                                 "case 1 label damaged, repacked"))  # fmt: skip
    _run(
        db,
        "zhouqiang",
        lambda uow, who: aggregation.unpack(uow, who, CASES[1], [UNITS[4]], "retention sample"),
    )
    with db.sessions() as session:
        assert [c.value for c in aggregation.children(session, codes(db, CASES[1:])[0])] == [UNITS[3]]
        assert codes(db, [UNITS[4]])[0].state == "commissioned" and codes(db, [UNITS[4]])[0].parent_id is None
        moves = list(
            session.scalars(
                select(TraceEvent)
                .where(TraceEvent.action.in_(("pack", "unpack")), TraceEvent.id > demo_events)
                .order_by(TraceEvent.id)
            )
        )  # this test's moves only, not the demo plant's packing
        assert [e.action for e in moves] == ["pack", "pack", "unpack", "pack", "unpack"]
        assert moves[2].reason == "case 1 label damaged, repacked" and moves[4].reason == "retention sample"
        assert all(lifecycle.verify_event(session, e.id) for e in session.scalars(select(TraceEvent)))
        assert all(lifecycle.verify_code(session, c) for c in session.scalars(select(TraceCode)))


@pytest.mark.clause("SH-6.2.5")
def test_every_aggregation_refusal_names_the_code_and_changes_nothing(db: Database) -> None:
    plant = demo_codes(db)
    done, other = plant.batch_done, plant.batch_in_progress
    commissioned(db, UNITS[:7])  # the completed batch
    commissioned(db, [UNITS[7]], batch_no=other)  # another batch
    commissioned(db, CASES, level=3, code="6901299", pack_quantity=6)
    extra = [f"6901234{n:09d}7788" for n in (20, 21)]
    commissioned(db, extra)
    _pack(db, CASES[0], UNITS[:5])
    # one decommissioned (a sample), one allocated only
    with UnitOfWork(db, principal(db, "zhangwei").actor) as uow:
        found = list(uow.session.scalars(select(TraceCode).where(TraceCode.value == extra[0])))
        lifecycle.record(uow, "decommission", found, disposition="sample", reason="QC retention sample")
        uow.commit()
    allocated = "69012340000000307788"
    pool_of(db, [allocated])
    with UnitOfWork(db, principal(db, "zhangwei").actor) as uow:
        found = list(uow.session.scalars(select(TraceCode).where(TraceCode.value == allocated)))
        lifecycle.record(uow, "allocate", found, batch_order_id=batch_id(db), line="PK-01")
        uow.commit()

    before = (count_rows(db, TraceEvent), count_rows(db, TraceEventItem))
    states = {c.value: (c.state, c.parent_id) for c in codes(db, [*UNITS, *CASES, *extra, allocated])}
    refusals = [
        (CASES[1], [UNITS[5], UNITS[0]], f"{UNITS[0]} is already in {CASES[0]}"),  # a unit in two cases
        (CASES[1], [extra[0]], f"{extra[0]} is decommissioned"),  # a decommissioned unit packed
        (CASES[1], [allocated], f"{allocated} is allocated, not commissioned"),
        (CASES[0], [UNITS[7]], f"{UNITS[7]} is of batch {other}, {CASES[0]} of batch {done}"),  # foreign
        (CASES[0], [UNITS[5], UNITS[6]], f"{CASES[0]} holds at most 6: it holds 5 and 2 more"),  # capacity
        (CASES[0], [CASES[0]], "cannot be packed into itself"),
        (
            CASES[0],
            [CASES[1]],
            f"{CASES[1]} \\(Outer case\\) cannot go into {CASES[0]} \\(Outer case\\): "
            "it takes Minimum saleable unit codes",
        ),  # wrong level
        (UNITS[6], [UNITS[5]], f"{UNITS[6]} is a unit: it cannot hold"),
        (CASES[1], [UNITS[5], UNITS[5]], "appears twice"),
    ]
    for parent, children, message in refusals:
        with pytest.raises((aggregation.AggregationRefused, ValidationFailed), match=message):
            _pack(db, parent, children)
    with pytest.raises(aggregation.AggregationRefused, match=f"{UNITS[5]} is not in {CASES[0]}"):
        _run(
            db, "zhangwei", lambda uow, who: aggregation.unpack(uow, who, CASES[0], [UNITS[5]], "wrong case")
        )
    assert (count_rows(db, TraceEvent), count_rows(db, TraceEventItem)) == before
    assert {c.value: (c.state, c.parent_id) for c in codes(db, list(states))} == states


@pytest.mark.clause("SH-6.2.5")
def test_a_product_with_middle_packs_links_three_levels_and_refuses_units_straight_into_its_cases(
    db: Database,
) -> None:
    batch = demo_codes(db).batch_done  # the batch ``commissioned`` allocates to
    commissioned(db, UNITS[:4])
    packs = ["69012550000000015678", "69012550000000025678"]
    commissioned(db, packs, level=2, code="6901255", pack_quantity=2)
    commissioned(db, CASES[:1], level=3, code="6901299", pack_quantity=2)
    with pytest.raises(
        aggregation.AggregationRefused,
        match=f"{UNITS[0]} \\(Minimum saleable unit\\) cannot go into {CASES[0]} \\(Outer case\\): "
        "it takes Middle pack codes",
    ):
        _pack(db, CASES[0], UNITS[:1])
    _pack(db, packs[0], UNITS[:2])
    _pack(db, packs[1], UNITS[2:4])
    _pack(db, CASES[0], packs)
    with db.sessions() as session:
        unit = aggregation.find_code(session, UNITS[3])
        assert [c.value for c in aggregation.chain(session, unit)] == [UNITS[3], packs[1], CASES[0]]
        assert aggregation.content(session, CASES[0]).units_by_batch == {batch: 4}
