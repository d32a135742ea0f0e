"""Request context: who acts, from where, under which request ID. Set once per request or job."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """The person (or named system process) on whose behalf a write happens (CZZ, TJ-B.2.5)."""

    user_id: int | None
    login: str
    full_name: str

    @classmethod
    def system(cls, what: str) -> Actor:
        return cls(user_id=None, login=f"system:{what}", full_name=f"system:{what}")


request_id: ContextVar[str | None] = ContextVar("pharmatrace_request_id", default=None)
client_address: ContextVar[str | None] = ContextVar("pharmatrace_client_address", default=None)
locale: ContextVar[str] = ContextVar("pharmatrace_locale", default="zh_CN")
