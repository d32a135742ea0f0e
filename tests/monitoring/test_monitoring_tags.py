"""Tags and sources are GMP configuration; the historian stores raw values exactly and tamper-evidently
(SH-6.3.1, SH-8.2, SH-8.4.1, SH-8.4.3, TJ-6.4.3.4, TJ-10.1.3.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from monitoring_steps import configure
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from helpers import audit_entries, behind_the_apps_back, count_rows, principal
from pharmatrace.kernel.errors import Conflict, NotFound, NotPermitted, ReasonRequired, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import historian_seam
from pharmatrace.monitoring import historian, tags
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import DatabaseHistorianReader, Reading
from pharmatrace.monitoring.models import DataSource, HistorianValue, Ingest, Tag
from pharmatrace.monitoring.schemas import SourceChange, SourceCreate, TagChange, TagCreate
from pharmatrace.storage.engine import Database

T0 = datetime(2026, 11, 20, 8, 0, 0, 123456, tzinfo=UTC)


def _tag(**overrides: object) -> TagCreate:
    body: dict[str, object] = {"name": "FD-01.condenser_level", "source": "FD-01-OPCUA", "data_type": "float",
                               "address": "ns=2;s=FD-01.condenser_level", "low_limit": "0", "high_limit": "100"}  # fmt: skip
    return TagCreate.model_validate({**body, **overrides})


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("SH-8.2", "TJ-10.1.3.3", "SH-6.3.1")
def test_tags_are_configured_with_the_trail_and_bad_ones_are_refused(db: Database) -> None:
    engineer, operator = principal(db, "wuhao"), principal(db, "zhangwei")
    before = count_rows(db, Tag)
    with pytest.raises(ValidationError, match="String should match pattern"):
        _tag(name="fd01 shelf temperature")  # not <EQUIPMENT>.<signal>
    with pytest.raises(ValidationError, match="low limit must be below the high limit"):
        _tag(low_limit="50", high_limit="-10")
    refusals = [
        (engineer, _tag(name="XX-99.temperature"), ValidationFailed, "neither in the equipment register nor a room"),
        (engineer, _tag(source="NO-SUCH"), NotFound, "No data source"),
        (engineer, _tag(name="FD-01.shelf_temperature"), Conflict, "exists already"),
        (operator, _tag(), NotPermitted, ""),
    ]  # fmt: skip
    for who, body, error, message in refusals:
        with UnitOfWork(db, who.actor) as uow, pytest.raises(error, match=message or None):
            tags.create_tag(uow, who, body)
    assert count_rows(db, Tag) == before  # nothing written

    with UnitOfWork(db, engineer.actor) as uow:
        made = tags.create_tag(uow, engineer, _tag(unit="%", decimals=1, description="冷凝器液位"))
        uow.commit()
        tag_id = made.id
    with UnitOfWork(db, engineer.actor) as uow:
        bound = uow.session.get(Tag, tag_id)
        assert (
            bound is not None and bound.equipment_id is not None and bound.room_id is not None
        )  # FD-01 in RM-LYO
    created = audit_entries(db, object_type="monitoring_tag", object_id=str(tag_id))
    assert [e.event for e in created] == ["create"] and created[0].actor_login == "wuhao"

    with (
        UnitOfWork(db, engineer.actor, reason="tighter") as uow,
        pytest.raises(ValidationFailed, match="low limit"),
    ):
        tags.change_tag(uow, engineer, made.name, TagChange(reason="tighter", low_limit=Decimal("200")))
    with UnitOfWork(db, engineer.actor) as uow, pytest.raises(ValidationFailed, match="reason is required"):
        tags.change_tag(uow, engineer, made.name, TagChange(reason="tighter", low_limit=Decimal("20")))
    with pytest.raises(ValidationError):
        TagChange.model_validate({"high_limit": "90"})  # no reason
    with UnitOfWork(db, engineer.actor, reason="alert level per URS-FD-01 rev 2") as uow:
        tags.change_tag(uow, engineer, made.name, TagChange(reason="alert level", high_limit=Decimal("90")))
        uow.commit()
    update = audit_entries(db, object_type="monitoring_tag", object_id=str(tag_id))[-1]
    assert update.event == "update" and update.reason == "alert level per URS-FD-01 rev 2"
    assert update.changes["high_limit"][1] in ("90", "90.000000")
    with (
        pytest.raises(DBAPIError),
        behind_the_apps_back(db) as conn,
    ):  # the database refuses inverted limits too
        conn.execute(text("UPDATE monitoring_tags SET low_limit = 95 WHERE id = :id"), {"id": tag_id})


@pytest.mark.clause("SH-8.4.3", "SH-7.1.3.b", "TJ-10.3")
def test_a_source_is_changed_with_a_reason_and_voided_only_once_its_tags_are(db: Database) -> None:
    engineer, operator = principal(db, "wuhao"), principal(db, "zhangwei")
    code = configure(db, "mqtt", "mqtt://127.0.0.1:1883", [Binding("RM-LYO.dew_point", "lab/RM-LYO#dp")])
    with (
        UnitOfWork(db, engineer.actor) as uow,
        pytest.raises(ValidationFailed, match=r"write it as opc\.tcp://"),
    ):
        tags.create_source(uow, engineer, SourceCreate(code="X-OPC", name="x", protocol="opcua",
                                                       endpoint="mqtt://127.0.0.1:1883"))  # fmt: skip
    move = SourceChange(reason="网关迁移", endpoint="mqtt://10.0.0.10:1884", description="新网关")
    refusals = [
        (operator, "网关迁移", code, move, NotPermitted, None),
        (engineer, None, code, move, ReasonRequired, "reason is required"),
        (engineer, "网关迁移", code, SourceChange(reason="x1", endpoint="opc.tcp://10.0.0.10:4840"), ValidationFailed,
         "is not one of a MQTT source"),
        (engineer, "网关迁移", "NO-SUCH", move, NotFound, "No data source"),
    ]  # fmt: skip
    for who, reason, target, body, error, message in refusals:
        with UnitOfWork(db, who.actor, reason=reason) as uow, pytest.raises(error, match=message):
            tags.change_source(uow, who, target, body)
    with UnitOfWork(db, engineer.actor, reason="网关迁移") as uow:
        tags.change_source(uow, engineer, code, move)
        uow.commit()
        source_id = tags.get_source(uow.session, code).id
    update = audit_entries(db, object_type="monitoring_source", object_id=str(source_id))[-1]
    assert (update.event, update.reason) == ("update", "网关迁移")
    assert update.changes["endpoint"] == ["mqtt://127.0.0.1:1883", "mqtt://10.0.0.10:1884"]

    with (
        UnitOfWork(db, engineer.actor, reason="停用") as uow,
        pytest.raises(tags.SourceInUse, match=r"RM-LYO\.dew_point"),
    ):
        tags.void_source(uow, engineer, code)
    with UnitOfWork(db, engineer.actor, reason="传感器拆除") as uow:
        tags.void_tag(uow, engineer, "RM-LYO.dew_point")
        uow.commit()
    with UnitOfWork(db, engineer.actor) as uow, pytest.raises(ReasonRequired):
        tags.void_source(uow, engineer, code)
    with UnitOfWork(db, engineer.actor, reason="化验室改用有线网关") as uow:
        tags.void_source(uow, engineer, code)
        uow.commit()
    voided = audit_entries(db, object_type="monitoring_source", object_id=str(source_id))[-1]
    assert (voided.event, voided.reason) == ("void", "化验室改用有线网关")
    with UnitOfWork(db, engineer.actor, reason="再用") as uow, pytest.raises(Conflict, match="is voided"):
        tags.change_source(uow, engineer, code, move)
    with UnitOfWork(db, engineer.actor) as uow, pytest.raises(Conflict, match="is voided"):
        tags.create_tag(uow, engineer, _tag(name="RM-LYO.dew_point_2", source=code, address="lab/x"))
    with db.sessions() as session:
        row = session.get(DataSource, source_id)
        assert row is not None and row.void_reason == "化验室改用有线网关"  # voided, never deleted


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("SH-8.4.1", "SH-8.4.3", "TJ-6.5")
def test_the_historian_keeps_values_exactly_and_every_batch_is_vouched_for_by_the_ledger(
    db: Database,
) -> None:
    bindings = [Binding("RM-FILL.particles_05", "x/RM-FILL#p05", "int"), Binding("RM-FILL.temp_probe", "x/RM-FILL#t",
                "decimal", 2), Binding("RM-FILL.rh_probe", "x/RM-FILL#rh", "float"),
                Binding("RM-FILL.door_closed", "x/RM-FILL#door", "bool")]  # fmt: skip
    code = configure(db, "mqtt", "mqtt://127.0.0.1:1883", bindings)
    readings = [
        Reading("RM-FILL.particles_05", T0, 3520), Reading("RM-FILL.temp_probe", T0, Decimal("21.50")),
        Reading("RM-FILL.rh_probe", T0, 0.1 + 0.2), Reading("RM-FILL.door_closed", T0, True),
        Reading("RM-FILL.temp_probe", T0 + timedelta(microseconds=1), None, "bad", 0x808B0000),
        Reading("RM-FILL.rh_probe", T0 + timedelta(seconds=1), 45.5, "uncertain", 0x40900000),
        Reading("RM-FILL.temp_probe", T0, Decimal("21.50")),  # a re-delivery within the batch
    ]  # fmt: skip
    first = historian.ingest(db, code, readings)
    assert first is not None and first.stored == 6 and first.duplicates == 1
    again = historian.ingest(db, code, readings[:2])  # a re-delivery in a later batch
    assert again is not None and again.stored == 0 and again.duplicates == 2
    assert (
        historian.ingest(db, code, readings, batch_key=first.batch_key) == first
    )  # a re-sent batch: idempotent

    with db.sessions() as session:
        temp = historian.values(session, "RM-FILL.temp_probe", T0, T0 + timedelta(hours=1))
        assert [(v.value, v.text, v.quality, v.status_code) for v in temp] == [
            (Decimal("21.50"), "21.50", "good", None), (None, None, "bad", 0x808B0000)]  # fmt: skip
        assert [v.source_time for v in temp] == [
            T0,
            T0 + timedelta(microseconds=1),
        ]  # to the microsecond, UTC
        assert historian.values(session, "RM-FILL.rh_probe", T0, T0)[0].value == 0.30000000000000004
        assert historian.values(session, "RM-FILL.door_closed", T0, T0)[0].value is True
        assert historian.values(session, "RM-FILL.particles_05", T0, T0)[0].value == 3520
        assert historian.verify_ingest(session, first.ingest_id)
    trail = audit_entries(db, object_type="monitoring_ingest", object_id=str(first.ingest_id))
    assert (
        len(trail) == 1 and trail[0].changes["values_sm3"][1] == first.values_sm3
    )  # the ledger holds the digest

    before = count_rows(db, HistorianValue), count_rows(db, Ingest)
    with pytest.raises(ValidationFailed, match="has no tag"):
        historian.ingest(db, code, [readings[0], Reading("FD-01.shelf_temperature", T0, 1.0)])
    assert (count_rows(db, HistorianValue), count_rows(db, Ingest)) == before  # the whole batch refused
    with pytest.raises(DBAPIError), db.engine.begin() as conn:  # outside the unit of work
        conn.execute(text("INSERT INTO monitoring_values (tag_id, ingest_id, source_time, server_time, quality) "
                          "SELECT tag_id, ingest_id, server_time, server_time, quality FROM monitoring_values"))  # fmt: skip
    with (
        pytest.raises(DBAPIError),
        behind_the_apps_back(db) as conn,
    ):  # append-only, even with the marker forged
        conn.execute(text("UPDATE monitoring_values SET value = '22.50' WHERE value = '21.50'"))
    assert count_rows(db, HistorianValue) == before[0]


@pytest.mark.clause("TJ-6.4.3.4", "TJ-6.4.3.2", "SH-8.4.3")
def test_the_batch_record_reads_a_tags_values_during_a_step(db: Database) -> None:
    code = configure(db, "opcua", "opc.tcp://127.0.0.1:4840", [Binding("FD-01.shelf_probe", "ns=2;s=probe")])
    readings = [
        Reading("FD-01.shelf_probe", T0 + timedelta(minutes=m), -40.0 + m / 10, "good") for m in range(10)
    ]
    readings.append(
        Reading("FD-01.shelf_probe", T0 + timedelta(minutes=4, seconds=30), None, "bad", 0x80000000)
    )
    historian.ingest(db, code, readings)
    reader = DatabaseHistorianReader(db)
    assert reader.values_during("FD-01.no_such_tag", T0, T0) is None
    window = reader.values_during("FD-01.shelf_probe", T0 + timedelta(minutes=2), T0 + timedelta(minutes=6))
    assert (
        window is not None
        and len(window) == 6
        and window[0] == (T0 + timedelta(minutes=2), Decimal("-39.8"), "good")
    )
    previous = historian_seam.reader()
    historian_seam.register(reader)
    try:
        captured = historian_seam.capture(
            "FD-01.shelf_probe", T0 + timedelta(minutes=2), T0 + timedelta(minutes=6)
        )
    finally:
        historian_seam.register(previous)
    assert captured is not None
    assert (captured.count, captured.low, captured.high, captured.rejected) == (
        5,
        Decimal("-39.8"),
        Decimal("-39.4"),
        1,
    )
    with db.sessions() as session:  # "these tags during this step"
        during = historian.values_of_tags(session, ["FD-01.shelf_probe", "FD-01.no_such_tag"], T0, T0)
    assert [v.value for v in during["FD-01.shelf_probe"]] == [-40.0] and during["FD-01.no_such_tag"] == []
