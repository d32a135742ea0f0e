"""Rows written through the driver (``storage/bulk.py``: an ``executemany`` on SQLite, a ``COPY`` on PostgreSQL)
come back exactly as given, NaN and infinities included (SH-8.4.1)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from monitoring_steps import configure
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError

from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import historian
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.models import HistorianValue, Tag
from pharmatrace.storage import bulk
from pharmatrace.storage.engine import Database

T0 = datetime(2026, 11, 20, 8, 0, 0, 123456, tzinfo=UTC)
EXACT = [0.1, -0.0, 1e-300, 123456789.12345679, 2.0**53 + 2, -273.15]


@pytest.mark.both
@pytest.mark.clause("SH-8.4.1")
def test_values_written_in_bulk_come_back_exactly_with_and_without_a_nan(db: Database) -> None:
    code = configure(db, "opcua", "opc.tcp://127.0.0.1:4840", [Binding("FD-01.bulk_probe", "ns=2;s=bulk")])
    second = timedelta(seconds=1)
    plain = [Reading("FD-01.bulk_probe", T0 + i * second, v, server_time=T0) for i, v in enumerate(EXACT)]
    odd = [Reading("FD-01.bulk_probe", T0 + (10 + i) * second, v, "uncertain", 0x40000000, server_time=T0)
           for i, v in enumerate([math.nan, math.inf, 0.5])]  # fmt: skip
    done = [historian.ingest(db, code, plain), historian.ingest(db, code, odd)]
    with db.sessions() as session:
        stored = historian.values(session, "FD-01.bulk_probe", T0, T0 + 20 * second)
    assert [s.text for s in stored[: len(EXACT)]] == [repr(v) for v in EXACT]
    assert [s.value for s in stored[: len(EXACT)]] == EXACT
    assert all(
        s.source_time == T0 + i * second and s.server_time == T0 for i, s in enumerate(stored[: len(EXACT)])
    )
    assert [s.text for s in stored[len(EXACT) :]] == ["nan", "inf", "0.5"]
    assert {(s.quality, s.status_code) for s in stored[len(EXACT) :]} == {("uncertain", 0x40000000)}
    with db.sessions() as session:  # each batch's SM3 still vouches for what is stored
        assert all(
            result is not None and historian.verify_ingest(session, result.ingest_id) for result in done
        )


@pytest.mark.both
@pytest.mark.clause("SH-7.1.3.b")
def test_the_bulk_path_outside_the_unit_of_work_is_refused_and_writes_nothing(db: Database) -> None:
    """``write_rows`` (a COPY on PostgreSQL, an executemany on SQLite) is no way around the unit of work: the
    table's guards refuse it on any other connection."""
    code = configure(db, "opcua", "opc.tcp://127.0.0.1:4840", [Binding("FD-01.bulk_probe", "ns=2;s=bulk")])
    done = historian.ingest(db, code, [Reading("FD-01.bulk_probe", T0, 1.5, server_time=T0)])
    assert done is not None
    with db.sessions() as session:
        tag_id = session.scalar(select(Tag.id).where(Tag.name == "FD-01.bulk_probe"))
    later = T0 + timedelta(seconds=1)
    with pytest.raises(DBAPIError, match="outside the unit of work"), db.engine.begin() as connection:
        stamp = bulk.stamps(connection, HistorianValue.__table__.c.source_time)
        row = (tag_id, stamp(later), stamp(later), "2.5", 2.5, "good", None)
        bulk.write_rows(connection, "monitoring_values", historian.VALUE_COLUMNS, [row],
                        fixed={"ingest_id": done.ingest_id})  # fmt: skip
    with db.sessions() as session:
        assert [s.text for s in historian.values(session, "FD-01.bulk_probe", T0, later)] == ["1.5"]


