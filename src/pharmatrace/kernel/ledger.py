"""The ledger: every audit entry is a leaf of an append-only SM3 Merkle tree (SH-8.4.5, SH-8.4.1).

* Each audit entry commits to the canonical bytes of the record version it describes (``record_hash``)
  and becomes a leaf: ``SM3(0x00 ‖ canonical entry)``, appended in the same database transaction.
* Signed checkpoints (tree size, root, time) are made every N entries or T seconds, signed with the
  site's SM2 key and appended, after commit, to a witness file outside the database
  (``$PHARMATRACE_VAR/ledger/witness.jsonl``), so a consistent rewrite of the whole database is caught.
* :func:`verify` re-hashes everything; :func:`prove` and :func:`check_proof` give an inspector one
  record's history with inclusion proofs against a signed checkpoint, checkable offline.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import re
import threading
import urllib.error
import urllib.request
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from pharmatrace.config import get_settings
from pharmatrace.kernel import audit, clock, crypto, merkle
from pharmatrace.kernel.audit import Audited, AuditEntry, entry_table_sql, plain_value
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime
from pharmatrace.storage.engine import Database

log = logging.getLogger("pharmatrace.ledger")

CHECKPOINT_DOMAIN = b"pharmatrace-checkpoint-v1\n"
PROOF_FORMAT = "pharmatrace-proof-v1"
CONSISTENCY_FORMAT = "pharmatrace-consistency-v1"
# What a leaf commits to. The surrogate ``id`` is not part of it: ``leaf_index`` is the position.
ENTRY_FIELDS = (
    "leaf_index", "at", "event", "object_type", "object_id", "actor_id", "actor_login", "actor_name",
    "reason", "changes", "request_id", "client_address", "record_hash",
)  # fmt: skip


# --- tables -----------------------------------------------------------------------------------------


# Subtrees below this level are recomputed from at most 2^STORED_LEVEL leaf hashes when a proof needs them;
# storing them all would add a row per entry (the leaves themselves live in audit_entries.leaf_hash).
STORED_LEVEL = 4


class LedgerNode(Base):
    """Perfect aligned subtrees of level >= STORED_LEVEL. Append-only."""

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class LedgerHead(Base):
    """The one row that serialises appends and carries the right edge of the tree."""

    __tablename__ = "ledger_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    frontier: Mapped[list[list[object]]] = mapped_column(JSON, nullable=False)
    checkpoint_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    checkpoint_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LedgerCheckpoint(Base):
    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    key_fingerprint: Mapped[str] = mapped_column(String(16), nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary(80), nullable=False)


class LedgerKey(Base):
    """Public halves of the site keys that signed checkpoints (old keys stay to verify old checkpoints)."""

    __tablename__ = "ledger_keys"

    fingerprint: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(65), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


# --- canonical forms --------------------------------------------------------------------------------


# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False), without building an encoder
# per call (half the cost of a small record). No cycle check: the values are rows, never cyclic.
_encode = (
    c_make_encoder(None, json.JSONEncoder().default, encode_basestring, None, ":", ",", True, False, True)
    if c_make_encoder is not None
    else None
)


def canonical_text(value: Any) -> str:
    if _encode is None:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "".join(_encode(value, 0))


def canonical(value: Any) -> bytes:
    return canonical_text(value).encode()


def entry_bytes(row: Mapping[str, Any]) -> bytes:
    """The canonical entry: what its leaf hashes, and what a proof shows (the reference definition)."""
    # ``changes`` is already JSON-safe (plain values), in memory and as read back from the database.
    return canonical(
        {name: row[name] if name == "changes" else plain_value(row[name]) for name in ENTRY_FIELDS}
    )


# The canonical entry spelled out, for the million-entry paths (appending, verifying): the fields in sorted
# order, split around ``leaf_index`` (a replay is an entry equal to an earlier one except there).
# ``entry_parts`` yields exactly the bytes of ``entry_bytes`` for the values the trail stores (tested).
_HEAD_FIRST = '{"actor_id":%s,"actor_login":%s,"actor_name":%s,"at":%s,"changes":'
_HEAD_LAST = ',"client_address":%s,"event":%s,'
_HEAD = _HEAD_FIRST + "%s" + _HEAD_LAST
_LEAF_INDEX = '"leaf_index":%d,'
_TAIL_TYPE = ',"object_type":%s,"reason":%s,"record_hash":'
_TAIL_REQUEST = ',"request_id":%s}'
_TAIL = '"object_id":%s' + _TAIL_TYPE + "%s" + _TAIL_REQUEST
assert re.findall(r'"(\w+)":', _HEAD + _LEAF_INDEX + _TAIL) == sorted(ENTRY_FIELDS)
_json_string = encode_basestring  # what json.dumps(ensure_ascii=False) writes for a str, quotes included


def _json_optional(value: str | None) -> str:
    return "null" if value is None else _json_string(value)


def entry_parts(
    actor_id: int | None,
    actor_login: str,
    actor_name: str,
    at: str,
    changes: str,
    client_address: str | None,
    event: str,
    object_id: str,
    object_type: str,
    reason: str | None,
    record_hash: str | None,
    request_id: str | None,
) -> tuple[str, str]:
    """The canonical entry before and after its ``"leaf_index":N,``, from plain field values.

    ``at`` is the plain (ISO) time, ``changes`` the canonical JSON text of the changes. Raises TypeError for
    any value of another type than these (callers then use :func:`entry_bytes`).
    """
    if actor_id is not None and type(actor_id) is not int:
        raise TypeError("actor_id")
    return (
        _HEAD
        % (
            "null" if actor_id is None else str(actor_id),
            _json_string(actor_login),
            _json_string(actor_name),
            _json_string(at),
            changes if type(changes) is str else _not_text(changes),
            _json_optional(client_address),
            _json_string(event),
        ),
        _TAIL
        % (
            _json_string(object_id),
            _json_string(object_type),
            _json_optional(reason),
            _json_optional(record_hash),
            _json_optional(request_id),
        ),
    )


def _not_text(value: object) -> str:
    raise TypeError(f"expected JSON text, got {type(value).__name__}")


def join_entry(head: str, leaf_index: int, tail: str) -> str:
    return head + _LEAF_INDEX % leaf_index + tail


_COLUMNS: dict[type[Audited], tuple[str, ...]] = {}


def audited_columns(cls: type[Audited]) -> tuple[str, ...]:
    """The columns of ``cls`` the trail and the ledger cover (computed once per class)."""
    found = _COLUMNS.get(cls)
    if found is None:
        from sqlalchemy import inspect

        found = tuple(attr.key for attr in inspect(cls).column_attrs if attr.key not in cls.__audit_ignore__)
        _COLUMNS[cls] = found
    return found


def record_values(obj: Audited) -> dict[str, Any]:
    """The audited columns of a record as plain values (redacted fields too: hashing reveals nothing)."""
    state = obj.__dict__
    values: dict[str, Any] = {}
    for key in audited_columns(type(obj)):
        value = state[key] if key in state else getattr(obj, key)
        values[key] = (
            value if value is None or type(value) is str or type(value) is int else plain_value(value)
        )
    return values


def _plain_values(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """:func:`record_values` of a row read as columns (``row`` starts with ``columns``, in that order)."""
    return {
        key: value if value is None or type(value) is str or type(value) is int else plain_value(value)
        for key, value in zip(columns, row, strict=False)
    }


_SM3_STATE = hashlib.new("sm3")


def record_hash(object_type: str, object_id: str, values: Mapping[str, Any]) -> str:
    """SM3 of the canonical record version: what a ledger entry commits to."""
    if type(object_type) is str and type(object_id) is str:  # the canonical form, spelled out
        values_text = canonical_text(values if type(values) is dict else dict(values))
        data = f'{{"id":{_json_string(object_id)},"type":{_json_string(object_type)},"values":{values_text}}}'
        state = _SM3_STATE.copy()  # a copy of a ready state: looking SM3 up by name costs more than hashing
        state.update(data.encode())
        return state.hexdigest()
    return crypto.sm3(canonical({"type": object_type, "id": object_id, "values": dict(values)})).hex()


def checkpoint_message(tree_size: int, root: bytes, at: datetime, key: str) -> bytes:
    return CHECKPOINT_DOMAIN + canonical(
        {"tree_size": tree_size, "root": root.hex(), "at": plain_value(at), "key": key}
    )


# --- the site key and the witness ---------------------------------------------------------------------


SITE_KEY_FORMAT = "pharmatrace-site-key-v1"
_SITE_KEY_AAD = b"pharmatrace-site-key-v1"


class SiteKeyRefused(PharmaTraceError):
    """The site's checkpoint key cannot be used: exposed to other users, or not openable."""

    code = "site_key_refused"
    http_status = 500


def site_key_path(state_dir: Path) -> Path:
    return state_dir / "keys" / "site-sm2.key"


def _passphrase() -> str | None:
    secret = get_settings().site_key_passphrase
    return secret.get_secret_value() if secret is not None and secret.get_secret_value() else None


def site_key(state_dir: Path) -> crypto.KeyPair:
    """The site's SM2 key for checkpoints, created on first use under the state dir (SH-8.4.5).

    Encrypted (SM4-GCM, PBKDF2-HMAC-SM3) under ``PHARMATRACE_SITE_KEY_PASSPHRASE`` when that is set, a
    plain key sealed the first time it is read with one; otherwise plain, and :func:`site_key_warning`
    says so. Always mode 0600: a key file group or others may read is refused (:class:`SiteKeyRefused`).
    """
    return _site_key(state_dir, _passphrase())


