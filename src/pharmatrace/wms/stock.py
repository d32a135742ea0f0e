"""Locations, stock movements, real-time stock and the storage checks (TJ-6.3.3, TJ-6.4.3.6, TJ-5.2.1.2, TJ-6.4.1).

Every move of a container is one :class:`StockMovement` (who, when, why) and the change of its
:class:`StockBalance`, in the same unit of work; the stock is read from the balances, so it is always current.

Issue to production (发料) is refused, with every reason at once, when the lot is not released, past its expiry
or retest date, stored where its conditions are not kept, its temperature record since it arrived is
incomplete or out of range, or an anomaly on it is still open. The refusal changes no stock; it is recorded
(an audit event, and an anomaly for each storage problem found) in the refused unit of work: whatever it
had written before is rolled back, the refusal alone is committed, then the error is raised.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from pharmatrace.exchange.datasets import DataSet, Item, register
from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import SECURITY_EVENTS
from pharmatrace.kernel.errors import (
    N_,
    AuthenticationFailed,
    Conflict,
    NotFound,
    Reasons,
    ValidationFailed,
    stored_params,
)
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.wms import lots
from pharmatrace.wms.models import Container, Lot, Material
from pharmatrace.wms.stock_models import (
    IntermediateLot,
    IntermediateMovement,
    Location,
    StockBalance,
    StockMovement,
    StorageAnomaly,
    TemperatureReading,
)
from pharmatrace.wms.stock_schemas import (
    AlertPublic,
    AnomalyPublic,
    IntermediateCreate,
    IntermediateMove,
    IntermediatePublic,
    IssueCheckPublic,
    IssueProblemPublic,
    LocationCreate,
    LocationPublic,
    MovementCreate,
    MovementPublic,
    ReadingCreate,
    ReadingPublic,
    StockPublic,
    StockRowPublic,
    StockTotalPublic,
)

# An issue refused is recorded although no stock changes (TJ-6.4.1: the check and its result are evidence).
ISSUE_REFUSED_EVENT = "stock.issue.refused"
assert ISSUE_REFUSED_EVENT in SECURITY_EVENTS

# Kinds of location material arrives in before it is put away.
ARRIVAL_KINDS = ("receiving", "quarantine", "sampling")
DEFAULT_REASONS = {
    "receive": "received by scanning",
    "put_away": "put away",
    "issue": "issued to production",
    "sample": "sampled",
    "retain": "retained sample taken",
}


class StockRefused(Conflict):
    """A movement the container, the lot or the location does not allow."""

    code = "stock_refused"


@dataclass(frozen=True)
class Problem:
    """One reason a lot may not be issued (an English msgid and its placeholders)."""

    kind: str  # status | expired | retest_due | location_unfit | temperature_out_of_range | …
    message: str  # msgid
    params: dict[str, Any] = field(default_factory=dict)
    location_id: int | None = None
    reading_id: int | None = None
    covered_from: datetime | None = None
    covered_until: datetime | None = None

    def english(self) -> str:
        return self.message.format(**self.params)


class IssueRefused(Conflict):
    """Issue to production refused by the checks of TJ-6.4.1 and TJ-5.2.1.2; ``problems`` says why."""

    code = "issue_refused"

    def __init__(self, subject: str, problems: Sequence[Problem]) -> None:
        super().__init__(
            N_("{subject} cannot be issued to production: {reasons}"),
            subject=subject,
            reasons=Reasons(problems),
        )
        self.problems = list(problems)


# --- locations ------------------------------------------------------------------------------------


def location_by_code(session: Session, code: str, *, active: bool = True) -> Location:
    location = session.scalar(select(Location).where(Location.code == code.strip().upper()))
    if location is None:
        raise NotFound(N_("No location with code “{code}”"), code=code.strip())
    if active and location.voided_at is not None:
        raise StockRefused(N_("The location {code} is void"), code=location.code)
    return location


def get_location(session: Session, location_id: int) -> Location:
    location = session.get(Location, location_id)
    if location is None:
        raise NotFound(N_("No location with ID {id}"), id=location_id)
    return location


def create_location(uow: UnitOfWork, data: LocationCreate) -> Location:
    session = uow.session
    if session.scalar(select(Location.id).where(Location.code == data.code)) is not None:
        raise Conflict(N_("A location with code {code} exists already"), code=data.code)
    parent = location_by_code(session, data.parent) if data.parent else None
    room_id = None
    if data.room:
        from pharmatrace.equipment.models import Room

        room_id = session.scalar(select(Room.id).where(Room.code == data.room, Room.voided_at.is_(None)))
        if room_id is None:
            raise NotFound(N_("No room with code “{code}”"), code=data.room)
    location = Location(
        code=data.code, name=data.name, kind=data.kind, parent_id=parent.id if parent else None,
        path=f"{parent.path if parent else '/'}{data.code}/", room_id=room_id, temp_min_c=data.temp_min_c,
        temp_max_c=data.temp_max_c, humidity_max_pct=data.humidity_max_pct,
        max_reading_gap_minutes=data.max_reading_gap_minutes, created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(location)
    session.flush()
    return location


def void_location(uow: UnitOfWork, location_id: int) -> Location:
    """Give up a location (needs the unit of work's reason); refused while anything is stored in it."""
    session = uow.session
    location = get_location(session, location_id)
    if location.voided_at is not None:
        raise Conflict(N_("The location {code} is void"), code=location.code)
    ids = subtree_ids(session, location)
    stored = session.scalar(
        select(func.count()).select_from(StockBalance).where(StockBalance.location_id.in_(ids))
    )
    stored = (stored or 0) + (
        session.scalar(
            select(func.count())
            .select_from(IntermediateLot)
            .where(IntermediateLot.location_id.in_(ids), IntermediateLot.quantity > 0)
        )
        or 0
    )
    if stored:
        raise Conflict(N_("The location {code} still holds stock; move it out first"), code=location.code)
    active_children = session.scalar(
        select(func.count())
        .select_from(Location)
        .where(Location.parent_id == location.id, Location.voided_at.is_(None))
    )
    if active_children:
        raise Conflict(N_("The location {code} still has locations in it"), code=location.code)
    uow.void(location)
    return location


def list_locations(
    session: Session, *, text: str = "", kind: str = "", active_only: bool = False
) -> list[Location]:
    query = select(Location).order_by(Location.path)
    if kind:
        query = query.where(Location.kind == kind)
    if active_only:
        query = query.where(Location.voided_at.is_(None))
    if text:
        like = f"%{text.strip()}%"
        query = query.where(or_(Location.code.like(like.upper()), Location.name.like(like)))
    return list(session.scalars(query))


def subtree_ids(session: Session, location: Location) -> list[int]:
    """The location and every location under it (one prefix match on the path)."""
    return list(
        session.scalars(select(Location.id).where(Location.path.startswith(location.path, autoescape=True)))
    )


def ancestors(session: Session, location: Location) -> list[Location]:
    """The location and its ancestors, nearest first."""
    codes = [c for c in location.path.strip("/").split("/") if c]
    found = {loc.code: loc for loc in session.scalars(select(Location).where(Location.code.in_(codes)))}
    return [found[c] for c in reversed(codes) if c in found]


def climate_of(session: Session, location: Location) -> Location | None:
    """The location whose storage conditions and temperature record apply at ``location``."""
    return next((loc for loc in ancestors(session, location) if loc.keeps_climate), None)


def unfit(material: Material, conditions: Location | None) -> Problem | None:
    """Why ``conditions`` do not keep ``material``'s storage specification (TJ-5.2.1.2), or ``None``."""
    problems: list[str] = []
    if material.temp_min_c is not None and (
        conditions is None or conditions.temp_min_c is None or conditions.temp_min_c < material.temp_min_c
    ):
        problems.append(f"≥{material.temp_min_c} °C")
    if material.temp_max_c is not None and (
        conditions is None or conditions.temp_max_c is None or conditions.temp_max_c > material.temp_max_c
    ):
        problems.append(f"≤{material.temp_max_c} °C")
    if material.humidity_max_pct is not None and (
        conditions is None
        or conditions.humidity_max_pct is None
        or conditions.humidity_max_pct > material.humidity_max_pct
    ):
        problems.append(f"RH ≤{material.humidity_max_pct} %")
    if not problems:
        return None
    return Problem(
        "location_unfit",
        N_("{location} does not keep the storage conditions of {material} ({needed})"),
        {
            "location": conditions.code if conditions else "—",
            "material": material.name,
            "needed": ", ".join(problems),
        },
    )


# --- movements ------------------------------------------------------------------------------------


def _container(session: Session, scan: str) -> Container:
    text = scan.strip()
    container = session.scalar(select(Container).where(Container.code == text.upper()))
    if container is None:
        from pharmatrace.codes import gs1

        try:
            internal = gs1.parse(text).get("91")
        except gs1.InvalidElementString:
            internal = None
        if internal:
            container = session.scalar(select(Container).where(Container.code == internal.upper()))
    if container is None:
        raise NotFound(N_("No container with code “{code}”"), code=text)
    if container.voided_at is not None or container.lot.voided_at is not None:
        raise StockRefused(N_("The container {code} is void"), code=container.code)
    return container


def _balance(session: Session, container: Container) -> StockBalance | None:
    """The container's balance, its row locked until commit (PostgreSQL): two moves at once are serialised."""
    session.execute(
        select(StockBalance.container_id).where(StockBalance.container_id == container.id).with_for_update()
    )
    return session.get(StockBalance, container.id)


def _record(
    uow: UnitOfWork, kind: str, container: Container, balance: StockBalance, quantity: Decimal,
    from_location: Location | None, to_location: Location | None, *, batch_no: str = "", reference: str = "",
    reason: str | None = None,
) -> StockMovement:  # fmt: skip
    why = reason or uow.reason or DEFAULT_REASONS.get(kind, kind)
    movement = StockMovement(
        kind=kind, container_id=container.id, lot_id=container.lot_id, quantity=quantity, unit=container.unit,
        from_location_id=from_location.id if from_location else None,
        to_location_id=to_location.id if to_location else None, batch_no=batch_no, reference=reference,
        reason=why, moved_at=clock.now(), moved_by=uow.actor.login, moved_by_name=uow.actor.full_name,
    )  # fmt: skip
    uow.session.add(movement)
    balance.updated_at = movement.moved_at
    uow.session.flush()
    return movement


def _arrive(uow: UnitOfWork, balance: StockBalance, container: Container, to_location: Location) -> None:
    """The container is now at ``to_location``; a location that does not keep its conditions is flagged.

    The check comes first, so the balance changes in one flush with its movement (one audit entry per move).
    """
    lot = container.lot
    if lot.status != "rejected":  # rejected material waits for destruction: its conditions no longer matter
        problem = unfit(lot.material, climate_of(uow.session, to_location))
        if problem is not None:
            _raise_anomaly(uow, problem, lot_id=lot.id, location_id=to_location.id)
    balance.location_id = to_location.id
    balance.located_at = clock.now()


def receive(uow: UnitOfWork, container: Container) -> StockMovement | None:
    """A container scanned at goods receipt is in the receiving area (called by ``receipts.scan``).

    A plant without a receiving location keeps no stock for it until it is put away.
    """
    session = uow.session
    dock = session.scalar(
        select(Location)
        .where(Location.kind == "receiving", Location.voided_at.is_(None))
        .order_by(Location.code)
        .limit(1)
    )
    if dock is None:
        return None
    now = clock.now()
    balance = StockBalance(
        container_id=container.id, lot_id=container.lot_id, material_id=container.lot.material_id,
        location_id=dock.id, quantity=container.quantity, unit=container.unit, located_at=now, batch_no="",
        updated_at=now,
    )  # fmt: skip
    session.add(balance)  # written with its movement, as created
    return _record(
        uow, "receive", container, balance, container.quantity, None, dock, reason=DEFAULT_REASONS["receive"]
    )


def move(uow: UnitOfWork, data: MovementCreate) -> StockMovement:
    """One movement of one container, by its scanned code (put away, transfer, issue, return, sample, retain,
    destroy). Refused with the reason, before anything is written, when it is not allowed."""
    session = uow.session
    container = _container(session, data.container)
    balance = _balance(session, container)
    target = location_by_code(session, data.to_location) if data.to_location else None
    # the balance changes with the movement's reason (who, when, why: TJ-6.4.3.6)
    uow.reason = uow.reason or data.reason or DEFAULT_REASONS.get(data.kind)
    if data.kind == "put_away" and balance is None:  # received where no receiving area was set up
        assert target is not None
        if target.is_workshop or target.kind == "receiving":
            raise StockRefused(N_("{location} is not a storage location"), location=target.code)
        now = clock.now()
        balance = StockBalance(
            container_id=container.id, lot_id=container.lot_id, material_id=container.lot.material_id,
            location_id=None, quantity=container.quantity, unit=container.unit, located_at=now, batch_no="",
            updated_at=now,
        )  # fmt: skip
        _arrive(uow, balance, container, target)
        session.add(balance)
        return _record(
            uow, "put_away", container, balance, container.quantity, None, target, reason=data.reason
        )
    if balance is None or balance.quantity <= 0 or balance.location_id is None:
        raise StockRefused(N_("The container {code} is not in stock"), code=container.code)
    here = get_location(session, balance.location_id)
    if target is not None and target.id == here.id:
        raise StockRefused(
            N_("The container {code} is at {location} already"), code=container.code, location=here.code
        )
    if data.kind == "put_away":
        assert target is not None
        if here.kind not in ARRIVAL_KINDS:
            raise StockRefused(
                N_("The container {code} is stored at {location} already; use a transfer"),
                code=container.code, location=here.code,
            )  # fmt: skip
        if target.is_workshop or target.kind == "receiving":
            raise StockRefused(N_("{location} is not a storage location"), location=target.code)
        return _relocate(uow, "put_away", container, balance, here, target, data)
    if data.kind == "transfer":
        assert target is not None
        if target.is_workshop and not here.is_workshop:
            raise StockRefused(N_("Material reaches a workshop store only by an issue to production"))
        if here.is_workshop and not target.is_workshop:
            raise StockRefused(N_("Material goes back from a workshop store to the warehouse by a return"))
        return _relocate(uow, "transfer", container, balance, here, target, data)
    if data.kind == "return":
        assert target is not None
        if not here.is_workshop:
            raise StockRefused(N_("Only material in a workshop store is returned; use a transfer"))
        if target.is_workshop:
            raise StockRefused(
                N_("A return goes to a warehouse location, not to {location}"), location=target.code
            )
        balance.batch_no = ""
        return _relocate(uow, "return", container, balance, here, target, data)
    if data.kind == "issue":
        return _issue(uow, container, balance, here, target, data)
    quantity = balance.quantity if data.quantity is None else data.quantity
    if quantity > balance.quantity:
        raise StockRefused(
            N_("The container {code} holds {left} {unit}; {quantity} cannot be taken"),
            code=container.code, left=plain_number(balance.quantity), unit=balance.unit, quantity=plain_number(quantity),
        )  # fmt: skip
    if data.kind == "destroy":
        lot = container.lot
        if lot.status not in ("rejected", "expired") and not container.damaged and not _expired(lot):
            raise StockRefused(
                N_("Only rejected, expired or damaged material is destroyed; the lot {lot} is {status}"),
                lot=lot.lot_number, status=lot.status,
            )  # fmt: skip
    if data.kind == "retain" and target is not None and target.kind != "retained_samples":
        raise StockRefused(
            N_("Retained samples go to a retained-samples room, not to {location}"), location=target.code
        )
    if data.kind == "sample" and target is not None:
        raise StockRefused(N_("A sample stays with QC; no location is scanned"))
    return _take(uow, data.kind, container, balance, here, quantity, data, target)


def _expired(lot: Lot) -> bool:
    return lot.expiry_date is not None and lot.expiry_date <= lots.today()


def _relocate(
    uow: UnitOfWork, kind: str, container: Container, balance: StockBalance, here: Location, target: Location,
    data: MovementCreate, *, batch_no: str = "",
) -> StockMovement:  # fmt: skip
    _arrive(uow, balance, container, target)
    return _record(uow, kind, container, balance, balance.quantity, here, target, batch_no=batch_no,
                   reference=data.reference, reason=data.reason)  # fmt: skip


def _take(
    uow: UnitOfWork, kind: str, container: Container, balance: StockBalance, here: Location, quantity: Decimal,
    data: MovementCreate, target: Location | None = None, *, batch_no: str = "",
) -> StockMovement:  # fmt: skip
    left = balance.quantity - quantity
    balance.quantity = left
    if left == 0:
        balance.location_id = None
    return _record(uow, kind, container, balance, quantity, here, target, batch_no=batch_no,
                   reference=data.reference, reason=data.reason)  # fmt: skip


def _issue(
    uow: UnitOfWork, container: Container, balance: StockBalance, here: Location, target: Location | None,
    data: MovementCreate,
) -> StockMovement:  # fmt: skip
    """Issue to a batch: into a workshop store (the whole container) or consumed (a quantity)."""
    if target is not None and not target.is_workshop:
        raise StockRefused(N_("An issue goes to a workshop store, not to {location}"), location=target.code)
    if target is not None and data.quantity is not None and data.quantity != balance.quantity:
        raise StockRefused(
            N_("A container goes into a workshop store whole; issue a quantity without a location")
        )
    quantity = balance.quantity if data.quantity is None else data.quantity
    if quantity > balance.quantity:  # bad input first: refused without a record
        raise StockRefused(
            N_("The container {code} holds {left} {unit}; {quantity} cannot be taken"),
            code=container.code, left=plain_number(balance.quantity), unit=balance.unit, quantity=plain_number(quantity),
        )  # fmt: skip
    lot = container.lot
    problems = issue_check(uow.session, lot, [balance])
    if problems:
        refuse_issue(uow, lot, problems, container=container, batch_no=data.batch_no)
    if target is not None:
        balance.batch_no = data.batch_no
        return _relocate(uow, "issue", container, balance, here, target, data, batch_no=data.batch_no)
    return _take(uow, "issue", container, balance, here, quantity, data, batch_no=data.batch_no)


def refuse_issue(
    uow: UnitOfWork, lot: Lot | None, problems: Sequence[Problem], *, container: Container | None = None,
    batch_no: str = "", intermediate: IntermediateLot | None = None,
) -> None:  # fmt: skip
    """Record the refusal (an audit event, an anomaly per storage problem not yet open), commit, raise.

    Whatever this unit of work wrote before belongs to the refused operation: :meth:`UnitOfWork.refuse`
    rolls it back first, so the commit records the refusal and nothing else — the stock is as it was.
    """
    if lot is not None:
        subject, object_type, object_id = lot.lot_number, "lot", lot.id
    else:
        assert intermediate is not None
        subject, object_type, object_id = intermediate.lot_number, "intermediate_lot", intermediate.id
    intermediate_id = intermediate.id if intermediate is not None else None
    lot_id = lot.id if lot is not None else None
    code = container.code if container is not None else None

    def anomalies(uow: UnitOfWork) -> None:
        for problem in problems:
            if problem.kind in (
                "location_unfit",
                "temperature_out_of_range",
                "temperature_record_gap",
                "hold_time_exceeded",
            ):
                _raise_anomaly(uow, problem, lot_id=lot_id, intermediate_id=intermediate_id,
                               location_id=problem.location_id)  # fmt: skip

    uow.refuse(
        IssueRefused(subject, problems), ISSUE_REFUSED_EVENT, object_type, object_id,
        changes={
            "container": [None, code], "batch_no": [None, batch_no],
            "problems": [None, [p.english() for p in problems]],
        },
        reason="; ".join(p.english() for p in problems), also=anomalies,
    )  # fmt: skip


def _raise_anomaly(
    uow: UnitOfWork, problem: Problem, *, lot_id: int | None = None, location_id: int | None = None,
    intermediate_id: int | None = None,
) -> StorageAnomaly | None:  # fmt: skip
    """Record the anomaly unless the same one is already recorded (open, or about the same reading/stretch)."""
    session = uow.session
    same = select(StorageAnomaly.id).where(
        StorageAnomaly.kind == problem.kind,
        StorageAnomaly.lot_id.is_(None) if lot_id is None else StorageAnomaly.lot_id == lot_id,
        StorageAnomaly.intermediate_id.is_(None) if intermediate_id is None else StorageAnomaly.intermediate_id == intermediate_id,
        StorageAnomaly.location_id.is_(None) if location_id is None else StorageAnomaly.location_id == location_id,
    )  # fmt: skip
    if problem.reading_id is not None:
        same = same.where(StorageAnomaly.reading_id == problem.reading_id)
    elif problem.covered_from is not None:
        same = same.where(
            StorageAnomaly.covered_from == problem.covered_from, StorageAnomaly.status == "open"
        )
    else:
        same = same.where(StorageAnomaly.status == "open")
    if session.scalar(same.limit(1)) is not None:
        return None
    anomaly = StorageAnomaly(
        kind=problem.kind, lot_id=lot_id, intermediate_id=intermediate_id, location_id=location_id,
        reading_id=problem.reading_id, covered_from=problem.covered_from, covered_until=problem.covered_until,
        detail=problem.english()[:500], message=problem.message, params=stored_params(problem.params),
        status="open", detected_at=clock.now(), detected_by=uow.actor.login,
    )  # fmt: skip
    session.add(anomaly)
    session.flush()
    return anomaly


# --- the checks before issue (TJ-6.4.1, TJ-5.2.1.2) -----------------------------------------------


def issue_check(session: Session, lot: Lot, balances: Iterable[StockBalance] | None = None) -> list[Problem]:
    """Every reason ``lot`` (its containers ``balances``, by default all in stock) may not be issued now."""
    problems: list[Problem] = []
    if lot.voided_at is not None:
        problems.append(Problem("status", N_("The lot {lot} is void"), {"lot": lot.lot_number}))
    if lot.status != "released":
        problems.append(
            Problem("status", N_("The lot {lot} is not released by QA (status: {status})"),
                    {"lot": lot.lot_number, "status": lot.status})
        )  # fmt: skip
    today = lots.today()
    if lot.expiry_date is not None and lot.expiry_date <= today:
        problems.append(
            Problem("expired", N_("The lot expired on {date}"), {"date": lot.expiry_date.isoformat()})
        )
    if lot.retest_date is not None and lot.retest_date <= today:
        problems.append(
            Problem(
                "retest_due",
                N_("The lot was due for retest on {date}"),
                {"date": lot.retest_date.isoformat()},
            )
        )
    if balances is None:
        balances = session.scalars(
            select(StockBalance).where(StockBalance.lot_id == lot.id, StockBalance.quantity > 0)
        ).all()
    now = clock.now()
    seen: set[tuple[str, int | None, int | None, datetime | None]] = set()
    for balance in balances:
        for problem in _storage_problems(session, lot.id, lot.material, balance, now):
            key = (problem.kind, problem.location_id, problem.reading_id, problem.covered_from)
            if key not in seen:
                seen.add(key)
                problems.append(problem)
    for anomaly in session.scalars(
        select(StorageAnomaly).where(StorageAnomaly.lot_id == lot.id, StorageAnomaly.status == "open")
        .order_by(StorageAnomaly.id)
    ):  # fmt: skip
        if not any(_same_anomaly(anomaly, p) for p in problems):
            problems.append(
                Problem("open_anomaly", N_("Storage anomaly {id} is open: {detail}"),
                        {"id": anomaly.id, "detail": anomaly.detail})
            )  # fmt: skip
    return problems


def _same_anomaly(anomaly: StorageAnomaly, problem: Problem) -> bool:
    return (
        anomaly.kind == problem.kind
        and anomaly.location_id == problem.location_id
        and anomaly.reading_id == problem.reading_id
        and (problem.covered_from is None or anomaly.covered_from == problem.covered_from)
    )


def _stays(session: Session, container_id: int, now: datetime) -> list[tuple[int, datetime, datetime]]:
    """Where the container has been: (location ID, from, until), from its movements."""
    stays: list[tuple[int, datetime, datetime]] = []
    current: tuple[int, datetime] | None = None
    for movement in session.scalars(
        select(StockMovement).where(StockMovement.container_id == container_id).order_by(StockMovement.moved_at, StockMovement.id)
    ):  # fmt: skip
        if movement.kind in ("sample", "retain") or movement.to_location_id is None:
            continue
        if current is not None:
            stays.append((current[0], current[1], movement.moved_at))
        current = (movement.to_location_id, movement.moved_at)
    if current is not None:
        stays.append((current[0], current[1], now))
    return stays


def _storage_problems(
    session: Session, lot_id: int, material: Material, balance: StockBalance, now: datetime
) -> list[Problem]:
    problems: list[Problem] = []
    if balance.location_id is None:
        return problems
    here = get_location(session, balance.location_id)
    problem = unfit(material, climate_of(session, here))
    if problem is not None:
        problems.append(Problem(problem.kind, problem.message, problem.params, location_id=here.id))
    for location_id, start, end in _stays(session, balance.container_id, now):
        climate = climate_of(session, get_location(session, location_id))
        if climate is not None:
            problems.extend(record_problems(session, material, climate, start, end, lot_id=lot_id))
    return problems


def record_problems(
    session: Session, material: Material, climate: Location, start: datetime, end: datetime, *,
    lot_id: int | None = None, intermediate_id: int | None = None,
) -> list[Problem]:  # fmt: skip
    """The temperature record of ``climate`` from ``start`` to ``end``, checked for ``material`` (TJ-6.4.1):
    readings out of its range, and gaps longer than the location allows. What QA has assessed (a closed
    anomaly about that reading or stretch) no longer counts."""
    readings = list(session.scalars(
        select(TemperatureReading).where(
            TemperatureReading.location_id == climate.id, TemperatureReading.measured_at >= start,
            TemperatureReading.measured_at <= end,
        ).order_by(TemperatureReading.measured_at)
    ))  # fmt: skip
    closed = list(session.scalars(
        select(StorageAnomaly).where(
            StorageAnomaly.status == "closed", StorageAnomaly.location_id == climate.id,
            StorageAnomaly.lot_id == lot_id if lot_id is not None else StorageAnomaly.intermediate_id == intermediate_id,
        )
    ))  # fmt: skip
    assessed_readings = {a.reading_id for a in closed if a.reading_id is not None}
    problems: list[Problem] = []
    for reading in readings:
        if reading.id in assessed_readings:
            continue
        out = _out_of_range(material, reading)
        if out is not None:
            problems.append(out)
    if climate.max_reading_gap_minutes is not None:
        allowed = timedelta(minutes=climate.max_reading_gap_minutes)
        before = session.scalar(
            select(func.max(TemperatureReading.measured_at)).where(
                TemperatureReading.location_id == climate.id, TemperatureReading.measured_at < start
            )
        )
        points = [before or start, *(r.measured_at for r in readings), end]
        for a, b in itertools.pairwise(points):
            if b - a <= allowed:
                continue
            if any(
                x.kind == "temperature_record_gap" and x.covered_from is not None and x.covered_until is not None
                and x.covered_from <= a and x.covered_until >= b for x in closed
            ):  # fmt: skip
                continue
            problems.append(Problem(
                "temperature_record_gap",
                N_("The temperature record of {location} has no reading from {start} to {end} (at most {minutes} minutes apart)"),
                {"location": climate.code, "start": clock.format_beijing(a, seconds=False),
                 "end": clock.format_beijing(b, seconds=False), "minutes": climate.max_reading_gap_minutes},
                location_id=climate.id, covered_from=a, covered_until=b,
            ))  # fmt: skip
    return problems


class _Limits(Protocol):
    temp_min_c: Decimal | None
    temp_max_c: Decimal | None
    humidity_max_pct: Decimal | None


def _outside(limits: _Limits, reading: TemperatureReading) -> bool:
    """Does ``reading`` leave the temperature or humidity limits of a material or a location?"""
    low, high, humid = limits.temp_min_c, limits.temp_max_c, limits.humidity_max_pct
    off = (low is not None and reading.temp_c < low) or (high is not None and reading.temp_c > high)
    too_wet = humid is not None and reading.humidity_pct is not None and reading.humidity_pct > humid
    return off or too_wet


def _reading_params(code: str, reading: TemperatureReading) -> dict[str, Any]:
    return {"location": code, "temp": reading.temp_c,
            "humidity": reading.humidity_pct if reading.humidity_pct is not None else "—",
            "at": clock.format_beijing(reading.measured_at, seconds=False)}  # fmt: skip


def _out_of_range(material: Material, reading: TemperatureReading) -> Problem | None:
    if not _outside(material, reading):
        return None
    return Problem(
        "temperature_out_of_range",
        N_("{location} read {temp} °C / {humidity} % RH at {at}, outside the range of {material}"),
        {**_reading_params(reading.location.code, reading), "material": material.name},
        location_id=reading.location_id, reading_id=reading.id,
    )  # fmt: skip


# --- temperature readings: the seam the monitoring area will feed ----------------------------------


def record_reading(uow: UnitOfWork, data: ReadingCreate, *, source: str = "manual") -> TemperatureReading:
    """Record a reading of a climate location; an excursion raises an anomaly for the location (its own
    limits) and for each lot and intermediate stored there whose range it leaves (TJ-5.2.1.2)."""
    session = uow.session
    location = location_by_code(session, data.location)
    if not location.keeps_climate:
        climate = climate_of(session, location)
        raise ValidationFailed(
            N_("{location} keeps no temperature record of its own; record the reading at {climate}"),
            location=location.code, climate=climate.code if climate else "—",
        )  # fmt: skip
    now = clock.now()
    if data.measured_at > now + timedelta(minutes=1):
        raise ValidationFailed(N_("The reading's time is in the future"))
    reading = TemperatureReading(
        location_id=location.id, measured_at=data.measured_at, temp_c=data.temp_c, humidity_pct=data.humidity_pct,
        source=source, recorded_at=max(now, data.measured_at), recorded_by=uow.actor.login,
    )  # fmt: skip
    session.add(reading)
    session.flush()
    session.refresh(reading, ["location"])
    own = _location_excursion(location, reading)
    if own is not None:
        _raise_anomaly(uow, own, location_id=location.id)
    ids = [i for i in subtree_ids(session, location) if _climate_id(session, i) == location.id]
    stored = session.execute(
        select(StockBalance.lot_id, Material)
        .join(Material, Material.id == StockBalance.material_id)
        .join(Lot, Lot.id == StockBalance.lot_id)
        .where(StockBalance.location_id.in_(ids), StockBalance.quantity > 0,
               StockBalance.located_at <= data.measured_at, Lot.status != "rejected")
        .distinct()
    ).all()  # fmt: skip
    for lot_id, material in stored:
        problem = _out_of_range(material, reading)
        if problem is not None:
            _raise_anomaly(uow, problem, lot_id=lot_id, location_id=location.id)
    for intermediate in session.scalars(
        select(IntermediateLot).where(IntermediateLot.location_id.in_(ids), IntermediateLot.quantity > 0,
                                      IntermediateLot.located_at <= data.measured_at)
    ):  # fmt: skip
        problem = _out_of_range(intermediate.material, reading)
        if problem is not None:
            _raise_anomaly(uow, problem, intermediate_id=intermediate.id, location_id=location.id)
    return reading


def _climate_id(session: Session, location_id: int) -> int | None:
    climate = climate_of(session, get_location(session, location_id))
    return climate.id if climate else None


def _location_excursion(location: Location, reading: TemperatureReading) -> Problem | None:
    if not _outside(location, reading):
        return None
    return Problem(
        "temperature_out_of_range",
        N_("{location} read {temp} °C / {humidity} % RH at {at}, outside its limits"),
        _reading_params(location.code, reading),
        location_id=location.id, reading_id=reading.id,
    )  # fmt: skip


def readings_of(session: Session, location: Location, *, days: int = 7) -> list[TemperatureReading]:
    since = clock.now() - timedelta(days=days)
    return list(session.scalars(
        select(TemperatureReading).where(TemperatureReading.location_id == location.id,
                                         TemperatureReading.measured_at >= since)
        .order_by(TemperatureReading.measured_at.desc())
    ))  # fmt: skip


# --- anomalies ------------------------------------------------------------------------------------


def get_anomaly(session: Session, anomaly_id: int) -> StorageAnomaly:
    anomaly = session.get(StorageAnomaly, anomaly_id)
    if anomaly is None:
        raise NotFound(N_("No storage anomaly with ID {id}"), id=anomaly_id)
    return anomaly


def close_anomaly(uow: UnitOfWork, anomaly_id: int) -> StorageAnomaly:
    """QA closes an anomaly with its assessment (the unit of work's reason); the stretch of record it is
    about no longer blocks the lot."""
    if uow.reason is None:
        raise ValidationFailed(N_("Closing an anomaly needs QA's assessment as the reason"))
    uow.session.execute(select(StorageAnomaly.id).where(StorageAnomaly.id == anomaly_id).with_for_update())
    anomaly = get_anomaly(uow.session, anomaly_id)
    if anomaly.status != "open":
        raise Conflict(N_("The anomaly {id} is closed already"), id=anomaly.id)
    anomaly.status = "closed"
    anomaly.closed_at = clock.now()
    anomaly.closed_by = uow.actor.login
    anomaly.closing_reason = uow.reason
    uow.session.flush()
    return anomaly


def list_anomalies(
    session: Session, *, status: str = "open", lot_id: int | None = None, location_id: int | None = None,
    limit: int = 500,
) -> list[StorageAnomaly]:  # fmt: skip
    query = select(StorageAnomaly).order_by(StorageAnomaly.id.desc()).limit(limit)
    if status:
        query = query.where(StorageAnomaly.status == status)
    if lot_id is not None:
        query = query.where(StorageAnomaly.lot_id == lot_id)
    if location_id is not None:
        query = query.where(StorageAnomaly.location_id == location_id)
    return list(session.scalars(query))


# --- real-time stock ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockRow:
    container_code: str
    lot_id: int
    lot_number: str
    material_code: str
    material_name: str
    location_code: str
    location_name: str
    quantity: Decimal
    unit: str
    status: str
    expiry_date: date | None
    retest_date: date | None
    located_at: datetime
    batch_no: str


@dataclass(frozen=True)
class StockTotal:
    material_code: str
    material_name: str
    unit: str
    quantity: Decimal
    containers: int
    lots: int


@dataclass(frozen=True)
class StockResult:
    rows: list[StockRow]
    totals: list[StockTotal]
    containers: int
    truncated: bool


def stock_query(
    session: Session, *, material: str = "", lot: str = "", location: str = "", status: str = "", text: str = "",
    limit: int = 500,
) -> StockResult:  # fmt: skip
    """What is in stock now, by material (code), lot (number), location (code, with the locations in it),
    lot status and a scanned code (container, lot, location or GS1), with totals per material."""
    conditions: list[Any] = [StockBalance.quantity > 0, Lot.voided_at.is_(None)]
    empty = StockResult([], [], 0, False)
    if material:
        material_id = session.scalar(select(Material.id).where(Material.code == material.strip().upper()))
        if material_id is None:
            return empty
        conditions.append(StockBalance.material_id == material_id)
    if lot:
        lot_id = session.scalar(select(Lot.id).where(Lot.lot_number == lot.strip().upper()))
        if lot_id is None:
            return empty
        conditions.append(StockBalance.lot_id == lot_id)
    if location:
        place = session.scalar(select(Location).where(Location.code == location.strip().upper()))
        if place is None:
            return empty
        conditions.append(StockBalance.location_id.in_(subtree_ids(session, place)))
    if status:
        conditions.append(Lot.status == status)
    if text:
        scanned = text.strip()
        container = session.scalar(select(Container.id).where(Container.code == scanned.upper()))
        place = session.scalar(select(Location).where(Location.code == scanned.upper()))
        if container is not None:
            conditions.append(StockBalance.container_id == container)
        elif place is not None:
            conditions.append(StockBalance.location_id.in_(subtree_ids(session, place)))
        else:
            found = lots.find_by_scan(session, scanned)
            if found is None:
                return empty
            conditions.append(StockBalance.lot_id == found.id)
    where = and_(*conditions)
    # Columns, not entities: the entities' joined relationships would be loaded for every matching row before
    # the limit. The order is that of ix_stock_balances_in_stock, so the first page is read off the index.
    page = (
        select(
            StockBalance.container_id, StockBalance.lot_id, StockBalance.material_id, StockBalance.location_id,
            StockBalance.quantity, StockBalance.unit, StockBalance.located_at, StockBalance.batch_no,
            Lot.lot_number, Lot.status, Lot.expiry_date, Lot.retest_date,
        )
        .join(Lot, Lot.id == StockBalance.lot_id)
        .where(where)
        .order_by(StockBalance.material_id, StockBalance.lot_id, StockBalance.container_id)
        .limit(limit + 1)
        .subquery()
    )  # fmt: skip
    rows = session.execute(
        select(
            page, Container.code.label("container_code"), Material.code.label("material_code"),
            Material.name.label("material_name"), Location.code.label("location_code"),
            Location.name.label("location_name"),
        )
        .join(Container, Container.id == page.c.container_id)
        .join(Material, Material.id == page.c.material_id)
        .join(Location, Location.id == page.c.location_id)
        .order_by(page.c.material_id, page.c.lot_id, page.c.container_id)
    ).all()  # fmt: skip
    result_rows = [
        StockRow(
            container_code=r.container_code,
            lot_id=r.lot_id,
            lot_number=r.lot_number,
            material_code=r.material_code,
            material_name=r.material_name,
            location_code=r.location_code,
            location_name=r.location_name,
            quantity=r.quantity,
            unit=r.unit,
            status=r.status,
            expiry_date=r.expiry_date,
            retest_date=r.retest_date,
            located_at=r.located_at,
            batch_no=r.batch_no,
        )
        for r in rows[:limit]
    ]
    # Totals per material: per lot first, then per material (no COUNT(DISTINCT) over every container).
    per_lot = (
        select(StockBalance.material_id, StockBalance.unit, func.sum(StockBalance.quantity).label("quantity"),
               func.count().label("containers"))
        .join(Lot, Lot.id == StockBalance.lot_id)
        .where(where)
        .group_by(StockBalance.material_id, StockBalance.lot_id, StockBalance.unit)
        .subquery()
    )  # fmt: skip
    totals = session.execute(
        select(per_lot.c.material_id, per_lot.c.unit, func.sum(per_lot.c.quantity), func.sum(per_lot.c.containers),
               func.count())
        .group_by(per_lot.c.material_id, per_lot.c.unit)
    ).all()  # fmt: skip
    names = {m.id: (m.code, m.name) for m in session.scalars(
        select(Material).where(Material.id.in_([t[0] for t in totals]))
    )}  # fmt: skip
    total_rows = sorted(
        (
            StockTotal(
                material_code=names[m][0],
                material_name=names[m][1],
                unit=u,
                quantity=Decimal(q).quantize(Decimal("0.001")),
                containers=int(k),
                lots=int(x),
            )
            for m, u, q, k, x in totals
        ),
        key=lambda t: t.material_code,
    )
    return StockResult(result_rows, total_rows, sum(t.containers for t in total_rows), len(rows) > limit)


def movements(
    session: Session, *, container_id: int | None = None, lot_id: int | None = None, location_id: int | None = None,
    limit: int = 200,
) -> list[StockMovement]:  # fmt: skip
    """The movements of a container, a lot or a location (in or out), newest first (TJ-6.4.3.6)."""
    query = (
        select(StockMovement).order_by(StockMovement.moved_at.desc(), StockMovement.id.desc()).limit(limit)
    )
    if container_id is not None:
        query = query.where(StockMovement.container_id == container_id)
    if lot_id is not None:
        query = query.where(StockMovement.lot_id == lot_id)
    if location_id is not None:
        query = query.where(
            or_(StockMovement.from_location_id == location_id, StockMovement.to_location_id == location_id)
        )
    return list(session.scalars(query))


# --- alerts (TJ-5.2.1.2) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    kind: str
    subject: str
    due: date | datetime | None
    message: str  # msgid
    params: dict[str, Any]
    link: str


def alerts(session: Session, *, horizon_days: int = 30) -> list[Alert]:
    """Lots in stock past or near their expiry or retest date, intermediates past or near their hold time,
    climate locations whose record is late."""
    today = lots.today()
    horizon = today + timedelta(days=horizon_days)
    found: list[Alert] = []
    in_stock = select(StockBalance.lot_id).where(StockBalance.quantity > 0).distinct()
    for lot in session.scalars(
        select(Lot).where(Lot.id.in_(in_stock), Lot.voided_at.is_(None), Lot.status != "rejected",
                          or_(Lot.expiry_date <= horizon, Lot.retest_date <= horizon))
        .order_by(Lot.expiry_date)
    ).unique():  # fmt: skip
        link = f"/wms/lots/{lot.id}"
        if lot.expiry_date is not None and lot.expiry_date <= horizon:
            kind = "expired" if lot.expiry_date <= today else "expiring"
            message = N_("Expired on {date}") if kind == "expired" else N_("Expires on {date}")
            found.append(
                Alert(
                    kind,
                    lot.lot_number,
                    lot.expiry_date,
                    message,
                    {"date": lot.expiry_date.isoformat()},
                    link,
                )
            )
        if lot.retest_date is not None and lot.retest_date <= horizon:
            kind = "retest_due" if lot.retest_date <= today else "retest_soon"
            message = N_("Retest was due on {date}") if kind == "retest_due" else N_("Retest due on {date}")
            found.append(
                Alert(
                    kind,
                    lot.lot_number,
                    lot.retest_date,
                    message,
                    {"date": lot.retest_date.isoformat()},
                    link,
                )
            )
    now = clock.now()
    for item in session.scalars(
        select(IntermediateLot).where(IntermediateLot.quantity > 0, IntermediateLot.voided_at.is_(None),
                                      IntermediateLot.hold_until <= now + timedelta(hours=24))
        .order_by(IntermediateLot.hold_until)
    ):  # fmt: skip
        kind = "hold_time_passed" if item.hold_until <= now else "hold_time_soon"
        message = (
            N_("Hold time ended at {at}") if kind == "hold_time_passed" else N_("Hold time ends at {at}")
        )
        found.append(Alert(kind, item.lot_number, item.hold_until, message,
                           {"at": clock.format_beijing(item.hold_until, seconds=False)},
                           f"/wms/intermediates/{item.id}"))  # fmt: skip
    latest = dict(
        session.execute(
            select(TemperatureReading.location_id, func.max(TemperatureReading.measured_at)).group_by(
                TemperatureReading.location_id
            )
        ).all()
    )
    for location in session.scalars(
        select(Location).where(Location.max_reading_gap_minutes.is_not(None), Location.voided_at.is_(None))
        .order_by(Location.code)
    ):  # fmt: skip
        last = latest.get(location.id)
        assert location.max_reading_gap_minutes is not None
        if last is None or now - last > timedelta(minutes=location.max_reading_gap_minutes):
            found.append(Alert("record_late", location.code, last, N_("No temperature reading since {at}"),
                               {"at": clock.format_beijing(last, seconds=False) if last else "—"},
                               f"/wms/locations/{location.id}"))  # fmt: skip
    return found


# --- intermediate products (TJ-6.3.3, TJ-B.2.2.3) ----------------------------------------------------


def get_intermediate(session: Session, intermediate_id: int) -> IntermediateLot:
    item = session.get(IntermediateLot, intermediate_id)
    if item is None:
        raise NotFound(N_("No intermediate lot with ID {id}"), id=intermediate_id)
    return item


def list_intermediates(
    session: Session, *, in_stock: bool = False, limit: int = 500
) -> list[IntermediateLot]:
    query = select(IntermediateLot).order_by(IntermediateLot.id.desc()).limit(limit)
    if in_stock:
        query = query.where(IntermediateLot.quantity > 0)
    return list(session.scalars(query))


def _intermediate_move(
    uow: UnitOfWork, item: IntermediateLot, kind: str, quantity: Decimal, from_location: Location | None,
    to_location: Location | None, *, batch_no: str = "", reason: str | None = None, reviewer: Any = None,
) -> IntermediateMovement:  # fmt: skip
    why = reason or uow.reason or kind.replace("_", " ")
    uow.reason = uow.reason or why
    movement = IntermediateMovement(
        intermediate_id=item.id, kind=kind, quantity=quantity,
        from_location_id=from_location.id if from_location else None,
        to_location_id=to_location.id if to_location else None, batch_no=batch_no, reason=why,
        moved_at=clock.now(), moved_by=uow.actor.login, moved_by_name=uow.actor.full_name,
        reviewed_by=reviewer.login if reviewer else None, reviewed_by_name=reviewer.full_name if reviewer else None,
    )  # fmt: skip
    uow.session.add(movement)
    uow.session.flush()
    return movement


def create_intermediate(uow: UnitOfWork, data: IntermediateCreate) -> IntermediateLot:
    """An intermediate made by a batch goes into a workshop store (入库 RKSJ, RKR, RKWZ), in quarantine."""
    session = uow.session
    material = session.scalar(
        select(Material).where(Material.code == data.material, Material.voided_at.is_(None))
    )
    if material is None:
        raise NotFound(N_("No material with code “{code}”"), code=data.material)
    if material.kind != "intermediate":
        raise ValidationFailed(N_("{material} is not an intermediate product"), material=material.name)
    if session.scalar(select(IntermediateLot.id).where(IntermediateLot.lot_number == data.lot_number)):
        raise Conflict(N_("An intermediate lot {lot} exists already"), lot=data.lot_number)
    location = location_by_code(session, data.location)
    if not location.is_workshop:
        raise StockRefused(
            N_("Intermediates are stored in workshop stores, not in {location}"), location=location.code
        )
    now = clock.now()
    if data.produced_at > now + timedelta(minutes=1):
        raise ValidationFailed(N_("The production time is in the future"))
    item = IntermediateLot(
        lot_number=data.lot_number, material_id=material.id, batch_no=data.batch_no, quantity=data.quantity,
        unit=material.unit, location_id=location.id, located_at=now, produced_at=data.produced_at,
        hold_until=data.produced_at + timedelta(hours=data.hold_hours), status="quarantine", created_at=now,
        created_by=uow.actor.login,
    )  # fmt: skip
    session.add(item)
    session.flush()
    session.refresh(item, ["material"])
    problem = unfit(material, climate_of(session, location))
    if problem is not None:
        _raise_anomaly(uow, problem, intermediate_id=item.id, location_id=location.id)
    _intermediate_move(uow, item, "stock_in", data.quantity, None, location, reason="stock in")
    return item


def decide_intermediate(uow: UnitOfWork, intermediate_id: int, decision: str) -> IntermediateLot:
    """QA's quality status (ZLZT) of an intermediate: released or rejected, with the reason."""
    item = get_intermediate(uow.session, intermediate_id)
    if item.status != "quarantine":
        raise Conflict(
            N_("The intermediate lot {lot} is {status} already"), lot=item.lot_number, status=item.status
        )
    item.status = "released" if decision == "release" else "rejected"
    uow.session.flush()
    return item


def _reviewer(uow: UnitOfWork, login: str, password: str) -> Any:
    """The second person who checks a return (复核人 FHR): an active account, not the mover, with password."""
    from pharmatrace.kernel.identity import service as identity
    from pharmatrace.kernel.identity.passwords import verify_password

    user = identity.find_user(uow.session, login)
    if user is None or not user.active or user.locked or not verify_password(user.password_hash, password):
        raise AuthenticationFailed(N_("The reviewer's log-in ID or password is wrong"))
    if user.login == uow.actor.login:
        raise ValidationFailed(N_("The reviewer must be another person than the one who returns"))
    return user


def charge_check(session: Session, item: IntermediateLot) -> list[Problem]:
    """Why the intermediate may not be charged now: status, hold time, where and how it was stored."""
    problems: list[Problem] = []
    if item.status != "released":
        problems.append(Problem("status", N_("The intermediate lot {lot} is not released (status: {status})"),
                                {"lot": item.lot_number, "status": item.status}))  # fmt: skip
    now = clock.now()
    if item.hold_until <= now:
        problems.append(Problem("hold_time_exceeded", N_("Its hold time ended at {at}"),
                                {"at": clock.format_beijing(item.hold_until, seconds=False)},
                                location_id=item.location_id))  # fmt: skip
    if item.location_id is not None:
        here = get_location(session, item.location_id)
        problem = unfit(item.material, climate_of(session, here))
        if problem is not None:
            problems.append(Problem(problem.kind, problem.message, problem.params, location_id=here.id))
        stays: list[tuple[int, datetime, datetime]] = []
        current: tuple[int, datetime] | None = None
        for movement in session.scalars(
            select(IntermediateMovement).where(IntermediateMovement.intermediate_id == item.id)
            .order_by(IntermediateMovement.moved_at, IntermediateMovement.id)
        ):  # fmt: skip
            if movement.to_location_id is None or movement.kind in ("sample", "retain", "charge"):
                continue
            if current is not None:
                stays.append((current[0], current[1], movement.moved_at))
            current = (movement.to_location_id, movement.moved_at)
        if current is not None:
            stays.append((current[0], current[1], now))
        for location_id, start, end in stays:
            climate = climate_of(session, get_location(session, location_id))
            if climate is not None:
                problems.extend(
                    record_problems(session, item.material, climate, start, end, intermediate_id=item.id)
                )
    for anomaly in session.scalars(
        select(StorageAnomaly).where(StorageAnomaly.intermediate_id == item.id, StorageAnomaly.status == "open")
    ):  # fmt: skip
        if not any(_same_anomaly(anomaly, p) for p in problems):
            problems.append(Problem("open_anomaly", N_("Storage anomaly {id} is open: {detail}"),
                                    {"id": anomaly.id, "detail": anomaly.detail}))  # fmt: skip
    return problems


def move_intermediate(uow: UnitOfWork, intermediate_id: int, data: IntermediateMove) -> IntermediateMovement:
    """出库, 移库, 取样, 留样, 投料 (refused past the hold time or unreleased), 退库 (with a reviewer)."""
    session = uow.session
    session.execute(select(IntermediateLot.id).where(IntermediateLot.id == intermediate_id).with_for_update())
    item = get_intermediate(session, intermediate_id)
    if item.voided_at is not None or item.quantity <= 0 or item.location_id is None:
        raise StockRefused(N_("The intermediate lot {lot} is not in stock"), lot=item.lot_number)
    here = get_location(session, item.location_id)
    target = location_by_code(session, data.to_location) if data.to_location else None
    if target is not None and target.id == here.id:
        raise StockRefused(
            N_("The container {code} is at {location} already"), code=item.lot_number, location=here.code
        )
    if target is not None and not target.is_workshop:
        raise StockRefused(
            N_("Intermediates are stored in workshop stores, not in {location}"), location=target.code
        )
    if data.kind == "return" and target is not None and target.kind != "intermediate_store":
        raise StockRefused(
            N_("A return goes to the intermediate store, not to {location}"), location=target.code
        )
    if data.kind in ("stock_out", "transfer", "return"):
        assert target is not None
        reviewer = (
            _reviewer(uow, data.reviewer_login or "", data.reviewer_password or "")
            if data.kind == "return"
            else None
        )
        item.location_id = target.id
        item.located_at = clock.now()
        uow.reason = uow.reason or data.reason or data.kind.replace("_", " ")
        problem = unfit(item.material, climate_of(session, target))
        if problem is not None:
            _raise_anomaly(uow, problem, intermediate_id=item.id, location_id=target.id)
        return _intermediate_move(uow, item, data.kind, item.quantity, here, target, reason=data.reason,
                                  reviewer=reviewer)  # fmt: skip
    quantity = data.quantity or item.quantity
    if quantity > item.quantity:
        raise StockRefused(
            N_("The container {code} holds {left} {unit}; {quantity} cannot be taken"),
            code=item.lot_number, left=plain_number(item.quantity), unit=item.unit, quantity=plain_number(quantity),
        )  # fmt: skip
    if data.kind == "charge":
        problems = charge_check(session, item)
        if problems:
            refuse_issue(uow, None, problems, batch_no=data.batch_no, intermediate=item)
    uow.reason = uow.reason or data.reason or data.kind
    item.quantity = item.quantity - quantity
    if item.quantity == 0:
        item.location_id = None
    return _intermediate_move(uow, item, data.kind, quantity, here, target, batch_no=data.batch_no,
                              reason=data.reason)  # fmt: skip


def intermediate_movements(session: Session, intermediate_id: int) -> list[IntermediateMovement]:
    return list(session.scalars(
        select(IntermediateMovement).where(IntermediateMovement.intermediate_id == intermediate_id)
        .order_by(IntermediateMovement.moved_at, IntermediateMovement.id)
    ))  # fmt: skip


# --- TJ-B.2.2.3 中间产品管理数据集 (table B.5) -------------------------------------------------------------

_STATUS_ZH = {"quarantine": "待检", "released": "合格", "rejected": "不合格"}


@dataclass(frozen=True)
class IntermediateRecord:
    """An intermediate lot with the last movement of each kind: what one B.5 record describes."""

    item: IntermediateLot
    last: dict[str, IntermediateMovement]

    def moved(self, kind: str, what: str) -> Any:
        movement = self.last.get(kind)
        if movement is None:
            return None
        if what == "by":
            return f"{movement.moved_by_name}（{movement.moved_by}）"
        if what == "reviewer":
            return f"{movement.reviewed_by_name}（{movement.reviewed_by}）" if movement.reviewed_by else None
        if what == "where":
            return movement.to_location.code if movement.to_location else None
        return getattr(movement, what)


def _located(record: IntermediateRecord) -> str | None:
    location = record.item.location
    return f"{location.code} {location.name}" if location else None


INTERMEDIATE_DATA_SET = register(
    DataSet(
        "TJ-B.2.2.3",
        "中间产品管理数据集",
        (
            Item("ZJCPMC", "中间产品名称", "字符型", lambda r: r.item.material.name),
            Item("ZJCPPH", "中间产品批号", "字符型", lambda r: r.item.lot_number),
            Item("CCWZ", "存储位置", "字符型", _located),
            Item("YXQZ", "有效期至", "日期时间型", lambda r: r.item.hold_until),
            Item("ZLZT", "质量状态", "字符型", lambda r: _STATUS_ZH[r.item.status]),
            Item("RKSJ", "入库时间", "日期时间型", lambda r: r.moved("stock_in", "moved_at")),
            Item("RKR", "入库人", "字符型", lambda r: r.moved("stock_in", "by")),
            Item("RKWZ", "入库位置", "字符型", lambda r: r.moved("stock_in", "where")),
            Item("CKSJ", "出库时间", "日期时间型", lambda r: r.moved("stock_out", "moved_at")),
            Item("CKR", "出库人", "字符型", lambda r: r.moved("stock_out", "by")),
            Item("QYL", "取样量", "浮点型", lambda r: r.moved("sample", "quantity")),
            Item("QYR", "取样人", "字符型", lambda r: r.moved("sample", "by")),
            Item("QYSJ", "取样时间", "日期时间型", lambda r: r.moved("sample", "moved_at")),
            Item("TLL", "投料量", "浮点型", lambda r: r.moved("charge", "quantity")),
            Item("TLSJ", "投料时间", "日期时间型", lambda r: r.moved("charge", "moved_at")),
            Item("TLR", "投料人", "字符型", lambda r: r.moved("charge", "by")),
            Item("TKSJ", "退库时间", "日期时间型", lambda r: r.moved("return", "moved_at")),
            Item("TKR", "退库人", "字符型", lambda r: r.moved("return", "by")),
            Item("FHR", "复核人", "字符型", lambda r: r.moved("return", "reviewer")),
        ),
    ),
    source=lambda session: intermediate_records(session),
    permission="wms.material.view",
)


def intermediate_records(session: Session) -> list[IntermediateRecord]:
    """Every intermediate lot that is not void, with its movements: the records of the B.5 export."""
    found = list(session.scalars(
        select(IntermediateLot).where(IntermediateLot.voided_at.is_(None)).order_by(IntermediateLot.id)
    ))  # fmt: skip
    last: dict[int, dict[str, IntermediateMovement]] = {item.id: {} for item in found}
    for movement in session.scalars(
        select(IntermediateMovement).where(IntermediateMovement.intermediate_id.in_(list(last)))
        .order_by(IntermediateMovement.moved_at, IntermediateMovement.id)
    ):  # fmt: skip
        last[movement.intermediate_id][movement.kind] = movement
    return [IntermediateRecord(item, last[item.id]) for item in found]


def intermediate_data_set(session: Session, item: IntermediateLot) -> dict[str, str]:
    """The intermediate lot as TJ-B.2.2.3 (table B.5) short names; date-times ``YYYYMMDDThhmmss`` (Beijing)."""
    last = {m.kind: m for m in intermediate_movements(session, item.id)}
    record = INTERMEDIATE_DATA_SET.record(IntermediateRecord(item, last))
    return {short: "" if value is None else str(value) for short, value in record.items()}


# --- public shapes ----------------------------------------------------------------------------------


def location_public(session: Session, location: Location) -> LocationPublic:
    parent = session.get(Location, location.parent_id) if location.parent_id else None
    room_code = None
    if location.room_id is not None:
        from pharmatrace.equipment.models import Room

        room = session.get(Room, location.room_id)
        room_code = room.code if room else None
    climate = climate_of(session, location)
    return LocationPublic(
        id=location.id, code=location.code, name=location.name, kind=location.kind,
        parent_code=parent.code if parent else None, path=location.path, room_code=room_code,
        temp_min_c=location.temp_min_c, temp_max_c=location.temp_max_c, humidity_max_pct=location.humidity_max_pct,
        max_reading_gap_minutes=location.max_reading_gap_minutes, climate_code=climate.code if climate else None,
        created_at=location.created_at, created_by=location.created_by, voided_at=location.voided_at,
    )  # fmt: skip


def movement_public(session: Session, movement: StockMovement) -> MovementPublic:
    lot = session.get(Lot, movement.lot_id)
    assert lot is not None
    return MovementPublic(
        id=movement.id, kind=movement.kind, container_code=movement.container.code, lot_id=movement.lot_id,
        lot_number=lot.lot_number, quantity=movement.quantity, unit=movement.unit,
        from_location=movement.from_location.code if movement.from_location else None,
        to_location=movement.to_location.code if movement.to_location else None, batch_no=movement.batch_no,
        reference=movement.reference, reason=movement.reason, moved_at=movement.moved_at,
        moved_by=movement.moved_by, moved_by_name=movement.moved_by_name,
    )  # fmt: skip


def stock_public(result: StockResult) -> StockPublic:
    return StockPublic(
        rows=[StockRowPublic(**vars(row)) for row in result.rows],
        totals=[StockTotalPublic(**vars(total)) for total in result.totals],
        containers=result.containers, truncated=result.truncated,
    )  # fmt: skip


def reading_public(reading: TemperatureReading) -> ReadingPublic:
    return ReadingPublic(
        id=reading.id, location_code=reading.location.code, measured_at=reading.measured_at, temp_c=reading.temp_c,
        humidity_pct=reading.humidity_pct, source=reading.source, recorded_at=reading.recorded_at,
        recorded_by=reading.recorded_by,
    )  # fmt: skip


def anomaly_public(session: Session, anomaly: StorageAnomaly) -> AnomalyPublic:
    intermediate = session.get(IntermediateLot, anomaly.intermediate_id) if anomaly.intermediate_id else None
    return AnomalyPublic(
        id=anomaly.id, kind=anomaly.kind, lot_number=anomaly.lot.lot_number if anomaly.lot else None,
        intermediate_lot_number=intermediate.lot_number if intermediate else None,
        location_code=anomaly.location.code if anomaly.location else None, reading_id=anomaly.reading_id,
        covered_from=anomaly.covered_from, covered_until=anomaly.covered_until, detail=anomaly.detail,
        message=anomaly.message, params=anomaly.params, status=anomaly.status, detected_at=anomaly.detected_at, detected_by=anomaly.detected_by,
        closed_at=anomaly.closed_at, closed_by=anomaly.closed_by, closing_reason=anomaly.closing_reason,
    )  # fmt: skip


def issue_check_public(session: Session, lot: Lot) -> IssueCheckPublic:
    problems = issue_check(session, lot)
    return IssueCheckPublic(
        lot_id=lot.id, lot_number=lot.lot_number, may_issue=not problems,
        problems=[IssueProblemPublic(kind=p.kind, message=str(p)) for p in problems],
    )  # fmt: skip


def alert_public(alert: Alert) -> AlertPublic:
    from pharmatrace.web import i18n

    return AlertPublic(kind=alert.kind, subject=alert.subject, due=alert.due,
                       message=i18n.translate(alert.message, **alert.params), link=alert.link)  # fmt: skip


def intermediate_public(session: Session, item: IntermediateLot) -> IntermediatePublic:
    return IntermediatePublic(
        id=item.id, lot_number=item.lot_number, material_code=item.material.code, material_name=item.material.name,
        batch_no=item.batch_no, quantity=item.quantity, unit=item.unit,
        location_code=item.location.code if item.location else None, produced_at=item.produced_at,
        hold_until=item.hold_until, status=item.status, data_set=intermediate_data_set(session, item),
        created_at=item.created_at, created_by=item.created_by,
    )  # fmt: skip
