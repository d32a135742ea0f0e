"""A sample's life (TJ-7.5.2, TJ-B.2.4.1.2–B.2.4.1.6): each step in its order, with who and when, and every
wrong step refused without a trace in the sample's history."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from lims_sampling_steps import (
    OPERATOR,
    QC,
    QC_REVIEWER,
    QUARANTINED,
    counts,
    disposal,
    events,
    sample_lot,
    samples_of,
    state,
    step,
)
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from helpers import actor, behind_the_apps_back, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.lims import samples
from pharmatrace.lims.sample_schemas import SampleIssue, SampleObserve, SampleReceive, SampleStore
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app
from pharmatrace.wms import lots

D = Decimal
COOL = SampleStore(location="QC 样品室 样品柜 2", conditions="阴凉（≤20 °C）")
RETAINED_ROOM = SampleStore(
    location="留样室（QC-RS）A-01", conditions="阴凉干燥，≤20 °C", equipment_code="BAL-01"
)


def _sampled(db: Database) -> dict[str, str]:
    return samples_of(db, sample_lot(db, QUARANTINED).id)


@pytest.mark.clause("TJ-7.5.2", "TJ-7.5.2.1.a", "TJ-7.5.2.1.b", "TJ-7.5.2.1.c", "TJ-7.5.2.1.e", "TJ-B.2.4.1.2",
                    "TJ-B.2.4.1.3", "TJ-B.2.4.1.5")  # fmt: skip
def test_a_test_sample_is_received_stored_issued_and_its_remainder_disposed_with_a_witness(
    db: Database,
) -> None:
    code = _sampled(db)["test"]
    step(db, "receive", code, SampleReceive(quantity=D("0.55"), condition="封口完好，标签清晰"))
    step(db, "store", code, COOL)
    step(db, "issue", code, SampleIssue(quantity=D("0.2"), note="含量测定"))
    step(db, "issue", code, SampleIssue(quantity=D("0.15"), note="水分"))
    step(db, "dispose", code, disposal(), login=QC)
    assert events(db, code) == [(1, "sample", "sampled"), (2, "receive", "received"), (3, "store", "stored"),
                                (4, "issue", "in_testing"), (5, "issue", "in_testing"), (6, "dispose", "disposed")]  # fmt: skip
    with db.sessions() as session:
        sample = samples.sample_by_code(session, code)
        last = sample.events[-1]
        assert (last.remaining, last.quantity, last.method, last.location) == (
            D("0.2"),
            D("0.2"),
            "焚烧",
            "危废暂存间",
        )
        assert (last.done_by, last.done_by_name, last.witness, last.witness_name) == (
            QC,
            "王芳",
            QC_REVIEWER,
            "孙丽",
        )
        assert [e.done_at for e in sample.events] == sorted(
            e.done_at for e in sample.events
        )  # server time, in order
        assert samples.available(sample) == 0
        assert (
            sample.events[2].location == COOL.location and sample.events[1].conditions == "封口完好，标签清晰"
        )


@pytest.mark.clause("TJ-7.5.2", "TJ-7.5.2.1.f", "TJ-B.2.4.1.6", "TJ-6.4.1")
def test_a_retained_sample_is_kept_observed_and_destroyed_only_after_its_retention(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _sampled(db)["retained"]
    step(db, "receive", code, SampleReceive(quantity=D("0.6"), condition="封口完好"))
    step(db, "retain", code, RETAINED_ROOM)
    step(db, "observe", code, SampleObserve(observation="外观无变化"))
    with db.sessions() as session:
        due = samples.retention_of(session, samples.sample_by_code(session, code).lot_id)
    assert due.until is not None and due.lot_expiry is not None
    assert due.until == lots.add_months(due.lot_expiry, 12)  # no batch made from the lot yet
    before = counts(db)
    with pytest.raises(Conflict, match=f"is retained until {due.until.isoformat()}"):
        step(db, "destroy", code, disposal())
    assert counts(db) == before
    monkeypatch.setattr(lots, "today", lambda: due.until)
    step(db, "destroy", code, disposal(note="留样期满"))
    assert state(db, code) == "destroyed"
    assert [e for _, e, _ in events(db, code)] == ["sample", "receive", "retain", "observe", "destroy"]
    with db.sessions() as session:
        kept = samples.storage_place(samples.sample_by_code(session, code))
        assert kept is not None and kept.event == "retain" and kept.location == RETAINED_ROOM.location
        assert kept.equipment_code == "BAL-01" and kept.equipment_id is not None and kept.equipment_name
    with pytest.raises(Conflict, match="is destroyed"):
        step(db, "observe", code, SampleObserve(observation="too late"))


@pytest.mark.clause("TJ-7.5.2")
def test_steps_out_of_order_or_for_the_other_kind_of_sample_are_refused_and_leave_no_trace(
    db: Database,
) -> None:
    made = _sampled(db)
    test, retained = made["test"], made["retained"]
    before = counts(db)
    refusals = [
        ("store", test, COOL, "is sampled: “store” is not possible now"),
        ("issue", test, SampleIssue(quantity=D("0.1")), "is sampled: “issue” is not possible now"),
        ("dispose", test, disposal(), "is sampled: “dispose” is not possible now"),
        ("retain", test, RETAINED_ROOM, "“retain” is not a step of a test sample"),
        ("observe", test, SampleObserve(observation="x"), "“observe” is not a step of a test sample"),
        ("store", retained, COOL, "“store” is not a step of a retained sample"),
        ("issue", retained, SampleIssue(quantity=D("0.1")), "“issue” is not a step of a retained sample"),
        ("retain", retained, RETAINED_ROOM, "is sampled: “retain” is not possible now"),
    ]
    for name, code, body, message in refusals:
        with pytest.raises(Conflict, match=message):
            step(db, name, code, body)
    assert counts(db) == before
    step(db, "receive", test, SampleReceive(quantity=D("0.6"), condition="完好"))
    with pytest.raises(Conflict, match="is received: “receive” is not possible now"):
        step(db, "receive", test, SampleReceive(quantity=D("0.6"), condition="again"))
    assert [s for _, _, s in events(db, test)] == ["sampled", "received"]


@pytest.mark.clause("TJ-7.5.2", "TJ-B.2.4.1.5")
def test_quantities_witnesses_and_equipment_are_checked_before_anything_is_written(db: Database) -> None:
    code = _sampled(db)["test"]
    with pytest.raises(ValidationFailed, match=r"0\.7 kg received is more than the 0\.6 kg sampled"):
        step(db, "receive", code, SampleReceive(quantity=D("0.7"), condition="完好"))
    step(db, "receive", code, SampleReceive(quantity=D("0.5"), condition="完好"))
    with pytest.raises(NotFound, match="No equipment with code “FRIDGE-9”"):
        step(db, "store", code, SampleStore(location="x", conditions="2–8 °C", equipment_code="FRIDGE-9"))
    with pytest.raises(ValidationFailed, match=r"Only 0\.5 kg of the sample"):
        step(db, "issue", code, SampleIssue(quantity=D("0.51")))
    step(db, "issue", code, SampleIssue(quantity=D("0.1")))
    before = counts(db)
    with pytest.raises(ValidationFailed, match="witness must be another person"):
        step(db, "dispose", code, disposal(witness_login=QC))
    with pytest.raises(AuthenticationFailed, match="witness's log-in ID or password is wrong"):
        step(db, "dispose", code, disposal(witness_password="wrong-password"))
    with pytest.raises(AuthenticationFailed):
        step(db, "dispose", code, disposal(witness_login="nobody"))
    with pytest.raises(ValidationFailed, match=r"Only 0\.4 kg"):
        step(db, "dispose", code, disposal(quantity=D("0.5")))
    with pytest.raises(NotPermitted):
        step(db, "dispose", code, disposal(), login=QC_REVIEWER)
    assert counts(db) == before and state(db, code) == "in_testing"


def _batch(db: Database, batch_no: str, *, expiry: date | None = None, cancelled: bool = False) -> None:
    """A batch order like the demo's (its product and master recipe), with a packaging record giving its expiry
    when ``expiry`` is given: the MES facts the retention rule reads."""
    from pharmatrace.kernel import clock
    from pharmatrace.kernel.uow import UnitOfWork
    from pharmatrace.mes.execution_models import BatchOrder
    from pharmatrace.mes.packaging_models import PackagingRecord

    now = clock.now()
    with UnitOfWork(db, actor(db, "lina")) as uow:
        model = uow.session.query(BatchOrder).order_by(BatchOrder.id).first()
        assert model is not None
        order = BatchOrder(
            order_no=f"PO-{batch_no}", batch_no=batch_no, product_code=model.product_code,
            product_name=model.product_name, recipe_code=model.recipe_code, master_version_id=model.master_version_id,
            batch_size=model.batch_size, unit=model.unit, planned_start=now, planned_end=now,
            status="cancelled" if cancelled else "released", note="", created_at=now, created_by="lina",
            released_at=now, released_by="lina", cancelled_at=now if cancelled else None,
            cancel_reason="planning error" if cancelled else None,
        )  # fmt: skip
        uow.session.add(order)
        uow.session.flush()
        if expiry is not None:
            uow.session.add(PackagingRecord(
                batch_order_id=order.id, batch_no=batch_no, product_code=model.product_code,
                product_name=model.product_name, bulk_batch_no=batch_no, bulk_quantity=D(1), unit="支",
                planned_quantity=D(1), line="L1", room="RM-PACK", instruction_number="SOP-PK-001",
                instruction_version=1, manufacture_date=expiry - timedelta(days=730), shelf_life_months=24,
                expiry_date=expiry, reconciliation_limit_pct=D(1), yield_low_pct=D(90), yield_high_pct=D(105),
                reject_alert_pct=D(1), reject_action_pct=D(2), created_at=now, created_by="lina",
            ))  # fmt: skip
        uow.commit()


def _charge(db: Database, code: str, batch_no: str) -> None:
    """The sample's lot charged into ``batch_no`` (实际投料, as the MES records it at a charging step)."""
    from pharmatrace.kernel.uow import UnitOfWork
    from pharmatrace.mes.dispensing_models import MaterialCharge
    from pharmatrace.mes.execution_models import BatchOrder

    with UnitOfWork(db, actor(db, "zhangwei")) as uow:
        sample = samples.sample_by_code(uow.session, code)
        order = uow.session.query(BatchOrder).filter(BatchOrder.batch_no == batch_no).one()
        container = lots.get_lot(uow.session, sample.lot_id).containers[0]
        uow.session.add(MaterialCharge(
            batch_order_id=order.id, batch_no=batch_no, step_code="A-C", source="container",
            container_id=container.id, container_code=container.code, material_id=sample.material_id,
            material_code=sample.material_code, material_name=sample.material_name, lot_id=sample.lot_id,
            lot_number=sample.lot_number, quantity=D("1"), unit="kg", charged_at=container.created_at,
            charged_by="zhangwei", charged_by_name="张伟",
        ))  # fmt: skip
        uow.commit()


