"""Controlled destruction of historian raw values past their retention (TJ-10.1.6.3 a–c, TJ-10.1.6.2, SH-8.4.3;
ADR 0029).

A destruction (:class:`~.destruction_models.HistorianDestruction`, ``DS-2026-0001``) covers the raw values of one
calendar month (UTC) whose tags are of one retention class (:data:`~.rollup_models.RETENTION_YEARS`). Its
lifecycle is a declared state machine:

* **request** — whoever maintains the historian's configuration (``equipment.manage``) asks, with the reason; only
  for a month that has ended and whose values of that class are all past their retention (month end + the class's
  years ≤ now) and that holds some;
* **approve** — QA (``qms.deviation.approve``) approves with an electronic signature
  (``monitoring.destruction.approve``), never the requester (here and a CHECK). The signature is on an append-only
  decision row naming the SM3 of the application approved (:func:`application_sm3`), so it stays valid while the
  record moves on; the execution needs a valid one whose SM3 is still the application's;
* **cancel** — either of them, with a reason, before it is executed;
* **execute** — on the server, by IT, the way archive copies are taken (``pharmatrace monitoring destroy DS-…
  --manifest PATH``): only an approved destruction, still past retention, against a verified archive copy of the
  month. The copy's manifest must pass :func:`pharmatrace.monitoring.archive.check`, be signed with this site's key,
  be of this month, and its file must hold exactly the values still in the database for the month (every ingest's
  values, compared one by one); every ingest touched must still hash to what the ledger vouches for. Then, in one
  transaction: the record goes to ``executing`` (the only state in which the raw values' DELETE guard lets a delete
  through, for this month and class), the values are deleted — on PostgreSQL the month's partition is detached and
  dropped instead when it has one of its own and every value in it goes — the count is checked, the per-ingest
  record (:class:`~.destruction_models.DestroyedIngest`) written, and the record goes to ``executed`` with the
  method, the manifest's SM3 and the counts. The execution is an audit event (``monitoring.destruction``); a refused
  execution changes nothing and is recorded (``monitoring.destruction.refused``).

Roll-ups must hold every raw value of the month and class before any goes (their counts are compared), so a trend
over a destroyed month loses nothing. Values that raised an alarm stay: the alarm record points at them (its foreign key), and it is kept for its own
retention; the destruction counts them as kept. Roll-ups stay (trends over a destroyed month read them), and so
do the ingest records, whose SM3 still verifies the archive copy. ``ledger verify`` checks what each ingest has
left against its last :class:`DestroyedIngest` row (:func:`expected_ingests`), and these rows against their
destruction's ``ingests_sm3`` (:func:`check`): a value deleted by any other path is still named.

On PostgreSQL the application role has no right to delete raw values nor drop partitions: the execution is the
tables' owner's act (run as the application role it is refused, nothing changed).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Select, Table, delete, exists, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from pharmatrace.kernel import clock, crypto, ledger, workflow
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import (
    N_,
    Conflict,
    NotFound,
    NotPermitted,
    PharmaTraceError,
    SegregationOfDuties,
    ValidationFailed,
)
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.ledger import Problem
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import archive, partitions, rollups
from pharmatrace.monitoring.alarm_models import Alarm
from pharmatrace.monitoring.destruction_models import (
    DestroyedIngest,
    DestructionDecision,
    HistorianDestruction,
)
from pharmatrace.monitoring.destruction_schemas import DestructionPublic
from pharmatrace.monitoring.historian import digest_row, utc_text, values_sm3
from pharmatrace.monitoring.models import HistorianValue, Ingest, Tag
from pharmatrace.monitoring.rollup_models import PERIODS, RETENTION_YEARS, Rollup
from pharmatrace.monitoring.rollups import years_after
from pharmatrace.storage import bulk
from pharmatrace.storage.engine import Database

TYPE = HistorianDestruction.__audit_type__
DECISION_TYPE = DestructionDecision.__audit_type__
APPROVE_ACTION = "monitoring.destruction.approve"
REQUEST_PERMISSION = "equipment.manage"  # who maintains the historian's tags and their retention classes
APPROVE_PERMISSION = "qms.deviation.approve"  # QA
EVENT = "monitoring.destruction"
REFUSED_EVENT = "monitoring.destruction.refused"
NAME = "monitoring.destructions"  # the ledger's vouched check
METHOD = N_("database deletion after a verified archive copy")
METHOD_LABELS = {
    "rows_deleted": N_("Rows deleted after a verified archive copy"),
    "partition_dropped": N_("Month's partition detached and dropped after a verified archive copy"),
}
STATUS_LABELS = {
    "requested": N_("Requested"),
    "approved": N_("Approved"),
    "executing": N_("Being executed"),
    "executed": N_("Executed"),
    "cancelled": N_("Cancelled"),
}
STREAM = 10_000


class DestructionRefused(Conflict):
    code = "monitoring_destruction_refused"


# --- the lifecycle -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    record: HistorianDestruction
    principal: Principal


def month_label(record: HistorianDestruction) -> str:
    return f"{record.month:%Y-%m}"


def kept_until(month: datetime, retention_class: str) -> datetime:
    """The moment a month's raw values of ``retention_class`` may go: the month's end plus the class's years."""
    return years_after(partitions.next_month(partitions.month_of(month)), RETENTION_YEARS[retention_class])


