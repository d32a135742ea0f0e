"""The shell: log-in, log-out, password change, language switch, dashboard, not-yet-built areas."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import func, select

from pharmatrace.config import get_settings
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import N_, NotFound, PharmaTraceError
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.permissions import AREA_BY_CODE
from pharmatrace.kernel.identity.schemas import PasswordChange
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import (
    LANG_COOKIE,
    SESSION_COOKIE,
    AnyPrincipal,
    CurrentPrincipal,
    DbDep,
    OptionalPrincipal,
    session_token,
)
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after log-in."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


@router.get("/healthz")
def healthz(db: DbDep) -> PlainTextResponse:
    with db.sessions() as session:
        session.execute(select(1))
    return PlainTextResponse("ok")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, principal: OptionalPrincipal, next: str = "/") -> Response:
    if principal is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", next=_safe_next(next), login="")


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    db: DbDep,
    login: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not login.strip() or not password:
        return render(
            request,
            "login.html",
            status_code=422,
            next=_safe_next(next),
            login=login,
            error=i18n.gettext(N_("Enter your log-in ID and password")),
        )
    client = request.client.host if request.client else None
    try:
        with UnitOfWork(db, Actor.system("login")) as uow:
            user = identity.authenticate(uow, login, password)
            token = identity.start_session(uow, user, kind="web", client_address=client)
            must_change = user.must_change_password
            uow.commit()
    except PharmaTraceError as error:
        return render(
            request,
            "login.html",
            status_code=error.http_status,
            next=_safe_next(next),
            login=login,
            error=i18n.error_message(error),
        )
    response = RedirectResponse("/password" if must_change else _safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=get_settings().cookie_secure
    )
    return response


@router.post("/logout")
def logout(request: Request, db: DbDep, principal: OptionalPrincipal) -> Response:
    token = session_token(request)
    if token and principal is not None:
        with UnitOfWork(db, principal.actor) as uow:
            identity.end_session(uow, token)
            uow.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request, principal: AnyPrincipal) -> Response:
    return render(request, "password.html", forced=principal.must_change_password)


@router.post("/password", response_class=HTMLResponse)
async def password_submit(request: Request, db: DbDep, principal: AnyPrincipal) -> Response:
    data = await form_data(request)
    confirm = data.pop("confirm_password", "")
    change, errors = validate(PasswordChange, data)
    if change is not None and change.new_password != confirm:
        errors["confirm_password"] = i18n.gettext(N_("The two new passwords differ"))
    if change is None or errors:
        return render(
            request,
            "password.html",
            status_code=422,
            forced=principal.must_change_password,
            field_errors=errors,
        )
    try:
        with UnitOfWork(db, principal.actor) as uow:
            identity.change_password(uow, principal.user_id, change.current_password, change.new_password)
            uow.commit()
    except PharmaTraceError as error:
        return render(
            request,
            "password.html",
            status_code=error.http_status,
            forced=principal.must_change_password,
            error=i18n.error_message(error),
        )
    request.state.principal = None
    return RedirectResponse("/?changed=1", status_code=303)


@router.get("/lang/{code}")
def switch_language(code: str, next: str = "/") -> Response:
    if code not in i18n.LOCALES:
        raise NotFound(N_("Not found"))
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, code, max_age=3600 * 24 * 365, samesite="lax")
    return response


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, db: DbDep, principal: CurrentPrincipal, changed: int = 0) -> Response:
    from pharmatrace.kernel.audit import AuditEntry
    from pharmatrace.kernel.identity.models import User

    with db.sessions() as session:
        user = identity.get_user(session, principal.user_id)
        counts = {
            "users": session.scalar(select(func.count()).select_from(User).where(User.active.is_(True))) or 0,
            "audit": session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        }
        policy = identity.password_policy(session)
        roles = [g.role.name(principal_locale()) for g in user.grants]
        last_login = user.last_login_at
    flash = i18n.gettext(N_("Your password has been changed")) if changed else None
    return render(
        request, "home.html", roles=roles, counts=counts, last_login=last_login, policy=policy, flash=flash
    )


def principal_locale() -> str:
    from pharmatrace.kernel import context

    return context.locale.get()


@router.get("/areas/{code}", response_class=HTMLResponse)
def area_not_built(request: Request, code: str, principal: CurrentPrincipal) -> Response:
    area = AREA_BY_CODE.get(code)
    if area is None:
        raise NotFound(N_("Not found"))
    return render(request, "area.html", area=area)
