"""Training needs, tasks and records (SH-6.3.4, TJ-9.3) — written through the unit of work only.

Subscribed at import (kernel events): a document version approved with ``training_required`` assigns a task
to everyone whose role, position or department needs that document; an access request assigns the training
the requested role needs. Importing :mod:`pharmatrace.training` imports this module (see its ``__init__``).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from pharmatrace.documents.events import VersionApproved
from pharmatrace.documents.models import Document, DocumentVersion
from pharmatrace.kernel import clock, events
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.identity import access_requests, permissions
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.access_requests import AccessRequested
from pharmatrace.kernel.identity.models import Role, User, UserRole
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.kernel.uow import _owner as uow_owner  # the unit of work that owns a session
from pharmatrace.training import gates
from pharmatrace.training.course_models import TrainingCourse
from pharmatrace.training.models import (
    METHODS,
    QualificationRequirement,
    RetrainingOrder,
    TrainingNeed,
    TrainingRecord,
    TrainingTask,
)
from pharmatrace.training.schemas import (
    AccessRequestPublic,
    NeedCreate,
    NeedPublic,
    QualificationPublic,
    RecordCreate,
    RecordPublic,
    RequirementCreate,
    RequirementPublic,
    RetrainingPublic,
    SelfStudy,
    TaskPublic,
)

NEED_LEAD_DAYS = 30  # a new need, role or request: to be trained within 30 days


def add_months(day: date, months: int) -> date:
    """``day`` + ``months`` calendar months, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No user with ID {id}"), id=user_id)
    return user


def _version(session: Session, version_id: int) -> DocumentVersion:
    version = session.get(DocumentVersion, version_id)
    if version is None:
        raise NotFound(N_("No document version with ID {id}"), id=version_id)
    return version


def record_completion(
    uow: UnitOfWork,
    *,
    user_id: int,
    document_version_id: int | None,
    course_id: int | None,
    method: str,
    passed: bool,
    score: Decimal | None,
    trainer_user_id: int | None,
    evidence: str,
    valid_until: date | None,
) -> TrainingRecord:
    """Append a training record (SH-6.3.4): who was trained on which document version and/or course, how,
    with which result, valid until when. A record on a course whose qualification expires
    (``validity_months``) and that gives no ``valid_until`` gets one from the course.

    A passing record closes the person's open tasks for that version or course (derived, nothing updated).
    """
    session = uow.session
    if method not in METHODS:
        raise ValidationFailed(N_("Unknown training method “{method}”"), method=method)
    if document_version_id is None and course_id is None:
        raise ValidationFailed(N_("A training record names a document version or a course"))
    text = evidence.strip()
    if not text:
        raise ValidationFailed(N_("Say what evidence the training record rests on"))
    if score is not None and not (Decimal(0) <= score <= Decimal(100)):
        raise ValidationFailed(N_("A score lies between 0 and 100"))
    user = _user(session, user_id)
    if not user.active:
        raise ValidationFailed(N_("The account is deactivated"))
    if trainer_user_id is not None:
        _user(session, trainer_user_id)
        if trainer_user_id == user_id:
            raise ValidationFailed(N_("Trainees cannot be their own trainer"))
    course = None
    if course_id is not None:
        course = session.get(TrainingCourse, course_id)
        if course is None:
            raise NotFound(N_("No training course with ID {id}"), id=course_id)
    if document_version_id is not None:
        version = _version(session, document_version_id)
        if version.status != "approved":
            raise ValidationFailed(N_("Training is recorded on approved versions only"))
        if course is not None and course.document_number not in (None, version.document.number):
            raise ValidationFailed(
                N_("The course “{course}” is on {number}, not on this document"),
                course=course.code,
                number=course.document_number,
            )
    moment = clock.now()
    today = clock.to_beijing(moment).date()  # dates are the plant's (Beijing) calendar
    if valid_until is None and course is not None and course.validity_months:
        valid_until = add_months(today, course.validity_months)
    if valid_until is not None and valid_until < today:
        raise ValidationFailed(N_("“Valid until” cannot lie in the past"))
    record = TrainingRecord(
        user_id=user.id,
        document_version_id=document_version_id,
        course_id=course_id,
        method=method,
        passed=passed,
        score=score,
        trainer_user_id=trainer_user_id,
        evidence=text,
        valid_until=valid_until,
        completed_at=moment,
        recorded_by=uow.actor.login,
    )
    session.add(record)
    session.flush()
    return record


