"""``/api/v1/trace/exports`` — a batch's trace as EPCIS 2.0 JSON-LD and as the national platform's upload file
(SH-6.2.5.2; issue 10 item 7). Both need ``trace.view`` and are audited as exports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.trace import epcis, platform_export
from pharmatrace.web.deps import DbDep, Requires

router = APIRouter(prefix="/trace", tags=["trace"])

Tracer = Annotated[Principal, Depends(Requires(epcis.PERMISSION))]
Batch = Annotated[str | None, Query(min_length=1, max_length=32, description="the batch number")]


@router.get("/exports/epcis", response_class=JSONResponse,
            responses={200: {"content": {"application/ld+json": {}}}})  # fmt: skip
def export_epcis(
    principal: Tracer,
    db: DbDep,
    batch: Batch = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> JSONResponse:
    """The EPCISDocument of a batch (``batch``) or of a period (``since``, ``until``, ISO 8601 with offset)."""
    document = epcis.export(db, principal, epcis.Scope(batch_no=batch, since=since, until=until))
    return JSONResponse(document, media_type="application/ld+json")


@router.get("/exports/platform", response_class=Response,
            responses={200: {"content": {"application/xml": {}}}})  # fmt: skip
def export_platform(
    principal: Tracer, db: DbDep, batch: Annotated[str, Query(min_length=1, max_length=32)]
) -> Response:
    """The batch's upload file for the national platform (PharmaTrace platform upload 1.0, XML)."""
    upload = platform_export.export(db, principal, batch)
    return Response(
        upload.content,
        media_type="application/xml",
        headers={
            "content-disposition": f'attachment; filename="{upload.filename}"',
            "x-content-sha256": upload.sha256,
        },
    )
