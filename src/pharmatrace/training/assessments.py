"""Question banks and assessments (培训考核, TJ-9.3, SH-6.3.4).

* A course's question bank holds single-choice, multiple-choice and true/false questions with their answer
  keys; the bank with its keys is for ``training.manage`` only. A trainee never receives a key.
* A written assessment draws N questions (the course's ``questions_per_assessment``) for the trainee who
  starts it; the trainee submits answers and the **server** scores them against the keys. A score at or
  above the course's pass mark passes, and the pass is recorded as a training record through helper C's
  :func:`pharmatrace.training.service.record_completion` (evidence ``training_assessment:<id>``), which
  closes the gate for that person. A failing score records no qualification. Each submission is an
  attempt, append-only; a retake is a new assessment.
* A practical assessment is given by a trainer (``training.assess``), who signs its result with an
  electronic signature (``training.practical``, TJ-10.2) as it is recorded; the trainer is never the
  trainee. A pass is then recorded like a written one, naming the trainer.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, NotPermitted, ReasonRequired, ValidationFailed
from pharmatrace.kernel.identity.models import User
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.training import courses
from pharmatrace.training.course_models import Assessment, AssessmentAttempt, Question, TrainingCourse
from pharmatrace.training.course_schemas import (
    AssessmentPaper,
    AssessmentStart,
    AssessmentSubmit,
    AttemptPublic,
    PracticalAssessmentCreate,
    QuestionCreate,
    QuestionForTrainee,
    QuestionPublic,
    QuestionUpdate,
)

PRACTICAL_ACTION = "training.practical"
HUNDRED = Decimal(100)
_draw = random.SystemRandom()


class OwnAssessment(NotPermitted):
    """A trainer assessing or signing for themselves, or someone answering another person's paper."""

    code = "own_assessment"


# --- the question bank (training.manage) ---------------------------------------------------------------------


def _options(data: QuestionCreate) -> list[str]:
    return [] if data.kind == "true_false" else list(data.options)


def add_question(uow: UnitOfWork, course_id: int, data: QuestionCreate) -> Question:
    session = uow.session
    course = courses.get_course(session, course_id)
    question = Question(course_id=course.id, kind=data.kind, text=data.text, options=_options(data),
                        answer_key=sorted(data.answer_key), created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
    session.add(question)
    session.flush()
    return question


def _question(session: Session, course_id: int, question_id: int) -> Question:
    question = session.get(Question, question_id)
    if question is None or question.course_id != course_id:
        raise NotFound(N_("No question with ID {id} in this course"), id=question_id)
    if question.voided_at is not None:
        raise Conflict(N_("The question is void"))
    return question


def update_question(uow: UnitOfWork, course_id: int, question_id: int, data: QuestionUpdate) -> Question:
    uow.reason = data.reason
    question = _question(uow.session, course_id, question_id)
    question.kind = data.kind
    question.text = data.text
    question.options = _options(data)
    question.answer_key = sorted(data.answer_key)
    uow.session.flush()
    return question


def void_question(uow: UnitOfWork, course_id: int, question_id: int) -> Question:
    if uow.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))
    question = _question(uow.session, course_id, question_id)
    uow.void(question)
    return question


def question_bank(session: Session, course_id: int, *, include_void: bool = False) -> list[Question]:
    query = select(Question).where(Question.course_id == course_id).order_by(Question.id)
    if not include_void:
        query = query.where(Question.voided_at.is_(None))
    return list(session.scalars(query))


def question_public(question: Question) -> QuestionPublic:
    """With the answer key: the bank's view, for ``training.manage`` only."""
    return QuestionPublic(id=question.id, course_id=question.course_id, kind=question.kind, text=question.text,
                          options=list(question.options), answer_key=list(question.answer_key),
                          voided_at=question.voided_at)  # fmt: skip


def for_trainee(question: Question) -> QuestionForTrainee:
    """Never the answer key."""
    return QuestionForTrainee(
        id=question.id, kind=question.kind, text=question.text, options=list(question.options)
    )


# --- written assessments ------------------------------------------------------------------------------------------


def get_assessment(session: Session, assessment_id: int) -> Assessment:
    assessment = session.get(Assessment, assessment_id)
    if assessment is None:
        raise NotFound(N_("No training assessment with ID {id}"), id=assessment_id)
    return assessment


def attempt_of(session: Session, assessment_id: int) -> AssessmentAttempt | None:
    return session.scalar(select(AssessmentAttempt).where(AssessmentAttempt.assessment_id == assessment_id))


