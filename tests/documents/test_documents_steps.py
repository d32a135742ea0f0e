"""Shared steps of the document-control tests (no tests here): who does what, and the steps of a lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from helpers import principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import service
from pharmatrace.documents.schemas import (
    ApproveDecision,
    DocumentCreate,
    ReviewDecision,
    VersionCreate,
)
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

AUTHOR = "lina"  # production supervisor: writes the production SOPs
CONTROLLER = "zhengxue"  # document controller: authors and approves
QA_REVIEWER = "chenjing"
QP = "zhaomin"  # qualified person: approves
OPERATOR = "zhangwei"

T = TypeVar("T")

BODY = """# 中间体取样标准操作规程

## 1 目的
规范中间体的取样，保证样品具有代表性。

## 2 程序
1. 取样前核对中间体名称与批号。
2. 使用无菌取样器，从上中下三点取样。
"""


def act(db: Database, login: str, work: Callable[[UnitOfWork, Principal], T], reason: str | None = None) -> T:
    """Run ``work`` as ``login`` in one unit of work and commit it."""
    who = principal(db, login)
    with UnitOfWork(db, who.actor, reason=reason) as uow:
        result = work(uow, who)
        uow.commit()
        return result


def create(db: Database, login: str = AUTHOR, **fields: object) -> str:
    """A new draft document; returns its number."""
    values: dict[str, object] = {"title": "中间体取样标准操作规程", "doc_type": "sop", "department": "PR",
                                 "markdown": BODY, "keywords": "取样 中间体"}  # fmt: skip
    values.update(fields)
    body = DocumentCreate.model_validate(values)
    return act(db, login, lambda uow, who: service.create_document(uow, who, body).document.number)


def submit(db: Database, number: str, login: str = AUTHOR) -> None:
    act(db, login, lambda uow, who: service.submit(uow, who, number))


def review(db: Database, number: str, login: str = QA_REVIEWER) -> None:
    body = ReviewDecision(password=DEMO_PASSWORD, login=login)
    act(db, login, lambda uow, who: service.review(uow, who, number, body))


def approve(db: Database, number: str, login: str = QP, effective_from: datetime | None = None) -> None:
    body = ApproveDecision(password=DEMO_PASSWORD, login=login, effective_from=effective_from)
    act(db, login, lambda uow, who: service.approve(uow, who, number, body))


def revise(db: Database, number: str, login: str = AUTHOR) -> int:
    body = VersionCreate(change_summary="增加取样量要求", change_control_ref="CC-2026-101")
    return act(db, login, lambda uow, who: service.new_version(uow, who, number, body).version)


def effective(db: Database, number: str) -> int | None:
    with db.sessions() as session:
        found = service.current_effective(session, number)
        return None if found is None else found.version
