"""``/api/v1/training``: training needs, tasks, records, self-study, qualification gates (SH-6.3.4,
TJ-9.3, TJ-10.1.2.2.d) and access requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.kernel.identity import access_requests
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.training import gates, service
from pharmatrace.training.schemas import (
    AccessDecision,
    AccessRejection,
    AccessRequestCreate,
    AccessRequestPublic,
    NeedCreate,
    NeedPublic,
    QualificationPublic,
    RecordCreate,
    RecordPublic,
    RequirementCreate,
    RequirementPublic,
    RetrainingCreate,
    RetrainingPublic,
    SelfStudy,
    TaskPublic,
    VoidRequest,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/training", tags=["training"])

TrainingView = Annotated[Principal, Depends(Requires("training.view"))]
TrainingTake = Annotated[Principal, Depends(Requires("training.take"))]
TrainingManage = Annotated[Principal, Depends(Requires("training.manage"))]
UsersView = Annotated[Principal, Depends(Requires("admin.users.view"))]
UsersManage = Annotated[Principal, Depends(Requires("admin.users.manage"))]


def _user_id(db: DbDep, login: str) -> int:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        if user is None:
            raise NotFound(N_("Unknown log-in ID “{login}”"), login=login)
        return user.id


# --- my training, tasks, records ------------------------------------------------------------------


@router.get("/mine/tasks", response_model=list[TaskPublic])
def my_tasks(db: DbDep, principal: TrainingView, state: str = "") -> list[TaskPublic]:
    with db.sessions() as session:
        return [
            service.task_public(v)
            for v in service.task_views(session, user_id=principal.user_id, state=state)
        ]


@router.get("/qualifications/{login}", response_model=list[QualificationPublic])
def qualifications(login: str, db: DbDep, _: TrainingView) -> list[QualificationPublic]:
    """A person's standing on every document they need or a permission of theirs requires (TJ-10.1.2.2.d)."""
    with db.sessions() as session:
        user = identity.find_user(session, login)
        if user is None:
            raise NotFound(N_("Unknown log-in ID “{login}”"), login=login)
        return [service.qualification_public(q) for q in service.qualification_status(session, user)]


@router.get("/tasks", response_model=list[TaskPublic])
def list_tasks(
    db: DbDep, _: TrainingView, state: str = "", department: str = "", q: str = ""
) -> list[TaskPublic]:
    """Tasks; ``state`` is ``open``, ``overdue`` or ``closed`` (derived from the records)."""
    with db.sessions() as session:
        views = service.task_views(session, department=department.strip(), text=q, state=state)
        return [service.task_public(v) for v in views]


@router.get("/records", response_model=list[RecordPublic])
def list_records(db: DbDep, _: TrainingView, login: str = "", document: str = "") -> list[RecordPublic]:
    with db.sessions() as session:
        return service.records_public(session, service.list_records(session, login=login, number=document))


@router.post("/records", response_model=RecordPublic, status_code=201)
def enter_record(body: RecordCreate, db: DbDep, principal: TrainingManage) -> RecordPublic:
    with uow_for(db, principal) as uow:
        record = service.enter_record(uow, principal, body)
        uow.commit()
        return service.records_public(uow.session, [record])[0]


@router.post("/versions/{version_id}/self-study", response_model=RecordPublic, status_code=201)
def self_study(version_id: int, body: SelfStudy, db: DbDep, principal: TrainingTake) -> RecordPublic:
    """“Read and understood / self-study completed”, signed with the password (TJ-10.2)."""
    with uow_for(db, principal) as uow:
        record = service.self_study(uow, principal, version_id, body)
        uow.commit()
        return service.records_public(uow.session, [record])[0]


@router.post("/users/{login}/tasks", response_model=list[TaskPublic])
def sync_tasks(login: str, db: DbDep, principal: TrainingManage) -> list[TaskPublic]:
    """Assign what the person's roles, position and department need and they lack (e.g. after a new role)."""
    user_id = _user_id(db, login)
    with uow_for(db, principal, reason="training tasks brought up to date") as uow:
        service.sync_tasks(uow, user_id)
        uow.commit()
        return [
            service.task_public(v) for v in service.task_views(uow.session, user_id=user_id, state="open")
        ]


# --- needs and gate requirements -------------------------------------------------------------------


@router.get("/needs", response_model=list[NeedPublic])
def list_needs(db: DbDep, _: TrainingView) -> list[NeedPublic]:
    with db.sessions() as session:
        return [service.need_public(session, n) for n in service.active_needs(session)]


@router.post("/needs", response_model=NeedPublic, status_code=201)
def add_need(body: NeedCreate, db: DbDep, principal: TrainingManage) -> NeedPublic:
    with uow_for(db, principal) as uow:
        need = service.add_need(uow, principal, body)
        uow.commit()
        return service.need_public(uow.session, need)


@router.post("/needs/{need_id}/void", response_model=NeedPublic)
def void_need(need_id: int, body: VoidRequest, db: DbDep, principal: TrainingManage) -> NeedPublic:
    with uow_for(db, principal) as uow:
        need = service.void_need(uow, principal, need_id, body.reason)
        uow.commit()
        return service.need_public(uow.session, need)


