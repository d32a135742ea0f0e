"""Demo plant: two validations (SH-6.3.2.1.c, TJ-10.3; GMP Annex 15).

* ``VAL-2026-0001`` — completed: the periodic requalification (OQ/PQ) of the freeze dryer FD-01 after its vacuum
  pump was replaced (the change control of that replacement, when the demo has it). 吴昊 (``wuhao``, equipment
  engineer) writes the protocol — ultimate vacuum, leak rate, shelf temperature uniformity, a full-load
  lyophilization cycle — 陈静 (``chenjing``, QA) approves it by signature; 吴昊 records the results (one corrected for
  a transcription error, the original kept) and the report; 陈静 approves the report: validated, revalidation in 12
  months. The approval writes the passing qualification into FD-01's logbook, which was qualified already: it
  stays qualified.
* ``VAL-2026-0002`` — in execution: the process validation (PV) of 注射用丹红冻干粉 on three consecutive batches,
  answering to the FMEA of the lyophilization step. 陈静 writes it, 赵敏 (``zhaomin``) approves the protocol, the
  first two results are in.

Everything goes through the service. Idempotent: nothing is added once a validation exists.
"""

from __future__ import annotations

from sqlalchemy import func, select, text

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import validation as service
from pharmatrace.qms.validation_models import Validation
from pharmatrace.qms.validation_schemas import (
    ProtocolItemInput,
    ReportSubmit,
    ResultInput,
    SignBody,
    ValidationCreate,
)
from pharmatrace.storage.engine import Database

ENGINEER, QA, QP = "wuhao", "chenjing", "zhaomin"

FD01_TESTS = (
    ("OQ", "极限真空度", "空载，关闭箱门，抽真空 60 min 后读数", "≤ 5 Pa"),
    ("OQ", "箱体泄漏率（压升测试）", "抽至极限真空后关闭隔离阀，记录 30 min 压升", "≤ 0.02 Pa·m³/s"),
    ("OQ", "板层温度均匀性", "空载，板层设定 -40 ℃ 与 +40 ℃ 各稳定 30 min，每板 9 点测温", "各点与设定值偏差 ±1.0 ℃ 以内"),
    ("PQ", "满载冻干曲线", "满载模拟品按注射用丹红冻干粉冻干曲线运行一个周期", "产品温度、板层温度与箱压在曲线限度内；残留水分 ≤ 3.0%"),
)  # fmt: skip
FD01_RESULTS = (
    "极限真空 2.1 Pa",
    "泄漏率 0.008 Pa·m³/s",
    "最大偏差 0.6 ℃（-40 ℃）、0.8 ℃（+40 ℃）",
    "曲线全程在限度内；残留水分 1.9%",
)
PV_TESTS = (
    ("PV", "第 1 批（DH20261101）关键工艺参数与成品检验", "按工艺验证方案取样检验", "全部关键工艺参数在范围内；成品检验符合质量标准"),
    ("PV", "第 2 批关键工艺参数与成品检验", "按工艺验证方案取样检验", "全部关键工艺参数在范围内；成品检验符合质量标准"),
    ("PV", "第 3 批关键工艺参数与成品检验", "按工艺验证方案取样检验", "全部关键工艺参数在范围内；成品检验符合质量标准"),
    ("PV", "批间一致性", "三批含量、水分、复溶时间的统计比较", "三批 RSD ≤ 2.0%"),
)  # fmt: skip


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _sign(password: str, login: str, comment: str) -> SignBody:
    return SignBody(password=password, login=login, comment=comment)


