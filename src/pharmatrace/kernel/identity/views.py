"""Administration pages: users, roles, the permission matrix, the access review, security settings."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select

from pharmatrace.kernel import clock, context
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail import service as trail
from pharmatrace.kernel.audit_trail.service import TrailFilter
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.permissions import AREAS, CATALOGUE, Area, Permission
from pharmatrace.kernel.identity.schemas import (
    PasswordReset,
    PolicyUpdate,
    ReasonOnly,
    RoleCreate,
    UserCreate,
    UserRolesUpdate,
    UserUpdate,
)
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/admin", include_in_schema=False)

UsersView = Annotated[Principal, Depends(Requires("admin.users.view"))]
UsersManage = Annotated[Principal, Depends(Requires("admin.users.manage"))]
RolesManage = Annotated[Principal, Depends(Requires("admin.roles.manage"))]
SettingsManage = Annotated[Principal, Depends(Requires("admin.settings.manage"))]
AccessReview = Annotated[Principal, Depends(Requires("admin.access_review.view"))]


def _trail(session: Any, user_id: int) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(
                or_(
                    (AuditEntry.object_type == "user") & (AuditEntry.object_id == str(user_id)),
                    (AuditEntry.object_type == "user_role") & AuditEntry.object_id.like(f"{user_id}:%"),
                )
            )
            .order_by(AuditEntry.id.desc())
            .limit(200)
        )
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, db: DbDep, _: UsersView, q: str = "", status: str = "active") -> Response:
    active = {"active": True, "inactive": False}.get(status)
    with db.sessions() as session:
        users = identity.list_users(session, text=q, active=active)
        rows = [identity.user_public(u, context.locale.get()) for u in users]
    template = "identity/users_table.html" if request.headers.get("hx-request") else "identity/users.html"
    return render(request, template, users=rows, q=q, status=status)


def _user_form(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        roles = identity.list_roles(session)
        role_rows = [(r.code, r.name(context.locale.get()), r.kind) for r in roles if r.active]
    values.setdefault("data", {"roles": []})
    return render(request, "identity/user_new.html", status_code=status_code, roles=role_rows, **values)


@router.get("/users/new", response_class=HTMLResponse)
def user_new_page(request: Request, db: DbDep, _: UsersManage) -> Response:
    return _user_form(request, db)


@router.post("/users/new", response_class=HTMLResponse)
async def user_new_submit(request: Request, db: DbDep, principal: UsersManage) -> Response:
    data = await form_data(request, lists=("roles",))
    create, errors = validate(UserCreate, data)
    if create is None:
        return _user_form(request, db, 422, data=data, field_errors=errors)
    try:
        with UnitOfWork(db, principal.actor) as uow:
            user = identity.create_user(uow, create)
            uow.commit()
    except PharmaTraceError as error:
        return _user_form(request, db, error.http_status, data=data, error=i18n.error_message(error))
    return RedirectResponse(f"/admin/users/{user.id}?created=1", status_code=303)


def _user_detail(
    request: Request, db: DbDep, user_id: int, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        user = identity.get_user(session, user_id)
        public = identity.user_public(user, context.locale.get())
        roles = [
            (r.code, r.name(context.locale.get()), r.kind) for r in identity.list_roles(session) if r.active
        ]
        trail = _trail(session, user_id)
    return render(
        request,
        "identity/user_detail.html",
        status_code=status_code,
        user=public,
        roles=roles,
        trail=trail,
        **values,
    )


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(
    request: Request, db: DbDep, _: UsersView, user_id: int, created: int = 0, done: str = ""
) -> Response:
    flash = None
    if created:
        flash = i18n.gettext(N_("User created. The initial password must be changed at the first log-in."))
    elif done:
        flash = i18n.gettext(N_("Saved"))
    return _user_detail(request, db, user_id, flash=flash)


# One handler per action on a user; each validates with the API's schema and runs in one unit of work.
_USER_ACTIONS: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "edit": (UserUpdate, ()),
    "roles": (UserRolesUpdate, ("roles",)),
    "deactivate": (ReasonOnly, ()),
    "unlock": (ReasonOnly, ()),
    "reset-password": (PasswordReset, ()),
}


@router.post("/users/{user_id}/{action}", response_class=HTMLResponse)
async def user_action(
    request: Request, db: DbDep, principal: UsersManage, user_id: int, action: str
) -> Response:
    if action not in _USER_ACTIONS:
        return _user_detail(request, db, user_id, 404, error=i18n.gettext(N_("Not found")))
    schema, lists = _USER_ACTIONS[action]
    data = await form_data(request, lists=lists)
    if action == "edit":
        data = {k: v for k, v in data.items() if v != "" or k == "reason"}
    command, errors = validate(schema, data)
    if command is None:
        return _user_detail(request, db, user_id, 422, field_errors=errors, action=action)
    try:
        with UnitOfWork(db, principal.actor, reason=command.reason) as uow:
            if isinstance(command, UserUpdate):
                identity.update_user(uow, user_id, command)
            elif isinstance(command, UserRolesUpdate):
                identity.set_user_roles(uow, user_id, command.roles)
            elif isinstance(command, PasswordReset):
                identity.reset_password(uow, user_id, command.new_password)
            elif action == "deactivate":
                identity.deactivate_user(uow, user_id)
            else:
                identity.unlock_user(uow, user_id)
            uow.commit()
    except PharmaTraceError as error:
        return _user_detail(
            request, db, user_id, error.http_status, error=i18n.error_message(error), action=action
        )
    return RedirectResponse(f"/admin/users/{user_id}?done={action}", status_code=303)


ROLE_HISTORY = TrailFilter(object_type="role,role_permission")


def _roles_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        roles = [identity.role_public(r) for r in identity.list_roles(session)]
        # TJ-10.1.2.2.a: permission changes can be queried — the latest here, all of them in the trail.
        history = trail.entries_page(session, ROLE_HISTORY, per_page=100)
    values.setdefault("data", {})
    return render(
        request,
        "identity/roles.html",
        status_code=status_code,
        roles=roles,
        history=history,
        role_codes={str(r.id): r.code for r in roles},
        history_params=ROLE_HISTORY.params(),
        **values,
    )


@router.get("/roles", response_class=HTMLResponse)
def roles_page(request: Request, db: DbDep, _: UsersView) -> Response:
    return _roles_page(request, db)


@router.post("/roles", response_class=HTMLResponse)
async def role_create(request: Request, db: DbDep, principal: RolesManage) -> Response:
    data = await form_data(request)
    create, errors = validate(RoleCreate, data)
    if create is None:
        return _roles_page(request, db, 422, data=data, field_errors=errors)
    try:
        with UnitOfWork(db, principal.actor) as uow:
            identity.create_role(uow, create)
            uow.commit()
    except PharmaTraceError as error:
        return _roles_page(request, db, error.http_status, data=data, error=i18n.error_message(error))
    return RedirectResponse("/admin/permissions", status_code=303)


def _matrix(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        roles = [identity.role_public(r) for r in identity.list_roles(session) if r.active]
    by_area: list[tuple[Area | None, list[Permission]]] = [
        (area, [p for p in CATALOGUE if p.area == area.code]) for area in AREAS
    ]
    by_area.insert(0, (None, [p for p in CATALOGUE if p.area in ("admin", "audit")]))
    return render(
        request, "identity/matrix.html", status_code=status_code, roles=roles, by_area=by_area, **values
    )


@router.get("/permissions", response_class=HTMLResponse)
def matrix_page(request: Request, db: DbDep, _: UsersView, done: int = 0) -> Response:
    return _matrix(request, db, flash=i18n.gettext(N_("Saved")) if done else None)


@router.post("/permissions", response_class=HTMLResponse)
async def matrix_submit(request: Request, db: DbDep, principal: RolesManage) -> Response:
    """Apply the whole matrix in one unit of work: one refused cell leaves every role unchanged."""
    data = await form_data(request, lists=("grant",))
    reason, errors = validate(ReasonOnly, {"reason": data.get("reason", "")})
    if reason is None:
        return _matrix(request, db, 422, field_errors=errors)
    wanted: dict[int, set[str]] = {}
    for cell in data["grant"]:
        role_id, _, code = cell.partition(":")
        if role_id.isdigit():
            wanted.setdefault(int(role_id), set()).add(code)
    try:
        with UnitOfWork(db, principal.actor, reason=reason.reason) as uow:
            for role in identity.list_roles(uow.session):
                if role.active and wanted.get(role.id, set()) != role.permission_codes:
                    identity.set_role_permissions(uow, role.id, wanted.get(role.id, set()))
            uow.commit()
    except PharmaTraceError as error:
        return _matrix(request, db, error.http_status, error=i18n.error_message(error))
    return RedirectResponse("/admin/permissions?done=1", status_code=303)


@router.get("/access-review", response_class=HTMLResponse)
def access_review_page(
    request: Request, db: DbDep, principal: AccessReview, format: str = "html"
) -> Response:
    with db.sessions() as session:
        rows = identity.access_review(session, context.locale.get())
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            [
                i18n.gettext(h)
                for h in (
                    N_("Log-in ID"),
                    N_("Full name"),
                    N_("Employee no."),
                    N_("Department"),
                    N_("Status"),
                    N_("Roles"),
                    N_("Since"),
                    N_("Last log-in"),
                    N_("Password changed"),
                    N_("Findings"),
                )
            ]
        )
        for row in rows:
            writer.writerow(
                [
                    row.login,
                    row.full_name,
                    row.employee_no,
                    row.department,
                    i18n.gettext(N_("active") if row.active else N_("deactivated")),
                    "; ".join(r.name for r in row.roles),
                    "; ".join(clock.format_beijing(r.since) for r in row.roles),
                    clock.format_beijing(row.last_login_at),
                    clock.format_beijing(row.password_changed_at),
                    "; ".join(i18n.gettext(f) for f in row.findings),
                ]
            )
        stamp = clock.format_exchange(clock.now())
        return Response(
            "\ufeff" + buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="access-review-{stamp}.csv"'},
        )
    return render(
        request, "identity/access_review.html", rows=rows, generated=clock.now(), reviewer=principal.full_name
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, db: DbDep, _: SettingsManage, done: int = 0) -> Response:
    with db.sessions() as session:
        policy = identity.policy_public(identity.password_policy(session))
    return render(
        request,
        "identity/settings.html",
        data=policy.model_dump(),
        flash=i18n.gettext(N_("Saved")) if done else None,
    )


@router.post("/settings", response_class=HTMLResponse)
async def settings_submit(request: Request, db: DbDep, principal: SettingsManage) -> Response:
    data = await form_data(request)
    update, errors = validate(PolicyUpdate, data)
    if update is None:
        return render(request, "identity/settings.html", status_code=422, data=data, field_errors=errors)
    with UnitOfWork(db, principal.actor, reason=update.reason) as uow:
        identity.set_password_policy(uow, update)
        uow.commit()
    return RedirectResponse("/admin/settings?done=1", status_code=303)
