"""Intermediate products in the workshop stores (TJ-6.3.3) and their data set (TJ-B.2.2.3, table B.5): status,
hold time, stock-in, out, sampling, charging and return with a reviewer, all recorded and queryable."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from stocking import OPERATOR, QA

from demo_codes import demo_codes, month_of
from helpers import LOGIN_BY_ROLE, audit_entries, principal
from pharmatrace.compliance import catalogue
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import AuthenticationFailed, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import stock
from pharmatrace.wms.stock import IssueRefused, StockRefused
from pharmatrace.wms.stock_models import IntermediateLot
from pharmatrace.wms.stock_schemas import IntermediateCreate, IntermediateMove

pytestmark = pytest.mark.clause("TJ-6.3.3")
SUPERVISOR = LOGIN_BY_ROLE["production_supervisor"]


def demo_solution(db: Database) -> str:
    """The seed's intermediate: the prepared solution of the completed batch (``DH2611001-SOL``)."""
    return f"{demo_codes(db).batch_done}-SOL"


def demo_intermediate(db: Database) -> int:
    lot_number = demo_solution(db)
    with db.sessions() as session:
        return int(
            session.scalars(select(IntermediateLot.id).where(IntermediateLot.lot_number == lot_number)).one()
        )


def act(db: Database, intermediate_id: int, login: str = OPERATOR, **fields: Any) -> None:
    with UnitOfWork(db, principal(db, login).actor, reason=fields.get("reason")) as uow:
        stock.move_intermediate(uow, intermediate_id, IntermediateMove(**fields))
        uow.commit()


def state(db: Database, intermediate_id: int) -> tuple[Decimal, str | None]:
    with db.sessions() as session:
        item = stock.get_intermediate(session, intermediate_id)
        return item.quantity, item.location.code if item.location else None


def test_an_intermediate_is_sampled_taken_out_charged_and_returned(db: Database) -> None:
    item = demo_intermediate(db)
    act(db, item, kind="sample", quantity=Decimal("0.2"), reason="IPC sample")
    act(db, item, kind="stock_out", to_location="WS-ST", reason="to the filling line")
    act(db, item, kind="charge", quantity=Decimal("100"), batch_no=demo_codes(db).batch_done)
    assert state(db, item) == (Decimal("19.800"), "WS-ST")
    act(db, item, kind="return", to_location="WS-IM", reason="left over after filling",
        reviewer_login=SUPERVISOR, reviewer_password=DEMO_PASSWORD)  # fmt: skip
    assert state(db, item) == (Decimal("19.800"), "WS-IM")
    with db.sessions() as session:
        record = stock.intermediate_data_set(session, stock.get_intermediate(session, item))
        moves = stock.intermediate_movements(session, item)
    assert [m.kind for m in moves] == ["stock_in", "sample", "stock_out", "charge", "return"]
    assert (
        record["ZJCPPH"] == demo_solution(db)
        and record["ZLZT"] == "合格"
        and record["CCWZ"].startswith("WS-IM")
    )
    assert record["QYL"] == "0.2" and record["TLL"] == "100.0" and record["RKWZ"] == "WS-IM"
    assert record["FHR"].endswith(f"（{SUPERVISOR}）") and record["TKR"].endswith(f"（{OPERATOR}）")
    assert len(record["TLSJ"]) == 15 and record["TLSJ"][8] == "T"


@pytest.mark.clause("TJ-B.2.2.3", "TJ-B.1.3")
def test_the_b5_mapping_uses_the_short_names_of_the_guide() -> None:
    assert stock.INTERMEDIATE_DATA_SET.short_names == catalogue.load()["TJ-B.2.2.3"].short_names


