"""The unit of work: the only transaction boundary for GMP writes, and the one place the trail is written.

Every flush of a session is inspected: new, changed and deleted :class:`Audited` entities become audit
entries in the same database transaction. A GMP write through a session that no unit of work owns is
refused, as is a delete of a GMP row, and a modification without a reason (TJ-B.2.5 CZYY, SH-7.1.3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, NoReturn

from sqlalchemy import Connection, event, inspect
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import History

from pharmatrace.kernel import clock, context, ledger
from pharmatrace.kernel.audit import REDACTED, Audited, plain_value
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import N_, KernelBypass, PharmaTraceError, ReasonRequired
from pharmatrace.storage.engine import Database, mark_unit_of_work, unmark_unit_of_work

_UOW_KEY = "pharmatrace_uow"


class UnitOfWork:
    """``with UnitOfWork(db, actor, reason=...) as uow: ...; uow.commit()`` — uncommitted work rolls back."""

    def __init__(self, db: Database, actor: Actor, *, reason: str | None = None) -> None:
        self.db = db
        self.actor = actor
        self.reason = reason.strip() if reason and reason.strip() else None
        self._session: Session | None = None
        self._witness_pending: list[dict[str, Any]] = []

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
        """Commit, then hand the checkpoints signed in this transaction to the witness outside the database."""
        self.session.commit()
        pending, self._witness_pending = self._witness_pending, []
        witness = ledger.witness_of(self.db)
        for checkpoint in pending:
            witness.append(checkpoint)

    def rollback(self) -> None:
        """Take back everything this unit of work wrote and has not committed, checkpoints included."""
        self.session.rollback()
        self._witness_pending = []

    def refuse(
        self,
        error: PharmaTraceError,
        event_name: str,
        object_type: str,
        object_id: str | int,
        *,
        changes: dict[str, Any] | None = None,
        reason: str | None = None,
        also: Callable[[UnitOfWork], None] | None = None,
    ) -> NoReturn:
        """Refuse the operation with a clear reason, recorded, nothing changed; then raise ``error``.

        Whatever this unit of work wrote belongs to the refused operation: it is rolled back first. Then
        ``also`` may write what the refusal itself owes (an anomaly), the event is recorded on the object
        with the reason — ``reason`` or the error's message in English (:func:`english`) — and both are
        committed, so the refusal stays in the trail although the operation left nothing behind.
        """
        self.rollback()
        if also is not None:
            also(self)
        why = reason if reason is not None else str(error)  # English: placeholders format untranslated
        self.record(event_name, object_type, object_id, changes=changes, reason=why[:2000])
        self.commit()
        raise error

    def give_reason(self, reason: str) -> str:
        """The reason a person gave for this change (TJ-B.2.5 CZYY) becomes the unit of work's: trimmed, at least
        two characters (refused with ``ReasonRequired`` otherwise), at most 500 kept."""
        text = reason.strip()
        if len(text) < 2:
            raise ReasonRequired(N_("A reason is required for this change"))
        self.reason = text[:500]
        return self.reason

    def void(self, row: Audited, reason: str | None = None) -> None:
        """Put a GMP row out of use: ``voided_at`` now and, where the row keeps one, ``void_reason``; the trail
        records a void with the reason. ``reason``, when given, becomes the unit of work's; without one the unit
        of work's own is required. Rows are never deleted (SH-7.1.3.c): this is how one leaves use."""
        if reason is not None and reason.strip():
            self.reason = reason.strip()
        if self.reason is None:
            raise ReasonRequired(N_("A reason is required for this change"))
        if not hasattr(row, "voided_at"):
            raise TypeError(f"{type(row).__name__} has no voided_at: it cannot be voided")
        row.voided_at = clock.now()
        if hasattr(row, "void_reason"):
            row.void_reason = self.reason[:500]
        self.session.flush()

    def append_entries(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """Write audit entries as ledger leaves in the current transaction."""
        self._witness_pending.extend(ledger.append(connection, rows, self.db.state_dir))

    def checkpoint(self) -> dict[str, Any] | None:
        """Sign a checkpoint now (e.g. before an inspector's proof); witnessed on commit."""
        made: dict[str, Any] | None = ledger.checkpoint_now(self.session.connection(), self.db.state_dir)
        if made is not None:
            self._witness_pending.append(made)
        return made

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
        row = {
            "at": clock.now(),
            "event": event_name,
            "object_type": object_type,
            "object_id": str(object_id),
            "actor_id": who.user_id,
            "actor_login": who.login,
            "actor_name": who.full_name,
            "reason": reason or self.reason,
            "changes": changes or {},
            "request_id": context.request_id.get(),
            "client_address": context.client_address.get(),
            "record_hash": None,
        }
        self.append_entries(self.session.connection(), [row])


def _owner(session: Session) -> UnitOfWork | None:
    owner = session.info.get(_UOW_KEY)
    return owner if isinstance(owner, UnitOfWork) else None


def _audited_columns(obj: Audited) -> Iterable[str]:
    return ledger.audited_columns(type(obj))


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


_PRIMARY_KEYS: dict[type[Audited], tuple[str, ...]] = {}


def _primary_key(cls: type[Audited]) -> tuple[str, ...]:
    """The attributes that hold ``cls``'s primary key columns, in the mapper's order (once per class)."""
    found = _PRIMARY_KEYS.get(cls)
    if found is None:
        mapper = inspect(cls)
        found = _PRIMARY_KEYS[cls] = tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)
    return found


