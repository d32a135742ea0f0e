"""Pages: the signable-action registry; signing from any record page (the signature panel posts here)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign import service
from pharmatrace.kernel.esign.policy import ACTIONS, MEANINGS
from pharmatrace.kernel.identity.models import AuthSession
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import CurrentPrincipal, DbDep
from pharmatrace.web.forms import form_data
from pharmatrace.web.templating import render

router = APIRouter(prefix="/esign", include_in_schema=False)


@router.get("/actions", response_class=HTMLResponse)
def actions_page(request: Request, _: CurrentPrincipal) -> Response:
    """SH-7.1.4.c: which functions carry an electronic signature, and what each needs."""
    return render(request, "esign/actions.html", actions=ACTIONS, meanings=MEANINGS)


def first_signature_pending(session: Session, principal: Principal) -> bool:
    """True until the first signature of this continuous session (log-in ID needed then)."""
    auth = session.get(AuthSession, principal.session_id) if principal.session_id else None
    return auth is None or auth.first_signature_at is None


def panel(session: Session, principal: Principal, object_type: str, object_id: str) -> dict[str, object]:
    """What a record page needs to show its signatures and offer the actions its reader may sign."""
    views = service.manifestations(session, object_type, object_id)
    offered = []
    for action in ACTIONS:
        if action.object_type != object_type or action.with_event:  # signed on the event's own form
            continue
        valid, needed = service.signing_state(session, action, object_type, object_id)
        if valid < needed and principal.can(action.steps[valid].permission):
            offered.append((action, action.steps[valid]))
    return {"signatures": views, "offered": offered, "meanings": MEANINGS, "object_type": object_type,
            "object_id": object_id, "ask_login": first_signature_pending(session, principal)}  # fmt: skip


@router.post("/sign")
async def sign_submit(request: Request, db: DbDep, principal: CurrentPrincipal) -> Response:
    data = await form_data(request)
    back = str(data.get("next", "/"))
    back = back if back.startswith("/") and not back.startswith("//") else "/"
    try:
        with UnitOfWork(db, principal.actor) as uow:
            service.sign(
                uow,
                principal,
                object_type=str(data.get("object_type", "")),
                object_id=str(data.get("object_id", "")),
                action_code=str(data.get("action", "")),
                password=str(data.get("password", "")),
                login=str(data.get("login", "")) or None,
            )
            uow.commit()
    except PharmaTraceError as error:
        message = quote(i18n.error_message(error))
        return RedirectResponse(f"{back}{'&' if '?' in back else '?'}sign_error={message}", status_code=303)
    flash = quote(i18n.gettext(N_("Signed")))
    return RedirectResponse(f"{back}{'&' if '?' in back else '?'}signed={flash}", status_code=303)
