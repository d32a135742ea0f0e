"""One time source (SH-7.1.5, TJ-10.1.1.2.d).

The server stamps every GMP record; clients never supply timestamps. Storage is UTC; screens and exchange
formats show Beijing time (UTC+8, national standard time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "CST")


def now() -> datetime:
    """The server's current time, timezone-aware UTC."""
    return datetime.now(UTC)


def to_beijing(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING)


def format_beijing(moment: datetime | None, *, seconds: bool = True) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Beijing time, as shown on screen and on prints."""
    if moment is None:
        return ""
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return to_beijing(moment).strftime(pattern)


def format_exchange(moment: datetime) -> str:
    """``YYYYMMDDThhmmss`` in Beijing time, the exchange format of TJ-B.1.5 (GB/T 7408.1-2023)."""
    return to_beijing(moment).strftime("%Y%m%dT%H%M%S")
