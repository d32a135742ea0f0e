"""Signing and verifying (SH-7.1.4, TJ-10.2).

* Signing re-authenticates at that moment: log-in ID and password for the first signature of a session,
  the password for later ones in the same continuous session (21 CFR 11.200(a)).
* The signer's private key is decrypted with that password; nobody else can sign for them.
* What is signed: record type and ID, action, step, meaning, signer, full name, server time and the SM3
  hash of the record version. A copied or transferred signature therefore fails verification (11.70).
* A record changed after signing shows the signature as not covering the current version; it stays
  visible and a new signature is needed (TJ-10.2 ¶4, PIC/S PI 041).
* An action signed with its event (``SignableAction.with_event``: QA release, receipt completion) is signed
  only through :func:`sign_with_event`, as the last step of the event's unit of work; :func:`sign` on its
  own (the generic signing page and API) refuses it. The event checks its signer first with
  :func:`authenticate_signer`, so a wrong password is refused before the event changes anything.
"""

from __future__ import annotations

import hmac
import os
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.config import get_settings
from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.audit import Audited, plain_value
from pharmatrace.kernel.errors import (
    N_,
    AccountLocked,
    AuthenticationFailed,
    Conflict,
    NotFound,
    NotPermitted,
    ValidationFailed,
)
from pharmatrace.kernel.esign.models import Signature, UserKey
from pharmatrace.kernel.esign.policy import BY_CODE, SignableAction
from pharmatrace.kernel.identity.models import AuthSession, User
from pharmatrace.kernel.identity.passwords import verify_password
from pharmatrace.kernel.identity.service import Principal, password_policy
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

SIGNATURE_DOMAIN = b"pharmatrace-signature-v1\n"
Status = Literal["valid", "changed", "invalid"]


class SignatureRefused(NotPermitted):
    code = "signature_refused"


class SignedWithItsEvent(SignatureRefused):
    """An action declared ``with_event`` signed on its own, apart from the event it belongs to."""

    http_status = 409


# The with-event action being signed by :func:`sign_with_event` in this context (None: none).
_SIGNING_WITH_EVENT: ContextVar[str | None] = ContextVar("pharmatrace_esign_with_event", default=None)
# The password a signer proved a moment ago through authenticate_signer, for the signature that follows in the
# same context: the slow password hash is verified once per signature, not twice. One use only, and bound to the
# user, their current password hash and a keyed digest of the password (never the password itself).
_PROVEN: ContextVar[tuple[int, str, bytes] | None] = ContextVar("pharmatrace_esign_proven", default=None)
_PROOF_KEY = os.urandom(32)


def _proof(user: User, password: str) -> tuple[int, str, bytes]:
    return user.id, user.password_hash, hmac.new(_PROOF_KEY, password.encode(), "sm3").digest()


def _password_ok(user: User, password: str) -> bool:
    proven = _PROVEN.get()
    _PROVEN.set(None)
    if proven is not None:
        user_id, password_hash, digest = _proof(user, password)
        if (user_id, password_hash) == proven[:2] and hmac.compare_digest(digest, proven[2]):
            return True
    return verify_password(user.password_hash, password)


# --- keys ------------------------------------------------------------------------------------------


def _aad(user_id: int, fingerprint: str) -> bytes:
    return f"pharmatrace-user-key:{user_id}:{fingerprint}".encode()


def _seal(user_id: int, keys: crypto.KeyPair, password: str) -> dict[str, object]:
    salt, nonce, iterations = os.urandom(16), os.urandom(12), get_settings().key_kdf_iterations
    fingerprint = crypto.fingerprint(keys.public_key)
    sealed = crypto.sm4_gcm_encrypt(keys.private_key, password, salt=salt, nonce=nonce, iterations=iterations,
                                    aad=_aad(user_id, fingerprint))  # fmt: skip
    return {
        "fingerprint": fingerprint,
        "public_key": keys.public_key,
        "encrypted_private_key": sealed,
        "salt": salt,
        "nonce": nonce,
        "iterations": iterations,
    }


def _unseal(key: UserKey, password: str) -> bytes:
    try:
        return crypto.sm4_gcm_decrypt(key.encrypted_private_key, password, salt=key.salt, nonce=key.nonce,
                                      iterations=key.iterations, aad=_aad(key.user_id, key.fingerprint))  # fmt: skip
    except ValueError:
        raise AuthenticationFailed(N_("Your signing key cannot be opened with this password")) from None


def active_key(session: Session, user_id: int) -> UserKey | None:
    return session.scalar(
        select(UserKey)
        .where(UserKey.user_id == user_id, UserKey.retired_at.is_(None))
        .order_by(UserKey.id.desc())
    )


