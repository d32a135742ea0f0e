"""The demo plant's recalls (SH-6.2.4, TJ-9.1): one closed mock recall (模拟召回) of the shipped batch.

陈静 (``chenjing``, QA) drafts a level-III mock recall of batch DH2611001 — a drill of the traceability; 赵敏
(``zhaomin``, qualified person) opens it by signature, which freezes the impact the genealogy gives (the
distributor's shipped pallet, the hospital's picked one); 陈静 notifies both customers, records their
acknowledgements and, as the drill's returns, the units each customer accounted for; 钱宇 (``qianyu``) closes it
by signature. A drill puts no lot on hold: the batch stays released.

Through the service, at the real time. Idempotent: nothing is added once a recall exists.
"""

from __future__ import annotations

from sqlalchemy import func, select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import recalls as service
from pharmatrace.qms.recall_models import Recall
from pharmatrace.qms.recall_schemas import (
    Acknowledgement,
    Notification,
    RecallClose,
    RecallCreate,
    RecallOpen,
    ReturnCreate,
)
from pharmatrace.storage.engine import Database

QA, OPENER, CLOSER = "chenjing", "zhaomin", "qianyu"
METHODS = ("phone", "email")


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def seed_recalls(db: Database, password: str) -> int:
    """Add the demo's mock recall unless there is a recall or no such batch; returns how many were added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(Recall)):
            return 0
    from pharmatrace.mes.history_demo import completed_batch_no

    batch_no = completed_batch_no(db)
    if batch_no is None:
        return 0
    qa, opener, closer = _principal(db, QA), _principal(db, OPENER), _principal(db, CLOSER)
    body = RecallCreate(
        start_ref=batch_no, kind="mock", level=3,
        hazard_assessment="模拟召回演练：假设外包装标签印刷缺陷，使用该产品一般不会引起健康危害（三级）。",
        reason="年度模拟召回演练，检验追溯体系能否在规定时限内定位全部发运客户及数量。",
    )  # fmt: skip
    with UnitOfWork(db, qa.actor, reason="demo plant seed: mock recall drafted") as uow:
        number = service.create_recall(uow, qa, body).number
        uow.commit()
    with UnitOfWork(db, opener.actor) as uow:
        service.open_recall(uow, opener, number, RecallOpen(password=password, login=OPENER,
                                                            comment="启动年度模拟召回"))  # fmt: skip
        uow.commit()
    with db.sessions() as session:
        customers = [
            (c.customer_code, c.units_shipped) for c in service.get_recall(session, number).customers
        ]
    for index, (code, units) in enumerate(customers):
        with UnitOfWork(db, qa.actor) as uow:
            service.notify(uow, qa, number, code, Notification(method=METHODS[index % len(METHODS)],
                                                               note="质量负责人"))  # fmt: skip
            service.acknowledge(uow, qa, number, code, Acknowledgement(note="客户确认收到召回通知"))
            if units > 0:
                service.record_return(uow, qa, number, code, ReturnCreate(
                    quantity=units, received_on=service.today(), note="演练：客户库存清点，数量已核对（未实际退回）"))  # fmt: skip
            uow.commit()
    with UnitOfWork(db, closer.actor) as uow:
        service.close(uow, closer, number, RecallClose(
            effectiveness="全部客户已在时限内通知并确认，发运数量全部核对，追溯体系有效。", password=password,
            login=CLOSER))  # fmt: skip
        uow.commit()
    return 1
