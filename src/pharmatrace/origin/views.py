"""Origin pages (TJ-5.1, TJ-5.2.1.5): planting bases and plots, a plot with its crops, inputs, harvests and
processing, shipments, the feedback outbox, and the origin panel of a herb lot's page. Lists filter and find
a record by its scanned code; details show the audit trail and signatures; forms write through the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select

from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.origin import service
from pharmatrace.origin.models import (
    FEEDBACK_KINDS,
    FEEDBACK_STATUSES,
    INPUT_KINDS,
    PROCESSING_METHODS,
    SEED_KINDS,
    Crop,
    Plot,
    ProcessingStep,
    Shipment,
)
from pharmatrace.origin.schemas import (
    AnomalyReport,
    BaseCreate,
    BaseUpdate,
    CropCreate,
    CropUpdate,
    HarvestCreate,
    HarvestUpdate,
    InputCreate,
    PlotCreate,
    PlotUpdate,
    ProcessingCreate,
    ProcessingUpdate,
    ShipmentCreate,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render
from pharmatrace.wms import lots
from pharmatrace.wms.labels import STATUS_LABELS
from pharmatrace.wms.models import Material, Supplier

router = APIRouter(prefix="/origin", include_in_schema=False)

OriginView = Annotated[Principal, Depends(Requires("origin.view"))]
OriginManage = Annotated[Principal, Depends(Requires("origin.manage"))]
OriginFeedback = Annotated[Principal, Depends(Requires("origin.feedback"))]

INPUT_LABELS = {"fertilizer": N_("Fertilizer"), "pesticide": N_("Pesticide"), "other": N_("Other input")}
SEED_LABELS = {"seed": N_("Seed"), "seedling": N_("Seedling"), "rhizome": N_("Rhizome or root stock")}
METHOD_LABELS = {
    "sorting": N_("Sorting"),
    "washing": N_("Washing"),
    "cutting": N_("Cutting or slicing"),
    "sun_drying": N_("Sun drying"),
    "shade_drying": N_("Shade drying"),
    "oven_drying": N_("Oven drying (sulphur-free)"),
    "other": N_("Other processing"),
}
FEEDBACK_LABELS = {"rejected": N_("Rejected lot"), "quality_anomaly": N_("Quality anomaly")}
DELIVERY_LABELS = {
    "pending": N_("Pending delivery"),
    "delivered": N_("Delivered"),
    "failed": N_("Delivery failed"),
}
assert set(INPUT_LABELS) == set(INPUT_KINDS)
assert set(SEED_LABELS) == set(SEED_KINDS)
assert set(METHOD_LABELS) == set(PROCESSING_METHODS)
assert set(FEEDBACK_LABELS) == set(FEEDBACK_KINDS)
assert set(DELIVERY_LABELS) == set(FEEDBACK_STATUSES)
LABELS = {"inputs": INPUT_LABELS, "seeds": SEED_LABELS, "methods": METHOD_LABELS, "feedback": FEEDBACK_LABELS,
          "delivery": DELIVERY_LABELS, "lot_status": STATUS_LABELS}  # fmt: skip
SOURCE_ROWS = 3  # harvest lines on the shipment form


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    values.setdefault("form", "")
    values.setdefault("edit", {})  # what a change or void form sent, shown again in that form on a refusal
    values.setdefault("edit_errors", {})
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _saved(done: int) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


def _filled(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value != ""}


def _scanned(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable()).strip().upper()


def _write(
    request: Request,
    db: DbDep,
    principal: Principal,
    schema: type[BaseModel],
    data: dict[str, Any],
    write: Callable[[UnitOfWork, Any], object],
    rerender: Callable[..., Response],
    done: str | Callable[[object], str],
    reason: Callable[[Any], str | None] | None = None,
) -> Response:
    return submit(db, principal, schema, data, write=write, rerender=rerender, done=done, reason=reason)


def _edit_data(data: dict[str, Any]) -> dict[str, Any]:
    """A change form sends every field: an empty one means "clear it" (``null``); the service refuses to
    clear a required one and keeps the rest."""
    return {key: (None if value == "" and key != "reason" else value) for key, value in data.items()}


def _edit_rerender(page: Callable[..., Response], form: str) -> Callable[..., Response]:
    """Draw the page again with the refused change or void form open, its input and errors kept apart from
    the page's create forms."""

    def rerender(status: int, **values: Any) -> Response:
        edit = values.pop("data", {})
        edit_errors = values.pop("field_errors", {})
        return page(status, form=form, edit=edit, edit_errors=edit_errors, **values)

    return rerender


