"""Reagents, reference standards, solutions and volumetric standard solutions: receipt, preparation,
standardization, issue and return, retest, invalidation, destruction, reminders and the usability check
the results helper asks before a reagent is recorded as used in a test (TJ-7.6, TJ-B.2.4.2).

Writes go through the unit of work and change nothing when refused. What holds for a container at a
moment (in use, expired, used up, destroyed, awaiting standardization) is derived from its dates, its
usage log and its standardizations (:func:`condition`), never stored as a status: a reagent is expired
the moment its expiry day has passed, without any job editing rows.

Volumetric standard solutions (滴定液) follow the Chinese Pharmacopoeia's general rule 8006: a first
analyst standardizes with at least three replicates (初标), a second person re-standardizes (复标); each
round's relative average deviation is at most 0.1 %, and so is the relative deviation between the two
means. The concentration is the mean of both means, rounded once to four significant figures by
GB/T 8170 (:func:`pharmatrace.kernel.numbers.round_gbt8170`); the F factor is computed from the unrounded
concentration and rounded once the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.equipment.schemas import ReasonPublic
from pharmatrace.equipment.service import Refusal
from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import plain_value
from pharmatrace.kernel.errors import (
    N_,
    Conflict,
    NotFound,
    Reasons,
    SegregationOfDuties,
    ValidationFailed,
)
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.models import User
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.numbers import plain_number, round_gbt8170
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims.reagent_models import (
    CODE_PREFIXES,
    PREPARED_KINDS,
    RECEIVED_KINDS,
    Reagent,
    ReagentLogEntry,
    SolutionComponent,
    Standardization,
)
from pharmatrace.lims.reagent_schemas import (
    ComponentPublic,
    DestructionCreate,
    InvalidationCreate,
    IssueCreate,
    LogEntryPublic,
    ReagentDetail,
    ReagentPublic,
    ReagentReceive,
    ReminderPublic,
    RetestCreate,
    ReturnCreate,
    SolutionPrepare,
    StandardizationCreate,
    StandardizationPublic,
    UsabilityPublic,
)

MANAGE = "lims.reagent.manage"
# Only the QC analyst holds MANAGE in the standard roles, so the re-standardization by a second person is
# signed by a QC reviewer (复标人), who holds the review permission.
VERIFY = "lims.result.review"
STANDARDIZE_ACTION = "lims.standardization.perform"
VERIFY_ACTION = "lims.standardization.verify"
SIGNED_TYPE = "lims_standardization"
USE_REFUSED_EVENT = "lims.reagent.use.refused"
STANDARDIZATION_REFUSED_EVENT = "lims.standardization.refused"
LABEL_PRINT_EVENT = "lims.reagent.label.print"

MAX_DEVIATION_PCT = Decimal("0.1")  # ChP 通则 8006: replicates and the two analysts' means
SIGNIFICANT_FIGURES = 4  # ChP 通则 8006: the concentration to four significant figures

KIND_LABELS = {
    "reagent": N_("Reagent"),
    "reference_standard": N_("Reference standard"),
    "solution": N_("Solution"),
    "volumetric_solution": N_("Volumetric standard solution"),
}
STATE_LABELS = {
    "in_use": N_("In use"),
    "awaiting_standardization": N_("Awaiting standardization"),
    "retest_due": N_("Retest due"),
    "expired": N_("Expired"),
    "used_up": N_("Used up"),
    "destroyed": N_("Destroyed"),
    "not_received": N_("Not yet received"),
}
LOG_LABELS = {
    "receipt": N_("Receipt"),
    "preparation": N_("Preparation"),
    "opening": N_("Opening"),
    "issue": N_("Issue"),
    "consumption": N_("Used in a preparation"),
    "return": N_("Return"),
    "retest": N_("Retest"),
    "invalidation": N_("Invalidation"),
    "destruction": N_("Destruction"),
}
ROLE_LABELS = {"primary": N_("Standardization"), "verification": N_("Re-standardization (second person)")}
DUE_LABELS = {"expiry": N_("Expiry"), "retest": N_("Retest")}

# The state a reason puts a container in, most decisive first.
_STATE_OF_REASON = (
    ("not_received", "not_received"),
    ("destroyed", "destroyed"),
    ("used_up", "used_up"),
    ("invalidated", "expired"),
    ("expired", "expired"),
    ("opened_too_long", "expired"),
    ("retest_due", "retest_due"),
    ("not_standardized", "awaiting_standardization"),
)
ZERO = Decimal(0)


# --- errors -------------------------------------------------------------------------------------------


class ReagentUnusable(Conflict):
    """A reagent, standard or solution that may not be used at that time (TJ-7.6): every reason named."""

    code = "reagent_unusable"

    def __init__(self, reagent: Reagent, reasons: Sequence[Refusal]) -> None:
        super().__init__(
            N_("Reagent {code} ({name}) may not be used: {reasons}"),
            code=reagent.code,
            name=reagent.name,
            reasons=Reasons(reasons),
        )
        self.reasons = tuple(reasons)


# --- what holds at a moment -----------------------------------------------------------------------------


def beijing_day(moment: datetime) -> date:
    return clock.to_beijing(moment).date()


def day_end(day: date) -> datetime:
    """The first instant after ``day`` in Beijing: a date is usable through its whole day."""
    return datetime.combine(day + timedelta(days=1), time(), clock.BEIJING).astimezone(UTC)


def today() -> date:
    return beijing_day(clock.now())


@dataclass(frozen=True, slots=True)
class Condition:
    """What holds for a container at ``at``: its state and every reason it may not be used."""

    at: datetime
    state: str
    reasons: tuple[Refusal, ...]
    use_by: datetime  # the first instant it is expired (expiry day passed, or the use period after opening)
    out: Decimal  # issued and not returned
    retest_date: date | None  # in force at ``at``
    verification: Standardization | None  # the accepted re-standardization, when there is one by ``at``

    @property
    def usable(self) -> bool:
        return not self.reasons

    @property
    def last_day(self) -> date:
        """The last day it may be used (Beijing), from :attr:`use_by`."""
        return beijing_day(self.use_by - timedelta(microseconds=1))


def use_by(reagent: Reagent) -> datetime:
    limit = day_end(reagent.expiry_date)
    if reagent.opened_at is not None and reagent.open_use_days is not None:
        limit = min(limit, reagent.opened_at + timedelta(days=reagent.open_use_days))
    return limit


def _open_issues(log: Sequence[ReagentLogEntry]) -> list[ReagentLogEntry]:
    returned = {e.issue_id for e in log if e.kind == "return"}
    return [e for e in log if e.kind == "issue" and e.id not in returned]


def _day(moment: datetime | None) -> str:
    return "" if moment is None else clock.to_beijing(moment).date().isoformat()


def condition(
    reagent: Reagent,
    at: datetime,
    log: Sequence[ReagentLogEntry],
    rounds: Sequence[Standardization] = (),
) -> Condition:
    """The container at ``at`` from its record, its usage log (oldest first) and its standardizations."""
    reasons: list[Refusal] = []
    open_issues = _open_issues(log)
    out = sum((e.quantity or ZERO for e in open_issues), ZERO)
    if at < reagent.created_at:
        reasons.append(Refusal("not_received", N_("It was not yet received or prepared at {at}"),
                               {"at": clock.format_beijing(at, seconds=False)}))  # fmt: skip
    if reagent.destroyed_at is not None and reagent.destroyed_at <= at:
        reasons.append(
            Refusal("destroyed", N_("It was destroyed on {day}"), {"day": _day(reagent.destroyed_at)})
        )
    elif reagent.remaining == ZERO and not open_issues:
        emptied = max(
            (e.performed_at for e in log if e.kind in ("issue", "consumption", "return")), default=None
        )
        if emptied is not None and emptied <= at:
            reasons.append(Refusal("used_up", N_("It is used up")))
    if reagent.invalidated_at is not None and reagent.invalidated_at <= at:
        why = next((e.reason for e in reversed(log) if e.kind == "invalidation"), "")
        reasons.append(Refusal("invalidated", N_("It was declared invalid on {day}: {reason}"),
                               {"day": _day(reagent.invalidated_at), "reason": why}))  # fmt: skip
    if at >= day_end(reagent.expiry_date):
        reasons.append(
            Refusal("expired", N_("It expired on {day}"), {"day": reagent.expiry_date.isoformat()})
        )
    elif (
        reagent.opened_at is not None
        and reagent.open_use_days is not None
        and reagent.opened_at <= at
        and at >= reagent.opened_at + timedelta(days=reagent.open_use_days)
    ):
        reasons.append(Refusal("opened_too_long", N_("It was opened on {day} and may be used for {days} days after opening"),
                               {"day": _day(reagent.opened_at), "days": str(reagent.open_use_days)}))  # fmt: skip
    retest = _retest_date_at(log, at)
    if retest is not None and at >= day_end(retest):
        reasons.append(Refusal("retest_due", N_("Its retest was due on {day}"), {"day": retest.isoformat()}))
    verification = next(
        (r for r in sorted(rounds, key=lambda r: r.id, reverse=True)
         if r.role == "verification" and r.accepted and r.performed_at <= at),
        None,
    )  # fmt: skip
    if reagent.kind == "volumetric_solution" and verification is None:
        reasons.append(
            Refusal("not_standardized", N_("It is not standardized and verified by a second person"))
        )
    codes = {r.code for r in reasons}
    state = next((state for code, state in _STATE_OF_REASON if code in codes), "in_use")
    return Condition(at, state, tuple(reasons), use_by(reagent), out, retest, verification)


def _retest_date_at(log: Sequence[ReagentLogEntry], at: datetime) -> date | None:
    """The retest date in force at ``at``: the latest retest's by then, else the receipt's."""
    retest: date | None = None
    for entry in log:
        if entry.kind == "receipt" or (entry.kind == "retest" and entry.performed_at <= at):
            retest = entry.retest_date
    return retest


# --- reading -------------------------------------------------------------------------------------------


def clean_code(code: str) -> str:
    return "".join(ch for ch in code if ch.isprintable()).strip().upper()


def find(session: Session, code: str) -> Reagent:
    wanted = clean_code(code)
    reagent = session.scalar(select(Reagent).where(Reagent.code == wanted))
    if reagent is None:
        raise NotFound(N_("No reagent, standard or solution with the code “{code}”"), code=wanted)
    return reagent


def log_of(session: Session, reagent_id: int) -> list[ReagentLogEntry]:
    query = select(ReagentLogEntry).where(ReagentLogEntry.reagent_id == reagent_id)
    return list(session.scalars(query.order_by(ReagentLogEntry.performed_at, ReagentLogEntry.id)))


def rounds_of(session: Session, solution_id: int) -> list[Standardization]:
    query = select(Standardization).where(Standardization.solution_id == solution_id)
    return list(session.scalars(query.order_by(Standardization.id)))


def condition_of(session: Session, reagent: Reagent, at: datetime | None = None) -> Condition:
    return condition(reagent, at or clock.now(), log_of(session, reagent.id), rounds_of(session, reagent.id))


def require_usable(session: Session, code: str, at: datetime) -> Reagent:
    """The container ``code`` if it may be used at ``at``; else :class:`ReagentUnusable` naming the code and
    every reason (expired, opened too long, retest due, not standardized, destroyed, used up, invalid).
    For the results helper: a test records only reagents usable when it was done (TJ-7.6, TJ-7.7)."""
    reagent = find(session, code)
    found = condition_of(session, reagent, at)
    if not found.usable:
        raise ReagentUnusable(reagent, found.reasons)
    return reagent


def _conditions(session: Session, reagents: Sequence[Reagent], at: datetime) -> list[Condition]:
    ids = [r.id for r in reagents]
    logs: dict[int, list[ReagentLogEntry]] = {i: [] for i in ids}
    rounds: dict[int, list[Standardization]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        entries = session.scalars(
            select(ReagentLogEntry)
            .where(ReagentLogEntry.reagent_id.in_(chunk))
            .order_by(ReagentLogEntry.performed_at, ReagentLogEntry.id)
        )
        for entry in entries:
            logs[entry.reagent_id].append(entry)
        for row in session.scalars(select(Standardization).where(Standardization.solution_id.in_(chunk))):
            rounds[row.solution_id].append(row)
    return [condition(r, at, logs[r.id], rounds[r.id]) for r in reagents]


def list_reagents(
    session: Session,
    *,
    kind: str = "",
    prepared: bool | None = None,
    state: str = "",
    text: str = "",
    expiring_days: int | None = None,
    at: datetime | None = None,
) -> list[tuple[Reagent, Condition]]:
    """The inventory with each container's condition now; filtered by kind, state, a code or name, and
    "expiring within N days" (still usable, its use-by or retest within the window)."""
    moment = at or clock.now()
    query = select(Reagent).order_by(Reagent.kind, Reagent.name, Reagent.code)
    if kind:
        query = query.where(Reagent.kind == kind)
    if prepared is not None:
        kinds = PREPARED_KINDS if prepared else RECEIVED_KINDS
        query = query.where(Reagent.kind.in_(kinds))
    if text.strip():
        wanted = text.strip()
        query = query.where(Reagent.code.like(f"%{clean_code(wanted)}%") | Reagent.name.like(f"%{wanted}%")
                            | Reagent.lot_no.like(f"%{wanted}%"))  # fmt: skip
    reagents = list(session.scalars(query))
    rows = list(zip(reagents, _conditions(session, reagents, moment), strict=True))
    if state:
        rows = [(r, c) for r, c in rows if c.state == state]
    if expiring_days is not None:
        horizon = moment + timedelta(days=expiring_days)
        rows = [(r, c) for r, c in rows if c.usable and _next_due(c, horizon) is not None]
    return rows


def _next_due(found: Condition, horizon: datetime) -> tuple[str, datetime] | None:
    dues = [("expiry", found.use_by)]
    if found.retest_date is not None:
        dues.append(("retest", day_end(found.retest_date)))
    soon = [(what, when) for what, when in dues if when <= horizon]
    return min(soon, key=lambda d: d[1]) if soon else None


def reminders(session: Session, days: int = 30, at: datetime | None = None) -> list[ReminderPublic]:
    """Expiry and retest reminders (TJ-7.6): every container still in the inventory (not destroyed or used
    up) whose use-by or retest falls within ``days``, or has already passed, soonest first."""
    moment = at or clock.now()
    horizon = moment + timedelta(days=days)
    out: list[ReminderPublic] = []
    for reagent, found in list_reagents(session, at=moment):
        if found.state in ("destroyed", "used_up", "not_received"):
            continue
        due = _next_due(found, horizon)
        if due is None:
            continue
        what, when = due
        last_day = beijing_day(when - timedelta(microseconds=1))  # a due instant is the day after
        out.append(ReminderPublic(
            code=reagent.code, name=reagent.name, kind=reagent.kind, lot_no=reagent.lot_no,
            location=reagent.location, due=what, due_on=last_day,
            days_left=(last_day - beijing_day(moment)).days, state=found.state,
        ))  # fmt: skip
    return sorted(out, key=lambda r: (r.due_on, r.code))


# --- writing: receipt and preparation ---------------------------------------------------------------------


def _next_code(session: Session, kind: str, at: datetime) -> str:
    prefix = f"{CODE_PREFIXES[kind]}-{clock.to_beijing(at).strftime('%y%m%d')}-"
    taken = session.scalars(select(Reagent.code).where(Reagent.code.like(f"{prefix}%")))
    numbers = [int(code[len(prefix) :]) for code in taken if code[len(prefix) :].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:03d}"


def _moment(at: datetime | None, now: datetime) -> datetime:
    if at is None:
        return now
    if at > now:
        raise ValidationFailed(N_("An activity cannot be recorded in the future"))
    return at


def _entry(uow: UnitOfWork, reagent: Reagent, kind: str, at: datetime, **values: object) -> ReagentLogEntry:
    entry = ReagentLogEntry(reagent_id=reagent.id, kind=kind, remaining_after=reagent.remaining, performed_at=at,
                            performed_by=uow.actor.login, performed_by_name=uow.actor.full_name,
                            **values)  # fmt: skip
    uow.session.add(entry)
    return entry


def receive(uow: UnitOfWork, data: ReagentReceive, *, at: datetime | None = None) -> list[Reagent]:
    """Receive ``data.containers`` containers of one lot (入库): each gets its code, label and usage log.

    ``at`` imports an existing paper record (the demo seed); the API and the pages never pass it, so a
    receipt happens at the server's time. An expired lot or a passed retest date is refused.
    """
    moment = _moment(at, clock.now())
    if day_end(data.expiry_date) <= moment:
        raise Conflict(N_("The lot expired on {day}: it is not received"), day=data.expiry_date.isoformat())
    if data.retest_date is not None and day_end(data.retest_date) <= moment:
        raise Conflict(N_("The retest date {day} has passed: retest the lot before it is received"),
                       day=data.retest_date.isoformat())  # fmt: skip
    values = data.model_dump(exclude={"containers"})
    made: list[Reagent] = []
    for _ in range(data.containers):
        reagent = Reagent(**values, code=_next_code(uow.session, data.kind, moment), remaining=data.quantity,
                          created_at=moment, created_by=uow.actor.login,
                          created_by_name=uow.actor.full_name)  # fmt: skip
        uow.session.add(reagent)
        uow.session.flush()
        _entry(uow, reagent, "receipt", moment, quantity=data.quantity, retest_date=data.retest_date,
               reference=data.lot_no)  # fmt: skip
        made.append(reagent)
    uow.session.flush()
    return made


def _refuse_unless_usable(uow: UnitOfWork, reagent: Reagent, at: datetime, *, action: str) -> Condition:
    """Refused with every reason, recorded on the container as ``lims.reagent.use.refused``; nothing else
    changed (TJ-7.6, SH-7.1.3.a)."""
    found = condition_of(uow.session, reagent, at)
    if not found.usable:
        uow.refuse(
            ReagentUnusable(reagent, found.reasons), USE_REFUSED_EVENT, "lims_reagent", reagent.id,
            changes={"action": [None, action], "at": [None, plain_value(at)],
                     "refusals": [None, [r.code for r in found.reasons]],
                     "reasons": [None, [r.english() for r in found.reasons]]},
        )  # fmt: skip
    return found


def _locked(uow: UnitOfWork, code: str) -> Reagent:
    """The container, locked for this transaction on PostgreSQL (two issues cannot both take the last mL)."""
    wanted = clean_code(code)
    query = select(Reagent).where(Reagent.code == wanted).with_for_update()
    locked = uow.session.scalar(query.execution_options(populate_existing=True))  # re-read under the lock
    if locked is None:
        raise NotFound(N_("No reagent, standard or solution with the code “{code}”"), code=wanted)
    return locked


def _take(
    uow: UnitOfWork, reagent: Reagent, quantity: Decimal, unit: str, at: datetime, kind: str, purpose: str
) -> ReagentLogEntry:
    if unit != reagent.unit:
        raise ValidationFailed(N_("{code} is kept in {unit}: give the quantity in {unit}"),
                               code=reagent.code, unit=reagent.unit)  # fmt: skip
    if quantity > reagent.remaining:
        raise Conflict(N_("Only {remaining} {unit} are left in {code}"), remaining=reagent.remaining,
                       unit=reagent.unit, code=reagent.code)  # fmt: skip
    if reagent.opened_at is None and reagent.kind in RECEIVED_KINDS:
        reagent.opened_at = at  # opened by its first use; the use period after opening starts now
        _entry(uow, reagent, "opening", at)
    reagent.remaining = reagent.remaining - quantity
    return _entry(uow, reagent, kind, at, quantity=quantity, purpose=purpose)


def _solution_expiry(prepared: date, validity_days: int, sources: Iterable[Reagent]) -> date:
    """A solution expires after its validity, and never after anything it is made from."""
    expiry = prepared + timedelta(days=validity_days)
    for source in sources:
        expiry = min(expiry, beijing_day(use_by(source) - timedelta(microseconds=1)))
    return expiry


def prepare_solution(uow: UnitOfWork, data: SolutionPrepare, *, at: datetime | None = None) -> Reagent:
    """Record a prepared solution (配制): its components are taken from their containers, each of which
    must be usable then; the expiry is computed from the validity period and the components' own."""
    moment = _moment(at, clock.now())
    uow.reason = uow.reason or f"solution prepared: {data.name}"
    sources = [_locked(uow, component.code) for component in data.components]
    for source in sources:
        _refuse_unless_usable(uow, source, moment, action="preparation")
    code = _next_code(uow.session, data.kind, moment)
    expiry = _solution_expiry(beijing_day(moment), data.validity_days, sources)
    if day_end(expiry) <= moment:
        raise Conflict(N_("The solution would expire at once: a component's use period ends today"))
    solution = Reagent(
        code=code, kind=data.kind, name=data.name, lot_no=code, quantity=data.quantity, unit=data.unit,
        remaining=data.quantity, expiry_date=expiry, storage_condition=data.storage_condition,
        location=data.location, concentration=data.concentration, concentration_unit=data.concentration_unit,
        validity_days=data.validity_days, method=data.method, manufacturer="", created_at=moment,
        created_by=uow.actor.login, created_by_name=uow.actor.full_name,
    )  # fmt: skip
    uow.session.add(solution)
    uow.session.flush()
    _entry(uow, solution, "preparation", moment, quantity=data.quantity, reference=data.method[:128])
    for component, source in zip(data.components, sources, strict=True):
        _take(
            uow,
            source,
            component.quantity,
            component.unit,
            moment,
            "consumption",
            f"{solution.code} {data.name}"[:200],
        )
        uow.session.add(SolutionComponent(solution_id=solution.id, source_id=source.id,
                                          quantity=component.quantity, unit=component.unit))  # fmt: skip
    uow.session.flush()
    return solution