def issue_key(uow: UnitOfWork, user: User, password: str) -> UserKey:
    """A new key pair for ``user`` (at creation, first log-in without a key, or a password reset).
    Earlier keys are retired, never deleted: they still verify earlier signatures."""
    moment = clock.now()
    for old in uow.session.scalars(
        select(UserKey).where(UserKey.user_id == user.id, UserKey.retired_at.is_(None))
    ):
        old.retired_at = moment
    key = UserKey(user_id=user.id, created_at=moment, **_seal(user.id, crypto.KeyPair.generate(), password))
    uow.session.add(key)
    uow.session.flush()
    uow.record(
        "esign.key.issued",
        "user",
        user.id,
        changes={"key": [None, key.fingerprint]},
        reason=uow.reason or "signing key issued",
    )
    return key


def rewrap_key(uow: UnitOfWork, user: User, old_password: str, new_password: str) -> None:
    """Password change by the owner: the same key pair, now protected by the new password."""
    key = active_key(uow.session, user.id)
    if key is None:
        issue_key(uow, user, new_password)
        return
    private = _unseal(key, old_password)
    sealed = _seal(user.id, crypto.KeyPair(private_key=private, public_key=key.public_key), new_password)
    for name in ("encrypted_private_key", "salt", "nonce", "iterations"):
        setattr(key, name, sealed[name])


# --- signing ---------------------------------------------------------------------------------------


def manifest_bytes(sig: Signature) -> bytes:
    return SIGNATURE_DOMAIN + ledger.canonical({
        "object_type": sig.object_type, "object_id": sig.object_id, "action": sig.action, "step": sig.step,
        "meaning": sig.meaning, "signer_id": sig.signer_id, "signer_login": sig.signer_login,
        "signer_name": sig.signer_name, "signed_at": plain_value(sig.signed_at), "record_hash": sig.record_hash,
        "key": sig.key_fingerprint,
    })  # fmt: skip


def _record(session: Session, object_type: str, object_id: str) -> Audited:
    record = ledger.find_record(session, object_type, object_id)
    if record is None:
        raise NotFound(N_("No record {object}"), object=f"{object_type}:{object_id}")
    return record


def signatures_for(session: Session, object_type: str, object_id: str) -> list[Signature]:
    return list(session.scalars(
        select(Signature)
        .where(Signature.object_type == object_type, Signature.object_id == object_id)
        .order_by(Signature.id)
    ))  # fmt: skip


def _reauthenticate(uow: UnitOfWork, principal: Principal, login: str | None, password: str) -> User:
    session = uow.session
    user = session.get(User, principal.user_id)
    if user is None or not user.active:
        raise AuthenticationFailed(N_("Please log in"))
    auth = session.get(AuthSession, principal.session_id) if principal.session_id else None
    first = auth is None or auth.first_signature_at is None
    if first and (login or "").strip().lower() != user.login:
        raise AuthenticationFailed(
            N_("The first signature of a session needs your own log-in ID and password")
        )
    if user.locked:
        raise AccountLocked(
            N_(
                "This account is locked after repeated failed log-ins. Ask the system administrator to unlock it."
            )
        )
    if not _password_ok(user, password):
        user.failed_logins += 1
        uow.record("esign.failure", "user", user.id, reason="wrong password at signing")
        if user.failed_logins >= password_policy(session).lockout_threshold:
            user.locked_at = clock.now()
            uow.reason = f"locked after {user.failed_logins} consecutive failed authentications"
            uow.record("login.locked", "user", user.id)
        uow.commit()
        raise AuthenticationFailed(N_("Wrong log-in ID or password"))
    user.failed_logins = 0
    if auth is not None and auth.first_signature_at is None:
        auth.first_signature_at = clock.now()
    return user


def authenticate_signer(db: Database, principal: Principal, password: str, login: str | None = None) -> None:
    """Check the signer's credentials now, before an event signed ``with_event`` changes anything.

    The same check as at signing (log-in ID and password for the first signature of a session, the password
    later; a locked account is refused). A wrong password is recorded and counts towards the lock-out in a
    unit of work of its own, which is committed here, apart from the caller's; a success commits nothing
    (the signature itself, given later, marks the session's first signature).
    """
    with UnitOfWork(db, principal.actor) as check:
        user = _reauthenticate(check, principal, login, password)
        _PROVEN.set(_proof(user, password))  # the signature that follows needs not hash the password again


def sign_with_event(
    uow: UnitOfWork, principal: Principal, *, object_type: str, object_id: str, action_code: str,
    password: str, login: str | None = None,
) -> Signature:  # fmt: skip
    """Sign an action declared ``with_event`` as the last step of its event, in the event's unit of work:
    the signature covers the record as the event leaves it. Otherwise the same checks as :func:`sign`."""
    action = BY_CODE.get(action_code)
    if action is None or not action.with_event:
        raise ValidationFailed(N_("“{action}” is not signed together with an event"), action=action_code)
    token = _SIGNING_WITH_EVENT.set(action.code)
    try:
        return sign(uow, principal, object_type=object_type, object_id=object_id, action_code=action_code,
                    password=password, login=login)  # fmt: skip
    finally:
        _SIGNING_WITH_EVENT.reset(token)


