"""Courses, curricula, annual plans, sessions with attendance, effectiveness evaluations, expiring
qualifications and the training matrix (TJ-9.3, SH-6.3.4) — written through the unit of work only.

Completions are recorded by helper C's :func:`pharmatrace.training.service.record_completion`; this module
reads the training records (``training_records``) and never writes them itself. A course on a controlled
document means that document's *current effective* version (``documents.service.current_effective``).

Matrix statuses, per person × course (TJ-9.3, TJ-10.1.2.2.d):

* ``not_needed`` — no curriculum of the person's roles or position contains the course;
* ``trained`` — a passing record that still holds (on the current effective version for a document course);
* ``due`` — not (yet) trained on what is required now, and the deadline has not passed; a qualification
  that expires within :data:`EXPIRY_WINDOW_DAYS` days is due for retraining too;
* ``overdue`` — never trained and the deadline passed (the version's training grace, or an open task);
* ``lapsed`` — was trained, but the qualification no longer holds: it expired, or a newer version became
  effective and its grace period is over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ReasonRequired, ValidationFailed
from pharmatrace.kernel.identity.models import Role, User, UserRole
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.training.course_models import (
    Attendance,
    Curriculum,
    CurriculumAssignment,
    CurriculumCourse,
    EffectivenessEvaluation,
    PlanItem,
    TrainingCourse,
    TrainingPlan,
    TrainingSession,
)
from pharmatrace.training.course_schemas import (
    AssignmentCreate,
    AssignmentPublic,
    AttendancePublic,
    AttendanceRecord,
    CourseCreate,
    CoursePublic,
    CourseRef,
    CourseUpdate,
    CurriculumCreate,
    CurriculumPublic,
    EffectivenessCreate,
    EffectivenessPublic,
    ExpiringPublic,
    Matrix,
    MatrixCell,
    MatrixColumn,
    MatrixRow,
    PlanCreate,
    PlanItemCreate,
    PlanItemPublic,
    PlanPublic,
    PlanStatusChange,
    SessionCreate,
    SessionPublic,
)

EXPIRY_WINDOW_DAYS = 60  # qualifications expiring within this many days are listed for retraining
PLAN_MOVES = {"draft": ("approved",), "approved": ("closed",), "closed": ()}


today = clock.today  # the plant's calendar day (Beijing)


# --- look-ups --------------------------------------------------------------------------------------------------


def user_by_login(session: Session, login: str) -> User:
    user = session.scalar(select(User).where(User.login == login.strip().lower()))
    if user is None:
        raise NotFound(N_("No user with log-in ID “{login}”"), login=login)
    return user


def _active_user(session: Session, login: str) -> User:
    user = user_by_login(session, login)
    if not user.active:
        raise Conflict(N_("The account “{login}” is deactivated"), login=user.login)
    return user


def get_course(session: Session, course_id: int) -> TrainingCourse:
    course = session.get(TrainingCourse, course_id)
    if course is None:
        raise NotFound(N_("No training course with ID {id}"), id=course_id)
    return course


def course_by_code(session: Session, code: str) -> TrainingCourse:
    course = session.scalar(select(TrainingCourse).where(TrainingCourse.code == code.strip().upper()))
    if course is None:
        raise NotFound(N_("No training course with code “{code}”"), code=code)
    return course


def active_course(session: Session, code: str) -> TrainingCourse:
    course = course_by_code(session, code)
    if not course.active:
        raise Conflict(N_("The training course “{code}” is inactive"), code=course.code)
    return course


def current_version(session: Session, number: str) -> Any | None:
    """The current effective version of a controlled document (helper A's service), or ``None``."""
    try:
        from pharmatrace.documents.service import current_effective
    except ImportError:  # the documents core is not there yet
        return None
    return current_effective(session, number)


def _document_known(session: Session, number: str) -> bool:
    try:
        from pharmatrace.documents.models import Document
    except ImportError:
        return True  # cannot check yet; the number is kept as given
    return session.scalar(select(Document.id).where(Document.number == number)) is not None


def _taken(session: Session, model: Any, code: str) -> None:
    if session.scalar(select(model.id).where(model.code == code)) is not None:
        raise Conflict(N_("The code “{code}” is already taken"), code=code)


# --- courses ------------------------------------------------------------------------------------------------------


def create_course(uow: UnitOfWork, data: CourseCreate) -> TrainingCourse:
    session = uow.session
    _taken(session, TrainingCourse, data.code)
    if data.document_number is not None and not _document_known(session, data.document_number):
        raise NotFound(N_("No controlled document numbered “{number}”"), number=data.document_number)
    if data.kind == "self_study" and data.document_number is None:
        raise ValidationFailed(N_("A self-study course is the reading of a controlled document: name it"))
    course = TrainingCourse(
        code=data.code, title=data.title, kind=data.kind, document_number=data.document_number,
        description=data.description, pass_mark=data.pass_mark, validity_months=data.validity_months,
        questions_per_assessment=data.questions_per_assessment, active=True,
        created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(course)
    session.flush()
    return course


def update_course(uow: UnitOfWork, course_id: int, data: CourseUpdate) -> TrainingCourse:
    uow.reason = data.reason
    course = get_course(uow.session, course_id)
    for field in data.model_fields_set - {"reason"}:
        value = getattr(data, field)
        if value is None and field in ("title", "description", "questions_per_assessment", "active"):
            raise ValidationFailed(N_("The field “{field}” cannot be cleared"), field=field)
        setattr(course, field, value)
    uow.session.flush()
    return course


def list_courses(
    session: Session, *, text: str = "", kind: str = "", active: bool | None = None
) -> list[TrainingCourse]:
    query = select(TrainingCourse).order_by(TrainingCourse.code)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            or_(
                TrainingCourse.code.ilike(like),
                TrainingCourse.title.ilike(like),
                TrainingCourse.document_number.ilike(like),
            )
        )
    if kind:
        query = query.where(TrainingCourse.kind == kind)
    if active is not None:
        query = query.where(TrainingCourse.active.is_(active))
    return list(session.scalars(query))


def course_public(session: Session, course: TrainingCourse) -> CoursePublic:
    from pharmatrace.training.course_models import Question

    count = session.scalar(
        select(func.count(Question.id)).where(Question.course_id == course.id, Question.voided_at.is_(None))
    )
    return CoursePublic(
        id=course.id, code=course.code, title=course.title, kind=course.kind,
        document_number=course.document_number, description=course.description, pass_mark=course.pass_mark,
        validity_months=course.validity_months, questions_per_assessment=course.questions_per_assessment,
        active=course.active, questions=int(count or 0), created_at=course.created_at, created_by=course.created_by,
    )  # fmt: skip


def _ref(course: TrainingCourse) -> CourseRef:
    return CourseRef(
        id=course.id,
        code=course.code,
        title=course.title,
        kind=course.kind,
        document_number=course.document_number,
    )


# --- curricula ---------------------------------------------------------------------------------------------------------


def get_curriculum(session: Session, curriculum_id: int) -> Curriculum:
    curriculum = session.get(Curriculum, curriculum_id)
    if curriculum is None:
        raise NotFound(N_("No training curriculum with ID {id}"), id=curriculum_id)
    return curriculum


def _open_curriculum(session: Session, curriculum_id: int) -> Curriculum:
    curriculum = get_curriculum(session, curriculum_id)
    if curriculum.voided_at is not None:
        raise Conflict(N_("The training curriculum “{code}” is void"), code=curriculum.code)
    return curriculum


def create_curriculum(uow: UnitOfWork, data: CurriculumCreate) -> Curriculum:
    session = uow.session
    _taken(session, Curriculum, data.code)
    courses = [active_course(session, code) for code in dict.fromkeys(data.course_codes)]
    curriculum = Curriculum(code=data.code, name=data.name, description=data.description,
                            created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
    session.add(curriculum)
    session.flush()
    for course in courses:
        session.add(CurriculumCourse(curriculum_id=curriculum.id, course_id=course.id,
                                     created_at=clock.now(), created_by=uow.actor.login))  # fmt: skip
    session.flush()
    return curriculum


def add_curriculum_course(uow: UnitOfWork, curriculum_id: int, course_code: str) -> CurriculumCourse:
    session = uow.session
    curriculum = _open_curriculum(session, curriculum_id)
    course = active_course(session, course_code)
    link = session.scalar(
        select(CurriculumCourse).where(
            CurriculumCourse.curriculum_id == curriculum.id, CurriculumCourse.course_id == course.id
        )
    )
    if link is not None:
        if link.voided_at is None:
            raise Conflict(N_("The course “{code}” is already in this curriculum"), code=course.code)
        uow.reason = uow.reason or f"course {course.code} put back into curriculum {curriculum.code}"
        link.voided_at = None
    else:
        link = CurriculumCourse(curriculum_id=curriculum.id, course_id=course.id,
                                created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
        session.add(link)
    session.flush()
    return link


def remove_curriculum_course(uow: UnitOfWork, curriculum_id: int, course_id: int) -> CurriculumCourse:
    if uow.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))
    session = uow.session
    _open_curriculum(session, curriculum_id)
    link = session.scalar(
        select(CurriculumCourse).where(
            CurriculumCourse.curriculum_id == curriculum_id,
            CurriculumCourse.course_id == course_id,
            CurriculumCourse.voided_at.is_(None),
        )
    )
    if link is None:
        raise NotFound(N_("The course is not in this curriculum"))
    uow.void(link)
    return link


def assign_curriculum(uow: UnitOfWork, curriculum_id: int, data: AssignmentCreate) -> CurriculumAssignment:
    session = uow.session
    curriculum = _open_curriculum(session, curriculum_id)
    if data.target == "role" and session.scalar(select(Role.id).where(Role.code == data.value)) is None:
        raise NotFound(N_("No role with code “{code}”"), code=data.value)
    row = session.scalar(
        select(CurriculumAssignment).where(
            CurriculumAssignment.curriculum_id == curriculum.id,
            CurriculumAssignment.target == data.target,
            CurriculumAssignment.value == data.value,
        )
    )
    if row is not None:
        if row.voided_at is None:
            raise Conflict(N_("The curriculum is already assigned to “{value}”"), value=data.value)
        uow.reason = uow.reason or f"curriculum {curriculum.code} assigned again to {data.value}"
        row.voided_at = None
    else:
        row = CurriculumAssignment(curriculum_id=curriculum.id, target=data.target, value=data.value,
                                   created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
        session.add(row)
    session.flush()
    return row


def unassign_curriculum(uow: UnitOfWork, curriculum_id: int, assignment_id: int) -> CurriculumAssignment:
    if uow.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))
    row = uow.session.get(CurriculumAssignment, assignment_id)
    if row is None or row.curriculum_id != curriculum_id or row.voided_at is not None:
        raise NotFound(N_("No assignment with ID {id}"), id=assignment_id)
    uow.void(row)
    return row


