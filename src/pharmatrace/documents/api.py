"""``/api/v1/documents``: the document library, versions and their lifecycle, the floor's effective version,
periodic reviews (SH-6.3.3, TJ-9.2). Uploads are multipart; everything else is JSON."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.convertors import Convertor, register_url_convertor

from pharmatrace.documents import service, store
from pharmatrace.documents.models import DocumentVersion
from pharmatrace.documents.schemas import (
    ApproveDecision,
    DecisionPublic,
    DocumentCreate,
    DocumentPublic,
    DraftUpdate,
    DueReviewPublic,
    NumberRuleUpdate,
    PeriodicReviewCreate,
    RejectDecision,
    ReviewDecision,
    VersionCreate,
    VersionPublic,
    WithdrawDecision,
)
from pharmatrace.kernel.errors import N_, NotPermitted, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web.deps import DbDep, Requires, uow_for


class DocumentNumberConvertor(Convertor[str]):
    """A document number in a path (SOP-PR-001): upper case, digits and hyphens only, so that the lower-case
    paths of other document pages (distribution, prints…) never reach a number's route."""

    regex = "[A-Z0-9][A-Z0-9-]{0,31}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("docno", DocumentNumberConvertor())

router = APIRouter(prefix="/documents", tags=["documents"])

DocsView = Annotated[Principal, Depends(Requires("documents.view"))]
DocsAuthor = Annotated[Principal, Depends(Requires("documents.author"))]
DocsReview = Annotated[Principal, Depends(Requires("documents.review"))]
DocsControl = Annotated[Principal, Depends(Requires("documents.control"))]
LIBRARY_PERMISSIONS = ("documents.author", "documents.review", "documents.control", "audit.trail.view")


def may_open_any_version(principal: Principal) -> bool:
    """Authors, QA, controllers and inspectors open every version (the library); others only the effective."""
    return any(principal.can(p) for p in LIBRARY_PERMISSIONS)


def check_library(principal: Principal, version: DocumentVersion) -> None:
    if service.version_state(version) != "effective" and not may_open_any_version(principal):
        raise NotPermitted(
            N_("Only the effective version of {number} is open to you; version {version} is not"),
            number=version.document.number, version=version.version,
        )  # fmt: skip


async def _upload(file: UploadFile) -> tuple[bytes, str]:
    data = await file.read(store.MAX_BYTES + 1)
    return data, file.filename or "document"


def _from_form(fields: dict[str, object]) -> DocumentCreate:
    try:
        return DocumentCreate.model_validate({k: v for k, v in fields.items() if v not in (None, "")})
    except ValidationError as error:
        first = error.errors()[0]
        raise ValidationFailed(
            N_("{field}: {problem}"), field=".".join(str(p) for p in first["loc"]), problem=first["msg"]
        ) from None


# --- the library -------------------------------------------------------------------------------------------


@router.get("", response_model=list[DocumentPublic])
def list_documents(
    db: DbDep, _: DocsView, q: str = "", doc_type: str = "", department: str = "", state: str = "",
    sort: str = "number",
) -> list[DocumentPublic]:  # fmt: skip
    """The library; ``q`` searches number, title, keywords and the text of every version (Chinese too)."""
    with db.sessions() as session:
        found = service.list_documents(session, text=q, doc_type=doc_type, department=department, state=state,
                                       sort=sort)  # fmt: skip
        return [service.document_public(session, d) for d in found]


@router.post("", response_model=VersionPublic, status_code=201)
def create_document(body: DocumentCreate, db: DbDep, principal: DocsAuthor) -> VersionPublic:
    """A new document and its draft version 1 written in Markdown; ``number`` empty: the next by the rule."""
    with uow_for(db, principal) as uow:
        version = service.create_document(uow, principal, body)
        uow.commit()
        return service.version_public(uow.session, version)


