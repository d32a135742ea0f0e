"""``/api/v1/qms/supplier-qualifications``: supplier qualification — the draft and its evidence documents, review,
QA's signed approval writing the approved-supplier list, rejection, cancellation; the lines due for requalification
and a supplier's performance over a period (SH-6.2.4, TJ-5.1, TJ-5.2.1.1). Reading needs ``qms.view``; drafting
``qms.supplier.manage``; the decisions ``qms.deviation.approve`` (QA, never the requester)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import supplier_performance
from pharmatrace.qms import supplier_qualifications as service
from pharmatrace.qms.supplier_qualification_schemas import (
    DecisionPublic,
    DocumentCreate,
    DuePublic,
    PerformancePublic,
    QualificationApprove,
    QualificationCreate,
    QualificationDetail,
    QualificationPublic,
    QualificationUpdate,
    ReasonBody,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/supplier-qualifications", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires("qms.supplier.manage"))]
Days = Annotated[int, Query(ge=supplier_performance.MIN_DAYS, le=supplier_performance.MAX_DAYS)]


@router.get("", response_model=list[QualificationPublic])
def list_qualifications(
    db: DbDep, _: QmsView, status: str = "", kind: str = "", risk_class: str = "", q: str = ""
) -> list[QualificationPublic]:
    """Qualifications, newest first; ``status`` a status or ``open``; ``kind`` new, requalification, change."""
    with db.sessions() as session:
        found = service.list_qualifications(session, status=status, kind=kind, risk_class=risk_class, text=q)
        return [service.qualification_public(x) for x in found]


@router.get("/due", response_model=list[DuePublic])
def due(db: DbDep, _: QmsView, within_days: Annotated[int, Query(ge=0, le=730)] = 90) -> list[DuePublic]:
    """Approved-supplier list lines whose validity ends within ``within_days`` or has ended, with no open
    qualification."""
    with db.sessions() as session:
        return service.due_for_requalification(session, within_days)


@router.get("/performance/{supplier_code}", response_model=PerformancePublic)
def performance(supplier_code: str, db: DbDep, _: QmsView, days: Days = 365) -> PerformancePublic:
    """The supplier's lots, what became of them, the deviations naming them and its audits, over ``days``."""
    with db.sessions() as session:
        return service.performance_of(session, supplier_code, days)


@router.post("", response_model=QualificationDetail, status_code=201)
def create(body: QualificationCreate, db: DbDep, principal: Manager) -> QualificationDetail:
    """A new qualification draft of a supplier for a material."""
    with uow_for(db, principal) as uow:
        found = service.create_qualification(uow, principal, body)
        uow.commit()
        return service.qualification_detail(uow.session, found)


@router.get("/{number}", response_model=QualificationDetail)
def get_qualification(number: str, db: DbDep, _: QmsView) -> QualificationDetail:
    with db.sessions() as session:
        return service.qualification_detail(session, service.get_qualification(session, number))


@router.put("/{number}", response_model=QualificationDetail)
def update(number: str, body: QualificationUpdate, db: DbDep, principal: Manager) -> QualificationDetail:
    """The evaluation of a draft."""
    with uow_for(db, principal) as uow:
        found = service.update_qualification(uow, principal, number, body)
        uow.commit()
        return service.qualification_detail(uow.session, found)


@router.post("/{number}/documents", response_model=QualificationDetail, status_code=201)
def add_document(number: str, body: DocumentCreate, db: DbDep, principal: Manager) -> QualificationDetail:
    with uow_for(db, principal) as uow:
        service.add_document(uow, principal, number, body)
        uow.commit()
        return service.qualification_detail(uow.session, service.get_qualification(uow.session, number))


@router.post("/{number}/documents/{seq}/void", response_model=QualificationDetail)
def void_document(
    number: str, seq: int, body: ReasonBody, db: DbDep, principal: Manager
) -> QualificationDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        service.void_document(uow, principal, number, seq, body.reason)
        uow.commit()
        return service.qualification_detail(uow.session, service.get_qualification(uow.session, number))


@router.post("/{number}/submit", response_model=QualificationDetail)
def submit(number: str, db: DbDep, principal: Manager) -> QualificationDetail:
    with uow_for(db, principal) as uow:
        found = service.submit(uow, principal, number)
        uow.commit()
        return service.qualification_detail(uow.session, found)


@router.post("/{number}/return", response_model=QualificationDetail)
def return_to_draft(number: str, body: ReasonBody, db: DbDep, principal: QmsView) -> QualificationDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        found = service.return_to_draft(uow, principal, number, body.reason)
        uow.commit()
        return service.qualification_detail(uow.session, found)


@router.post("/{number}/approve", response_model=DecisionPublic)
def approve(number: str, body: QualificationApprove, db: DbDep, principal: QmsView) -> DecisionPublic:
    """QA approves by signature (never the requester); the approved-supplier list is written with it."""
    with uow_for(db, principal) as uow:
        decision = service.approve(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/reject", response_model=DecisionPublic)
def reject(number: str, body: ReasonBody, db: DbDep, principal: QmsView) -> DecisionPublic:
    with uow_for(db, principal, reason=body.reason) as uow:
        decision = service.reject(uow, principal, number, body.reason)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/cancel", response_model=QualificationDetail)
def cancel(number: str, body: ReasonBody, db: DbDep, principal: Manager) -> QualificationDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        found = service.cancel(uow, principal, number, body.reason)
        uow.commit()
        return service.qualification_detail(uow.session, found)