# --- writing: issue, return, retest, invalidation, destruction --------------------------------------------


def issue(uow: UnitOfWork, code: str, data: IssueCreate, *, at: datetime | None = None) -> ReagentLogEntry:
    """Issue (领用) a quantity for a test, a sample or a preparation. A container that may not be used now
    (expired, opened too long, retest due, not standardized, destroyed, used up) is refused and the
    refusal recorded (TJ-7.6)."""
    moment = _moment(at, clock.now())
    reagent = _locked(uow, code)
    uow.reason = uow.reason or f"issued: {data.purpose}"
    _refuse_unless_usable(uow, reagent, moment, action="issue")
    entry = _take(uow, reagent, data.quantity, reagent.unit, moment, "issue", data.purpose)
    uow.session.flush()
    return entry


def record_return(
    uow: UnitOfWork, code: str, data: ReturnCreate, *, at: datetime | None = None
) -> ReagentLogEntry:
    """Return (归还) what is left of an issue; what was not returned was used."""
    moment = _moment(at, clock.now())
    reagent = _locked(uow, code)
    issued = uow.session.get(ReagentLogEntry, data.issue_id)
    if issued is None or issued.reagent_id != reagent.id or issued.kind != "issue":
        raise NotFound(N_("{code} has no issue {id}"), code=reagent.code, id=data.issue_id)
    if (
        uow.session.scalar(select(ReagentLogEntry.id).where(ReagentLogEntry.issue_id == issued.id))
        is not None
    ):
        raise Conflict(N_("Issue {id} of {code} has been returned already"), id=issued.id, code=reagent.code)
    assert issued.quantity is not None
    if data.quantity > issued.quantity:
        raise Conflict(N_("More cannot come back than was issued ({quantity} {unit})"),
                       quantity=issued.quantity, unit=reagent.unit)  # fmt: skip
    uow.reason = uow.reason or f"returned after: {issued.purpose}"
    reagent.remaining = reagent.remaining + data.quantity
    if moment < issued.performed_at:
        raise ValidationFailed(N_("A return cannot be recorded before its issue"))
    entry = _entry(uow, reagent, "return", moment, quantity=data.quantity, issue_id=issued.id,
                   purpose=issued.purpose)  # fmt: skip
    uow.session.flush()
    return entry