def records_of(session: Session, user_id: int) -> list[TrainingRecord]:
    return list(
        session.scalars(
            select(TrainingRecord).where(TrainingRecord.user_id == user_id).order_by(TrainingRecord.id.desc())
        )
    )


def enter_record(uow: UnitOfWork, principal: Principal, data: RecordCreate) -> TrainingRecord:
    """The training coordinator enters a record of a classroom, on-the-job or external training (SH-6.3.4)."""
    principal.require("training.manage")
    session = uow.session
    user = identity.find_user(session, data.login)
    if user is None:
        raise ValidationFailed(N_("Unknown log-in ID “{login}”"), login=data.login)
    trainer_id = None
    if data.trainer_login:
        trainer = identity.find_user(session, data.trainer_login)
        if trainer is None:
            raise ValidationFailed(N_("Unknown log-in ID “{login}”"), login=data.trainer_login)
        trainer_id = trainer.id
    assert data.document_number is not None  # the schema requires it
    version = version_of(session, data.document_number, data.version)
    if data.method == "self_study":
        raise ValidationFailed(
            N_("Self-study is confirmed by the trainee’s own signature, not entered for them")
        )
    return record_completion(
        uow,
        user_id=user.id,
        document_version_id=version.id,
        course_id=None,
        method=data.method,
        passed=data.passed,
        score=data.score,
        trainer_user_id=trainer_id,
        evidence=data.evidence,
        valid_until=data.valid_until,
    )


def version_of(session: Session, number: str, version: int | None = None) -> DocumentVersion:
    """A version of a document by number: the given one, or else the current effective one."""
    document = session.scalar(select(Document).where(Document.number == number))
    if document is None:
        raise NotFound(N_("No controlled document {number}"), number=number)
    if version is None:
        current = gates.effective_versions(session, [number]).get(number)
        if current is None:
            raise ValidationFailed(N_("{number} has no effective version"), number=number)
        found = session.get(DocumentVersion, current.version_id)
    else:
        found = session.scalar(
            select(DocumentVersion).where(
                DocumentVersion.document_id == document.id, DocumentVersion.version == version
            )
        )
    if found is None:
        raise NotFound(N_("{number} has no version {version}"), number=number, version=version)
    if found.status != "approved":
        raise ValidationFailed(N_("Training is recorded on approved versions only"))
    return found


def assessed_course(session: Session, number: str) -> TrainingCourse | None:
    """The active course on ``number`` that ends with an assessment (a pass mark), if any (TJ-9.3)."""
    return session.scalar(
        select(TrainingCourse)
        .where(
            TrainingCourse.document_number == number,
            TrainingCourse.active.is_(True),
            TrainingCourse.pass_mark.is_not(None),
        )
        .order_by(TrainingCourse.id)
        .limit(1)
    )


SELF_STUDY_EVIDENCE = "read and understood / self-study completed"


