"""Risk assessment by FMEA, read like the SOP: QA drafts an assessment of a change control, scores its failure
modes (RPN = S × O × D, computed and kept by the database), gives every failure mode at or above a threshold its
action (text or a CAPA) before review, and residual scores below the threshold before approval; another QA person —
never the author — approves the revision by signature on the SM3 of its content; an approved assessment re-opens as
a new revision, its approved content kept in the decision. Every refusal changes nothing (SH-6.2.4, SH-7.1.4)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import audit_entries, behind_the_apps_back, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import crypto, ledger
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotFound, NotPermitted
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import risks as service
from pharmatrace.qms.risk_models import RiskAssessment, RiskDecision, RiskItem
from pharmatrace.qms.risk_schemas import AssessmentApprove, AssessmentCreate, RiskItemInput
from pharmatrace.storage.engine import Database

AUTHOR, QP, OTHER_QP = "chenjing", "zhaomin", "qianyu"


def _do(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
    return getattr(result, "number", result)


def _counts(db: Database) -> tuple[int, ...]:
    return tuple(count_rows(db, m) for m in (RiskAssessment, RiskItem, RiskDecision, Signature))


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


def _item(**changes: Any) -> RiskItemInput:
    data: dict[str, Any] = {"step": "灌装", "failure_mode": "装量偏低", "effect": "含量不足", "cause": "泵磨损",
                            "controls": "在线称重抽检", "severity": 6, "occurrence": 4, "detection": 5}  # fmt: skip
    data.update(changes)
    return RiskItemInput.model_validate(data)


def _assessment(db: Database, **changes: Any) -> str:
    data: dict[str, Any] = {
        "title": "灌装机更换风险评估",
        "subject_kind": "process",
        "subject_ref": "灌装工序",
    }
    data.update(changes)
    return str(
        _do(db, AUTHOR, lambda uow, who: service.create_assessment(uow, who, AssessmentCreate(**data)))
    )


def _approve(uow: UnitOfWork, who: Any, number: str, password: str = DEMO_PASSWORD) -> Any:
    return service.approve(
        uow, who, number, AssessmentApprove(password=password, login=who.login, comment="同意")
    )


def _get(db: Database, number: str) -> RiskAssessment:
    with db.sessions() as session:
        found = service.get_assessment(session, number)
        session.expunge_all()
        return found


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4")
def test_an_fmea_goes_from_draft_through_review_to_signed_approval_and_a_new_revision(db: Database) -> None:
    with db.sessions() as session:
        change = session.scalar(text("SELECT number FROM qms_changes ORDER BY id LIMIT 1"))
        capa = session.scalar(text("SELECT number FROM qms_capas ORDER BY id LIMIT 1"))
    assert change and capa
    number = _assessment(db, subject_kind="change", subject_ref=change.lower(), title="变更风险评估")
    assert number.startswith("RA-") and _get(db, number).subject_ref == change
    _do(db, AUTHOR, lambda uow, who: service.add_item(uow, who, number, _item()))  # RPN 120: high
    _do(db, AUTHOR, lambda uow, who: service.add_item(uow, who, number, _item(severity=9, occurrence=1, detection=2,
                                                                            failure_mode="胶塞漏压")))  # fmt: skip
    _do(db, AUTHOR, lambda uow, who: service.add_item(uow, who, number, _item(severity=3, occurrence=2, detection=2,
                                                                            failure_mode="标签歪斜")))  # fmt: skip
    with db.sessions() as session:
        a = service.get_assessment(session, number)
        assert [(i.seq, i.rpn) for i in a.items] == [(1, 120), (2, 18), (3, 12)]
        assert [service.needs_action(a, i) for i in a.items] == [
            True,
            True,
            False,
        ]  # S 9 ≥ severity threshold
        m = service.matrix(a)
        assert (m.before.high, m.before.medium, m.before.low, m.unmitigated) == (1, 0, 2, 3)
        assert sum(map(sum, m.heat)) == 3 and m.heat[0][0] == 1  # S 9–10, O 1–2
    with db.sessions() as session:
        assert [a.number for a in service.risks_for(session, "change", change.lower())] == [number]

    # SH-6.2.4: no review while an item at or above a threshold has no action
    _refused(db, Conflict, lambda uow, who: service.submit(uow, who, number), AUTHOR, "1, 2 of")
    _do(db, AUTHOR, lambda uow, who: service.update_item(uow, who, number, 1, _item(action="更换计量泵", capa_number=capa)))  # fmt: skip
    _do(db, AUTHOR, lambda uow, who: service.update_item(uow, who, number, 2, _item(
        severity=9, occurrence=1, detection=2, failure_mode="胶塞漏压", action="压塞后在线检测")))  # fmt: skip
    _do(db, AUTHOR, lambda uow, who: service.void_item(uow, who, number, 3, "与第 1 项重复"))
    _do(db, AUTHOR, lambda uow, who: service.submit(uow, who, number))
    assert _get(db, number).status == "in_review"

    # approval: no residual scores yet; then the author may not approve their own assessment
    _refused(db, Conflict, lambda uow, who: _approve(uow, who, number), QP, "residual")
    _refused(
        db,
        Conflict,
        lambda uow, who: service.update_item(uow, who, number, 1, _item()),
        AUTHOR,
        "not possible",
    )
    _do(db, QP, lambda uow, who: service.return_to_draft(uow, who, number, "补充剩余风险评分"))
    _do(db, AUTHOR, lambda uow, who: service.update_item(uow, who, number, 1, _item(
        action="更换计量泵", capa_number=capa, residual_severity=6, residual_occurrence=2, residual_detection=5)))  # fmt: skip
    _do(db, AUTHOR, lambda uow, who: service.update_item(uow, who, number, 2, _item(
        severity=9, occurrence=1, detection=2, failure_mode="胶塞漏压", action="压塞后在线检测",
        residual_severity=9, residual_occurrence=1, residual_detection=1)))  # fmt: skip
    _do(db, AUTHOR, lambda uow, who: service.submit(uow, who, number))
    # ICH Q9: failure mode 2 is still of severity 9 after its action: its RPN alone does not accept it
    _refused(db, Conflict, lambda uow, who: _approve(uow, who, number), QP, "2 of")
    _do(db, QP, lambda uow, who: service.return_to_draft(uow, who, number, "说明剩余风险可接受的理由"))
    _do(db, AUTHOR, lambda uow, who: service.update_item(uow, who, number, 2, _item(
        severity=9, occurrence=1, detection=2, failure_mode="胶塞漏压", action="压塞后在线检测",
        residual_severity=9, residual_occurrence=1, residual_detection=1,
        residual_acceptance="在线检测剔除漏压瓶，剩余风险可接受")))  # fmt: skip
    _do(db, AUTHOR, lambda uow, who: service.submit(uow, who, number))
    _refused(db, NotPermitted, lambda uow, who: _approve(uow, who, number), AUTHOR, "author")
    _refused(db, AuthenticationFailed, lambda uow, who: _approve(uow, who, number, "wrong"), QP)
    _refused(db, NotPermitted, lambda uow, who: _approve(uow, who, number), "zhangwei")
    _do(db, QP, lambda uow, who: _approve(uow, who, number))

    with db.sessions() as session:
        a = service.get_assessment(session, number)
        assert (a.status, a.approved_by, a.revision) == ("approved", QP, 1)
        (decision,) = a.decisions
        assert decision.content_sm3 == service.content_hash(a) == crypto.sm3(decision.content.encode()).hex()
        assert [i["seq"] for i in json.loads(decision.content)["items"]] == [1, 2]  # the void one is out
        (sig,) = esign.manifestations(session, service.DECISION_TYPE, str(decision.id))
        assert (sig.action, sig.meaning, sig.signer_login, sig.status) == (
            "qms.risk.approve",
            "approved",
            QP,
            "valid",
        )
        assert ledger.find_record(session, "qms_risk_decision", str(decision.id)) is not None
        m = service.matrix(a)
        assert (m.before.high, m.after.high, m.after.medium, m.after.low, m.unmitigated) == (1, 0, 1, 1, 0)
        approved_content, assessment_id = decision.content, a.id
    trail = audit_entries(db, object_type="qms_risk_assessment", object_id=str(assessment_id))
    assert trail[0].event == "create" and all(e.reason for e in trail)

    # an approved assessment is not changed; it re-opens as the next revision, the approval kept
    _refused(
        db, Conflict, lambda uow, who: service.add_item(uow, who, number, _item()), AUTHOR, "not possible"
    )
    _refused(db, Conflict, lambda uow, who: _approve(uow, who, number), OTHER_QP, "not possible")
    _do(db, AUTHOR, lambda uow, who: service.revise(uow, who, number, "新增灌装速度提升后的再评估"))
    _do(
        db,
        AUTHOR,
        lambda uow, who: service.add_item(uow, who, number, _item(severity=2, occurrence=2, detection=2)),
    )
    with db.sessions() as session:
        a = service.get_assessment(session, number)
        assert (a.status, a.revision, a.approved_by) == ("draft", 2, None)
        assert a.decisions[0].content == approved_content and a.decisions[0].revision == 1
    _do(db, AUTHOR, lambda uow, who: service.submit(uow, who, number))
    _do(db, OTHER_QP, lambda uow, who: _approve(uow, who, number))
    assert [d.revision for d in _get_decisions(db, number)] == [1, 2]
    _do(db, AUTHOR, lambda uow, who: service.withdraw(uow, who, number, "工艺取消"))
    assert _get(db, number).status == "withdrawn"


def _get_decisions(db: Database, number: str) -> list[RiskDecision]:
    with db.sessions() as session:
        found = list(service.get_assessment(session, number).decisions)
        session.expunge_all()
        return found


@pytest.mark.clause("SH-6.2.4")
def test_unknown_changes_deviations_and_capas_and_bad_scores_are_refused(db: Database) -> None:
    create = service.create_assessment
    for kind, ref in (("change", "CC-1999-0001"), ("deviation", "DEV-1999-0001")):
        body = AssessmentCreate(title="评估", subject_kind=kind, subject_ref=ref)  # type: ignore[arg-type]
        _refused(db, NotFound, lambda uow, who, body=body: create(uow, who, body), AUTHOR, "1999")
    with db.sessions() as session:
        deviation = session.scalar(text("SELECT number FROM deviations ORDER BY id LIMIT 1"))
    number = _assessment(db, subject_kind="deviation", subject_ref=deviation)
    _refused(db, NotFound, lambda uow, who: service.add_item(uow, who, number, _item(capa_number="CAPA-1999-0001")),
             AUTHOR, "CAPA-1999-0001")  # fmt: skip
    _refused(db, NotPermitted, lambda uow, who: service.add_item(uow, who, number, _item()), "zhangwei")
    _refused(db, NotFound, lambda uow, who: service.void_item(uow, who, number, 9, "不存在"), AUTHOR)
    for bad in ({"severity": 0}, {"occurrence": 11}, {"residual_severity": 3}, {"failure_mode": " "}):
        with pytest.raises(ValueError, match=r"greater than|less than|three residual|at least 1 character"):
            _item(**bad)
    with pytest.raises(ValueError, match="number"):
        AssessmentCreate(title="评估", subject_kind="change", subject_ref="")
    _refused(db, Conflict, lambda uow, who: service.submit(uow, who, number), AUTHOR, "no failure mode")


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("SH-6.2.4", "SH-7.1.3")
def test_the_database_keeps_the_rpn_the_scores_and_the_signed_approval(db: Database) -> None:
    with db.sessions() as session:
        demo = session.scalar(select(RiskAssessment).where(RiskAssessment.status == "approved"))
        assert demo is not None
        number, author = demo.number, demo.author
        assert (
            len(service.live_items(demo)) == 5 and demo.decisions and demo.decisions[0].decided_by != author
        )
        linked = [i for i in demo.items if i.capa_number]
        assert linked and linked[0].rpn >= 100 and linked[0].residual_rpn is not None
        assert linked[0].residual_rpn < demo.action_threshold
    item = f"(SELECT id FROM qms_risk_items WHERE seq = 1 AND assessment_id = (SELECT id FROM qms_risk_assessments WHERE number = '{number}'))"
    for statement in (
        f"UPDATE qms_risk_items SET rpn = rpn + 1 WHERE id = {item}",
        f"UPDATE qms_risk_items SET severity = 11, rpn = 11 * occurrence * detection WHERE id = {item}",
        f"UPDATE qms_risk_items SET detection = 0, rpn = 0 WHERE id = {item}",
        f"UPDATE qms_risk_items SET residual_severity = 2 WHERE id = {item}",
        "UPDATE qms_risk_items SET residual_rpn = NULL WHERE capa_number IS NOT NULL",
        f"UPDATE qms_risk_assessments SET approved_by = author WHERE number = '{number}'",
        "UPDATE qms_risk_decisions SET comment = 'x'",
        "DELETE FROM qms_risk_decisions",
        "DELETE FROM qms_risk_items",
        "DELETE FROM qms_risk_assessments",
    ):
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as connection:
            connection.execute(text(statement))
    with behind_the_apps_back(db) as connection:  # a consistent change passes: the CHECK is S × O × D itself
        connection.execute(
            text(f"UPDATE qms_risk_items SET occurrence = 1, rpn = severity * detection WHERE id = {item}")
        )