def void_curriculum(uow: UnitOfWork, curriculum_id: int) -> Curriculum:
    if uow.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))
    curriculum = _open_curriculum(uow.session, curriculum_id)
    uow.void(curriculum)
    return curriculum


def list_curricula(session: Session, *, include_void: bool = False) -> list[Curriculum]:
    query = select(Curriculum).order_by(Curriculum.code)
    if not include_void:
        query = query.where(Curriculum.voided_at.is_(None))
    return list(session.scalars(query))


def curriculum_public(session: Session, curriculum: Curriculum) -> CurriculumPublic:
    links = session.scalars(
        select(CurriculumCourse)
        .where(CurriculumCourse.curriculum_id == curriculum.id, CurriculumCourse.voided_at.is_(None))
        .order_by(CurriculumCourse.id)
    )
    assignments = session.scalars(
        select(CurriculumAssignment)
        .where(CurriculumAssignment.curriculum_id == curriculum.id, CurriculumAssignment.voided_at.is_(None))
        .order_by(CurriculumAssignment.id)
    )
    return CurriculumPublic(
        id=curriculum.id, code=curriculum.code, name=curriculum.name, description=curriculum.description,
        courses=[_ref(link.course) for link in links],
        assignments=[AssignmentPublic(id=a.id, target=a.target, value=a.value) for a in assignments],
        voided_at=curriculum.voided_at,
    )  # fmt: skip