def _in_inventory(reagent: Reagent) -> None:
    if reagent.destroyed_at is not None:
        raise Conflict(N_("{code} has been destroyed"), code=reagent.code)


def record_retest(uow: UnitOfWork, code: str, data: RetestCreate) -> ReagentLogEntry:
    """A passed retest (复验) moves the retest date; a failed one is an invalidation."""
    reagent = _locked(uow, code)
    _in_inventory(reagent)
    if reagent.kind not in RECEIVED_KINDS:
        raise Conflict(N_("Only received reagents and reference standards are retested"))
    if data.retest_date <= today():
        raise ValidationFailed(N_("The next retest date must lie in the future"))
    if data.retest_date > reagent.expiry_date:
        raise ValidationFailed(N_("The retest date cannot be after the expiry date"))
    uow.reason = uow.reason or f"retest passed: {data.reference}"
    reagent.retest_date = data.retest_date
    entry = _entry(
        uow, reagent, "retest", clock.now(), retest_date=data.retest_date, reference=data.reference
    )
    uow.session.flush()
    return entry


def invalidate(uow: UnitOfWork, code: str, data: InvalidationCreate) -> ReagentLogEntry:
    """Declare the container no longer usable (失效), with the reason."""
    reagent = _locked(uow, code)
    _in_inventory(reagent)
    if reagent.invalidated_at is not None:
        raise Conflict(N_("{code} has been declared invalid already"), code=reagent.code)
    uow.reason = data.reason
    now = clock.now()
    reagent.invalidated_at = now
    entry = _entry(uow, reagent, "invalidation", now, reason=data.reason)
    uow.session.flush()
    return entry


