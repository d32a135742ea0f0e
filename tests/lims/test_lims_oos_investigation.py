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
