"""People assigned to rooms and equipment for alarm notification (报警通知责任人, TJ-6.5, TJ-6.6, TJ-6.7).

An alarm is told to the people who answer for its room or its equipment (a system such as the purified-water
system): an :class:`~.assignment_models.MonitoringAssignment` names one user, one room *or* one piece of equipment,
the role on it (``primary`` or ``backup``) and from when. Assignments are GMP configuration kept by whoever may
acknowledge alarms (``monitoring.alarm.acknowledge``): made (:func:`assign`) and ended with a reason (:func:`end`)
through the unit of work, in the trail, never deleted. Only an active user who may acknowledge alarms can be
assigned (:class:`NotAssignable` otherwise): telling someone of an alarm they cannot act on helps nobody.

**Recipients** (:func:`recipients`): the users assigned to the alarm's room or equipment, primary first — only
those still active and still holding the permission. When nobody is, *everyone who may acknowledge alarms* is told
(the behaviour before assignments existed), so an alarm never goes unannounced. The same rule, as one SQL
predicate (:func:`told_clause`), gives each user *their* alarms (the in-app count, the "mine" filter): the alarms
of the rooms and equipment assigned to them, plus those of rooms and equipment nobody answers for; a user who may
acknowledge and has no assignment at all sees every alarm.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, or_, select
from sqlalchemy.orm import Session, aliased

from pharmatrace.equipment.models import Equipment, Room
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.models import Role, RolePermission, User, UserRole
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring.alarm_models import Alarm
from pharmatrace.monitoring.assignment_models import MonitoringAssignment
from pharmatrace.monitoring.assignment_schemas import AssignmentCreate, AssignmentPublic, Recipient
from pharmatrace.storage.engine import Database

ACKNOWLEDGE_PERMISSION = "monitoring.alarm.acknowledge"  # to be assigned, and to keep the assignments
ROLE_LABELS = {"primary": N_("Primary"), "backup": N_("Backup")}
BACKDATING = timedelta(
    minutes=5
)  # an assignment starts now or later: who was told yesterday is not rewritten

A = MonitoringAssignment


class NotAssignable(Conflict):
    """The user cannot be told of alarms: deactivated, or without ``monitoring.alarm.acknowledge``."""

    code = "monitoring_not_assignable"


# --- who may acknowledge, who is assigned (SQL) -----------------------------------------------------------------


def _holders() -> Any:
    """The ids of the active users whose active roles grant ``monitoring.alarm.acknowledge``."""
    return (
        select(UserRole.user_id)
        .join(Role, Role.id == UserRole.role_id)
        .join(RolePermission, RolePermission.role_id == Role.id)
        .join(User, User.id == UserRole.user_id)
        .where(
            Role.active.is_(True),
            RolePermission.permission_code == ACKNOWLEDGE_PERMISSION,
            User.active.is_(True),
        )
        .correlate(None)  # a list of its own, whatever query it sits in
    )


def _effective(now: datetime, assignment: Any = A) -> ColumnElement[bool]:
    """An assignment in force now, of a user who is active and may still acknowledge."""
    return and_(
        assignment.ended_at.is_(None), assignment.valid_from <= now, assignment.user_id.in_(_holders())
    )


def told_clause(user_id: int, now: datetime | None = None) -> ColumnElement[bool]:
    """The alarms ``user_id`` is told of, as a predicate on :class:`Alarm` (correlated ``EXISTS``): none unless
    they may acknowledge alarms; then those of a room or equipment assigned to them, of a room and equipment nobody
    is assigned to, or every alarm when they have no assignment."""
    now = now or clock.now()
    mine, anyone = aliased(A), aliased(A)
    live_mine = and_(mine.user_id == user_id, mine.ended_at.is_(None), mine.valid_from <= now)
    return and_(exists(_holders().where(UserRole.user_id == user_id)), or_(
        ~exists(select(mine.id).where(live_mine)),
        exists(select(mine.id).where(live_mine, or_(mine.room_id == Alarm.room_id,
                                                    mine.equipment_id == Alarm.equipment_id))),
        ~exists(select(anyone.id).where(_effective(now, anyone), or_(anyone.room_id == Alarm.room_id,
                                                                     anyone.equipment_id == Alarm.equipment_id))),
    ))  # fmt: skip


# --- keeping the assignments ---------------------------------------------------------------------------------


def get_assignment(session: Session, assignment_id: int) -> MonitoringAssignment:
    found = session.get(A, assignment_id)
    if found is None:
        raise NotFound(N_("No assignment {id}"), id=assignment_id)
    return found


def _target(session: Session, body: AssignmentCreate) -> tuple[Room | None, Equipment | None]:
    if body.room:
        room = session.scalar(select(Room).where(Room.code == body.room, Room.voided_at.is_(None)))
        if room is None:
            raise NotFound(N_("No room {code}"), code=body.room)
        return room, None
    equipment = session.scalar(select(Equipment).where(Equipment.code == body.equipment))
    if equipment is None:
        raise NotFound(N_("No equipment {code}"), code=body.equipment)
    if equipment.lifecycle == "retired":
        raise Conflict(N_("The equipment {code} is retired"), code=equipment.code)
    return None, equipment


def assign(uow: UnitOfWork, principal: Principal, body: AssignmentCreate) -> MonitoringAssignment:
    """Assign a user to a room or a piece of equipment, told of its alarms (TJ-6.5)."""
    principal.require(ACKNOWLEDGE_PERMISSION)
    session = uow.session
    user = identity.find_user(session, body.login)
    if user is None:
        raise NotFound(N_("No user {login}"), login=body.login)
    if not user.active:
        raise NotAssignable(N_("{name} ({login}) is deactivated and cannot be assigned"),
                            name=user.full_name, login=user.login)  # fmt: skip
    if not identity.principal_of(user).can(ACKNOWLEDGE_PERMISSION):
        raise NotAssignable(
            N_("{name} ({login}) may not acknowledge alarms, so cannot be told of them: assign someone who may"),
            name=user.full_name, login=user.login,
        )  # fmt: skip
    room, equipment = _target(session, body)
    now = clock.now()
    valid_from = body.valid_from or now
    if valid_from < now - BACKDATING:
        raise ValidationFailed(N_("An assignment starts now or later, not in the past"))
    target = room.code if room else equipment.code if equipment else ""
    same = A.room_id == room.id if room else A.equipment_id == (equipment.id if equipment else None)
    if session.scalar(select(A.id).where(A.user_id == user.id, same, A.ended_at.is_(None))) is not None:
        raise Conflict(N_("{login} is assigned to {target} already"), login=user.login, target=target)
    if uow.reason is None:
        uow.reason = f"alarm notification: {user.login} {body.role} of {target}"
    made = A(
        user_id=user.id, room_id=room.id if room else None, equipment_id=equipment.id if equipment else None,
        role=body.role, valid_from=valid_from, created_at=now, created_by=uow.actor.login,
    )  # fmt: skip
    session.add(made)
    session.flush()
    return made


def end(uow: UnitOfWork, principal: Principal, assignment_id: int, reason: str) -> MonitoringAssignment:
    """End an assignment, with the reason (never deleted; frozen once ended)."""
    principal.require(ACKNOWLEDGE_PERMISSION)
    uow.give_reason(reason)
    found = get_assignment(uow.session, assignment_id)
    if found.ended_at is not None:
        raise Conflict(N_("The assignment {id} has ended already"), id=assignment_id)
    found.ended_at = max(clock.now(), found.created_at)
    found.ended_by = uow.actor.login
    found.end_reason = uow.reason
    uow.session.flush()
    return found


# --- reading -------------------------------------------------------------------------------------------------


def _select() -> Any:
    return (
        select(A, User, Room, Equipment)
        .join(User, User.id == A.user_id)
        .outerjoin(Room, Room.id == A.room_id)
        .outerjoin(Equipment, Equipment.id == A.equipment_id)
    )


def assignment_public(session: Session, assignment_id: int) -> AssignmentPublic:
    row = session.execute(_select().where(A.id == assignment_id)).first()
    if row is None:
        raise NotFound(N_("No assignment {id}"), id=assignment_id)
    return _public(*row)


def assignments_of(
    session: Session, *, room: str = "", equipment: str = "", login: str = "", ended: bool = False
) -> list[AssignmentPublic]:
    """The assignments, live ones (and ended ones with ``ended``), of a room, equipment or user (codes, login)."""
    query = _select()
    if room:
        query = query.where(Room.code == room.strip().upper())
    if equipment:
        query = query.where(Equipment.code == equipment.strip().upper())
    if login:
        query = query.where(User.login == login.strip().lower())
    if not ended:
        query = query.where(A.ended_at.is_(None))
    query = query.order_by(
        A.ended_at.is_not(None),
        Room.code,
        Equipment.code,
        case((A.role == "primary", 0), else_=1),
        User.login,
    )
    return [_public(a, user, r, e) for a, user, r, e in session.execute(query)]


def _public(
    a: MonitoringAssignment, user: User, room: Room | None, equipment: Equipment | None
) -> AssignmentPublic:
    return AssignmentPublic(
        id=a.id, login=user.login, full_name=user.full_name, room=room.code if room else None,
        room_name=room.name if room else None, equipment=equipment.code if equipment else None,
        equipment_name=equipment.name if equipment else None, role=a.role, valid_from=a.valid_from,
        created_at=a.created_at, created_by=a.created_by, ended_at=a.ended_at, ended_by=a.ended_by,
        end_reason=a.end_reason,
    )  # fmt: skip


def targets(session: Session) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The rooms (in use) and equipment (not retired) one can be assigned to: ``(code, name)``."""
    rooms = session.execute(select(Room.code, Room.name).where(Room.voided_at.is_(None)).order_by(Room.code))
    equipment = session.execute(
        select(Equipment.code, Equipment.name)
        .where(Equipment.lifecycle != "retired")
        .order_by(Equipment.code)
    )
    return [(c, n) for c, n in rooms], [(c, n) for c, n in equipment]


