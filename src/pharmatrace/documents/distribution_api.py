"""``/api/v1/documents/…`` — distribution, read-and-understood acknowledgements, printed copies, their
return and destruction (TJ-9.2, SH-6.3.3)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response

from pharmatrace.documents import distribution as service
from pharmatrace.documents.distribution_schemas import (
    AcknowledgementCreate,
    CopyCreate,
    CopyDestroy,
    CopyPublic,
    CopyReturn,
    DistributionCreate,
    DistributionResult,
    ReadTaskPublic,
    VersionDistributionPublic,
)
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/documents", tags=["documents"])

DocumentsView = Annotated[Principal, Depends(Requires("documents.view"))]
DocumentsControl = Annotated[Principal, Depends(Requires("documents.control"))]
DocumentsPrint = Annotated[Principal, Depends(Requires("documents.print"))]


# --- distribution and acknowledgement ---------------------------------------------------------------------


@router.post("/versions/{version_id}/distributions", response_model=DistributionResult, status_code=201)
def distribute(
    version_id: int, body: DistributionCreate, db: DbDep, principal: DocumentsControl
) -> DistributionResult:
    """Distribute an approved or effective version: one read task per recipient, resolved now."""
    with uow_for(db, principal) as uow:
        result = service.distribute(uow, version_id, body)
        uow.commit()
        return result


@router.get("/versions/{version_id}/distribution", response_model=VersionDistributionPublic)
def version_distribution(version_id: int, db: DbDep, _: DocumentsView) -> VersionDistributionPublic:
    """Who has and who has not acknowledged the version."""
    with db.sessions() as session:
        return service.version_distribution(session, version_id)


@router.get("/reading", response_model=list[ReadTaskPublic])
def my_reading(db: DbDep, principal: DocumentsView, state: str = "") -> list[ReadTaskPublic]:
    """My documents to read: open, overdue, acknowledged, or closed with their version (``state``)."""
    with db.sessions() as session:
        return service.my_reading(session, principal.user_id, state=state)


@router.post("/reading/{task_id}/acknowledge", response_model=ReadTaskPublic)
def acknowledge(
    task_id: int, body: AcknowledgementCreate, db: DbDep, principal: DocumentsView
) -> ReadTaskPublic:
    """ "Read and understood", signed with the password (and the log-in ID for a session's first signature)."""
    with uow_for(db, principal) as uow:
        task = service.acknowledge(uow, principal, task_id, body)
        uow.commit()
        version = service.get_version(uow.session, task.version_id)
        return service.task_public(uow.session, task, version, service.state_of(version))


# --- printed copies -----------------------------------------------------------------------------------------


@router.post(
    "/versions/{version_id}/prints",
    status_code=201,
    response_class=Response,
    responses={201: {"content": {"application/pdf": {}}, "description": "The watermarked PDF of the copy"}},
)
def print_copy(version_id: int, body: CopyCreate, db: DbDep, principal: DocumentsPrint) -> Response:
    """Print a controlled (numbered) or uncontrolled copy; the answer is the PDF, its record in the headers."""
    with uow_for(db, principal) as uow:
        copy, pdf = service.print_copy(uow, version_id, body)
        uow.commit()
        version = service.get_version(uow.session, version_id)
        suffix = f"copy{copy.copy_no}" if copy.copy_no is not None else f"ref{copy.id}"
        name = f"{version.document.number}-v{version.version}-{suffix}.pdf"
        headers = {
            "X-Copy-Id": str(copy.id),
            "X-Copy-No": "" if copy.copy_no is None else str(copy.copy_no),
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
        }
        return Response(pdf, status_code=201, media_type="application/pdf", headers=headers)


@router.get("/copies", response_model=list[CopyPublic])
def list_copies(
    db: DbDep,
    _: DocumentsView,
    status: str = "",
    number: str = "",
    kind: str = "",
    version_id: int | None = None,
) -> list[CopyPublic]:
    """Printed copies: ``status`` out | to_recall | returned | destroyed | uncontrolled."""
    with db.sessions() as session:
        return service.list_copies(session, status=status, number=number, kind=kind, version_id=version_id)


@router.get("/copies/{copy_id}", response_model=CopyPublic)
def get_copy(copy_id: int, db: DbDep, _: DocumentsView) -> CopyPublic:
    with db.sessions() as session:
        copy = service.get_copy(session, copy_id)
        version = service.get_version(session, copy.version_id)
        return service.copy_public(copy, version, service.state_of(version))


@router.post("/copies/{copy_id}/return", response_model=CopyPublic)
def record_return(copy_id: int, body: CopyReturn, db: DbDep, principal: DocumentsControl) -> CopyPublic:
    """A controlled copy came back to document control."""
    with uow_for(db, principal) as uow:
        copy = service.record_return(uow, copy_id, body)
        uow.commit()
        version = service.get_version(uow.session, copy.version_id)
        return service.copy_public(copy, version, service.state_of(version))


@router.post("/copies/{copy_id}/destruction", response_model=CopyPublic)
def record_destruction(copy_id: int, body: CopyDestroy, db: DbDep, principal: DocumentsControl) -> CopyPublic:
    """A returned controlled copy destroyed, with its witness and method; refused before its return."""
    with uow_for(db, principal) as uow:
        copy = service.record_destruction(uow, copy_id, body)
        uow.commit()
        version = service.get_version(uow.session, copy.version_id)
        return service.copy_public(copy, version, service.state_of(version))
