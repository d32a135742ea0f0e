"""Trends and retention over the REST API (SH-8.4.3, TJ-6.5): a tag's trend for charts — raw values or roll-ups as
the range needs, downsampled by LTTB, gaps for bad values — and the raw-retention report per tag class."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import rollups, tags, trend
from pharmatrace.monitoring.schemas import RetentionPublic, TrendPointPublic, TrendPublic
from pharmatrace.web.deps import DbDep, Requires

router = APIRouter(prefix="/monitoring", tags=["monitoring"])

View = Annotated[Principal, Depends(Requires(tags.VIEW_PERMISSION))]
MAX_RANGE = timedelta(days=366)


@router.get("/tags/{name}/trend", response_model=TrendPublic)
def tag_trend(
    name: str, db: DbDep, _: View, since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    points: Annotated[int, Query(ge=trend.MIN_POINTS, le=trend.MAX_POINTS)] = 800,
) -> TrendPublic:  # fmt: skip
    """A tag's trend from ``since`` to ``until`` (ISO 8601 with time zone; the last 24 hours by default, at most
    366 days) at about ``points`` points: ``source`` says whether raw values or 1-minute or 1-hour roll-ups were
    read; a point's ``value`` is ``null`` for a gap (bad quality, or no data), ``low``/``high`` its envelope."""
    end = until or clock.now()
    start = since or end - timedelta(hours=24)
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed(N_("Give times with their time zone"))
    if end - start > MAX_RANGE or end <= start:
        raise ValidationFailed(N_("Ask for at most 366 days, the start before the end"))
    with db.sessions() as session:
        found = trend.trend(session, name, start, end, points=points)
    return TrendPublic(
        tag=found.tag, unit=found.unit, low_limit=found.low_limit, high_limit=found.high_limit, since=found.since,
        until=found.until, source=found.source, read=found.read,
        points=[TrendPointPublic(at=p.at, value=p.value, low=p.low, high=p.high) for p in found.points],
    )  # fmt: skip


@router.get("/retention", response_model=list[RetentionPublic])
def retention(db: DbDep, _: View) -> list[RetentionPublic]:
    """Per retention class: the years raw values stay online, the oldest raw value and the date it must be kept
    until, and how many raw values are past their keep period now (eligible for archiving; nothing is deleted)."""
    with db.sessions() as session:
        lines = rollups.retention_report(session, clock.now())
    return [
        RetentionPublic(retention_class=line.retention_class, years=line.years, tags=line.tags, values=line.values,
                        oldest=line.oldest, kept_until=line.kept_until, cutoff=line.cutoff, past_keep=line.past_keep)
        for line in lines
    ]  # fmt: skip