@router.get("/requirements", response_model=list[RequirementPublic])
def list_requirements(db: DbDep, _: TrainingView) -> list[RequirementPublic]:
    with db.sessions() as session:
        rows = gates.active_requirements(session)
        effective = gates.effective_versions(session, [r.document_number for r in rows])
        return [service.requirement_public(r, effective) for r in rows]


@router.post("/requirements", response_model=RequirementPublic, status_code=201)
def add_requirement(body: RequirementCreate, db: DbDep, principal: TrainingManage) -> RequirementPublic:
    with uow_for(db, principal) as uow:
        row = service.add_requirement(uow, principal, body)
        uow.commit()
        effective = gates.effective_versions(uow.session, [row.document_number])
        return service.requirement_public(row, effective)


@router.post("/requirements/{requirement_id}/void", response_model=RequirementPublic)
def void_requirement(
    requirement_id: int, body: VoidRequest, db: DbDep, principal: TrainingManage
) -> RequirementPublic:
    with uow_for(db, principal) as uow:
        row = service.void_requirement(uow, principal, requirement_id, body.reason)
        uow.commit()
        return service.requirement_public(row, gates.effective_versions(uow.session, [row.document_number]))


# --- retraining ordered by a deviation or CAPA (issue 6 item 5) ------------------------------------


@router.get("/retraining", response_model=list[RetrainingPublic])
def list_retraining(
    db: DbDep, _: TrainingManage, login: str = "", document: str = ""
) -> list[RetrainingPublic]:
    """Retraining orders, newest first, with whether each person has passed again since."""
    user_id = _user_id(db, login) if login.strip() else None
    with db.sessions() as session:
        orders = service.retraining_orders(session, user_id=user_id, number=document)
        return [service.retraining_public(session, o) for o in orders]


@router.post("/retraining", response_model=list[RetrainingPublic], status_code=201)
def order_retraining(body: RetrainingCreate, db: DbDep, principal: TrainingManage) -> list[RetrainingPublic]:
    """Order retraining on the current effective version of a document: the people named are lapsed on it
    (refused by the gate) until they pass again (SH-6.3.4, TJ-10.1.2.2.d)."""
    user_ids = [_user_id(db, login) for login in body.logins]
    with uow_for(db, principal, reason=f"{body.source}: {body.reason}") as uow:
        orders = service.require_retraining(uow, user_ids=user_ids, document_number=body.document_number,
                                            reason=body.reason, source=body.source)  # fmt: skip
        uow.commit()
        return [service.retraining_public(uow.session, o) for o in orders]


@router.post("/retraining/{order_id}/void", response_model=RetrainingPublic)
def void_retraining(
    order_id: int, body: VoidRequest, db: DbDep, principal: TrainingManage
) -> RetrainingPublic:
    with uow_for(db, principal, reason=body.reason) as uow:
        order = service.void_retraining(uow, order_id)
        uow.commit()
        return service.retraining_public(uow.session, order)


# --- access requests (TJ-10.1.2.2.d) ---------------------------------------------------------------


@router.get("/access-requests", response_model=list[AccessRequestPublic])
def list_access_requests(db: DbDep, _: UsersView, status: str = "") -> list[AccessRequestPublic]:
    with db.sessions() as session:
        rows = access_requests.list_requests(session, status=status.strip() or None)
        return [service.access_request_public(session, r) for r in rows]


@router.post("/access-requests", response_model=AccessRequestPublic, status_code=201)
def request_access(body: AccessRequestCreate, db: DbDep, principal: TrainingTake) -> AccessRequestPublic:
    """Ask for a role for oneself (or, as supervisor or training coordinator, for someone else)."""
    with uow_for(db, principal, reason="access requested") as uow:
        user = identity.find_user(uow.session, body.login)
        if user is None:
            raise NotFound(N_("Unknown log-in ID “{login}”"), login=body.login)
        row = access_requests.request_role(
            uow, principal, user_id=user.id, role_code=body.role_code, justification=body.justification
        )
        uow.commit()
        return service.access_request_public(uow.session, row)


@router.post("/access-requests/{request_id}/approve", response_model=AccessRequestPublic)
def approve_access(
    request_id: int, body: AccessDecision, db: DbDep, principal: UsersManage
) -> AccessRequestPublic:
    """Grant the role — refused, naming the training, while the role's training is incomplete."""
    with uow_for(db, principal) as uow:
        row = access_requests.approve(uow, principal, request_id, body.note)
        uow.commit()
        return service.access_request_public(uow.session, row)


@router.post("/access-requests/{request_id}/reject", response_model=AccessRequestPublic)
def reject_access(
    request_id: int, body: AccessRejection, db: DbDep, principal: UsersManage
) -> AccessRequestPublic:
    with uow_for(db, principal) as uow:
        row = access_requests.reject(uow, principal, request_id, body.note)
        uow.commit()
        return service.access_request_public(uow.session, row)
