"""Steps the change-control tests share: propose, submit, approve, plan and do the tasks, close (TJ-10.3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from helpers import principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import changes
from pharmatrace.qms.change_models import AREAS, ChangeRequest
from pharmatrace.qms.change_schemas import ChangeApprove, ChangeClose, ChangeCreate, TaskCreate, TaskDone
from pharmatrace.storage.engine import Database

PROPOSER, QA, PRODUCTION, QC, SYSTEM_OWNER = "lina", "chenjing", "lina", "sunli", "zhaomin"
SOP = "SOP-PR-002"  # the demo's concentration SOP


def assessment(**impacted: str) -> list[dict[str, Any]]:
    """Every area assessed: no impact, low risk, except ``area="risk"`` ones, impacted with that risk."""
    return [
        {"area": a, "impact": a in impacted, "risk": impacted.get(a, "low"),
         "comment": "受影响，见变更描述" if a in impacted else ""}
        for a in AREAS
    ]  # fmt: skip


def proposal(**changes_: Any) -> ChangeCreate:
    data: dict[str, Any] = {
        "title": "浓缩标准操作规程修订：增加相对密度在线监测",
        "description": "SOP-PR-002 第 3 步增加在线密度计读数的记录要求。",
        "justification": "偏差调查建议：人工取样测定相对密度滞后。",
        "change_type": "document",
        "target_date": changes.today() + timedelta(days=30),
        "impacts": assessment(documents="low", training="low"),
        "items": [{"kind": "document", "reference": SOP}],
    }
    data.update(changes_)
    return ChangeCreate.model_validate(data)


def propose(db: Database, body: ChangeCreate | None = None, login: str = PROPOSER) -> str:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        number = changes.create_change(uow, who, body or proposal()).number
        uow.commit()
    return number


def submit(db: Database, number: str, login: str = PROPOSER) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        changes.submit(uow, who, number)
        uow.commit()


def approve(db: Database, number: str, function: str, login: str) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        changes.approve(uow, who, number, ChangeApprove.model_validate(
            {"function": function, "password": DEMO_PASSWORD, "login": login, "comment": "同意"}))  # fmt: skip
        uow.commit()


def add_task(db: Database, number: str, owner: str = PROPOSER, kind: str = "action") -> int:
    who = principal(db, QA)
    with UnitOfWork(db, who.actor) as uow:
        task = changes.add_task(uow, who, number, TaskCreate.model_validate({
            "title": "修订 SOP 并培训" if kind == "action" else "执行 OQ/PQ 测试脚本", "owner": owner,
            "due_date": changes.today() + timedelta(days=10), "kind": kind}))  # fmt: skip
        uow.commit()
        return task.seq


def start(db: Database, number: str) -> None:
    who = principal(db, QA)
    with UnitOfWork(db, who.actor) as uow:
        changes.start_implementation(uow, who, number)
        uow.commit()


def complete(db: Database, number: str, seq: int, login: str = PROPOSER, validation_ref: str = "") -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        changes.complete_task(uow, who, number, seq, TaskDone(evidence="SOP-PR-002 v2 已批准生效",
                                                              validation_ref=validation_ref))  # fmt: skip
        uow.commit()


def to_verification(db: Database, number: str) -> None:
    who = principal(db, QA)
    with UnitOfWork(db, who.actor) as uow:
        changes.to_verification(uow, who, number)
        uow.commit()


def close(db: Database, number: str, login: str = QA) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        changes.close(uow, who, number, ChangeClose(summary="连续三批记录完整，变更有效", effective=True,
                                                    password=DEMO_PASSWORD, login=login))  # fmt: skip
        uow.commit()


def approved_change(db: Database) -> str:
    """A document change proposed by the supervisor and approved by QA."""
    number = propose(db)
    submit(db, number)
    approve(db, number, "qa", QA)
    return number


def status(db: Database, number: str) -> str:
    with db.sessions() as session:
        return changes.get_change(session, number).status


def snapshot(db: Database, number: str) -> tuple[Any, ...]:
    """What a refusal must leave as it was: the change's columns, its rows and the audit trail's length."""
    from sqlalchemy import func, select

    from pharmatrace.kernel.audit import AuditEntry

    with db.sessions() as session:
        change = changes.get_change(session, number)
        columns = tuple(getattr(change, c.key) for c in ChangeRequest.__table__.columns)
        rows = (len(change.impacts), len(change.items), len(change.decisions), len(change.tasks),
                tuple(t.done_at for t in change.tasks))  # fmt: skip
        trail = session.scalar(select(func.count()).select_from(AuditEntry))
        return columns, rows, trail
