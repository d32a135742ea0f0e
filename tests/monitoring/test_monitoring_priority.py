"""Alarms do not wait for the batch: a reading that may raise or clear an alarm sends its batch at once (within the
priority delay), through the same journal, in order; the other readings are still batched; a rule added while the
collector runs is followed (TJ-6.5, TJ-6.4.3.4, SH-8.4.3; ADR 0021 addendum)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from monitoring_steps import configure

from helpers import principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import alarms
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.alarm_schemas import AlarmFilter, AlarmPublic, RuleCreate
from pharmatrace.monitoring.collector import Collector
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.priority import AlarmTriggers, RuleSnapshot
from pharmatrace.storage.engine import Database

FLUSH_S = 60.0  # the batch's own deadline: nothing in these tests may be stored because of it
WITHIN_S = 5.0  # well before it: what the priority flush (0.2 s) must achieve
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def _until(condition: Callable[[], bool], what: str, seconds: float = WITHIN_S) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s (the batch's flush is {FLUSH_S} s): {what}")
        await asyncio.sleep(0.02)


def _source(db: Database, *names: str) -> str:
    return configure(db, "mqtt", "mqtt://127.0.0.1:1883",
                     [Binding(name, f"plant/{name}#v", "decimal", 2) for name in names])  # fmt: skip


def _rule(db: Database, tag: str, **limits: object) -> int:
    engineer = principal(db, "wuhao")
    with UnitOfWork(db, engineer.actor) as uow:
        body = RuleCreate.model_validate({"tag": tag, "name": "EM", **limits})
        rule = alarms.create_rule(uow, engineer, body)
        uow.commit()
        return rule.id


def _alarms(db: Database, tag: str) -> list[AlarmPublic]:
    with db.sessions() as session:
        return sorted(alarms.search(session, AlarmFilter(tag=tag)), key=lambda a: a.id)


def _reading(tag: str, seconds: float, value: str) -> Reading:
    return Reading(tag, _at(seconds), Decimal(value))


@pytest.mark.clause("TJ-6.5", "TJ-6.4.3.4", "SH-8.4.3")
def test_an_excursion_is_stored_and_its_alarm_raised_and_cleared_without_waiting_for_the_batch(
    db: Database,
) -> None:
    tag = f"RM-WEIGH.t{time.time_ns() % 10**8}"
    code = _source(db, tag)
    _rule(db, tag, alert_high="25", deadband="0.5")
    collector = Collector(db, code, batch_size=1000, flush_seconds=FLUSH_S, priority_seconds=0.2)
    queue: asyncio.Queue[Reading] = asyncio.Queue()

    async def main() -> None:
        collecting = asyncio.create_task(collector.run(queue))
        try:
            await _until(lambda: bool(collector.triggers.rules), "the rules read")
            # the first value after a start: it may clear an alarm open from before
            queue.put_nowait(_reading(tag, 0, "21.00"))
            await _until(lambda: collector.forwarded == 1, "the first value stored")
            for second in range(1, 11):  # normal values: batched, not one ingest each
                queue.put_nowait(_reading(tag, second, f"2{second % 4}.50"))
            await asyncio.sleep(0.6)  # three times the priority delay
            assert (collector.received, collector.journaled, len(collector.results)) == (11, 1, 1)

            queue.put_nowait(_reading(tag, 11, "25.01"))  # beyond the alert limit
            await _until(lambda: collector.forwarded == 12 and len(_alarms(db, tag)) == 1, "the alarm raised")
            # the excursion went out with the normal values before it, in their order: one ingest of 11
            assert (collector.forwarded, [r.stored for r in collector.results]) == (12, [1, 11])
            raised = _alarms(db, tag)[0]
            assert (raised.condition, raised.raised_at, raised.value, raised.state) == (
                "high_alert", _at(11), "25.01", "active")  # fmt: skip

            queue.put_nowait(_reading(tag, 12, "26.00"))  # still beyond: the alarm is raised already
            queue.put_nowait(_reading(tag, 13, "24.80"))  # inside the deadband: clears nothing
            await asyncio.sleep(0.6)
            assert (collector.journaled, _alarms(db, tag)[0].cleared_at) == (12, None)
            queue.put_nowait(_reading(tag, 14, "24.50"))  # back inside, deadband included
            await _until(lambda: collector.forwarded == 15, "the value back inside stored")
            assert _alarms(db, tag)[0].cleared_at == _at(14)  # cleared by it
        finally:
            collecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collecting

    asyncio.run(main())
    assert collector.counts().pending == 0 and sum(r.duplicates for r in collector.results) == 0


@pytest.mark.clause("TJ-6.5", "SH-8.4.3")
def test_a_rule_added_while_the_collector_runs_sends_its_excursions_at_once(db: Database) -> None:
    tag = f"RM-WEIGH.p{time.time_ns() % 10**8}"
    code = _source(db, tag)
    collector = Collector(db, code, batch_size=1000, flush_seconds=FLUSH_S, rules_seconds=0.2)
    queue: asyncio.Queue[Reading] = asyncio.Queue()

    async def main() -> None:
        collecting = asyncio.create_task(collector.run(queue))
        try:
            queue.put_nowait(_reading(tag, 0, "5.00"))
            queue.put_nowait(_reading(tag, 1, "25.00"))  # no rule yet: nothing is urgent
            await asyncio.sleep(0.6)
            assert (collector.received, collector.journaled) == (2, 0)
            await asyncio.to_thread(_rule, db, tag, action_low="10", bad_quality=True, on_delay_s=2)
            await _until(lambda: bool(collector.triggers.rules), "the new rule read")
            queue.put_nowait(_reading(tag, 2, "9.00"))  # below the action limit, the on-delay starts
            await _until(lambda: collector.forwarded == 3, "the excursion's start stored")
            assert _alarms(db, tag) == []  # not yet held for the on-delay
            queue.put_nowait(_reading(tag, 4, "8.00"))  # held 2 s: raises
            await _until(lambda: collector.forwarded == 4, "the value reaching the on-delay stored")
            assert (_alarms(db, tag)[0].began_at, _alarms(db, tag)[0].raised_at) == (_at(2), _at(4))
            queue.put_nowait(Reading(tag, _at(5), None, "bad", 0x808B0000))  # Bad: the bad-quality condition
            await _until(lambda: collector.forwarded == 5, "the Bad value stored")
        finally:
            collecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collecting

    asyncio.run(main())


def _triggers(**limits: object) -> AlarmTriggers:
    return AlarmTriggers([RuleSnapshot(1, "T", **limits)])  # type: ignore[arg-type]


def _urgent(triggers: AlarmTriggers, *points: tuple[float, str | None]) -> list[bool]:
    return [triggers.urgent(Reading("T", _at(s), Decimal(v) if v is not None else None,
                                    "good" if v is not None else "bad")) for s, v in points]  # fmt: skip


@pytest.mark.clause("TJ-6.5")
def test_what_may_raise_or_clear_an_alarm_is_urgent_and_nothing_else() -> None:
    """The collector's answer follows the evaluation's runs: urgent until a run has lasted its delay, including
    the value that reaches it; inside the deadband and during a run already past its delay nothing is."""
    limits = {"alert_high": Decimal(25), "deadband": Decimal("0.5"), "on_delay_s": 3, "off_delay_s": 2}
    assert _urgent(_triggers(**limits),
                   (0, "20"), (1, "20"),  # the first values after a start: an alarm may be open, clearing
                   (2, "21"),  # … after the off-delay (2 s), reached here: nothing more to clear
                   (3, "26"), (4, "27"), (6, "27"),  # beyond: urgent until it has held the on-delay (raised at 6)
                   (7, "28"), (8, "29"),  # the alarm is raised: nothing changes
                   (9, "24.9"),  # inside the deadband: neither
                   (10, "24"), (11, "24"), (12, "24"),  # back: urgent until the off-delay is reached (at 12)
                   (13, "23"), (14, None),  # Bad: the limit alarm waits for the next usable value
                   (15, "23"), (16, "26"),  # beyond again: a new run
                   (16, "20"), (15.5, "20"),  # a re-delivered and a late value: urgent
                   ) == [True, True, True, True, True, True, False, False, False, True, True, True, False, False,
                         False, True, True, True]  # fmt: skip
    assert _urgent(_triggers(bad_quality=True), (0, "1"), (1, "1"), (2, None), (3, None), (4, "1")) == [
        True, False, True, False, True]  # fmt: skip
    # the rate: the database may hold the value before the first one here; then each new run
    assert _urgent(_triggers(rate_per_minute=Decimal(60)),
                   (0, "1"), (60, "2"), (120, "100"), (180, "200"), (240, "200")) == [True, True, True, False, True]  # fmt: skip
    deviation = _triggers(set_point=Decimal(20), deviation=Decimal(2))
    assert _urgent(deviation, (0, "20"), (1, "21"), (2, "17.9"), (3, "17")) == [True, False, True, False]
    # no rule on the tag: never urgent; a rule changed: its runs start afresh
    assert _urgent(AlarmTriggers(), (0, "99")) == [False]
    changed = _triggers(alert_high=Decimal(25))
    assert _urgent(changed, (0, "20"), (1, "20")) == [True, False]
    changed.replace([RuleSnapshot(1, "T", alert_high=Decimal(30))])
    assert _urgent(changed, (2, "20"), (3, "20")) == [True, False]
    changed.replace([RuleSnapshot(1, "T", alert_high=Decimal(30))])  # the same rule read again
    assert _urgent(changed, (4, "20")) == [False]
