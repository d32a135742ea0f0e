"""Registration and contract records, read like the SOP: QA drafts a registration certificate of the product,
submits it, another QA person — never the author — approves it by signature on the SM3 of its content and it is
effective; its renewal, once approved, supersedes it in the same unit of work; the reminders list exactly the
effective records inside their lead time or past it ("expired" computed from the clock); every refusal changes
nothing; the signed decision and an ended record are frozen in the database (SH-6.2.4, SH-7.1.4, SH-7.1.3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import behind_the_apps_back, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock, crypto
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import dossiers as service
from pharmatrace.qms.dossier_models import Dossier, DossierDecision
from pharmatrace.qms.dossier_schemas import DossierApprove, DossierCreate
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Material

AUTHOR, QP, OTHER_QP = "chenjing", "zhaomin", "qianyu"
PRODUCT = "FG-DH-0200"


def _do(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
    return getattr(result, "number", result)


def _counts(db: Database) -> tuple[int, ...]:
    return tuple(count_rows(db, m) for m in (Dossier, DossierDecision, Signature, AuditEntry))


def _body(**changes: Any) -> DossierCreate:
    today = clock.today()
    data: dict[str, Any] = {"category": "registration", "kind": "drug_registration_certificate",
                            "title": "注射用丹红冻干粉 药品注册证书（再注册）", "reference_no": "国药准字Z20260017",
                            "material_code": PRODUCT, "issuing_authority": "国家药品监督管理局",
                            "effective_from": today, "valid_until": today + timedelta(days=5 * 365)}  # fmt: skip
    data.update(changes)
    return DossierCreate.model_validate(data)


def _approve(uow: UnitOfWork, who: Any, number: str) -> Any:
    return service.approve(
        uow, who, number, DossierApprove(password=DEMO_PASSWORD, login=who.login, comment="同意")
    )


def _effective(db: Database, body: DossierCreate) -> str:
    number = str(_do(db, AUTHOR, lambda uow, who: service.create_dossier(uow, who, body)))
    _do(db, AUTHOR, lambda uow, who: service.submit(uow, who, number))
    _do(db, QP, lambda uow, who: _approve(uow, who, number))
    return number


def _status(db: Database, number: str) -> str:
    with db.sessions() as session:
        return service.get_dossier(session, number).status


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4")
def test_a_certificate_goes_from_draft_through_review_to_signed_effect_and_its_renewal_supersedes_it(
    db: Database,
) -> None:
    with db.sessions() as session:
        demo = session.scalar(select(Dossier).where(Dossier.kind == "drug_registration_certificate"))
        assert demo is not None and demo.status == "effective" and demo.material is not None
        old, product_id = demo.number, demo.material.id
        assert service.registration_problem(session, product_id) is None
    number = str(
        _do(db, AUTHOR, lambda uow, who: service.create_dossier(uow, who, _body(renews=old.lower())))
    )
    assert number.startswith(f"REG-{clock.to_beijing(clock.now()).year}-")
    _do(db, AUTHOR, lambda uow, who: service.submit(uow, who, number))
    _do(db, QP, lambda uow, who: service.return_to_draft(uow, who, number, "补充批件扫描件"))
    assert _status(db, number) == "draft"
    _do(db, AUTHOR, lambda uow, who: service.submit(uow, who, number))
    _do(db, QP, lambda uow, who: _approve(uow, who, number))

    with db.sessions() as session:
        new, renewed = service.get_dossier(session, number), service.get_dossier(session, old)
        assert (new.status, new.approved_by, new.reminder_days) == ("effective", QP, 180)
        assert (renewed.status, renewed.end_reason) == ("superseded", f"renewed by {number}")
        (decision,) = new.decisions
        assert (
            decision.content_sm3 == service.content_hash(new) == crypto.sm3(decision.content.encode()).hex()
        )
        (sig,) = esign.manifestations(session, service.DECISION_TYPE, str(decision.id))
        assert (sig.action, sig.meaning, sig.signer_login, sig.status) == (
            "qms.dossier.approve",
            "approved",
            QP,
            "valid",
        )
        assert service.dossier_public(session, renewed).renewed_by == number
        assert service.registration_problem(session, product_id) is None
        assert "expired" in (
            service.registration_problem(session, product_id, new.valid_until + timedelta(days=1)) or ""
        )
    # an effective record is terminated with a reason; the product then has no certificate in force
    _do(db, AUTHOR, lambda uow, who: service.terminate(uow, who, number, "批准文号注销"))
    with db.sessions() as session:
        assert "in force" in (service.registration_problem(session, product_id) or "")


@pytest.mark.clause("SH-6.2.4")
def test_the_reminders_list_exactly_the_effective_records_inside_their_lead_time_or_past_it(
    db: Database,
) -> None:
    today = clock.today()
    with db.sessions() as session:
        before = {d.number for d in service.expiring(session)}
        licence = session.scalar(select(Dossier).where(Dossier.kind == "manufacturing_licence"))
        assert licence is not None and licence.number in before and service.expiry(licence) == "due"
    contract = {"category": "contract", "kind": "contract_testing", "title": "委托检验协议", "counterparty": "第三方实验室",
                "material_code": None, "issuing_authority": ""}  # fmt: skip
    inside = _effective(db, _body(**contract, effective_from=today - timedelta(days=400),
                                  valid_until=today + timedelta(days=30)))  # fmt: skip
    edge = _effective(db, _body(**contract, effective_from=None, valid_until=today + timedelta(days=90)))
    outside = _effective(db, _body(**contract, effective_from=None, valid_until=today + timedelta(days=91)))
    short = _effective(db, _body(**contract, valid_until=today + timedelta(days=91), reminder_days=120))
    past = _effective(db, _body(**contract, effective_from=today - timedelta(days=800),
                                valid_until=today - timedelta(days=1)))  # fmt: skip
    drafted = str(_do(db, AUTHOR, lambda uow, who: service.create_dossier(
        uow, who, _body(**contract, valid_until=today + timedelta(days=3)))))  # fmt: skip
    with db.sessions() as session:
        found = {d.number for d in service.expiring(session)} - before
        assert found == {inside, edge, short, past}
        assert outside not in found and drafted not in found
        assert service.expiry(service.get_dossier(session, past)) == "expired"
        assert service.dossier_public(session, service.get_dossier(session, past)).days_left == -1
        assert past in {d.number for d in service.list_dossiers(session, status="expired")}
        later = {d.number for d in service.expiring(session, today + timedelta(days=1))}
        assert outside in later
    _do(db, AUTHOR, lambda uow, who: service.terminate(uow, who, past, "协议到期不再续签"))
    with db.sessions() as session:
        assert past not in {d.number for d in service.expiring(session)}


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4")
def test_refusals_change_nothing(db: Database) -> None:
    today = clock.today()
    drafted = str(_do(db, AUTHOR, lambda uow, who: service.create_dossier(uow, who, _body())))
    _do(db, AUTHOR, lambda uow, who: service.submit(uow, who, drafted))
    cancelled = str(_do(db, AUTHOR, lambda uow, who: service.create_dossier(uow, who, _body())))
    _do(db, AUTHOR, lambda uow, who: service.submit(uow, who, cancelled))
    _do(db, AUTHOR, lambda uow, who: service.cancel(uow, who, cancelled, "重复录入"))
    with db.sessions() as session:
        effective = session.scalar(select(Dossier.number).where(Dossier.status == "effective").limit(1))
    assert effective
    create = service.create_dossier
    cases: list[tuple[str, type[Exception], Any, str | None]] = [
        (AUTHOR, NotPermitted, lambda uow, who: _approve(uow, who, drafted), "author"),
        (AUTHOR, NotFound, lambda uow, who: create(uow, who, _body(material_code="XX-NONE")), "XX-NONE"),
        (
            AUTHOR,
            NotFound,
            lambda uow, who: create(
                uow, who, _body(category="contract", kind="quality_agreement", supplier_code="SUP-NONE")
            ),
            "SUP-NONE",
        ),
        (AUTHOR, NotFound, lambda uow, who: create(uow, who, _body(renews="REG-1999-0001")), "1999"),
        (
            AUTHOR,
            Conflict,
            lambda uow, who: service.update_dossier(uow, who, effective, _body()),
            "not possible",
        ),
        (
            AUTHOR,
            Conflict,
            lambda uow, who: service.attach_file(uow, who, effective, (b"%PDF-1.4 x", "a.pdf")),
            "not possible",
        ),
        (QP, Conflict, lambda uow, who: _approve(uow, who, cancelled), "not possible"),
        (AUTHOR, Conflict, lambda uow, who: create(uow, who, _body(renews=cancelled)), "only an effective"),
        ("zhangwei", NotPermitted, lambda uow, who: create(uow, who, _body()), None),
        (AUTHOR, ValidationFailed, lambda uow, who: service.terminate(uow, who, effective, " "), "reason"),
    ]
    for login, error, write, match in cases:
        before = _counts(db)
        who = principal(db, login)
        with pytest.raises(error, match=match), UnitOfWork(db, who.actor) as uow:
            write(uow, who)
            uow.commit()
        assert _counts(db) == before, match
    for bad in ({"category": "contract", "kind": "contract_testing", "counterparty": "", "material_code": None},
                {"valid_until": today - timedelta(days=1)}, {"material_code": None},
                {"category": "contract", "kind": "drug_registration_certificate"}):  # fmt: skip
        with pytest.raises(ValueError, match=r"counterparty|before|product|category"):
            _body(**bad)
    assert _status(db, drafted) == "in_review" and _status(db, cancelled) == "cancelled"


@pytest.mark.both  # constraints the database enforces: proven on both dialects
@pytest.mark.clause("SH-6.2.4", "SH-7.1.3")
def test_the_database_keeps_the_signed_decision_and_freezes_effective_and_ended_records(db: Database) -> None:
    with db.sessions() as session:
        effective = session.scalar(select(Dossier).where(Dossier.status == "effective"))
        assert effective is not None and effective.decisions
        number = effective.number
        material = session.scalar(select(Material.id).where(Material.code == PRODUCT))
    for statement in (
        "UPDATE qms_dossier_decisions SET comment = 'x'",
        "DELETE FROM qms_dossier_decisions",
        "DELETE FROM qms_dossiers",
        f"UPDATE qms_dossiers SET title = 'x' WHERE number = '{number}'",  # effective: frozen
        f"UPDATE qms_dossiers SET approved_by = author WHERE number = '{number}'",
        "UPDATE qms_dossiers SET counterparty = '', supplier_id = NULL WHERE status = 'in_review'",
    ):
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as connection:
            connection.execute(text(statement))
    with behind_the_apps_back(db) as connection:  # a draft still changes (the app's own path)
        connection.execute(text("UPDATE qms_dossiers SET owner = 'QA' WHERE status = 'in_review'"))
    assert material is not None
