"""Document lifecycle (SH-6.3.3, TJ-9.2): draft → review → approval, the floor rule, supersession, withdrawal,
segregation of duties, rejection and periodic review — each read as the SOP of document control."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from test_documents_steps import (
    AUTHOR,
    CONTROLLER,
    QA_REVIEWER,
    QP,
    act,
    approve,
    create,
    effective,
    review,
    revise,
    submit,
)

from helpers import audit_entries, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import service
from pharmatrace.documents.events import VersionApproved
from pharmatrace.documents.models import DocumentDecision, DocumentVersion
from pharmatrace.documents.schemas import PeriodicReviewCreate, RejectDecision, WithdrawDecision
from pharmatrace.kernel import clock, events
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.schemas import UserCreate
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database


def _counts(db: Database) -> tuple[int, int, int]:
    with db.sessions() as session:
        return (
            int(session.scalar(select(func.count()).select_from(DocumentVersion)) or 0),
            int(session.scalar(select(func.count()).select_from(DocumentDecision)) or 0),
            int(session.scalar(select(func.count()).select_from(Signature)) or 0),
        )


def _state(db: Database, number: str, version: int, at: Any = None) -> str:
    with db.sessions() as session:
        return service.version_state(service.get_version(session, number, version), at)


@pytest.mark.clause("SH-6.3.3", "TJ-6.1")
def test_only_the_effective_version_opens_on_the_floor_and_a_refusal_names_the_current_one(
    db: Database,
) -> None:
    with db.sessions() as session:
        assert service.require_effective(session, "SOP-PR-007").version == 2  # the urgent change is in force
        assert service.require_floor_version(session, "SOP-PR-007", None).version == 2
        with pytest.raises(service.NotTheEffectiveVersion) as superseded:
            service.require_floor_version(session, "SOP-PR-007", 1)
        assert "Version 1 of SOP-PR-007 is Superseded" in str(superseded.value)
        assert "use the effective version 2" in str(superseded.value)
        with pytest.raises(service.NotTheEffectiveVersion) as in_review:
            service.require_floor_version(session, "SOP-PR-006", 2)  # the revision still in review
        assert "use the effective version 1" in str(in_review.value)
        assert service.require_floor_version(session, "SOP-PR-006", 1).version == 1


@pytest.mark.clause("SH-6.3.3", "TJ-9.2")
def test_qa_review_is_mandatory_for_a_gmp_document(db: Database) -> None:
    number = create(db)
    submit(db, number)
    before = _counts(db)
    with pytest.raises(service.TransitionRefused) as refused:
        approve(db, number)
    assert "QA must review version 1" in str(refused.value)
    assert _counts(db) == before and _state(db, number, 1) == "in_review" and effective(db, number) is None
    review(db, number)
    approve(db, number)
    assert effective(db, number) == 1


@pytest.mark.clause("TJ-9.2")
def test_a_document_outside_gmp_may_be_approved_without_qa_review(db: Database) -> None:
    number = create(db, CONTROLLER, doc_type="form", department="WH", gmp=False, title="来访人员登记表")
    submit(db, number, CONTROLLER)
    approve(db, number)
    assert number == "FRM-WH-001" and effective(db, number) == 1


@pytest.mark.clause("SH-7.1.4", "TJ-9.2")
def test_the_approver_differs_from_the_author(db: Database) -> None:
    number = create(db, CONTROLLER, title="文件编号管理规程", doc_type="policy", department="QA")
    submit(db, number, CONTROLLER)
    review(db, number)
    before = _counts(db)
    with pytest.raises(service.DutiesNotSegregated) as refused:
        approve(db, number, CONTROLLER)  # the document controller holds documents.control, but wrote it
    assert str(refused.value) == "The approver must be a different person from the author"
    assert _counts(db) == before and _state(db, number, 1) == "in_review"
    recorded = audit_entries(db, event="document.approve.refused")
    assert [(e.actor_login, e.reason) for e in recorded] == [(CONTROLLER, str(refused.value))]
    approve(db, number, QP)
    assert effective(db, number) == 1


@pytest.mark.clause("SH-7.1.4", "TJ-9.2")
def test_the_approver_differs_from_the_reviewer(db: Database) -> None:
    admin = principal(db, "sysadmin")
    with UnitOfWork(db, admin.actor, reason="a QA manager who both reviews and approves") as uow:
        user = identity.create_user(uow, UserCreate(
            login="qamanager", full_name="钱敏", employee_no="E2099", department="质量保证部", position="QA经理",
            password=DEMO_PASSWORD, roles=["qa_reviewer", "qa_release"],
        ))  # fmt: skip
        user.must_change_password = False
        uow.commit()
    number = create(db)
    submit(db, number)
    review(db, number, "qamanager")
    before = _counts(db)
    with pytest.raises(service.DutiesNotSegregated) as refused:
        approve(db, number, "qamanager")
    assert str(refused.value) == "The approver must be a different person from the reviewer"
    assert _counts(db) == before
    approve(db, number, QP)
    assert effective(db, number) == 1


@pytest.mark.clause("SH-6.3.3", "TJ-9.2")
def test_approving_version_2_supersedes_version_1_at_its_effective_from_and_not_before(db: Database) -> None:
    published: list[VersionApproved] = []

    def listen(_uow: UnitOfWork, event: VersionApproved) -> None:
        published.append(event)

    events.subscribe(VersionApproved, listen)
    try:
        assert revise(db, "SOP-PR-001") == 2
        submit(db, "SOP-PR-001")
        review(db, "SOP-PR-001")
        starts = clock.now() + timedelta(days=2)
        approve(db, "SOP-PR-001", effective_from=starts)
    finally:
        events._HANDLERS[VersionApproved].remove(listen)
    assert _state(db, "SOP-PR-001", 1) == "effective" and _state(db, "SOP-PR-001", 2) == "approved"
    assert _state(db, "SOP-PR-001", 1, starts - timedelta(seconds=1)) == "effective"
    assert _state(db, "SOP-PR-001", 1, starts) == "superseded"
    assert _state(db, "SOP-PR-001", 2, starts) == "effective"
    with db.sessions() as session:
        assert service.current_effective(session, "SOP-PR-001").version == 1  # type: ignore[union-attr]
        later = service.current_effective(session, "SOP-PR-001", starts + timedelta(hours=1))
        assert later is not None and later.version == 2
        v1 = service.get_version(session, "SOP-PR-001", 1).id
    assert len(published) == 1
    event = published[0]
    assert (event.number, event.version, event.previous_version_id) == ("SOP-PR-001", 2, v1)
    assert event.effective_from == starts


@pytest.mark.clause("SH-6.3.3", "TJ-9.2")
def test_a_withdrawn_document_opens_nowhere_on_the_floor(db: Database) -> None:
    body = WithdrawDecision(
        password=DEMO_PASSWORD, login=CONTROLLER, reason="包装间改造，本规程并入 SOP-CL-101"
    )
    act(db, CONTROLLER, lambda uow, who: service.withdraw(uow, who, "SOP-CL-107", body))
    with db.sessions() as session:
        with pytest.raises(service.NoEffectiveVersion) as refused:
            service.require_effective(session, "SOP-CL-107")
        assert str(refused.value) == "Document SOP-CL-107 was withdrawn and may not be used"
        with pytest.raises(service.NoEffectiveVersion):
            service.require_floor_version(session, "SOP-CL-107", 1)
        assert service.current_effective(session, "SOP-CL-107") is None
        version = service.get_version(session, "SOP-CL-107", 1)
        assert service.version_state(version) == "obsolete"
        withdrawal = service.decisions_of(session, version.document_id)[-1]
        signed = service.decision_public(session, withdrawal).signatures
    assert withdrawal.kind == "withdraw" and [(s.meaning, s.signer_login) for s in signed] == [
        ("approved", CONTROLLER)
    ]


@pytest.mark.clause("SH-6.3.3", "TJ-9.2")
def test_withdrawing_a_document_closes_its_open_revision(db: Database) -> None:
    body = WithdrawDecision(password=DEMO_PASSWORD, login=QP, reason="产品停产")
    act(db, QP, lambda uow, who: service.withdraw(uow, who, "SOP-PR-006", body))
    assert _state(db, "SOP-PR-006", 2) == "obsolete" and _state(db, "SOP-PR-006", 1) == "obsolete"
    with pytest.raises(service.TransitionRefused):
        revise(db, "SOP-PR-006")


@pytest.mark.clause("TJ-9.2")
def test_a_rejected_review_returns_the_draft_and_a_review_covers_only_the_content_it_saw(
    db: Database,
) -> None:
    number = create(db)
    submit(db, number)
    review(db, number)
    reason = "取样点描述不完整"
    act(db, QA_REVIEWER, lambda uow, who: service.reject(uow, who, number, RejectDecision(reason=reason)))
    assert _state(db, number, 1) == "draft"
    with db.sessions() as session:
        kinds = [
            (d.kind, d.reason)
            for d in service.decisions_of(session, service.get_document(session, number).id)
        ]
    assert kinds[-1] == ("reject", reason)
    from pharmatrace.documents.schemas import DraftUpdate

    edit = DraftUpdate(markdown="# 中间体取样标准操作规程\n\n1. 取样点：上、中、下三点。\n", reason=reason)
    act(db, AUTHOR, lambda uow, who: service.update_draft(uow, who, number, edit))
    submit(db, number)
    with pytest.raises(service.TransitionRefused):
        approve(db, number)  # the review was given on the earlier text
    review(db, number)
    approve(db, number)
    assert effective(db, number) == 1


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("SH-6.3.3")
def test_a_document_has_one_open_revision_at_a_time(db: Database) -> None:
    with pytest.raises(service.TransitionRefused) as refused:
        revise(db, "SOP-PR-006")  # version 2 is in review
    assert "already has an open version 2" in str(refused.value)
    who = principal(db, AUTHOR)
    with db.sessions() as session:
        document_id = service.get_document(session, "SOP-PR-006").id
    with UnitOfWork(db, who.actor) as uow, pytest.raises(IntegrityError):  # the database refuses it too
        uow.session.add(DocumentVersion(document_id=document_id, version=3, status="draft", markdown="x",
                                        search_text="x", author_id=who.user_id, created_at=clock.now(),
                                        created_by=AUTHOR, training_grace_days=0, training_required=True,
                                        change_summary="", change_control_ref=""))  # fmt: skip
        uow.session.flush()


@pytest.mark.clause("TJ-9.2")
def test_the_author_cannot_review_and_an_operator_cannot_author(db: Database) -> None:
    number = create(db)
    submit(db, number)
    from pharmatrace.kernel.errors import NotPermitted

    with pytest.raises(NotPermitted):
        review(db, number, AUTHOR)  # the supervisor holds no documents.review
    with pytest.raises(NotPermitted):
        create(db, "zhangwei")


@pytest.mark.clause("TJ-9.2")
def test_periodic_review_is_listed_when_due_and_recorded_with_a_signature(db: Database) -> None:
    number = create(db, review_interval_months=2)
    submit(db, number)
    review(db, number)
    approve(db, number)
    with db.sessions() as session:
        assert number not in [
            r.number for r in service.due_reviews(session)
        ]  # due in two months: not listed yet
        due = [r for r in service.due_reviews(session, within_days=70) if r.number == number]
    assert len(due) == 1 and not due[0].overdue
    assert due[0].next_review_due == service.add_months(clock.to_beijing(clock.now()).date(), 2)
    body = PeriodicReviewCreate(
        password=DEMO_PASSWORD, login=QA_REVIEWER, outcome="still_valid", note="现行有效"
    )
    decision = act(db, QA_REVIEWER, lambda uow, who: service.periodic_review(uow, who, number, body).id)
    with db.sessions() as session:
        recorded = session.get(DocumentDecision, decision)
        assert recorded is not None
        signatures = service.decision_public(session, recorded).signatures
    assert recorded.outcome == "still_valid"
    assert [(s.meaning, s.signer_login, s.status) for s in signatures] == [("reviewed", QA_REVIEWER, "valid")]


@pytest.mark.clause("SH-6.3.3")
def test_an_effective_date_in_the_past_is_refused(db: Database) -> None:
    number = create(db)
    submit(db, number)
    review(db, number)
    from pharmatrace.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        approve(db, number, effective_from=clock.now() - timedelta(days=1))
    assert _state(db, number, 1) == "in_review"


@pytest.mark.clause("TJ-9.2")
def test_an_overdue_periodic_review_is_listed_as_overdue(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = clock.now() + timedelta(days=2 * 366 + 5)  # the demo documents are reviewed every 24 months
    monkeypatch.setattr(service.clock, "now", lambda: later)
    with db.sessions() as session:
        rows = {r.number: r for r in service.due_reviews(session)}
    assert {"SOP-PR-001", "SOP-PR-007", "SPEC-DH-001"} <= set(rows)
    assert rows["SOP-PR-001"].overdue and rows["SOP-PR-007"].effective_version == 2


@pytest.mark.clause("SH-6.3.3", "TJ-9.2")
def test_the_numbering_rule_of_a_type_is_configurable(db: Database) -> None:
    from pharmatrace.documents.schemas import NumberRuleUpdate

    rule = NumberRuleUpdate(
        doc_type="form", prefix="fm", digits=4, reason="记录表格编号改为 FM-部门-四位流水号"
    )
    act(db, QP, lambda uow, _who: service.set_number_rule(uow, rule), reason=rule.reason)
    assert create(db, CONTROLLER, doc_type="form", department="WH", title="温湿度记录表") == "FM-WH-0001"
    from pharmatrace.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        create(db, CONTROLLER, doc_type="form", department="WH", number="FRM-WH-001")


@pytest.mark.clause("SH-7.1.4", "TJ-9.2")
def test_whoever_changed_the_text_may_not_approve_it(db: Database) -> None:
    from pharmatrace.documents.schemas import DraftUpdate

    number = create(db)  # written by the supervisor
    edit = DraftUpdate(
        markdown="# 中间体取样标准操作规程\n\n1. 取样量不少于 3 倍检验量。\n", reason="文件管理员修订措辞"
    )
    act(db, CONTROLLER, lambda uow, who: service.update_draft(uow, who, number, edit))
    submit(db, number)
    review(db, number)
    with pytest.raises(service.DutiesNotSegregated):
        approve(db, number, CONTROLLER)  # the document controller changed the text: an author too
    approve(db, number, QP)
    assert effective(db, number) == 1
