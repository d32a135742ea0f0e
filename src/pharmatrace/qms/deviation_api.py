"""``/api/v1/qms/deviations``: deviations and their lifecycle (TJ-6.4.4, TJ-B.2.3.2, SH-6.2.4).

Reading needs ``qms.view``; recording, further immediate actions and the investigation ``qms.deviation.raise``;
classification, impact assessment, closure (signed) and cancellation ``qms.deviation.approve``. The service adds
the lifecycle's guards: whoever recorded a deviation neither closes nor cancels it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import deviations
from pharmatrace.qms.deviation_models import CLASSES, SOURCE_KINDS, STATUSES
from pharmatrace.qms.deviation_schemas import (
    BatchDeviation,
    Cancellation,
    Classification,
    Closure,
    Dashboard,
    DeviationCreate,
    DeviationDetail,
    DeviationPublic,
    ImmediateAction,
    ImpactAssessment,
    Investigation,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Raise = Annotated[Principal, Depends(Requires("qms.deviation.raise"))]
Approve = Annotated[Principal, Depends(Requires("qms.deviation.approve"))]


@router.get("/qms/deviations", response_model=list[DeviationPublic])
def list_deviations(
    db: DbDep, _: QmsView, status: str = "", classification: str = "", source: str = "", overdue: bool = False,
    q: str = "",
) -> list[DeviationPublic]:  # fmt: skip
    """Deviations, newest first; ``status`` one status or ``active``, ``classification``, ``source`` (the kind:
    mes, lims, monitoring, wms, manual), ``overdue``, ``q`` in the number, description, batches or lots."""
    with db.sessions() as session:
        found = deviations.list_deviations(
            session, status=status if status in (*STATUSES, "active") else "",
            classification=classification if classification in CLASSES else "",
            source_kind=source if source in SOURCE_KINDS else "", overdue=overdue, text=q,
        )  # fmt: skip
        on = deviations.today()
        return [deviations.deviation_public(d, on) for d in found]


@router.get("/qms/deviation-dashboard", response_model=Dashboard)
def dashboard(db: DbDep, _: QmsView) -> Dashboard:
    """Counts per status and class, overdue, ageing of the active deviations (0–7, 8–30, over 30 days)."""
    with db.sessions() as session:
        return deviations.dashboard(session)


@router.get("/qms/batch-deviations/{batch_no}", response_model=list[BatchDeviation])
def batch_deviations(batch_no: str, db: DbDep, _: QmsView) -> list[BatchDeviation]:
    """The deviations touching a batch with the impact conclusion on it (its quality evaluation reads them)."""
    with db.sessions() as session:
        return deviations.batch_quality_evaluation(session, batch_no)


@router.post("/qms/deviations", response_model=DeviationDetail, status_code=201)
def create(body: DeviationCreate, db: DbDep, principal: Raise) -> DeviationDetail:
    """A deviation entered by hand (or passed on by another area with its ``source_kind`` and ``source``)."""
    with uow_for(db, principal) as uow:
        deviation = deviations.record(uow, principal, body)
        uow.commit()
        return deviations.deviation_detail(uow.session, deviation)


@router.get("/qms/deviations/{number}", response_model=DeviationDetail)
def get(number: str, db: DbDep, _: QmsView) -> DeviationDetail:
    """One deviation with its affected objects and impacts, timeline, closure signature and linked CAPAs."""
    with db.sessions() as session:
        return deviations.deviation_detail(session, deviations.get_deviation(session, number))


def _detail(db: DbDep, number: str) -> DeviationDetail:
    with db.sessions() as session:
        return deviations.deviation_detail(session, deviations.get_deviation(session, number))


@router.post("/qms/deviations/{number}/classify", response_model=DeviationDetail)
def classify(
    number: str, body: Classification, db: DbDep, principal: Approve, reason: str | None = None
) -> DeviationDetail:
    """QA's classification; a re-classification needs ``reason``."""
    with uow_for(db, principal, reason) as uow:
        deviations.classify(uow, principal, number, body)
        uow.commit()
    return _detail(db, number)


@router.post("/qms/deviations/{number}/actions", response_model=DeviationDetail, status_code=201)
def immediate_action(number: str, body: ImmediateAction, db: DbDep, principal: Raise) -> DeviationDetail:
    """A further immediate action, on the timeline."""
    with uow_for(db, principal) as uow:
        deviations.record_action(uow, principal, number, body.text)
        uow.commit()
    return _detail(db, number)


@router.post("/qms/deviations/{number}/investigation/start", response_model=DeviationDetail)
def start_investigation(number: str, db: DbDep, principal: Raise) -> DeviationDetail:
    with uow_for(db, principal) as uow:
        deviations.start_investigation(uow, principal, number)
        uow.commit()
    return _detail(db, number)


@router.post("/qms/deviations/{number}/investigation", response_model=DeviationDetail)
def investigate(number: str, body: Investigation, db: DbDep, principal: Raise) -> DeviationDetail:
    """The investigation's result: root cause, 5-why chain, fishbone categories, conclusion."""
    with uow_for(db, principal) as uow:
        deviations.complete_investigation(uow, principal, number, body)
        uow.commit()
    return _detail(db, number)


@router.post("/qms/deviations/{number}/impacts", response_model=DeviationDetail, status_code=201)
def impact(number: str, body: ImpactAssessment, db: DbDep, principal: Approve) -> DeviationDetail:
    """QA's impact assessment of one affected batch or lot."""
    with uow_for(db, principal) as uow:
        deviations.assess_impact(uow, principal, number, body)
        uow.commit()
    return _detail(db, number)


@router.post("/qms/deviations/{number}/close", response_model=DeviationDetail)
def close(number: str, body: Closure, db: DbDep, principal: Approve) -> DeviationDetail:
    """QA's closure signature (meaning "approved"); the password re-authenticates the signer."""
    with uow_for(db, principal) as uow:
        deviations.close(
            uow, principal, number, password=body.password, login=body.login, comment=body.comment
        )
        uow.commit()
    return _detail(db, number)


@router.post("/qms/deviations/{number}/cancel", response_model=DeviationDetail)
def cancel(number: str, body: Cancellation, db: DbDep, principal: Approve) -> DeviationDetail:
    """QA cancels a deviation raised in error, with the reason."""
    with uow_for(db, principal, body.reason) as uow:
        deviations.cancel(uow, principal, number)
        uow.commit()
    return _detail(db, number)