def self_study(uow: UnitOfWork, principal: Principal, version_id: int, data: SelfStudy) -> TrainingRecord:
    """The trainee confirms “read and understood / self-study completed” for a version with an electronic
    signature (password, TJ-10.2) — allowed only where the document's course (if any) has no assessment."""
    from pharmatrace.kernel.esign import service as esign

    principal.require("training.take")
    session = uow.session
    version = session.get(DocumentVersion, version_id)
    if version is None:
        raise NotFound(N_("No document version with ID {id}"), id=version_id)
    number = version.document.number
    current = gates.effective_versions(session, [number]).get(number)
    upcoming = version.effective_from is not None and version.effective_from > clock.now()
    if (
        version.status != "approved"
        or version.document.withdrawn_at is not None
        or not (upcoming or (current is not None and current.version_id == version.id))
    ):
        raise Conflict(N_("Self-study is possible on the current or the coming version of a document only"))
    course = assessed_course(session, number)
    if course is not None:
        raise Conflict(
            N_("{number} is trained through the course “{course}”, which ends with an assessment"),
            number=number,
            course=course.code,
        )
    standing = gates.standings(
        session, principal.user_id, [number], at=max(clock.now(), version.effective_from or clock.now())
    )
    if standing and standing[0].status == "qualified" and standing[0].version_id == version.id:
        raise Conflict(
            N_("You are already trained on {number} v{version}"), number=number, version=version.version
        )
    esign.authenticate_signer(
        uow.db, principal, data.password, data.login
    )  # a wrong password changes nothing
    record = record_completion(
        uow,
        user_id=principal.user_id,
        document_version_id=version.id,
        course_id=None,
        method="self_study",
        passed=True,
        score=None,
        trainer_user_id=None,
        evidence=SELF_STUDY_EVIDENCE,
        valid_until=None,
    )
    esign.sign_with_event(
        uow, principal, object_type="training_record", object_id=str(record.id), action_code="training.self_study",
        password=data.password, login=data.login,
    )  # fmt: skip
    return record


# --- who needs what (SH-6.3.4) --------------------------------------------------------------------


def active_needs(session: Session) -> list[TrainingNeed]:
    return list(
        session.scalars(
            select(TrainingNeed)
            .where(TrainingNeed.voided_at.is_(None))
            .order_by(
                TrainingNeed.subject_kind, TrainingNeed.subject, TrainingNeed.document_number, TrainingNeed.id
            )
        )
    )


def subjects_of(user: User) -> set[tuple[str, str]]:
    """What a need may name a person by: their roles, position and department."""
    found = {("role", grant.role.code) for grant in user.grants if grant.role.active}
    return found | {("position", user.position), ("department", user.department)}


def needs_of(session: Session, user: User, needs: list[TrainingNeed] | None = None) -> list[TrainingNeed]:
    mine = subjects_of(user)
    return [
        n for n in (active_needs(session) if needs is None else needs) if (n.subject_kind, n.subject) in mine
    ]


def needed_documents(session: Session, user: User) -> list[str]:
    return sorted({n.document_number for n in needs_of(session, user) if n.document_number})


def users_needing(
    session: Session, *, document_number: str | None = None, course_id: int | None = None
) -> list[User]:
    """The active users whose role, position or department needs the document (or course)."""
    needs = [
        n
        for n in active_needs(session)
        if (document_number is not None and n.document_number == document_number)
        or (course_id is not None and n.course_id == course_id)
    ]
    if not needs:
        return []
    wanted = {(n.subject_kind, n.subject) for n in needs}
    users = session.scalars(
        select(User).where(User.active.is_(True)).options(selectinload(User.grants)).order_by(User.login)
    )
    return [u for u in users if subjects_of(u) & wanted]


# --- tasks (TJ-9.3) -------------------------------------------------------------------------------


def _has_task(session: Session, user_id: int, *, version_id: int | None, course_id: int | None) -> bool:
    query = select(TrainingTask.id).where(TrainingTask.user_id == user_id, TrainingTask.voided_at.is_(None))
    if version_id is not None:
        query = query.where(TrainingTask.document_version_id == version_id)
    else:
        query = query.where(TrainingTask.course_id == course_id, TrainingTask.document_version_id.is_(None))
    return session.scalar(query.limit(1)) is not None


def _passing_record(
    session: Session, user_id: int, *, version_id: int | None, course_id: int | None
) -> int | None:
    query = select(TrainingRecord.id).where(
        TrainingRecord.user_id == user_id, TrainingRecord.passed.is_(True)
    )
    if version_id is not None:
        query = query.where(TrainingRecord.document_version_id == version_id)
    else:
        query = query.where(TrainingRecord.course_id == course_id)
    return session.scalar(query.order_by(TrainingRecord.id).limit(1))