@pytest.mark.both
@pytest.mark.clause("SH-8.4.1", "TJ-10.1.3.2.b")
def test_the_database_holds_a_raw_value_to_the_three_qualities(db: Database) -> None:
    """The quality check (equalities joined by OR since migration 0056, not an IN list) takes the three OPC UA
    severities and refuses anything else, even from inside a unit of work."""
    code = configure(db, "opcua", "opc.tcp://127.0.0.1:4840", [Binding("FD-01.bulk_probe", "ns=2;s=bulk")])
    second = timedelta(seconds=1)
    readings = [Reading("FD-01.bulk_probe", T0 + i * second, value, quality, server_time=T0)
                for i, (value, quality) in enumerate([(1.0, "good"), (2.0, "uncertain"), (None, "bad")])]  # fmt: skip
    done = historian.ingest(db, code, readings)
    assert done is not None and done.stored == 3
    with db.sessions() as session:
        tag_id = session.scalar(select(Tag.id).where(Tag.name == "FD-01.bulk_probe"))
    later = T0 + 10 * second
    refused = r"ck_monitoring_values_quality|CHECK constraint failed"
    with (
        pytest.raises(IntegrityError, match=refused),
        UnitOfWork(db, Actor.system("bench"), reason="a quality the database must refuse") as uow,
    ):
        connection = uow.session.connection()
        stamp = bulk.stamps(connection, HistorianValue.__table__.c.source_time)
        row = (tag_id, stamp(later), stamp(later), "3.0", 3.0, "excellent", None)
        bulk.write_rows(connection, "monitoring_values", historian.VALUE_COLUMNS, [row],
                        fixed={"ingest_id": done.ingest_id})  # fmt: skip
        uow.commit()
    with db.sessions() as session:
        stored = historian.values(session, "FD-01.bulk_probe", T0, later)
    assert [(s.text, s.quality) for s in stored] == [("1.0", "good"), ("2.0", "uncertain"), (None, "bad")]


@pytest.mark.both
@pytest.mark.clause("SH-8.4.1", "SH-8.4.3")
def test_a_value_stored_already_is_a_duplicate_at_the_edges_of_an_earlier_ingests_range_and_new_ones_are_stored(
    db: Database,
) -> None:
    """The duplicate check looks for stored values only when an earlier ingest of the source covered some of the
    batch's times (migration 0059): its range's edges included, back-fills inside it, new values after it."""
    code = configure(db, "opcua", "opc.tcp://127.0.0.1:4840",
                     [Binding("FD-01.edge_a", "ns=2;s=a"), Binding("FD-01.edge_b", "ns=2;s=b")])  # fmt: skip
    second = timedelta(seconds=1)
    first = historian.ingest(db, code, [Reading("FD-01.edge_a", T0, 1.0), Reading("FD-01.edge_a", T0 + 10 * second,
                                                                                2.0)])  # fmt: skip
    assert first is not None and (first.stored, first.duplicates) == (2, 0)
    cases = [
        (
            [("FD-01.edge_a", 10, 2.0), ("FD-01.edge_b", 5, 3.0), ("FD-01.edge_a", 11, 4.0)],
            (2, 1),
        ),  # last edge
        (
            [("FD-01.edge_a", 0, 1.0), ("FD-01.edge_a", -5, 0.5)],
            (1, 1),
        ),  # first edge, and a back-fill before it
        ([("FD-01.edge_b", 20, 5.0), ("FD-01.edge_a", 20, 6.0)], (2, 0)),  # after everything: no look needed
        ([("FD-01.edge_b", 5, 3.0), ("FD-01.edge_a", -5, 0.5), ("FD-01.edge_a", 3, 7.0)], (1, 2)),  # inside
        ([("FD-01.edge_b", 20, 5.0), ("FD-01.edge_a", 25, 8.0)], (1, 1)),  # starts on the last ingest's end
    ]
    for batch, expected in cases:
        done = historian.ingest(db, code, [Reading(tag, T0 + at * second, value) for tag, at, value in batch])
        assert done is not None and (done.stored, done.duplicates) == expected, batch
    with db.sessions() as session:
        a = historian.values(session, "FD-01.edge_a", T0 - 10 * second, T0 + 30 * second)
        b = historian.values(session, "FD-01.edge_b", T0 - 10 * second, T0 + 30 * second)
    assert [(s.source_time - T0).total_seconds() for s in a] == [-5, 0, 3, 10, 11, 20, 25]
    assert [s.text for s in a] == ["0.5", "1.0", "7.0", "2.0", "4.0", "6.0", "8.0"]
    assert [(s.source_time - T0).total_seconds() for s in b] == [5, 20]


