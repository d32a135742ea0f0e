"""The collector service: every active data source collected at once, supervised (SH-8.4.3, SH-8.1, TJ-6.5).

``CollectorService(db)`` runs one task per active (not voided) source, each :func:`.collector.collect` through the
source's local journal (store-and-forward, ADR 0025). A task that fails — the source unreachable, its journal held
by another collector process, a batch the database refused — is logged and started again after a back-off that
doubles up to a cap (never a tight loop); the other sources go on. A periodic re-scan starts the sources added since,
stops the ones voided and restarts a source whose endpoint or tags changed. :meth:`CollectorService.stop` cancels
every task: each journals what it holds and forwards what it can; the rest waits in the journal for the next run.

The service writes nothing of its own: values reach the database only through the collector's
:func:`pharmatrace.monitoring.historian.ingest` (one audited ingest per batch). The web app starts it when asked
(``pharmatrace serve --collect`` or ``PHARMATRACE_COLLECT=1``); :func:`current_status` reads it for the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select

from pharmatrace.kernel import clock
from pharmatrace.monitoring.buffer import journal_dir
from pharmatrace.monitoring.collector import DATABASE_AWAY, Batching, Collector, collect
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.models import DataSource, Tag
from pharmatrace.storage.engine import Database

log = logging.getLogger(__name__)

State = Literal["running", "retrying", "stopped"]
ERROR_CHARS = 200


def short_error(error: BaseException) -> str:
    """The error's kind and the first line of its text, cut short: what the status page shows."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


