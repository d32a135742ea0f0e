"""Herbal-material origin: the chain from a herb lot back to its plot, and the rules that keep it true (TJ-5.1)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from origin_steps import QA_REVIEWER, ago, counts, lot_id_of, today
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import audit_entries, behind_the_apps_back, principal
from pharmatrace.kernel import ledger
from pharmatrace.kernel.errors import Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.origin import service
from pharmatrace.origin.models import Crop, Harvest, Plot
from pharmatrace.origin.schemas import (
    BaseCreate,
    CropCreate,
    HarvestCreate,
    InputCreate,
    PlotCreate,
    ProcessingCreate,
    ShipmentCreate,
    SourceIn,
)
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Lot


def _id(db: Database, model: type[Crop | Plot | Harvest], code: str) -> int:
    with db.sessions() as session:
        found = session.scalar(select(model.id).where(model.code == code))
        assert found is not None, code
        return found


def write(db: Database, action: object, reason: str | None = None) -> object:
    """Run ``action(uow)`` as the QA reviewer (origin.manage) and commit."""
    with UnitOfWork(db, principal(db, QA_REVIEWER).actor, reason=reason) as uow:
        result = action(uow)  # type: ignore[operator]
        uow.commit()
        return result


def pesticide(days_ago: int, interval: int) -> InputCreate:
    return InputCreate(kind="pesticide", product="多抗霉素可湿性粉剂", active_ingredient="10% 多抗霉素",
                       amount=Decimal("0.15"), unit="kg/亩", applied_on=ago(days_ago), applied_by="罗明",
                       pre_harvest_days=interval)  # fmt: skip


@pytest.mark.clause("TJ-5.1")
def test_a_demo_herb_lot_traces_back_to_its_base_plot_seed_inputs_harvest_processing_and_shipment(
    db: Database,
) -> None:
    with db.sessions() as session:
        lot = session.get(Lot, lot_id_of(db, "DS20260915"))
        assert lot is not None
        chain = service.origin_chain(session, lot)
        assert chain is not None
        assert (chain.base.supplier_code, chain.base.name) == ("SUP-SL-DS", "商洛丹参规范化种植基地")
        assert chain.shipment.code == "SL-FY-2609-01" and chain.shipment.received == Decimal("100.000")
        (source,) = chain.sources
        assert (source.plot.code, source.crop.species, source.crop.latin_name) == (
            "DS-01", "丹参", "Salvia miltiorrhiza Bge.",
        )  # fmt: skip
        assert source.crop.seed_source.startswith("商洛市丹参良种繁育场")
        assert {i.kind for i in source.crop.inputs} == {"fertilizer", "pesticide"}
        sprayed = next(i for i in source.crop.inputs if i.kind == "pesticide")
        assert sprayed.safe_from is not None and sprayed.safe_from <= source.harvest.harvested_on
        assert source.harvest.code == "DS-01-H2609"
        assert [p.method for p in source.harvest.processing] == ["sorting", "sun_drying", "oven_drying"]
        assert source.harvest.processed_quantity == source.harvest.processing[-1].output_quantity
        # the other direction: the plot lists the lot that came from it, and the 三七 lot has two plots
        plot_lots = service.lots_of_plot(session, source.plot.id)
        assert [x.lot_number for x in plot_lots] == [lot.lot_number]
        sanqi = session.get(Lot, lot_id_of(db, "SQ20261025"))
        assert sanqi is not None
        sanqi_chain = service.origin_chain(session, sanqi)
        assert sanqi_chain is not None
        assert sorted(s.plot.code for s in sanqi_chain.sources) == ["SQ-01", "SQ-02"]
        assert sum(s.quantity for s in sanqi_chain.sources) == sanqi_chain.shipment.quantity
        vials = session.scalar(select(Lot).where(Lot.supplier_lot == "GL261002"))
        assert vials is not None and service.origin_chain(session, vials) is None  # not a herb
    assert ledger.verify(db).intact  # the Decimal quantities are stored as the ledger committed to them


@pytest.mark.clause("TJ-5.1")
def test_a_harvest_inside_a_pesticides_pre_harvest_interval_is_refused_and_changes_nothing(
    db: Database,
) -> None:
    crop_id = _id(db, Crop, "SQ-03-2025")
    write(db, lambda uow: service.record_input(uow, crop_id, pesticide(20, 14)))
    before = counts(db)
    with pytest.raises(service.PreHarvestIntervalBroken) as refused:
        write(db, lambda uow: service.record_harvest(uow, crop_id, HarvestCreate(
            code="SQ-03-H-EARLY", harvested_on=ago(10), quantity=Decimal("500"))))  # fmt: skip
    assert str(refused.value) == (
        f"多抗霉素可湿性粉剂 was applied on {ago(20).isoformat()} with a pre-harvest interval of 14 days: "
        f"no harvest before {ago(6).isoformat()}"
    )
    assert counts(db) == before
    harvest = write(db, lambda uow: service.record_harvest(uow, crop_id, HarvestCreate(
        code="SQ-03-H-OK", harvested_on=ago(6), quantity=Decimal("500"))))  # fmt: skip
    assert isinstance(harvest, Harvest) and harvest.unit == "kg"


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-5.1")
def test_inputs_are_checked_and_cannot_be_changed_even_with_raw_sql(db: Database) -> None:
    crop_id = _id(db, Crop, "SQ-03-2025")
    with pytest.raises(ValidationError, match="pre-harvest interval"):
        InputCreate(
            kind="pesticide", product="X", amount=Decimal(1), unit="kg", applied_on=ago(1), applied_by="罗明"
        )
    with pytest.raises(ValidationError, match="Only a pesticide"):
        InputCreate(kind="fertilizer", product="X", amount=Decimal(1), unit="kg", applied_on=ago(1),
                    applied_by="罗明", pre_harvest_days=3)  # fmt: skip
    before = counts(db)
    with pytest.raises(ValidationFailed, match="before the crop was planted"):
        write(db, lambda uow: service.record_input(uow, crop_id, pesticide(400, 7)))
    with pytest.raises(ValidationFailed, match="in the future"):
        write(db, lambda uow: service.record_input(uow, crop_id, pesticide(-1, 7)))
    assert counts(db) == before
    for statement in ("UPDATE cultivation_inputs SET amount = 0.01", "DELETE FROM cultivation_inputs"):
        with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
            conn.execute(text(statement))
    assert counts(db) == before


@pytest.mark.clause("TJ-5.1")
def test_processing_and_shipments_cannot_yield_or_ship_more_than_was_harvested(db: Database) -> None:
    harvest_id = _id(db, Harvest, "DS-02-H2610")  # 900 kg dried; 75 + 600 kg shipped
    before = counts(db)
    with pytest.raises(Conflict, match=r"Processing cannot yield 901 kg: the harvest DS-02-H2610 is 900 kg"):
        write(db, lambda uow: service.record_processing(uow, harvest_id, ProcessingCreate(
            method="sorting", performed_on=ago(1), output_quantity=Decimal("901"))))  # fmt: skip
    with pytest.raises(Conflict, match=r"675 kg of the harvest DS-02-H2610 are shipped already"):
        write(db, lambda uow: service.record_processing(uow, harvest_id, ProcessingCreate(
            method="sorting", performed_on=ago(1), output_quantity=Decimal("600"))))  # fmt: skip
    with pytest.raises(ValidationFailed, match="comes before the harvest or the previous step"):
        write(db, lambda uow: service.record_processing(uow, harvest_id, ProcessingCreate(
            method="sorting", performed_on=ago(40), output_quantity=Decimal("800"))))  # fmt: skip

    def shipment(**changes: object) -> ShipmentCreate:
        values: dict[str, object] = {
            "code": "SL-FY-TEST", "base_code": "SUP-SL-DS", "material_code": "HB-DS-001", "batch_no": "DS-T",
            "sources": [SourceIn(harvest_code="DS-02-H2610", quantity=Decimal("225"))],
            "pack_type": "编织袋 25 kg", "pack_count": 9, "packed_on": ago(1), "shipped_on": today(),
            "destination": "天津",
        }  # fmt: skip
        values.update(changes)
        return ShipmentCreate.model_validate(values)

    with pytest.raises(Conflict, match=r"Only 225 kg of the harvest DS-02-H2610 are left to ship, not 226"):
        write(db, lambda uow: service.create_shipment(uow, shipment(
            sources=[SourceIn(harvest_code="DS-02-H2610", quantity=Decimal("226"))])))  # fmt: skip
    with pytest.raises(Conflict, match=r"The harvest SQ-01-H2610 is from another base \(SUP-WS-SQ\)"):
        write(db, lambda uow: service.create_shipment(uow, shipment(
            sources=[SourceIn(harvest_code="SQ-01-H2610", quantity=Decimal("1"))])))  # fmt: skip
    with pytest.raises(Conflict, match="The harvest DS-02-H2610 is HB-DS-001, not HB-SQ-001"):
        write(db, lambda uow: service.create_shipment(uow, shipment(material_code="HB-SQ-001")))
    with pytest.raises(NotFound, match="No harvest with code “NOPE-1”"):
        write(db, lambda uow: service.create_shipment(uow, shipment(
            sources=[SourceIn(harvest_code="NOPE-1", quantity=Decimal("1"))])))  # fmt: skip
    with pytest.raises(Conflict, match="already taken"):
        write(db, lambda uow: service.create_shipment(uow, shipment(code="SL-FY-2609-01")))
    with pytest.raises(ValidationError, match="packed after they were shipped"):
        shipment(packed_on=today(), shipped_on=ago(1))
    assert counts(db) == before
    made = write(db, lambda uow: service.create_shipment(uow, shipment()))  # exactly what is left
    with db.sessions() as session:
        harvest = session.get(Harvest, harvest_id)
        assert harvest is not None and service.available(session, harvest) == Decimal("0.000")
        assert service.shipment_by_code(session, "SL-FY-TEST").quantity == Decimal("225.000")
    # voiding the shipment gives its quantity back to the harvest
    assert made is not None
    write(db, lambda uow: service.void_shipment(uow, service.shipment_by_code(uow.session, "SL-FY-TEST").id),
          reason="录入错误，发运取消")  # fmt: skip
    with db.sessions() as session:
        harvest = session.get(Harvest, harvest_id)
        assert harvest is not None and service.available(session, harvest) == Decimal("225.000")
    (voided,) = [e for e in audit_entries(db, object_type="origin_shipment") if e.event == "void"]
    assert voided.reason == "录入错误，发运取消"


@pytest.mark.clause("TJ-5.1")
def test_bases_plots_and_crops_are_refused_where_they_do_not_fit(db: Database) -> None:
    before = counts(db)
    with pytest.raises(Conflict, match="“SUP-TL-MAN” is not a planting base"):
        write(db, lambda uow: service.create_base(uow, BaseCreate(supplier_code="SUP-TL-MAN", region="山东")))
    with pytest.raises(Conflict, match="“SUP-SL-DS” is already recorded"):
        write(db, lambda uow: service.create_base(uow, BaseCreate(supplier_code="SUP-SL-DS", region="陕西")))
    with pytest.raises(NotFound, match="No planting base with code “SUP-TL-MAN”"):
        write(db, lambda uow: service.create_plot(uow, PlotCreate(
            base_code="SUP-TL-MAN", code="XX-01", name="地块", area_mu=Decimal(1))))  # fmt: skip
    with pytest.raises(Conflict, match="The code “DS-01” is already taken"):
        write(db, lambda uow: service.create_plot(uow, PlotCreate(
            base_code="SUP-SL-DS", code="DS-01", name="地块", area_mu=Decimal(1))))  # fmt: skip
    crop = CropCreate(code="DS-01-2027", material_code="EXC-MAN-01", species="丹参", latin_name="Salvia",
                      seed_kind="seed", seed_source="良种场", planted_on=ago(1))  # fmt: skip
    plot_id = _id(db, Plot, "DS-01")
    with pytest.raises(Conflict, match="EXC-MAN-01 is not a herbal material"):
        write(db, lambda uow: service.create_crop(uow, plot_id, crop))
    assert counts(db) == before
    # the red-flower base becomes a base with a plot: the supplier row carries it
    base = write(db, lambda uow: service.create_base(uow, BaseCreate(
        supplier_code="SUP-YM-HH", region="新疆裕民", area_mu=Decimal("300.5"))))  # fmt: skip
    with db.sessions() as session:
        assert (
            service.base_by_code(session, "sup-ym-hh").area_mu == Decimal("300.50")
            and str(service.base_by_code(session, "SUP-YM-HH").area_mu) == "300.50"
        )
    assert base is not None
    assert ledger.verify(db).intact
