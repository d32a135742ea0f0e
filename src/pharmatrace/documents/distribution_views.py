"""Pages of distribution and print control (TJ-9.2, SH-6.3.3): my documents to read (and acknowledging them
with a signature), a version's distribution status with the distribute and print forms, the dashboard of
printed copies (out, to recall, returned, destroyed) and a copy's record with its return and destruction."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from pharmatrace.documents import distribution as service
from pharmatrace.documents.distribution_models import DocumentDistribution, DocumentReadTask
from pharmatrace.documents.distribution_schemas import (
    AcknowledgementCreate,
    CopyCreate,
    CopyDestroy,
    CopyReturn,
    DistributionCreate,
    DistributionResult,
)
from pharmatrace.kernel import context
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.models import Role
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/documents", include_in_schema=False)

DocumentsView = Annotated[Principal, Depends(Requires("documents.view"))]
DocumentsControl = Annotated[Principal, Depends(Requires("documents.control"))]
DocumentsPrint = Annotated[Principal, Depends(Requires("documents.print"))]

LABELS = {
    "states": service.STATE_LABELS,
    "tasks": service.TASK_LABELS,
    "copies": service.COPY_LABELS,
    "kinds": service.KIND_LABELS,
    "methods": service.METHOD_LABELS,
    "meanings": MEANINGS,
}


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    values.setdefault("form", "")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _saved(done: int) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


# --- my documents to read -----------------------------------------------------------------------------------


def _reading_page(
    request: Request, db: DbDep, principal: Principal, status_code: int = 200, **values: Any
) -> Response:
    state = str(values.pop("state", ""))
    with db.sessions() as session:
        tasks = service.my_reading(session, principal.user_id)
        ask_login = first_signature_pending(session, principal)
    counts = {name: sum(1 for t in tasks if t.state == name) for name in service.TASK_LABELS}
    shown = [t for t in tasks if not state or t.state == state]
    return _render(request, "documents/my_reading.html", status_code, tasks=shown, counts=counts, state=state,
                   ask_login=ask_login, **values)  # fmt: skip


@router.get("/reading", response_class=HTMLResponse)
def reading_page(
    request: Request, db: DbDep, principal: DocumentsView, state: str = "", done: int = 0
) -> Response:
    """My documents to read: open, overdue, acknowledged, and those closed with their version."""
    flash = i18n.gettext(N_("Acknowledged and signed")) if done else None
    return _reading_page(request, db, principal, state=state, flash=flash)


@router.post("/reading/{task_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge(request: Request, db: DbDep, principal: DocumentsView, task_id: int) -> Response:
    data = await form_data(request)
    data = {k: v for k, v in data.items() if k in ("password", "login") and v != ""}
    return submit(
        db, principal, AcknowledgementCreate, data,
        write=lambda uow, body: service.acknowledge(uow, principal, task_id, body),
        rerender=lambda status, **values: _reading_page(request, db, principal, status, open_task=task_id,
                                                        **{k: v for k, v in values.items() if k != "data"}),
        done="/documents/reading?done=1",
    )  # fmt: skip


# --- a version: distribution status, distribute, print ----------------------------------------------------


def _version_page(
    request: Request, db: DbDep, principal: Principal, version_id: int, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        status = service.version_distribution(session, version_id)
        copies = service.list_copies(session, version_id=version_id)
        roles = [(r.code, r.name(context.locale.get())) for r in session.scalars(
            select(Role).where(Role.active.is_(True), Role.kind == "business").order_by(Role.code))]  # fmt: skip
        distribution_ids = list(
            session.scalars(
                select(DocumentDistribution.id).where(DocumentDistribution.version_id == version_id)
            )
        )
        task_ids = list(
            session.scalars(select(DocumentReadTask.id).where(DocumentReadTask.version_id == version_id))
        )
        copy_ids = [c.id for c in copies]
        trail = trail_of(session, [("document_distribution", distribution_ids), ("document_read_task", task_ids),
                                 ("document_copy", copy_ids), ("document_version", [version_id])])  # fmt: skip
        trail = [e for e in trail if e.object_type != "document_version" or e.event.startswith("document.")]
    return _render(request, "documents/distribution.html", status_code, status=status, copies=copies,
                   roles=roles, trail=trail, distributable=status.version_state in service.DISTRIBUTABLE,
                   printable=status.version_state == "effective", **values)  # fmt: skip


@router.get("/versions/{version_id}/distribution", response_class=HTMLResponse)
def version_page(
    request: Request, db: DbDep, principal: DocumentsView, version_id: int, done: int = 0, left_out: str = ""
) -> Response:
    """Distribution status of a version (who has and has not acknowledged it), its printed copies, the forms.
    After a distribution: how many read tasks it created and whom it left out (``left_out``)."""
    flash = i18n.translate(N_("Distributed: {count} read tasks created"), count=done) if done else None
    if left_out:
        flash = (
            (flash or "")
            + " "
            + i18n.translate(
                N_(
                    "Not given a new task (already reading this version, or may not read documents): {logins}"
                ),
                logins=left_out[:500],
            )
        )
    return _version_page(request, db, principal, version_id, flash=flash)


@router.post("/versions/{version_id}/distributions", response_class=HTMLResponse)
async def distribute(request: Request, db: DbDep, principal: DocumentsControl, version_id: int) -> Response:
    data = await form_data(request, lists=("roles",))
    data["departments"] = [d for d in str(data.get("departments", "")).split(",") if d.strip()]
    data["users"] = [u for u in str(data.get("users", "")).split(",") if u.strip()]
    if not data.get("due_on"):
        data.pop("due_on", None)
    return submit(
        db, principal, DistributionCreate, data,
        write=lambda uow, body: service.distribute(uow, version_id, body),
        rerender=lambda status, **values: _version_page(request, db, principal, version_id, status,
                                                        form="distribute", **values),
        done=lambda result: _distributed(version_id, result),
    )  # fmt: skip


def _distributed(version_id: int, result: object) -> str:
    assert isinstance(result, DistributionResult)
    left_out = quote(", ".join(s.login for s in result.skipped))
    return f"/documents/versions/{version_id}/distribution?done={len(result.tasks)}&left_out={left_out}"


@router.post("/versions/{version_id}/prints", response_class=HTMLResponse)
async def print_copy(request: Request, db: DbDep, principal: DocumentsPrint, version_id: int) -> Response:
    """The PDF of the copy is the answer (the browser shows it to print); a refusal draws the page again."""
    data = await form_data(request)
    body, errors = validate(CopyCreate, data)
    if body is None:
        return _version_page(request, db, principal, version_id, 422, form="print", data=data,
                             field_errors=errors, error=next(iter(errors.values()), None))  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor) as uow:
            copy, pdf = service.print_copy(uow, version_id, body)
            uow.commit()
            version = service.get_version(uow.session, version_id)
            suffix = f"copy{copy.copy_no}" if copy.copy_no is not None else f"ref{copy.id}"
            name = f"{version.document.number}-v{version.version}-{suffix}.pdf"
    except PharmaTraceError as error:
        return _version_page(request, db, principal, version_id, error.http_status, form="print", data=data,
                             error=i18n.error_message(error))  # fmt: skip
    headers = {"Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}", "X-Copy-Id": str(copy.id)}
    return Response(pdf, media_type="application/pdf", headers=headers)


# --- printed copies -----------------------------------------------------------------------------------------


@router.get("/copies", response_class=HTMLResponse)
def copies_page(
    request: Request, db: DbDep, _: DocumentsView, status: str = "", number: str = "", kind: str = ""
) -> Response:
    """Printed copies: out, to be recalled, returned, destroyed; filtered by status, document, kind."""
    with db.sessions() as session:
        every = service.list_copies(session, number=number, kind=kind)
    counts = {name: sum(1 for c in every if c.status == name) for name in service.COPY_LABELS}
    copies = [c for c in every if not status or c.status == status]
    return _render(request, "documents/print_copies.html", copies=copies, counts=counts, status=status,
                   number=number, kind=kind)  # fmt: skip


def _copy_page(
    request: Request, db: DbDep, principal: Principal, copy_id: int, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        copy = service.get_copy(session, copy_id)
        version = service.get_version(session, copy.version_id)
        public = service.copy_public(copy, version, service.state_of(version))
        trail = trail_of(session, [("document_copy", [copy_id])])
    return _render(request, "documents/print_copy.html", status_code, copy=public, trail=trail,
                   **values)  # fmt: skip


@router.get("/copies/{copy_id}", response_class=HTMLResponse)
def copy_page(request: Request, db: DbDep, principal: DocumentsView, copy_id: int, done: int = 0) -> Response:
    return _copy_page(request, db, principal, copy_id, flash=_saved(done))


@router.post("/copies/{copy_id}/return", response_class=HTMLResponse)
async def copy_return(request: Request, db: DbDep, principal: DocumentsControl, copy_id: int) -> Response:
    return submit(
        db, principal, CopyReturn, await form_data(request),
        write=lambda uow, body: service.record_return(uow, copy_id, body),
        rerender=lambda status, **values: _copy_page(request, db, principal, copy_id, status, form="return",
                                                     **values),
        done=f"/documents/copies/{copy_id}?done=1",
    )  # fmt: skip


@router.post("/copies/{copy_id}/destruction", response_class=HTMLResponse)
async def copy_destruction(
    request: Request, db: DbDep, principal: DocumentsControl, copy_id: int
) -> Response:
    return submit(
        db, principal, CopyDestroy, await form_data(request),
        write=lambda uow, body: service.record_destruction(uow, copy_id, body),
        rerender=lambda status, **values: _copy_page(request, db, principal, copy_id, status, form="destroy",
                                                     **values),
        done=f"/documents/copies/{copy_id}?done=1",
    )  # fmt: skip
