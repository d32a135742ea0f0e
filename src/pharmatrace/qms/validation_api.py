"""``/api/v1/qms/validation``: validation and qualification — the project and its protocol items with acceptance
criteria, the protocol review and QA's signed approval, execution results and their corrections, the report and QA's
signed approval, cancellation, and the validations due for revalidation (SH-6.2.4, SH-6.3.2.1.c, TJ-10.3,
TJ-11.2.1). Reading needs ``qms.view``; every write ``qms.validation.manage``; the approvals also
``qms.deviation.approve`` (QA, never the author)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import validation as service
from pharmatrace.qms.validation_schemas import (
    DecisionPublic,
    DuePublic,
    ProtocolItemInput,
    ReasonBody,
    ReportSubmit,
    ResultInput,
    SignBody,
    ValidationCreate,
    ValidationDetail,
    ValidationPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/validation", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires("qms.validation.manage"))]


@router.get("", response_model=list[ValidationPublic])
def list_validations(
    db: DbDep, _: QmsView, status: str = "", kind: str = "", q: str = ""
) -> list[ValidationPublic]:
    """Validations, newest first; ``status`` a status or ``open``; ``kind`` equipment_qualification, process, …"""
    with db.sessions() as session:
        found = service.list_validations(session, status=status, kind=kind, text=q)
        return [service.validation_public(v) for v in found]


@router.get("/due", response_model=list[DuePublic])
def due(db: DbDep, _: QmsView, within_days: Annotated[int, Query(ge=0, le=3650)] = 90) -> list[DuePublic]:
    """Validated subjects whose revalidation is due within ``within_days`` or overdue, soonest first."""
    with db.sessions() as session:
        return [service.due_public(v) for v in service.due_for_revalidation(session, within_days)]


@router.post("", response_model=ValidationDetail, status_code=201)
def create(body: ValidationCreate, db: DbDep, principal: Manager) -> ValidationDetail:
    """A new validation (draft protocol); an equipment by its code, a change or a risk assessment by its number."""
    with uow_for(db, principal) as uow:
        validation = service.create_validation(uow, principal, body)
        uow.commit()
        return service.validation_detail(uow.session, validation)


@router.get("/{number}", response_model=ValidationDetail)
def get_validation(number: str, db: DbDep, _: QmsView) -> ValidationDetail:
    with db.sessions() as session:
        return service.validation_detail(session, service.get_validation(session, number))


def _detail(
    db: DbDep,
    principal: Principal,
    number: str,
    write: Callable[[UnitOfWork], object],
    reason: str | None = None,
) -> ValidationDetail:
    with uow_for(db, principal, reason=reason) as uow:
        write(uow)
        uow.commit()
        return service.validation_detail(uow.session, service.get_validation(uow.session, number))


@router.post("/{number}/items", response_model=ValidationDetail, status_code=201)
def add_item(number: str, body: ProtocolItemInput, db: DbDep, principal: Manager) -> ValidationDetail:
    """A protocol item: stage, test, procedure, acceptance criterion (while the protocol is a draft)."""
    return _detail(db, principal, number, lambda uow: service.add_test(uow, principal, number, body))


@router.put("/{number}/items/{seq}", response_model=ValidationDetail)
def update_item(
    number: str, seq: int, body: ProtocolItemInput, db: DbDep, principal: Manager
) -> ValidationDetail:
    return _detail(db, principal, number, lambda uow: service.update_test(uow, principal, number, seq, body))


@router.post("/{number}/items/{seq}/void", response_model=ValidationDetail)
def void_item(number: str, seq: int, body: ReasonBody, db: DbDep, principal: Manager) -> ValidationDetail:
    return _detail(db, principal, number,
                   lambda uow: service.void_test(uow, principal, number, seq, body.reason), body.reason)  # fmt: skip


@router.post("/{number}/submit", response_model=ValidationDetail)
def submit(number: str, db: DbDep, principal: Manager) -> ValidationDetail:
    """The protocol to review, once every stage has a test."""
    return _detail(db, principal, number, lambda uow: service.submit(uow, principal, number))


@router.post("/{number}/return", response_model=ValidationDetail)
def return_protocol(number: str, body: ReasonBody, db: DbDep, principal: Manager) -> ValidationDetail:
    return _detail(db, principal, number,
                   lambda uow: service.return_protocol(uow, principal, number, body.reason), body.reason)  # fmt: skip


@router.post("/{number}/approve-protocol", response_model=DecisionPublic)
def approve_protocol(number: str, body: SignBody, db: DbDep, principal: Manager) -> DecisionPublic:
    """QA approves the protocol by signature (never its author)."""
    with uow_for(db, principal) as uow:
        decision = service.approve_protocol(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/items/{seq}/results", response_model=ValidationDetail, status_code=201)
def record_result(
    number: str, seq: int, body: ResultInput, db: DbDep, principal: Manager
) -> ValidationDetail:
    """A result while executing; with ``correction_reason`` it supersedes the current one (which stays)."""
    return _detail(
        db, principal, number, lambda uow: service.record_result(uow, principal, number, seq, body)
    )


@router.post("/{number}/submit-report", response_model=ValidationDetail)
def submit_report(number: str, body: ReportSubmit, db: DbDep, principal: Manager) -> ValidationDetail:
    """The report to review: every test has a result, every failure its deviation."""
    return _detail(db, principal, number, lambda uow: service.submit_report(uow, principal, number, body))


@router.post("/{number}/return-report", response_model=ValidationDetail)
def return_report(number: str, body: ReasonBody, db: DbDep, principal: Manager) -> ValidationDetail:
    return _detail(db, principal, number,
                   lambda uow: service.return_report(uow, principal, number, body.reason), body.reason)  # fmt: skip


@router.post("/{number}/approve-report", response_model=DecisionPublic)
def approve_report(number: str, body: SignBody, db: DbDep, principal: Manager) -> DecisionPublic:
    """QA approves the report by signature (never its author); an equipment's logbook gets the qualification."""
    with uow_for(db, principal) as uow:
        decision = service.approve_report(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/cancel", response_model=ValidationDetail)
def cancel(number: str, body: ReasonBody, db: DbDep, principal: Manager) -> ValidationDetail:
    return _detail(db, principal, number,
                   lambda uow: service.cancel(uow, principal, number, body.reason), body.reason)  # fmt: skip
