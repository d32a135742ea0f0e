"""``/api/v1/origin``: planting bases, plots, crops, cultivation inputs, harvests, processing, shipments,
the origin chain of a herb lot and quality feedback to its base (TJ-5.1, TJ-5.2.1.5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.origin import service
from pharmatrace.origin.schemas import (
    AnomalyReport,
    BaseCreate,
    BasePublic,
    BaseUpdate,
    CropCreate,
    CropPublic,
    CropUpdate,
    FeedbackPublic,
    HarvestCreate,
    HarvestPublic,
    HarvestUpdate,
    InputCreate,
    InputPublic,
    OriginChain,
    PlotCreate,
    PlotDetail,
    PlotPublic,
    PlotUpdate,
    ProcessingCreate,
    ProcessingPublic,
    ProcessingUpdate,
    ShipmentCreate,
    ShipmentPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for
from pharmatrace.wms import lots

router = APIRouter(prefix="/origin", tags=["origin"])

OriginView = Annotated[Principal, Depends(Requires("origin.view"))]
OriginManage = Annotated[Principal, Depends(Requires("origin.manage"))]
OriginFeedback = Annotated[Principal, Depends(Requires("origin.feedback"))]


# --- bases and plots -------------------------------------------------------------------------------------


@router.get("/bases", response_model=list[BasePublic])
def list_bases(db: DbDep, _: OriginView, q: str = "") -> list[BasePublic]:
    with db.sessions() as session:
        return [service.base_public(session, b) for b in service.list_bases(session, text=q)]


@router.post("/bases", response_model=BasePublic, status_code=201)
def create_base(body: BaseCreate, db: DbDep, principal: OriginManage) -> BasePublic:
    with uow_for(db, principal) as uow:
        base = service.create_base(uow, body)
        uow.commit()
        return service.base_public(uow.session, base)


@router.get("/bases/{base_id}", response_model=BasePublic)
def get_base(base_id: int, db: DbDep, _: OriginView) -> BasePublic:
    with db.sessions() as session:
        return service.base_public(session, service.get_base(session, base_id))


@router.get("/plots", response_model=list[PlotPublic])
def list_plots(db: DbDep, _: OriginView, q: str = "", base: str = "") -> list[PlotPublic]:
    """Plots; ``q`` matches a code (as scanned) or a name, ``base`` a base's supplier code."""
    with db.sessions() as session:
        base_id = service.base_by_code(session, base).id if base.strip() else None
        return [service.plot_public(p) for p in service.list_plots(session, base_id=base_id, text=q)]


@router.post("/plots", response_model=PlotPublic, status_code=201)
def create_plot(body: PlotCreate, db: DbDep, principal: OriginManage) -> PlotPublic:
    with uow_for(db, principal) as uow:
        plot = service.create_plot(uow, body)
        uow.commit()
        return service.plot_public(plot)


@router.get("/plots/{plot_id}", response_model=PlotDetail)
def get_plot(plot_id: int, db: DbDep, _: OriginView) -> PlotDetail:
    """The plot with its crops, their inputs and harvests, and the herb lots that came from it."""
    with db.sessions() as session:
        return service.plot_detail(session, service.get_plot(session, plot_id))


@router.post("/plots/{plot_id}/crops", response_model=CropPublic, status_code=201)
def create_crop(plot_id: int, body: CropCreate, db: DbDep, principal: OriginManage) -> CropPublic:
    with uow_for(db, principal) as uow:
        crop = service.create_crop(uow, plot_id, body)
        uow.commit()
        return service.crop_public(uow.session, crop)


# --- crops: inputs and harvests; processing --------------------------------------------------------------


@router.get("/crops/{crop_id}", response_model=CropPublic)
def get_crop(crop_id: int, db: DbDep, _: OriginView) -> CropPublic:
    with db.sessions() as session:
        return service.crop_public(session, service.get_crop(session, crop_id))


@router.post("/crops/{crop_id}/inputs", response_model=InputPublic, status_code=201)
def record_input(crop_id: int, body: InputCreate, db: DbDep, principal: OriginManage) -> InputPublic:
    """Append a fertilizer or pesticide application (a pesticide with its pre-harvest interval)."""
    with uow_for(db, principal) as uow:
        entry = service.record_input(uow, crop_id, body)
        uow.commit()
        return service.input_public(entry, service.get_crop(uow.session, crop_id).code)


