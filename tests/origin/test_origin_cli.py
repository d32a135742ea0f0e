"""``pharmatrace origin``: trace a scanned lot back to its plots, list shipments and the outbox (TJ-5.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from origin_steps import lot_id_of
from typer.testing import CliRunner

from pharmatrace.cli import app
from pharmatrace.config import get_settings
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Lot


@pytest.fixture
def origin_cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("PHARMATRACE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PHARMATRACE_VAR", str(db.state_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.clause("TJ-5.1", "TJ-5.2.1.5")
def test_the_cli_traces_a_lot_and_lists_shipments_and_feedback(origin_cli: CliRunner, db: Database) -> None:
    with db.sessions() as session:
        lot = session.get(Lot, lot_id_of(db, "SQ20261025"))
        assert lot is not None
        number = lot.lot_number
        vials_lot = session.get(Lot, lot_id_of(db, "GL261002"))
        assert vials_lot is not None
        vials_number = vials_lot.lot_number
    traced = origin_cli.invoke(app, ["origin", "trace", f"{number}-002"])  # a container code, as scanned
    assert traced.exit_code == 0, traced.output
    for shown in ("WS-FY-2610-01", "SQ-01", "SQ-02", "Panax notoginseng", "sun_drying", "quality_anomaly"):
        assert shown in traced.output, shown
    chain = json.loads(origin_cli.invoke(app, ["origin", "trace", number, "--json"]).output)
    assert sorted(s["plot"]["code"] for s in chain["sources"]) == ["SQ-01", "SQ-02"]
    vials = origin_cli.invoke(app, ["origin", "trace", vials_number])
    assert vials.exit_code == 2 and "no recorded origin" in vials.output
    open_ones = origin_cli.invoke(app, ["origin", "shipments", "--open"]).output
    assert "SL-FY-2611-01" in open_ones and "SL-FY-2609-01" not in open_ones
    outbox = json.loads(
        origin_cli.invoke(app, ["origin", "feedback", "--status", "pending", "--json"]).output
    )
    assert [f["lot_number"] for f in outbox] == [number]
