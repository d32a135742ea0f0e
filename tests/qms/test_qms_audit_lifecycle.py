"""Quality audits and self-inspection, read like the SOP: QA plans a computerized-system audit, whose checklist is
TJ-11.2.1 a–e with the pages holding the evidence; the lead auditor assesses every point, records the findings, the
auditee responds, a critical or major finding is handled by an existing CAPA and verified; QA — never the lead
auditor — closes the audit by signature on the SM3 of its checklist and findings. Every refusal gives a clear error
and changes nothing (TJ-11.1, TJ-11.2.1, SH-6.2.4, SH-7.1.4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import audit_entries, behind_the_apps_back, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import ledger
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import audits as service
from pharmatrace.qms.audit_models import Audit, AuditChecklistItem, AuditDecision, AuditFinding
from pharmatrace.qms.audit_schemas import (
    AuditClose,
    AuditCreate,
    ChecklistAssessment,
    ChecklistItemCreate,
    FindingCreate,
    FindingResponse,
    FindingVerification,
)
from pharmatrace.qms.capa_models import Capa
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Supplier

LEAD, RESPONDER, QP, OPERATOR, SUPPLIER = "chenjing", "qianyu", "zhaomin", "zhangwei", "SUP-SL-DS"


def _plan(**changes: Any) -> AuditCreate:
    today = service.today()
    data: dict[str, Any] = {"kind": "computerized_system", "title": "EBR 系统自检", "scope": "TJ-11 审计点",
                            "auditee": "信息部", "lead_auditor": LEAD, "planned_start": str(today),
                            "planned_end": str(today + timedelta(days=2))}  # fmt: skip
    data.update(changes)
    return AuditCreate.model_validate(data)


def _do(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
    return getattr(result, "number", result)


def _audit(db: Database, number: str) -> Audit:
    with db.sessions() as session:
        audit = service.get_audit(session, number)
        session.expunge_all()
        return audit


def _counts(db: Database) -> tuple[int, ...]:
    models = (Audit, AuditChecklistItem, AuditFinding, AuditDecision, Signature, AuditEntry)
    return tuple(count_rows(db, m) for m in models)


def _refused(db: Database, error: Any, write: Any, login: str, match: str | None = None) -> None:
    """``write(uow, principal)`` is refused with ``error`` and changes nothing (rows and audit trail)."""
    before = _counts(db)
    who = principal(db, login)
    with pytest.raises(error, match=match), UnitOfWork(db, who.actor) as uow:
        write(uow, who)
        uow.commit()
    assert _counts(db) == before


def _close(number: str, password: str = DEMO_PASSWORD) -> Any:
    return lambda uow, who: service.close(
        uow, who, number, AuditClose(conclusion="符合 TJ-11 要求", password=password, login=who.login)
    )


def _assess(number: str, seq: int, result: str = "conforms", **more: Any) -> Any:
    body = ChecklistAssessment.model_validate({"result": result, "evidence_note": "已核对", **more})
    return lambda uow, who: service.assess_item(uow, who, number, seq, body)


def _respond(number: str, seq: int, **more: Any) -> Any:
    body = FindingResponse.model_validate({"response": "已整改", **more})
    return lambda uow, who: service.respond_finding(uow, who, number, seq, body)


def _verify(number: str, seq: int) -> Any:
    return lambda uow, who: service.verify_finding(
        uow, who, number, seq, FindingVerification(note="现场核对")
    )


# --- the whole path ------------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-11.1", "TJ-11.2.1", "SH-6.2.4", "SH-7.1.4")
def test_a_computerized_system_audit_goes_from_its_tj11_checklist_to_signed_closure(db: Database) -> None:
    number = str(_do(db, LEAD, lambda uow, who: service.create_audit(uow, who, _plan())))
    assert number.startswith(f"AU-{service.today().year}-")
    audit = _audit(db, number)
    assert audit.status == "planned" and not service.is_overdue(audit)
    assert service.is_overdue(audit, service.today() + timedelta(days=3))
    # TJ-11.2.1 a–e, each with the pages of this system that hold its evidence
    assert [i.code for i in audit.items] == [f"TJ-11.2.1 {c}" for c in "abcde"]
    assert {i.result for i in audit.items} == {"not_assessed"}
    links = {i.code[-1]: i.evidence_links.split() for i in audit.items}
    assert (
        links["c"] == ["/compliance"]
        and "/qms/changes" in links["d"]
        and "/admin/access-review" in links["e"]
    )

    _refused(db, Conflict, _assess(number, 1), LEAD, "not possible now")  # not started yet
    _do(db, LEAD, lambda uow, who: service.start(uow, who, number))
    for seq in (1, 2, 3, 4):
        _do(db, LEAD, _assess(number, seq, "finding" if seq == 4 else "conforms"))
    _refused(db, ValidationFailed, _assess(number, 1, "not_applicable"), LEAD, "reason")
    _do(db, LEAD, _assess(number, 1, "not_applicable", reason="复核后不适用"))
    _do(db, LEAD, lambda uow, who: service.add_finding(uow, who, number, FindingCreate(
        classification="minor", clause_ref="TJ-11.2.1 a", description="系统清单未写使用范围")))  # fmt: skip
    _do(db, LEAD, lambda uow, who: service.add_finding(uow, who, number, FindingCreate(
        classification="major", clause_ref="TJ-11.2.1 d", description="2 项变更未关联验证记录",
        due_date=service.today() + timedelta(days=30))))  # fmt: skip
    _refused(db, Conflict, _verify(number, 1), LEAD, "no response")
    _do(db, RESPONDER, _respond(number, 1))
    _refused(db, NotPermitted, _verify(number, 1), RESPONDER, "response")  # SH-7.1.4: four eyes
    _do(db, LEAD, _verify(number, 1))
    _refused(db, Conflict, _respond(number, 1, reason="补充"), RESPONDER, "verified")
    _do(db, RESPONDER, _respond(number, 2))
    _refused(db, Conflict, _verify(number, 2), LEAD, "no CAPA")  # a major finding is verified with its CAPA
    _do(db, LEAD, lambda uow, who: service.report(uow, who, number))

    # the closure's guards, each refusing with nothing written
    _refused(db, Conflict, _close(number), QP, "not assessed yet: TJ-11.2.1 e")
    _do(db, LEAD, _assess(number, 5))
    _refused(db, Conflict, _close(number), QP, "Finding 2 is critical or major and has no CAPA")
    _refused(
        db, NotFound, _respond(number, 2, capa_number="CAPA-1999-0001", reason="关联 CAPA"), RESPONDER, "CAPA"
    )
    with db.sessions() as session:
        capa = session.scalar(select(Capa.number).order_by(Capa.id).limit(1))
    assert capa is not None
    _do(db, RESPONDER, _respond(number, 2, capa_number=capa.lower(), reason="关联 CAPA"))
    _refused(db, Conflict, _close(number), QP, "Finding 2 is critical or major and not verified")
    _do(db, LEAD, _verify(number, 2))
    _refused(db, NotPermitted, _close(number), LEAD, "lead auditor")  # SH-7.1.4
    _refused(db, NotPermitted, _close(number), OPERATOR)
    before = _counts(db)[:5]
    with pytest.raises(AuthenticationFailed), UnitOfWork(db, principal(db, QP).actor) as uow:
        _close(number, "wrong-password")(uow, principal(db, QP))
    assert _counts(db)[:5] == before and _audit(db, number).status == "reporting"

    _do(db, QP, _close(number))
    with db.sessions() as session:
        audit = service.get_audit(session, number)
        assert (audit.status, audit.closed_by) == ("closed", QP)
        assert [f.capa_number for f in audit.findings] == [None, capa]
        (decision,) = audit.decisions
        assert decision.content_sm3 == service.content_hash(session, audit)
        assert decision.conclusion == "符合 TJ-11 要求"
        (sig,) = esign.manifestations(session, service.DECISION_TYPE, str(decision.id))
        assert (sig.action, sig.meaning, sig.signer_login, sig.status) == ("qms.audit.close", "approved", QP,
                                                                           "valid")  # fmt: skip
        assert ledger.find_record(session, "qms_audit_decision", str(decision.id)) is not None
        audit_id = audit.id
    trail = audit_entries(db, object_type="qms_audit", object_id=str(audit_id))
    assert trail[0].event == "create" and all(e.reason for e in trail)
    assert {e.actor_login for e in trail} == {LEAD, QP}
    assert audit_entries(db, object_type="qms_audit_finding")

    # a closed audit is not changed
    for write in (
        lambda uow, who: service.add_item(uow, who, number, ChecklistItemCreate(question="补充问题")),
        _assess(number, 5, "finding", reason="复核"),
        lambda uow, who: service.cancel(uow, who, number, "重复计划"),
        _close(number),
    ):
        _refused(db, Conflict, write, QP, "not possible now")


@pytest.mark.clause("TJ-11.1", "SH-6.2.4")
def test_planning_refusals_a_supplier_audit_its_filters_and_the_demo(db: Database) -> None:
    # a supplier audit names an existing supplier; the lead auditor holds an audit role; only QA plans
    with pytest.raises(ValueError, match="names its supplier"):
        _plan(kind="supplier")
    with pytest.raises(ValueError, match="planned end"):
        _plan(planned_end=str(service.today() - timedelta(days=1)))
    unchecked = AuditCreate.model_construct(**{**_plan().model_dump(), "kind": "supplier", "supplier": None})
    create = service.create_audit
    _refused(db, ValidationFailed, lambda uow, who: create(uow, who, unchecked), LEAD, "names its supplier")
    _refused(
        db, NotFound, lambda uow, who: create(uow, who, _plan(kind="supplier", supplier="SUP-NONE")), LEAD
    )
    _refused(
        db,
        ValidationFailed,
        lambda uow, who: create(uow, who, _plan(lead_auditor=OPERATOR)),
        LEAD,
        "audit role",
    )
    _refused(db, NotFound, lambda uow, who: create(uow, who, _plan(lead_auditor="nobody")), LEAD)
    _refused(db, NotPermitted, lambda uow, who: create(uow, who, _plan()), OPERATOR)

    past = service.today() - timedelta(days=5)
    number = str(_do(db, QP, lambda uow, who: create(uow, who, _plan(
        kind="supplier", supplier=SUPPLIER, planned_start=str(past), planned_end=str(past + timedelta(days=1))))))  # fmt: skip
    audit = _audit(db, number)
    assert audit.items == [] and audit.lead_auditor == LEAD and service.is_overdue(audit)
    with db.sessions() as session:
        supplier_id = session.scalar(select(Supplier.id).where(Supplier.code == SUPPLIER))
        assert supplier_id is not None
        assert number in [a.number for a in service.audits_for_supplier(session, supplier_id)]
        assert [a.number for a in service.list_audits(session, overdue=True)] == [number]
        suppliers = {a.number for a in service.list_audits(session, kind="supplier")}
        assert number in suppliers and len(suppliers) == 2  # and the demo's planned supplier audit
    _do(db, LEAD, lambda uow, who: service.start(uow, who, number))
    _refused(db, Conflict, lambda uow, who: service.report(uow, who, number), LEAD, "checklist .* is empty")
    _do(
        db,
        LEAD,
        lambda uow, who: service.add_item(uow, who, number, ChecklistItemCreate(question="采收记录完整？")),
    )
    _refused(db, NotFound, lambda uow, who: service.add_finding(uow, who, number, FindingCreate(
        classification="critical", description="未按规定晾晒", capa_number="CAPA-1999-0001")), LEAD, "CAPA")  # fmt: skip
    _refused(db, NotFound, _assess(number, 9), LEAD, "no checklist item 9")
    _refused(db, ValidationFailed, lambda uow, who: service.cancel(uow, who, number, " "), LEAD)
    _do(db, LEAD, lambda uow, who: service.cancel(uow, who, number, "基地采收期推迟，改期审计"))
    audit = _audit(db, number)
    assert audit.status == "cancelled" and not service.is_overdue(audit) and audit.items[0].code == "1"

    # the demo: a closed computerized-system self-inspection and a planned supplier audit
    with db.sessions() as session:
        demo = list(session.scalars(select(Audit).order_by(Audit.id)))[:2]
        assert [(a.kind, a.status) for a in demo] == [
            ("computerized_system", "closed"),
            ("supplier", "planned"),
        ]
        closed = demo[0]
        assert {i.result for i in closed.items} <= {"conforms", "finding"} and len(closed.items) == 5
        assert [(f.classification, f.status) for f in closed.findings] == [("minor", "verified"),
                                                                          ("major", "verified")]  # fmt: skip
        assert closed.findings[1].capa_number and closed.closed_by != closed.lead_auditor
        assert closed.decisions[0].content_sm3 == service.content_hash(session, closed)


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-11.1", "SH-7.1.3")
def test_the_database_keeps_the_rules(db: Database) -> None:
    with db.sessions() as session:
        closed = session.scalar(select(Audit.number).where(Audit.status == "closed"))
        planned = session.scalar(select(Audit.number).where(Audit.status == "planned"))
    assert closed and planned
    for statement in (
        "UPDATE qms_audit_decisions SET conclusion = 'x'",
        "DELETE FROM qms_audit_decisions",
        "DELETE FROM qms_audit_findings",
        "DELETE FROM qms_audits",
        f"UPDATE qms_audits SET closed_by = lead_auditor WHERE number = '{closed}'",
        f"UPDATE qms_audits SET supplier_id = NULL WHERE number = '{planned}'",
        "UPDATE qms_audit_findings SET capa_number = NULL WHERE classification = 'major'",
        "UPDATE qms_audit_checklist_items SET assessed_at = NULL",
        # migration 0047: who responded to a finding does not verify it; a closed audit is frozen
        "UPDATE qms_audit_findings SET verified_by = responded_by WHERE status = 'verified'",
        f"UPDATE qms_audits SET scope = 'rewritten' WHERE number = '{closed}'",
    ):
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as connection:
            connection.execute(text(statement))
    with behind_the_apps_back(
        db
    ) as connection:  # a planned one is not frozen (the trigger picks closed rows)
        changed = connection.execute(text(f"UPDATE qms_audits SET scope = 'xx' WHERE number = '{planned}'"))
        assert changed.rowcount == 1
