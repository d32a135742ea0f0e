"""Ledger figures (SH-8.4.5), each against a baseline measured in the same run:

* ``ledger verify`` entries/s vs raw SM3 hashing of the same canonical entry bytes;
* inclusion-proof generation at N leaves: time per proof and stored nodes touched, vs one node lookup.

N defaults to 200,000 (BENCH_LEDGER_ENTRIES=1000000 for the full million). The ledger is filled through
``ledger.append`` — the code path of every unit of work — in batches of 5,000 entries.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from pharmatrace.bootstrap import prepare
from pharmatrace.kernel import clock, crypto, ledger, merkle
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


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}", state_dir=Path(tmp) / "var")
        prepare(db)
        start = time.perf_counter()
        _fill(db, ENTRIES)
        fill_s = time.perf_counter() - start
        total = ENTRIES + ledger.verify(db).size - ENTRIES  # includes the roles installed by prepare()
        print(f"[ledger] filled {ENTRIES:,} entries in {fill_s:.1f} s ({ENTRIES / fill_s:,.0f} appends/s)")

        with db.engine.connect() as conn:  # baseline: the same canonical bytes, hashed raw
            names = ledger.ENTRY_FIELDS
            columns = [getattr(AuditEntry, name) for name in names]
            data = [
                ledger.entry_bytes(dict(zip(names, row, strict=True)))
                for row in conn.execute(select(*columns))
            ]
        start = time.perf_counter()
        for item in data:
            crypto.sm3(b"\x00" + item)
        raw_s = time.perf_counter() - start
        start = time.perf_counter()
        report = ledger.verify(db)
        verify_s = time.perf_counter() - start
        assert report.intact, report.problems[:3]
        print(f"[ledger] raw SM3 of the entry bytes {total / raw_s:12,.0f} entries/s  (baseline)")
        print(
            f"[ledger] ledger verify            {total / verify_s:12,.0f} entries/s  ratio {raw_s / verify_s:.3f} "
            f"of raw ({verify_s:.1f} s for {total:,} entries, {report.rows_checked:,} rows)"
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