def require_past_retention(month: datetime, retention_class: str) -> None:
    """TJ-10.1.6.3.b: only a month that has ended, and only once its values are past their retention."""
    now = clock.now()
    label = f"{month:%Y-%m}"
    if partitions.next_month(partitions.month_of(month)) > now:
        raise ValidationFailed(N_("{month} has not ended: its raw values are not destroyed"), month=label)
    until = kept_until(month, retention_class)
    if until > now:
        raise ValidationFailed(
            N_("The raw values of {month} of class {retention_class} are kept until {until}"),
            month=label, retention_class=retention_class, until=utc_text(until),
        )  # fmt: skip


def guard_past_retention(ctx: Context) -> None:
    require_past_retention(ctx.record.month, ctx.record.retention_class)


def guard_not_the_requester(ctx: Context) -> None:
    # TJ-10.1.6.3.a, SH-7.1.4: who asked for a destruction does not approve it
    if ctx.principal.login == ctx.record.requested_by:
        raise SegregationOfDuties(N_("Who requested a destruction may not approve it"))


Transition = workflow.Transition[Context]
# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("approve", ("requested",), "approved", (APPROVE_PERMISSION,),
                   (guard_not_the_requester, guard_past_retention), signed=APPROVE_ACTION),
        Transition("cancel", ("requested", "approved"), "cancelled", (REQUEST_PERMISSION, APPROVE_PERMISSION), ()),
    )
}
# fmt: on
MACHINE = workflow.Machine(TRANSITIONS, Context, workflow.state_refusal(DestructionRefused, STATUS_LABELS))
allowed = MACHINE.allowed


def get(session: Session, number: str) -> HistorianDestruction:
    found = session.scalar(
        select(HistorianDestruction).where(HistorianDestruction.number == number.strip().upper())
    )
    if found is None:
        raise NotFound(N_("No destruction {number}"), number=number)
    return found


def list_all(session: Session) -> list[HistorianDestruction]:
    return list(
        session.scalars(select(HistorianDestruction).order_by(HistorianDestruction.month.desc(),
                                                                HistorianDestruction.id.desc()))
    )  # fmt: skip


def _class_values(month: datetime, retention_class: str) -> Any:
    """The WHERE of a month's raw values whose tag is of ``retention_class``."""
    start, end = partitions.month_of(month), partitions.next_month(partitions.month_of(month))
    classed = select(Tag.id).where(Tag.retention_class == retention_class).scalar_subquery()
    return (HistorianValue.source_time >= start, HistorianValue.source_time < end,
            HistorianValue.tag_id.in_(classed))  # fmt: skip


def count_values(session: Session, month: datetime, retention_class: str) -> int:
    return int(
        session.scalar(select(func.count()).select_from(HistorianValue).where(*_class_values(month,
                                                                                              retention_class)))
        or 0
    )  # fmt: skip


