"""Archive copies of a month's raw values with a signed manifest, checked offline (TJ-10.1.6.2, SH-8.4.3)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from monitoring_steps import configure
from sqlalchemy import text
from typer.testing import CliRunner

from helpers import behind_the_apps_back, unguarded
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.monitoring import archive, historian
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.cli import monitoring_app
from pharmatrace.monitoring.historian import Reading
from pharmatrace.storage.engine import Database

TAG = "RM-FILL.archive_probe"
SEPT = datetime(2026, 9, 1, tzinfo=UTC)
ACTOR = Actor.system("cli:qa-archivist")


def _rewrite(data: Path, change: str, into: str) -> None:
    lines = gzip.decompress(data.read_bytes()).decode()
    assert change in lines
    data.write_bytes(gzip.compress(lines.replace(change, into, 1).encode()))


@pytest.mark.both  # times are stored differently by each dialect
@pytest.mark.clause("TJ-10.1.6.2", "SH-8.4.3", "SH-8.4.1", "TJ-10.1.1.1")
def test_a_months_archive_copy_holds_every_value_and_detects_any_change(db: Database, tmp_path: Path) -> None:
    code = configure(db, "mqtt", "mqtt://127.0.0.1:1883", [Binding(TAG, "x/archive", "decimal", 2)])
    within = historian.ingest(db, code, [Reading(TAG, SEPT + timedelta(days=d, hours=3), Decimal(f"2{d}.50"))
                                         for d in range(3)])  # fmt: skip
    straddling = historian.ingest(db, code, [  # the last second of September and the first of October
        Reading(TAG, datetime(2026, 9, 30, 23, 59, 59, 500000, tzinfo=UTC), Decimal("22.25")),
        Reading(TAG, datetime(2026, 10, 1, 0, 0, 1, tzinfo=UTC), Decimal("22.75"), "uncertain", 0x40000000),
    ])  # fmt: skip
    october = historian.ingest(db, code, [Reading(TAG, datetime(2026, 10, 9, tzinfo=UTC), Decimal("20.00"))])
    assert within is not None and straddling is not None and october is not None

    done = archive.export_month(db, archive.parse_month("2026-09"), tmp_path / "a", ACTOR)
    manifest = json.loads(done.manifest.read_text())
    ours = {i["id"]: i for i in manifest["ingests"] if i["id"] in {within.ingest_id, straddling.ingest_id}}
    assert manifest["month"] == "2026-09" and october.ingest_id not in {i["id"] for i in manifest["ingests"]}
    assert ours[within.ingest_id] | {"batch_key": None} == {
        "id": within.ingest_id, "batch_key": None, "stored": 3, "in_month": 3, "values_sm3": within.values_sm3,
        "complete": True, "verified": True}  # fmt: skip
    assert (ours[straddling.ingest_id]["in_month"], ours[straddling.ingest_id]["complete"]) == (1, False)
    lines = [json.loads(line) for line in gzip.decompress(done.data.read_bytes()).decode().splitlines()]
    mine = [line for line in lines if line[0] in ours]
    assert [(line[2], line[4], line[5]) for line in mine] == [  # exact text and times, readable without us
        ("2026-09-01T03:00:00.000000+00:00", "20.50", "good"), ("2026-09-02T03:00:00.000000+00:00", "21.50", "good"),
        ("2026-09-03T03:00:00.000000+00:00", "22.50", "good"),
        ("2026-09-30T23:59:59.500000+00:00", "22.25", "good")]  # fmt: skip
    assert archive.check(done.manifest) == []
    cli = CliRunner().invoke(monitoring_app, ["check-archive", str(done.manifest)])
    assert (cli.exit_code, cli.output.strip()) == (0, "intact")
    with db.engine.connect() as conn:  # the copy is an audit event naming the file's SM3
        entry = conn.execute(text("SELECT actor_login, changes FROM audit_entries WHERE event = 'monitoring.archive' "
                                  "AND object_id = '2026-09'")).one()  # fmt: skip
    assert entry[0] == "system:cli:qa-archivist" and done.data_sm3 in str(entry[1])

    # refusals change nothing: a month not yet over, a malformed month, a second copy into the same place
    for attempt, message in [
        (lambda: archive.export_month(db, datetime.now(UTC), tmp_path / "b", ACTOR), "has ended"),
        (lambda: archive.parse_month("2026-13"), "YYYY-MM"),
        (lambda: archive.export_month(db, SEPT, tmp_path / "a", ACTOR), "already"),
    ]:
        with pytest.raises(ValidationFailed, match=message):
            attempt()
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())

    # a changed value in the copy, a changed manifest: each named
    copy = tmp_path / "tampered"
    copy.mkdir()
    for f in (done.data, done.manifest):
        (copy / f.name).write_bytes(f.read_bytes())
    _rewrite(copy / done.data.name, '"21.50"', '"21.49"')
    assert archive.check(copy / done.manifest.name) == [
        f"{done.data.name}: its SM3 differs from the manifest's: the file was changed",
        f"ingest {within.ingest_id}: its values no longer hash to the SM3 of its audited record"]  # fmt: skip
    (copy / done.manifest.name).write_text(done.manifest.read_text().replace('"values": ', '"values": 1', 1))
    assert "the manifest's signature does not verify: the manifest was changed" in archive.check(
        copy / done.manifest.name
    )
    cli = CliRunner().invoke(monitoring_app, ["check-archive", str(copy / done.manifest.name)])
    assert cli.exit_code == 1

    # a value changed in the database behind the application's back is not archived as if it were sound
    with behind_the_apps_back(db) as conn:
        unguarded(conn, "monitoring_values")
        conn.execute(text("UPDATE monitoring_values SET value = '99.99' WHERE ingest_id = :i AND value = '21.50'"),
                     {"i": within.ingest_id})  # fmt: skip
    with pytest.raises(ValidationFailed, match=f"ingests {within.ingest_id} no longer match"):
        archive.export_month(db, SEPT, tmp_path / "c", ACTOR)
    assert list((tmp_path / "c").iterdir()) == []
