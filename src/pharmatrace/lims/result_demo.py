"""Demo plant: the test order of the sampled demo lot, its results and their review, one OOS (TJ-7.3, TJ-7.4, TJ-7.7).

The demo's sampled lot is the 三七 lot under test (:mod:`pharmatrace.lims.sample_demo`). QC analyst 王芳
(``wangfang``) orders its test sample against the release specification QS-HB-SQ-001, takes part of it for
testing, and enters the results on the calibrated balance and HPLC with usable reagents. QC reviewer 孙丽
(``sunli``) reviews and signs them. 水分 comes out at 14.6 % against “≤ 14.0 %”: the result is flagged OOS, locked,
and a phase I laboratory investigation is opened. The assay waits in the analyst's worklist (the HPLC run is
still going). 孙丽 records phase I (:mod:`pharmatrace.lims.oos`): every assignable-cause check answered, no
laboratory error found, so the case goes to phase II; its deviation is the one the deviation demo raises from the
case (:mod:`pharmatrace.qms.deviation_demo`, source ``lims:<case>``), linked by that source, never duplicated.
Everything goes through the services; idempotent (nothing is added once an order exists, or a phase I recorded).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import results, samples
from pharmatrace.lims.reagent_models import Reagent
from pharmatrace.lims.result_models import TestOrder
from pharmatrace.lims.result_schemas import ResultEntry, ReviewDecision, TestOrderCreate
from pharmatrace.lims.sample_models import Sample
from pharmatrace.lims.sample_schemas import SampleIssue
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Lot

ANALYST, REVIEWER = "wangfang", "sunli"
SANQI = "SQ20261025"  # the supplier lot of the demo's 三七 (pharmatrace.wms.demo), sampled by the sample demo
BALANCE, HPLC = "BAL-QC-01", "HPLC-01"

# item → (the result as entered, instrument, reagents by name, whether the reviewer approves it now)
DEMO_RESULTS: dict[str, tuple[dict[str, Any], str | None, tuple[str, ...], bool]] = {
    "性状": (
        {"text": "主根呈类圆锥形，表面灰褐色，体重质坚实，断面灰绿色；气微，味苦回甜，符合规定"},
        None,
        (),
        True,
    ),
    "鉴别": ({"answer": "conforms"}, None, ("甲醇",), True),
    "水分": ({"value": Decimal("14.6")}, BALANCE, (), False),  # above ≤ 14.0 %: OOS, phase I
    "总灰分": ({"value": Decimal("4.2")}, BALANCE, (), True),
    "醇溶性浸出物": ({"value": Decimal("23.5")}, BALANCE, ("甲醇",), True),
}


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _reagent_codes(db: Database, names: tuple[str, ...]) -> list[str]:
    with db.sessions() as session:
        found = []
        for name in names:
            code = session.scalars(
                select(Reagent.code).where(Reagent.name == name).order_by(Reagent.code)
            ).first()
            if code is not None:
                found.append(code)
        return found


def seed_results(db: Database, password: str) -> int:
    """Add what is missing; idempotent. Returns how many records were added."""
    return _results(db, password) + _oos_phase_one(db)


# Phase I of the demo's OOS (TJ-7.7): the checklist answered by the QC reviewer, no assignable cause found.
PHASE_ONE = {
    "calculation": {"answer": "ok", "note": "计算公式与原始数据复核无误"},
    "instrument": {"answer": "ok", "note": "BAL-QC-01 在校准有效期内，当日点检合格"},
    "standard_reagent": {"answer": "ok", "note": "本项目不使用对照品和试剂"},
    "sample_preparation": {"answer": "ok", "note": "取样、制样按 SOP 执行，平行样结果一致"},
    "analyst": {"answer": "ok", "note": "检验员经培训考核合格"},
    "assignable_cause": False,
    "summary": "实验室调查未发现可归因的检验错误，转入第二阶段全面调查（物料与供应商）。",
}


def _oos_phase_one(db: Database) -> int:
    from pharmatrace.lims import oos
    from pharmatrace.lims.oos_models import OosStep
    from pharmatrace.lims.oos_schemas import PhaseOne
    from pharmatrace.lims.result_models import OosCase

    with db.sessions() as session:
        case = session.scalar(select(OosCase).order_by(OosCase.id).limit(1))
        if case is None or session.scalar(select(OosStep.id).where(OosStep.case_id == case.id).limit(1)):
            return 0
        code = case.code
    reviewer = _principal(db, REVIEWER)
    with UnitOfWork(db, reviewer.actor, reason="demo plant seed: OOS phase I") as uow:
        oos.record_phase1(uow, reviewer, code, PhaseOne.model_validate(PHASE_ONE))
        uow.commit()
    return 1


def _results(db: Database, password: str) -> int:
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(TestOrder)):
            return 0
        lot = session.scalar(select(Lot).where(Lot.supplier_lot == SANQI))
        sample = (
            session.scalar(select(Sample).where(Sample.lot_id == lot.id, Sample.kind == "test"))
            if lot is not None
            else None
        )
        if sample is None:
            return 0
        sample_code = sample.code
    analyst, reviewer = _principal(db, ANALYST), _principal(db, REVIEWER)
    with UnitOfWork(db, analyst.actor, reason="demo plant seed: release test of the 三七 lot") as uow:
        order = results.create_order(uow, analyst, TestOrderCreate(
            sample_code=sample_code, source="receipt", analyst=ANALYST, note="来料放行检验",
        ))  # fmt: skip
        samples.issue(
            uow, analyst, sample_code, SampleIssue(quantity=Decimal("0.2"), note=f"检验 {order.code}")
        )
        tests = {t.item_name: t.id for t in order.tests}
        uow.commit()
    added = 1
    to_review = []
    for item, (given, instrument, reagent_names, approve) in DEMO_RESULTS.items():
        entry = ResultEntry.model_validate(
            {**given, "instrument_code": instrument, "reagent_codes": _reagent_codes(db, reagent_names)}
        )
        with UnitOfWork(db, analyst.actor) as uow:
            result = results.enter_result(uow, analyst, tests[item], entry)
            uow.commit()
            added += 1
            if approve:
                to_review.append((item, result.id))
    for item, result_id in to_review:
        judged = "pass" if item == "性状" else None
        with UnitOfWork(db, reviewer.actor) as uow:
            results.review(uow, reviewer, result_id, ReviewDecision(
                decision="approved", judgement=judged, comment="复核无误", password=password, login=REVIEWER,
            ))  # fmt: skip
            uow.commit()
            added += 1
    return added
