"""The database holds every weighing record to gross = tare + net exactly, on SQLite as on PostgreSQL
(TJ-6.3.2.2, TJ-B.2.2.2): SQLite compares NUMERIC as binary floats, where 14.8513 + 200.05 is not 214.9013, so
the constraint compares whole millionths of the unit (migration 0030)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from helpers import actor
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.dispensing_models import WeighingRecord
from pharmatrace.storage.engine import Database


def _add(db: Database, code: str, tare: str, net: str, gross: str) -> None:
    """A copy of the demo batch's first weighing with other weights, written through the unit of work."""
    with UnitOfWork(db, actor(db, "zhangwei"), reason="test: exact weights") as uow:
        model = uow.session.scalar(select(WeighingRecord).order_by(WeighingRecord.id).limit(1))
        assert model is not None
        columns = {
            c.key: getattr(model, c.key) for c in inspect(WeighingRecord).column_attrs if c.key != "id"
        }
        columns.update(code=code, tare=Decimal(tare), net=Decimal(net), gross=Decimal(gross))
        uow.session.add(WeighingRecord(**columns))
        uow.commit()


def _count(db: Database, code: str) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).where(WeighingRecord.code == code)) or 0)


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-B.2.2.2", "TJ-6.3.2.2")
def test_a_true_sum_is_accepted_and_a_false_one_refused_by_the_database(db: Database) -> None:
    _add(db, "WG-TEST-001", "14.8513", "200.05", "214.9013")  # the float sum is 214.90130000000002
    _add(db, "WG-TEST-002", "0.000001", "123456.789999", "123456.79")
    with db.sessions() as session:
        kept = session.scalar(select(WeighingRecord).where(WeighingRecord.code == "WG-TEST-001"))
        assert kept is not None and (kept.tare, kept.net, kept.gross) == (
            Decimal("14.8513"),
            Decimal("200.05"),
            Decimal("214.9013"),
        )
    with pytest.raises(IntegrityError, match="weights"):
        _add(db, "WG-TEST-003", "14.8513", "200.05", "214.9014")  # a millionth off at the last place kept
    with pytest.raises(IntegrityError, match="weights"):
        _add(db, "WG-TEST-004", "14.8513", "200.05", "214.901301")
    assert _count(db, "WG-TEST-003") == _count(db, "WG-TEST-004") == 0
