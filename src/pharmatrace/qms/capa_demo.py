"""Demo plant: three CAPAs in their stages (SH-6.2.4, TJ-9.4).

* From a deviation of the completed batch (:mod:`pharmatrace.mes.history_demo`; the OOS case when there is no
  deviation): 李娜 (``lina``, production supervisor) raises a corrective CAPA with two actions; 陈静 (``chenjing``,
  QA) approves the plan with her signature; 李娜 completes her action with its evidence — the CAPA is in
  implementation, 张伟's (``zhangwei``) action still open.
* From the OOS case of the 三七 lot (:mod:`pharmatrace.lims.result_demo`): 孙丽 (``sunli``, QC reviewer) raises a
  preventive CAPA for the drying of incoming herbs — a draft waiting for QA's approval.
* From the internal GMP self-inspection (``AU-YYYY-0001``, the first audit of the year: seeded later by
  :mod:`pharmatrace.qms.audit_demo`, whose finding links back to this CAPA): a CAPA closed as effective —
  approved, its action done, the effectiveness check signed by 陈静.

No retraining action: retraining orders would make the demo's people lapsed on their SOPs. Everything goes
through the service, at the real time (after the history). Idempotent: nothing is added once a CAPA exists.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import capa as service
from pharmatrace.qms.capa_models import Capa
from pharmatrace.qms.capa_schemas import CapaApprove, CapaCreate, EffectivenessVerdict
from pharmatrace.storage.engine import Database

ORIGINATOR, QA, OPERATOR, QC = "lina", "chenjing", "zhangwei", "sunli"


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _first(db: Database, query: str) -> str | None:
    with db.sessions() as session:
        found = session.scalar(text(query))
        return str(found) if found else None


def _create(db: Database, login: str, data: dict[str, Any]) -> str:
    who = _principal(db, login)
    with UnitOfWork(db, who.actor, reason="demo plant seed: CAPA raised") as uow:
        number = service.create_capa(uow, who, CapaCreate.model_validate(data)).number
        uow.commit()
    return number


def _approve(db: Database, number: str, password: str, criteria: str, days: int) -> None:
    qa = _principal(db, QA)
    body = CapaApprove(effectiveness_criteria=criteria, effectiveness_due=service.today() + timedelta(days=days),
                       password=password, login=QA, comment="计划可行，同意实施")  # fmt: skip
    with UnitOfWork(db, qa.actor) as uow:
        service.approve(uow, qa, number, body)
        uow.commit()


def _complete(db: Database, number: str, seq: int, login: str, evidence: str) -> None:
    who = _principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        service.complete_action(uow, who, number, seq, evidence)
        uow.commit()


def seed_capas(db: Database, password: str) -> int:
    """Add the demo's CAPAs unless there are some; returns how many were added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(Capa)):
            return 0
    today = service.today()
    deviation = _first(db, "SELECT number FROM deviations ORDER BY id LIMIT 1")
    oos = _first(db, "SELECT code FROM lims_oos_cases ORDER BY id LIMIT 1")
    added = 0
    if deviation or oos:
        number = _create(db, ORIGINATOR, {
            "kind": "corrective", "source_type": "deviation" if deviation else "oos", "source_ref": deviation or oos,
            "title": "批生产过程偏差的纠正措施", "owner": ORIGINATOR, "due_date": str(today + timedelta(days=30)),
            "problem": "已完成批次的生产过程中发生偏差，详见偏差记录。",
            "root_cause": "岗位 SOP 对关键参数的确认要求不明确（偏差调查报告）",
            "actions": [
                {"description": "修订岗位 SOP，明确关键参数的双人复核要求", "owner": ORIGINATOR,
                 "due_date": str(today + timedelta(days=14)), "action_type": "general"},
                {"description": "按修订后的要求在下一批次执行双人复核并记录", "owner": OPERATOR,
                 "due_date": str(today + timedelta(days=21)), "action_type": "process_change"},
            ],
        })  # fmt: skip
        _approve(db, number, password, "后续连续 3 批无同类偏差", 90)
        _complete(db, number, 1, ORIGINATOR, "SOP 修订稿已提交文件管理员，修订要点已在班前会宣贯")
        added += 1
    if oos:
        _create(db, QC, {
            "kind": "preventive", "source_type": "oos", "source_ref": oos,
            "title": "来料三七水分超标的预防措施", "owner": QC, "due_date": str(today + timedelta(days=45)),
            "problem": "三七来料水分 14.6 %，超出标准 ≤ 14.0 %。",
            "root_cause": "产地初加工干燥时间不足（OOS 调查第一阶段）",
            "actions": [{"description": "将来料水分快速检测纳入收货检查，并向产地反馈干燥要求", "owner": QC,
                         "due_date": str(today + timedelta(days=30))}],
        })  # fmt: skip
        added += 1
    number = _create(db, ORIGINATOR, {
        "kind": "corrective", "source_type": "audit", "source_ref": f"AU-{today.year}-0001",
        "title": "GMP 自检发现：状态标识不全", "owner": ORIGINATOR, "due_date": str(today + timedelta(days=10)),
        "problem": "自检发现冻干车间 2 个中间产品贮罐未悬挂状态标识。",
        "root_cause": "交接班检查清单未包含状态标识项",
        "actions": [{"description": "交接班检查清单增加状态标识核对项并培训班组长", "owner": ORIGINATOR,
                     "due_date": str(today + timedelta(days=7))}],
    })  # fmt: skip
    _approve(db, number, password, "连续 2 周现场检查状态标识齐全", 0)
    _complete(db, number, 1, ORIGINATOR, "新版交接班检查清单已启用，班组长签到表附后")
    qa = _principal(db, QA)
    with UnitOfWork(db, qa.actor) as uow:
        service.record_effectiveness(uow, qa, number, EffectivenessVerdict(
            verdict="effective", evidence="现场复查：所有贮罐状态标识齐全", password=password, login=QA,
            comment="措施有效，关闭"))  # fmt: skip
        uow.commit()
    return added + 1
