"""``/api/v1/clock``: the clock status, and the time settings (system administrator only, audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel import clock
from pharmatrace.kernel import clock_monitor as monitor
from pharmatrace.kernel.clock_schemas import (
    ClockCheckPublic,
    ClockSettingsPublic,
    ClockSettingsUpdate,
    ClockStatusPublic,
)
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(tags=["clock"])

ClockView = Annotated[Principal, Depends(Requires("admin.clock.view"))]
SettingsManage = Annotated[Principal, Depends(Requires("admin.settings.manage"))]


def status_public(status: monitor.ClockStatus) -> ClockStatusPublic:
    return ClockStatusPublic(
        server_time=status.now,
        server_time_beijing=clock.format_beijing(status.now),
        settings=status.settings,
        alarm=status.alarm,
        stale=status.stale,
        latest=[ClockCheckPublic.model_validate(c) for c in status.latest],
        recent=[ClockCheckPublic.model_validate(c) for c in status.recent],
    )


@router.get("/clock", response_model=ClockStatusPublic)
def get_clock(db: DbDep, _: ClockView) -> ClockStatusPublic:
    """Server time (UTC and Beijing time), the time settings, the latest check per server, recent checks."""
    with db.sessions() as session:
        return status_public(monitor.clock_status(session))


@router.put("/clock/settings", response_model=ClockSettingsPublic)
def put_clock_settings(
    body: ClockSettingsUpdate, db: DbDep, principal: SettingsManage
) -> ClockSettingsPublic:
    """Change the NTP servers, the alarm threshold and the check interval (audited with the reason)."""
    with uow_for(db, principal, body.reason) as uow:
        settings = monitor.set_clock_settings(uow, body)
        uow.commit()
    return settings