# --- annual plans ------------------------------------------------------------------------------------------------------


def get_plan(session: Session, plan_id: int) -> TrainingPlan:
    plan = session.get(TrainingPlan, plan_id)
    if plan is None:
        raise NotFound(N_("No training plan with ID {id}"), id=plan_id)
    return plan


def plan_by_code(session: Session, code: str) -> TrainingPlan:
    plan = session.scalar(select(TrainingPlan).where(TrainingPlan.code == code.strip().upper()))
    if plan is None:
        raise NotFound(N_("No training plan with code “{code}”"), code=code)
    return plan


def create_plan(uow: UnitOfWork, data: PlanCreate) -> TrainingPlan:
    session = uow.session
    _taken(session, TrainingPlan, data.code)
    codes = [item.course_code for item in data.items]
    if len(set(codes)) != len(codes):
        raise ValidationFailed(N_("A course appears twice in the plan"))
    plan = TrainingPlan(code=data.code, year=data.year, title=data.title, status="draft",
                        created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
    session.add(plan)
    session.flush()
    for item in data.items:
        _add_item(uow, plan, item)
    return plan


def _add_item(uow: UnitOfWork, plan: TrainingPlan, data: PlanItemCreate) -> PlanItem:
    session = uow.session
    course = active_course(session, data.course_code)
    if session.scalar(
        select(PlanItem.id).where(PlanItem.plan_id == plan.id, PlanItem.course_id == course.id)
    ) is not None:  # fmt: skip
        raise Conflict(N_("The course “{code}” is already in this plan"), code=course.code)
    item = PlanItem(plan_id=plan.id, course_id=course.id, planned_sessions=data.planned_sessions,
                    planned_month=data.planned_month, audience=data.audience,
                    created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
    session.add(item)
    session.flush()
    return item


def add_plan_item(uow: UnitOfWork, plan_id: int, data: PlanItemCreate) -> PlanItem:
    plan = get_plan(uow.session, plan_id)
    if plan.status == "closed" or plan.voided_at is not None:
        raise Conflict(N_("The training plan “{code}” is closed"), code=plan.code)
    return _add_item(uow, plan, data)


def change_plan_status(uow: UnitOfWork, plan_id: int, data: PlanStatusChange) -> TrainingPlan:
    uow.reason = data.reason
    plan = get_plan(uow.session, plan_id)
    if data.status not in PLAN_MOVES[plan.status]:
        raise Conflict(
            N_("A training plan cannot go from “{old}” to “{new}”"), old=plan.status, new=data.status
        )
    if data.status == "approved" and not uow.session.scalar(
        select(func.count(PlanItem.id)).where(PlanItem.plan_id == plan.id, PlanItem.voided_at.is_(None))
    ):  # fmt: skip
        raise Conflict(N_("A training plan without courses cannot be approved"))
    plan.status = data.status
    uow.session.flush()
    return plan


def list_plans(session: Session, *, year: int | None = None) -> list[TrainingPlan]:
    query = select(TrainingPlan).where(TrainingPlan.voided_at.is_(None)).order_by(TrainingPlan.year.desc())
    if year is not None:
        query = query.where(TrainingPlan.year == year)
    return list(session.scalars(query))


def plan_public(session: Session, plan: TrainingPlan) -> PlanPublic:
    items = session.scalars(
        select(PlanItem)
        .where(PlanItem.plan_id == plan.id, PlanItem.voided_at.is_(None))
        .order_by(PlanItem.id)
    )
    held = dict(
        session.execute(
            select(TrainingSession.course_id, func.count(TrainingSession.id))
            .where(TrainingSession.plan_id == plan.id, TrainingSession.status == "held")
            .group_by(TrainingSession.course_id)
        ).all()
    )
    return PlanPublic(
        id=plan.id, code=plan.code, year=plan.year, title=plan.title, status=plan.status,
        items=[PlanItemPublic(id=i.id, course_code=i.course.code, course_title=i.course.title,
                              planned_sessions=i.planned_sessions, planned_month=i.planned_month,
                              audience=i.audience, sessions_held=int(held.get(i.course_id, 0)))
               for i in items],
        created_at=plan.created_at, created_by=plan.created_by,
    )  # fmt: skip


# --- sessions and attendance ----------------------------------------------------------------------------------------


def get_session(session: Session, session_id: int) -> TrainingSession:
    row = session.get(TrainingSession, session_id)
    if row is None:
        raise NotFound(N_("No training session with ID {id}"), id=session_id)
    return row


def session_by_code(session: Session, code: str) -> TrainingSession:
    row = session.scalar(select(TrainingSession).where(TrainingSession.code == code.strip().upper()))
    if row is None:
        raise NotFound(N_("No training session with code “{code}”"), code=code)
    return row


def create_session(uow: UnitOfWork, data: SessionCreate) -> TrainingSession:
    session = uow.session
    _taken(session, TrainingSession, data.code)
    course = active_course(session, data.course_code)
    if course.kind == "self_study":
        raise ValidationFailed(N_("A self-study course has no sessions; the trainee reads the document"))
    plan_id = None
    if data.plan_code is not None:
        plan = plan_by_code(session, data.plan_code)
        if plan.status == "closed":
            raise Conflict(N_("The training plan “{code}” is closed"), code=plan.code)
        plan_id = plan.id
    trainer = _active_user(session, data.trainer_login)
    attendees = [_active_user(session, login) for login in dict.fromkeys(data.attendees)]
    if any(a.id == trainer.id for a in attendees):
        raise ValidationFailed(N_("The trainer cannot be an attendee of their own session"))
    row = TrainingSession(
        code=data.code, course_id=course.id, plan_id=plan_id, held_on=data.held_on, hours=data.hours,
        trainer_user_id=trainer.id, place=data.place, status="planned",
        created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(row)
    session.flush()
    for attendee in attendees:
        session.add(Attendance(session_id=row.id, user_id=attendee.id,
                               created_at=clock.now(), created_by=uow.actor.login))  # fmt: skip
    session.flush()
    return row


def record_attendance(uow: UnitOfWork, session_id: int, data: AttendanceRecord) -> TrainingSession:
    """Take attendance (签到): present or absent per attendee; someone not invited is added. Correcting an
    entry already taken needs a reason. The session is then held. A present attendee of a course without a
    pass mark has completed it: the completion is recorded (helper C's ``record_completion``); a course with
    a pass mark is completed by passing its assessment."""
    from pharmatrace.training.service import record_completion

    session = uow.session
    row = get_session(session, session_id)
    if row.status == "cancelled":
        raise Conflict(N_("The training session “{code}” is cancelled"), code=row.code)
    if row.held_on > today():
        raise Conflict(
            N_("Attendance is taken on or after the session's day ({date})"), date=row.held_on.isoformat()
        )
    logins = [e.login for e in data.entries]
    if len(set(logins)) != len(logins):
        raise ValidationFailed(N_("An attendee appears twice"))
    existing = {
        a.user_id: a for a in session.scalars(select(Attendance).where(Attendance.session_id == row.id))
    }
    users = [(entry, user_by_login(session, entry.login)) for entry in data.entries]  # resolved first
    corrections = False
    for entry, user in users:
        if user.id == row.trainer_user_id:
            raise ValidationFailed(N_("The trainer cannot be an attendee of their own session"))
        line = existing.get(user.id)
        if line is None and not user.active:
            raise Conflict(N_("The account “{login}” is deactivated"), login=user.login)
        if line is not None and line.present is not None and line.present != entry.present:
            corrections = True
    if corrections and data.reason is None:
        raise ReasonRequired(N_("Correcting attendance already taken needs a reason"))
    uow.reason = data.reason or uow.reason or f"attendance taken at training session {row.code}"
    completed: list[int] = []
    moment = clock.now()
    for entry, user in users:
        line = existing.get(user.id)
        if line is None:
            line = Attendance(
                session_id=row.id, user_id=user.id, created_at=moment, created_by=uow.actor.login
            )
            session.add(line)
        elif line.present == entry.present:
            continue
        if entry.present and line.present is None:
            completed.append(user.id)
        line.present = entry.present
        line.recorded_at = moment
        line.recorded_by = uow.actor.login
    if row.status == "planned":
        row.status = "held"
    session.flush()
    course = row.course
    if course.pass_mark is None:
        version = current_version(session, course.document_number) if course.document_number else None
        for user_id in completed:
            record_completion(
                uow, user_id=user_id, document_version_id=version.id if version is not None else None,
                course_id=course.id, method=course.kind, passed=True, score=None,
                trainer_user_id=row.trainer_user_id, evidence=f"training_session:{row.id}", valid_until=None,
            )  # fmt: skip
    return row


def cancel_session(uow: UnitOfWork, session_id: int) -> TrainingSession:
    if uow.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))
    row = get_session(uow.session, session_id)
    if row.status != "planned":
        raise Conflict(N_("Only a planned session can be cancelled"))
    row.status = "cancelled"
    uow.session.flush()
    return row


def list_sessions(
    session: Session, *, course_id: int | None = None, status: str = "", text: str = ""
) -> list[TrainingSession]:
    query = select(TrainingSession).order_by(TrainingSession.held_on.desc(), TrainingSession.id.desc())
    if course_id is not None:
        query = query.where(TrainingSession.course_id == course_id)
    if status:
        query = query.where(TrainingSession.status == status)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.join(TrainingSession.course).where(
            or_(
                TrainingSession.code.ilike(like),
                TrainingCourse.title.ilike(like),
                TrainingCourse.code.ilike(like),
            )
        )
    return list(session.scalars(query))


def session_public(session: Session, row: TrainingSession) -> SessionPublic:
    trainer = session.get(User, row.trainer_user_id)
    assert trainer is not None
    lines = session.execute(
        select(Attendance, User).join(User, User.id == Attendance.user_id)
        .where(Attendance.session_id == row.id).order_by(User.login)
    ).all()  # fmt: skip
    plan = session.get(TrainingPlan, row.plan_id) if row.plan_id is not None else None
    return SessionPublic(
        id=row.id, code=row.code, course_code=row.course.code, course_title=row.course.title,
        course_kind=row.course.kind, plan_code=plan.code if plan is not None else None, held_on=row.held_on,
        hours=row.hours, trainer_login=trainer.login, trainer_name=trainer.full_name, place=row.place,
        status=row.status,
        attendance=[AttendancePublic(user_id=u.id, login=u.login, full_name=u.full_name, department=u.department,
                                     present=a.present, recorded_at=a.recorded_at) for a, u in lines],
        created_at=row.created_at, created_by=row.created_by,
    )  # fmt: skip


# --- effectiveness --------------------------------------------------------------------------------------------------


def record_effectiveness(uow: UnitOfWork, data: EffectivenessCreate) -> EffectivenessEvaluation:
    """An evaluation of training effectiveness (培训效果评估) by the caller, for a course or one session."""
    session = uow.session
    course = course_by_code(session, data.course_code)
    session_id = None
    if data.session_code is not None:
        row = session_by_code(session, data.session_code)
        if row.course_id != course.id:
            raise ValidationFailed(N_("The session “{session}” is not of the course “{course}”"),
                                   session=row.code, course=course.code)  # fmt: skip
        if row.status != "held":
            raise Conflict(N_("Only a session that was held can be evaluated"))
        if data.evaluated_on < row.held_on:
            raise ValidationFailed(N_("The evaluation cannot come before the session"))
        session_id = row.id
    if data.evaluated_on > today():
        raise ValidationFailed(N_("The date {date} is in the future"), date=data.evaluated_on.isoformat())
    evaluation = EffectivenessEvaluation(
        course_id=course.id, session_id=session_id, method=data.method, result=data.result, outcome=data.outcome,
        evaluator_user_id=uow.actor.user_id, evaluated_on=data.evaluated_on,
        created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(evaluation)
    session.flush()
    return evaluation


def void_effectiveness(uow: UnitOfWork, evaluation_id: int) -> EffectivenessEvaluation:
    if uow.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))
    row = uow.session.get(EffectivenessEvaluation, evaluation_id)
    if row is None or row.voided_at is not None:
        raise NotFound(N_("No effectiveness evaluation with ID {id}"), id=evaluation_id)
    uow.void(row)
    return row