def test_past_its_hold_time_an_intermediate_cannot_be_charged(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = demo_intermediate(db)
    batch = demo_codes(db).batch_in_progress
    later = clock.now() + timedelta(hours=25)  # produced 6 h before the seed, held 24 h
    monkeypatch.setattr(clock, "now", lambda: later)
    before = state(db, item)
    with pytest.raises(IssueRefused, match="hold time ended") as refusal:
        act(db, item, kind="charge", quantity=Decimal("10"), batch_no=batch)
    assert {p.kind for p in refusal.value.problems} >= {"hold_time_exceeded"}
    assert state(db, item) == before
    assert audit_entries(db, event=stock.ISSUE_REFUSED_EVENT)[-1].object_type == "intermediate_lot"
    with db.sessions() as session:
        flagged = stock.list_anomalies(session)
    assert any(a.intermediate_id == item and a.kind == "hold_time_exceeded" for a in flagged)


def test_an_intermediate_not_released_cannot_be_charged(db: Database) -> None:
    batch = demo_codes(db).batch_in_progress
    with UnitOfWork(db, principal(db, OPERATOR).actor) as uow:
        made = stock.create_intermediate(uow, IntermediateCreate(
            material="IM-DH-SOL", lot_number=f"{batch}-SOL", batch_no=batch, quantity=Decimal(80),
            location="WS-IM", produced_at=clock.now() - timedelta(hours=1), hold_hours=24,
        ))  # fmt: skip
        uow.commit()
        item = made.id
    with pytest.raises(IssueRefused, match=r"not released \(status: quarantine\)"):
        act(db, item, kind="charge", quantity=Decimal("10"), batch_no=batch)
    with UnitOfWork(db, principal(db, QA).actor, reason="IPC failed: out of specification") as uow:
        stock.decide_intermediate(uow, item, "reject")
        uow.commit()
    with pytest.raises(IssueRefused, match="status: rejected"):
        act(db, item, kind="charge", quantity=Decimal("10"), batch_no=batch)
    assert state(db, item) == (Decimal("80.000"), "WS-IM")


def test_a_return_needs_another_person_as_reviewer(db: Database) -> None:
    item = demo_intermediate(db)
    act(db, item, kind="stock_out", to_location="WS-ST", reason="to the filling line")
    with pytest.raises(AuthenticationFailed, match="reviewer"):
        act(db, item, kind="return", to_location="WS-IM", reason="left over", reviewer_login=SUPERVISOR,
            reviewer_password="wrong")  # fmt: skip
    with pytest.raises(ValidationFailed, match="another person"):
        act(db, item, kind="return", to_location="WS-IM", reason="left over", reviewer_login=OPERATOR,
            reviewer_password=DEMO_PASSWORD)  # fmt: skip
    assert state(db, item) == (Decimal("120.000"), "WS-ST")


def test_intermediates_stay_in_workshop_stores(db: Database) -> None:
    item = demo_intermediate(db)
    batch = f"DH{month_of()}003"  # a batch of this month the plant has not made yet
    with pytest.raises(StockRefused, match="workshop stores, not in WH-RM-CL"):
        act(db, item, kind="transfer", to_location="WH-RM-CL", reason="wrong store")
    with (
        UnitOfWork(db, principal(db, OPERATOR).actor) as uow,
        pytest.raises(ValidationFailed, match="not an intermediate"),
    ):
        stock.create_intermediate(uow, IntermediateCreate(
            material="HB-DS-001", lot_number=f"{batch}-X", batch_no=batch, quantity=Decimal(1),
            location="WS-IM", produced_at=clock.now(), hold_hours=24,
        ))  # fmt: skip
    assert state(db, item) == (Decimal("120.000"), "WS-IM")


@pytest.mark.clause("TJ-B.2.2.3")
def test_the_b5_export_has_one_record_per_intermediate_lot(db: Database) -> None:
    with db.sessions() as session:
        records = stock.INTERMEDIATE_DATA_SET.records(stock.intermediate_records(session))
    assert [(r["ZJCPPH"], r["ZLZT"], r["RKWZ"]) for r in records] == [(demo_solution(db), "合格", "WS-IM")]
    assert records[0]["TLL"] is None and records[0]["RKR"] == "张伟（zhangwei）"
