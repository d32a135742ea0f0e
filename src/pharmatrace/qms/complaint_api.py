"""``/api/v1/qms/complaints``: complaints — intake, classification, investigation, response and QA's signed
closure (SH-6.2.4). Reading needs ``qms.view``; intake, classification, investigation, response and cancelling
``qms.complaint.manage``; closing ``qms.deviation.approve`` (QA, never the investigator)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import complaints as service
from pharmatrace.qms.complaint_schemas import (
    ComplaintCancel,
    ComplaintClassify,
    ComplaintClose,
    ComplaintCreate,
    ComplaintDetail,
    ComplaintPublic,
    DecisionPublic,
    InvestigationRecord,
    InvestigatorAssign,
    ResponseRecord,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/complaints", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires("qms.complaint.manage"))]
QA = Annotated[Principal, Depends(Requires("qms.deviation.approve"))]


@router.get("", response_model=list[ComplaintPublic])
def list_complaints(
    db: DbDep, _: QmsView, status: str = "", classification: str = "", q: str = "", overdue: bool = False
) -> list[ComplaintPublic]:
    """Complaints, newest first; ``status`` a status or ``open``; ``overdue`` only those not answered in time."""
    with db.sessions() as session:
        found = service.list_complaints(
            session, status=status, classification=classification, text=q, overdue=overdue
        )
        return [service.complaint_public(session, c) for c in found]


@router.post("", response_model=ComplaintDetail, status_code=201)
def create(body: ComplaintCreate, db: DbDep, principal: Manager) -> ComplaintDetail:
    """A complaint received; the product by its batch number and/or a scanned traceability code."""
    with uow_for(db, principal) as uow:
        complaint = service.create_complaint(uow, principal, body)
        uow.commit()
        return service.complaint_detail(uow.session, complaint)


@router.get("/{number}", response_model=ComplaintDetail)
def get_complaint(number: str, db: DbDep, _: QmsView) -> ComplaintDetail:
    with db.sessions() as session:
        return service.complaint_detail(session, service.get_complaint(session, number))


@router.post("/{number}/classification", response_model=ComplaintDetail)
def classify(number: str, body: ComplaintClassify, db: DbDep, principal: Manager) -> ComplaintDetail:
    """Critical, major or minor with its rationale (an adverse reaction or a counterfeit at least major)."""
    with uow_for(db, principal, reason=body.reason) as uow:
        complaint = service.classify(uow, principal, number, body)
        uow.commit()
        return service.complaint_detail(uow.session, complaint)


@router.post("/{number}/investigator", response_model=ComplaintDetail)
def assign(number: str, body: InvestigatorAssign, db: DbDep, principal: Manager) -> ComplaintDetail:
    """The investigation starts with its investigator (or the investigator changes)."""
    with uow_for(db, principal) as uow:
        complaint = service.assign_investigator(uow, principal, number, body)
        uow.commit()
        return service.complaint_detail(uow.session, complaint)


@router.put("/{number}/investigation", response_model=ComplaintDetail)
def investigate(number: str, body: InvestigationRecord, db: DbDep, principal: Manager) -> ComplaintDetail:
    """The investigation's findings, reviews, linked records and conclusion."""
    with uow_for(db, principal, reason=body.reason) as uow:
        complaint = service.record_investigation(uow, principal, number, body)
        uow.commit()
        return service.complaint_detail(uow.session, complaint)


@router.post("/{number}/response", response_model=ComplaintDetail)
def respond(number: str, body: ResponseRecord, db: DbDep, principal: Manager) -> ComplaintDetail:
    """The response given to the complainant, once the investigation is concluded."""
    with uow_for(db, principal) as uow:
        complaint = service.respond(uow, principal, number, body)
        uow.commit()
        return service.complaint_detail(uow.session, complaint)


@router.post("/{number}/close", response_model=DecisionPublic)
def close(number: str, body: ComplaintClose, db: DbDep, principal: QA) -> DecisionPublic:
    """QA closes the complaint by signature (never its investigator)."""
    with uow_for(db, principal) as uow:
        decision = service.close(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/cancel", response_model=ComplaintDetail)
def cancel(number: str, body: ComplaintCancel, db: DbDep, principal: Manager) -> ComplaintDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        complaint = service.cancel(uow, principal, number, body.reason)
        uow.commit()
        return service.complaint_detail(uow.session, complaint)
