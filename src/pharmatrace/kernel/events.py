"""Domain events between business areas, delivered in the publishing unit of work's transaction.

Areas talk through services and events, not through each other's tables (ARCHITECTURE §1): e.g. the
documents area publishes :class:`VersionApproved` and the training area, subscribed at import, assigns
training tasks in the same transaction, so an approval and its consequences commit or roll back together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pharmatrace.kernel.uow import UnitOfWork

E = TypeVar("E")
Handler = Callable[["UnitOfWork", Any], None]
_HANDLERS: defaultdict[type, list[Handler]] = defaultdict(list)


def subscribe(event_type: type[E], handler: Callable[[UnitOfWork, E], None]) -> None:
    """Call ``handler(uow, event)`` for every published ``event_type`` (idempotent per handler)."""
    if handler not in _HANDLERS[event_type]:
        _HANDLERS[event_type].append(handler)


def publish(uow: UnitOfWork, event: object) -> None:
    """Deliver ``event`` synchronously to its subscribers; an error in one rolls the whole work back."""
    for handler in list(_HANDLERS[type(event)]):
        handler(uow, event)
