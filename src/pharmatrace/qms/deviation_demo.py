"""QMS deviations (TJ-6.4.4): the demo plant's records, at the real time, through the service.

* The completed batch's deviation (LYO-CPP1: the freezing started after the hold time, a door seal alarm),
  recorded by 李娜 (lina) through the MES seam: the escalation job notes its overdue classification; 陈静
  (chenjing, QA) classifies it — the rules suggest critical (sterility assurance), QA records major with the
  rationale; 李娜 investigates (5-why, fishbone), 陈静 assesses the impact on the batch, 赵敏 (zhaomin, QA)
  closes it with her signature.
* The laboratory's OOS (水分 of the sampled lot), raised by 王芳 (wangfang), classified major by 陈静 and left
  under investigation by 孙丽 (sunli).
* A cold-room temperature excursion in the warehouse, entered by hand by 周强 (zhouqiang), open, due for triage.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import deviations
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.qms.deviation_schemas import (
    Classification,
    DeviationCreate,
    ImpactAssessment,
    Investigation,
    Triage,
)
from pharmatrace.storage.engine import Database

T = TypeVar("T")
QA, QP, SUPERVISOR, ANALYST, QC_REVIEWER, KEEPER = (
    "chenjing",
    "zhaomin",
    "lina",
    "wangfang",
    "sunli",
    "zhouqiang",
)


def _as(db: Database, login: str, reason: str | None, act: Callable[[UnitOfWork, Principal], T]) -> T:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        who = identity.principal_of(user)
    with UnitOfWork(db, who.actor, reason=reason) as uow:
        result = act(uow, who)
        uow.commit()
        return result


def _assess(db: Database, number: str, impact: ImpactAssessment) -> None:
    _as(db, QA, None, lambda uow, who: deviations.assess_impact(uow, who, number, impact))


def _batch_deviation(db: Database, password: str) -> int:
    with db.sessions() as session:
        number = session.scalar(
            select(Deviation.number).where(Deviation.source_kind == "mes", Deviation.status == "open")
            .order_by(Deviation.id).limit(1)
        )  # fmt: skip
    if number is None:
        return 0
    deviations.escalate_overdue(db)  # recorded days ago in the batch's history: its triage is overdue
    _as(db, QA, None, lambda uow, who: deviations.classify(uow, who, number, Classification(
        category="equipment",
        triage=Triage(sterility_assurance=True, product_quality=True, validated_state=False),
        classification="major",
        rationale="半加塞产品始终处于 A 级层流保护下，期间 A 级区悬浮粒子与浮游菌监测均符合标准；暴露超时 15 min，"
                  "经无菌工艺模拟（培养基灌装）覆盖的最长暴露时间为 90 min，对无菌保证的风险可控，定为主要偏差。",
    )))  # fmt: skip
    _as(db, SUPERVISOR, None, lambda uow, who: deviations.start_investigation(uow, who, number))
    _as(db, SUPERVISOR, None, lambda uow, who: deviations.record_action(
        uow, who, number, "冻干机 LYO-01 箱门密封圈全部更换，已做泄漏率测试（0.6 Pa·L/s，合格）。"))  # fmt: skip
    _as(db, SUPERVISOR, None, lambda uow, who: deviations.complete_investigation(uow, who, number, Investigation(
        root_cause="箱门密封圈老化开裂，超出供应商建议的更换周期（12 个月）仍在使用。",
        why_chain=["为什么冷冻开始晚？——箱门密封报警，处理后才能进箱。", "为什么密封报警？——密封圈开裂漏气。",
                   "为什么开裂？——密封圈已使用 16 个月，老化。", "为什么超期使用？——预防性维护计划未列密封圈更换。"],
        fishbone=["machine", "method"],
        conclusion="偏差由设备部件老化引起，已更换；A 级区环境监测及加倍的无菌检查结果符合规定，对本批产品质量无不良影响。",
        no_capa_rationale="密封圈更换已按设备变更纳入 LYO-01 预防性维护计划（每 12 个月），无需另立 CAPA。",
    )))  # fmt: skip
    with db.sessions() as session:
        batches = deviations.affected_objects(deviations.get_deviation(session, number))
    for kind, ref in batches:
        impact = ImpactAssessment(object_kind=kind, object_ref=ref, conclusion="impact_acceptable",
                                  rationale="环境监测与加倍无菌检查均合格，暴露时间在培养基灌装验证范围内。")  # fmt: skip
        _assess(db, number, impact)
    _as(db, QP, None, lambda uow, who: deviations.close(uow, who, number, password=password, login=QP,
                                                       comment="调查充分，影响评估结论可接受，同意关闭。"))  # fmt: skip
    return 1


def _oos_deviation(db: Database) -> int:
    from pharmatrace.lims.result_models import OosCase

    with db.sessions() as session:
        oos = session.scalar(select(OosCase).order_by(OosCase.id).limit(1))
        if oos is None:
            return 0
        code, lot, item, result, limit = (
            oos.code,
            oos.lot_number,
            oos.item_name,
            oos.result_text,
            oos.limit_text,
        )
        material = oos.material_name
        if _exists(session, f"lims:{code}"):
            return 0
    body = DeviationCreate(
        description=f"{material} 批 {lot} 检验项目“{item}”结果 {result}，不符合标准（{limit}），实验室初步调查未发现检验错误。",
        occurred_at=clock.now() - timedelta(hours=2), immediate_actions="该批物料继续待验、不得放行；留样复核；通知供应商。",
        affected_lots=[lot], category="laboratory", source_kind="lims", source=f"lims:{code}",
    )  # fmt: skip
    number = _as(db, ANALYST, None, lambda uow, who: deviations.record(uow, who, body)).number
    _as(db, QA, None, lambda uow, who: deviations.classify(uow, who, number, Classification(
        category="material", triage=Triage(product_quality=True),
        rationale="物料质量属性不符合标准，可能影响产品质量；按规则为主要偏差。")))  # fmt: skip
    _as(db, QC_REVIEWER, None, lambda uow, who: deviations.start_investigation(uow, who, number))
    return 1


def _exists(session: Session, source: str) -> bool:
    """The demo raised this deviation already (the seed runs again on a seeded plant and adds nothing)."""
    return session.scalar(select(Deviation.id).where(Deviation.source == source)) is not None


def _cold_room_deviation(db: Database) -> int:
    with db.sessions() as session:
        if _exists(session, "wms:WH-CS"):
            return 0
    body = DeviationCreate(
        description="冷库 WH-CS 温度记录显示 9.6 °C（规定 2–8 °C），持续约 40 min；制冷机组除霜后未及时恢复。",
        occurred_at=clock.now() - timedelta(days=1, hours=3),
        immediate_actions="手动重启制冷机组，温度 25 min 内恢复至 6 °C；库内物料暂停发放，挂待评估标识。",
        category="storage", source_kind="wms", source="wms:WH-CS",
    )  # fmt: skip
    _as(db, KEEPER, None, lambda uow, who: deviations.record(uow, who, body))
    return 1


def seed_deviations(db: Database, password: str) -> int:
    """The demo's deviations in their stages; the number of deviations touched."""
    return _batch_deviation(db, password) + _oos_deviation(db) + _cold_room_deviation(db)
