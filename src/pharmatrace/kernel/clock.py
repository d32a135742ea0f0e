"""One time source (SH-7.1.5, TJ-10.1.1.2.d).

The server stamps every GMP record; clients never supply timestamps. Storage is UTC; screens and exchange
formats show Beijing time (UTC+8, national standard time).

The demo seed alone may run a stretch of its history under a **seed clock** (:func:`seeded`, ADR 0015): the
plant's set-up and a completed batch, days ago, with each step taking its time. It is held in a
``ContextVar`` of the seeding code; no API, page, command-line option or setting reaches it, it never goes
backwards and never passes the real time. Everywhere else, and after the seed, :func:`now` is the server's
clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta, timezone

from pharmatrace.kernel.errors import N_, Conflict

BEIJING = timezone(timedelta(hours=8), "CST")


class SeedClockRefused(Conflict):
    """The seed clock was asked to go backwards, past the real time, or to start twice."""

    code = "seed_clock_refused"


class SeedClock:
    """A simulated time that runs at the real clock's pace, ``lag`` behind it, and only moves forward.

    :meth:`advance` shortens the lag (a step that takes two hours: ``advance(timedelta(hours=2))``); the lag
    never becomes negative, so the simulated time never passes the real time, and it never grows, so the
    simulated time never goes backwards.
    """

    __slots__ = ("_lag",)

    def __init__(self, lag: timedelta) -> None:
        self._lag = lag

    @property
    def lag(self) -> timedelta:
        """How far the simulated time is behind the real time."""
        return self._lag

    def now(self) -> datetime:
        return datetime.now(UTC) - self._lag

    def advance(self, delta: timedelta) -> datetime:
        """Move the simulated time forward by ``delta``; refused backwards or past the real time."""
        if delta < timedelta(0):
            raise SeedClockRefused(N_("The seed clock never goes backwards ({delta})"), delta=str(delta))
        if delta > self._lag:
            raise SeedClockRefused(
                N_("The seed clock never passes the real time: {delta} asked, {lag} left"),
                delta=str(delta), lag=str(self._lag),
            )  # fmt: skip
        self._lag -= delta
        return self.now()

    def advance_to(self, moment: datetime) -> datetime:
        """Move the simulated time forward to ``moment`` (timezone-aware); refused if it lies in its past
        or in the real future."""
        if moment.tzinfo is None:
            raise SeedClockRefused(N_("The seed clock needs a time with its time zone"))
        return self.advance(moment - self.now())


_SEED_CLOCK: ContextVar[SeedClock | None] = ContextVar("pharmatrace_seed_clock", default=None)


@contextmanager
def seeded(start: datetime) -> Iterator[SeedClock]:
    """Run the enclosed code with :func:`now` at ``start`` (in the past), moving on at the real pace and by
    :meth:`SeedClock.advance`; on leaving, :func:`now` is the server's clock again, which is later.

    For the demo seed's history only (ADR 0015). Refused for a start in the future, without a time zone,
    or inside another seed clock.
    """
    if _SEED_CLOCK.get() is not None:
        raise SeedClockRefused(N_("A seed clock is running already"))
    if start.tzinfo is None:
        raise SeedClockRefused(N_("The seed clock needs a time with its time zone"))
    lag = datetime.now(UTC) - start
    if lag < timedelta(0):
        raise SeedClockRefused(
            N_("The seed clock never passes the real time: {start} is in the future"), start=start.isoformat()
        )
    seed_clock = SeedClock(lag)
    token = _SEED_CLOCK.set(seed_clock)
    try:
        yield seed_clock
    finally:
        _SEED_CLOCK.reset(token)


def seed_clock() -> SeedClock | None:
    """The running seed clock of this context, if any (the demo seed's history)."""
    return _SEED_CLOCK.get()


def now() -> datetime:
    """The server's current time, timezone-aware UTC (the seed clock's while the demo seed runs one)."""
    running = _SEED_CLOCK.get()
    if running is not None:
        return running.now()
    return datetime.now(UTC)


def to_beijing(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING)


def today() -> date:
    """The plant's calendar day (Beijing): due dates, planned dates and pull points are days of the plant."""
    return to_beijing(now()).date()


def format_beijing(moment: datetime | None, *, seconds: bool = True) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Beijing time, as shown on screen and on prints."""
    if moment is None:
        return ""
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return to_beijing(moment).strftime(pattern)


def format_exchange(moment: datetime) -> str:
    """``YYYYMMDDThhmmss`` in Beijing time, the exchange format of TJ-B.1.5 (GB/T 7408.1-2023)."""
    return to_beijing(moment).strftime("%Y%m%dT%H%M%S")
