"""``/api/v1/qms/extensions``: due-date extensions of deviations, CAPA and change requests — a record's
extensions, a request, QA's signed approval, a rejection, a withdrawal (TJ-6.4.4, SH-6.2.4, SH-7.1.4). Reading needs
``qms.view``; a request the permission to work the record (checked by the service); a decision
``qms.deviation.approve`` (QA, never the requester); a withdrawal is the requester's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import extensions as service
from pharmatrace.qms.extension_schemas import (
    ExtensionApprove,
    ExtensionPublic,
    ExtensionRequest,
    ExtensionSummary,
    ReasonBody,
    RecordKind,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/extensions", tags=["qms"])
# the decisions on one request are declared before the request on a record: "/{id}/approve" is not a record

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
QA = Annotated[Principal, Depends(Requires(service.QA_PERMISSION))]
# Who may work a deviation, a CAPA or a change holds qms.deviation.raise in every role of the plant; the service
# then checks the record's own permission (a change: qms.change.propose or qms.change.manage).
Worker = Annotated[Principal, Depends(Requires("qms.deviation.raise"))]


@router.get("/{kind}/{number}", response_model=ExtensionSummary)
def extensions_of(kind: RecordKind, number: str, db: DbDep, _: QmsView) -> ExtensionSummary:
    """The record's original and current due dates, its approved extensions and every request."""
    with db.sessions() as session:
        return service.summary(session, kind, number)


@router.post("/{extension_id}/approve", response_model=ExtensionPublic)
def approve(extension_id: int, body: ExtensionApprove, db: DbDep, principal: QA) -> ExtensionPublic:
    """QA signs the extension; the record's due date becomes the new one."""
    with uow_for(db, principal) as uow:
        service.approve(uow, principal, extension_id, body)
        uow.commit()
        return service.extension_public(uow.session, service.get_extension(uow.session, extension_id))


@router.post("/{extension_id}/reject", response_model=ExtensionPublic)
def reject(extension_id: int, body: ReasonBody, db: DbDep, principal: QA) -> ExtensionPublic:
    with uow_for(db, principal) as uow:
        extension = service.reject(uow, principal, extension_id, body.reason)
        uow.commit()
        return service.extension_public(uow.session, extension)


@router.post("/{extension_id}/withdraw", response_model=ExtensionPublic)
def withdraw(extension_id: int, body: ReasonBody, db: DbDep, principal: Worker) -> ExtensionPublic:
    with uow_for(db, principal) as uow:
        extension = service.withdraw(uow, principal, extension_id, body.reason)
        uow.commit()
        return service.extension_public(uow.session, extension)


@router.post("/{kind}/{number}", response_model=ExtensionPublic, status_code=201)
def request_extension(
    kind: RecordKind, number: str, body: ExtensionRequest, db: DbDep, principal: Worker
) -> ExtensionPublic:
    """A later due date for an open record, with the justification and the interim measures."""
    with uow_for(db, principal) as uow:
        extension = service.request_extension(uow, principal, kind, number, body)
        uow.commit()
        return service.extension_public(uow.session, extension)
