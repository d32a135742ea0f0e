"""Second-person review of results (TJ-7.4): the QC reviewer approves or returns each result with an electronic
signature on a decision row naming the version's hash; the analyst never reviews their own results; when every
test is approved the order is complete with its verdict; reviewed results are the history the out-of-trend rules
judge a new result against (TJ-7.7)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lims_result_steps import (
    ANALYST,
    REVIEWER,
    also_reviewer,
    counts,
    enter,
    mannitol_order,
    review,
    second_analyst,
    state_of,
    versions,
)
from sqlalchemy import select

from helpers import count_rows, principal
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import results
from pharmatrace.lims.result_models import LabResult, OosCase
from pharmatrace.lims.result_schemas import ReviewDecision
from pharmatrace.storage.engine import Database

D = Decimal
LOSS = "干燥失重"
MANNITOL_ALL = {
    "性状": {"text": "白色结晶性粉末；无臭，味甜"},
    "鉴别": {"answer": "conforms"},
    "熔点": {"value": "167.5", "instrument_code": "BAL-QC-01"},
    LOSS: {"value": "0.21", "instrument_code": "BAL-QC-01"},
    "细菌内毒素": {"value": "0.5"},
    "含量测定": {"raws": {"V_b": "24.80", "V_s": "4.35", "F": "1.0007", "W": "188.6"}},
}


@pytest.mark.clause("TJ-7.4", "SH-7.1.4", "TJ-B.2.4.1.4")
def test_the_reviewer_approves_a_result_with_a_signature_naming_its_hash(db: Database) -> None:
    tests = mannitol_order(db)
    result = enter(db, tests[LOSS], value="0.21")
    row = review(db, result.id, comment="复核无误")
    assert (row.decision, row.reviewed_by, row.content_sm3) == ("approved", REVIEWER, result.content_sm3)
    with db.sessions() as session:
        signed = esign.manifestations(session, results.REVIEW_TYPE, str(row.id))
        assert [(s.action, s.meaning, s.signer_login, s.status) for s in signed] == [
            ("lims.result.review", "reviewed", REVIEWER, "valid")
        ]
        shown = results.result_public(session, results.get_result(session, result.id))
    assert shown.reviews[0].signatures[0].signer_name == "孙丽" and state_of(db, tests[LOSS]) == "approved"
    with pytest.raises(Conflict, match="reviewed already"):
        review(db, result.id)


@pytest.mark.clause("TJ-7.4", "SH-7.1.4", "TJ-10.1.2.2.b")
def test_the_analyst_may_not_review_their_own_results(db: Database) -> None:
    tests = mannitol_order(db)
    result = enter(db, tests[LOSS], value="0.21")
    before, signatures = counts(db), count_rows(db, Signature)
    with pytest.raises(results.SelfReview, match="may not review their own results"):
        review(db, result.id, who=also_reviewer(db, ANALYST))
    assert counts(db) == before and count_rows(db, Signature) == signatures
    assert state_of(db, tests[LOSS]) == "awaiting_review"


@pytest.mark.clause("TJ-7.4", "SH-7.1.4")
def test_someone_who_entered_any_version_of_a_test_may_not_review_it(db: Database) -> None:
    tests = mannitol_order(db)
    both = second_analyst(db, "xuli", roles=("qc_analyst", "qc_reviewer"))  # one person, both QC roles
    with UnitOfWork(db, principal(db, ANALYST).actor) as uow:
        results.assign(uow, principal(db, ANALYST), tests[LOSS], both.login)
        uow.commit()
    first = enter(db, tests[LOSS], login=both.login, value="0.21")
    review(db, first.id, decision="returned", comment="请注明恒重次数")
    with UnitOfWork(db, principal(db, ANALYST).actor) as uow:
        results.assign(uow, principal(db, ANALYST), tests[LOSS], ANALYST)
        uow.commit()
    second = enter(db, tests[LOSS], how="correct_result", value="0.21", reason="恒重两次，补记",
                   comment="恒重两次")  # fmt: skip
    with pytest.raises(results.SelfReview):
        review(db, second.id, who=both)  # xuli entered version 1 of this test
    assert review(db, second.id).decision == "approved"


@pytest.mark.clause("TJ-7.4", "TJ-10.1.4.2.a")
def test_a_returned_result_is_corrected_as_a_new_version_and_reviewed_again(db: Database) -> None:
    tests = mannitol_order(db)
    first = enter(db, tests[LOSS], value="0.12")
    with pytest.raises(ValueError, match="Say why the result is returned"):
        ReviewDecision.model_validate({"decision": "returned", "password": "x"})
    before = counts(db)
    with pytest.raises(AuthenticationFailed):
        review(db, first.id, password="wrong")
    assert counts(db) == before
    returned = review(db, first.id, decision="returned", comment="称样量记录错误，请核对")
    assert state_of(db, tests[LOSS]) == "returned"
    with db.sessions() as session:
        signed = esign.manifestations(session, results.REVIEW_TYPE, str(returned.id))
        assert [(s.action, s.meaning) for s in signed] == [("lims.result.return", "rejected")]
    fixed = enter(
        db, tests[LOSS], how="correct_result", value="0.21", reason="称样量抄录错误，按原始记录更正"
    )
    with pytest.raises(Conflict, match="newer version"):
        review(db, first.id)
    review(db, fixed.id)
    found = versions(db, tests[LOSS])
    assert [(v.seq, v.kind, v.reported, [r.decision for r in v.reviews]) for v in found] == [
        (1, "entry", "0.1", ["returned"]), (2, "correction", "0.2", ["approved"]),
    ]  # fmt: skip
    assert found[1].supersedes_id == first.id and state_of(db, tests[LOSS]) == "approved"


@pytest.mark.clause("TJ-7.4", "TJ-7.2", "TJ-B.2.4.1.4")
def test_when_every_test_is_approved_the_order_is_complete_with_its_verdict(db: Database) -> None:
    tests = mannitol_order(db)
    entered = {item: enter(db, tests[item], **given) for item, given in MANNITOL_ALL.items()}
    with pytest.raises(ValidationFailed, match="pass or fail"):
        review(db, entered["性状"].id)
    with db.sessions() as session:
        assert results.order_state(results.get_order(session, tests["order"])) == "in_testing"
    for item, result in entered.items():
        review(db, result.id, judgement="pass" if item == "性状" else None)
    with db.sessions() as session:
        order = results.get_order(session, tests["order"])
        detail = results.order_detail(session, order)
        history = results.results_for(session, material_code="EXC-MAN-01", item_name=LOSS, limit=10)
    assert (detail.state, detail.verdict) == ("complete", "pass")
    assert {t.item_name: t.verdict for t in detail.tests} == dict.fromkeys(MANNITOL_ALL, "pass")
    assert [(p.value, p.order_code, p.sample_code) for p in history] == [
        (D("0.2"), order.code, order.sample_code)
    ]


@pytest.mark.clause("TJ-7.7", "TJ-7.4")
def test_a_descriptive_result_the_reviewer_judges_failing_opens_an_oos(db: Database) -> None:
    tests = mannitol_order(db)
    result = enter(db, tests["性状"], text="微黄色结晶性粉末，有异臭")
    assert result.outcome == "review"
    review(db, result.id, judgement="fail", comment="性状不符合规定")
    with db.sessions() as session:
        case = session.scalars(select(OosCase).where(OosCase.result_id == result.id)).one()
        assert (case.phase, case.status, case.opened_by, case.item_name) == ("I", "open", REVIEWER, "性状")
        order = results.get_order(session, tests["order"])
        assert (results.order_state(order), results.order_verdict(order)) == ("oos", "fail")


@pytest.mark.clause("TJ-7.7")
def test_a_result_outside_the_trend_of_the_reviewed_history_is_flagged_out_of_trend(db: Database) -> None:
    for value in ("0.20", "0.21", "0.20", "0.22", "0.21"):
        tests = mannitol_order(db)
        first = enter(db, tests[LOSS], value=value)
        assert first.oot is None or first.oot is False
        review(db, first.id)
    tests = mannitol_order(db)
    odd = enter(db, tests[LOSS], value="0.46")  # within ≤ 0.5: passes, but far outside the history
    assert (odd.reported, odd.outcome, odd.oot) == ("0.5", "pass", True)
    assert '"rule":"k_sigma"' in odd.oot_findings
    usual = enter(db, mannitol_order(db)[LOSS], value="0.21")
    assert usual.oot is False and usual.oot_findings == "[]"


@pytest.mark.clause("TJ-7.7", "SH-7.1.3")
def test_a_pending_result_follows_the_history_when_an_invalidated_result_is_replaced_by_its_retest(
    db: Database,
) -> None:
    """Four reviewed results are too few for any trend rule: a result entered then is not judged. An earlier OOS
    result is invalidated in phase I and replaced by its retest; when its investigation closes, the approved retest
    is the fifth point of the history and the pending result, re-evaluated, is out of trend — recorded with the
    reason, the result row as entered. The reviewer re-evaluates on demand; an approved result keeps its flag."""
    from helpers import LOGIN_BY_ROLE
    from pharmatrace.demo.seed import DEMO_PASSWORD
    from pharmatrace.kernel.audit import AuditEntry
    from pharmatrace.kernel.errors import NotPermitted
    from pharmatrace.lims import oos
    from pharmatrace.lims.oos_schemas import ConclusionCreate, PhaseOne
    from pharmatrace.lims.result_models import OotEvaluation

    def as_(login: str, write: object) -> object:
        who = principal(db, login)
        with UnitOfWork(db, who.actor) as uow:
            made = write(uow, who)  # type: ignore[operator]
            uow.commit()
            return made

    for value in ("0.20", "0.21", "0.20", "0.22"):
        review(db, enter(db, mannitol_order(db)[LOSS], value=value).id)
    earlier = mannitol_order(db)[LOSS]
    failing = enter(db, earlier, value="0.62")  # OOS: its test leaves the history while investigated
    pending = enter(db, mannitol_order(db)[LOSS], value="0.40")
    assert (pending.outcome, pending.oot) == ("pass", None)  # 4 points: no rule can judge it

    with db.sessions() as session:
        code = session.scalars(select(OosCase.code).where(OosCase.result_id == failing.id)).one()
    checks = {
        c: {"answer": "ok"} for c in ("instrument", "standard_reagent", "sample_preparation", "analyst")
    }
    as_(REVIEWER, lambda uow, p: oos.record_phase1(uow, p, code, PhaseOne.model_validate(
        {**checks, "calculation": {"answer": "error"}, "assignable_cause": True, "summary": "计算错误",
         "invalidation_reason": "称量值录入错位，结果无效"})))  # fmt: skip
    as_(REVIEWER, lambda uow, p: oos.record_conclusion(uow, p, code, ConclusionCreate(
        conclusion="invalidated", summary="实验室差错，复验")))  # fmt: skip
    retest = enter(db, earlier, how="retest", value="0.20", reason="OOS 调查：复验", oos_case=code)
    review(db, retest.id)  # approved, but its test is still under investigation: the history is unchanged
    assert counts_of(db, OotEvaluation) == 0
    as_(
        LOGIN_BY_ROLE["qa_release"],
        lambda uow, p: oos.close(uow, p, code, password=DEMO_PASSWORD, login=p.login),
    )

    with db.sessions() as session:
        shown = results.result_public(session, results.get_result(session, pending.id))
        row = session.scalars(select(LabResult.oot).where(LabResult.id == pending.id)).one()
        trail = session.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "lims_oot_evaluation")
        ).all()
    assert (shown.oot, shown.oot_at_entry, row) == (
        True,
        None,
        None,
    )  # re-evaluated; the result row as entered
    assert shown.oot_findings[0]["rule"] == "k_sigma" and len(shown.oot_evaluations) == 1
    reason = shown.oot_evaluations[0].reason
    assert code in reason and "invalidated" in reason and "re-evaluated after" in reason
    assert [e.actor_login for e in trail] == [LOGIN_BY_ROLE["qa_release"]]

    with pytest.raises(NotPermitted):  # the reviewer's action, not the analyst's
        as_(ANALYST, lambda uow, p: results.reevaluate_result(uow, p, pending.id))
    again = as_(REVIEWER, lambda uow, p: results.reevaluate_result(uow, p, pending.id, "规则复核"))
    assert (again.oot, again.reason) == (True, "规则复核")  # type: ignore[attr-defined]
    review(db, pending.id)
    before = counts_of(db, OotEvaluation)
    with pytest.raises(Conflict, match="approved one keeps"):
        as_(REVIEWER, lambda uow, p: results.reevaluate_result(uow, p, pending.id))
    assert counts_of(db, OotEvaluation) == before


def counts_of(db: Database, model: type) -> int:
    from sqlalchemy import func

    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
