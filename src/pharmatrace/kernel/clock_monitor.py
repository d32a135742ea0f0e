"""Clock management: the server's time is checked against NTP servers, recorded, and alarmed on.

SH-7.1.5 asks for one clock based on China's national standard time; TJ-10.1.1.2.d lets only the
administrator change date and time settings, under the audit trail. PharmaTrace stamps every GMP time
on the server (:mod:`pharmatrace.kernel.clock`). This module proves that the server's clock is right:

* :func:`check_clock` asks every configured NTP server for the offset and records one
  :class:`ClockCheck` per server (append-only evidence). A ``clock.alarm`` audit event is written
  when an offset exceeds the threshold, a server does not answer or is not synchronised, or the
  server's clock moved backwards since the last recorded check.
* :func:`monitor` repeats the check every interval; the web app runs it in the background.
* The time settings are the ``clock.ntp`` :class:`Setting`, changed through the unit of work (audited,
  with a reason) by holders of ``admin.settings.manage`` only.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import ntplib
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.clock_models import ClockCheck
from pharmatrace.kernel.clock_schemas import ClockSettingsPublic, ClockSettingsUpdate, split_server
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.identity.models import Setting
from pharmatrace.kernel.identity.service import store_setting
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

log = logging.getLogger("pharmatrace.clock")

SETTINGS_KEY = "clock.ntp"
ALARM_EVENT = "clock.alarm"
MONITOR = Actor.system("clock-monitor")
DEFAULT_TIMEOUT_S = 2.0  # per server; a check never waits long for a silent server
NTP_VERSION = 3
RECENT = 50
BACKWARDS = "clock moved backwards"


# --- settings --------------------------------------------------------------------------------------


def clock_settings(session: Session) -> ClockSettingsPublic:
    row = session.get(Setting, SETTINGS_KEY)
    return ClockSettingsPublic.model_validate(row.value) if row is not None else ClockSettingsPublic()


def load_settings(db: Database) -> ClockSettingsPublic:
    with db.sessions() as session:
        return clock_settings(session)


def set_clock_settings(uow: UnitOfWork, update: ClockSettingsUpdate) -> ClockSettingsPublic:
    """Store the time settings; the unit of work audits old → new with the reason (TJ-10.1.1.2.d).

    The caller's permission check (``admin.settings.manage``) keeps this to the system administrator.
    """
    values = update.model_dump(exclude={"reason"})
    store_setting(uow, SETTINGS_KEY, values, update.reason)
    return ClockSettingsPublic.model_validate(values)


# --- checks ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """One NTP server's answer (or its silence), taken at ``at`` by the server's own clock."""

    server: str
    at: datetime
    offset_ms: float | None = None
    delay_ms: float | None = None
    stratum: int | None = None
    leap: int | None = None
    error: str | None = None


def query_server(server: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> Reading:
    """Ask one NTP server (``host[:port]``) for the offset of this server's clock."""
    host, port = split_server(server)
    try:
        stats = ntplib.NTPClient().request(host, version=NTP_VERSION, port=port, timeout=timeout)
    except (ntplib.NTPException, OSError, ValueError) as error:
        return Reading(server, clock.now(), error=str(error) or type(error).__name__)
    return Reading(
        server,
        clock.now(),
        offset_ms=round(float(stats.offset) * 1000, 3),
        delay_ms=round(float(stats.delay) * 1000, 3),
        stratum=int(stats.stratum),
        leap=int(stats.leap),
    )


@dataclass
class _Assessment:
    status: str
    reasons: list[str] = field(default_factory=list)


def _assess(reading: Reading, threshold_ms: int, *, backwards: bool) -> _Assessment:
    if reading.offset_ms is None:
        result = _Assessment("unreachable", [f"time server unreachable: {reading.error}"])
    else:
        result = _Assessment("ok")
        if reading.leap == 3 or reading.stratum is None or not 1 <= reading.stratum <= 15:
            result.reasons.append(
                f"time server not synchronised (stratum {reading.stratum}, leap {reading.leap})"
            )
        if abs(reading.offset_ms) > threshold_ms:
            result.reasons.append(
                f"clock offset {reading.offset_ms:+.3f} ms exceeds the alarm threshold of {threshold_ms} ms"
            )
    if backwards:
        result.reasons.append(BACKWARDS)
    if result.reasons and result.status == "ok":
        result.status = "alarm"
    return result


