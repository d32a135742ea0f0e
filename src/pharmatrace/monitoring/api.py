"""Integrated monitoring over the REST API (SH-8.4.3, TJ-6.5): sources, tags with their latest values, a tag's raw
values over a time range; sources and tags created, changed and voided by whoever maintains equipment, each change
and void with a reason (SH-7.1.3.b)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import destruction, historian, tags
from pharmatrace.monitoring.schemas import (
    SourceChange,
    SourceCreate,
    SourcePublic,
    TagChange,
    TagCreate,
    TagPublic,
    ValuePublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/monitoring", tags=["monitoring"])

View = Annotated[Principal, Depends(Requires(tags.VIEW_PERMISSION))]
Manage = Annotated[Principal, Depends(Requires(tags.MANAGE_PERMISSION))]
MAX_RANGE = timedelta(days=31)
DESTROYED_HEADER = "X-PharmaTrace-Destroyed"


@router.get("/sources", response_model=list[SourcePublic])
def list_sources(db: DbDep, _: View) -> list[SourcePublic]:
    """The data sources, the voided ones too (with when and why)."""
    with db.sessions() as session:
        return [tags.source_public(s) for s in tags.list_sources(session)]


@router.post("/sources", response_model=SourcePublic, status_code=201)
def create_source(body: SourceCreate, db: DbDep, principal: Manage) -> SourcePublic:
    """A new data source; its endpoint must be one the collector opens for its protocol."""
    with uow_for(db, principal) as uow:
        source = tags.create_source(uow, principal, body)
        uow.commit()
        return tags.source_public(source)


@router.patch("/sources/{code}", response_model=SourcePublic)
def change_source(code: str, body: SourceChange, db: DbDep, principal: Manage) -> SourcePublic:
    """Change a source's name, endpoint or description; ``reason`` is required and recorded."""
    with uow_for(db, principal, body.reason) as uow:
        source = tags.change_source(uow, principal, code, body)
        uow.commit()
        return tags.source_public(source)


@router.post("/sources/{code}/void", response_model=SourcePublic)
def void_source(code: str, body: ReasonOnly, db: DbDep, principal: Manage) -> SourcePublic:
    """Void a source; refused (409 ``monitoring_source_in_use``) while any of its tags is in use."""
    with uow_for(db, principal, body.reason) as uow:
        source = tags.void_source(uow, principal, code)
        uow.commit()
        return tags.source_public(source)


@router.get("/tags", response_model=list[TagPublic])
def list_tags(db: DbDep, _: View, source: str = "", q: str = "") -> list[TagPublic]:
    """The tags in use (``source``: a source's code, ``q``: in the name, description or location) with their latest
    value, its quality and source time."""
    with db.sessions() as session:
        return tags.overview(session, source=source or None, text=q)


@router.post("/tags", response_model=TagPublic, status_code=201)
def create_tag(body: TagCreate, db: DbDep, principal: Manage) -> TagPublic:
    """A new tag on a source, named ``<equipment or room code>.<signal>``."""
    with uow_for(db, principal) as uow:
        tag = tags.create_tag(uow, principal, body)
        uow.commit()
        return tags.tag_public(uow.session, tag)


@router.patch("/tags/{name}", response_model=TagPublic)
def change_tag(name: str, body: TagChange, db: DbDep, principal: Manage) -> TagPublic:
    """Change a tag's limits, scan rate, unit or description; ``reason`` is required and recorded."""
    with uow_for(db, principal, body.reason) as uow:
        tag = tags.change_tag(uow, principal, name, body)
        uow.commit()
        return tags.tag_public(uow.session, tag)


@router.post("/tags/{name}/void", response_model=TagPublic)
def void_tag(name: str, body: ReasonOnly, db: DbDep, principal: Manage) -> TagPublic:
    """Void a tag (its values stay, the collector stops reading it); ``reason`` is required and recorded."""
    with uow_for(db, principal, body.reason) as uow:
        tag = tags.void_tag(uow, principal, name)
        uow.commit()
        return tags.tag_public(uow.session, tag)


@router.get("/tags/{name}/values", response_model=list[ValuePublic])
def tag_values(
    name: str, db: DbDep, _: View, response: Response, start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
) -> list[ValuePublic]:  # fmt: skip
    """The raw values of a tag from ``start`` to ``end`` (ISO 8601 with time zone; the last hour by default), with
    source time, server time, quality and status code — at most 31 days at once. When raw values of the range were
    destroyed past their retention (TJ-10.1.6.3), the ``X-PharmaTrace-Destroyed`` header names the destructions
    (``DS-2026-0001 (2024-03)``): their absence is not a gap in the recording."""
    until = end or clock.now()
    since = start or until - timedelta(hours=1)
    if since.tzinfo is None or until.tzinfo is None:
        raise ValidationFailed(N_("Give times with their time zone"))
    if until - since > MAX_RANGE or until < since:
        raise ValidationFailed(N_("Ask for at most 31 days, the start before the end"))
    with db.sessions() as session:
        tag = tags.get_tag(session, name)
        gone = destruction.destroyed_header(session, tag.retention_class, since, until)
        if gone:
            response.headers[DESTROYED_HEADER] = gone
        return [
            ValuePublic(tag=v.tag, source_time=v.source_time, server_time=v.server_time, value=v.text,
                        quality=v.quality, status_code=v.status_code)
            for v in historian.values(session, name, since, until)
        ]  # fmt: skip