def _retention(db: Database, code: str) -> samples.Retention:
    with db.sessions() as session:
        return samples.retention_of(session, samples.sample_by_code(session, code).lot_id)


@pytest.mark.clause("TJ-6.4.1", "TJ-7.5.2.1.f")
def test_retention_runs_a_year_past_the_latest_expiry_of_the_lot_and_the_batches_made_from_it(
    db: Database,
) -> None:
    code = _sampled(db)["retained"]
    own = _retention(db, code)
    assert own.lot_expiry is not None and own.until == lots.add_months(own.lot_expiry, 12)
    earlier, later = own.lot_expiry - timedelta(days=100), own.lot_expiry + timedelta(days=400)
    _batch(db, "LIMS-T-01", expiry=earlier)
    _charge(db, code, "LIMS-T-01")
    assert _retention(db, code).until == lots.add_months(own.lot_expiry, 12)  # the lot's own expiry is later
    _batch(db, "LIMS-T-02", expiry=later)
    _charge(db, code, "LIMS-T-02")
    _batch(db, "LIMS-T-03", cancelled=True)  # a cancelled order made nothing
    _charge(db, code, "LIMS-T-03")
    due = _retention(db, code)
    assert due.until == lots.add_months(later, 12)
    assert [(b.batch_no, b.expiry_date) for b in due.batches] == [
        ("LIMS-T-01", earlier),
        ("LIMS-T-02", later),
    ]


