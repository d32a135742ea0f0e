"""OOS investigations (TJ-7.7, TJ-B.2.4.3, TJ-10.1.3.4): phase I in the laboratory, phase II with its deviation
raised through the QMS seam, the conclusion, and QA's signed closure — refused with every reason while a step is
missing, never by the result's analyst; the original result stays locked and visible whatever happens."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from lims_result_steps import ANALYST, REVIEWER, enter, mannitol_order, state_of, versions
from pydantic import ValidationError
from sqlalchemy import func, select

from helpers import LOGIN_BY_ROLE, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import Conflict, NotPermitted
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import oos, results
from pharmatrace.lims.oos_models import OosClosure, OosStep
from pharmatrace.lims.oos_schemas import ConclusionCreate, DeviationRaise, PhaseOne, PhaseTwo
from pharmatrace.lims.result_models import OosCase
from pharmatrace.mes import historian_seam
from pharmatrace.qms import capa
from pharmatrace.qms.capa_schemas import CapaCreate
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.storage.engine import Database

QA = LOGIN_BY_ROLE["qa_release"]  # zhaomin: qms.deviation.approve
LOSS = "干燥失重"  # ≤ 0.5 %
NONE_FOUND = {name: {"answer": "ok"} for name in ("calculation", "instrument", "standard_reagent",
                                                   "sample_preparation", "analyst")}  # fmt: skip


def _case(db: Database) -> tuple[str, int, int]:
    """A fresh OOS: the 甘露醇 干燥失重 entered at 0.62 % (≤ 0.5 %). Its code, test and result IDs."""
    tests = mannitol_order(db)
    result = enter(db, tests[LOSS], value="0.62", instrument_code="BAL-QC-01")
    with db.sessions() as session:
        case = session.scalars(select(OosCase).where(OosCase.result_id == result.id)).one()
        return case.code, tests[LOSS], result.id


def _do(db: Database, login: str, write: Any, who: Any = None) -> Any:
    signer = who or principal(db, login)
    with UnitOfWork(db, signer.actor) as uow:
        made = write(uow, signer)
        uow.commit()
        return made


def _counts(db: Database) -> tuple[int, ...]:
    with db.sessions() as session:
        return tuple(int(session.scalar(select(func.count()).select_from(m)) or 0)
                     for m in (OosStep, OosClosure, Signature, Deviation))  # fmt: skip


def _close(db: Database, code: str, login: str = QA, who: Any = None) -> OosClosure:
    return _do(db, login, lambda uow, p: oos.close(uow, p, code, password=DEMO_PASSWORD, login=p.login,  # type: ignore[no-any-return]
                                                   comment="调查完整，同意关闭"), who)  # fmt: skip


@pytest.mark.clause("TJ-7.7", "TJ-B.2.4.3", "TJ-10.1.3.4")
def test_no_assignable_cause_goes_to_phase_two_and_a_confirmed_oos_closes_by_qa_signature(
    db: Database,
) -> None:
    code, test_id, result_id = _case(db)
    before = _counts(db)
    with pytest.raises(oos.OosClosureRefused) as refused:
        _close(db, code)
    assert "phase I is not recorded" in str(refused.value) and "has no conclusion" in str(refused.value)
    with pytest.raises(NotPermitted):  # phase I is the laboratory reviewer's, not the analyst's
        _do(db, ANALYST, lambda uow, p: oos.record_phase1(uow, p, code, PhaseOne.model_validate(
            {**NONE_FOUND, "assignable_cause": False, "summary": "未发现实验室差错"})))  # fmt: skip
    with pytest.raises(Conflict, match="not possible now"):
        _do(db, REVIEWER, lambda uow, p: oos.record_conclusion(uow, p, code, ConclusionCreate(
            conclusion="confirmed", summary="确认超标")))  # fmt: skip
    assert _counts(db) == before

    _do(db, REVIEWER, lambda uow, p: oos.record_phase1(uow, p, code, PhaseOne.model_validate(
        {**NONE_FOUND, "assignable_cause": False, "summary": "计算、天平、试剂、制样、人员均无差错"})))  # fmt: skip
    phase2 = PhaseTwo(manufacturing="供应商生产记录审核，干燥工序时间不足", other_batches="同供应商其他批次未受影响",
                      root_cause="供应商干燥时间不足")  # fmt: skip
    with pytest.raises(Conflict, match="Raise the deviation"):
        _do(db, REVIEWER, lambda uow, p: oos.record_phase2(uow, p, code, phase2))
    deviation = _do(db, REVIEWER, lambda uow, p: oos.raise_deviation(uow, p, code, DeviationRaise(
        immediate_actions="该批继续待验，不得放行"))).number  # fmt: skip
    with pytest.raises(Conflict, match="linked to deviation"):
        _do(
            db,
            REVIEWER,
            lambda uow, p: oos.raise_deviation(uow, p, code, DeviationRaise(immediate_actions="再次")),
        )
    _do(db, REVIEWER, lambda uow, p: oos.record_phase2(uow, p, code, phase2))
    _do(db, REVIEWER, lambda uow, p: oos.record_conclusion(uow, p, code, ConclusionCreate(
        conclusion="confirmed", summary="确认超标，物料不合格")))  # fmt: skip
    with db.sessions() as session:
        case = oos.get_case(session, code)
        found = session.scalars(select(Deviation).where(Deviation.number == deviation)).one()
        assert (case.phase, oos.stage_of(session, case)) == ("II", "closure")
        assert (found.source_kind, found.source, found.category, found.recorded_by) == (
            "lims", f"lims:{code}", "laboratory", REVIEWER)  # fmt: skip

    before = _counts(db)
    with pytest.raises(oos.OosClosureRefused, match="needs a CAPA or the rationale"):
        _close(db, code)
    analyst_as_qa = dataclasses.replace(principal(db, ANALYST),
                                        permissions=principal(db, ANALYST).permissions | {oos.QA_PERMISSION})  # fmt: skip
    with pytest.raises(oos.OosDutiesNotSegregated):
        _close(db, code, who=analyst_as_qa)
    assert _counts(db) == before
    _do(db, REVIEWER, lambda uow, p: capa.create_capa(uow, p, CapaCreate.model_validate({
        "kind": "corrective", "source_type": "oos", "source_ref": code, "title": "甘露醇干燥失重超标的纠正措施",
        "problem": "干燥失重 0.6 %", "owner": REVIEWER, "due_date": str(capa.today() + timedelta(days=30))})))  # fmt: skip

    closure = _close(db, code)
    with db.sessions() as session:
        case = oos.get_case(session, code)
        detail = oos.investigation_detail(session, case)
        signed = esign.manifestations(session, oos.CLOSURE_TYPE, str(closure.id))
        result = results.get_result(session, result_id)
        assert closure.content_sm3 == oos.content_sm3(session, case) and closure.conclusion == "confirmed"
        assert [(s.signer_login, s.meaning, s.status) for s in signed] == [(QA, "approved", "valid")]
        assert (case.status, detail.stage, detail.blockers) == ("closed", "closed", [])
        assert [d.number for d in detail.deviations] == [deviation] and len(detail.capas) == 1
        assert [s.kind for s in detail.steps] == ["phase1", "phase2", "conclusion"]
        assert all(s.recorded_by == REVIEWER and s.recorded_at for s in detail.steps)
        assert results.locked(result) and result.reported == "0.6"  # the original stays, locked
    assert state_of(db, test_id) == "awaiting_review"  # the confirmed value goes on to its review
    with pytest.raises(oos.OosClosureRefused, match="closed already"):
        _close(db, code)


@pytest.mark.clause("TJ-7.7", "TJ-10.1.3.4")
def test_an_assignable_laboratory_error_invalidates_the_result_and_closes_after_the_retest(
    db: Database,
) -> None:
    code, test_id, result_id = _case(db)
    error = {**NONE_FOUND, "calculation": {"answer": "error", "note": "称量值录入错位"}}
    with pytest.raises(ValidationError, match="needs the reason"):
        PhaseOne.model_validate({**error, "assignable_cause": True, "summary": "计算错误"})
    with pytest.raises(ValidationError, match="names the check"):
        PhaseOne.model_validate({**NONE_FOUND, "assignable_cause": True, "summary": "x" * 3,
                                 "invalidation_reason": "计算错误"})  # fmt: skip
    with pytest.raises(ValidationError):  # every check answered
        PhaseOne.model_validate(
            {"calculation": {"answer": "ok"}, "assignable_cause": False, "summary": "未发现"}
        )
    _do(db, REVIEWER, lambda uow, p: oos.record_phase1(uow, p, code, PhaseOne.model_validate(
        {**error, "assignable_cause": True, "summary": "计算错误", "invalidation_reason": "W 值录入错位，结果无效"})))  # fmt: skip
    with pytest.raises(Conflict, match="the result is invalidated"):
        _do(db, REVIEWER, lambda uow, p: oos.record_conclusion(uow, p, code, ConclusionCreate(
            conclusion="confirmed", summary="确认")))  # fmt: skip
    _do(db, REVIEWER, lambda uow, p: oos.record_conclusion(uow, p, code, ConclusionCreate(
        conclusion="invalidated", summary="实验室差错，原结果无效，按调查复验")))  # fmt: skip
    with pytest.raises(oos.OosClosureRefused, match="has no retest"):
        _close(db, code)
    enter(db, test_id, how="retest", value="0.31", reason="OOS 调查：复验", oos_case=code)
    _close(db, code)
    with db.sessions() as session:
        case = oos.get_case(session, code)
        detail = oos.investigation_detail(session, case)
        assert (case.phase, case.status, detail.closure is not None) == ("I", "closed", True)
        assert detail.closure is not None and detail.closure.conclusion == "invalidated"
        assert [r["reported"] for r in detail.retests] == ["0.3"]
    first, *_ = versions(db, test_id)
    assert (first.id, first.reported, first.outcome) == (result_id, "0.6", "fail")


class _Reader:
    def values_during(self, tag: str, start: datetime, end: datetime) -> list[tuple[datetime, Decimal, str]]:
        return [(end - timedelta(minutes=5), Decimal("21.5"), "good")]


@pytest.fixture
def historian() -> Iterator[None]:
    historian_seam.register(_Reader())
    yield
    historian_seam.register(None)


@pytest.mark.clause("TJ-7.7", "TJ-B.2.4.3")
def test_the_investigation_names_what_the_result_is_linked_to_and_never_invents_the_environment(
    db: Database, request: pytest.FixtureRequest
) -> None:
    code, _test_id, _result_id = _case(db)
    with db.sessions() as session:
        detail = oos.investigation_detail(session, oos.get_case(session, code))
    assert (detail.analyst, detail.instrument_code, detail.item_name, detail.result) == (
        ANALYST, "BAL-QC-01", LOSS, "0.6 %")  # fmt: skip
    assert detail.calibrated_until is not None and detail.lot_number and detail.sample_code
    assert detail.environment.connected is False and detail.environment.readings == []
    request.getfixturevalue("historian")
    with db.sessions() as session:
        shown = oos.environment(session, results.get_result(session, _result_id))
    assert shown.connected is True
    assert all(v["mean"] == "21.50" for v in shown.readings)
    assert len(shown.readings) == (2 if shown.room else 0)


# --- corrections of recorded steps (TJ-10.1.3.4, SH-7.1.3) -----------------------------------------------------

PHASE2 = {"manufacturing": "供应商干燥工序记录审核", "other_batches": "同供应商其他批次未受影响",
          "root_cause": "干燥时间不足"}  # fmt: skip


def _to_conclusion(db: Database) -> tuple[str, int]:
    """A fresh OOS taken to its conclusion (confirmed, no CAPA, with the rationale): its code and test ID."""
    code, test_id, _result_id = _case(db)
    _do(db, REVIEWER, lambda uow, p: oos.record_phase1(uow, p, code, PhaseOne.model_validate(
        {**NONE_FOUND, "assignable_cause": False, "summary": "未发现实验室差错"})))  # fmt: skip
    _do(
        db,
        REVIEWER,
        lambda uow, p: oos.raise_deviation(uow, p, code, DeviationRaise(immediate_actions="待验")),
    )
    _do(db, REVIEWER, lambda uow, p: oos.record_phase2(uow, p, code, PhaseTwo(**PHASE2)))
    _do(db, REVIEWER, lambda uow, p: oos.record_conclusion(uow, p, code, ConclusionCreate(
        conclusion="confirmed", summary="确认超标", no_capa_rationale="供应商已更换")))  # fmt: skip
    return code, test_id


def _step_id(db: Database, code: str, kind: str) -> int:
    with db.sessions() as session:
        return oos.steps_of(session, oos.get_case(session, code))[kind].id


def _sm3(db: Database, code: str) -> str:
    with db.sessions() as session:
        return oos.content_sm3(session, oos.get_case(session, code))


@pytest.mark.clause("TJ-10.1.3.4", "TJ-7.7", "TJ-B.2.4.3", "SH-7.1.3")
def test_a_recorded_step_is_corrected_with_its_reason_and_the_closure_signs_the_corrected_content(
    db: Database,
) -> None:
    from fastapi.testclient import TestClient

    from helpers import token
    from pharmatrace.kernel.audit import AuditEntry
    from pharmatrace.web.app import create_app

    code, _test_id = _to_conclusion(db)
    conclusion_id, phase2_id = _step_id(db, code, "conclusion"), _step_id(db, code, "phase2")
    signed_before = _sm3(db, code)
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        reviewer = token(client, REVIEWER)
        api = client.post(f"/api/v1/lims/oos/{code}/steps/{phase2_id}/correction", headers=reviewer,
                          json={"reason": "根本原因补充：干燥温度亦偏低",
                                "phase2": {**PHASE2, "root_cause": "干燥时间不足且温度偏低"}})  # fmt: skip
        assert api.status_code == 200, api.text
        assert api.json()["steps"][1]["content"]["root_cause"] == "干燥时间不足且温度偏低"
        client.post("/login", data={"login": REVIEWER, "password": DEMO_PASSWORD})
        page = client.get(f"/lims/oos/{code}").text
        assert 'data-testid="correct-conclusion-form"' in page and 'data-testid="correct-phase2-form"' in page
        posted = client.post(f"/lims/oos/{code}/steps/{conclusion_id}/correction",
                             data={"kind": "conclusion", "conclusion": "inconclusive", "summary": "无法确定",
                                   "reason": "复核后结论更正为无法确定"}, follow_redirects=False)  # fmt: skip
        assert posted.status_code == 303, posted.text
        shown = client.get(f"/lims/oos/{code}").text
        assert shown.count('data-testid="superseded"') == 2 and "复核后结论更正为无法确定" in shown
        assert f"#{conclusion_id}" in shown and 'data-testid="step-conclusion-superseded"' in shown
        detail = client.get(f"/api/v1/lims/oos/{code}", headers=reviewer).json()
    history = {s["id"]: s for s in detail["history"]}
    assert (
        history[conclusion_id]["superseded_by"]
        and history[conclusion_id]["content"]["conclusion"] == "confirmed"
    )
    current = history[history[conclusion_id]["superseded_by"]]
    assert (current["corrects_id"], current["reason"], current["recorded_by"], current["current"]) == (
        conclusion_id, "复核后结论更正为无法确定", REVIEWER, True)  # fmt: skip
    assert [s["content"].get("conclusion") for s in detail["steps"] if s["kind"] == "conclusion"] == [
        "inconclusive"
    ]
    assert detail["content_sm3"] != signed_before and len(detail["history"]) == 5
    with db.sessions() as session:  # each correction is in the trail, with its reason
        trail = session.scalars(select(AuditEntry).where(AuditEntry.object_type == "lims_oos_step",
                                                         AuditEntry.object_id == str(current["id"]))).all()  # fmt: skip
        assert [(e.actor_login, e.reason) for e in trail] == [(REVIEWER, "复核后结论更正为无法确定")]

    closure = _close(db, code)
    with db.sessions() as session:
        case = oos.get_case(session, code)
        signed = oos.content_of(session, case)["steps"]["conclusion"]
        assert closure.content_sm3 == oos.content_sm3(session, case) == detail["content_sm3"]
        assert (closure.conclusion, signed["corrects"], signed["content"]["conclusion"]) == (
            "inconclusive", conclusion_id, "inconclusive")  # fmt: skip
    before = _counts(db)
    with pytest.raises(oos.OosCaseClosed):
        _do(db, REVIEWER, lambda uow, p: oos.correct_step(uow, p, code, current["id"], ConclusionCreate(
            conclusion="confirmed", summary="再改"), "关闭后更正"))  # fmt: skip
    assert (_counts(db), _sm3(db, code)) == (before, closure.content_sm3)


@pytest.mark.clause("TJ-10.1.3.4", "SH-7.1.3")
def test_a_correction_is_refused_without_reason_for_an_unknown_or_superseded_step_or_the_wrong_permission(
    db: Database,
) -> None:
    from pharmatrace.kernel.errors import NotFound, ReasonRequired, ValidationFailed

    code, _test_id = _to_conclusion(db)
    phase2_id, conclusion_id = _step_id(db, code, "phase2"), _step_id(db, code, "conclusion")
    other, _t, _r = _case(db)  # a step of another case is unknown here
    _do(db, REVIEWER, lambda uow, p: oos.record_phase1(uow, p, other, PhaseOne.model_validate(
        {**NONE_FOUND, "assignable_cause": False, "summary": "未发现"})))  # fmt: skip
    fixed = ConclusionCreate(conclusion="inconclusive", summary="无法确定")
    _do(db, REVIEWER, lambda uow, p: oos.correct_step(uow, p, code, conclusion_id, fixed, "结论更正"))
    phase1 = PhaseOne.model_validate({**NONE_FOUND, "assignable_cause": True, "summary": "计算错误",
                                      "invalidation_reason": "录入错位",
                                      "calculation": {"answer": "error"}})  # fmt: skip
    lab_only = dataclasses.replace(
        principal(db, REVIEWER), permissions=frozenset({oos.LAB_PERMISSION, "lims.view"})
    )
    refusals: list[tuple[Any, int, Any, str, Any]] = [
        (REVIEWER, conclusion_id, fixed, "  ", ReasonRequired),  # no reason
        (REVIEWER, 999_999, fixed, "更正", NotFound),  # no such step
        (REVIEWER, _step_id(db, other, "phase1"), fixed, "更正", NotFound),  # another case's step
        (REVIEWER, conclusion_id, fixed, "再次更正", oos.OosStepSuperseded),  # corrected already
        (
            lab_only,
            phase2_id,
            PhaseTwo(**{**PHASE2, "root_cause": "温度"}),
            "更正",
            NotPermitted,
        ),  # phase II's
        (ANALYST, _step_id(db, code, "conclusion"), fixed, "更正", NotPermitted),  # the analyst records none
        (REVIEWER, _step_id(db, code, "phase1"), phase1, "更正", Conflict),  # the path taken stays
        (REVIEWER, phase2_id, fixed, "更正", ValidationFailed),  # content of another kind
    ]
    before, signed = _counts(db), _sm3(db, code)
    for who, step_id, body, reason, error in refusals:
        user = who if not isinstance(who, str) else principal(db, who)
        with pytest.raises(error):
            _do(db, user.login, lambda uow, p, s=step_id, b=body, r=reason: oos.correct_step(uow, p, code, s, b, r),
                who=user)  # fmt: skip
    assert (_counts(db), _sm3(db, code)) == (before, signed)


@pytest.mark.clause("TJ-10.1.3.4", "SH-7.1.3")
@pytest.mark.both  # partial unique index and triggers on both dialects
def test_the_database_corrects_a_step_at_most_once_and_only_with_a_reason(db: Database) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from helpers import behind_the_apps_back

    code, _test_id, _result_id = _case(db)
    _do(db, REVIEWER, lambda uow, p: oos.record_phase1(uow, p, code, PhaseOne.model_validate(
        {**NONE_FOUND, "assignable_cause": False, "summary": "未发现实验室差错"})))  # fmt: skip
    original = _step_id(db, code, "phase1")
    _do(db, REVIEWER, lambda uow, p: oos.correct_step(uow, p, code, original, PhaseOne.model_validate(
        {**NONE_FOUND, "assignable_cause": False, "summary": "未发现差错（补充说明）"}), "补充说明"))  # fmt: skip
    insert = text(
        "INSERT INTO lims_oos_steps (case_id, kind, content, recorded_at, recorded_by, recorded_by_name, "
        "corrects_id, reason) SELECT case_id, kind, content, recorded_at, 'raw-sql', 'raw', :corrects, :reason "
        "FROM lims_oos_steps WHERE id = :id"
    )
    before = _counts(db)
    for corrects, reason, refusal in [
        (original, "第二次更正", "unique|UNIQUE"),  # the original is corrected already
        (None, "", "unique|UNIQUE"),  # a second original phase I
        (_step_id(db, code, "phase1"), "", "names its reason"),  # a correction without its reason
    ]:
        with pytest.raises(DBAPIError, match=refusal), behind_the_apps_back(db) as conn:
            conn.execute(insert, {"corrects": corrects, "reason": reason, "id": original})
    with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE lims_oos_steps SET reason = 'x' WHERE id = :id"), {"id": original})
    assert _counts(db) == before
