"""Demo plant: two audits (TJ-11.1, TJ-11.2.1, SH-6.2.4).

* The computerized-system self-inspection of the EBR system after TJ-11: 陈静 (``chenjing``, QA) leads it; the
  TJ-11.2.1 a–e checklist is assessed; a minor finding (the system inventory does not state the scope of use of
  the monitoring interface) is answered and verified; a major finding (two leavers' accounts still active at the
  access review) is handled by the demo's CAPA from the GMP self-inspection and verified; 赵敏 (``zhaomin``,
  qualified person), not the lead auditor, closes it with her signature.
* A supplier audit of 商洛丹参规范化种植基地 (``SUP-SL-DS``), planned for next month.

Everything goes through the service. Idempotent: nothing is added once an audit exists.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import audits as service
from pharmatrace.qms.audit_models import Audit
from pharmatrace.qms.audit_schemas import (
    AuditClose,
    AuditCreate,
    ChecklistAssessment,
    FindingCreate,
    FindingResponse,
    FindingVerification,
    Result,
)
from pharmatrace.qms.capa_models import Capa
from pharmatrace.storage.engine import Database

LEAD, RESPONDER, CLOSER, SUPPLIER = "chenjing", "qianyu", "zhaomin", "SUP-SL-DS"

ASSESSMENTS: tuple[tuple[Result, str], ...] = (
    ("conforms", "系统功能清单（审计功能一览）列明各模块用途；权限目录列明各角色使用范围。"),
    ("conforms", "计算机化系统管理规程、用户权限管理规程、数据备份与恢复规程现行有效。"),
    ("conforms", "验证总计划及合规矩阵覆盖全部条款，最近一次验证报告已批准。"),
    ("finding", "偏差、变更记录完整；监控接口的使用范围未写入系统清单（见发现 1）。"),
    ("finding", "审计追踪开启且不可修改；权限审核发现 2 个离职人员账号仍为启用状态（见发现 2）。"),
)


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _capa(db: Database) -> str | None:
    """The demo's CAPA from the GMP self-inspection (any CAPA if there is none)."""
    with db.sessions() as session:
        found = session.scalar(
            select(Capa.number).where(Capa.source_type == "audit").order_by(Capa.id).limit(1)
        )
        return found or session.scalar(select(Capa.number).order_by(Capa.id).limit(1))


def seed_audits(db: Database, password: str) -> int:
    """Add the demo's audits unless there are some; returns how many were added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(Audit)):
            return 0
    lead, responder, closer = _principal(db, LEAD), _principal(db, RESPONDER), _principal(db, CLOSER)
    capa = _capa(db)
    today = service.today()
    with UnitOfWork(db, lead.actor, reason="demo plant seed: audit") as uow:
        number = service.create_audit(uow, lead, AuditCreate(
            kind="computerized_system", title="电子批记录系统计算机化系统自检（TJ-11）",
            scope="生产、检验电子批记录系统：系统清单、管理规程、验证、相关偏差与变更、安全使用",
            auditee="质量保证部 / 信息部", lead_auditor=LEAD, audit_team="陈静（组长）、钱宇",
            planned_start=today - timedelta(days=14), planned_end=today - timedelta(days=10),
        )).number  # fmt: skip
        service.start(uow, lead, number)
        for seq, (result, note) in enumerate(ASSESSMENTS, start=1):
            service.assess_item(
                uow, lead, number, seq, ChecklistAssessment(result=result, evidence_note=note)
            )
        service.add_finding(uow, lead, number, FindingCreate(
            classification="minor", clause_ref="TJ-11.2.1 a",
            description="系统清单未写明监控数据接口的使用范围。", due_date=today - timedelta(days=3),
        ))  # fmt: skip
        if capa is not None:
            service.add_finding(uow, lead, number, FindingCreate(
                classification="major", clause_ref="TJ-11.2.1 e",
                description="权限定期审核发现 2 个离职人员账号仍为启用状态。", due_date=today,
            ))  # fmt: skip
        uow.commit()
    # the responses are recorded by a team member, and verified by the lead auditor (never the same person)
    with UnitOfWork(db, responder.actor, reason="demo plant seed: audit responses") as uow:
        service.respond_finding(uow, responder, number, 1, FindingResponse(
            response="系统清单已补充监控接口的功能用途与使用范围，经信息部负责人审核。"
        ))  # fmt: skip
        if capa is not None:
            service.respond_finding(uow, responder, number, 2, FindingResponse(
                response="已停用相关账号；离职流程增加信息部账号停用确认，纳入 CAPA 管理。", capa_number=capa,
            ))  # fmt: skip
        uow.commit()
    with UnitOfWork(db, lead.actor, reason="demo plant seed: audit") as uow:
        service.verify_finding(uow, lead, number, 1, FindingVerification(note="现场核对修订后的系统清单"))
        if capa is not None:
            service.verify_finding(
                uow, lead, number, 2, FindingVerification(note="复查权限审核报表：无离职人员启用账号")
            )
        service.report(uow, lead, number)
        service.create_audit(uow, lead, AuditCreate(
            kind="supplier", supplier=SUPPLIER, title="丹参种植基地现场审计（GAP）",
            scope="种植、采收、初加工、贮藏及追溯记录；上次审计 CAPA 的落实",
            auditee="商洛丹参规范化种植基地", lead_auditor=LEAD, audit_team="陈静（组长）、孙丽",
            planned_start=today + timedelta(days=20), planned_end=today + timedelta(days=21),
        ))  # fmt: skip
        uow.commit()
    with UnitOfWork(db, closer.actor) as uow:
        service.close(uow, closer, number, AuditClose(
            conclusion="系统总体符合 TJ-11 要求；2 项发现已整改并验证，同意关闭。", password=password, login=CLOSER,
        ))  # fmt: skip
        uow.commit()
    return 2
