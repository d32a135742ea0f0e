"""Pages: the registration and contract list (filters by category, kind, status and text; the expiry reminders on
top; the validity shown with its days left and "expired" computed from the clock), the new-record form (with the
renewal prefilled from "Renew" on a record, and its original file), and a record's page (its header, the original
with its SM3 and download, the forms its reader may use — submit, return, QA's approval by signature, terminate,
cancel, renew —, the signed decisions and the audit trail) (SH-6.2.4). Plain forms, usable on a tablet."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import dossiers as service
from pharmatrace.qms.dossier_models import (
    CATEGORY_LABELS,
    CONTRACT_KINDS,
    DEFAULT_REMINDER_DAYS,
    EXPIRY_LABELS,
    KIND_LABELS,
    REGISTRATION_KINDS,
    STATUS_LABELS,
    Dossier,
)
from pharmatrace.qms.dossier_schemas import DossierApprove, DossierCreate, DossierUpdate
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import act, form_data, saved, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires("qms.dossier.manage"))]

LABELS = {"status": STATUS_LABELS, "categories": CATEGORY_LABELS, "kinds": KIND_LABELS, "expiry": EXPIRY_LABELS,
          "meanings": MEANINGS}  # fmt: skip
KIND_GROUPS = {"registration": REGISTRATION_KINDS, "contract": CONTRACT_KINDS}
HEADER_FIELDS = tuple(DossierCreate.model_fields)


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("field_errors", {})
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, kind_groups=KIND_GROUPS,
                  defaults=DEFAULT_REMINDER_DAYS, **values)  # fmt: skip


def _url(number: str) -> str:
    return f"/qms/dossiers/{quote(number)}"


async def _form(request: Request) -> tuple[dict[str, Any], tuple[bytes, str] | None]:
    """The posted fields as text (empty ones left out) and an uploaded original, if any."""
    form = await request.form()
    data: dict[str, Any] = {}
    upload: tuple[bytes, str] | None = None
    for key in form:
        value = form.get(key)
        if isinstance(value, UploadFile):
            content = await value.read(service.STORE.max_bytes + 1)
            if content:
                upload = (content, value.filename or "dossier")
        elif isinstance(value, str) and value.strip():
            data[key] = value.strip()
    return data, upload


# --- the list ------------------------------------------------------------------------------------------------


@router.get("/dossiers", response_class=HTMLResponse)
def dossier_list(
    request: Request, db: DbDep, _: QmsView, q: str = "", category: str = "", kind: str = "", status: str = ""
) -> Response:
    """Records with their validity and days left; the reminders (due or expired) on top."""
    with db.sessions() as session:
        rows = [
            service.dossier_public(session, d)
            for d in service.list_dossiers(session, category=category, kind=kind, status=status, text=q)
        ]
        reminders = [service.dossier_public(session, d) for d in service.expiring(session)]
    return _render(request, "qms/dossier_list.html", rows=rows, reminders=reminders, q=q, category=category,
                   kind=kind, status=status)  # fmt: skip


# --- a new record --------------------------------------------------------------------------------------------


def _new(request: Request, status_code: int = 200, **values: Any) -> Response:
    return _render(request, "qms/dossier_new.html", status_code, **values)


@router.get("/dossiers/new", response_class=HTMLResponse)
def new_page(
    request: Request, db: DbDep, _: Manager, category: str = "registration", renews: str = ""
) -> Response:
    data: dict[str, Any] = {"category": category if category in KIND_GROUPS else "registration"}
    if renews:
        with db.sessions() as session:
            old = service.get_dossier(session, renews)
            data = {"category": old.category, "kind": old.kind, "title": old.title, "reference_no": old.reference_no,
                    "material_code": old.material.code if old.material else "",
                    "supplier_code": old.supplier.code if old.supplier else "", "counterparty": old.counterparty,
                    "issuing_authority": old.issuing_authority, "reminder_days": str(old.reminder_days),
                    "owner": old.owner, "summary": old.summary, "renews": old.number}  # fmt: skip
    return _new(request, data=data)


@router.post("/dossiers/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Manager) -> Response:
    data, upload = await _form(request)
    values = {k: v for k, v in data.items() if k in HEADER_FIELDS}
    return submit(db, principal, DossierCreate, values,
                  write=lambda uow, body: service.create_dossier(uow, principal, body, upload),
                  rerender=lambda status, **v: _new(request, status, **{**v, "data": data}),
                  done=lambda made: _url(getattr(made, "number", "")) + saved())  # fmt: skip


# --- a record ------------------------------------------------------------------------------------------------


def _trail(session: Session, dossier: Dossier) -> list[AuditEntry]:
    return trail_of(
        session, [("qms_dossier", [dossier.id]), ("qms_dossier_decision", [d.id for d in dossier.decisions])]
    )


def _page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        dossier = service.get_dossier(session, number)
        detail = service.dossier_detail(session, dossier)
        may = {name: service.allowed(session, principal, dossier, name) for name in service.TRANSITIONS}
        trail = _trail(session, dossier)
        ask_login = first_signature_pending(session, principal)
    manage = principal.can(service.MANAGE_PERMISSION)
    may["edit"] = manage and detail.status == "draft"
    may["renew"] = manage and detail.status == "effective" and detail.renewed_by is None
    may["approve_form"] = (manage and principal.can(service.QA_PERMISSION) and detail.status == "in_review"
                           and principal.login != detail.author)  # fmt: skip
    return _render(request, "qms/dossier_detail.html", status_code, d=detail, may=may, trail=trail,
                   ask_login=ask_login, **values)  # fmt: skip


@router.get("/dossiers/{number}", response_class=HTMLResponse)
def dossier_page(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _page(request, db, principal, number)


@router.get("/dossiers/{number}/file")
def dossier_file(db: DbDep, _: QmsView, number: str) -> Response:
    """The original, checked against its SM3 before it is sent."""
    with db.sessions() as session:
        dossier = service.get_dossier(session, number)
        data = service.open_file(db, dossier)
        name, sm3, media_type = dossier.file_name or "dossier", dossier.file_sm3 or "", dossier.media_type
    disposition = f"attachment; filename=\"{sm3[:16]}\"; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition, "X-SM3": sm3})


def _act(request: Request, db: DbDep, principal: Principal, number: str, form: str, write: Any,
         reason: str | None = None) -> Response:  # fmt: skip
    return act(db, principal, write, done=_url(number) + saved(), reason=reason,
               rerender=lambda status, **values: _page(request, db, principal, number, status, form=form, **values))  # fmt: skip


def _with_reason(request: Request, db: DbDep, principal: Principal, number: str, form: str,
                 data: dict[str, Any], write: Any) -> Response:  # fmt: skip
    reason = str(data.get("reason", "")).strip()
    if len(reason) < 2:
        return _page(request, db, principal, number, 422, form=form,
                     error=i18n.gettext(N_("A reason is required for this change")))  # fmt: skip
    return _act(
        request, db, principal, number, form, lambda uow: write(uow, reason[:500]), reason=reason[:500]
    )


@router.post("/dossiers/{number}/file", response_class=HTMLResponse)
async def attach_file(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    _, upload = await _form(request)
    if upload is None:
        return _page(
            request, db, principal, number, 422, form="file", error=i18n.gettext(N_("The file is empty"))
        )
    return _act(
        request,
        db,
        principal,
        number,
        "file",
        lambda uow: service.attach_file(uow, principal, number, upload),
    )


@router.post("/dossiers/{number}/submit", response_class=HTMLResponse)
async def submit_for_review(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    return _act(request, db, principal, number, "submit", lambda uow: service.submit(uow, principal, number))


@router.post("/dossiers/{number}/return", response_class=HTMLResponse)
async def return_to_draft(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "return", data,
                        lambda uow, reason: service.return_to_draft(uow, principal, number, reason))  # fmt: skip


@router.post("/dossiers/{number}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    values = {k: v for k, v in data.items() if k in DossierApprove.model_fields and v != ""}
    return submit(db, principal, DossierApprove, values,
                  write=lambda uow, body: service.approve(uow, principal, number, body),
                  done=_url(number) + saved(), shown={k: v for k, v in data.items() if k != "password"},
                  rerender=lambda status, **shown: _page(request, db, principal, number, status, form="approve", **shown))  # fmt: skip


@router.post("/dossiers/{number}/terminate", response_class=HTMLResponse)
async def terminate(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "terminate", data,
                        lambda uow, reason: service.terminate(uow, principal, number, reason))  # fmt: skip


@router.post("/dossiers/{number}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "cancel", data,
                        lambda uow, reason: service.cancel(uow, principal, number, reason))  # fmt: skip


@router.post("/dossiers/{number}/edit", response_class=HTMLResponse)
async def edit(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    """The header of a draft."""
    data, _ = await _form(request)
    values = {k: v for k, v in data.items() if k in HEADER_FIELDS}
    return submit(db, principal, DossierUpdate, values,
                  write=lambda uow, body: service.update_dossier(uow, principal, number, body),
                  done=_url(number) + saved(), shown=data,
                  rerender=lambda status, **shown: _page(request, db, principal, number, status, form="edit", **shown))  # fmt: skip