def start_assessment(uow: UnitOfWork, data: AssessmentStart) -> Assessment:
    """The caller starts a written assessment of a course: the server draws the questions. A paper of the
    same course still open (not submitted) is handed back instead, so nobody redraws for easier questions."""
    session = uow.session
    course = courses.active_course(session, data.course_code)
    if course.pass_mark is None:
        raise Conflict(N_("The course “{code}” has no pass mark and no written assessment"), code=course.code)
    session_id = None
    if data.session_code is not None:
        row = courses.session_by_code(session, data.session_code)
        if row.course_id != course.id:
            raise ValidationFailed(N_("The session “{session}” is not of the course “{course}”"),
                                   session=row.code, course=course.code)  # fmt: skip
        session_id = row.id
    open_paper = session.scalar(
        select(Assessment)
        .outerjoin(AssessmentAttempt, AssessmentAttempt.assessment_id == Assessment.id)
        .where(
            Assessment.course_id == course.id,
            Assessment.trainee_user_id == uow.actor.user_id,
            Assessment.kind == "written",
            AssessmentAttempt.id.is_(None),
        )
    )
    if open_paper is not None:  # one open paper at a time: no redrawing for easier questions
        return open_paper
    bank = [q.id for q in question_bank(session, course.id)]
    if not bank:
        raise Conflict(N_("The course “{code}” has no questions yet"), code=course.code)
    drawn = _draw.sample(bank, min(course.questions_per_assessment, len(bank)))
    assessment = Assessment(course_id=course.id, trainee_user_id=uow.actor.user_id, kind="written",
                            session_id=session_id, question_ids=drawn, started_at=clock.now(),
                            created_by=uow.actor.login)  # fmt: skip
    session.add(assessment)
    session.flush()
    return assessment


def _right(question: Question, given: list[int]) -> bool:
    return sorted(set(given)) == sorted(question.answer_key) and len(given) == len(set(given))


def score(questions: list[Question], answers: dict[int, list[int]]) -> tuple[int, Decimal]:
    """(right answers, score in percent at 0.01): an unanswered question is wrong."""
    right = sum(1 for q in questions if _right(q, answers.get(q.id, [])))
    percent = (Decimal(right) * HUNDRED / Decimal(len(questions))).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return right, percent


def _record_pass(
    uow: UnitOfWork, course: TrainingCourse, assessment: Assessment, attempt: AssessmentAttempt, method: str
) -> int:
    from pharmatrace.training.service import record_completion

    version = courses.current_version(uow.session, course.document_number) if course.document_number else None
    record = record_completion(
        uow, user_id=assessment.trainee_user_id, document_version_id=version.id if version is not None else None,
        course_id=course.id, method=method, passed=True, score=attempt.score,
        trainer_user_id=assessment.trainer_user_id, evidence=f"training_assessment:{assessment.id}", valid_until=None,
    )  # fmt: skip
    return record.id


def submit_assessment(
    uow: UnitOfWork, assessment_id: int, data: AssessmentSubmit
) -> tuple[AssessmentAttempt, int | None]:
    """The trainee's answers, scored by the server. Returns the attempt and the training record of a pass."""
    session = uow.session
    assessment = get_assessment(session, assessment_id)
    if assessment.kind != "written":
        raise Conflict(N_("A practical assessment is recorded by its trainer"))
    if assessment.trainee_user_id != uow.actor.user_id:
        raise OwnAssessment(N_("Only the trainee answers their own assessment"))
    if attempt_of(session, assessment.id) is not None:
        raise Conflict(N_("This assessment has already been submitted; start a new one to retake it"))
    drawn = set(assessment.question_ids)
    unknown = sorted(set(data.answers) - drawn)
    if unknown:
        raise ValidationFailed(N_("Question {id} is not part of this assessment"), id=unknown[0])
    questions = [session.get(Question, qid) for qid in assessment.question_ids]
    bank = [q for q in questions if q is not None]
    for question in bank:
        given = data.answers.get(question.id, [])
        limit = 2 if question.kind == "true_false" else len(question.options)
        if any(i >= limit for i in given) or len(set(given)) != len(given):
            raise ValidationFailed(
                N_("The answer to question {id} names an option it does not have"), id=question.id
            )
        if question.kind != "multiple" and len(given) > 1:
            raise ValidationFailed(N_("Question {id} takes one answer"), id=question.id)
    right, percent = score(bank, data.answers)
    course = assessment.course
    mark = course.pass_mark
    passed = mark is not None and percent >= mark
    attempt = AssessmentAttempt(
        assessment_id=assessment.id, answers={str(k): sorted(v) for k, v in data.answers.items()}, correct=right,
        score=percent, pass_mark=mark, passed=passed, remarks="", submitted_at=clock.now(),
        submitted_by=uow.actor.login,
    )  # fmt: skip
    session.add(attempt)
    session.flush()
    record_id = _record_pass(uow, course, assessment, attempt, "assessment") if passed else None
    return attempt, record_id


# --- practical assessments (signed by the trainer) --------------------------------------------------------------------


