"""The demo's batch releases (TJ-9.1, TJ-6.4.7).

The completed demo batch (:mod:`pharmatrace.mes.history_demo`) handed its finished product to the warehouse as a
quarantined lot at completion (:mod:`pharmatrace.mes.handover`); QC sampled, tested and certified it
(:mod:`pharmatrace.lims.certificate_demo`). 赵敏 (zhaomin) reviewed its record, so she may not release it
(segregation of duties): the second qualified person 钱宇 (``qianyu``) releases it with her signature once its
checklist passes — the batch and its lot become released in one transaction. Were an item still failing, or
had she taken part in the batch, she would quarantine it instead (hold pending), with the failing items as the
reason, visible on the release page.
"""

from __future__ import annotations

from sqlalchemy import select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.qms import release
from pharmatrace.qms.release_models import ReleaseDecision
from pharmatrace.qms.release_schemas import DecisionCreate
from pharmatrace.storage.engine import Database

QP = "qianyu"  # not zhaomin: she reviewed the record


def seed_release(db: Database, password: str) -> int:
    """The release decision of the completed demo batch, once (idempotent). Returns how many were added."""
    with db.sessions() as session:
        decided = select(ReleaseDecision.batch_order_id)
        order = session.scalar(
            select(BatchOrder)
            .where(BatchOrder.status.in_(release.CANDIDATE_STATUSES), BatchOrder.id.not_in(decided))
            .order_by(BatchOrder.id)
            .limit(1)
        )
        if order is None:
            return 0
        user = identity.find_user(session, QP)
        assert user is not None, QP
        who = identity.principal_of(user)
        failing = [i.code for i in release.checklist(session, order.batch_no) if i.status == "fail"]
        involved = who.login in release.involved(session, order)
        batch_no = order.batch_no
    if failing or involved:
        body = DecisionCreate(
            decision="quarantine",
            reason=f"hold pending: checklist items failing ({', '.join(failing) or '—'})"
            + ("; took part in the batch, another qualified person decides" if involved else ""),
        )
    else:
        body = DecisionCreate(
            decision="release", password=password, login=QP,
            reason="checklist passed: record reviewed, deviation assessed, lot tested and certified",
        )  # fmt: skip
    with UnitOfWork(db, who.actor, reason=body.reason or None) as uow:
        release.decide(uow, who, batch_no, body)
        uow.commit()
    return 1