def list_effectiveness(
    session: Session, *, course_id: int | None = None, session_id: int | None = None
) -> list[EffectivenessEvaluation]:
    query = select(EffectivenessEvaluation).order_by(EffectivenessEvaluation.evaluated_on.desc())
    if course_id is not None:
        query = query.where(EffectivenessEvaluation.course_id == course_id)
    if session_id is not None:
        query = query.where(EffectivenessEvaluation.session_id == session_id)
    return list(session.scalars(query))


def effectiveness_public(session: Session, row: EffectivenessEvaluation) -> EffectivenessPublic:
    evaluator = session.get(User, row.evaluator_user_id)
    assert evaluator is not None
    code = session.get(TrainingSession, row.session_id).code if row.session_id else None  # type: ignore[union-attr]
    return EffectivenessPublic(
        id=row.id, course_code=row.course.code, course_title=row.course.title, session_code=code,
        method=row.method, result=row.result, outcome=row.outcome, evaluator_login=evaluator.login,
        evaluator_name=evaluator.full_name, evaluated_on=row.evaluated_on, voided_at=row.voided_at,
    )  # fmt: skip


# --- records, read-only (helper C's table) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    id: int
    number: str
    version: int
    effective_from: datetime | None
    grace_days: int
    training_required: bool


def _versions_by_id(session: Session, ids: Iterable[int]) -> dict[int, _Version]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    from pharmatrace.documents.models import Document, DocumentVersion

    rows = session.execute(
        select(DocumentVersion, Document.number)
        .join(Document, Document.id == DocumentVersion.document_id)
        .where(DocumentVersion.id.in_(wanted))
    ).all()
    return {v.id: _as_version(v, number) for v, number in rows}