def assign(
    uow: UnitOfWork,
    user: User,
    *,
    source: str,
    due_at: datetime,
    version: DocumentVersion | None = None,
    course: TrainingCourse | None = None,
) -> TrainingTask | None:
    """Give ``user`` a task on ``version`` (or ``course``) unless they have one or are already trained."""
    session = uow.session
    version_id = version.id if version is not None else None
    course_id = course.id if course is not None else None
    pending = any(
        isinstance(o, TrainingTask) and o.user_id == user.id and o.document_version_id == version_id
        and (version_id is not None or o.course_id == course_id)
        for o in session.new
    )  # fmt: skip
    if pending or _has_task(session, user.id, version_id=version_id, course_id=course_id):
        return None
    if _passing_record(session, user.id, version_id=version_id, course_id=course_id) is not None:
        return None
    task = TrainingTask(
        user_id=user.id,
        document_version_id=version_id,
        document_number=version.document.number if version is not None else None,
        version=version.version if version is not None else None,
        course_id=course_id,
        source=source,
        due_at=due_at,
        created_at=clock.now(),
        created_by=uow.actor.login,
    )
    session.add(task)
    return task


def _assign_needs(
    uow: UnitOfWork, user: User, needs: list[TrainingNeed], source: str, *, flush: bool = True
) -> int:
    session = uow.session
    due = clock.now() + timedelta(days=NEED_LEAD_DAYS)
    numbers = sorted({n.document_number for n in needs if n.document_number})
    effective = gates.effective_versions(session, numbers)
    made = 0
    for number in numbers:
        current = effective.get(number)
        if current is None:
            continue  # nothing effective to train on yet; the approval will assign it
        version = session.get(DocumentVersion, current.version_id)
        assert version is not None
        if version.training_required and assign(uow, user, source=source, due_at=due, version=version):
            made += 1
    for course_id in sorted({n.course_id for n in needs if n.course_id is not None}):
        course = session.get(TrainingCourse, course_id)
        if (
            course is not None
            and course.active
            and assign(uow, user, source=source, due_at=due, course=course)
        ):
            made += 1
    if flush:
        session.flush()
    return made


def on_version_approved(uow: UnitOfWork, event: VersionApproved) -> None:
    """Everyone who needs the document gets a task for the new version, due at effective_from + grace."""
    if not event.training_required:
        return
    session = uow.session
    version = session.get(DocumentVersion, event.version_id)
    if version is None:
        return
    due = event.effective_from + timedelta(days=event.training_grace_days)
    for user in users_needing(session, document_number=event.number):
        assign(uow, user, source="version_approved", due_at=due, version=version)
    session.flush()


def on_access_requested(uow: UnitOfWork, event: AccessRequested) -> None:
    """A requested role brings the training it needs (TJ-10.1.2.2.d)."""
    session = uow.session
    user = session.get(User, event.user_id)
    if user is None:
        return
    needs = [n for n in active_needs(session) if n.subject_kind == "role" and n.subject == event.role_code]
    _assign_needs(uow, user, needs, "access_request")


def sync_tasks(uow: UnitOfWork, user_id: int, source: str = "role_granted") -> int:
    """Assign whatever the user's current roles, position and department need and they lack (e.g. after a
    role was granted directly); returns how many tasks were made."""
    session = uow.session
    user = identity.get_user(session, user_id)
    return _assign_needs(uow, user, needs_of(session, user), source)


def _on_flush_assign_for_new_roles(session: Session, _context: object, _instances: object) -> None:
    """A role granted (directly, or by an approved access request) brings the training the person's roles,
    position and department need and they lack (TJ-9.3) — in the same transaction as the grant."""
    grants = [o for o in session.new if isinstance(o, UserRole)]
    owner = uow_owner(session) if grants else None
    if owner is None:
        return
    with session.no_autoflush:
        if session.scalar(select(TrainingNeed.id).where(TrainingNeed.voided_at.is_(None)).limit(1)) is None:
            return  # no needs recorded (e.g. while the demo plant is being built)
        for user_id in sorted({g.user_id for g in grants}):
            user = session.get(User, user_id)
            if user is not None and user.active:
                _assign_needs(owner, user, needs_of(session, user), "role_granted", flush=False)


