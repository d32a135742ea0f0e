"""The packaging-line interface (包装线赋码接口, SH-6.2.5, TJ-9.1, SH-8.4.1; issue 10 item 2): print data to the
line controller, read results back, each result once in the code's lifecycle.

The message format is documented in ``docs/trace-line-protocol.md``; this module holds its schemas and the host's
half of the protocol:

* :func:`print_job` — the print data of a batch on a line: the codes allocated to it (in allocation order) with
  the batch number, the product, the expiry and a job id. An adapter (:mod:`.line_adapters`) hands it to the
  line controller, which acknowledges it.
* :func:`decode_result` — one read result off the wire (per-line sequence number, code, good or rejected, the
  camera's ISO/IEC 15415 grade, the time of the read), validated at the edge: a malformed message is refused with
  a reason, never guessed at.
* :func:`store` — a batch of results as **one** unit of work written by the line collector's system actor: one
  ``commission`` event for the good reads and one ``decommission`` (``rejected``) event for the camera rejects
  per batch and job, each under an ``event_key`` derived from line, job and sequence range, so a batch delivered
  again is recognised as a whole (:func:`pharmatrace.trace.lifecycle.prior`). Result by result, a code that is
  unknown, not allocated to the job's batch and line, or already read (a re-delivery, or the same code read
  twice) is counted and reported — never committed twice, never dropped silently.
* :class:`LineCollector` — takes deliveries off an adapter's queue and stores them in batches (at most
  ``batch_size`` results, at most ``flush_seconds`` old, or when the stream pauses ``idle_seconds``) and only
  then acknowledges them to the transport: a result is acknowledged after the unit of work that holds it
  committed, so a collector that stops loses nothing (the broker or the controller delivers it again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, ValidationError
from sqlalchemy import select

from pharmatrace.adapters import get_within
from pharmatrace.kernel import crypto
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import N_, NotFound, ValidationFailed
from pharmatrace.kernel.identity.schemas import Strict
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.mes.packaging_models import PackagingRecord
from pharmatrace.storage.engine import Database
from pharmatrace.trace import lifecycle
from pharmatrace.trace.models import TraceCode

log = logging.getLogger(__name__)

VERSION = 1
LINE_COLLECTOR = Actor.system("trace-line-collector")
GRADES = ("A", "B", "C", "D", "F")  # ISO/IEC 15415 overall symbol grades (4.0 … 0.0); there is no E
PASS_GRADES = ("A", "B", "C")  # a "good" read graded D or F contradicts itself: refused as malformed
STATUSES = ("good", "rejected")
MAX_JOB_CODES = 100_000

LineName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]
CodeValue = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,64}$")]  # as printed, no FNC1
Text = Annotated[str, StringConstraints(min_length=1, max_length=64)]


# --- the wire format (docs/trace-line-protocol.md) ---------------------------------------------------------


class JobMessage(Strict):
    type: Literal["job"]
    v: Literal[1]
    job_id: Text
    line: LineName
    batch_no: Text
    product: Annotated[str, StringConstraints(max_length=64)] = ""
    expiry: date | None = None
    codes: Annotated[list[CodeValue], Field(min_length=1, max_length=MAX_JOB_CODES)]


class JobAckMessage(Strict):
    type: Literal["job_ack"]
    v: Literal[1]
    job_id: Text
    line: LineName
    accepted: Annotated[int, Field(ge=0)]
    error: Annotated[str, StringConstraints(max_length=500)] = ""


class ResultMessage(Strict):
    type: Literal["result"]
    v: Literal[1]
    line: LineName
    job_id: Text
    batch_no: Text
    seq: Annotated[int, Field(ge=1)]
    code: CodeValue
    status: Literal["good", "rejected"]
    grade: Literal["A", "B", "C", "D", "F"]
    ts: AwareDatetime


@dataclass(frozen=True, slots=True)
class PrintJob:
    """The print data of one batch on one line, in the order the codes are to be printed."""

    job_id: str
    line: str
    batch_no: str
    product: str
    expiry: date | None
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReadResult:
    """One code as the line's camera read it: ``good`` (commissioned) or ``rejected`` with its grade."""

    line: str
    job_id: str
    batch_no: str
    seq: int
    code: str
    status: str
    grade: str
    at: datetime


