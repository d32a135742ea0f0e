"""Stock-query figures (TJ-6.3.3, TJ-6.4.3.6): real-time stock by material, by location and by lot status.

The plant holds N containers (default 1,000,000; ``BENCH_STOCK_CONTAINERS``) in N/10 lots of 200 materials, spread
over 500 bins in 4 warehouses × 5 zones. ``wms.stock.stock_query`` — the function behind the stock page, the API and
the issue checks — answers each question (the first 500 rows and the totals per material) from the normalised tables
(balances joined to containers, lots, materials and locations, a location with all the locations in it).

The baseline, measured in the same run on the same database: the same rows copied into ONE flat table that already
holds every column the answer needs (material, lot number, status, location path), indexed on each filter, asked the
same question (500 rows + totals per material) in plain SQL. Each figure is p50/p95 over repeated queries with keys
drawn at random, and the ratio to the baseline's p50/p95 (how many times slower than the flat table).

The rows are written in bulk with Core inserts (marked as a unit-of-work transaction): this measures the reads, and a
million audited receipts would only measure the writes again (``python -m bench``).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index, MetaData, Numeric, String, Table, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bench.databases import on_each_database
from pharmatrace.kernel import clock
from pharmatrace.storage.engine import Database, mark_unit_of_work
from pharmatrace.wms import stock
from pharmatrace.wms.models import Container, Lot, Material, Supplier
from pharmatrace.wms.stock_models import Location, StockBalance

CONTAINERS = int(os.environ.get("BENCH_STOCK_CONTAINERS", "1000000"))
PER_LOT = 10
MATERIALS = 200
WAREHOUSES, ZONES, BINS = 4, 5, 25
QUERIES = int(os.environ.get("BENCH_STOCK_QUERIES", "30"))
STATUSES = (
    "released",
    "released",
    "released",
    "quarantine",
    "under_test",
    "rejected",
)  # weights by repetition
CHUNK = 20_000

flat_metadata = MetaData()
FLAT = Table(
    "bench_flat_stock",
    flat_metadata,
    Column("container_code", String(40), primary_key=True),
    Column("lot_number", String(32), nullable=False),
    Column("material_code", String(32), nullable=False),
    Column("material_name", String(128), nullable=False),
    Column("location_code", String(32), nullable=False),
    Column("location_path", String(400), nullable=False),
    Column("status", String(16), nullable=False),
    Column("quantity", Numeric(14, 3), nullable=False),
    Column("unit", String(16), nullable=False),
    Index("ix_flat_material", "material_code", "lot_number", "container_code"),
    Index("ix_flat_location", "location_path", "material_code"),
    Index("ix_flat_status", "status", "material_code"),
)


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert(conn: Connection, table: Any, rows: Iterator[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        conn.execute(insert(table), chunk)


def fill(db: Database, containers: int) -> dict[str, list[str]]:
    """Write the plant's stock; returns the keys the queries draw from (material codes, zone codes)."""
    now = clock.now()
    rng = random.Random(20261129)  # noqa: S311 - a repeatable plant, not a secret
    lots = containers // PER_LOT
    with db.engine.begin() as conn:
        mark_unit_of_work(conn)
        supplier_id = conn.execute(
            insert(Supplier).returning(Supplier.id),
            {"code": "BENCH-SUP", "name": "基准供应商", "kind": "manufacturer", "address": "", "contact": "",
             "created_at": now, "created_by": "bench"},
        ).scalar_one()  # fmt: skip
        materials = [f"BM-{i:04d}" for i in range(MATERIALS)]
        _insert(conn, Material, ({"code": code, "name": f"基准物料 {code}", "kind": "excipient", "unit": "kg",
                                  "storage_condition": "", "created_at": now, "created_by": "bench"}
                                 for code in materials))  # fmt: skip
        material_ids = dict(
            conn.execute(select(Material.code, Material.id).where(Material.code.in_(materials))).all()
        )
        bins: list[tuple[int, str, str]] = []  # id, code, path
        zones: list[str] = []

        def place(code: str, kind: str, parent: tuple[int, str] | None) -> tuple[int, str]:
            path = f"{parent[1] if parent else '/'}{code}/"
            new_id = conn.execute(
                insert(Location).returning(Location.id),
                {"code": code, "name": code, "kind": kind, "parent_id": parent[0] if parent else None, "path": path,
                 "created_at": now, "created_by": "bench"},
            ).scalar_one()  # fmt: skip
            return new_id, path

        for w in range(WAREHOUSES):
            warehouse = place(f"BW{w}", "warehouse", None)
            for z in range(ZONES):
                zone = place(f"BW{w}-Z{z}", "zone", warehouse)
                zones.append(f"BW{w}-Z{z}")
                for b in range(BINS):
                    code = f"BW{w}-Z{z}-{b:02d}"
                    bin_id, path = place(code, "bin", zone)
                    bins.append((bin_id, code, path))
        lot_rows: list[dict[str, Any]] = []
        lot_materials: list[str] = []
        for i in range(lots):
            material = materials[i % MATERIALS]
            lot_materials.append(material)
            lot_rows.append({
                "lot_number": f"BL{i:08d}", "material_id": material_ids[material], "supplier_id": supplier_id,
                "supplier_lot": f"S{i}", "manufacture_date": date(2026, 1, 1),
                "expiry_date": date(2028, 1, 1) + timedelta(days=i % 300), "quantity": Decimal("250.000"),
                "unit": "kg", "status": rng.choice(STATUSES), "created_at": now, "created_by": "bench",
            })  # fmt: skip
        _insert(conn, Lot, iter(lot_rows))
        lot_ids = dict(conn.execute(select(Lot.lot_number, Lot.id).where(Lot.lot_number.like("BL%"))).all())

        def containers_of() -> Iterator[dict[str, Any]]:
            for lot in lot_rows:
                for n in range(1, PER_LOT + 1):
                    yield {"code": f"{lot['lot_number']}-{n:03d}", "lot_id": lot_ids[lot["lot_number"]], "number": n,
                           "quantity": Decimal("25.000"), "unit": "kg", "damaged": False, "created_at": now,
                           "created_by": "bench"}  # fmt: skip

        _insert(conn, Container, containers_of())
        container_ids = dict(
            conn.execute(select(Container.code, Container.id).where(Container.code.like("BL%"))).all()
        )
        lot_bins = [bins[rng.randrange(len(bins))] for _ in lot_rows]  # a lot's containers share a bin

        def balances_and_flat() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
            for lot, material, (bin_id, bin_code, path) in zip(
                lot_rows, lot_materials, lot_bins, strict=True
            ):
                for n in range(1, PER_LOT + 1):
                    code = f"{lot['lot_number']}-{n:03d}"
                    yield (
                        {"container_id": container_ids[code], "lot_id": lot_ids[lot["lot_number"]],
                         "material_id": lot["material_id"], "location_id": bin_id, "quantity": Decimal("25.000"),
                         "unit": "kg", "located_at": now, "batch_no": "", "updated_at": now},
                        {"container_code": code, "lot_number": lot["lot_number"], "material_code": material,
                         "material_name": f"基准物料 {material}", "location_code": bin_code, "location_path": path,
                         "status": lot["status"], "quantity": Decimal("25.000"), "unit": "kg"},
                    )  # fmt: skip

        flat_metadata.create_all(conn)
        for chunk in _chunks(({"b": b, "f": f} for b, f in balances_and_flat())):
            conn.execute(insert(StockBalance), [row["b"] for row in chunk])
            conn.execute(insert(FLAT), [row["f"] for row in chunk])
        conn.execute(text("ANALYZE"))
    return {"material": materials, "location": zones, "status": sorted(set(STATUSES))}