# --- bases and plots (the area's start page) ---------------------------------------------------------------


def _bases_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    q = str(values.pop("q", ""))
    with db.sessions() as session:
        bases = [service.base_public(session, b) for b in service.list_bases(session, text=q)]
        plots = [service.plot_public(p) for p in service.list_plots(session, text=q)]
        suppliers = [
            (s.code, s.name)
            for s in session.scalars(
                select(Supplier)
                .where(Supplier.kind == "planting_base", Supplier.voided_at.is_(None))
                .order_by(Supplier.code)
            )
        ]
    return _render(request, "origin/bases.html", status_code, bases=bases, plots=plots, q=q,
                   suppliers=suppliers, **values)  # fmt: skip


@router.get("", response_class=HTMLResponse)
def bases_page(request: Request, db: DbDep, _: OriginView, q: str = "", done: int = 0) -> Response:
    """Bases and plots. A search that is exactly one code (a plot, a shipment, a base) opens that record."""
    if q.strip():
        code = _scanned(q)
        with db.sessions() as session:
            plot = session.scalar(select(Plot.id).where(Plot.code == code))
            if plot is not None:
                return RedirectResponse(f"/origin/plots/{plot}", status_code=303)
            shipment = session.scalar(select(Shipment.id).where(Shipment.code == code))
            if shipment is not None:
                return RedirectResponse(f"/origin/shipments/{shipment}", status_code=303)
            base = next((b for b in service.list_bases(session) if b.supplier.code == code), None)
            if base is not None:
                return RedirectResponse(f"/origin/bases/{base.id}", status_code=303)
    return _bases_page(request, db, q=q, flash=_saved(done))


@router.post("/bases", response_class=HTMLResponse)
async def base_create(request: Request, db: DbDep, principal: OriginManage) -> Response:
    return _write(request, db, principal, BaseCreate, _filled(await form_data(request)),
                  lambda uow, body: service.create_base(uow, body),
                  lambda status, **values: _bases_page(request, db, status, **values),
                  lambda base: f"/origin/bases/{getattr(base, 'id', 0)}?done=1")  # fmt: skip


@router.post("/plots", response_class=HTMLResponse)
async def plot_create(request: Request, db: DbDep, principal: OriginManage) -> Response:
    return _write(request, db, principal, PlotCreate, _filled(await form_data(request)),
                  lambda uow, body: service.create_plot(uow, body),
                  lambda status, **values: _bases_page(request, db, status, **values),
                  lambda plot: f"/origin/plots/{getattr(plot, 'id', 0)}?done=1")  # fmt: skip


