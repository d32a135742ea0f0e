"""Declared state machines of GMP records (SENAITE style): the one check every transition goes through.

A record's lifecycle is a table of :class:`Transition` rows — the states it leaves from, the state it reaches, the
permissions of whoever may take it (any one of them) and small named guards — and a service takes a transition only
after :func:`check` says yes: the permission, then the source state, then each guard, in that order, so the refusal
names the first thing that stops it and nothing is written (SH-7.1.2, SH-7.1.4). The record's own module keeps its
table, its guards, its refusal (a typed error saying the state) and how it moves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotPermitted

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from pharmatrace.kernel.identity.service import Principal

C = TypeVar("C")  # what a guard reads: the session, the record and the principal
R = TypeVar("R", bound="Numbered")  # the record


@dataclass(frozen=True)  # no slots: calling the alias Transition[Context](...) sets __orig_class__
class Transition(Generic[C]):
    name: str
    sources: tuple[str, ...]
    target: str
    permissions: tuple[str, ...]  # any one of them; empty: no permission of its own (it follows another step)
    guards: tuple[Callable[[C], None], ...]
    signed: str | None = None  # the signable action whose signature takes it, if any


def require_any(principal: Principal, permissions: Sequence[str]) -> None:
    """Refused (``NotPermitted`` naming the first) unless ``principal`` holds one of ``permissions``."""
    if permissions and not any(principal.can(p) for p in permissions):
        principal.require(permissions[0])


def check(
    transition: Transition[C], status: str, principal: Principal, ctx: C, refused: Callable[[], Exception]
) -> None:
    """The permission, then the source state (``refused()`` is raised), then each guard; nothing is written."""
    require_any(principal, transition.permissions)
    if status not in transition.sources:
        raise refused()
    for guard in transition.guards:
        guard(ctx)


class Numbered(Protocol):
    """A record with a number and a status (a QMS record)."""

    @property
    def number(self) -> str: ...

    @property
    def status(self) -> str: ...


def state_refusal(error: type[Conflict], labels: Mapping[str, str]) -> Callable[[Any], Conflict]:
    """The refusal of a step its record's state does not allow: ``error`` saying the number and the state's label."""

    def refused(record: Any) -> Conflict:
        return error(
            N_("{number} is “{status}”: this step is not possible now"),
            number=record.number,
            status=Msgid(labels[record.status]),
        )

    return refused


@dataclass(frozen=True)
class Machine(Generic[R, C]):
    """A record type's declared lifecycle: its transitions, how a guard's context is made, its state refusal and the
    permission every write needs first (if any) — the ``_check`` and ``allowed`` each QMS service used to copy."""

    transitions: Mapping[str, Transition[C]]
    context: Callable[[Session, R, Principal], C]
    refused: Callable[[R], Conflict]
    require: str | None = None

    def check(self, session: Session, principal: Principal, record: R, name: str) -> Transition[C]:
        """``require``, then the transition's permission, source state and guards; nothing is written."""
        if self.require is not None:
            principal.require(self.require)
        transition = self.transitions[name]
        check(transition, record.status, principal, self.context(session, record, principal),
              lambda: self.refused(record))  # fmt: skip
        return transition

    def allowed(self, session: Session, principal: Principal, record: R, name: str) -> bool:
        """Whether ``principal`` may take the transition now (for the pages' forms)."""
        try:
            self.check(session, principal, record, name)
        except (NotPermitted, Conflict):
            return False
        return True
