"""The genealogy both ways on the demo plant: backward from a unit to its containers, batch, charged lots and
intermediates, down to the planting plots, with the batch's context; forward from a herb lot or a plot to the
batches, codes, shipments and customers; recall impact in one call; the ``trace`` commands (SH-6.2.5, TJ-9.1,
TJ-5.1, TJ-6.3.4; issue 10 items 5–6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select
from trace_steps import act, charge, commissioned, intermediate, ship_to, sscc_pool
from typer.testing import CliRunner

from demo_codes import DemoCodes, demo_codes
from pharmatrace.cli import app
from pharmatrace.config import get_settings
from pharmatrace.kernel.errors import NotFound
from pharmatrace.storage.engine import Database
from pharmatrace.trace import genealogy, recall
from pharmatrace.trace.models import OutboundShipment

UNITS = [f"6901234{n:09d}4242" for n in range(1, 4)]
PACK = "69012350000000014242"
CASE = "69012990000000014242"
PALLET = "369012340000000017"
CUSTOMER = "C-GEN-01"


@pytest.fixture
def plant(db: Database) -> DemoCodes:
    """The demo plant's numbers: its packed batch (with its own codes) ``batch_done`` and ``batch_in_progress``."""
    return demo_codes(db)


def _plant(db: Database, plant: DemoCodes) -> str:
    """A herb lot of plot DS-01 charged into the demo's completed batch, which made an intermediate charged into
    the batch in progress (which also took a herb lot of plots SQ-01/SQ-02); three units of the batch in progress,
    two packed into a pack, the pack into a case, the case onto a pallet, and the pallet shipped: the shipment's
    number."""
    batch, other = plant.batch_done, plant.batch_in_progress
    charge(db, batch, plant.lot("YC", 1))  # 丹参 from plot DS-01
    charge(db, other, plant.lot("YC", 3))  # 三七 from plots SQ-01 and SQ-02
    intermediate(db, f"{batch}-EXT", made_by=batch, charged_into=[other])
    commissioned(db, UNITS, batch_no=other)
    commissioned(db, [PACK], level=2, code="6901235", pack_quantity=2, batch_no=other)
    commissioned(db, [CASE], level=3, code="6901299", pack_quantity=1, batch_no=other)
    sscc_pool(db, [PALLET])
    act(db, "commission", [PALLET])
    act(db, "pack", UNITS[:2], parent=PACK)
    act(db, "pack", [PACK], parent=CASE)
    act(db, "pack", [CASE], parent=PALLET)
    shipment = ship_to(db, [PALLET], customer=CUSTOMER)
    with db.sessions() as session:
        return str(session.scalar(select(OutboundShipment.number).where(OutboundShipment.id == shipment)))


def _refs(found: genealogy.Trace, kind: str) -> set[str]:
    return {n.ref for n in found.nodes if n.kind == kind}


class Alarms:
    def alarms(self, rooms: list[str], start: datetime, end: datetime) -> list[str]:
        return [f"ALM-T {room}" for room in rooms]


@pytest.mark.clause("SH-6.2.5", "TJ-9.1", "TJ-5.1", "TJ-6.3.4")
def test_backward_from_a_unit_reaches_containers_batches_lots_and_the_planting_plots(
    db: Database, plant: DemoCodes
) -> None:
    _plant(db, plant)
    batch, other = plant.batch_done, plant.batch_in_progress
    with db.sessions() as session:
        found = genealogy.backward(session, UNITS[0])
        assert found.start.kind == "unit" and found.start.ref == UNITS[0]
        assert (_refs(found, "pack"), _refs(found, "case"), _refs(found, "pallet")) == (
            {PACK},
            {CASE},
            {PALLET},
        )
        assert _refs(found, "batch") == {other, batch}  # its batch, and the one that made its intermediate
        assert {plant.lot("YC", 1), plant.lot("YC", 3), plant.lot("YP", 1)} <= _refs(found, "material_lot")
        assert _refs(found, "intermediate_lot") == {f"{batch}-EXT"}
        assert _refs(found, "plot") == {"DS-01", "SQ-01", "SQ-02"}
        assert _refs(found, "customer") == {CUSTOMER}  # where the unit went: shipped on its pallet
        ids = {n.id: n.ref for n in found.nodes}
        assert (f"{batch}-EXT", other) in {(ids[e.source], ids[e.target]) for e in found.edges}
        context = {b.batch_no: b for b in found.batches}[batch]
        assert "RM-WEIGH" in context.rooms and any(e.startswith("BAL-01") for e in context.equipment)
        assert any("(zhangwei)" in p for p in context.operators)
        assert [d.number for d in context.deviations] == [plant.deviation(1)]
        assert context.finished_lot == batch and plant.test_order(2) in {t.order for t in context.tests}
        assert context.recipe_version == 1 and not context.alarms_connected and context.alarms is None
        genealogy.register(Alarms())
        try:
            connected = {b.batch_no: b for b in genealogy.backward(session, UNITS[0]).batches}[batch]
        finally:
            genealogy.register(None)
        assert connected.alarms_connected and "ALM-T RM-WEIGH" in (connected.alarms or [])
        case = genealogy.backward(session, CASE, context=False)  # a case: the batches of what it holds
        assert _refs(case, "batch") == {other, batch} and _refs(case, "pallet") == {PALLET}
        assert {(c.level, c.state, c.count) for c in case.code_counts} == {(2, "packed", 1), (1, "packed", 2)}
        with pytest.raises(NotFound, match="No traceability code 0000"):
            genealogy.backward(session, "0000")


