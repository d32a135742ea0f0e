"""Demo plant: two supplier qualifications (SH-6.2.4, TJ-5.1, TJ-5.2.1.1).

* 上海美印包装印刷有限公司 (``SUP-SH-PRT``) prints the carton ``SP-BOX-10`` in a second printing workshop: a change
  at the supplier. 陈静 (``chenjing``, QA reviewer) raises the risk class of the printed carton from low to medium,
  adds the business licence, the printing licence and the quality agreement, records three conforming trial prints
  and proposes an approval for two years; 赵敏 (``zhaomin``, qualified person) approves it with her signature, which
  extends the carton's line on the approved-supplier list.
* 商洛丹参规范化种植基地 (``SUP-SL-DS``) adds a plot to its planting base: a change of a high-risk herb supplier
  (TJ-5.1). The GAP evidence, the licence, the quality agreement and three trial lots are in; the on-site audit is
  the planned supplier audit of the base, so the qualification waits in review until the audit is closed.

裕民红花种植合作社 (``SUP-YM-HH``), whose approval for 红花 expired, is left on the requalification panel.

Everything goes through the service. Idempotent: nothing is added once a qualification exists.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from pharmatrace.kernel import clock
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import supplier_qualifications as service
from pharmatrace.qms.audit_models import Audit
from pharmatrace.qms.supplier_qualification_models import SupplierQualification
from pharmatrace.qms.supplier_qualification_schemas import (
    DocumentCreate,
    QualificationApprove,
    QualificationCreate,
)
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Supplier

REQUESTER, APPROVER = "chenjing", "zhaomin"


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _years(day: date, years: int) -> date:
    return date(day.year + years, 12 if day.month == 12 else day.month, 28)


def seed_supplier_qualifications(db: Database, password: str) -> int:
    """Add the demo's records unless there are some; returns how many were added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(SupplierQualification)):
            return 0
        audit = session.scalar(
            select(Audit.number)
            .join(Supplier, Supplier.id == Audit.supplier_id)
            .where(Audit.kind == "supplier", Supplier.code == "SUP-SL-DS", Audit.status != "cancelled")
            .order_by(Audit.id)
            .limit(1)
        )
    today = clock.today()
    requester, approver = _principal(db, REQUESTER), _principal(db, APPROVER)
    with UnitOfWork(db, requester.actor, reason="demo plant seed: supplier qualification") as uow:
        carton = service.create_qualification(uow, requester, QualificationCreate(
            supplier_code="SUP-SH-PRT", material_code="SP-BOX-10", kind="change", risk_class="medium",
            description="供应商新增松江第二印刷车间（胶印机 2 台），小盒改在新车间印刷。",
            samples_tested=3, samples_conforming=3,
            sample_notes="试印批 BX2610-01、BX2610-02、BX2610-03：按 DWG-PK-001 核对文字、颜色、尺寸，全部符合。",
            proposed_status="approved", proposed_valid_until=_years(today, 2),
            conclusion="印字包材，风险等级由低提高为中；新车间资质齐全，三批试印合格，同意批准。",
        )).number  # fmt: skip
        for doc in (
            DocumentCreate(kind="business_licence", reference="91310117MA1J3K2X5P", note="营业执照（长期）"),
            DocumentCreate(kind="manufacturing_licence", reference="沪印证字（2025）第 0417 号",
                           valid_until=_years(today, 4), note="印刷经营许可证，含第二车间地址"),
            DocumentCreate(kind="quality_agreement", reference="QA-PK-2026-03", valid_until=_years(today, 3)),
        ):  # fmt: skip
            service.add_document(uow, requester, carton, doc)
        service.submit(uow, requester, carton)

        herb = service.create_qualification(uow, requester, QualificationCreate(
            supplier_code="SUP-SL-DS", material_code="HB-DS-001", kind="change", audit_number=audit,
            description="商洛基地新增牛背梁地块（约 120 亩），丹参改由新老地块共同供货。",
            samples_tested=3, samples_conforming=3,
            sample_notes="新地块试采批 DS-NBL-01 至 DS-NBL-03：性状、鉴别、丹参酮ⅡA、丹酚酸B 含量及重金属检验均合格。",
            proposed_status="approved", proposed_valid_until=today + timedelta(days=365),
            conclusion="资质资料齐全，试采三批合格；待基地现场审计关闭后批准。",
        )).number  # fmt: skip
        for doc in (
            DocumentCreate(kind="business_licence", reference="91611002MA6Y8H7T2K", note="营业执照（长期）"),
            DocumentCreate(kind="gap", reference="陕药监中药材GAP延伸检查 2026-015", valid_until=_years(today, 3),
                           note="含牛背梁新地块的种植、采收、初加工记录"),
            DocumentCreate(kind="quality_agreement", reference="QA-HB-2026-01", valid_until=_years(today, 2)),
        ):  # fmt: skip
            service.add_document(uow, requester, herb, doc)
        if audit:  # the on-site audit is required for a herb: linked, so the qualification can go to review
            service.submit(uow, requester, herb)
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        service.approve(uow, approver, carton, QualificationApprove(
            password=password, login=APPROVER, comment="新车间资质齐全，试印合格，同意列入合格供应商目录"))  # fmt: skip
        uow.commit()
    return 2
