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

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

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
from pharmatrace.kernel import clock, crypto, merkle
from pharmatrace.kernel.audit import Audited, AuditEntry, plain_value
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime
from pharmatrace.storage.engine import Database

CHECKPOINT_DOMAIN = b"pharmatrace-checkpoint-v1\n"
PROOF_FORMAT = "pharmatrace-proof-v1"
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


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_bytes(row: Mapping[str, Any]) -> bytes:
    # ``changes`` is already JSON-safe (plain values), in memory and as read back from the database.
    return canonical(
        {name: row[name] if name == "changes" else plain_value(row[name]) for name in ENTRY_FIELDS}
    )


_COLUMNS: dict[str, tuple[str, ...]] = {}


def audited_columns(cls: type[Audited]) -> tuple[str, ...]:
    """The columns of ``cls`` the trail and the ledger cover (computed once per class)."""
    key = f"{cls.__module__}.{cls.__qualname__}"
    found = _COLUMNS.get(key)
    if found is None:
        from sqlalchemy import inspect

        found = tuple(attr.key for attr in inspect(cls).column_attrs if attr.key not in cls.__audit_ignore__)
        _COLUMNS[key] = found
    return found


def record_values(obj: Audited) -> dict[str, Any]:
    """The audited columns of a record as plain values (redacted fields too: hashing reveals nothing)."""
    state = obj.__dict__
    return {
        key: plain_value(state[key] if key in state else getattr(obj, key))
        for key in audited_columns(type(obj))
    }


def record_hash(object_type: str, object_id: str, values: Mapping[str, Any]) -> str:
    """SM3 of the canonical record version: what a ledger entry commits to."""
    return crypto.sm3(canonical({"type": object_type, "id": object_id, "values": dict(values)})).hex()


def checkpoint_message(tree_size: int, root: bytes, at: datetime, key: str) -> bytes:
    return CHECKPOINT_DOMAIN + canonical(
        {"tree_size": tree_size, "root": root.hex(), "at": plain_value(at), "key": key}
    )


# --- the site key and the witness ---------------------------------------------------------------------


@lru_cache(maxsize=8)
def site_key(state_dir: Path) -> crypto.KeyPair:
    """The site's SM2 key for checkpoints, created on first use (file mode 0600 under the state dir)."""
    path = state_dir / "keys" / "site-sm2.key"
    if path.exists():
        return crypto.KeyPair.from_private(bytes.fromhex(path.read_text().strip()))
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = crypto.KeyPair.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(keys.private_key.hex() + "\n")
    return keys


class Witness(Protocol):
    """Where signed checkpoints are kept outside the ledger's database (pluggable)."""

    @property
    def location(self) -> str: ...

    def append(self, checkpoint: Mapping[str, Any]) -> None: ...

    def read(self) -> tuple[list[dict[str, Any]], str | None]:
        """The checkpoints, and a description of a torn or corrupt record if there is one."""
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


@lru_cache(maxsize=8)
def _witness_engine(url: str) -> Any:
    from pharmatrace.storage.engine import make_engine

    engine = make_engine(url)
    _witness_metadata.create_all(engine)
    return engine


def witness_of(db: Database) -> Witness:
    """``PHARMATRACE_WITNESS_URL`` (a second database) when set for this instance, else the witness file."""
    if db.witness_url:
        return DatabaseWitness(db.witness_url)
    return FileWitness(db.state_dir / "ledger" / "witness.jsonl")


# --- appending ---------------------------------------------------------------------------------------


def _head(connection: Connection) -> LedgerHead:
    """Lock the head for this transaction (a write first, so SQLite takes its write lock too)."""
    row = connection.execute(
        update(LedgerHead)
        .where(LedgerHead.id == 1)
        .values(size=LedgerHead.size)
        .returning(LedgerHead.size, LedgerHead.frontier, LedgerHead.checkpoint_size, LedgerHead.checkpoint_at)
    ).one()
    return LedgerHead(id=1, size=row[0], frontier=row[1], checkpoint_size=row[2], checkpoint_at=row[3])