@router.post("/upload", response_model=VersionPublic, status_code=201)
async def upload_document(
    db: DbDep,
    principal: DocsAuthor,
    file: Annotated[UploadFile, File(description="PDF, DOCX, PNG or JPEG")],
    title: Annotated[str, Form()],
    doc_type: Annotated[str, Form()],
    department: Annotated[str, Form()],
    number: Annotated[str, Form()] = "",
    gmp: Annotated[bool, Form()] = True,
    keywords: Annotated[str, Form()] = "",
    review_interval_months: Annotated[int, Form()] = 24,
    change_summary: Annotated[str, Form()] = "",
    change_control_ref: Annotated[str, Form()] = "",
    training_grace_days: Annotated[int, Form()] = 0,
    training_required: Annotated[bool, Form()] = True,
) -> VersionPublic:
    """A new document whose version 1 is an uploaded file, stored outside the database under its SM3 hash."""
    body = _from_form({"number": number, "title": title, "doc_type": doc_type, "department": department,
                       "gmp": gmp, "keywords": keywords, "review_interval_months": review_interval_months,
                       "change_summary": change_summary, "change_control_ref": change_control_ref,
                       "training_grace_days": training_grace_days, "training_required": training_required})  # fmt: skip
    upload = await _upload(file)
    with uow_for(db, principal) as uow:
        version = service.create_document(uow, principal, body, upload)
        uow.commit()
        return service.version_public(uow.session, version)


@router.put("/number-rules", status_code=204)
def set_number_rule(body: NumberRuleUpdate, db: DbDep, principal: DocsControl) -> Response:
    """Configure the number prefix and digits of a document type."""
    with uow_for(db, principal, reason=body.reason) as uow:
        service.set_number_rule(uow, body)
        uow.commit()
    return Response(status_code=204)


@router.get("/reviews", response_model=list[DueReviewPublic])
def due_reviews(
    db: DbDep, _: DocsView, within_days: int = service.REVIEW_WINDOW_DAYS
) -> list[DueReviewPublic]:
    """Documents whose periodic review is overdue or due within ``within_days`` (default 30)."""
    with db.sessions() as session:
        return service.due_reviews(session, within_days=max(0, min(within_days, 3650)))


# --- one document ------------------------------------------------------------------------------------------


@router.get("/{number:docno}", response_model=DocumentPublic)
def get_document(number: str, db: DbDep, _: DocsView) -> DocumentPublic:
    with db.sessions() as session:
        return service.document_public(session, service.get_document(session, number), with_versions=True)


@router.get("/{number:docno}/effective", response_model=VersionPublic)
def effective_version(number: str, db: DbDep, _: DocsView, version: int | None = None) -> VersionPublic:
    """The floor: the effective version only; asking for another version is refused naming the current one."""
    with db.sessions() as session:
        return service.version_public(session, service.require_floor_version(session, number, version))


@router.get("/{number:docno}/versions/{version}", response_model=VersionPublic)
def get_version(number: str, version: int, db: DbDep, principal: DocsView) -> VersionPublic:
    with db.sessions() as session:
        found = service.get_version(session, number, version)
        check_library(principal, found)
        return service.version_public(session, found)


