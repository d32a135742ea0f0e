"""The clock status page ``/admin/clock``: server time, NTP checks, alarms, and the time settings."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pharmatrace.kernel import clock_monitor as monitor
from pharmatrace.kernel.clock_schemas import ClockSettingsUpdate
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/admin", include_in_schema=False)

ClockView = Annotated[Principal, Depends(Requires("admin.clock.view"))]
SettingsManage = Annotated[Principal, Depends(Requires("admin.settings.manage"))]


def _page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        status = monitor.clock_status(session)
    values.setdefault(
        "data",
        {
            "servers": ", ".join(status.settings.servers),
            "alarm_threshold_ms": status.settings.alarm_threshold_ms,
            "check_interval_seconds": status.settings.check_interval_seconds,
        },
    )
    return render(request, "clock/status.html", status_code=status_code, status=status, **values)


@router.get("/clock", response_class=HTMLResponse)
def clock_page(request: Request, db: DbDep, _: ClockView, done: int = 0, checked: int = 0) -> Response:
    flash = None
    if done:
        flash = i18n.gettext(N_("Saved"))
    elif checked:
        flash = i18n.gettext(N_("The clock has been checked"))
    return _page(request, db, flash=flash)


@router.post("/clock/settings", response_class=HTMLResponse)
async def clock_settings_submit(request: Request, db: DbDep, principal: SettingsManage) -> Response:
    data = await form_data(request)
    fields = {**data, "servers": [s for s in re.split(r"[\s,;]+", data.get("servers", "")) if s]}
    update, errors = validate(ClockSettingsUpdate, fields)
    if update is None:
        return _page(request, db, 422, data=data, field_errors=errors)
    with UnitOfWork(db, principal.actor, reason=update.reason) as uow:
        monitor.set_clock_settings(uow, update)
        uow.commit()
    return RedirectResponse("/admin/clock?done=1", status_code=303)


@router.post("/clock/check")
def clock_check_now(db: DbDep, _: SettingsManage) -> Response:
    """Run one check at once (in the thread pool: the NTP queries block for at most their timeout)."""
    monitor.check_clock(db)
    return RedirectResponse("/admin/clock?checked=1", status_code=303)