def append(connection: Connection, rows: Sequence[dict[str, Any]], state_dir: Path) -> list[dict[str, Any]]:
    """Insert audit entries as the next leaves; return checkpoints to witness once the transaction commits."""
    if not rows:
        return []
    head = _head(connection)
    moment = clock.now()  # stamped under the lock, so times never go backwards along the tree
    frontier = merkle.Frontier.from_json(head.size, head.frontier)
    nodes: list[dict[str, Any]] = []
    for offset, row in enumerate(rows):
        row["leaf_index"] = head.size + offset
        row["at"] = moment
        row["leaf_hash"] = leaf = merkle.leaf_hash(entry_bytes(row))
        for level, idx, digest in frontier.push(leaf):
            if level >= STORED_LEVEL:
                nodes.append({"level": level, "idx": idx, "digest": digest})
    connection.execute(insert(AuditEntry), list(rows))
    if nodes:
        connection.execute(insert(LedgerNode), nodes)
    pending: list[dict[str, Any]] = []
    settings = get_settings()
    due = head.checkpoint_at is None or (
        frontier.size - head.checkpoint_size >= settings.checkpoint_every
        or moment - head.checkpoint_at >= timedelta(seconds=settings.checkpoint_seconds)
    )
    if due:
        pending.append(_checkpoint(connection, frontier, moment, state_dir))
    values: dict[str, Any] = {"size": frontier.size, "frontier": frontier.to_json()}
    if due:
        values.update(checkpoint_size=frontier.size, checkpoint_at=moment)
    connection.execute(update(LedgerHead).where(LedgerHead.id == 1).values(**values))
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
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _audited_classes() -> list[type[Audited]]:
    return sorted(
        (m.class_ for m in Base.registry.mappers if issubclass(m.class_, Audited)),
        key=lambda c: c.__audit_type__,
    )


def object_id_of(obj: Audited) -> str:
    from sqlalchemy import inspect

    return ":".join(str(part) for part in inspect(type(obj)).primary_key_from_instance(obj))


def _stream(db: Database, statement: Any) -> Iterator[Any]:
    with db.engine.connect() as conn:
        yield from conn.execution_options(stream_results=True, yield_per=5000).execute(statement)