@dataclass(frozen=True, slots=True)
class TaskView:
    task: TrainingTask
    user: User
    closed_by: int | None  # the passing record that closed it

    @property
    def open(self) -> bool:
        return self.closed_by is None and self.task.voided_at is None

    @property
    def overdue(self) -> bool:
        return self.open and self.task.due_at < clock.now()


def task_views(
    session: Session,
    *,
    user_id: int | None = None,
    department: str = "",
    text: str = "",
    state: str = "",
) -> list[TaskView]:
    """Tasks with their derived state; ``state`` is ``open``, ``overdue`` or ``closed`` (empty: all)."""
    query = (
        select(TrainingTask, User)
        .join(User, User.id == TrainingTask.user_id)
        .where(TrainingTask.voided_at.is_(None))
        .order_by(TrainingTask.due_at, TrainingTask.id)
    )
    if user_id is not None:
        query = query.where(TrainingTask.user_id == user_id)
    if department:
        query = query.where(User.department == department)
    if text:
        like = f"%{text.strip()}%"
        query = query.where(
            User.login.like(like.lower())
            | User.full_name.like(like)
            | TrainingTask.document_number.like(like.upper())
        )
    rows = session.execute(query).all()
    user_ids = {task.user_id for task, _ in rows}
    passed: dict[tuple[int, str, int], int] = {}
    if user_ids:
        for rid, uid, vid, cid in session.execute(
            select(TrainingRecord.id, TrainingRecord.user_id, TrainingRecord.document_version_id, TrainingRecord.course_id)
            .where(TrainingRecord.passed.is_(True), TrainingRecord.user_id.in_(user_ids))
            .order_by(TrainingRecord.id)
        ):  # fmt: skip
            if vid is not None:
                passed.setdefault((uid, "v", vid), rid)
            if cid is not None:
                passed.setdefault((uid, "c", cid), rid)
    views = []
    for task, user in rows:
        if task.document_version_id is not None:
            closed = passed.get((task.user_id, "v", task.document_version_id))
        else:
            closed = passed.get((task.user_id, "c", task.course_id or 0))
        views.append(TaskView(task, user, closed))
    if state == "open":
        views = [v for v in views if v.open]
    elif state == "overdue":
        views = [v for v in views if v.overdue]
    elif state == "closed":
        views = [v for v in views if not v.open]
    return views


# --- needs and requirements, managed by training.manage ------------------------------------------


def _document(session: Session, number: str) -> Document:
    document = session.scalar(select(Document).where(Document.number == number))
    if document is None:
        raise ValidationFailed(N_("No controlled document {number}"), number=number)
    return document


def add_need(uow: UnitOfWork, principal: Principal, data: NeedCreate) -> TrainingNeed:
    """Record who needs what (SH-6.3.4) and give the people it names their tasks at once."""
    principal.require("training.manage")
    session = uow.session
    if data.subject_kind == "role":
        role = session.scalar(select(Role).where(Role.code == data.subject))
        if role is None:
            raise ValidationFailed(N_("Unknown role “{role}”"), role=data.subject)
        if role.kind != "business":
            raise ValidationFailed(N_("Training needs are for business roles"))
    course_id = None
    if data.document_number is not None:
        _document(session, data.document_number)
    elif data.course_code is not None:
        course = session.scalar(select(TrainingCourse).where(TrainingCourse.code == data.course_code))
        if course is None:
            raise ValidationFailed(N_("No training course “{code}”"), code=data.course_code)
        course_id = course.id
    clash = session.scalar(
        select(TrainingNeed.id).where(
            TrainingNeed.voided_at.is_(None),
            TrainingNeed.subject_kind == data.subject_kind,
            TrainingNeed.subject == data.subject,
            TrainingNeed.document_number.is_(None) if data.document_number is None
            else TrainingNeed.document_number == data.document_number,
            TrainingNeed.course_id.is_(None) if course_id is None else TrainingNeed.course_id == course_id,
        )
    )  # fmt: skip
    if clash is not None:
        raise Conflict(N_("This training need is already recorded"))
    need = TrainingNeed(
        subject_kind=data.subject_kind,
        subject=data.subject,
        document_number=data.document_number,
        course_id=course_id,
        created_at=clock.now(),
        created_by=principal.login,
    )
    session.add(need)
    session.flush()
    for user in session.scalars(
        select(User).where(User.active.is_(True)).options(selectinload(User.grants)).order_by(User.id)
    ):
        if (need.subject_kind, need.subject) in subjects_of(user):
            _assign_needs(uow, user, [need], "need_added")
    return need


