"""``/api/v1/audit`` — the trail with filters, the list of audited functions, and exports (SH-7.1.3)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from pharmatrace.kernel.audit_trail import export, service
from pharmatrace.kernel.audit_trail.schemas import (
    AuditedEventPublic,
    AuditedFunctionsPublic,
    AuditedRecordPublic,
    AuditEntryPublic,
    TrailPagePublic,
)
from pharmatrace.kernel.audit_trail.service import TrailFilter
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires

router = APIRouter(tags=["audit trail"])

TrailView = Annotated[Principal, Depends(Requires("audit.trail.view"))]


def trail_filter(
    since: Annotated[str, Query(description="from, Beijing time: YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS]")] = "",
    until: Annotated[str, Query(description="until, Beijing time; a date includes the whole day")] = "",
    object_type: Annotated[str, Query(description="record type(s), comma-separated (CZDX)")] = "",
    object_id: Annotated[str, Query(description="the record's key (CZDX)")] = "",
    parts: Annotated[
        bool, Query(description="include the record's parts (role and permission grants)")
    ] = False,
    event: Annotated[str, Query(description="operation or event (CZLX)")] = "",
    actor: Annotated[str, Query(description="operator's log-in ID or full name (CZZ)")] = "",
    q: Annotated[str, Query(description="text in the reason (CZYY)")] = "",
    order: Literal["asc", "desc"] = "desc",
) -> TrailFilter:
    """The trail filter from query parameters; the UI uses the same parameters."""
    return TrailFilter(
        since=since,
        until=until,
        object_type=object_type,
        object_id=object_id,
        parts=parts,
        event=event,
        actor=actor,
        text=q,
        order=order,
    )


TrailQuery = Annotated[TrailFilter, Depends(trail_filter)]


@router.get("/audit", response_model=TrailPagePublic)
def list_entries(
    _: TrailView,
    db: DbDep,
    f: TrailQuery,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=service.MAX_PER_PAGE)] = service.PER_PAGE,
) -> TrailPagePublic:
    """The audit trail by time, object, event and operator (SH-7.1.3.d)."""
    with db.sessions() as session:
        result = service.entries_page(session, f, page=page, per_page=per_page)
        return TrailPagePublic(
            total=result.total,
            page=result.page,
            per_page=result.per_page,
            entries=[AuditEntryPublic.of(e) for e in result.entries],
        )


@router.get("/audit/functions", response_model=AuditedFunctionsPublic)
def audited_functions(_: TrailView, db: DbDep) -> AuditedFunctionsPublic:
    """The list of audited functions (SH-7.1.3.a)."""
    with db.sessions() as session:
        unlisted = service.unlisted_events(session)
    return AuditedFunctionsPublic(
        records=[
            AuditedRecordPublic(
                object_type=r.object_type,
                table=r.table,
                description=i18n.gettext(r.label),
                operations=list(r.operations),
                parts=list(r.parts),
            )
            for r in service.audited_records()
        ],
        events=[
            AuditedEventPublic(event=e.event, description=i18n.gettext(e.label))
            for e in service.audited_events()
        ],
        other_events=unlisted,
    )


@router.get(
    "/audit/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/pdf": {}}}},
)
def export_entries(
    principal: TrailView, db: DbDep, f: TrailQuery, format: Literal["csv", "pdf", "json"] = "csv"
) -> Response:
    """CSV (TJ-B.2.5 fields, one row per changed field) or a printable PDF; the export is audited."""
    result = export.export_trail(db, principal.actor, f, format, translate=i18n.gettext)
    return attachment(result)


def attachment(result: export.ExportFile) -> Response:
    return Response(
        result.content,
        media_type=result.media_type,
        headers={"content-disposition": f'attachment; filename="{result.filename}"'},
    )
