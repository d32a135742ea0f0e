"""``ledger verify`` over every historian value (SH-8.4.5, SH-8.4.1, SH-7.1.3.c; ADR 0019).

An :class:`~pharmatrace.monitoring.models.Ingest` is audited, so the ledger vouches for it and ``ledger verify``
re-hashes it; the ingest vouches for its raw values by their SM3 (:func:`pharmatrace.monitoring.historian.values_sm3`).
This check re-hashes the values of every ingest, as :func:`~pharmatrace.monitoring.historian.verify_ingest` does
for one, in one ordered pass over the ingests and one over the values (a merge, one ingest's values in memory at a
time; millions of values stream). A value altered, deleted or added behind the application's back names its
ingest and the tags it holds (``monitoring.ingest.values``). An ingest some of whose values were lawfully destroyed
past their retention (:mod:`pharmatrace.monitoring.destruction`, TJ-10.1.6.3) is checked against what its last
destruction left — the count and SM3 that destruction recorded — so destroyed values are not missing, and a value
deleted by any other path still is. The query names columns only, never the table's
primary key, which on PostgreSQL includes the partition key (``source_time``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import ledger
from pharmatrace.kernel.ledger import Problem
from pharmatrace.monitoring import destruction
from pharmatrace.monitoring.historian import digest_row, values_sm3  # the digest as the ingest wrote it
from pharmatrace.monitoring.models import HistorianValue, Ingest, Tag

NAME = "monitoring.ingests"
STREAM = 10_000  # rows per round trip
SHOWN = 3  # tags named in a problem's detail


def _tags(names: Mapping[int, str], rows: Sequence[Sequence[Any]]) -> str:
    found = sorted({names.get(row[1], f"#{row[1]}") for row in rows})
    shown = ", ".join(found[:SHOWN])
    return shown + (f" (+{len(found) - SHOWN} more)" if len(found) > SHOWN else "")


def check(session: Session, problems: list[Problem]) -> int:
    """Append a problem per ingest whose values no longer hash to its ``values_sm3``. Returns the values read."""
    names: dict[int, str] = dict(session.execute(select(Tag.id, Tag.name)).all())
    # what each ingest vouches for now: its own count and SM3, or what its last lawful destruction left
    ingests = session.execute(destruction.expected_ingests().execution_options(yield_per=STREAM))
    values = session.execute(
        select(HistorianValue.ingest_id, HistorianValue.tag_id, HistorianValue.source_time,
               HistorianValue.server_time, HistorianValue.value, HistorianValue.quality,
               HistorianValue.status_code)
        .order_by(HistorianValue.ingest_id, HistorianValue.id)  # the order the ingest hashed them in
        .execution_options(yield_per=STREAM)
    )  # fmt: skip
    read = 0
    for ingest_id, ingest, rows in ledger.vouched_groups(ingests, values):
        read += len(rows)
        subject = f"{Ingest.__audit_type__}:{ingest_id}"
        if ingest is None:
            problems.append(
                Problem(
                    "monitoring.ingest.values",
                    subject,
                    f"{len(rows)} value(s) of no ingest: tags {_tags(names, rows)}",
                )
            )
            continue
        _, stored, digest = ingest
        rehashed = values_sm3(
            digest_row(names.get(t, f"#{t}"), s, v, x, q, c) for _, t, s, v, x, q, c in rows
        )
        if len(rows) != stored or rehashed != digest:
            problems.append(
                Problem(
                    "monitoring.ingest.values",
                    subject,
                    f"{len(rows)} value(s) stored for the {stored} the ingest vouches for, which no longer "
                    f"hash to its values_sm3: tags {_tags(names, rows) or '—'}",
                )
            )
    return read


def register() -> None:
    """Have ``ledger verify`` run :func:`check` and the destructions' check (the web app and the CLI call this at
    start-up)."""
    ledger.register_vouched(NAME, check)
    ledger.register_vouched(destruction.NAME, destruction.check)
