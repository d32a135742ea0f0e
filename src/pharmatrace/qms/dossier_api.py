"""``/api/v1/qms/dossiers``: registration records and contract agreements as controlled records — the draft and its
original file, review, QA's signed approval, termination, cancellation, the expiry reminders and the file download
(SH-6.2.4). Reading needs ``qms.view``; every write ``qms.dossier.manage``; the approval also
``qms.deviation.approve`` (QA, never the author)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.responses import Response

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import dossiers as service
from pharmatrace.qms.dossier_schemas import (
    DecisionPublic,
    DossierApprove,
    DossierCreate,
    DossierDetail,
    DossierPublic,
    DossierUpdate,
    ReasonBody,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/dossiers", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires("qms.dossier.manage"))]


@router.get("", response_model=list[DossierPublic])
def list_dossiers(
    db: DbDep, _: QmsView, category: str = "", kind: str = "", status: str = "", q: str = ""
) -> list[DossierPublic]:
    """Records, newest first; ``status`` a status, ``open`` or ``expired``."""
    with db.sessions() as session:
        found = service.list_dossiers(session, category=category, kind=kind, status=status, text=q)
        return [service.dossier_public(session, d) for d in found]


@router.get("/expiring", response_model=list[DossierPublic])
def expiring(db: DbDep, _: QmsView) -> list[DossierPublic]:
    """The reminders: effective records within their reminder lead time or past their validity, soonest first."""
    with db.sessions() as session:
        return [service.dossier_public(session, d) for d in service.expiring(session)]


@router.post("", response_model=DossierDetail, status_code=201)
def create(body: DossierCreate, db: DbDep, principal: Manager) -> DossierDetail:
    """A new draft; its original file is uploaded to ``/{number}/file``."""
    with uow_for(db, principal) as uow:
        dossier = service.create_dossier(uow, principal, body)
        uow.commit()
        return service.dossier_detail(uow.session, dossier)


@router.get("/{number}", response_model=DossierDetail)
def get_dossier(number: str, db: DbDep, _: QmsView) -> DossierDetail:
    with db.sessions() as session:
        return service.dossier_detail(session, service.get_dossier(session, number))


@router.put("/{number}", response_model=DossierDetail)
def update(number: str, body: DossierUpdate, db: DbDep, principal: Manager) -> DossierDetail:
    """The header of a draft."""
    with uow_for(db, principal) as uow:
        dossier = service.update_dossier(uow, principal, number, body)
        uow.commit()
        return service.dossier_detail(uow.session, dossier)


@router.post("/{number}/file", response_model=DossierDetail)
async def upload_file(
    number: str,
    db: DbDep,
    principal: Manager,
    file: Annotated[UploadFile, File(description="PDF, PNG or JPEG")],
) -> DossierDetail:
    """The original (PDF or scan) of a draft, kept under its SM3."""
    data = await file.read(service.STORE.max_bytes + 1)
    with uow_for(db, principal) as uow:
        dossier = service.attach_file(uow, principal, number, (data, file.filename or "dossier"))
        uow.commit()
        return service.dossier_detail(uow.session, dossier)


@router.get("/{number}/file")
def download_file(number: str, db: DbDep, _: QmsView) -> Response:
    """The original, checked against its SM3 (sent in the ``X-SM3`` header)."""
    with db.sessions() as session:
        dossier = service.get_dossier(session, number)
        data = service.open_file(db, dossier)
        name, sm3, media_type = dossier.file_name or "dossier", dossier.file_sm3 or "", dossier.media_type
    disposition = f"attachment; filename=\"{sm3[:16]}\"; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition, "X-SM3": sm3})


@router.post("/{number}/submit", response_model=DossierDetail)
def submit(number: str, db: DbDep, principal: Manager) -> DossierDetail:
    with uow_for(db, principal) as uow:
        dossier = service.submit(uow, principal, number)
        uow.commit()
        return service.dossier_detail(uow.session, dossier)


@router.post("/{number}/return", response_model=DossierDetail)
def return_to_draft(number: str, body: ReasonBody, db: DbDep, principal: Manager) -> DossierDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        dossier = service.return_to_draft(uow, principal, number, body.reason)
        uow.commit()
        return service.dossier_detail(uow.session, dossier)


@router.post("/{number}/approve", response_model=DecisionPublic)
def approve(number: str, body: DossierApprove, db: DbDep, principal: Manager) -> DecisionPublic:
    """QA approves by signature (never the author); a renewed record is superseded."""
    with uow_for(db, principal) as uow:
        decision = service.approve(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/terminate", response_model=DossierDetail)
def terminate(number: str, body: ReasonBody, db: DbDep, principal: Manager) -> DossierDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        dossier = service.terminate(uow, principal, number, body.reason)
        uow.commit()
        return service.dossier_detail(uow.session, dossier)


@router.post("/{number}/cancel", response_model=DossierDetail)
def cancel(number: str, body: ReasonBody, db: DbDep, principal: Manager) -> DossierDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        dossier = service.cancel(uow, principal, number, body.reason)
        uow.commit()
        return service.dossier_detail(uow.session, dossier)
