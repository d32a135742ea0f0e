"""Genealogy figures (SH-6.2.5, TJ-9.1, TJ-5.1; issue 10 "Benchmark"): backward and forward traces and recall
impact over a generated genealogy, each against a naive recursive-CTE baseline on the same data in the same run.

The plant (``BENCH_TRACE_UNITS`` units, default 10,000,000; ``BENCH_TRACE_BATCHES`` batches, default 1,000;
``BENCH_TRACE_LOTS`` material lots, default 100,000):

* one lot in 20 is a herb lot; half of the herb lots came in herb shipments from 40 plots (two harvests each,
  a shipment made of one or two harvests, ten lots per shipment); the other lots are excipients;
* each batch charges 20–100 lots, a fifth of them herb lots drawn from a window that slides with the batch number
  (so a herb lot feeds several batches), the rest excipient lots at random; one herb lot (the "hot" lot) is
  charged into every tenth batch, so it feeds ~10 % of the units;
* every twentieth batch's finished lot (numbered as the batch) is charged again into the next batch, so the walk
  recurses through batches;
* each batch's units are packed 20 per case and 25 cases per pallet (0.5 % of the units decommissioned as
  samples, outside any case); 60 % of the pallets shipped, three to a shipment, to 300 customers.

The rows are written in bulk with Core inserts (one transaction marked as a unit of work), minimal valid rows
(NOT NULL, foreign keys and CHECKs satisfied; no audit rows, no trace events): this measures the reads only.
Intermediate lots (``intermediate_lots``/``intermediate_movements``) are not generated.

Measured, alternating our side and the baseline query by query (p50/p95 over ``BENCH_TRACE_QUERIES`` random units,
default 30; the median of ``BENCH_TRACE_RUNS`` runs, default 3, for the forward and recall figures):

1. ``genealogy.backward(…, context=False)`` and ``backward(…)`` with the batch context, from random units;
2. from the hot lot: ``genealogy.forward`` (graph, code counts, shipments) and the full unit list
   (``downstream_batches`` then ``iter_units`` streamed to the end);
3. ``recall.impact`` of a batch (one whose finished lot was charged again) and of the hot lot.

The baseline: ONE plain ``WITH RECURSIVE`` statement per question walking lot → batch (→ finished lot → batch …)
→ unit, and unit → case → pallet → shipment → customer row by row. The answers are checked against each other
(unit counts, shipped units, unit list length). The aims of the issue (backward p95 < 20 ms, forward full list
< 3 s) are printed as facts.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection

from bench.databases import on_each_database
from pharmatrace.kernel import clock
from pharmatrace.mes.dispensing_models import MaterialCharge
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.mes.recipe_models import MasterRecipe, MasterRecipeVersion
from pharmatrace.origin.models import Crop, Harvest, HerbLotOrigin, PlantingBase, Plot, ShipmentSource
from pharmatrace.origin.models import Shipment as HerbShipment
from pharmatrace.storage.engine import Database, mark_unit_of_work
from pharmatrace.trace import genealogy, recall
from pharmatrace.trace.models import CodePool, Customer, OutboundShipment, ProductIdentifier, TraceCode
from pharmatrace.wms.models import Container, Lot, Material, Supplier

UNITS = int(os.environ.get("BENCH_TRACE_UNITS", "10000000"))
BATCHES = int(os.environ.get("BENCH_TRACE_BATCHES", "1000"))
LOTS = int(os.environ.get("BENCH_TRACE_LOTS", "100000"))
QUERIES = int(os.environ.get("BENCH_TRACE_QUERIES", "30"))
RUNS = int(os.environ.get("BENCH_TRACE_RUNS", "3"))
PER_CASE, PER_PALLET = 20, 25
CUSTOMERS, PLOTS, LOTS_PER_HERB_SHIPMENT, PALLETS_PER_SHIPMENT = 300, 40, 10, 3
SHIPPED, SAMPLES = 0.6, 0.005
HOT_EVERY, RECHARGE_EVERY = (
    10,
    20,
)  # the hot lot feeds every 10th batch; every 20th batch's lot is charged again
CHUNK = 20_000


class Plant:
    """What the queries start from."""

    def __init__(self, hot_lot: str, recharged_batch: str, unit_values: list[str]) -> None:
        self.hot_lot = hot_lot
        self.recharged_batch = recharged_batch
        self.unit_values = unit_values


def _insert(conn: Connection, table: Any, rows: Iterator[dict[str, Any]]) -> None:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            conn.execute(insert(table), chunk)
            chunk = []
    if chunk:
        conn.execute(insert(table), chunk)


def _first_id(conn: Connection, table: Any) -> int:
    return int(conn.execute(select(func.coalesce(func.max(table.id), 0))).scalar_one()) + 1


def _units_of(batch: int) -> int:
    return UNITS // BATCHES + (1 if batch < UNITS % BATCHES else 0)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def fill(db: Database) -> Plant:
    now = clock.now()
    today = date(2026, 6, 1)
    rng = random.Random(20261129)  # noqa: S311 - a repeatable plant, not a secret
    stamp = {"created_at": now, "created_by": "bench"}
    with db.engine.begin() as conn:
        mark_unit_of_work(conn)
        # --- master data ----------------------------------------------------------------------------------
        supplier = conn.execute(insert(Supplier).returning(Supplier.id), {
            "code": "BT-SUP", "name": "基准供应商", "kind": "manufacturer", **stamp}).scalar_one()  # fmt: skip
        grower = conn.execute(insert(Supplier).returning(Supplier.id), {
            "code": "BT-GAP", "name": "基准种植基地", "kind": "planting_base", **stamp}).scalar_one()  # fmt: skip
        materials = {}
        for code, kind, unit in (("BT-HERB", "herb", "kg"), ("BT-EXC", "excipient", "kg"),
                                 ("BT-FG", "finished_good", "支")):  # fmt: skip
            materials[code] = conn.execute(insert(Material).returning(Material.id), {
                "code": code, "name": f"基准 {code}", "kind": kind, "unit": unit, **stamp}).scalar_one()  # fmt: skip
        base = conn.execute(insert(PlantingBase).returning(PlantingBase.id), {
            "supplier_id": grower, "region": "山东临沂", **stamp}).scalar_one()  # fmt: skip
        recipe = conn.execute(insert(MasterRecipe).returning(MasterRecipe.id), {
            "code": "BT-MR", "product_code": "BT-FG", "product_name": "基准成品", **stamp}).scalar_one()  # fmt: skip
        version = conn.execute(insert(MasterRecipeVersion).returning(MasterRecipeVersion.id), {
            "recipe_id": recipe, "version": 1, "status": "approved", "batch_size": Decimal("10000"),
            "batch_unit": "支", "mpr_number": "BT-MPR", "body": "{}", "body_sm3": "0" * 64,
            "submitted_at": now, "approved_at": now, **stamp}).scalar_one()  # fmt: skip

        # --- the origin: plots, crops, harvests, herb shipments --------------------------------------------
        plot0, crop0, harvest0 = _first_id(conn, Plot), _first_id(conn, Crop), _first_id(conn, Harvest)
        _insert(conn, Plot, ({"id": plot0 + p, "base_id": base, "code": f"BT-P{p:03d}", "name": f"地块 {p}",
                              "area_mu": Decimal("12.5"), **stamp} for p in range(PLOTS)))  # fmt: skip
        _insert(conn, Crop, ({"id": crop0 + p, "code": f"BT-C{p:03d}", "plot_id": plot0 + p,
                              "material_id": materials["BT-HERB"], "species": "丹参",
                              "latin_name": "Salvia miltiorrhiza Bge.", "seed_kind": "seed", "seed_source": "自繁",
                              "planted_on": date(2025, 3, 1), **stamp} for p in range(PLOTS)))  # fmt: skip
        harvests = 2 * PLOTS
        _insert(conn, Harvest, ({"id": harvest0 + h, "code": f"BT-H{h:04d}", "crop_id": crop0 + h // 2,
                                 "harvested_on": date(2025, 11, 1), "quantity": Decimal("800"), "unit": "kg",
                                 **stamp} for h in range(harvests)))  # fmt: skip
        herb_lots = max(LOTS // 20, 10)
        origin_lots = herb_lots // 2
        herb_shipments = _ceil(origin_lots, LOTS_PER_HERB_SHIPMENT)
        ship0 = _first_id(conn, HerbShipment)
        _insert(conn, HerbShipment, ({"id": ship0 + s, "code": f"BT-HS{s:05d}", "base_id": base,
                                      "material_id": materials["BT-HERB"], "batch_no": f"GAP{s:05d}",
                                      "quantity": Decimal("500"), "unit": "kg", "pack_type": "编织袋 25 kg",
                                      "pack_count": 20, "packed_on": today, "shipped_on": today,
                                      "destination": "本厂", **stamp} for s in range(herb_shipments)))  # fmt: skip

        def sources() -> Iterator[dict[str, Any]]:
            for s in range(herb_shipments):
                for h in rng.sample(range(harvests), rng.randint(1, 2)):
                    yield {"shipment_id": ship0 + s, "harvest_id": harvest0 + h, "quantity": Decimal("250")}

        _insert(conn, ShipmentSource, sources())

        # --- lots (and one container each), herb lot origins ----------------------------------------------
        lot0, container0 = _first_id(conn, Lot), _first_id(conn, Container)
        lot_numbers = [f"BT-L{i:07d}" for i in range(LOTS)]
        batch_nos = [f"BT-B{b:06d}" for b in range(BATCHES)]
        recharged = [b for b in range(BATCHES - 1) if b % RECHARGE_EVERY == RECHARGE_EVERY - 3]
        lot_rows = [(lot_numbers[i], "BT-HERB" if i < herb_lots else "BT-EXC") for i in range(LOTS)]
        lot_rows += [(batch_nos[b], "BT-FG") for b in recharged]  # finished lots numbered as their batch
        _insert(conn, Lot, ({"id": lot0 + i, "lot_number": number, "material_id": materials[material],
                             "supplier_id": supplier, "supplier_lot": f"S{i}", "manufacture_date": today,
                             "quantity": Decimal("100"), "unit": "kg", "status": "released", **stamp}
                            for i, (number, material) in enumerate(lot_rows)))  # fmt: skip
        _insert(conn, Container, ({"id": container0 + i, "code": f"{number}-001", "lot_id": lot0 + i, "number": 1,
                                   "quantity": Decimal("100"), "unit": "kg", "damaged": False, **stamp}
                                  for i, (number, _) in enumerate(lot_rows)))  # fmt: skip
        _insert(conn, HerbLotOrigin, ({"lot_id": lot0 + i, "shipment_id": ship0 + i // LOTS_PER_HERB_SHIPMENT,
                                       **stamp} for i in range(origin_lots)))  # fmt: skip

        # --- batches and what they charged ----------------------------------------------------------------
        batch0 = _first_id(conn, BatchOrder)
        start = now - timedelta(days=400)
        _insert(conn, BatchOrder, ({
            "id": batch0 + b, "order_no": f"BT-O{b:06d}", "batch_no": batch_nos[b], "product_code": "BT-FG",
            "product_name": "基准成品", "recipe_code": "BT-MR", "master_version_id": version,
            "batch_size": Decimal(_units_of(b)), "unit": "支", "planned_start": start + timedelta(hours=8 * b),
            "planned_end": start + timedelta(hours=8 * b + 6), "status": "completed", "released_at": now,
            "started_at": now, "completed_at": now, **stamp} for b in range(BATCHES)))  # fmt: skip
        lot_index = {number: i for i, (number, _) in enumerate(lot_rows)}

        def charged(b: int) -> list[int]:
            count = rng.randint(20, 100)
            herbs = min(max(2, count // 5), herb_lots - 1)
            width = min(herb_lots - 1, max(3 * herbs, 3 * herb_lots // BATCHES))
            centre = 1 + b * (herb_lots - 1) // BATCHES
            picked = {1 + (centre + off) % (herb_lots - 1) for off in rng.sample(range(width), herbs)}
            others = min(count - herbs, LOTS - herb_lots)
            picked |= set(rng.sample(range(herb_lots, LOTS), others))
            if b % HOT_EVERY == 0:
                picked.add(0)  # the hot herb lot
            if b - 1 in recharged:
                picked.add(lot_index[batch_nos[b - 1]])
            return sorted(picked)

        def charges() -> Iterator[dict[str, Any]]:
            for b in range(BATCHES):
                for i in charged(b):
                    number, material = lot_rows[i]
                    yield {"batch_order_id": batch0 + b, "batch_no": batch_nos[b], "step_code": "S10",
                           "source": "container", "container_id": container0 + i, "container_code": f"{number}-001",
                           "material_id": materials[material], "material_code": material,
                           "material_name": f"基准 {material}", "lot_id": lot0 + i, "lot_number": number,
                           "quantity": Decimal("1.5"), "unit": "kg", "charged_at": now, "charged_by": "bench",
                           "charged_by_name": "基准"}  # fmt: skip

        _insert(conn, MaterialCharge, charges())

        # --- codes: units in cases on pallets, shipments to customers -------------------------------------
        unit_id = conn.execute(insert(ProductIdentifier).returning(ProductIdentifier.id), {
            "scheme": "gs1", "code": "06901234000017", "material_id": materials["BT-FG"], "level": 1,
            "pack_quantity": 1, **stamp}).scalar_one()  # fmt: skip
        case_id = conn.execute(insert(ProductIdentifier).returning(ProductIdentifier.id), {
            "scheme": "gs1", "code": "16901234000014", "material_id": materials["BT-FG"], "level": 3,
            "pack_quantity": PER_CASE, **stamp}).scalar_one()  # fmt: skip
        pools = {}
        for name, identifier, count in (("unit", unit_id, UNITS), ("case", case_id, 1), ("pallet", None, 1)):
            pools[name] = conn.execute(insert(CodePool).returning(CodePool.id), {
                "number": f"BT-POOL-{name}", "identifier_id": identifier, "origin": "generated",
                "count": count, **stamp}).scalar_one()  # fmt: skip
        customer0 = _first_id(conn, Customer)
        _insert(conn, Customer, ({"id": customer0 + c, "code": f"BT-CU{c:04d}", "name": f"基准客户 {c}",
                                  "kind": "distributor", "address": f"地址 {c}", **stamp}
                                 for c in range(CUSTOMERS)))  # fmt: skip
        pallets = sum(_ceil(_ceil(_units_of(b), PER_CASE), PER_PALLET) for b in range(BATCHES))
        shipped = [rng.random() < SHIPPED for _ in range(pallets)]
        shipment0 = _first_id(conn, OutboundShipment)
        _insert(conn, OutboundShipment, ({"id": shipment0 + s, "number": f"BT-SH{s:06d}",
                                          "customer_id": customer0 + rng.randrange(CUSTOMERS), "address": "收货地址",
                                          "status": "shipped", "shipped_at": now, **stamp}
                                         for s in range(_ceil(sum(shipped), PALLETS_PER_SHIPMENT))))  # fmt: skip
        code0 = _first_id(conn, TraceCode)

        def codes() -> Iterator[dict[str, Any]]:
            next_id, unit_no, case_no, pallet_no, shipped_no = code0, 0, 0, 0, 0
            for b in range(BATCHES):
                common = {"batch_order_id": batch0 + b, "line": "PK-1", "disposition": None}
                units = _units_of(b)
                cases = _ceil(units, PER_CASE)
                for p in range(_ceil(cases, PER_PALLET)):
                    shipment = None
                    if shipped[pallet_no]:
                        shipment = shipment0 + shipped_no // PALLETS_PER_SHIPMENT
                        shipped_no += 1
                    pallet = next_id
                    next_id += 1
                    yield {"id": pallet, "value": f"00{69012340000000000 + pallet_no:018d}", "level": 4,
                           "identifier_id": None, "pool_id": pools["pallet"],
                           "state": "shipped" if shipment else "commissioned", "parent_id": None,
                           "shipment_id": shipment, **common}  # fmt: skip
                    pallet_no += 1
                    for _ in range(min(PER_PALLET, cases - p * PER_PALLET)):
                        case = next_id
                        next_id += 1
                        yield {"id": case, "value": f"C{case_no:011d}", "level": 3, "identifier_id": case_id,
                               "pool_id": pools["case"], "state": "packed", "parent_id": pallet,
                               "shipment_id": None, **common}  # fmt: skip
                        case_no += 1
                        for _ in range(min(PER_CASE, units)):
                            units -= 1
                            sample = rng.random() < SAMPLES
                            yield {"id": next_id, "value": f"U{unit_no:012d}", "level": 1, "identifier_id": unit_id,
                                   "pool_id": pools["unit"], "state": "decommissioned" if sample else "packed",
                                   "parent_id": None if sample else case, "shipment_id": None,
                                   **common, "disposition": "sample" if sample else None}  # fmt: skip
                            next_id += 1
                            unit_no += 1

        _insert(conn, TraceCode, codes())
        conn.execute(text("ANALYZE"))
    probe = random.Random(7)  # noqa: S311 - repeatable probes, not a secret
    return Plant(
        hot_lot=lot_numbers[0],
        recharged_batch=batch_nos[recharged[0]] if recharged else batch_nos[0],
        unit_values=[f"U{probe.randrange(UNITS):012d}" for _ in range(QUERIES)],
    )


# --- the baseline: one plain recursive CTE per question ------------------------------------------------

BACKWARD_CTE = text("""
WITH RECURSIVE
  start AS (SELECT id, batch_order_id FROM trace_codes WHERE value = :code),
  chain(id, value, parent_id, shipment_id, depth) AS (
    SELECT c.id, c.value, c.parent_id, c.shipment_id, 0 FROM trace_codes c JOIN start ON c.id = start.id
    UNION ALL
    SELECT c.id, c.value, c.parent_id, c.shipment_id, chain.depth + 1
    FROM trace_codes c JOIN chain ON c.id = chain.parent_id WHERE chain.depth < 8
  ),
  up(batch_id) AS (
    SELECT batch_order_id FROM start
    UNION
    SELECT b.id FROM up
    JOIN material_charges mc ON mc.batch_order_id = up.batch_id
    JOIN lots l ON l.id = mc.lot_id
    JOIN batch_orders b ON b.batch_no = l.lot_number
  ),
  lots_in AS (SELECT DISTINCT mc.lot_id FROM material_charges mc JOIN up ON mc.batch_order_id = up.batch_id)
