"""CAPA, read like the SOP: the originator raises a CAPA from a deviation with its actions; QA (never the
originator) approves the plan by signature and sets the effectiveness check; the owners complete their actions
with evidence; QA signs the effectiveness verdict — effective closes the CAPA, not effective takes it back to
implementation with a new action. A retraining action orders retraining when issued. Every refusal gives a clear
error and changes nothing (SH-6.2.4, TJ-9.4, TJ-6.4.4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from helpers import actor, behind_the_apps_back, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import ledger
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.schemas import UserCreate
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import capa as service
from pharmatrace.qms.capa_models import Capa, CapaAction, CapaDecision
from pharmatrace.qms.capa_schemas import (
    ActionAdd,
    ActionCreate,
    CapaApprove,
    CapaCreate,
    EffectivenessVerdict,
)
from pharmatrace.storage.engine import Database
from pharmatrace.training.models import RetrainingOrder

ORIGINATOR, QA, OPERATOR = "lina", "chenjing", "zhangwei"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SOP = "SOP-PR-001"


def _deviation(db: Database) -> str:
    with db.sessions() as session:
        number = session.scalar(text("SELECT number FROM deviations ORDER BY id LIMIT 1"))
        assert number, "the demo has deviations (mes.history_demo)"
        return str(number)


def _action(**changes: Any) -> ActionCreate:
    data: dict[str, Any] = {"description": "修订提取岗位 SOP 的温度记录要求", "owner": ORIGINATOR,
                            "due_date": service.today() + timedelta(days=20)}  # fmt: skip
    data.update(changes)
    return ActionCreate.model_validate(data)


def _body(db: Database, **changes: Any) -> CapaCreate:
    data: dict[str, Any] = {
        "kind": "corrective", "source_type": "deviation", "source_ref": _deviation(db),
        "title": "提取温度记录缺失的纠正措施", "problem": "提取罐温度未按规定每 15 分钟记录。",
        "root_cause": "岗位 SOP 未规定记录频次（调查报告 INV-2026-001）", "owner": ORIGINATOR,
        "due_date": service.today() + timedelta(days=45),
        "actions": [_action(), _action(description="对操作工进行再培训", owner=OPERATOR)],
    }  # fmt: skip
    data.update(changes)
    return CapaCreate.model_validate(data)


def _create(db: Database, body: CapaCreate | None = None, login: str = ORIGINATOR) -> str:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        capa = service.create_capa(uow, who, body or _body(db))
        uow.commit()
        return capa.number


def _approve(db: Database, number: str, login: str = QA, password: str = DEMO_PASSWORD) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        service.approve(uow, who, number, CapaApprove(
            effectiveness_criteria="连续 3 批提取记录温度记录完整", effectiveness_due=service.today() + timedelta(days=60),
            password=password, login=login, comment="计划可行"))  # fmt: skip
        uow.commit()


def _complete(
    db: Database, number: str, seq: int, login: str, upload: tuple[bytes, str] | None = None
) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        service.complete_action(uow, who, number, seq, "已完成，见附件记录", upload)
        uow.commit()


def _verdict(db: Database, number: str, verdict: str, login: str = QA, **changes: Any) -> None:
    who = principal(db, login)
    data: dict[str, Any] = {"verdict": verdict, "evidence": "抽查 3 批记录", "password": DEMO_PASSWORD,
                            "login": login}  # fmt: skip
    data.update(changes)
    with UnitOfWork(db, who.actor) as uow:
        service.record_effectiveness(uow, who, number, EffectivenessVerdict.model_validate(data))
        uow.commit()


def _capa(db: Database, number: str) -> Capa:
    with db.sessions() as session:
        capa = service.get_capa(session, number)
        session.expunge_all()
        return capa


def _status(db: Database, number: str) -> str:
    return _capa(db, number).status


def _counts(db: Database) -> tuple[int, ...]:
    models = (Capa, CapaAction, CapaDecision, Signature, RetrainingOrder, AuditEntry)
    return tuple(count_rows(db, m) for m in models)


def _refused(db: Database, error: Any, write: Any, login: str, match: str | None = None) -> None:
    """``write(uow, principal)`` is refused with ``error`` and changes nothing (rows and audit trail)."""
    before = _counts(db)
    who = principal(db, login)
    with pytest.raises(error, match=match), UnitOfWork(db, who.actor) as uow:
        write(uow, who)
        uow.commit()
    assert _counts(db) == before


# --- the whole path ------------------------------------------------------------------------------------------


@pytest.mark.clause("SH-6.2.4", "TJ-9.4", "TJ-6.4.4")
def test_a_capa_goes_from_draft_to_closed_as_effective(db: Database) -> None:
    deviation = _deviation(db)
    number = _create(db)
    assert number.startswith(f"CAPA-{service.today().year}-")
    with db.sessions() as session:
        assert [c.number for c in service.capas_for_source(session, "deviation", deviation)][-1] == number
    assert _status(db, number) == "draft"

    _approve(db, number)
    capa = _capa(db, number)
    assert capa.status == "approved" and capa.approved_by == QA and capa.effectiveness_criteria
    with db.sessions() as session:
        capa = service.get_capa(session, number)
        (decision,) = capa.decisions
        assert decision.kind == "plan_approval" and decision.content_sm3 == service.content_hash(capa)
        (sig,) = esign.manifestations(session, service.DECISION_TYPE, str(decision.id))
        assert (sig.action, sig.meaning, sig.signer_login, sig.status) == ("qms.capa.approve", "approved", QA,
                                                                           "valid")  # fmt: skip

    _complete(db, number, 1, ORIGINATOR, (PNG, "温度记录.png"))
    assert _status(db, number) == "implementation"
    _complete(db, number, 2, OPERATOR)
    assert _status(db, number) == "effectiveness_pending"
    with db.sessions() as session:
        done = service.get_capa(session, number).actions[0]
        assert done.evidence_sm3 is not None and done.evidence_name == "温度记录.png"
        assert service.EVIDENCE.read(db, done.evidence_sm3) == PNG

    _verdict(db, number, "effective")
    capa = _capa(db, number)
    assert capa.status == "closed" and capa.closed_at is not None
    with db.sessions() as session:
        capa = service.get_capa(session, number)
        final = capa.decisions[-1]
        assert (final.kind, final.verdict, final.cycle) == ("effectiveness", "effective", 1)
        assert final.content_sm3 == service.content_hash(capa)
        (sig,) = esign.manifestations(session, service.DECISION_TYPE, str(final.id))
        assert (sig.action, sig.meaning, sig.status) == ("qms.capa.effectiveness", "verified", "valid")
        assert ledger.find_record(session, "qms_capa_decision", str(final.id)) is not None


@pytest.mark.clause("SH-6.2.4", "TJ-9.4")
def test_not_effective_goes_back_to_implementation_with_a_new_action(db: Database) -> None:
    number = _create(db, _body(db, actions=[_action()]))
    _approve(db, number)
    _complete(db, number, 1, ORIGINATOR)
    assert _status(db, number) == "effectiveness_pending"
    new = {"description": "增加提取温度自动采集", "owner": ORIGINATOR, "due_date": str(service.today() + timedelta(days=30)),
           "action_type": "equipment"}  # fmt: skip
    _verdict(db, number, "not_effective", new_action=new, evidence="第 2 批仍有漏记")
    with db.sessions() as session:
        capa = service.get_capa(session, number)
        assert (capa.status, capa.cycle) == ("implementation", 2)
        assert [(a.seq, a.cycle, a.status) for a in capa.actions] == [(1, 1, "done"), (2, 2, "open")]
        assert [(d.kind, d.verdict, d.cycle) for d in capa.decisions] == [
            ("plan_approval", "approved", 1), ("effectiveness", "not_effective", 1)]  # fmt: skip
    _complete(db, number, 2, ORIGINATOR)
    assert _status(db, number) == "effectiveness_pending"
    _verdict(db, number, "effective")
    with db.sessions() as session:
        capa = service.get_capa(session, number)
        assert capa.status == "closed"
        assert [(d.verdict, d.cycle) for d in capa.decisions][1:] == [("not_effective", 1), ("effective", 2)]


@pytest.mark.clause("SH-6.2.4", "TJ-9.4", "TJ-9.3")
def test_a_retraining_action_orders_retraining_when_the_plan_is_approved(db: Database) -> None:
    retrain = _action(action_type="retraining", description="提取岗位 SOP 再培训", document_number=SOP,
                      retrain=[OPERATOR, "liuyang"])  # fmt: skip
    number = _create(db, _body(db, actions=[retrain]))
    before = count_rows(db, RetrainingOrder)
    with db.sessions() as session:
        assert not session.scalar(select(func.count()).select_from(RetrainingOrder)
                                  .where(RetrainingOrder.source == number))  # fmt: skip
    _approve(db, number)
    with db.sessions() as session:
        orders = list(session.scalars(select(RetrainingOrder).where(RetrainingOrder.source == number)))
        assert len(orders) == 2 == count_rows(db, RetrainingOrder) - before
        assert {o.document_number for o in orders} == {SOP}
        action = service.get_capa(session, number).actions[0]
        assert sorted(service.retraining_order_ids(action)) == sorted(o.id for o in orders)


@pytest.mark.clause("SH-6.2.4", "TJ-9.4")
def test_an_oos_case_can_be_the_source_and_due_dates_feed_the_dashboard(db: Database) -> None:
    with db.sessions() as session:
        oos = session.scalar(text("SELECT code FROM lims_oos_cases ORDER BY id LIMIT 1"))
        before = service.dashboard(session)
    number = _create(db, _body(db, source_type="oos", source_ref=str(oos).lower(), kind="preventive",
                               due_date=service.today() - timedelta(days=1)))  # fmt: skip
    with db.sessions() as session:
        capa = service.get_capa(session, number)
        assert capa.source_ref == oos and service.is_overdue(capa)
        after = service.dashboard(session)
        later = service.dashboard(session, on=service.today() + timedelta(days=40))
    assert after.by_status["draft"] == before.by_status["draft"] + 1
    assert after.overdue == before.overdue + 1 and after.open == before.open + 1
    assert after.ageing["0-30"] == before.ageing["0-30"] + 1
    assert later.ageing["31-60"] >= 1


# --- the guards ----------------------------------------------------------------------------------------------


@pytest.mark.clause("SH-6.2.4", "TJ-9.4", "SH-7.1.4")
def test_the_originator_may_not_approve_their_own_capa(db: Database) -> None:
    number = _create(db, login=QA)
    _refused(db, service.CapaDutiesNotSegregated, lambda uow, who: service.approve(uow, who, number, CapaApprove(
        effectiveness_criteria="x", effectiveness_due=service.today(), password=DEMO_PASSWORD, login=QA)),
        QA, "wrote a CAPA plan")  # fmt: skip
    assert _status(db, number) == "draft"


@pytest.mark.clause("SH-6.2.4", "TJ-9.4", "SH-7.1.4")
def test_a_qa_originator_may_not_sign_the_effectiveness_of_their_own_capa(db: Database) -> None:
    with UnitOfWork(db, actor(db, "sysadmin"), reason="a second QA reviewer for the test") as uow:
        identity.create_user(uow, UserCreate(login="qianli", full_name="钱丽", employee_no="E2002", department="质量保证部",
                                             position="QA", password=DEMO_PASSWORD, roles=["qa_reviewer"]))  # fmt: skip
        uow.commit()
    number = _create(db, _body(db, actions=[_action(owner="qianli")]), login="qianli")
    _approve(db, number)
    _complete(db, number, 1, "qianli")
    verdict = EffectivenessVerdict(verdict="effective", evidence="x", password=DEMO_PASSWORD, login="qianli")
    _refused(db, service.CapaDutiesNotSegregated,
             lambda uow, who: service.record_effectiveness(uow, who, number, verdict), "qianli", "originator")  # fmt: skip
    assert _status(db, number) == "effectiveness_pending"


@pytest.mark.clause("SH-6.2.4", "TJ-9.4")
def test_approval_needs_qa_a_plan_with_actions_and_the_right_password(db: Database) -> None:
    number = _create(db, _body(db, actions=[]))
    approve = CapaApprove(effectiveness_criteria="x", effectiveness_due=service.today(), password=DEMO_PASSWORD,
                          login=QA)  # fmt: skip
    _refused(db, NotPermitted, lambda uow, who: service.approve(uow, who, number, approve), OPERATOR)
    _refused(db, service.CapaTransitionRefused, lambda uow, who: service.approve(uow, who, number, approve), QA,
             "at least one action")  # fmt: skip
    full = _create(db)
    wrong = approve.model_copy(update={"password": "wrong"})
    before = count_rows(db, CapaDecision)
    with pytest.raises(AuthenticationFailed), UnitOfWork(db, principal(db, QA).actor) as uow:
        service.approve(uow, principal(db, QA), full, wrong)
    assert count_rows(db, CapaDecision) == before and _status(db, full) == "draft"
    past = approve.model_copy(update={"effectiveness_due": service.today() - timedelta(days=1)})
    _refused(db, ValidationFailed, lambda uow, who: service.approve(uow, who, full, past), QA, "past")


@pytest.mark.clause("SH-6.2.4", "TJ-9.4")
def test_only_the_owner_or_qa_completes_an_action(db: Database) -> None:
    number = _create(db)
    _refused(db, service.CapaTransitionRefused,
             lambda uow, who: service.complete_action(uow, who, number, 1, "done"), ORIGINATOR, "completed")  # fmt: skip
    _approve(db, number)
    _refused(db, NotPermitted, lambda uow, who: service.complete_action(uow, who, number, 1, "done"), OPERATOR,
             "owner")  # fmt: skip
    _refused(
        db, ValidationFailed, lambda uow, who: service.complete_action(uow, who, number, 1, "  "), ORIGINATOR
    )
    _refused(db, ValidationFailed, lambda uow, who: service.complete_action(uow, who, number, 1, "ok",
                                                                             (b"MZ\x90\x00", "tool.exe")), ORIGINATOR)  # fmt: skip
    _refused(db, NotFound, lambda uow, who: service.complete_action(uow, who, number, 9, "ok"), ORIGINATOR)
    _complete(db, number, 2, QA)  # QA may complete anyone's action
    _refused(db, Conflict, lambda uow, who: service.complete_action(uow, who, number, 2, "again"), OPERATOR)


@pytest.mark.clause("SH-6.2.4", "TJ-9.4")
def test_the_effectiveness_check_waits_for_every_action_and_not_for_the_originator(db: Database) -> None:
    number = _create(db)
    _approve(db, number)
    _complete(db, number, 1, ORIGINATOR)
    effective = EffectivenessVerdict(verdict="effective", evidence="x", password=DEMO_PASSWORD, login=QA)
    _refused(db, service.CapaTransitionRefused,
             lambda uow, who: service.record_effectiveness(uow, who, number, effective), QA, "not possible now")  # fmt: skip
    _complete(db, number, 2, OPERATOR)
    _refused(
        db,
        NotPermitted,
        lambda uow, who: service.record_effectiveness(uow, who, number, effective),
        ORIGINATOR,
    )
    _verdict(db, number, "effective")
    _refused(db, service.CapaTransitionRefused,
             lambda uow, who: service.record_effectiveness(uow, who, number, effective), QA)  # fmt: skip


@pytest.mark.clause("SH-6.2.4", "TJ-9.4", "TJ-6.4.4")
def test_bad_input_is_refused_and_changes_nothing(db: Database) -> None:
    for source_type, ref, error in (
        ("deviation", "DEV-1999-0001", NotFound),
        ("oos", "OOS0000-0000", NotFound),
    ):
        body = _body(db, source_type=source_type, source_ref=ref)
        _refused(db, error, lambda uow, who, body=body: service.create_capa(uow, who, body), ORIGINATOR)
    for bad in (_body(db, owner="nobody"), _body(db, actions=[_action(owner="zhengxue")]),
                _body(db, actions=[_action(action_type="retraining", document_number="SOP-XX-999", retrain=["lina"])])):  # fmt: skip
        _refused(db, (NotFound, ValidationFailed), lambda uow, who, bad=bad: service.create_capa(uow, who, bad),
                 ORIGINATOR)  # fmt: skip
    _refused(db, NotPermitted, lambda uow, who: service.create_capa(uow, who, _body(db)), "inspector")
    with pytest.raises(ValueError, match="names the people"):
        _action(action_type="retraining", document_number=SOP)
    with pytest.raises(ValueError, match="new action"):
        EffectivenessVerdict(verdict="not_effective", evidence="x", password="p")


@pytest.mark.clause("SH-6.2.4", "TJ-9.4")
def test_drafts_change_actions_are_voided_and_qa_cancels_with_a_reason(db: Database) -> None:
    number = _create(db)
    who = principal(db, ORIGINATOR)
    with UnitOfWork(db, who.actor) as uow:
        service.void_action(uow, who, number, 2, "重复的措施")
        service.add_action(uow, who, number, ActionAdd.model_validate(
            {"description": "新增巡检", "owner": OPERATOR, "due_date": str(service.today())}))  # fmt: skip
        uow.commit()
    with db.sessions() as session:
        capa = service.get_capa(session, number)
        assert [(a.seq, a.status) for a in capa.actions] == [(1, "open"), (2, "voided"), (3, "open")]
    _refused(db, NotPermitted, lambda uow, w: service.cancel(uow, w, number, "不再需要"), ORIGINATOR)
    _refused(db, ValidationFailed, lambda uow, w: service.cancel(uow, w, number, " "), QA)
    qa = principal(db, QA)
    with UnitOfWork(db, qa.actor) as uow:
        service.cancel(uow, qa, number, "与 CAPA 合并处理")
        uow.commit()
    capa = _capa(db, number)
    assert capa.status == "cancelled" and capa.cancel_reason == "与 CAPA 合并处理"
    _refused(db, service.CapaTransitionRefused, lambda uow, w: service.cancel(uow, w, number, "again"), QA)
    _refused(db, service.CapaTransitionRefused, lambda uow, w: service.void_action(uow, w, number, 1, "x1"),
             ORIGINATOR)  # fmt: skip


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("SH-6.2.4", "SH-7.1.3")
def test_signed_decisions_are_append_only_in_the_database(db: Database) -> None:
    number = _create(db)
    _approve(db, number)
    for statement in ("UPDATE qms_capa_decisions SET verdict = 'approved'", "DELETE FROM qms_capa_decisions",
                      "DELETE FROM qms_capas"):  # fmt: skip
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as connection:
            connection.execute(text(statement))
