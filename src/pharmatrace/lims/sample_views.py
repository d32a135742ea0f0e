"""Pages: samples (the LIMS landing page with its scan box), a sample's lifecycle, sampling a lot, sampling
records, retention reminders and sampling plans (TJ-7.5, TJ-B.2.4.1, TJ-6.4.1). Tablet-friendly plain forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import sample_labels, samples
from pharmatrace.lims.sample_models import (
    EVENT_LABELS,
    KIND_LABELS,
    PURPOSE_LABELS,
    SAMPLE_STATES,
    STATE_LABELS,
    Sample,
    SampledContainer,
)
from pharmatrace.lims.sample_schemas import (
    PlanCreate,
    PlanUpdate,
    PlanVoid,
    SampleDisposal,
    SampleIssue,
    SampleObserve,
    SampleReceive,
    SampleStore,
    SamplingCreate,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render
from pharmatrace.wms.labels import STATUS_LABELS as LOT_STATUS_LABELS
from pharmatrace.wms.models import MATERIAL_KINDS, Lot, Material
from pharmatrace.wms.views import KIND_LABELS as MATERIAL_KIND_LABELS

router = APIRouter(prefix="/lims", include_in_schema=False)

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]
SampleManage = Annotated[Principal, Depends(Requires("lims.sample.manage"))]

RULE_LABELS = {
    "herb_chp0211": N_("Pharmacopoeia rule for herbs (ChP 0211)"),
    "sqrt_n_plus_1": N_("√n + 1"),
    "all": N_("Every container"),
    "fixed": N_("A fixed number"),
}
# The form of each lifecycle step and the service function that takes it.
STEP_FORMS: dict[str, tuple[type[BaseModel], Callable[..., object]]] = {
    "receive": (SampleReceive, samples.receive),
    "store": (SampleStore, samples.store),
    "issue": (SampleIssue, samples.issue),
    "dispose": (SampleDisposal, samples.dispose),
    "retain": (SampleStore, samples.retain),
    "observe": (SampleObserve, samples.observe),
    "destroy": (SampleDisposal, samples.destroy),
}
LABELS = {
    "states": STATE_LABELS,
    "kinds": KIND_LABELS,
    "events": EVENT_LABELS,
    "purposes": PURPOSE_LABELS,
    "rules": RULE_LABELS,
    "lot_statuses": LOT_STATUS_LABELS,
    "material_kinds": MATERIAL_KIND_LABELS,
}
SAMPLEABLE = ("quarantine", "under_test", "on_hold", "released")


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    values.setdefault("form", "")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _saved(done: int) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


# --- the landing page: scan box and samples by state -------------------------------------------------------


@router.get("/samples", response_class=HTMLResponse)
def samples_page(
    request: Request, db: DbDep, _: LimsView, q: str = "", state: str = "", kind: str = ""
) -> Response:
    """Scan a sample code to open it; otherwise the samples by state and kind, with the counts per state."""
    with db.sessions() as session:
        text = q.strip()
        if text:
            exact = session.scalar(select(Sample.code).where(Sample.code == text.upper()))
            if exact is not None:
                return RedirectResponse(f"/lims/samples/{quote(exact)}", status_code=303)
        rows = samples.list_samples(
            session, state=state if state in SAMPLE_STATES else "", kind=kind, text=text
        )
        shown = [(s, current, samples.storage_place(s)) for s, current in rows]
        counts = samples.count_by_state(session)
    return _render(request, "lims/sample_list.html", rows=shown, counts=counts, q=q, state=state, kind=kind,
                   states=SAMPLE_STATES)  # fmt: skip


# --- one sample ------------------------------------------------------------------------------------------


def _sample_page(
    request: Request, db: DbDep, principal: Principal, code: str, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        sample = samples.sample_by_code(session, code)
        public = samples.sample_public(session, sample)
        offered = samples.offered_events(principal, sample)
        trail = trail_of(session, [("lims_sample", [sample.id]), ("lims_sample_event", [e.id for e in sample.events]),
                                 ("lims_sampling_record", [sample.sampling_record_id])])  # fmt: skip
        record_id = sample.sampling_record_id
    return _render(request, "lims/sample_detail.html", status_code, sample=public, offered=offered, trail=trail,
                   record_id=record_id, **values)  # fmt: skip


@router.get("/samples/{code}", response_class=HTMLResponse)
def sample_page(request: Request, db: DbDep, principal: LimsView, code: str, done: int = 0) -> Response:
    """A sample: what it is, where it is kept, its whole lifecycle, the steps open now, its audit trail."""
    return _sample_page(request, db, principal, code, flash=_saved(done))


@router.post("/samples/{code}/events/{event}", response_class=HTMLResponse)
async def sample_step(
    request: Request, db: DbDep, principal: SampleManage, code: str, event: str
) -> Response:
    if event not in STEP_FORMS:
        return _sample_page(request, db, principal, code, 404, error=i18n.gettext(N_("Unknown step")))
    schema, write = STEP_FORMS[event]
    data = await form_data(request)
    return submit(db, principal, schema, data,
                  write=lambda uow, body: write(uow, principal, code, body),
                  rerender=lambda status, **values: _sample_page(request, db, principal, code, status, form=event,
                                                                 **values),
                  done=f"/lims/samples/{quote(code)}?done=1")  # fmt: skip


def _pdf_or_zpl(data: bytes, fmt: sample_labels.Format, name: str) -> Response:
    if fmt == "pdf":
        return Response(data, media_type="application/pdf",
                        headers={"content-disposition": f'inline; filename="{name}.pdf"'})  # fmt: skip
    return Response(data, media_type="text/plain; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}.zpl"'})  # fmt: skip


@router.get("/samples/{code}/label.{fmt}")
def sample_label(code: str, fmt: sample_labels.Format, db: DbDep, principal: SampleManage) -> Response:
    """The sample's label; the print is recorded."""
    with UnitOfWork(db, principal.actor) as uow:
        sample = samples.sample_by_code(uow.session, code)
        data = sample_labels.print_labels(uow, [sample], fmt)
        uow.commit()
        return _pdf_or_zpl(data, fmt, sample.code)