def check_clock(
    db: Database, settings: ClockSettingsPublic | None = None, *, timeout: float = DEFAULT_TIMEOUT_S
) -> list[ClockCheck]:
    """Check every configured server once; record the checks and any ``clock.alarm`` (SH-7.1.5).

    The servers are asked before the transaction opens, so a slow server never holds the database.
    Checks and alarms are committed together. The checks are not GMP records (no ``Audited``): they
    are themselves append-only evidence, and an alarm is an audit event linked to its check.
    """
    settings = settings or load_settings(db)
    readings = [query_server(server, timeout=timeout) for server in settings.servers]
    threshold = settings.alarm_threshold_ms
    with UnitOfWork(db, MONITOR) as uow:
        session = uow.session
        # The server's own clock must never run backwards: GMP times would lose their order. "Now" is
        # read after the last check, so a check committed meanwhile by another process is no false alarm.
        previous = session.scalar(select(func.max(ClockCheck.checked_at)))
        moment = clock.now()
        backwards = previous is not None and moment < previous
        assessed: list[tuple[ClockCheck, _Assessment]] = []
        for reading in readings:
            assessment = _assess(reading, threshold, backwards=backwards)
            check = ClockCheck(
                checked_at=reading.at,
                server=reading.server,
                offset_ms=reading.offset_ms,
                delay_ms=reading.delay_ms,
                stratum=reading.stratum,
                status=assessment.status,
                error="; ".join(assessment.reasons) or None,
            )
            session.add(check)
            assessed.append((check, assessment))
        session.flush()
        for check, assessment in assessed:
            for reason in assessment.reasons:
                changes: dict[str, list[object]] = {
                    "server": [None, check.server],
                    "status": [None, check.status],
                    "offset_ms": [None, check.offset_ms],
                    "threshold_ms": [None, threshold],
                }
                if reason == BACKWARDS and previous is not None:
                    changes["checked_at"] = [previous.isoformat(), moment.isoformat()]
                uow.record(ALARM_EVENT, "clock_check", check.id, changes=changes, reason=reason)
                log.warning("clock alarm: %s: %s", check.server, reason)
        uow.commit()
        return [check for check, _ in assessed]


# --- status ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockStatus:
    now: datetime
    settings: ClockSettingsPublic
    latest: list[ClockCheck]  # the newest check of each configured server that has one
    recent: list[ClockCheck]  # newest first
    unchecked: list[str]  # configured servers never checked

    @property
    def alarm(self) -> bool:
        return any(check.status != "ok" for check in self.latest)

    @property
    def stale(self) -> bool:
        """No check within two intervals: the monitor is not running or cannot write."""
        if not self.recent:
            return True
        limit = timedelta(seconds=2 * self.settings.check_interval_seconds)
        return self.now - self.recent[0].checked_at > limit


def clock_status(session: Session, *, recent: int = RECENT) -> ClockStatus:
    settings = clock_settings(session)
    latest: list[ClockCheck] = []
    unchecked: list[str] = []
    for server in settings.servers:
        check = session.scalar(
            select(ClockCheck).where(ClockCheck.server == server).order_by(ClockCheck.id.desc()).limit(1)
        )
        if check is None:
            unchecked.append(server)
        else:
            latest.append(check)
    history = list(session.scalars(select(ClockCheck).order_by(ClockCheck.id.desc()).limit(recent)))
    return ClockStatus(clock.now(), settings, latest, history, unchecked)


# --- the background monitor -----------------------------------------------------------------------


async def monitor(db: Database, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Check the clock now and then every configured interval, until cancelled.

    The settings are read afresh each round, so a changed interval or server list takes effect at the
    next check. A failing round is logged and does not stop the monitor.
    """
    while True:
        interval = ClockSettingsPublic().check_interval_seconds
        try:
            settings = await asyncio.to_thread(load_settings, db)
            interval = settings.check_interval_seconds
            await asyncio.to_thread(check_clock, db, settings, timeout=timeout)
        except Exception:
            log.exception("clock check failed")
        await asyncio.sleep(interval)
