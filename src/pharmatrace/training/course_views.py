"""Pages: courses with their question banks, curricula, annual plans, sessions with attendance, taking an
assessment (tablet-friendly), practical assessments signed by the trainer, effectiveness evaluations, the
training matrix and expiring qualifications (TJ-9.3). Lists filter; records show their audit trail and
signatures; forms write through the services (:mod:`pharmatrace.training.courses`, ``.assessments``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_, NotFound, PharmaTraceError
from pharmatrace.kernel.identity.models import Role, User
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.training import assessments, courses
from pharmatrace.training.course_models import (
    COURSE_KINDS,
    EFFECTIVENESS_METHODS,
    EFFECTIVENESS_RESULTS,
    PLAN_STATUSES,
    QUESTION_KINDS,
    SESSION_STATUSES,
    AssessmentAttempt,
    Attendance,
    CurriculumAssignment,
    CurriculumCourse,
    PlanItem,
    Question,
)
from pharmatrace.training.course_schemas import (
    AssessmentStart,
    AssessmentSubmit,
    AssignmentCreate,
    AttendanceRecord,
    CourseCreate,
    CourseUpdate,
    CurriculumCourseAdd,
    CurriculumCreate,
    EffectivenessCreate,
    PlanCreate,
    PlanItemCreate,
    PlanStatusChange,
    PracticalAssessmentCreate,
    QuestionCreate,
    QuestionUpdate,
    SessionCreate,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/training", include_in_schema=False)

TrainingView = Annotated[Principal, Depends(Requires("training.view"))]
TrainingTake = Annotated[Principal, Depends(Requires("training.take"))]
TrainingManage = Annotated[Principal, Depends(Requires("training.manage"))]
TrainingAssess = Annotated[Principal, Depends(Requires("training.assess"))]

KIND_LABELS = {"self_study": N_("Self-study"), "classroom": N_("Classroom"), "on_the_job": N_("On the job")}
QUESTION_LABELS = {
    "single": N_("Single choice"),
    "multiple": N_("Multiple choice"),
    "true_false": N_("True or false"),
}
PLAN_LABELS = {"draft": N_("Draft"), "approved": N_("Approved"), "closed": N_("Closed")}
SESSION_LABELS = {"planned": N_("Planned"), "held": N_("Held"), "cancelled": N_("Cancelled")}
METHOD_LABELS = {
    "written_test": N_("Written test"),
    "observation": N_("Observation on the job"),
    "interview": N_("Interview"),
    "questionnaire": N_("Questionnaire"),
    "performance_review": N_("Performance and deviation review"),
}
RESULT_LABELS = {
    "effective": N_("Training effective"),
    "partially_effective": N_("Partly effective"),
    "not_effective": N_("Not effective"),
}
STATUS_LABELS = {
    "trained": N_("Trained"),
    "due": N_("Training due"),
    "overdue": N_("Overdue"),
    "lapsed": N_("Lapsed"),
    "not_needed": N_("Not needed"),
}
TARGET_LABELS = {"role": N_("Role"), "position": N_("Position")}
assert set(KIND_LABELS) == set(COURSE_KINDS)
assert set(QUESTION_LABELS) == set(QUESTION_KINDS)
assert set(PLAN_LABELS) == set(PLAN_STATUSES)
assert set(SESSION_LABELS) == set(SESSION_STATUSES)
assert set(METHOD_LABELS) == set(EFFECTIVENESS_METHODS)
assert set(RESULT_LABELS) == set(EFFECTIVENESS_RESULTS)
LABELS = {"kinds": KIND_LABELS, "questions": QUESTION_LABELS, "plans": PLAN_LABELS, "sessions": SESSION_LABELS,
          "methods": METHOD_LABELS, "results": RESULT_LABELS, "status": STATUS_LABELS,
          "targets": TARGET_LABELS}  # fmt: skip
LETTERS = "ABCDEFGH"


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    values.setdefault("form", "")
    return render(request, template, status_code=status_code, labels=LABELS, letters=LETTERS, **values)


def _saved(done: int) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


def _filled(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value not in ("", [])}


def _write(
    db: DbDep, principal: Principal, schema: type[BaseModel], data: dict[str, Any],
    write: Callable[[UnitOfWork, Any], object], rerender: Callable[..., Response],
    done: str | Callable[[object], str], reason: Callable[[Any], str | None] | None = None,
) -> Response:  # fmt: skip
    return submit(db, principal, schema, data, write=write, rerender=rerender, done=done, reason=reason)


def _people(session: Session) -> list[tuple[str, str, str]]:
    return [
        (u.login, u.full_name, u.department)
        for u in session.scalars(
            select(User).where(User.active.is_(True)).order_by(User.department, User.login)
        )
    ]


def _logins(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,，;；]+", text.strip()) if part]


# --- courses ------------------------------------------------------------------------------------------------------


def _courses_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    q = str(values.pop("q", ""))
    kind = str(values.pop("kind", ""))
    with db.sessions() as session:
        rows = [courses.course_public(session, c) for c in courses.list_courses(session, text=q, kind=kind)]
    return _render(request, "training/courses.html", status_code, courses=rows, q=q, kind=kind, **values)


@router.get("/courses", response_class=HTMLResponse)
def courses_page(
    request: Request, db: DbDep, _: TrainingView, q: str = "", kind: str = "", done: int = 0
) -> Response:
    return _courses_page(request, db, q=q, kind=kind, flash=_saved(done))


@router.post("/courses", response_class=HTMLResponse)
async def course_create(request: Request, db: DbDep, principal: TrainingManage) -> Response:
    return _write(db, principal, CourseCreate, _filled(await form_data(request)),
                  lambda uow, body: courses.create_course(uow, body),
                  lambda status, **values: _courses_page(request, db, status, **values),
                  lambda c: f"/training/courses/{getattr(c, 'id', 0)}?done=1")  # fmt: skip


def _course_page(
    request: Request, db: DbDep, principal: Principal, course_id: int, status_code: int = 200, **values: Any
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        course = courses.get_course(session, course_id)
        public = courses.course_public(session, course)
        manage = principal.can("training.manage")
        bank = (
            [assessments.question_public(q) for q in assessments.question_bank(session, course_id)]
            if manage
            else []
        )
        sessions = [
            courses.session_public(session, s) for s in courses.list_sessions(session, course_id=course_id)
        ]
        evaluations = [courses.effectiveness_public(session, e)
                       for e in courses.list_effectiveness(session, course_id=course_id)]  # fmt: skip
        mine = [assessments.paper(session, a) for a in assessments.list_assessments(
            session, trainee_user_id=None if manage else principal.user_id, course_id=course_id)]  # fmt: skip
        question_ids = list(session.scalars(select(Question.id).where(Question.course_id == course_id)))
        trail = trail_of(session, [("training_course", [course_id]), ("training_question", question_ids)])
        version = courses.current_version(session, course.document_number) if course.document_number else None
        esign = panel(session, principal, "training_course", str(course_id))
        people = _people(session) if principal.can("training.assess") else []
    return _render(request, "training/course_detail.html", status_code, course=public, bank=bank, sessions=sessions,
                   evaluations=evaluations, assessments=mine, trail=trail, esign=esign, people=people,
                   version=version, **values)  # fmt: skip


@router.get("/courses/{course_id}", response_class=HTMLResponse)
def course_page(
    request: Request, db: DbDep, principal: TrainingView, course_id: int, done: int = 0
) -> Response:
    return _course_page(request, db, principal, course_id, flash=_saved(done))


def _course_write(
    request: Request, db: DbDep, principal: Principal, course_id: int, schema: type[BaseModel],
    data: dict[str, Any], write: Callable[[UnitOfWork, Any], object], form: str,
    reason: Callable[[Any], str | None] | None = None, done: str | Callable[[object], str] | None = None,
) -> Response:  # fmt: skip
    return _write(db, principal, schema, data, write,
                  lambda status, **values: _course_page(request, db, principal, course_id, status, form=form, **values),
                  done or f"/training/courses/{course_id}?done=1", reason=reason)  # fmt: skip


@router.post("/courses/{course_id}/edit", response_class=HTMLResponse)
async def course_edit(request: Request, db: DbDep, principal: TrainingManage, course_id: int) -> Response:
    data = await form_data(request)
    data["active"] = data.get("active") == "1"
    for key in ("pass_mark", "validity_months"):
        if data.get(key) == "":
            data[key] = None
    return _course_write(request, db, principal, course_id, CourseUpdate, data,
                         lambda uow, body: courses.update_course(uow, course_id, body), "course-edit",
                         reason=lambda body: body.reason)  # fmt: skip


def _question_data(data: dict[str, Any]) -> dict[str, Any]:
    """The question form: options one per line, the key as letters (A, C) or true/false."""
    kind = data.get("kind", "")
    key_text = str(data.get("answer_key", "")).strip().upper()
    result: dict[str, Any] = {"kind": kind, "text": data.get("text", "")}
    if data.get("reason"):
        result["reason"] = data["reason"]
    if kind == "true_false":
        result["options"] = []
        result["answer_key"] = [0] if key_text in ("TRUE", "T", "对", "正确") else [1] if key_text else []
    else:
        result["options"] = [
            line.strip() for line in str(data.get("options", "")).splitlines() if line.strip()
        ]
        letters = [ch for ch in re.split(r"[\s,，]+", key_text) if ch]
        result["answer_key"] = [LETTERS.index(ch) if ch in LETTERS else 99 for ch in letters]
    return result


@router.post("/courses/{course_id}/questions", response_class=HTMLResponse)
async def question_create(request: Request, db: DbDep, principal: TrainingManage, course_id: int) -> Response:
    return _course_write(request, db, principal, course_id, QuestionCreate, _question_data(await form_data(request)),
                         lambda uow, body: assessments.add_question(uow, course_id, body), "question")  # fmt: skip


@router.post("/courses/{course_id}/questions/{question_id}/edit", response_class=HTMLResponse)
async def question_edit(
    request: Request, db: DbDep, principal: TrainingManage, course_id: int, question_id: int
) -> Response:
    return _course_write(request, db, principal, course_id, QuestionUpdate, _question_data(await form_data(request)),
                         lambda uow, body: assessments.update_question(uow, course_id, question_id, body),
                         f"question-{question_id}", reason=lambda body: body.reason)  # fmt: skip


@router.post("/courses/{course_id}/questions/{question_id}/void", response_class=HTMLResponse)
async def question_void(
    request: Request, db: DbDep, principal: TrainingManage, course_id: int, question_id: int
) -> Response:
    return _course_write(request, db, principal, course_id, ReasonOnly, await form_data(request),
                         lambda uow, _: assessments.void_question(uow, course_id, question_id),
                         f"question-{question_id}", reason=lambda body: body.reason)  # fmt: skip


@router.post("/courses/{course_id}/assess", response_class=HTMLResponse)
async def assessment_start(request: Request, db: DbDep, principal: TrainingTake, course_id: int) -> Response:
    """The caller starts a written assessment of this course and goes to the paper."""
    with db.sessions() as session:
        code = courses.get_course(session, course_id).code
    return _course_write(request, db, principal, course_id, AssessmentStart, {"course_code": code},
                         lambda uow, body: assessments.start_assessment(uow, body), "assess",
                         done=lambda a: f"/training/assessments/{getattr(a, 'id', 0)}")  # fmt: skip


@router.post("/courses/{course_id}/practical", response_class=HTMLResponse)
async def practical_create(
    request: Request, db: DbDep, principal: TrainingAssess, course_id: int
) -> Response:
    """The trainer records a practical assessment and signs it."""
    data = _filled(await form_data(request))
    data["passed"] = data.get("passed") == "1"
    with db.sessions() as session:
        data["course_code"] = courses.get_course(session, course_id).code

    def write(uow: UnitOfWork, body: PracticalAssessmentCreate) -> object:
        attempt, _ = assessments.assess_practical(uow, principal, body)
        return attempt

    return _course_write(request, db, principal, course_id, PracticalAssessmentCreate, data, write, "practical",
                         done=lambda a: f"/training/assessments/{getattr(a, 'assessment_id', 0)}")  # fmt: skip


# --- assessments: the paper, answering it ----------------------------------------------------------------------------


def _assessment_page(
    request: Request,
    db: DbDep,
    principal: Principal,
    assessment_id: int,
    status_code: int = 200,
    **values: Any,
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        assessment = assessments.get_assessment(session, assessment_id)
        if not assessments.can_see(principal, assessment):
            raise NotFound(N_("No training assessment with ID {id}"), id=assessment_id)
        paper = assessments.paper(session, assessment)
        attempt_id = session.scalar(
            select(AssessmentAttempt.id).where(AssessmentAttempt.assessment_id == assessment_id)
        )
        trail = trail_of(session, [("training_assessment", [assessment_id]),
                                 ("training_assessment_attempt", [attempt_id] if attempt_id else [])])  # fmt: skip
        esign = panel(session, principal, "training_assessment_attempt", str(attempt_id or 0))
    mine = paper.trainee_login == principal.login
    return _render(request, "training/assessment.html", status_code, paper=paper, trail=trail, esign=esign,
                   mine=mine, **values)  # fmt: skip


@router.get("/assessments/{assessment_id}", response_class=HTMLResponse)
def assessment_page(request: Request, db: DbDep, principal: TrainingView, assessment_id: int) -> Response:
    """The paper to answer (no answer keys), or its result once submitted."""
    return _assessment_page(request, db, principal, assessment_id)


@router.post("/assessments/{assessment_id}", response_class=HTMLResponse)
async def assessment_submit(
    request: Request, db: DbDep, principal: TrainingTake, assessment_id: int
) -> Response:
    form = await request.form()
    answers: dict[int, list[int]] = {}
    for key in form:
        match = re.fullmatch(r"q_(\d+)", key)
        if match:
            picked = [int(v) for v in form.getlist(key) if isinstance(v, str) and v.isdigit()]
            answers[int(match.group(1))] = picked
    try:
        body = AssessmentSubmit(answers=answers)
        with UnitOfWork(db, principal.actor) as uow:
            assessments.submit_assessment(uow, assessment_id, body)
            uow.commit()
    except PharmaTraceError as error:
        return _assessment_page(request, db, principal, assessment_id, error.http_status,
                                error=i18n.error_message(error))  # fmt: skip
    except ValueError:
        return _assessment_page(request, db, principal, assessment_id, 422,
                                error=i18n.gettext(N_("The answers could not be read")))  # fmt: skip
    return RedirectResponse(f"/training/assessments/{assessment_id}", status_code=303)


# --- curricula --------------------------------------------------------------------------------------------------------


def _curricula_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        rows = [courses.curriculum_public(session, c) for c in courses.list_curricula(session)]
        options = [(c.code, c.title) for c in courses.list_courses(session, active=True)]
    return _render(
        request, "training/curricula.html", status_code, curricula=rows, course_options=options, **values
    )


@router.get("/curricula", response_class=HTMLResponse)
def curricula_page(request: Request, db: DbDep, _: TrainingView, done: int = 0) -> Response:
    return _curricula_page(request, db, flash=_saved(done))


@router.post("/curricula", response_class=HTMLResponse)
async def curriculum_create(request: Request, db: DbDep, principal: TrainingManage) -> Response:
    data = _filled(await form_data(request, lists=("course_codes",)))
    return _write(db, principal, CurriculumCreate, data, lambda uow, body: courses.create_curriculum(uow, body),
                  lambda status, **values: _curricula_page(request, db, status, **values),
                  lambda c: f"/training/curricula/{getattr(c, 'id', 0)}?done=1")  # fmt: skip


def _curriculum_page(
    request: Request,
    db: DbDep,
    principal: Principal,
    curriculum_id: int,
    status_code: int = 200,
    **values: Any,
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        curriculum = courses.get_curriculum(session, curriculum_id)
        public = courses.curriculum_public(session, curriculum)
        options = [(c.code, c.title) for c in courses.list_courses(session, active=True)]
        roles = [
            (r.code, r.name_zh)
            for r in session.scalars(select(Role).where(Role.kind == "business").order_by(Role.code))
        ]
        positions = sorted(set(session.scalars(select(User.position).where(User.active.is_(True)))))
        links = list(
            session.scalars(
                select(CurriculumCourse.id).where(CurriculumCourse.curriculum_id == curriculum_id)
            )
        )
        assigned = list(session.scalars(
            select(CurriculumAssignment.id).where(CurriculumAssignment.curriculum_id == curriculum_id)))  # fmt: skip
        trail = trail_of(session, [("training_curriculum", [curriculum_id]), ("training_curriculum_course", links),
                                 ("training_curriculum_assignment", assigned)])  # fmt: skip
        esign = panel(session, principal, "training_curriculum", str(curriculum_id))
    return _render(request, "training/curriculum_detail.html", status_code, curriculum=public, course_options=options,
                   roles=roles, positions=positions, trail=trail, esign=esign, **values)  # fmt: skip


@router.get("/curricula/{curriculum_id}", response_class=HTMLResponse)
def curriculum_page(
    request: Request, db: DbDep, principal: TrainingView, curriculum_id: int, done: int = 0
) -> Response:
    return _curriculum_page(request, db, principal, curriculum_id, flash=_saved(done))


def _curriculum_write(
    request: Request, db: DbDep, principal: Principal, curriculum_id: int, schema: type[BaseModel],
    data: dict[str, Any], write: Callable[[UnitOfWork, Any], object], form: str,
    reason: Callable[[Any], str | None] | None = None,
) -> Response:  # fmt: skip
    return _write(db, principal, schema, data, write,
                  lambda status, **values: _curriculum_page(request, db, principal, curriculum_id, status, form=form, **values),
                  f"/training/curricula/{curriculum_id}?done=1", reason=reason)  # fmt: skip


@router.post("/curricula/{curriculum_id}/courses", response_class=HTMLResponse)
async def curriculum_course_add(
    request: Request, db: DbDep, principal: TrainingManage, curriculum_id: int
) -> Response:
    return _curriculum_write(request, db, principal, curriculum_id, CurriculumCourseAdd, await form_data(request),
                             lambda uow, body: courses.add_curriculum_course(uow, curriculum_id, body.course_code),
                             "course")  # fmt: skip


@router.post("/curricula/{curriculum_id}/courses/{course_id}/remove", response_class=HTMLResponse)
async def curriculum_course_remove(
    request: Request, db: DbDep, principal: TrainingManage, curriculum_id: int, course_id: int
) -> Response:
    return _curriculum_write(request, db, principal, curriculum_id, ReasonOnly, await form_data(request),
                             lambda uow, _: courses.remove_curriculum_course(uow, curriculum_id, course_id),
                             f"remove-{course_id}", reason=lambda body: body.reason)  # fmt: skip


@router.post("/curricula/{curriculum_id}/assignments", response_class=HTMLResponse)
async def curriculum_assign(
    request: Request, db: DbDep, principal: TrainingManage, curriculum_id: int
) -> Response:
    return _curriculum_write(request, db, principal, curriculum_id, AssignmentCreate, await form_data(request),
                             lambda uow, body: courses.assign_curriculum(uow, curriculum_id, body), "assign")  # fmt: skip


@router.post("/curricula/{curriculum_id}/assignments/{assignment_id}/remove", response_class=HTMLResponse)
async def curriculum_unassign(
    request: Request, db: DbDep, principal: TrainingManage, curriculum_id: int, assignment_id: int
) -> Response:
    return _curriculum_write(request, db, principal, curriculum_id, ReasonOnly, await form_data(request),
                             lambda uow, _: courses.unassign_curriculum(uow, curriculum_id, assignment_id),
                             f"unassign-{assignment_id}", reason=lambda body: body.reason)  # fmt: skip


# --- annual plans -------------------------------------------------------------------------------------------------------


def _plans_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        rows = [courses.plan_public(session, p) for p in courses.list_plans(session)]
    return _render(request, "training/plans.html", status_code, plans=rows, **values)


@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request, db: DbDep, _: TrainingView, done: int = 0) -> Response:
    return _plans_page(request, db, flash=_saved(done))


@router.post("/plans", response_class=HTMLResponse)
async def plan_create(request: Request, db: DbDep, principal: TrainingManage) -> Response:
    return _write(db, principal, PlanCreate, _filled(await form_data(request)),
                  lambda uow, body: courses.create_plan(uow, body),
                  lambda status, **values: _plans_page(request, db, status, **values),
                  lambda p: f"/training/plans/{getattr(p, 'id', 0)}?done=1")  # fmt: skip


def _plan_page(
    request: Request, db: DbDep, principal: Principal, plan_id: int, status_code: int = 200, **values: Any
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        plan = courses.plan_public(session, courses.get_plan(session, plan_id))
        options = [(c.code, c.title) for c in courses.list_courses(session, active=True)]
        items = list(session.scalars(select(PlanItem.id).where(PlanItem.plan_id == plan_id)))
        trail = trail_of(session, [("training_plan", [plan_id]), ("training_plan_item", items)])
        esign = panel(session, principal, "training_plan", str(plan_id))
    moves = courses.PLAN_MOVES[plan.status]
    return _render(request, "training/plan_detail.html", status_code, plan=plan, course_options=options, trail=trail,
                   esign=esign, moves=moves, **values)  # fmt: skip


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, db: DbDep, principal: TrainingView, plan_id: int, done: int = 0) -> Response:
    return _plan_page(request, db, principal, plan_id, flash=_saved(done))


@router.post("/plans/{plan_id}/items", response_class=HTMLResponse)
async def plan_item_add(request: Request, db: DbDep, principal: TrainingManage, plan_id: int) -> Response:
    return _write(db, principal, PlanItemCreate, _filled(await form_data(request)),
                  lambda uow, body: courses.add_plan_item(uow, plan_id, body),
                  lambda status, **values: _plan_page(request, db, principal, plan_id, status, form="item", **values),
                  f"/training/plans/{plan_id}?done=1")  # fmt: skip


@router.post("/plans/{plan_id}/status", response_class=HTMLResponse)
async def plan_status(request: Request, db: DbDep, principal: TrainingManage, plan_id: int) -> Response:
    return _write(db, principal, PlanStatusChange, await form_data(request),
                  lambda uow, body: courses.change_plan_status(uow, plan_id, body),
                  lambda status, **values: _plan_page(request, db, principal, plan_id, status, form="status", **values),
                  f"/training/plans/{plan_id}?done=1", reason=lambda body: body.reason)  # fmt: skip


# --- sessions and attendance -------------------------------------------------------------------------------------------


def _sessions_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    q = str(values.pop("q", ""))
    status = str(values.pop("status", ""))
    with db.sessions() as session:
        rows = [
            courses.session_public(session, s) for s in courses.list_sessions(session, text=q, status=status)
        ]
        options = [
            (c.code, c.title) for c in courses.list_courses(session, active=True) if c.kind != "self_study"
        ]
        plans = [(p.code, p.title) for p in courses.list_plans(session) if p.status != "closed"]
        people = _people(session)
    return _render(request, "training/sessions.html", status_code, sessions=rows, q=q, status=status,
                   course_options=options, plans=plans, people=people, **values)  # fmt: skip


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(
    request: Request, db: DbDep, _: TrainingView, q: str = "", status: str = "", done: int = 0
) -> Response:
    return _sessions_page(request, db, q=q, status=status, flash=_saved(done))


@router.post("/sessions", response_class=HTMLResponse)
async def session_create(request: Request, db: DbDep, principal: TrainingManage) -> Response:
    data = _filled(await form_data(request, lists=("attendees",)))
    return _write(db, principal, SessionCreate, data, lambda uow, body: courses.create_session(uow, body),
                  lambda status, **values: _sessions_page(request, db, status, **values),
                  lambda s: f"/training/sessions/{getattr(s, 'id', 0)}?done=1")  # fmt: skip


def _session_page(
    request: Request, db: DbDep, principal: Principal, session_id: int, status_code: int = 200, **values: Any
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        row = courses.get_session(session, session_id)
        public = courses.session_public(session, row)
        evaluations = [courses.effectiveness_public(session, e)
                       for e in courses.list_effectiveness(session, session_id=session_id)]  # fmt: skip
        lines = list(session.scalars(select(Attendance.id).where(Attendance.session_id == session_id)))
        trail = trail_of(session, [("training_session", [session_id]), ("training_attendance", lines)])
        esign = panel(session, principal, "training_session", str(session_id))
        people = _people(session)
    return _render(request, "training/session_detail.html", status_code, session=public, evaluations=evaluations,
                   trail=trail, esign=esign, people=people, today=courses.today(), **values)  # fmt: skip


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session_page(
    request: Request, db: DbDep, principal: TrainingView, session_id: int, done: int = 0
) -> Response:
    return _session_page(request, db, principal, session_id, flash=_saved(done))


@router.post("/sessions/{session_id}/attendance", response_class=HTMLResponse)
async def attendance_record(
    request: Request, db: DbDep, principal: TrainingManage, session_id: int
) -> Response:
    """One row per attendee (``present_<login>``: 1 present, 0 absent, empty not taken) and extra log-in IDs."""
    data = await form_data(request)
    entries = [{"login": key.removeprefix("present_"), "present": value == "1"}
               for key, value in data.items() if key.startswith("present_") and value in ("0", "1")]  # fmt: skip
    entries += [{"login": login, "present": True} for login in _logins(str(data.get("add", "")))]
    body: dict[str, Any] = {"entries": entries}
    if str(data.get("reason", "")).strip():
        body["reason"] = data["reason"]
    return _write(db, principal, AttendanceRecord, body,
                  lambda uow, b: courses.record_attendance(uow, session_id, b),
                  lambda status, **values: _session_page(request, db, principal, session_id, status,
                                                         form="attendance", **values),
                  f"/training/sessions/{session_id}?done=1", reason=lambda b: b.reason)  # fmt: skip


@router.post("/sessions/{session_id}/cancel", response_class=HTMLResponse)
async def session_cancel(request: Request, db: DbDep, principal: TrainingManage, session_id: int) -> Response:
    return _write(db, principal, ReasonOnly, await form_data(request),
                  lambda uow, _: courses.cancel_session(uow, session_id),
                  lambda status, **values: _session_page(request, db, principal, session_id, status, form="cancel",
                                                         **values),
                  f"/training/sessions/{session_id}?done=1", reason=lambda body: body.reason)  # fmt: skip


# --- effectiveness ------------------------------------------------------------------------------------------------------


def _effectiveness_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        rows = [courses.effectiveness_public(session, e) for e in courses.list_effectiveness(session)]
        options = [(c.code, c.title) for c in courses.list_courses(session)]
        held = [(s.code, s.course.title) for s in courses.list_sessions(session, status="held")]
    return _render(request, "training/effectiveness.html", status_code, evaluations=rows, course_options=options,
                   held=held, today=courses.today(), **values)  # fmt: skip


@router.get("/effectiveness", response_class=HTMLResponse)
def effectiveness_page(request: Request, db: DbDep, _: TrainingView, done: int = 0) -> Response:
    return _effectiveness_page(request, db, flash=_saved(done))


@router.post("/effectiveness", response_class=HTMLResponse)
async def effectiveness_create(request: Request, db: DbDep, principal: TrainingManage) -> Response:
    return _write(db, principal, EffectivenessCreate, _filled(await form_data(request)),
                  lambda uow, body: courses.record_effectiveness(uow, body),
                  lambda status, **values: _effectiveness_page(request, db, status, **values),
                  "/training/effectiveness?done=1")  # fmt: skip


@router.post("/effectiveness/{evaluation_id}/void", response_class=HTMLResponse)
async def effectiveness_void(
    request: Request, db: DbDep, principal: TrainingManage, evaluation_id: int
) -> Response:
    return _write(db, principal, ReasonOnly, await form_data(request),
                  lambda uow, _: courses.void_effectiveness(uow, evaluation_id),
                  lambda status, **values: _effectiveness_page(request, db, status, **values),
                  "/training/effectiveness?done=1", reason=lambda body: body.reason)  # fmt: skip


# --- the matrix and expiring qualifications --------------------------------------------------------------------------------


@router.get("/matrix", response_class=HTMLResponse)
def matrix_page(
    request: Request, db: DbDep, _: TrainingView, department: str = "", role: str = ""
) -> Response:
    """People × courses of the curricula, coloured by status; filter by department and role."""
    with db.sessions() as session:
        grid = courses.matrix(session, department=department.strip(), role=role.strip())
        departments = sorted(set(session.scalars(select(User.department).where(User.active.is_(True)))))
        roles = [
            (r.code, r.name_zh)
            for r in session.scalars(select(Role).where(Role.kind == "business").order_by(Role.code))
        ]
    return _render(request, "training/matrix.html", matrix=grid, department=department, role=role,
                   departments=departments, roles=roles)  # fmt: skip


@router.get("/expiring", response_class=HTMLResponse)
def expiring_page(
    request: Request, db: DbDep, _: TrainingView, days: int = courses.EXPIRY_WINDOW_DAYS
) -> Response:
    """Qualifications expiring within the window or already expired: the retraining list."""
    days = max(0, min(days, 3650))
    with db.sessions() as session:
        rows = courses.expiring(session, within_days=days)
    return _render(request, "training/expiring.html", rows=rows, days=days)
