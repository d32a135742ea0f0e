"""Demo plant: two complaints about the shipped batch (SH-6.2.4).

* From 瑞金医院 (customer ``H-RJYY``), by e-mail: a torn outer case of batch ``DH2611001``, named by one of its
  shipped case codes — a minor packaging complaint; 陈静 (``chenjing``, QA reviewer) registers it, investigates it
  (batch record and retained sample reviewed: not justified — damage in transport), answers the hospital; 赵敏
  (``zhaomin``, qualified person) closes it with her signature.
* A pharmacist's phone call about particles in the solution of the same batch — a major quality complaint under
  investigation by 陈静.

Everything goes through the service. Idempotent: nothing is added once a complaint exists.
"""

from __future__ import annotations

from sqlalchemy import func, select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import complaints as service
from pharmatrace.qms.complaint_models import Complaint
from pharmatrace.qms.complaint_schemas import (
    ComplaintClose,
    ComplaintCreate,
    InvestigationRecord,
    InvestigatorAssign,
    ResponseRecord,
)
from pharmatrace.storage.engine import Database

CUSTOMER, HANDLER, CLOSER = "H-RJYY", "chenjing", "zhaomin"


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _case_code(db: Database, batch_no: str) -> str | None:
    """A shipped outer case of the batch (any of its cases if none is shipped)."""
    from pharmatrace.mes.execution_models import BatchOrder
    from pharmatrace.trace.models import TraceCode

    with db.sessions() as session:
        order_id = session.scalar(select(BatchOrder.id).where(BatchOrder.batch_no == batch_no))
        if order_id is None:
            return None
        cases = select(TraceCode.value).where(TraceCode.batch_order_id == order_id, TraceCode.level == 3)
        found = session.scalar(cases.where(TraceCode.state == "shipped").order_by(TraceCode.id).limit(1))
        return found or session.scalar(cases.order_by(TraceCode.id).limit(1))


def seed_complaints(db: Database, password: str) -> int:
    """Add the demo's complaints unless there are some; returns how many were added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(Complaint)):
            return 0
    from pharmatrace.mes.history_demo import completed_batch_no

    batch_no = completed_batch_no(db)
    code = _case_code(db, batch_no) if batch_no else None
    if batch_no is None or code is None:
        return 0
    handler, closer = _principal(db, HANDLER), _principal(db, CLOSER)
    with UnitOfWork(db, handler.actor, reason="demo plant seed: complaint received") as uow:
        first = service.create_complaint(uow, handler, ComplaintCreate(
            channel="email", complainant_name="王药师", complainant_org="上海交通大学医学院附属瑞金医院药剂科",
            complainant_contact="021-64370045", customer=CUSTOMER, category="packaging",
            description="收到的一箱外箱破损，箱内 2 盒小盒压痕，产品本身未见异常。", batch_no=batch_no, code=code,
            classification="minor", classification_rationale="外包装破损，内包装完好，不影响产品质量",
        )).number  # fmt: skip
        second = service.create_complaint(uow, handler, ComplaintCreate(
            channel="phone", complainant_name="李药师", complainant_org="社区卫生服务中心",
            complainant_contact="139 0000 0000", category="quality",
            description="配制时发现 1 瓶溶液中有可见异物。", batch_no=batch_no, classification="major",
            classification_rationale="可见异物可能影响患者安全，需调查留样及批记录",
        )).number  # fmt: skip
        for number in (first, second):
            service.assign_investigator(uow, handler, number, InvestigatorAssign(investigator=HANDLER))
        service.record_investigation(uow, handler, first, InvestigationRecord(
            findings="批记录包装工序无异常；留样外箱完好；承运商确认运输途中外箱受压。",
            root_cause="运输途中外箱受压", batch_record_reviewed=True, batch_record_notes="包装及装箱记录完整，无偏差",
            retained_sample_reviewed=True, retained_sample_notes="留样外观、包装完好", conclusion="not_justified",
        ))  # fmt: skip
        service.respond(uow, handler, first, ResponseRecord(
            response="经调查，外箱破损系运输途中受压所致，产品质量不受影响；已要求承运商加强防护。"
        ))  # fmt: skip
        uow.commit()
    with UnitOfWork(db, closer.actor) as uow:
        service.close(
            uow, closer, first, ComplaintClose(password=password, login=CLOSER, comment="调查充分，同意关闭")
        )
        uow.commit()
    return 2
