"""Page: destructions of historian raw values past their retention (TJ-10.1.6.3, SH-8.4.3). The retention report
per class, every destruction with its state, and the forms: a request (month, class, reason) for whoever maintains
the historian's configuration, QA's signed approval and a cancellation with its reason. The execution is run on the
server (``pharmatrace monitoring destroy``); a refusal re-renders the page with the error and changes nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel import clock
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import archive, destruction, rollups, tags
from pharmatrace.monitoring.destruction_schemas import DestructionApprove, DestructionCreate
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import filled, form_data, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/monitoring", include_in_schema=False)

View = Annotated[Principal, Depends(Requires(tags.VIEW_PERMISSION))]
PAGE = "/monitoring/destructions"


def _page(request: Request, db: Any, principal: Principal, status: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        records = destruction.list_all(session)
        rows = [(destruction.public(r), {name: destruction.allowed(session, principal, r, name)
                                         for name in destruction.TRANSITIONS}) for r in records]  # fmt: skip
        signatures = {r.number: destruction.approval_signatures(session, r) for r in records}
        report = rollups.retention_report(session, clock.now())
        ask_login = first_signature_pending(session, principal)
    return render(request, "monitoring/destructions.html", status, rows=rows, report=report, ask_login=ask_login,
                  signatures=signatures, meanings=MEANINGS,
                  statuses=destruction.STATUS_LABELS, methods=destruction.METHOD_LABELS,
                  retention=tags.RETENTION_LABELS, may_request=principal.can(destruction.REQUEST_PERMISSION),
                  **values)  # fmt: skip


@router.get("/destructions", response_class=HTMLResponse)
def destructions(request: Request, db: DbDep, principal: View) -> Response:
    """The retention report and every destruction with its state; the request, approval and cancel forms for
    whoever may take them."""
    return _page(request, db, principal)


@router.post("/destructions", response_class=HTMLResponse)
async def request_destruction(request: Request, db: DbDep, principal: View) -> Response:
    data = filled(await form_data(request), ("month", "retention_class", "reason"))
    return submit(db, principal, DestructionCreate, data,
                  write=lambda uow, body: destruction.request(uow, principal, archive.parse_month(body.month),
                                                              body.retention_class, body.reason).number,
                  rerender=lambda status, **values: _page(request, db, principal, status, posted="request", **values),
                  permission=lambda _: destruction.REQUEST_PERMISSION, done=lambda _: PAGE)  # fmt: skip


@router.post("/destructions/{number}/approve", response_class=HTMLResponse)
async def approve_destruction(number: str, request: Request, db: DbDep, principal: View) -> Response:
    data = filled(await form_data(request), ("password", "login", "comment"))
    return submit(db, principal, DestructionApprove, data,
                  write=lambda uow, body: destruction.approve(uow, principal, number, password=body.password,
                                                              login=body.login, comment=body.comment).number,
                  rerender=lambda status, **values: _page(request, db, principal, status, posted=number, **values),
                  permission=lambda _: destruction.APPROVE_PERMISSION, done=lambda _: PAGE,
                  shown={})  # fmt: skip


@router.post("/destructions/{number}/cancel", response_class=HTMLResponse)
async def cancel_destruction(number: str, request: Request, db: DbDep, principal: View) -> Response:
    data = filled(await form_data(request), ("reason",))
    return submit(db, principal, ReasonOnly, data,
                  write=lambda uow, body: destruction.cancel(uow, principal, number, body.reason).number,
                  rerender=lambda status, **values: _page(request, db, principal, status, posted=number, **values),
                  reason=lambda body: body.reason, done=lambda _: PAGE)  # fmt: skip
