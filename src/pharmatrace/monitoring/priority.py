"""Which readings may change an alarm: the collector's priority flush (TJ-6.5, TJ-6.4.3.4; ADR 0021 addendum).

Alarms are evaluated in the ingest's unit of work (ADR 0021), so a reading waiting for its batch waits for its
alarm too. The collector keeps, per tag of its source, a snapshot of the active alarm rules
(:func:`rules_of_source`, read again every ``rules_seconds``) and asks :meth:`AlarmTriggers.urgent` of every
reading whether it *may* raise or clear an alarm; such a reading sends its batch within ``priority_seconds``
instead of ``flush_seconds``. The journal, the acknowledgements and the order are those of any other batch.

The answer follows the evaluation (:func:`pharmatrace.monitoring.alarms.judge`, the same comparison, deadband
and Bad-quality handling) but errs towards "yes": flushing early is only an ingest record more, flushing late is
a late alarm. For each rule and condition it follows the *runs* of values beyond the limit and back inside
(deadband included), and a reading is urgent while its run has not yet lasted the on-delay (beyond) or
off-delay (back) — up to and including the first reading that reaches it, which is the one the evaluation raises
or clears on. It cannot know whether the alarm is open: every new run is urgent, the first value of each tag
after the collector starts too. Also urgent: a value older than the tag's last one (a re-delivery or a late
value: whether the ingest evaluates it depends on what it holds), the first usable value of a tag with a rate
rule (the database knows the value before it), a value the comparison cannot judge (not a number). A Bad value
changes no limit, rate or deviation run (the evaluation waits for the next usable value); with the rule's
``bad_quality`` condition, Bad and back to not-Bad are runs of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from pharmatrace.monitoring import alarms
from pharmatrace.monitoring.alarm_models import AlarmRule
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.models import DataSource, Tag
from pharmatrace.storage.engine import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleSnapshot:
    """An active alarm rule as the collector holds it (equal snapshots: the rule did not change)."""

    id: int
    tag: str
    alert_low: Decimal | None = None
    alert_high: Decimal | None = None
    action_low: Decimal | None = None
    action_high: Decimal | None = None
    rate_per_minute: Decimal | None = None
    set_point: Decimal | None = None
    deviation: Decimal | None = None
    deadband: Decimal = Decimal(0)
    on_delay_s: int = 0
    off_delay_s: int = 0
    bad_quality: bool = False


LIMITS = tuple(f.name for f in fields(RuleSnapshot) if f.name not in ("id", "tag"))


def rules_of_source(db: Database, source_code: str) -> list[RuleSnapshot]:
    """The active rules of the source's tags in use (one query)."""
    query = (
        select(AlarmRule, Tag.name)
        .join(Tag, Tag.id == AlarmRule.tag_id)
        .join(DataSource, DataSource.id == Tag.source_id)
        .where(DataSource.code == source_code.upper(), AlarmRule.voided_at.is_(None), Tag.voided_at.is_(None))
        .order_by(AlarmRule.id)
    )
    with db.sessions() as session:
        return [RuleSnapshot(rule.id, name, **{key: getattr(rule, key) for key in LIMITS})
                for rule, name in session.execute(query)]  # fmt: skip


@dataclass(slots=True)
class _Run:
    beyond: bool  # beyond the limit, or back inside it (deadband included)
    since: datetime  # the run's first value
    reached: bool = False  # a value of the run reached the delay: later ones change nothing


@dataclass(slots=True)
class _Last:
    """The tag's last usable value (what the rate of change is computed from)."""

    last_time: datetime | None = None
    last_number: float | None = None


class AlarmTriggers:
    """``triggers.replace(rules)`` when the rules are read; ``triggers.urgent(reading)`` for every reading, in the
    order received. Used from the collector's event loop only."""

    def __init__(self, rules: Iterable[RuleSnapshot] = ()) -> None:
        self._rules: dict[str, list[tuple[RuleSnapshot, list[tuple[str, Decimal | None]]]]] = {}
        self._runs: dict[tuple[int, str], _Run] = {}
        self._seen: dict[str, datetime] = {}
        self._last: dict[str, _Last] = {}
        self.replace(rules)

    @property
    def rules(self) -> list[RuleSnapshot]:
        return [rule for entries in self._rules.values() for rule, _ in entries]

    def replace(self, rules: Iterable[RuleSnapshot]) -> None:
        """The active rules now: a rule added or changed starts afresh (its next run is urgent), a rule gone is
        forgotten."""
        before = {rule.id: rule for rule in self.rules}
        fresh: dict[str, list[tuple[RuleSnapshot, list[tuple[str, Decimal | None]]]]] = {}
        for rule in rules:
            fresh.setdefault(rule.tag, []).append((rule, alarms.conditions(rule)))
        kept = {rule.id for entries in fresh.values() for rule, _ in entries if before.get(rule.id) == rule}
        self._runs = {key: run for key, run in self._runs.items() if key[0] in kept}
        self._rules = fresh

    def urgent(self, reading: Reading) -> bool:
        """Whether ``reading`` may raise or clear an alarm of its tag (conservatively: see the module)."""
        entries = self._rules.get(reading.tag)
        if not entries:
            return False
        at = reading.source_time
        seen = self._seen.get(reading.tag)
        if seen is not None and at <= seen:
            return True  # re-delivered or late: the ingest may or may not evaluate it — do not make it wait
        self._seen[reading.tag] = at
        try:
            number = None if reading.value is None else float(reading.value)
            usable = reading.quality != "bad" and number is not None
            row: dict[str, Any] = {"source_time": at, "quality": reading.quality, "number": number}
            last = self._last.setdefault(reading.tag, _Last())
            urgent = False
            for rule, conditions in entries:
                for condition, limit in conditions:
                    if condition == "rate" and usable and last.last_time is None:
                        urgent = True  # the database may hold the value before: the rate is unknown here
                    verdict = alarms.judge(rule, condition, limit, row, last)
                    urgent = self._step(rule, condition, verdict, at) or urgent
            if usable:
                last.last_time, last.last_number = at, number
            return urgent
        except (ArithmeticError, ValueError, TypeError):
            return True  # not a number to compare: let the ingest judge it now

    def _step(
        self, rule: RuleSnapshot, condition: str, verdict: tuple[bool, bool] | None, at: datetime
    ) -> bool:
        if verdict is None:  # Bad, no value, or the first value of a rate: the evaluation waits as well
            return False
        beyond, back = verdict
        key = (rule.id, condition)
        if not beyond and not back:  # inside the deadband: neither raises nor clears, and ends both delays
            self._runs.pop(key, None)
            return False
        run = self._runs.get(key)
        if run is None or run.beyond != beyond:
            run = self._runs[key] = _Run(beyond, at)
        if run.reached:
            return False
        delay = rule.on_delay_s if beyond else rule.off_delay_s
        if (at - run.since).total_seconds() >= delay:  # this value raises (or clears) the alarm if any will
            run.reached = True
        return True