def assignable(session: Session) -> list[Recipient]:
    """Everyone who may acknowledge alarms (active): who can be assigned, and who is told when nobody is."""
    rows = session.execute(
        select(User.login, User.full_name).where(User.id.in_(_holders())).order_by(User.login)
    )
    return [Recipient(login=login, full_name=name, role=None) for login, name in rows]


def recipients(session: Session, alarm: Alarm) -> list[Recipient]:
    """Who is told of ``alarm``: the users assigned to its room or equipment, primary first; everyone who may
    acknowledge alarms when nobody is (TJ-6.5)."""
    targets = [
        *([A.room_id == alarm.room_id] if alarm.room_id is not None else []),
        *([A.equipment_id == alarm.equipment_id] if alarm.equipment_id is not None else []),
    ]
    found: dict[str, Recipient] = {}
    if targets:
        rows = session.execute(
            select(User.login, User.full_name, A.role)
            .join(A, A.user_id == User.id)
            .where(_effective(clock.now()), or_(*targets))
            .order_by(case((A.role == "primary", 0), else_=1), User.login)
        )
        for login, name, role in rows:
            found.setdefault(login, Recipient(login=login, full_name=name, role=role))
    return list(found.values()) or assignable(session)


def covered(session: Session, rooms: Collection[str], equipment: Collection[str]) -> set[str]:
    """Which of the rooms and equipment (codes) someone is assigned to now; the alarms of the others are told to
    everyone who may acknowledge. One query."""
    if not rooms and not equipment:
        return set()
    rows = session.execute(
        select(Room.code, Equipment.code)
        .select_from(A)
        .outerjoin(Room, Room.id == A.room_id)
        .outerjoin(Equipment, Equipment.id == A.equipment_id)
        .where(_effective(clock.now()), or_(Room.code.in_(list(rooms)), Equipment.code.in_(list(equipment))))
    )
    return {room or str(code) for room, code in rows}


