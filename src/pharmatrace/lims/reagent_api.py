"""``/api/v1/lims/reagents…``, ``/api/v1/lims/solutions…``, ``/api/v1/lims/instruments…``: the inventory of
reagents, reference standards and solutions, their receipt, preparation, standardization, issue and
return, retest, invalidation, destruction and labels; the laboratory instruments (TJ-7.6, TJ-7.4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response

from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.lims import instruments
from pharmatrace.lims import reagents as service
from pharmatrace.lims.reagent_schemas import (
    DestructionCreate,
    InstrumentPublic,
    InvalidationCreate,
    IssueCreate,
    LogEntryPublic,
    ReagentDetail,
    ReagentPublic,
    ReagentReceive,
    ReminderPublic,
    RetestCreate,
    ReturnCreate,
    SolutionPrepare,
    StandardizationCreate,
    StandardizationPublic,
    UsabilityPublic,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/lims", tags=["lims"])

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]
ReagentManage = Annotated[Principal, Depends(Requires(service.MANAGE))]
ResultReview = Annotated[Principal, Depends(Requires(service.VERIFY))]


def _moment(at: datetime | None) -> datetime | None:
    if at is not None and at.tzinfo is None:
        raise ValidationFailed(N_("A time needs its time zone, e.g. 2026-11-20T08:00:00+08:00"))
    return at


def _detail(db: DbDep, code: str) -> ReagentDetail:
    with db.sessions() as session:
        return service.detail(session, service.find(session, code), i18n.translate)


# --- reagents and reference standards ------------------------------------------------------------------


@router.get("/reagents", response_model=list[ReagentPublic])
def list_reagents(
    db: DbDep,
    _: LimsView,
    kind: str = "",
    state: str = "",
    q: str = "",
    expiring_days: int | None = None,
) -> list[ReagentPublic]:
    """The inventory with each container's state now; ``q`` matches a code (as scanned), name or lot;
    ``expiring_days`` keeps the usable containers whose use-by or retest falls within N days."""
    with db.sessions() as session:
        rows = service.list_reagents(session, kind=kind, state=state, text=q, expiring_days=expiring_days)
        return [service.reagent_public(r, c) for r, c in rows]


@router.post("/reagents", response_model=list[ReagentPublic], status_code=201)
def receive(body: ReagentReceive, db: DbDep, principal: ReagentManage) -> list[ReagentPublic]:
    """Receive containers of one lot (入库); each gets its own code (and label)."""
    with uow_for(db, principal) as uow:
        made = service.receive(uow, body)
        uow.commit()
        return [service.reagent_public(r, service.condition_of(uow.session, r)) for r in made]


@router.get("/reagents/reminders", response_model=list[ReminderPublic])
def reminders(db: DbDep, _: LimsView, days: int = 30) -> list[ReminderPublic]:
    """Expiry and retest reminders: due within ``days`` or already passed, soonest first."""
    if not 0 <= days <= 3650:
        raise ValidationFailed(N_("The reminder window is 0 to 3650 days"))
    with db.sessions() as session:
        return service.reminders(session, days)


@router.get("/reagents/{code}", response_model=ReagentDetail)
def get_reagent(code: str, db: DbDep, _: LimsView) -> ReagentDetail:
    """One container with its state, usage log, components, standardizations."""
    return _detail(db, code)


@router.get("/reagents/{code}/usability", response_model=UsabilityPublic)
def usability(code: str, db: DbDep, _: LimsView, at: datetime | None = None) -> UsabilityPublic:
    """May the container be used at ``at`` (default now)? Every reason when it may not."""
    with db.sessions() as session:
        reagent = service.find(session, code)
        found = service.condition_of(session, reagent, _moment(at))
        return service.usability_public(reagent, found, i18n.translate)


@router.post("/reagents/{code}/issues", response_model=LogEntryPublic, status_code=201)
def issue(code: str, body: IssueCreate, db: DbDep, principal: ReagentManage) -> LogEntryPublic:
    """Issue (领用) a quantity; refused (and recorded) when the container may not be used now."""
    with uow_for(db, principal) as uow:
        entry = service.issue(uow, code, body)
        uow.commit()
        return service.log_entry_public(entry)


@router.post("/reagents/{code}/returns", response_model=LogEntryPublic, status_code=201)
def record_return(code: str, body: ReturnCreate, db: DbDep, principal: ReagentManage) -> LogEntryPublic:
    """Return (归还) what is left of an issue."""
    with uow_for(db, principal) as uow:
        entry = service.record_return(uow, code, body)
        uow.commit()
        return service.log_entry_public(entry)


@router.post("/reagents/{code}/retests", response_model=LogEntryPublic, status_code=201)
def record_retest(code: str, body: RetestCreate, db: DbDep, principal: ReagentManage) -> LogEntryPublic:
    """A passed retest (复验): the next retest date."""
    with uow_for(db, principal) as uow:
        entry = service.record_retest(uow, code, body)
        uow.commit()
        return service.log_entry_public(entry)


@router.post("/reagents/{code}/invalidation", response_model=LogEntryPublic, status_code=201)
def invalidate(code: str, body: InvalidationCreate, db: DbDep, principal: ReagentManage) -> LogEntryPublic:
    """Declare the container no longer usable (失效), with the reason."""
    with uow_for(db, principal) as uow:
        entry = service.invalidate(uow, code, body)
        uow.commit()
        return service.log_entry_public(entry)


@router.post("/reagents/{code}/destruction", response_model=LogEntryPublic, status_code=201)
def destroy(code: str, body: DestructionCreate, db: DbDep, principal: ReagentManage) -> LogEntryPublic:
    """Destroy (销毁) what is left, with the reason and a witness."""
    with uow_for(db, principal) as uow:
        entry = service.destroy(uow, code, body)
        uow.commit()
        return service.log_entry_public(entry)


@router.get("/reagents/{code}/label.{fmt}", response_class=Response)
def label(code: str, fmt: Literal["pdf", "zpl"], db: DbDep, principal: ReagentManage) -> Response:
    """The container's label, PDF or ZPL; the print is recorded in the audit trail."""
    with uow_for(db, principal) as uow:
        reagent = service.find(uow.session, code)
        data = service.print_label(uow, reagent, fmt)
        uow.commit()
    media = "application/pdf" if fmt == "pdf" else "text/plain; charset=utf-8"
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'inline; filename="{reagent.code}.{fmt}"'})  # fmt: skip


