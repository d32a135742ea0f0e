"""Audit-trail pages: the trail by time line, object, event and operator; one record's trail; the list of
audited functions; CSV and PDF exports (SH-7.1.3.a/d/e, TJ-10.1.1.2.b/c)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from pharmatrace.kernel.audit import SECURITY_EVENTS
from pharmatrace.kernel.audit_trail import export, service
from pharmatrace.kernel.audit_trail.api import attachment
from pharmatrace.kernel.audit_trail.service import TrailFilter
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data
from pharmatrace.web.templating import render

router = APIRouter(prefix="/audit", include_in_schema=False)

TrailView = Annotated[Principal, Depends(Requires("audit.trail.view"))]
VIEWS: dict[str, str] = {
    "timeline": N_("Time line"),
    "object": N_("By business object"),
    "event": N_("By operation"),
    "actor": N_("By operator"),
}
EVENT_LABELS: dict[str, str] = {**service.OPERATION_LABELS, **SECURITY_EVENTS}
# Where a record of each type is shown (its page shows the trail too, or links here).
RECORD_PAGES: dict[str, tuple[str, str]] = {
    "user": ("admin.users.view", "/admin/users/{id}"),
    "role": ("admin.users.view", "/admin/roles"),
    "material": ("wms.material.view", "/wms/materials"),
}


def _url(base: str, params: dict[str, Any], **override: Any) -> str:
    merged = {**params, **override}
    query = urlencode({k: v for k, v in merged.items() if v not in ("", None)})
    return f"{base}?{query}" if query else base


def _shared(**values: Any) -> dict[str, Any]:
    values.update(
        event_labels=EVENT_LABELS,
        record_label=service.record_label,
        views=VIEWS,
        formats=export.FORMATS,
    )
    return values


@router.get("", response_class=HTMLResponse)
def trail_page(request: Request, db: DbDep, _: TrailView, view: str = "timeline", page: int = 1) -> Response:
    """The trail with filters; htmx replaces only the results when the filter changes."""
    partial = bool(request.headers.get("hx-request")) and not request.headers.get(
        "hx-history-restore-request"
    )
    grouping = next((g for g in service.GROUPINGS if g == view), None)  # None: the time line
    shown = grouping or "timeline"
    raw = {k: v for k, v in request.query_params.items() if k not in ("view", "page")}
    error = None
    f: TrailFilter | None
    try:
        f = TrailFilter.from_params(raw)
    except ValidationFailed as failure:
        f, error = None, i18n.error_message(failure)
    params = f.params() if f is not None else {}
    values: dict[str, Any] = {"result": None, "groups": None}
    with db.sessions() as session:
        if f is not None and grouping is None:
            values["result"] = service.entries_page(session, f, page=page)
        elif f is not None and grouping is not None:
            values["groups"] = service.groups(session, f, grouping)
            values["total"] = service.count(session, f)
        choices = service.choices(session) if not partial else None
    template = "audit/results.html" if partial else "audit/trail.html"
    return render(
        request,
        template,
        status_code=200 if error is None or partial else 422,
        **_shared(
            raw=raw,
            params=params,
            view=shown,
            choices=choices,
            url=lambda base="/audit", **o: _url(base, {**params, "view": shown}, **o),
            filter_error=error,
            **values,
        ),
    )


@router.get("/object/{object_type}/{object_id:path}", response_class=HTMLResponse)
def object_page(
    request: Request, db: DbDep, principal: TrailView, object_type: str, object_id: str, page: int = 1
) -> Response:
    """One record's own trail, with its parts (a user's role grants, a role's permission grants)."""
    f = TrailFilter.for_object(object_type, object_id)
    with db.sessions() as session:
        result = service.entries_page(session, f, page=page, per_page=100)
    record_page = None
    if object_type in RECORD_PAGES:
        permission, pattern = RECORD_PAGES[object_type]
        if principal.can(permission):
            record_page = pattern.format(id=object_id)
    return render(
        request,
        "audit/object.html",
        **_shared(
            object_type=object_type,
            object_id=object_id,
            parts=service.parts_of(object_type),
            record_page=record_page,
            params=f.params(),
            result=result,
            url=lambda base=request.url.path, **o: _url(base, {}, **o),
        ),
    )


@router.get("/functions", response_class=HTMLResponse)
def functions_page(request: Request, db: DbDep, _: TrailView) -> Response:
    """The list of audited functions (SH-7.1.3.a)."""
    with db.sessions() as session:
        unlisted = service.unlisted_events(session)
    return render(
        request,
        "audit/functions.html",
        **_shared(records=service.audited_records(), events=service.audited_events(), unlisted=unlisted),
    )


@router.post("/export")
async def export_submit(request: Request, db: DbDep, principal: TrailView) -> Response:
    """Export or print the trail as filtered on screen; the export itself is an audit event."""
    data = await form_data(request)
    f = TrailFilter.from_params(data)
    # A PDF of many entries takes seconds to lay out: keep it off the event loop.
    result = await run_in_threadpool(
        export.export_trail, db, principal.actor, f, data.get("format", ""), translate=i18n.gettext
    )
    return attachment(result)