def destroy(uow: UnitOfWork, code: str, data: DestructionCreate) -> ReagentLogEntry:
    """Destroy (销毁) what is left, witnessed by another active user; every issue must be returned first."""
    reagent = _locked(uow, code)
    _in_inventory(reagent)
    session = uow.session
    if _open_issues(log_of(session, reagent.id)):
        raise Conflict(N_("{code} is still issued: record the return first"), code=reagent.code)
    if reagent.remaining == ZERO:
        raise Conflict(N_("Nothing is left in {code} to destroy"), code=reagent.code)
    witness = session.scalar(select(User).where(User.login == data.witness))
    if witness is None or not witness.active:
        raise ValidationFailed(N_("No active user “{login}”"), login=data.witness)
    if witness.login == uow.actor.login:
        raise ValidationFailed(N_("The witness of a destruction is another person"))
    uow.reason = data.reason
    now = clock.now()
    destroyed = reagent.remaining
    reagent.remaining = ZERO
    reagent.destroyed_at = now
    entry = _entry(uow, reagent, "destruction", now, quantity=destroyed, reason=data.reason,
                   witness=witness.login, witness_name=witness.full_name)  # fmt: skip
    session.flush()
    return entry


# --- standardization of volumetric solutions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundFigures:
    mean: Decimal  # unrounded
    relative_deviation_pct: Decimal  # 相对平均偏差, unrounded

    @property
    def within_limit(self) -> bool:
        return self.relative_deviation_pct <= MAX_DEVIATION_PCT