def void_need(uow: UnitOfWork, principal: Principal, need_id: int, reason: str) -> TrainingNeed:
    principal.require("training.manage")
    need = uow.session.get(TrainingNeed, need_id)
    if need is None:
        raise NotFound(N_("No training need with ID {id}"), id=need_id)
    if need.voided_at is not None:
        raise Conflict(N_("This record is already void"))
    uow.void(need, reason)
    return need


def add_requirement(
    uow: UnitOfWork, principal: Principal, data: RequirementCreate
) -> QualificationRequirement:
    """Make holding a permission need training on a document (TJ-10.1.2.2.d)."""
    principal.require("training.manage")
    session = uow.session
    permission = permissions.BY_CODE.get(data.permission)
    if permission is None:
        raise ValidationFailed(N_("Unknown permission “{permission}”"), permission=data.permission)
    if permission.kind != "business":
        raise ValidationFailed(N_("Only business permissions can require training"))
    _document(session, data.document_number)
    clash = session.scalar(
        select(QualificationRequirement.id).where(
            QualificationRequirement.voided_at.is_(None),
            QualificationRequirement.permission == data.permission,
            QualificationRequirement.document_number == data.document_number,
        )
    )
    if clash is not None:
        raise Conflict(N_("This qualification requirement is already recorded"))
    row = QualificationRequirement(
        permission=data.permission,
        document_number=data.document_number,
        created_at=clock.now(),
        created_by=principal.login,
    )
    session.add(row)
    session.flush()
    return row


def void_requirement(
    uow: UnitOfWork, principal: Principal, requirement_id: int, reason: str
) -> QualificationRequirement:
    principal.require("training.manage")
    row = uow.session.get(QualificationRequirement, requirement_id)
    if row is None:
        raise NotFound(N_("No qualification requirement with ID {id}"), id=requirement_id)
    if row.voided_at is not None:
        raise Conflict(N_("This record is already void"))
    uow.void(row, reason)
    return row


def unenforced(session: Session) -> list[str]:
    """Document numbers that needs or requirements name but that have no effective version: not enforced."""
    numbers = {r.document_number for r in gates.active_requirements(session)}
    numbers |= {n.document_number for n in active_needs(session) if n.document_number}
    effective = gates.effective_versions(session, numbers)
    return sorted(numbers - set(effective))


# --- qualification status and readiness for a role -----------------------------------------------


def qualification_status(session: Session, user: User) -> list[gates.Qualification]:
    """The user's standing on every document they need or that a permission they hold requires."""
    held = {code for grant in user.grants if grant.role.active for code in grant.role.permission_codes}
    numbers = set(needed_documents(session, user))
    numbers |= {r.document_number for r in gates.active_requirements(session) if r.permission in held}
    return gates.standings(session, user.id, sorted(numbers))


def role_missing(session: Session, user_id: int, role_code: str) -> list[str]:
    """The training a role needs that ``user_id`` has not completed (for access-request approval)."""
    role = session.scalar(select(Role).where(Role.code == role_code))
    if role is None:
        return []
    needs = [n for n in active_needs(session) if n.subject_kind == "role" and n.subject == role_code]
    numbers = {n.document_number for n in needs if n.document_number}
    numbers |= {
        r.document_number for r in gates.active_requirements(session) if r.permission in role.permission_codes
    }
    missing = [q.training for q in gates.missing_training(session, user_id, sorted(numbers))]
    for course_id in sorted({n.course_id for n in needs if n.course_id is not None}):
        if _passing_record(session, user_id, version_id=None, course_id=course_id) is None:
            course = session.get(TrainingCourse, course_id)
            if course is not None and course.active:
                missing.append(course.code)
    return missing