def _as_version(version: Any, number: str) -> _Version:
    return _Version(
        id=version.id, number=number, version=version.version, effective_from=version.effective_from,
        grace_days=int(version.training_grace_days or 0), training_required=bool(version.training_required),
    )  # fmt: skip


def _passing_records(session: Session, user_ids: Iterable[int] | None = None) -> list[Any]:
    from pharmatrace.training.models import TrainingRecord

    query = (
        select(TrainingRecord).where(TrainingRecord.passed.is_(True)).order_by(TrainingRecord.completed_at)
    )
    if user_ids is not None:
        query = query.where(TrainingRecord.user_id.in_(list(user_ids)))
    return list(session.scalars(query))


def expiring(session: Session, *, within_days: int = EXPIRY_WINDOW_DAYS) -> list[ExpiringPublic]:
    """Qualifications whose ``valid_until`` lies within ``within_days`` days or has passed, and that no later
    passing record on the same course or document renewed — the retraining list (TJ-9.3)."""
    day = today()
    records = _passing_records(session)
    versions = _versions_by_id(session, (r.document_version_id for r in records))
    courses = {c.id: c for c in session.scalars(select(TrainingCourse))}

    def subject(record: Any) -> tuple[str, str]:
        if record.course_id is not None:
            return ("course", str(record.course_id))
        return ("document", versions[record.document_version_id].number)

    latest: dict[tuple[int, tuple[str, str]], Any] = {}
    for record in records:  # oldest first: the last one per person and subject wins
        latest[(record.user_id, subject(record))] = record
    users = {u.id: u for u in session.scalars(select(User).where(User.active.is_(True)))}
    found: list[ExpiringPublic] = []
    for (user_id, _), record in latest.items():
        user = users.get(user_id)
        if (
            user is None
            or record.valid_until is None
            or record.valid_until > day + timedelta(days=within_days)
        ):
            continue
        if record.course_id is not None:
            course = courses[record.course_id]
            code, title = course.code, course.title
        else:
            version = versions[record.document_version_id]
            code, title = f"{version.number} v{version.version}", version.number
        found.append(ExpiringPublic(
            record_id=record.id, login=user.login, full_name=user.full_name, department=user.department,
            subject=code, subject_title=title, valid_until=record.valid_until,
            days_left=(record.valid_until - day).days, expired=record.valid_until < day,
        ))  # fmt: skip
    return sorted(found, key=lambda e: (e.valid_until, e.login))


