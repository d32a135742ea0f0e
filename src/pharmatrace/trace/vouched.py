"""``ledger verify`` over every code event's items and every code's current row (SH-8.4.5, SH-7.1.3.c; ADR 0020).

A :class:`~pharmatrace.trace.models.TraceEvent` is audited, so the ledger vouches for it and ``ledger verify``
re-hashes it; the event vouches for its items by their SM3 (:func:`pharmatrace.trace.lifecycle.items_sm3`). This
check re-hashes the items of every event, as :func:`~pharmatrace.trace.lifecycle.verify_event` does for one, in
one ordered pass over the events and one over the items (a merge, one event's items in memory at a time), and
compares every code's current row with its last item in one set-based query
(:func:`~pharmatrace.trace.lifecycle.verify_code`). An item altered, deleted or added behind the application's
back names its event (``trace.event.items``); a code whose row no longer agrees with its last item is named by its
value (``trace.code.current``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from pharmatrace.kernel import ledger
from pharmatrace.kernel.ledger import Problem
from pharmatrace.trace.lifecycle import items_sm3
from pharmatrace.trace.models import TraceCode, TraceEvent, TraceEventItem

NAME = "trace.events"
STREAM = 5000  # rows per round trip
SHOWN = 3  # codes named in a problem's detail


def _codes(items: Sequence[Sequence[Any]]) -> str:
    shown = ", ".join(str(row[1]) for row in items[:SHOWN])
    return shown + (f" (+{len(items) - SHOWN} more)" if len(items) > SHOWN else "")


def check(session: Session, problems: list[Problem]) -> int:
    """Append a problem per event whose items no longer hash to its ``items_sm3``, and per code whose row differs
    from its last item. Returns the number of items read."""
    events = session.execute(
        select(TraceEvent.id, TraceEvent.count, TraceEvent.items_sm3)
        .order_by(TraceEvent.id)
        .execution_options(yield_per=STREAM)
    )
    code, parent = aliased(TraceCode), aliased(TraceCode)
    items = session.execute(
        select(TraceEventItem.event_id, code.value, TraceEventItem.from_state, TraceEventItem.to_state,
               parent.value)
        .outerjoin(code, code.id == TraceEventItem.code_id)  # outer: an item of a missing code still counts
        .outerjoin(parent, parent.id == TraceEventItem.parent_id)
        .order_by(TraceEventItem.event_id, TraceEventItem.id)
        .execution_options(yield_per=STREAM)
    )  # fmt: skip
    read = 0
    for event_id, event, rows in ledger.vouched_groups(events, items):
        read += len(rows)
        subject = f"{TraceEvent.__audit_type__}:{event_id}"
        if event is None:
            problems.append(
                Problem(
                    "trace.event.items", subject, f"{len(rows)} item(s) of no event: codes {_codes(rows)}"
                )
            )
            continue
        _, count, digest = event
        if len(rows) != count or items_sm3(row[1:] for row in rows) != digest:
            problems.append(
                Problem(
                    "trace.event.items",
                    subject,
                    f"{len(rows)} item(s) stored for the {count} the event vouches for, which no longer "
                    f"hash to its items_sm3: codes {_codes(rows) or '—'}",
                )
            )
    last = (
        select(TraceEventItem.code_id, func.max(TraceEventItem.id).label("item_id"))
        .group_by(TraceEventItem.code_id)
        .subquery()
    )
    item = aliased(TraceEventItem)
    drifted = session.execute(
        select(TraceCode.value, TraceCode.state, item.id, item.to_state)
        .outerjoin(last, last.c.code_id == TraceCode.id)
        .outerjoin(item, item.id == last.c.item_id)
        .where(
            or_(
                item.id.is_(None),
                item.to_state != TraceCode.state,
                item.parent_id.is_distinct_from(TraceCode.parent_id),
            )
        )
        .order_by(TraceCode.id)
        .execution_options(yield_per=STREAM)
    )
    for value, state, item_id, last_state in drifted:
        if item_id is None:
            detail = "the code has no event item"
        elif last_state != state:
            detail = f"the code is “{state}”, its last event item (#{item_id}) says “{last_state}”"
        else:
            detail = f"the code's parent differs from its last event item's (#{item_id})"
        problems.append(Problem("trace.code.current", f"trace_code:{value}", detail))
    return read


def register() -> None:
    """Have ``ledger verify`` run :func:`check` (the web app and the CLI call this at start-up)."""
    ledger.register_vouched(NAME, check)
