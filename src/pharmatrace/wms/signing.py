"""Events that are signed (QA release, receipt completion): the password is checked before anything changes.

The signature must cover the record as the event leaves it, so the event is applied first and signed
last, in one transaction (the kernel's ``sign_with_event``; these actions are declared ``with_event`` and
cannot be signed on their own). A wrong password is recorded (and counts towards the lock-out) in a unit of
work of its own, which the kernel commits; checking it first (``authenticate_signer``) keeps that commit away
from the event's changes.
"""

from __future__ import annotations

from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.policy import BY_CODE
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork


def require_permission(principal: Principal, action_code: str) -> None:
    """Who may not sign the action learns nothing more about the record (checked before anything else)."""
    principal.require(BY_CODE[action_code].steps[0].permission)


def check_signer(
    uow: UnitOfWork, principal: Principal, action_code: str, password: str, login: str | None
) -> None:
    """Refuse early (nothing changed) whoever may not sign ``action_code`` or gives wrong credentials."""
    require_permission(principal, action_code)
    esign.authenticate_signer(uow.db, principal, password, login)


def sign(
    uow: UnitOfWork, principal: Principal, object_type: str, object_id: int, action_code: str, password: str,
    login: str | None,
) -> None:  # fmt: skip
    esign.sign_with_event(uow, principal, object_type=object_type, object_id=str(object_id),
                          action_code=action_code, password=password, login=login)  # fmt: skip
