"""``/api/v1/qms/pqr``: product quality reviews (TJ-9.4, SH-6.2.4) — compile, recompile, QA's conclusions and the
qualified person's signed approval. Reading needs ``qms.view``; compiling, recompiling and the conclusions
``qms.pqr.manage``; the approval ``qms.release.decide`` (the qualified person, never the compiler)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import pqr as service
from pharmatrace.qms.pqr_schemas import (
    PqrApprove,
    PqrCompile,
    PqrDecisionPublic,
    PqrDetail,
    PqrPublic,
    PqrRecompile,
    PqrReview,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/pqr", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires(service.VIEW_PERMISSION))]
Manager = Annotated[Principal, Depends(Requires(service.MANAGE_PERMISSION))]
QP = Annotated[Principal, Depends(Requires(service.APPROVE_PERMISSION))]


@router.get("", response_model=list[PqrPublic])
def list_pqrs(db: DbDep, _: QmsView, status: str = "", q: str = "") -> list[PqrPublic]:
    """The live version of every review, newest first; ``status`` a status or ``open``."""
    with db.sessions() as session:
        return [service.pqr_public(p) for p in service.list_pqrs(session, status=status, text=q)]


@router.post("", response_model=PqrDetail, status_code=201)
def compile_review(body: PqrCompile, db: DbDep, principal: Manager) -> PqrDetail:
    """Compile the review of a finished product over a year (default the current one) or a period."""
    with uow_for(db, principal) as uow:
        pqr = service.compile_review(uow, principal, body)
        uow.commit()
        return service.pqr_detail(uow.session, pqr)


@router.get("/{number}", response_model=PqrDetail)
def get_pqr(number: str, db: DbDep, _: QmsView, version: int | None = None) -> PqrDetail:
    """The live version, or an earlier (superseded) one by ``version``."""
    with db.sessions() as session:
        return service.pqr_detail(session, service.get_pqr(session, number, version))


@router.post("/{number}/recompile", response_model=PqrDetail)
def recompile(number: str, body: PqrRecompile, db: DbDep, principal: Manager) -> PqrDetail:
    """Compile the next version from the records as they are now; the one before is kept, superseded."""
    with uow_for(db, principal, reason=body.reason) as uow:
        pqr = service.recompile(uow, principal, number, body)
        uow.commit()
        return service.pqr_detail(uow.session, pqr)


@router.put("/{number}/review", response_model=PqrDetail)
def review(number: str, body: PqrReview, db: DbDep, principal: Manager) -> PqrDetail:
    """QA's conclusions per section and overall."""
    with uow_for(db, principal) as uow:
        pqr = service.record_review(uow, principal, number, body)
        uow.commit()
        return service.pqr_detail(uow.session, pqr)


@router.post("/{number}/approve", response_model=PqrDecisionPublic)
def approve(number: str, body: PqrApprove, db: DbDep, principal: QP) -> PqrDecisionPublic:
    """The qualified person approves the review by signature (never its compiler)."""
    with uow_for(db, principal) as uow:
        decision = service.approve(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)
