"""Herbal-material origin services (TJ-5.1, TJ-5.2.1.1, TJ-5.2.1.5).

Writes go through the unit of work; every refusal is a typed error raised before anything is written.
The rules kept here:

* a base is a supplier of kind ``planting_base``; a plot, crop, harvest or shipment of a void record is refused;
* a cultivation input is not applied before the crop was planted, nor in the future;
* a harvest inside a pesticide's pre-harvest interval (安全间隔期) is **refused**, naming the pesticide and the
  first day a harvest may be taken — a harvest that breaks the interval is not a herb for an injection;
* processing cannot yield more than the previous step (or the harvest), nor happen before the harvest;
* a shipment draws from harvests of its own base and material, never more than is left of each;
* a record is corrected and voided with a reason, never deleted; a void that would break the chain is refused
  (a base or plot with records not void under it, a crop with a harvest, a harvest drawn by a shipment, a
  processing step followed by a later one), and a correction keeps the quantity and date rules above;
* a herb lot from a planting base is received against a shipment of that base, for no more than was shipped
  and not yet received (:func:`shipment_for_receipt`, called by ``wms.receipts.create_receipt``);
* when QA rejects such a lot, or a quality anomaly is reported on it, a feedback message to the base is
  produced and recorded, and handed to the feedback channel (:class:`FeedbackChannel`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ReasonRequired, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.origin.models import (
    Crop,
    CultivationInput,
    Harvest,
    HerbLotOrigin,
    OriginFeedback,
    PlantingBase,
    Plot,
    ProcessingStep,
    Shipment,
    ShipmentSource,
)
from pharmatrace.origin.schemas import (
    BaseCreate,
    BasePublic,
    BaseUpdate,
    ChainSource,
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
    PlotLot,
    PlotPublic,
    PlotUpdate,
    ProcessingCreate,
    ProcessingPublic,
    ProcessingUpdate,
    ShipmentCreate,
    ShipmentPublic,
    SourcePublic,
)
from pharmatrace.wms.models import Lot, Material, Receipt, Supplier

ZERO = Decimal("0.000")


def _today() -> date:
    return clock.to_beijing(clock.now()).date()


def _taken(session: Session, model: type[Plot | Crop | Harvest | Shipment], code: str) -> None:
    if session.scalar(select(model.id).where(model.code == code)) is not None:
        raise Conflict(N_("The code “{code}” is already taken"), code=code)


def _not_future(day: date) -> None:
    if day > _today():
        raise ValidationFailed(N_("The date {date} is in the future"), date=day.isoformat())


# --- bases and plots -------------------------------------------------------------------------------------


def create_base(uow: UnitOfWork, data: BaseCreate) -> PlantingBase:
    session = uow.session
    supplier = session.scalar(select(Supplier).where(Supplier.code == data.supplier_code))
    if supplier is None:
        raise NotFound(N_("No supplier with code “{code}”"), code=data.supplier_code)
    if supplier.voided_at is not None:
        raise Conflict(N_("The supplier “{code}” is void"), code=supplier.code)
    if supplier.kind != "planting_base":
        raise Conflict(N_("The supplier “{code}” is not a planting base"), code=supplier.code)
    if session.scalar(select(PlantingBase.id).where(PlantingBase.supplier_id == supplier.id)) is not None:
        raise Conflict(N_("The planting base “{code}” is already recorded"), code=supplier.code)
    base = PlantingBase(
        supplier_id=supplier.id, region=data.region, certificate=data.certificate,
        certificate_valid_until=data.certificate_valid_until, area_mu=data.area_mu, manager=data.manager,
        created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(base)
    session.flush()
    return base


def get_base(session: Session, base_id: int) -> PlantingBase:
    base = session.get(PlantingBase, base_id)
    if base is None:
        raise NotFound(N_("No planting base with ID {id}"), id=base_id)
    return base


def base_by_code(session: Session, code: str) -> PlantingBase:
    base = session.scalar(
        select(PlantingBase).join(PlantingBase.supplier).where(Supplier.code == code.strip().upper())
    )
    if base is None:
        raise NotFound(N_("No planting base with code “{code}”"), code=code)
    return base


def _active_base(session: Session, code: str) -> PlantingBase:
    base = base_by_code(session, code)
    if base.voided_at is not None or base.supplier.voided_at is not None:
        raise Conflict(N_("The planting base “{code}” is void"), code=base.supplier.code)
    return base


def list_bases(session: Session, *, text: str = "") -> list[PlantingBase]:
    query = select(PlantingBase).join(PlantingBase.supplier).order_by(Supplier.code)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            Supplier.code.like(like.upper()) | Supplier.name.like(like) | PlantingBase.region.like(like)
        )
    return list(session.scalars(query).unique())


def create_plot(uow: UnitOfWork, data: PlotCreate) -> Plot:
    session = uow.session
    base = _active_base(session, data.base_code)
    _taken(session, Plot, data.code)
    plot = Plot(
        base_id=base.id, code=data.code, name=data.name, area_mu=data.area_mu, location=data.location,
        coordinates=data.coordinates, soil=data.soil, irrigation=data.irrigation, created_at=clock.now(),
        created_by=uow.actor.login,
    )  # fmt: skip
    session.add(plot)
    session.flush()
    return plot


def get_plot(session: Session, plot_id: int) -> Plot:
    plot = session.get(Plot, plot_id)
    if plot is None:
        raise NotFound(N_("No plot with ID {id}"), id=plot_id)
    return plot


def list_plots(session: Session, *, base_id: int | None = None, text: str = "") -> list[Plot]:
    query = select(Plot).order_by(Plot.code)
    if base_id is not None:
        query = query.where(Plot.base_id == base_id)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(Plot.code.like(like.upper()) | Plot.name.like(like))
    return list(session.scalars(query).unique())


def _active_plot(session: Session, plot_id: int) -> Plot:
    plot = get_plot(session, plot_id)
    if plot.voided_at is not None:
        raise Conflict(N_("The plot {code} is void"), code=plot.code)
    return plot


# --- crops, inputs, harvests, processing -------------------------------------------------------------------


def create_crop(uow: UnitOfWork, plot_id: int, data: CropCreate) -> Crop:
    session = uow.session
    plot = _active_plot(session, plot_id)
    _taken(session, Crop, data.code)
    material = session.scalar(select(Material).where(Material.code == data.material_code))
    if material is None:
        raise NotFound(N_("No material with code “{code}”"), code=data.material_code)
    if material.kind != "herb":
        raise Conflict(N_("{code} is not a herbal material"), code=material.code)
    _not_future(data.planted_on)
    crop = Crop(
        code=data.code, plot_id=plot.id, material_id=material.id, species=data.species,
        latin_name=data.latin_name, variety=data.variety, seed_kind=data.seed_kind, seed_source=data.seed_source,
        seed_certificate=data.seed_certificate, planted_on=data.planted_on, created_at=clock.now(),
        created_by=uow.actor.login,
    )  # fmt: skip
    session.add(crop)
    session.flush()
    return crop


def get_crop(session: Session, crop_id: int) -> Crop:
    crop = session.get(Crop, crop_id)
    if crop is None:
        raise NotFound(N_("No crop with ID {id}"), id=crop_id)
    return crop


def _active_crop(session: Session, crop_id: int) -> Crop:
    crop = get_crop(session, crop_id)
    if crop.voided_at is not None or crop.plot.voided_at is not None:
        raise Conflict(N_("The crop {code} is void"), code=crop.code)
    return crop


def record_input(uow: UnitOfWork, crop_id: int, data: InputCreate) -> CultivationInput:
    """Record a fertilizer or pesticide application (append-only)."""
    session = uow.session
    crop = _active_crop(session, crop_id)
    _not_future(data.applied_on)
    if data.applied_on < crop.planted_on:
        raise ValidationFailed(
            N_("The application on {date} is before the crop was planted ({planted})"),
            date=data.applied_on.isoformat(), planted=crop.planted_on.isoformat(),
        )  # fmt: skip
    entry = CultivationInput(
        crop_id=crop.id, kind=data.kind, product=data.product, active_ingredient=data.active_ingredient,
        amount=data.amount, unit=data.unit, applied_on=data.applied_on, applied_by=data.applied_by,
        pre_harvest_days=data.pre_harvest_days, remarks=data.remarks, recorded_at=clock.now(),
        recorded_by=uow.actor.login,
    )  # fmt: skip
    session.add(entry)
    session.flush()
    return entry


def inputs_of(session: Session, crop_id: int) -> list[CultivationInput]:
    return list(
        session.scalars(
            select(CultivationInput)
            .where(CultivationInput.crop_id == crop_id)
            .order_by(CultivationInput.applied_on, CultivationInput.id)
        )
    )


def safe_from(entry: CultivationInput) -> date | None:
    """The first day a harvest may be taken after this pesticide (applied on + interval)."""
    if entry.pre_harvest_days is None:
        return None
    return entry.applied_on + timedelta(days=entry.pre_harvest_days)


class PreHarvestIntervalBroken(Conflict):
    """A harvest inside a pesticide's pre-harvest interval (安全间隔期): refused."""

    code = "pre_harvest_interval"