@router.get("/{number:docno}/versions/{version}/file")
def version_file(number: str, version: int, db: DbDep, principal: DocsView) -> Response:
    """The stored file, checked against its SM3 hash; a tampered file is refused (409)."""
    with db.sessions() as session:
        found = service.get_version(session, number, version)
        check_library(principal, found)
        data = service.file_bytes(db, found)
        name = found.file_name or "document"
        media_type = found.media_type or "application/octet-stream"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    headers = {
        "Content-Disposition": f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "X-Content-SM3": found.sm3 or "",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(data, media_type=media_type, headers=headers)


@router.post("/{number:docno}/versions", response_model=VersionPublic, status_code=201)
def new_version(number: str, body: VersionCreate, db: DbDep, principal: DocsAuthor) -> VersionPublic:
    """A new version: a draft copied from the latest approved one, with its change summary and change control."""
    with uow_for(db, principal) as uow:
        version = service.new_version(uow, principal, number, body)
        uow.commit()
        return service.version_public(uow.session, version)


@router.patch("/{number:docno}/draft", response_model=VersionPublic)
def update_draft(number: str, body: DraftUpdate, db: DbDep, principal: DocsAuthor) -> VersionPublic:
    with uow_for(db, principal) as uow:
        version = service.update_draft(uow, principal, number, body)
        uow.commit()
        return service.version_public(uow.session, version)


@router.post("/{number:docno}/draft/file", response_model=VersionPublic)
async def upload_draft_file(
    number: str, db: DbDep, principal: DocsAuthor, file: Annotated[UploadFile, File()],
    reason: Annotated[str, Form()] = "",
) -> VersionPublic:  # fmt: skip
    """Replace the draft's content by an uploaded file."""
    upload = await _upload(file)
    with uow_for(db, principal) as uow:
        version = service.update_draft(uow, principal, number, DraftUpdate(reason=reason[:1000]), upload)
        uow.commit()
        return service.version_public(uow.session, version)


@router.post("/{number:docno}/submit", response_model=VersionPublic)
def submit(number: str, db: DbDep, principal: DocsAuthor) -> VersionPublic:
    with uow_for(db, principal) as uow:
        version = service.submit(uow, principal, number)
        uow.commit()
        return service.version_public(uow.session, version)


@router.post("/{number:docno}/review", response_model=DecisionPublic)
def review(number: str, body: ReviewDecision, db: DbDep, principal: DocsReview) -> DecisionPublic:
    """QA review of the version in review, signed "reviewed" (password; log-in ID for a first signature)."""
    with uow_for(db, principal) as uow:
        decision = service.review(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number:docno}/reject", response_model=VersionPublic)
def reject(number: str, body: RejectDecision, db: DbDep, principal: DocsReview) -> VersionPublic:
    """QA sends the version in review back to draft, with the reason."""
    with uow_for(db, principal) as uow:
        version = service.reject(uow, principal, number, body)
        uow.commit()
        return service.version_public(uow.session, version)


@router.post("/{number:docno}/return", response_model=VersionPublic)
def return_to_draft(number: str, body: RejectDecision, db: DbDep, principal: DocsControl) -> VersionPublic:
    """The approver sends the version in review back to draft instead of approving it, with the reason."""
    with uow_for(db, principal) as uow:
        version = service.reject(uow, principal, number, body)
        uow.commit()
        return service.version_public(uow.session, version)


@router.post("/{number:docno}/approve", response_model=VersionPublic)
def approve(number: str, body: ApproveDecision, db: DbDep, principal: DocsControl) -> VersionPublic:
    """Approve the version in review, signed "approved"; effective from ``effective_from`` (default now)."""
    with uow_for(db, principal) as uow:
        version = service.approve(uow, principal, number, body)
        uow.commit()
        return service.version_public(uow.session, version)


@router.post("/{number:docno}/withdraw", response_model=DocumentPublic)
def withdraw(number: str, body: WithdrawDecision, db: DbDep, principal: DocsControl) -> DocumentPublic:
    """Withdraw the whole document (obsolete), signed, with the reason."""
    with uow_for(db, principal) as uow:
        document = service.withdraw(uow, principal, number, body)
        uow.commit()
        return service.document_public(uow.session, document)


@router.post("/{number:docno}/periodic-review", response_model=DecisionPublic, status_code=201)
def periodic_review(
    number: str, body: PeriodicReviewCreate, db: DbDep, principal: DocsReview
) -> DecisionPublic:
    """Record the periodic review of the effective version (still valid / revise), signed "reviewed"."""
    with uow_for(db, principal) as uow:
        decision = service.periodic_review(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)
