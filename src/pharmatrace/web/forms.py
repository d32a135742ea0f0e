"""Form handling for the UI: the same Pydantic schemas as the API, errors translated per field."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from pharmatrace.web import i18n

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