@pytest.mark.clause("TJ-6.4.1", "TJ-7.5.2.1.f")
def test_a_retained_sample_whose_lot_went_into_a_batch_without_an_expiry_yet_stays_open(db: Database) -> None:
    from pharmatrace.lims.sample_schemas import SampleDisposal

    code = _sampled(db)["retained"]
    step(db, "receive", code, SampleReceive(quantity=D("0.6"), condition="完好"))
    step(db, "retain", code, RETAINED_ROOM)
    _batch(db, "LIMS-T-04")  # not packaged yet: its expiry is not known
    _charge(db, code, "LIMS-T-04")
    due = _retention(db, code)
    with db.sessions() as session:
        public = samples.sample_public(session, samples.sample_by_code(session, code))
    assert due.until is None and [(b.batch_no, b.expiry_date) for b in due.batches] == [("LIMS-T-04", None)]
    assert public.retention is not None and public.retention.open and public.retention.until is None
    before = counts(db)
    with pytest.raises(Conflict, match="still open: the expiry of batch LIMS-T-04 is not known yet"):
        step(db, "destroy", code, SampleDisposal(method="焚烧", site="x", witness_login=QC_REVIEWER,
                                                 witness_password=DEMO_PASSWORD))  # fmt: skip
    assert counts(db) == before
    with db.sessions() as session:
        assert code not in [r.sample.code for r in samples.retention_due(session, days=36500)]


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("SH-7.1.3.c", "TJ-7.5.2")
def test_the_history_of_a_sample_cannot_be_rewritten_in_the_database(db: Database) -> None:
    _sampled(db)
    for statement in ("UPDATE lims_sample_events SET to_state = 'disposed'", "DELETE FROM lims_sample_events",
                      "UPDATE lims_samples SET quantity = 99", "UPDATE lims_sampling_records SET seed = 1"):  # fmt: skip
        with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
            conn.execute(text(statement))


