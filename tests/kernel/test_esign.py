"""Electronic signatures (SH-7.1.4 a–f, TJ-10.2, TJ-B.2.6): re-authentication, binding, dual, SoD."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import actor, behind_the_apps_back, openssl_verifies, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import crypto
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import AuthenticationFailed, NotPermitted, SegregationOfDuties
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature, UserKey
from pharmatrace.kernel.esign.policy import ACTIONS, BY_CODE
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Material

MATERIAL = "1"  # 丹参（中药材）… the first material of the demo plant


def logged_in(db: Database, login: str) -> Principal:
    """A principal with a real session, as after log-in in the UI."""
    with UnitOfWork(db, Actor.system("login")) as uow:
        user = identity.authenticate(uow, login, DEMO_PASSWORD)
        token = identity.start_session(uow, user, kind="web")
        uow.commit()
    with UnitOfWork(db, Actor.system("session")) as uow:
        found = identity.resolve_session(uow, token)
    assert found is not None
    return found


def sign(db: Database, who: Principal, action: str = "material.approve", object_id: str = MATERIAL,
         password: str = DEMO_PASSWORD, login: str | None = "") -> Signature:  # fmt: skip
    with UnitOfWork(db, who.actor) as uow:
        signature = esign.sign(
            uow,
            who,
            object_type="material",
            object_id=object_id,
            action_code=action,
            password=password,
            login=who.login if login == "" else login,
        )
        uow.commit()
        return signature


def states(db: Database, object_id: str = MATERIAL) -> list[tuple[str, str, str]]:
    with db.sessions() as session:
        return [
            (v.signer_login, v.meaning, v.status)
            for v in esign.manifestations(session, "material", object_id)
        ]


@pytest.mark.clause("SH-7.1.4.a", "SH-7.1.4.c")
def test_the_registry_says_what_each_action_needs() -> None:
    assert BY_CODE["material.approve"].steps[0].meaning == "approved"
    assert BY_CODE["material.review"].dual
    assert all(step.permission for action in ACTIONS for step in action.steps)


@pytest.mark.clause("SH-7.1.4.b", "SH-7.1.4.d", "SH-7.1.4.e", "TJ-10.2", "TJ-B.2.6")
def test_a_qa_signature_binds_name_meaning_time_and_record_version(db: Database) -> None:
    signature = sign(db, logged_in(db, "chenjing"))
    assert (signature.signer_name, signature.meaning, signature.step) == ("陈静", "approved", 1)
    assert signature.signed_at.tzinfo is not None and len(signature.record_hash) == 64
    assert states(db) == [("chenjing", "approved", "valid")]


@pytest.mark.clause("SH-7.1.4", "TJ-10.2", "TJ-10.1.2.2.e")
def test_first_signature_of_a_session_needs_log_in_id_and_password_later_ones_the_password(
    db: Database,
) -> None:
    qa = logged_in(db, "chenjing")
    with pytest.raises(AuthenticationFailed, match="log-in ID"):
        sign(db, qa, login=None)
    with pytest.raises(AuthenticationFailed, match="log-in ID"):
        sign(db, qa, login="zhaomin")  # someone else's ID
    sign(db, qa, login="chenjing")
    sign(db, qa, object_id="2", login=None)  # same continuous session: the password is enough
    assert [s[2] for s in states(db, "2")] == ["valid"]
    again = logged_in(db, "chenjing")  # a new session starts over
    with pytest.raises(AuthenticationFailed):
        sign(db, again, object_id="3", login=None)


@pytest.mark.clause("SH-7.1.4", "SH-8.5.2")
def test_wrong_passwords_at_signing_are_refused_and_count_towards_lockout(db: Database) -> None:
    qa = logged_in(db, "chenjing")
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            sign(db, qa, password="Wrong#Password1")
    assert states(db) == []
    with db.sessions() as session:
        user = identity.find_user(session, "chenjing")
        assert user is not None and user.locked


@pytest.mark.clause("TJ-10.1.2.2.c", "SH-7.1.2")
def test_the_administrator_cannot_sign_business_records(db: Database) -> None:
    with pytest.raises(SegregationOfDuties):
        sign(db, logged_in(db, "sysadmin"))
    with pytest.raises(NotPermitted):
        sign(db, logged_in(db, "zhangwei"))  # an operator lacks the QA permission
    assert states(db) == []


@pytest.mark.clause("SH-7.1.4.a", "TJ-10.2")
def test_a_dual_signature_needs_two_different_people(db: Database) -> None:
    with db.sessions() as session:
        qa_role = next(r for r in identity.list_roles(session) if r.code == "qa_reviewer")
    with UnitOfWork(db, actor(db, "sysadmin"), reason="QA 也维护物料主数据") as uow:
        identity.set_role_permissions(uow, qa_role.id, qa_role.permission_codes | {"wms.material.manage"})
        uow.commit()
    qa = logged_in(db, "chenjing")
    sign(db, qa, action="material.review")
    with pytest.raises(esign.SignatureRefused, match="different person"):
        sign(db, qa, action="material.review", login=None)
    sign(db, logged_in(db, "zhaomin"), action="material.review")
    assert states(db) == [("chenjing", "reviewed", "valid"), ("zhaomin", "approved", "valid")]
    with db.sessions() as session:
        assert esign.signing_state(session, BY_CODE["material.review"], "material", MATERIAL) == (2, 2)


@pytest.mark.clause("SH-7.1.4.d", "SH-7.1.4.e", "TJ-10.2")
def test_a_record_changed_after_signing_shows_the_signature_as_not_covering_it(db: Database) -> None:
    sign(db, logged_in(db, "chenjing"))
    with UnitOfWork(db, actor(db, "zhouqiang"), reason="供应商更正贮藏条件") as uow:
        material = uow.session.get(Material, int(MATERIAL))
        assert material is not None
        material.storage_condition = "阴凉干燥处，≤25 °C"
        uow.commit()
    assert states(db) == [("chenjing", "approved", "changed")]
    sign(db, logged_in(db, "zhaomin"))  # a new signature for the new version; the old one stays visible
    assert states(db) == [("chenjing", "approved", "changed"), ("zhaomin", "approved", "valid")]


@pytest.mark.clause("SH-7.1.4.f", "SH-7.1.4.e", "TJ-10.2")
def test_a_copied_or_transferred_signature_fails_verification(db: Database) -> None:
    signature = sign(db, logged_in(db, "chenjing"))
    columns = (
        "action, step, meaning, signer_id, signer_login, signer_name, signed_at, record_hash, "
        "key_fingerprint, signature"
    )
    with behind_the_apps_back(db) as conn:  # copy the row onto another record, and hand it to another person
        conn.execute(
            text(
                f"INSERT INTO signatures (object_type, object_id, {columns}) "
                f"SELECT object_type, '2', {columns} FROM signatures WHERE id = :i"
            ),
            {"i": signature.id},
        )
        zhaomin = conn.scalar(text("SELECT id FROM users WHERE login = 'zhaomin'"))
        conn.execute(
            text(
                f"INSERT INTO signatures (object_type, object_id, {columns.replace('signer_id, ', '')}, "
                f"signer_id) SELECT object_type, object_id, "
                f"{columns.replace('signer_id, ', '')}, :z FROM signatures WHERE id = :i"
            ),
            {"i": signature.id, "z": zhaomin},
        )
    assert states(db, "2") == [("chenjing", "approved", "invalid")]
    assert [s[2] for s in states(db)] == ["valid", "invalid"]


@pytest.mark.clause("SH-7.1.4.f", "TJ-10.2")
@pytest.mark.parametrize(
    "statement", ["UPDATE signatures SET meaning = 'released'", "DELETE FROM signatures"]
)
def test_signatures_cannot_be_edited_or_deleted(db: Database, statement: str) -> None:
    sign(db, logged_in(db, "chenjing"))
    with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
        conn.execute(text(statement))
    assert states(db) == [("chenjing", "approved", "valid")]


@pytest.mark.clause("TJ-10.2", "SH-7.1.4.f")
def test_only_the_owner_can_open_the_signing_key(db: Database) -> None:
    with db.sessions() as session:
        chenjing = principal(db, "chenjing")
        key = esign.active_key(session, chenjing.user_id)
        assert key is not None
        with pytest.raises(AuthenticationFailed):
            esign._unseal(key, "Wrong#Password1")
        private = esign._unseal(key, DEMO_PASSWORD)
        assert crypto.KeyPair.from_private(private).public_key == key.public_key
        stolen = UserKey(
            **{
                c: getattr(key, c)
                for c in (
                    "fingerprint",
                    "public_key",
                    "encrypted_private_key",
                    "salt",
                    "nonce",
                    "iterations",
                    "created_at",
                )
            },
            user_id=principal(db, "zhaomin").user_id,
        )
        with pytest.raises(AuthenticationFailed):  # bound to its owner: useless on another account
            esign._unseal(stolen, DEMO_PASSWORD)


@pytest.mark.clause("TJ-10.2", "SH-7.1.4.d")
def test_password_change_keeps_the_pair_and_a_reset_issues_a_new_one(db: Database) -> None:
    first = sign(db, logged_in(db, "chenjing"))
    uid = principal(db, "chenjing").user_id
    with UnitOfWork(db, actor(db, "chenjing")) as uow:
        identity.change_password(uow, uid, DEMO_PASSWORD, "Changed#2026cj")
        uow.commit()
    with db.sessions() as session:
        kept = esign.active_key(session, uid)
        assert kept is not None and kept.fingerprint == first.key_fingerprint
    with UnitOfWork(db, actor(db, "sysadmin"), reason="遗忘密码") as uow:
        identity.reset_password(uow, uid, "OneTime#2026x")
        uow.commit()
    with db.sessions() as session:
        keys = list(session.scalars(select(UserKey).where(UserKey.user_id == uid).order_by(UserKey.id)))
    assert [k.retired_at is None for k in keys] == [False, True]
    assert states(db) == [("chenjing", "approved", "valid")]  # the old public key still verifies


@pytest.mark.clause("TJ-10.2", "SH-7.1.4.d")
def test_openssl_verifies_a_stored_signature(db: Database, tmp_path: Path) -> None:
    signature = sign(db, logged_in(db, "chenjing"))
    with db.sessions() as session:
        key = session.scalar(select(UserKey).where(UserKey.fingerprint == signature.key_fingerprint))
        assert key is not None
        stored = session.get(Signature, signature.id)
        assert stored is not None
        message = esign.manifest_bytes(stored)
    assert openssl_verifies(key.public_key, message, bytes(signature.signature), tmp_path)


@pytest.mark.clause("SH-7.1.4.b", "SH-7.1.4.c", "SH-7.1.4.d", "TJ-10.1.2.2.c")
def test_signing_through_the_api(db: Database) -> None:
    from fastapi.testclient import TestClient

    from helpers import token
    from pharmatrace.web.app import create_app

    with TestClient(create_app(db)) as client:
        actions = client.get("/api/v1/esign/actions", headers=token(client, "zhangwei")).json()
        assert {a["code"] for a in actions} == {
            "material.approve", "material.review", "receipt.complete", "lot.release", "lot.reject",
            "document.review", "document.approve", "document.periodic_review", "document.withdraw",
            "document.acknowledge", "recipe.review", "recipe.approve", "training.self_study", "training.practical",
            "batch.release", "batch.step.perform", "batch.step.verify", "batch.step.supervise", "batch.step.qa",
            "batch.step.correct", "batch.step.correct_supervised", "batch.exception.decide",
            "batch.review", "packaging.line_check.perform", "packaging.line_check.verify",
            "lims.spec.approve",
            "lims.standardization.perform", "lims.standardization.verify",
            "lims.result.review", "lims.result.return",
            "lims.stability.approve", "lims.certificate.sign",
            "qms.deviation.close",
            "qms.capa.approve", "qms.capa.effectiveness",
            "qms.change.approve.qa", "qms.change.approve.production", "qms.change.approve.qc",
            "qms.change.approve.system_owner", "qms.change.close", "qms.change.reject.qa",
            "qms.change.reject.production", "qms.change.reject.qc", "qms.change.reject.system_owner",
            "lims.oos.close", "qms.batch.release", "qms.batch.reject",
            "qms.complaint.close", "qms.recall.open", "qms.recall.close",
            "qms.audit.close", "qms.risk.approve", "qms.pqr.approve",
            "qms.validation.protocol.approve", "qms.validation.report.approve", "qms.dossier.approve",
            "qms.supplier.qualify", "qms.extension.approve",
            "monitoring.destruction.approve",
        }  # fmt: skip
        qa = token(client, "chenjing")
        body = {
            "object_type": "material",
            "object_id": MATERIAL,
            "action": "material.approve",
            "password": DEMO_PASSWORD,
        }
        refused = client.post("/api/v1/esign/signatures", headers=qa, json=body)
        assert refused.status_code == 401  # first signature of the session: the log-in ID is required
        made = client.post("/api/v1/esign/signatures", headers=qa, json={**body, "login": "chenjing"})
        assert made.status_code == 201, made.text
        assert made.json()["signer_name"] == "陈静" and made.json()["status"] == "valid"
        admin = client.post(
            "/api/v1/esign/signatures", headers=token(client, "sysadmin"), json={**body, "login": "sysadmin"}
        )
        assert admin.status_code == 403 and admin.json()["error"]["code"] == "segregation_of_duties"
        listed = client.get(
            "/api/v1/esign/signatures", params={"object_type": "material", "object_id": MATERIAL}, headers=qa
        ).json()
        assert [(s["signer_login"], s["status"]) for s in listed] == [("chenjing", "valid")]
        bad = client.post("/api/v1/esign/signatures", headers=qa, json={**body, "object_id": "x; drop"})
        assert bad.status_code == 422
