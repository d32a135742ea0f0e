"""A herb lot is received against its base's shipment, and the base hears of a rejection or an anomaly
(TJ-5.1, TJ-5.2.1.1, TJ-5.2.1.5)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from origin_steps import (
    IN_TRANSIT,
    QC,
    SANQI_IN_TRANSIT,
    counts,
    create_receipt,
    lot_id_of,
    receive,
    reject,
    sample,
)
from sqlalchemy import select

from helpers import principal
from pharmatrace.kernel import ledger
from pharmatrace.kernel.errors import Conflict
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.origin import service
from pharmatrace.origin.models import HerbLotOrigin, OriginFeedback
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Lot


@pytest.mark.clause("TJ-5.2.1.1", "TJ-5.1")
@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"origin_shipment": ""}, "A herb lot from the planting base SUP-SL-DS is received against its shipment: "
                                  "give the shipment code"),
        ({"origin_shipment": "NOPE-99"}, "No shipment with code “NOPE-99”"),
        ({"origin_shipment": SANQI_IN_TRANSIT}, "The shipment WS-FY-2611-01 is from SUP-WS-SQ, not from SUP-SL-DS"),
        ({"expected_containers": 25},
         "The shipment SL-FY-2611-01 has 600 kg left to receive; this receipt expects 625 kg"),
        ({"supplier_code": "SUP-TL-MAN", "material_code": "EXC-MAN-01"},
         "Only herb lots from a planting base are received against a shipment"),
    ],
)  # fmt: skip
def test_a_herb_receipt_names_a_shipment_of_its_own_base_or_is_refused_and_changes_nothing(
    db: Database, changes: dict[str, object], why: str
) -> None:
    before = counts(db)
    with pytest.raises(Conflict) as refused:
        create_receipt(db, **changes)
    assert str(refused.value) == why
    assert counts(db) == before


@pytest.mark.clause("TJ-5.2.1.1", "TJ-5.1")
def test_a_shipment_of_another_herb_is_refused(db: Database) -> None:
    from pharmatrace.wms import service as wms
    from pharmatrace.wms.schemas import ApprovalDecision

    with UnitOfWork(db, principal(db, "chenjing").actor, reason="测试：三七基地兼供丹参") as uow:
        wms.decide_approval(uow, ApprovalDecision(supplier_code="SUP-WS-SQ", material_code="HB-DS-001",
                                                  status="approved", valid_until=date(2027, 12, 31), reason="审计合格"))  # fmt: skip
        uow.commit()
    before = counts(db)
    with pytest.raises(Conflict, match="The shipment WS-FY-2611-01 carries HB-SQ-001, not HB-DS-001"):
        create_receipt(db, supplier_code="SUP-WS-SQ", origin_shipment=SANQI_IN_TRANSIT)
    assert counts(db) == before


@pytest.mark.clause("TJ-5.2.1.1", "TJ-5.1")
def test_the_lot_received_against_a_shipment_links_back_to_its_plot_in_the_same_unit_of_work(
    db: Database,
) -> None:
    receipt_lot = receive(db)  # 4 × 25 kg of the 600 kg in transit
    with db.sessions() as session:
        origin = session.scalar(select(HerbLotOrigin).where(HerbLotOrigin.lot_id == receipt_lot))
        assert origin is not None and origin.shipment.code == IN_TRANSIT
        shipment = service.shipment_by_code(session, IN_TRANSIT)
        assert service.received_quantity(session, shipment) == Decimal("100.000")
        lot = session.get(Lot, receipt_lot)
        assert lot is not None
        chain = service.origin_chain(session, lot)
        assert chain is not None and [s.plot.code for s in chain.sources] == ["DS-02"]
        plot_id = chain.sources[0].plot.id
        assert lot.lot_number in [x.lot_number for x in service.lots_of_plot(session, plot_id)]
    # what is left can still be received; one kilogram more cannot
    with pytest.raises(Conflict, match=r"has 500 kg left to receive; this receipt expects 525 kg"):
        create_receipt(db, expected_containers=21)
    create_receipt(db, expected_containers=20)
    # a shipment that was received cannot be voided
    with (
        pytest.raises(Conflict, match="was received as lot"),
        UnitOfWork(db, principal(db, QC).actor, reason="错误") as uow,
    ):
        service.void_shipment(uow, service.shipment_by_code(uow.session, IN_TRANSIT).id)
    assert ledger.verify(db).intact


class Delivered:
    """A channel that the base's system answers at once (what the exchange issue will build)."""

    name = "test-exchange"

    def __init__(self) -> None:
        self.messages: list[str] = []

    def deliver(self, feedback: OriginFeedback) -> bool:
        self.messages.append(feedback.message)
        return True


@pytest.fixture
def delivered() -> Iterator[Delivered]:
    channel = Delivered()
    previous = service.set_channel(channel)
    yield channel
    service.set_channel(previous)


@pytest.mark.clause("TJ-5.2.1.5", "TJ-5.1")
def test_a_qa_rejection_of_a_herb_lot_produces_a_feedback_message_to_its_base(db: Database) -> None:
    lot_id = receive(db)
    sample(db, lot_id)
    reject(db, lot_id, "二氧化硫残留 180 mg/kg，超过 150 mg/kg 限度")
    with db.sessions() as session:
        (feedback,) = service.list_feedback(session, lot_id=lot_id)
        lot = session.get(Lot, lot_id)
        assert lot is not None and lot.status == "rejected"
        assert (feedback.kind, feedback.status, feedback.channel) == ("rejected", "pending", "outbox")
        assert feedback.base.supplier.code == "SUP-SL-DS" and feedback.shipment.code == IN_TRANSIT
        for part in (lot.lot_number, "DS20261118", IN_TRANSIT, "DS-02", "二氧化硫残留 180 mg/kg", "不合格"):
            assert part in feedback.message, part
        assert feedback.produced_by == principal(db, "zhaomin").login
    # a lot without an origin (vials) is rejected without any message
    vials = lot_id_of(db, "GL261002")
    with db.sessions() as session:
        assert service.list_feedback(session, lot_id=vials) == []


@pytest.mark.clause("TJ-5.2.1.5", "TJ-5.1")
def test_a_quality_anomaly_is_reported_to_the_base_through_the_channel(
    db: Database, delivered: Delivered
) -> None:
    sanqi = lot_id_of(db, "SQ20261025")
    qc = principal(db, QC)
    with UnitOfWork(db, qc.actor) as uow:
        feedback = service.report_anomaly(uow, sanqi, "水分 14.8%，超过 13.0% 限度")
        uow.commit()
        assert (feedback.status, feedback.channel) == ("delivered", "test-exchange")
    assert len(delivered.messages) == 1 and "SQ-01、SQ-02" in delivered.messages[0]
    assert "质量异常" in delivered.messages[0] and "水分 14.8%" in delivered.messages[0]
    # a lot without an origin has no base to inform: refused, nothing recorded
    vials = lot_id_of(db, "GL261002")
    before = counts(db)
    with pytest.raises(Conflict, match="has no recorded origin"), UnitOfWork(db, qc.actor) as uow:
        service.report_anomaly(uow, vials, "外观异常")
    assert counts(db) == before and len(delivered.messages) == 1
    with db.sessions() as session:
        kinds = [f.kind for f in service.list_feedback(session, lot_id=sanqi)]
        assert kinds == ["quality_anomaly", "quality_anomaly"]  # the demo's own report, then this one
    assert ledger.verify(db).intact
