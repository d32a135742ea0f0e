"""Form handling for the UI: the same Pydantic schemas as the API, errors translated per field."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n

if TYPE_CHECKING:
    from pharmatrace.kernel.identity.service import Principal
    from pharmatrace.storage.engine import Database

M = TypeVar("M", bound=BaseModel)


async def form_data(request: Request, *, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    form = await request.form()
    data: dict[str, Any] = {}
    for key in form:
        if key in lists:
            data[key] = [str(v) for v in form.getlist(key)]
        else:
            value = form.get(key)
            data[key] = value if isinstance(value, str) else ""
    for key in lists:
        data.setdefault(key, [])
    return data


def validate(schema: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """The model, or ``None`` and ``{field: translated message}``."""
    fields = schema.model_fields
    # An empty input of an optional field means "not given" (a blank temperature is no limit, not text).
    data = {
        key: value
        for key, value in data.items()
        if not (
            value == "" and key in fields and not fields[key].is_required() and fields[key].default is None
        )
    }
    try:
        return schema.model_validate(data), {}
    except ValidationError as error:
        errors: dict[str, str] = {}
        for item in i18n.field_errors(list(error.errors())):
            errors.setdefault(item["field"].split(".")[0], item["message"])
        return None, errors


def act(
    db: Database,
    principal: Principal,
    write: Callable[[UnitOfWork], object],
    *,
    rerender: Callable[..., Response],
    done: str | Callable[[object], str],
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> Response:
    """Write through the unit of work, then redirect (303) to ``done``; a refusal by the service re-renders
    the page with the error's status and message and ``data`` (nothing was written: the unit of work rolls
    back). ``done`` is the URL, or makes it from what ``write`` returned."""
    try:
        with UnitOfWork(db, principal.actor, reason=reason) as uow:
            result = write(uow)
            uow.commit()
    except PharmaTraceError as error:
        return rerender(error.http_status, data=data or {}, error=i18n.error_message(error))
    return RedirectResponse(done(result) if callable(done) else done, status_code=303)


def submit(
    db: Database,
    principal: Principal,
    schema: type[M],
    data: dict[str, Any],
    *,
    write: Callable[[UnitOfWork, M], object],
    rerender: Callable[..., Response],
    done: str | Callable[[object], str],
    reason: Callable[[M], str | None] | None = None,
    permission: Callable[[M], str | None] | None = None,
    show_first_error: bool = True,
    shown: dict[str, Any] | None = None,
) -> Response:
    """A page's form post: validate, write through the unit of work, then redirect (303) to ``done``.

    Bad input re-renders the page with 422 and the field errors; a refusal by the service re-renders it
    with the error's status and message. Either way nothing was written (the unit of work rolls back).
    ``rerender(status, **values)`` draws the page; ``done`` is the URL, or makes it from what ``write``
    returned; ``reason`` gives the unit of work its reason; ``permission`` names one the input needs;
    ``shown`` is what the page shows again in its form (default: ``data``; e.g. without the password).
    """
    shown = data if shown is None else shown
    body, errors = validate(schema, data)
    if body is None:
        first = next(iter(errors.values()), None) if show_first_error else None
        return rerender(422, data=shown, field_errors=errors, error=first)
    try:
        needed = permission(body) if permission else None
        if needed:
            principal.require(needed)
    except PharmaTraceError as error:
        return rerender(error.http_status, data=shown, error=i18n.error_message(error))
    return act(db, principal, lambda uow: write(uow, body), rerender=rerender, done=done,
               reason=reason(body) if reason else None, data=shown)  # fmt: skip


def saved() -> str:
    """The query a record page is redirected to after a write: the translated "Saved" notice."""
    return "?done=" + quote(i18n.gettext(N_("Saved")))


def filled(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The form's non-blank values of ``keys``, trimmed (a blank field is left to the schema's default)."""
    return {k: str(data[k]).strip() for k in keys if str(data.get(k, "")).strip()}
