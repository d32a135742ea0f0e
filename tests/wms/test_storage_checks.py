"""Storage checks before issue to production (TJ-6.4.1, TJ-5.2.1.2): a lot not released, expired, due for
retest, stored where its conditions are not kept, or whose temperature record is incomplete or out of range
is refused with every reason, the refusal is recorded, and nothing in the stock changes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from stocking import (
    KEEPER,
    QA,
    QUARANTINED,
    REJECTED,
    RELEASED,
    UNDER_TEST,
    close_all,
    containers,
    lot_id,
    move,
    open_anomalies,
    reading,
    where,
)

from demo_codes import demo_codes
from helpers import audit_entries, count_rows, principal
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import lots, stock
from pharmatrace.wms.stock import IssueRefused
from pharmatrace.wms.stock_models import StockMovement, StorageAnomaly, TemperatureReading
from pharmatrace.wms.stock_schemas import MovementCreate

pytestmark = pytest.mark.clause("TJ-6.4.1", "TJ-5.2.1.2")


def in_progress(db: Database) -> str:
    """The batch the issues go to: the demo's batch in progress (``DH2611002``)."""
    return demo_codes(db).batch_in_progress


def refused_issue(db: Database, code: str, **extra: Any) -> IssueRefused:
    """Try to issue ``code``; assert the refusal changed no stock and was recorded; return it."""
    before, moves = where(db, code), count_rows(db, StockMovement)
    events = len(audit_entries(db, event=stock.ISSUE_REFUSED_EVENT))
    with pytest.raises(IssueRefused) as refusal:
        move(db, kind="issue", container=code, batch_no=in_progress(db), **extra)
    assert where(db, code) == before
    assert count_rows(db, StockMovement) == moves
    recorded = audit_entries(db, event=stock.ISSUE_REFUSED_EVENT)
    assert len(recorded) == events + 1
    assert recorded[-1].changes["container"] == [None, code]
    assert recorded[-1].changes["problems"][1] == [p.english() for p in refusal.value.problems]
    return refusal.value


def kinds(refusal: IssueRefused) -> set[str]:
    return {p.kind for p in refusal.problems}


def test_a_released_lot_kept_in_its_conditions_is_issued_to_the_batch(db: Database) -> None:
    code, batch = containers(db, RELEASED)[3], in_progress(db)
    movement = move(db, kind="issue", container=code, quantity=Decimal("5"), batch_no=batch)
    assert (movement.kind, movement.batch_no, movement.quantity) == ("issue", batch, Decimal("5.000"))
    assert where(db, code) == ("WH-RM-CL-01", Decimal("20.000"))


def test_a_quarantined_lot_is_refused_with_its_status(db: Database) -> None:
    refusal = refused_issue(db, containers(db, QUARANTINED)[0])
    assert kinds(refusal) == {"status"}
    assert "is not released by QA (status: quarantine)" in str(refusal)


def test_a_refused_issue_takes_back_what_its_unit_of_work_wrote_before(db: Database) -> None:
    """A refusal inside a larger operation (a put-away, then the issue) leaves the stock as it was."""
    released, quarantined = containers(db, RELEASED)[2], containers(db, QUARANTINED)[0]
    before, moves = where(db, released), count_rows(db, StockMovement)
    batch = in_progress(db)
    with UnitOfWork(db, principal(db, KEEPER).actor, reason=f"staging for {batch}") as uow:
        stock.move(uow, MovementCreate(kind="transfer", container=released, to_location="WH-RM-CL-02",
                                       reason=f"staging for {batch}"))  # fmt: skip
        with pytest.raises(IssueRefused):
            stock.move(uow, MovementCreate(kind="issue", container=quarantined, batch_no=batch))
    assert where(db, released) == before
    assert count_rows(db, StockMovement) == moves
    assert audit_entries(db, event=stock.ISSUE_REFUSED_EVENT)[-1].changes["container"] == [None, quarantined]


def test_a_rejected_lot_is_refused(db: Database) -> None:
    refusal = refused_issue(db, containers(db, REJECTED)[0])
    assert "status: rejected" in str(refusal)


