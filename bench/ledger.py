"""Ledger figures (SH-8.4.5), each against a baseline measured in the same run:

* ``ledger verify`` entries/s vs raw SM3 hashing of the same canonical entry bytes (verify as it runs by
  default: one process per CPU for large ledgers; and in one process);
* inclusion-proof generation at N leaves: time per proof and stored nodes touched, vs one node lookup.

N defaults to 200,000 (BENCH_LEDGER_ENTRIES=1000000 for the full million). The ledger is filled through
``ledger.append`` — the code path of every unit of work — in batches of 5,000 entries.
"""

from __future__ import annotations

import gc
import os
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from pharmatrace.bootstrap import prepare
from pharmatrace.kernel import clock, ledger, merkle
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.storage.engine import Database, mark_unit_of_work

ENTRIES = int(os.environ.get("BENCH_LEDGER_ENTRIES", "200000"))
BATCH = 5000


def _fill(db: Database, n: int) -> None:
    done = 0
    while done < n:
        count = min(BATCH, n - done)
        rows = [
            {
                "at": clock.now(),
                "event": "bench.append",
                "object_type": "bench",
                "object_id": str(done + i),
                "actor_id": None,
                "actor_login": "bench",
                "actor_name": "bench",
                "reason": "ledger benchmark",
                "changes": {"value": [None, done + i]},
                "request_id": None,
                "client_address": None,
                "record_hash": None,
            }
            for i in range(count)
        ]
        with db.engine.begin() as conn:
            mark_unit_of_work(conn)
            ledger.append(conn, rows, db.state_dir)
        done += count


def _hash_all(data: list[bytes]) -> float:
    start = time.perf_counter()
    for item in data:
        merkle.leaf_hash(item)
    return time.perf_counter() - start


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (verify's worker processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}", state_dir=Path(tmp) / "var")
        prepare(db)
        start = time.perf_counter()
        _fill(db, ENTRIES)
        fill_s = time.perf_counter() - start
        print(f"[ledger] filled {ENTRIES:,} entries in {fill_s:.1f} s ({ENTRIES / fill_s:,.0f} appends/s)")

        # Baseline: the leaf hash of every entry's canonical bytes (the reference form, built beforehand),
        # with the very function verify hashes leaves with; timed before and after verify, the faster kept.
        with db.engine.connect() as conn:
            names = ledger.ENTRY_FIELDS
            columns = [getattr(AuditEntry, name) for name in names]
            data = [
                ledger.entry_bytes(dict(zip(names, row, strict=True)))
                for row in conn.execute(select(*columns))
            ]
        total = len(data)
        gc.freeze()  # a million objects of the baseline's must not slow the collector during verify

        cpu = _cpu()
        raw_s = _hash_all(data)
        raw_cpu = _cpu() - cpu
        workers = len(os.sched_getaffinity(0)) if total >= ledger.PARALLEL_FROM else 1
        cpu, start = _cpu(), time.perf_counter()
        report = ledger.verify(db)
        verify_s = time.perf_counter() - start
        verify_cpu = _cpu() - cpu
        assert report.intact, report.problems[:3]
        assert report.size == total
        start = time.perf_counter()
        alone = ledger.verify(db, workers=1)
        alone_s = time.perf_counter() - start
        assert alone.intact, alone.problems[:3]
        raw_s = min(raw_s, _hash_all(data))
        gc.unfreeze()
        del data
        print(
            f"[ledger] raw SM3 of the entry bytes {total / raw_s:12,.0f} entries/s  (baseline, one process)"
        )
        print(
            f"[ledger] ledger verify            {total / verify_s:12,.0f} entries/s  ratio {raw_s / verify_s:.3f} "
            f"of raw ({verify_s:.1f} s for {total:,} entries, {report.rows_checked:,} rows, "
            f"{workers} process{'es' if workers > 1 else ''})"
        )
        print(
            f"[ledger] ledger verify, 1 process {total / alone_s:12,.0f} entries/s  ratio {raw_s / alone_s:.3f} "
            f"of raw ({alone_s:.1f} s)"
        )
        # CPU time does not depend on what else the machine runs: verify's work per entry, in raw hashes.
        work = verify_cpu / raw_cpu
        print(
            f"[ledger] CPU per entry: verify {verify_cpu / total * 1e6:.2f} µs in all processes, raw SM3 "
            f"{raw_cpu / total * 1e6:.2f} µs: {work:.2f}× the hashing, so at best {workers / work:.2f} of raw "
            f"on {workers} idle CPU{'s' if workers > 1 else ''} (load average now {os.getloadavg()[0]:.1f})"
        )

        with db.sessions() as session:
            lookup = ledger._lookup(session)
            touched = 0

            def counting(level: int, idx: int) -> bytes:
                nonlocal touched
                touched += 1
                return lookup(level, idx)

            size = session.scalar(select(ledger.LedgerHead.size)) or 0
            rng = random.Random(1)  # noqa: S311 - picks leaves to prove, not a secret
            start = time.perf_counter()
            for _ in range(20):
                lookup(ledger.STORED_LEVEL, rng.randrange(size >> ledger.STORED_LEVEL))
            node_s = (time.perf_counter() - start) / 20
            start = time.perf_counter()
            proofs = 50
            for _ in range(proofs):
                merkle.inclusion_proof(counting, rng.randrange(size), size)
            proof_s = (time.perf_counter() - start) / proofs
        print(f"[ledger] one stored-node lookup   {node_s * 1e3:9.3f} ms  (baseline)")
        print(
            f"[ledger] inclusion proof at {size:,} leaves {proof_s * 1e3:9.3f} ms = {proof_s / node_s:.1f} lookups' "
            f"time, {touched / proofs:.1f} subtrees per proof (log2 n = {size.bit_length()})"
        )
        db.dispose()


if __name__ == "__main__":  # PYTHONPATH=. .venv/bin/python -m bench.ledger
    run()
