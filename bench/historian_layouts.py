"""What a key of the raw values costs SQLite, scan after scan (issue 11; ADR 0033, proposed).

Bare SQLite, no PharmaTrace code: the raw table's columns, ``BENCH_LAYOUT_TAGS`` tags (default 5,000), one
transaction per scan of every tag, ``BENCH_LAYOUT_SCANS`` scans (default 240: 1.2 M values), with the settings
every PharmaTrace connection has (ADR 0032). Four tables take turns scan by scan, so a busy machine slows them alike:

- **unindexed** (the baseline): rows appended, no key;
- **key (tag, source time)**: the shipped unique key. A scan changes a page of it per tag once every tag has a page
  of its own;
- **key (10-s bucket, tag, source time)**: a unique index on the first 18 characters of the stored time (SQLite
  stores it as ``YYYY-MM-DD HH:MM:SS.ffffff``, so they name its 10-second bucket), the tag, the time. It is unique
  exactly when (tag, source time) is, and a scan's rows land in the last bucket's few pages;
- **key (source time, tag)**: time-major, for reference.

Printed per window of 60 scans: points/s of each, the ratio to the baseline, and the WAL frames (pages) a commit
wrote. Then the cost of reading one tag's values back over the whole range: a range of the tag-major key, against
one seek per 10-second bucket (the buckets from a recursive CTE) on the bucket key.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pharmatrace.storage.engine import SQLITE_PRAGMAS

TAGS = int(os.environ.get("BENCH_LAYOUT_TAGS", "5000"))
SCANS = int(os.environ.get("BENCH_LAYOUT_SCANS", "240"))
WINDOW = 60
T0 = datetime(2026, 10, 1, tzinfo=UTC)
COLUMNS = "tag_id, ingest_id, source_time, server_time, value, number, quality, status_code"
LAYOUTS = {  # name → the index that makes the layout (None: the unindexed baseline)
    "unindexed": None,
    "key (tag, source time)": "(tag_id, source_time)",
    "key (10-s bucket, tag, source time)": "(substr(source_time, 1, 18), tag_id, source_time)",
    "key (source time, tag)": "(source_time, tag_id)",
}
STAMP = "%Y-%m-%d %H:%M:%S.%f"


def _database(directory: Path, name: str, key: str | None) -> sqlite3.Connection:
    connection = sqlite3.connect(directory / f"{name}.sqlite3", isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        connection.execute(f"PRAGMA {pragma}")
    connection.execute(
        "CREATE TABLE v (id INTEGER PRIMARY KEY, tag_id INTEGER NOT NULL, ingest_id INTEGER NOT NULL, "
        "source_time TEXT NOT NULL, server_time TEXT NOT NULL, value TEXT, number REAL, quality TEXT NOT NULL, "
        "status_code INTEGER)"
    )
    if key is not None:
        connection.execute(f"CREATE UNIQUE INDEX k ON v {key}")
    connection.execute("CREATE INDEX ix ON v (ingest_id)")
    return connection


def _wal_frames(directory: Path, name: str) -> int:
    """The frames in the WAL now: ``mxFrame`` of the WAL index's header (the ``-shm`` file, native byte order)."""
    with (directory / f"layout{list(LAYOUTS).index(name)}.sqlite3-shm").open("rb") as shm:
        shm.seek(16)
        return int.from_bytes(shm.read(4), sys.byteorder)


def _read_tag(connection: sqlite3.Connection, name: str, tag: int) -> tuple[int, float]:
    first, last = T0.strftime(STAMP), (T0 + timedelta(seconds=SCANS)).strftime(STAMP)
    start = time.perf_counter()
    if name == "key (tag, source time)":
        found = connection.execute(
            "SELECT count(number) FROM v WHERE tag_id = ? AND source_time BETWEEN ? AND ?", (tag, first, last)
        ).fetchone()[0]
    else:  # a seek per 10-second bucket of the range
        found = connection.execute(
            "WITH RECURSIVE b(n) AS (SELECT 0 UNION ALL SELECT n + 10 FROM b WHERE n + 10 <= ?) "
            "SELECT count(v.number) FROM b JOIN v ON substr(v.source_time, 1, 18) = "
            "substr(strftime('%Y-%m-%d %H:%M:%S', ?, '+' || b.n || ' seconds'), 1, 18) "
            "AND v.tag_id = ? AND v.source_time BETWEEN ? AND ?",
            (SCANS, T0.strftime("%Y-%m-%d %H:%M:%S"), tag, first, last),
        ).fetchone()[0]
    return int(found), time.perf_counter() - start


def main() -> None:
    statement = f"INSERT INTO v ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - constant
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        databases = {
            name: _database(directory, f"layout{i}", key) for i, (name, key) in enumerate(LAYOUTS.items())
        }
        seconds = dict.fromkeys(LAYOUTS, 0.0)
        frames = dict.fromkeys(LAYOUTS, 0)
        print(f"[sqlite] {TAGS:,} tags, one transaction per scan, bare SQLite with PharmaTrace's settings")
        for scan in range(SCANS):
            at = (T0 + timedelta(seconds=scan)).strftime(STAMP)
            rows = [(tag, scan, at, at, repr(20.0 + tag / 1000), 20.0 + tag / 1000, "good", None)
                    for tag in range(1, TAGS + 1)]  # fmt: skip
            order = list(LAYOUTS) if scan % 2 == 0 else list(reversed(LAYOUTS))
            for name in order:
                connection = databases[name]
                before = _wal_frames(directory, name)
                start = time.perf_counter()
                connection.execute("BEGIN")
                connection.executemany(statement, rows)
                connection.execute("COMMIT")
                seconds[name] += time.perf_counter() - start
                after = _wal_frames(directory, name)
                frames[name] += after - before if after >= before else after  # the WAL restarted: from 0
            if (scan + 1) % WINDOW == 0:
                base = seconds["unindexed"]
                values = f"{(scan + 1) * TAGS / 1e6:.2f} M values"
                for name in LAYOUTS:
                    rate = WINDOW * TAGS / seconds[name]
                    print(
                        f"[sqlite] {values}: {name:36} {rate:9,.0f} points/s  "
                        f"{'(baseline)' if name == 'unindexed' else f'ratio {base / seconds[name]:.2f}'}  "
                        f"{frames[name] / WINDOW:6,.0f} pages a commit"
                    )
                seconds = dict.fromkeys(LAYOUTS, 0.0)
                frames = dict.fromkeys(LAYOUTS, 0)
        for name in ("key (tag, source time)", "key (10-s bucket, tag, source time)"):
            found, spent = _read_tag(databases[name], name, TAGS // 2)
            assert found == SCANS, (name, found)
            print(f"[sqlite] one tag's {found} values back, {name:36} {spent * 1e3:7.2f} ms")
        for connection in databases.values():
            connection.close()


if __name__ == "__main__":
    main()