def test_a_lot_past_its_expiry_and_retest_dates_is_refused(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.sessions() as session:
        expiry = lots.get_lot(session, lot_id(db, RELEASED)).expiry_date
    assert expiry is not None
    monkeypatch.setattr(lots, "today", lambda: expiry)
    refusal = refused_issue(db, containers(db, RELEASED)[3])
    assert {"expired", "retest_due"} <= kinds(refusal)
    assert f"expired on {expiry.isoformat()}" in str(refusal)


@pytest.mark.clause("TJ-6.4.3.6")
def test_a_lot_stored_where_its_conditions_are_not_kept_is_flagged_and_refused(db: Database) -> None:
    lot = lot_id(db, RELEASED)
    code = containers(db, RELEASED)[3]
    move(db, kind="transfer", container=code, to_location="WH-RM-AM-02", reason="cool store full")  # 10–30 °C
    flagged = open_anomalies(db, lot)
    assert [(a.kind, a.location_id is not None) for a in flagged] == [("location_unfit", True)]
    refusal = refused_issue(db, code)
    assert "location_unfit" in kinds(refusal)
    assert "WH-RM-AM does not keep the storage conditions of 丹参（中药材） (≤20.0 °C)" in str(refusal)
    assert len(open_anomalies(db, lot)) == 1  # the refusal does not record the same anomaly twice
    # back in the cool store the anomaly still blocks every container of the lot until QA has assessed it
    move(db, kind="transfer", container=code, to_location="WH-RM-CL-02", reason="back to the cool store")
    assert kinds(refused_issue(db, containers(db, RELEASED)[2])) == {"open_anomaly"}
    close_all(db, lot)
    move(db, kind="issue", container=code, batch_no=in_progress(db))
    assert where(db, code) == (None, Decimal("0.000"))


def test_an_excursion_flags_the_lots_stored_there_until_qa_closes_it(db: Database) -> None:
    lot = lot_id(db, RELEASED)
    reading(db, "WH-RM-CL", "23.5", humidity="60")
    flagged = open_anomalies(db, lot)
    assert [a.kind for a in flagged] == ["temperature_out_of_range"]
    assert "WH-RM-CL read 23.5 °C / 60.0 % RH" in flagged[0].detail
    assert any(a.lot_id is None and a.kind == "temperature_out_of_range" for a in open_anomalies(db))
    refusal = refused_issue(db, containers(db, RELEASED)[3])
    assert kinds(refusal) == {"temperature_out_of_range"}
    close_all(db, lot)
    with db.sessions() as session:
        closed = session.get(StorageAnomaly, flagged[0].id)
        assert closed is not None and (closed.status, closed.closed_by) == ("closed", QA)
    move(
        db,
        kind="issue",
        container=containers(db, RELEASED)[3],
        quantity=Decimal("1"),
        batch_no=in_progress(db),
    )


def test_a_gap_in_the_temperature_record_refuses_the_issue(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = clock.now() + timedelta(hours=14)  # the evening and morning readings were not taken
    monkeypatch.setattr(clock, "now", lambda: later)
    reading(db, "WH-RM-CL", "16.0", at=later)
    code = containers(db, RELEASED)[3]
    refusal = refused_issue(db, code)
    assert kinds(refusal) == {"temperature_record_gap"}
    assert "The temperature record of WH-RM-CL has no reading from" in str(refusal)
    gap = open_anomalies(db, lot_id(db, RELEASED))
    assert [a.kind for a in gap] == ["temperature_record_gap"] and gap[0].covered_until == later
    close_all(db, lot_id(db, RELEASED))  # QA assessed the stretch without readings
    move(db, kind="issue", container=code, quantity=Decimal("1"), batch_no=in_progress(db))


def test_every_reason_is_given_at_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    code = containers(db, UNDER_TEST)[0]  # under test, and the seed's excursion in the ambient store is open
    with db.sessions() as session:
        expiry = lots.get_lot(session, lot_id(db, UNDER_TEST)).expiry_date
    assert expiry is not None
    monkeypatch.setattr(lots, "today", lambda: expiry + timedelta(days=1))
    assert kinds(refused_issue(db, code)) == {"status", "expired", "retest_due", "temperature_out_of_range"}


def test_a_reading_belongs_to_the_location_that_keeps_the_record(db: Database) -> None:
    before = count_rows(db, TemperatureReading)
    with pytest.raises(ValidationFailed, match="record the reading at WH-RM-CL"):
        reading(db, "WH-RM-CL-01", "18.0")
    with pytest.raises(ValidationFailed, match="in the future"):
        reading(db, "WH-RM-CL", "18.0", at=clock.now() + timedelta(hours=1))
    assert count_rows(db, TemperatureReading) == before
    reading(db, "WH-RM-CL", "18.0")  # within every limit: nothing flagged
    assert count_rows(db, TemperatureReading) == before + 1
    assert open_anomalies(db, lot_id(db, RELEASED)) == []


def test_closing_an_anomaly_needs_qa_s_assessment(db: Database) -> None:
    anomaly = open_anomalies(db, lot_id(db, UNDER_TEST))[0]
    with UnitOfWork(db, principal(db, QA).actor) as uow, pytest.raises(ValidationFailed, match="assessment"):
        stock.close_anomaly(uow, anomaly.id)
    close_all(db, lot_id(db, UNDER_TEST))
    with (
        UnitOfWork(db, principal(db, QA).actor, reason="again") as uow,
        pytest.raises(stock.Conflict, match="closed already"),
    ):
        stock.close_anomaly(uow, anomaly.id)
    trail = audit_entries(db, object_type="storage_anomaly", object_id=str(anomaly.id))
    assert trail[-1].event == "update" and trail[-1].reason == "assessed: no impact on quality (test)"


def test_alerts_name_expiring_lots_retests_and_late_records(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.sessions() as session:
        assert {a.kind for a in stock.alerts(session)} <= {"hold_time_soon"}
        lot = lots.get_lot(session, lot_id(db, RELEASED))
        assert lot.expiry_date is not None and lot.retest_date is not None
        monkeypatch.setattr(lots, "today", lambda: lot.retest_date)
        found = {(a.kind, a.subject) for a in stock.alerts(session, horizon_days=400)}
        assert ("retest_due", lot.lot_number) in found and ("expiring", lot.lot_number) in found
        later = clock.now() + timedelta(days=2)
        monkeypatch.setattr(clock, "now", lambda: later)
        found = {(a.kind, a.subject) for a in stock.alerts(session)}
    solution = f"{demo_codes(db).batch_done}-SOL"  # the seed's intermediate: the completed batch's solution
    assert ("record_late", "WH-RM-CL") in found and ("hold_time_passed", solution) in found
    assert not any(subject == "GL261002" for _, subject in found)  # rejected stock is not alerted
