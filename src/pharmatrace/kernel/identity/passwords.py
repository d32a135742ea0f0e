"""argon2id password hashing and the configurable password policy (SH-7.1.2, TJ-10.1.2)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pharmatrace.config import get_settings
from pharmatrace.kernel.errors import N_, ValidationFailed

MIN_LENGTH_FLOOR = 8  # the policy can be made stricter, never weaker than this


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    settings = get_settings()
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        type=Type.ID,
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A fixed hash verified when the log-in ID is unknown, so timing does not reveal which IDs exist.
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    return hash_password("not-a-real-password-Zz9!")


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int = 8
    min_classes: int = 3  # of: lower case, upper case, digits, symbols
    history: int = 5
    expiry_days: int = 90
    lockout_threshold: int = 5
    idle_timeout_minutes: int = 15

    def problems(self, password: str, *, login: str) -> list[str]:
        """English msgids of everything wrong with ``password``; empty when it is acceptable."""
        found: list[str] = []
        if len(password) < max(self.min_length, MIN_LENGTH_FLOOR):
            found.append(N_("The password must have at least {min_length} characters"))
        classes = sum(
            any(ch in group for ch in password)
            for group in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
        ) + any(not ch.isalnum() for ch in password)
        if classes < self.min_classes:
            found.append(
                N_("The password must mix at least {min_classes} of: lower case, upper case, digits, symbols")
            )
        if login and login.lower() in password.lower():
            found.append(N_("The password must not contain the log-in ID"))
        return found

    def check(self, password: str, *, login: str) -> None:
        problems = self.problems(password, login=login)
        if problems:
            raise ValidationFailed(
                problems[0], min_length=max(self.min_length, MIN_LENGTH_FLOOR), min_classes=self.min_classes
            )
