"""Destructions of historian raw values past their retention over the REST API (TJ-10.1.6.3): listed by whoever
views monitoring; requested by whoever maintains the historian's configuration, approved by QA with an electronic
signature (never the requester), cancelled with a reason. The execution is not here: it is run on the server
against the archive copy (``pharmatrace monitoring destroy DS-… --manifest PATH``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.monitoring import archive, destruction, tags
from pharmatrace.monitoring.destruction_schemas import (
    DestructionApprove,
    DestructionCreate,
    DestructionPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/monitoring", tags=["monitoring"])

View = Annotated[Principal, Depends(Requires(tags.VIEW_PERMISSION))]
Applicant = Annotated[Principal, Depends(Requires(destruction.REQUEST_PERMISSION))]
Approve = Annotated[Principal, Depends(Requires(destruction.APPROVE_PERMISSION))]


@router.get("/destructions", response_model=list[DestructionPublic])
def list_destructions(db: DbDep, _: View) -> list[DestructionPublic]:
    """Every destruction, the newest month first, in whatever state."""
    with db.sessions() as session:
        return [destruction.public(r) for r in destruction.list_all(session)]


@router.get("/destructions/{number}", response_model=DestructionPublic)
def get_destruction(number: str, db: DbDep, _: View) -> DestructionPublic:
    with db.sessions() as session:
        return destruction.public(destruction.get(session, number))


@router.post("/destructions", response_model=DestructionPublic, status_code=201)
def request_destruction(body: DestructionCreate, db: DbDep, principal: Applicant) -> DestructionPublic:
    """Ask for the destruction of a month's raw values of one retention class: refused unless the month has ended,
    its values of that class are past their retention and none is asked for already."""
    with uow_for(db, principal) as uow:
        record = destruction.request(uow, principal, archive.parse_month(body.month), body.retention_class,
                                     body.reason)  # fmt: skip
        uow.commit()
        return destruction.public(record)


@router.post("/destructions/{number}/approve", response_model=DestructionPublic)
def approve_destruction(
    number: str, body: DestructionApprove, db: DbDep, principal: Approve
) -> DestructionPublic:
    """QA approves with an electronic signature (password; log-in ID too for a session's first signature)."""
    with uow_for(db, principal) as uow:
        record = destruction.approve(uow, principal, number, password=body.password, login=body.login,
                                     comment=body.comment)  # fmt: skip
        uow.commit()
        return destruction.public(record)


@router.post("/destructions/{number}/cancel", response_model=DestructionPublic)
def cancel_destruction(number: str, body: ReasonOnly, db: DbDep, principal: View) -> DestructionPublic:
    """Withdraw a destruction not yet executed (the requester's or QA's permission), with the reason."""
    with uow_for(db, principal, body.reason) as uow:
        record = destruction.cancel(uow, principal, number, body.reason)
        uow.commit()
        return destruction.public(record)