def assess_practical(
    uow: UnitOfWork, principal: Principal, data: PracticalAssessmentCreate
) -> tuple[AssessmentAttempt, int | None]:
    """The trainer (the caller) records and signs a practical assessment of a trainee (TJ-9.3, TJ-10.2)."""
    from pharmatrace.kernel.esign import service as esign

    principal.require("training.assess")  # who may not assess learns nothing more
    session = uow.session
    course = courses.active_course(session, data.course_code)
    trainee = courses.user_by_login(session, data.trainee_login)
    if trainee.id == principal.user_id:
        raise OwnAssessment(N_("A trainer cannot assess or sign their own practical assessment"))
    if not trainee.active:
        raise Conflict(N_("The account “{login}” is deactivated"), login=trainee.login)
    session_id = None
    if data.session_code is not None:
        row = courses.session_by_code(session, data.session_code)
        if row.course_id != course.id:
            raise ValidationFailed(N_("The session “{session}” is not of the course “{course}”"),
                                   session=row.code, course=course.code)  # fmt: skip
        session_id = row.id
    mark = course.pass_mark
    if mark is not None and data.score is None:
        raise ValidationFailed(N_("The course “{code}” has a pass mark: give the score"), code=course.code)
    if mark is not None and data.score is not None and data.passed != (data.score >= mark):
        raise ValidationFailed(
            N_("The result does not agree with the score and the pass mark ({mark})"), mark=mark
        )
    esign.authenticate_signer(uow.db, principal, data.password, data.login)  # before anything changes
    moment = clock.now()
    assessment = Assessment(course_id=course.id, trainee_user_id=trainee.id, kind="practical", session_id=session_id,
                            trainer_user_id=principal.user_id, question_ids=[], started_at=moment,
                            created_by=uow.actor.login)  # fmt: skip
    session.add(assessment)
    session.flush()
    attempt = AssessmentAttempt(
        assessment_id=assessment.id, answers={}, correct=0, score=data.score, pass_mark=mark, passed=data.passed,
        remarks=data.remarks, submitted_at=moment, submitted_by=uow.actor.login,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, attempt, action_code=PRACTICAL_ACTION, password=data.password,
                              login=data.login)  # fmt: skip
    record_id = _record_pass(uow, course, assessment, attempt, "on_the_job") if data.passed else None
    return attempt, record_id


# --- reading ---------------------------------------------------------------------------------------------------------


def attempt_public(session: Session, assessment: Assessment, attempt: AssessmentAttempt) -> AttemptPublic:
    from pharmatrace.training.models import TrainingRecord

    record_id = session.scalar(
        select(TrainingRecord.id).where(TrainingRecord.evidence == f"training_assessment:{assessment.id}")
    )
    return AttemptPublic(
        id=attempt.id, assessment_id=assessment.id, score=attempt.score, pass_mark=attempt.pass_mark,
        passed=attempt.passed, correct=attempt.correct, total=len(assessment.question_ids), remarks=attempt.remarks,
        submitted_at=attempt.submitted_at, submitted_by=attempt.submitted_by, record_id=record_id,
    )  # fmt: skip


def paper(session: Session, assessment: Assessment) -> AssessmentPaper:
    """The assessment as its trainee sees it: the drawn questions without keys, and the result if any."""
    trainee = session.get(User, assessment.trainee_user_id)
    trainer = session.get(User, assessment.trainer_user_id) if assessment.trainer_user_id else None
    assert trainee is not None
    questions = [session.get(Question, qid) for qid in assessment.question_ids]
    attempt = attempt_of(session, assessment.id)
    return AssessmentPaper(
        id=assessment.id, kind=assessment.kind, course_code=assessment.course.code,
        course_title=assessment.course.title, trainee_login=trainee.login, trainee_name=trainee.full_name,
        trainer_login=trainer.login if trainer is not None else None, pass_mark=assessment.course.pass_mark,
        started_at=assessment.started_at, questions=[for_trainee(q) for q in questions if q is not None],
        attempt=attempt_public(session, assessment, attempt) if attempt is not None else None,
    )  # fmt: skip


def can_see(principal: Principal, assessment: Assessment) -> bool:
    return principal.user_id in (assessment.trainee_user_id, assessment.trainer_user_id) or principal.can(
        "training.manage"
    )


def list_assessments(
    session: Session, *, trainee_user_id: int | None = None, course_id: int | None = None
) -> list[Assessment]:
    query = select(Assessment).order_by(Assessment.started_at.desc(), Assessment.id.desc())
    if trainee_user_id is not None:
        query = query.where(Assessment.trainee_user_id == trainee_user_id)
    if course_id is not None:
        query = query.where(Assessment.course_id == course_id)
    return list(session.scalars(query))
