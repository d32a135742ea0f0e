"""Page: the OOS board (超标结果看板, ``/lims/oos``; TJ-7.7, TJ-B.2.4.3). Every out-of-specification case with what
it is linked to — lot, sample, order, item, limit and result, the analyst, the instrument and its calibration at
the time of the test, the method SOP, the reagents used and their expiry — and its phase and status. Read-only: the
investigation itself is on the test's page (retests within the case)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.lims import results
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.templating import render

router = APIRouter(prefix="/lims", include_in_schema=False)

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]

STATUS_LABELS = {"open": N_("Open"), "closed": N_("Closed")}
PHASE_LABELS = {"I": N_("Phase I (laboratory)"), "II": N_("Phase II (full investigation)")}


@router.get("/oos", response_class=HTMLResponse)
def board(request: Request, db: DbDep, _: LimsView, status: str = "open") -> Response:
    if status not in ("", *STATUS_LABELS):
        status = "open"
    with db.sessions() as session:
        rows = []
        for case in results.list_oos(session, status=status):
            result = results.get_result(session, case.result_id)
            rows.append((results.oos_public(session, case), results.result_public(session, result)))
    return render(request, "lims/oos.html", rows=rows, status=status,
                  labels={"status": STATUS_LABELS, "phases": PHASE_LABELS})  # fmt: skip
