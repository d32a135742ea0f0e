"""The quality dashboard page (issue 9 item 11; SH-6.2.4, TJ-6.4.4): per quality record type the open, overdue
and total counts, the ageing of the open records and the counts per status, each linked to the type's list
filtered where that list can filter; a stacked bar chart of the ageing (ECharts, served locally); and what falls
due — registration and contract records expiring, suppliers to requalify, validations to repeat."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.qms import dashboard as service
from pharmatrace.qms.deviation_views import QmsView
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)


# per type: the list page, the query of its open records and of its overdue ones (None: the list cannot filter so)
LINKS: dict[str, tuple[str, str | None, str | None]] = {
    "deviation": ("/qms/deviations", "status=active", "overdue=true"),
    "capa": ("/qms/capa", "status=open", "overdue=true"),
    "change": ("/qms/changes", "status=open", "overdue=true"),
    "complaint": ("/qms/complaints", "status=open", "overdue=true"),
    "recall": ("/qms/recalls", None, None),
    "audit": ("/qms/audits", "status=open", "overdue=true"),
    "risk": ("/qms/risks", "status=open", None),
    "pqr": ("/qms/pqr", "status=open", None),
    "validation": ("/qms/validation", "status=open", None),
    "dossier": ("/qms/dossiers", "status=open", None),
    "supplier_qualification": ("/qms/supplier-qualifications", "status=open", None),
}
assert set(LINKS) == set(service.KINDS)


def _url(path: str, query: str | None) -> str:
    return f"{path}?{query}" if query else path


def links(kind: str) -> dict[str, str]:
    """The list page of a type, of its open records and of its overdue ones (the plain list if it cannot filter)."""
    path, open_query, overdue_query = LINKS[kind]
    return {"list": path, "open": _url(path, open_query), "overdue": _url(path, overdue_query)}


def chart_data(board: service.Dashboard) -> dict[str, Any]:
    """The stacked bar chart's data: one bar per type, one stacked series per ageing bucket."""
    return {
        "kinds": [r.kind for r in board.rows],
        "types": [i18n.gettext(r.label) for r in board.rows],
        "links": [links(r.kind)["open"] for r in board.rows],
        "buckets": list(service.AGEING_BUCKETS),
        "series": [
            {
                "bucket": b,
                "name": i18n.gettext(service.AGEING_LABELS[b]),
                "data": [r.ageing[b] for r in board.rows],
            }
            for b in service.AGEING_BUCKETS
        ],
    }


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def quality_dashboard(request: Request, db: DbDep, _: QmsView) -> Response:
    """Counts, overdue and ageing of every quality record type, with links to the filtered lists."""
    with db.sessions() as session:
        board = service.dashboard(session)
        reminders = service.reminders(session)
    return render(
        request, "qms/dashboard.html", board=board, chart=chart_data(board), reminders=reminders,
        reminder_labels=service.REMINDER_LABELS,
        links={kind: links(kind) for kind in service.KINDS}, buckets=service.AGEING_BUCKETS,
        bucket_labels=service.AGEING_LABELS, status_labels=service.STATUS_LABELS,
    )  # fmt: skip