def _flat_query(conn: Connection, column: str, key: str) -> None:
    """The baseline: the same answer (500 rows + totals per material) from the one flat table."""
    params = {"key": key}
    if column == "location":  # a zone and its bins: a range of the indexed path ("/BW1/BW1-Z2/" …)
        prefix = f"/{key.split('-')[0]}/{key}/"
        where, params = (
            "location_path >= :low AND location_path < :high",
            {"low": prefix, "high": prefix[:-1] + "0"},
        )
    elif column == "material":
        where = "material_code = :key"
    else:
        where = "status = :key"
    rows = (
        f"SELECT * FROM bench_flat_stock WHERE {where} AND quantity > 0 "  # noqa: S608 - fixed fragments
        "ORDER BY material_code, lot_number, container_code LIMIT 501"
    )
    totals = (
        "SELECT material_code, material_name, unit, SUM(quantity), COUNT(*), COUNT(DISTINCT lot_number) "  # noqa: S608
        f"FROM bench_flat_stock WHERE {where} AND quantity > 0 "
        "GROUP BY material_code, material_name, unit ORDER BY material_code"
    )
    conn.execute(text(rows), params).all()
    conn.execute(text(totals), params).all()


def _ours(session: Session, column: str, key: str) -> stock.StockResult:
    if column == "material":
        return stock.stock_query(session, material=key)
    if column == "location":
        return stock.stock_query(session, location=key)
    return stock.stock_query(session, status=key)


def _percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def measure(db: Database, keys: dict[str, list[str]], label: str) -> None:
    rng = random.Random(7)  # noqa: S311 - repeatable keys, not a secret
    for column in ("material", "location", "status"):
        ours: list[float] = []
        base: list[float] = []
        for _ in range(QUERIES):
            key = rng.choice(keys[column])
            # alternate the two sides query by query, so a busy machine slows both alike
            with db.sessions() as session:
                start = time.perf_counter()
                result = _ours(session, column, key)
                ours.append(time.perf_counter() - start)
                assert result.rows, f"no stock found for {column}={key}"
            with db.engine.connect() as conn:
                start = time.perf_counter()
                _flat_query(conn, column, key)
                base.append(time.perf_counter() - start)
        (o50, o95), (b50, b95) = _percentiles(ours), _percentiles(base)
        print(
            f"[{label}] stock by {column:<8} p50 {o50 * 1000:8.1f} ms  p95 {o95 * 1000:8.1f} ms   "
            f"flat table p50 {b50 * 1000:7.1f} ms  p95 {b95 * 1000:7.1f} ms   "
            f"ratio p50 {o50 / b50:5.2f}×  p95 {o95 / b95:5.2f}× of flat"
        )


def _timed(label: str, work: Callable[[], dict[str, list[str]]]) -> dict[str, list[str]]:
    start = time.perf_counter()
    keys = work()
    print(f"[{label}] filled {CONTAINERS:,} containers in {CONTAINERS // PER_LOT:,} lots in "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    return keys


def run() -> None:
    on_each_database(
        "bench_stock", lambda db, label: measure(db, _timed(label, lambda: fill(db, CONTAINERS)), label)
    )


if __name__ == "__main__":
    run()