class MessageRefused(ValueError):
    """A message that does not follow the protocol: its reason is reported, nothing of it is stored."""


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _load(model: type[Any], payload: bytes | str) -> Any:
    try:
        return model.model_validate_json(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise MessageRefused(f"{where}: {first['msg']}") from None


def encode_job(job: PrintJob) -> bytes:
    return _dumps({"type": "job", "v": VERSION, "job_id": job.job_id, "line": job.line, "batch_no": job.batch_no,
                   "product": job.product, "expiry": job.expiry.isoformat() if job.expiry else None,
                   "codes": list(job.codes)})  # fmt: skip


def decode_job(payload: bytes | str) -> PrintJob:
    m: JobMessage = _load(JobMessage, payload)
    return PrintJob(m.job_id, m.line, m.batch_no, m.product, m.expiry, tuple(m.codes))


def encode_job_ack(job_id: str, line: str, accepted: int, error: str = "") -> bytes:
    return _dumps({"type": "job_ack", "v": VERSION, "job_id": job_id, "line": line, "accepted": accepted,
                   "error": error})  # fmt: skip


def decode_job_ack(payload: bytes | str) -> JobAckMessage:
    ack: JobAckMessage = _load(JobAckMessage, payload)
    return ack


def encode_result(result: ReadResult) -> bytes:
    return _dumps({"type": "result", "v": VERSION, "line": result.line, "job_id": result.job_id,
                   "batch_no": result.batch_no, "seq": result.seq, "code": result.code, "status": result.status,
                   "grade": result.grade,
                   "ts": result.at.astimezone(UTC).isoformat(timespec="microseconds")})  # fmt: skip


def decode_result(payload: bytes | str) -> ReadResult:
    """One result off the wire; :class:`MessageRefused` (with the reason) for anything off the protocol."""
    m: ResultMessage = _load(ResultMessage, payload)
    if m.status == "good" and m.grade not in PASS_GRADES:
        raise MessageRefused(f"seq {m.seq}: a good read cannot have grade {m.grade}")
    return ReadResult(m.line, m.job_id, m.batch_no, m.seq, m.code, m.status, m.grade, m.ts.astimezone(UTC))


# --- print data ------------------------------------------------------------------------------------------------


def print_job(db: Database, batch_no: str, line: str, job_id: str) -> PrintJob:
    """The codes allocated to ``batch_no`` on ``line`` and still unprinted (``allocated``), in allocation order,
    with the batch's product and the expiry of its packaging record (TJ-9.1: batch number and expiry printed)."""
    with db.sessions() as session:
        batch = session.scalar(select(BatchOrder).where(BatchOrder.batch_no == batch_no))
        if batch is None:
            raise NotFound(N_("No batch {batch_no}"), batch_no=batch_no)
        values = list(
            session.scalars(
                select(TraceCode.value)
                .where(
                    TraceCode.batch_order_id == batch.id,
                    TraceCode.line == line,
                    TraceCode.state == "allocated",
                    TraceCode.level == 1,
                )
                .order_by(TraceCode.id)
            )
        )
        if not values:
            raise ValidationFailed(
                N_("No codes are allocated to batch {batch_no} on line {line}"), batch_no=batch_no, line=line
            )
        expiry = session.scalar(
            select(PackagingRecord.expiry_date).where(PackagingRecord.batch_order_id == batch.id)
        )
        return PrintJob(job_id, line, batch_no, batch.product_code, expiry, tuple(values))


# --- storing results -------------------------------------------------------------------------------------------

UNKNOWN_CODE = "unknown_code"
NOT_FOR_JOB = "not_for_job"  # allocated to another batch or line, or not allocated at all
UNKNOWN_BATCH = "unknown_batch"
DUPLICATE = "duplicate"  # re-delivered, or the same code read again: its first read stands


@dataclass(frozen=True, slots=True)
class Refusal:
    """A result that changed nothing, and why."""

    line: str
    seq: int
    code: str
    kind: str
    detail: str = ""


@dataclass
class BatchOutcome:
    commissioned: int = 0
    rejected: int = 0
    event_ids: list[int] = field(default_factory=list)
    duplicates: list[Refusal] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def event_key(results: Sequence[ReadResult], action: str) -> str:
    """The key of a batch's event: line, job, sequence range and the results themselves (sequence number, code,
    verdict). The same batch delivered again gives the same key; a batch that differs in anything gives another,
    so a key can never hide a result that was not stored."""
    ordered = sorted(results, key=lambda r: r.seq)
    head = ordered[0]
    body = ";".join(f"{r.seq},{r.code},{r.status},{r.grade}" for r in ordered)
    text = f"trace-line|{head.line}|{head.job_id}|{head.batch_no}|{ordered[0].seq}-{ordered[-1].seq}|{action}|{body}"
    return crypto.sm3(text.encode()).hex()


def _reject_reason(line: str, job_id: str, first: int, last: int, grades: Counter[str]) -> str:
    counted = ", ".join(f"{grade}×{n}" for grade, n in sorted(grades.items()))
    return f"Camera reject (ISO/IEC 15415 grade {counted}) on line {line}, job {job_id}, seq {first}-{last}"


def _store_group(uow: UnitOfWork, line: str, job_id: str, batch_no: str, results: list[ReadResult],
                 outcome: BatchOutcome) -> None:  # fmt: skip
    session = uow.session
    seqs = [r.seq for r in results]
    first, last = min(seqs), max(seqs)
    keys = {action: event_key(results, action) for action in ("commission", "decommission")}
    if any(lifecycle.prior(session, key) is not None for key in keys.values()):  # this very batch, again
        outcome.duplicates.extend(
            Refusal(line, r.seq, r.code, DUPLICATE, "batch already stored") for r in results
        )
        return
    batch_id = session.scalar(select(BatchOrder.id).where(BatchOrder.batch_no == batch_no))
    if batch_id is None:
        outcome.refused.extend(Refusal(line, r.seq, r.code, UNKNOWN_BATCH, batch_no) for r in results)
        return
    # locked: a second collector of the same line waits, then finds the codes read (PostgreSQL; SQLite has one writer)
    wanted = select(TraceCode).where(TraceCode.value.in_({r.code for r in results})).with_for_update()
    found = {c.value: c for c in session.scalars(wanted)}
    good: list[TraceCode] = []
    rejected: list[TraceCode] = []
    grades: Counter[str] = Counter()
    taken: set[str] = set()
    for result in sorted(results, key=lambda r: r.seq):
        code = found.get(result.code)
        if code is None:
            outcome.refused.append(Refusal(line, result.seq, result.code, UNKNOWN_CODE))
        elif code.batch_order_id != batch_id or code.line != line or code.level != 1:
            outcome.refused.append(Refusal(line, result.seq, result.code, NOT_FOR_JOB,
                                           f"{code.state}, line {code.line or '-'}"))  # fmt: skip
        elif result.code in taken or code.state != "allocated":
            outcome.duplicates.append(Refusal(line, result.seq, result.code, DUPLICATE, code.state))
        else:
            taken.add(result.code)
            if result.status == "good":
                good.append(code)
            else:
                rejected.append(code)
                grades[result.grade] += 1
    if good:
        event = lifecycle.record(uow, "commission", good, event_key=keys["commission"],
                                 reason=f"Read good on line {line}, job {job_id}, seq {first}-{last}")  # fmt: skip
        outcome.commissioned += len(good)
        outcome.event_ids.append(event.id)
    if rejected:
        event = lifecycle.record(uow, "decommission", rejected, disposition="rejected",
                                 reason=_reject_reason(line, job_id, first, last, grades),
                                 event_key=keys["decommission"])  # fmt: skip
        outcome.rejected += len(rejected)
        outcome.event_ids.append(event.id)


def store(db: Database, results: Sequence[ReadResult], *, actor: Actor = LINE_COLLECTOR) -> BatchOutcome:
    """Store a batch of read results as one unit of work; what was refused or already read is in the outcome.

    Results are grouped by line, job and batch; each group gives at most one ``commission`` and one
    ``decommission`` (``rejected``) event. Either every event of the batch is committed or none is.
    """
    outcome = BatchOutcome()
    if not results:
        return outcome
    groups: dict[tuple[str, str, str], list[ReadResult]] = defaultdict(list)
    for result in results:
        groups[(result.line, result.job_id, result.batch_no)].append(result)
    with UnitOfWork(db, actor, reason="packaging line read results") as uow:
        for (line, job_id, batch_no), group in groups.items():
            _store_group(uow, line, job_id, batch_no, group, outcome)
        uow.commit()
    return outcome


# --- the collector ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message as an adapter received it: its result (or why it was refused) and how to acknowledge it."""

    result: ReadResult | None
    ack: Callable[[], None]
    error: str = ""
    raw: bytes = b""


@dataclass
class LineReport:
    """What a collector did: counts, every refusal and duplicate with its reason, the sequence numbers seen."""

    commissioned: int = 0
    rejected: int = 0
    batches: int = 0
    event_ids: list[int] = field(default_factory=list)
    duplicates: list[Refusal] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    seqs: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def add(self, outcome: BatchOutcome) -> None:
        self.batches += 1
        self.commissioned += outcome.commissioned
        self.rejected += outcome.rejected
        self.event_ids.extend(outcome.event_ids)
        self.duplicates.extend(outcome.duplicates)
        self.refused.extend(outcome.refused)

    def gaps(self, line: str) -> list[int]:
        """Sequence numbers of ``line`` not (yet) received between the lowest and the highest seen."""
        seen = self.seqs.get(line, set())
        return sorted(set(range(min(seen), max(seen) + 1)) - seen) if seen else []

    def summary(self) -> str:
        return (f"{self.commissioned} commissioned, {self.rejected} rejected, {len(self.duplicates)} duplicates, "
                f"{len(self.refused)} refused, {len(self.malformed)} malformed, in {self.batches} batches")  # fmt: skip


@dataclass
class LineCollector:
    """Deliveries from an adapter's queue into the lifecycle, acknowledged only after their batch committed."""

    db: Database
    batch_size: int = 200
    flush_seconds: float = 1.0
    idle_seconds: float = 0.2  # the broker's in-flight window holds back more until these are acknowledged
    report: LineReport = field(default_factory=LineReport)

    _inflight: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def flush(self, pending: list[Delivery]) -> None:
        """Store what is pending as one batch, then acknowledge it; a cancellation does not interrupt it."""
        if not pending:
            return
        batch = list(pending)
        pending.clear()
        self._inflight = asyncio.ensure_future(self._store(batch))
        await asyncio.shield(self._inflight)

    async def _store(self, batch: list[Delivery]) -> None:
        results = [d.result for d in batch if d.result is not None]
        outcome = await asyncio.to_thread(store, self.db, results)
        self.report.add(outcome)
        for delivery in batch:
            if delivery.result is None:
                self.report.malformed.append(delivery.error)
            delivery.ack()  # only now: the unit of work holding it has committed

    async def run(self, queue: asyncio.Queue[Delivery], *, limit: int | None = None,
                  until: Callable[[LineReport], bool] | None = None) -> LineReport:  # fmt: skip
        """Collect until ``limit`` deliveries were taken, ``until(report)`` holds after a batch, or cancelled.

        Cancelling stores (and acknowledges) what it holds first. If a batch cannot be stored (the database is
        away) the error is raised and nothing of it is acknowledged: the transport delivers it again."""
        taken = 0
        pending: list[Delivery] = []
        started = last = 0.0
        try:
            while (limit is None or taken < limit) and not (until is not None and until(self.report)):
                wait = None
                if pending:
                    now = time.monotonic()
                    wait = max(0.0, min(started + self.flush_seconds, last + self.idle_seconds) - now)
                try:
                    delivery = await get_within(queue, wait)
                except TimeoutError:
                    await self.flush(pending)
                    continue
                if delivery.result is not None:
                    self.report.seqs[delivery.result.line].add(delivery.result.seq)
                pending.append(delivery)
                taken += 1
                last = time.monotonic()
                if len(pending) == 1:
                    started = last
                if len(pending) >= self.batch_size:
                    await self.flush(pending)
        except asyncio.CancelledError:
            if self._inflight is not None and not self._inflight.done():
                await asyncio.shield(self._inflight)  # the batch being stored finishes (and is acknowledged)
            await asyncio.shield(self.flush(pending))
            raise
        await self.flush(pending)
        return self.report
