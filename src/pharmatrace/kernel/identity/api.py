"""``/api/v1`` for authentication, users, roles, the permission matrix, the access review and settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from pharmatrace.kernel import context
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.permissions import CATALOGUE
from pharmatrace.kernel.identity.schemas import (
    AccessReviewRow,
    PasswordChange,
    PasswordReset,
    PermissionPublic,
    PolicyPublic,
    PolicyUpdate,
    ReasonOnly,
    RoleCreate,
    RolePermissionsUpdate,
    RolePublic,
    TokenPublic,
    TokenRequest,
    UserCreate,
    UserPublic,
    UserRolesUpdate,
    UserUpdate,
)
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import AnyPrincipal, DbDep, Requires, session_token, uow_for

router = APIRouter(tags=["identity"])

UsersView = Annotated[Principal, Depends(Requires("admin.users.view"))]
UsersManage = Annotated[Principal, Depends(Requires("admin.users.manage"))]
RolesManage = Annotated[Principal, Depends(Requires("admin.roles.manage"))]
SettingsManage = Annotated[Principal, Depends(Requires("admin.settings.manage"))]
AccessReview = Annotated[Principal, Depends(Requires("admin.access_review.view"))]


@router.post("/auth/token", response_model=TokenPublic)
def issue_token(body: TokenRequest, request: Request, db: DbDep) -> TokenPublic:
    """Log in and receive a bearer token (an API session with the same idle timeout as the UI)."""
    with UnitOfWork(db, Actor.system("login")) as uow:
        user = identity.authenticate(uow, body.login, body.password)
        token = identity.start_session(
            uow, user, kind="api", client_address=request.client.host if request.client else None
        )
        must_change = user.must_change_password
        uow.commit()
    return TokenPublic(token=token, must_change_password=must_change)


@router.post("/auth/logout", status_code=204)
def revoke_token(request: Request, db: DbDep, principal: AnyPrincipal) -> Response:
    token = session_token(request)
    if token:
        with uow_for(db, principal) as uow:
            identity.end_session(uow, token)
            uow.commit()
    return Response(status_code=204)


@router.get("/me", response_model=UserPublic)
def me(db: DbDep, principal: AnyPrincipal) -> UserPublic:
    with db.sessions() as session:
        return identity.user_public(identity.get_user(session, principal.user_id), context.locale.get())


@router.post("/me/password", status_code=204)
def change_my_password(body: PasswordChange, db: DbDep, principal: AnyPrincipal) -> Response:
    with uow_for(db, principal) as uow:
        identity.change_password(uow, principal.user_id, body.current_password, body.new_password)
        uow.commit()
    return Response(status_code=204)


@router.get("/users", response_model=list[UserPublic])
def list_users(db: DbDep, _: UsersView, q: str = "", active: bool | None = None) -> list[UserPublic]:
    with db.sessions() as session:
        return [
            identity.user_public(u, context.locale.get())
            for u in identity.list_users(session, text=q, active=active)
        ]


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, db: DbDep, principal: UsersManage) -> UserPublic:
    with uow_for(db, principal) as uow:
        user = identity.create_user(uow, body)
        uow.commit()
        return identity.user_public(user, context.locale.get())


@router.get("/users/{user_id}", response_model=UserPublic)
def get_user(user_id: int, db: DbDep, _: UsersView) -> UserPublic:
    with db.sessions() as session:
        return identity.user_public(identity.get_user(session, user_id), context.locale.get())


@router.patch("/users/{user_id}", response_model=UserPublic)
def update_user(user_id: int, body: UserUpdate, db: DbDep, principal: UsersManage) -> UserPublic:
    with uow_for(db, principal, body.reason) as uow:
        user = identity.update_user(uow, user_id, body)
        uow.commit()
        return identity.user_public(user, context.locale.get())


@router.put("/users/{user_id}/roles", response_model=UserPublic)
def set_user_roles(user_id: int, body: UserRolesUpdate, db: DbDep, principal: UsersManage) -> UserPublic:
    with uow_for(db, principal, body.reason) as uow:
        user = identity.set_user_roles(uow, user_id, body.roles)
        uow.commit()
        return identity.user_public(user, context.locale.get())


@router.post("/users/{user_id}/deactivate", response_model=UserPublic)
def deactivate_user(user_id: int, body: ReasonOnly, db: DbDep, principal: UsersManage) -> UserPublic:
    with uow_for(db, principal, body.reason) as uow:
        user = identity.deactivate_user(uow, user_id)
        uow.commit()
        return identity.user_public(user, context.locale.get())


@router.post("/users/{user_id}/unlock", response_model=UserPublic)
def unlock_user(user_id: int, body: ReasonOnly, db: DbDep, principal: UsersManage) -> UserPublic:
    with uow_for(db, principal, body.reason) as uow:
        user = identity.unlock_user(uow, user_id)
        uow.commit()
        return identity.user_public(user, context.locale.get())


@router.post("/users/{user_id}/reset-password", status_code=204)
def reset_password(user_id: int, body: PasswordReset, db: DbDep, principal: UsersManage) -> Response:
    with uow_for(db, principal, body.reason) as uow:
        identity.reset_password(uow, user_id, body.new_password)
        uow.commit()
    return Response(status_code=204)


@router.get("/roles", response_model=list[RolePublic])
def list_roles(db: DbDep, _: UsersView) -> list[RolePublic]:
    with db.sessions() as session:
        return [identity.role_public(r) for r in identity.list_roles(session)]


@router.post("/roles", response_model=RolePublic, status_code=201)
def create_role(body: RoleCreate, db: DbDep, principal: RolesManage) -> RolePublic:
    with uow_for(db, principal) as uow:
        role = identity.create_role(uow, body)
        uow.commit()
        return identity.role_public(role)


@router.get("/roles/{role_id}", response_model=RolePublic)
def get_role(role_id: int, db: DbDep, _: UsersView) -> RolePublic:
    with db.sessions() as session:
        return identity.role_public(identity.get_role(session, role_id))


@router.put("/roles/{role_id}/permissions", response_model=RolePublic)
def set_role_permissions(
    role_id: int, body: RolePermissionsUpdate, db: DbDep, principal: RolesManage
) -> RolePublic:
    with uow_for(db, principal, body.reason) as uow:
        role = identity.set_role_permissions(uow, role_id, body.permissions)
        uow.commit()
        return identity.role_public(role)


@router.get("/permissions", response_model=list[PermissionPublic])
def list_permissions(_: UsersView) -> list[PermissionPublic]:
    return [
        PermissionPublic(code=p.code, area=p.area, kind=p.kind, label=i18n.gettext(p.label))
        for p in CATALOGUE
    ]


@router.get("/access-review", response_model=list[AccessReviewRow])
def access_review(db: DbDep, _: AccessReview) -> list[AccessReviewRow]:
    with db.sessions() as session:
        rows = identity.access_review(session, context.locale.get())
    for row in rows:
        row.findings = [i18n.gettext(f) for f in row.findings]
    return rows


@router.get("/settings/password-policy", response_model=PolicyPublic)
def get_policy(db: DbDep, _: SettingsManage) -> PolicyPublic:
    with db.sessions() as session:
        return identity.policy_public(identity.password_policy(session))


@router.put("/settings/password-policy", status_code=204)
def put_policy(body: PolicyUpdate, db: DbDep, principal: SettingsManage) -> Response:
    with uow_for(db, principal, body.reason) as uow:
        identity.set_password_policy(uow, body)
        uow.commit()
    return Response(status_code=204)
