"""Roll-ups are derived from the raw values in the ingest's unit of work and only grow; raw retention per tag class
is reported, never enforced by deleting (SH-8.4.3, SH-8.4.1, TJ-6.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from monitoring_steps import configure
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from helpers import audit_entries, behind_the_apps_back, principal
from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import historian, rollups, tags
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import DatabaseHistorianReader, Reading
from pharmatrace.monitoring.models import HistorianValue, Tag
from pharmatrace.monitoring.rollup_models import Rollup
from pharmatrace.monitoring.schemas import TagChange
from pharmatrace.storage.engine import Database

T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
TAG = "FD-01.chamber_probe"


def _brute_force(db: Database, tag_id: int) -> dict[tuple[str, datetime], tuple[object, ...]]:
    """Every bucket of a tag aggregated from its raw values, the slow obvious way."""
    with db.sessions() as session:
        raw = list(session.scalars(select(HistorianValue).where(HistorianValue.tag_id == tag_id)))
    out: dict[tuple[str, datetime], tuple[object, ...]] = {}
    for period, floor in (("1m", lambda t: t.replace(second=0, microsecond=0)),
                          ("1h", lambda t: t.replace(minute=0, second=0, microsecond=0))):  # fmt: skip
        for start in {floor(v.source_time) for v in raw}:
            inside = [v for v in raw if floor(v.source_time) == start]
            good = [v.number for v in inside if v.quality != "bad" and v.number is not None]
            out[(period, start)] = (len(good), len(inside) - len(good), min(good, default=None),
                                    max(good, default=None), round(sum(good), 9) if good else None,
                                    min(v.source_time for v in inside), max(v.source_time for v in inside))  # fmt: skip
    return out


@pytest.mark.both  # an upsert and triggers: the SQL differs by dialect
@pytest.mark.clause("SH-8.4.3", "SH-8.4.1", "TJ-6.5")
def test_rollups_equal_the_raw_values_after_late_back_fills_and_refuse_edits_behind_the_app(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rollups, "MERGE_EVERY", timedelta(days=1))  # after the first merge, values wait
    code = configure(db, "opcua", "opc.tcp://127.0.0.1:4840", [Binding(TAG, "ns=2;s=probe")])
    second = timedelta(seconds=1)
    historian.ingest(db, code, [Reading(TAG, T0 + i * 7 * second, 20.0 + i % 5) for i in range(30)])
    quiet = T0 + timedelta(
        minutes=10
    )  # a minute of its own: two bad values and an uncertain one; another hour
    historian.ingest(db, code, [
        Reading(TAG, quiet + second, None, "bad", 0x80000000), Reading(TAG, quiet + 2 * second, 99.5, "bad"),
        Reading(TAG, quiet + 3 * second, 18.25, "uncertain"), Reading(TAG, T0 + timedelta(hours=1, seconds=5), -3.0),
    ])  # fmt: skip
    # late back-fill (store-and-forward) into buckets that exist: a new minimum, a new first source time
    backfill = historian.ingest(db, code, [Reading(TAG, T0 + 3 * second, 1.5), Reading(TAG, T0, 20.0)])
    assert backfill is not None and backfill.stored == 1 and backfill.duplicates == 1  # T0 came already

    def table(session: Session) -> dict[tuple[str, datetime], tuple[object, ...]]:
        return {
            (r.period, r.bucket): (r.value_count, r.bad_count, r.minimum, r.maximum,
                                   None if r.total is None else round(r.total, 9), r.first_source_time,
                                   r.last_source_time)
            for r in session.scalars(select(Rollup).where(Rollup.tag_id == tag_id))
        }  # fmt: skip

    with db.sessions() as session:
        tag_id = session.scalars(select(Tag.id).where(Tag.name == TAG)).one()
        brute = _brute_force(db, tag_id)
        # the first ingest merged; the two after it wait for the next merge, and every read adds them
        assert table(session) != brute
        read = {
            (period, at): (b.value_count, b.bad_count, b.minimum, b.maximum,
                           None if b.total is None else round(b.total, 9), b.first_source_time, b.last_source_time)
            for period in rollups.PERIODS
            for at, b in rollups.read(session, tag_id, period, T0 - timedelta(hours=1), T0 + timedelta(hours=2))
        }  # fmt: skip
        assert read == brute
        assert rollups.discrepancies(session, TAG, T0, T0 + timedelta(hours=2)) == []
    assert rollups.catch_up(db) == 2 and rollups.catch_up(db) == 0  # the waiting ingests, once
    with db.sessions() as session:
        stored = table(session)
        assert stored == brute
        assert stored[("1m", T0)][:3] == (10, 0, 1.5) and stored[("1m", T0)][5] == T0
        assert stored[("1m", quiet)][:4] == (1, 2, 18.25, 18.25)  # bad values counted, never summed
        assert stored[("1h", T0)][:2] == (32, 2)
        assert rollups.discrepancies(session, TAG, T0, T0 + timedelta(hours=2)) == []
        # the MES reads raw values, bad ones included, never the roll-ups
    during = DatabaseHistorianReader(db).values_during(TAG, quiet, quiet + 3 * second)
    assert during is not None and [q for _, _, q in during] == ["bad", "bad", "uncertain"]

    with pytest.raises(DBAPIError), db.engine.begin() as conn:  # outside the unit of work
        conn.execute(text("UPDATE monitoring_rollups SET total = total + 1 WHERE tag_id = :t"), {"t": tag_id})
    with pytest.raises(DBAPIError), db.engine.begin() as conn:
        conn.execute(text("UPDATE monitoring_rollup_marks SET merged_at = NULL"))
    forged = [
        "UPDATE monitoring_rollup_marks SET ingest_id = 0",  # the mark only moves forward
        "DELETE FROM monitoring_rollup_marks",
        "DELETE FROM monitoring_rollups WHERE tag_id = :t",  # never deleted
        "UPDATE monitoring_rollups SET value_count = value_count - 1 WHERE tag_id = :t",  # a bucket only grows
        "UPDATE monitoring_rollups SET maximum = minimum WHERE tag_id = :t AND maximum > minimum",
    ]
    for sql in forged:
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # even with the marker forged
            conn.execute(text(sql), {"t": tag_id})
    with behind_the_apps_back(db) as conn:  # what the triggers cannot tell from a merge, the raw values can
        conn.execute(text("UPDATE monitoring_rollups SET total = total + 100 WHERE tag_id = :t AND period = '1h' "
                          "AND value_count = 32"), {"t": tag_id})  # fmt: skip
    with db.sessions() as session:
        assert rollups.discrepancies(session, TAG, T0, T0 + timedelta(hours=2)) == [
            f"1h {T0.isoformat()}: differs from the raw values"
        ]


@pytest.mark.clause("SH-8.4.3", "TJ-6.5")
def test_retention_classes_are_reported_per_class_and_reclassified_with_a_reason(db: Database) -> None:
    with db.sessions() as session:  # the migration's default for existing tags: the strictest class
        assert set(session.scalars(select(Tag.retention_class))) == {"gmp"}
    code = configure(db, "mqtt", "mqtt://127.0.0.1:1883", [Binding("RM-FILL.info_probe", "x/RM-FILL#info")])
    engineer = principal(db, "wuhao")
    with UnitOfWork(db, engineer.actor) as uow, pytest.raises(ValidationFailed, match="reason is required"):
        tags.change_tag(
            uow,
            engineer,
            "RM-FILL.info_probe",
            TagChange(reason="display only", retention_class="information"),
        )
    with UnitOfWork(db, engineer.actor, reason="display only, per data classification SOP-IT-007") as uow:
        tag = tags.change_tag(uow, engineer, "RM-FILL.info_probe",
                              TagChange(reason="display only", retention_class="information"))  # fmt: skip
        uow.commit()
        tag_id = tag.id
    change = audit_entries(db, object_type="monitoring_tag", object_id=str(tag_id))[-1]
    assert change.changes["retention_class"] == ["gmp", "information"]
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # the database knows the classes
        conn.execute(
            text("UPDATE monitoring_tags SET retention_class = 'forever' WHERE id = :id"), {"id": tag_id}
        )

    old = datetime(2024, 3, 1, tzinfo=UTC)
    historian.ingest(
        db, code, [Reading("RM-FILL.info_probe", old + timedelta(days=d), Decimal(d)) for d in range(4)]
    )
    with db.sessions() as session:
        before = {
            line.retention_class: line
            for line in rollups.retention_report(session, datetime(2025, 3, 2, tzinfo=UTC))
        }
        info = before["information"]
        assert (info.years, info.tags, info.values, info.oldest) == (1, 1, 4, old)
        assert (
            info.kept_until == datetime(2025, 3, 1, tzinfo=UTC) and info.past_keep == 1
        )  # only 1 March 2024
        assert before["gmp"].past_keep == 0 and before["gmp"].tags >= 1 and before["gmp"].years == 6
        assert [line.retention_class for line in before.values()] == [
            "gmp",
            "environment",
            "utility",
            "information",
        ]
        assert session.scalar(select(Tag.retention_class).where(Tag.id == tag_id)) == "information"
    with db.sessions() as session:  # reporting archives nothing: the raw values stay
        assert historian.count_values(session, "RM-FILL.info_probe") == 4
