"""Page fragment: the collector service's sources (SH-8.4.3, SH-8.1) — state, last error, counts and the newest
value's source time (Beijing time), swapped into the monitoring overview by htmx every 10 s."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import service, tags
from pharmatrace.web.deps import Requires
from pharmatrace.web.templating import render

router = APIRouter(prefix="/monitoring", include_in_schema=False)

View = Annotated[Principal, Depends(Requires(tags.VIEW_PERMISSION))]
STATE_LABELS = {"running": N_("Collecting"), "retrying": N_("Retrying"), "stopped": N_("Stopped")}


@router.get("/collectors", response_class=HTMLResponse)
def collectors(request: Request, principal: View) -> Response:
    """The sources the collector service of this web process runs; says so when it runs none."""
    return render(request, "monitoring/collectors.html", sources=service.current_status(), states=STATE_LABELS,
                  protocols=tags.PROTOCOL_LABELS)  # fmt: skip