@router.post("/crops/{crop_id}/harvests", response_model=HarvestPublic, status_code=201)
def record_harvest(crop_id: int, body: HarvestCreate, db: DbDep, principal: OriginManage) -> HarvestPublic:
    """Record a harvest; refused inside a pesticide's pre-harvest interval (409 ``pre_harvest_interval``)."""
    with uow_for(db, principal) as uow:
        harvest = service.record_harvest(uow, crop_id, body)
        uow.commit()
        return service.harvest_public(uow.session, harvest)


@router.get("/harvests/{harvest_id}", response_model=HarvestPublic)
def get_harvest(harvest_id: int, db: DbDep, _: OriginView) -> HarvestPublic:
    with db.sessions() as session:
        return service.harvest_public(session, service.get_harvest(session, harvest_id))


@router.post("/harvests/{harvest_id}/processing", response_model=ProcessingPublic, status_code=201)
def record_processing(
    harvest_id: int, body: ProcessingCreate, db: DbDep, principal: OriginManage
) -> ProcessingPublic:
    with uow_for(db, principal) as uow:
        step = service.record_processing(uow, harvest_id, body)
        uow.commit()
        return ProcessingPublic.model_validate(step, from_attributes=True)


# --- shipments -------------------------------------------------------------------------------------------


@router.get("/shipments", response_model=list[ShipmentPublic])
def list_shipments(
    db: DbDep, _: OriginView, q: str = "", base: str = "", open_only: bool = False
) -> list[ShipmentPublic]:
    """Shipments; ``q`` matches a shipment code (as scanned) or the base's batch, ``open_only`` those not
    fully received."""
    with db.sessions() as session:
        base_id = service.base_by_code(session, base).id if base.strip() else None
        found = service.list_shipments(session, base_id=base_id, text=q, open_only=open_only)
        return [service.shipment_public(session, s) for s in found]


@router.post("/shipments", response_model=ShipmentPublic, status_code=201)
def create_shipment(body: ShipmentCreate, db: DbDep, principal: OriginManage) -> ShipmentPublic:
    with uow_for(db, principal) as uow:
        shipment = service.create_shipment(uow, body)
        uow.commit()
        return service.shipment_public(uow.session, shipment)


@router.get("/shipments/{shipment_id}", response_model=ShipmentPublic)
def get_shipment(shipment_id: int, db: DbDep, _: OriginView) -> ShipmentPublic:
    with db.sessions() as session:
        return service.shipment_public(session, service.get_shipment(session, shipment_id))


@router.post("/shipments/{shipment_id}/void", response_model=ShipmentPublic)
def void_shipment(shipment_id: int, body: ReasonOnly, db: DbDep, principal: OriginManage) -> ShipmentPublic:
    with uow_for(db, principal, body.reason) as uow:
        shipment = service.void_shipment(uow, shipment_id)
        uow.commit()
        return service.shipment_public(uow.session, shipment)


# --- corrections and voids: each with its reason, kept in the audit trail (old → new) -----------------------


@router.patch("/bases/{base_id}", response_model=BasePublic)
def update_base(base_id: int, body: BaseUpdate, db: DbDep, principal: OriginManage) -> BasePublic:
    """Correct a base's GACP details; fields left out stay, ``null`` clears an optional one."""
    with uow_for(db, principal, body.reason) as uow:
        base = service.update_base(uow, base_id, body)
        uow.commit()
        return service.base_public(uow.session, base)


@router.post("/bases/{base_id}/void", response_model=BasePublic)
def void_base(base_id: int, body: ReasonOnly, db: DbDep, principal: OriginManage) -> BasePublic:
    """Void a base recorded in error; refused (409 ``origin_record_in_use``) while a plot or shipment is not void."""
    with uow_for(db, principal, body.reason) as uow:
        base = service.void_base(uow, base_id)
        uow.commit()
        return service.base_public(uow.session, base)


@router.patch("/plots/{plot_id}", response_model=PlotPublic)
def update_plot(plot_id: int, body: PlotUpdate, db: DbDep, principal: OriginManage) -> PlotPublic:
    with uow_for(db, principal, body.reason) as uow:
        plot = service.update_plot(uow, plot_id, body)
        uow.commit()
        return service.plot_public(plot)


@router.post("/plots/{plot_id}/void", response_model=PlotPublic)
def void_plot(plot_id: int, body: ReasonOnly, db: DbDep, principal: OriginManage) -> PlotPublic:
    """Void a plot recorded in error; refused while a crop or harvest on it is not void."""
    with uow_for(db, principal, body.reason) as uow:
        plot = service.void_plot(uow, plot_id)
        uow.commit()
        return service.plot_public(plot)


