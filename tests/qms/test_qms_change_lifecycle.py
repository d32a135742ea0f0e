"""Change control as its SOP reads: a change is proposed with its impact and risk assessment and the items it
affects, approved by the signature of every function it needs (never by its proposer), implemented through tasks
with evidence (a computerized-system change validated), verified effective and closed by QA's signature
(TJ-10.3, SH-6.2.4). Every refusal says why and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError as PydanticError
from qms_change_steps import (
    PROPOSER,
    QA,
    QC,
    SOP,
    SYSTEM_OWNER,
    add_task,
    approve,
    approved_change,
    assessment,
    close,
    complete,
    proposal,
    propose,
    snapshot,
    start,
    status,
    submit,
    to_verification,
)
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from helpers import behind_the_apps_back, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import changes
from pharmatrace.qms.change_models import ChangeDecision, ChangeItem, ChangeRequest
from pharmatrace.qms.change_schemas import ChangeApprove, ChangeReject, TaskCreate
from pharmatrace.storage.engine import Database

CS_CHANGE = {
    "title": "PharmaTrace 升级至 1.4：电子批记录新增偏差联动",
    "description": "升级 PharmaTrace 应用与数据库结构（迁移 0028）。",
    "justification": "质量管理系统需要变更控制模块（TJ-10.3）。",
    "change_type": "computerized_system",
    "impacts": assessment(validation="medium", computerized_systems="medium", training="low"),
    "items": [{"kind": "system_component", "reference": "PHARMATRACE-QMS"}],
}


# --- the whole path ---------------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-10.3", "SH-6.2.4")
def test_a_document_change_goes_from_proposal_to_closure(db: Database) -> None:
    number = propose(db)
    assert number.startswith(f"CC-{changes.today().year}-")
    assert status(db, number) == "draft"
    submit(db, number)
    with db.sessions() as session:
        change = changes.get_change(session, number)
        assert change.status == "submitted"
        assert change.change_class == change.suggested_class == "minor"
        assert change.content_sm3 == changes.content_hash(change)
        assert changes.required_of(change) == ["qa"]
        assert [i.name for i in change.items] == ["浓缩标准操作规程"]
    approve(db, number, "qa", QA)
    assert status(db, number) == "approved"
    seq = add_task(db, number)
    start(db, number)
    assert status(db, number) == "in_implementation"
    complete(db, number, seq)
    to_verification(db, number)
    assert status(db, number) == "verification"
    close(db, number)
    with db.sessions() as session:
        change = changes.get_change(session, number)
        assert change.status == "closed" and change.closed_by == QA
        kinds = [(d.kind, d.function, d.decided_by) for d in change.decisions]
        assert kinds == [("approve", "qa", QA), ("close", None, QA)]
        for decision in change.decisions:  # each decision is signed and names the hash of what was approved
            assert decision.content_sm3 == change.content_sm3
            views = esign.manifestations(session, changes.DECISION_TYPE, str(decision.id))
            assert [(v.meaning, v.signer_login, v.status) for v in views] == [("approved", QA, "valid")]
        detail = changes.change_detail(session, change)
        assert detail.approved_functions == ["qa"] and detail.tasks[0].done_by == PROPOSER


@pytest.mark.clause("TJ-10.3")
def test_a_computerized_system_change_is_validated_before_verification(db: Database) -> None:
    number = propose(db, proposal(**CS_CHANGE))
    submit(db, number)
    with db.sessions() as session:
        change = changes.get_change(session, number)
        assert changes.required_of(change) == ["qa", "system_owner"]
        assert change.change_class == "moderate"
    approve(db, number, "qa", QA)
    assert status(db, number) == "submitted"  # the system owner has not approved yet
    approve(db, number, "system_owner", SYSTEM_OWNER)
    assert status(db, number) == "approved"
    action = add_task(db, number)
    before = snapshot(db, number)
    with pytest.raises(Conflict, match="validation task"):
        start(db, number)
    assert snapshot(db, number) == before
    validation = add_task(db, number, owner=QA, kind="validation")
    start(db, number)
    complete(db, number, action)
    before = snapshot(db, number)
    with pytest.raises(ValidationFailed, match="validation report"):
        complete(db, number, validation, login=QA)
    with pytest.raises(Conflict, match="still open"):
        to_verification(db, number)
    assert snapshot(db, number) == before
    complete(db, number, validation, login=QA, validation_ref="VR-PT-2026-014 OQ/PQ 报告")
    to_verification(db, number)
    close(db, number)
    assert status(db, number) == "closed"


# --- the rules the assessment follows ---------------------------------------------------------------------------


@pytest.mark.clause("TJ-10.3")
def test_required_approvers_derive_from_type_class_items_and_impact() -> None:
    need = changes.required_functions
    assert need("document", "minor", {"document"}, set()) == ["qa"]
    assert need("process", "moderate", {"recipe"}, set()) == ["qa", "production"]
    assert need("equipment", "minor", set(), set()) == ["qa", "production"]
    assert need("other", "minor", {"equipment"}, set()) == ["qa", "production"]
    assert need("specification", "minor", set(), set()) == ["qa", "qc"]
    assert need("analytical_method", "moderate", set(), set()) == ["qa", "qc"]
    assert need("computerized_system", "minor", set(), set()) == ["qa", "system_owner"]
    assert need("document", "minor", set(), {"computerized_systems"}) == ["qa", "system_owner"]
    assert need("supplier", "major", set(), set()) == ["qa", "production", "qc"]


@pytest.mark.clause("TJ-10.3")
def test_the_class_is_suggested_from_the_impact_answers() -> None:
    from pharmatrace.qms.change_schemas import ImpactIn

    def suggest(**impacted: str) -> str:
        return changes.suggest_class([ImpactIn.model_validate(i) for i in assessment(**impacted)])

    assert suggest() == "minor"
    assert suggest(documents="low") == "minor"
    assert suggest(documents="medium") == "moderate"
    assert suggest(product_quality="low") == "moderate"
    assert suggest(regulatory="low") == "major"
    assert suggest(supply="high") == "major"


# --- the guards -------------------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-10.3")
def test_a_change_is_not_submitted_without_its_assessment(db: Database) -> None:
    number = propose(db, proposal(impacts=assessment()[:5]))
    before = snapshot(db, number)
    with pytest.raises(Conflict, match="assessment is incomplete"):
        submit(db, number)
    assert snapshot(db, number) == before and status(db, number) == "draft"


@pytest.mark.clause("TJ-10.3")
def test_a_class_other_than_the_suggested_one_needs_its_rationale(db: Database) -> None:
    number = propose(db, proposal(change_class="major"))
    before = snapshot(db, number)
    with pytest.raises(Conflict, match="rationale"):
        submit(db, number)
    assert snapshot(db, number) == before
    overridden = propose(
        db, proposal(change_class="moderate", class_rationale="涉及无菌工艺岗位，按中等变更管理")
    )
    submit(db, overridden)
    with db.sessions() as session:
        change = changes.get_change(session, overridden)
        assert (change.change_class, change.suggested_class) == ("moderate", "minor")


@pytest.mark.clause("TJ-10.3", "SH-7.1.4.a")
def test_the_proposer_never_approves_their_own_change(db: Database) -> None:
    number = propose(db, proposal(**CS_CHANGE), login=SYSTEM_OWNER)
    submit(db, number, login=SYSTEM_OWNER)
    before = snapshot(db, number)
    with pytest.raises(changes.ChangeDutiesNotSegregated):
        approve(db, number, "system_owner", SYSTEM_OWNER)
    assert snapshot(db, number) == before


@pytest.mark.clause("TJ-10.3", "SH-7.1.4.a")
def test_an_approval_needs_the_functions_permission_and_a_function_the_change_needs(db: Database) -> None:
    number = propose(db)
    submit(db, number)
    before = snapshot(db, number)
    with pytest.raises(NotPermitted):  # the QC reviewer is no QA approver
        approve(db, number, "qa", QC)
    with pytest.raises(Conflict, match="does not need"):  # a document change needs no QC approval
        approve(db, number, "qc", QC)
    assert snapshot(db, number) == before


@pytest.mark.clause("TJ-10.3")
def test_transitions_from_the_wrong_state_are_refused(db: Database) -> None:
    number = propose(db)
    before = snapshot(db, number)
    with pytest.raises(Conflict, match="cannot be approved"):
        approve(db, number, "qa", QA)
    with pytest.raises(Conflict, match="cannot be closed"):
        close(db, number)
    with pytest.raises(Conflict, match="not possible now"):
        add_task(db, number)
    assert snapshot(db, number) == before
    submit(db, number)
    with pytest.raises(Conflict, match="Only a draft"):
        who = principal(db, PROPOSER)
        with UnitOfWork(db, who.actor) as uow:
            changes.update_change(uow, who, number, proposal(title="改个标题"))  # type: ignore[arg-type]
    approve(db, number, "qa", QA)
    before = snapshot(db, number)
    with pytest.raises(Conflict, match="Plan the implementation tasks"):
        start(db, number)
    assert snapshot(db, number) == before


@pytest.mark.clause("TJ-10.3")
def test_a_change_with_open_tasks_is_neither_verified_nor_closed(db: Database) -> None:
    number = approved_change(db)
    first = add_task(db, number)
    add_task(db, number, owner=QA)
    start(db, number)
    complete(db, number, first)
    before = snapshot(db, number)
    with pytest.raises(Conflict, match="1 implementation task"):
        to_verification(db, number)
    with pytest.raises(Conflict, match="cannot be closed"):
        close(db, number)
    assert snapshot(db, number) == before


@pytest.mark.clause("TJ-10.3")
def test_only_the_owner_or_qa_completes_a_task_with_its_evidence(db: Database) -> None:
    number = approved_change(db)
    seq = add_task(db, number, owner=QA)
    start(db, number)
    before = snapshot(db, number)
    with pytest.raises(NotPermitted):
        complete(db, number, seq, login="zhangwei")
    assert snapshot(db, number) == before
    who = principal(db, QA)
    past = TaskCreate(title="过去的任务", owner=QA, due_date=changes.today() - timedelta(days=1))
    with pytest.raises(ValidationFailed), UnitOfWork(db, who.actor) as uow:
        changes.add_task(uow, who, number, past)
    with pytest.raises(ValidationFailed, match="No active user"), UnitOfWork(db, who.actor) as uow:
        changes.add_task(uow, who, number, TaskCreate(title="无人任务", owner="nobody",
                                                      due_date=changes.today()))  # fmt: skip
    assert snapshot(db, number) == before


@pytest.mark.clause("TJ-10.3")
def test_a_signed_rejection_with_its_reason_ends_the_change(db: Database) -> None:
    number = propose(db)
    submit(db, number)
    who = principal(db, QA)
    reason = "修订内容与工艺验证结论不一致"
    with pytest.raises(PydanticError, match="password"):  # a rejection is a signed decision
        ChangeReject.model_validate({"function": "qa", "reason": reason})
    with pytest.raises(AuthenticationFailed), UnitOfWork(db, who.actor) as uow:
        changes.reject(
            uow, who, number, ChangeReject(function="qa", reason=reason, password="wrong-password", login=QA)
        )
    assert status(db, number) == "submitted"  # only the failed signature is recorded, as a security event
    with db.sessions() as session:
        assert session.scalar(select(ChangeDecision).where(ChangeDecision.kind == "reject")) is None
    with UnitOfWork(db, who.actor) as uow:
        changes.reject(
            uow, who, number, ChangeReject(function="qa", reason=reason, password=DEMO_PASSWORD, login=QA)
        )
        uow.commit()
    assert status(db, number) == "rejected"
    with db.sessions() as session:
        decision = session.scalars(select(ChangeDecision).where(ChangeDecision.kind == "reject")).one()
        [signature] = esign.signatures_for(session, changes.DECISION_TYPE, str(decision.id))
        assert (signature.action, signature.meaning, signature.signer_login) == (
            "qms.change.reject.qa", "rejected", QA)  # fmt: skip
    before = snapshot(db, number)
    with pytest.raises(Conflict, match="cannot be approved"):
        approve(db, number, "qa", QA)
    assert snapshot(db, number) == before


@pytest.mark.clause("TJ-10.3")
def test_a_cancelled_change_keeps_its_record(db: Database) -> None:
    number = approved_change(db)
    proposer = principal(db, PROPOSER)
    before = snapshot(db, number)
    with pytest.raises(NotPermitted), UnitOfWork(db, proposer.actor, reason="不再需要") as uow:
        changes.cancel(uow, proposer, number, "不再需要")  # past the draft only QA cancels
    assert snapshot(db, number) == before
    qa = principal(db, QA)
    with UnitOfWork(db, qa.actor, reason="工艺路线调整，变更不再需要") as uow:
        changes.cancel(uow, qa, number, "工艺路线调整，变更不再需要")
        uow.commit()
    with db.sessions() as session:
        change = changes.get_change(session, number)
        assert change.status == "cancelled" and len(change.decisions) == 1


# --- affected items ---------------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-10.3")
def test_an_unknown_affected_item_is_refused(db: Database) -> None:
    before = count_rows(db, ChangeRequest), count_rows(db, ChangeItem)
    for kind, code in (("document", "SOP-XX-999"), ("equipment", "NO-SUCH-01"), ("recipe", "MR-NONE"),
                       ("specification", "QS-NONE-001")):  # fmt: skip
        with pytest.raises(changes.UnknownAffectedItem, match=code):
            propose(db, proposal(items=[{"kind": kind, "reference": code}]))
    assert (count_rows(db, ChangeRequest), count_rows(db, ChangeItem)) == before
    number = propose(db, proposal(change_type="equipment", items=[
        {"kind": "equipment", "reference": "FD-01"}, {"kind": "recipe", "reference": "MR-DH-001"},
        {"kind": "specification", "reference": "QS-FG-DH-001"}, {"kind": "document", "reference": SOP},
        {"kind": "validation", "reference": "VMP-2026-FD01"}]))  # fmt: skip
    with db.sessions() as session:
        items = {i.kind: i.name for i in changes.get_change(session, number).items}
        assert items["equipment"] == "冻干机" and items["validation"] == ""


# --- for other areas ------------------------------------------------------------------------------------------


@pytest.mark.clause("TJ-10.3")
def test_require_approved_change_lets_only_an_approved_change_through(db: Database) -> None:
    number = propose(db, proposal(**CS_CHANGE))
    with db.sessions() as session:
        with pytest.raises(NotFound):
            changes.require_approved_change(session, "CC-2000-0001")
        with pytest.raises(Conflict, match="only an approved change"):
            changes.require_approved_change(session, number)
    submit(db, number)
    approve(db, number, "qa", QA)
    with db.sessions() as session, pytest.raises(Conflict):
        changes.require_approved_change(session, number)
    approve(db, number, "system_owner", SYSTEM_OWNER)
    with db.sessions() as session:
        assert (
            changes.require_approved_change(session, number, change_type="computerized_system").number
            == number
        )
        with pytest.raises(Conflict, match="not a change of this kind"):
            changes.require_approved_change(session, number, change_type="equipment")


# --- the database holds the rules too ---------------------------------------------------------------------------


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-10.3", "SH-7.1.3.c")
def test_decisions_are_append_only_and_a_closed_change_needs_its_closure(db: Database) -> None:
    number = approved_change(db)
    with db.sessions() as session:
        change_id = changes.get_change(session, number).id
        decision_id = session.scalar(select(ChangeDecision.id).where(ChangeDecision.change_id == change_id))
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(
            text("UPDATE qms_change_decisions SET comment = 'x' WHERE id = :id"), {"id": decision_id}
        )
    with pytest.raises(IntegrityError), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE qms_changes SET status = 'closed' WHERE id = :id"), {"id": change_id})
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("DELETE FROM qms_changes WHERE id = :id"), {"id": change_id})


@pytest.mark.clause("TJ-10.3")
def test_the_dashboard_counts_by_status_age_and_overdue(db: Database) -> None:
    with db.sessions() as session:
        before = changes.dashboard(session)
    number = approved_change(db)
    add_task(db, number)
    propose(db)
    with db.sessions() as session:
        board = changes.dashboard(session)
        later = changes.dashboard(session, on=changes.today() + timedelta(days=45))
    assert board.by_status["approved"] == before.by_status["approved"] + 1
    assert board.by_status["draft"] == before.by_status["draft"] + 1
    assert board.open_total == before.open_total + 2
    assert board.ageing[0].count == before.ageing[0].count + 2
    assert later.overdue_changes >= 2 and later.overdue_tasks >= 1  # target in 30 days, task due in 10
    assert later.ageing[1].count >= 2  # 31–60 days old by then


@pytest.mark.clause("SH-7.1.4.d")
def test_a_wrong_password_is_refused_before_the_approval_changes_anything(db: Database) -> None:
    from pharmatrace.kernel.errors import AuthenticationFailed

    number = propose(db)
    submit(db, number)
    who = principal(db, QA)
    with pytest.raises(AuthenticationFailed), UnitOfWork(db, who.actor) as uow:
        changes.approve(uow, who, number, ChangeApprove(function="qa", password="wrong", login=QA))
        uow.commit()
    with db.sessions() as session:
        change = changes.get_change(session, number)
        assert change.status == "submitted" and change.decisions == []