@pytest.mark.clause("SH-6.2.5", "TJ-9.1", "TJ-5.1")
def test_forward_from_a_herb_lot_or_a_plot_reaches_batches_units_shipments_and_customers(
    db: Database, plant: DemoCodes
) -> None:
    number = _plant(db, plant)
    batch, other = plant.batch_done, plant.batch_in_progress
    with db.sessions() as session:
        lot = genealogy.forward(session, plant.lot("YC", 3))
        assert lot.start.kind == "material_lot" and _refs(lot, "batch") == {other}
        assert {(c.level, c.state): c.count for c in lot.code_counts} == {
            (1, "packed"): 2, (1, "commissioned"): 1, (2, "packed"): 1, (3, "packed"): 1,
        }  # fmt: skip
        assert [(s.number, s.customer_code, s.units) for s in lot.shipments] == [(number, CUSTOMER, 2)]
        assert _refs(lot, "customer") == {CUSTOMER}
        # plot → harvest → herb shipment → herb lot → the completed batch → its intermediates and finished lot →
        # the batch in progress
        plot = genealogy.forward(session, "DS-01")
        assert plot.start.kind == "plot" and _refs(plot, "batch") == {batch, other}
        assert _refs(plot, "intermediate_lot") == {f"{batch}-EXT", f"{batch}-SOL"}
        assert {plant.lot("YC", 1), batch} <= _refs(plot, "material_lot")  # the herb lot, the finished lot
        assert number in _refs(plot, "shipment") and CUSTOMER in _refs(plot, "customer")
        other_ids = {int(n.id.split(":")[1]) for n in plot.nodes if n.kind == "batch" and n.ref == other}
        first = genealogy.units(session, other_ids, limit=2)
        rest = genealogy.units(session, other_ids, after=first[-1][0], limit=2)
        assert [v for _, v, _ in first + rest] == UNITS and len(rest) == 1
        assert [v for v, _ in genealogy.iter_units(session, other_ids)] == UNITS
        with pytest.raises(NotFound, match="No lot, batch or plot NOPE"):
            genealogy.forward(session, "NOPE")


@pytest.mark.clause("TJ-9.1", "SH-6.2.5")
def test_recall_impact_counts_batches_units_by_state_shipments_and_customers(
    db: Database, plant: DemoCodes
) -> None:
    number = _plant(db, plant)
    batch, other = plant.batch_done, plant.batch_in_progress
    with db.sessions() as session:
        demo = recall.impact(
            session, batch
        )  # the demo batch's own codes, and now the batch in progress's through the intermediate
        herb = recall.impact(session, plant.lot("YC", 3))
        assert [b.batch_no for b in herb.batches] == [other] and herb.batches[0].units == {
            "commissioned": 1,
            "packed": 2,
        }
        assert herb.units_by_state == {"commissioned": 1, "packed": 2} and herb.units_total == 3
        assert herb.shipped_units == 2 and [s.number for s in herb.shipments] == [number]
        assert [(c.code, c.shipments, c.units) for c in herb.customers] == [(CUSTOMER, [number], 2)]
        assert [b.batch_no for b in demo.batches] == [batch, other]
        assert demo.units_total == sum(b.units.get(s, 0) for b in demo.batches for s in b.units) > 3
        assert demo.shipped_units == sum(s.units for s in demo.shipments) >= 2
        vials = recall.impact(session, plant.lot("NB", 1))  # a rejected lot never charged: nothing reached
        assert vials.batches == [] and vials.units_total == 0 and vials.customers == []
        with pytest.raises(NotFound):
            recall.impact(session, "NO-SUCH-LOT")


@pytest.fixture
def trace_cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("PHARMATRACE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PHARMATRACE_VAR", str(db.state_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.clause("SH-6.2.5", "TJ-9.1")
def test_the_trace_commands_print_json_and_refuse_unknown_codes(
    trace_cli: CliRunner, db: Database, plant: DemoCodes
) -> None:
    number = _plant(db, plant)
    herb = plant.lot("YC", 3)
    backward = trace_cli.invoke(app, ["trace", "backward", UNITS[0], "--json"])
    assert backward.exit_code == 0, backward.output
    record = json.loads(backward.output)
    assert record["direction"] == "backward" and record["start"]["ref"] == UNITS[0]
    assert {n["ref"] for n in record["nodes"] if n["kind"] == "plot"} == {"DS-01", "SQ-01", "SQ-02"}
    forward = trace_cli.invoke(app, ["trace", "forward", herb, "--json", "--units"])
    assert forward.exit_code == 0, forward.output
    streamed = json.loads(forward.output)
    assert streamed["units"] == [[UNITS[0], "packed"], [UNITS[1], "packed"], [UNITS[2], "commissioned"]]
    assert [s["customer_code"] for s in streamed["shipments"]] == [CUSTOMER]
    human = trace_cli.invoke(app, ["trace", "forward", herb])
    assert human.exit_code == 0 and number in human.output and plant.batch_in_progress in human.output
    for command in (["trace", "backward", "0000"], ["trace", "forward", "NOPE", "--json"]):
        refused = trace_cli.invoke(app, command)
        assert refused.exit_code == 2 and "error: No" in refused.output, refused.output