def seed_validation(db: Database, password: str) -> int:
    """Add the demo's validations unless there are some; returns how many were added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(Validation)):
            return 0
        change = session.scalar(
            text("SELECT number FROM qms_changes WHERE title LIKE '%真空泵%' ORDER BY id LIMIT 1")
        )
        risk = session.scalar(text("SELECT number FROM qms_risk_assessments ORDER BY id LIMIT 1"))
        fd01 = session.scalar(text("SELECT code FROM equipment WHERE code = 'FD-01' AND voided_at IS NULL"))
    engineer, qa, qp = _principal(db, ENGINEER), _principal(db, QA), _principal(db, QP)
    added = 0
    if fd01:
        added += _requalification(db, engineer, qa, password, str(change) if change else None)
    added += _process_validation(db, qa, qp, password, str(risk) if risk else None)
    return added


def _requalification(
    db: Database, engineer: Principal, qa: Principal, password: str, change: str | None
) -> int:
    with UnitOfWork(db, engineer.actor, reason="demo plant seed: requalification of FD-01") as uow:
        number = service.create_validation(uow, engineer, ValidationCreate(
            kind="equipment_qualification", title="冻干机 FD-01 再确认（更换真空泵后 OQ/PQ）", subject="FD-01",
            scope="更换真空泵后对冻干机 FD-01 的运行确认与性能确认；同时作为年度再确认。", change_number=change,
            stages=["OQ", "PQ"], revalidation_months=12,
        )).number  # fmt: skip
        for stage, item, procedure, criterion in FD01_TESTS:
            body = ProtocolItemInput(stage=stage, item=item, procedure=procedure, criterion=criterion)
            service.add_test(uow, engineer, number, body)
        service.submit(uow, engineer, number)
        uow.commit()
    with UnitOfWork(db, qa.actor) as uow:
        service.approve_protocol(uow, qa, number, _sign(password, QA, "方案覆盖真空系统更换的影响，同意执行"))
        uow.commit()
    with UnitOfWork(db, engineer.actor, reason="demo plant seed: FD-01 OQ/PQ executed") as uow:
        service.record_result(
            uow, engineer, number, 1, ResultInput(observed="极限真空 21 Pa", outcome="fail")
        )
        for seq, observed in enumerate(FD01_RESULTS, start=1):
            correction = "抄录错误：仪表读数为 2.1 Pa（见原始记录第 3 页）" if seq == 1 else None
            service.record_result(uow, engineer, number, seq, ResultInput(
                observed=observed, outcome="pass", correction_reason=correction))  # fmt: skip
        service.submit_report(uow, engineer, number, ReportSubmit(
            conclusion="OQ、PQ 全部项目符合接受标准，冻干机 FD-01 更换真空泵后确认合格，可继续用于生产。"))  # fmt: skip
        uow.commit()
    with UnitOfWork(db, qa.actor) as uow:
        service.approve_report(uow, qa, number, _sign(password, QA, "结果符合接受标准，确认合格"))
        uow.commit()
    return 1


def _process_validation(
    db: Database, author: Principal, qp: Principal, password: str, risk: str | None
) -> int:
    with UnitOfWork(
        db, author.actor, reason="demo plant seed: process validation of 注射用丹红冻干粉"
    ) as uow:
        number = service.create_validation(uow, author, ValidationCreate(
            kind="process", title="注射用丹红冻干粉工艺验证（连续三批）", subject="注射用丹红冻干粉 · 提取、配液、灌装、冻干",
            scope="按批准的工艺规程连续生产三批，确认工艺稳定、产品符合质量标准。", risk_number=risk,
            stages=["PV"], revalidation_months=36,
        )).number  # fmt: skip
        for stage, item, procedure, criterion in PV_TESTS:
            body = ProtocolItemInput(stage=stage, item=item, procedure=procedure, criterion=criterion)
            service.add_test(uow, author, number, body)
        service.submit(uow, author, number)
        uow.commit()
    with UnitOfWork(db, qp.actor) as uow:
        service.approve_protocol(uow, qp, number, _sign(password, QP, "同意按方案执行"))
        uow.commit()
    with UnitOfWork(
        db, author.actor, reason="demo plant seed: first batches of the process validation"
    ) as uow:
        service.record_result(uow, author, number, 1, ResultInput(
            observed="关键工艺参数均在范围内；含量 98.7%，水分 1.8%，符合规定", outcome="pass"))  # fmt: skip
        service.record_result(uow, author, number, 2, ResultInput(
            observed="关键工艺参数均在范围内；含量 99.1%，水分 2.0%，符合规定", outcome="pass"))  # fmt: skip
        uow.commit()
    return 1
