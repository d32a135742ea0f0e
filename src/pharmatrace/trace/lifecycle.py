"""Every code's lifecycle as events in the kernel's ledger (NMPAB/T 1002, SH-6.2.5; issue 10 item 1).

A code moves ``available → allocated → commissioned → packed → shipped``; it can be ``decommissioned`` with a
reason (sample, damaged, destroyed, stolen, rejected by the line's camera), ``returned`` after shipping and
restocked. :data:`TRANSITIONS` is the whole table; anything else is refused, naming the code and its state, and
changes nothing.

Every change is written by :func:`record` (or :func:`create` for new codes) inside the caller's unit of work as
one :class:`~pharmatrace.trace.models.TraceEvent` — audited, append-only, so its audit entry is a leaf of the
ledger — plus one append-only item per code (from state, to state, parent after). The event carries the count and
the SM3 of the canonical JSON of its items ``[code, from, to, parent code]`` in order (:func:`items_sm3`);
:func:`verify_event` recomputes it and :func:`verify_code` checks a code's current row against its last item.
A code changed behind the application's back no longer matches an event whose digest the signed ledger holds
(the historian's pattern, ADR 0019; ADR 0020 for the trace area).

This module is the only writer of ``trace_codes`` and ``trace_event_items``; the services (pools, allocation,
commissioning, aggregation, shipments) decide *what* happens and call it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.errors import N_, Conflict, Msgid, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.trace.models import (
    ACTION_LABELS,
    DECOMMISSION_REASONS,
    DISPOSITION_LABELS,
    REACTIVATABLE,
    STATE_LABELS,
    TraceCode,
    TraceEvent,
    TraceEventItem,
)

CHUNK = 2000  # ids per UPDATE … WHERE id IN (…): well under SQLite's variable limit


@dataclass(frozen=True, slots=True)
class Transition:
    sources: frozenset[str]
    target: str  # "" : decided per code (restock: packed when it still has a parent)


TRANSITIONS: dict[str, Transition] = {
    "allocate": Transition(frozenset({"available"}), "allocated"),
    "deallocate": Transition(frozenset({"allocated"}), "available"),
    "commission": Transition(frozenset({"allocated"}), "commissioned"),  # pallets (SSCC): from available
    "decommission": Transition(
        frozenset({"available", "allocated", "commissioned", "returned"}), "decommissioned"
    ),
    "reactivate": Transition(frozenset({"decommissioned"}), "commissioned"),
    "pack": Transition(frozenset({"commissioned"}), "packed"),
    "unpack": Transition(frozenset({"packed"}), "commissioned"),
    "ship": Transition(frozenset({"commissioned", "packed"}), "shipped"),
    "return": Transition(frozenset({"shipped"}), "returned"),
    "restock": Transition(frozenset({"returned"}), ""),
}
CREATING = ("import", "generate")
KEEP: Any = object()  # leave the column as it is


class TransitionRefused(Conflict):
    code = "trace_transition_refused"


def items_sm3(rows: Iterable[Sequence[Any]]) -> str:
    """SM3 of the canonical JSON of ``[code, from state, to state, parent code]`` rows, in order."""
    return crypto.sm3(ledger.canonical([list(row) for row in rows])).hex()


def _sources(action: str, code: TraceCode) -> frozenset[str]:
    if action == "commission" and code.level == 4:
        return frozenset({"available"})  # a pallet's SSCC label is printed where the pallet is built
    return TRANSITIONS[action].sources


def _target(action: str, code: TraceCode) -> str:
    target = TRANSITIONS[action].target
    if target:
        return target
    return "packed" if code.parent_id is not None else "commissioned"


def _event(
    uow: UnitOfWork, action: str, count: int, digest: str, event_key: str | None, **fields: Any
) -> TraceEvent:
    actor = uow.actor
    event = TraceEvent(
        event_key=event_key or uuid.uuid4().hex, action=action, count=count, items_sm3=digest,
        recorded_at=clock.now(), recorded_by=actor.login, recorded_by_name=actor.full_name, **fields,
    )  # fmt: skip
    uow.session.add(event)
    uow.session.flush()
    return event


def _items(session: Session, event: TraceEvent, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(
            insert(TraceEventItem), [{**row, "event_id": event.id} for row in rows[start : start + CHUNK]]
        )


def prior(session: Session, event_key: str | None) -> TraceEvent | None:
    """The event already recorded under ``event_key`` (a re-sent message), if any."""
    if event_key is None:
        return None
    return session.scalar(select(TraceEvent).where(TraceEvent.event_key == event_key))


def create(
    uow: UnitOfWork, action: str, values: Sequence[str], *, level: int, pool_id: int, identifier_id: int | None,
    event_key: str | None = None, reason: str = "",
) -> TraceEvent:  # fmt: skip
    """New codes, ``available`` in their pool: one event (``import`` or ``generate``) with an item per code.

    Duplicates within ``values`` or of any code ever stored are refused by name (codes are never reused,
    NMPAB/T 1002); the database's UNIQUE on ``trace_codes.value`` stands behind the check.
    """
    if action not in CREATING:
        raise ValueError(action)
    if not values:
        raise ValidationFailed(N_("No codes to add"))
    session = uow.session
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValidationFailed(N_("Code {code} appears twice"), code=value)
        seen.add(value)
    for start in range(0, len(values), CHUNK):
        taken = session.scalar(
            select(TraceCode.value).where(TraceCode.value.in_(values[start : start + CHUNK])).limit(1)
        )
        if taken is not None:
            raise Conflict(N_("Code {code} already exists: codes are never reused"), code=taken)
    digest = items_sm3([value, None, "available", None] for value in values)
    event = _event(uow, action, len(values), digest, event_key, pool_id=pool_id, reason=reason)
    rows = [{"value": v, "level": level, "identifier_id": identifier_id, "pool_id": pool_id, "state": "available",
             "line": ""} for v in values]  # fmt: skip
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(TraceCode), rows[start : start + CHUNK])
    ids: dict[str, int] = {}
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        ids.update(
            (v, i)
            for v, i in session.execute(
                select(TraceCode.value, TraceCode.id).where(TraceCode.value.in_(chunk))
            )
        )
    _items(session, event, [{"code_id": ids[v], "from_state": None, "to_state": "available", "parent_id": None}
                            for v in values])  # fmt: skip
    return event


def record(
    uow: UnitOfWork, action: str, codes: Sequence[TraceCode], *, parent: TraceCode | None = None,
    batch_order_id: Any = KEEP, line: Any = KEEP, shipment_id: Any = KEEP, disposition: str = "",
    reason: str = "", event_key: str | None = None,
) -> TraceEvent:  # fmt: skip
    """Move ``codes`` through ``action`` as one event; refuse (changing nothing) if any code may not.

    ``parent``: the code they are packed into (``pack``); ``unpack`` clears the parent. ``batch_order_id``,
    ``line`` and ``shipment_id`` are set on every code when given. ``disposition`` is the decommissioning reason.
    """
    if action not in TRANSITIONS:
        raise ValueError(action)
    if not codes:
        raise ValidationFailed(N_("No codes given"))
    if action == "decommission" and disposition not in DECOMMISSION_REASONS:
        raise ValidationFailed(
            N_("Decommissioning needs a reason: {reasons}"), reasons=", ".join(DECOMMISSION_REASONS)
        )
    if (
        action in ("decommission", "reactivate", "unpack", "deallocate", "return", "restock")
        and len(reason.strip()) < 2
    ):
        raise ValidationFailed(N_("“{action}” needs a reason"), action=Msgid(ACTION_LABELS[action]))
    if action == "pack" and parent is None:
        raise ValueError("pack needs a parent")
    seen: set[int] = set()
    for code in codes:
        if code.id in seen:
            raise ValidationFailed(N_("Code {code} appears twice"), code=code.value)
        seen.add(code.id)
        if code.state not in _sources(action, code):
            raise TransitionRefused(
                N_("Code {code} is “{state}”: “{action}” cannot follow"),
                code=code.value,
                state=Msgid(STATE_LABELS[code.state]),
                action=Msgid(ACTION_LABELS[action]),
            )
        if action == "reactivate" and code.level < 4 and code.batch_order_id is None:
            raise TransitionRefused(
                N_("Code {code} was never used on a batch: it cannot be reactivated"), code=code.value
            )
        if action == "reactivate" and code.disposition not in REACTIVATABLE:
            raise TransitionRefused(
                N_("Code {code} was decommissioned as “{disposition}”: it can never be reactivated"),
                code=code.value, disposition=Msgid(DISPOSITION_LABELS.get(code.disposition or "", "—")),
            )  # fmt: skip
    session = uow.session
    values_of_parent: dict[int, str] = {}
    if parent is not None:
        values_of_parent[parent.id] = parent.value
    parent_ids = {c.parent_id for c in codes if c.parent_id is not None and action != "unpack"}
    if parent_ids - set(values_of_parent):
        values_of_parent.update(
            (i, v)
            for i, v in session.execute(
                select(TraceCode.id, TraceCode.value).where(TraceCode.id.in_(parent_ids))
            )
        )
    rows: list[dict[str, Any]] = []
    digest: list[list[Any]] = []
    targets: dict[str, list[int]] = {}
    for code in codes:
        target = _target(action, code)
        if action == "pack":
            parent_id: int | None = parent.id if parent is not None else None
        elif action == "unpack":
            parent_id = None
        else:
            parent_id = code.parent_id
        rows.append(
            {"code_id": code.id, "from_state": code.state, "to_state": target, "parent_id": parent_id}
        )
        digest.append(
            [code.value, code.state, target, values_of_parent.get(parent_id) if parent_id else None]
        )
        targets.setdefault(target, []).append(code.id)
    fields: dict[str, Any] = {}
    if batch_order_id is not KEEP:
        fields["batch_order_id"] = batch_order_id
    if line is not KEEP:
        fields["line"] = line
    if shipment_id is not KEEP:
        fields["shipment_id"] = shipment_id
    event = _event(
        uow, action, len(codes), items_sm3(digest), event_key, disposition=disposition, reason=reason.strip(),
        parent_code_id=parent.id if parent is not None else None,
        # the batch and line the event concerns: the new ones, or the ones the codes leave (deallocation)
        batch_order_id=fields.get("batch_order_id") or codes[0].batch_order_id,
        line=fields.get("line") or codes[0].line,
        shipment_id=fields.get("shipment_id"),
    )  # fmt: skip
    changes: dict[str, Any] = dict(fields)
    changes["disposition"] = disposition if action == "decommission" else None
    if action == "pack":
        changes["parent_id"] = parent.id if parent is not None else None
    elif action == "unpack":
        changes["parent_id"] = None
    for target, ids in targets.items():
        for start in range(0, len(ids), CHUNK):
            session.execute(
                update(TraceCode)
                .where(TraceCode.id.in_(ids[start : start + CHUNK]))
                .values(state=target, **changes),
                execution_options={"synchronize_session": False},
            )
    _items(session, event, rows)
    for code, row in zip(
        codes, rows, strict=True
    ):  # the loaded objects follow the database, without a SELECT each
        for name, value in {"state": row["to_state"], "parent_id": row["parent_id"], **changes}.items():
            set_committed_value(code, name, value)
    return event


def history(session: Session, code_id: int) -> list[tuple[TraceEventItem, TraceEvent]]:
    """A code's items with their events, oldest first."""
    rows = session.execute(
        select(TraceEventItem, TraceEvent)
        .join(TraceEvent, TraceEvent.id == TraceEventItem.event_id)
        .where(TraceEventItem.code_id == code_id)
        .order_by(TraceEventItem.id)
    )
    return [(item, event) for item, event in rows]


def verify_event(session: Session, event_id: int) -> bool:
    """Recompute the event's SM3 from its stored items."""
    event = session.get(TraceEvent, event_id)
    if event is None:
        return False
    code, parent = aliased(TraceCode), aliased(TraceCode)
    rows = session.execute(
        select(code.value, TraceEventItem.from_state, TraceEventItem.to_state, parent.value)
        .join(code, code.id == TraceEventItem.code_id)
        .outerjoin(parent, parent.id == TraceEventItem.parent_id)
        .where(TraceEventItem.event_id == event_id)
        .order_by(TraceEventItem.id)
    )
    stored = [tuple(row) for row in rows]
    return len(stored) == event.count and items_sm3(stored) == event.items_sm3


def verify_code(session: Session, code: TraceCode) -> bool:
    """The code's row agrees with its last event item (state and parent) and that event is intact."""
    last = session.scalar(
        select(TraceEventItem)
        .where(TraceEventItem.code_id == code.id)
        .order_by(TraceEventItem.id.desc())
        .limit(1)
    )
    if last is None:
        return False
    return (
        last.to_state == code.state
        and last.parent_id == code.parent_id
        and verify_event(session, last.event_id)
    )
