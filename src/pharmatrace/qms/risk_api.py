"""``/api/v1/qms/risks``: quality risk assessments by FMEA — the draft and its failure modes, review, QA's signed
approval, a new revision, withdrawal (SH-6.2.4, ICH Q9). Reading needs ``qms.view``; every write
``qms.risk.manage``; the approval also ``qms.deviation.approve`` (QA, never the author)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import risks as service
from pharmatrace.qms.risk_schemas import (
    AssessmentApprove,
    AssessmentCreate,
    AssessmentDetail,
    AssessmentPublic,
    AssessmentUpdate,
    DecisionPublic,
    ItemVoid,
    ReasonBody,
    RiskItemInput,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/risks", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires("qms.risk.manage"))]


@router.get("", response_model=list[AssessmentPublic])
def list_assessments(
    db: DbDep, _: QmsView, status: str = "", subject_kind: str = "", q: str = ""
) -> list[AssessmentPublic]:
    """Assessments, newest first; ``status`` a status or ``open``; ``subject_kind`` change, deviation, …"""
    with db.sessions() as session:
        found = service.list_assessments(session, status=status, subject_kind=subject_kind, text=q)
        return [service.assessment_public(a) for a in found]


@router.post("", response_model=AssessmentDetail, status_code=201)
def create(body: AssessmentCreate, db: DbDep, principal: Manager) -> AssessmentDetail:
    """A new FMEA draft; a change or a deviation named by its number."""
    with uow_for(db, principal) as uow:
        assessment = service.create_assessment(uow, principal, body)
        uow.commit()
        return service.assessment_detail(uow.session, assessment)


@router.get("/{number}", response_model=AssessmentDetail)
def get_assessment(number: str, db: DbDep, _: QmsView) -> AssessmentDetail:
    with db.sessions() as session:
        return service.assessment_detail(session, service.get_assessment(session, number))


@router.put("/{number}", response_model=AssessmentDetail)
def update(number: str, body: AssessmentUpdate, db: DbDep, principal: Manager) -> AssessmentDetail:
    """The header of a draft."""
    with uow_for(db, principal) as uow:
        assessment = service.update_assessment(uow, principal, number, body)
        uow.commit()
        return service.assessment_detail(uow.session, assessment)


@router.post("/{number}/items", response_model=AssessmentDetail, status_code=201)
def add_item(number: str, body: RiskItemInput, db: DbDep, principal: Manager) -> AssessmentDetail:
    """A failure mode with its S, O, D (the RPN computed), action and residual scores."""
    with uow_for(db, principal) as uow:
        service.add_item(uow, principal, number, body)
        uow.commit()
        return service.assessment_detail(uow.session, service.get_assessment(uow.session, number))


@router.put("/{number}/items/{seq}", response_model=AssessmentDetail)
def update_item(
    number: str, seq: int, body: RiskItemInput, db: DbDep, principal: Manager
) -> AssessmentDetail:
    with uow_for(db, principal) as uow:
        service.update_item(uow, principal, number, seq, body)
        uow.commit()
        return service.assessment_detail(uow.session, service.get_assessment(uow.session, number))


@router.post("/{number}/items/{seq}/void", response_model=AssessmentDetail)
def void_item(number: str, seq: int, body: ItemVoid, db: DbDep, principal: Manager) -> AssessmentDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        service.void_item(uow, principal, number, seq, body.reason)
        uow.commit()
        return service.assessment_detail(uow.session, service.get_assessment(uow.session, number))


@router.post("/{number}/submit", response_model=AssessmentDetail)
def submit(number: str, db: DbDep, principal: Manager) -> AssessmentDetail:
    """To review, once every failure mode at or above a threshold has its action."""
    with uow_for(db, principal) as uow:
        assessment = service.submit(uow, principal, number)
        uow.commit()
        return service.assessment_detail(uow.session, assessment)


@router.post("/{number}/return", response_model=AssessmentDetail)
def return_to_draft(number: str, body: ReasonBody, db: DbDep, principal: Manager) -> AssessmentDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        assessment = service.return_to_draft(uow, principal, number, body.reason)
        uow.commit()
        return service.assessment_detail(uow.session, assessment)


@router.post("/{number}/approve", response_model=DecisionPublic)
def approve(number: str, body: AssessmentApprove, db: DbDep, principal: Manager) -> DecisionPublic:
    """QA approves the revision by signature (never its author)."""
    with uow_for(db, principal) as uow:
        decision = service.approve(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/revise", response_model=AssessmentDetail)
def revise(number: str, body: ReasonBody, db: DbDep, principal: Manager) -> AssessmentDetail:
    """The approved assessment re-opened as its next revision."""
    with uow_for(db, principal, reason=body.reason) as uow:
        assessment = service.revise(uow, principal, number, body.reason)
        uow.commit()
        return service.assessment_detail(uow.session, assessment)


@router.post("/{number}/withdraw", response_model=AssessmentDetail)
def withdraw(number: str, body: ReasonBody, db: DbDep, principal: Manager) -> AssessmentDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        assessment = service.withdraw(uow, principal, number, body.reason)
        uow.commit()
        return service.assessment_detail(uow.session, assessment)