@dataclass
class _WatchedCollector(Collector):
    """A collector that notes the newest source time and when it last received, for the status."""

    last_value_at: datetime | None = None
    last_received_at: datetime | None = None

    async def flush(self, batch: list[Reading], acknowledge: Callable[[int], None] | None = None) -> None:
        if batch:
            newest = max(r.source_time for r in batch)
            self.last_value_at = newest if self.last_value_at is None else max(self.last_value_at, newest)
            self.last_received_at = clock.now()
        await super().flush(batch, acknowledge)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One source as the service sees it: its state, its last error (short), its counts since the service started
    (received, forwarded to the database, still pending in the journal), the newest source time received, how often
    it was started and when it is tried again (while retrying)."""

    code: str
    protocol: str
    state: State
    error: str | None
    received: int
    forwarded: int
    stored: int
    pending: int
    last_value_at: datetime | None
    starts: int
    retry_at: datetime | None


@dataclass
class _Run:
    code: str
    protocol: str
    fingerprint: str
    collector: _WatchedCollector
    task: asyncio.Task[None] | None = None
    state: State = "running"
    error: str | None = None
    starts: int = 0
    retry_at: datetime | None = None
    stored_before: int = 0  # of the results folded away (a long run keeps only the newest results)


def _configured(db: Database) -> dict[str, tuple[str, str]]:
    """Code → (protocol, fingerprint of endpoint and tags) of every active source."""
    with db.sessions() as session:
        sources = session.scalars(select(DataSource).where(DataSource.voided_at.is_(None))).all()
        rows = session.execute(
            select(Tag.source_id, Tag.name, Tag.address, Tag.data_type, Tag.decimals).where(
                Tag.voided_at.is_(None)
            )
        ).all()
    bindings: dict[int, list[list[object]]] = {}
    for source_id, *binding in sorted(rows, key=lambda r: (r[0], r[1])):
        bindings.setdefault(source_id, []).append(list(binding))
    return {
        s.code: (s.protocol, json.dumps([s.protocol, s.endpoint, bindings.get(s.id, [])], default=str))
        for s in sources
    }


def _journaled(db: Database) -> dict[str, tuple[str, str]]:
    """While the database is away at start: the sources whose configuration an earlier run kept beside its journal
    (the collector starts from it and journals until the database returns)."""
    found: dict[str, tuple[str, str]] = {}
    root = journal_dir(db.state_dir, "X").parent
    for saved in sorted(root.glob("*/source.json")) if root.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(saved.read_text(encoding="utf-8"))
            found[str(data["code"])] = (str(data["protocol"]), "journal")
    return found


class CollectorService:
    """``service = CollectorService(db); service.start()`` in a running event loop; ``await service.stop()``.

    ``retry_seconds`` is the first back-off after a failure, doubled up to ``retry_max_seconds``; ``rescan_seconds``
    how often the configured sources are read again; ``flush_seconds`` how long a reading may wait for its batch,
    ``batch_size`` its most readings (each batch is one audited ingest) and ``priority_seconds`` how long a
    reading that may raise or clear an alarm may wait (default: the settings ``PHARMATRACE_COLLECTOR_FLUSH_SECONDS``,
    ``PHARMATRACE_COLLECTOR_BATCH_SIZE`` and ``PHARMATRACE_COLLECTOR_PRIORITY_SECONDS``)."""

    def __init__(
        self,
        db: Database,
        *,
        rescan_seconds: float = 60.0,
        retry_seconds: float = 2.0,
        retry_max_seconds: float = 120.0,
        flush_seconds: float | None = None,
        batch_size: int | None = None,
        priority_seconds: float | None = None,
        forward_size: int | None = None,
    ) -> None:
        self.db = db
        self.rescan_seconds = rescan_seconds
        self.retry_seconds = retry_seconds
        self.retry_max_seconds = retry_max_seconds
        self.batching = Batching.of_settings(flush_seconds=flush_seconds, batch_size=batch_size,
                                             priority_seconds=priority_seconds, forward_size=forward_size)  # fmt: skip
        self._runs: dict[str, _Run] = {}
        self._scanner: asyncio.Task[None] | None = None
        self._rescan = asyncio.Event()

    # --- the life of the service ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scanner (which starts the sources) in the running event loop; the service becomes current."""
        global _current
        if self._scanner is not None:
            return
        self._rescan = asyncio.Event()
        self._scanner = asyncio.create_task(self._scan_forever(), name="collector-service")
        _current = self

    def rescan(self) -> None:
        """Read the configured sources again now (not only at the next interval)."""
        self._rescan.set()

    async def stop(self) -> None:
        """Cancel every source's task; each journals what it received and forwards what the database takes."""
        global _current
        if _current is self:
            _current = None
        tasks = [t for t in (self._scanner, *(r.task for r in self._runs.values())) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._scanner = None
        for run in self._runs.values():
            run.state, run.task, run.retry_at = "stopped", None, None

    async def __aenter__(self) -> CollectorService:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- what runs ---------------------------------------------------------------------------------------------

    async def _scan_forever(self) -> None:
        while True:
            await self._scan_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rescan.wait(), self.rescan_seconds)
            self._rescan.clear()

    async def _scan_once(self) -> None:
        try:
            wanted = await asyncio.to_thread(_configured, self.db)
        except DATABASE_AWAY as error:
            if self._runs:
                log.warning(
                    "collector service: database away, the running sources go on: %s", short_error(error)
                )
                return
            wanted = await asyncio.to_thread(_journaled, self.db)
            log.warning("collector service: database away at start, collecting the %d sources kept in the "
                        "journals: %s", len(wanted), short_error(error))  # fmt: skip
        except Exception as error:  # a scan that fails must not end the service
            log.exception("collector service: the sources could not be read: %s", short_error(error))
            return
        for code, run in list(self._runs.items()):
            if code not in wanted:
                if run.task is not None:
                    log.info("collector service: %s is no longer an active source, stopping it", code)
                    await self._halt(run)
                continue
            fingerprint = wanted[code][1]
            if "journal" in (fingerprint, run.fingerprint):  # started from the journal's copy: not a change
                if fingerprint != "journal":
                    run.fingerprint = fingerprint
            elif fingerprint != run.fingerprint:
                log.info("collector service: %s was reconfigured, restarting it", code)
                await self._halt(run)
                run.fingerprint = fingerprint
            if run.task is None:
                self._launch(run)
        for code, (protocol, fingerprint) in sorted(wanted.items()):
            if code not in self._runs:
                run = _Run(code, protocol, fingerprint, self._collector(code))
                self._runs[code] = run
                self._launch(run)

    def _collector(self, code: str) -> _WatchedCollector:
        return _WatchedCollector.batched(self.db, code, self.batching)

    def _launch(self, run: _Run) -> None:
        run.state, run.error, run.retry_at = "running", None, None
        run.task = asyncio.create_task(self._supervise(run), name=f"collector-{run.code}")

    async def _halt(self, run: _Run) -> None:
        if run.task is not None:
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run.task
        run.task, run.state, run.retry_at = None, "stopped", None

    async def _supervise(self, run: _Run) -> None:
        """Collect the source; after a failure wait (doubling, capped) and collect again, until cancelled."""
        delay = self.retry_seconds
        while True:
            collector = run.collector
            collector.journal = None  # each attempt opens (and closes) the journal
            received, began = collector.received, time.monotonic()
            run.state, run.retry_at = "running", None
            run.starts += 1
            try:
                await collect(self.db, run.code, collector=collector)
                problem = "the source stopped sending"
            except asyncio.CancelledError:
                raise
            except Exception as error:  # logged, shown and retried; the other sources go on
                problem = short_error(error)
            finally:
                self._fold(run)
            if collector.received > received or time.monotonic() - began > self.retry_max_seconds:
                delay = self.retry_seconds  # it worked for a while: start the back-off afresh
            run.state, run.error = "retrying", problem
            run.retry_at = clock.now() + timedelta(seconds=delay)
            log.warning("collector %s: %s; trying again in %.0f s", run.code, problem, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_seconds)

    @staticmethod
    def _fold(run: _Run) -> None:
        results = run.collector.results
        if len(results) > 1000:  # a service runs for months: keep the sum, not every result
            run.stored_before += sum(r.stored for r in results[:-100])
            del results[:-100]

    # --- what it shows -----------------------------------------------------------------------------------------

    def status(self) -> list[SourceStatus]:
        """Every source the service knows, by code."""
        out = []
        for code, run in sorted(self._runs.items()):
            self._fold(run)
            counts = run.collector.counts()
            out.append(SourceStatus(code, run.protocol, run.state, run.error, counts.received, counts.forwarded,
                                    run.stored_before + counts.stored, counts.pending, run.collector.last_value_at,
                                    run.starts, run.retry_at))  # fmt: skip
        return out


_current: CollectorService | None = None


def current() -> CollectorService | None:
    """The service running in this process, if any."""
    return _current


def current_status() -> list[SourceStatus] | None:
    """The status of the service running in this process; ``None`` when no service runs here."""
    return None if _current is None else _current.status()
