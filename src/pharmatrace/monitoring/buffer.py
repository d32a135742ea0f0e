"""The collector's local journal (本地缓存, store-and-forward; SH-8.4.1, SH-8.4.3, TJ-10.1.3.3.a; ADR 0025).

Every batch of readings the collector takes from its adapter is appended here and ``fsync``'d *before* it is
acknowledged to the source or sent to the database; the forwarder then stores the batches in journal order through
:func:`pharmatrace.monitoring.historian.ingest` with the batch's own key, and appends a *forwarded* mark. A batch
re-sent after a crash between "stored" and "marked" is therefore idempotent (the historian returns the ingest of
that key), and a reading taken twice from the source (an MQTT re-delivery) is stored once (same tag and source time).

One journal per source, ``<PHARMATRACE_VAR>/collector/<SOURCE>/journal.log``, held by one collector at a time
(an exclusive ``flock`` on ``lock``). The file is a sequence of frames ``"PTJ1" | length (u32) | CRC-32 (u32) |
JSON``; a frame is either a batch (``{"k": "batch", "seq", "key", "at", "r": [...]}``) or a mark
(``{"k": "forwarded", "seq"}``: every batch up to ``seq`` is in the database). A frame cut short or failing its
CRC at the very end of the file is the tail of a write a crash (``kill -9``, power loss) interrupted: it was never
acknowledged, so it is dropped (the file is truncated to the last whole frame). A bad frame followed by more
data is corruption, not a torn write: the journal refuses to open rather than guess. When nothing is pending the
file is truncated to nothing; a long forwarded prefix is compacted away by rewriting the pending rest atomically.

A reading is written exactly (SH-8.4.1): a Decimal as its digits (``"21.50"``), a float as its shortest
round-trip ``repr``, ints and booleans as such; times in ISO 8601 with their microseconds and offset; the quality
and the protocol's status code as received.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import struct
import threading
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ValidationFailed
from pharmatrace.monitoring.historian import Reading, Value

log = logging.getLogger(__name__)

MAGIC = b"PTJ1"
HEADER = struct.Struct(">4sII")  # magic, payload length, CRC-32 of the payload
MAX_FRAME = 64 * 1024 * 1024
COMPACT_BYTES = 1024 * 1024  # a forwarded prefix longer than this is rewritten away
JOURNAL = "journal.log"
SOURCE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{0,63}$")


class JournalCorrupt(ValidationFailed):
    """A frame in the middle of a journal is damaged: nothing is guessed, nothing dropped."""


def journal_dir(state_dir: Path, source_code: str) -> Path:
    """``<state dir>/collector/<SOURCE>``; a code that is not a source code (``../x``) is refused."""
    code = source_code.upper()
    if not SOURCE_CODE.match(code):
        raise ValidationFailed(N_("{code} is not a data source code"), code=source_code)
    return state_dir / "collector" / code


# --- exact serialization ---------------------------------------------------------------------------------


def encode_value(value: Value) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, Decimal):
        return ["d", str(value)]  # str keeps digits and exponent: Decimal(str(d)) is d, 21.50 stays 21.50
    return ["f", repr(float(value))]  # the shortest text giving back the same double (nan, inf included)


def decode_value(raw: Any) -> Value:
    if raw is None:
        return None
    kind, text = raw
    if kind == "b":
        return bool(text)
    if kind == "i":
        return int(text)
    if kind == "d":
        return Decimal(text)
    if kind == "f":
        return float(text)
    raise ValueError(f"unknown value kind {kind!r}")


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="microseconds")


def encode_reading(r: Reading) -> list[Any]:
    return [
        r.tag,
        _time(r.source_time),
        encode_value(r.value),
        r.quality,
        r.status_code,
        _time(r.server_time),
    ]


def decode_reading(raw: list[Any]) -> Reading:
    tag, source_time, value, quality, status_code, server_time = raw
    return Reading(str(tag), datetime.fromisoformat(source_time), decode_value(value), str(quality),
                   None if status_code is None else int(status_code),
                   None if server_time is None else datetime.fromisoformat(server_time))  # fmt: skip


def frame(record: dict[str, Any]) -> bytes:
    body = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    return HEADER.pack(MAGIC, len(body), zlib.crc32(body)) + body


# --- the journal ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """A journaled batch: its place in the journal, its idempotency key and its readings."""

    seq: int
    key: str
    journaled_at: datetime
    readings: tuple[Reading, ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    seq: int
    offset: int  # of the frame's header
    size: int  # header and payload
    count: int  # readings
    journaled_at: datetime


@dataclass(frozen=True, slots=True)
class Scan:
    """What a journal file holds: the pending batches (in order), where the whole frames end, the file's size."""

    pending: list[_Entry]
    last_seq: int
    end: int
    size: int

    @property
    def torn(self) -> int:
        """Bytes after the last whole frame: an interrupted write."""
        return self.size - self.end