# --- the matrix ---------------------------------------------------------------------------------------------------------


def _roles_by_user(session: Session) -> dict[int, list[str]]:
    roles: dict[int, list[str]] = {}
    for user_id, code in session.execute(
        select(UserRole.user_id, Role.code).join(Role, Role.id == UserRole.role_id).order_by(Role.code)
    ):
        roles.setdefault(user_id, []).append(code)
    return roles


def _required_courses(
    session: Session,
) -> tuple[list[TrainingCourse], dict[int, list[str]], list[tuple[str, str, int]]]:
    """Courses in live curricula, the curricula each is in, and (target, value, course_id) requirements."""
    rows = session.execute(
        select(CurriculumCourse.course_id, Curriculum.id, Curriculum.code)
        .join(Curriculum, Curriculum.id == CurriculumCourse.curriculum_id)
        .where(CurriculumCourse.voided_at.is_(None), Curriculum.voided_at.is_(None))
    ).all()
    in_curricula: dict[int, list[str]] = {}
    by_curriculum: dict[int, list[int]] = {}
    for course_id, curriculum_id, code in rows:
        in_curricula.setdefault(course_id, []).append(code)
        by_curriculum.setdefault(curriculum_id, []).append(course_id)
    needs: list[tuple[str, str, int]] = []
    for target, value, curriculum_id in session.execute(
        select(
            CurriculumAssignment.target, CurriculumAssignment.value, CurriculumAssignment.curriculum_id
        ).where(CurriculumAssignment.voided_at.is_(None))
    ):
        needs.extend((target, value, course_id) for course_id in by_curriculum.get(curriculum_id, []))
    courses = [
        c
        for c in session.scalars(
            select(TrainingCourse).where(TrainingCourse.active.is_(True)).order_by(TrainingCourse.code)
        )
        if c.id in in_curricula
    ]
    return courses, in_curricula, needs