# --- the demo plant --------------------------------------------------------------------------------------------

DEMO_MANAGER = "lina"
DEMO_ASSIGNMENTS = (
    # 李娜, production supervisor: the filling room and the grade B and A rooms
    ("lina", "RM-FILL", "primary"),
    ("lina", "RM-FILL-A", "primary"),
    ("lina", "RM-LYO", "primary"),
    # 吴昊, equipment engineer: the purified-water point of use (its tags are the preparation room's) and the
    # filling room's HVAC as backup; 李娜 backs him up there, so every assigned room has a second contact
    ("wuhao", "RM-PREP", "primary"),
    ("wuhao", "RM-FILL", "backup"),
    ("lina", "RM-PREP", "backup"),
    # 孙丽, the QC reviewer: the QC laboratory's physico-chemical room, where the OOS balance stands; 吴昊 backs her
    # up there (its air handling); the analysts enter results, the reviewer assesses what an excursion meant
    ("sunli", "RM-QC-PC", "primary"),
    ("wuhao", "RM-QC-PC", "backup"),
)


def seed_assignments(db: Database) -> int:
    """The demo plant's alarm contacts (made by 李娜); nothing when they exist already. Returns the rows added."""
    with db.sessions() as session:
        if session.scalar(select(A.id).limit(1)) is not None:
            return 0
        user = identity.find_user(session, DEMO_MANAGER)
        assert user is not None, DEMO_MANAGER
        manager = identity.principal_of(user)
    with UnitOfWork(db, manager.actor, reason="demo plant seed: alarm notification contacts") as uow:
        for login, room, role in DEMO_ASSIGNMENTS:
            assign(
                uow, manager, AssignmentCreate.model_validate({"login": login, "room": room, "role": role})
            )
        uow.commit()
    return len(DEMO_ASSIGNMENTS)
