"""Supplier performance (issue 9 item 6; SH-6.2.4, TJ-5.1): read from the supplier's lots, the deviations that
name them and its audits, and shown on the supplier's page, where QA re-evaluates the approved-supplier list."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from demo_codes import demo_codes
from helpers import log_in
from pharmatrace.kernel import clock
from pharmatrace.qms import supplier_performance
from pharmatrace.qms.audit_models import Audit
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Lot, Supplier


def _supplier(db: Database, code: str) -> int:
    with db.sessions() as session:
        return session.scalars(select(Supplier.id).where(Supplier.code == code)).one()


@pytest.mark.clause("SH-6.2.4", "TJ-5.1")
def test_the_performance_is_what_the_lots_deviations_and_audits_say(db: Database) -> None:
    with db.sessions() as session:
        for supplier in session.scalars(select(Supplier)):
            got = supplier_performance.performance(session, supplier.id)
            lots = list(session.scalars(select(Lot).where(Lot.supplier_id == supplier.id)))
            numbers = {lot.lot_number for lot in lots}
            assert got.lots == len(lots)  # the demo's lots are all within the year
            assert got.by_status == dict(Counter(lot.status for lot in lots))
            naming = [d.number for d in session.scalars(select(Deviation).order_by(Deviation.id))
                      if numbers & {n.strip() for n in d.affected_lots.split(",")}]  # fmt: skip
            assert [d.number for d in got.deviations] == naming
            audits = session.scalars(select(Audit.number).where(Audit.supplier_id == supplier.id)).all()
            assert sorted(a.number for a in got.audits) == sorted(audits)
        rejected_one = supplier_performance.performance(session, _supplier(db, "SUP-LZ-GLS"))
        assert rejected_one.by_status == {"rejected": 1, "released": 1}
        assert rejected_one.acceptance_rate == Decimal("50.0")
        undecided = supplier_performance.performance(session, _supplier(db, "SUP-WS-SQ"))
        assert undecided.acceptance_rate is None and [d.lots for d in undecided.deviations] == [
            (demo_codes(db).lot("YC", 3),)  # the demo's 三七 lot
        ]
        audited = supplier_performance.performance(session, _supplier(db, "SUP-SL-DS"))
        assert [a.kind for a in audited.audits] == ["supplier"] and audited.acceptance_rate == Decimal(
            "100.0"
        )
        # a period that ends before the demo's deliveries counts none of them, and its rate is undefined
        before = (
            clock.to_beijing(min(lot.created_at for lot in session.scalars(select(Lot)))) - timedelta(days=1)
        ).date()
        empty = supplier_performance.performance(session, _supplier(db, "SUP-LZ-GLS"), until=before)
        assert (empty.lots, empty.by_status, empty.acceptance_rate, empty.deviations) == (0, {}, None, ())


@pytest.mark.pages
@pytest.mark.clause("SH-6.2.4", "TJ-5.1")
def test_the_supplier_page_shows_its_performance_and_audits(client: TestClient, db: Database) -> None:
    log_in(client, "chenjing", language="en")
    page = client.get(f"/wms/suppliers/{_supplier(db, 'SUP-LZ-GLS')}")
    assert page.status_code == 200, page.text
    card = page.text.split('data-testid="supplier-performance"')[1].split("</dl>")[0]
    assert 'data-testid="lots-delivered">2<' in card and 'data-testid="acceptance-rate">50.0%<' in card
    assert 'data-lot-status="rejected">1<' in card
    audited = client.get(f"/wms/suppliers/{_supplier(db, 'SUP-SL-DS')}").text
    with db.sessions() as session:
        (number,) = session.scalars(select(Audit.number).where(Audit.kind == "supplier")).all()
    assert f'data-audit="{number}"' in audited.split('data-testid="supplier-audits"')[1]
    deviating = client.get(f"/wms/suppliers/{_supplier(db, 'SUP-WS-SQ')}").text
    assert 'data-testid="acceptance-rate">—<' in deviating
    with db.sessions() as session:
        named = session.scalars(
            select(Deviation.number).where(Deviation.affected_lots.contains(demo_codes(db).lot("YC", 3)))
        ).all()
    assert named and all(f'data-deviation="{n}"' in deviating for n in named)
