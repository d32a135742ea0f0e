"""``/api/v1/training`` — courses and question banks, curricula, annual plans, sessions with attendance,
assessments, effectiveness evaluations, the training matrix and expiring qualifications (TJ-9.3).

A trainee's assessment never carries the answer keys; the question bank with its keys is
``training.manage`` only. Scores are computed by the server from the answers submitted.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.training import assessments, courses
from pharmatrace.training.course_schemas import (
    AssessmentPaper,
    AssessmentStart,
    AssessmentSubmit,
    AssignmentCreate,
    AttemptPublic,
    AttendanceRecord,
    CourseCreate,
    CoursePublic,
    CourseUpdate,
    CurriculumCourseAdd,
    CurriculumCreate,
    CurriculumPublic,
    EffectivenessCreate,
    EffectivenessPublic,
    ExpiringPublic,
    Matrix,
    PlanCreate,
    PlanItemCreate,
    PlanPublic,
    PlanStatusChange,
    PracticalAssessmentCreate,
    QuestionCreate,
    QuestionPublic,
    QuestionUpdate,
    SessionCreate,
    SessionPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/training", tags=["training"])

TrainingView = Annotated[Principal, Depends(Requires("training.view"))]
TrainingTake = Annotated[Principal, Depends(Requires("training.take"))]
TrainingManage = Annotated[Principal, Depends(Requires("training.manage"))]
TrainingAssess = Annotated[Principal, Depends(Requires("training.assess"))]


# --- effectiveness (before /courses/{id}) --------------------------------------------------------------------


@router.get("/courses/effectiveness", response_model=list[EffectivenessPublic])
def list_effectiveness(db: DbDep, _: TrainingView, course: str = "") -> list[EffectivenessPublic]:
    """Effectiveness evaluations (培训效果评估), newest first; ``course`` a course code."""
    with db.sessions() as session:
        course_id = courses.course_by_code(session, course).id if course.strip() else None
        return [
            courses.effectiveness_public(session, e)
            for e in courses.list_effectiveness(session, course_id=course_id)
        ]


@router.post("/courses/effectiveness", response_model=EffectivenessPublic, status_code=201)
def record_effectiveness(
    body: EffectivenessCreate, db: DbDep, principal: TrainingManage
) -> EffectivenessPublic:
    with uow_for(db, principal) as uow:
        row = courses.record_effectiveness(uow, body)
        uow.commit()
        return courses.effectiveness_public(uow.session, row)


@router.post("/courses/effectiveness/{evaluation_id}/void", response_model=EffectivenessPublic)
def void_effectiveness(
    evaluation_id: int, body: ReasonOnly, db: DbDep, principal: TrainingManage
) -> EffectivenessPublic:
    with uow_for(db, principal, body.reason) as uow:
        row = courses.void_effectiveness(uow, evaluation_id)
        uow.commit()
        return courses.effectiveness_public(uow.session, row)


# --- courses and question banks -------------------------------------------------------------------------------


@router.get("/courses", response_model=list[CoursePublic])
def list_courses(db: DbDep, _: TrainingView, q: str = "", kind: str = "") -> list[CoursePublic]:
    with db.sessions() as session:
        return [courses.course_public(session, c) for c in courses.list_courses(session, text=q, kind=kind)]


@router.post("/courses", response_model=CoursePublic, status_code=201)
def create_course(body: CourseCreate, db: DbDep, principal: TrainingManage) -> CoursePublic:
    with uow_for(db, principal) as uow:
        course = courses.create_course(uow, body)
        uow.commit()
        return courses.course_public(uow.session, course)


@router.get("/courses/{course_id}", response_model=CoursePublic)
def get_course(course_id: int, db: DbDep, _: TrainingView) -> CoursePublic:
    with db.sessions() as session:
        return courses.course_public(session, courses.get_course(session, course_id))


@router.patch("/courses/{course_id}", response_model=CoursePublic)
def update_course(course_id: int, body: CourseUpdate, db: DbDep, principal: TrainingManage) -> CoursePublic:
    with uow_for(db, principal, body.reason) as uow:
        course = courses.update_course(uow, course_id, body)
        uow.commit()
        return courses.course_public(uow.session, course)


@router.get("/courses/{course_id}/questions", response_model=list[QuestionPublic])
def question_bank(course_id: int, db: DbDep, _: TrainingManage) -> list[QuestionPublic]:
    """The question bank with its answer keys (``training.manage`` only)."""
    with db.sessions() as session:
        courses.get_course(session, course_id)
        return [assessments.question_public(q) for q in assessments.question_bank(session, course_id)]


@router.post("/courses/{course_id}/questions", response_model=QuestionPublic, status_code=201)
def add_question(
    course_id: int, body: QuestionCreate, db: DbDep, principal: TrainingManage
) -> QuestionPublic:
    with uow_for(db, principal) as uow:
        question = assessments.add_question(uow, course_id, body)
        uow.commit()
        return assessments.question_public(question)


@router.put("/courses/{course_id}/questions/{question_id}", response_model=QuestionPublic)
def update_question(
    course_id: int, question_id: int, body: QuestionUpdate, db: DbDep, principal: TrainingManage
) -> QuestionPublic:
    with uow_for(db, principal, body.reason) as uow:
        question = assessments.update_question(uow, course_id, question_id, body)
        uow.commit()
        return assessments.question_public(question)


@router.post("/courses/{course_id}/questions/{question_id}/void", response_model=QuestionPublic)
def void_question(
    course_id: int, question_id: int, body: ReasonOnly, db: DbDep, principal: TrainingManage
) -> QuestionPublic:
    with uow_for(db, principal, body.reason) as uow:
        question = assessments.void_question(uow, course_id, question_id)
        uow.commit()
        return assessments.question_public(question)


# --- curricula -------------------------------------------------------------------------------------------------


@router.get("/curricula", response_model=list[CurriculumPublic])
def list_curricula(db: DbDep, _: TrainingView) -> list[CurriculumPublic]:
    with db.sessions() as session:
        return [courses.curriculum_public(session, c) for c in courses.list_curricula(session)]


@router.post("/curricula", response_model=CurriculumPublic, status_code=201)
def create_curriculum(body: CurriculumCreate, db: DbDep, principal: TrainingManage) -> CurriculumPublic:
    with uow_for(db, principal) as uow:
        curriculum = courses.create_curriculum(uow, body)
        uow.commit()
        return courses.curriculum_public(uow.session, curriculum)


@router.get("/curricula/{curriculum_id}", response_model=CurriculumPublic)
def get_curriculum(curriculum_id: int, db: DbDep, _: TrainingView) -> CurriculumPublic:
    with db.sessions() as session:
        return courses.curriculum_public(session, courses.get_curriculum(session, curriculum_id))


@router.post("/curricula/{curriculum_id}/courses", response_model=CurriculumPublic, status_code=201)
def add_curriculum_course(
    curriculum_id: int, body: CurriculumCourseAdd, db: DbDep, principal: TrainingManage
) -> CurriculumPublic:
    with uow_for(db, principal) as uow:
        courses.add_curriculum_course(uow, curriculum_id, body.course_code)
        uow.commit()
        return courses.curriculum_public(uow.session, courses.get_curriculum(uow.session, curriculum_id))


@router.post("/curricula/{curriculum_id}/courses/{course_id}/remove", response_model=CurriculumPublic)
def remove_curriculum_course(
    curriculum_id: int, course_id: int, body: ReasonOnly, db: DbDep, principal: TrainingManage
) -> CurriculumPublic:
    with uow_for(db, principal, body.reason) as uow:
        courses.remove_curriculum_course(uow, curriculum_id, course_id)
        uow.commit()
        return courses.curriculum_public(uow.session, courses.get_curriculum(uow.session, curriculum_id))


@router.post("/curricula/{curriculum_id}/assignments", response_model=CurriculumPublic, status_code=201)
def assign_curriculum(
    curriculum_id: int, body: AssignmentCreate, db: DbDep, principal: TrainingManage
) -> CurriculumPublic:
    with uow_for(db, principal) as uow:
        courses.assign_curriculum(uow, curriculum_id, body)
        uow.commit()
        return courses.curriculum_public(uow.session, courses.get_curriculum(uow.session, curriculum_id))


@router.post("/curricula/{curriculum_id}/assignments/{assignment_id}/remove", response_model=CurriculumPublic)
def unassign_curriculum(
    curriculum_id: int, assignment_id: int, body: ReasonOnly, db: DbDep, principal: TrainingManage
) -> CurriculumPublic:
    with uow_for(db, principal, body.reason) as uow:
        courses.unassign_curriculum(uow, curriculum_id, assignment_id)
        uow.commit()
        return courses.curriculum_public(uow.session, courses.get_curriculum(uow.session, curriculum_id))


@router.post("/curricula/{curriculum_id}/void", response_model=CurriculumPublic)
def void_curriculum(
    curriculum_id: int, body: ReasonOnly, db: DbDep, principal: TrainingManage
) -> CurriculumPublic:
    with uow_for(db, principal, body.reason) as uow:
        curriculum = courses.void_curriculum(uow, curriculum_id)
        uow.commit()
        return courses.curriculum_public(uow.session, curriculum)


# --- annual plans ------------------------------------------------------------------------------------------------


@router.get("/plans", response_model=list[PlanPublic])
def list_plans(db: DbDep, _: TrainingView, year: int | None = None) -> list[PlanPublic]:
    with db.sessions() as session:
        return [courses.plan_public(session, p) for p in courses.list_plans(session, year=year)]


@router.post("/plans", response_model=PlanPublic, status_code=201)
def create_plan(body: PlanCreate, db: DbDep, principal: TrainingManage) -> PlanPublic:
    with uow_for(db, principal) as uow:
        plan = courses.create_plan(uow, body)
        uow.commit()
        return courses.plan_public(uow.session, plan)


@router.get("/plans/{plan_id}", response_model=PlanPublic)
def get_plan(plan_id: int, db: DbDep, _: TrainingView) -> PlanPublic:
    with db.sessions() as session:
        return courses.plan_public(session, courses.get_plan(session, plan_id))


@router.post("/plans/{plan_id}/items", response_model=PlanPublic, status_code=201)
def add_plan_item(plan_id: int, body: PlanItemCreate, db: DbDep, principal: TrainingManage) -> PlanPublic:
    with uow_for(db, principal) as uow:
        courses.add_plan_item(uow, plan_id, body)
        uow.commit()
        return courses.plan_public(uow.session, courses.get_plan(uow.session, plan_id))


@router.post("/plans/{plan_id}/status", response_model=PlanPublic)
def change_plan_status(
    plan_id: int, body: PlanStatusChange, db: DbDep, principal: TrainingManage
) -> PlanPublic:
    with uow_for(db, principal, body.reason) as uow:
        plan = courses.change_plan_status(uow, plan_id, body)
        uow.commit()
        return courses.plan_public(uow.session, plan)


# --- sessions ------------------------------------------------------------------------------------------------------


@router.get("/sessions", response_model=list[SessionPublic])
def list_sessions(db: DbDep, _: TrainingView, q: str = "", status: str = "") -> list[SessionPublic]:
    with db.sessions() as session:
        return [
            courses.session_public(session, s) for s in courses.list_sessions(session, text=q, status=status)
        ]


@router.post("/sessions", response_model=SessionPublic, status_code=201)
def create_session(body: SessionCreate, db: DbDep, principal: TrainingManage) -> SessionPublic:
    with uow_for(db, principal) as uow:
        row = courses.create_session(uow, body)
        uow.commit()
        return courses.session_public(uow.session, row)


@router.get("/sessions/{session_id}", response_model=SessionPublic)
def get_session(session_id: int, db: DbDep, _: TrainingView) -> SessionPublic:
    with db.sessions() as session:
        return courses.session_public(session, courses.get_session(session, session_id))


@router.post("/sessions/{session_id}/attendance", response_model=SessionPublic)
def record_attendance(
    session_id: int, body: AttendanceRecord, db: DbDep, principal: TrainingManage
) -> SessionPublic:
    """Attendance taken: present or absent per attendee (a correction needs a reason)."""
    with uow_for(db, principal, body.reason) as uow:
        row = courses.record_attendance(uow, session_id, body)
        uow.commit()
        return courses.session_public(uow.session, row)


@router.post("/sessions/{session_id}/cancel", response_model=SessionPublic)
def cancel_session(session_id: int, body: ReasonOnly, db: DbDep, principal: TrainingManage) -> SessionPublic:
    with uow_for(db, principal, body.reason) as uow:
        row = courses.cancel_session(uow, session_id)
        uow.commit()
        return courses.session_public(uow.session, row)


# --- assessments ----------------------------------------------------------------------------------------------------


@router.get("/assessments", response_model=list[AssessmentPaper])
def list_assessments(db: DbDep, principal: TrainingView, course: str = "") -> list[AssessmentPaper]:
    """The caller's own assessments; all of them for ``training.manage``."""
    with db.sessions() as session:
        course_id = courses.course_by_code(session, course).id if course.strip() else None
        mine = None if principal.can("training.manage") else principal.user_id
        return [
            assessments.paper(session, a)
            for a in assessments.list_assessments(session, trainee_user_id=mine, course_id=course_id)
        ]


