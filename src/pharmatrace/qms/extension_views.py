"""Pages: the forms of a record's extensions section (``qms/_extensions.html`` on the deviation, CAPA and change
pages) — request an extension, QA's approval by signature or rejection, the requester's withdrawal (TJ-6.4.4,
SH-6.2.4, SH-7.1.4). Each post goes back to the record's page: with "Saved", or with the refusal's message and
nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import extensions as service
from pharmatrace.qms.extension_schemas import ExtensionApprove, ExtensionRequest
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import act, form_data, submit

router = APIRouter(prefix="/qms", include_in_schema=False)

Worker = Annotated[Principal, Depends(Requires("qms.deviation.raise"))]  # the service checks the record's own
QA = Annotated[Principal, Depends(Requires(service.QA_PERMISSION))]
ANCHOR = "#extensions"


def _back(url: str, status: int = 303, **values: Any) -> Response:
    """To the record's page: its refusal's message (``error``) or "Saved"."""
    error = values.get("error")
    if error:
        return RedirectResponse(f"{url}?error={quote(str(error))}{ANCHOR}", status_code=303)
    return RedirectResponse(_saved(url), status_code=303)


def _saved(url: str) -> str:
    return f"{url}?done={quote(i18n.gettext(N_('Saved')))}{ANCHOR}"


def _record_url(db: DbDep, extension_id: int) -> str | None:
    with db.sessions() as session:
        try:
            extension = service.get_extension(session, extension_id)
        except PharmaTraceError:
            return None
        return service.record_url(extension.record_kind, extension.record_number)


def _error(url: str) -> Callable[..., Response]:
    return lambda status, **values: _back(url, status, **values)


@router.post("/extensions/{extension_id}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: QA, extension_id: int) -> Response:
    url = _record_url(db, extension_id) or "/qms"
    data = await form_data(request)
    values = {k: v for k, v in data.items() if k in ExtensionApprove.model_fields and v != ""}
    return submit(db, principal, ExtensionApprove, values, rerender=_error(url), done=_saved(url), shown={},
        write=lambda uow, body: service.approve(uow, principal, extension_id, body))  # fmt: skip


def _with_reason(db: DbDep, principal: Principal, extension_id: int, data: dict[str, Any],
                 write: Callable[[UnitOfWork, str], object]) -> Response:  # fmt: skip
    url = _record_url(db, extension_id) or "/qms"
    reason = str(data.get("reason", "")).strip()
    if len(reason) < 2:
        return _back(url, error=i18n.gettext(N_("A reason is required for this change")))
    return act(db, principal, lambda uow: write(uow, reason[:500]), reason=reason[:500], rerender=_error(url),
               done=_saved(url))  # fmt: skip


@router.post("/extensions/{extension_id}/reject", response_class=HTMLResponse)
async def reject(request: Request, db: DbDep, principal: QA, extension_id: int) -> Response:
    data = await form_data(request)
    return _with_reason(db, principal, extension_id, data,
                        lambda uow, reason: service.reject(uow, principal, extension_id, reason))  # fmt: skip


@router.post("/extensions/{extension_id}/withdraw", response_class=HTMLResponse)
async def withdraw(request: Request, db: DbDep, principal: Worker, extension_id: int) -> Response:
    data = await form_data(request)
    return _with_reason(db, principal, extension_id, data,
                        lambda uow, reason: service.withdraw(uow, principal, extension_id, reason))  # fmt: skip


# declared last: "/extensions/{id}/approve" is not a record
@router.post("/extensions/{kind}/{number}", response_class=HTMLResponse)
async def request_extension(
    request: Request, db: DbDep, principal: Worker, kind: str, number: str
) -> Response:
    url = service.record_url(kind, number) if kind in service.RECORD_URLS else "/qms"
    data = await form_data(request)
    values = {k: v for k, v in data.items() if k in ExtensionRequest.model_fields}
    return submit(db, principal, ExtensionRequest, values, rerender=_error(url), done=_saved(url),
        write=lambda uow, body: service.request_extension(uow, principal, kind, number, body))  # fmt: skip
