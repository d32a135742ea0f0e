"""The seam between batch execution and the process historian (TJ-6.4.3.3.f, TJ-6.4.3.4).

A critical process parameter of a master recipe may name a tag bound to its operation's equipment
(``tag: "FD-01.shelf_temperature"``: the equipment code, a dot, the signal's name at that equipment). The
binding is checked at recipe import (:func:`pharmatrace.mes.recipes.check_body`) and frozen with the control
recipe. At step completion the engine asks the registered :class:`HistorianReader` for the values of each
bound tag over the step's window (start → completion):

* a reader registered and values returned: their min / max / mean / count are recorded with
  ``source = "historian"`` and judged against the limits (an excursion raises an exception);
* no reader registered (today, until the monitoring area provides one), or the reader knows no values for the
  tag in that window: the operator enters the value by hand, recorded with ``source = "manual"`` and the
  binding kept, so the review sees which values should have come from equipment.

The monitoring area (issue 11) registers its reader at start-up with :func:`register`; tests register a small
reader of their own. Nothing here writes: the engine records what it was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

# "FD-01.shelf_temperature": an equipment code (upper case, as the equipment register writes it), a dot, the
# signal's name at that equipment.
TAG_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{0,31}\.[A-Za-z][A-Za-z0-9_]{0,63}$"
_TAG = re.compile(TAG_PATTERN)
GOOD = "good"  # the quality of a sample the historian vouches for (OPC UA "Good")


class HistorianReader(Protocol):
    """What the monitoring area's historian gives the batch record."""

    def values_during(
        self, tag: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, Decimal, str]] | None:
        """The samples of ``tag`` from ``start`` to ``end`` (UTC, both included) as (time, value, quality),
        oldest first; ``None`` when the historian does not know the tag."""
        ...


_reader: HistorianReader | None = None


def register(reader: HistorianReader | None) -> None:
    """Make ``reader`` the historian the engine asks (``None``: back to manual entry)."""
    global _reader
    _reader = reader


def reader() -> HistorianReader | None:
    return _reader


def registered() -> bool:
    return _reader is not None


def equipment_of(tag: str) -> str:
    """The equipment code a tag is bound to: ``"FD-01.shelf_temperature"`` → ``"FD-01"``."""
    return tag.split(".", 1)[0]


def is_tag(text: str) -> bool:
    return bool(_TAG.match(text))


@dataclass(frozen=True, slots=True)
class Captured:
    """The summary of a tag's good samples over a step's window."""

    tag: str
    start: datetime
    end: datetime
    count: int
    low: Decimal
    high: Decimal
    mean: Decimal
    rejected: int  # samples in the window of another quality than good, left out of the summary


def capture(tag: str, start: datetime, end: datetime) -> Captured | None:
    """The values of ``tag`` over the window, summarised, or ``None`` when no reader is registered or it has
    no good sample of the tag in the window (the operator then enters the value by hand)."""
    if _reader is None:
        return None
    samples = _reader.values_during(tag, start, end)
    if not samples:
        return None
    inside = [(value, quality) for at, value, quality in samples if start <= at <= end]
    good = [Decimal(str(value)) for value, quality in inside if quality == GOOD]
    if not good:
        return None
    mean = sum(good, Decimal(0)) / len(good)
    return Captured(tag, start, end, len(good), min(good), max(good), mean, len(inside) - len(good))