SELECT 'code', chain.value FROM chain
UNION ALL SELECT 'shipment', s.number FROM chain JOIN trace_shipments s ON s.id = chain.shipment_id
UNION ALL SELECT 'customer', cu.code FROM chain JOIN trace_shipments s ON s.id = chain.shipment_id
  JOIN trace_customers cu ON cu.id = s.customer_id
UNION ALL SELECT 'batch', b.batch_no FROM up JOIN batch_orders b ON b.id = up.batch_id
UNION ALL SELECT 'lot', l.lot_number FROM lots_in JOIN lots l ON l.id = lots_in.lot_id
UNION ALL SELECT DISTINCT 'herb_shipment', hs.code FROM lots_in
  JOIN herb_lot_origins o ON o.lot_id = lots_in.lot_id JOIN herb_shipments hs ON hs.id = o.shipment_id
UNION ALL SELECT DISTINCT 'plot', p.code FROM lots_in
  JOIN herb_lot_origins o ON o.lot_id = lots_in.lot_id
  JOIN herb_shipment_sources ss ON ss.shipment_id = o.shipment_id
  JOIN harvests h ON h.id = ss.harvest_id JOIN crops cr ON cr.id = h.crop_id JOIN plots p ON p.id = cr.plot_id
""")

DOWN = """
  down(batch_id) AS (
    SELECT id FROM batch_orders WHERE batch_no = :ref
    UNION
    SELECT mc.batch_order_id FROM material_charges mc JOIN lots l ON l.id = mc.lot_id WHERE l.lot_number = :ref
    UNION
    SELECT mc.batch_order_id FROM down
    JOIN batch_orders b ON b.id = down.batch_id
    JOIN lots l ON l.lot_number = b.batch_no
    JOIN material_charges mc ON mc.lot_id = l.id
  )"""

FORWARD_CTE = text(f"""
WITH RECURSIVE {DOWN},
  units AS (
    SELECT u.id, u.batch_order_id, u.state, u.parent_id, u.shipment_id
    FROM trace_codes u JOIN down ON u.batch_order_id = down.batch_id WHERE u.level = 1
  ),
  climb(batch_id, parent_id, shipment_id, depth) AS (
    SELECT batch_order_id, parent_id, shipment_id, 0 FROM units
    UNION ALL
    SELECT climb.batch_id, c.parent_id, c.shipment_id, climb.depth + 1
    FROM climb JOIN trace_codes c ON c.id = climb.parent_id
    WHERE climb.shipment_id IS NULL AND climb.depth < 8
  )
