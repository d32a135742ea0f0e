"""The numbers of quality records: ``PREFIX-YYYY-NNNN`` (CAPA-2026-0001, CC-…, CMP-…, RC-…, AU-…, RA-…).

The year is Beijing's; the serial runs per prefix and year from the plant's code-rule counters
(``wms.codes.next_serial``), so it is drawn inside the writing unit of work and never handed out twice.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from pharmatrace.kernel import clock


def next_number(session: Session, prefix: str, taken: Callable[[Session, str], object | None]) -> str:
    """The next free ``PREFIX-YYYY-NNNN``: ``taken(session, number)`` finds an existing record by number (one
    entered by hand or imported can already hold a serial the counter has not reached)."""
    from pharmatrace.wms.codes import next_serial

    year = clock.to_beijing(clock.now()).year
    while True:
        number = f"{prefix}-{year}-{next_serial(session, f'QMS:{prefix}-{year}-#'):04d}"
        if taken(session, number) is None:
            return number
