"""Sampling a lot (TJ-7.5.1, TJ-B.2.4.1.1): the plan's count, the recorded random draw, the lot under test, the
quantities taken from stock — and every refusal, which leaves the plant as it was."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from lims_sampling_steps import (
    MANNITOL,
    OPERATOR,
    QC,
    QC_REVIEWER,
    QUARANTINED,
    REJECTED,
    counts,
    lot,
    lot_status,
    sample_lot,
    samples_of,
    stock_left,
)
from sqlalchemy import select

from helpers import audit_entries, principal, token
from pharmatrace.kernel.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import samples
from pharmatrace.lims.sample_models import SamplingPlan
from pharmatrace.lims.sample_schemas import PlanCreate, PlanUpdate, SamplingCreate
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app
from pharmatrace.wms import lots
from pharmatrace.wms.stock import StockRefused
from pharmatrace.wms.stock_models import StockMovement

D = Decimal


@pytest.mark.clause("TJ-7.5.1", "TJ-B.2.4.1.1", "TJ-6.3.1")
def test_sampling_a_quarantined_herb_lot_draws_every_container_and_puts_the_lot_under_test(
    db: Database,
) -> None:
    before = stock_left(db, QUARANTINED)
    record = sample_lot(db, QUARANTINED, conditions="18 °C", tool="", remarks="first sampling")
    herb = lot(db, QUARANTINED)
    assert lot_status(db, QUARANTINED) == "under_test"  # through the lot's own event, not an edited status
    assert (record.lot_status_before, record.lot_status_after) == ("quarantine", "under_test")
    assert (record.plan_code, record.rule, record.containers_total, record.sample_count) == ("SP-HERB",
                                                                                             "herb_chp0211", 3, 3)  # fmt: skip
    assert json.loads(record.population) == [c.code for c in herb.containers]
    assert sorted(c.container_code for c in record.containers) == [c.code for c in herb.containers]
    assert (record.sampled_by, record.sampled_by_name, record.place) == (QC, "王芳", "取样间（WH-RM-SMP）")
    assert record.tool == "不锈钢扦样器，洁净干燥"  # the plan's, as none was given
    made = samples_of(db, record.id)
    with db.sessions() as session:
        test, retained = (samples.sample_by_code(session, made[k]) for k in ("test", "retained"))
        assert (test.quantity, retained.quantity, test.unit) == (D("0.6"), D("0.6"), "kg")  # 0.2 kg × 3 each
        assert samples.state_of(test) == samples.state_of(retained) == "sampled"
        assert test.storage_condition == herb.material.storage_condition
        moves = list(session.scalars(select(StockMovement).where(StockMovement.reference.in_(made.values()))))
    assert (
        sorted((m.kind, m.quantity) for m in moves) == [("retain", D("0.2"))] * 3 + [("sample", D("0.2"))] * 3
    )
    assert stock_left(db, QUARANTINED) == {code: left - D("0.4") for code, left in before.items()}
    assert [
        e.event for e in audit_entries(db, object_type="lims_sampling_record", object_id=str(record.id))
    ] == ["create"]


@pytest.mark.clause("TJ-7.5.1")
def test_the_containers_are_a_random_draw_anyone_repeats_from_the_recorded_seed(db: Database) -> None:
    record = sample_lot(db, MANNITOL)  # √5 + 1 → 4 of the 5 drums
    population = [c.code for c in lot(db, MANNITOL).containers]
    drawn = [c.container_code for c in record.containers]
    assert (record.rule, record.containers_total, record.sample_count) == ("sqrt_n_plus_1", 5, 4)
    assert drawn == random.Random(record.seed).sample(population, 4)  # the order drawn, from the seed alone
    assert [c.draw_order for c in record.containers] == [1, 2, 3, 4]
    with db.sessions() as session:
        public = samples.record_public(session, samples.get_record(session, record.id))
    assert public.reproduced and public.selected == drawn and public.seed == str(record.seed)
    assert lot_status(db, MANNITOL) == "under_test"  # already under test: no status event


@pytest.mark.clause("TJ-7.5.1", "TJ-B.2.4.1.1")
def test_a_rejected_lot_is_not_sampled_and_nothing_changes(db: Database) -> None:
    before = counts(db)
    with pytest.raises(Conflict, match="is rejected: it cannot be sampled"):
        sample_lot(db, REJECTED)
    assert counts(db) == before and lot_status(db, REJECTED) == "rejected"


@pytest.mark.clause("TJ-7.5.1")
def test_a_lot_past_its_expiry_date_is_not_sampled(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    expiry = lot(db, QUARANTINED).expiry_date
    assert expiry is not None
    monkeypatch.setattr(lots, "today", lambda: expiry + timedelta(days=1))
    before = counts(db)
    with pytest.raises(Conflict, match=f"expired on {expiry.isoformat()}"):
        sample_lot(db, QUARANTINED)
    assert counts(db) == before and lot_status(db, QUARANTINED) == "quarantine"


@pytest.mark.clause("TJ-7.5.1", "TJ-10.1.2.1")
@pytest.mark.parametrize("login", [QC_REVIEWER, OPERATOR])
def test_only_who_holds_the_sampling_permission_samples(db: Database, login: str) -> None:
    before = counts(db)
    with pytest.raises(NotPermitted, match=r"lims\.sample\.manage"):
        sample_lot(db, QUARANTINED, login=login)
    assert counts(db) == before and lot_status(db, QUARANTINED) == "quarantine"


@pytest.mark.clause("TJ-7.5.1", "TJ-6.3.1")
def test_taking_more_than_a_container_holds_refuses_the_whole_sampling(db: Database) -> None:
    before, stock = counts(db), stock_left(db, QUARANTINED)
    with pytest.raises(StockRefused, match="holds 25 kg; 30 cannot be taken"):
        sample_lot(db, QUARANTINED, quantity_per_container="30")
    assert counts(db) == before and stock_left(db, QUARANTINED) == stock
    assert lot_status(db, QUARANTINED) == "quarantine"  # the status event went back with the rest


@pytest.mark.clause("TJ-7.5.1")
def test_a_material_without_a_plan_waits_for_one(db: Database) -> None:
    qc = principal(db, QC)
    with UnitOfWork(db, qc.actor) as uow:
        samples.void_plan(uow, qc, samples.plan_by_code(uow.session, "SP-EXC").id, "plan under revision")
        uow.commit()
    before = counts(db)
    with pytest.raises(Conflict, match="No sampling plan covers EXC-MAN-01"):
        sample_lot(db, MANNITOL)
    with pytest.raises(Conflict, match="SP-HERB is not for EXC-MAN-01"):
        sample_lot(db, MANNITOL, plan_code="SP-HERB")
    with pytest.raises(NotFound, match="No lot found"):
        sample_lot(db, MANNITOL, lot="NO-SUCH-LOT")
    assert counts(db) == before


@pytest.mark.clause("TJ-7.5.1")
def test_the_purpose_needs_the_quantity_it_samples_for(db: Database) -> None:
    before = counts(db)
    with pytest.raises(ValidationFailed, match="for retention takes a quantity for the retained sample"):
        sample_lot(db, QUARANTINED, purpose="retained", retained_per_container="0")
    with pytest.raises(ValidationFailed, match="for testing takes a quantity for the test sample"):
        sample_lot(db, QUARANTINED, purpose="release_test", quantity_per_container="0")
    assert counts(db) == before
    record = sample_lot(db, QUARANTINED, purpose="stability", retained_per_container="0")
    assert set(samples_of(db, record.id)) == {"stability"}


@pytest.mark.clause("TJ-7.5.1", "TJ-5.2.1.1")
def test_a_lot_whose_receipt_is_still_open_is_not_sampled(db: Database) -> None:
    from pharmatrace.wms import receipts
    from pharmatrace.wms.schemas import ReceiptCreate, ScanIn

    keeper = principal(db, "zhouqiang")
    with UnitOfWork(db, keeper.actor) as uow:
        receipt = receipts.create_receipt(uow, ReceiptCreate(
            supplier_code="SUP-TL-MAN", material_code="EXC-MAN-01", delivery_note="LN-DN-9", supplier_lot="MN2611-001",
            manufacture_date=lots.today() - timedelta(days=10), expected_containers=2, quantity_per_container=D("25"),
        ))  # fmt: skip
        receipts.scan(uow, receipt.id, ScanIn(scan="甘露醇 MN2611-001 第1件"))
        number = receipt.lot.lot_number
        uow.commit()
    before = counts(db)
    with pytest.raises(Conflict, match="is not complete yet"):
        sample_lot(db, MANNITOL, lot=number)
    assert counts(db) == before


@pytest.mark.clause("TJ-7.5.1")
def test_plans_one_live_per_material_or_kind_changed_with_a_reason_and_records_keep_what_they_used(
    db: Database,
) -> None:
    qc = principal(db, QC)
    with UnitOfWork(db, qc.actor) as uow:
        plan = samples.create_plan(uow, qc, PlanCreate(code="SP-MAN", name="甘露醇 fixed", material_code="EXC-MAN-01",
                                                       rule="fixed", fixed_count=2, quantity_per_container=D("0.1")))  # fmt: skip
        uow.commit()
        plan_id = plan.id
    with (
        UnitOfWork(db, qc.actor) as uow,
        pytest.raises(Conflict, match="has the sampling plan SP-MAN already"),
    ):
        samples.create_plan(uow, qc, PlanCreate(code="SP-MAN2", name="again", material_code="EXC-MAN-01",
                                                rule="all", quantity_per_container=D("0.1")))  # fmt: skip
    with UnitOfWork(db, qc.actor) as uow, pytest.raises(Conflict, match="code SP-EXC is taken"):
        samples.create_plan(uow, qc, PlanCreate(code="SP-EXC", name="again", material_kind="extract", rule="all",
                                                quantity_per_container=D("0.1")))  # fmt: skip
    record = sample_lot(db, MANNITOL)  # the material's own plan wins over the kind's
    assert (record.plan_code, record.rule, record.fixed_count, record.sample_count) == (
        "SP-MAN",
        "fixed",
        2,
        2,
    )
    change = PlanUpdate(
        name="甘露醇 all", rule="all", quantity_per_container=D("0.2"), reason="QC SOP revision 3"
    )
    with UnitOfWork(db, qc.actor) as uow:
        samples.update_plan(uow, qc, plan_id, change)
        uow.commit()
    entry = audit_entries(db, object_type="lims_sampling_plan", object_id=str(plan_id))[-1]
    assert entry.reason == "QC SOP revision 3" and entry.changes["rule"] == ["fixed", "all"]
    with db.sessions() as session:
        kept = samples.get_record(session, record.id)
        assert (kept.rule, kept.fixed_count, kept.quantity_per_container) == ("fixed", 2, D("0.1"))
    with UnitOfWork(db, qc.actor) as uow, pytest.raises(ValidationFailed, match="Nothing to change"):
        samples.update_plan(uow, qc, plan_id, change)


@pytest.mark.clause("TJ-7.5.1", "SH-7.1.2")
def test_plans_need_the_permission_and_the_schema_refuses_inconsistent_rules(db: Database) -> None:
    from pydantic import ValidationError

    reviewer = principal(db, QC_REVIEWER)
    with UnitOfWork(db, reviewer.actor) as uow, pytest.raises(NotPermitted):
        samples.create_plan(uow, reviewer, PlanCreate(code="SP-X", name="x", material_kind="extract", rule="all",
                                                      quantity_per_container=D("1")))  # fmt: skip
    for bad, message in [
        ({"rule": "fixed"}, "number of containers"),
        ({"rule": "all", "fixed_count": 3}, "Only the fixed rule"),
        ({"rule": "all", "precious": True}, "pharmacopoeia rule for herbs"),
        ({"rule": "all", "material_code": "EXC-MAN-01"}, "one material or for one kind"),
        ({"rule": "all", "quantity_per_container": "0"}, "test sample or the retained sample"),
    ]:
        values = {
            "code": "SP-X",
            "name": "x",
            "material_kind": "extract",
            "quantity_per_container": "1",
            **bad,
        }
        with pytest.raises(ValidationError, match=message):
            PlanCreate.model_validate(values)
    with db.sessions() as session:
        assert session.scalar(select(SamplingPlan).where(SamplingPlan.code == "SP-X")) is None


@pytest.mark.clause("TJ-7.5.1", "TJ-B.2.4.1.1", "SH-7.1.2")
def test_the_api_proposes_records_and_refuses_who_may_not_sample(db: Database) -> None:
    number = lot(db, QUARANTINED).lot_number
    with TestClient(create_app(db)) as client:
        qc, operator = token(client, QC), token(client, OPERATOR)
        proposal = client.get("/api/v1/lims/sampling-plans/proposal", params={"lot": number}, headers=qc)
        body = {"lot": number, "purpose": "release_test", "place": "取样间"}
        forbidden = client.post("/api/v1/lims/sampling-records", json=body, headers=operator)
        made = client.post("/api/v1/lims/sampling-records", json=body, headers=qc)
        again = client.get(f"/api/v1/lims/sampling-records/{made.json()['id']}", headers=qc)
        rejected = client.post("/api/v1/lims/sampling-records", headers=qc,
                               json={**body, "lot": lot(db, REJECTED).lot_number})  # fmt: skip
        bad = client.post("/api/v1/lims/sampling-records", json={**body, "purpose": "fun"}, headers=qc)
    assert proposal.status_code == 200, proposal.text
    assert (proposal.json()["sample_count"], proposal.json()["plan_code"]) == (3, "SP-HERB")
    assert forbidden.status_code == 403
    assert made.status_code == 201, made.text
    assert made.json()["reproduced"] and made.json()["lot_status_after"] == "under_test"
    assert len(made.json()["samples"]) == 2 and again.json()["seed"] == made.json()["seed"]
    assert rejected.status_code == 409 and "rejected" in rejected.json()["error"]["message"]
    assert bad.status_code == 422


@pytest.mark.clause("TJ-7.5.1")
def test_sampling_codes_are_unique_and_sample_codes_follow_the_month(db: Database) -> None:
    first, second = sample_lot(db, QUARANTINED), sample_lot(db, MANNITOL)
    codes = list(samples_of(db, first.id).values()) + list(samples_of(db, second.id).values())
    assert first.code != second.code and first.code.startswith("QY")
    assert len(set(codes)) == 4 and all(c.startswith("S") and len(c) == len("S2611-0001") for c in codes)
    with UnitOfWork(db, principal(db, QC).actor) as uow, pytest.raises(ValidationFailed):
        samples.record_sampling(uow, principal(db, QC), SamplingCreate(lot=first.lot_number, purpose="retained",
                                                                        place="x", retained_per_container=D(0)))  # fmt: skip
