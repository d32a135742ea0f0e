"""Commands that act as a user (``--as LOGIN``): the user logs in with their password, as in the web app.

The log-in is checked and recorded by the same service as the web and the API (``login.success``,
``login.failure``, lock-out), so what the command then does is attributed to that person in the audit
trail and allowed by that person's permissions, never by the operating-system account running it.
"""

from __future__ import annotations

import getpass
import sys

from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import N_, PasswordChangeRequired
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database


def read_password(from_stdin: bool, login: str) -> str:
    """The password from the first line of stdin (``--password-stdin``, for scripts) or typed unseen."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(f"password of {login}: ")


def log_in(db: Database, login: str, password: str) -> Principal:
    """The principal of ``login`` after a recorded log-in; refused like a web log-in."""
    with UnitOfWork(db, Actor.system("cli-login")) as uow:
        user = identity.authenticate(uow, login, password)
        principal = identity.principal_of(user, policy=identity.password_policy(uow.session))
        uow.commit()
    if principal.must_change_password:
        raise PasswordChangeRequired(N_("You must change your password before you continue"))
    return principal
