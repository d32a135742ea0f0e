"""The compliance matrix page ``/compliance`` (read-only, for QA and inspectors; SH-7.2, TJ-10.5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.compliance import report, service
from pharmatrace.compliance.catalogue import AREAS, SOURCES, STANDARDS
from pharmatrace.compliance.matrix import SOFTWARE_STATUSES, Status
from pharmatrace.config import get_settings
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web.deps import Requires
from pharmatrace.web.templating import render

router = APIRouter(include_in_schema=False)

MatrixView = Annotated[Principal, Depends(Requires("admin.compliance.view"))]


@router.get("/compliance", response_class=HTMLResponse)
def matrix_page(
    request: Request,
    _: MatrixView,
    source: str = "",
    status: str = "",
    area: str = "",
    q: str = "",
) -> Response:
    built = service.current_matrix(get_settings())
    statuses = {s.value for s in Status}
    source = source if source in SOURCES else ""
    status = status if status in statuses else ""
    area = area if area in AREAS else ""
    needle = q.strip().lower()
    rows = [
        row
        for row in built.rows
        if (not source or row.requirement.source == source)
        and (not status or row.status.value == status or (row.aggregate and row.aggregate.value == status))
        and (not area or row.requirement.area == area)
        and (
            not needle
            or needle in row.id.lower()
            or needle in row.requirement.text.lower()
            or needle in row.requirement.summary.lower()
        )
    ]
    chapters = [t for t in built.by_chapter() if t.software or t.procedural]
    return render(
        request,
        "compliance/matrix.html",
        matrix=built,
        rows=rows,
        run=built.run,
        overall=built.tally(label="all"),
        uncovered=built.software_uncovered(),
        by_standard=built.by_standard(),
        bars=report.bars(chapters),
        chart_width=report.CHART_WIDTH,
        colours=report.COLOURS,
        software_statuses=SOFTWARE_STATUSES,
        standards=STANDARDS,
        sources=SOURCES,
        clause_areas=AREAS,
        statuses=[s.value for s in Status],
        filters={"source": source, "status": status, "area": area, "q": q},
    )
