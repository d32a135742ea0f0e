"""Declared state machines of GMP records (SENAITE style): the one check every transition goes through.

A record's lifecycle is a table of :class:`Transition` rows — the states it leaves from, the state it reaches, the
permissions of whoever may take it (any one of them) and small named guards — and a service takes a transition only
after :func:`check` says yes: the permission, then the source state, then each guard, in that order, so the refusal
names the first thing that stops it and nothing is written (SH-7.1.2, SH-7.1.4). The record's own module keeps its
table, its guards, its refusal (a typed error saying the state) and how it moves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from pharmatrace.kernel.identity.service import Principal

C = TypeVar("C")  # what a guard reads: the session, the record and the principal


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
