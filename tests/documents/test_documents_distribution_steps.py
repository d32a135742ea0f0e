"""Shared steps of the distribution and print tests (no tests here): the demo documents, a revision made
effective, a withdrawal, a distribution, a print."""

from __future__ import annotations

from sqlalchemy import select

from helpers import principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import distribution, service
from pharmatrace.documents.distribution_models import DocumentCopy
from pharmatrace.documents.distribution_schemas import CopyCreate, DistributionCreate, DistributionResult
from pharmatrace.documents.models import Document, DocumentVersion
from pharmatrace.documents.schemas import ApproveDecision, ReviewDecision, WithdrawDecision
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

CONTROLLER = "zhengxue"  # document controller: distributes, prints, records returns and destruction
QA_REVIEWER = "chenjing"
QP = "zhaomin"  # qualified person: approves documents


def ensure_demo_documents(db: Database) -> None:
    """The demo documents (helper A's seed); a no-op once ``demo seed`` creates them."""
    with db.sessions() as session:
        present = session.scalar(select(Document.id).where(Document.number == "SOP-PR-001"))
    if present is None:
        from pharmatrace.documents.demo import seed_documents

        seed_documents(db, DEMO_PASSWORD)


def version_id(db: Database, number: str, version: int) -> int:
    with db.sessions() as session:
        found = session.scalar(
            select(DocumentVersion.id)
            .join(Document, Document.id == DocumentVersion.document_id)
            .where(Document.number == number, DocumentVersion.version == version)
        )
        assert found is not None, (number, version)
        return int(found)


def state(db: Database, vid: int) -> str:
    with db.sessions() as session:
        return distribution.state_of(distribution.get_version(session, vid))


def make_v2_effective(db: Database, number: str) -> None:
    """QA reviews and the QP approves the version in review: it is effective now, the earlier superseded."""
    reviewer, approver = principal(db, QA_REVIEWER), principal(db, QP)
    with UnitOfWork(db, reviewer.actor) as uow:
        service.review(uow, reviewer, number, ReviewDecision(password=DEMO_PASSWORD, login=QA_REVIEWER))
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        service.approve(uow, approver, number, ApproveDecision(password=DEMO_PASSWORD, login=QP))
        uow.commit()


def withdraw(db: Database, number: str) -> None:
    controller = principal(db, CONTROLLER)
    with UnitOfWork(db, controller.actor) as uow:
        service.withdraw(uow, controller, number, WithdrawDecision(
            password=DEMO_PASSWORD, login=CONTROLLER, reason="产品停产，文件作废"))  # fmt: skip
        uow.commit()


def distribute(db: Database, vid: int, **targets: object) -> DistributionResult:
    controller = principal(db, CONTROLLER)
    with UnitOfWork(db, controller.actor) as uow:
        result = distribution.distribute(uow, vid, DistributionCreate.model_validate(targets))
        uow.commit()
        return result


def print_copy(
    db: Database, vid: int, kind: str = "controlled", login: str = CONTROLLER
) -> tuple[int, bytes]:
    printer = principal(db, login)
    body = CopyCreate(kind=kind, printer="QA-HP-M406 文件室", recipient="冻干岗位", location="冻干车间岗位文件夹",  # type: ignore[arg-type]
                      purpose="岗位使用")  # fmt: skip
    with UnitOfWork(db, printer.actor) as uow:
        copy, pdf = distribution.print_copy(uow, vid, body)
        uow.commit()
        return copy.id, pdf


def copy_row(db: Database, copy_id: int) -> DocumentCopy:
    with db.sessions() as session:
        copy = session.get(DocumentCopy, copy_id)
        assert copy is not None
        session.expunge(copy)
        return copy


def approved_upload(db: Database, number: str, data: bytes, file_name: str) -> int:
    """A drawing uploaded as a file, submitted, reviewed and approved: its version 1 is effective now."""
    from pharmatrace.documents.schemas import DocumentCreate

    author = principal(db, CONTROLLER)
    with UnitOfWork(db, author.actor) as uow:
        service.create_document(uow, author, DocumentCreate(
            number=number, title="冻干机 LYO-01 管路图", doc_type="drawing", department="EQ"), (data, file_name))  # fmt: skip
        uow.commit()
    with UnitOfWork(db, author.actor) as uow:
        service.submit(uow, author, number)
        uow.commit()
    make_v2_effective(db, number)  # review and approval of the version in review
    return version_id(db, number, 1)