@router.post("/assessments", response_model=AssessmentPaper, status_code=201)
def start_assessment(body: AssessmentStart, db: DbDep, principal: TrainingTake) -> AssessmentPaper:
    """The caller starts a written assessment: the questions are drawn by the server, without their keys."""
    with uow_for(db, principal) as uow:
        assessment = assessments.start_assessment(uow, body)
        uow.commit()
        return assessments.paper(uow.session, assessment)


@router.post("/assessments/practical", response_model=AttemptPublic, status_code=201)
def assess_practical(body: PracticalAssessmentCreate, db: DbDep, principal: TrainingAssess) -> AttemptPublic:
    """A practical assessment recorded and signed by the trainer (never the trainee)."""
    with uow_for(db, principal) as uow:
        attempt, _ = assessments.assess_practical(uow, principal, body)
        uow.commit()
        assessment = assessments.get_assessment(uow.session, attempt.assessment_id)
        return assessments.attempt_public(uow.session, assessment, attempt)


@router.get("/assessments/{assessment_id}", response_model=AssessmentPaper)
def get_assessment(assessment_id: int, db: DbDep, principal: TrainingView) -> AssessmentPaper:
    with db.sessions() as session:
        assessment = assessments.get_assessment(session, assessment_id)
        if not assessments.can_see(principal, assessment):
            raise NotFound(N_("No training assessment with ID {id}"), id=assessment_id)
        return assessments.paper(session, assessment)