def round_figures(results: Sequence[Decimal]) -> RoundFigures:
    """The mean and the relative average deviation (mean |xᵢ − x̄| / x̄ × 100 %) of replicate results."""
    values = [Decimal(v) for v in results]
    mean = sum(values, ZERO) / len(values)
    deviation = sum((abs(v - mean) for v in values), ZERO) / len(values)
    return RoundFigures(mean, deviation / mean * 100)


def between_deviation_pct(first: Decimal, second: Decimal) -> Decimal:
    """The relative deviation of two analysts' means: |m₁ − m₂| / ((m₁ + m₂) / 2) × 100 %."""
    return abs(first - second) / ((first + second) / 2) * 100


def significant(value: Decimal, figures: int = SIGNIFICANT_FIGURES) -> Decimal:
    """``value`` rounded once to ``figures`` significant figures by GB/T 8170 (0.10025 → 0.1002)."""
    quantum = Decimal(1).scaleb(value.adjusted() - figures + 1)
    rounded = round_gbt8170(value, quantum)
    if rounded.adjusted() > value.adjusted():  # 0.099996 → 0.10000: one figure too many
        rounded = round_gbt8170(rounded, Decimal(1).scaleb(rounded.adjusted() - figures + 1))
    return rounded


def _figures(results: Sequence[str]) -> RoundFigures:
    return round_figures([Decimal(v) for v in results])