@lru_cache(maxsize=8)
def _site_key(state_dir: Path, passphrase: str | None) -> crypto.KeyPair:
    path = site_key_path(state_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = crypto.KeyPair.generate()
        _write_site_key(path, keys, passphrase, exclusive=True)
        return keys
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SiteKeyRefused(
            N_(
                "The site key file {path} may be read by other users (mode {mode}); allow its owner only (0600)."
            ),
            path=str(path),
            mode=f"{mode:04o}",
        )
    text_ = path.read_text().strip()
    if not text_.startswith("{"):
        keys = crypto.KeyPair.from_private(bytes.fromhex(text_))
        if passphrase is not None:  # a passphrase was set since: seal the key now
            _write_site_key(path, keys, passphrase, exclusive=False)
        return keys
    if passphrase is None:
        raise SiteKeyRefused(
            N_("The site key {path} is encrypted; set PHARMATRACE_SITE_KEY_PASSPHRASE."), path=str(path)
        )
    try:
        document = json.loads(text_)
        if document.get("format") != SITE_KEY_FORMAT:
            raise ValueError("format")
        private_key = crypto.unseal(document, passphrase, aad=_SITE_KEY_AAD)
        keys = crypto.KeyPair.from_private(private_key)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise SiteKeyRefused(
            N_("The site key {path} cannot be opened with PHARMATRACE_SITE_KEY_PASSPHRASE."), path=str(path)
        ) from None
    if document.get("public_key") != keys.public_key.hex():
        raise SiteKeyRefused(
            N_("The site key {path} cannot be opened with PHARMATRACE_SITE_KEY_PASSPHRASE."), path=str(path)
        )
    return keys


def _write_site_key(path: Path, keys: crypto.KeyPair, passphrase: str | None, *, exclusive: bool) -> None:
    if passphrase is None:
        content = keys.private_key.hex() + "\n"
    else:
        sealed = crypto.seal(
            keys.private_key, passphrase, aad=_SITE_KEY_AAD, iterations=get_settings().key_kdf_iterations
        )
        content = (
            json.dumps({"format": SITE_KEY_FORMAT, "public_key": keys.public_key.hex(), **sealed}) + "\n"
        )
    target = path if exclusive else path.with_suffix(".new")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    if not exclusive:
        os.replace(target, path)


def site_key_warning(state_dir: Path) -> Problem | None:
    """What weakens the site key at rest (unencrypted, or readable by others), without opening it."""
    path = site_key_path(state_dir)
    if not path.exists():
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return Problem(
            "site_key.exposed",
            str(path),
            f"mode {mode:04o}: other users may read it; checkpoints are refused",
        )
    if not path.read_text().lstrip().startswith("{"):
        return Problem(
            "site_key.unencrypted",
            str(path),
            "stored unencrypted (mode 0600); set PHARMATRACE_SITE_KEY_PASSPHRASE to encrypt it",
        )
    return None


class WitnessUnavailable(PharmaTraceError):
    """The witness outside the database cannot be reached (or answers with a server error)."""

    code = "witness_unavailable"
    http_status = 503


class Witness(Protocol):
    """Where signed checkpoints are kept outside the ledger's database (pluggable)."""

    @property
    def location(self) -> str: ...

    def append(self, checkpoint: Mapping[str, Any]) -> None:
        """Keep a checkpoint; called after its transaction committed, so it must not lose it by raising."""
        ...

    def read(self) -> tuple[list[dict[str, Any]], str | None]:
        """The checkpoints, and a description of a torn or corrupt record if there is one.

        Raises :class:`WitnessUnavailable` when the witness cannot be read at all.
        """
        ...

    def pending(self) -> list[dict[str, Any]]:
        """Checkpoints signed but not yet delivered to the witness (kept locally until it answers)."""
        ...

    def refused(self) -> list[dict[str, Any]]:
        """Checkpoints the witness refused (``{"checkpoint", "status", "detail", "refused_at"}``), kept to be
        looked into and sent again (``ledger witness-resend``) once the cause is fixed."""
        ...


@dataclass(frozen=True)
class FileWitness:
    """The default: an append-only file under the state directory; each line one signed checkpoint."""

    path: Path

    @property
    def location(self) -> str:
        return str(self.path)

    def append(self, checkpoint: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            handle.write(canonical(dict(checkpoint)) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> tuple[list[dict[str, Any]], str | None]:
        if not self.path.exists():
            return [], None
        entries: list[dict[str, Any]] = []
        lines = self.path.read_bytes().split(b"\n")
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError("not an object")
            except ValueError:
                where = "partial last line (torn write)" if number == len(lines) else "corrupt line"
                return entries, f"witness line {number}: {where}"
            entries.append(entry)
        return entries, None

    def pending(self) -> list[dict[str, Any]]:
        return []

    def refused(self) -> list[dict[str, Any]]:
        return []


_witness_metadata = MetaData()
_witness_table = Table(
    "witness_checkpoints",
    _witness_metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("checkpoint", Text, nullable=False),
)


@dataclass(frozen=True)
class DatabaseWitness:
    """A second database (another server, another operator) that only ever receives checkpoints."""

    url: str

    @property
    def location(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    def _engine(self) -> Any:
        return _witness_engine(self.url)

    def append(self, checkpoint: Mapping[str, Any]) -> None:
        with self._engine().begin() as conn:
            conn.execute(
                insert(_witness_table).values(
                    tree_size=int(checkpoint["tree_size"]), checkpoint=canonical(dict(checkpoint)).decode()
                )
            )

    def read(self) -> tuple[list[dict[str, Any]], str | None]:
        entries: list[dict[str, Any]] = []
        with self._engine().connect() as conn:
            for size, text_ in conn.execute(select(_witness_table).order_by(_witness_table.c.tree_size)):
                try:
                    entries.append(json.loads(text_))
                except ValueError:
                    return entries, f"witness checkpoint {size}: corrupt record"
        return entries, None

    def pending(self) -> list[dict[str, Any]]:
        return []

    def refused(self) -> list[dict[str, Any]]:
        return []


@dataclass(frozen=True)
class RemoteWitness:
    """A witness service on another host (``pharmatrace witness serve``), reached over HTTP(S).

    A checkpoint is first written (fsynced) to a local spool, then posted in order with everything still
    pending there; what the service does not take, because it cannot be reached, stays in the spool and
    is sent again with the next checkpoint or by ``ledger checkpoint``. The database holds every signed
    checkpoint anyway: nothing is lost while the witness is away, and ``ledger verify`` says it is behind.
    """

    url: str
    spool: Path  # checkpoints not yet delivered, one canonical JSON line each, in order
    timeout: float = 5.0

    @property
    def location(self) -> str:
        return self.url

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        """(status, JSON body) of a 2xx or 4xx answer; WitnessUnavailable for anything else."""
        url = self.url.rstrip("/") + path
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an HTTP(S) witness URL: {self.url}")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=None if body is None else canonical(dict(body)),
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                payload = error.read()
            if error.code >= 500:
                raise WitnessUnavailable(
                    N_("The ledger witness at {url} failed: HTTP {status}"), url=self.url, status=error.code
                ) from None
            try:
                return error.code, json.loads(payload)
            except ValueError:
                return error.code, {"detail": payload.decode(errors="replace")}
        except (OSError, ValueError) as error:  # URLError, refused, timed out, not JSON
            reason = getattr(error, "reason", error)
            raise WitnessUnavailable(
                N_("The ledger witness at {url} cannot be reached: {error}"), url=self.url, error=str(reason)
            ) from None

    def read(self) -> tuple[list[dict[str, Any]], str | None]:
        status, body = self._request("GET", "/checkpoints")
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("checkpoints"), list):
            raise WitnessUnavailable(
                N_("The ledger witness at {url} failed: HTTP {status}"), url=self.url, status=status
            )
        entries = [entry for entry in body["checkpoints"] if isinstance(entry, dict)]
        torn = body.get("torn")
        if len(entries) != len(body["checkpoints"]):
            torn = torn or "the witness returned a record that is not an object"
        return entries, str(torn) if torn else None

    @contextlib.contextmanager
    def _spooled(self) -> Iterator[list[dict[str, Any]]]:
        """The pending checkpoints, under a lock shared by every process of this instance; saved after."""
        import fcntl

        self.spool.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spool.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            queue = self.pending()
            yield queue
            self._save(queue)

    def _save(self, queue: Sequence[Mapping[str, Any]]) -> None:
        if not queue:
            self.spool.unlink(missing_ok=True)
            return
        temporary = self.spool.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            handle.writelines(canonical(dict(checkpoint)) + b"\n" for checkpoint in queue)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.spool)

    def pending(self) -> list[dict[str, Any]]:
        if not self.spool.exists():
            return []
        entries, _ = FileWitness(self.spool).read()  # a torn last line was never acknowledged: dropped
        return entries

    @property
    def refused_file(self) -> Path:
        return self.spool.with_name("witness-refused.jsonl")

    def refused(self) -> list[dict[str, Any]]:
        entries, _ = FileWitness(self.refused_file).read()
        return entries

    def resend_refused(self) -> tuple[int, int]:
        """Send the refused checkpoints again, in order with what is pending (e.g. after the witness was
        given the site's public key); ``(delivered, still refused)``."""
        with self._spooled() as queue:
            again = [
                entry["checkpoint"] for entry in self.refused() if isinstance(entry.get("checkpoint"), dict)
            ]
            self.refused_file.unlink(missing_ok=True)
            held = {int(checkpoint["tree_size"]) for checkpoint in queue}
            queue.extend(checkpoint for checkpoint in again if int(checkpoint["tree_size"]) not in held)
            queue.sort(key=lambda checkpoint: int(checkpoint["tree_size"]))
            before = len(queue)
            self._deliver(queue)
            still = len(self.refused())
            return before - len(queue) - still, still

    def append(self, checkpoint: Mapping[str, Any]) -> None:
        with self._spooled() as queue:
            queue.append(dict(checkpoint))
            self._save(queue)  # on disk before the first attempt: a crash while posting loses nothing
            self._deliver(queue)

    def flush(self) -> int:
        """Send what is pending (e.g. after the witness came back); the number still pending."""
        with self._spooled() as queue:
            if queue:
                self._deliver(queue)
            return len(queue)

    def _deliver(self, queue: list[dict[str, Any]]) -> None:
        """Post the queue in order; leave in it what could not be delivered."""
        delivered = 0
        try:
            for checkpoint in queue:
                status, body = self._request("POST", "/checkpoints", checkpoint)
                if status not in (
                    200,
                    201,
                ):  # refused (not newer, unknown key): kept aside, not retried blindly
                    self._set_aside(checkpoint, status, body)
                delivered += 1
        except WitnessUnavailable as error:
            log.warning("%s; %d checkpoint(s) kept pending in %s", error, len(queue) - delivered, self.spool)
        del queue[:delivered]

    def _set_aside(self, checkpoint: Mapping[str, Any], status: int, body: Any) -> None:
        """A refusal is an alarm, not a lost checkpoint: ``ledger verify`` reports it until it is resent."""
        detail = body.get("detail") or body.get("message") if isinstance(body, dict) else body
        log.error("witness %s refused checkpoint %s: %s", self.url, checkpoint.get("tree_size"), detail)
        FileWitness(self.refused_file).append(
            {
                "checkpoint": dict(checkpoint),
                "status": status,
                "detail": str(detail),
                "refused_at": plain_value(clock.now()),
            }
        )


@lru_cache(maxsize=8)
def _witness_engine(url: str) -> Any:
    from pharmatrace.storage.engine import make_engine

    engine = make_engine(url)
    _witness_metadata.create_all(engine)
    return engine


def witness_of(db: Database) -> Witness:
    """``PHARMATRACE_WITNESS_URL`` when set for this instance, else the witness file under the state dir.

    An ``http://`` or ``https://`` URL is a witness service (``pharmatrace witness serve``) on another
    host; any other URL is a second database.
    """
    if db.witness_url and db.witness_url.startswith(("http://", "https://")):
        return RemoteWitness(
            db.witness_url, db.state_dir / "ledger" / "witness-pending.jsonl", get_settings().witness_timeout
        )
    if db.witness_url:
        return DatabaseWitness(db.witness_url)
    return FileWitness(db.state_dir / "ledger" / "witness.jsonl")


# --- appending ---------------------------------------------------------------------------------------


class _Head(NamedTuple):
    size: int
    frontier: list[list[object]]
    checkpoint_size: int
    checkpoint_at: datetime | None


@lru_cache(maxsize=4)
def _head_decoders(dialect: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """How this dialect's driver values of ``ledger_head.frontier`` and ``.checkpoint_at`` are decoded."""
    table = LedgerHead.__table__
    decoders = []
    for column in (table.c.frontier, table.c.checkpoint_at):
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        decoders.append(process or (lambda value: value))
    return decoders[0], decoders[1]


def _head(connection: Connection) -> _Head:
    """Lock the head for this transaction (a write first, so SQLite takes its write lock too)."""
    # With the driver: this runs once per unit of work, and SQLAlchemy's statement machinery cost as much
    # as writing a few audit entries.
    row = connection.exec_driver_sql(
        "UPDATE ledger_head SET size = size WHERE id = 1 "
        "RETURNING size, frontier, checkpoint_size, checkpoint_at"
    ).one()
    frontier, checkpoint_at = _head_decoders(connection.dialect)
    return _Head(int(row[0]), frontier(row[1]), int(row[2]), checkpoint_at(row[3]))


# Audit entries and nodes are written with the driver itself, a batch as one statement (SQLite: executemany;
# PostgreSQL: one round trip for the entries, the nodes and the head, from arrays). An entry is its canonical text
# and its leaf hash; on PostgreSQL also the columns, which a CHECK holds to the text (ADR 0031).
_PG_ENTRY_COLUMNS = (
    "entry", "leaf_hash", "leaf_index", "changes", "event", "object_type", "object_id", "actor_id",
    "actor_login", "actor_name", "reason", "request_id", "client_address", "record_hash",
)  # fmt: skip
_PG_TYPES = {"leaf_index": "bigint", "leaf_hash": "bytea", "actor_id": "integer"}  # others: text
_stored_as_given = itemgetter(*_PG_ENTRY_COLUMNS[4:])
_parts_of = itemgetter(
    "actor_id", "actor_login", "actor_name", "client_address", "event", "object_id", "object_type", "reason",
    "record_hash", "request_id",
)  # fmt: skip


@lru_cache(maxsize=4)
def _write_sql(dialect: str, checkpoint: bool) -> tuple[str, ...]:
    """(entries, nodes) for SQLite (executemany); the one statement that writes a batch for PostgreSQL."""
    if dialect != "postgresql":
        return (
            "INSERT INTO audit_entries (entry, leaf_hash) VALUES (?, ?)",
            "INSERT INTO ledger_nodes (level, idx, digest) VALUES (?, ?, ?)",
        )
    # Arrays travel in the binary format (%b): the driver's text format escapes every element in Python.
    columns = ", ".join(_PG_ENTRY_COLUMNS)
    arrays = ", ".join(f"%({c})b::{_PG_TYPES.get(c, 'text')}[]" for c in _PG_ENTRY_COLUMNS)
    selected = ", ".join("changes::json" if c == "changes" else c for c in _PG_ENTRY_COLUMNS)
    head = "size = %(size)s, frontier = %(frontier)s::json"
    if checkpoint:
        head += ", checkpoint_size = %(size)s, checkpoint_at = %(at)s::timestamptz"
    return (
        f"WITH entries AS (INSERT INTO audit_entries (at, {columns}) "  # noqa: S608 - constant names
        f"SELECT %(at)s::timestamptz, {selected} FROM unnest({arrays}) AS e({columns})), "
        "nodes AS (INSERT INTO ledger_nodes (level, idx, digest) "
        "SELECT * FROM unnest(%(level)b::integer[], %(idx)b::bigint[], %(digest)b::bytea[])) "
        f"UPDATE ledger_head SET {head} WHERE id = 1",
    )


def _bound_time(connection: Connection, moment: datetime) -> Any:
    """``moment`` as SQLAlchemy binds it to ``audit_entries.at`` on this dialect (text on SQLite)."""
    column_type = AuditEntry.__table__.c.at.type
    process = column_type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    return process(moment) if process else moment


def append(connection: Connection, rows: Sequence[dict[str, Any]], state_dir: Path) -> list[dict[str, Any]]:
    """Insert audit entries as the next leaves; return checkpoints to witness once the transaction commits."""
    if not rows:
        return []
    head = _head(connection)
    moment = clock.now()  # stamped under the lock, so times never go backwards along the tree
    at = plain_value(moment)
    frontier = merkle.Frontier.from_json(head.size, head.frontier)
    postgresql = connection.dialect.name == "postgresql"
    entries: list[tuple[Any, ...]] = []
    nodes: list[tuple[int, int, bytes]] = []
    for offset, row in enumerate(rows):
        index = row["leaf_index"] = head.size + offset
        row["at"] = moment
        changes = canonical_text(row["changes"])
        actor_id, login, name, client, event, object_id, object_type, reason, record, request = _parts_of(row)
        try:
            first, last = entry_parts(
                actor_id, login, name, at, changes, client, event, object_id, object_type, reason, record, request
            )  # fmt: skip
            entry = join_entry(first, index, last)
        except TypeError:
            entry = entry_bytes(row).decode()
        row["leaf_hash"] = leaf = merkle.leaf_hash(entry.encode())
        entries.append((entry, leaf, index, changes, *_stored_as_given(row)) if postgresql else (entry, leaf))
        nodes += frontier.push(leaf, STORED_LEVEL)
    settings = get_settings()
    due = head.checkpoint_at is None or (
        frontier.size - head.checkpoint_size >= settings.checkpoint_every
        or moment - head.checkpoint_at >= timedelta(seconds=settings.checkpoint_seconds)
    )
    pending = [_checkpoint(connection, frontier, moment, state_dir)] if due else []
    if postgresql:
        (statement,) = _write_sql("postgresql", due)
        columns = [list(column) for column in zip(*entries, strict=True)]
        levels, indexes, digests = [list(c) for c in zip(*nodes, strict=True)] if nodes else ([], [], [])
        parameters: dict[str, Any] = dict(zip(_PG_ENTRY_COLUMNS, columns, strict=True))
        parameters.update(level=levels, idx=indexes, digest=digests, at=moment)
        parameters.update(size=frontier.size, frontier=json.dumps(frontier.to_json()))
        connection.exec_driver_sql(statement, parameters)
        return pending
    insert_entries, insert_nodes = _write_sql(connection.dialect.name, due)
    bound_at = _bound_time(connection, moment)
    connection.exec_driver_sql(insert_entries, entries)
    if nodes:
        connection.exec_driver_sql(insert_nodes, nodes)
    if due:
        connection.exec_driver_sql(
            "UPDATE ledger_head SET size = ?, frontier = ?, checkpoint_size = ?, checkpoint_at = ? WHERE id = 1",
            (frontier.size, json.dumps(frontier.to_json()), frontier.size, bound_at),
        )
    else:
        connection.exec_driver_sql(
            "UPDATE ledger_head SET size = ?, frontier = ? WHERE id = 1",
            (frontier.size, json.dumps(frontier.to_json())),
        )
    return pending


def _checkpoint(
    connection: Connection, frontier: merkle.Frontier, moment: datetime, state_dir: Path
) -> dict[str, Any]:
    keys = site_key(state_dir)
    fingerprint = crypto.fingerprint(keys.public_key)
    if connection.scalar(select(LedgerKey.fingerprint).where(LedgerKey.fingerprint == fingerprint)) is None:
        connection.execute(
            insert(LedgerKey).values(fingerprint=fingerprint, public_key=keys.public_key, created_at=moment)
        )
    root = frontier.root()
    signature = crypto.sign(keys.private_key, checkpoint_message(frontier.size, root, moment, fingerprint))
    connection.execute(
        insert(LedgerCheckpoint).values(
            tree_size=frontier.size, root=root, at=moment, key_fingerprint=fingerprint, signature=signature
        )
    )
    return {
        "tree_size": frontier.size,
        "root": root.hex(),
        "at": plain_value(moment),
        "key": fingerprint,
        "public_key": keys.public_key.hex(),
        "signature": signature.hex(),
    }


def checkpoint_now(connection: Connection, state_dir: Path) -> dict[str, Any] | None:
    """Sign a checkpoint at the current size unless the latest one already covers it."""
    head = _head(connection)
    if head.size == 0 or head.checkpoint_size == head.size:
        return None
    frontier = merkle.Frontier.from_json(head.size, head.frontier)
    moment = clock.now()
    checkpoint = _checkpoint(connection, frontier, moment, state_dir)
    connection.execute(
        update(LedgerHead).where(LedgerHead.id == 1).values(checkpoint_size=head.size, checkpoint_at=moment)
    )
    return checkpoint


# --- verification ------------------------------------------------------------------------------------


@dataclass
class Problem:
    kind: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


@dataclass
class Report:
    size: int = 0
    checkpoints: int = 0
    witnessed: int = 0
    rows_checked: int = 0
    # Rows vouched for by a digest inside an audited row (trace event items, historian values), and the
    # checks that read them (:func:`register_vouched`).
    vouched_rows_checked: int = 0
    vouched_checks: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Not tampering, but weaker protection than there should be: a witness behind the database, a site
    # key stored unencrypted. They do not make the ledger "not intact".
    warnings: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


# --- payloads vouched for by an audited row ---------------------------------------------------------------

# Appends the problems it finds, returns the payload rows it read. Called with a session of its own, in one
# snapshot on PostgreSQL (REPEATABLE READ): a voucher and the rows committed with it are seen together.
VouchedCheck = Callable[[Session, list[Problem]], int]
_VOUCHED: dict[str, VouchedCheck] = {}


def register_vouched(name: str, check: VouchedCheck) -> None:
    """Have :func:`verify` run ``check`` over a payload an audited row vouches for by its digest (SH-8.4.5).

    Bulk records (traceability code items, historian values) carry no audit entry per row: an audited row (the
    event, the ingest) holds their SM3, and the ledger holds that row. :func:`verify` re-hashes the audited row
    against its entry itself; ``check`` re-hashes the payload against the audited row. The areas register their
    checks at start-up (the kernel imports no area); registering a name again replaces its check.
    """
    _VOUCHED[name] = check


def unregister_vouched(name: str) -> None:
    _VOUCHED.pop(name, None)


def vouched_checks() -> dict[str, VouchedCheck]:
    return dict(_VOUCHED)


V = TypeVar("V", bound=Sequence[Any])
R = TypeVar("R", bound=Sequence[Any])


def vouched_groups(vouchers: Iterable[V], rows: Iterable[R]) -> Iterator[tuple[Any, V | None, list[R]]]:
    """Each voucher with its payload rows: ``(id, voucher, rows)``, by a merge of two ordered streams.

    ``vouchers`` are ordered by their id (column 0), ``rows`` by the id of their voucher (column 0) and then in
    digest order: one pass over each, one group in memory. A voucher without rows gets ``[]``; rows whose voucher
    does not exist (written behind the application's back) come with ``None``.
    """
    voucher_iter = iter(vouchers)
    groups = itertools.groupby(rows, key=itemgetter(0))
    voucher = next(voucher_iter, None)
    group = next(groups, None)
    while voucher is not None or group is not None:
        if group is None or (voucher is not None and voucher[0] < group[0]):
            assert voucher is not None
            yield voucher[0], voucher, []
            voucher = next(voucher_iter, None)
        elif voucher is None or group[0] < voucher[0]:
            yield group[0], None, list(group[1])
            group = next(groups, None)
        else:
            yield voucher[0], voucher, list(group[1])
            voucher, group = next(voucher_iter, None), next(groups, None)


def _verify_vouched(db: Database, report: Report) -> None:
    for name, check in sorted(_VOUCHED.items()):
        with db.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(isolation_level="REPEATABLE READ")
            with Session(bind=connection) as session:
                report.vouched_rows_checked += check(session, report.problems)
        report.vouched_checks.append(name)


def _audited_classes() -> list[type[Audited]]:
    return sorted(
        (m.class_ for m in Base.registry.mappers if issubclass(m.class_, Audited)),
        key=lambda c: c.__audit_type__,
    )


def object_id_of(obj: Audited) -> str:
    from sqlalchemy import inspect

    return ":".join(str(part) for part in inspect(type(obj)).primary_key_from_instance(obj))


# --- scanning the entries -----------------------------------------------------------------------------

BLOCK_LEAVES = 1 << 12  # rows fetched per round trip, and leaves hashed into perfect subtrees at a time
RANGE_LEAVES = 1 << 14  # leaves one worker process verifies as one task
PARALLEL_FROM = 1 << 17  # ledgers this large are verified by one process per CPU (smaller: in-process)
# Within one leaf, problems are reported in this order.
_MISSING, _REORDERED, _NON_MONOTONIC, _REPLAYED, _ALTERED = range(5)
_HASH_PROBE = b"pharmatrace ledger replay keys"


@dataclass
class _Scan:
    """What one pass over the leaves [start, end) found; several passes are merged in leaf order."""

    start: int
    limit: int | None  # the pass stops before this leaf (None: at the end of the trail)
    end: int = 0  # first leaf not verified (the end of the trail, the limit, or where rows are missing)
    stopped: bool = False  # rows are missing at ``end`` (a problem says so)
    resumes_at: Any = None  # when stopped: the leaf index of the row found instead of ``end``
    first_id: Any = None
    last_id: Any = None
    first_at: str | None = None
    last_at: str | None = None
    problems: list[tuple[int, int, Problem]] = field(default_factory=list)  # (leaf, rank, problem)
    keys: array[int] = field(default_factory=lambda: array("q"))  # replay key of each leaf
    replays: list[tuple[int, int]] = field(default_factory=list)  # (leaf, key) repeating an earlier leaf
    monotonic: bool = True  # every time readable, none earlier than the one before
    first_run: int = 0  # leaves of the first time (offsets ``keys[:first_run]``)
    last_run: int = 0  # where the leaves of the last time begin
    subtrees: list[tuple[int, bytes]] = field(default_factory=list)  # covering [start, end)
    partial: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)  # checkpoint size -> subtrees
    latest: dict[tuple[str, str], tuple[str, str | None, int]] = field(default_factory=dict)
    probe: int = 0  # hash() of a constant: replay keys of two passes are comparable when these agree


def _entries_sql(lower: int | None, limit: int | None) -> str:
    where = [f"leaf_index >= {int(lower)}"] if lower is not None else []
    where += [f"leaf_index < {int(limit)}"] if limit is not None else []
    return (
        "SELECT leaf_index, entry, id, leaf_hash FROM audit_entries"  # noqa: S608 - integer bounds
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY leaf_index"
    )


# Fields are found in the canonical text by their keys. A key preceded by a comma cannot occur inside a JSON
# string (its quote would be escaped), so ``,"at":"`` first found is the entry's own time (only strings come
# before it), and the keys after ``changes`` (the one nested object) are found from the end (only strings and
# null follow them).
_AT_KEY, _INDEX_KEY, _ID_KEY, _TYPE_KEY = ',"at":"', ',"leaf_index":', ',"object_id":', ',"object_type":'
_EVENT_KEY, _REASON_KEY, _RECORD_KEY, _REQUEST_KEY = (
    ',"event":',
    ',"reason":',
    ',"record_hash":',
    ',"request_id":',
)


def _json_text(quoted: str) -> str:
    """A JSON string value as found in canonical text, quotes included."""
    if "\\" in quoted or len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
        value = json.loads(quoted)
        if type(value) is not str:
            raise ValueError("not a JSON string")
        return value
    return quoted[1:-1]


def _latest_of(entry: str, index_at: int, object_at: int) -> tuple[str, str, str, str | None] | None:
    """(object type, object ID, event, record hash) of an entry that records a row version or a delete, else
    None; ValueError when the entry does not read as a canonical entry."""
    record_at = entry.rfind(_RECORD_KEY)
    request_at = entry.find(_REQUEST_KEY, record_at)
    if record_at < 0 or request_at < 0:
        raise ValueError("no record hash")
    record_text = entry[record_at + len(_RECORD_KEY) : request_at]
    deleted = entry.endswith('"event":"delete"', 0, index_at)
    if record_text == "null" and not deleted:
        return None
    event_at = entry.rfind(_EVENT_KEY, 0, index_at)
    type_at = entry.find(_TYPE_KEY, object_at)
    reason_at = entry.find(_REASON_KEY, type_at)
    if min(event_at, type_at, reason_at) < 0:
        raise ValueError("fields missing")
    return (
        _json_text(entry[type_at + len(_TYPE_KEY) : reason_at]),
        _json_text(entry[object_at + len(_ID_KEY) : type_at]),
        _json_text(entry[event_at + len(_EVENT_KEY) : index_at]),
        None if record_text == "null" else _json_text(record_text),
    )


def _position_free(entry: str) -> str:
    """The entry without its ``"leaf_index":N`` (a replay is an entry equal to an earlier one except there)."""
    index_at = entry.rfind(_INDEX_KEY)
    object_at = entry.find(_ID_KEY, index_at)
    return entry[:index_at] + entry[object_at:] if index_at >= 0 and object_at >= 0 else entry


def _altered(problems: list[tuple[int, int, Problem]], index: int, entry_id: Any, detail: str) -> None:
    problems.append(
        (index, _ALTERED, Problem("entry.altered", f"audit entry {entry_id} (leaf {index})", detail))
    )


def _examine(data: bytes, index: int, entry_id: Any, matches: bool, scan: _Scan) -> bool:
    """An entry that records a row version or a delete, or does not match its leaf: note the version and name
    the mismatch. False when the entry does not read as one (its time is then not trusted either)."""
    try:
        entry = data.decode()
        index_at = entry.rfind(_INDEX_KEY)
        object_at = entry.find(_ID_KEY, index_at)
        if index_at < 0 or object_at < 0:
            raise ValueError("no leaf index")
        # Only row versions (and deletes) say what a row must look like; events about an object (a log-in,
        # an export) carry no record hash and leave its latest version as it was.
        version = _latest_of(entry, index_at, object_at)
    except ValueError as error:  # (UnicodeDecodeError is one)
        _altered(scan.problems, index, entry_id, f"the entry cannot be read back ({error})")
        return False
    if not matches:
        what = f"{version[2]} of {version[0]}:{version[1]}" if version else "the entry"
        _altered(scan.problems, index, entry_id, f"{what} no longer matches its ledger leaf")
    if version is not None:
        object_type, object_id, event, record = version
        scan.latest[(object_type, object_id)] = (event, record, index)
    return True


def _scan(
    conn: Connection,
    *,
    start: int,
    lower: int | None,
    limit: int | None,
    previous_id: Any,
    checkpoint_sizes: Sequence[int],
    block: int,
) -> _Scan:
    """Verify the leaves from ``start`` (rows with ``lower <= leaf_index < limit``) in one pass.

    Each row's stored ``entry`` is hashed as it is (the columns the trail shows are generated from it, and
    :func:`_schema_problems` checks they still are): no value is decoded or spelt out again.
    """
    scan = _Scan(start=start, limit=limit, end=start, probe=hash(_HASH_PROBE))
    problems, keys = scan.problems, scan.keys
    frontier = merkle.Frontier()  # relative to ``start``, which is aligned to the size of the pass
    sizes = [s for s in checkpoint_sizes if s > start and (limit is None or s <= limit)]
    next_size = 0
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # the entries as their UTF-8 bytes, what the leaves hash: nothing decoded and encoded again
        text_factory, dbapi.text_factory = dbapi.text_factory, bytes
        cursor = dbapi.cursor()
    else:
        cursor = dbapi.cursor(name="pharmatrace_ledger_verify")
    new_leaf = merkle.leaf_state().copy
    at_key, index_key, id_key = _AT_KEY.encode(), _INDEX_KEY.encode(), _ID_KEY.encode()
    no_record, deleted = (_RECORD_KEY + "null,").encode(), b'"event":"delete"'
    # (keys with the quotes around string values: a JSON string cannot hold an unescaped quote)
    record_key, type_key, reason_key = b',"record_hash":"', b'","object_type":"', b'","reason":'
    event_key, latest = b',"event":"', scan.latest
    event_skip, record_skip, type_skip, id_skip = (
        len(event_key),
        len(record_key),
        len(type_key),
        len(_ID_KEY) + 1,
    )
    run_head, run_at, run_state, run_skip = b"\x00", None, merkle.leaf_state(), 0
    at_skip = len(at_key)
    expected = start
    previous_at: str | None = None
    runs: list[int] = []  # where each run of entries with one time starts (offsets from ``start``)
    try:
        cursor.execute(_entries_sql(lower, limit))
        rows = cursor.fetchmany(block)
        if rows and rows[0][0] == start:
            scan.first_id = rows[0][2]
        if previous_id is None:
            previous_id = float("-inf")  # the first leaf is compared with the range before, by the caller
        while rows:
            leaves: list[bytes] = []
            block_start = expected
            for index, entry, entry_id, stored_leaf in rows:
                if index != expected:
                    detail = f"audit entries jump from leaf {expected - 1} to {index} (rows deleted)"
                    problems.append(
                        (expected, _MISSING, Problem("entry.missing", f"leaf {expected}", detail))
                    )
                    scan.stopped, scan.resumes_at = True, index
                    break
                if entry_id <= previous_id:
                    detail = f"entry id {entry_id} after {previous_id}"
                    problems.append((index, _REORDERED, Problem("entry.reordered", f"leaf {index}", detail)))
                # (SQLite cannot hold anything but text there: its columns are generated from it as JSON)
                data = entry if type(entry) is bytes else entry.encode() if type(entry) is str else None
                if data is None:
                    data = repr(entry).encode()
                    _altered(problems, index, entry_id, "the entry is not text")
                # The entries of one transaction begin alike up to their time: it is read once per run, and SM3
                # absorbs that beginning once per run (each entry continues a copy; the leaf is the same).
                if not data.startswith(run_head):
                    at_from = data.find(at_key) + at_skip
                    at_to = data.find(b'"', at_from)
                    if at_from >= at_skip and at_to >= 0:
                        run_head, run_at = data[: at_to + 1], data[at_from:at_to].decode(errors="replace")
                        run_state, run_skip = new_leaf(), len(run_head)
                        run_state.update(run_head)
                    else:
                        run_head, run_at = b"\x00", None  # (no entry begins with a NUL)
                        run_state, run_skip = merkle.leaf_state(), 0
                state = run_state.copy()
                state.update(data[run_skip:])
                leaf = state.digest()
                at = run_at
                index_at = data.rfind(index_key)
                object_at = data.find(id_key, index_at)
                if index_at < 0 or object_at < 0:
                    keys.append(hash(data))
                    _altered(problems, index, entry_id, "the entry cannot be read back (no leaf index)")
                    at = None
                else:
                    keys.append(hash((data[:index_at], data[object_at:])))
                    # An entry that matches its leaf records no row version, or one whose object and event need
                    # no unescaping (read at once); anything else is examined field by field.
                    examine = leaf != stored_leaf
                    if not examine:
                        record_at = data.find(record_key, object_at)
                        if record_at < 0:  # no record hash: an event about an object, not a version of it
                            examine = data.find(no_record, object_at) < 0 or data.endswith(
                                deleted, 0, index_at
                            )
                        else:  # object, event and record hash where the canonical layout puts them
                            type_at = data.find(type_key, object_at)
                            type_end = data.find(reason_key, type_at)
                            event_at = data.rfind(event_key, 0, index_at) + event_skip
                            object_id = data[object_at + id_skip : type_at]
                            object_type = data[type_at + type_skip : type_end]
                            event = data[event_at : index_at - 1]
                            record = data[record_at + record_skip : record_at + record_skip + 64]
                            if (
                                type_at < 0
                                or type_end < 0
                                or event_at < event_skip
                                or data[object_at + id_skip - 1] != 0x22
                                or b"\\" in object_id + object_type + event
                            ):
                                examine = True
                            else:
                                latest[(object_type.decode(), object_id.decode())] = (
                                    event.decode(),
                                    record.decode(),
                                    index,
                                )
                    if examine and not _examine(data, index, entry_id, leaf == stored_leaf, scan):
                        at = None
                if at is None:
                    scan.monotonic = False
                elif at != previous_at:
                    if previous_at is None:
                        scan.first_at = at if index == start else None
                    elif at < previous_at:
                        detail = f"{at} is earlier than the entry before it"
                        problems.append(
                            (index, _NON_MONOTONIC, Problem("time.non_monotonic", f"leaf {index}", detail))
                        )
                        scan.monotonic = False
                    runs.append(index - start)
                    previous_at = at
                leaves.append(leaf)
                previous_id = entry_id
                expected += 1
            # The block's perfect subtrees, the roots of the checkpoints inside it, then the block itself.
            levels = merkle.levels(leaves)
            while next_size < len(sizes) and sizes[next_size] <= expected:
                size = sizes[next_size]
                scan.partial[size] = [*frontier.subtrees, *merkle.decompose(levels, size - block_start)]
                next_size += 1
            for level, digest in merkle.decompose(levels, len(leaves)):
                frontier.push_subtree(level, digest)
            rows = [] if scan.stopped else cursor.fetchmany(block)
    finally:
        cursor.close()
        if sqlite:
            dbapi.text_factory = text_factory
    scan.end = expected
    scan.last_id, scan.last_at = (previous_id if expected > start else None), previous_at
    scan.subtrees = frontier.subtrees
    # Equal entries have equal times; while times never go back, entries with one time are a run of leaves.
    runs.append(len(keys))
    for begin, end in itertools.pairwise(runs):
        if end - begin > 1 and len(set(keys[begin:end])) != end - begin:
            scan.replays.extend(_repeats(keys[begin:end], start + begin))
    scan.first_run, scan.last_run = runs[1] if len(runs) > 1 else 0, runs[-2] if len(runs) > 1 else 0
    return scan


def _repeats(keys: Sequence[int], start: int, known: Set[int] = frozenset()) -> list[tuple[int, int]]:
    """(leaf, key) of every leaf whose key an earlier one (or ``known``) has."""
    found: list[tuple[int, int]] = []
    here: set[int] = set()
    for offset, key in enumerate(keys):
        if key in known or key in here:
            found.append((start + offset, key))
        here.add(key)
    return found


@dataclass(frozen=True)
class _Task:
    url: str
    start: int
    lower: int | None
    limit: int | None
    previous_id: int | None
    checkpoint_sizes: tuple[int, ...]
    block: int


_worker_connections: dict[str, Connection] = {}


def _scan_task(task: _Task) -> _Scan:
    """One range of leaves, in a worker process: on a connection of its own, kept for its next ranges."""
    conn = _worker_connections.get(task.url)
    if conn is None:
        from multiprocessing.util import Finalize

        from sqlalchemy.pool import NullPool

        from pharmatrace.storage.engine import make_engine

        conn = _worker_connections[task.url] = make_engine(task.url, poolclass=NullPool).connect()
        Finalize(None, conn.close, exitpriority=0)  # when the pool is closed and the worker exits
        gc.disable()  # a worker makes no cyclic garbage: collections would only cost time
    try:
        return _scan(
            conn,
            start=task.start,
            lower=task.lower,
            limit=task.limit,
            previous_id=task.previous_id,
            checkpoint_sizes=task.checkpoint_sizes,
            block=task.block,
        )
    finally:
        conn.rollback()  # each range reads in a transaction of its own


def _workers(db: Database, size: int, workers: int | None) -> int:
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return 1  # another process cannot see this database
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if size >= PARALLEL_FROM else 1
    return max(1, workers)


def _scans(
    db: Database, size: int, checkpoint_sizes: tuple[int, ...], workers: int, range_leaves: int
) -> Iterator[_Scan]:
    """The leaves in order: one pass in this process, or ranges of ``range_leaves`` in worker processes."""
    if workers == 1:
        with db.engine.connect() as conn:
            yield _scan(
                conn,
                start=0,
                lower=None,
                limit=None,
                previous_id=-1,
                checkpoint_sizes=checkpoint_sizes,
                block=BLOCK_LEAVES,
            )
        return
    if range_leaves <= 0 or range_leaves & (range_leaves - 1):
        raise ValueError("range_leaves must be a power of two")
    url = db.engine.url.render_as_string(hide_password=False)
    count = max(1, -(-size // range_leaves))
    tasks = [
        _Task(
            url=url,
            start=i * range_leaves,
            lower=i * range_leaves if i else None,  # the first range also sees stray negative indexes
            limit=(i + 1) * range_leaves if i < count - 1 else None,  # the last one whatever follows
            previous_id=-1 if i == 0 else None,
            checkpoint_sizes=checkpoint_sizes,
            block=min(BLOCK_LEAVES, range_leaves),
        )
        for i in range(count)
    ]
    # A single-threaded process (the CLI, a script) forks its workers: nothing to start, and no main module
    # to import again. Forking a multi-threaded one (the web server) is unsafe: a fork server then forks them.
    if threading.active_count() == 1:
        # The workers' garbage collector would otherwise walk, and so copy, this process's whole heap.
        frozen = gc.get_freeze_count() > 0  # the caller froze it already: leave it so
        gc.freeze()
        try:
            pool = multiprocessing.get_context("fork").Pool(min(workers, count))
        finally:
            if not frozen:
                gc.unfreeze()
    else:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        pool = context.Pool(min(workers, count))
    try:
        yield from pool.imap(_scan_task, tasks)
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()  # the workers close their connections as they exit
    finally:
        pool.join()


_PG_COLUMNS = (
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated, "
    "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped"
)
_PG_CHECKS = (
    "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint "
    "WHERE conrelid = %s::regclass AND conname = 'ck_audit_entries_entry'"
)
_SHOWN_APART = "what the trail shows may differ from what the ledger covers"


def _pg_schema_problems(conn: Connection) -> list[Problem]:
    """PostgreSQL: the columns, the CHECK that holds them to the entry (validated: every row satisfies it) and
    the function it calls, as migration 0060 made them. The expected ones are a temporary table made from the
    same definition in this session, so the comparison does not depend on how this server prints them."""
    bodies = (
        conn.exec_driver_sql("SELECT prosrc FROM pg_proc WHERE proname = 'pharmatrace_entry_matches'")
        .scalars()
        .all()
    )
    if bodies != [audit.PG_ENTRY_MATCHES_BODY]:
        return [
            Problem(
                "schema.altered",
                "pharmatrace_entry_matches",
                f"the function that holds the trail's columns to the hashed entries was changed or removed: {_SHOWN_APART}",
            )
        ]
    conn.exec_driver_sql(entry_table_sql("postgresql", "pg_temp.pharmatrace_expected_entries", ids=False))
    tables = ("audit_entries", "pg_temp.pharmatrace_expected_entries")
    actual, expected = (
        {row[0]: tuple(row[1:]) for row in conn.exec_driver_sql(_PG_COLUMNS, (t,))} for t in tables
    )
    checks, expected_checks = (conn.exec_driver_sql(_PG_CHECKS, (t,)).all() for t in tables)
    conn.rollback()
    problems = [
        Problem(
            "schema.altered",
            f"audit_entries.{name}",
            f"the column is not as migration 0060 made it: {_SHOWN_APART}",
        )
        for name in expected
        if name != "id" and actual.get(name) != expected[name]
    ]
    if [tuple(check) for check in checks] != [(expected_checks[0][0], True)]:
        problems.append(
            Problem(
                "schema.altered",
                "audit_entries.ck_audit_entries_entry",
                "the CHECK that holds the columns to the hashed entry is missing, changed or not validated: "
                + _SHOWN_APART,
            )
        )
    return problems


def _schema_problems(db: Database) -> list[Problem]:
    """The trail's columns must still come from ``entry`` as migration 0060 made them (generated on SQLite, held
    by a CHECK on PostgreSQL): otherwise what the trail shows could differ from the entries verify hashes."""
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            return _pg_schema_problems(conn)
        found = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_entries'"
        ).scalar()
    if found == entry_table_sql("sqlite", '"audit_entries"'):
        return []
    return [
        Problem(
            "schema.altered",
            "audit_entries",
            f"the table is no longer the one migrations 0060 and 0061 made, whose columns are generated from the hashed entry: {_SHOWN_APART}",
        )
    ]


def _content(db: Database, leaf_index: int) -> str | None:
    """The stored entry at ``leaf_index`` minus its position, as the scan compares entries."""
    with db.engine.connect() as conn:
        found = conn.exec_driver_sql(_entries_sql(leaf_index, leaf_index + 1)).all()
    if len(found) != 1 or type(found[0][1]) is not str:
        return None
    return _position_free(found[0][1])


def verify(db: Database, *, workers: int | None = None, range_leaves: int = RANGE_LEAVES) -> Report:
    """Re-hash the whole ledger and every current GMP row, then run the registered vouched checks
    (:func:`register_vouched`); name everything that does not match.

    ``workers``: processes that scan the trail (None: one per CPU for ledgers of PARALLEL_FROM entries or
    more, else this process alone); ``range_leaves``: leaves per task when several processes scan.
    """
    report = Report()
    problems = report.problems
    # The witness first: a checkpoint reaches it only after its transaction committed, so every checkpoint
    # witnessed so far is in what is read next, however long the scan takes while appends go on.
    witness = witness_of(db)
    read_at = clock.now()
    try:
        witnessed, torn = witness.read()
    except WitnessUnavailable as error:
        witnessed, torn = [], None
        problems.append(
            Problem("witness.unreachable", witness.location, f"{error}: the witness was not compared")
        )
    with db.sessions() as session:
        checkpoints = list(session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size)))
        keys = {k.fingerprint: k.public_key for k in session.scalars(select(LedgerKey))}
        head = session.get(LedgerHead, 1)
    report.checkpoints = len(checkpoints)
    roots_at = {cp.tree_size: cp.root for cp in checkpoints}
    expected_size = max([head.size if head else 0, *roots_at])

    computed_roots: dict[int, bytes] = {}
    latest: dict[tuple[str, str], tuple[str, str | None, int]] = {}
    found: list[tuple[int, int, Problem]] = []
    monotonic = True
    open_at: str | None = None  # the time of the last leaves merged, and the keys of those leaves
    open_keys: set[int] = set()
    key_ranges: list[tuple[int, array[int]]] = []
    replays: list[tuple[int, int]] = []  # (leaf, replay key) of entries whose key an earlier entry has
    frontier = merkle.Frontier()
    previous_id: Any = -1
    previous_at: str | None = None
    probe: int | None = None
    missing_from: int | None = None  # an earlier pass ended before its limit: rows are missing there
    stopped = False
    checked: dict[tuple[bytes, bytes, bytes], bool] = {}

    def signed(public_key: bytes, message: bytes, signature: bytes) -> bool:
        """SM2 verification, once per distinct signature (a witness line repeats its database checkpoint)."""
        key = (bytes(public_key), message, bytes(signature))
        if key not in checked:
            checked[key] = crypto.verify(*key)
        return checked[key]

    count = _workers(db, expected_size, workers)
    scans = _scans(db, expected_size, tuple(sorted(roots_at)), count, range_leaves)
    if count > 1:  # the workers started: check the signatures while they read the trail (kept in ``checked``)
        started = list(itertools.islice(scans, 1))
        _check_signatures(signed, checkpoints, keys, witnessed)
        scans = itertools.chain(started, scans)
    for scan in scans:
        if stopped:
            continue
        if probe is not None and scan.probe != probe:
            raise RuntimeError("ledger scan processes hash differently: replays cannot be compared")
        probe = scan.probe
        if missing_from is not None:
            if scan.end == scan.start and scan.resumes_at is None:
                continue  # an empty range: the next one says where the entries resume
            first = scan.start if scan.end > scan.start else scan.resumes_at
            found.append(
                (
                    missing_from,
                    _MISSING,
                    Problem(
                        "entry.missing",
                        f"leaf {missing_from}",
                        f"audit entries jump from leaf {missing_from - 1} to {first} (rows deleted)",
                    ),
                )
            )
            stopped = True
            continue
        # The first leaf of a range against the last one of the range before it.
        if scan.start > 0 and scan.first_id is not None:
            if scan.first_id <= previous_id:
                found.append(
                    (
                        scan.start,
                        _REORDERED,
                        Problem(
                            "entry.reordered",
                            f"leaf {scan.start}",
                            f"entry id {scan.first_id} after {previous_id}",
                        ),
                    )
                )
            if previous_at is not None and scan.first_at is not None and scan.first_at < previous_at:
                monotonic = False
                found.append(
                    (
                        scan.start,
                        _NON_MONOTONIC,
                        Problem(
                            "time.non_monotonic",
                            f"leaf {scan.start}",
                            f"{scan.first_at} is earlier than the entry before it",
                        ),
                    )
                )
        found.extend(scan.problems)
        # Replays: within a pass each run of one time was checked; here the runs that cross passes.
        replays.extend(scan.replays)
        monotonic = monotonic and scan.monotonic
        if scan.keys:
            whole = scan.first_run == len(scan.keys)
            if scan.first_at is not None and scan.first_at == open_at:
                head_keys = scan.keys[: scan.first_run]
                if not open_keys.isdisjoint(head_keys):
                    replays.extend(_repeats(head_keys, scan.start, open_keys))
                if whole:
                    open_keys.update(head_keys)
            if not (whole and scan.first_at == open_at):
                open_at, open_keys = scan.last_at, set(scan.keys[scan.last_run :])
        key_ranges.append((scan.start, scan.keys))
        for size, parts in scan.partial.items():
            at_size = frontier.copy()
            for level, digest in parts:
                at_size.push_subtree(level, digest)
            computed_roots[size] = at_size.root()
        for level, digest in scan.subtrees:
            frontier.push_subtree(level, digest)
        latest.update(scan.latest)
        if scan.last_id is not None:
            previous_id = scan.last_id
        if scan.last_at is not None:
            previous_at = scan.last_at
        if scan.stopped:
            stopped = True
        elif scan.limit is not None and scan.end < scan.limit:
            missing_from = scan.end
    if not monotonic:  # times went back somewhere: equal entries need not be neighbours
        replays, prior = [], set[int]()
        for start, range_keys in key_ranges:
            replays.extend(_repeats(range_keys, start, prior))
            prior.update(range_keys)
    # A replay key is a 64-bit hash: confirm each match on the entries themselves before reporting it.
    for leaf, replay_key in replays:
        earlier = next(start + ks.index(replay_key) for start, ks in key_ranges if replay_key in ks)
        if (
            earlier < leaf
            and (content := _content(db, leaf)) is not None
            and content == _content(db, earlier)
        ):
            found.append(
                (
                    leaf,
                    _REPLAYED,
                    Problem("entry.replayed", f"leaf {leaf}", "same content as an earlier entry"),
                )
            )
    found.sort(key=lambda item: (item[0], item[1]))
    problems.extend(problem for _, _, problem in found)
    report.size = frontier.size

    if frontier.size < expected_size:
        problems.append(
            Problem(
                "ledger.truncated",
                f"size {frontier.size}",
                f"the ledger recorded {expected_size} entries (tail removed or database rolled back)",
            )
        )
    for cp in checkpoints:
        public_key = keys.get(cp.key_fingerprint)
        message = checkpoint_message(cp.tree_size, cp.root, cp.at, cp.key_fingerprint)
        if public_key is None or not signed(public_key, message, cp.signature):
            problems.append(
                Problem("checkpoint.signature", f"checkpoint {cp.tree_size}", "SM2 signature invalid")
            )
        if cp.tree_size in computed_roots and computed_roots[cp.tree_size] != cp.root:
            problems.append(
                Problem(
                    "checkpoint.root",
                    f"checkpoint {cp.tree_size}",
                    "the entries no longer hash to the signed root",
                )
            )

    report.witnessed = len(witnessed)
    if torn:
        problems.append(Problem("witness.torn", witness.location, torn))
    by_size = {cp.tree_size: cp for cp in checkpoints}
    for line in witnessed:
        try:
            size, root = int(line["tree_size"]), bytes.fromhex(str(line["root"]))
            at, key = datetime.fromisoformat(str(line["at"])), str(line["key"])
            public_key, signature = (
                bytes.fromhex(str(line["public_key"])),
                bytes.fromhex(str(line["signature"])),
            )
        except (KeyError, ValueError, TypeError):
            problems.append(
                Problem("witness.corrupt", f"witness checkpoint {line.get('tree_size')}", "unreadable")
            )
            continue
        if crypto.fingerprint(public_key) != key or not signed(
            public_key, checkpoint_message(size, root, at, key), signature
        ):
            problems.append(
                Problem("witness.signature", f"witness checkpoint {size}", "SM2 signature invalid")
            )
        if size > frontier.size:
            problems.append(
                Problem(
                    "ledger.rolled_back",
                    f"witness checkpoint {size}",
                    f"the witness saw {size} entries, the database holds {frontier.size}",
                )
            )
            continue
        stored_cp = by_size.get(size)
        if stored_cp is None or stored_cp.root != root or computed_roots.get(size, root) != root:
            problems.append(
                Problem(
                    "ledger.rewritten",
                    f"witness checkpoint {size}",
                    "the database's tree at this size differs from what the witness saw",
                )
            )

    _witness_behind(report, witness, checkpoints, witnessed, read_at)
    if refused := witness.refused():
        first = refused[0]
        report.warnings.append(
            Problem(
                "witness.refused",
                witness.location,
                f"the witness refused {len(refused)} checkpoint(s), the first at size "
                f"{first.get('checkpoint', {}).get('tree_size')}: HTTP {first.get('status')} {first.get('detail')}; "
                "fix the cause, then `pharmatrace ledger witness-resend`",
            )
        )
    if (key_warning := site_key_warning(db.state_dir)) is not None:
        report.warnings.append(key_warning)
    problems.extend(_schema_problems(db))
    report.rows_checked = _verify_rows(db, latest, problems)
    _verify_vouched(db, report)
    return report


def _witness_behind(
    report: Report,
    witness: Witness,
    checkpoints: Sequence[LedgerCheckpoint],
    witnessed: Sequence[Mapping[str, Any]],
    read_at: datetime,
) -> None:
    """Warn when the database signed checkpoints the witness has not received (e.g. it was unreachable)."""
    if any(p.kind == "witness.unreachable" for p in report.problems):
        return
    sizes = [int(line["tree_size"]) for line in witnessed if isinstance(line.get("tree_size"), int)]
    seen = max(sizes, default=0)
    # Checkpoints signed after the witness was read may not have reached it yet: not behind.
    missing = [cp.tree_size for cp in checkpoints if cp.tree_size > seen and cp.at < read_at]
    if missing:
        pending = len(witness.pending())
        report.warnings.append(
            Problem(
                "witness.behind",
                witness.location,
                f"the witness holds checkpoints up to size {seen}, the database signed {len(missing)} more "
                f"(up to {max(missing)}); {pending} kept pending to be sent again",
            )
        )


def _check_signatures(
    signed: Callable[[bytes, bytes, bytes], bool],
    checkpoints: Sequence[LedgerCheckpoint],
    keys: Mapping[str, bytes],
    witnessed: Sequence[Mapping[str, Any]],
) -> None:
    """Verify every checkpoint's signature ahead of time (``signed`` remembers the results)."""
    for cp in checkpoints:
        public_key = keys.get(cp.key_fingerprint)
        if public_key is not None:
            signed(
                public_key, checkpoint_message(cp.tree_size, cp.root, cp.at, cp.key_fingerprint), cp.signature
            )
    for line in witnessed:
        with contextlib.suppress(KeyError, ValueError, TypeError):
            size, root = int(line["tree_size"]), bytes.fromhex(str(line["root"]))
            at, key = datetime.fromisoformat(str(line["at"])), str(line["key"])
            public_key, signature = (
                bytes.fromhex(str(line["public_key"])),
                bytes.fromhex(str(line["signature"])),
            )
            signed(public_key, checkpoint_message(size, root, at, key), signature)


def _verify_rows(
    db: Database, latest: dict[tuple[str, str], tuple[str, str | None, int]], problems: list[Problem]
) -> int:
    from sqlalchemy import inspect

    checked = 0
    with db.sessions() as session:
        for cls in _audited_classes():
            # The columns as rows, not as entities: the same values (the same column types decode them),
            # without building an object and its identity-map state per row.
            mapper = inspect(cls)
            columns = audited_columns(cls)
            key_names = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
            selected = list(dict.fromkeys((*columns, *key_names)))
            key_at = [selected.index(name) for name in key_names]
            present: set[str] = set()
            query = select(*(getattr(cls, name) for name in selected)).execution_options(yield_per=2000)
            for row in session.execute(query):
                checked += 1
                object_id = ":".join([str(row[i]) for i in key_at])
                present.add(object_id)
                last = latest.get((cls.__audit_type__, object_id))
                subject = f"{cls.__audit_type__}:{object_id}"
                if last is None:
                    problems.append(
                        Problem("row.unrecorded", subject, "row has no ledger entry (written behind the app)")
                    )
                elif last[0] == "delete":
                    problems.append(
                        Problem("row.resurrected", subject, "row exists although its last entry deletes it")
                    )
                elif last[1] != record_hash(cls.__audit_type__, object_id, _plain_values(columns, row)):
                    problems.append(
                        Problem(
                            "row.changed",
                            subject,
                            f"current row differs from its latest ledger entry (leaf {last[2]})",
                        )
                    )
            for (object_type, object_id), (event, _, index) in latest.items():
                if object_type == cls.__audit_type__ and event != "delete" and object_id not in present:
                    problems.append(
                        Problem(
                            "row.deleted",
                            f"{object_type}:{object_id}",
                            f"row is gone but its latest ledger entry (leaf {index}) is a {event}",
                        )
                    )
    return checked


# --- proofs ------------------------------------------------------------------------------------------


def _lookup(session: Session) -> merkle.NodeLookup:
    def nodes(level: int, idx: int) -> bytes:
        if level >= STORED_LEVEL:
            digest = session.scalar(
                select(LedgerNode.digest).where(LedgerNode.level == level, LedgerNode.idx == idx)
            )
            if digest is None:
                raise LookupError(f"ledger node ({level}, {idx}) missing")
            return bytes(digest)
        width = 1 << level
        leaves = [
            bytes(h)
            for h in session.scalars(
                select(AuditEntry.leaf_hash)
                .where(AuditEntry.leaf_index >= idx * width, AuditEntry.leaf_index < (idx + 1) * width)
                .order_by(AuditEntry.leaf_index)
            )
        ]
        if len(leaves) != width:
            raise LookupError(f"ledger leaves {idx * width}..{(idx + 1) * width - 1} missing")
        while len(leaves) > 1:
            leaves = [merkle.node_hash(leaves[i], leaves[i + 1]) for i in range(0, len(leaves), 2)]
        return leaves[0]

    return nodes


def prove(session: Session, object_type: str, object_id: str) -> dict[str, Any]:
    """One record's whole history with inclusion proofs against the newest checkpoint that covers it."""
    entries: list[dict[str, Any]] = [
        {"leaf_index": index, "entry": entry}
        for index, entry in session.execute(
            select(AuditEntry.leaf_index, AuditEntry.entry)
            .where(AuditEntry.object_type == object_type, AuditEntry.object_id == object_id)
            .order_by(AuditEntry.leaf_index)
        )
    ]
    if not entries:
        raise LookupError(f"no ledger entries for {object_type}:{object_id}")
    cp = session.scalars(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()).limit(1)
    ).first()
    if cp is None or cp.tree_size <= entries[-1]["leaf_index"]:
        raise LookupError(
            "no checkpoint covers this record yet; make one with `pharmatrace ledger checkpoint`"
        )
    nodes = _lookup(session)
    return {
        "format": PROOF_FORMAT,
        "object": f"{object_type}:{object_id}",
        "checkpoint": _checkpoint_document(session, cp),
        "entries": [
            {
                "leaf_index": e["leaf_index"],
                "entry": e["entry"],  # as stored: the text its leaf hashes
                "path": [p.hex() for p in merkle.inclusion_proof(nodes, e["leaf_index"], cp.tree_size)],
            }
            for e in entries
        ],
    }