# --- sampling a lot ----------------------------------------------------------------------------------------


def _sampleable_lots(session: Session) -> list[Lot]:
    query = (
        select(Lot)
        .where(Lot.status.in_(SAMPLEABLE), Lot.voided_at.is_(None))
        .order_by(Lot.id.desc())
        .limit(300)
    )
    return list(session.scalars(query).unique())


def _sampling_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    data = values.setdefault("data", {})
    with db.sessions() as session:
        choices = _sampleable_lots(session)
        records = [samples.record_public(session, r) for r in samples.list_records(session, limit=20)]
        proposal, problem = None, None
        if data.get("lot"):
            try:
                proposal = samples.propose(session, data["lot"], data.get("plan_code") or None)
            except PharmaTraceError as error:
                problem = i18n.error_message(error)
        rooms = [r.name for r in _sampling_rooms(session)]
    return _render(request, "lims/sample_sampling.html", status_code, lots=choices, records=records,
                   proposal=proposal, problem=problem, rooms=rooms, **values)  # fmt: skip


def _sampling_rooms(session: Session) -> list[Any]:
    from pharmatrace.wms.stock_models import Location

    return list(
        session.scalars(
            select(Location)
            .where(Location.kind == "sampling", Location.voided_at.is_(None))
            .order_by(Location.code)
        )
    )


@router.get("/sampling", response_class=HTMLResponse)
def sampling_page(request: Request, db: DbDep, _: LimsView, lot: str = "", done: int = 0) -> Response:
    """Sample a lot: choose it (or scan a container), see what its plan proposes, record the sampling."""
    return _sampling_page(request, db, data={"lot": lot.strip()} if lot.strip() else {}, flash=_saved(done))


@router.get("/sampling/proposal", response_class=HTMLResponse)
def sampling_proposal(
    request: Request, db: DbDep, _: LimsView, lot: str = "", plan_code: str = ""
) -> Response:
    """The proposal for the chosen lot (htmx): plan, n, k and the containers the draw will choose from."""
    proposal, problem = None, None
    if lot.strip():
        with db.sessions() as session:
            try:
                proposal = samples.propose(session, lot, plan_code or None)
            except PharmaTraceError as error:
                problem = i18n.error_message(error)
    return _render(request, "lims/sample_proposal.html", proposal=proposal, problem=problem)


@router.post("/sampling", response_class=HTMLResponse)
async def sampling_record(request: Request, db: DbDep, principal: SampleManage) -> Response:
    return submit(db, principal, SamplingCreate, await form_data(request),
                  write=lambda uow, body: samples.record_sampling(uow, principal, body),
                  rerender=lambda status, **values: _sampling_page(request, db, status, **values),
                  done=lambda record: f"/lims/sampling/{getattr(record, 'id', 0)}?done=1")  # fmt: skip


