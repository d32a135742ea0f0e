"""Actions signed together with their event (SH-7.1.4.c, TJ-10.2): the kernel's policy, not the business area's.

QA release and rejection of a lot and the completion of a goods receipt are declared ``with_event``: the
generic signing path refuses them on their own; the event signs them through ``sign_with_event`` after
checking the signer with ``authenticate_signer``, which counts a wrong password towards the lock-out.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpers import LOGIN_BY_ROLE, audit_entries, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import AuthenticationFailed, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.esign.policy import ACTIONS, BY_CODE
from pharmatrace.kernel.esign.views import panel
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Lot

QA = LOGIN_BY_ROLE["qa_release"]


def lot_under_test(db: Database) -> Lot:
    with db.sessions() as session:
        lot = session.scalar(select(Lot).where(Lot.status == "under_test").order_by(Lot.id).limit(1))
        assert lot is not None, "the demo plant has a lot under test"
        return lot


@pytest.mark.clause("SH-7.1.4.c")
def test_the_registry_declares_which_actions_are_signed_with_their_event() -> None:
    assert {a.code for a in ACTIONS if a.with_event} == {
        "receipt.complete", "lot.release", "lot.reject",
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
    assert not BY_CODE["material.approve"].with_event


@pytest.mark.clause("SH-7.1.4", "SH-7.1.4.c", "TJ-10.2")
def test_an_event_signed_action_is_refused_on_its_own_and_nothing_is_written(db: Database) -> None:
    lot = lot_under_test(db)
    qa = principal(db, QA)
    before = count_rows(db, Signature)
    with UnitOfWork(db, qa.actor) as uow, pytest.raises(esign.SignedWithItsEvent) as refused:
        esign.sign(uow, qa, object_type="lot", object_id=str(lot.id), action_code="lot.release",
                   password=DEMO_PASSWORD, login=QA)  # fmt: skip
    assert refused.value.code == "signature_refused" and refused.value.http_status == 409
    assert "lot.release" in str(refused.value) and "not on its own" in str(refused.value)
    assert count_rows(db, Signature) == before
    assert lot_under_test(db).status == "under_test"


@pytest.mark.clause("SH-7.1.4.c")
def test_sign_with_event_takes_only_actions_declared_with_their_event(db: Database) -> None:
    qa = principal(db, QA)
    before = count_rows(db, Signature)
    with UnitOfWork(db, qa.actor) as uow, pytest.raises(ValidationFailed, match="not signed together"):
        esign.sign_with_event(uow, qa, object_type="material", object_id="1", action_code="material.approve",
                              password=DEMO_PASSWORD, login=QA)  # fmt: skip
    assert count_rows(db, Signature) == before


@pytest.mark.clause("SH-7.1.4", "SH-8.5.2")
def test_authenticate_signer_counts_a_wrong_password_and_commits_nothing_on_success(db: Database) -> None:
    qa = principal(db, QA)
    failures = len(audit_entries(db, event="esign.failure"))
    with db.sessions() as session:
        user = identity.find_user(session, QA)
        assert user is not None
        counted = user.failed_logins
    with pytest.raises(AuthenticationFailed):
        esign.authenticate_signer(db, qa, "Wrong#Password1", QA)
    with db.sessions() as session:
        user = identity.find_user(session, QA)
        assert (
            user is not None and user.failed_logins == counted + 1
        )  # committed by the kernel, apart from any event
    assert len(audit_entries(db, event="esign.failure")) == failures + 1
    esign.authenticate_signer(db, qa, DEMO_PASSWORD, QA)  # success: nothing committed
    with db.sessions() as session:
        user = identity.find_user(session, QA)
        assert (
            user is not None and user.failed_logins == counted + 1
        )  # reset only when the signature is given
    assert len(audit_entries(db, event="esign.failure")) == failures + 1


@pytest.mark.clause("SH-7.1.4.c")
def test_the_generic_signature_panel_does_not_offer_event_signed_actions(db: Database) -> None:
    lot = lot_under_test(db)
    qa = principal(db, QA)
    with db.sessions() as session:
        offered = panel(session, qa, "lot", str(lot.id))["offered"]
    assert offered == []


@pytest.mark.clause("SH-7.1.4.c")
def test_the_generic_signing_form_refuses_an_event_signed_action_with_the_message(db: Database) -> None:
    from urllib.parse import unquote

    from fastapi.testclient import TestClient

    from pharmatrace.web import i18n
    from pharmatrace.web.app import create_app

    lot = lot_under_test(db)
    before = count_rows(db, Signature)
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": QA, "password": DEMO_PASSWORD})
        back = f"/wms/lots/{lot.id}"
        refused = client.post("/esign/sign", follow_redirects=False, data={
            "object_type": "lot", "object_id": str(lot.id), "action": "lot.reject", "password": DEMO_PASSWORD,
            "login": QA, "next": back})  # fmt: skip
    assert refused.status_code == 303
    location = unquote(refused.headers["location"])
    msgid = "“{action}” is signed together with its decision on the record’s page, not on its own"
    message = i18n.translations("zh_CN").gettext(msgid).format(action="lot.reject")
    assert message != msgid.format(action="lot.reject")  # the reader gets it in Chinese
    assert location == f"{back}?sign_error={message}"
    assert count_rows(db, Signature) == before
    assert lot_under_test(db).status == "under_test"


@pytest.mark.clause("SH-7.1.4.c")
def test_the_registry_page_api_and_command_say_which_actions_are_signed_with_their_event(
    db: Database,
) -> None:
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from helpers import token
    from pharmatrace.cli import app
    from pharmatrace.web.app import create_app

    expected = {a.code for a in ACTIONS if a.with_event}
    with TestClient(create_app(db)) as client:
        listed = client.get("/api/v1/esign/actions", headers=token(client, QA)).json()
        client.post("/login", data={"login": QA, "password": DEMO_PASSWORD})
        page = client.get("/esign/actions").text
    assert {a["code"] for a in listed if a["with_event"]} == expected
    assert page.count('data-testid="with-event"') == len(expected)
    output = CliRunner().invoke(app, ["esign", "functions"]).output
    assert {line.split()[0] for line in output.splitlines() if "(signed with its event)" in line} == expected


@pytest.mark.clause("SH-7.1.4")
def test_add_signed_decision_refuses_a_row_not_of_the_actions_type_and_writes_nothing(db: Database) -> None:
    from pharmatrace.kernel import clock
    from pharmatrace.qms.complaint_models import Complaint, ComplaintDecision

    qa = principal(db, QA)
    with db.sessions() as session:
        complaint_id = session.scalar(select(Complaint.id).order_by(Complaint.id).limit(1))
    assert complaint_id is not None, "the demo plant has a complaint"
    before = count_rows(db, Signature), count_rows(db, ComplaintDecision), len(audit_entries(db))
    for action in ("lot.release", "no.such.action"):  # signs a lot, not a complaint decision; unknown
        decision = ComplaintDecision(complaint_id=complaint_id, kind="close", content_sm3="0" * 64, comment="",
                                     decided_at=clock.now(), decided_by=QA, decided_by_name=QA)  # fmt: skip
        with UnitOfWork(db, qa.actor) as uow, pytest.raises(ValidationFailed, match="not a signable action"):
            esign.add_signed_decision(uow, qa, decision, action_code=action, password=DEMO_PASSWORD, login=QA)
    assert (count_rows(db, Signature), count_rows(db, ComplaintDecision), len(audit_entries(db))) == before
