"""``/api/v1/qms/capa``: corrective and preventive actions — the records, their actions and evidence, the signed
plan approval and effectiveness verdicts, the dashboard (SH-6.2.4, TJ-9.4). Reading needs ``qms.view``; raising
and editing a draft, and completing one's own action, ``qms.deviation.raise``; approving, verdicts, cancelling and
adding actions after approval ``qms.deviation.approve`` (QA). Evidence files are multipart; the rest is JSON."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError

from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import capa as service
from pharmatrace.qms.capa_schemas import (
    ActionAdd,
    ActionComplete,
    ActionPublic,
    ActionVoid,
    CapaApprove,
    CapaCancel,
    CapaCreate,
    CapaDetail,
    CapaPublic,
    CapaUpdate,
    Dashboard,
    DecisionPublic,
    EffectivenessVerdict,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/capa", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Raiser = Annotated[Principal, Depends(Requires("qms.deviation.raise"))]
QA = Annotated[Principal, Depends(Requires("qms.deviation.approve"))]


async def _upload(file: UploadFile | None) -> tuple[bytes, str] | None:
    if file is None or not file.filename:
        return None
    return await file.read(service.MAX_BYTES + 1), file.filename


@router.get("", response_model=list[CapaPublic])
def list_capas(
    db: DbDep, _: QmsView, status: str = "", q: str = "", overdue: bool = False
) -> list[CapaPublic]:
    """CAPAs, newest first; ``status`` a status or ``open``; ``overdue`` only those past their due date."""
    with db.sessions() as session:
        return [
            service.capa_public(c)
            for c in service.list_capas(session, status=status, text=q, overdue=overdue)
        ]


@router.get("/dashboard", response_model=Dashboard)
def dashboard(db: DbDep, _: QmsView) -> Dashboard:
    """Counts by status, overdue CAPAs and actions, ageing of the open CAPAs (days since raised)."""
    with db.sessions() as session:
        return service.dashboard(session)


@router.post("", response_model=CapaDetail, status_code=201)
def create(body: CapaCreate, db: DbDep, principal: Raiser) -> CapaDetail:
    """A new CAPA, as a draft, with its plan's actions."""
    with uow_for(db, principal) as uow:
        capa = service.create_capa(uow, principal, body)
        uow.commit()
        return service.capa_detail(uow.session, capa)


@router.get("/{number}", response_model=CapaDetail)
def get_capa(number: str, db: DbDep, _: QmsView) -> CapaDetail:
    with db.sessions() as session:
        return service.capa_detail(session, service.get_capa(session, number))


@router.put("/{number}", response_model=CapaDetail)
def update(number: str, body: CapaUpdate, db: DbDep, principal: Raiser) -> CapaDetail:
    """A draft's description replaced."""
    with uow_for(db, principal, reason=body.reason) as uow:
        capa = service.update_capa(uow, principal, number, body)
        uow.commit()
        return service.capa_detail(uow.session, capa)


@router.post("/{number}/actions", response_model=ActionPublic, status_code=201)
def add_action(number: str, body: ActionAdd, db: DbDep, principal: Raiser) -> ActionPublic:
    """An action added to a draft's plan, or by QA (with a reason) to an approved CAPA."""
    with uow_for(db, principal, reason=body.reason) as uow:
        action = service.add_action(uow, principal, number, body)
        uow.commit()
        return service.action_public(service.get_capa(uow.session, number), action)


@router.post("/{number}/actions/{seq}/void", response_model=ActionPublic)
def void_action(number: str, seq: int, body: ActionVoid, db: DbDep, principal: Raiser) -> ActionPublic:
    with uow_for(db, principal, reason=body.reason) as uow:
        action = service.void_action(uow, principal, number, seq, body.reason)
        uow.commit()
        return service.action_public(service.get_capa(uow.session, number), action)


@router.post("/{number}/actions/{seq}/complete", response_model=ActionPublic)
async def complete_action(
    number: str, seq: int, db: DbDep, principal: Raiser, evidence: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File(description="PDF, DOCX, PNG or JPEG")] = None,
) -> ActionPublic:  # fmt: skip
    """An action done, by its owner or QA, with the implementation evidence (text, optionally a file)."""
    try:
        body = ActionComplete.model_validate({"evidence": evidence})
    except ValidationError:
        raise ValidationFailed(N_("Describe the implementation evidence (at most 2000 characters)")) from None
    upload = await _upload(file)
    with uow_for(db, principal) as uow:
        action = service.complete_action(uow, principal, number, seq, body.evidence, upload)
        uow.commit()
        return service.action_public(service.get_capa(uow.session, number), action)


@router.post("/{number}/approve", response_model=DecisionPublic)
def approve(number: str, body: CapaApprove, db: DbDep, principal: QA) -> DecisionPublic:
    """The plan approved by QA's signature (never by who wrote it), with the effectiveness check's criteria."""
    with uow_for(db, principal) as uow:
        decision = service.approve(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/effectiveness", response_model=DecisionPublic)
def effectiveness(number: str, body: EffectivenessVerdict, db: DbDep, principal: QA) -> DecisionPublic:
    """The effectiveness verdict, signed by QA (never the originator): effective closes the CAPA; not effective
    takes it back to implementation with ``new_action``."""
    with uow_for(db, principal) as uow:
        decision = service.record_effectiveness(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/cancel", response_model=CapaDetail)
def cancel(number: str, body: CapaCancel, db: DbDep, principal: QA) -> CapaDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        capa = service.cancel(uow, principal, number, body.reason)
        uow.commit()
        return service.capa_detail(uow.session, capa)


@router.get("/{number}/evidence/{sm3}")
def evidence(number: str, sm3: str, db: DbDep, _: QmsView) -> Response:
    """An evidence file of this CAPA, checked against its SM3 before it is served."""
    with db.sessions() as session:
        name, media_type = service.evidence_file(session, service.get_capa(session, number), sm3)
    data = service.EVIDENCE.read(db, sm3)
    disposition = f"attachment; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})