def _standardizable(uow: UnitOfWork, code: str, at: datetime) -> tuple[Reagent, list[Standardization]]:
    solution = _locked(uow, code)
    if solution.kind != "volumetric_solution":
        raise Conflict(N_("{code} is not a volumetric standard solution"), code=solution.code)
    rounds = rounds_of(uow.session, solution.id)
    found = condition(solution, at, log_of(uow.session, solution.id), rounds)
    if found.verification is not None:
        raise Conflict(N_("{code} is standardized and verified already"), code=solution.code)
    others = [r for r in found.reasons if r.code != "not_standardized"]
    if others:
        raise ReagentUnusable(solution, others)
    return solution, rounds


def _primary_standard(uow: UnitOfWork, code: str | None, at: datetime) -> int | None:
    if code is None:
        return None
    standard = find(uow.session, code)
    if standard.kind not in RECEIVED_KINDS:
        raise ValidationFailed(
            N_("{code} is not a received reagent or reference standard"), code=standard.code
        )
    _refuse_unless_usable(uow, standard, at, action="standardization")
    return standard.id


def standardize(
    uow: UnitOfWork, principal: Principal, code: str, data: StandardizationCreate
) -> Standardization:
    """The first analyst's round of replicate standardizations (初标), signed "performed"."""
    principal.require(MANAGE)
    now = clock.now()
    solution, _rounds = _standardizable(uow, code, now)
    standard_id = _primary_standard(uow, data.standard_code, now)
    esign.authenticate_signer(uow.db, principal, data.password, data.login)  # before anything changes
    results = [format(v, "f") for v in data.results]  # as entered: trailing zeros are data
    figures = _figures(results)
    uow.reason = uow.reason or f"standardization of {solution.code}"
    row = Standardization(
        solution_id=solution.id, role="primary", results=results, mean=figures.mean,
        relative_deviation_pct=figures.relative_deviation_pct, accepted=figures.within_limit,
        standard_id=standard_id, method=data.method, performed_at=now, performed_by=principal.login,
        performed_by_name=principal.actor.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, row, action_code=STANDARDIZE_ACTION, password=data.password,
                              login=data.login)  # fmt: skip
    return row