events.subscribe(VersionApproved, on_version_approved)
if not sa_event.contains(Session, "before_flush", _on_flush_assign_for_new_roles):
    sa_event.listen(Session, "before_flush", _on_flush_assign_for_new_roles)
events.subscribe(AccessRequested, on_access_requested)
if role_missing not in access_requests.ROLE_READINESS:
    access_requests.ROLE_READINESS.append(role_missing)


# --- what the API and pages show ------------------------------------------------------------------


def _logins(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    wanted = sorted({i for i in ids if i is not None})
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))} if wanted else {}


def _versions(session: Session, ids: Iterable[int | None]) -> dict[int, DocumentVersion]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {v.id: v for v in session.scalars(select(DocumentVersion).where(DocumentVersion.id.in_(wanted)))}


def records_public(session: Session, records: list[TrainingRecord]) -> list[RecordPublic]:
    users = _logins(session, [i for r in records for i in (r.user_id, r.trainer_user_id)])
    versions = _versions(session, [r.document_version_id for r in records])
    out = []
    for r in records:
        version = versions.get(r.document_version_id or 0)
        trainer = users.get(r.trainer_user_id or 0)
        out.append(
            RecordPublic(
                id=r.id, login=users[r.user_id].login, document_number=version.document.number if version else None,
                version=version.version if version else None, course_id=r.course_id, method=r.method,
                passed=r.passed, score=r.score, trainer_login=trainer.login if trainer else None,
                evidence=r.evidence, valid_until=r.valid_until, completed_at=r.completed_at, recorded_by=r.recorded_by,
            )
        )  # fmt: skip
    return out


def list_records(session: Session, *, login: str = "", number: str = "") -> list[TrainingRecord]:
    query = select(TrainingRecord).order_by(TrainingRecord.id.desc())
    if login.strip():
        user = identity.find_user(session, login)
        if user is None:
            raise NotFound(N_("Unknown log-in ID “{login}”"), login=login)
        query = query.where(TrainingRecord.user_id == user.id)
    if number.strip():
        query = (
            query.join(DocumentVersion, DocumentVersion.id == TrainingRecord.document_version_id)
            .join(Document, Document.id == DocumentVersion.document_id)
            .where(Document.number == number.strip().upper())
        )
    return list(session.scalars(query.limit(2000)))


def task_public(view: TaskView) -> TaskPublic:
    t = view.task
    return TaskPublic(
        id=t.id, login=view.user.login, full_name=view.user.full_name, department=view.user.department,
        document_number=t.document_number, version=t.version, course_id=t.course_id, source=t.source,
        due_at=t.due_at, created_at=t.created_at, open=view.open, overdue=view.overdue,
        closed_by_record_id=view.closed_by,
    )  # fmt: skip


def need_public(session: Session, need: TrainingNeed) -> NeedPublic:
    course = session.get(TrainingCourse, need.course_id) if need.course_id is not None else None
    return NeedPublic(
        id=need.id, subject_kind=need.subject_kind, subject=need.subject, document_number=need.document_number,
        course_id=need.course_id, course_code=course.code if course else None, created_at=need.created_at,
        created_by=need.created_by, voided_at=need.voided_at,
    )  # fmt: skip


def requirement_public(
    row: QualificationRequirement, effective: dict[str, gates.Effective]
) -> RequirementPublic:
    current = effective.get(row.document_number)
    return RequirementPublic(
        id=row.id, permission=row.permission, document_number=row.document_number,
        effective_version=current.version if current else None, created_at=row.created_at,
        created_by=row.created_by, voided_at=row.voided_at,
    )  # fmt: skip


def qualification_public(q: gates.Qualification) -> QualificationPublic:
    return QualificationPublic(
        document_number=q.number, version=q.version, status=q.status, qualified=q.ok,
        grace_until=q.grace_until, valid_until=q.valid_until,
    )  # fmt: skip


