"""``/api/v1/lims``: sampling plans, sampling records, samples and their lifecycle, retention reminders and
sample labels (TJ-7.5, TJ-B.2.4.1, TJ-6.4.1). Reading needs ``lims.view``; every write ``lims.sample.manage``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from pharmatrace.kernel.errors import N_, Conflict
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import sample_labels, samples
from pharmatrace.lims.sample_schemas import (
    PlanCreate,
    PlanPublic,
    PlanUpdate,
    PlanVoid,
    RetentionDuePublic,
    SampleDisposal,
    SampleIssue,
    SampleObserve,
    SamplePublic,
    SampleReceive,
    SampleStore,
    SamplingCreate,
    SamplingProposal,
    SamplingRecordPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/lims", tags=["lims"])

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]
SampleManage = Annotated[Principal, Depends(Requires("lims.sample.manage"))]
M = TypeVar("M", bound=BaseModel)


# --- sampling plans (TJ-7.5.1) --------------------------------------------------------------------------


@router.get("/sampling-plans", response_model=list[PlanPublic])
def list_plans(db: DbDep, _: LimsView, include_void: bool = False) -> list[PlanPublic]:
    with db.sessions() as session:
        return [
            samples.plan_public(session, p) for p in samples.list_plans(session, include_void=include_void)
        ]


@router.post("/sampling-plans", response_model=PlanPublic, status_code=201)
def create_plan(body: PlanCreate, db: DbDep, principal: SampleManage) -> PlanPublic:
    with uow_for(db, principal) as uow:
        plan = samples.create_plan(uow, principal, body)
        uow.commit()
        return samples.plan_public(uow.session, plan)


@router.get("/sampling-plans/proposal", response_model=SamplingProposal)
def proposal(
    db: DbDep, _: LimsView, lot: Annotated[str, Query(min_length=1)], plan: str = ""
) -> SamplingProposal:
    """What sampling the lot would take by its plan: n and k (the containers are drawn when it is recorded)."""
    with db.sessions() as session:
        return samples.propose(session, lot, plan or None)


@router.get("/sampling-plans/{plan_id}", response_model=PlanPublic)
def get_plan(plan_id: int, db: DbDep, _: LimsView) -> PlanPublic:
    with db.sessions() as session:
        return samples.plan_public(session, samples.get_plan(session, plan_id))


@router.patch("/sampling-plans/{plan_id}", response_model=PlanPublic)
def update_plan(plan_id: int, body: PlanUpdate, db: DbDep, principal: SampleManage) -> PlanPublic:
    with uow_for(db, principal, reason=body.reason) as uow:
        plan = samples.update_plan(uow, principal, plan_id, body)
        uow.commit()
        return samples.plan_public(uow.session, plan)


@router.post("/sampling-plans/{plan_id}/void", response_model=PlanPublic)
def void_plan(plan_id: int, body: PlanVoid, db: DbDep, principal: SampleManage) -> PlanPublic:
    with uow_for(db, principal, reason=body.reason) as uow:
        plan = samples.void_plan(uow, principal, plan_id, body.reason)
        uow.commit()
        return samples.plan_public(uow.session, plan)


# --- sampling records (TJ-B.2.4.1.1) ----------------------------------------------------------------------


@router.post("/sampling-records", response_model=SamplingRecordPublic, status_code=201)
def record_sampling(body: SamplingCreate, db: DbDep, principal: SampleManage) -> SamplingRecordPublic:
    """Sample a lot: the server draws the containers with a recorded seed; a quarantined lot goes under test."""
    with uow_for(db, principal) as uow:
        record = samples.record_sampling(uow, principal, body)
        uow.commit()
        return samples.record_public(uow.session, record)


@router.get("/sampling-records", response_model=list[SamplingRecordPublic])
def list_records(db: DbDep, _: LimsView, lot: str = "") -> list[SamplingRecordPublic]:
    with db.sessions() as session:
        lot_id = samples.find_lot(session, lot).id if lot else None
        return [samples.record_public(session, r) for r in samples.list_records(session, lot_id=lot_id)]


@router.get("/sampling-records/{record_id}", response_model=SamplingRecordPublic)
def get_record(record_id: int, db: DbDep, _: LimsView) -> SamplingRecordPublic:
    with db.sessions() as session:
        return samples.record_public(session, samples.get_record(session, record_id))


def _label(data: bytes, fmt: sample_labels.Format, name: str) -> Response:
    if fmt == "pdf":
        return Response(data, media_type="application/pdf",
                        headers={"content-disposition": f'inline; filename="{name}.pdf"'})  # fmt: skip
    return Response(data, media_type="text/plain; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}.zpl"'})  # fmt: skip


@router.get("/sampling-records/{record_id}/labels.{fmt}")
def record_labels(record_id: int, fmt: sample_labels.Format, db: DbDep, principal: SampleManage) -> Response:
    """The labels of every sample of a sampling record (PDF, or ZPL for a label printer); the print is recorded."""
    with UnitOfWork(db, principal.actor) as uow:
        record = samples.get_record(uow.session, record_id)
        found = samples.samples_of_record(uow.session, record.id)
        if not found:
            raise Conflict(N_("The sampling record {code} has no samples"), code=record.code)
        data = sample_labels.print_labels(uow, found, fmt)
        uow.commit()
        return _label(data, fmt, record.code)


# --- samples (TJ-7.5.2, TJ-B.2.4.1.2–6) -------------------------------------------------------------------


@router.get("/samples", response_model=list[SamplePublic])
def list_samples(
    db: DbDep, _: LimsView, state: str = "", kind: str = "", q: str = "", lot: str = ""
) -> list[SamplePublic]:
    """Samples with their current state (derived from their events); filtered by state, kind, lot or text."""
    with db.sessions() as session:
        lot_id = samples.find_lot(session, lot).id if lot else None
        found = samples.list_samples(session, state=state, kind=kind, text=q, lot_id=lot_id)
        return samples.samples_public(session, [s for s, _ in found])


@router.get("/samples/retention-due", response_model=list[RetentionDuePublic])
def retention_due(
    db: DbDep, _: LimsView, days: Annotated[int, Query(ge=0, le=3650)] = 30
) -> list[RetentionDuePublic]:
    """Retained samples whose retention ends within ``days`` days or has ended (TJ-6.4.1)."""
    with db.sessions() as session:
        return [samples.due_public(row) for row in samples.retention_due(session, days=days)]


@router.get("/samples/{code}", response_model=SamplePublic)
def get_sample(code: str, db: DbDep, _: LimsView) -> SamplePublic:
    with db.sessions() as session:
        return samples.sample_public(session, samples.sample_by_code(session, code))


def _step(
    db: DbDep, principal: Principal, code: str, body: M,
    write: Callable[[UnitOfWork, Principal, str, M], object],
) -> SamplePublic:  # fmt: skip
    with uow_for(db, principal) as uow:
        write(uow, principal, code, body)
        uow.commit()
        return samples.sample_public(uow.session, samples.sample_by_code(uow.session, code))


@router.post("/samples/{code}/receive", response_model=SamplePublic)
def receive(code: str, body: SampleReceive, db: DbDep, principal: SampleManage) -> SamplePublic:
    """Received by the lab: amount and condition on receipt (TJ-B.2.4.1.2)."""
    return _step(db, principal, code, body, samples.receive)


@router.post("/samples/{code}/store", response_model=SamplePublic)
def store(code: str, body: SampleStore, db: DbDep, principal: SampleManage) -> SamplePublic:
    """Stored: location, storage equipment, conditions (TJ-B.2.4.1.3)."""
    return _step(db, principal, code, body, samples.store)


@router.post("/samples/{code}/issue", response_model=SamplePublic)
def issue(code: str, body: SampleIssue, db: DbDep, principal: SampleManage) -> SamplePublic:
    return _step(db, principal, code, body, samples.issue)


@router.post("/samples/{code}/dispose", response_model=SamplePublic)
def dispose(code: str, body: SampleDisposal, db: DbDep, principal: SampleManage) -> SamplePublic:
    """The remaining test sample disposed of, witnessed (TJ-B.2.4.1.5)."""
    return _step(db, principal, code, body, samples.dispose)


@router.post("/samples/{code}/retain", response_model=SamplePublic)
def retain(code: str, body: SampleStore, db: DbDep, principal: SampleManage) -> SamplePublic:
    """A retained sample put into retention (TJ-B.2.4.1.6)."""
    return _step(db, principal, code, body, samples.retain)


@router.post("/samples/{code}/observe", response_model=SamplePublic)
def observe(code: str, body: SampleObserve, db: DbDep, principal: SampleManage) -> SamplePublic:
    return _step(db, principal, code, body, samples.observe)


@router.post("/samples/{code}/destroy", response_model=SamplePublic)
def destroy(code: str, body: SampleDisposal, db: DbDep, principal: SampleManage) -> SamplePublic:
    """A retained sample destroyed once its retention has ended (TJ-6.4.1), witnessed."""
    return _step(db, principal, code, body, samples.destroy)


@router.get("/samples/{code}/label.{fmt}")
def sample_label(code: str, fmt: sample_labels.Format, db: DbDep, principal: SampleManage) -> Response:
    with UnitOfWork(db, principal.actor) as uow:
        sample = samples.sample_by_code(uow.session, code)
        data = sample_labels.print_labels(uow, [sample], fmt)
        uow.commit()
        return _label(data, fmt, sample.code)