def _checkpoint_document(session: Session, cp: LedgerCheckpoint) -> dict[str, Any]:
    """A signed checkpoint as a proof file carries it: enough to check its signature offline."""
    public_key = session.scalar(
        select(LedgerKey.public_key).where(LedgerKey.fingerprint == cp.key_fingerprint)
    )
    return {
        "tree_size": cp.tree_size,
        "root": bytes(cp.root).hex(),
        "at": plain_value(cp.at),
        "key": cp.key_fingerprint,
        "public_key": bytes(public_key or b"").hex(),
        "signature": bytes(cp.signature).hex(),
    }


def prove_consistency(session: Session, old_size: int) -> dict[str, Any]:
    """RFC 6962 consistency of the newest checkpoint with an older one an inspector kept (SH-8.4.5).

    The older tree must be a prefix of the newer: nothing recorded up to ``old_size`` was changed,
    removed or reordered since. Checked offline by :func:`check_consistency`.
    """
    old = session.scalar(select(LedgerCheckpoint).where(LedgerCheckpoint.tree_size == old_size))
    if old is None:
        raise LookupError(f"no signed checkpoint at tree size {old_size}")
    new = session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()).limit(1)).one()
    proof = merkle.consistency_proof(_lookup(session), old.tree_size, new.tree_size)
    return {
        "format": CONSISTENCY_FORMAT,
        "old": _checkpoint_document(session, old),
        "new": _checkpoint_document(session, new),
        "proof": [p.hex() for p in proof],
    }


