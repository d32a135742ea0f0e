"""Shared steps of the certificate tests: the demo's 甘露醇 lot fully tested and reviewed, the demo's 三七 lot with
its OOS confirmed, certificates issued by the analyst, signed by the QC reviewer, decided on by QA."""

from __future__ import annotations

from typing import Any

from lims_result_steps import ANALYST, REVIEWER, enter, mannitol_order, review
from lims_sampling_steps import MANNITOL
from sqlalchemy import func, select

from helpers import LOGIN_BY_ROLE, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import certificates, results
from pharmatrace.lims.certificate_models import Certificate, CertificateSignoff, LotDecision
from pharmatrace.lims.certificate_schemas import CertificateIssue, CertificateSign, LotDecisionCreate
from pharmatrace.lims.result_models import TestOrder
from pharmatrace.origin.models import OriginFeedback
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Lot

QA = LOGIN_BY_ROLE["qa_release"]  # zhaomin, the Qualified Person
SANQI = "SQ20261025"  # the demo's 三七: 水分 OOS (phase I open), the assay not entered yet (lims.result_demo)
SANQI_ASSAY = "含量测定（人参皂苷Rg1、Rb1及三七皂苷R1总量）"
MANNITOL_ALL: dict[str, dict[str, Any]] = {
    "性状": {"text": "白色结晶性粉末；无臭，味甜"},
    "鉴别": {"answer": "conforms"},
    "熔点": {"value": "167.5", "instrument_code": "BAL-QC-01"},
    "干燥失重": {"value": "0.21", "instrument_code": "BAL-QC-01"},
    "细菌内毒素": {"value": "0.5"},
    "含量测定": {"raws": {"V_b": "24.80", "V_s": "4.35", "F": "1.0007", "W": "188.6"}},
}


def mannitol_tested(db: Database, *, skip_review: str | None = None) -> dict[str, int]:
    """The 甘露醇 lot ordered, every item entered by the analyst and approved by the reviewer (but ``skip_review``)."""
    tests = mannitol_order(db)
    for item, given in MANNITOL_ALL.items():
        result = enter(db, tests[item], **given)
        if item != skip_review:
            review(db, result.id, judgement="pass" if item == "性状" else None)
    return tests


def sanqi_confirmed(db: Database) -> None:
    """The demo's 三七: the assay entered and approved, the OOS 水分 result reviewed and approved (confirmed)."""
    with db.sessions() as session:
        order = session.scalars(select(TestOrder).where(TestOrder.lot_number == lot_number(db, SANQI))).one()
        tests = {t.item_name: t.id for t in order.tests}
        moisture = results.latest(results.get_test(session, tests["水分"]))
        assert moisture is not None
        moisture_id = moisture.id
    assay = enter(db, tests[SANQI_ASSAY], value="6.1")
    review(db, assay.id)
    review(db, moisture_id, comment="复核确认：水分 14.6 %，超标")


def lot_number(db: Database, supplier_lot: str = MANNITOL) -> str:
    with db.sessions() as session:
        found = session.scalar(select(Lot.lot_number).where(Lot.supplier_lot == supplier_lot))
        assert found is not None
        return found


def lot_status(db: Database, supplier_lot: str = MANNITOL) -> str:
    with db.sessions() as session:
        found = session.scalar(select(Lot.status).where(Lot.supplier_lot == supplier_lot))
        assert found is not None
        return found


def issue(db: Database, supplier_lot: str = MANNITOL, login: str = ANALYST, **fields: Any) -> Certificate:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        made = certificates.issue(uow, who, CertificateIssue(lot=lot_number(db, supplier_lot), **fields))
        uow.commit()
        uow.session.expunge_all()
        return made


def sign(db: Database, certificate_id: int, login: str = REVIEWER, **fields: Any) -> CertificateSignoff:
    who = principal(db, login)
    values: dict[str, Any] = {"password": DEMO_PASSWORD, "login": who.login, "comment": "复核无误"}
    values.update(fields)
    with UnitOfWork(db, who.actor) as uow:
        row = certificates.sign(uow, who, certificate_id, CertificateSign(**values))
        uow.commit()
        uow.session.expunge_all()
        return row


def decide(db: Database, certificate_id: int, decision: str, login: str = QA, **fields: Any) -> LotDecision:
    who = principal(db, login)
    values: dict[str, Any] = {"decision": decision, "reason": "依据检验报告书决定", "password": DEMO_PASSWORD,
                              "login": who.login}  # fmt: skip
    values.update(fields)
    with UnitOfWork(db, who.actor) as uow:
        row = certificates.decide(uow, who, certificate_id, LotDecisionCreate(**values))
        uow.commit()
        uow.session.expunge_all()
        return row


def counts(db: Database) -> tuple[int, ...]:
    """Certificates, signoffs, decisions, signatures, feedback messages, audit entries: a refusal leaves them."""
    with db.sessions() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Certificate, CertificateSignoff, LotDecision, Signature, OriginFeedback, AuditEntry)
        )
