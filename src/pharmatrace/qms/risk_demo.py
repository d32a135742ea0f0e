"""Demo plant: one approved FMEA of the lyophilization (冻干) step of 注射用丹红冻干粉 (SH-6.2.4, ICH Q9).

陈静 (``chenjing``, QA reviewer) writes it with five failure modes — shelf temperature excursion in freezing, a
vacuum leak at the chamber door, collapse of the cake, a stopper not seated, condenser overload — two of them high
(RPN ≥ 100, severity 9): the vacuum leak is linked to the CAPA raised from the batch's lyophilizer-door deviation,
the stoppering gets an in-line check; both have residual scores below the threshold. She submits it; 赵敏
(``zhaomin``, qualified person) approves it with her signature.

Everything goes through the service. Idempotent: nothing is added once an assessment exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import risks as service
from pharmatrace.qms.risk_models import RiskAssessment
from pharmatrace.qms.risk_schemas import AssessmentApprove, AssessmentCreate, RiskItemInput
from pharmatrace.storage.engine import Database

AUTHOR, APPROVER = "chenjing", "zhaomin"


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _items(capa: str | None) -> list[dict[str, Any]]:
    return [
        {"step": "预冻", "failure_mode": "板层温度偏离设定值（降温不足）", "effect": "冻结不完全，饼层结构不均匀",
         "cause": "导热油循环泵故障或板层温度探头漂移", "controls": "板层温度连续记录与报警；温度探头年度校准",
         "severity": 7, "occurrence": 3, "detection": 3},
        {"step": "一次干燥", "failure_mode": "箱体真空泄漏（箱门密封失效）", "effect": "箱体压力升高，产品温度超过塌陷温度；无菌保证受影响",
         "cause": "箱门密封圈老化", "controls": "真空度报警；每批进箱前压升测试",
         "severity": 9, "occurrence": 4, "detection": 3,
         "action": "更换箱门密封圈，纳入预防性维护（每 6 个月更换）；每批增加泄漏率测试", "action_owner": "李娜",
         "capa_number": capa, "residual_severity": 9, "residual_occurrence": 2, "residual_detection": 2,
         "residual_acceptance": "严重度无法通过措施降低；密封圈定期更换使发生度降至 2，每批泄漏率测试使可检测度降至 2，剩余风险可接受"},
        {"step": "一次干燥", "failure_mode": "饼层塌陷", "effect": "外观不合格，复溶时间延长，水分偏高",
         "cause": "升温速率过快，产品温度超过塌陷温度（-32 ℃）", "controls": "冻干曲线已验证；产品温度探头监控",
         "severity": 6, "occurrence": 3, "detection": 4},
        {"step": "压塞", "failure_mode": "胶塞未完全压紧", "effect": "密封不良，无菌及水分风险",
         "cause": "压塞液压压力不足或板层不平", "controls": "出箱后目视检查；轧盖前剔除",
         "severity": 9, "occurrence": 3, "detection": 4,
         "action": "压塞后增加 100% 在线胶塞高度检测；液压压力低限报警并验证", "action_owner": "刘洋",
         "residual_severity": 9, "residual_occurrence": 2, "residual_detection": 2,
         "residual_acceptance": "100% 在线胶塞高度检测可剔除未压紧的瓶，不合格品不会流入下工序，剩余风险可接受"},
        {"step": "二次干燥", "failure_mode": "冷阱过载（捕水能力不足）", "effect": "冷阱温度升高，箱体压力失控，干燥不完全",
         "cause": "装载量超出冷阱容量；化霜不彻底", "controls": "装载量按批生产规程；冷阱温度报警",
         "severity": 5, "occurrence": 2, "detection": 3},
    ]  # fmt: skip


def seed_risks(db: Database, password: str) -> int:
    """Add the demo's FMEA unless there is an assessment; returns how many were added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(RiskAssessment)):
            return 0
        found = session.scalar(text("SELECT number FROM qms_capas ORDER BY id LIMIT 1"))
    capa = str(found) if found else None
    author, approver = _principal(db, AUTHOR), _principal(db, APPROVER)
    with UnitOfWork(db, author.actor, reason="demo plant seed: FMEA of the lyophilization step") as uow:
        number = service.create_assessment(uow, author, AssessmentCreate(
            title="冻干工序失效模式与影响分析（FMEA）", subject_kind="process", subject_ref="冻干工序（预冻、一次干燥、二次干燥、压塞）",
            product_step="注射用丹红冻干粉 · 冻干", team="陈静（QA）、李娜（车间主任）、刘洋（冻干岗位）、设备工程师",
            scope="冻干机 FD-01 上注射用丹红冻干粉的冻干全过程，自进箱至压塞出箱。",
        )).number  # fmt: skip
        for item in _items(capa):
            service.add_item(uow, author, number, RiskItemInput.model_validate(item))
        service.submit(uow, author, number)
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        service.approve(uow, approver, number, AssessmentApprove(
            password=password, login=APPROVER, comment="高风险项措施充分，剩余风险可接受，同意批准"))  # fmt: skip
        uow.commit()
    return 1