def _strict_json(text: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(items)

    return json.loads(text, object_pairs_hook=pairs)


def _check_checkpoint(cp: Any, trusted_key: str | None, name: str) -> tuple[int, bytes, list[str]]:
    """Size, root and the failures of one signed checkpoint from a proof file; raises on a malformed one."""
    if not isinstance(cp, dict) or set(cp) != {"tree_size", "root", "at", "key", "public_key", "signature"}:
        raise ValueError(f"{name} fields are wrong")
    size, root = cp["tree_size"], bytes.fromhex(cp["root"])
    at, key = datetime.fromisoformat(cp["at"]), str(cp["key"])
    public_key, signature = bytes.fromhex(cp["public_key"]), bytes.fromhex(cp["signature"])
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0 or len(root) != crypto.SM3_SIZE:
        raise ValueError(f"{name} size or root malformed")
    failures: list[str] = []
    if crypto.fingerprint(public_key) != key:
        failures.append(f"the public key does not match the {name}'s key fingerprint")
    if trusted_key is not None and key != trusted_key:
        failures.append(f"{name} signed by key {key}, not the trusted key {trusted_key}")
    if not crypto.verify(public_key, checkpoint_message(size, root, at, key), signature):
        failures.append(f"the {name}'s SM2 signature is invalid")
    return size, root, failures


def check_consistency(data: bytes, *, trusted_key: str | None = None) -> list[str]:
    """Check a consistency proof offline: both checkpoints signed, the older tree a prefix of the newer."""
    try:
        document = _strict_json(data.decode("utf-8"))
        if set(document) != {"format", "old", "new", "proof"} or document["format"] != CONSISTENCY_FORMAT:
            return ["not a PharmaTrace consistency proof (format or fields)"]
        old_size, old_root, failures = _check_checkpoint(document["old"], trusted_key, "older checkpoint")
        new_size, new_root, new_failures = _check_checkpoint(document["new"], trusted_key, "newer checkpoint")
        path = [bytes.fromhex(p) for p in document["proof"]]
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as error:
        return [f"unreadable proof: {error}"]
    failures += new_failures
    if not merkle.verify_consistency(old_size, new_size, old_root, new_root, path):
        failures.append(f"the tree of size {new_size} does not extend the signed tree of size {old_size}")
    return failures


def check_proof(data: bytes, *, trusted_key: str | None = None) -> list[str]:
    """Check a proof offline, without the database. Returns the failures; empty means valid."""
    try:
        proof = _strict_json(data.decode("utf-8"))
        if set(proof) != {"format", "object", "checkpoint", "entries"} or proof["format"] != PROOF_FORMAT:
            return ["not a PharmaTrace proof (format or fields)"]
        size, root, failures = _check_checkpoint(proof["checkpoint"], trusted_key, "checkpoint")
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as error:
        return [f"unreadable proof: {error}"]
    entries = proof["entries"]
    if not isinstance(entries, list) or not entries:
        return [*failures, "no entries"]
    for number, item in enumerate(entries, start=1):
        try:
            if set(item) != {"leaf_index", "entry", "path"}:
                raise ValueError("fields")
            index, text = item["leaf_index"], item["entry"]
            path = [bytes.fromhex(p) for p in item["path"]]
            entry = _strict_json(text)
            if not isinstance(index, int) or isinstance(index, bool):
                raise ValueError("leaf index")
        except (ValueError, TypeError, AttributeError) as error:
            failures.append(f"entry {number}: unreadable ({error})")
            continue
        if entry.get("leaf_index") != index:
            failures.append(
                f"entry {number}: leaf index {index} does not match the entry's own ({entry.get('leaf_index')})"
            )
        if f"{entry.get('object_type')}:{entry.get('object_id')}" != proof["object"]:
            failures.append(f"entry {number}: belongs to another record")
        if text.encode() != canonical(entry):
            failures.append(f"entry {number}: not in canonical form")
        if not merkle.verify_inclusion(merkle.leaf_hash(text.encode()), index, size, path, root):
            failures.append(f"entry {number} (leaf {index}): not included in the signed tree of size {size}")
    return failures


def audited_class(object_type: str) -> type[Audited] | None:
    return next((cls for cls in _audited_classes() if cls.__audit_type__ == object_type), None)


def find_record(session: Session, object_type: str, object_id: str) -> Audited | None:
    """The current row behind ``TYPE:ID`` (IDs as written to the trail, key parts joined by ':')."""
    from sqlalchemy import inspect

    cls = audited_class(object_type)
    if cls is None:
        return None
    columns = inspect(cls).primary_key
    parts = object_id.split(":")
    if len(parts) != len(columns):
        return None
    try:
        key = tuple(col.type.python_type(part) for col, part in zip(columns, parts, strict=True))
    except (ValueError, NotImplementedError):
        return None
    found = session.get(cls, key if len(key) > 1 else key[0])
    return found if isinstance(found, Audited) else None


def current_record_hash(obj: Audited) -> str:
    return record_hash(obj.__audit_type__, object_id_of(obj), record_values(obj))
