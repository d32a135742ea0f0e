"""`pharmatrace ledger verify` re-hashes every historian value against its ingest's SM3 (ADR 0019).

The tampering is a database superuser's: the unit-of-work marker forged and the append-only guards of the values
(and of their partitions, on PostgreSQL) set aside. Verify then names exactly the ingests whose values changed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from monitoring_steps import configure
from sqlalchemy import text
from typer.testing import CliRunner

from helpers import behind_the_apps_back, unguarded
from pharmatrace.cli import app
from pharmatrace.monitoring import historian
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import Reading
from pharmatrace.storage.engine import Database

T0 = datetime(2026, 11, 21, 8, 0, 0, 250000, tzinfo=UTC)
TEMP, RH = "RM-FILL.vouched_temp", "RM-FILL.vouched_rh"


@pytest.mark.both
@pytest.mark.clause("SH-8.4.5", "SH-8.4.1", "SH-7.1.3.c", "TJ-10.1.3.3")
def test_verify_names_the_ingests_whose_values_changed_behind_the_apps_back(
    cli: CliRunner, db: Database
) -> None:
    source = configure(db, "mqtt", "mqtt://127.0.0.1:1883",
                       [Binding(TEMP, "x/vouched#t", "decimal", 2), Binding(RH, "x/vouched#rh", "float")])  # fmt: skip
    ingests = []
    for batch in range(4):  # four ingests of three values each, a minute apart
        at = T0 + timedelta(minutes=batch)
        result = historian.ingest(db, source, [
            Reading(TEMP, at, Decimal("21.50")), Reading(RH, at, 45.5),
            Reading(TEMP, at + timedelta(seconds=30), None, "bad", 0x808B0000)])  # fmt: skip
        assert result is not None and result.stored == 3
        ingests.append(result.ingest_id)
    altered, deleted, added, untouched = ingests

    clean = cli.invoke(app, ["ledger", "verify", "--json"])
    assert clean.exit_code == 0, clean.output
    report = json.loads(clean.output)
    assert report["intact"] and "monitoring.ingests" in report["vouched_checks"]
    assert report["vouched_rows_checked"] >= 3 * len(ingests)

    with behind_the_apps_back(db) as conn:
        unguarded(conn, "monitoring_values")
        conn.execute(  # a value altered: 21.50 → 21.5, the same number in another form (SH-8.4.1)
            text("UPDATE monitoring_values SET value = '21.5' WHERE ingest_id = :i AND value = '21.50'"),
            {"i": altered},
        )
        conn.execute(
            text("DELETE FROM monitoring_values WHERE ingest_id = :i AND quality = 'bad'"), {"i": deleted}
        )
        conn.execute(  # a value slipped into an ingest
            text("INSERT INTO monitoring_values (tag_id, ingest_id, source_time, server_time, value, number, quality) "
                 "SELECT tag_id, ingest_id, :t, server_time, '46.0', 46.0, quality FROM monitoring_values "
                 "WHERE ingest_id = :i AND value = '45.5'"),
            {"i": added, "t": T0 + timedelta(hours=1)},
        )  # fmt: skip

    broken = cli.invoke(app, ["ledger", "verify"])
    assert broken.exit_code == 1, broken.output
    problems = [
        line.strip().removeprefix("MISMATCH ") for line in broken.output.splitlines() if "MISMATCH" in line
    ]
    assert {tuple(p.split(": ")[:2]) for p in problems} == {
        ("monitoring.ingest.values", f"monitoring_ingest:{i}") for i in (altered, deleted, added)
    }
    assert f"monitoring_ingest:{deleted}: 2 value(s) stored for the 3 the ingest vouches for" in broken.output
    assert f"tags {RH}, {TEMP}" in broken.output and f"monitoring_ingest:{untouched}" not in broken.output
