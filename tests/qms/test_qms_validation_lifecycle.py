"""Validation and qualification, read like the SOP (GMP Annex 15): the equipment engineer writes the OQ/PQ protocol
of an equipment of the register with its acceptance criteria; QA — never the author — approves it by signature; the
tests are executed and recorded at the server's time, a correction superseding a result that stays; a failed test is
a deviation before the report; QA approves the report by signature, the outcome follows from the results, and the
equipment's logbook and qualification status follow in the same unit of work. Every refusal changes nothing; the
results and the signed decisions are append-only; a validated subject comes due for revalidation (SH-6.2.4,
SH-6.3.2.1.c, TJ-10.3, SH-7.1.4)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import audit_entries, behind_the_apps_back, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.equipment.models import Equipment, LogEntry
from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import validation as service
from pharmatrace.qms.validation_models import Validation, ValidationDecision, ValidationResult, ValidationTest
from pharmatrace.qms.validation_schemas import (
    ProtocolItemInput,
    ReportSubmit,
    ResultInput,
    SignBody,
    ValidationCreate,
)
from pharmatrace.storage.engine import Database

ENGINEER, QA, QP = "wuhao", "chenjing", "zhaomin"


def _do(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
    return getattr(result, "number", result)


def _counts(db: Database) -> tuple[int, ...]:
    models = (Validation, ValidationTest, ValidationResult, ValidationDecision, Signature, LogEntry)
    return tuple(count_rows(db, m) for m in models)


def _refused(db: Database, error: Any, write: Any, login: str, match: str | None = None) -> None:
    """``write(uow, principal)`` is refused with ``error`` and changes nothing."""
    before, trail = _counts(db), count_rows(db, AuditEntry)
    who = principal(db, login)
    with pytest.raises(error, match=match), UnitOfWork(db, who.actor) as uow:
        write(uow, who)
        uow.commit()
    assert _counts(db) == before
    if error is not AuthenticationFailed:  # a wrong password is recorded (lock-out), nothing else
        assert count_rows(db, AuditEntry) == trail


def _create(db: Database, login: str = ENGINEER, **changes: Any) -> str:
    data: dict[str, Any] = {"kind": "equipment_qualification", "title": "隧道烘箱再确认", "subject": "ts-01",
                            "stages": ["OQ", "PQ"], "revalidation_months": 12}  # fmt: skip
    data.update(changes)
    return str(_do(db, login, lambda uow, who: service.create_validation(uow, who, ValidationCreate(**data))))


def _test(stage: str = "OQ", item: str = "热分布", criterion: str = "各点 ≥ 300 ℃") -> ProtocolItemInput:
    return ProtocolItemInput.model_validate({"stage": stage, "item": item, "criterion": criterion})


def _result(observed: str = "符合", outcome: str = "pass", **more: Any) -> ResultInput:
    return ResultInput.model_validate({"observed": observed, "outcome": outcome, **more})


def _sign(who: Any, password: str = DEMO_PASSWORD) -> SignBody:
    return SignBody(password=password, login=who.login, comment="同意")


def _protocol(db: Database, number: str) -> None:
    """Two OQ tests and one PQ test, submitted and approved by QA."""
    for body in (_test(), _test(item="热穿透"), _test("PQ", "去热原挑战", "内毒素下降 ≥ 3 log")):
        _do(db, ENGINEER, lambda uow, who, body=body: service.add_test(uow, who, number, body))
    _do(db, ENGINEER, lambda uow, who: service.submit(uow, who, number))
    _do(db, QA, lambda uow, who: service.approve_protocol(uow, who, number, _sign(who)))


def _get(db: Database, number: str) -> Validation:
    with db.sessions() as session:
        found = service.get_validation(session, number)
        session.expunge_all()
        return found


def _equipment(db: Database, code: str) -> Equipment:
    with db.sessions() as session:
        found = session.scalars(select(Equipment).where(Equipment.code == code)).one()
        session.expunge_all()
        return found


@pytest.mark.clause("SH-6.3.2.1.c", "SH-6.2.4", "TJ-10.3", "SH-7.1.4")
def test_a_qualification_goes_from_protocol_to_signed_report_and_into_the_equipment_logbook(
    db: Database,
) -> None:
    with db.sessions() as session:
        change = session.scalar(text("SELECT number FROM qms_changes ORDER BY id LIMIT 1"))
        risk = session.scalar(text("SELECT number FROM qms_risk_assessments ORDER BY id LIMIT 1"))
    number = _create(db, change_number=change.lower(), risk_number=risk)
    v = _get(db, number)
    assert number.startswith("VAL-") and (v.subject, v.status, v.change_number) == ("TS-01", "draft", change)
    equipment = _equipment(db, "TS-01")
    assert v.equipment_id == equipment.id and equipment.qualification_status == "qualified"

    # the protocol: a test for each stage, items changed and voided only while a draft
    _do(db, ENGINEER, lambda uow, who: service.add_test(uow, who, number, _test()))
    _refused(db, Conflict, lambda uow, who: service.submit(uow, who, number), ENGINEER, "PQ")
    _do(
        db,
        ENGINEER,
        lambda uow, who: service.add_test(uow, who, number, _test("PQ", "去热原挑战", "≥ 3 log")),
    )
    _do(db, ENGINEER, lambda uow, who: service.add_test(uow, who, number, _test(item="重复项")))
    _do(db, ENGINEER, lambda uow, who: service.update_test(uow, who, number, 1, _test(item="空载热分布")))
    _do(db, ENGINEER, lambda uow, who: service.void_test(uow, who, number, 3, "与第 1 项重复"))
    _do(db, ENGINEER, lambda uow, who: service.submit(uow, who, number))
    _do(db, QA, lambda uow, who: service.return_protocol(uow, who, number, "补充去热原接受标准"))
    _do(db, ENGINEER, lambda uow, who: service.update_test(uow, who, number, 2, _test("PQ", "去热原挑战", "内毒素下降 ≥ 3 log")))  # fmt: skip
    _do(db, ENGINEER, lambda uow, who: service.submit(uow, who, number))
    _do(db, QA, lambda uow, who: service.approve_protocol(uow, who, number, _sign(who)))
    assert _get(db, number).status == "executing"

    # execution: a result corrected with a reason, the original kept
    _do(
        db,
        ENGINEER,
        lambda uow, who: service.record_result(uow, who, number, 1, _result("最低点 290 ℃", "fail")),
    )
    _do(db, ENGINEER, lambda uow, who: service.record_result(uow, who, number, 1, _result(
        "最低点 309 ℃", correction_reason="抄录错误，见原始记录")))  # fmt: skip
    _do(db, QA, lambda uow, who: service.record_result(uow, who, number, 2, _result("下降 3.6 log")))
    _do(
        db,
        ENGINEER,
        lambda uow, who: service.submit_report(uow, who, number, ReportSubmit(conclusion="全部合格")),
    )
    _do(db, QA, lambda uow, who: service.return_report(uow, who, number, "补充原始记录页码"))
    _do(db, ENGINEER, lambda uow, who: service.submit_report(uow, who, number, ReportSubmit(
        conclusion="OQ、PQ 全部符合接受标准，确认合格")))  # fmt: skip
    # SH-7.1.4: QA recorded test 2, so QA does not approve the report that rests on it
    _refused(db, NotPermitted, lambda uow, who: service.approve_report(uow, who, number, _sign(who)), QA,
             "recorded results")  # fmt: skip
    _do(db, QP, lambda uow, who: service.approve_report(uow, who, number, _sign(who)))

    with db.sessions() as session:
        v = service.get_validation(session, number)
        assert (v.status, v.outcome, v.completed_by) == ("completed", "validated", QP)
        assert v.revalidation_due == service.add_months(clock.to_beijing(v.completed_at).date(), 12)
        first, correction, other = v.results
        assert (first.outcome, correction.supersedes_id, correction.correction_reason) == (
            "fail",
            first.id,
            "抄录错误，见原始记录",
        )
        assert set(service.current_results(v).values()) == {correction, other}
        protocol, report = v.decisions
        assert (protocol.kind, protocol.decided_by, report.kind, report.outcome) == (
            "protocol",
            QA,
            "report",
            "validated",
        )
        assert [t["seq"] for t in json.loads(protocol.content)["tests"]] == [1, 2]  # the void one is out
        assert [r["observed"] for r in json.loads(report.content)["results"]] == [
            "最低点 309 ℃",
            "下降 3.6 log",
        ]
        assert report.content_sm3 == crypto.sm3(report.content.encode()).hex()
        for decision, action in ((protocol, service.PROTOCOL_ACTION), (report, service.REPORT_ACTION)):
            (sig,) = esign.manifestations(session, service.DECISION_TYPE, str(decision.id))
            assert (sig.action, sig.status) == (action, "valid")
            assert ledger.find_record(session, "qms_validation_decision", str(decision.id)) is not None
        entry = session.scalars(
            select(LogEntry).where(LogEntry.equipment_id == equipment.id).order_by(LogEntry.id.desc())
        ).first()
        assert entry is not None and (entry.kind, entry.result, entry.reference) == (
            "qualification",
            "pass",
            number,
        )
        assert entry.recorded_by == QP
        validation_id = v.id
    after = _equipment(db, "TS-01")
    assert after.qualification_status == "qualified" and after.qualified_at > equipment.qualified_at
    assert after.qualified_until == after.qualified_at + timedelta(days=365)
    trail = audit_entries(db, object_type="qms_validation", object_id=str(validation_id))
    assert trail[0].event == "create" and all(e.reason for e in trail)


@pytest.mark.clause("SH-6.3.2.1.c", "TJ-10.3", "SH-7.1.4")
def test_every_guard_refuses_and_changes_nothing_and_a_failed_report_fails_the_equipment(
    db: Database,
) -> None:
    create = service.create_validation

    def made(**changes: Any) -> Any:
        body = ValidationCreate(**{"kind": "equipment_qualification", "title": "再确认", "subject": "TS-01",
                                   "stages": ["OQ"], **changes})  # fmt: skip
        return lambda uow, who: create(uow, who, body)

    number = _create(db)
    with db.sessions() as session:
        deviation = session.scalar(text("SELECT number FROM deviations ORDER BY id LIMIT 1"))
    cases: list[tuple[Any, Any, str, str | None]] = [
        (NotFound, made(subject="EQ-NOPE"), ENGINEER, "EQ-NOPE"),
        (NotFound, made(subject="RM-LYO"), ENGINEER, "RM-LYO"),  # a room is no equipment
        (NotFound, made(change_number="CC-1999-0001"), ENGINEER, "CC-1999-0001"),
        (NotFound, made(risk_number="RA-1999-0001"), ENGINEER, "RA-1999-0001"),
        (NotPermitted, made(), "zhangwei", None),
        (
            ValidationFailed,
            lambda uow, who: service.add_test(uow, who, number, _test("IQ")),
            ENGINEER,
            "stages",
        ),
        (Conflict, lambda uow, who: service.submit(uow, who, number), ENGINEER, "no test"),
    ]
    for error, write, login, match in cases:
        _refused(db, error, write, login, match)
    with pytest.raises(ValueError, match="stages"):
        ValidationCreate(kind="process", title="工艺验证", subject="丹红", stages=["IQ"])

    _protocol(db, number)  # executing from here
    number2 = _create(db, QA, subject="CM-01", stages=["OQ"])  # QA writes this one
    _do(db, QA, lambda uow, who: service.add_test(uow, who, number2, _test()))
    _do(db, QA, lambda uow, who: service.submit(uow, who, number2))
    cases = [
        (
            NotPermitted,
            lambda uow, who: service.approve_protocol(uow, who, number2, _sign(who)),
            ENGINEER,
            "qms",
        ),
        (
            NotPermitted,
            lambda uow, who: service.approve_protocol(uow, who, number2, _sign(who)),
            QA,
            "author",
        ),
        (
            AuthenticationFailed,
            lambda uow, who: service.approve_protocol(uow, who, number2, _sign(who, "wrong")),
            QP,
            None,
        ),
        (Conflict, lambda uow, who: service.add_test(uow, who, number, _test()), ENGINEER, "not possible"),
        (
            Conflict,
            lambda uow, who: service.update_test(uow, who, number, 1, _test()),
            ENGINEER,
            "not possible",
        ),
        (
            NotFound,
            lambda uow, who: service.record_result(
                uow, who, number, 1, _result("最低点 280 ℃", "fail", deviation_number="DEV-1999-0001")
            ),
            ENGINEER,
            "DEV-1999-0001",
        ),
        (
            Conflict,
            lambda uow, who: service.submit_report(uow, who, number, ReportSubmit(conclusion="合格")),
            ENGINEER,
            "no result",
        ),
    ]
    for error, write, login, match in cases:
        _refused(db, error, write, login, match)

    # a failed test needs its deviation before the report; named by a correction, the failure stays
    _do(
        db,
        ENGINEER,
        lambda uow, who: service.record_result(uow, who, number, 1, _result("最低点 280 ℃", "fail")),
    )
    _do(db, ENGINEER, lambda uow, who: service.record_result(uow, who, number, 2, _result()))
    _do(db, ENGINEER, lambda uow, who: service.record_result(uow, who, number, 3, _result()))
    cases = [
        (
            ValidationFailed,
            lambda uow, who: service.record_result(uow, who, number, 2, _result()),
            ENGINEER,
            "reason",
        ),
        (
            Conflict,
            lambda uow, who: service.submit_report(uow, who, number, ReportSubmit(conclusion="不合格")),
            ENGINEER,
            "no deviation",
        ),
    ]
    for error, write, login, match in cases:
        _refused(db, error, write, login, match)
    _do(db, ENGINEER, lambda uow, who: service.record_result(uow, who, number, 1, _result(
        "最低点 280 ℃", "fail", deviation_number=deviation, correction_reason="关联偏差")))  # fmt: skip
    _do(db, ENGINEER, lambda uow, who: service.submit_report(uow, who, number, ReportSubmit(
        conclusion="热分布不符合接受标准，已按偏差处理")))  # fmt: skip
    _do(db, QA, lambda uow, who: service.approve_report(uow, who, number, _sign(who)))
    v = _get(db, number)
    assert (v.status, v.outcome, v.revalidation_due) == ("completed", "failed", None)
    assert _equipment(db, "TS-01").qualification_status == "failed"
    for error, write, login, match in (
        (
            Conflict,
            lambda uow, who: service.record_result(
                uow, who, number, 2, _result(correction_reason="事后修改")
            ),
            ENGINEER,
            "not possible",
        ),
        (Conflict, lambda uow, who: service.cancel(uow, who, number, "取消"), ENGINEER, "not possible"),
    ):
        _refused(db, error, write, login, match)
    _do(db, ENGINEER, lambda uow, who: service.cancel(uow, who, number2, "轧盖机改为下季度确认"))
    assert _get(db, number2).status == "cancelled"


@pytest.mark.clause("SH-6.3.2.1.c", "SH-6.2.4")
def test_a_validated_subject_comes_due_for_revalidation_until_a_new_validation_follows(db: Database) -> None:
    with db.sessions() as session:
        demo = session.scalars(select(Validation).where(Validation.status == "completed")).one()
        assert (demo.subject, demo.outcome, demo.revalidation_months) == ("FD-01", "validated", 12)
        assert [v.number for v in service.due_for_revalidation(session)] == []  # a year ahead
        assert [v.number for v in service.due_for_revalidation(session, 400)] == [demo.number]
    number = _create(db, revalidation_months=1)
    _protocol(db, number)
    for seq in (1, 2, 3):
        _do(db, ENGINEER, lambda uow, who, seq=seq: service.record_result(uow, who, number, seq, _result()))
    _do(
        db,
        ENGINEER,
        lambda uow, who: service.submit_report(uow, who, number, ReportSubmit(conclusion="合格")),
    )
    _do(db, QA, lambda uow, who: service.approve_report(uow, who, number, _sign(who)))
    with db.sessions() as session:
        (due,) = service.due_for_revalidation(session)
        public = service.due_public(due)
        assert public.number == number and 27 <= public.days_left <= 31
        assert service.due_count(session) == 1 and service.open_count(session) == 1  # the demo's PV
    _create(db, title="隧道烘箱年度再确认")  # a newer validation of the same subject follows
    with db.sessions() as session:
        assert service.due_for_revalidation(session) == []
        assert service.open_count(session) == 2


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("SH-6.2.4", "SH-7.1.3.c", "SH-7.1.4")
def test_the_database_keeps_the_results_and_the_signed_decisions_append_only(db: Database) -> None:
    with db.sessions() as session:
        demo = session.scalars(select(Validation).where(Validation.status == "completed")).one()
        assert len(demo.decisions) == 2 and all(d.decided_by != demo.author for d in demo.decisions)
        assert any(r.supersedes_id for r in demo.results)  # the demo's corrected reading, the original kept
        number = demo.number
    for statement in (
        "UPDATE qms_validation_results SET outcome = 'pass'",
        "DELETE FROM qms_validation_results",
        "UPDATE qms_validation_decisions SET comment = 'x'",
        "DELETE FROM qms_validation_decisions",
        "DELETE FROM qms_validation_tests",
        "DELETE FROM qms_validations",
        f"UPDATE qms_validations SET completed_by = author WHERE number = '{number}'",
        f"UPDATE qms_validations SET outcome = NULL WHERE number = '{number}'",
        f"UPDATE qms_validations SET equipment_id = NULL WHERE number = '{number}'",
        "UPDATE qms_validation_tests SET stage = 'XQ'",
    ):
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as connection:
            connection.execute(text(statement))
