"""Result entry as the QC analyst does it (TJ-7.3): each raw value kept, the formula computed at full precision, the
value rounded once by GB/T 8170 and judged; the instrument calibrated and the reagents usable at the time of the
test (TJ-7.4, TJ-7.6); a failing result flagged OOS and locked at once (TJ-7.7); corrections, reprocessing and
retests as new versions that leave the earlier ones as they were (TJ-10.1.3.4). Every refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from lims_result_steps import (
    ANALYST,
    REVIEWER,
    counts,
    danshen_order,
    enter,
    mannitol_order,
    reagent_code,
    review,
    second_analyst,
    state_of,
    versions,
)
from sqlalchemy import select

from helpers import principal
from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import Conflict, NotPermitted, ValidationFailed
from pharmatrace.kernel.numbers import round_gbt8170
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import instruments, reagents, results
from pharmatrace.lims.result_models import LabResult, OosCase
from pharmatrace.lims.result_schemas import ResultEntry
from pharmatrace.storage.engine import Database

D = Decimal
ASSAY = "含量测定"
LOSS = "干燥失重"  # ≤ 0.5 %, one decimal
MANNITOL_RAWS = {"V_b": "24.80", "V_s": "4.35", "F": "1.0007", "W": "188.6"}


@pytest.mark.clause("TJ-7.3", "TJ-10.5.2.a")
def test_a_result_keeps_its_raw_values_formula_full_value_and_the_value_rounded_once(db: Database) -> None:
    tests = mannitol_order(db)
    result = enter(db, tests[ASSAY], raws=MANNITOL_RAWS, instrument_code="BAL-QC-01")
    assert result.formula == "mannitol = (V_b - V_s) * F * 0.9109 * 10 / W * 100"
    assert [(r.name, r.value, r.unit, r.source) for r in result.raws] == [
        ("V_b", "24.8", "mL", "manual"), ("V_s", "4.35", "mL", "manual"), ("F", "1.0007", "", "manual"),
        ("W", "188.6", "mg", "manual"),
    ]  # fmt: skip
    assert result.computed == "98.83851820519618239660657476"  # every digit the calculation gave
    assert result.reported == "98.8" and result.reported == str(round_gbt8170(D(result.computed), 1))
    assert (result.outcome, result.limit_text, result.unit) == ("pass", "98.0 ~ 102.0", "%")
    assert result.instrument_code == "BAL-QC-01" and result.calibrated_until is not None
    assert result.entered_by == ANALYST and len(result.content_sm3) == 64
    assert state_of(db, tests[ASSAY]) == "awaiting_review"


@pytest.mark.clause("TJ-10.5.2.a", "TJ-7.2")
def test_rounding_happens_once_so_a_value_just_inside_the_limit_passes(db: Database) -> None:
    """0.54546 rounded once to one place is 0.5 (≤ 0.5: pass); rounded step by step (0.5455 → 0.546 → 0.55 →
    0.6) it would fail. The value as measured is kept beside the reported one."""
    tests = mannitol_order(db)
    result = enter(db, tests[LOSS], value="0.54546", instrument_code="BAL-QC-01")
    assert (result.computed, result.reported, result.outcome) == ("0.54546", "0.5", "pass")
    assert [(r.name, r.value) for r in result.raws] == [("result", "0.54546")]
    assert counts(db)[-1] == 1  # only the demo's OOS: none opened here


def refusals_on(db: Database, test_id: int) -> list[AuditEntry]:
    with db.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.object_type == "lims_test", AuditEntry.object_id == str(test_id),
            AuditEntry.event == results.ENTRY_REFUSED_EVENT,
        )))  # fmt: skip


@pytest.mark.clause("TJ-7.4", "TJ-B.2.4.3")
def test_an_instrument_past_its_calibration_is_refused_and_nothing_is_written(db: Database) -> None:
    tests = mannitol_order(db)
    before = counts(db)
    with pytest.raises(instruments.InstrumentUnusable) as refused:
        enter(db, tests[ASSAY], raws=MANNITOL_RAWS, instrument_code="UV-01")
    assert "UV-01" in str(refused.value) and "may not be used for a test" in str(refused.value)
    assert counts(db) == before and state_of(db, tests[ASSAY]) == "pending"
    [attempt] = refusals_on(db, tests[ASSAY])  # the attempt itself is on the test's trail, with its reasons
    assert attempt.actor_login == "wangfang" and attempt.changes["instrument"] == [None, "UV-01"]
    assert attempt.changes["refusals"] == [None, ["calibration_expired"]] and "UV-01" in (
        attempt.reason or ""
    )


@pytest.mark.clause("TJ-7.6", "TJ-7.3")
def test_an_expired_reagent_is_refused_and_a_usable_one_is_recorded_with_its_lot_and_expiry(
    db: Database,
) -> None:
    tests = mannitol_order(db)
    expired, usable = reagent_code(db, "冰醋酸"), reagent_code(db, "甲醇")
    before = counts(db)
    with pytest.raises(reagents.ReagentUnusable) as refused:
        enter(db, tests["鉴别"], answer="conforms", reagent_codes=[usable, expired])
    assert expired in str(refused.value) and "expired" in str(refused.value).lower()
    assert counts(db) == before
    [attempt] = refusals_on(db, tests["鉴别"])
    assert attempt.changes["reagents"] == [None, [usable, expired]] and expired in (attempt.reason or "")
    result = enter(db, tests["鉴别"], answer="conforms", reagent_codes=[usable])
    assert [(r.code, r.name) for r in result.reagents] == [(usable, "甲醇")]
    assert result.reagents[0].lot_no == "M2609-4417" and result.reagents[0].expiry_date > reagents.today()
    assert (result.answer, result.outcome) == ("conforms", "pass")


@pytest.mark.clause("TJ-7.3", "TJ-10.1.2.1")
def test_only_an_analyst_may_enter_and_only_the_one_the_test_is_assigned_to(db: Database) -> None:
    tests = mannitol_order(db)  # every test assigned to wangfang
    before = counts(db)
    with pytest.raises(NotPermitted, match=r"lims\.result\.enter"):
        enter(db, tests[LOSS], login=REVIEWER, value="0.2")
    other = second_analyst(db)
    with pytest.raises(NotPermitted, match=r"assigned to 王芳 \(wangfang\)"):
        enter(db, tests[LOSS], login=other.login, value="0.2")
    assert counts(db) == before
    with UnitOfWork(db, principal(db, ANALYST).actor) as uow:
        results.assign(uow, principal(db, ANALYST), tests[LOSS], other.login)
        uow.commit()
    assert enter(db, tests[LOSS], login=other.login, value="0.2").entered_by == other.login


@pytest.mark.clause("TJ-7.3")
def test_what_the_result_needs_is_checked_before_anything_is_written(db: Database) -> None:
    tests = mannitol_order(db)
    before = counts(db)
    with pytest.raises(ValidationFailed, match="The formula needs the value W"):
        enter(db, tests[ASSAY], raws={k: v for k, v in MANNITOL_RAWS.items() if k != "W"})
    with pytest.raises(ValidationFailed, match="X is not an input of the formula"):
        enter(db, tests[ASSAY], raws={**MANNITOL_RAWS, "X": "1"})
    with pytest.raises(ValidationFailed, match="not judged on a number"):
        enter(db, tests["鉴别"], value="1")
    with pytest.raises(ValidationFailed, match="conforms"):
        enter(db, tests["鉴别"])
    with pytest.raises(ValidationFailed, match="in the future"):
        enter(db, tests[LOSS], value="0.2", tested_at=(clock.now() + timedelta(hours=1)).isoformat())
    with pytest.raises(ValidationFailed, match="before the order was requested"):
        enter(db, tests[LOSS], value="0.2", tested_at=(clock.now() - timedelta(days=2)).isoformat())
    with pytest.raises(ValueError, match="one form"):
        ResultEntry.model_validate({"value": "1", "answer": "conforms"})
    assert counts(db) == before
    enter(db, tests[LOSS], value="0.2")
    with pytest.raises(Conflict, match="has a result already"):
        enter(db, tests[LOSS], value="0.3")


@pytest.mark.clause("TJ-7.7", "TJ-B.2.4.3")
def test_a_failing_result_is_flagged_oos_locked_and_opens_a_phase_one_investigation(db: Database) -> None:
    tests = mannitol_order(db)
    result = enter(db, tests[LOSS], value="0.62", instrument_code="BAL-QC-01")
    assert (result.reported, result.outcome) == ("0.6", "fail")
    with db.sessions() as session:
        case = session.scalars(select(OosCase).where(OosCase.result_id == result.id)).one()
        order = results.get_order(session, case.order_id)
        assert (case.phase, case.status, case.item_name, case.limit_text, case.result_text) == (
            "I", "open", LOSS, "≤ 0.5", "0.6 %",
        )  # fmt: skip
        assert (case.sample_code, case.lot_number, case.opened_by) == (
            order.sample_code,
            order.lot_number,
            ANALYST,
        )
        assert results.order_state(order) == "oos" and results.order_verdict(order) == "fail"
    assert state_of(db, tests[LOSS]) == "oos"


@pytest.mark.clause("TJ-7.7")
def test_editing_a_locked_oos_result_is_refused_and_changes_nothing(db: Database) -> None:
    tests = mannitol_order(db)
    oos = enter(db, tests[LOSS], value="0.62")
    before = counts(db)
    for how in ("correct_result", "reprocess_result"):
        with pytest.raises(
            results.ResultLocked, match="locked: it changes only through the OOS investigation"
        ):
            enter(db, tests[LOSS], how=how, value="0.42", reason="typing error", processing="re-weighed")
    with pytest.raises(results.ResultLocked, match="only within the OOS investigation"):
        enter(db, tests[LOSS], how="retest", value="0.42", reason="retest")
    with pytest.raises(results.ResultLocked, match="goes to its investigation"):
        review(db, oos.id, decision="returned", comment="please check")
    assert counts(db) == before
    assert [(v.seq, v.reported) for v in versions(db, tests[LOSS])] == [(1, "0.6")]


@pytest.mark.clause("TJ-7.7", "TJ-7.3")
def test_a_retest_within_the_investigation_keeps_the_original_oos_result(db: Database) -> None:
    tests = mannitol_order(db)
    original = enter(db, tests[LOSS], value="0.62")
    with db.sessions() as session:
        case = session.scalars(select(OosCase).where(OosCase.result_id == original.id)).one().code
    again = enter(db, tests[LOSS], how="retest", value="0.31", reason="phase I: retest of the retained portion",
                  oos_case=case)  # fmt: skip
    assert (again.kind, again.retest_of_id, again.oos_case_code, again.seq) == (
        "retest",
        original.id,
        case,
        2,
    )
    found = versions(db, tests[LOSS])
    assert [(v.id, v.reported, v.outcome) for v in found] == [
        (original.id, "0.6", "fail"),
        (again.id, "0.3", "pass"),
    ]
    assert state_of(db, tests[LOSS]) == "oos"  # the investigation decides, not the retest
    assert counts(db)[-1] == 2  # the demo's and this one: the retest opened no second case


@pytest.mark.clause("TJ-7.3", "TJ-7.4")
def test_a_retest_of_a_returned_result_is_a_new_result_linked_to_the_original(db: Database) -> None:
    tests = mannitol_order(db)
    first = enter(db, tests[LOSS], value="0.21")
    review(db, first.id, decision="returned", comment="样品称量后未恒重，请复测")
    again = enter(db, tests[LOSS], how="retest", value="0.24", reason="复测：恒重后重新测定")
    found = versions(db, tests[LOSS])
    assert [(v.kind, v.reported, v.retest_of_id) for v in found] == [("entry", "0.2", None),
                                                                        ("retest", "0.2", first.id)]  # fmt: skip
    assert found[0].computed == "0.21" and found[1].computed == "0.24"
    assert state_of(db, tests[LOSS]) == "awaiting_review"
    review(db, again.id)
    with pytest.raises(Conflict, match="approved: it is not retested"):
        enter(db, tests[LOSS], how="retest", value="0.25", reason="once more")


@pytest.mark.clause("TJ-10.1.3.4", "TJ-10.1.3.4.c")
def test_reprocessing_is_a_new_version_with_its_method_and_reason_and_the_old_stays(db: Database) -> None:
    tests = danshen_order(db)
    item = "含量测定（丹酚酸B）"
    raws = {"A_s": "1402240", "A_r": "1523500", "W_r": "10.12", "W_s": "200.15", "P": "0.962"}
    first = enter(
        db, tests[item], raws=raws, instrument_code="HPLC-01", processing="DS-SAB-01 v1, 峰宽 0.10 min"
    )
    with pytest.raises(ValidationFailed, match="processing method and parameters"):
        enter(
            db, tests[item], how="reprocess_result", raws={**raws, "A_s": "1398700"}, reason="re-integrated"
        )
    second = enter(db, tests[item], how="reprocess_result", raws={**raws, "A_s": "1398700"},
                   instrument_code="HPLC-01", reason="基线漂移，按 SOP-QC-021 手动积分",
                   processing="DS-SAB-01 v2, 峰宽 0.10 min, 手动基线")  # fmt: skip
    found = versions(db, tests[item])
    assert [(v.seq, v.kind, v.supersedes_id) for v in found] == [
        (1, "entry", None),
        (2, "reprocess", first.id),
    ]
    assert [v.processing for v in found] == ['{"note":"DS-SAB-01 v1, 峰宽 0.10 min"}',
                                             '{"note":"DS-SAB-01 v2, 峰宽 0.10 min, 手动基线"}']  # fmt: skip
    assert found[0].raws[0].value == "1402240" and found[1].raws[0].value == "1398700"
    assert found[0].computed != found[1].computed and second.reason == "基线漂移，按 SOP-QC-021 手动积分"
    with db.sessions() as session:
        shown = results.test_detail(session, results.get_test(session, tests[item]))
    assert [(r.seq, r.current) for r in shown.results] == [(1, False), (2, True)]
    review(db, second.id)
    with pytest.raises(Conflict, match="approved: it is not changed any more"):
        enter(db, tests[item], how="reprocess_result", raws=raws, reason="again", processing="v3")


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-7.3", "TJ-10.1.4.2.a")
def test_a_result_version_is_never_changed_in_the_database(db: Database) -> None:
    from helpers import behind_the_apps_back

    tests = mannitol_order(db)
    result = enter(db, tests[LOSS], value="0.2")
    with pytest.raises(Exception, match="append-only"), behind_the_apps_back(db) as conn:
        conn.exec_driver_sql(f"UPDATE lims_results SET reported = '0.1' WHERE id = {result.id}")
    with db.sessions() as session:
        assert session.get(LabResult, result.id).reported == "0.2"  # type: ignore[union-attr]