def _open_task_due(session: Session) -> dict[tuple[int, str, int], datetime]:
    """Earliest due time of open tasks, by (user, "course"/"version", id) — helper C's tasks, read-only."""
    try:
        from pharmatrace.training.models import TrainingTask
    except ImportError:
        return {}
    due: dict[tuple[int, str, int], datetime] = {}
    for task in session.scalars(select(TrainingTask).where(TrainingTask.voided_at.is_(None))):
        if task.document_version_id is not None:
            key = (task.user_id, "version", task.document_version_id)
        elif task.course_id is not None:
            key = (task.user_id, "course", task.course_id)
        else:
            continue
        if key not in due or task.due_at < due[key]:
            due[key] = task.due_at
    return due


def status_of(
    course: TrainingCourse, user_id: int, records: list[Any], versions: dict[int, _Version],
    current: _Version | None, tasks: dict[tuple[int, str, int], datetime], now: datetime,
) -> MatrixCell:  # fmt: skip
    """One cell of the matrix, from the person's passing records (oldest first) — see the module's notes."""
    day = clock.to_beijing(now).date()
    window = day + timedelta(days=EXPIRY_WINDOW_DAYS)

    def held(record: Any) -> bool:
        return record.valid_until is None or record.valid_until >= day

    if current is not None and current.training_required:
        on_current = [r for r in records if r.document_version_id == current.id]
        if on_current:
            last = on_current[-1]
            if not held(last):
                return MatrixCell(course_id=course.id, status="lapsed", detail=str(last.valid_until))
            if last.valid_until is not None and last.valid_until <= window:
                return MatrixCell(course_id=course.id, status="due", detail=str(last.valid_until))
            return MatrixCell(course_id=course.id, status="trained", detail=f"v{current.version}")
        earlier = [
            r for r in records
            if r.course_id == course.id or (
                r.document_version_id in versions and versions[r.document_version_id].number == current.number)
        ]  # fmt: skip
        deadline = (
            current.effective_from + timedelta(days=current.grace_days) if current.effective_from else None
        )
        task_due = tasks.get((user_id, "version", current.id))
        if task_due is not None and (deadline is None or task_due < deadline):
            deadline = task_due
        late = deadline is not None and deadline <= now
        if earlier:
            seen = versions.get(earlier[-1].document_version_id)
            detail = f"v{seen.version}" if seen is not None else ""
            return MatrixCell(course_id=course.id, status="lapsed" if late else "due", detail=detail)
        return MatrixCell(course_id=course.id, status="overdue" if late else "due")
    on_course = [r for r in records if r.course_id == course.id]
    if on_course:
        last = on_course[-1]
        if not held(last):
            return MatrixCell(course_id=course.id, status="lapsed", detail=str(last.valid_until))
        if last.valid_until is not None and last.valid_until <= window:
            return MatrixCell(course_id=course.id, status="due", detail=str(last.valid_until))
        return MatrixCell(course_id=course.id, status="trained")
    task_due = tasks.get((user_id, "course", course.id))
    late = task_due is not None and task_due <= now
    return MatrixCell(course_id=course.id, status="overdue" if late else "due")


