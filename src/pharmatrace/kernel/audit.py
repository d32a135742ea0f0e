"""Audit trail: who did what to which record, when, why, and every field's old → new value.

Fields follow the TJ-B.2.5 data set: object (CZDX), operation (CZLX), operator (CZZ), time (CZSJ),
reason (CZYY), old value (JZ), new value (XZ). The table is append-only in the database itself
(triggers on SQLite and PostgreSQL, SH-7.1.3.c); there is no switch that turns capture off (SH-7.1.3.b).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

REDACTED = "******"


class Audited:
    """Mixin for GMP entities: the unit of work captures every create, modify and void of them.

    ``__audit_type__``   the object type written to the trail (CZDX), e.g. ``"user"``.
    ``__audit_redact__`` fields recorded as changed without their values (password hashes).
    ``__audit_ignore__`` operational counters that are not business data (covered by their own events).
    ``__audit_deletable__`` association rows (grants) may be deleted; the delete itself is audited.
    Anything else is never deleted: it is voided with a reason.
    ``__audit_label__``  what the record is, an English msgid (the list of audited functions, SH-7.1.3.a).
    """

    __audit_type__: ClassVar[str]
    __audit_label__: ClassVar[str] = ""
    __audit_redact__: ClassVar[frozenset[str]] = frozenset()
    __audit_ignore__: ClassVar[frozenset[str]] = frozenset()
    __audit_deletable__: ClassVar[bool] = False


# The audit row *is* its canonical entry (ADR 0031): ``entry`` holds the very text its ledger leaf hashes, and the
# other columns cannot differ from it (SH-7.1.3.c, SH-8.4.5). On SQLite they are virtual columns generated from
# ``entry``; on PostgreSQL, where a generated column would parse the entry once per column, they are written
# alongside it and a CHECK holds each to the entry (one parse). Each: (name, SQLite type, PostgreSQL type, NOT NULL).
# These definitions are migration 0060's and what ``ledger verify`` expects to find.
_AT = "json_extract(entry, '$.at')"
ENTRY_COLUMNS: tuple[tuple[str, str, str, bool], ...] = (
    ("leaf_index", "BIGINT", "bigint", True),
    ("at", "DATETIME", "timestamp with time zone", True),
    ("event", "VARCHAR(64)", "varchar(64)", True),
    ("object_type", "VARCHAR(64)", "varchar(64)", True),
    ("object_id", "VARCHAR(128)", "varchar(128)", True),
    ("actor_id", "INTEGER", "integer", False),
    ("actor_login", "VARCHAR(64)", "varchar(64)", True),
    ("actor_name", "VARCHAR(128)", "varchar(128)", True),
    ("reason", "TEXT", "text", False),
    ("changes", "JSON", "json", True),
    ("request_id", "VARCHAR(64)", "varchar(64)", False),
    ("client_address", "VARCHAR(64)", "varchar(64)", False),
    ("record_hash", "VARCHAR(64)", "varchar(64)", False),
)
_NAMES = [name for name, _, _, _ in ENTRY_COLUMNS]


def pg_entry_field(name: str, pg_type: str) -> str:
    """The field of the entry (parsed as ``d``) as the column holds it."""
    if name == "changes":
        return "(d -> 'changes')"
    if pg_type in ("bigint", "integer", "timestamp with time zone"):
        return f"(d ->> '{name}')::{pg_type}"
    return f"(d ->> '{name}')"


PG_ENTRY_MATCHES_BODY = (
    " DECLARE d jsonb := entry::jsonb; BEGIN RETURN "
    + " AND ".join(
        f"{pg_entry_field(name, pg_type)} IS NOT DISTINCT FROM "
        + ("c_changes::jsonb" if name == "changes" else f"c_{name}")
        for name, _, pg_type, _ in ENTRY_COLUMNS
    )
    + "; END "
)
PG_ENTRY_MATCHES_SIGNATURE = (
    "pharmatrace_entry_matches(text, " + ", ".join(t for _, _, t, _ in ENTRY_COLUMNS) + ")"
)
PG_ENTRY_MATCHES_FUNCTION = (
    "CREATE OR REPLACE FUNCTION pharmatrace_entry_matches(entry text, "
    + ", ".join(f"c_{name} {pg_type}" for name, _, pg_type, _ in ENTRY_COLUMNS)
    + ") RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$"
    + PG_ENTRY_MATCHES_BODY
    + "$$"
)


def _generated(name: str) -> str:
    """SQLite: the column as generated from ``entry``."""
    if name == "at":
        # SQLAlchemy's storage of a UTC time on SQLite, 2026-11-23 10:00:00.123456, from the canonical
        # 2026-11-23T10:00:00.123456+00:00 (or …T10:00:00+00:00 in a whole second): one extraction
        return f"replace(substr(replace({_AT}, '+00:00', '.000000'), 1, 26), 'T', ' ')"
    return f"json_extract(entry, '$.{name}')"


UOW_REFUSAL = "pharmatrace: INSERT on audit_entries outside the unit of work is refused"
UOW_CHECK = f'CONSTRAINT "{UOW_REFUSAL}" CHECK (pharmatrace_uow() IS 1)'  # migration 0060's, on SQLite


def entry_table_sql(dialect: str, table: str, *, ids: bool = True, uow_check: bool = False) -> str:
    """CREATE TABLE for the audit entries under ``table`` (the migration builds it under another name);
    ``ids=False``: PostgreSQL's ``id`` without its sequence (for comparing the other columns); ``uow_check``: on
    SQLite, migration 0060's unit-of-work guard as a CHECK, which 0061 took out again (``PRAGMA integrity_check``
    evaluates a CHECK on every stored row, outside any unit of work: it failed, and another client could not run it
    at all). An AFTER INSERT trigger guards the table since (``guards.uow_only``)."""
    postgresql = dialect == "postgresql"
    lines = [
        ("id BIGINT NOT NULL" + (" DEFAULT nextval('audit_entries_id_seq')" if ids else ""))
        if postgresql
        else "id INTEGER NOT NULL",
        "entry TEXT NOT NULL",
        f"leaf_hash {'BYTEA' if postgresql else 'BLOB'} NOT NULL",
    ]
    for name, sqlite_type, pg_type, required in ENTRY_COLUMNS:
        definition = (
            pg_type if postgresql else f"{sqlite_type} GENERATED ALWAYS AS ({_generated(name)}) VIRTUAL"
        )
        lines.append(f"{name} {definition}" + (" NOT NULL" if required else ""))
    if postgresql:  # the key is added once the rows are in
        lines.append(
            f"CONSTRAINT ck_audit_entries_entry CHECK (pharmatrace_entry_matches(entry, {', '.join(_NAMES)}))"
        )
    else:  # the rowid (and in 0060's definition the unit-of-work guard as a CHECK)
        lines.append("CONSTRAINT pk_audit_entries PRIMARY KEY (id)")
        if uow_check:
            lines.append(UOW_CHECK)
    return f"CREATE TABLE {table} (\n\t" + ", \n\t".join(lines) + "\n)"


class AuditEntry(Base):
    """One audit event. Never updated, never deleted (triggers refuse both).

    ``entry`` is the canonical entry (see ``ledger.entry_bytes``) its ``leaf_hash`` covers; the other columns are
    generated from it on SQLite and held to it by a CHECK on PostgreSQL (migration 0060, ``entry_table_sql``).
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_object", "object_type", "object_id"),
        Index("ix_audit_entries_at", "at"),
        Index("ix_audit_entries_actor", "actor_login"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    entry: Mapped[str] = mapped_column(Text, nullable=False)  # what the leaf hashes, byte for byte (UTF-8)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # CZSJ
    event: Mapped[str] = mapped_column(String(64), nullable=False)  # CZLX
    object_type: Mapped[str] = mapped_column(String(64), nullable=False)  # CZDX
    object_id: Mapped[str] = mapped_column(String(128), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(nullable=True)
    actor_login: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_name: Mapped[str] = mapped_column(String(128), nullable=False)  # CZZ
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # CZYY
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # JZ → XZ
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The ledger: position in the Merkle tree, and SM3 of the canonical record version described.
    leaf_index: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    record_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)  # SM3(0x00 ‖ canonical entry)


def plain_value(value: Any) -> Any:
    """A JSON-safe, stable form of a column value for the trail."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return plain_value(value.value)
    return str(value)


# Events that are audited although they change no GMP row (TJ-10.1.1.1, TJ-10.1.1.2.b).
# Values are msgids: the list of audited functions shows them (SH-7.1.3.a).
SECURITY_EVENTS: dict[str, str] = {
    "login.success": N_("Log-in succeeded"),
    "login.failure": N_("Log-in failed"),
    "login.locked": N_("Account locked after repeated failures"),
    "logout": N_("Log-out"),
    "session.expired": N_("Session ended by idle timeout"),
    "password.change": N_("Password changed by its owner"),
    "password.reset": N_("Password reset by an administrator"),
    "audit.export": N_("Audit trail exported or printed"),  # SH-7.1.3.e: exports are audited too
    "clock.alarm": N_("Clock alarm"),  # SH-7.1.5: written by kernel/clock_monitor.py
    "esign.key.issued": N_("Signing key issued"),  # TJ-10.2: at creation, first log-in or password reset
    "esign.failure": N_("Wrong password at signing"),  # counts towards the lock-out
    "dataset.export": N_("Data set exported"),  # TJ-B.1.3: an Appendix B data set taken out (exchange)
    "label.print": N_(
        "Labels printed"
    ),  # TJ-6.3.1: who printed which labels, in which form (pharmatrace.wms)
    "stock.issue.refused": N_("Issue to production refused by the storage checks"),  # TJ-6.4.1 (wms.stock)
    "receipt.scan.refused": N_("Scan at goods receipt refused"),  # TJ-5.2.1.1: foreign or duplicate label
    "equipment.use.refused": N_("Use of equipment or a room refused"),  # TJ-6.1: e.g. past its validity
    "document.print": N_("Controlled document printed"),  # TJ-9.2: every printed copy (pharmatrace.documents)
    "document.print.refused": N_("Print of a controlled document refused"),  # TJ-9.2: e.g. superseded
    # TJ-6.3.2.2.a (mes.dispensing)
    "mes.weighing.refused": N_("Weighing refused by the scale or tolerance checks"),
    "mes.material.refused": N_("Material refused at identification, weighing or charging"),  # TJ-6.4.3.3.e
    "mes.packaging.refused": N_("Packaging check refused (artwork, printing data, line check)"),  # TJ-6.4.6
    "mes.step.refused": N_("Batch step refused"),  # TJ-6.4.3.3: e.g. untrained operator, skipped step
    "mes.review.refused": N_("QA review of a batch record refused"),  # TJ-6.4.7: open exception, participant
    "ebr.export": N_("Electronic batch record viewed as a document or exported"),  # TJ-6.4.3.5
    # TJ-7.4, TJ-7.6 (lims.results, lims.reagents)
    "lims.result.entry.refused": N_("Result entry refused: the instrument or a reagent may not be used"),
    "lims.reagent.use.refused": N_("Use of a reagent, standard or solution refused"),
    "lims.standardization.refused": N_("Re-standardization refused"),
    "monitoring.archive": N_("Historian values copied to an archive"),  # TJ-10.1.6.2 (monitoring.archive)
    # TJ-10.1.6.3.c (monitoring.destruction): raw values past their retention destroyed, or the attempt refused
    "monitoring.destruction": N_("Historian raw values destroyed past their retention"),
    "monitoring.destruction.refused": N_("Destruction of historian raw values refused"),
}
