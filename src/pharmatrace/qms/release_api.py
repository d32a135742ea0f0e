"""``/api/v1/qms/release``: batch release by the qualified person (批放行; TJ-6.3.4, TJ-6.4.7, TJ-9.1).

Reading needs ``qms.view``; the decision (release and reject signed, quarantine with its reason)
``qms.release.decide``. The service adds the guards: nothing is released while a checklist item fails, and
whoever took part in the batch or reviewed its record does not decide on it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import release
from pharmatrace.qms.release_schemas import CandidatePublic, DecisionCreate, ReleasePublic
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Decide = Annotated[Principal, Depends(Requires(release.DECIDE))]


@router.get("/release", response_model=list[CandidatePublic])
def candidates(db: DbDep, _: QmsView) -> list[CandidatePublic]:
    """Completed batches: awaiting release (with their failing checklist items), quarantined, released, rejected."""
    with db.sessions() as session:
        return release.candidates(session)


@router.get("/release/{batch_no}", response_model=ReleasePublic)
def get(batch_no: str, db: DbDep, _: QmsView) -> ReleasePublic:
    """The batch's checklist computed from the record, its release summary, and the decisions so far."""
    with db.sessions() as session:
        return release.release_public(session, batch_no)


@router.post("/release/{batch_no}/decision", response_model=ReleasePublic, status_code=201)
def decide(batch_no: str, body: DecisionCreate, db: DbDep, principal: Decide) -> ReleasePublic:
    """Release or reject (signed: the password, and the log-in ID for a session's first signature), or
    quarantine with the reason. A refused release names every failing checklist item and writes nothing."""
    with uow_for(db, principal) as uow:
        release.decide(uow, principal, batch_no, body)
        uow.commit()
    with db.sessions() as session:
        return release.release_public(session, batch_no)