@pytest.mark.clause("TJ-7.5.2", "SH-7.1.2")
def test_the_api_takes_the_steps_and_refuses_who_may_not(db: Database) -> None:
    code = _sampled(db)["test"]
    with TestClient(create_app(db)) as client:
        qc, operator, reviewer = token(client, QC), token(client, OPERATOR), token(client, QC_REVIEWER)
        forbidden = client.post(f"/api/v1/lims/samples/{code}/receive", headers=reviewer,
                                json={"quantity": "0.6", "condition": "完好"})  # fmt: skip
        received = client.post(f"/api/v1/lims/samples/{code}/receive", headers=qc,
                               json={"quantity": "0.6", "condition": "完好"})  # fmt: skip
        wrong = client.post(f"/api/v1/lims/samples/{code}/retain", headers=qc,
                            json={"location": "x", "conditions": "y"})  # fmt: skip
        stored = client.post(f"/api/v1/lims/samples/{code}/store", headers=qc,
                             json={"location": "样品柜 2", "conditions": "阴凉"})  # fmt: skip
        read = client.get(f"/api/v1/lims/samples/{code}", headers=reviewer)
        listed = client.get("/api/v1/lims/samples", params={"state": "stored"}, headers=reviewer)
        blind = client.get("/api/v1/lims/samples", headers=operator)
    assert forbidden.status_code == 403
    assert received.status_code == 200 and received.json()["state"] == "received"
    assert wrong.status_code == 409 and "retain" in wrong.json()["error"]["message"]
    assert stored.status_code == 200 and stored.json()["location"] == "样品柜 2"
    assert read.json()["state"] == "stored" and [e["event"] for e in read.json()["events"]] == ["sample", "receive",
                                                                                               "store"]  # fmt: skip
    assert code in [s["code"] for s in listed.json()]
    assert blind.status_code == 403  # production operators do not read samples


@pytest.mark.clause("TJ-7.5.2")
def test_the_samples_page_finds_a_scanned_code_and_lists_by_state(db: Database) -> None:
    made = _sampled(db)
    code = made["test"]
    step(db, "receive", code, SampleReceive(quantity=D("0.6"), condition="完好"))
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": QC, "password": DEMO_PASSWORD})
        scanned = client.get("/lims/samples", params={"q": f" {code.lower()} "}, follow_redirects=False)
        listed = client.get("/lims/samples", params={"state": "received"})
        page = client.get(f"/lims/samples/{code}")
        refused = client.post(f"/lims/samples/{code}/events/store", data={"location": "", "conditions": ""})
        after_refusal = state(db, code)
        done = client.post(f"/lims/samples/{code}/events/store", data={"location": "样品柜 2", "conditions": "阴凉"},
                           follow_redirects=False)  # fmt: skip
        due = client.get("/lims/retention", params={"days": "3650"})
    assert scanned.status_code == 303 and scanned.headers["location"] == f"/lims/samples/{code}"
    assert f'data-code="{code}"' in listed.text and f'data-code="{made["retained"]}"' not in listed.text
    assert 'data-testid="lifecycle"' in page.text and 'data-testid="step-store"' in page.text
    assert refused.status_code == 422 and after_refusal == "received"
    assert done.status_code == 303 and state(db, code) == "stored"
    assert due.status_code == 200 and f'data-code="{made["retained"]}"' in due.text


@pytest.mark.clause("TJ-6.4.1")
def test_the_retention_reminder_lists_what_ends_within_the_window(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _sampled(db)["retained"]
    with db.sessions() as session:
        due = samples.retention_of(session, samples.sample_by_code(session, code).lot_id)
        assert due.until is not None
        soon = [
            r.sample.code
            for r in samples.retention_due(session, days=30, today=due.until - timedelta(days=30))
        ]
        later = [
            r.sample.code
            for r in samples.retention_due(session, days=29, today=due.until - timedelta(days=30))
        ]
        past = samples.retention_due(session, days=0, today=due.until + timedelta(days=3))
    assert code in soon and code not in later
    assert [r.days_left for r in past if r.sample.code == code] == [-3]
