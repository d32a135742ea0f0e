"""Complaints, read like the SOP: QA registers a complaint about a batch (by its number or a scanned code), classifies
it (an adverse reaction or a counterfeit at least major; the response due by classification), an investigator
reviews the batch record and the retained sample, links a deviation and a CAPA and concludes; the complainant is
answered; QA — never the investigator — closes it by signature on the SM3 of its content. Every refusal gives a
clear error and changes nothing (SH-6.2.4, SH-7.1.4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from demo_codes import demo_codes
from helpers import audit_entries, behind_the_apps_back, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock, ledger
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.qms import complaints as service
from pharmatrace.qms.complaint_models import Complaint, ComplaintDecision
from pharmatrace.qms.complaint_schemas import (
    ComplaintClassify,
    ComplaintClose,
    ComplaintCreate,
    InvestigationRecord,
    InvestigatorAssign,
    ResponseRecord,
)
from pharmatrace.qms.recall_models import Recall
from pharmatrace.storage.engine import Database
from pharmatrace.trace.models import TraceCode

HANDLER, QP, OTHER_QP = "chenjing", "zhaomin", "qianyu"


def _box(db: Database) -> tuple[str, str]:
    """(a case code of the demo's completed batch, the batch number)."""
    with db.sessions() as session:
        row = session.execute(
            select(TraceCode.value, BatchOrder.batch_no)
            .join(BatchOrder, BatchOrder.id == TraceCode.batch_order_id)
            .where(BatchOrder.batch_no == demo_codes(db).batch_done, TraceCode.level == 3)
            .limit(1)
        ).one()
        return row[0], row[1]


def _body(batch_no: str | None, **changes: Any) -> ComplaintCreate:
    data: dict[str, Any] = {"channel": "phone", "complainant_name": "王药师", "complainant_org": "瑞金医院药剂科",
                            "category": "quality", "description": "溶液中有可见异物", "batch_no": batch_no}  # fmt: skip
    data.update(changes)
    return ComplaintCreate.model_validate(data)


def _do(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
    return getattr(result, "number", result)


def _create(db: Database, login: str = HANDLER, **changes: Any) -> str:
    body = _body(**{"batch_no": demo_codes(db).batch_done, **changes})  # the demo's completed batch
    return str(_do(db, login, lambda uow, who: service.create_complaint(uow, who, body)))


def _complaint(db: Database, number: str) -> Complaint:
    with db.sessions() as session:
        complaint = service.get_complaint(session, number)
        session.expunge_all()
        return complaint


def _counts(db: Database) -> tuple[int, ...]:
    return tuple(count_rows(db, m) for m in (Complaint, ComplaintDecision, Signature, AuditEntry))


def _refused(db: Database, error: Any, write: Any, login: str, match: str | None = None) -> None:
    """``write(uow, principal)`` is refused with ``error`` and changes nothing (rows and audit trail)."""
    before = _counts(db)
    who = principal(db, login)
    with pytest.raises(error, match=match), UnitOfWork(db, who.actor) as uow:
        write(uow, who)
        uow.commit()
    assert _counts(db) == before


def _investigation(**changes: Any) -> InvestigationRecord:
    data: dict[str, Any] = {"findings": "批记录无偏差；留样未见异物", "root_cause": "无法确认",
                            "batch_record_reviewed": True, "batch_record_notes": "灌装记录完整",
                            "retained_sample_reviewed": True, "retained_sample_notes": "留样 10 瓶目检合格",
                            "conclusion": "not_justified"}  # fmt: skip
    data.update(changes)
    return InvestigationRecord.model_validate(data)


def _to_responded(db: Database, investigator: str = HANDLER, **changes: Any) -> str:
    number = _create(db, classification="major", classification_rationale="可能影响患者安全")
    _do(db, HANDLER, lambda uow, who: service.assign_investigator(uow, who, number,
                                                                  InvestigatorAssign(investigator=investigator)))  # fmt: skip
    _do(
        db,
        HANDLER,
        lambda uow, who: service.record_investigation(uow, who, number, _investigation(**changes)),
    )
    _do(
        db,
        HANDLER,
        lambda uow, who: service.respond(uow, who, number, ResponseRecord(response="经调查，投诉不成立。")),
    )
    return number


def _close(uow: UnitOfWork, who: Any, number: str) -> Any:
    return service.close(uow, who, number, ComplaintClose(password=DEMO_PASSWORD, login=who.login))


# --- the whole path ------------------------------------------------------------------------------------------


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4")
def test_a_complaint_goes_from_intake_to_signed_closure(db: Database) -> None:
    code, batch = _box(db)
    number = _create(db, code=code, batch_no=None, customer="h-rjyy", category="adverse_reaction")
    assert number.startswith(f"CMP-{service.today().year}-")
    complaint = _complaint(db, number)
    assert (complaint.status, complaint.batch_no, complaint.code_value, complaint.customer_code) == (
        "received",
        batch,
        code,
        "H-RJYY",
    )
    assert complaint.classification is None
    received = clock.to_beijing(complaint.received_at).date()
    assert service.due_date(complaint) == received + timedelta(days=1)  # unclassified: due as critical
    assert not service.is_overdue(complaint, received + timedelta(days=1))
    assert service.is_overdue(complaint, received + timedelta(days=2))

    # SH-6.2.4: an adverse reaction is at least major
    _refused(db, ValidationFailed, lambda uow, who: service.classify(
        uow, who, number, ComplaintClassify(classification="minor", rationale="轻微")), HANDLER, "at least major")  # fmt: skip
    _refused(db, Conflict, lambda uow, who: service.assign_investigator(
        uow, who, number, InvestigatorAssign(investigator="qianyu")), HANDLER, "Classify")  # fmt: skip
    _do(db, HANDLER, lambda uow, who: service.classify(
        uow, who, number, ComplaintClassify(classification="major", rationale="疑似不良反应")))  # fmt: skip
    complaint = _complaint(db, number)
    assert service.due_date(complaint) == received + timedelta(days=7)
    assert service.is_overdue(complaint, received + timedelta(days=8))

    _do(db, HANDLER, lambda uow, who: service.assign_investigator(
        uow, who, number, InvestigatorAssign(investigator=OTHER_QP)))  # fmt: skip
    assert _complaint(db, number).status == "investigating"
    _refused(db, Conflict, lambda uow, who: service.respond(uow, who, number, ResponseRecord(response="答复")),
             HANDLER, "no findings")  # fmt: skip

    with db.sessions() as session:
        deviation = session.scalar(text("SELECT number FROM deviations ORDER BY id LIMIT 1"))
        capa = session.scalar(text("SELECT number FROM qms_capas ORDER BY id LIMIT 1"))
    _refused(db, NotFound, lambda uow, who: service.record_investigation(
        uow, who, number, _investigation(deviation_number="DEV-1999-0001")), HANDLER)  # fmt: skip
    _refused(db, NotFound, lambda uow, who: service.record_investigation(
        uow, who, number, _investigation(capa_number="CAPA-1999-0001")), HANDLER)  # fmt: skip
    _do(db, HANDLER, lambda uow, who: service.record_investigation(uow, who, number, _investigation(
        conclusion=None, deviation_number=deviation, capa_number=capa)))  # fmt: skip
    _refused(db, Conflict, lambda uow, who: service.respond(uow, who, number, ResponseRecord(response="答复")),
             HANDLER, "not concluded")  # fmt: skip
    _do(db, HANDLER, lambda uow, who: service.record_investigation(uow, who, number, _investigation(
        conclusion="justified", deviation_number=deviation, capa_number=capa)))  # fmt: skip

    # closing before the response is refused
    _refused(db, Conflict, lambda uow, who: _close(uow, who, number), QP, "not possible now")
    _do(
        db,
        HANDLER,
        lambda uow, who: service.respond(uow, who, number, ResponseRecord(response="已致歉并更换产品")),
    )
    complaint = _complaint(db, number)
    assert complaint.status == "responded" and complaint.responded_by == HANDLER
    assert not service.is_overdue(complaint, received + timedelta(days=30))

    # SH-7.1.4: the investigator may not close the complaint they investigated
    _refused(db, NotPermitted, lambda uow, who: _close(uow, who, number), OTHER_QP, "investigator")
    _do(db, QP, lambda uow, who: _close(uow, who, number))
    with db.sessions() as session:
        complaint = service.get_complaint(session, number)
        assert complaint.status == "closed" and complaint.closed_by == QP
        (decision,) = complaint.decisions
        assert decision.content_sm3 == service.content_hash(complaint)
        (sig,) = esign.manifestations(session, service.DECISION_TYPE, str(decision.id))
        assert (sig.action, sig.meaning, sig.signer_login, sig.status) == ("qms.complaint.close", "approved", QP,
                                                                           "valid")  # fmt: skip
        assert ledger.find_record(session, "qms_complaint_decision", str(decision.id)) is not None
        complaint_id, decision_id = complaint.id, decision.id

    trail = audit_entries(db, object_type="qms_complaint", object_id=str(complaint_id))
    assert trail[0].event == "create" and len(trail) >= 7
    assert all(e.reason for e in trail)
    assert {e.actor_login for e in trail} == {HANDLER, QP}
    assert audit_entries(db, object_type="qms_complaint_decision", object_id=str(decision_id))

    # a closed complaint is not changed
    for write in (
        lambda uow, who: service.classify(uow, who, number, ComplaintClassify(classification="critical",
                                                                              rationale="重新评估", reason="复核")),
        lambda uow, who: service.record_investigation(uow, who, number, _investigation(reason="补充")),
        lambda uow, who: service.cancel(uow, who, number, "重复登记"),
        lambda uow, who: _close(uow, who, number),
    ):  # fmt: skip
        _refused(db, Conflict, write, QP, "not possible now")


@pytest.mark.clause("SH-6.2.4")
def test_unknown_batches_codes_and_customers_are_refused(db: Database) -> None:
    code, batch = _box(db)
    create = service.create_complaint
    _refused(
        db, NotFound, lambda uow, who: create(uow, who, _body(batch_no="XX9999999")), HANDLER, "No batch"
    )
    _refused(db, NotFound, lambda uow, who: create(uow, who, _body(batch_no=None, code="99999999999999999999")),
             HANDLER, "traceability code")  # fmt: skip
    _refused(
        db, NotFound, lambda uow, who: create(uow, who, _body(batch, customer="NOPE-1")), HANDLER, "customer"
    )
    with db.sessions() as session:
        other = session.scalar(select(BatchOrder.batch_no).where(BatchOrder.batch_no != batch).limit(1))
    if other:  # a code of one batch named with another batch's number
        _refused(db, ValidationFailed, lambda uow, who: create(uow, who, _body(batch_no=other, code=code)),
                 HANDLER, "is of batch")  # fmt: skip
    _refused(db, NotPermitted, lambda uow, who: create(uow, who, _body(batch)), "zhangwei")
    with pytest.raises(ValueError, match="batch number or a scanned"):
        _body(batch_no=None)
    with pytest.raises(ValueError, match="at least major"):
        _body(
            batch,
            category="suspected_counterfeit",
            classification="minor",
            classification_rationale="外观一致",
        )
    with pytest.raises(ValueError, match="rationale"):
        _body(batch, classification="minor")


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4")
def test_cancel_with_a_reason_and_reclassification_needs_one(db: Database) -> None:
    number = _create(db, classification="minor", classification_rationale="轻微外观问题")
    _refused(db, ValidationFailed, lambda uow, who: service.classify(
        uow, who, number, ComplaintClassify(classification="major", rationale="重新评估")), HANDLER, "reason")  # fmt: skip
    _do(db, HANDLER, lambda uow, who: service.classify(
        uow, who, number, ComplaintClassify(classification="major", rationale="重新评估", reason="新增信息")))  # fmt: skip
    _refused(db, NotPermitted, lambda uow, who: service.cancel(uow, who, number, "重复登记"), "zhangwei")
    _refused(db, ValidationFailed, lambda uow, who: service.cancel(uow, who, number, " "), HANDLER)
    _do(db, HANDLER, lambda uow, who: service.cancel(uow, who, number, "与 CMP 重复登记"))
    complaint = _complaint(db, number)
    assert complaint.status == "cancelled" and complaint.cancel_reason == "与 CMP 重复登记"
    _refused(db, Conflict, lambda uow, who: service.assign_investigator(
        uow, who, number, InvestigatorAssign(investigator=HANDLER)), HANDLER)  # fmt: skip

    # after the response only the links change, with a reason
    answered = _to_responded(db)
    _refused(db, Conflict, lambda uow, who: service.record_investigation(
        uow, who, answered, _investigation(findings="改写结论", reason="补充")), HANDLER, "only its links")  # fmt: skip
    with db.sessions() as session:
        recall = session.scalar(select(Recall.number))  # the demo's mock recall
    assert recall is not None
    _refused(db, ValidationFailed, lambda uow, who: service.record_investigation(
        uow, who, answered, _investigation(recall_number=recall)), HANDLER, "reason")  # fmt: skip
    _refused(db, NotFound, lambda uow, who: service.record_investigation(
        uow, who, answered, _investigation(recall_number="RC-2026-9999", reason="关联召回")), HANDLER, "RC-2026-9999")  # fmt: skip
    _do(db, HANDLER, lambda uow, who: service.record_investigation(
        uow, who, answered, _investigation(recall_number=recall, reason="关联召回")))  # fmt: skip
    assert _complaint(db, answered).recall_number == recall


@pytest.mark.clause("SH-6.2.4")
def test_the_demo_has_a_closed_complaint_and_one_under_investigation(db: Database) -> None:
    with db.sessions() as session:
        rows = list(session.scalars(select(Complaint).order_by(Complaint.id)))
        assert [(c.status, c.category, c.classification) for c in rows[:2]] == [
            ("closed", "packaging", "minor"),
            ("investigating", "quality", "major"),
        ]
        closed = rows[0]
        assert (closed.customer_code, closed.batch_no, closed.investigator, closed.closed_by,
                closed.conclusion) == ("H-RJYY", demo_codes(db).batch_done, HANDLER, QP, "not_justified")  # fmt: skip
        assert closed.code_value is not None and closed.decisions


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("SH-6.2.4", "SH-7.1.3")
def test_the_database_keeps_the_rules(db: Database) -> None:
    number = _to_responded(db)
    _do(db, QP, lambda uow, who: _close(uow, who, number))
    counterfeit = _create(db, category="suspected_counterfeit", classification="major",
                          classification_rationale="疑似假药")  # fmt: skip
    for statement in (
        "UPDATE qms_complaint_decisions SET comment = 'x'",
        "DELETE FROM qms_complaint_decisions",
        "DELETE FROM qms_complaints",
        f"UPDATE qms_complaints SET classification = 'minor' WHERE number = '{counterfeit}'",
        f"UPDATE qms_complaints SET closed_by = investigator WHERE number = '{number}'",
        f"UPDATE qms_complaints SET response = NULL WHERE number = '{number}'",
        # a closed complaint and a closed recall are frozen, whatever the change (migration 0043)
        f"UPDATE qms_complaints SET findings = 'rewritten' WHERE number = '{number}'",
        "UPDATE qms_recalls SET effectiveness = 'rewritten' WHERE status = 'closed'",
    ):
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as connection:
            connection.execute(text(statement))
    with behind_the_apps_back(db) as connection:  # an open one is not frozen (the trigger picks closed rows)
        changed = connection.execute(
            text(f"UPDATE qms_complaints SET findings = 'x' WHERE number = '{counterfeit}'")
        )
        assert changed.rowcount == 1
