"""Correcting and voiding origin records: each change and void with its reason, old → new in the audit trail,
and the refusals that keep the chain from plot to shipment consistent (TJ-5.1, TJ-10.1.4.2.a, SH-7.1.3)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from origin_steps import KEEPER, QA_REVIEWER, QC, ago, counts, today
from pydantic import ValidationError
from sqlalchemy import func, select

from helpers import audit_entries, log_in, principal, token
from pharmatrace.kernel import ledger
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import Conflict, ReasonRequired, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.origin import service
from pharmatrace.origin.models import Crop, Harvest, PlantingBase, Plot, ProcessingStep
from pharmatrace.origin.schemas import (
    BaseUpdate,
    CropUpdate,
    HarvestCreate,
    HarvestUpdate,
    PlotUpdate,
    ProcessingCreate,
    ProcessingUpdate,
    ShipmentCreate,
    SourceIn,
)
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

CLAUSES = ("TJ-5.1", "TJ-10.1.4.2.a", "SH-7.1.3")
ORIGIN_TYPES = ("planting_base", "plot", "crop", "harvest", "processing_step", "origin_shipment",
                "origin_shipment_source", "cultivation_input")  # fmt: skip


def _id(db: Database, model: type[Crop | Plot | Harvest], code: str) -> int:
    with db.sessions() as session:
        found = session.scalar(select(model.id).where(model.code == code))
        assert found is not None, code
        return found


def _base_id(db: Database, supplier_code: str) -> int:
    with db.sessions() as session:
        return service.base_by_code(session, supplier_code).id


def _steps(db: Database, harvest_code: str) -> list[int]:
    with db.sessions() as session:
        return [s.id for s in service.steps_of(session, _id(db, Harvest, harvest_code))]


def write(db: Database, action: Any, reason: str | None = None) -> Any:
    """Run ``action(uow)`` as the QA reviewer (origin.manage) and commit."""
    with UnitOfWork(db, principal(db, QA_REVIEWER).actor, reason=reason) as uow:
        result = action(uow)
        uow.commit()
        return result


def last_entry(db: Database, object_type: str, object_id: int) -> Any:
    return audit_entries(db, object_type=object_type, object_id=str(object_id))[-1]


def state(db: Database) -> tuple[Any, ...]:
    """The row counts, the origin records' trail and the descriptive values of the demo's records."""
    with db.sessions() as session:
        values = tuple(
            tuple(
                (r.id, r.voided_at, *(getattr(r, c) for c in columns))
                for r in session.scalars(select(model).order_by(model.id)).unique()
            )
            for model, columns in (
                (PlantingBase, ("region", "manager", "area_mu")),
                (Plot, ("name", "area_mu", "soil")),
                (Crop, ("species", "planted_on", "seed_source")),
                (Harvest, ("harvested_on", "quantity", "method")),
                (ProcessingStep, ("performed_on", "output_quantity", "conditions")),
            )
        )
        trail = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.object_type.in_(ORIGIN_TYPES))
        )
    return counts(db), trail, values


@pytest.mark.clause(*CLAUSES)
def test_each_change_is_recorded_with_its_old_and_new_values_and_the_reason(db: Database) -> None:
    base_id = _base_id(db, "SUP-SL-DS")
    write(db, lambda uow: service.update_base(uow, base_id, BaseUpdate(
        manager="赵卫东", certificate_valid_until=None, reason="基地负责人变更")), reason="基地负责人变更")  # fmt: skip
    entry = last_entry(db, "planting_base", base_id)
    assert (entry.event, entry.reason) == ("update", "基地负责人变更")
    assert entry.changes == {"manager": ["刘建国", "赵卫东"], "certificate_valid_until": ["2027-06-30", None]}

    plot_id = _id(db, Plot, "DS-01")
    write(db, lambda uow: service.update_plot(uow, plot_id, PlotUpdate(
        area_mu=Decimal("86"), soil="黄棕壤，pH 6.9", irrigation=None, reason="复测面积与土壤")),
        reason="复测面积与土壤")  # fmt: skip
    entry = last_entry(db, "plot", plot_id)
    assert entry.reason == "复测面积与土壤"
    assert entry.changes == {
        "area_mu": ["85.50", "86.00"], "soil": ["黄棕壤，pH 6.8", "黄棕壤，pH 6.9"], "irrigation": ["山泉水滴灌", ""],
    }  # fmt: skip

    crop_id = _id(db, Crop, "SQ-03-2025")
    with db.sessions() as session:  # planted 330 days before the demo plant's set-up (ADR 0015)
        crop = session.get(Crop, crop_id)
        assert crop is not None
        planted = crop.planted_on
    earlier = planted - timedelta(days=5)
    write(db, lambda uow: service.update_crop(uow, crop_id, CropUpdate(
        seed_source="文山州三七种苗繁育中心（二年生种苗）", planted_on=earlier, reason="种苗来源记录有误")),
        reason="种苗来源记录有误")  # fmt: skip
    entry = last_entry(db, "crop", crop_id)
    assert entry.reason == "种苗来源记录有误"
    assert entry.changes == {
        "seed_source": ["文山州三七种苗繁育中心（一年生种苗）", "文山州三七种苗繁育中心（二年生种苗）"],
        "planted_on": [planted.isoformat(), earlier.isoformat()],
    }

    harvest_id = _id(db, Harvest, "DS-02-H2610")
    write(db, lambda uow: service.update_harvest(uow, harvest_id, HarvestUpdate(
        quantity=Decimal("2650"), method="人工采挖，抖净泥土", reason="复核称重记录")), reason="复核称重记录")  # fmt: skip
    entry = last_entry(db, "harvest", harvest_id)
    assert entry.reason == "复核称重记录"
    assert entry.changes == {
        "quantity": ["2600.000", "2650.000"],
        "method": ["人工采挖", "人工采挖，抖净泥土"],
    }

    first, last = _steps(db, "DS-02-H2610")
    write(db, lambda uow: service.update_processing(uow, last, ProcessingUpdate(
        output_quantity=Decimal("905"), conditions="55 °C 烘干，无硫熏", reason="烘干记录抄录错误")),
        reason="烘干记录抄录错误")  # fmt: skip
    entry = last_entry(db, "processing_step", last)
    assert entry.reason == "烘干记录抄录错误"
    assert entry.changes == {"output_quantity": ["900.000", "905.000"],
                             "conditions": ["50–60 °C 烘干，无硫熏", "55 °C 烘干，无硫熏"]}  # fmt: skip
    with db.sessions() as session:
        harvest = service.get_harvest(session, harvest_id)
        assert service.available(session, harvest) == Decimal("230.000")  # 905 − 75 − 600
        assert service.get_step(session, first).output_quantity == Decimal("2500.000")
    assert ledger.verify(db).intact


@pytest.mark.clause(*CLAUSES)
def test_refused_changes_and_voids_change_nothing(db: Database) -> None:
    harvest_id = _id(db, Harvest, "DS-02-H2610")  # 2600 kg; sorted 2500, dried 900; 75 + 600 kg shipped
    first, last = _steps(db, "DS-02-H2610")
    plot_id, crop_id = _id(db, Plot, "DS-02"), _id(db, Crop, "DS-02-2025")
    base_id = _base_id(db, "SUP-SL-DS")
    before = state(db)
    with pytest.raises(ValidationError, match="reason"):
        PlotUpdate.model_validate({"name": "新名称"})
    with pytest.raises(ReasonRequired):
        write(db, lambda uow: service.update_plot(uow, plot_id, PlotUpdate(name="新名称", reason="地块更名")))
    with pytest.raises(ReasonRequired):
        write(db, lambda uow: service.void_crop(uow, _id(db, Crop, "SQ-03-2025")))
    refusals: list[tuple[type[Exception], str, Any]] = [
        (service.RecordInUse, "The harvest DS-02-H2610 is drawn by the shipment SL-FY-2610-01; it cannot be voided",
         lambda uow: service.void_harvest(uow, harvest_id)),
        (service.RecordInUse, "675 kg of the harvest DS-02-H2610 are shipped already; it cannot be 600 kg",
         lambda uow: service.update_harvest(uow, harvest_id, HarvestUpdate(quantity=Decimal("600"), reason="称重"))),
        (service.RecordInUse, "its first processing step yielded 2500 kg",
         lambda uow: service.update_harvest(uow, harvest_id, HarvestUpdate(quantity=Decimal("2400"), reason="称重"))),
        (ValidationFailed, "it was processed on",
         lambda uow: service.update_harvest(uow, harvest_id, HarvestUpdate(harvested_on=ago(1), reason="日期"))),
        (service.RecordInUse, "The plot DS-02 has the harvest DS-02-H2610 that is not void",
         lambda uow: service.void_plot(uow, plot_id)),
        (service.RecordInUse, "The crop DS-02-2025 has the harvest DS-02-H2610 that is not void",
         lambda uow: service.void_crop(uow, crop_id)),
        (service.RecordInUse, "“SUP-SL-DS” has the plot DS-01 that is not void",
         lambda uow: service.void_base(uow, base_id)),
        (service.RecordInUse, "is followed by the step on", lambda uow: service.void_processing(uow, first)),
        (service.RecordInUse, "The next step of the harvest DS-02-H2610 yielded 900 kg",
         lambda uow: service.update_processing(uow, first, ProcessingUpdate(output_quantity=Decimal("800"),
                                                                            reason="称重"))),
        (service.RecordInUse, "675 kg of the harvest DS-02-H2610 are shipped already; this step cannot leave",
         lambda uow: service.update_processing(uow, last, ProcessingUpdate(output_quantity=Decimal("600"),
                                                                           reason="称重"))),
        (Conflict, "Processing cannot yield 2600 kg",
         lambda uow: service.update_processing(uow, last, ProcessingUpdate(output_quantity=Decimal("2600"),
                                                                           reason="称重"))),
        (ValidationFailed, "was applied to it on",
         lambda uow: service.update_crop(uow, crop_id, CropUpdate(planted_on=ago(30), reason="日期"))),
        (ValidationFailed, "This field cannot be cleared: name",
         lambda uow: service.update_plot(uow, plot_id, PlotUpdate(name=None, reason="清空"))),
        (ValidationFailed, "Nothing to change",
         lambda uow: service.update_plot(uow, plot_id, PlotUpdate(name="商州区杨峪河镇 二号地块", reason="无变化"))),
    ]  # fmt: skip
    for error, message, action in refusals:
        with pytest.raises(error, match=re.escape(message)):
            write(db, action, reason="更正")
    assert state(db) == before


@pytest.mark.clause(*CLAUSES)
def test_a_season_entered_in_error_is_voided_from_the_shipment_back_to_the_plot(db: Database) -> None:
    crop_id, plot_id = _id(db, Crop, "SQ-03-2025"), _id(db, Plot, "SQ-03")
    harvest = write(db, lambda uow: service.record_harvest(uow, crop_id, HarvestCreate(
        code="SQ-03-H-ERR", harvested_on=ago(5), quantity=Decimal("300"))))  # fmt: skip
    for method, output in (("washing", "290"), ("sun_drying", "100")):
        write(db, lambda uow, m=method, o=output: service.record_processing(uow, harvest.id, ProcessingCreate(
            method=m, performed_on=ago(3), output_quantity=Decimal(o))))  # fmt: skip
    write(db, lambda uow: service.create_shipment(uow, ShipmentCreate(
        code="WS-FY-ERR", base_code="SUP-WS-SQ", material_code="HB-SQ-001", batch_no="SQ-ERR",
        sources=[SourceIn(harvest_code="SQ-03-H-ERR", quantity=Decimal("60"))], pack_type="麻袋 20 kg",
        pack_count=3, packed_on=ago(1), shipped_on=today(), destination="天津")))  # fmt: skip
    before = state(db)
    with pytest.raises(service.RecordInUse, match="drawn by the shipment WS-FY-ERR"):
        write(db, lambda uow: service.void_harvest(uow, harvest.id), reason="录入错误")
    with pytest.raises(service.RecordInUse, match="this step cannot leave less"):
        write(db, lambda uow: service.update_processing(uow, _steps(db, "SQ-03-H-ERR")[1], ProcessingUpdate(
            output_quantity=Decimal("59"), reason="更正")), reason="更正")  # fmt: skip
    with pytest.raises(service.RecordInUse, match="The plot SQ-03 has the harvest SQ-03-H-ERR"):
        write(db, lambda uow: service.void_plot(uow, plot_id), reason="录入错误")
    assert state(db) == before
    # undone in order, each with its reason: shipment, the later step, the earlier one, harvest, crop, plot
    shipment_id = _shipment(db, "WS-FY-ERR")
    write(db, lambda uow: service.void_shipment(uow, shipment_id), reason="发运录入错误")
    washed, dried = _steps(db, "SQ-03-H-ERR")
    write(db, lambda uow: service.void_processing(uow, dried), reason="干燥记录录入错误")
    write(db, lambda uow: service.void_processing(uow, washed), reason="清洗记录录入错误")
    write(db, lambda uow: service.void_harvest(uow, harvest.id), reason="采收记录录入错误")
    write(db, lambda uow: service.void_crop(uow, crop_id), reason="种植记录录入错误")
    write(db, lambda uow: service.void_plot(uow, plot_id), reason="地块录入错误")
    for kind, object_id, reason in (
        ("processing_step", dried, "干燥记录录入错误"), ("processing_step", washed, "清洗记录录入错误"),
        ("harvest", harvest.id, "采收记录录入错误"), ("crop", crop_id, "种植记录录入错误"), ("plot", plot_id, "地块录入错误"),
    ):  # fmt: skip
        entry = last_entry(db, kind, object_id)
        assert (entry.event, entry.reason, entry.changes["voided_at"][0]) == ("void", reason, None)
    with db.sessions() as session:
        assert service.get_plot(session, plot_id).voided_at is not None  # kept, never deleted
        assert service.steps_of(session, harvest.id) == []
    with pytest.raises(Conflict, match="The plot SQ-03 is void"):
        write(
            db, lambda uow: service.update_plot(uow, plot_id, PlotUpdate(name="x地块", reason="更正")), "更正"
        )
    with pytest.raises(service.RecordInUse, match="has the plot SQ-01 that is not void"):
        write(db, lambda uow: service.void_base(uow, _base_id(db, "SUP-WS-SQ")), reason="录入错误")
    assert ledger.verify(db).intact


def _shipment(db: Database, code: str) -> int:
    with db.sessions() as session:
        return service.shipment_by_code(session, code).id


@pytest.mark.clause(*CLAUSES)
def test_the_api_changes_and_voids_with_a_reason_and_refuses_what_breaks_the_chain(db: Database) -> None:
    plot_id, crop_id = _id(db, Plot, "SQ-03"), _id(db, Crop, "SQ-03-2025")
    harvest_id = _id(db, Harvest, "DS-02-H2610")
    with TestClient(create_app(db)) as client:
        manager, qc = token(client, QA_REVIEWER), token(client, QC)
        before = state(db)
        assert client.patch(f"/api/v1/origin/plots/{plot_id}", headers=manager,
                            json={"soil": "红壤"}).status_code == 422  # no reason  # fmt: skip
        assert client.patch(f"/api/v1/origin/plots/{plot_id}", headers=qc,
                            json={"soil": "红壤", "reason": "复测"}).status_code == 403  # fmt: skip
        drawn = client.post(
            f"/api/v1/origin/harvests/{harvest_id}/void", headers=manager, json={"reason": "录入错误"}
        )
        assert drawn.status_code == 409 and drawn.json()["error"]["code"] == "origin_record_in_use"
        lowered = client.patch(f"/api/v1/origin/harvests/{harvest_id}", headers=manager,
                               json={"quantity": "100", "reason": "称重"})  # fmt: skip
        assert lowered.status_code == 409 and "已发运 675 kg" in lowered.json()["error"]["message"]
        busy = client.post(
            f"/api/v1/origin/plots/{plot_id}/void", headers=manager, json={"reason": "录入错误"}
        )
        assert busy.status_code == 409
        assert state(db) == before
        changed = client.patch(f"/api/v1/origin/plots/{plot_id}", headers=manager,
                               json={"soil": "红壤，pH 6.1", "reason": "复测土壤"})  # fmt: skip
        assert changed.status_code == 200 and changed.json()["soil"] == "红壤，pH 6.1"
        assert last_entry(db, "plot", plot_id).changes == {"soil": ["红壤，pH 6.0", "红壤，pH 6.1"]}
        step = _steps(db, "DS-02-H2610")[1]
        dried = client.patch(f"/api/v1/origin/processing/{step}", headers=manager,
                             json={"conditions": "55 °C", "reason": "抄录错误"})  # fmt: skip
        assert dried.status_code == 200 and dried.json()["conditions"] == "55 °C"
        voided = client.post(
            f"/api/v1/origin/crops/{crop_id}/void", headers=manager, json={"reason": "录入错误"}
        )
        assert voided.status_code == 200 and voided.json()["voided_at"] is not None
        plot = client.post(
            f"/api/v1/origin/plots/{plot_id}/void", headers=manager, json={"reason": "录入错误"}
        )
        assert plot.status_code == 200 and plot.json()["voided_at"] is not None
        base = client.patch(f"/api/v1/origin/bases/{_base_id(db, 'SUP-WS-SQ')}", headers=manager,
                            json={"area_mu": "900", "reason": "复测面积"})  # fmt: skip
        assert base.status_code == 200 and base.json()["area_mu"] == "900.00"
        assert last_entry(db, "plot", plot_id).reason == "录入错误"


@pytest.mark.clause(*CLAUSES)
def test_the_pages_change_and_void_with_a_reason_and_show_refusals(db: Database) -> None:
    plot_id, crop_id = _id(db, Plot, "SQ-03"), _id(db, Crop, "SQ-03-2025")
    harvest_id = _id(db, Harvest, "DS-02-H2610")
    base_id = _base_id(db, "SUP-WS-SQ")
    with TestClient(create_app(db)) as client:
        log_in(client, QA_REVIEWER)
        page = client.get(f"/origin/plots/{plot_id}").text
        for form in ('data-testid="plot-edit-form"', 'data-testid="plot-void-form"',
                     'data-testid="crop-edit-SQ-03-2025"', 'data-testid="crop-void-SQ-03-2025"'):  # fmt: skip
            assert form in page, form
        edit = {"name": "文山市古木镇 荫棚三区", "area_mu": "28.00", "location": "云南省文山州文山市古木镇",
                "coordinates": "23.40N 104.10E", "soil": "红壤，pH 6.0", "irrigation": "喷灌、滴灌"}  # fmt: skip
        before = state(db)
        missing = client.post(f"/origin/plots/{plot_id}/edit", data={**edit, "reason": ""})
        assert missing.status_code == 422 and 'data-testid="field-error-reason"' in missing.text
        busy = client.post(f"/origin/plots/{plot_id}/void", data={"reason": "录入错误"})
        assert busy.status_code == 409 and 'data-testid="error"' in busy.text and "SQ-03-2025" in busy.text
        ds02 = _id(db, Plot, "DS-02")
        drawn = client.post(f"/origin/plots/{ds02}/harvests/{harvest_id}/void", data={"reason": "录入错误"})
        assert drawn.status_code == 409 and "SL-FY-2610-01" in drawn.text
        foreign = client.post(
            f"/origin/plots/{plot_id}/harvests/{harvest_id}/void", data={"reason": "录入错误"}
        )
        assert foreign.status_code == 404  # a harvest of another plot is not written through this page
        assert state(db) == before
        saved = client.post(f"/origin/plots/{plot_id}/edit", data={**edit, "reason": "增加滴灌"},
                            follow_redirects=False)  # fmt: skip
        assert saved.status_code == 303, saved.text
        shown = client.get(saved.headers["location"]).text
        assert "增加滴灌" in shown and "喷灌、滴灌" in shown  # the trail: reason, old → new
        assert client.post(f"/origin/plots/{plot_id}/crops/{crop_id}/void", data={"reason": "种植记录录入错误"},
                           follow_redirects=False).status_code == 303  # fmt: skip
        assert client.post(f"/origin/plots/{plot_id}/void", data={"reason": "地块录入错误"},
                           follow_redirects=False).status_code == 303  # fmt: skip
        voided = client.get(f"/origin/plots/{plot_id}").text
        assert "地块录入错误" in voided and 'data-testid="plot-edit-form"' not in voided
        base_page = client.get(f"/origin/bases/{base_id}").text
        assert 'data-testid="base-edit-form"' in base_page
        base = client.post(f"/origin/bases/{base_id}/edit", follow_redirects=False, data={
            "region": "云南文山（三七道地产区）", "certificate": "中药材GAP符合性检查 滇GAP-2023-042",
            "certificate_valid_until": "2029-03-31", "area_mu": "860.00", "manager": "王春华", "reason": "证书换发"})  # fmt: skip
        assert base.status_code == 303, base.text
        assert last_entry(db, "planting_base", base_id).changes == {
            "certificate_valid_until": ["2028-03-31", "2029-03-31"]
        }
        before = state(db)
        log_in(client, QC)  # QC sees the origin but corrects nothing at the base
        assert 'data-testid="base-edit-form"' not in client.get(f"/origin/bases/{base_id}").text
        assert client.post(f"/origin/bases/{base_id}/void", data={"reason": "录入错误"}).status_code == 403
        log_in(client, KEEPER)
        refused = client.post(f"/origin/bases/{base_id}/void", data={"reason": "录入错误"})
        assert refused.status_code == 409 and "SQ-01" in refused.text
        assert state(db) == before
