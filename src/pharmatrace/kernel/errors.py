"""Typed errors, mapped once to HTTP statuses and translated messages at the edge.

``message`` is an English gettext msgid with ``{name}`` placeholders; the web and API layers translate it
into the reader's language and fill in ``params``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Protocol, runtime_checkable

from pharmatrace.kernel.numbers import plain_number


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string for message extraction without translating it here."""
    return message


class Msgid(str):
    """A placeholder value that is itself a msgid (a state's or a kind's label): the edge translates it
    together with the message, so a Chinese message shows the Chinese word. ``str()`` is the English msgid.

    ``Conflict(N_("cannot go from “{old}” to “{new}”"), old=Msgid(LABELS[old]), new=Msgid(LABELS[new]))``
    """

    __slots__ = ()

    def translated(self, translate: Callable[..., str]) -> str:
        return translate(str(self))


@runtime_checkable
class Translatable(Protocol):
    """A placeholder value the edge renders in the reader's language (a :class:`Msgid`, a list of reasons that
    are messages of their own); ``str()`` and ``format()`` of it stay English, for logs and the audit trail."""

    def translated(self, translate: Callable[..., str]) -> str: ...


class Message(Protocol):
    """One reason of a refusal: an English msgid and its placeholders."""

    @property
    def message(self) -> str: ...

    @property
    def params(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason a step may not be taken yet (a closure's blocker): an English msgid and its placeholders."""

    message: str
    params: dict[str, Any] = field(default_factory=dict)


class Reasons(tuple[Message, ...]):
    """Every reason of a refusal as one placeholder value (``{reasons}``): English when formatted (the
    exception's text, logs, the audit trail), each reason in the reader's language at the edge."""

    def __new__(cls, reasons: Iterable[Message]) -> Reasons:
        return super().__new__(cls, tuple(reasons))

    def __format__(self, spec: str) -> str:
        return "; ".join(r.message.format(**r.params) for r in self)

    def __str__(self) -> str:
        return format(self)

    def translated(self, translate: Callable[..., str]) -> str:
        return translate(N_("; ")).join(translate(r.message, **r.params) for r in self)


# A Pydantic rule across fields (a schema's model validator) raises
# ``PydanticCustomError(RULE, N_("msgid"))``; the edge translates the msgid like any error message.
RULE = "pharmatrace_rule"


class PharmaTraceError(Exception):
    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, /, **params: Any) -> None:
        # quantities read as people write them: 675, not 675.000 or 6.75E+2
        params = {k: plain_number(v) if isinstance(v, Decimal) else v for k, v in params.items()}
        super().__init__(message.format(**params) if params else message)
        self.message = message
        self.params = params


class ValidationFailed(PharmaTraceError):
    code = "validation_failed"
    http_status = 422


class ReasonRequired(ValidationFailed):
    """A modification or void of a GMP record without a reason (TJ-B.2.5 CZYY)."""

    code = "reason_required"


class NotFound(PharmaTraceError):
    code = "not_found"
    http_status = 404


class Conflict(PharmaTraceError):
    code = "conflict"
    http_status = 409


class AuthenticationFailed(PharmaTraceError):
    code = "authentication_failed"
    http_status = 401


class AccountLocked(AuthenticationFailed):
    code = "account_locked"


class NotPermitted(PharmaTraceError):
    code = "not_permitted"
    http_status = 403


class SegregationOfDuties(NotPermitted):
    """Administration and business work may never meet in one account (TJ-10.1.2.2.b/c)."""

    code = "segregation_of_duties"


class QualificationRequired(NotPermitted):
    """The user holds the permission but is not trained on the current version of the SOP it needs
    (TJ-10.1.2.2.d: training gates permissions)."""

    code = "qualification_required"


class PasswordChangeRequired(NotPermitted):
    code = "password_change_required"


class KernelBypass(PharmaTraceError):
    """A GMP write attempted outside the unit of work, or a delete of a GMP row."""

    code = "kernel_bypass"
    http_status = 500


def stored_params(params: dict[str, Any]) -> str:
    """A message's placeholders as JSON text, to keep a message in a row and show it later in the reader's
    language (:func:`loaded_params`); a :class:`Msgid` stays one."""
    return json.dumps(
        {k: {"msgid": str(v)} if isinstance(v, Msgid) else str(v) for k, v in params.items()},
        ensure_ascii=False,
        sort_keys=True,
    )


def loaded_params(text: str) -> dict[str, Any]:
    return {k: Msgid(v["msgid"]) if isinstance(v, dict) else v for k, v in json.loads(text or "{}").items()}
