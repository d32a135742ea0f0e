"""The historian's raw values in monthly partitions on PostgreSQL (SH-8.4.3, ADR 0028): where values land, the
guards of every partition, the maintenance that adds months, and the migration that moves existing values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from monitoring_steps import configure
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from helpers import as_application_role, behind_the_apps_back
from pharmatrace.kernel import clock
from pharmatrace.monitoring import historian, partitions
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.partitions import BEFORE, DEFAULT, horizon, month_of, next_month, partition_name
from pharmatrace.storage.engine import Database

TAG = "RM-LYO.partition_probe"
POSTGRESQL = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite has no partitions


def _homes(db: Database) -> dict[datetime, str]:
    """Each stored value of the probe tag: the partition that holds it."""
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT v.source_time, v.tableoid::regclass::text FROM monitoring_values v "
            "JOIN monitoring_tags t ON t.id = v.tag_id WHERE t.name = :tag"
        ), {"tag": TAG})  # fmt: skip
        return dict(rows.all())


def _refuses_truncate(db: Database, partition: str) -> None:
    """TRUNCATE of the partition itself is refused by its own trigger (the alarms' foreign key out of the way
    first, which would refuse it for another reason)."""
    with (
        pytest.raises(DBAPIError, match=f"TRUNCATE on {partition} is refused"),
        behind_the_apps_back(db) as conn,
    ):
        conn.execute(text("ALTER TABLE monitoring_alarms DROP CONSTRAINT fk_monitoring_alarms_raised_value"))
        conn.execute(text(f"TRUNCATE {partition}"))


@POSTGRESQL
@pytest.mark.clause("SH-8.4.3", "SH-7.1.3.c", "SH-8.4.1")
def test_values_land_in_their_months_partition_and_every_partition_is_guarded(db: Database) -> None:
    now = clock.now()
    this = month_of(now)
    with db.engine.connect() as conn:
        present = set(partitions.partitions(conn))
    assert {BEFORE, DEFAULT, partition_name(this), partition_name(horizon(now))} <= present

    code = configure(db, "mqtt", "mqtt://127.0.0.1:1883", [Binding(TAG, "pt/probe", "decimal", 2)])
    old, soon = datetime(2020, 5, 1, 8, tzinfo=UTC), next_month(this) + timedelta(days=2, hours=3)
    far = horizon(now) + timedelta(days=400)  # a source's clock a year ahead: no month made for it yet
    result = historian.ingest(
        db, code, [Reading(TAG, t, f"{20 + i}.50") for i, t in enumerate((old, soon, far))]
    )
    assert result is not None and result.stored == 3
    nxt = partition_name(next_month(this))
    assert _homes(db) == {old: BEFORE, soon: nxt, far: DEFAULT}
    with db.sessions() as session:  # one range query reads across the partitions, exactly as stored
        read = historian.values(session, TAG, old, far)
        assert [(v.source_time, v.text) for v in read] == [(old, "20.50"), (soon, "21.50"), (far, "22.50")]
        assert historian.verify_ingest(session, result.ingest_id)

    # a partition is guarded as its parent is, even addressed directly, even with the marker forged
    for sql in (f"UPDATE {nxt} SET value = '99'", f"DELETE FROM {nxt}", f"UPDATE {DEFAULT} SET value = '1'"):
        with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
            conn.execute(text(sql))
    for partition in (nxt, DEFAULT, BEFORE):
        _refuses_truncate(db, partition)
    with pytest.raises(DBAPIError, match="outside the unit of work"), db.engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {nxt} (tag_id, ingest_id, source_time, server_time, quality) "
                          "SELECT tag_id, ingest_id, source_time + interval '1 second', server_time, quality "
                          f"FROM {nxt} LIMIT 1"))  # fmt: skip
    with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # does not switch the guards off
        conn.execute(text(f"DELETE FROM {nxt}"))

    # the daily maintenance, two months on: the months ahead are made, guarded, the one holding ``far`` is not
    later = far - timedelta(days=62)
    report = partitions.ensure(db, now=later)
    assert report.refused is None
    assert report.blocked == {partition_name(month_of(far)): 1}
    assert (
        partition_name(month_of(later)) in report.created
        and partition_name(month_of(far)) not in report.created
    )
    made = report.created[0]
    _refuses_truncate(db, made)
    assert partitions.ensure(db, now=later).created == []  # idempotent
    assert _homes(db)[far] == DEFAULT  # still where it was, still read
    with db.sessions() as session:
        assert len(historian.values(session, TAG, old, far)) == 3

    # the application role owns nothing: it reads and appends through the parent only, and cannot make months
    with as_application_role(db) as app_db:
        refused = partitions.ensure(app_db, now=later + timedelta(days=400))
        assert refused.refused and "permission denied" in refused.refused and refused.created == []
        with app_db.engine.connect() as conn:
            assert (
                conn.scalar(
                    text("SELECT count(*) FROM monitoring_values WHERE source_time = :t"), {"t": soon}
                )
                == 1
            )
        with pytest.raises(DBAPIError, match="permission denied"), app_db.engine.connect() as conn:
            conn.execute(text(f"SELECT count(*) FROM {nxt}"))
    with db.engine.connect() as conn:
        assert partition_name(month_of(later + timedelta(days=400))) not in partitions.partitions(conn)


@POSTGRESQL
@pytest.mark.clause("SH-8.4.3", "SH-8.4.1", "SH-7.1.3.c")
def test_the_migration_moves_every_value_and_the_cli_reports_the_partitions(
    db: Database, cli: CliRunner
) -> None:
    from alembic import command

    from pharmatrace.cli import app
    from pharmatrace.storage.migrate import alembic_config, upgrade

    code = configure(db, "mqtt", "mqtt://127.0.0.1:1883", [Binding(TAG, "pt/probe", "decimal", 2)])
    times = [datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC), clock.now().replace(microsecond=0)]
    result = historian.ingest(db, code, [Reading(TAG, t, "7.25") for t in times])
    assert result is not None
    with db.engine.connect() as conn:
        before = conn.execute(
            text("SELECT id, tag_id, source_time, value FROM monitoring_values ORDER BY id")
        ).all()
    assert len(before) > 2  # the plant's own values too

    command.downgrade(alembic_config(db.engine), "0051")  # back to one table ...
    with db.engine.connect() as conn:
        assert partitions.partitions(conn) == []
        assert conn.execute(text("SELECT id, tag_id, source_time, value FROM monitoring_values ORDER BY id")).all() \
            == before  # fmt: skip
    upgrade(db.engine)  # ... and partitioned again: every value moved, ids and all
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT id, tag_id, source_time, value FROM monitoring_values ORDER BY id")).all() \
            == before  # fmt: skip
        present = partitions.partitions(conn)
    assert partition_name(month_of(times[0])) in present  # months from the oldest value on
    assert _homes(db) == {
        times[0]: partition_name(month_of(times[0])),
        times[1]: partition_name(month_of(times[1])),
    }
    with db.sessions() as session:
        assert historian.verify_ingest(session, result.ingest_id)
    # the id sequence went along: new values continue after the moved ones
    later = historian.ingest(db, code, [Reading(TAG, times[1] + timedelta(seconds=1), "7.50")])
    assert later is not None
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT max(id) FROM monitoring_values")) > before[-1][0]

    made = cli.invoke(app, ["monitoring", "partitions", "--ahead", "5"])
    assert made.exit_code == 0, made.output
    assert f"created {partition_name(horizon(clock.now(), 5))}" in made.output
    assert DEFAULT in made.output.splitlines()[-1]
