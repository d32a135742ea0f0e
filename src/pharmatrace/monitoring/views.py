"""Pages: integrated monitoring (集成监控, SH-8.4.3, TJ-6.5). The data sources and the tags with their latest value,
quality and source time (Beijing time on screen), filtered by source and text; a tag's page with its configuration
its trend chart and its raw values over the last hours, and its audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import historian, tags
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.templating import render

router = APIRouter(prefix="/monitoring", include_in_schema=False)

View = Annotated[Principal, Depends(Requires(tags.VIEW_PERMISSION))]
LABELS = {
    "protocols": tags.PROTOCOL_LABELS,
    "qualities": tags.QUALITY_LABELS,
    "retention": tags.RETENTION_LABELS,
}
HOURS = (1, 8, 24, 168)


@router.get("", response_class=HTMLResponse)
def overview(request: Request, db: DbDep, principal: View) -> Response:
    """Sources and tags, each tag with its latest value."""
    source = request.query_params.get("source", "").strip().upper()
    text = request.query_params.get("q", "")
    with db.sessions() as session:
        sources = tags.list_sources(session)
        counts = {s.code: len(tags.list_tags(session, source=s.code)) for s in sources}
        rows = tags.overview(session, source=source or None, text=text)
    return render(request, "monitoring/overview.html", sources=sources, counts=counts, rows=rows, source=source,
                  q=text, labels=LABELS)  # fmt: skip


@router.get("/tags/{name}", response_class=HTMLResponse)
def tag_page(name: str, request: Request, db: DbDep, principal: View) -> Response:
    """A tag's configuration, its trend (drawn in the browser from the trend API) and its raw values, newest first."""
    try:
        hours = int(request.query_params.get("hours", "24"))
    except ValueError:
        hours = 24
    hours = hours if hours in HOURS else 24
    end = clock.now()
    with db.sessions() as session:
        tag = tags.get_tag(session, name)  # NotFound: the error page
        trail = trail_of(session, [("monitoring_tag", [tag.id])])
        public = tags.tag_public(session, tag)
        found = historian.values(session, name, end - timedelta(hours=hours), end)
    chart = {"url": f"/api/v1/monitoring/tags/{quote(tag.name)}/trend", "since": (end - timedelta(hours=hours)).isoformat(),
             "until": end.isoformat(), "points": 800}  # fmt: skip
    return render(request, "monitoring/tag.html", tag=public, values=list(reversed(found))[:500], total=len(found), trail=trail,
                  hours=hours, choices=HOURS, labels=LABELS, chart=chart)  # fmt: skip