SELECT 'state', b.batch_no, u.state, '', count(*) FROM units u JOIN batch_orders b ON b.id = u.batch_order_id
  GROUP BY b.batch_no, u.state
UNION ALL
SELECT 'shipment', b.batch_no, s.number, cu.code, count(*) FROM climb
  JOIN trace_shipments s ON s.id = climb.shipment_id JOIN trace_customers cu ON cu.id = s.customer_id
  JOIN batch_orders b ON b.id = climb.batch_id
  GROUP BY b.batch_no, s.number, cu.code
""")  # noqa: S608 - a fixed fragment

UNIT_LIST_CTE = text(f"""
WITH RECURSIVE {DOWN}
SELECT u.value, u.state FROM trace_codes u JOIN down ON u.batch_order_id = down.batch_id
WHERE u.level = 1 ORDER BY u.id
""")  # noqa: S608 - a fixed fragment


def _baseline_forward(conn: Connection, ref: str) -> tuple[int, int]:
    """Units (all states) and shipped units downstream of ``ref``, by the naive CTE."""
    units = shipped = 0
    for kind, _batch, _key, _customer, count in conn.execute(FORWARD_CTE, {"ref": ref}):
        if kind == "state":
            units += int(count)
        else:
            shipped += int(count)
    return units, shipped


def _baseline_list(conn: Connection, ref: str) -> int:
    result = conn.execution_options(stream_results=True, yield_per=5000).execute(UNIT_LIST_CTE, {"ref": ref})
    return sum(1 for _ in result)


# --- measuring -------------------------------------------------------------------------------------------


def _percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = work()
    return time.perf_counter() - start, value


def measure(db: Database, plant: Plant, label: str) -> None:
    # (1) backward from random units, the three sides alternating unit by unit (one unmeasured warm-up first:
    # statement caches, lazy imports)
    def backward(value: str, context: bool) -> genealogy.Trace:
        with db.sessions() as session:
            return genealogy.backward(session, value, context=context)

    def backward_cte(value: str) -> list[Any]:
        with db.engine.connect() as conn:
            return list(conn.execute(BACKWARD_CTE, {"code": value}).all())

    warm = plant.unit_values[0]
    backward(warm, False)
    backward(warm, True)
    backward_cte(warm)
    bare: list[float] = []
    full: list[float] = []
    base: list[float] = []
    for value in plant.unit_values:
        took, trace = _timed(partial(backward, value, False))
        bare.append(took)
        full.append(_timed(partial(backward, value, True))[0])
        took, rows = _timed(partial(backward_cte, value))
        base.append(took)
        ours_lots = {n.ref for n in trace.nodes if n.kind == "material_lot"}
        assert ours_lots == {ref for kind, ref in rows if kind == "lot"}, f"backward lots differ for {value}"
    (b50, b95) = _percentiles(base)
    for name, times in (("backward, no context", bare), ("backward with context", full)):
        o50, o95 = _percentiles(times)
        print(f"[{label}] {name:<24} p50 {_ms(o50)}  p95 {_ms(o95)}   CTE p50 {_ms(b50)}  p95 {_ms(b95)}   "
              f"ratio p50 {o50 / b50:6.2f}×  p95 {o95 / b95:6.2f}× of CTE")  # fmt: skip
    for name, times in (("no context", bare), ("with context", full)):
        p95 = _percentiles(times)[1]
        print(f"[{label}] aim backward p95 < 20 ms ({name}): {'met' if p95 < 0.020 else 'NOT met'} "
              f"({p95 * 1000:.1f} ms)")  # fmt: skip

    # (2) forward from the hot lot and (3) recall impact: median of RUNS, sides alternating run by run
    def forward_counts() -> tuple[int, int]:
        with db.sessions() as session:
            trace = genealogy.forward(session, plant.hot_lot)
        units = sum(c.count for c in trace.code_counts if c.level == 1)
        return units, sum(s.units for s in trace.shipments)

    def unit_list() -> int:
        with db.sessions() as session:
            _, keys, _ = genealogy.downstream_batches(session, plant.hot_lot)
            return sum(1 for _ in genealogy.iter_units(session, {i for kind, i in keys if kind == "batch"}))

    def impact(ref: str) -> Callable[[], tuple[int, int]]:
        def run() -> tuple[int, int]:
            with db.sessions() as session:
                found = recall.impact(session, ref)
            return found.units_total, found.shipped_units

        return run

    def cte(question: Callable[[Connection, str], Any], ref: str) -> Callable[[], Any]:
        def run() -> Any:
            with db.engine.connect() as conn:
                return question(conn, ref)

        return run

    questions = (
        (f"forward counts {plant.hot_lot}", forward_counts, cte(_baseline_forward, plant.hot_lot)),
        (f"forward unit list {plant.hot_lot}", unit_list, cte(_baseline_list, plant.hot_lot)),
        (f"recall impact batch {plant.recharged_batch}", impact(plant.recharged_batch),
         cte(_baseline_forward, plant.recharged_batch)),
        (f"recall impact lot {plant.hot_lot}", impact(plant.hot_lot), cte(_baseline_forward, plant.hot_lot)),
    )  # fmt: skip
    with db.engine.connect() as conn:
        all_units = int(conn.execute(select(func.count()).where(TraceCode.level == 1)).scalar_one())
    for name, ours_work, base_work in questions:
        ours: list[float] = []
        base = []
        for _ in range(RUNS):
            took, answer = _timed(ours_work)
            ours.append(took)
            took, expected = _timed(base_work)
            base.append(took)
            assert answer == expected, f"{name}: ours {answer} != CTE {expected}"
        o, b = statistics.median(ours), statistics.median(base)
        units = answer if isinstance(answer, int) else answer[0]
        print(f"[{label}] {name:<36} {_ms(o)}   CTE {_ms(b)}   ratio {o / b:6.2f}× of CTE   "
              f"({units:,} units, {units / all_units:.1%} of all)")  # fmt: skip
        if "unit list" in name:
            print(f"[{label}] aim forward full list < 3 s: {'met' if o < 3 else 'NOT met'} ({o:.2f} s)")


def run() -> None:
    def work(db: Database, label: str) -> None:
        took, plant = _timed(lambda: fill(db))
        print(f"[{label}] filled {UNITS:,} units in {BATCHES:,} batches, {LOTS:,} lots in {took:.0f} s")
        measure(db, plant, label)

    on_each_database("bench_trace", work)


if __name__ == "__main__":
    run()