def verify_standardization(
    uow: UnitOfWork, principal: Principal, code: str, data: StandardizationCreate
) -> Standardization:
    """The second person's re-standardization (复标), signed "verified": never by the first analyst. Accepted,
    it gives the concentration (mean of both means) and the F factor, each rounded once by GB/T 8170."""
    principal.require(VERIFY)
    now = clock.now()
    solution, rounds = _standardizable(uow, code, now)
    primary = next((r for r in reversed(rounds) if r.role == "primary" and r.accepted), None)
    if primary is None:
        raise Conflict(N_("{code} has no accepted standardization to verify"), code=solution.code)
    if primary.performed_by == principal.login:
        uow.refuse(
            SegregationOfDuties(N_("The analyst who standardized {code} cannot also verify it"), code=solution.code),
            STANDARDIZATION_REFUSED_EVENT, "lims_reagent", solution.id,
            changes={"primary": [None, primary.id], "verifier": [None, principal.login]},
        )  # fmt: skip
    standard_id = _primary_standard(uow, data.standard_code, now)
    esign.authenticate_signer(uow.db, principal, data.password, data.login)  # before anything changes
    results = [format(v, "f") for v in data.results]  # as entered: trailing zeros are data
    figures = _figures(results)
    first = _figures(primary.results)
    between = between_deviation_pct(first.mean, figures.mean)
    accepted = figures.within_limit and between <= MAX_DEVIATION_PCT
    concentration = f_factor = None
    if accepted:
        assert solution.concentration is not None
        unrounded = (first.mean + figures.mean) / 2
        concentration = significant(unrounded)
        f_factor = significant(unrounded / solution.concentration)
    uow.reason = uow.reason or f"re-standardization of {solution.code}"
    row = Standardization(
        solution_id=solution.id, role="verification", primary_id=primary.id, results=results, mean=figures.mean,
        relative_deviation_pct=figures.relative_deviation_pct, between_deviation_pct=between,
        accepted=accepted, concentration=concentration, f_factor=f_factor, standard_id=standard_id,
        method=data.method, performed_at=now, performed_by=principal.login,
        performed_by_name=principal.actor.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, row, action_code=VERIFY_ACTION, password=data.password,
                              login=data.login)  # fmt: skip
    return row


# --- labels --------------------------------------------------------------------------------------------


def label_of(session: Session, reagent: Reagent) -> object:
    """The container's label (TJ-7.6): name, grade, lot, code, dates, storage; a solution's concentration."""
    from pharmatrace.codes import labels
    from pharmatrace.web.i18n import gettext as _

    found = condition_of(session, reagent)
    fields: list[tuple[str, str]] = []
    if reagent.prepared:
        fields.append(
            (_(N_("Concentration")), f"{plain_number(reagent.concentration)} {reagent.concentration_unit}")
        )
        if found.verification is not None:
            fields.append((_(N_("Standardized")), f"{plain_number(found.verification.concentration)} "
                           f"{reagent.concentration_unit} · F = {plain_number(found.verification.f_factor)}"))  # fmt: skip
        elif reagent.kind == "volumetric_solution":
            fields.append((_(N_("Standardized")), _(N_("not yet"))))
        fields.append((_(N_("Prepared")), f"{_day(reagent.created_at)} · {reagent.created_by_name}"))
    else:
        fields.append((_(N_("Grade")), reagent.grade or "—"))
        fields.append((_(N_("Lot")), reagent.lot_no))
        if reagent.kind == "reference_standard":
            fields.append((_(N_("Source")), reagent.source))
            if reagent.content_pct is not None:
                fields.append(
                    (_(N_("Content")), f"{plain_number(reagent.content_pct)}% {reagent.content_basis}")
                )
        fields.append((_(N_("Received")), _day(reagent.created_at)))
        if reagent.retest_date is not None:
            fields.append((_(N_("Retest date")), reagent.retest_date.isoformat()))
    fields.append((_(N_("Expiry date")), reagent.expiry_date.isoformat()))
    if reagent.open_use_days is not None:
        opened = _day(reagent.opened_at) or "____-__-__"
        fields.append((_(N_("Opened")), opened))
    fields.append((_(N_("Storage")), reagent.storage_condition))
    footer = ""
    if reagent.open_use_days is not None:
        footer = _(N_("Use within {days} days after opening")).format(days=reagent.open_use_days)
    return labels.Label(title=f"{reagent.name} {reagent.grade}".strip(), fields=fields, code=reagent.code,
                        footer=footer)  # fmt: skip


def print_label(uow: UnitOfWork, reagent: Reagent, fmt: str) -> bytes:
    """The label as PDF or ZPL; the print is recorded in the audit trail."""
    from pharmatrace.codes import labels

    label = label_of(uow.session, reagent)
    assert isinstance(label, labels.Label)
    data = labels.render_pdf([label]) if fmt == "pdf" else labels.render_zpl([label]).encode()
    uow.record(LABEL_PRINT_EVENT, "lims_reagent", reagent.id, changes={"format": [None, fmt]})
    return data