def _outside_intervals(session: Session, crop: Crop, day: date) -> None:
    for entry in inputs_of(session, crop.id):
        first = safe_from(entry)
        if first is not None and entry.applied_on <= day < first:
            raise PreHarvestIntervalBroken(
                N_("{product} was applied on {applied} with a pre-harvest interval of {days} days: "
                   "no harvest before {first}"),
                product=entry.product, applied=entry.applied_on.isoformat(), days=entry.pre_harvest_days,
                first=first.isoformat(),
            )  # fmt: skip


def record_harvest(uow: UnitOfWork, crop_id: int, data: HarvestCreate) -> Harvest:
    session = uow.session
    crop = _active_crop(session, crop_id)
    _taken(session, Harvest, data.code)
    _not_future(data.harvested_on)
    if data.harvested_on < crop.planted_on:
        raise ValidationFailed(
            N_("The harvest on {date} is before the crop was planted ({planted})"),
            date=data.harvested_on.isoformat(), planted=crop.planted_on.isoformat(),
        )  # fmt: skip
    _outside_intervals(session, crop, data.harvested_on)
    harvest = Harvest(
        code=data.code, crop_id=crop.id, harvested_on=data.harvested_on, quantity=data.quantity,
        unit=crop.material.unit, method=data.method, created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(harvest)
    session.flush()
    return harvest


def get_harvest(session: Session, harvest_id: int) -> Harvest:
    harvest = session.get(Harvest, harvest_id)
    if harvest is None:
        raise NotFound(N_("No harvest with ID {id}"), id=harvest_id)
    return harvest


def harvests_of(session: Session, crop_id: int) -> list[Harvest]:
    return list(
        session.scalars(
            select(Harvest).where(Harvest.crop_id == crop_id).order_by(Harvest.harvested_on, Harvest.id)
        ).unique()
    )


def steps_of(session: Session, harvest_id: int) -> list[ProcessingStep]:
    return list(
        session.scalars(
            select(ProcessingStep)
            .where(ProcessingStep.harvest_id == harvest_id, ProcessingStep.voided_at.is_(None))
            .order_by(ProcessingStep.performed_on, ProcessingStep.id)
        )
    )


def processed_quantity(session: Session, harvest: Harvest) -> Decimal:
    """What the harvest is now: the last processing step's output, or the harvest itself."""
    steps = steps_of(session, harvest.id)
    return steps[-1].output_quantity if steps else harvest.quantity


def shipped_quantity(session: Session, harvest_id: int, *, except_shipment: int | None = None) -> Decimal:
    query = (
        select(func.coalesce(func.sum(ShipmentSource.quantity), 0))
        .join(ShipmentSource.shipment)
        .where(ShipmentSource.harvest_id == harvest_id, Shipment.voided_at.is_(None))
    )
    if except_shipment is not None:
        query = query.where(Shipment.id != except_shipment)
    return Decimal(session.scalar(query) or 0).quantize(ZERO)


def available(session: Session, harvest: Harvest) -> Decimal:
    return processed_quantity(session, harvest) - shipped_quantity(session, harvest.id)


def record_processing(uow: UnitOfWork, harvest_id: int, data: ProcessingCreate) -> ProcessingStep:
    """A step of primary processing (产地初加工); its output is at most what the harvest is now."""
    session = uow.session
    session.execute(
        select(Harvest.id).where(Harvest.id == harvest_id).with_for_update()
    )  # vs. a shipment at once
    harvest = get_harvest(session, harvest_id)
    if harvest.voided_at is not None:
        raise Conflict(N_("The harvest {code} is void"), code=harvest.code)
    _not_future(data.performed_on)
    steps = steps_of(session, harvest.id)
    last_day = steps[-1].performed_on if steps else harvest.harvested_on
    if data.performed_on < last_day:
        raise ValidationFailed(
            N_("Processing on {date} comes before the harvest or the previous step ({last})"),
            date=data.performed_on.isoformat(), last=last_day.isoformat(),
        )  # fmt: skip
    before = processed_quantity(session, harvest)
    if data.output_quantity > before:
        raise Conflict(
            N_("Processing cannot yield {output} {unit}: the harvest {code} is {before} {unit} before this step"),
            output=data.output_quantity.quantize(ZERO), unit=harvest.unit, code=harvest.code, before=before,
        )  # fmt: skip
    shipped = shipped_quantity(session, harvest.id)
    if data.output_quantity < shipped:
        raise Conflict(
            N_("{shipped} {unit} of the harvest {code} are shipped already; this step cannot leave less"),
            shipped=shipped, unit=harvest.unit, code=harvest.code,
        )  # fmt: skip
    step = ProcessingStep(
        harvest_id=harvest.id, method=data.method, performed_on=data.performed_on,
        output_quantity=data.output_quantity, conditions=data.conditions, created_at=clock.now(),
        created_by=uow.actor.login,
    )  # fmt: skip
    session.add(step)
    session.flush()
    return step


# --- shipments -------------------------------------------------------------------------------------------


def create_shipment(uow: UnitOfWork, data: ShipmentCreate) -> Shipment:
    session = uow.session
    base = _active_base(session, data.base_code)
    _taken(session, Shipment, data.code)
    material = session.scalar(select(Material).where(Material.code == data.material_code))
    if material is None:
        raise NotFound(N_("No material with code “{code}”"), code=data.material_code)
    _not_future(data.shipped_on)
    harvests: list[tuple[Harvest, Decimal]] = []
    for source in data.sources:
        # locked until commit (PostgreSQL): two shipments at once cannot both take what is left of a harvest
        harvest_id = session.scalar(
            select(Harvest.id).where(Harvest.code == source.harvest_code).with_for_update()
        )
        harvest = session.get(Harvest, harvest_id) if harvest_id is not None else None
        if harvest is None:
            raise NotFound(N_("No harvest with code “{code}”"), code=source.harvest_code)
        if harvest.voided_at is not None:
            raise Conflict(N_("The harvest {code} is void"), code=harvest.code)
        if harvest.crop.plot.base_id != base.id:
            raise Conflict(
                N_("The harvest {code} is from another base ({base})"),
                code=harvest.code, base=harvest.crop.plot.base.supplier.code,
            )  # fmt: skip
        if harvest.crop.material_id != material.id:
            raise Conflict(
                N_("The harvest {code} is {material}, not {expected}"),
                code=harvest.code, material=harvest.crop.material.code, expected=material.code,
            )  # fmt: skip
        if harvest.harvested_on > data.packed_on:
            raise ValidationFailed(
                N_("The harvest {code} was taken on {date}, after the shipment was packed"),
                code=harvest.code, date=harvest.harvested_on.isoformat(),
            )  # fmt: skip
        left = available(session, harvest)
        if source.quantity > left:
            raise Conflict(
                N_("Only {left} {unit} of the harvest {code} are left to ship, not {quantity}"),
                left=left, unit=harvest.unit, code=harvest.code, quantity=source.quantity.quantize(ZERO),
            )  # fmt: skip
        harvests.append((harvest, source.quantity))
    shipment = Shipment(
        code=data.code, base_id=base.id, material_id=material.id, batch_no=data.batch_no,
        quantity=sum((q for _, q in harvests), Decimal(0)), unit=material.unit, pack_type=data.pack_type,
        pack_count=data.pack_count, packed_on=data.packed_on, storage_conditions=data.storage_conditions,
        shipped_on=data.shipped_on, destination=data.destination, carrier=data.carrier,
        transport_conditions=data.transport_conditions, created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(shipment)
    session.flush()
    for harvest, quantity in harvests:
        session.add(ShipmentSource(shipment_id=shipment.id, harvest_id=harvest.id, quantity=quantity))
    session.flush()
    session.refresh(shipment, ["sources"])
    return shipment


def get_shipment(session: Session, shipment_id: int) -> Shipment:
    shipment = session.get(Shipment, shipment_id)
    if shipment is None:
        raise NotFound(N_("No shipment with ID {id}"), id=shipment_id)
    return shipment


def shipment_by_code(session: Session, code: str) -> Shipment:
    shipment = session.scalar(select(Shipment).where(Shipment.code == code.strip().upper()))
    if shipment is None:
        raise NotFound(N_("No shipment with code “{code}”"), code=code)
    return shipment


def list_shipments(
    session: Session, *, base_id: int | None = None, text: str = "", open_only: bool = False
) -> list[Shipment]:
    query = select(Shipment).order_by(Shipment.shipped_on.desc(), Shipment.id.desc())
    if base_id is not None:
        query = query.where(Shipment.base_id == base_id)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(Shipment.code.like(like.upper()) | Shipment.batch_no.like(like))
    found = list(session.scalars(query).unique())
    if open_only:
        found = [s for s in found if s.voided_at is None and received_quantity(session, s) < s.quantity]
    return found


def lots_of_shipment(session: Session, shipment_id: int, *, include_void: bool = False) -> list[Lot]:
    query = (
        select(Lot)
        .join(HerbLotOrigin, HerbLotOrigin.lot_id == Lot.id)
        .where(HerbLotOrigin.shipment_id == shipment_id)
        .order_by(Lot.id)
    )
    if not include_void:
        query = query.where(Lot.voided_at.is_(None))
    return list(session.scalars(query).unique())


def received_quantity(session: Session, shipment: Shipment) -> Decimal:
    """What the plant has taken of the shipment: completed receipts count what was scanned in, open
    ones what they expect."""
    total = Decimal(0)
    for lot in lots_of_shipment(session, shipment.id):
        receipt = session.scalar(select(Receipt).where(Receipt.lot_id == lot.id))
        if receipt is not None and receipt.status == "open":
            total += receipt.expected_containers * receipt.quantity_per_container
        else:
            total += lot.quantity
    return total.quantize(ZERO)


def void_shipment(uow: UnitOfWork, shipment_id: int) -> Shipment:
    """Void a shipment recorded in error (needs the reason); refused once a lot was received from it."""
    shipment = get_shipment(uow.session, shipment_id)
    if shipment.voided_at is not None:
        raise Conflict(N_("The shipment {code} is already void"), code=shipment.code)
    received = lots_of_shipment(uow.session, shipment.id)
    if received:
        raise Conflict(
            N_("The shipment {code} was received as lot {lot}; it cannot be voided"),
            code=shipment.code, lot=received[0].lot_number,
        )  # fmt: skip
    uow.void(shipment)
    return shipment


# --- corrections and voids (with a reason) ---------------------------------------------------------------------
# A record's descriptive fields are corrected, never its code nor the links other records depend on; a record
# is voided, never deleted. Both need the reason (the unit of work keeps old → new in the trail). A void or a
# change that would break the chain is refused: a base or plot with records not void under it, a crop with a
# harvest not void, a harvest drawn by a shipment not void, a processing step followed by a later one.


class RecordInUse(Conflict):
    """Refused: records that are not void depend on this one (or on the quantity being lowered)."""

    code = "origin_record_in_use"


def _need_reason(uow: UnitOfWork) -> None:
    if uow.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))


