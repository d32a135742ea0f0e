"""``/api/v1/lims/stability``: stability studies — protocols, approval, placements, pulls, the due list and the
trends with their ICH Q1E estimates (SH-6.2.3, TJ-7.7). Reading needs ``lims.view``; writing a protocol
``lims.spec.author``; approving and cancelling ``lims.spec.approve``; placing and pulling ``lims.sample.manage``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.lims import stability
from pharmatrace.lims.stability_schemas import (
    ApprovalPublic,
    DueRow,
    PlacementCreate,
    PlacementPublic,
    PullCreate,
    PullPublic,
    StudyApprove,
    StudyCancel,
    StudyCreate,
    StudyDetail,
    StudyPublic,
    StudyUpdate,
    TrendPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/lims/stability", tags=["lims"])

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]
Author = Annotated[Principal, Depends(Requires("lims.spec.author"))]
Approver = Annotated[Principal, Depends(Requires("lims.spec.approve"))]
Handler = Annotated[Principal, Depends(Requires("lims.sample.manage"))]


@router.get("/studies", response_model=list[StudyPublic])
def list_studies(db: DbDep, _: LimsView, status: str = "", q: str = "") -> list[StudyPublic]:
    """Studies, newest first; ``status`` draft, approved, complete (derived) or cancelled."""
    with db.sessions() as session:
        return [
            stability.study_public(session, s) for s in stability.list_studies(session, status=status, text=q)
        ]


@router.post("/studies", response_model=StudyDetail, status_code=201)
def create_study(body: StudyCreate, db: DbDep, principal: Author) -> StudyDetail:
    """A new protocol, as a draft."""
    with uow_for(db, principal) as uow:
        study = stability.create_study(uow, principal, body)
        uow.commit()
        return stability.study_detail(uow.session, study)


@router.get("/due", response_model=list[DueRow])
def due(db: DbDep, _: LimsView, days: Annotated[int, Query(ge=0, le=365)] = 30) -> list[DueRow]:
    """Pull points whose window opens within ``days`` days, is open, or has closed without the pull."""
    with db.sessions() as session:
        return stability.due_points(session, days=days)


@router.get("/studies/{code}", response_model=StudyDetail)
def get_study(code: str, db: DbDep, _: LimsView) -> StudyDetail:
    with db.sessions() as session:
        return stability.study_detail(session, stability.get_study(session, code))


@router.put("/studies/{code}", response_model=StudyDetail)
def update_study(code: str, body: StudyUpdate, db: DbDep, principal: Author) -> StudyDetail:
    """A draft's whole protocol replaced."""
    with uow_for(db, principal, reason=body.reason) as uow:
        study = stability.update_study(uow, principal, code, body)
        uow.commit()
        return stability.study_detail(uow.session, study)


@router.post("/studies/{code}/approve", response_model=ApprovalPublic)
def approve(code: str, body: StudyApprove, db: DbDep, principal: Approver) -> ApprovalPublic:
    """The approval signature, by someone who did not write the protocol."""
    with uow_for(db, principal) as uow:
        approval = stability.approve(uow, principal, code, password=body.password, login=body.login,
                                     comment=body.comment)  # fmt: skip
        uow.commit()
        return stability.approval_public(uow.session, approval)


@router.post("/studies/{code}/cancel", response_model=StudyDetail)
def cancel(code: str, body: StudyCancel, db: DbDep, principal: Approver) -> StudyDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        study = stability.cancel(uow, principal, code, body.reason)
        uow.commit()
        return stability.study_detail(uow.session, study)


@router.post("/studies/{code}/placements", response_model=PlacementPublic, status_code=201)
def place(code: str, body: PlacementCreate, db: DbDep, principal: Handler) -> PlacementPublic:
    """Stability samples of a batch placed in the chamber."""
    with uow_for(db, principal) as uow:
        placement = stability.place(uow, principal, code, body)
        uow.commit()
        study = stability.get_study(uow.session, code)
        return stability.placement_public(study, placement)


@router.post("/studies/{code}/pulls", response_model=list[PullPublic], status_code=201)
def pull(code: str, body: PullCreate, db: DbDep, principal: Handler) -> list[PullPublic]:
    """Pull a point for every batch not pulled at it yet; each pull gets its test order."""
    with uow_for(db, principal) as uow:
        made = stability.pull(uow, principal, code, body)
        uow.commit()
        study = stability.get_study(uow.session, code)
        return [stability.pull_public(study, row) for row in made]


@router.get("/studies/{code}/trends", response_model=list[TrendPublic])
def trends(code: str, db: DbDep, _: LimsView) -> list[TrendPublic]:
    """Each trended attribute: reviewed results per batch and pull point, criterion, ICH Q1E estimate."""
    with db.sessions() as session:
        return stability.trends(session, stability.get_study(session, code))
