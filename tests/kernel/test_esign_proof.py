"""A signature given after :func:`authenticate_signer` hashes the password once, not twice, and only then
(SH-7.1.4.a, TJ-10.2): the proof is for one signature, of the same user, with the same password."""

from __future__ import annotations

import pytest

from helpers import principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import AuthenticationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.passwords import verify_password
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password verification the signing service runs, by the hash it checked."""
    checked: list[str] = []

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return verify_password(password_hash, password)

    monkeypatch.setattr(esign, "verify_password", counting)
    return checked


def signed(db: Database, who: Principal, object_id: str, password: str = DEMO_PASSWORD) -> None:
    with UnitOfWork(db, who.actor) as uow:
        esign.sign(uow, who, object_type="material", object_id=object_id, action_code="material.approve",
                   password=password, login=who.login)  # fmt: skip
        uow.commit()


@pytest.mark.clause("SH-7.1.4.a", "TJ-10.2")
def test_the_proven_password_is_not_hashed_again_and_serves_one_signature(
    db: Database, hashes: list[str]
) -> None:
    qa = principal(db, "chenjing")
    esign.authenticate_signer(db, qa, DEMO_PASSWORD, qa.login)
    signed(db, qa, "1")
    assert len(hashes) == 1  # the check before the event; the signature used its proof
    signed(db, qa, "2")
    assert len(hashes) == 2  # the proof was spent: the next signature verifies the password itself


@pytest.mark.clause("SH-7.1.4.a", "TJ-10.2")
def test_a_proof_does_not_pass_another_password_or_another_user(db: Database, hashes: list[str]) -> None:
    qa, supervisor = principal(db, "chenjing"), principal(db, "zhaomin")
    esign.authenticate_signer(db, qa, DEMO_PASSWORD, qa.login)
    with pytest.raises(AuthenticationFailed):
        signed(db, qa, "1", password="Wrong@2026")
    esign.authenticate_signer(db, qa, DEMO_PASSWORD, qa.login)
    signed(db, supervisor, "1")  # chenjing's proof is not zhaomin's: zhaomin's password is verified
    assert len(hashes) == 4
