"""Certificates of analysis and the release of incoming lots on them (TJ-7.1, TJ-9.1, TJ-5.2.1.4, TJ-5.2.1.5):
issued only when every release test item is approved, frozen with its SM3, signed by a QC reviewer who analysed
none of it, and QA releases (conforming) or rejects (not conforming) the lot from it through the warehouse seam."""

from __future__ import annotations

import json

import pytest
from lims_certificate_steps import (
    QA,
    SANQI,
    counts,
    decide,
    issue,
    lot_number,
    lot_status,
    mannitol_tested,
    sanqi_confirmed,
    sign,
)
from lims_result_steps import ANALYST, REVIEWER, also_reviewer
from lims_sampling_steps import MANNITOL
from sqlalchemy import select

from helpers import principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import certificates
from pharmatrace.lims.certificate_models import Certificate
from pharmatrace.lims.certificate_schemas import CertificateSign
from pharmatrace.origin.models import OriginFeedback
from pharmatrace.storage.engine import Database
from pharmatrace.wms import lots


def release_directly(db: Database, supplier_lot: str = MANNITOL) -> None:
    """QA releases the lot on the warehouse's own release event (no certificate named)."""
    qa = principal(db, QA)
    with UnitOfWork(db, qa.actor, reason="所有检验项目合格") as uow:
        lot = lots.find_by_scan(uow.session, lot_number(db, supplier_lot))
        assert lot is not None
        lots.release(uow, qa, lot.id, DEMO_PASSWORD, QA)
        uow.commit()


@pytest.mark.clause("TJ-7.1", "TJ-7.4")
def test_no_certificate_while_a_release_item_is_missing_or_unreviewed(db: Database) -> None:
    before = counts(db)
    with pytest.raises(Conflict, match="no test order"):
        issue(db)  # not even ordered
    assert counts(db) == before
    mannitol_tested(db, skip_review="细菌内毒素")
    before = counts(db)
    with pytest.raises(
        certificates.CertificateIncomplete, match="细菌内毒素 of QS-EXC-MAN-001 v1 have no approved"
    ):
        issue(db)
    assert counts(db) == before


@pytest.mark.clause("TJ-7.1", "TJ-9.1", "TJ-7.4", "SH-7.1.4")
def test_a_conforming_certificate_is_frozen_signed_by_a_reviewer_and_the_lot_released_from_it(
    db: Database,
) -> None:
    mannitol_tested(db)
    made = issue(db)
    assert (made.code[:3], made.conclusion, made.spec_code, made.issued_by) == ("COA", "conforms", "QS-EXC-MAN-001",
                                                                                 ANALYST)  # fmt: skip
    content = json.loads(made.content)
    assert [(line["item"], line["result"], line["verdict"]) for line in content["lines"]] == [
        ("性状", "白色结晶性粉末；无臭，味甜", "pass"), ("鉴别", "conforms", "pass"), ("熔点", "167.5", "pass"),
        ("干燥失重", "0.2", "pass"), ("细菌内毒素", "0.5", "pass"), ("含量测定", "98.8", "pass"),
    ]  # fmt: skip
    assert {line["analyst"] for line in content["lines"]} == {ANALYST}
    assert {line["reviewer"] for line in content["lines"]} == {REVIEWER}
    assert content["spec_sm3"] == made.spec_sm3 and len(made.content_sm3) == 64
    with pytest.raises(Conflict, match="certificate against QS-EXC-MAN-001 v1 already"):
        issue(db)
    with pytest.raises(Conflict, match="not signed yet"):
        decide(db, made.id, "release")
    row = sign(db, made.id)
    assert (row.signed_by, row.content_sm3) == (REVIEWER, made.content_sm3)
    with db.sessions() as session:
        signed = esign.manifestations(session, certificates.SIGNOFF_TYPE, str(row.id))
        assert [(s.action, s.meaning, s.signer_login, s.status) for s in signed] == [
            ("lims.certificate.sign", "approved", REVIEWER, "valid")
        ]
    with pytest.raises(Conflict, match="signed already"):
        sign(db, made.id)
    decision = decide(db, made.id, "release", reason="检验报告书 符合规定，放行")
    assert (decision.decision, decision.decided_by, lot_status(db)) == ("release", QA, "released")
    with db.sessions() as session:
        lot_id = certificates.get_certificate(session, made.id).lot_id
        assert [(s.action, s.signer_login) for s in esign.manifestations(session, "lot", str(lot_id))] == [
            ("lot.release", QA)
        ]
        detail = certificates.certificate_detail(session, certificates.get_certificate(session, made.id))
    assert (detail.state, detail.intact, detail.signoff and detail.signoff.status) == (
        "released",
        True,
        "valid",
    )
    analyst = principal(db, ANALYST)
    with pytest.raises(Conflict, match="kept as it is"), UnitOfWork(db, analyst.actor) as uow:
        certificates.void(uow, analyst, made.id, "写错了")


