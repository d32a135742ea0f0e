"""``make bench`` — (1) audited GMP writes through the unit of work vs plain ORM inserts of the same rows.

Both sides insert the same material rows in the same batch size and commit per batch; the only
difference is the kernel (audit capture and the ledger, in the same transaction). The two sides take turns
batch by batch, so a busy machine slows both alike. Runs on SQLite and, when it answers, on PostgreSQL.
Prints rows/s and the ratio audited/plain (aim: >= 0.5). Then the ledger figures (:mod:`bench.ledger`) and the
historian figures (:mod:`bench.historian`: ingest of 5,000 tags vs a raw executemany, a 30-day trend with and without
roll-ups), and the MQTT end-to-end figures (:mod:`bench.mqtt`: 5,000 tags × 1 Hz through the local Mosquitto and the
collector, points/s and p95 latency to stored and to alarm raised, vs a raw subscriber; skipped without a broker).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.schema import conv

from bench.databases import on_each_database
from pharmatrace.kernel import clock
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Material

ROWS = int(os.environ.get("BENCH_ROWS", "10000"))  # enough that one garbage collection is noise
BATCH = 100


class PlainBase(DeclarativeBase):
    pass


def _plain_table() -> Table:
    """The columns and checks of :class:`Material`, whatever it holds today, under names of their own."""
    table = Material.__table__.to_metadata(PlainBase.metadata, name="bench_plain_materials")
    for constraint in table.constraints:
        if constraint.name:
            constraint.name = conv(str(constraint.name).replace("_materials", "_bench_plain_materials", 1))
    return table


class PlainMaterial(PlainBase):
    """The baseline: the same rows as :class:`Material`, without the unit of work (no trail, no ledger)."""

    __table__ = _plain_table()


def _fields(i: int, prefix: str) -> dict[str, object]:
    return {
        "code": f"{prefix}-{i:06d}",
        "name": f"丹参批量物料 {i}",
        "kind": "herb",
        "unit": "kg",
        "storage_condition": "阴凉干燥处",
        "created_at": clock.now(),
        "created_by": "bench",
    }


def _timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run(db: Database, label: str) -> None:
    PlainBase.metadata.create_all(db.engine)
    gc.collect()  # each run starts from a collected heap, not with the garbage of the run before
    actor = Actor(user_id=None, login="bench", full_name="bench")

    def plain(start: int) -> None:
        with db.sessions() as session:
            session.add_all(PlainMaterial(**_fields(i, "P")) for i in range(start, start + BATCH))  # type: ignore[arg-type]
            session.commit()

    def audited(start: int) -> None:
        with UnitOfWork(db, actor) as uow:
            uow.session.add_all(Material(**_fields(i, "A")) for i in range(start, start + BATCH))  # type: ignore[arg-type]
            uow.commit()

    # Batch by batch in turn, so that both sides run under the same load (the machine is shared).
    plain_s = audited_s = 0.0
    for start in range(0, ROWS, BATCH):
        plain_s += _timed(lambda: plain(start))  # noqa: B023 - called at once
        audited_s += _timed(lambda: audited(start))  # noqa: B023 - called at once
    print(f"[{label}] plain ORM inserts      {ROWS / plain_s:9.0f} rows/s  (baseline)")
    print(
        f"[{label}] audited unit of work   {ROWS / audited_s:9.0f} rows/s  ratio {plain_s / audited_s:.2f} of plain"
    )


def main() -> None:
    on_each_database("bench", run)


if __name__ == "__main__":
    main()
    from bench import historian as historian_bench
    from bench import ledger as ledger_bench
    from bench import mqtt as mqtt_bench

    ledger_bench.run()
    historian_bench.main()
    mqtt_bench.main()