def _changes(record: object, data: BaseModel, required: tuple[str, ...]) -> dict[str, Any]:
    """What ``data`` changes of ``record``: ``None`` clears an optional field (a text becomes empty), a required
    one cannot be cleared; refused when nothing would change."""
    changes: dict[str, Any] = {}
    for key, value in data.model_dump(exclude={"reason"}, exclude_unset=True).items():
        if value is None:
            if key in required:
                raise ValidationFailed(N_("This field cannot be cleared: {field}"), field=key)
            if isinstance(getattr(record, key), str):
                value = ""
        if value != getattr(record, key):
            changes[key] = value
    if not changes:
        raise ValidationFailed(N_("Nothing to change: the values given are the ones recorded"))
    return changes


def _apply(uow: UnitOfWork, record: object, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        setattr(record, key, value)
    uow.session.flush()


def _live_base(session: Session, base_id: int) -> PlantingBase:
    base = get_base(session, base_id)
    if base.voided_at is not None:
        raise Conflict(N_("The planting base “{code}” is void"), code=base.supplier.code)
    return base


def update_base(uow: UnitOfWork, base_id: int, data: BaseUpdate) -> PlantingBase:
    """Correct a base's GACP details (region, certificate and validity, area, manager)."""
    _need_reason(uow)
    base = _live_base(uow.session, base_id)
    _apply(uow, base, _changes(base, data, ("region",)))
    return base


def void_base(uow: UnitOfWork, base_id: int) -> PlantingBase:
    """Void a base recorded in error; refused while a plot or a shipment of it is not void."""
    _need_reason(uow)
    session = uow.session
    base = _live_base(session, base_id)
    plot = session.scalar(
        select(Plot.code)
        .where(Plot.base_id == base.id, Plot.voided_at.is_(None))
        .order_by(Plot.code)
        .limit(1)
    )
    if plot is not None:
        raise RecordInUse(
            N_("The planting base “{code}” has the plot {plot} that is not void; void it first"),
            code=base.supplier.code, plot=plot,
        )  # fmt: skip
    shipment = session.scalar(
        select(Shipment.code)
        .where(Shipment.base_id == base.id, Shipment.voided_at.is_(None))
        .order_by(Shipment.code)
        .limit(1)
    )
    if shipment is not None:
        raise RecordInUse(
            N_("The planting base “{code}” has the shipment {shipment} that is not void; void it first"),
            code=base.supplier.code, shipment=shipment,
        )  # fmt: skip
    uow.void(base)
    return base


def update_plot(uow: UnitOfWork, plot_id: int, data: PlotUpdate) -> Plot:
    """Correct a plot's name, area, location, coordinates, soil or irrigation (not its code nor its base)."""
    _need_reason(uow)
    plot = _active_plot(uow.session, plot_id)
    _apply(uow, plot, _changes(plot, data, ("name", "area_mu")))
    return plot


def void_plot(uow: UnitOfWork, plot_id: int) -> Plot:
    """Void a plot recorded in error; refused while a harvest or a crop on it is not void."""
    _need_reason(uow)
    session = uow.session
    plot = _active_plot(session, plot_id)
    harvest = session.scalar(
        select(Harvest.code)
        .join(Crop, Crop.id == Harvest.crop_id)
        .where(Crop.plot_id == plot.id, Harvest.voided_at.is_(None))
        .order_by(Harvest.code)
        .limit(1)
    )
    if harvest is not None:
        raise RecordInUse(
            N_("The plot {code} has the harvest {harvest} that is not void; it cannot be voided"),
            code=plot.code, harvest=harvest,
        )  # fmt: skip
    crop = session.scalar(
        select(Crop.code)
        .where(Crop.plot_id == plot.id, Crop.voided_at.is_(None))
        .order_by(Crop.code)
        .limit(1)
    )
    if crop is not None:
        raise RecordInUse(
            N_("The plot {code} has the crop {crop} that is not void; void it first"),
            code=plot.code,
            crop=crop,
        )
    uow.void(plot)
    return plot


def _live_harvests(session: Session, crop_id: int) -> list[Harvest]:
    return [h for h in harvests_of(session, crop_id) if h.voided_at is None]


def update_crop(uow: UnitOfWork, crop_id: int, data: CropUpdate) -> Crop:
    """Correct a crop and its seed source (not its code, plot or herb). The planting date stays on or before
    the first application and the first harvest."""
    _need_reason(uow)
    session = uow.session
    crop = _active_crop(session, crop_id)
    changes = _changes(crop, data, ("species", "latin_name", "seed_kind", "seed_source", "planted_on"))
    day = changes.get("planted_on")
    if day is not None:
        _not_future(day)
        for entry in inputs_of(session, crop.id):
            if entry.applied_on < day:
                raise ValidationFailed(
                    N_("The crop cannot be planted on {date}: {product} was applied to it on {applied}"),
                    date=day.isoformat(), product=entry.product, applied=entry.applied_on.isoformat(),
                )  # fmt: skip
        for harvest in _live_harvests(session, crop.id):
            if harvest.harvested_on < day:
                raise ValidationFailed(
                    N_("The crop cannot be planted on {date}: the harvest {code} was taken on {harvested}"),
                    date=day.isoformat(), code=harvest.code, harvested=harvest.harvested_on.isoformat(),
                )  # fmt: skip
    _apply(uow, crop, changes)
    return crop


def void_crop(uow: UnitOfWork, crop_id: int) -> Crop:
    """Void a crop recorded in error; refused while a harvest of it is not void. Its applications stay."""
    _need_reason(uow)
    crop = _active_crop(uow.session, crop_id)
    harvests = _live_harvests(uow.session, crop.id)
    if harvests:
        raise RecordInUse(
            N_("The crop {code} has the harvest {harvest} that is not void; void it first"),
            code=crop.code, harvest=harvests[0].code,
        )  # fmt: skip
    uow.void(crop)
    return crop


def _locked_harvest(session: Session, harvest_id: int) -> Harvest:
    # locked until commit (PostgreSQL), as a shipment or a processing step locks it: no draw in between
    session.execute(select(Harvest.id).where(Harvest.id == harvest_id).with_for_update())
    harvest = get_harvest(session, harvest_id)
    if harvest.voided_at is not None:
        raise Conflict(N_("The harvest {code} is void"), code=harvest.code)
    return harvest


def drawing_shipments(session: Session, harvest_id: int) -> list[Shipment]:
    """The shipments, not void, that draw from a harvest, the first packed first."""
    query = (
        select(Shipment)
        .join(ShipmentSource, ShipmentSource.shipment_id == Shipment.id)
        .where(ShipmentSource.harvest_id == harvest_id, Shipment.voided_at.is_(None))
        .order_by(Shipment.packed_on, Shipment.id)
    )
    return list(session.scalars(query).unique())


def update_harvest(uow: UnitOfWork, harvest_id: int, data: HarvestUpdate) -> Harvest:
    """Correct a harvest's date, quantity or method (not its code nor its crop). The quantity is never below
    what shipments drew from it nor below its first processing step's output; the date keeps the rules of a
    new harvest and stays before its processing and the packing of its shipments."""
    _need_reason(uow)
    session = uow.session
    harvest = _locked_harvest(session, harvest_id)
    changes = _changes(harvest, data, ("harvested_on", "quantity"))
    steps = steps_of(session, harvest.id)
    day = changes.get("harvested_on")
    if day is not None:
        _not_future(day)
        crop = harvest.crop
        if day < crop.planted_on:
            raise ValidationFailed(
                N_("The harvest on {date} is before the crop was planted ({planted})"),
                date=day.isoformat(), planted=crop.planted_on.isoformat(),
            )  # fmt: skip
        _outside_intervals(session, crop, day)
        if steps and day > steps[0].performed_on:
            raise ValidationFailed(
                N_("The harvest {code} cannot be dated {date}: it was processed on {step}"),
                code=harvest.code, date=day.isoformat(), step=steps[0].performed_on.isoformat(),
            )  # fmt: skip
        shipments = drawing_shipments(session, harvest.id)
        if shipments and day > shipments[0].packed_on:
            raise ValidationFailed(
                N_("The harvest {code} cannot be dated {date}: the shipment {shipment} was packed from it on {packed}"),
                code=harvest.code, date=day.isoformat(), shipment=shipments[0].code,
                packed=shipments[0].packed_on.isoformat(),
            )  # fmt: skip
    quantity = changes.get("quantity")
    if quantity is not None:
        shipped = shipped_quantity(session, harvest.id)
        if quantity < shipped:
            raise RecordInUse(
                N_("{shipped} {unit} of the harvest {code} are shipped already; it cannot be {quantity} {unit}"),
                shipped=shipped, unit=harvest.unit, code=harvest.code, quantity=Decimal(quantity).quantize(ZERO),
            )  # fmt: skip
        if steps and quantity < steps[0].output_quantity:
            raise RecordInUse(
                N_("The harvest {code} cannot be {quantity} {unit}: its first processing step yielded {output} {unit}"),
                code=harvest.code, quantity=Decimal(quantity).quantize(ZERO), unit=harvest.unit,
                output=steps[0].output_quantity,
            )  # fmt: skip
    _apply(uow, harvest, changes)
    return harvest


def void_harvest(uow: UnitOfWork, harvest_id: int) -> Harvest:
    """Void a harvest recorded in error; refused while a shipment that is not void draws from it. Its
    processing steps stay recorded with it."""
    _need_reason(uow)
    harvest = _locked_harvest(uow.session, harvest_id)
    shipments = drawing_shipments(uow.session, harvest.id)
    if shipments:
        raise RecordInUse(
            N_("The harvest {code} is drawn by the shipment {shipment}; it cannot be voided"),
            code=harvest.code, shipment=shipments[0].code,
        )  # fmt: skip
    uow.void(harvest)
    return harvest


def get_step(session: Session, step_id: int) -> ProcessingStep:
    step = session.get(ProcessingStep, step_id)
    if step is None:
        raise NotFound(N_("No processing step with ID {id}"), id=step_id)
    return step


def _live_step(session: Session, step_id: int) -> tuple[ProcessingStep, Harvest, list[ProcessingStep]]:
    """The step, its harvest (locked) and the harvest's steps that are not void, in order."""
    harvest = _locked_harvest(session, get_step(session, step_id).harvest_id)
    step = get_step(session, step_id)
    if step.voided_at is not None:
        raise Conflict(
            N_("The processing step on {date} of the harvest {code} is void"),
            date=step.performed_on.isoformat(), code=harvest.code,
        )  # fmt: skip
    return step, harvest, steps_of(session, harvest.id)


def update_processing(uow: UnitOfWork, step_id: int, data: ProcessingUpdate) -> ProcessingStep:
    """Correct a processing step: its date stays between the previous step (or the harvest) and the next
    one, its output between the next step's and what the harvest was before it, and never below what is
    shipped when it is the last step."""
    _need_reason(uow)
    session = uow.session
    step, harvest, steps = _live_step(session, step_id)
    changes = _changes(step, data, ("method", "performed_on", "output_quantity"))
    index = next(n for n, s in enumerate(steps) if s.id == step.id)
    previous = steps[index - 1] if index else None
    following = steps[index + 1] if index + 1 < len(steps) else None
    day = changes.get("performed_on")
    if day is not None:
        _not_future(day)
        last = previous.performed_on if previous else harvest.harvested_on
        if day < last:
            raise ValidationFailed(
                N_("Processing on {date} comes before the harvest or the previous step ({last})"),
                date=day.isoformat(), last=last.isoformat(),
            )  # fmt: skip
        if following is not None and day > following.performed_on:
            raise ValidationFailed(
                N_("Processing on {date} comes after the next step ({next})"),
                date=day.isoformat(), next=following.performed_on.isoformat(),
            )  # fmt: skip
    output = changes.get("output_quantity")
    if output is not None:
        before = previous.output_quantity if previous else harvest.quantity
        if output > before:
            raise Conflict(
                N_("Processing cannot yield {output} {unit}: the harvest {code} is {before} {unit} before this step"),
                output=Decimal(output).quantize(ZERO), unit=harvest.unit, code=harvest.code, before=before,
            )  # fmt: skip
        if following is not None and output < following.output_quantity:
            raise RecordInUse(
                N_("The next step of the harvest {code} yielded {next} {unit}; this step cannot yield less"),
                code=harvest.code, next=following.output_quantity, unit=harvest.unit,
            )  # fmt: skip
        shipped = shipped_quantity(session, harvest.id)
        if following is None and output < shipped:
            raise RecordInUse(
                N_("{shipped} {unit} of the harvest {code} are shipped already; this step cannot leave less"),
                shipped=shipped, unit=harvest.unit, code=harvest.code,
            )  # fmt: skip
    _apply(uow, step, changes)
    return step


def void_processing(uow: UnitOfWork, step_id: int) -> ProcessingStep:
    """Void a processing step recorded in error: only the last one of its harvest (a later step depends on
    it); the harvest is then what the previous step yielded, which is never less than is shipped."""
    _need_reason(uow)
    step, harvest, steps = _live_step(uow.session, step_id)
    if steps[-1].id != step.id:
        later = steps[-1]
        raise RecordInUse(
            N_("The processing step on {date} of the harvest {code} is followed by the step on {later}; "
               "void the later step first"),
            date=step.performed_on.isoformat(), code=harvest.code, later=later.performed_on.isoformat(),
        )  # fmt: skip
    uow.void(step)
    return step


# --- receipt of a herb lot against its shipment (TJ-5.2.1.1) ------------------------------------------------


class ShipmentRequired(Conflict):
    code = "origin_shipment_refused"


def shipment_for_receipt(
    session: Session, supplier: Supplier, material: Material, code: str | None, quantity: Decimal
) -> Shipment | None:
    """The shipment a receipt names, checked; ``None`` when the lot needs none. Called before the receipt
    writes anything, so a refusal leaves nothing behind."""
    needs = material.kind == "herb" and supplier.kind == "planting_base"
    if not code:
        if needs:
            raise ShipmentRequired(
                N_("A herb lot from the planting base {supplier} is received against its shipment: "
                   "give the shipment code"),
                supplier=supplier.code,
            )  # fmt: skip
        return None
    if not needs:
        raise ShipmentRequired(N_("Only herb lots from a planting base are received against a shipment"))
    # the shipment's row stays locked until commit (PostgreSQL): two receipts at once cannot both take the rest
    shipment_id = session.scalar(
        select(Shipment.id).where(Shipment.code == code.strip().upper()).with_for_update()
    )
    shipment = session.get(Shipment, shipment_id) if shipment_id is not None else None
    if shipment is None:
        raise ShipmentRequired(N_("No shipment with code “{code}”"), code=code)
    if shipment.voided_at is not None:
        raise ShipmentRequired(N_("The shipment {code} is void"), code=shipment.code)
    if shipment.base.supplier_id != supplier.id:
        raise ShipmentRequired(
            N_("The shipment {code} is from {base}, not from {supplier}"),
            code=shipment.code, base=shipment.base.supplier.code, supplier=supplier.code,
        )  # fmt: skip
    if shipment.material_id != material.id:
        raise ShipmentRequired(
            N_("The shipment {code} carries {shipped}, not {material}"),
            code=shipment.code, shipped=shipment.material.code, material=material.code,
        )  # fmt: skip
    if shipment.shipped_on > _today():
        raise ShipmentRequired(N_("The shipment {code} has not been shipped yet"), code=shipment.code)
    left = shipment.quantity - received_quantity(session, shipment)
    if quantity > left:
        raise ShipmentRequired(
            N_("The shipment {code} has {left} {unit} left to receive; this receipt expects {quantity} {unit}"),
            code=shipment.code, left=left, unit=shipment.unit, quantity=quantity.quantize(ZERO),
        )  # fmt: skip
    return shipment


def link_lot(uow: UnitOfWork, lot: Lot, shipment: Shipment) -> HerbLotOrigin:
    """Record that ``lot`` came from ``shipment`` (same unit of work as the receipt)."""
    origin = HerbLotOrigin(
        lot_id=lot.id, shipment_id=shipment.id, created_at=clock.now(), created_by=uow.actor.login
    )
    uow.session.add(origin)
    uow.session.flush()
    return origin


def origin_of(session: Session, lot_id: int) -> HerbLotOrigin | None:
    return session.scalar(select(HerbLotOrigin).where(HerbLotOrigin.lot_id == lot_id))


def lots_of_plot(session: Session, plot_id: int) -> list[Lot]:
    """The herb lots that came from a plot (through their shipments' harvests)."""
    query = (
        select(Lot)
        .join(HerbLotOrigin, HerbLotOrigin.lot_id == Lot.id)
        .join(ShipmentSource, ShipmentSource.shipment_id == HerbLotOrigin.shipment_id)
        .join(Harvest, Harvest.id == ShipmentSource.harvest_id)
        .join(Crop, Crop.id == Harvest.crop_id)
        .where(Crop.plot_id == plot_id, Lot.voided_at.is_(None))
        .order_by(Lot.id.desc())
        .distinct()
    )
    return list(session.scalars(query).unique())


# --- feedback to the base (TJ-5.2.1.5) ---------------------------------------------------------------------


class FeedbackChannel(Protocol):
    """Where feedback goes: the seam the data-exchange area turns into a real interface."""

    name: str

    def deliver(self, feedback: OriginFeedback) -> bool:
        """Hand the message over; ``True`` when the base's system has taken it."""
        ...


class OutboxChannel:
    """The default: the message waits in the outbox (status ``pending``) for the exchange to send it."""

    name = "outbox"

    def deliver(self, feedback: OriginFeedback) -> bool:
        return False


_channel: FeedbackChannel = OutboxChannel()


def set_channel(channel: FeedbackChannel) -> FeedbackChannel:
    """Install the channel feedback is delivered through; returns the one it replaces."""
    global _channel
    previous, _channel = _channel, channel
    return previous


KIND_TEXT = {"rejected": "不合格（质量管理部门不放行）", "quality_anomaly": "质量异常"}


def _message(lot: Lot, shipment: Shipment, plots: Iterable[str], kind: str, reason: str, day: date) -> str:
    # The message is the record sent to the base's own system, in Chinese (the base reads it there); it is
    # data, not UI text, so it is not translated on display.
    return (
        f"【中药材质量信息反馈】{shipment.base.supplier.name}：\n"
        f"贵基地 {shipment.shipped_on.isoformat()} 发运的 {lot.material.name}（发运单号 {shipment.code}，"
        f"基地批号 {shipment.batch_no}，供应商批号 {lot.supplier_lot}，来源地块 {'、'.join(plots) or '—'}），"
        f"到厂物料批号 {lot.lot_number}，于 {day.isoformat()} 判定为{KIND_TEXT[kind]}。\n"
        f"原因：{reason}\n"
        "请核查该批药材的种子种苗、种植（施肥、用药）、采收、产地加工、包装及储运记录，并反馈调查结果与纠正措施。"
    )


def plots_of_shipment(shipment: Shipment) -> list[Plot]:
    seen: dict[int, Plot] = {}
    for source in shipment.sources:
        plot = source.harvest.crop.plot
        seen.setdefault(plot.id, plot)
    return list(seen.values())


def produce_feedback(uow: UnitOfWork, lot: Lot, kind: str, reason: str) -> OriginFeedback | None:
    """Record a feedback message to the base the herb lot came from; ``None`` for a lot without an origin."""
    session = uow.session
    origin = origin_of(session, lot.id)
    if origin is None:
        return None
    shipment = origin.shipment
    now = clock.now()
    plots = [p.code for p in plots_of_shipment(shipment)]
    feedback = OriginFeedback(
        lot_id=lot.id, base_id=shipment.base_id, shipment_id=shipment.id, kind=kind, reason=reason,
        message=_message(lot, shipment, plots, kind, reason, clock.to_beijing(now).date()), produced_at=now,
        produced_by=uow.actor.login, status="pending", channel=_channel.name,
    )  # fmt: skip
    session.add(feedback)
    session.flush()
    if _channel.deliver(feedback):
        feedback.status = "delivered"
        feedback.delivered_at = clock.now()
        session.flush()
    return feedback


def lot_rejected(uow: UnitOfWork, lot: Lot) -> OriginFeedback | None:
    """Called by ``wms.lots.reject`` in QA's signed rejection: the base hears of it (TJ-5.2.1.5)."""
    return produce_feedback(uow, lot, "rejected", uow.reason or "—")


def report_anomaly(uow: UnitOfWork, lot_id: int, reason: str) -> OriginFeedback:
    """A quality anomaly of a herb lot, reported to its base (TJ-5.1: 质量相关异常时及时进行信息交换)."""
    lot = uow.session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(N_("No lot with ID {id}"), id=lot_id)
    if lot.voided_at is not None:
        raise Conflict(N_("The lot {lot} is void"), lot=lot.lot_number)
    uow.reason = uow.reason or reason
    feedback = produce_feedback(uow, lot, "quality_anomaly", reason)
    if feedback is None:
        raise Conflict(
            N_("The lot {lot} has no recorded origin; there is no base to inform"), lot=lot.lot_number
        )
    return feedback


def list_feedback(
    session: Session, *, status: str = "", base_id: int | None = None, lot_id: int | None = None
) -> list[OriginFeedback]:
    query = select(OriginFeedback).order_by(OriginFeedback.id.desc())
    if status:
        query = query.where(OriginFeedback.status == status)
    if base_id is not None:
        query = query.where(OriginFeedback.base_id == base_id)
    if lot_id is not None:
        query = query.where(OriginFeedback.lot_id == lot_id)
    return list(session.scalars(query).unique())


# --- reading: public forms and the chain ----------------------------------------------------------------------


def base_public(session: Session, base: PlantingBase) -> BasePublic:
    supplier = base.supplier
    plots = session.scalar(select(func.count()).select_from(Plot).where(Plot.base_id == base.id)) or 0
    return BasePublic(
        id=base.id, supplier_code=supplier.code, name=supplier.name, address=supplier.address,
        contact=supplier.contact, region=base.region, certificate=base.certificate,
        certificate_valid_until=base.certificate_valid_until, area_mu=base.area_mu, manager=base.manager,
        plots=plots, created_at=base.created_at, created_by=base.created_by, voided_at=base.voided_at,
    )  # fmt: skip


def plot_public(plot: Plot) -> PlotPublic:
    return PlotPublic(
        id=plot.id, code=plot.code, name=plot.name, base_code=plot.base.supplier.code,
        base_name=plot.base.supplier.name, area_mu=plot.area_mu, location=plot.location,
        coordinates=plot.coordinates, soil=plot.soil, irrigation=plot.irrigation, created_at=plot.created_at,
        created_by=plot.created_by, voided_at=plot.voided_at,
    )  # fmt: skip


def input_public(entry: CultivationInput, crop_code: str) -> InputPublic:
    return InputPublic(
        id=entry.id, crop_code=crop_code, kind=entry.kind, product=entry.product,
        active_ingredient=entry.active_ingredient, amount=entry.amount, unit=entry.unit,
        applied_on=entry.applied_on, applied_by=entry.applied_by, pre_harvest_days=entry.pre_harvest_days,
        safe_from=safe_from(entry), remarks=entry.remarks, recorded_at=entry.recorded_at,
        recorded_by=entry.recorded_by,
    )  # fmt: skip


def harvest_public(session: Session, harvest: Harvest) -> HarvestPublic:
    steps = steps_of(session, harvest.id)
    processed = steps[-1].output_quantity if steps else harvest.quantity
    shipped = shipped_quantity(session, harvest.id)
    return HarvestPublic(
        id=harvest.id, code=harvest.code, crop_code=harvest.crop.code, plot_code=harvest.crop.plot.code,
        harvested_on=harvest.harvested_on, quantity=harvest.quantity, unit=harvest.unit, method=harvest.method,
        processing=[
            ProcessingPublic(id=s.id, method=s.method, performed_on=s.performed_on,
                             output_quantity=s.output_quantity, conditions=s.conditions, created_by=s.created_by)
            for s in steps
        ],
        processed_quantity=processed, shipped_quantity=shipped, available=processed - shipped,
        created_at=harvest.created_at, created_by=harvest.created_by, voided_at=harvest.voided_at,
    )  # fmt: skip


def crop_public(session: Session, crop: Crop) -> CropPublic:
    return CropPublic(
        id=crop.id, code=crop.code, plot_code=crop.plot.code, material_code=crop.material.code,
        species=crop.species, latin_name=crop.latin_name, variety=crop.variety, seed_kind=crop.seed_kind,
        seed_source=crop.seed_source, seed_certificate=crop.seed_certificate, planted_on=crop.planted_on,
        inputs=[input_public(e, crop.code) for e in inputs_of(session, crop.id)],
        harvests=[harvest_public(session, h) for h in harvests_of(session, crop.id)],
        created_at=crop.created_at, created_by=crop.created_by, voided_at=crop.voided_at,
    )  # fmt: skip


def crops_of(session: Session, plot_id: int) -> list[Crop]:
    return list(
        session.scalars(select(Crop).where(Crop.plot_id == plot_id).order_by(Crop.planted_on.desc())).unique()
    )


def shipment_public(session: Session, shipment: Shipment) -> ShipmentPublic:
    return ShipmentPublic(
        id=shipment.id, code=shipment.code, base_code=shipment.base.supplier.code,
        base_name=shipment.base.supplier.name, material_code=shipment.material.code,
        material_name=shipment.material.name, batch_no=shipment.batch_no, quantity=shipment.quantity,
        unit=shipment.unit, received=received_quantity(session, shipment), pack_type=shipment.pack_type,
        pack_count=shipment.pack_count, packed_on=shipment.packed_on,
        storage_conditions=shipment.storage_conditions, shipped_on=shipment.shipped_on,
        destination=shipment.destination, carrier=shipment.carrier,
        transport_conditions=shipment.transport_conditions,
        sources=[
            SourcePublic(harvest_code=s.harvest.code, plot_code=s.harvest.crop.plot.code,
                         plot_id=s.harvest.crop.plot_id, crop_code=s.harvest.crop.code, quantity=s.quantity)
            for s in shipment.sources
        ],
        lots=[lot.lot_number for lot in lots_of_shipment(session, shipment.id)],
        created_at=shipment.created_at, created_by=shipment.created_by, voided_at=shipment.voided_at,
    )  # fmt: skip


def feedback_public(feedback: OriginFeedback) -> FeedbackPublic:
    return FeedbackPublic(
        id=feedback.id, lot_id=feedback.lot_id, lot_number=feedback.lot.lot_number,
        base_code=feedback.base.supplier.code, base_name=feedback.base.supplier.name,
        shipment_code=feedback.shipment.code, kind=feedback.kind, reason=feedback.reason,
        message=feedback.message, produced_at=feedback.produced_at, produced_by=feedback.produced_by,
        status=feedback.status, channel=feedback.channel, delivered_at=feedback.delivered_at,
    )  # fmt: skip


def origin_chain(session: Session, lot: Lot) -> OriginChain | None:
    """The lot's way back: base, plots, crop and seed source, inputs, harvest, processing, shipment (TJ-5.1);
    ``None`` for a lot without a recorded origin."""
    origin = origin_of(session, lot.id)
    if origin is None:
        return None
    shipment = origin.shipment
    sources = [
        ChainSource(
            quantity=s.quantity,
            harvest=harvest_public(session, s.harvest),
            crop=crop_public(session, s.harvest.crop),
            plot=plot_public(s.harvest.crop.plot),
        )
        for s in shipment.sources
    ]
    return OriginChain(
        lot_id=lot.id, lot_number=lot.lot_number, supplier_lot=lot.supplier_lot,
        base=base_public(session, shipment.base), shipment=shipment_public(session, shipment), sources=sources,
        feedback=[feedback_public(f) for f in list_feedback(session, lot_id=lot.id)],
    )  # fmt: skip


def plot_detail(session: Session, plot: Plot) -> PlotDetail:
    return PlotDetail(
        **plot_public(plot).model_dump(),
        crops=[crop_public(session, c) for c in crops_of(session, plot.id)],
        lots=[
            PlotLot(id=lot.id, lot_number=lot.lot_number, material_name=lot.material.name,
                    supplier_lot=lot.supplier_lot, status=lot.status)
            for lot in lots_of_plot(session, plot.id)
        ],
    )  # fmt: skip
