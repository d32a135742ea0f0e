"""The unit of work: the only transaction boundary for GMP writes, and the one place the trail is written.

Every flush of a session is inspected: new, changed and deleted :class:`Audited` entities become audit
entries in the same database transaction. A GMP write through a session that no unit of work owns is
refused, as is a delete of a GMP row, and a modification without a reason (TJ-B.2.5 CZYY, SH-7.1.3).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, event, insert, inspect
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import History

from pharmatrace.kernel import clock, context
from pharmatrace.kernel.audit import REDACTED, Audited, AuditEntry, plain_value
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import N_, KernelBypass, ReasonRequired
from pharmatrace.storage.engine import Database

_UOW_KEY = "pharmatrace_uow"


class UnitOfWork:
    """``with UnitOfWork(db, actor, reason=...) as uow: ...; uow.commit()`` — uncommitted work rolls back."""

    def __init__(self, db: Database, actor: Actor, *, reason: str | None = None) -> None:
        self.db = db
        self.actor = actor
        self.reason = reason.strip() if reason and reason.strip() else None
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("unit of work not entered")
        return self._session

    def __enter__(self) -> UnitOfWork:
        self._session = self.db.sessions()
        self._session.info[_UOW_KEY] = self
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self.session
        session.rollback()  # no-op after commit; discards anything uncommitted
        session.close()
        self._session = None

    def commit(self) -> None:
        self.session.commit()

    def record(
        self,
        event_name: str,
        object_type: str,
        object_id: str | int,
        *,
        changes: dict[str, Any] | None = None,
        reason: str | None = None,
        actor: Actor | None = None,
    ) -> None:
        """Record an audit event that is not a row change (log-in, export, print…)."""
        who = actor or self.actor
        self.session.add(
            AuditEntry(
                at=clock.now(),
                event=event_name,
                object_type=object_type,
                object_id=str(object_id),
                actor_id=who.user_id,
                actor_login=who.login,
                actor_name=who.full_name,
                reason=reason or self.reason,
                changes=changes or {},
                request_id=context.request_id.get(),
                client_address=context.client_address.get(),
            )
        )


def _owner(session: Session) -> UnitOfWork | None:
    owner = session.info.get(_UOW_KEY)
    return owner if isinstance(owner, UnitOfWork) else None


def _audited_columns(obj: Audited) -> Iterable[str]:
    mapper = inspect(type(obj))
    for attr in mapper.column_attrs:
        if attr.key not in obj.__audit_ignore__:
            yield attr.key


def _shown(obj: Audited, key: str, value: Any) -> Any:
    return REDACTED if key in obj.__audit_redact__ and value is not None else plain_value(value)


def _changed_fields(obj: Audited) -> dict[str, list[Any]]:
    state = inspect(obj)
    changes: dict[str, list[Any]] = {}
    for key in _audited_columns(obj):
        history: History = state.attrs[key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old == new:
            continue
        changes[key] = [_shown(obj, key, old), _shown(obj, key, new)]
    return changes


def _object_id(obj: Audited) -> str:
    # The identity key is assigned only after after_flush; the primary key columns are already set.
    key = inspect(type(obj)).primary_key_from_instance(obj)
    if any(part is None for part in key):
        raise KernelBypass(N_("Audited object has no primary key after flush"))
    return ":".join(str(part) for part in key)


@event.listens_for(Session, "before_flush")
def _guard_gmp_writes(session: Session, _context: Any, _instances: Any) -> None:
    touched = [o for o in (*session.new, *session.dirty, *session.deleted) if isinstance(o, Audited)]
    if not touched:
        return
    owner = _owner(session)
    if owner is None:
        raise KernelBypass(N_("GMP records can only be written through the unit of work"))
    for obj in session.dirty:
        if isinstance(obj, Audited) and owner.reason is None and _changed_fields(obj):
            raise ReasonRequired(N_("A reason is required for this change"))


@event.listens_for(Audited, "before_delete", propagate=True)
def _capture_delete(_mapper: Any, connection: Connection, target: Audited) -> None:
    """Every delete of an audited row, including cascades and orphans that ``session.deleted`` misses."""
    session = object_session(target)
    owner = _owner(session) if session is not None else None
    if owner is None:
        raise KernelBypass(N_("GMP records can only be written through the unit of work"))
    if not target.__audit_deletable__:
        raise KernelBypass(N_("GMP records are never deleted; void them with a reason"))
    if owner.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))
    state = inspect(target)
    gone = {
        key: [_shown(target, key, state.attrs[key].loaded_value), None] for key in _audited_columns(target)
    }
    connection.execute(insert(AuditEntry), [_entry(owner, target, "delete", gone, clock.now())])


def _entry(
    owner: UnitOfWork, obj: Audited, operation: str, changes: dict[str, list[Any]], at: Any
) -> dict[str, Any]:
    actor = owner.actor
    return {
        "at": at,
        "event": operation,
        "object_type": obj.__audit_type__,
        "object_id": _object_id(obj),
        "actor_id": actor.user_id,
        "actor_login": actor.login,
        "actor_name": actor.full_name,
        "reason": owner.reason,
        "changes": changes,
        "request_id": context.request_id.get(),
        "client_address": context.client_address.get(),
    }


@event.listens_for(Session, "after_flush")
def _write_trail(session: Session, _context: Any) -> None:
    owner = _owner(session)
    if owner is None:
        return
    rows: list[dict[str, Any]] = []
    at = clock.now()
    for obj in session.new:
        if isinstance(obj, Audited):
            state = inspect(obj)
            created = {
                key: [None, _shown(obj, key, state.attrs[key].value)]
                for key in _audited_columns(obj)
                if state.attrs[key].value is not None
            }
            rows.append(_entry(owner, obj, "create", created, at))
    for obj in session.dirty:
        if isinstance(obj, Audited) and obj not in session.deleted:
            changes = _changed_fields(obj)
            if changes:
                voided = "voided_at" in changes and changes["voided_at"][0] is None
                rows.append(_entry(owner, obj, "void" if voided else "update", changes, at))
    if rows:
        session.connection().execute(insert(AuditEntry), rows)
