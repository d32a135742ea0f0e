"""Demo plant: the registration and contract records of 注射用丹红冻干粉 (SH-6.2.4).

陈静 (``chenjing``, QA reviewer) drafts, 赵敏 (``zhaomin``, qualified person) approves by signature:

* the product's drug registration certificate (药品注册证书, 国药准字Z2026…), effective, valid five years;
* the plant's drug manufacturing licence (药品生产许可证), effective, valid until a day inside its 180-day reminder
  window, so the reminder shows;
* a contract-testing agreement (委托检验协议) with a third-party laboratory named in text, effective;
* a quality agreement (质量协议) with the supplier SUP-BZ-YP (亳州华济中药饮片有限公司), in review.

Everything goes through the service. Idempotent: nothing is added once a record exists.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from pharmatrace.kernel import clock
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import dossiers as service
from pharmatrace.qms.dossier_models import Dossier
from pharmatrace.qms.dossier_schemas import DossierApprove, DossierCreate
from pharmatrace.storage.engine import Database

AUTHOR, APPROVER = "chenjing", "zhaomin"
PRODUCT = "FG-DH-0200"  # 注射用丹红冻干粉 200 mg/支 (demo/seed.py)


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def seed_dossiers(db: Database, password: str) -> int:
    """Add the demo's records unless there are some; returns how many were added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(Dossier)):
            return 0
    author, approver = _principal(db, AUTHOR), _principal(db, APPROVER)
    today = clock.today()
    certificate_from = today - timedelta(days=240)
    records = [
        DossierCreate(
            category="registration", kind="drug_registration_certificate", title="注射用丹红冻干粉 药品注册证书",
            reference_no="国药准字Z20260017", material_code=PRODUCT, issuing_authority="国家药品监督管理局",
            effective_from=certificate_from,
            valid_until=certificate_from + timedelta(days=5 * 365),
            owner="陈静（注册专员）", summary="规格 200 mg/支；中药注射剂；有效期五年，期满前六个月申请再注册。",
        ),
        DossierCreate(
            category="registration", kind="manufacturing_licence", title="药品生产许可证（冻干粉针剂车间）",
            reference_no="沪20210042", issuing_authority="上海市药品监督管理局",
            effective_from=today - timedelta(days=5 * 365 - 120), valid_until=today + timedelta(days=120),
            owner="质量保证部", summary="生产范围：冻干粉针剂（含中药注射剂）。换证申请应于期满前六个月提交。",
        ),
        DossierCreate(
            category="contract", kind="contract_testing", title="委托检验协议（微生物限度与细菌内毒素）",
            reference_no="HT-QC-2026-008", counterparty="上海华测药检技术服务有限公司（第三方实验室）",
            effective_from=today - timedelta(days=60), valid_until=today + timedelta(days=2 * 365),
            owner="质量控制部", summary="委托检验项目：细菌内毒素、无菌检查复核；检验报告 5 个工作日内出具。",
        ),
    ]  # fmt: skip
    numbers: list[str] = []
    with UnitOfWork(db, author.actor, reason="demo plant seed: registration and contract records") as uow:
        for body in records:
            numbers.append(service.create_dossier(uow, author, body).number)
            service.submit(uow, author, numbers[-1])
        agreement = service.create_dossier(uow, author, DossierCreate(
            category="contract", kind="quality_agreement", title="中药饮片质量协议（丹参饮片、红花）",
            reference_no="QA-SUP-2026-003", supplier_code="SUP-BZ-YP", effective_from=today,
            valid_until=today + timedelta(days=3 * 365), owner="质量保证部",
            summary="明确饮片质量标准、变更通知、审计权与偏差处理责任。",
        ))  # fmt: skip
        service.submit(uow, author, agreement.number)
        uow.commit()
    for number in numbers:
        with UnitOfWork(db, approver.actor) as uow:
            service.approve(uow, approver, number, DossierApprove(password=password, login=APPROVER,
                                                                  comment="原件已核对，同意生效"))  # fmt: skip
            uow.commit()
    return len(numbers) + 1
