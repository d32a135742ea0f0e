"""``GET /api/v1/compliance/matrix`` — the compliance matrix for tools (read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from pharmatrace.compliance import service
from pharmatrace.config import get_settings
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web.deps import Requires

router = APIRouter(prefix="/compliance", tags=["compliance"])


@router.get("/matrix")
def matrix(_: Annotated[Principal, Depends(Requires("admin.compliance.view"))]) -> dict[str, Any]:
    """One object per clause (id, kind, status, tests with outcome), and the run it comes from."""
    built = service.current_matrix(get_settings())
    run = built.run
    return {
        "run": None
        if run is None
        else {
            "finished": run.finished,
            "complete": run.complete,
            "exitstatus": run.exitstatus,
            "totals": run.totals(),
        },
        "software_clauses_not_yet_covered": built.software_uncovered(),
        "clauses": built.as_json(),
    }
