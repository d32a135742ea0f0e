"""Typed errors, mapped once to HTTP statuses and translated messages at the edge.

``message`` is an English gettext msgid with ``{name}`` placeholders; the web and API layers translate it
into the reader's language and fill in ``params``.
"""

from __future__ import annotations

from typing import Any, ClassVar


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string for message extraction without translating it here."""
    return message


class Msgid(str):
    """A placeholder value that is itself a msgid (a state's or a kind's label): the edge translates it
    together with the message, so a Chinese message shows the Chinese word. ``str()`` is the English msgid.

    ``Conflict(N_("cannot go from “{old}” to “{new}”"), old=Msgid(LABELS[old]), new=Msgid(LABELS[new]))``
    """

    __slots__ = ()


# A Pydantic rule across fields (a schema's model validator) raises
# ``PydanticCustomError(RULE, N_("msgid"))``; the edge translates the msgid like any error message.
RULE = "pharmatrace_rule"


class PharmaTraceError(Exception):
    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, /, **params: Any) -> None:
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


class PasswordChangeRequired(NotPermitted):
    code = "password_change_required"


class KernelBypass(PharmaTraceError):
    """A GMP write attempted outside the unit of work, or a delete of a GMP row."""

    code = "kernel_bypass"
    http_status = 500