@pytest.mark.clause("TJ-7.4", "SH-7.1.4")
def test_an_analyst_of_a_result_on_it_may_not_sign_and_a_wrong_password_signs_nothing(db: Database) -> None:
    mannitol_tested(db)
    made = issue(db)
    before = counts(db)
    both = also_reviewer(db, ANALYST)
    with UnitOfWork(db, both.actor) as uow, pytest.raises(certificates.CertificateDuties, match="analyst"):
        certificates.sign(uow, both, made.id, CertificateSign(password=DEMO_PASSWORD, login=ANALYST))
    with pytest.raises(AuthenticationFailed):
        sign(db, made.id, password="Wrong#2026")
    after = counts(db)
    assert (
        after[:3] == before[:3] and after[3] == before[3]
    )  # no signoff, no signature (the failure is audited)


@pytest.mark.clause("TJ-5.2.1.4")
def test_a_tested_lot_is_not_released_without_a_signed_conforming_certificate(db: Database) -> None:
    mannitol_tested(db)
    before = counts(db)
    with pytest.raises(
        certificates.ReleaseRefused, match="signed certificate of analysis conforming to QS-EXC"
    ):
        release_directly(db)
    made = issue(db)
    with pytest.raises(certificates.ReleaseRefused, match="only on a signed certificate"):
        release_directly(db)  # issued, not signed
    assert lot_status(db) == "under_test" and counts(db)[1:5] == before[1:5]
    sign(db, made.id)
    release_directly(db)  # the warehouse's own event passes the gate on the signed conforming certificate
    assert lot_status(db) == "released"


@pytest.mark.clause("TJ-5.2.1.4", "TJ-5.2.1.5", "TJ-7.1")
def test_a_non_conforming_certificate_leads_to_rejection_and_the_planting_base_hears_of_it(
    db: Database,
) -> None:
    sanqi_confirmed(db)
    made = issue(db, SANQI)
    lines = {line["item"]: line for line in json.loads(made.content)["lines"]}
    assert made.conclusion == "does_not_conform"
    assert (lines["水分"]["result"], lines["水分"]["verdict"]) == ("14.6", "fail")
    assert lines["水分"]["oos_case"] and lines["总灰分"]["verdict"] == "pass"
    assert json.loads(made.content)["origin"]  # the planting base and its shipment
    sign(db, made.id)
    before = counts(db)
    with pytest.raises(certificates.ReleaseRefused, match="does not conform"):
        decide(db, made.id, "release")
    with pytest.raises(certificates.ReleaseRefused, match="does not conform"):
        release_directly(db, SANQI)
    assert counts(db)[:5] == before[:5] and lot_status(db, SANQI) == "under_test"
    decide(db, made.id, "reject", reason="水分超标，不符合规定")
    assert lot_status(db, SANQI) == "rejected"
    with db.sessions() as session:
        lot_id = certificates.get_certificate(session, made.id).lot_id
        feedback = session.scalars(select(OriginFeedback).where(OriginFeedback.lot_id == lot_id)).all()
        assert [(f.kind, f.reason) for f in feedback if f.kind == "rejected"] == [
            ("rejected", "水分超标，不符合规定")
        ]
        assert certificates.state_of(certificates.get_certificate(session, made.id)) == "rejected"


@pytest.mark.clause("TJ-5.2.1.4")
def test_lots_received_before_the_electronic_specification_keep_the_signed_release_alone(
    db: Database,
) -> None:
    """The demo's 甘露醇 lot was received before QS-EXC-MAN-001 came into force and never ordered in the LIMS."""
    release_directly(db)
    assert lot_status(db) == "released"


@pytest.mark.clause("TJ-7.1", "TJ-9.1")
def test_a_certificate_is_voided_with_a_reason_and_its_content_cannot_be_changed(db: Database) -> None:
    mannitol_tested(db)
    made = issue(db)
    analyst = principal(db, ANALYST)
    with UnitOfWork(db, analyst.actor) as uow:
        certificates.void(uow, analyst, made.id, "误选质量标准，作废重开")
        uow.commit()
    again = issue(db)
    assert again.code != made.code
    with pytest.raises(Conflict, match="is void"):
        sign(db, made.id)
    with (
        UnitOfWork(db, analyst.actor, reason="篡改") as uow,
        pytest.raises(Exception, match=r"immutable|refused"),
    ):
        row = uow.session.get(Certificate, again.id)
        assert row is not None
        row.conclusion = "does_not_conform"
        uow.session.flush()
