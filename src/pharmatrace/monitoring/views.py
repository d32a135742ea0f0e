"""Pages: integrated monitoring (集成监控, SH-8.4.3, TJ-6.5). The data sources and the tags with their latest value,
quality and source time (Beijing time on screen), filtered by source and text; a tag's page with its configuration
its trend chart and its raw values over the last hours, and its audit trail; a source's page with its configuration,
its tags and its audit trail.

Sources and tags are GMP configuration (SH-7.1.3.b, TJ-10.3): whoever maintains equipment (``equipment.manage``)
creates them on the overview, changes and voids them on their pages, each change and void with a reason. A refusal
(bad input, an unknown equipment or room, a duplicate, no reason, a source with tags in use) re-renders the form with
the error and changes nothing (:func:`pharmatrace.web.forms.submit`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import destruction, historian, tags
from pharmatrace.monitoring.models import DATA_TYPES, PROTOCOLS
from pharmatrace.monitoring.schemas import SourceChange, SourceCreate, TagChange, TagCreate
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import filled, form_data, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/monitoring", include_in_schema=False)

View = Annotated[Principal, Depends(Requires(tags.VIEW_PERMISSION))]
LABELS = {
    "protocols": tags.PROTOCOL_LABELS,
    "qualities": tags.QUALITY_LABELS,
    "retention": tags.RETENTION_LABELS,
}
HOURS = (1, 8, 24, 168)
CHOICES = {"protocols": PROTOCOLS, "data_types": DATA_TYPES, "retention": tuple(tags.RETENTION_LABELS)}
SOURCE_KEYS = ("code", "name", "protocol", "endpoint", "description")
SOURCE_CHANGE_KEYS = ("name", "endpoint", "description", "reason")
TAG_KEYS = ("name", "source", "address", "data_type", "unit", "decimals", "low_limit", "high_limit", "scan_rate_ms",
            "location", "description", "retention_class")  # fmt: skip
TAG_CHANGE_KEYS = (
    "low_limit",
    "high_limit",
    "scan_rate_ms",
    "unit",
    "description",
    "retention_class",
    "reason",
)


def _manage(_: object) -> str:
    return tags.MANAGE_PERMISSION


def _overview(request: Request, db: Any, status: int = 200, **values: Any) -> Response:
    source = request.query_params.get("source", "").strip().upper()
    text = request.query_params.get("q", "")
    with db.sessions() as session:
        sources = tags.list_sources(session)
        counts = {s.code: len(tags.list_tags(session, source=s.code)) for s in sources}
        rows = tags.overview(session, source=source or None, text=text)
    return render(request, "monitoring/overview.html", status, sources=sources, counts=counts, rows=rows,
                  source=source, q=text, labels=LABELS, choices=CHOICES, **values)  # fmt: skip


@router.get("", response_class=HTMLResponse)
def overview(request: Request, db: DbDep, principal: View) -> Response:
    """Sources and tags, each tag with its latest value; the forms for a new source and a new tag for whoever
    maintains equipment."""
    return _overview(request, db)


@router.post("/sources", response_class=HTMLResponse)
async def create_source(request: Request, db: DbDep, principal: View) -> Response:
    data = filled(await form_data(request), SOURCE_KEYS)
    return submit(db, principal, SourceCreate, data,
                  write=lambda uow, body: tags.create_source(uow, principal, body).code,
                  rerender=lambda status, **values: _overview(request, db, status, posted="source", **values),
                  permission=_manage, done=lambda code: f"/monitoring/sources/{code}")  # fmt: skip


@router.post("/tags", response_class=HTMLResponse)
async def create_tag(request: Request, db: DbDep, principal: View) -> Response:
    data = filled(await form_data(request), TAG_KEYS)
    return submit(db, principal, TagCreate, data,
                  write=lambda uow, body: tags.create_tag(uow, principal, body).name,
                  rerender=lambda status, **values: _overview(request, db, status, posted="tag", **values),
                  permission=_manage, done=lambda name: f"/monitoring/tags/{quote(str(name))}")  # fmt: skip


# --- a source ------------------------------------------------------------------------------------------------


def _source_page(request: Request, db: Any, code: str, status: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        source = tags.get_source(session, code)  # NotFound: the error page
        public = tags.source_public(source)
        rows = tags.overview(session, source=source.code)
        trail = trail_of(session, [("monitoring_source", [source.id])])
    return render(request, "monitoring/source.html", status, source=public, rows=rows, trail=trail, labels=LABELS,
                  **values)  # fmt: skip


@router.get("/sources/{code}", response_class=HTMLResponse)
def source_page(code: str, request: Request, db: DbDep, principal: View) -> Response:
    """A source's configuration, its tags in use with their latest values, its audit trail; the change and void
    forms for whoever maintains equipment."""
    return _source_page(request, db, code)


@router.post("/sources/{code}/change", response_class=HTMLResponse)
async def change_source(code: str, request: Request, db: DbDep, principal: View) -> Response:
    data = filled(await form_data(request), SOURCE_CHANGE_KEYS)
    return submit(db, principal, SourceChange, data,
                  write=lambda uow, body: tags.change_source(uow, principal, code, body).code,
                  rerender=lambda status, **values: _source_page(request, db, code, status, posted="change", **values),
                  reason=lambda body: body.reason, permission=_manage,
                  done=lambda found: f"/monitoring/sources/{found}")  # fmt: skip


@router.post("/sources/{code}/void", response_class=HTMLResponse)
async def void_source(code: str, request: Request, db: DbDep, principal: View) -> Response:
    data = filled(await form_data(request), ("reason",))
    return submit(db, principal, ReasonOnly, data,
                  write=lambda uow, body: tags.void_source(uow, principal, code).code,
                  rerender=lambda status, **values: _source_page(request, db, code, status, posted="void", **values),
                  reason=lambda body: body.reason, permission=_manage,
                  done=lambda found: f"/monitoring/sources/{found}")  # fmt: skip


# --- a tag ---------------------------------------------------------------------------------------------------


def _tag_page(request: Request, db: Any, name: str, status: int = 200, **extra: Any) -> Response:
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
        found = historian.values(session, tag.name, end - timedelta(hours=hours), end)
        voided = {"at": tag.voided_at, "reason": tag.void_reason} if tag.voided_at is not None else None
        destroyed = [destruction.public(d) for d in destruction.destroyed_for(session, tag.retention_class)]
    chart = {"url": f"/api/v1/monitoring/tags/{quote(tag.name)}/trend", "since": (end - timedelta(hours=hours)).isoformat(),
             "until": end.isoformat(), "points": 800}  # fmt: skip
    return render(request, "monitoring/tag.html", status, tag=public, values=list(reversed(found))[:500], total=len(found),
                  trail=trail, hours=hours, choices=HOURS, labels=LABELS, chart=chart, voided=voided,
                  retention=CHOICES["retention"], destroyed=destroyed, **extra)  # fmt: skip


@router.get("/tags/{name}", response_class=HTMLResponse)
def tag_page(name: str, request: Request, db: DbDep, principal: View) -> Response:
    """A tag's configuration, its trend (drawn in the browser from the trend API) and its raw values, newest first;
    the change and void forms for whoever maintains equipment."""
    return _tag_page(request, db, name)


@router.post("/tags/{name}/change", response_class=HTMLResponse)
async def change_tag(name: str, request: Request, db: DbDep, principal: View) -> Response:
    data = filled(await form_data(request), TAG_CHANGE_KEYS)
    return submit(db, principal, TagChange, data,
                  write=lambda uow, body: tags.change_tag(uow, principal, name, body).name,
                  rerender=lambda status, **values: _tag_page(request, db, name, status, posted="change", **values),
                  reason=lambda body: body.reason, permission=_manage,
                  done=lambda found: f"/monitoring/tags/{quote(str(found))}")  # fmt: skip


@router.post("/tags/{name}/void", response_class=HTMLResponse)
async def void_tag(name: str, request: Request, db: DbDep, principal: View) -> Response:
    data = filled(await form_data(request), ("reason",))
    return submit(db, principal, ReasonOnly, data,
                  write=lambda uow, body: tags.void_tag(uow, principal, name).name,
                  rerender=lambda status, **values: _tag_page(request, db, name, status, posted="void", **values),
                  reason=lambda body: body.reason, permission=_manage,
                  done=lambda found: f"/monitoring/tags/{quote(str(found))}")  # fmt: skip
