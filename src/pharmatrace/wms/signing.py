"""Events that are signed (QA release, receipt completion): the password is checked before anything changes.

The signature must cover the record as the event leaves it, so the event is applied first and signed
last, in one transaction. A wrong password is recorded (and counts towards the lock-out) in a unit of work
of its own, which the kernel commits; checking it first keeps that commit away from the event's changes.
"""

from __future__ import annotations

from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.policy import BY_CODE
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.wms.models import EVENT_SIGNING


def require_permission(principal: Principal, action_code: str) -> None:
    """Who may not sign the action learns nothing more about the record (checked before anything else)."""
    principal.require(BY_CODE[action_code].steps[0].permission)


def check_signer(
    uow: UnitOfWork, principal: Principal, action_code: str, password: str, login: str | None
) -> None:
    """Refuse early (nothing changed) whoever may not sign ``action_code`` or gives wrong credentials."""
    require_permission(principal, action_code)
    with UnitOfWork(uow.db, principal.actor) as check:
        esign._reauthenticate(check, principal, login, password)  # the kernel's one check
        # success: nothing is committed here; the signature itself marks the session's first signature


def sign(
    uow: UnitOfWork, principal: Principal, object_type: str, object_id: int, action_code: str, password: str,
    login: str | None,
) -> None:  # fmt: skip
    token = EVENT_SIGNING.set(action_code)
    try:
        esign.sign(uow, principal, object_type=object_type, object_id=str(object_id), action_code=action_code,
                   password=password, login=login)  # fmt: skip
    finally:
        EVENT_SIGNING.reset(token)
