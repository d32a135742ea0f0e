"""Archive copies of the historian's raw values, a calendar month at a time (TJ-10.1.6.2, SH-8.4.3, ADR 0028).

``pharmatrace monitoring archive 2026-10 --out DIR`` writes two files:

* ``monitoring-values-2026-10.jsonl.gz``: every raw value whose source time falls in the month (UTC), ordered by
  ingest and then as stored, one JSON array per line ``[ingest, tag, source time, server time, value, quality,
  status code]`` — the exact text of each value and the fields its ingest's SM3 covers (TJ-10.1.6.2 b/c: the raw
  data, readable without PharmaTrace);
* ``monitoring-values-2026-10.manifest.json``: the month, the data file's SM3, the number of values, and per ingest
  its batch key, the values it stored, how many of them are in this month, the SM3 its audited record holds
  (``values_sm3``, vouched for by the ledger) and whether the file's values re-hash to it (all of an ingest's values
  in the month: they must); signed with the site's SM2 key (its fingerprint and public key included).

Taking the copy is an audit event (``monitoring.archive``: who, which month, how many values, the file's SM3).
:func:`check` verifies a copy offline, without the database: the file against the manifest, every complete
ingest against its vouched SM3, the signature. An ingest whose values straddle two months is ``partial`` in each
month's copy: its values are checked in the copy of the month holding its last value together with the other.

Nothing is removed from the database here. A copy is what a destruction of the month's values past their
retention relies on (TJ-10.1.6.3: requested, approved by QA, executed on the server and audited —
:mod:`pharmatrace.monitoring.destruction`, ``pharmatrace monitoring destroy DS-… --manifest PATH``): it is checked
by :func:`check`, must be signed with this site's key and hold exactly the month's values still in the database.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring.historian import digest_row, utc_text, values_sm3
from pharmatrace.monitoring.models import HistorianValue, Ingest, Tag
from pharmatrace.monitoring.partitions import month_of, next_month
from pharmatrace.storage.engine import Database

EVENT = "monitoring.archive"
FORMAT = "pharmatrace-historian-archive/1"


@dataclass(frozen=True, slots=True)
class Archived:
    """What :func:`export_month` wrote."""

    data: Path
    manifest: Path
    values: int
    ingests: int
    data_sm3: str


def parse_month(text: str) -> datetime:
    """``2026-10`` → the first moment of that month, UTC; anything else is refused."""
    try:
        moment = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed(N_("A month is written YYYY-MM, e.g. 2026-10")) from None
    return month_of(moment)


def _rows(db: Database, start: datetime, end: datetime) -> Iterator[tuple[int, list[Any]]]:
    """The month's values as (ingest id, digest row), by ingest and as stored; streamed (an ingest's values are
    contiguous, so the caller groups them one ingest at a time)."""
    query = (
        select(HistorianValue.ingest_id, Tag.name, HistorianValue.source_time, HistorianValue.server_time,
               HistorianValue.value, HistorianValue.quality, HistorianValue.status_code)
        .join(Tag, Tag.id == HistorianValue.tag_id)
        .where(HistorianValue.source_time >= start, HistorianValue.source_time < end)
        .order_by(HistorianValue.ingest_id, HistorianValue.id)
    )  # fmt: skip
    with db.sessions() as session:
        for ingest_id, name, at, received, value, quality, status in session.execute(
            query.execution_options(yield_per=5000)
        ):
            yield ingest_id, digest_row(name, at, received, value, quality, status)


def export_month(db: Database, month: datetime, directory: Path, actor: Actor) -> Archived:
    """Write the month's archive copy into ``directory`` and record the export; see the module's notes."""
    start, end = month_of(month), next_month(month_of(month))
    if end > clock.now():
        raise ValidationFailed(N_("Only a month that has ended is archived"))
    label = f"{start:%Y-%m}"
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / f"monitoring-values-{label}.jsonl.gz"
    manifest_path = directory / f"monitoring-values-{label}.manifest.json"
    if data.exists() or manifest_path.exists():
        raise ValidationFailed(N_("An archive copy of {month} is already in {directory}"), month=label,
                               directory=str(directory))  # fmt: skip
    summary: dict[
        int, tuple[int, str]
    ] = {}  # ingest → (values in the month, their SM3): one ingest in memory
    with gzip.open(data, "wt", encoding="utf-8", newline="\n") as out:
        for ingest_id, group in itertools.groupby(_rows(db, start, end), key=itemgetter(0)):
            rows = [row for _, row in group]
            out.writelines(_line(ingest_id, row) for row in rows)
            summary[ingest_id] = (len(rows), values_sm3(rows))
    count = sum(n for n, _ in summary.values())
    data_sm3 = file_sm3(data)
    ingests = []
    with db.sessions() as session:
        for ingest_id, (in_month, digest) in sorted(summary.items()):
            record = session.get_one(Ingest, ingest_id)
            complete = in_month == record.stored
            ingests.append({
                "id": ingest_id, "batch_key": record.batch_key, "stored": record.stored, "in_month": in_month,
                "values_sm3": record.values_sm3, "complete": complete,
                "verified": complete and digest == record.values_sm3,
            })  # fmt: skip
    unverified = [i["id"] for i in ingests if i["complete"] and not i["verified"]]
    if (
        unverified
    ):  # the database no longer matches its ledger: no copy is made of it (ledger verify names it)
        data.unlink()
        raise ValidationFailed(N_("The values of ingests {ids} no longer match their audited SM3: run ledger verify"),
                               ids=", ".join(map(str, unverified)))  # fmt: skip
    keys = ledger.site_key(db.state_dir)
    body = {"format": FORMAT, "month": label, "from": utc_text(start), "until": utc_text(end), "file": data.name,
            "file_sm3": data_sm3, "values": count, "ingests": ingests, "exported_at": utc_text(clock.now()),
            "exported_by": actor.login, "site_key": crypto.public_key_pem(keys.public_key),
            "site_key_fingerprint": crypto.fingerprint(keys.public_key)}  # fmt: skip
    signature = crypto.sign(keys.private_key, _canonical(body))
    manifest_path.write_text(json.dumps({**body, "signature": signature.hex()}, ensure_ascii=False, indent=1))
    with UnitOfWork(db, actor, reason=f"archive copy of the historian's raw values of {label}") as uow:
        uow.record(EVENT, "monitoring_archive", label, changes={
            "values": [None, count], "ingests": [None, len(ingests)], "file": [None, data.name],
            "file_sm3": [None, data_sm3],
        })  # fmt: skip
        uow.commit()
    return Archived(data, manifest_path, count, len(ingests), data_sm3)


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def check(manifest_path: Path) -> list[str]:
    """Problems of an archive copy, checked without the database (empty: the copy is intact)."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        signature = bytes.fromhex(manifest.pop("signature"))
        public_key = crypto.public_key_from_pem(manifest["site_key"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [f"manifest unreadable: {error}"]
    problems = []
    if manifest.get("format") != FORMAT:
        problems.append(f"unknown format {manifest.get('format')!r}")
    if crypto.fingerprint(public_key) != manifest.get("site_key_fingerprint"):
        problems.append("the site key does not match its fingerprint")
    if not crypto.verify(public_key, _canonical(manifest), signature):
        problems.append("the manifest's signature does not verify: the manifest was changed")
    data = manifest_path.parent / str(manifest.get("file"))
    try:
        if file_sm3(data) != manifest.get("file_sm3"):
            problems.append(f"{data.name}: its SM3 differs from the manifest's: the file was changed")
        listed = {entry["id"]: entry for entry in manifest.get("ingests", [])}
        count = 0
        with gzip.open(data, "rt", encoding="utf-8") as lines:
            parsed = (json.loads(line) for line in lines)
            for ingest_id, group in itertools.groupby(parsed, key=itemgetter(0)):
                rows = [row[1:] for row in group]
                count += len(rows)
                entry = listed.pop(ingest_id, None)
                if entry is None:
                    problems.append(f"ingest {ingest_id}: values in the file that the manifest does not list")
                elif len(rows) != entry["in_month"]:
                    problems.append(
                        f"ingest {ingest_id}: {len(rows)} values in the file, {entry['in_month']} listed"
                    )
                elif entry["complete"] and values_sm3(rows) != entry["values_sm3"]:
                    problems.append(
                        f"ingest {ingest_id}: its values no longer hash to the SM3 of its audited record"
                    )
    except (OSError, EOFError, ValueError) as error:  # unreadable, truncated, not JSON
        return [*problems, f"{data.name} unreadable: {error}"]
    for ingest_id in sorted(listed):
        problems.append(f"ingest {ingest_id}: listed, but no values of it in the file")
    if count != manifest.get("values"):
        problems.append("the number of values differs from the manifest's")
    return problems


def _line(ingest_id: int, row: list[Any]) -> str:
    return json.dumps([ingest_id, *row], ensure_ascii=False, separators=(",", ":")) + "\n"


def file_sm3(path: Path) -> str:
    digest = hashlib.new("sm3")
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
