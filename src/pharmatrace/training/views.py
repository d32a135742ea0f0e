"""Pages: my training (tasks, records, qualification status, self-study), training needs and gate
requirements, overdue training, a training record, and access requests (SH-6.3.4, TJ-9.3, TJ-10.1.2.2.d)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from pharmatrace.documents.models import DocumentVersion
from pharmatrace.kernel import context
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.kernel.identity import access_requests
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.models import Role, User
from pharmatrace.kernel.identity.permissions import CATALOGUE
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.training import gates, service
from pharmatrace.training.models import (
    METHOD_LABELS,
    SUBJECT_LABELS,
    TASK_SOURCE_LABELS,
    TrainingRecord,
)
from pharmatrace.training.schemas import (
    AccessDecision,
    AccessRejection,
    AccessRequestCreate,
    NeedCreate,
    RecordCreate,
    RequirementCreate,
    SelfStudy,
    VoidRequest,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/training", include_in_schema=False)

TrainingView = Annotated[Principal, Depends(Requires("training.view"))]
TrainingTake = Annotated[Principal, Depends(Requires("training.take"))]
TrainingManage = Annotated[Principal, Depends(Requires("training.manage"))]
UsersView = Annotated[Principal, Depends(Requires("admin.users.view"))]
UsersManage = Annotated[Principal, Depends(Requires("admin.users.manage"))]

LABELS = {
    "status": gates.STATUS_LABELS,
    "methods": METHOD_LABELS,
    "subjects": SUBJECT_LABELS,
    "sources": TASK_SOURCE_LABELS,
    "access": access_requests.STATUS_LABELS,
}


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    values.setdefault("form", "")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _saved(done: int) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


# --- my training ------------------------------------------------------------------------------------


def _mine_page(
    request: Request, db: DbDep, principal: Principal, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        user = identity.get_user(session, principal.user_id)
        tasks = service.task_views(session, user_id=user.id)
        records = service.records_public(session, service.records_of(session, user.id))
        standing = service.qualification_status(session, user)
        versions = {
            v.id: v
            for v in session.scalars(
                select(DocumentVersion).where(
                    DocumentVersion.id.in_([t.task.document_version_id for t in tasks if t.open])
                )
            )
        }
        # self-study is offered where the document's course (if any) has no assessment; else the course
        assessed = {vid: service.assessed_course(session, v.document.number) for vid, v in versions.items()}
        self_study = {vid: course is None for vid, course in assessed.items()}
        course_of = {vid: course.id for vid, course in assessed.items() if course is not None}
        gaps = dict(principal.unqualified)
        # retraining ordered by a deviation or CAPA and not passed yet, with the way to pass it
        retraining = [
            r
            for r in (
                service.retraining_public(session, o)
                for o in service.retraining_orders(session, user_id=user.id)
            )
            if r.voided_at is None and not r.passed
        ]
        for r in retraining:
            course = service.assessed_course(session, r.document_number)
            self_study.setdefault(r.document_version_id, course is None)
            if course is not None:
                course_of.setdefault(r.document_version_id, course.id)
    return _render(request, "training/mine.html", status_code, tasks=tasks, records=records, standing=standing,
                   self_study=self_study, course_of=course_of, gaps=gaps, user=user, retraining=retraining,
                   **values)  # fmt: skip


@router.get("/mine", response_class=HTMLResponse)
def mine(request: Request, db: DbDep, principal: TrainingView, done: int = 0) -> Response:
    """My open and overdue tasks, my records, my qualification status with lapsed ones and why."""
    return _mine_page(request, db, principal, flash=_saved(done))


@router.post("/mine/self-study/{version_id}", response_class=HTMLResponse)
async def mine_self_study(request: Request, db: DbDep, principal: TrainingTake, version_id: int) -> Response:
    """“Read and understood / self-study completed”, signed with the password."""
    return submit(db, principal, SelfStudy, await form_data(request),
                  write=lambda uow, body: service.self_study(uow, principal, version_id, body),
                  rerender=lambda status, **values: _mine_page(request, db, principal, status, form=f"study-{version_id}", **values),
                  done=lambda record: f"/training/records/{getattr(record, 'id', 0)}?done=1")  # fmt: skip


# --- a training record ------------------------------------------------------------------------------


@router.get("/records/{record_id}", response_class=HTMLResponse)
def record_page(
    request: Request, db: DbDep, principal: TrainingView, record_id: int, done: int = 0
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        row = session.get(TrainingRecord, record_id)
        if row is None:
            raise NotFound(N_("No training record with ID {id}"), id=record_id)
        record = service.records_public(session, [row])[0]
        trail = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == "training_record", AuditEntry.object_id == str(record_id))
                .order_by(AuditEntry.leaf_index.desc())
            )
        )
        esign = panel(session, principal, "training_record", str(record_id))
    return _render(
        request, "training/mine_record.html", record=record, trail=trail, esign=esign, flash=_saved(done)
    )


@router.get("/records", response_class=HTMLResponse)
def records_page(
    request: Request, db: DbDep, _: TrainingView, login: str = "", document: str = ""
) -> Response:
    with db.sessions() as session:
        try:
            records = service.records_public(
                session, service.list_records(session, login=login, number=document)
            )
        except NotFound as error:
            return _render(request, "training/tasks_records.html", 404, records=[], login=login, document=document,
                           error=i18n.error_message(error))  # fmt: skip
    return _render(request, "training/tasks_records.html", records=records, login=login, document=document)


@router.post("/records", response_class=HTMLResponse)
async def record_enter(request: Request, db: DbDep, principal: TrainingManage) -> Response:
    return submit(db, principal, RecordCreate, await form_data(request),
                  write=lambda uow, body: service.enter_record(uow, principal, body),
                  rerender=lambda status, **values: _requirements_page(request, db, status, form="record", **values),
                  done=lambda record: f"/training/records/{getattr(record, 'id', 0)}?done=1")  # fmt: skip


# --- needs and requirements -------------------------------------------------------------------------


def _requirements_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        needs = [service.need_public(session, n) for n in service.active_needs(session)]
        rows = gates.active_requirements(session)
        effective = gates.effective_versions(session, [r.document_number for r in rows])
        requirements = [service.requirement_public(r, effective) for r in rows]
        warnings = service.unenforced(session)
        trail = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type.in_(("training_need", "qualification_requirement")))
                .order_by(AuditEntry.leaf_index.desc())
                .limit(200)
            )
        )
        roles = [(r.code, r.name(context.locale.get())) for r in session.scalars(
            select(Role).where(Role.kind == "business", Role.active.is_(True)).order_by(Role.code))]  # fmt: skip
    permissions = [p.code for p in CATALOGUE if p.kind == "business"]
    subject = request.query_params.get("subject", "").strip()
    if subject:
        needs = [n for n in needs if subject in n.subject or subject.upper() in (n.document_number or "")]
    return _render(request, "training/requirements.html", status_code, needs=needs, requirements=requirements,
                   warnings=warnings, roles=roles, permissions=permissions, subject=subject, trail=trail, **values)  # fmt: skip


@router.get("/requirements", response_class=HTMLResponse)
def requirements(request: Request, db: DbDep, _: TrainingView, done: int = 0) -> Response:
    """Training needs (role / position / department × document or course) and the permission gate."""
    return _requirements_page(request, db, flash=_saved(done))


@router.post("/requirements/needs", response_class=HTMLResponse)
async def need_add(request: Request, db: DbDep, principal: TrainingManage) -> Response:
    return submit(db, principal, NeedCreate, await form_data(request),
                  write=lambda uow, body: service.add_need(uow, principal, body),
                  rerender=lambda status, **values: _requirements_page(request, db, status, form="need", **values),
                  done="/training/requirements?done=1")  # fmt: skip


@router.post("/requirements/needs/{need_id}/void", response_class=HTMLResponse)
async def need_void(request: Request, db: DbDep, principal: TrainingManage, need_id: int) -> Response:
    return submit(db, principal, VoidRequest, await form_data(request),
                  write=lambda uow, body: service.void_need(uow, principal, need_id, body.reason),
                  rerender=lambda status, **values: _requirements_page(request, db, status, form=f"need-{need_id}", **values),
                  done="/training/requirements?done=1")  # fmt: skip


@router.post("/requirements/gates", response_class=HTMLResponse)
async def requirement_add(request: Request, db: DbDep, principal: TrainingManage) -> Response:
    return submit(db, principal, RequirementCreate, await form_data(request),
                  write=lambda uow, body: service.add_requirement(uow, principal, body),
                  rerender=lambda status, **values: _requirements_page(request, db, status, form="gate", **values),
                  done="/training/requirements?done=1")  # fmt: skip


@router.post("/requirements/gates/{requirement_id}/void", response_class=HTMLResponse)
async def requirement_void(
    request: Request, db: DbDep, principal: TrainingManage, requirement_id: int
) -> Response:
    return submit(db, principal, VoidRequest, await form_data(request),
                  write=lambda uow, body: service.void_requirement(uow, principal, requirement_id, body.reason),
                  rerender=lambda status, **values: _requirements_page(request, db, status, form=f"gate-{requirement_id}", **values),
                  done="/training/requirements?done=1")  # fmt: skip


# --- overdue training ---------------------------------------------------------------------------------


@router.get("/overdue", response_class=HTMLResponse)
def overdue(
    request: Request, db: DbDep, _: TrainingView, department: str = "", q: str = "", state: str = "overdue"
) -> Response:
    """Overdue (or open, or all) tasks by department and person, filterable."""
    state = state if state in ("overdue", "open", "closed", "") else "overdue"
    with db.sessions() as session:
        tasks = service.task_views(session, department=department.strip(), text=q, state=state)
        departments = sorted(set(session.scalars(select(User.department).where(User.active.is_(True)))))
    by_department: dict[str, int] = {}
    for view in tasks:
        by_department[view.user.department] = by_department.get(view.user.department, 0) + 1
    return _render(request, "training/overdue.html", tasks=tasks, departments=departments, department=department,
                   q=q, state=state, by_department=sorted(by_department.items()))  # fmt: skip


# --- access requests ----------------------------------------------------------------------------------


def _access_page(
    request: Request, db: DbDep, principal: Principal, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        rows = [
            r
            for r in access_requests.list_requests(session)
            if r.user_id == principal.user_id
            or r.requested_by == principal.login
            or principal.can("training.manage")
        ]
        shown = [service.access_request_public(session, r) for r in rows]
        roles = [(r.code, r.name(context.locale.get())) for r in session.scalars(
            select(Role).where(Role.kind == "business", Role.active.is_(True)).order_by(Role.code))]  # fmt: skip
    on_behalf = any(principal.can(code) for code in access_requests.ON_BEHALF)
    return _render(request, "training/access.html", status_code, requests=shown, roles=roles, on_behalf=on_behalf,
                   **values)  # fmt: skip


@router.get("/access", response_class=HTMLResponse)
def access(request: Request, db: DbDep, principal: TrainingView, done: int = 0) -> Response:
    """Request a role (for oneself, or as supervisor for someone else) with a justification."""
    return _access_page(request, db, principal, flash=_saved(done))


def _request(uow: Any, principal: Principal, body: AccessRequestCreate) -> object:
    user = identity.find_user(uow.session, body.login)
    if user is None:
        raise NotFound(N_("Unknown log-in ID “{login}”"), login=body.login)
    return access_requests.request_role(
        uow, principal, user_id=user.id, role_code=body.role_code, justification=body.justification
    )


@router.post("/access", response_class=HTMLResponse)
async def access_request(request: Request, db: DbDep, principal: TrainingTake) -> Response:
    data = await form_data(request)
    data.setdefault("login", principal.login)
    return submit(db, principal, AccessRequestCreate, data,
                  write=lambda uow, body: _request(uow, principal, body),
                  rerender=lambda status, **values: _access_page(request, db, principal, status, **values),
                  done="/training/access?done=1", reason=lambda _: "access requested")  # fmt: skip


def _review_page(
    request: Request, db: DbDep, principal: Principal, status_code: int = 200, **values: Any
) -> Response:
    state = request.query_params.get("status", "pending")
    state = state if state in (*access_requests.STATUSES, "") else "pending"
    with db.sessions() as session:
        rows = access_requests.list_requests(session, status=state or None)
        shown = [service.access_request_public(session, r) for r in rows]
        trail = list(
            session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.object_type == "access_request",
                    AuditEntry.object_id.in_([str(r.id) for r in rows]),
                )
                .order_by(AuditEntry.leaf_index.desc())
                .limit(200)
            )
        )
    return _render(request, "training/access_review.html", status_code, requests=shown, state=state, trail=trail,
                   **values)  # fmt: skip


@router.get("/access/review", response_class=HTMLResponse)
def access_review(request: Request, db: DbDep, principal: UsersView, done: int = 0) -> Response:
    """The system administrator's queue: approve (refused while training is incomplete) or reject."""
    return _review_page(request, db, principal, flash=_saved(done))


@router.post("/access/{request_id}/approve", response_class=HTMLResponse)
async def access_approve(request: Request, db: DbDep, principal: UsersManage, request_id: int) -> Response:
    return submit(db, principal, AccessDecision, await form_data(request),
                  write=lambda uow, body: access_requests.approve(uow, principal, request_id, body.note),
                  rerender=lambda status, **values: _review_page(request, db, principal, status, form=f"approve-{request_id}", **values),
                  done="/training/access/review?done=1")  # fmt: skip


@router.post("/access/{request_id}/reject", response_class=HTMLResponse)
async def access_reject(request: Request, db: DbDep, principal: UsersManage, request_id: int) -> Response:
    return submit(db, principal, AccessRejection, await form_data(request),
                  write=lambda uow, body: access_requests.reject(uow, principal, request_id, body.note),
                  rerender=lambda status, **values: _review_page(request, db, principal, status, form=f"reject-{request_id}", **values),
                  done="/training/access/review?done=1")  # fmt: skip