# --- output --------------------------------------------------------------------------------------------


def reasons_public(reasons: Iterable[Refusal], translate: Callable[..., str]) -> list[ReasonPublic]:
    return [ReasonPublic(code=r.code, message=translate(r.message, **r.params)) for r in reasons]


def reagent_public(reagent: Reagent, found: Condition) -> ReagentPublic:
    verification = found.verification
    return ReagentPublic(
        id=reagent.id, code=reagent.code, kind=reagent.kind, name=reagent.name, grade=reagent.grade,
        cas_no=reagent.cas_no, manufacturer=reagent.manufacturer, lot_no=reagent.lot_no,
        quantity=plain_number(reagent.quantity) or "0", remaining=plain_number(reagent.remaining) or "0",
        out=plain_number(found.out) or "0", unit=reagent.unit, expiry_date=reagent.expiry_date,
        retest_date=reagent.retest_date, use_by=found.use_by, storage_condition=reagent.storage_condition,
        location=reagent.location, source=reagent.source, content_pct=plain_number(reagent.content_pct),
        content_basis=reagent.content_basis, use_conditions=reagent.use_conditions,
        open_use_days=reagent.open_use_days, opened_at=reagent.opened_at,
        concentration=plain_number(reagent.concentration), concentration_unit=reagent.concentration_unit,
        validity_days=reagent.validity_days, method=reagent.method,
        standardized_concentration=plain_number(verification.concentration) if verification else None,
        f_factor=plain_number(verification.f_factor) if verification else None,
        state=found.state, usable=found.usable, invalidated_at=reagent.invalidated_at,
        destroyed_at=reagent.destroyed_at, created_at=reagent.created_at, created_by=reagent.created_by,
        created_by_name=reagent.created_by_name,
    )  # fmt: skip


def usability_public(reagent: Reagent, found: Condition, translate: Callable[..., str]) -> UsabilityPublic:
    return UsabilityPublic(code=reagent.code, at=found.at, usable=found.usable, state=found.state,
                           reasons=reasons_public(found.reasons, translate))  # fmt: skip


def log_entry_public(entry: ReagentLogEntry, returned: set[int] | None = None) -> LogEntryPublic:
    return LogEntryPublic(
        id=entry.id, kind=entry.kind, quantity=plain_number(entry.quantity),
        remaining_after=plain_number(entry.remaining_after) or "0", issue_id=entry.issue_id,
        returned=(entry.id in (returned or set())) if entry.kind == "issue" else None, purpose=entry.purpose,
        reason=entry.reason, retest_date=entry.retest_date, reference=entry.reference, witness=entry.witness,
        witness_name=entry.witness_name, performed_at=entry.performed_at, performed_by=entry.performed_by,
        performed_by_name=entry.performed_by_name,
    )  # fmt: skip


def standardization_public(row: Standardization, codes: dict[int, str]) -> StandardizationPublic:
    return StandardizationPublic(
        id=row.id, role=row.role, primary_id=row.primary_id, results=list(row.results),
        mean=plain_number(row.mean) or "0", relative_deviation_pct=plain_number(row.relative_deviation_pct) or "0",
        between_deviation_pct=plain_number(row.between_deviation_pct), accepted=row.accepted,
        concentration=plain_number(row.concentration), f_factor=plain_number(row.f_factor),
        standard_code=codes.get(row.standard_id) if row.standard_id else None, method=row.method,
        performed_at=row.performed_at, performed_by=row.performed_by, performed_by_name=row.performed_by_name,
    )  # fmt: skip


def detail(
    session: Session, reagent: Reagent, translate: Callable[..., str], at: datetime | None = None
) -> ReagentDetail:
    log = log_of(session, reagent.id)
    rounds = rounds_of(session, reagent.id)
    found = condition(reagent, at or clock.now(), log, rounds)
    returned = {e.issue_id for e in log if e.kind == "return" and e.issue_id is not None}
    components = session.execute(
        select(SolutionComponent, Reagent)
        .join(Reagent, Reagent.id == SolutionComponent.source_id)
        .where(SolutionComponent.solution_id == reagent.id)
        .order_by(SolutionComponent.id)
    ).all()
    used_in = session.scalars(
        select(Reagent.code)
        .join(SolutionComponent, SolutionComponent.solution_id == Reagent.id)
        .where(SolutionComponent.source_id == reagent.id)
        .order_by(Reagent.code)
    )
    standard_ids = [r.standard_id for r in rounds if r.standard_id is not None]
    standards = session.execute(select(Reagent.id, Reagent.code).where(Reagent.id.in_(standard_ids)))
    codes = {row.id: row.code for row in standards}
    return ReagentDetail(
        **reagent_public(reagent, found).model_dump(),
        usability=usability_public(reagent, found, translate),
        log=[log_entry_public(e, returned) for e in reversed(log)],
        components=[ComponentPublic(code=source.code, name=source.name, lot_no=source.lot_no,
                                    quantity=plain_number(c.quantity) or "0", unit=c.unit)
                    for c, source in components],
        used_in=list(used_in),
        standardizations=[standardization_public(r, codes) for r in rounds],
    )  # fmt: skip