def _probe_rows(db: Database, connection: Any, count: int) -> list[tuple[Any, ...]]:
    """``count`` raw rows of the probe tag, a second apart, value ``i`` in row ``i``, the newest first."""
    with db.sessions() as session:
        tag_id = session.scalar(select(Tag.id).where(Tag.name == "FD-01.bulk_probe"))
    stamp = bulk.stamps(connection, HistorianValue.__table__.c.source_time)
    return [(tag_id, stamp(T0 + (count - i) * timedelta(seconds=1)), stamp(T0), str(float(i)), float(i), "good", None)
            for i in range(count)]  # fmt: skip


@pytest.mark.both
@pytest.mark.clause("SH-8.4.1", "SH-8.4.3")
def test_a_batch_of_several_statements_is_stored_whole_in_its_order(db: Database) -> None:
    """On SQLite the rows go :data:`~bulk.CHUNK` to a statement and the rest one by one: every row arrives, and in
    the batch's order (the ingest's SM3 is over its values in the order they were stored)."""
    code = configure(db, "opcua", "opc.tcp://127.0.0.1:4840", [Binding("FD-01.bulk_probe", "ns=2;s=bulk")])
    count = 2 * bulk.CHUNK + 3
    # newest first: an order that neither the key nor the time gives back by itself
    readings = [Reading("FD-01.bulk_probe", T0 + (count - i) * timedelta(seconds=1), float(i), server_time=T0)
                for i in range(count)]  # fmt: skip
    done = historian.ingest(db, code, readings)
    assert done is not None and done.stored == count
    with db.sessions() as session:
        texts = session.scalars(
            select(HistorianValue.value)
            .where(HistorianValue.ingest_id == done.ingest_id)
            .order_by(HistorianValue.id)
        ).all()
        assert texts == [str(float(i)) for i in range(count)]
        assert historian.verify_ingest(session, done.ingest_id)


@pytest.mark.both
@pytest.mark.clause("SH-8.4.1", "TJ-10.1.3.3.a")
def test_one_refused_row_inside_a_statement_of_many_stores_none_of_the_batch(db: Database) -> None:
    """A row the database refuses (a quality it does not know) in the middle of a multi-row statement: the
    statement, and with it the unit of work, stores nothing — not the statements before it, not its other rows."""
    code = configure(db, "opcua", "opc.tcp://127.0.0.1:4840", [Binding("FD-01.bulk_probe", "ns=2;s=bulk")])
    done = historian.ingest(db, code, [Reading("FD-01.bulk_probe", T0, 1.5, server_time=T0)])
    assert done is not None
    with (
        pytest.raises(IntegrityError, match=r"ck_monitoring_values_quality|CHECK constraint failed"),
        UnitOfWork(db, Actor.system("bench"), reason="a batch with one row the database must refuse") as uow,
    ):
        connection = uow.session.connection()
        rows = _probe_rows(db, connection, 2 * bulk.CHUNK + 3)
        rows[bulk.CHUNK + 5] = (*rows[bulk.CHUNK + 5][:5], "excellent", None)
        bulk.write_rows(connection, "monitoring_values", historian.VALUE_COLUMNS, rows,
                        fixed={"ingest_id": done.ingest_id})  # fmt: skip
        uow.commit()
    with db.sessions() as session:
        assert historian.count_values(session, "FD-01.bulk_probe") == 1