def access_request_public(session: Session, row: access_requests.AccessRequest) -> AccessRequestPublic:
    user = identity.get_user(session, row.user_id)
    role = session.get(Role, row.role_id)
    assert role is not None
    missing = role_missing(session, row.user_id, role.code) if row.status == "pending" else []
    return AccessRequestPublic(
        id=row.id, login=user.login, full_name=user.full_name, role_code=role.code,
        justification=row.justification, status=row.status, requested_at=row.requested_at,
        requested_by=row.requested_by, decided_at=row.decided_at, decided_by=row.decided_by,
        decision_note=row.decision_note, missing_training=missing,
    )  # fmt: skip


# --- retraining (issue 6 item 5: deviations and CAPA) ----------------------------------------------


def require_retraining(
    uow: UnitOfWork, *, user_ids: Iterable[int], document_number: str, reason: str, source: str
) -> list[RetrainingOrder]:
    """Order retraining of ``user_ids`` on the current effective version of ``document_number`` — for the
    QMS when a deviation or CAPA finds a training cause (SH-6.3.4, TJ-9.3, TJ-10.1.2.2.d).

    Each person gets a retraining order, due now. From that moment their earlier records on the version no
    longer qualify them: the gate (:func:`pharmatrace.training.gates.require_trained`, and the permissions
    that need the document) refuses them as lapsed until they pass the training again — by self-study,
    assessment or a record entered by the coordinator, completed after the order. Nothing is written if any
    person is unknown or inactive, the document has no effective version, or the reason or source is empty.
    """
    from pharmatrace.documents.service import require_effective

    session = uow.session
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        raise ValidationFailed(N_("Name at least one person to retrain"))
    if len(reason.strip()) < 5:
        raise ValidationFailed(N_("A retraining order needs a reason of at least 5 characters"))
    if len(source.strip()) < 2:
        raise ValidationFailed(N_("A retraining order names its source, e.g. the deviation or CAPA number"))
    version = require_effective(session, document_number)
    users = []
    for user_id in ids:
        user = identity.get_user(session, user_id)
        if not user.active:
            raise Conflict(N_("The account “{login}” is not active"), login=user.login)
        users.append(user)
    now = clock.now()
    orders = []
    for user in users:
        order = RetrainingOrder(
            user_id=user.id,
            document_version_id=version.id,
            document_number=version.document.number,
            version=version.version,
            reason=reason.strip(),
            source=source.strip(),
            due_at=now,
            created_at=now,
            created_by=uow.actor.login,
        )
        session.add(order)
        orders.append(order)
    session.flush()
    return orders


def void_retraining(uow: UnitOfWork, order_id: int) -> RetrainingOrder:
    """Withdraw a retraining order (ordered in error); the unit of work carries the reason."""
    order = uow.session.get(RetrainingOrder, order_id)
    if order is None:
        raise NotFound(N_("No retraining order with ID {id}"), id=order_id)
    if order.voided_at is not None:
        raise Conflict(N_("The retraining order is void already"))
    uow.void(order)
    return order


def retraining_orders(
    session: Session, *, user_id: int | None = None, number: str = ""
) -> list[RetrainingOrder]:
    query = select(RetrainingOrder).order_by(RetrainingOrder.created_at.desc(), RetrainingOrder.id.desc())
    if user_id is not None:
        query = query.where(RetrainingOrder.user_id == user_id)
    if number:
        query = query.where(RetrainingOrder.document_number == number.strip().upper())
    return list(session.scalars(query))


def retraining_public(session: Session, order: RetrainingOrder) -> RetrainingPublic:
    passed = session.scalar(
        select(TrainingRecord.id)
        .where(
            TrainingRecord.user_id == order.user_id,
            TrainingRecord.document_version_id == order.document_version_id,
            TrainingRecord.passed.is_(True),
            TrainingRecord.completed_at >= order.created_at,
        )
        .limit(1)
    )
    user = session.get(User, order.user_id)
    assert user is not None
    return RetrainingPublic(
        id=order.id, login=user.login, document_number=order.document_number, version=order.version,
        document_version_id=order.document_version_id,
        reason=order.reason, source=order.source, due_at=order.due_at, created_at=order.created_at,
        created_by=order.created_by, passed=passed is not None, voided_at=order.voided_at,
    )  # fmt: skip
