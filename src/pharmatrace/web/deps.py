"""Request dependencies: the database, the authenticated principal, permission checks.

The UI and the API use the same :class:`Requires` check, so a permission means the same everywhere.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import N_, AuthenticationFailed, PasswordChangeRequired
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

SESSION_COOKIE = "pt_session"
LANG_COOKIE = "pt_lang"


class LoginRequired(AuthenticationFailed):
    """No valid session: the UI redirects to the log-in page, the API answers 401."""


def get_db(request: Request) -> Database:
    db = request.app.state.db
    assert isinstance(db, Database)
    return db


DbDep = Annotated[Database, Depends(get_db)]


def session_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


def optional_principal(request: Request, db: DbDep) -> Principal | None:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    token = session_token(request)
    if not token:
        return None
    with UnitOfWork(db, Actor.system("session")) as uow:
        principal = identity.resolve_session(uow, token)
    request.state.principal = principal
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def any_principal(principal: OptionalPrincipal) -> Principal:
    """Logged in, whether or not the password must be changed first."""
    if principal is None:
        raise LoginRequired(N_("Please log in"))
    return principal


AnyPrincipal = Annotated[Principal, Depends(any_principal)]


def current_principal(principal: AnyPrincipal) -> Principal:
    if principal.must_change_password:
        raise PasswordChangeRequired(N_("You must change your password before you continue"))
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class Requires:
    """``Depends(Requires("wms.material.manage"))`` — the one permission check of UI and API."""

    def __init__(self, permission: str) -> None:
        from pharmatrace.kernel.identity.permissions import BY_CODE

        if permission not in BY_CODE:
            raise ValueError(f"unknown permission {permission!r}")
        self.permission = permission

    def __call__(self, principal: CurrentPrincipal) -> Principal:
        principal.require(self.permission)
        return principal


def uow_for(db: Database, principal: Principal, reason: str | None = None) -> UnitOfWork:
    return UnitOfWork(db, principal.actor, reason=reason)