def _object_id(obj: Audited) -> str:
    # The identity key is assigned only after after_flush; the primary key columns are already set.
    state = obj.__dict__
    key = [state[name] if name in state else getattr(obj, name) for name in _primary_key(type(obj))]
    if any(part is None for part in key):
        raise KernelBypass(N_("Audited object has no primary key after flush"))
    return ":".join(str(part) for part in key)


@event.listens_for(Session, "after_begin")
def _mark_transaction(session: Session, _transaction: Any, connection: Connection) -> None:
    """Transactions of a unit of work carry the marker the GMP tables' triggers require."""
    owner = _owner(session)
    if owner is not None:
        mark_unit_of_work(connection)
        if connection.dialect.name == "sqlite":
            session.info["_sqlite_flag_connection"] = connection


@event.listens_for(Session, "after_transaction_end")
def _unmark_transaction(session: Session, transaction: Any) -> None:
    connection = session.info.pop("_sqlite_flag_connection", None)
    if connection is not None and transaction.parent is None:
        unmark_unit_of_work(connection)


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_writes(state: Any) -> None:
    """ORM bulk UPDATE/DELETE skip the flush, so they would skip the audit trail: refused on GMP classes."""
    if state.is_update or state.is_delete:
        for mapper in state.all_mappers:
            if issubclass(mapper.class_, Audited):
                raise KernelBypass(
                    N_("Bulk updates and deletes of GMP records are refused; change them one by one")
                )


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
    owner.append_entries(connection, [_entry(owner, target, "delete", gone, clock.now(), with_record=False)])


def _entry(
    owner: UnitOfWork,
    obj: Audited,
    operation: str,
    changes: dict[str, list[Any]],
    at: Any,
    *,
    with_record: bool = True,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An audit row; it commits to the record version it describes (none for a delete)."""
    actor = owner.actor
    object_id = _object_id(obj)
    digest = None
    if with_record:
        digest = ledger.record_hash(obj.__audit_type__, object_id, values or ledger.record_values(obj))
    return {
        "at": at,
        "event": operation,
        "object_type": obj.__audit_type__,
        "object_id": object_id,
        "actor_id": actor.user_id,
        "actor_login": actor.login,
        "actor_name": actor.full_name,
        "reason": owner.reason,
        "changes": changes,
        "request_id": context.request_id.get(),
        "client_address": context.client_address.get(),
        "record_hash": digest,
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
            values = ledger.record_values(obj)
            created = {
                key: [None, REDACTED if key in obj.__audit_redact__ else value]
                for key, value in values.items()
                if value is not None
            }
            rows.append(_entry(owner, obj, "create", created, at, values=values))
    deleted = session.deleted
    for obj in session.dirty:
        if isinstance(obj, Audited) and obj not in deleted:
            changes = _changed_fields(obj)
            if changes:
                voided = "voided_at" in changes and changes["voided_at"][0] is None
                rows.append(_entry(owner, obj, "void" if voided else "update", changes, at))
    if rows:
        owner.append_entries(session.connection(), rows)
