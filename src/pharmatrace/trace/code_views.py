"""Pages: the trace area's landing page (``/trace``: look a code up by scanning or typing it, product identifiers,
code pools with their codes by state, allocations per batch, and the forms that register an identifier, import or
generate a pool and allocate codes) and a code's page (state, batch, line, parent, shipment, its history and
whether it still agrees with the ledger, and the manual lifecycle operations). NMPAB/T 1002, SH-6.2.5.1,
TJ-6.3.4. Plain forms, POST then redirect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from pharmatrace.codes import nmpa
from pharmatrace.kernel.errors import N_, NotFound, PharmaTraceError, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution import ORDER_STATUS_LABELS
from pharmatrace.trace import codes as service
from pharmatrace.trace.code_schemas import (
    AllocationCreate,
    CodesCommission,
    CodesDecommission,
    CodesReactivate,
    Deallocation,
    IdentifierCreate,
    IdentifierVoid,
    PoolGenerate,
)
from pharmatrace.trace.models import (
    ACTION_LABELS,
    DECOMMISSION_REASONS,
    DISPOSITION_LABELS,
    LEVEL_NAMES,
    REACTIVATABLE,
    STATE_LABELS,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/trace", include_in_schema=False)

View = Annotated[Principal, Depends(Requires(service.VIEW_PERMISSION))]
Manage = Annotated[Principal, Depends(Requires(service.MANAGE_PERMISSION))]

LABELS = {
    "schemes": service.SCHEME_LABELS,
    "origins": service.ORIGIN_LABELS,
    "states": STATE_LABELS,
    "dispositions": DISPOSITION_LABELS,
    "actions": ACTION_LABELS,
    "levels": LEVEL_NAMES,
    "nmpa_levels": nmpa.LEVELS,
    "batch_status": ORDER_STATUS_LABELS,
}
DECOMMISSION_FROM = ("allocated", "commissioned", "returned")  # codes of a batch (an unused pool code is not)


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, states=list(STATE_LABELS),
                  **values)  # fmt: skip


def _saved(url: str) -> str:
    return url + "?done=" + quote(i18n.gettext(N_("Saved")))


def code_url(value: str) -> str:
    return "/trace/codes/" + quote(value, safe="")


# --- the landing page ----------------------------------------------------------------------------------------


def _overview(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        board = service.overview(session)
    return _render(request, "trace/overview.html", status_code, board=board, dispositions=DECOMMISSION_REASONS,
                   **values)  # fmt: skip


def _again(request: Request, db: DbDep) -> Callable[..., Response]:
    """Draws the landing page again (a form's refusal) with a status and the form's values."""

    def again(status: int, **values: Any) -> Response:
        return _overview(request, db, status, **values)

    return again


@router.get("", response_class=HTMLResponse)
def overview(request: Request, db: DbDep, _: View) -> Response:
    """Identifiers, pools by state, allocations per batch, the look-up and the forms."""
    return _overview(request, db)


@router.get("/lookup", response_class=HTMLResponse)
def lookup(request: Request, db: DbDep, _: View, scan: str = "") -> Response:
    """A scanned or typed code (20 digits, a GS1 element string or Digital Link) to its page."""
    try:
        with db.sessions() as session:
            code = service.find_code(session, scan)
            value = code.value
    except NotFound as error:
        return _overview(
            request, db, 404, error=i18n.error_message(error), form="lookup", data={"scan": scan}
        )
    return RedirectResponse(code_url(value), status_code=303)


def _write(request: Request, db: DbDep, principal: Principal, form: str, data: dict[str, Any],
           write: Callable[[UnitOfWork], object], *, reason: str | None = None, done: str = "/trace",
           rerender: Callable[..., Response] | None = None) -> Response:  # fmt: skip
    """Write through the unit of work, then redirect; a refusal re-renders the page with the form's input."""
    again = rerender or _again(request, db)
    try:
        with UnitOfWork(db, principal.actor, reason=reason) as uow:
            write(uow)
            uow.commit()
    except PharmaTraceError as error:
        return again(error.http_status, error=i18n.error_message(error), form=form, data=data)
    return RedirectResponse(_saved(done), status_code=303)


def _invalid(
    rerender: Callable[..., Response], form: str, data: dict[str, Any], errors: dict[str, str]
) -> Response:
    return rerender(422, form=form, data=data, field_errors=errors, error=next(iter(errors.values()), None))


def _fields(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: str(data.get(k, "")).strip() for k in names if str(data.get(k, "")).strip() != ""}


@router.post("/identifiers", response_class=HTMLResponse)
async def register_identifier(request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    body, errors = validate(IdentifierCreate, _fields(data, ("scheme", "code", "material", "level", "pack_quantity",
                                                              "description")))  # fmt: skip
    again = _again(request, db)
    if body is None:
        return _invalid(again, "identifier", data, errors)
    return _write(request, db, principal, "identifier", data,
                  lambda uow: service.register_identifier(uow, principal, body))  # fmt: skip


@router.post("/identifiers/{code}/void", response_class=HTMLResponse)
async def void_identifier(request: Request, db: DbDep, principal: Manage, code: str) -> Response:
    data = await form_data(request)
    body, errors = validate(IdentifierVoid, _fields(data, ("reason",)))
    again = _again(request, db)
    if body is None:
        return _invalid(again, f"void-{code}", data, errors)
    return _write(request, db, principal, f"void-{code}", data,
                  lambda uow: service.void_identifier(uow, principal, code), reason=body.reason)  # fmt: skip


@router.post("/pools/import", response_class=HTMLResponse)
async def import_pool(request: Request, db: DbDep, principal: Manage) -> Response:
    """The issuer's file as uploaded: all codes or none."""
    form = await request.form()
    upload = form.get("file")
    data = {k: str(form.get(k, "")) for k in ("identifier", "reference")}
    if not isinstance(upload, UploadFile) or not upload.filename:
        error = i18n.error_message(ValidationFailed(N_("Choose a file")))
        return _overview(request, db, 422, error=error, form="import", data=data)
    content = await upload.read(service.POOL_FILES.max_bytes + 1)
    name = upload.filename
    return _write(request, db, principal, "import", data,
                  lambda uow: service.import_pool(uow, principal, data["identifier"].strip(), content, name,
                                                  reference=data["reference"]))  # fmt: skip


@router.post("/pools/generate", response_class=HTMLResponse)
async def generate_pool(request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    body, errors = validate(PoolGenerate, _fields(data, ("identifier", "count", "serial_length", "alphabet",
                                                          "reference")))  # fmt: skip
    again = _again(request, db)
    if body is None:
        return _invalid(again, "generate", data, errors)
    return _write(
        request, db, principal, "generate", data, lambda uow: service.generate_pool(uow, principal, body)
    )


@router.get("/pools/{number}/file")
def pool_file(db: DbDep, _: View, number: str) -> Response:
    """The issuer's original file of a pool, checked against its SM3 before it is served."""
    with db.sessions() as session:
        pool, content = service.pool_file(db, session, number)
        name = f"{pool.number}.txt"
    return Response(content, media_type="text/plain; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})  # fmt: skip


@router.post("/allocations", response_class=HTMLResponse)
async def allocate(request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    body, errors = validate(AllocationCreate, _fields(data, ("batch", "line", "identifier", "count")))
    again = _again(request, db)
    if body is None:
        return _invalid(again, "allocate", data, errors)
    return _write(
        request, db, principal, "allocate", data, lambda uow: service.allocate(uow, principal, body)
    )


@router.post("/deallocations", response_class=HTMLResponse)
async def deallocate(request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    body, errors = validate(Deallocation, _fields(data, ("batch", "identifier", "count", "reason")))
    form = f"deallocate-{data.get('batch', '')}-{data.get('identifier', '')}"
    again = _again(request, db)
    if body is None:
        return _invalid(again, form, data, errors)
    return _write(request, db, principal, form, data, lambda uow: service.deallocate(uow, principal, body),
                  reason=body.reason)  # fmt: skip


# --- a code --------------------------------------------------------------------------------------------------


def _code_page(request: Request, db: DbDep, value: str, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        code = service.code_public(session, service.find_code(session, value))  # NotFound: the error page
    return _render(request, "trace/code.html", status_code, code=code, dispositions=DECOMMISSION_REASONS,
                   decommission_from=DECOMMISSION_FROM, reactivatable=REACTIVATABLE, **values)  # fmt: skip


@router.get("/codes/{value}", response_class=HTMLResponse)
def code_page(request: Request, db: DbDep, _: View, value: str) -> Response:
    return _code_page(request, db, value)


def _code_action(request: Request, db: DbDep, principal: Principal, value: str, form: str, data: dict[str, Any],
                 schema: type[Any], values: dict[str, Any], write: Callable[[UnitOfWork, Any], object],
                 reason: str | None = None) -> Response:  # fmt: skip
    def again(status: int, **v: Any) -> Response:
        return _code_page(request, db, value, status, **v)

    body, errors = validate(schema, values)
    if body is None:
        return _invalid(again, form, data, errors)
    return _write(request, db, principal, form, data, lambda uow: write(uow, body), reason=reason,
                  done=code_url(value), rerender=again)  # fmt: skip


@router.post("/codes/{value}/commission", response_class=HTMLResponse)
async def commission(request: Request, db: DbDep, principal: Manage, value: str) -> Response:
    data = await form_data(request)
    values = {"batch": str(data.get("batch", "")).strip(), "codes": [value]}
    return _code_action(request, db, principal, value, "commission", data, CodesCommission, values,
                        lambda uow, body: service.commission(uow, principal, body))  # fmt: skip


@router.post("/codes/{value}/decommission", response_class=HTMLResponse)
async def decommission(request: Request, db: DbDep, principal: Manage, value: str) -> Response:
    data = await form_data(request)
    values = {"codes": [value], **_fields(data, ("disposition", "reason"))}
    return _code_action(request, db, principal, value, "decommission", data, CodesDecommission, values,
                        lambda uow, body: service.decommission(uow, principal, body),
                        reason=values.get("reason"))  # fmt: skip


@router.post("/codes/{value}/reactivate", response_class=HTMLResponse)
async def reactivate(request: Request, db: DbDep, principal: Manage, value: str) -> Response:
    data = await form_data(request)
    values = {"codes": [value], **_fields(data, ("reason",))}
    return _code_action(request, db, principal, value, "reactivate", data, CodesReactivate, values,
                        lambda uow, body: service.reactivate(uow, principal, body), reason=values.get("reason"))  # fmt: skip
