"""Every code's lifecycle is an event in the ledger: the transition table, refusals that change nothing, the
items' SM3, and the database guards behind it (NMPAB/T 1002, SH-6.2.5, SH-7.1.3.c, issue 10 item 1)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from trace_steps import batch_id, codes, pool_of

from helpers import actor, audit_entries, behind_the_apps_back, count_rows
from pharmatrace.kernel.errors import Conflict, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.trace import lifecycle
from pharmatrace.trace.models import TraceCode, TraceEvent, TraceEventItem

UNITS = [f"6901234{n:09d}7788" for n in range(1, 7)]
CASE = "69012990000000011234"


def _do(db: Database, action: str, values: list[str], login: str = "zhangwei", **kw: object) -> TraceEvent:
    with UnitOfWork(db, actor(db, login)) as uow:
        found = list(
            uow.session.scalars(select(TraceCode).where(TraceCode.value.in_(values)).order_by(TraceCode.id))
        )
        if "parent" in kw:
            kw["parent"] = uow.session.scalar(select(TraceCode).where(TraceCode.value == kw["parent"]))
        event = lifecycle.record(uow, action, found, **kw)  # type: ignore[arg-type]
        uow.commit()
        return event


@pytest.mark.clause("SH-6.2.5", "TJ-9.1")
def test_a_code_goes_from_the_pool_to_a_pack_and_every_step_is_a_vouched_event(db: Database) -> None:
    pool_of(db, UNITS)
    pool_of(db, [CASE], level=3, code="6901299", pack_quantity=6)
    batch = batch_id(db)
    _do(db, "allocate", [*UNITS, CASE], batch_order_id=batch, line="PK-01")
    _do(db, "commission", [*UNITS, CASE])
    _do(db, "pack", UNITS[:5], parent=CASE)
    _do(db, "decommission", UNITS[5:], disposition="sample", reason="QC retention sample")

    units = codes(db, UNITS)
    assert [c.state for c in units] == ["packed"] * 5 + ["decommissioned"]
    assert {c.batch_order_id for c in units} == {batch} and {c.line for c in units} == {"PK-01"}
    case = codes(db, [CASE])[0]
    assert {c.parent_id for c in units[:5]} == {case.id} and units[5].parent_id is None
    assert units[5].disposition == "sample"
    with db.sessions() as session:
        steps = [
            (item.from_state, item.to_state, event.action)
            for item, event in lifecycle.history(session, units[0].id)
        ]
        assert steps == [(None, "available", "generate"), ("available", "allocated", "allocate"),
                         ("allocated", "commissioned", "commission"), ("commissioned", "packed", "pack")]  # fmt: skip
        mine = {item.event_id for c in [*units, case] for item, _ in lifecycle.history(session, c.id)}
        events = list(session.scalars(select(TraceEvent).where(TraceEvent.id.in_(mine))))
        assert len(events) == 6 and all(lifecycle.verify_event(session, e.id) for e in events)
        assert all(lifecycle.verify_code(session, c) for c in [*units, case])
    # each event is one audited record: its audit entry (a ledger leaf) names the items' SM3
    pack = next(e for e in events if e.action == "pack")
    entry = audit_entries(db, object_type="trace_event", object_id=str(pack.id))
    assert len(entry) == 1 and pack.items_sm3 in str(entry[0].changes)
    assert pack.count == 5 and pack.parent_code_id == case.id


@pytest.mark.clause("SH-6.2.5")
def test_refused_transitions_name_the_code_and_change_nothing(db: Database) -> None:
    pool_of(db, UNITS)
    batch = batch_id(db)
    _do(db, "allocate", UNITS[:3], batch_order_id=batch, line="PK-01")
    before = (count_rows(db, TraceEvent), count_rows(db, TraceEventItem))
    refusals: list[tuple[str, list[str], dict[str, object], type[Exception], str]] = [
        ("commission", UNITS[2:4], {}, lifecycle.TransitionRefused, f"{UNITS[3]} is “Available”: “Commissioned” cannot follow"),
        ("pack", UNITS[:1], {"parent": UNITS[1]}, lifecycle.TransitionRefused, "is “Allocated”"),
        ("decommission", UNITS[:1], {"disposition": "lost", "reason": "x-ray"}, ValidationFailed, "needs a reason"),
        ("decommission", UNITS[:1], {"disposition": "damaged"}, ValidationFailed, "“Decommissioned” needs a reason"),
    ]  # fmt: skip
    for action, values, kw, error, message in refusals:
        with pytest.raises(error, match=message):
            _do(db, action, values, **kw)
    assert [c.state for c in codes(db, UNITS)] == ["allocated"] * 3 + ["available"] * 3
    assert (count_rows(db, TraceEvent), count_rows(db, TraceEventItem)) == before

    _do(db, "commission", UNITS[:2])
    _do(db, "decommission", UNITS[:1], disposition="sample", reason="retention sample")
    _do(db, "decommission", UNITS[1:2], disposition="stolen", reason="case stolen in transit")
    with pytest.raises(lifecycle.TransitionRefused, match="never be reactivated"):
        _do(db, "reactivate", UNITS[:1], reason="found again")
    _do(db, "reactivate", UNITS[1:2], reason="recovered by the police, intact")
    assert [c.state for c in codes(db, UNITS[:2])] == ["decommissioned", "commissioned"]
    assert codes(db, UNITS[1:2])[0].disposition is None
    _do(db, "decommission", UNITS[5:], disposition="damaged", reason="label roll damaged before use")
    unused = codes(db, UNITS[5:])[0]  # a code never used leaves the pool without a batch
    assert (unused.state, unused.disposition, unused.batch_order_id) == ("decommissioned", "damaged", None)
    _do(db, "decommission", UNITS[4:5], disposition="stolen", reason="label roll stolen from the store")
    with pytest.raises(lifecycle.TransitionRefused, match="never used on a batch"):
        _do(db, "reactivate", UNITS[4:5], reason="roll found again")

    with pytest.raises(Conflict, match="never reused"):  # a code stored once is never stored again
        pool_of(db, [UNITS[0], "69012340000000999999"])
    with pytest.raises(ValidationFailed, match="appears twice"):
        pool_of(db, ["69012340000000999999", "69012340000000999999"])
    with db.sessions() as session:
        assert (
            session.scalar(select(func.count()).select_from(TraceCode).where(TraceCode.value.like("%999999")))
            == 0
        )


@pytest.mark.both  # constraints the database enforces: proven on both dialects
@pytest.mark.clause("SH-7.1.3.c", "SH-6.2.5")
def test_codes_change_only_in_the_unit_of_work_and_a_forged_change_is_caught(db: Database) -> None:
    pool_of(db, UNITS[:2])
    unit = codes(db, UNITS[:1])[0]
    with pytest.raises(DBAPIError), db.engine.begin() as conn:  # outside the unit of work
        conn.execute(text("UPDATE trace_codes SET state = 'commissioned' WHERE id = :i"), {"i": unit.id})
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # a code's value is fixed for ever
        conn.execute(text("UPDATE trace_codes SET value = 'X' WHERE id = :i"), {"i": unit.id})
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # items are append-only
        conn.execute(
            text("UPDATE trace_event_items SET to_state = 'shipped' WHERE code_id = :i"), {"i": unit.id}
        )
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("DELETE FROM trace_codes WHERE id = :i"), {"i": unit.id})
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # a state outside the table
        conn.execute(text("UPDATE trace_codes SET state = 'lost' WHERE id = :i"), {"i": unit.id})
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # packed without a parent
        conn.execute(text("UPDATE trace_codes SET state = 'packed', batch_order_id = :b WHERE id = :i"),
                     {"i": unit.id, "b": batch_id(db)})  # fmt: skip
    with db.sessions() as session:
        assert lifecycle.verify_code(session, codes(db, UNITS[:1])[0])
    # a superuser forging the marker: the row no longer agrees with its last vouched event
    with behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE trace_codes SET state = 'allocated', batch_order_id = :b WHERE id = :i"),
                     {"i": unit.id, "b": batch_id(db)})  # fmt: skip
    with db.sessions() as session:
        assert not lifecycle.verify_code(session, codes(db, UNITS[:1])[0])
        assert lifecycle.verify_code(session, codes(db, UNITS[1:2])[0])
