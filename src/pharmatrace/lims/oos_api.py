"""``/api/v1/lims/oos`` — OOS investigations (TJ-7.7, TJ-B.2.4.3).

Reading needs ``lims.view``; each step the permission its transition declares (:data:`pharmatrace.lims.oos.
TRANSITIONS`, checked by the service): phase I and the conclusion ``lims.result.review``, phase II and its
deviation ``qms.deviation.raise``, the signed closure ``qms.deviation.approve`` (never the result's analyst). A
recorded step is corrected (``/steps/{id}/correction``, with the reason) by whoever may record it, while the case
is open.
The list of cases is ``/api/v1/lims/oos-cases``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import oos
from pharmatrace.lims.oos_schemas import (
    ConclusionCreate,
    DeviationRaise,
    InvestigationDetail,
    OosClose,
    PhaseOne,
    PhaseTwo,
    StepCorrection,
)
from pharmatrace.storage.engine import Database
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/lims", tags=["lims"])

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]


def _step(
    db: Database, principal: Principal, code: str, write: Callable[[UnitOfWork], Any]
) -> InvestigationDetail:
    with uow_for(db, principal) as uow:
        write(uow)
        uow.commit()
        return oos.investigation_detail(uow.session, oos.get_case(uow.session, code))


@router.get("/oos/{code}", response_model=InvestigationDetail)
def get_investigation(code: str, db: DbDep, _: LimsView) -> InvestigationDetail:
    """The investigation with everything linked to it, its steps, blockers and closure."""
    with db.sessions() as session:
        return oos.investigation_detail(session, oos.get_case(session, code))


@router.post("/oos/{code}/phase1", response_model=InvestigationDetail)
def record_phase1(code: str, body: PhaseOne, db: DbDep, principal: LimsView) -> InvestigationDetail:
    """Phase I: the assignable-cause checklist and its conclusion (invalidated, or escalated to phase II)."""
    return _step(db, principal, code, lambda uow: oos.record_phase1(uow, principal, code, body))


@router.post("/oos/{code}/deviation", response_model=InvestigationDetail)
def raise_deviation(code: str, body: DeviationRaise, db: DbDep, principal: LimsView) -> InvestigationDetail:
    """Phase II's deviation, raised through the QMS seam."""
    return _step(db, principal, code, lambda uow: oos.raise_deviation(uow, principal, code, body))


@router.post("/oos/{code}/phase2", response_model=InvestigationDetail)
def record_phase2(code: str, body: PhaseTwo, db: DbDep, principal: LimsView) -> InvestigationDetail:
    """Phase II: the manufacturing investigation, the impact on other batches, the root cause."""
    return _step(db, principal, code, lambda uow: oos.record_phase2(uow, principal, code, body))


@router.post("/oos/{code}/conclusion", response_model=InvestigationDetail)
def record_conclusion(
    code: str, body: ConclusionCreate, db: DbDep, principal: LimsView
) -> InvestigationDetail:
    return _step(db, principal, code, lambda uow: oos.record_conclusion(uow, principal, code, body))


@router.post("/oos/{code}/steps/{step_id}/correction", response_model=InvestigationDetail)
def correct_step(
    code: str, step_id: int, body: StepCorrection, db: DbDep, principal: LimsView
) -> InvestigationDetail:
    """A correction of a recorded step: its whole content as it should read and the reason (TJ-10.1.3.4)."""
    return _step(db, principal, code,
                 lambda uow: oos.correct_step(uow, principal, code, step_id, body.body, body.reason))  # fmt: skip


@router.post("/oos/{code}/close", response_model=InvestigationDetail)
def close(code: str, body: OosClose, db: DbDep, principal: LimsView) -> InvestigationDetail:
    """QA's closure by signature (``lims.oos.close``)."""
    return _step(db, principal, code, lambda uow: oos.close(uow, principal, code, password=body.password,
                                                            login=body.login, comment=body.comment))  # fmt: skip
