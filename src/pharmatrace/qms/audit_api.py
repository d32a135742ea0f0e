"""``/api/v1/qms/audits``: quality audits and self-inspections — planning, the checklist (TJ-11.2.1 a–e for a
computerized-system audit), findings with their CAPA, and QA's signed closure (TJ-11.1, SH-6.2.4). Reading needs
``qms.view``; every write ``qms.audit.manage``; the closure's signature also ``qms.deviation.approve`` (QA, never
the lead auditor)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import audits as service
from pharmatrace.qms.audit_schemas import (
    AuditCancel,
    AuditClose,
    AuditCreate,
    AuditDetail,
    AuditPublic,
    AuditUpdate,
    ChecklistAssessment,
    ChecklistItemCreate,
    DecisionPublic,
    FindingCreate,
    FindingResponse,
    FindingVerification,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/audits", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires(service.VIEW_PERMISSION))]
Manager = Annotated[Principal, Depends(Requires(service.MANAGE_PERMISSION))]


@router.get("", response_model=list[AuditPublic])
def list_audits(
    db: DbDep, _: QmsView, kind: str = "", status: str = "", q: str = "", overdue: bool = False
) -> list[AuditPublic]:
    """Audits, newest first; ``status`` a status or ``open``; ``overdue`` only those past their planned end."""
    with db.sessions() as session:
        found = service.list_audits(session, kind=kind, status=status, text=q, overdue=overdue)
        return [service.audit_public(session, a) for a in found]


@router.post("", response_model=AuditDetail, status_code=201)
def create(body: AuditCreate, db: DbDep, principal: Manager) -> AuditDetail:
    """An audit planned; a supplier audit names its supplier by code."""
    with uow_for(db, principal) as uow:
        audit = service.create_audit(uow, principal, body)
        uow.commit()
        return service.audit_detail(uow.session, audit)


@router.get("/{number}", response_model=AuditDetail)
def get_audit(number: str, db: DbDep, _: QmsView) -> AuditDetail:
    with db.sessions() as session:
        return service.audit_detail(session, service.get_audit(session, number))


@router.put("/{number}", response_model=AuditDetail)
def update(number: str, body: AuditUpdate, db: DbDep, principal: Manager) -> AuditDetail:
    """The plan changed while planned or in progress (not the kind or supplier), with the reason."""
    with uow_for(db, principal) as uow:
        audit = service.update_audit(uow, principal, number, body)
        uow.commit()
        return service.audit_detail(uow.session, audit)


@router.post("/{number}/start", response_model=AuditDetail)
def start(number: str, db: DbDep, principal: Manager) -> AuditDetail:
    with uow_for(db, principal) as uow:
        audit = service.start(uow, principal, number)
        uow.commit()
        return service.audit_detail(uow.session, audit)


@router.post("/{number}/report", response_model=AuditDetail)
def report(number: str, db: DbDep, principal: Manager) -> AuditDetail:
    with uow_for(db, principal) as uow:
        audit = service.report(uow, principal, number)
        uow.commit()
        return service.audit_detail(uow.session, audit)


@router.post("/{number}/items", response_model=AuditDetail, status_code=201)
def add_item(number: str, body: ChecklistItemCreate, db: DbDep, principal: Manager) -> AuditDetail:
    with uow_for(db, principal) as uow:
        service.add_item(uow, principal, number, body)
        uow.commit()
        return service.audit_detail(uow.session, service.get_audit(uow.session, number))


@router.put("/{number}/items/{seq}", response_model=AuditDetail)
def assess_item(
    number: str, seq: int, body: ChecklistAssessment, db: DbDep, principal: Manager
) -> AuditDetail:
    """A checklist question answered: conforms, finding or not applicable, with the evidence seen."""
    with uow_for(db, principal, reason=body.reason) as uow:
        service.assess_item(uow, principal, number, seq, body)
        uow.commit()
        return service.audit_detail(uow.session, service.get_audit(uow.session, number))


@router.post("/{number}/findings", response_model=AuditDetail, status_code=201)
def add_finding(number: str, body: FindingCreate, db: DbDep, principal: Manager) -> AuditDetail:
    with uow_for(db, principal) as uow:
        service.add_finding(uow, principal, number, body)
        uow.commit()
        return service.audit_detail(uow.session, service.get_audit(uow.session, number))


@router.post("/{number}/findings/{seq}/response", response_model=AuditDetail)
def respond_finding(
    number: str, seq: int, body: FindingResponse, db: DbDep, principal: Manager
) -> AuditDetail:
    """The auditee's response and the CAPA that handles the finding."""
    with uow_for(db, principal, reason=body.reason) as uow:
        service.respond_finding(uow, principal, number, seq, body)
        uow.commit()
        return service.audit_detail(uow.session, service.get_audit(uow.session, number))


@router.post("/{number}/findings/{seq}/verification", response_model=AuditDetail)
def verify_finding(
    number: str, seq: int, body: FindingVerification, db: DbDep, principal: Manager
) -> AuditDetail:
    with uow_for(db, principal) as uow:
        service.verify_finding(uow, principal, number, seq, body)
        uow.commit()
        return service.audit_detail(uow.session, service.get_audit(uow.session, number))


@router.post("/{number}/close", response_model=DecisionPublic)
def close(number: str, body: AuditClose, db: DbDep, principal: Manager) -> DecisionPublic:
    """QA closes the audit by signature with its conclusion (never the lead auditor)."""
    with uow_for(db, principal) as uow:
        decision = service.close(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/cancel", response_model=AuditDetail)
def cancel(number: str, body: AuditCancel, db: DbDep, principal: Manager) -> AuditDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        audit = service.cancel(uow, principal, number, body.reason)
        uow.commit()
        return service.audit_detail(uow.session, audit)
