"""One Jinja2 environment for every area, with gettext installed (zh-CN first) and shared helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pharmatrace import __version__
from pharmatrace.kernel import clock, context
from pharmatrace.kernel.identity.permissions import AREAS, KIND_LABELS
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.web import i18n

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [
    PACKAGE / "web" / "templates",
    PACKAGE / "kernel" / "identity" / "templates",
    PACKAGE / "kernel" / "audit_trail" / "templates",
    PACKAGE / "kernel" / "templates",  # kernel services outside identity (clock/)
    PACKAGE / "wms" / "templates",
    PACKAGE / "origin" / "templates",
    PACKAGE / "equipment" / "templates",
    PACKAGE / "compliance" / "templates",
    PACKAGE / "documents" / "templates",
    PACKAGE / "training" / "templates",
    PACKAGE / "mes" / "templates",
    PACKAGE / "lims" / "templates",
    PACKAGE / "qms" / "templates",
    PACKAGE / "monitoring" / "templates",
    PACKAGE / "trace" / "templates",
]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in TEMPLATE_DIRS]),
        autoescape=jinja2.select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["beijing"] = clock.format_beijing
    env.filters["plain"] = plain_number
    env.globals["app_version"] = __version__
    env.globals["areas"] = AREAS
    env.globals["kind_labels"] = KIND_LABELS
    env.globals["locales"] = i18n.LOCALES
    env.globals["error_message"] = i18n.error_message
    env.globals["stored_message"] = i18n.stored_message
    return env


templates = Jinja2Templates(env=_environment())


def render(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    values.setdefault("flash", None)
    values.setdefault("error", None)
    values.setdefault("field_errors", {})
    values.setdefault("details", None)
    values.setdefault("action", "")
    values.update(
        principal=principal,
        locale=context.locale.get(),
        now_beijing=clock.format_beijing(clock.now(), seconds=False),
        path=request.url.path,
    )
    return templates.TemplateResponse(request, name, values, status_code=status_code)