@router.post("/assessments/{assessment_id}/submit", response_model=AttemptPublic, status_code=201)
def submit_assessment(
    assessment_id: int, body: AssessmentSubmit, db: DbDep, principal: TrainingTake
) -> AttemptPublic:
    """The trainee's answers; the server scores them. A pass is recorded as a training record."""
    with uow_for(db, principal) as uow:
        attempt, _ = assessments.submit_assessment(uow, assessment_id, body)
        uow.commit()
        assessment = assessments.get_assessment(uow.session, assessment_id)
        return assessments.attempt_public(uow.session, assessment, attempt)


# --- the matrix and expiring qualifications ---------------------------------------------------------------------------


@router.get("/matrix", response_model=Matrix)
def training_matrix(db: DbDep, _: TrainingView, department: str = "", role: str = "") -> Matrix:
    """People × courses of the curricula: trained / due / overdue / lapsed / not_needed."""
    with db.sessions() as session:
        return courses.matrix(session, department=department.strip(), role=role.strip())


@router.get("/matrix/expiring", response_model=list[ExpiringPublic])
def expiring(
    db: DbDep, _: TrainingView, within_days: int = courses.EXPIRY_WINDOW_DAYS
) -> list[ExpiringPublic]:
    """Qualifications that expire within ``within_days`` days (60 by default) or have expired."""
    with db.sessions() as session:
        return courses.expiring(session, within_days=max(0, min(within_days, 3650)))