def request(uow: UnitOfWork, principal: Principal, month: datetime, retention_class: str,
            reason: str) -> HistorianDestruction:  # fmt: skip
    """Ask for the destruction of a month's raw values of one retention class (TJ-10.1.6.3.a)."""
    principal.require(REQUEST_PERMISSION)
    if retention_class not in RETENTION_YEARS:
        raise ValidationFailed(
            N_("Unknown retention class {retention_class}"), retention_class=retention_class
        )
    why = uow.give_reason(reason)
    start = partitions.month_of(month)
    require_past_retention(start, retention_class)
    session = uow.session
    label = f"{start:%Y-%m}"
    taken = session.scalar(
        select(HistorianDestruction.number).where(HistorianDestruction.month == start,
                                                  HistorianDestruction.retention_class == retention_class,
                                                  HistorianDestruction.status != "cancelled")
    )  # fmt: skip
    if taken is not None:
        raise DestructionRefused(N_("{number} already covers {month} of class {retention_class}"), number=taken,
                                 month=label, retention_class=retention_class)  # fmt: skip
    if not count_values(session, start, retention_class):
        raise ValidationFailed(N_("No raw values of {month} of class {retention_class} to destroy"), month=label,
                               retention_class=retention_class)  # fmt: skip
    from pharmatrace.qms.numbering import next_number

    record = HistorianDestruction(
        number=next_number(session, "DS", lambda s, n: s.scalar(select(HistorianDestruction.id)
                                                                 .where(HistorianDestruction.number == n))),
        month=start, month_end=partitions.next_month(start), retention_class=retention_class, reason=why,
        status="requested", requested_at=clock.now(), requested_by=principal.login,
        requested_by_name=principal.full_name, approval_comment="",
    )  # fmt: skip
    uow.reason = f"destruction of the raw values of {label} ({retention_class}) requested: {why}"[:500]
    session.add(record)
    session.flush()
    return record


def application(record: HistorianDestruction) -> dict[str, str]:
    """What QA approves: the month, the class, the reason, who asked and when."""
    return {"number": record.number, "month": month_label(record), "retention_class": record.retention_class,
            "reason": record.reason, "requested_by": record.requested_by,
            "requested_at": utc_text(record.requested_at)}  # fmt: skip


def application_sm3(record: HistorianDestruction) -> str:
    return crypto.sm3(ledger.canonical(application(record))).hex()


def approve(uow: UnitOfWork, principal: Principal, number: str, *, password: str, login: str | None = None,
            comment: str = "") -> HistorianDestruction:  # fmt: skip
    """QA approves, signing a decision naming the application's SM3 (TJ-10.1.6.3.a); never the requester."""
    session = uow.session
    record = get(session, number)
    MACHINE.check(session, principal, record, "approve")
    esign.authenticate_signer(uow.db, principal, password, login)
    uow.reason = f"destruction {record.number} of {month_label(record)} ({record.retention_class}) approved"
    now = clock.now()
    record.status = "approved"
    record.approved_at = now
    record.approved_by = principal.login
    record.approved_by_name = principal.full_name
    record.approval_comment = comment.strip()[:500]
    session.flush()
    decision = DestructionDecision(
        destruction_id=record.id, kind="approve", content_sm3=application_sm3(record),
        comment=record.approval_comment, decided_at=now, decided_by=principal.login,
        decided_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=APPROVE_ACTION, password=password,
                              login=login, expire=(record, "decisions"))  # fmt: skip
    return record


def approval_signatures(session: Session, record: HistorianDestruction) -> list[esign.SignatureView]:
    """The approval's signatures with their state (valid, changed, invalid): on its decision rows, and any signed on
    the record itself before migration 0058."""
    on_decisions = [view for decision in record.decisions
                    for view in esign.manifestations(session, DECISION_TYPE, str(decision.id))]  # fmt: skip
    return on_decisions + esign.manifestations(session, TYPE, str(record.id))


def approval_signed(session: Session, record: HistorianDestruction) -> bool:
    """Whether a valid approval signature stands for the record as it is: on a decision naming the application's
    current SM3, or (approvals signed before migration 0058) on the record itself."""
    current = application_sm3(record)
    for decision in record.decisions:
        if (
            decision.kind == "approve"
            and decision.content_sm3 == current
            and any(
                s.action == APPROVE_ACTION and esign.verify(session, s) == "valid"
                for s in esign.signatures_for(session, DECISION_TYPE, str(decision.id))
            )
        ):
            return True
    return any(s.action == APPROVE_ACTION and esign.verify(session, s) == "valid"
               for s in esign.signatures_for(session, TYPE, str(record.id)))  # fmt: skip


