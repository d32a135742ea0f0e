"""Trends of a tag for charts (趋势图, SH-8.4.3, TJ-6.5): the right resolution for the range, downsampled by LTTB.

:func:`trend` reads a tag over ``since … until`` from what fits the range: the raw values when they are few
(about :data:`RAW_MAX` expected at the tag's scan rate), else the 1-minute roll-ups (up to :data:`BUCKETS_MAX`
buckets), else the 1-hour roll-ups — a bucket gives its mean as the value and its minimum and maximum as the
envelope. It then downsamples to about ``points`` with :func:`lttb` (largest-triangle-three-buckets, Steinarsson
2013): the first and last points stay, and in each bucket the point forming the largest triangle with the point
kept before and the next bucket's average — so a spike survives and a monotone series stays monotone. The
envelope of each kept point covers every point it stands for, so a minimum or maximum is never lost.

A value of quality bad (or without a value), a bucket with no usable value, and a missing bucket are gaps
(``value = None``): a chart breaks its line there, it never draws a number that is not one. Trends are for
looking; the MES's "values during this step" reads raw values (:mod:`pharmatrace.monitoring.historian`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.monitoring import rollups, tags
from pharmatrace.monitoring.models import HistorianValue
from pharmatrace.monitoring.rollup_models import PERIOD_SECONDS

RAW_MAX = 20_000  # raw values expected in the range (at the scan rate) up to which the raw values are read
BUCKETS_MAX = 20_000  # 1-minute buckets (~ 14 days) up to which the 1-minute roll-ups are read
MIN_POINTS, MAX_POINTS = 10, 5000


@dataclass(frozen=True, slots=True)
class TrendPoint:
    at: datetime
    value: float | None  # None: a gap
    low: float | None = None  # the envelope of the values this point stands for
    high: float | None = None


@dataclass(frozen=True, slots=True)
class Trend:
    tag: str
    unit: str
    low_limit: Decimal | None
    high_limit: Decimal | None
    since: datetime
    until: datetime
    source: str  # "raw", "1m" or "1h"
    read: int  # rows read before downsampling
    points: list[TrendPoint]


def lttb(xs: Sequence[float], ys: Sequence[float], threshold: int) -> list[int]:
    """The indices of the ``threshold`` points largest-triangle-three-buckets keeps (all when there are fewer);
    ``xs`` ascending."""
    n = len(xs)
    if threshold >= n or n <= 2:
        return list(range(n))
    if threshold < 3:
        raise ValueError("LTTB keeps at least 3 points")
    every = (n - 2) / (threshold - 2)
    kept = [0]
    a = 0
    for i in range(threshold - 2):
        start, end = int(i * every) + 1, int((i + 1) * every) + 1
        next_start, next_end = end, min(int((i + 2) * every) + 1, n)
        if next_start >= next_end:  # the last bucket: the last point is the next one
            next_start, next_end = n - 1, n
        span = next_end - next_start
        avg_x = sum(xs[next_start:next_end]) / span
        avg_y = sum(ys[next_start:next_end]) / span
        ax, ay = xs[a], ys[a]
        best, best_area = start, -1.0
        for j in range(start, end):
            area = abs((ax - avg_x) * (ys[j] - ay) - (ax - xs[j]) * (avg_y - ay))
            if area > best_area:
                best, best_area = j, area
        kept.append(best)
        a = best
    kept.append(n - 1)
    return kept


def downsample(points: Sequence[TrendPoint], threshold: int) -> list[TrendPoint]:
    """``points`` thinned by LTTB over the numbers to ``threshold``, each kept point carrying the envelope of
    the numbers up to the next kept one; one gap kept wherever the points between two kept ones had a gap."""
    if len(points) <= threshold:
        return list(points)
    numeric = [i for i, p in enumerate(points) if p.value is not None]
    chosen = [numeric[k] for k in lttb([points[i].at.timestamp() for i in numeric],
                                       [points[i].value or 0.0 for i in numeric], threshold)]  # fmt: skip
    out: list[TrendPoint] = []
    if not chosen or chosen[0] > 0:  # the range starts with a gap
        out.append(TrendPoint(points[0].at, None))
    for n, index in enumerate(chosen):
        until = chosen[n + 1] if n + 1 < len(chosen) else len(points)
        low = high = None
        gap: datetime | None = None
        for p in points[index:until]:
            if p.value is None:
                gap = gap or p.at
                continue
            lo = p.value if p.low is None else p.low
            hi = p.value if p.high is None else p.high
            low = lo if low is None else min(low, lo)
            high = hi if high is None else max(high, hi)
        out.append(TrendPoint(points[index].at, points[index].value, low, high))
        if gap is not None:
            out.append(TrendPoint(gap, None))
    return out


def _raw(session: Session, tag_id: int, since: datetime, until: datetime) -> list[TrendPoint]:
    rows = session.execute(
        select(HistorianValue.source_time, HistorianValue.number, HistorianValue.quality)
        .where(HistorianValue.tag_id == tag_id, HistorianValue.source_time >= since,
               HistorianValue.source_time <= until)
        .order_by(HistorianValue.source_time)
    )  # fmt: skip
    return [
        TrendPoint(at, number if rollups.usable(quality, number) else None) for at, number, quality in rows
    ]


def _buckets(
    session: Session, tag_id: int, period: str, since: datetime, until: datetime
) -> list[TrendPoint]:
    width = timedelta(seconds=PERIOD_SECONDS[period])
    out: list[TrendPoint] = []
    previous: datetime | None = None
    for start, bucket in rollups.read(session, tag_id, period, since, until):
        if previous is not None and start > previous + width:  # no data between: a gap
            out.append(TrendPoint(previous + width, None))
        out.append(TrendPoint(start, bucket.mean, bucket.minimum, bucket.maximum))
        previous = start
    return out


def choose_source(scan_rate_ms: int, since: datetime, until: datetime) -> str:
    seconds = (until - since).total_seconds()
    if seconds * 1000 / max(scan_rate_ms, 1) <= RAW_MAX:
        return "raw"
    return "1m" if seconds / 60 <= BUCKETS_MAX else "1h"


def trend(
    session: Session, tag_name: str, since: datetime, until: datetime, *, points: int = 800,
    source: str | None = None,
) -> Trend:  # fmt: skip
    """A tag's trend over ``since … until`` at about ``points`` points (``source`` forces "raw", "1m" or "1h";
    by default the resolution fits the range). Unknown tag: :class:`NotFound`."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValidationFailed(N_("Give times with their time zone"))
    if until <= since:
        raise ValidationFailed(N_("The start must be before the end"))
    if not MIN_POINTS <= points <= MAX_POINTS:
        raise ValidationFailed(N_("Ask for {low} to {high} points"), low=MIN_POINTS, high=MAX_POINTS)
    tag = tags.get_tag(session, tag_name)
    chosen = source or choose_source(tag.scan_rate_ms, since, until)
    if chosen == "raw":
        found = _raw(session, tag.id, since, until)
    elif chosen in PERIOD_SECONDS:
        found = _buckets(session, tag.id, chosen, since, until)
    else:
        raise ValidationFailed(N_("Unknown trend source {source}"), source=chosen)
    return Trend(tag.name, tag.unit, tag.low_limit, tag.high_limit, since, until, chosen, len(found),
                 downsample(found, points))  # fmt: skip