@router.get("/sampling/{record_id}", response_class=HTMLResponse)
def record_page(request: Request, db: DbDep, principal: LimsView, record_id: int, done: int = 0) -> Response:
    """A sampling record: rule, n, k, the seed and the draw repeated from it, containers, samples, labels."""
    with db.sessions() as session:
        record = samples.get_record(session, record_id)
        public = samples.record_public(session, record)
        made = samples.samples_public(session, samples.samples_of_record(session, record.id))
        container_ids = list(session.scalars(
            select(SampledContainer.id).where(SampledContainer.sampling_record_id == record.id)))  # fmt: skip
        trail = trail_of(
            session, [("lims_sampling_record", [record.id]), ("lims_sampled_container", container_ids)]
        )
    return _render(
        request, "lims/sample_record.html", record=public, made=made, trail=trail, flash=_saved(done)
    )


@router.get("/sampling/{record_id}/labels.{fmt}")
def record_labels(record_id: int, fmt: sample_labels.Format, db: DbDep, principal: SampleManage) -> Response:
    with UnitOfWork(db, principal.actor) as uow:
        record = samples.get_record(uow.session, record_id)
        found = samples.samples_of_record(uow.session, record.id)
        data = sample_labels.print_labels(uow, found, fmt)
        uow.commit()
        return _pdf_or_zpl(data, fmt, record.code)


# --- retention reminders ------------------------------------------------------------------------------------


@router.get("/retention", response_class=HTMLResponse)
def retention_page(request: Request, db: DbDep, _: LimsView, days: int = 30) -> Response:
    """Retained samples whose retention ends within ``days`` days or has ended (TJ-6.4.1)."""
    days = max(0, min(days, 3650))
    with db.sessions() as session:
        rows = [samples.due_public(r) for r in samples.retention_due(session, days=days)]
    return _render(request, "lims/sample_retention.html", rows=rows, days=days)


# --- sampling plans ----------------------------------------------------------------------------------------


def _plans_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        plans = [samples.plan_public(session, p) for p in samples.list_plans(session, include_void=True)]
        materials = list(
            session.scalars(select(Material).where(Material.voided_at.is_(None)).order_by(Material.code))
        )
    return _render(request, "lims/sample_plans.html", status_code, plans=plans, materials=materials,
                   kinds=MATERIAL_KINDS, **values)  # fmt: skip


def _checkbox(data: dict[str, Any], name: str) -> dict[str, Any]:
    data[name] = "true" if data.get(name) else "false"
    return data


@router.get("/sampling-plans", response_class=HTMLResponse)
def plans_page(request: Request, db: DbDep, _: LimsView, done: int = 0) -> Response:
    return _plans_page(request, db, flash=_saved(done))


@router.post("/sampling-plans", response_class=HTMLResponse)
async def plan_create(request: Request, db: DbDep, principal: SampleManage) -> Response:
    data = _checkbox(await form_data(request), "precious")
    return submit(db, principal, PlanCreate, data,
                  write=lambda uow, body: samples.create_plan(uow, principal, body),
                  rerender=lambda status, **values: _plans_page(request, db, status, form="create", **values),
                  done=lambda plan: f"/lims/sampling-plans/{getattr(plan, 'id', 0)}?done=1")  # fmt: skip


def _plan_page(
    request: Request, db: DbDep, plan_id: int, status_code: int = 200, **values: Any
) -> Response:  # fmt: skip
    with db.sessions() as session:
        plan = samples.plan_public(session, samples.get_plan(session, plan_id))
        trail = trail_of(session, [("lims_sampling_plan", [plan_id])])
    return _render(request, "lims/sample_plan.html", status_code, plan=plan, trail=trail, **values)


@router.get("/sampling-plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, db: DbDep, _: LimsView, plan_id: int, done: int = 0) -> Response:
    return _plan_page(request, db, plan_id, flash=_saved(done))


@router.post("/sampling-plans/{plan_id}", response_class=HTMLResponse)
async def plan_update(request: Request, db: DbDep, principal: SampleManage, plan_id: int) -> Response:
    data = _checkbox(await form_data(request), "precious")
    return submit(db, principal, PlanUpdate, data, reason=lambda body: body.reason,
                  write=lambda uow, body: samples.update_plan(uow, principal, plan_id, body),
                  rerender=lambda status, **values: _plan_page(request, db, plan_id, status, form="update", **values),
                  done=f"/lims/sampling-plans/{plan_id}?done=1")  # fmt: skip


@router.post("/sampling-plans/{plan_id}/void", response_class=HTMLResponse)
async def plan_void(request: Request, db: DbDep, principal: SampleManage, plan_id: int) -> Response:
    return submit(db, principal, PlanVoid, await form_data(request), reason=lambda body: body.reason,
                  write=lambda uow, body: samples.void_plan(uow, principal, plan_id, body.reason),
                  rerender=lambda status, **values: _plan_page(request, db, plan_id, status, form="void", **values),
                  done=f"/lims/sampling-plans/{plan_id}?done=1")  # fmt: skip