def _retrained(session: Session, records: list[Any]) -> list[Any]:
    """Leave out the records completed before a live retraining order on their version (a deviation or CAPA
    ordered retraining: the earlier training no longer counts; ``training.service.require_retraining``)."""
    from pharmatrace.training.models import RetrainingOrder

    if not records:
        return records
    ordered = {
        (user_id, version_id): since
        for user_id, version_id, since in session.execute(
            select(
                RetrainingOrder.user_id,
                RetrainingOrder.document_version_id,
                func.max(RetrainingOrder.created_at),
            )
            .where(RetrainingOrder.voided_at.is_(None))
            .group_by(RetrainingOrder.user_id, RetrainingOrder.document_version_id)
        )
    }
    return [
        r for r in records
        if (since := ordered.get((r.user_id, r.document_version_id))) is None or r.completed_at >= since
    ]  # fmt: skip


def matrix(session: Session, *, department: str = "", role: str = "") -> Matrix:
    """People × courses of the live curricula, each cell coloured by status (TJ-9.3)."""
    courses, in_curricula, needs = _required_courses(session)
    roles = _roles_by_user(session)
    query = select(User).where(User.active.is_(True)).order_by(User.department, User.login)
    if department:
        query = query.where(User.department == department)
    users = [u for u in session.scalars(query) if not role or role in roles.get(u.id, [])]
    records = _retrained(session, _passing_records(session, [u.id for u in users]) if users else [])
    versions = _versions_by_id(session, (r.document_version_id for r in records))
    current: dict[int, _Version | None] = {}
    for course in courses:
        version = current_version(session, course.document_number) if course.document_number else None
        current[course.id] = (
            _as_version(version, course.document_number or "") if version is not None else None
        )
        if version is not None:
            versions.setdefault(version.id, current[course.id])  # type: ignore[arg-type]
    tasks = _open_task_due(session)
    now = clock.now()
    by_user: dict[int, list[Any]] = {}
    for record in records:
        by_user.setdefault(record.user_id, []).append(record)
    rows: list[MatrixRow] = []
    for user in users:
        mine = {course_id for target, value, course_id in needs
                if (target == "role" and value in roles.get(user.id, [])) or (target == "position" and value == user.position)}  # fmt: skip
        cells = [
            status_of(c, user.id, by_user.get(user.id, []), versions, current[c.id], tasks, now)
            if c.id in mine else MatrixCell(course_id=c.id, status="not_needed")
            for c in courses
        ]  # fmt: skip
        rows.append(MatrixRow(user_id=user.id, login=user.login, full_name=user.full_name,
                              department=user.department, position=user.position,
                              roles=roles.get(user.id, []), cells=cells))  # fmt: skip
    columns = [
        MatrixColumn(course_id=c.id, code=c.code, title=c.title, document_number=c.document_number,
                     curricula=sorted(in_curricula.get(c.id, [])))
        for c in courses
    ]  # fmt: skip
    return Matrix(columns=columns, rows=rows)