@router.patch("/crops/{crop_id}", response_model=CropPublic)
def update_crop(crop_id: int, body: CropUpdate, db: DbDep, principal: OriginManage) -> CropPublic:
    """Correct a crop and its seed source (not its code, plot or herb)."""
    with uow_for(db, principal, body.reason) as uow:
        crop = service.update_crop(uow, crop_id, body)
        uow.commit()
        return service.crop_public(uow.session, crop)


@router.post("/crops/{crop_id}/void", response_model=CropPublic)
def void_crop(crop_id: int, body: ReasonOnly, db: DbDep, principal: OriginManage) -> CropPublic:
    with uow_for(db, principal, body.reason) as uow:
        crop = service.void_crop(uow, crop_id)
        uow.commit()
        return service.crop_public(uow.session, crop)


@router.patch("/harvests/{harvest_id}", response_model=HarvestPublic)
def update_harvest(harvest_id: int, body: HarvestUpdate, db: DbDep, principal: OriginManage) -> HarvestPublic:
    """Correct a harvest; its quantity is never lowered below what shipments drew (409 ``origin_record_in_use``)."""
    with uow_for(db, principal, body.reason) as uow:
        harvest = service.update_harvest(uow, harvest_id, body)
        uow.commit()
        return service.harvest_public(uow.session, harvest)


@router.post("/harvests/{harvest_id}/void", response_model=HarvestPublic)
def void_harvest(harvest_id: int, body: ReasonOnly, db: DbDep, principal: OriginManage) -> HarvestPublic:
    """Void a harvest recorded in error; refused while a shipment that is not void draws from it."""
    with uow_for(db, principal, body.reason) as uow:
        harvest = service.void_harvest(uow, harvest_id)
        uow.commit()
        return service.harvest_public(uow.session, harvest)


@router.patch("/processing/{step_id}", response_model=ProcessingPublic)
def update_processing(
    step_id: int, body: ProcessingUpdate, db: DbDep, principal: OriginManage
) -> ProcessingPublic:
    with uow_for(db, principal, body.reason) as uow:
        step = service.update_processing(uow, step_id, body)
        uow.commit()
        return ProcessingPublic.model_validate(step, from_attributes=True)


@router.post("/processing/{step_id}/void", response_model=ProcessingPublic)
def void_processing(step_id: int, body: ReasonOnly, db: DbDep, principal: OriginManage) -> ProcessingPublic:
    """Void a processing step recorded in error: only the last step of its harvest."""
    with uow_for(db, principal, body.reason) as uow:
        step = service.void_processing(uow, step_id)
        uow.commit()
        return ProcessingPublic.model_validate(step, from_attributes=True)


# --- herb lots: the chain and feedback ---------------------------------------------------------------------


@router.get("/lots/{lot_id}", response_model=OriginChain)
def lot_origin(lot_id: int, db: DbDep, _: OriginView) -> OriginChain:
    """The lot's way back to its base, plots, seed, inputs, harvest, processing and shipment (TJ-5.1)."""
    with db.sessions() as session:
        lot = lots.get_lot(session, lot_id)
        chain = service.origin_chain(session, lot)
        if chain is None:
            raise NotFound(N_("The lot {lot} has no recorded origin"), lot=lot.lot_number)
        return chain


@router.post("/lots/{lot_id}/anomaly", response_model=FeedbackPublic, status_code=201)
def report_anomaly(lot_id: int, body: AnomalyReport, db: DbDep, principal: OriginFeedback) -> FeedbackPublic:
    """Report a quality anomaly of a herb lot to its planting base (TJ-5.1, TJ-5.2.1.5)."""
    with uow_for(db, principal, body.reason) as uow:
        feedback = service.report_anomaly(uow, lot_id, body.reason)
        uow.commit()
        return service.feedback_public(feedback)


@router.get("/feedback", response_model=list[FeedbackPublic])
def list_feedback(db: DbDep, _: OriginView, status: str = "", base: str = "") -> list[FeedbackPublic]:
    """The feedback outbox: messages to the bases and their delivery status (``pending`` until sent)."""
    with db.sessions() as session:
        base_id = service.base_by_code(session, base).id if base.strip() else None
        return [
            service.feedback_public(f) for f in service.list_feedback(session, status=status, base_id=base_id)
        ]