def verify(db: Database) -> Report:
    """Re-hash the whole ledger and every current GMP row; name everything that does not match."""
    report = Report()
    problems = report.problems
    with db.sessions() as session:
        checkpoints = list(session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size)))
        keys = {k.fingerprint: k.public_key for k in session.scalars(select(LedgerKey))}
        head = session.get(LedgerHead, 1)
    report.checkpoints = len(checkpoints)
    roots_at = {cp.tree_size: cp.root for cp in checkpoints}
    computed_roots: dict[int, bytes] = {}
    latest: dict[tuple[str, str], tuple[str, str | None, int]] = {}
    seen: set[bytes] = set()
    frontier = merkle.Frontier()
    previous_at: datetime | None = None
    previous_id = -1
    names = (*ENTRY_FIELDS, "id", "leaf_hash")
    columns = [getattr(AuditEntry, name) for name in names]
    for row in _stream(db, select(*columns).order_by(AuditEntry.leaf_index)):
        entry = dict(zip(names, row, strict=True))
        index = entry["leaf_index"]
        if index != frontier.size:
            problems.append(
                Problem(
                    "entry.missing",
                    f"leaf {frontier.size}",
                    f"audit entries jump from leaf {frontier.size - 1} to {index} (rows deleted)",
                )
            )
            break
        if entry["id"] <= previous_id:
            problems.append(
                Problem("entry.reordered", f"leaf {index}", f"entry id {entry['id']} after {previous_id}")
            )
        if previous_at is not None and entry["at"] < previous_at:
            problems.append(
                Problem(
                    "time.non_monotonic",
                    f"leaf {index}",
                    f"{plain_value(entry['at'])} is earlier than the entry before it",
                )
            )
        plain = {
            name: entry[name] if name == "changes" else plain_value(entry[name]) for name in ENTRY_FIELDS
        }
        data = canonical(plain)
        content = crypto.sm3(data.replace(b'"leaf_index":%d' % index, b"", 1))  # a replay differs only here
        if content[:16] in seen:
            problems.append(Problem("entry.replayed", f"leaf {index}", "same content as an earlier entry"))
        seen.add(content[:16])
        leaf = merkle.leaf_hash(data)
        if bytes(entry["leaf_hash"]) != leaf:
            problems.append(
                Problem(
                    "entry.altered",
                    f"audit entry {entry['id']} (leaf {index})",
                    f"{entry['event']} of {entry['object_type']}:{entry['object_id']} no longer "
                    "matches its ledger leaf",
                )
            )
        frontier.push(leaf)
        if frontier.size in roots_at:
            computed_roots[frontier.size] = frontier.root()
        # Only row versions (and deletes) say what a row must look like; events about an object (a log-in,
        # an export) carry no record hash and leave its latest version as it was.
        if entry["record_hash"] is not None or entry["event"] == "delete":
            latest[(entry["object_type"], entry["object_id"])] = (entry["event"], entry["record_hash"], index)
        previous_at, previous_id = entry["at"], entry["id"]
    report.size = frontier.size

    expected_size = max([head.size if head else 0, *roots_at])
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
        if public_key is None or not crypto.verify(public_key, message, cp.signature):
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

    witness = witness_of(db)
    witnessed, torn = witness.read()
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
        if crypto.fingerprint(public_key) != key or not crypto.verify(
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

    report.rows_checked = _verify_rows(db, latest, problems)
    return report


def _verify_rows(
    db: Database, latest: dict[tuple[str, str], tuple[str, str | None, int]], problems: list[Problem]
) -> int:
    checked = 0
    with db.sessions() as session:
        for cls in _audited_classes():
            present: set[str] = set()
            for obj in session.scalars(select(cls)).yield_per(2000):
                checked += 1
                object_id = object_id_of(obj)
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
                elif last[1] != record_hash(cls.__audit_type__, object_id, record_values(obj)):
                    problems.append(
                        Problem(
                            "row.changed",
                            subject,
                            f"current row differs from its latest ledger entry (leaf {last[2]})",
                        )
                    )
            session.expunge_all()
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
    columns = [getattr(AuditEntry, name) for name in ENTRY_FIELDS]
    entries = [
        dict(zip(ENTRY_FIELDS, row, strict=True))
        for row in session.execute(
            select(*columns)
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
    public_key = session.scalar(
        select(LedgerKey.public_key).where(LedgerKey.fingerprint == cp.key_fingerprint)
    )
    nodes = _lookup(session)
    return {
        "format": PROOF_FORMAT,
        "object": f"{object_type}:{object_id}",
        "checkpoint": {
            "tree_size": cp.tree_size,
            "root": bytes(cp.root).hex(),
            "at": plain_value(cp.at),
            "key": cp.key_fingerprint,
            "public_key": bytes(public_key or b"").hex(),
            "signature": bytes(cp.signature).hex(),
        },
        "entries": [
            {
                "leaf_index": e["leaf_index"],
                "entry": entry_bytes(e).decode(),
                "path": [p.hex() for p in merkle.inclusion_proof(nodes, e["leaf_index"], cp.tree_size)],
            }
            for e in entries
        ],
    }


def _strict_json(text: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(items)

    return json.loads(text, object_pairs_hook=pairs)


def check_proof(data: bytes, *, trusted_key: str | None = None) -> list[str]:
    """Check a proof offline, without the database. Returns the failures; empty means valid."""
    try:
        proof = _strict_json(data.decode("utf-8"))
        if set(proof) != {"format", "object", "checkpoint", "entries"} or proof["format"] != PROOF_FORMAT:
            return ["not a PharmaTrace proof (format or fields)"]
        cp = proof["checkpoint"]
        if set(cp) != {"tree_size", "root", "at", "key", "public_key", "signature"}:
            return ["checkpoint fields are wrong"]
        size, root = cp["tree_size"], bytes.fromhex(cp["root"])
        at, key = datetime.fromisoformat(cp["at"]), str(cp["key"])
        public_key, signature = bytes.fromhex(cp["public_key"]), bytes.fromhex(cp["signature"])
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0 or len(root) != crypto.SM3_SIZE:
            return ["checkpoint size or root malformed"]
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as error:
        return [f"unreadable proof: {error}"]
    failures: list[str] = []
    if crypto.fingerprint(public_key) != key:
        failures.append("the public key does not match the checkpoint's key fingerprint")
    if trusted_key is not None and key != trusted_key:
        failures.append(f"checkpoint signed by key {key}, not the trusted key {trusted_key}")
    if not crypto.verify(public_key, checkpoint_message(size, root, at, key), signature):
        failures.append("the checkpoint's SM2 signature is invalid")
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
