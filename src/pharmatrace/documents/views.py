"""Pages of the document library (SH-6.3.3, TJ-9.2): the library with filters and search, a document with
its versions, decisions, signatures and trail, a version with its content, the floor view that opens only
the effective version, the periodic reviews due, and the forms of the lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from pharmatrace.documents import api as documents_api  # registers the "docno" path convertor
from pharmatrace.documents import service, store
from pharmatrace.documents.models import DOC_TYPES, Document
from pharmatrace.documents.schemas import (
    ApproveDecision,
    DocumentCreate,
    DraftUpdate,
    PeriodicReviewCreate,
    RejectDecision,
    ReviewDecision,
    VersionCreate,
    WithdrawDecision,
)
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import submit, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/documents", include_in_schema=False)

DocsView = Annotated[Principal, Depends(Requires("documents.view"))]
DocsAuthor = Annotated[Principal, Depends(Requires("documents.author"))]
DocsReview = Annotated[Principal, Depends(Requires("documents.review"))]
DocsControl = Annotated[Principal, Depends(Requires("documents.control"))]

LABELS = {"states": service.STATE_LABELS, "types": service.TYPE_LABELS, "departments": service.DEPARTMENTS,
          "decisions": service.DECISION_LABELS, "meanings": MEANINGS,
          "outcomes": {"still_valid": N_("Still valid"), "revise": N_("To be revised")}}  # fmt: skip
BOOLEANS = ("gmp", "training_required")


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    values.setdefault("form", "")
    return render(request, template, status_code=status_code, labels=LABELS, doc_types=DOC_TYPES, **values)


def _saved(done: int) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


async def _form(request: Request) -> tuple[dict[str, Any], tuple[bytes, str] | None]:
    """The posted fields as text (empty ones left out), check boxes as booleans, and an uploaded file."""
    form = await request.form()
    data: dict[str, Any] = {}
    upload: tuple[bytes, str] | None = None
    for key in form:
        value = form.get(key)
        if isinstance(value, UploadFile):
            content = await value.read(store.MAX_BYTES + 1)
            if content:
                upload = (content, value.filename or "document")
        elif isinstance(value, str) and value.strip() != "":
            data[key] = value
    for key in BOOLEANS:
        if f"{key}_present" in data:  # the form shows the check box: unchecked means false
            data[key] = key in data and data[key] not in ("0", "false")
            data.pop(f"{key}_present")
    if isinstance(data.get("effective_from"), str) and len(data["effective_from"]) <= 19:
        data["effective_from"] += "+08:00"  # <input type="datetime-local"> is Beijing time
    return data, upload


def _trail(session: Session, document: Document) -> list[AuditEntry]:
    """The trail of the document, its versions and its decisions, newest first."""
    from pharmatrace.documents.models import DocumentDecision

    version_ids = [str(v.id) for v in document.versions]
    decision_ids = [str(i) for i in session.scalars(
        select(DocumentDecision.id).where(DocumentDecision.document_id == document.id))]  # fmt: skip
    conditions = [(AuditEntry.object_type == "document") & (AuditEntry.object_id == str(document.id))]
    if version_ids:
        conditions.append(
            (AuditEntry.object_type == "document_version") & AuditEntry.object_id.in_(version_ids)
        )
    if decision_ids:
        conditions.append(
            (AuditEntry.object_type == "document_decision") & AuditEntry.object_id.in_(decision_ids)
        )
    query = select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.leaf_index.desc())
    return list(session.scalars(query))


def _post(
    request: Request, db: DbDep, principal: Principal, schema: type[BaseModel], data: dict[str, Any],
    write: Callable[[UnitOfWork, Any], object], page: Callable[..., Response], done: str,
    form: str, reason: Callable[[Any], str | None] | None = None,
) -> Response:  # fmt: skip
    def rerender(status: int, **values: Any) -> Response:
        return page(status, form=form, **values)

    return submit(db, principal, schema, data, write=write, rerender=rerender, done=done, reason=reason)


# --- the library -------------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def library(
    request: Request, db: DbDep, _: DocsView, q: str = "", doc_type: str = "", department: str = "",
    state: str = "", sort: str = "number",
) -> Response:  # fmt: skip
    """The library. A search that is exactly a document number opens that document."""
    with db.sessions() as session:
        live = request.headers.get("HX-Request") == "true"  # htmx refreshes the table in place: no redirect
        if q.strip() and not live and service.find_document(session, q) is not None:
            return RedirectResponse(f"/documents/{q.strip().upper()}", status_code=303)
        found = service.list_documents(session, text=q, doc_type=doc_type, department=department, state=state,
                                       sort=sort)  # fmt: skip
        rows = [service.document_public(session, d) for d in found]
        departments = sorted(set(session.scalars(select(Document.department).distinct())))
    return _render(request, "documents/library.html", rows=rows, q=q, doc_type=doc_type, department=department,
                   state=state, sort=sort, departments=departments, states=service.STATES)  # fmt: skip


def _new_page(request: Request, status_code: int = 200, **values: Any) -> Response:
    return _render(request, "documents/new.html", status_code, **values)


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request, _: DocsAuthor) -> Response:
    return _new_page(request, data={"gmp": True, "training_required": True, "review_interval_months": 24})


@router.post("/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: DocsAuthor) -> Response:
    """Create a document: Markdown written here, or an uploaded PDF, DOCX, PNG or JPEG."""
    data, upload = await _form(request)
    body, errors = validate(DocumentCreate, data)
    if body is None:
        return _new_page(
            request, 422, data=data, field_errors=errors, error=next(iter(errors.values()), None)
        )
    try:
        with UnitOfWork(db, principal.actor) as uow:
            version = service.create_document(uow, principal, body, upload)
            number = version.document.number
            uow.commit()
    except PharmaTraceError as error:
        return _new_page(request, error.http_status, data=data, error=i18n.error_message(error))
    return RedirectResponse(f"/documents/{number}?done=1", status_code=303)


@router.get("/reviews", response_class=HTMLResponse)
def reviews(
    request: Request, db: DbDep, _: DocsView, department: str = "", overdue_only: int = 0
) -> Response:
    """Periodic reviews overdue or due within 30 days (TJ-9.2: reminders of periodic review)."""
    with db.sessions() as session:
        every = service.due_reviews(session)
    departments = sorted({r.department for r in every})
    rows = [
        r for r in every if (not department or r.department == department) and (r.overdue or not overdue_only)
    ]
    return _render(request, "documents/reviews.html", rows=rows, window=service.REVIEW_WINDOW_DAYS,
                   departments=departments, department=department, overdue_only=overdue_only)  # fmt: skip


# --- the floor: the effective version only -----------------------------------------------------------------


@router.get("/floor/{number:docno}", response_class=HTMLResponse)
def floor(request: Request, db: DbDep, _: DocsView, number: str, version: int | None = None) -> Response:
    """SH-6.3.3 使用最新版本: opens the effective version; any other version is refused naming the current."""
    with db.sessions() as session:
        try:
            found = service.require_floor_version(session, number, version)
        except PharmaTraceError as error:
            current = service.current_effective(session, number)
            return _render(request, "documents/floor.html", error.http_status, refused=i18n.error_message(error),
                           number=number, current=current.version if current else None, version=None)  # fmt: skip
        public = service.version_public(session, found, with_decisions=False)
        html = service.render_html(found) if found.markdown is not None else None
    return _render(request, "documents/floor.html", version=public, html=html, number=number, refused=None)


# --- one document ------------------------------------------------------------------------------------------


def _document_page(
    request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        document = service.get_document(session, number)
        public = service.document_public(session, document, with_versions=True)
        decisions = [service.decision_public(session, d) for d in service.decisions_of(session, document.id)]
        trail = _trail(session, document)
        ask_login = first_signature_pending(session, principal)
        draft = service.open_version(document)
        reviewed = False
        if draft is not None and draft.status == "in_review":
            ctx = service.Context(session, document, draft, principal)
            reviewed = bool(ctx.valid_reviews())
    return _render(request, "documents/document.html", status_code, doc=public, decisions=decisions, trail=trail,
                   ask_login=ask_login, reviewed=reviewed,
                   library=documents_api.may_open_any_version(principal), **values)  # fmt: skip


@router.get("/{number:docno}", response_class=HTMLResponse)
def document_page(request: Request, db: DbDep, principal: DocsView, number: str, done: int = 0) -> Response:
    return _document_page(request, db, principal, number, flash=_saved(done))


def _version_page(
    request: Request, db: DbDep, principal: Principal, number: str, version: int, status_code: int = 200,
    **values: Any,
) -> Response:  # fmt: skip
    with db.sessions() as session:
        found = service.get_version(session, number, version)
        documents_api.check_library(principal, found)
        public = service.version_public(session, found)
        html = service.render_html(found) if found.markdown is not None else None
        trail = [e for e in _trail(session, found.document) if e.object_type != "document_version"
                 or e.object_id == str(found.id)]  # fmt: skip
        doc = service.document_public(session, found.document)
    return _render(request, "documents/version.html", status_code, version=public, doc=doc, html=html,
                   trail=trail, **values)  # fmt: skip


@router.get("/{number:docno}/v/{version}", response_class=HTMLResponse)
def version_page(
    request: Request, db: DbDep, principal: DocsView, number: str, version: int, done: int = 0
) -> Response:
    """A version in the library: its content, SM3, decisions with their signatures, and its trail; a version
    that is not effective carries a banner (草稿 / 已替代 / 已作废)."""
    return _version_page(request, db, principal, number, version, flash=_saved(done))


@router.get("/{number:docno}/v/{version}/file")
def version_file(number: str, version: int, db: DbDep, principal: DocsView) -> Response:
    return documents_api.version_file(number, version, db, principal)


def _doc_post(
    request: Request, db: DbDep, principal: Principal, number: str, schema: type[BaseModel],
    data: dict[str, Any], write: Callable[[UnitOfWork, Any], object], form: str,
    reason: Callable[[Any], str | None] | None = None,
) -> Response:  # fmt: skip
    def page(status: int, **values: Any) -> Response:
        return _document_page(request, db, principal, number, status, **values)

    return _post(
        request, db, principal, schema, data, write, page, f"/documents/{number}?done=1", form, reason
    )


class _Nothing(BaseModel):
    pass


@router.post("/{number:docno}/versions", response_class=HTMLResponse)
async def new_version(request: Request, db: DbDep, principal: DocsAuthor, number: str) -> Response:
    data, _ = await _form(request)
    return _doc_post(request, db, principal, number, VersionCreate, data,
                     lambda uow, body: service.new_version(uow, principal, number, body), "new-version")  # fmt: skip


@router.post("/{number:docno}/draft", response_class=HTMLResponse)
async def edit_draft(request: Request, db: DbDep, principal: DocsAuthor, number: str) -> Response:
    """Change the draft: its Markdown or a new file, and its change summary."""
    data, upload = await _form(request)
    version = int(data.pop("version", 0) or 0)
    if upload is not None:
        data.pop("markdown", None)

    def page(status: int, **values: Any) -> Response:
        return _version_page(request, db, principal, number, version, status, form="edit", **values)

    return submit(db, principal, DraftUpdate, data, rerender=page, done=f"/documents/{number}/v/{version}?done=1",
                  write=lambda uow, body: service.update_draft(uow, principal, number, body, upload))  # fmt: skip


@router.post("/{number:docno}/submit", response_class=HTMLResponse)
async def submit_for_review(request: Request, db: DbDep, principal: DocsAuthor, number: str) -> Response:
    return _doc_post(request, db, principal, number, _Nothing, {},
                     lambda uow, _: service.submit(uow, principal, number), "submit")  # fmt: skip


@router.post("/{number:docno}/review", response_class=HTMLResponse)
async def review(request: Request, db: DbDep, principal: DocsReview, number: str) -> Response:
    data, _ = await _form(request)
    return _doc_post(request, db, principal, number, ReviewDecision, data,
                     lambda uow, body: service.review(uow, principal, number, body), "review")  # fmt: skip


@router.post("/{number:docno}/reject", response_class=HTMLResponse)
async def reject(request: Request, db: DbDep, principal: DocsReview, number: str) -> Response:
    data, _ = await _form(request)
    return _doc_post(request, db, principal, number, RejectDecision, data,
                     lambda uow, body: service.reject(uow, principal, number, body), "reject")  # fmt: skip


@router.post("/{number:docno}/return", response_class=HTMLResponse)
async def return_to_draft(request: Request, db: DbDep, principal: DocsControl, number: str) -> Response:
    data, _ = await _form(request)
    return _doc_post(request, db, principal, number, RejectDecision, data,
                     lambda uow, body: service.reject(uow, principal, number, body), "return")  # fmt: skip


@router.post("/{number:docno}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: DocsControl, number: str) -> Response:
    data, _ = await _form(request)
    return _doc_post(request, db, principal, number, ApproveDecision, data,
                     lambda uow, body: service.approve(uow, principal, number, body), "approve")  # fmt: skip


@router.post("/{number:docno}/withdraw", response_class=HTMLResponse)
async def withdraw(request: Request, db: DbDep, principal: DocsControl, number: str) -> Response:
    data, _ = await _form(request)
    return _doc_post(request, db, principal, number, WithdrawDecision, data,
                     lambda uow, body: service.withdraw(uow, principal, number, body), "withdraw")  # fmt: skip


@router.post("/{number:docno}/periodic-review", response_class=HTMLResponse)
async def periodic_review(request: Request, db: DbDep, principal: DocsReview, number: str) -> Response:
    data, _ = await _form(request)
    return _doc_post(request, db, principal, number, PeriodicReviewCreate, data,
                     lambda uow, body: service.periodic_review(uow, principal, number, body), "periodic")  # fmt: skip