def cancel(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> HistorianDestruction:
    """Withdraw a destruction not yet executed, with the reason; the month may be asked for again."""
    session = uow.session
    record = get(session, number)
    MACHINE.check(session, principal, record, "cancel")
    why = uow.give_reason(reason)
    record.status = "cancelled"
    record.cancelled_at = clock.now()
    record.cancelled_by = principal.login
    record.cancel_reason = why
    session.flush()
    return record


# --- what each ingest vouches for ----------------------------------------------------------------------------


def expected_ingests() -> Select[int, int, str]:
    """Each ingest's values as the ledger vouches for them now, ordered by ingest: its own count and SM3, or those
    its last destruction left (:class:`DestroyedIngest`)."""
    last = (
        select(DestroyedIngest.ingest_id, func.max(DestroyedIngest.id).label("last"))
        .group_by(DestroyedIngest.ingest_id)
        .subquery()
    )
    left = aliased(DestroyedIngest)
    return (
        select(
            Ingest.id,
            func.coalesce(left.kept, Ingest.stored),
            func.coalesce(left.kept_sm3, Ingest.values_sm3),
        )
        .outerjoin(last, last.c.ingest_id == Ingest.id)
        .outerjoin(left, left.id == last.c.last)
        .order_by(Ingest.id)
    )


def expected_of(session: Session, ingest_id: int) -> tuple[int, str] | None:
    """What one ingest vouches for now (count, SM3); ``None`` for no such ingest."""
    row = session.execute(expected_ingests().where(Ingest.id == ingest_id)).first()
    return None if row is None else (int(row[1]), str(row[2]))


def _line(row: Any) -> bytes:
    return ledger.canonical(list(row)) + b"\n"


def _line_digest(rows: Iterator[tuple[int, int, str, int, str]]) -> str:
    """SM3 over a destruction's per-ingest rows, one canonical line each, in ingest order (streamed)."""
    digest = hashlib.new("sm3")
    for row in rows:
        digest.update(_line(row))
    return digest.hexdigest()


def check(session: Session, problems: list[Problem]) -> int:
    """``ledger verify``: every executed destruction's per-ingest rows still hash to its ``ingests_sm3`` (which the
    ledger vouches for with the record), and no destruction is left ``executing``. Returns the rows read."""
    read = 0
    records = session.execute(
        select(HistorianDestruction.id, HistorianDestruction.number, HistorianDestruction.status,
               HistorianDestruction.ingests_sm3, HistorianDestruction.ingests_affected)
        .order_by(HistorianDestruction.id)
    ).all()  # fmt: skip
    for record_id, number, status, ingests_sm3, affected in records:
        rows = session.execute(
            select(DestroyedIngest.ingest_id, DestroyedIngest.destroyed, DestroyedIngest.destroyed_sm3,
                   DestroyedIngest.kept, DestroyedIngest.kept_sm3)
            .where(DestroyedIngest.destruction_id == record_id)
            .order_by(DestroyedIngest.ingest_id)
            .execution_options(yield_per=STREAM)
        )  # fmt: skip
        hashed, counted = hashlib.new("sm3"), 0
        for row in rows:
            hashed.update(_line(row))
            counted += 1
        digest = hashed.hexdigest()
        read += counted
        subject = f"{TYPE}:{record_id}"
        if status == "executing":
            problems.append(Problem("monitoring.destruction", subject, f"{number} is left being executed"))
        elif status != "executed" and counted:
            problems.append(Problem("monitoring.destruction", subject,
                                    f"{number} is {status} yet names {counted} destroyed ingest(s)"))  # fmt: skip
        elif status == "executed" and (digest != ingests_sm3 or counted != affected):
            problems.append(Problem("monitoring.destruction", subject,
                                    f"{number}: its {counted} destroyed-ingest row(s) no longer hash to its "
                                    "ingests_sm3"))  # fmt: skip
    return read


# --- execution -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Executed:
    number: str
    month: str
    retention_class: str
    method: str
    values_destroyed: int
    values_kept: int
    ingests_affected: int
    manifest_sm3: str


@dataclass(slots=True)
class _Tally:
    in_month: int = 0
    destroyed: int = 0
    kept_for_alarms: int = 0


def _file_groups(data: Path) -> Iterator[tuple[int, list[list[Any]]]]:
    with gzip.open(data, "rt", encoding="utf-8") as lines:
        parsed = (json.loads(line) for line in lines)
        for ingest_id, group in itertools.groupby(parsed, key=itemgetter(0)):
            yield ingest_id, [row[1:] for row in group]


def _verified_manifest(db: Database, record: HistorianDestruction, manifest_path: Path) -> dict[str, Any]:
    """The manifest of a sound archive copy of the record's month, made by this site; refused otherwise."""
    problems = archive.check(manifest_path)
    if problems:
        raise ValidationFailed(N_("The archive copy does not pass its check: {problems}"),
                               problems="; ".join(problems[:5]))  # fmt: skip
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    ours = crypto.fingerprint(ledger.site_key(db.state_dir).public_key)
    if manifest.get("site_key_fingerprint") != ours:
        raise ValidationFailed(N_("The archive copy was not signed with this site's key"))
    if manifest.get("month") != month_label(record):
        raise ValidationFailed(N_("The archive copy is of {found}, not of {month}"), found=str(manifest.get("month")),
                               month=month_label(record))  # fmt: skip
    return manifest


def _affected_rows(session: Session, record: HistorianDestruction) -> Any:
    """Every value of every ingest with a value in the month (all months of such ingests), by ingest and as stored:
    the tag's name and class, and whether an alarm was raised by it."""
    start, end = record.month, record.month_end
    touched = select(HistorianValue.ingest_id).where(
        HistorianValue.source_time >= start, HistorianValue.source_time < end
    )
    raised = exists().where(
        Alarm.tag_id == HistorianValue.tag_id, Alarm.raised_at == HistorianValue.source_time
    )
    return session.execute(
        select(HistorianValue.ingest_id, Tag.name, HistorianValue.source_time, HistorianValue.server_time,
               HistorianValue.value, HistorianValue.quality, HistorianValue.status_code, Tag.retention_class,
               raised)
        .join(Tag, Tag.id == HistorianValue.tag_id)
        .where(HistorianValue.ingest_id.in_(touched))
        .order_by(HistorianValue.ingest_id, HistorianValue.id)
        .execution_options(yield_per=STREAM)
    ), session.execute(
        expected_ingests().where(Ingest.id.in_(touched)).execution_options(yield_per=STREAM)
    )  # fmt: skip


def _compare(session: Session, record: HistorianDestruction, data: Path,
             tally: _Tally) -> Iterator[tuple[int, int, str, int, str]]:  # fmt: skip
    """Walk the month's ingests in the database and in the archive file together: each must still hash to what the
    ledger vouches for and the file must hold exactly its values of the month. Yields the per-ingest rows of what
    the destruction takes (ingest, destroyed, their SM3, kept, their SM3); raises at the first difference."""
    start, end = record.month, record.month_end
    values, expected = _affected_rows(session, record)
    copied = _file_groups(data)
    for ingest_id, vouched, rows in ledger.vouched_groups(expected, values):
        if vouched is None or not rows:
            raise ValidationFailed(N_("The values of ingest {ingest} no longer match what the ledger vouches for: "
                                      "run ledger verify"), ingest=str(ingest_id))  # fmt: skip
        digests = [digest_row(n, s, v, x, q, c) for _, n, s, v, x, q, c, _, _ in rows]
        if len(digests) != vouched[1] or values_sm3(digests) != vouched[2]:
            raise ValidationFailed(N_("The values of ingest {ingest} no longer match what the ledger vouches for: "
                                      "run ledger verify"), ingest=str(ingest_id))  # fmt: skip
        in_month = [i for i, row in enumerate(rows) if start <= row[2] < end]
        found = next(copied, None)
        if found is None or found[0] != ingest_id or found[1] != [digests[i] for i in in_month]:
            raise ValidationFailed(N_("The archive copy does not hold exactly the values of {month} still in the "
                                      "database (ingest {ingest} differs): take a new copy"),
                                   month=month_label(record), ingest=str(ingest_id))  # fmt: skip
        tally.in_month += len(in_month)
        ours = {i for i in in_month if rows[i][7] == record.retention_class}
        alarmed = {i for i in ours if rows[i][8]}
        tally.kept_for_alarms += len(alarmed)
        gone = ours - alarmed
        if gone:
            tally.destroyed += len(gone)
            taken = [digests[i] for i in sorted(gone)]
            left = [d for i, d in enumerate(digests) if i not in gone]
            yield ingest_id, len(taken), values_sm3(taken), len(left), values_sm3(left)
    extra = next(copied, None)
    if extra is not None:
        raise ValidationFailed(N_("The archive copy does not hold exactly the values of {month} still in the "
                                  "database (ingest {ingest} differs): take a new copy"),
                               month=month_label(record), ingest=str(extra[0]))  # fmt: skip


def _require_rolled_up(session: Session, record: HistorianDestruction) -> None:
    """Trends over a destroyed month read its roll-ups: every raw value of the month's tags of the class must be
    counted in its 1-minute and 1-hour buckets before the values go (a month's buckets lie within it)."""
    classed = select(Tag.id).where(Tag.retention_class == record.retention_class).scalar_subquery()
    raw = count_values(session, record.month, record.retention_class)
    for period in PERIODS:
        rolled = session.scalar(
            select(func.coalesce(func.sum(Rollup.value_count + Rollup.bad_count), 0))
            .where(Rollup.tag_id.in_(classed), Rollup.period == period, Rollup.bucket >= record.month,
                   Rollup.bucket < record.month_end)
        )  # fmt: skip
        if int(rolled or 0) != raw:
            raise ValidationFailed(
                N_("The {period} roll-ups of {month} count {rolled} values of class {retention_class}, the raw "
                   "values {raw}: trends would lose them; merge the roll-ups first"),
                period=period, month=month_label(record), rolled=str(rolled), retention_class=record.retention_class,
                raw=str(raw),
            )  # fmt: skip


def _destroy(session: Session, record: HistorianDestruction, tally: _Tally) -> str:
    """Delete the values (or drop the month's own partition when all of it goes); returns the method."""
    connection = session.connection()
    own = partitions.partition_name(record.month)
    if (
        connection.dialect.name == "postgresql"
        and tally.destroyed == tally.in_month
        and own in partitions.partitions(connection)
    ):
        held = connection.exec_driver_sql(f"SELECT count(*) FROM {own}").scalar_one()  # noqa: S608 - our name
        if held == tally.destroyed:
            connection.exec_driver_sql(f"ALTER TABLE {partitions.PARENT} DETACH PARTITION {own}")
            connection.exec_driver_sql(f"DROP TABLE {own}")
            return "partition_dropped"
    table: Table = HistorianValue.__table__  # type: ignore[assignment]
    raised = exists().where(Alarm.tag_id == table.c.tag_id, Alarm.raised_at == table.c.source_time)
    start, end = record.month, record.month_end
    classed = select(Tag.id).where(Tag.retention_class == record.retention_class).scalar_subquery()
    done = connection.execute(
        delete(table).where(table.c.source_time >= start, table.c.source_time < end, table.c.tag_id.in_(classed),
                            ~raised)
    )  # fmt: skip
    if done.rowcount != tally.destroyed:
        raise ValidationFailed(N_("{deleted} values would have been deleted, {expected} were checked: nothing "
                                  "was destroyed"), deleted=str(done.rowcount), expected=str(tally.destroyed))  # fmt: skip
    return "rows_deleted"


DESTROYED_COLUMNS = ("destruction_id", "ingest_id", "destroyed", "destroyed_sm3", "kept", "kept_sm3")


def execute(db: Database, number: str, manifest_path: Path, actor: Actor) -> Executed:
    """Destroy the raw values an approved destruction covers, against a verified archive copy of the month
    (TJ-10.1.6.3.b/c); see the module's notes. A refusal changes nothing and is recorded."""
    rollups.catch_up(db)  # the roll-ups, which outlive the raw values, first take every value still waiting
    with UnitOfWork(db, actor, reason=f"destruction {number.strip().upper()} executed") as uow:
        session = uow.session
        record = get(session, number)
        record_id, label = record.id, month_label(record)
        try:
            if record.status != "approved":
                raise DestructionRefused(N_("{number} is “{status}”: only an approved destruction is executed"),
                                         number=record.number, status=record.status)  # fmt: skip
            if not approval_signed(session, record):
                raise DestructionRefused(
                    N_("{number} carries no valid approval signature"), number=record.number
                )
            require_past_retention(record.month, record.retention_class)
            manifest = _verified_manifest(db, record, manifest_path)
            uow.reason = (f"destruction {record.number} of the raw values of {label} ({record.retention_class}) "
                          f"executed against the archive copy {manifest_path.name}")[:500]  # fmt: skip
            record.status = "executing"  # the raw values' DELETE guard lets this month and class through, now
            record.executed_at = clock.now()
            record.executed_by = actor.login
            record.manifest_sm3 = archive.file_sm3(manifest_path)
            record.manifest_file = manifest_path.name[:128]
            record.archive_file_sm3 = str(manifest["file_sm3"])
            record.values_in_copy = int(manifest["values"])
            session.flush()
            tally = _Tally()
            destroyed = list(_compare(session, record, manifest_path.parent / str(manifest["file"]), tally))
            if not destroyed:
                raise ValidationFailed(N_("No raw values of {month} of class {retention_class} are left to "
                                          "destroy"), month=label, retention_class=record.retention_class)  # fmt: skip
            _require_rolled_up(session, record)
            method = _destroy(session, record, tally)
            bulk.write_rows(session.connection(), DestroyedIngest.__tablename__, DESTROYED_COLUMNS,
                            [(record.id, *row) for row in destroyed])  # fmt: skip
            record.status = "executed"
            record.method = method
            record.values_destroyed = tally.destroyed
            record.values_kept = tally.kept_for_alarms
            record.ingests_affected = len(destroyed)
            record.ingests_sm3 = _line_digest(iter(destroyed))
            session.flush()
            uow.record(EVENT, TYPE, record.id, changes={
                "month": [None, label], "retention_class": [None, record.retention_class], "method": [None, method],
                "values_destroyed": [None, tally.destroyed], "values_kept": [None, tally.kept_for_alarms],
                "manifest_sm3": [None, record.manifest_sm3], "ingests_sm3": [None, record.ingests_sm3],
            })  # fmt: skip
            result = Executed(record.number, label, record.retention_class, method, tally.destroyed,
                              tally.kept_for_alarms, len(destroyed), record.manifest_sm3)  # fmt: skip
            uow.commit()
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != "42501":
                raise
            denied = NotPermitted(N_("On PostgreSQL raw values are destroyed by the tables' owner: run the command "
                                      "with the owner's connection"))  # fmt: skip
            uow.refuse(denied, REFUSED_EVENT, TYPE, record_id, changes={"month": [None, label]},
                       reason=f"{denied}: {str(error.orig).splitlines()[0]}"[:2000])  # fmt: skip
        except (PharmaTraceError, OSError, EOFError, ValueError, KeyError) as error:
            refusal = error if isinstance(error, PharmaTraceError) else ValidationFailed(
                N_("The archive copy cannot be read: {error}"), error=str(error))  # fmt: skip
            uow.refuse(refusal, REFUSED_EVENT, TYPE, record_id, changes={"month": [None, label]})
    return result


# --- what the tag page and the values API say about a destroyed range ---------------------------------------


def destroyed_for(session: Session, retention_class: str, start: datetime | None = None,
                  end: datetime | None = None) -> list[HistorianDestruction]:  # fmt: skip
    """The executed destructions of a class (whose month overlaps ``start … end``, when given)."""
    query = select(HistorianDestruction).where(HistorianDestruction.status == "executed",
                                               HistorianDestruction.retention_class == retention_class)  # fmt: skip
    if start is not None:
        query = query.where(HistorianDestruction.month_end > start)
    if end is not None:
        query = query.where(HistorianDestruction.month <= end)
    return list(session.scalars(query.order_by(HistorianDestruction.month)))


def destroyed_header(session: Session, retention_class: str, start: datetime, end: datetime) -> str | None:
    """``DS-2026-0001 (2024-03), …``: what the values API says when a range it read was destroyed (so the
    missing values are not taken for a gap); ``None`` when nothing in the range was."""
    found = destroyed_for(session, retention_class, start, end)
    return ", ".join(f"{d.number} ({month_label(d)})" for d in found) or None


def public(record: HistorianDestruction) -> DestructionPublic:
    return DestructionPublic(
        number=record.number, month=month_label(record), retention_class=record.retention_class,
        reason=record.reason, status=record.status, kept_until=kept_until(record.month, record.retention_class),
        requested_at=record.requested_at, requested_by=record.requested_by, approved_at=record.approved_at,
        approved_by=record.approved_by, approval_comment=record.approval_comment,
        cancelled_at=record.cancelled_at, cancelled_by=record.cancelled_by, cancel_reason=record.cancel_reason,
        executed_at=record.executed_at, executed_by=record.executed_by, method=record.method,
        manifest_sm3=record.manifest_sm3, manifest_file=record.manifest_file,
        archive_file_sm3=record.archive_file_sm3, values_in_copy=record.values_in_copy,
        values_destroyed=record.values_destroyed, values_kept=record.values_kept,
        ingests_affected=record.ingests_affected, ingests_sm3=record.ingests_sm3,
    )  # fmt: skip