class DecisionRow(Protocol):
    """An audited decision row (``__audit_type__`` is the signable action's object type)."""

    __audit_type__: ClassVar[str]

    @property
    def id(self) -> int: ...


def add_signed_decision(
    uow: UnitOfWork, principal: Principal, decision: DecisionRow, *, action_code: str, password: str,
    login: str | None = None, expire: tuple[object, str] | None = None,
) -> Signature:  # fmt: skip
    """Add a decision row (append-only, naming what was decided, usually the SM3 of the content) and sign
    it with its event: the one shape of every signed QMS/LIMS decision (CAPA, change, release, complaint,
    recall, audit, risk assessment…). The row's type is the action's declared object type. ``expire`` names
    a parent and its relationship to reload (``(capa, "decisions")``) so the caller sees the new row."""
    action = BY_CODE.get(action_code)
    if action is None or not action.with_event or action.object_type != decision.__audit_type__:
        raise ValidationFailed(N_("“{action}” is not a signable action for this record"), action=action_code)
    session = uow.session
    session.add(decision)
    session.flush()
    signature = sign_with_event(uow, principal, object_type=action.object_type,
                                object_id=str(decision.id), action_code=action_code,
                                password=password, login=login)  # fmt: skip
    if expire is not None:
        session.expire(expire[0], [expire[1]])
    return signature


def sign(
    uow: UnitOfWork, principal: Principal, *, object_type: str, object_id: str, action_code: str,
    password: str, login: str | None = None,
) -> Signature:  # fmt: skip
    """Sign the current version of a record for ``action_code`` (the next step of its policy)."""
    action = BY_CODE.get(action_code)
    if action is None or action.object_type != object_type:
        raise ValidationFailed(N_("“{action}” is not a signable action for this record"), action=action_code)
    if action.with_event and _SIGNING_WITH_EVENT.get() != action.code:
        raise SignedWithItsEvent(
            N_("“{action}” is signed together with its decision on the record’s page, not on its own"),
            action=action.code,
        )
    session = uow.session
    record = _record(session, object_type, object_id)
    if getattr(record, "voided_at", None) is not None:
        raise Conflict(N_("A void record cannot be signed"))
    current = ledger.current_record_hash(record)
    done = [
        s
        for s in signatures_for(session, object_type, object_id)
        if s.action == action.code and s.record_hash == current and verify(session, s) == "valid"
    ]
    # Permission and segregation of duties first: someone who may not sign learns nothing more.
    principal.require(action.steps[min(len(done), len(action.steps) - 1)].permission)
    if len(done) >= len(action.steps):
        raise Conflict(
            N_("This record version already carries every signature “{action}” needs"), action=action.code
        )
    step = action.steps[len(done)]
    if any(s.signer_id == principal.user_id for s in done):
        raise SignatureRefused(N_("The second signature must be given by a different person"))
    user = _reauthenticate(uow, principal, login, password)
    key = active_key(session, user.id)
    if key is None:
        raise SignatureRefused(N_("You have no signing key yet; log out and log in again to receive one"))
    private = _unseal(key, password)
    signature = Signature(
        object_type=object_type, object_id=object_id, action=action.code, step=len(done) + 1,
        meaning=step.meaning, signer_id=user.id, signer_login=user.login, signer_name=user.full_name,
        signed_at=clock.now(), record_hash=current, key_fingerprint=key.fingerprint, signature=b"",
    )  # fmt: skip
    signature.signature = crypto.sign(private, manifest_bytes(signature))
    session.add(signature)
    session.flush()
    return signature


def verify(session: Session, signature: Signature) -> Status:
    """``valid``; ``changed`` (the record changed after signing); ``invalid`` (tampered, copied, transferred)."""
    key = session.scalar(select(UserKey).where(UserKey.fingerprint == signature.key_fingerprint))
    if key is None or key.user_id != signature.signer_id:
        return "invalid"
    if not crypto.verify(key.public_key, manifest_bytes(signature), bytes(signature.signature)):
        return "invalid"
    record = ledger.find_record(session, signature.object_type, signature.object_id)
    if record is None or ledger.current_record_hash(record) != signature.record_hash:
        return "changed"
    return "valid"


@dataclass(frozen=True)
class SignatureView:
    """The manifestation shown on screen and on prints: printed name, time, meaning, state (11.50)."""

    id: int
    action: str
    step: int
    meaning: str
    signer_login: str
    signer_name: str
    signed_at: datetime
    status: Status


def manifestations(session: Session, object_type: str, object_id: str) -> list[SignatureView]:
    return [
        SignatureView(
            s.id, s.action, s.step, s.meaning, s.signer_login, s.signer_name, s.signed_at, verify(session, s)
        )
        for s in signatures_for(session, object_type, object_id)
    ]


def signing_state(
    session: Session, action: SignableAction, object_type: str, object_id: str
) -> tuple[int, int]:
    """(valid signatures on the current version, signatures the policy needs)."""
    views = manifestations(session, object_type, object_id)
    return sum(1 for v in views if v.action == action.code and v.status == "valid"), len(action.steps)