def scan(handle: IO[bytes], path: Path) -> Scan:
    """Read every frame; a damaged last frame ends the scan (torn), a damaged frame before more data refuses."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    offset = 0
    batches: dict[int, _Entry] = {}
    forwarded = last = 0
    while offset < size:
        header = handle.read(HEADER.size)
        if len(header) < HEADER.size:
            break  # a header cut short: torn
        magic, length, crc = HEADER.unpack(header)
        end = offset + HEADER.size + length
        if magic != MAGIC or length > MAX_FRAME:
            rest = header + handle.read()
            if rest.strip(b"\0") == b"":
                break  # the file grew but its last write never reached the disk (zeros): torn
            raise JournalCorrupt(N_("The collector journal {path} is damaged at byte {offset}"), path=str(path),
                                 offset=offset)  # fmt: skip
        body = handle.read(length)
        if len(body) < length:
            break  # a payload cut short: torn
        if zlib.crc32(body) != crc:
            if end == size:
                break  # the last frame, half written: torn
            raise JournalCorrupt(N_("The collector journal {path} is damaged at byte {offset}"), path=str(path),
                                 offset=offset)  # fmt: skip
        try:
            record = json.loads(body)
            seq = int(record["seq"])
            if record["k"] == "batch":
                if seq <= last:
                    raise ValueError("sequence out of order")
                last = seq
                batches[seq] = _Entry(seq, offset, end - offset, len(record["r"]),
                                      datetime.fromisoformat(record["at"]))  # fmt: skip
            elif record["k"] == "forwarded":
                forwarded = max(forwarded, seq)
            else:
                raise ValueError(f"unknown record {record['k']!r}")
        except (ValueError, KeyError, TypeError) as error:  # a whole frame with a valid CRC: written wrong
            raise JournalCorrupt(N_("The collector journal {path} has an unreadable record at byte {offset}: {error}"),
                                 path=str(path), offset=offset, error=str(error)) from error  # fmt: skip
        offset = end
    pending = [entry for seq, entry in sorted(batches.items()) if seq > forwarded]
    return Scan(pending, max(last, forwarded), offset, size)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """``Journal.open(db.state_dir, "CLEANROOM-MQTT")``: the source's journal, held exclusively until ``close``.

    Thread-safe: the collector appends from one worker thread while the forwarder reads and marks from another."""

    def __init__(self, directory: Path, source_code: str) -> None:
        self.directory = directory
        self.source_code = source_code
        self.path = directory / JOURNAL
        self.dropped_bytes = 0  # a torn tail dropped when opened
        self._lock = threading.Lock()
        self._lockfile: IO[bytes] | None = None
        self._file: IO[bytes] | None = None
        self._pending: list[_Entry] = []
        self._seq = 0
        self._pending_readings = 0

    @classmethod
    def open(cls, state_dir: Path, source_code: str) -> Journal:
        """Open (creating) the journal of a source; drops a torn tail; refused while another collector holds it."""
        directory = journal_dir(state_dir, source_code)
        directory.mkdir(parents=True, exist_ok=True)
        journal = cls(directory, source_code.upper())
        journal._lockfile = open(directory / "lock", "ab")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(journal._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            journal._lockfile.close()
            raise Conflict(N_("The journal of {code} is held by another running collector"),
                           code=journal.source_code) from None  # fmt: skip
        try:
            journal._file = open(journal.path, "a+b")  # noqa: SIM115 - held until close()
            found = scan(journal._file, journal.path)
            if found.torn:
                journal._file.truncate(found.end)
                os.fsync(journal._file.fileno())
                journal.dropped_bytes = found.torn
                log.warning("collector journal %s: dropped a torn last record (%d bytes, never acknowledged)",
                            journal.path, found.torn)  # fmt: skip
            journal._pending = found.pending
            journal._seq = found.last_seq
            journal._pending_readings = sum(e.count for e in found.pending)
            _fsync_dir(directory)
        except BaseException:
            journal.close()
            raise
        return journal

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for handle in (self._file, self._lockfile):
            if handle is not None:
                handle.close()
        self._file = self._lockfile = None

    def save_source(self, configuration: dict[str, Any]) -> None:
        """Keep the source's configuration beside its journal (atomically), for a start while the database is
        away."""
        fresh = self.directory / "source.json.new"
        with open(fresh, "w", encoding="utf-8") as out:
            json.dump(configuration, out, ensure_ascii=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(fresh, self.directory / "source.json")

    def saved_source(self) -> dict[str, Any] | None:
        path = self.directory / "source.json"
        if not path.exists():
            return None
        found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return found

    @property
    def pending_batches(self) -> int:
        return len(self._pending)

    @property
    def pending_readings(self) -> int:
        return self._pending_readings

    def _handle(self) -> IO[bytes]:
        if self._file is None:
            raise Conflict(N_("The journal of {code} is closed"), code=self.source_code)
        return self._file

    def _write(self, data: bytes) -> int:
        handle = self._handle()
        handle.seek(0, os.SEEK_END)
        offset = handle.tell()
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
        return offset

    def append(self, readings: Sequence[Reading]) -> Batch:
        """Write a batch and make it durable (``fsync``) before returning: only then may it be acknowledged."""
        if not readings:
            raise ValidationFailed(N_("An empty batch is not journaled"))
        with self._lock:
            seq = self._seq + 1
            at = clock.now()
            key = uuid.uuid4().hex  # the historian's batch key: a re-send of this batch is the same ingest
            data = frame({"k": "batch", "seq": seq, "key": key, "at": _time(at),
                          "r": [encode_reading(r) for r in readings]})  # fmt: skip
            offset = self._write(data)
            self._seq = seq
            self._pending.append(_Entry(seq, offset, len(data), len(readings), at))
            self._pending_readings += len(readings)
            return Batch(seq, key, at, tuple(readings))

    def first_pending(self) -> Batch | None:
        """The oldest batch not yet in the database, read back from the file."""
        run = self.pending_run(0)
        return run[0] if run else None

    def pending_run(self, readings: int) -> list[Batch]:
        """The oldest batches not yet in the database, read back from the file: the first, and those after it
        while they hold at most ``readings`` readings in all (the forwarder stores them as one ingest)."""
        with self._lock:
            if not self._pending:
                return []
            handle, total = self._handle(), 0
            run: list[Batch] = []
            for entry in self._pending:
                total += entry.count
                if run and total > readings:
                    break
                handle.seek(entry.offset + HEADER.size)
                record = json.loads(handle.read(entry.size - HEADER.size))
                run.append(Batch(entry.seq, str(record["key"]), entry.journaled_at,
                                 tuple(decode_reading(r) for r in record["r"])))  # fmt: skip
            return run

    def latest_pending(self) -> dict[str, datetime]:
        """Each tag's newest source time among the batches not yet in the database (read back from the file)."""
        with self._lock:
            entries, handle = list(self._pending), self._handle()
            latest: dict[str, datetime] = {}
            for entry in entries:
                handle.seek(entry.offset + HEADER.size)
                for raw in json.loads(handle.read(entry.size - HEADER.size))["r"]:
                    reading = decode_reading(raw)
                    if reading.tag not in latest or reading.source_time > latest[reading.tag]:
                        latest[reading.tag] = reading.source_time
            return latest

    def forwarded(self, seq: int, last: int | None = None) -> None:
        """Mark the pending batches ``seq`` … ``last`` (``seq`` alone by default) as stored; batches are forwarded
        strictly in journal order, so ``seq`` must be the oldest pending. One mark says it for all of them."""
        with self._lock:
            if not self._pending or self._pending[0].seq != seq:
                first = self._pending[0].seq if self._pending else None
                raise Conflict(N_("Batch {seq} is not the next to forward (that is {first})"), seq=seq,
                               first=str(first))  # fmt: skip
            last = seq if last is None else last
            if last not in {entry.seq for entry in self._pending}:
                raise Conflict(N_("Batch {seq} is not pending"), seq=last)
            while self._pending and self._pending[0].seq <= last:
                entry = self._pending.pop(0)
                self._pending_readings -= entry.count
            handle = self._handle()
            if not self._pending:  # everything is in the database: the journal starts afresh
                handle.truncate(0)
                os.fsync(handle.fileno())
                return
            self._write(frame({"k": "forwarded", "seq": last}))
            if self._pending[0].offset >= COMPACT_BYTES:
                self._compact()

    def _compact(self) -> None:
        """Rewrite the journal without its forwarded prefix (a new file, fsync'd, renamed over the old one)."""
        handle = self._handle()
        start = self._pending[0].offset
        handle.seek(start)
        rest = handle.read()
        fresh = self.directory / f"{JOURNAL}.new"
        with open(fresh, "wb") as out:
            out.write(rest)
            out.flush()
            os.fsync(out.fileno())
        os.replace(fresh, self.path)
        _fsync_dir(self.directory)
        handle.close()
        self._file = open(self.path, "a+b")  # noqa: SIM115 - held until close()
        self._pending = [
            _Entry(e.seq, e.offset - start, e.size, e.count, e.journaled_at) for e in self._pending
        ]


@dataclass(frozen=True, slots=True)
class BufferStatus:
    """What a source's journal holds, read without taking it from a running collector."""

    source_code: str
    path: Path
    pending_batches: int
    pending_readings: int
    oldest_journaled_at: datetime | None
    newest_journaled_at: datetime | None
    size_bytes: int
    torn_bytes: int  # an incomplete last frame (a write in progress, or one a crash interrupted)


def status(state_dir: Path, source_code: str) -> BufferStatus:
    """The pending batches of a source's journal; ``NotFound`` when no collector ever ran for it here."""
    directory = journal_dir(state_dir, source_code)
    path = directory / JOURNAL
    if not path.exists():
        raise NotFound(N_("No collector journal for {code} in {path}"), code=source_code.upper(),
                       path=str(directory.parent))  # fmt: skip
    with open(path, "rb") as handle:
        found = scan(handle, path)
    return BufferStatus(
        source_code.upper(), path, len(found.pending), sum(e.count for e in found.pending),
        found.pending[0].journaled_at if found.pending else None,
        found.pending[-1].journaled_at if found.pending else None, found.size, found.torn,
    )  # fmt: skip