def _base_page(
    request: Request, db: DbDep, principal: Principal, base_id: int, status_code: int = 200, **values: Any
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        base = service.get_base(session, base_id)
        public = service.base_public(session, base)
        plots = [service.plot_public(p) for p in service.list_plots(session, base_id=base_id)]
        shipments = [
            service.shipment_public(session, s) for s in service.list_shipments(session, base_id=base_id)
        ]
        feedback = [service.feedback_public(f) for f in service.list_feedback(session, base_id=base_id)]
        trail = trail_of(session, [("planting_base", [base_id]), ("supplier", [base.supplier_id])])
        esign = panel(session, principal, "planting_base", str(base_id))
    return _render(request, "origin/base_detail.html", status_code, base=public, plots=plots,
                   shipments=shipments, feedback=feedback, trail=trail, esign=esign, **values)  # fmt: skip


@router.get("/bases/{base_id}", response_class=HTMLResponse)
def base_page(request: Request, db: DbDep, principal: OriginView, base_id: int, done: int = 0) -> Response:
    return _base_page(request, db, principal, base_id, flash=_saved(done))


def _base_write(
    request: Request, db: DbDep, principal: Principal, base_id: int, schema: type[BaseModel],
    data: dict[str, Any], write: Callable[[UnitOfWork, Any], object], form: str,
) -> Response:  # fmt: skip
    page = _edit_rerender(
        lambda status, **values: _base_page(request, db, principal, base_id, status, **values), form
    )
    return _write(request, db, principal, schema, data, write, page, f"/origin/bases/{base_id}?done=1",
                  reason=lambda body: body.reason)  # fmt: skip


@router.post("/bases/{base_id}/edit", response_class=HTMLResponse)
async def base_edit(request: Request, db: DbDep, principal: OriginManage, base_id: int) -> Response:
    """Correct the base's GACP details, with the reason."""
    return _base_write(request, db, principal, base_id, BaseUpdate, _edit_data(await form_data(request)),
                       lambda uow, body: service.update_base(uow, base_id, body), "base-edit")  # fmt: skip


@router.post("/bases/{base_id}/void", response_class=HTMLResponse)
async def base_void(request: Request, db: DbDep, principal: OriginManage, base_id: int) -> Response:
    return _base_write(request, db, principal, base_id, ReasonOnly, await form_data(request),
                       lambda uow, _: service.void_base(uow, base_id), "base-void")  # fmt: skip


# --- a plot: crops, inputs, harvests, processing, and the lots from it ----------------------------------------


def _plot_page(
    request: Request, db: DbDep, principal: Principal, plot_id: int, status_code: int = 200, **values: Any
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        plot = service.get_plot(session, plot_id)
        detail = service.plot_detail(session, plot)
        crop_ids = [c.id for c in detail.crops]
        harvest_ids = [h.id for c in detail.crops for h in c.harvests]
        trail = trail_of(session, [
            ("plot", [plot_id]), ("crop", crop_ids), ("harvest", harvest_ids),
            ("cultivation_input", [i.id for c in detail.crops for i in c.inputs]),
            ("processing_step", list(session.scalars(
                select(ProcessingStep.id).where(ProcessingStep.harvest_id.in_(harvest_ids))))),  # void ones too
        ])  # fmt: skip
        esign = panel(session, principal, "plot", str(plot_id))
        herbs = [(m.code, m.name) for m in session.scalars(
            select(Material).where(Material.kind == "herb", Material.voided_at.is_(None)).order_by(Material.code))]  # fmt: skip
    return _render(request, "origin/plot_detail.html", status_code, plot=detail, trail=trail, esign=esign,
                   herbs=herbs, **values)  # fmt: skip


@router.get("/plots/{plot_id}", response_class=HTMLResponse)
def plot_page(request: Request, db: DbDep, principal: OriginView, plot_id: int, done: int = 0) -> Response:
    """The plot's file: crops with their seed source, inputs, harvests and processing, and the herb lots that
    came from it (the other direction of the trace)."""
    return _plot_page(request, db, principal, plot_id, flash=_saved(done))


def _plot_write(
    request: Request, db: DbDep, principal: Principal, plot_id: int, schema: type[BaseModel],
    data: dict[str, Any], write: Callable[[UnitOfWork, Any], object], form: str,
) -> Response:  # fmt: skip
    return _write(request, db, principal, schema, data, write,
                  lambda status, **values: _plot_page(request, db, principal, plot_id, status, form=form, **values),
                  f"/origin/plots/{plot_id}?done=1")  # fmt: skip


def _target(data: dict[str, Any], key: str) -> int:
    """The crop or harvest a plot-page form names (a select of this plot's records)."""
    try:
        return int(data.pop(key, 0) or 0)
    except ValueError:
        return 0


@router.post("/plots/{plot_id}/crops", response_class=HTMLResponse)
async def crop_create(request: Request, db: DbDep, principal: OriginManage, plot_id: int) -> Response:
    return _plot_write(request, db, principal, plot_id, CropCreate, _filled(await form_data(request)),
                       lambda uow, body: service.create_crop(uow, plot_id, body), "crop")  # fmt: skip


def _own(uow: UnitOfWork, plot_id: int, crop_id: int) -> int:
    """A crop of this plot, so a form cannot write to another plot's crop."""
    from pharmatrace.kernel.errors import NotFound

    crop = uow.session.get(Crop, crop_id)
    if crop is None or crop.plot_id != plot_id:
        raise NotFound(N_("No crop with ID {id}"), id=crop_id)
    return crop_id


@router.post("/plots/{plot_id}/inputs", response_class=HTMLResponse)
async def input_create(request: Request, db: DbDep, principal: OriginManage, plot_id: int) -> Response:
    data = _filled(await form_data(request))
    crop_id = _target(data, "crop_id")
    return _plot_write(request, db, principal, plot_id, InputCreate, data,
                       lambda uow, body: service.record_input(uow, _own(uow, plot_id, crop_id), body), "input")  # fmt: skip


@router.post("/plots/{plot_id}/harvests", response_class=HTMLResponse)
async def harvest_create(request: Request, db: DbDep, principal: OriginManage, plot_id: int) -> Response:
    data = _filled(await form_data(request))
    crop_id = _target(data, "crop_id")
    return _plot_write(request, db, principal, plot_id, HarvestCreate, data,
                       lambda uow, body: service.record_harvest(uow, _own(uow, plot_id, crop_id), body), "harvest")  # fmt: skip


@router.post("/plots/{plot_id}/processing", response_class=HTMLResponse)
async def processing_create(request: Request, db: DbDep, principal: OriginManage, plot_id: int) -> Response:
    data = _filled(await form_data(request))
    harvest_id = _target(data, "harvest_id")

    def write(uow: UnitOfWork, body: ProcessingCreate) -> object:
        harvest = service.get_harvest(uow.session, harvest_id)
        _own(uow, plot_id, harvest.crop_id)
        return service.record_processing(uow, harvest_id, body)

    return _plot_write(request, db, principal, plot_id, ProcessingCreate, data, write, "processing")


def _plot_change(
    request: Request, db: DbDep, principal: Principal, plot_id: int, schema: type[BaseModel],
    data: dict[str, Any], write: Callable[[UnitOfWork, Any], object], form: str,
) -> Response:  # fmt: skip
    """A change or void on the plot's page: with its reason, the refused form shown again open."""
    page = _edit_rerender(
        lambda status, **values: _plot_page(request, db, principal, plot_id, status, **values), form
    )
    return _write(request, db, principal, schema, data, write, page, f"/origin/plots/{plot_id}?done=1",
                  reason=lambda body: body.reason)  # fmt: skip


def _own_harvest(uow: UnitOfWork, plot_id: int, harvest_id: int) -> int:
    _own(uow, plot_id, service.get_harvest(uow.session, harvest_id).crop_id)
    return harvest_id


def _own_step(uow: UnitOfWork, plot_id: int, step_id: int) -> int:
    _own_harvest(uow, plot_id, service.get_step(uow.session, step_id).harvest_id)
    return step_id


@router.post("/plots/{plot_id}/edit", response_class=HTMLResponse)
async def plot_edit(request: Request, db: DbDep, principal: OriginManage, plot_id: int) -> Response:
    """Correct the plot's name, area, location, coordinates, soil or irrigation, with the reason."""
    return _plot_change(request, db, principal, plot_id, PlotUpdate, _edit_data(await form_data(request)),
                        lambda uow, body: service.update_plot(uow, plot_id, body), "plot-edit")  # fmt: skip


@router.post("/plots/{plot_id}/void", response_class=HTMLResponse)
async def plot_void(request: Request, db: DbDep, principal: OriginManage, plot_id: int) -> Response:
    return _plot_change(request, db, principal, plot_id, ReasonOnly, await form_data(request),
                        lambda uow, _: service.void_plot(uow, plot_id), "plot-void")  # fmt: skip


@router.post("/plots/{plot_id}/crops/{crop_id}/edit", response_class=HTMLResponse)
async def crop_edit(
    request: Request, db: DbDep, principal: OriginManage, plot_id: int, crop_id: int
) -> Response:
    return _plot_change(request, db, principal, plot_id, CropUpdate, _edit_data(await form_data(request)),
                        lambda uow, body: service.update_crop(uow, _own(uow, plot_id, crop_id), body),
                        f"crop-{crop_id}")  # fmt: skip


@router.post("/plots/{plot_id}/crops/{crop_id}/void", response_class=HTMLResponse)
async def crop_void(
    request: Request, db: DbDep, principal: OriginManage, plot_id: int, crop_id: int
) -> Response:
    return _plot_change(request, db, principal, plot_id, ReasonOnly, await form_data(request),
                        lambda uow, _: service.void_crop(uow, _own(uow, plot_id, crop_id)), f"crop-{crop_id}")  # fmt: skip


@router.post("/plots/{plot_id}/harvests/{harvest_id}/edit", response_class=HTMLResponse)
async def harvest_edit(
    request: Request, db: DbDep, principal: OriginManage, plot_id: int, harvest_id: int
) -> Response:
    return _plot_change(request, db, principal, plot_id, HarvestUpdate, _edit_data(await form_data(request)),
                        lambda uow, body: service.update_harvest(uow, _own_harvest(uow, plot_id, harvest_id), body),
                        f"harvest-{harvest_id}")  # fmt: skip


@router.post("/plots/{plot_id}/harvests/{harvest_id}/void", response_class=HTMLResponse)
async def harvest_void(
    request: Request, db: DbDep, principal: OriginManage, plot_id: int, harvest_id: int
) -> Response:
    return _plot_change(request, db, principal, plot_id, ReasonOnly, await form_data(request),
                        lambda uow, _: service.void_harvest(uow, _own_harvest(uow, plot_id, harvest_id)),
                        f"harvest-{harvest_id}")  # fmt: skip


@router.post("/plots/{plot_id}/processing/{step_id}/edit", response_class=HTMLResponse)
async def processing_edit(
    request: Request, db: DbDep, principal: OriginManage, plot_id: int, step_id: int
) -> Response:
    return _plot_change(request, db, principal, plot_id, ProcessingUpdate, _edit_data(await form_data(request)),
                        lambda uow, body: service.update_processing(uow, _own_step(uow, plot_id, step_id), body),
                        f"step-{step_id}")  # fmt: skip


@router.post("/plots/{plot_id}/processing/{step_id}/void", response_class=HTMLResponse)
async def processing_void(
    request: Request, db: DbDep, principal: OriginManage, plot_id: int, step_id: int
) -> Response:
    return _plot_change(request, db, principal, plot_id, ReasonOnly, await form_data(request),
                        lambda uow, _: service.void_processing(uow, _own_step(uow, plot_id, step_id)),
                        f"step-{step_id}")  # fmt: skip


# --- shipments ---------------------------------------------------------------------------------------------


def _shipments_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    q, base = str(values.pop("q", "")), str(values.pop("base", ""))
    open_only = bool(values.pop("open_only", False))
    with db.sessions() as session:
        base_id = service.base_by_code(session, base).id if base else None
        shipments = [
            service.shipment_public(session, s)
            for s in service.list_shipments(session, base_id=base_id, text=q, open_only=open_only)
        ]
        bases = [service.base_public(session, b) for b in service.list_bases(session)]
        herbs = [(m.code, m.name) for m in session.scalars(
            select(Material).where(Material.kind == "herb", Material.voided_at.is_(None)).order_by(Material.code))]  # fmt: skip
    return _render(request, "origin/shipments.html", status_code, shipments=shipments, bases=bases, herbs=herbs,
                   q=q, base=base, open_only=open_only, source_rows=SOURCE_ROWS, **values)  # fmt: skip


@router.get("/shipments", response_class=HTMLResponse)
def shipments_page(
    request: Request, db: DbDep, _: OriginView, q: str = "", base: str = "", open_only: int = 0
) -> Response:
    if q.strip():
        with db.sessions() as session:
            hit = session.scalar(select(Shipment.id).where(Shipment.code == _scanned(q)))
        if hit is not None:
            return RedirectResponse(f"/origin/shipments/{hit}", status_code=303)
    return _shipments_page(request, db, q=q, base=base, open_only=bool(open_only))


def _shipment_data(data: dict[str, Any]) -> dict[str, Any]:
    """The form's harvest lines (``harvest_code_1``, ``quantity_1``…) become the shipment's sources."""
    filled = _filled(data)
    sources = []
    for n in range(1, SOURCE_ROWS + 1):
        code, quantity = filled.pop(f"harvest_code_{n}", ""), filled.pop(f"quantity_{n}", "")
        if code or quantity:
            sources.append({"harvest_code": code, "quantity": quantity})
    filled["sources"] = sources
    return filled


@router.post("/shipments", response_class=HTMLResponse)
async def shipment_create(request: Request, db: DbDep, principal: OriginManage) -> Response:
    data = await form_data(request)
    return _write(request, db, principal, ShipmentCreate, _shipment_data(data),
                  lambda uow, body: service.create_shipment(uow, body),
                  lambda status, **values: _shipments_page(request, db, status, **{**values, "data": data}),
                  lambda s: f"/origin/shipments/{getattr(s, 'id', 0)}?done=1")  # fmt: skip


def _shipment_page(
    request: Request, db: DbDep, principal: Principal, shipment_id: int, status_code: int = 200, **values: Any
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        shipment = service.get_shipment(session, shipment_id)
        public = service.shipment_public(session, shipment)
        lot_rows = [(lot.id, lot.lot_number, lot.supplier_lot, lot.status, lot.quantity, lot.unit)
                    for lot in service.lots_of_shipment(session, shipment_id)]  # fmt: skip
        trail = trail_of(session, [("origin_shipment", [shipment_id]),
                                 ("origin_shipment_source", [s.id for s in shipment.sources])])  # fmt: skip
        esign = panel(session, principal, "origin_shipment", str(shipment_id))
    return _render(request, "origin/shipment_detail.html", status_code, shipment=public, lot_rows=lot_rows,
                   trail=trail, esign=esign, **values)  # fmt: skip


@router.get("/shipments/{shipment_id}", response_class=HTMLResponse)
def shipment_page(
    request: Request, db: DbDep, principal: OriginView, shipment_id: int, done: int = 0
) -> Response:
    return _shipment_page(request, db, principal, shipment_id, flash=_saved(done))


@router.post("/shipments/{shipment_id}/void", response_class=HTMLResponse)
async def shipment_void(request: Request, db: DbDep, principal: OriginManage, shipment_id: int) -> Response:
    return _write(request, db, principal, ReasonOnly, await form_data(request),
                  lambda uow, _: service.void_shipment(uow, shipment_id),
                  lambda status, **values: _shipment_page(request, db, principal, shipment_id, status, **values),
                  f"/origin/shipments/{shipment_id}?done=1", reason=lambda body: body.reason)  # fmt: skip


# --- feedback and the lot page's origin panel ---------------------------------------------------------------


@router.get("/feedback", response_class=HTMLResponse)
def feedback_page(request: Request, db: DbDep, _: OriginView, status: str = "") -> Response:
    """The outbox of messages to the bases (TJ-5.2.1.5) with their delivery status."""
    with db.sessions() as session:
        found = [service.feedback_public(f) for f in service.list_feedback(session, status=status)]
    return _render(request, "origin/feedback.html", feedback=found, status=status)


def _lot_origin(
    request: Request, db: DbDep, lot_id: int, template: str, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        lot = lots.get_lot(session, lot_id)
        chain = service.origin_chain(session, lot)
        lot_number, material = lot.lot_number, lot.material.name
    return _render(request, template, status_code, chain=chain, lot_id=lot_id, lot_number=lot_number,
                   material=material, **values)  # fmt: skip


@router.get("/lots/{lot_id}/panel", response_class=HTMLResponse)
def lot_panel(request: Request, db: DbDep, _: OriginView, lot_id: int) -> Response:
    """The origin of a herb lot as a fragment of the lot's page (loaded by htmx); empty for a lot without one."""
    with db.sessions() as session:
        if service.origin_of(session, lots.get_lot(session, lot_id).id) is None:
            return HTMLResponse("")
    return _lot_origin(request, db, lot_id, "origin/_lot_origin.html")


@router.get("/lots/{lot_id}", response_class=HTMLResponse)
def lot_origin_page(request: Request, db: DbDep, _: OriginView, lot_id: int, done: int = 0) -> Response:
    """The origin of a herb lot (TJ-5.1): base, plots, seed, inputs, harvest, processing, shipment, and the
    feedback sent to the base (TJ-5.2.1.5), with the form to report a quality anomaly."""
    return _lot_origin(request, db, lot_id, "origin/lot_origin.html", flash=_saved(done))


@router.post("/lots/{lot_id}/anomaly", response_class=HTMLResponse)
async def anomaly_report(request: Request, db: DbDep, principal: OriginFeedback, lot_id: int) -> Response:
    """Report a quality anomaly of the lot to its base."""
    data = await form_data(request)
    return submit(db, principal, AnomalyReport, data,
                  write=lambda uow, body: service.report_anomaly(uow, lot_id, body.reason),
                  reason=lambda body: body.reason,
                  rerender=lambda status, **values: _lot_origin(request, db, lot_id, "origin/lot_origin.html",
                                                                status, **values),
                  done=f"/origin/lots/{lot_id}?done=1")  # fmt: skip