# --- solutions and volumetric standard solutions ----------------------------------------------------------


@router.get("/solutions", response_model=list[ReagentPublic])
def list_solutions(db: DbDep, _: LimsView, state: str = "", q: str = "") -> list[ReagentPublic]:
    """The solutions and volumetric standard solutions prepared in the laboratory."""
    with db.sessions() as session:
        rows = service.list_reagents(session, prepared=True, state=state, text=q)
        return [service.reagent_public(r, c) for r, c in rows]


@router.post("/solutions", response_model=ReagentDetail, status_code=201)
def prepare(body: SolutionPrepare, db: DbDep, principal: ReagentManage) -> ReagentDetail:
    """Record a prepared solution (配制) from its component containers."""
    with uow_for(db, principal) as uow:
        solution = service.prepare_solution(uow, body)
        uow.commit()
        code = solution.code
    return _detail(db, code)


@router.post("/solutions/{code}/standardizations", response_model=StandardizationPublic, status_code=201)
def standardize(
    code: str, body: StandardizationCreate, db: DbDep, principal: ReagentManage
) -> StandardizationPublic:
    """The first analyst's replicate standardizations (初标), signed with the password."""
    with uow_for(db, principal) as uow:
        row = service.standardize(uow, principal, code, body)
        uow.commit()
        return service.standardization_public(row, {})


@router.post("/solutions/{code}/verifications", response_model=StandardizationPublic, status_code=201)
def verify(
    code: str, body: StandardizationCreate, db: DbDep, principal: ResultReview
) -> StandardizationPublic:
    """The second person's re-standardization (复标), signed; never by the first analyst."""
    with uow_for(db, principal) as uow:
        row = service.verify_standardization(uow, principal, code, body)
        uow.commit()
        return service.standardization_public(row, {})


# --- laboratory instruments ------------------------------------------------------------------------------


@router.get("/instruments", response_model=list[InstrumentPublic])
def list_instruments(db: DbDep, _: LimsView, at: datetime | None = None) -> list[InstrumentPublic]:
    """The laboratory instruments of the equipment register with their calibration status and validity."""
    moment = _moment(at)
    with db.sessions() as session:
        return [instruments.instrument_public(session, e, i18n.translate, moment)
                for e in instruments.lab_instruments(session)]  # fmt: skip


@router.get("/instruments/{code}", response_model=InstrumentPublic)
def get_instrument(code: str, db: DbDep, _: LimsView, at: datetime | None = None) -> InstrumentPublic:
    """One instrument: may a test use it at ``at`` (default now)?"""
    with db.sessions() as session:
        found = instruments.find_instrument(session, code)
        return instruments.instrument_public(session, found, i18n.translate, _moment(at))
