"""Document control (SH-6.3.3 文件管理, TJ-9.2, TJ-6.1): numbering, content, lifecycle, the floor rule,
periodic review and search.

The lifecycle of a version is a declared state machine (:data:`TRANSITIONS`) whose guards are small named
functions (SENAITE style)::

    draft ──submit──> in_review ──approve──> approved      (effective from effective_from; derived)
      ^                  │  └──review (QA e-signature "reviewed"; mandatory for GMP documents)
      └─────reject───────┘

A new version is a copy of the current one as a draft with a change summary and a change-control reference;
a document has at most one open (draft or in-review) version. Approval is signed "approved" by a holder of
``documents.control`` who is neither the author nor the reviewer, sets ``effective_from`` (now or later) and
publishes :class:`~pharmatrace.documents.events.VersionApproved`. *Effective*, *superseded* and *obsolete*
are derived from the stored facts at a moment (:func:`version_state`), never stored.

The floor (MES steps, equipment pages, ``/documents/floor/NUMBER``) opens only :func:`require_effective`:
SH-6.3.3 "使用最新版本".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pharmatrace.documents import store
from pharmatrace.documents.events import VersionApproved
from pharmatrace.documents.models import (
    DEFAULT_PREFIXES,
    Document,
    DocumentDecision,
    DocumentNumberRule,
    DocumentVersion,
)
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
    SignaturePublic,
    VersionCreate,
    VersionPublic,
    WithdrawDecision,
)
from pharmatrace.kernel import clock, events, workflow
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import (
    N_,
    Conflict,
    Msgid,
    NotFound,
    NotPermitted,
    PharmaTraceError,
    ValidationFailed,
)
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

State = Literal["draft", "in_review", "approved", "effective", "superseded", "obsolete"]
STATES: tuple[State, ...] = ("draft", "in_review", "approved", "effective", "superseded", "obsolete")
STATE_LABELS: dict[str, str] = {
    "draft": N_("Draft"),
    "in_review": N_("In review"),
    "approved": N_("Approved, not yet effective"),
    "effective": N_("Effective"),
    "superseded": N_("Superseded"),
    "obsolete": N_("Obsolete"),
}
TYPE_LABELS: dict[str, str] = {
    "sop": N_("Standard operating procedure"),
    "specification": N_("Specification"),
    "master_production_record": N_("Master production record"),
    "policy": N_("Policy"),
    "form": N_("Form"),
    "validation_protocol": N_("Validation protocol"),
    "validation_report": N_("Validation report"),
    "drawing": N_("Drawing"),
}
DEPARTMENTS: dict[str, str] = {
    "PR": N_("Production"),
    "QA": N_("Quality assurance"),
    "QC": N_("Quality control"),
    "WH": N_("Warehouse"),
    "EQ": N_("Engineering and equipment"),
    "CL": N_("Cleaning and hygiene"),
    "DH": N_("Danhong product"),
}
DECISION_LABELS: dict[str, str] = {
    "submit": N_("Submitted for review"),
    "review": N_("QA review"),
    "reject": N_("Review rejected"),
    "approve": N_("Approval"),
    "periodic_review": N_("Periodic review"),
    "withdraw": N_("Withdrawal"),
}
# Fields whose change makes the one who changed them an author of the version (segregation of duties).
CONTENT_FIELDS = frozenset({"markdown", "sm3", "file_name", "change_summary", "change_control_ref"})
REVIEW_WINDOW_DAYS = 30  # documents whose periodic review is due within this many days are listed
NUMBER = re.compile(r"^([A-Z]{2,5})-([A-Z]{2,4})-([0-9]{3,4})$")
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


# --- errors ------------------------------------------------------------------------------------------------


class NoEffectiveVersion(Conflict):
    """The floor asked for a document that has no effective version now (SH-6.3.3)."""

    code = "document_not_effective"


class NotTheEffectiveVersion(Conflict):
    """The floor asked for a version that is not the effective one; the refusal names the current one."""

    code = "document_version_not_effective"


class TransitionRefused(Conflict):
    code = "document_transition_refused"


class DutiesNotSegregated(NotPermitted):
    code = "document_segregation_of_duties"


# --- text, content and hashes ------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Search form of a text: NFKC (full-width → half-width letters and digits), blanks within a line
    collapsed, empty lines dropped; lines are kept so the text still reads. Chinese needs no word splitting:
    a substring matches (case-insensitively for Latin letters, see :func:`list_documents`)."""
    # Text pulled from PDFs may carry control characters (NUL from CID fonts), which PostgreSQL refuses.
    text = "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) != "Cc" else " " for ch in text.replace("\0", "")
    )
    lines = (" ".join(line.split()) for line in unicodedata.normalize("NFKC", text).splitlines())
    return "\n".join(line for line in lines if line)


def content_sm3(version: DocumentVersion) -> str:
    """The SM3 hash of the version's content: of its stored file, or of its Markdown (UTF-8)."""
    if version.sm3 is not None:
        return version.sm3
    return store.sm3_hex((version.markdown or "").encode("utf-8"))


def render_html(version: DocumentVersion) -> Markup:
    """The Markdown of a version as safe HTML: raw HTML in the source is shown as text, never passed."""
    return Markup(_MARKDOWN.render(version.markdown or ""))  # noqa: S704 - markdown-it with html disabled


def render_text(version: DocumentVersion) -> str:
    """The plain text of a version (contract): its Markdown source, or the text extracted from its file."""
    if version.markdown is not None:
        return version.markdown
    return version.search_text


# --- derived states ----------------------------------------------------------------------------------------


def _at(at: datetime | None) -> datetime:
    return clock.now() if at is None else at


def _effective_at(document: Document, at: datetime) -> DocumentVersion | None:
    if document.withdrawn_at is not None and document.withdrawn_at <= at:
        return None
    started = [
        v
        for v in document.versions
        if v.status == "approved" and v.effective_from is not None and v.effective_from <= at
    ]
    if not started:
        return None
    return max(started, key=lambda v: (v.effective_from, v.version))


def version_state(version: DocumentVersion, at: datetime | None = None) -> State:
    """The state of ``version`` at ``at`` (default now), derived from the stored facts (contract)."""
    moment = _at(at)
    document = version.document
    if document.withdrawn_at is not None and document.withdrawn_at <= moment:
        return "obsolete"
    if version.status == "withdrawn":
        return "obsolete"
    if version.status in ("draft", "in_review"):
        return "draft" if version.status == "draft" else "in_review"
    assert version.effective_from is not None
    if version.effective_from > moment:
        return "approved"
    current = _effective_at(document, moment)
    return "effective" if current is not None and current.id == version.id else "superseded"


def find_document(session: Session, number_or_id: str | int) -> Document | None:
    if isinstance(number_or_id, int):
        return session.get(Document, number_or_id)
    return session.scalar(select(Document).where(Document.number == number_or_id.strip().upper()))


def get_document(session: Session, number_or_id: str | int) -> Document:
    document = find_document(session, number_or_id)
    if document is None:
        raise NotFound(N_("No document {number}"), number=str(number_or_id))
    return document


def get_version(session: Session, number: str, version: int) -> DocumentVersion:
    document = get_document(session, number)
    for candidate in document.versions:
        if candidate.version == version:
            return candidate
    raise NotFound(N_("No version {version} of {number}"), version=version, number=document.number)


def current_effective(
    session: Session, number_or_document_id: str | int, at: datetime | None = None
) -> DocumentVersion | None:
    """The version of a document effective at ``at`` (default now), or ``None`` (contract, TJ-6.1)."""
    document = find_document(session, number_or_document_id)
    return None if document is None else _effective_at(document, _at(at))


def require_effective(session: Session, number: str) -> DocumentVersion:
    """The effective version of ``number``; refused, naming the document, when none is (SH-6.3.3)."""
    document = get_document(session, number)
    version = _effective_at(document, clock.now())
    if version is None:
        if document.withdrawn_at is not None:
            raise NoEffectiveVersion(
                N_("Document {number} was withdrawn and may not be used"), number=document.number
            )
        raise NoEffectiveVersion(N_("Document {number} has no effective version"), number=document.number)
    return version


def require_floor_version(session: Session, number: str, version: int | None) -> DocumentVersion:
    """What the floor may open: the effective version only; any other is refused naming the current one."""
    current = require_effective(session, number)
    if version is not None and version != current.version:
        asked = get_version(session, number, version)
        raise NotTheEffectiveVersion(
            N_("Version {version} of {number} is {state} and may not be used; use the effective version "
               "{current}"),
            version=asked.version, number=current.document.number,
            state=Msgid(STATE_LABELS[version_state(asked)]), current=current.version,
        )  # fmt: skip
    return current


def open_version(document: Document) -> DocumentVersion | None:
    return next((v for v in document.versions if v.status in ("draft", "in_review")), None)


def document_state(document: Document, at: datetime | None = None) -> str:
    """One word for the library: obsolete, effective, approved, in_review or draft."""
    moment = _at(at)
    if document.withdrawn_at is not None and document.withdrawn_at <= moment:
        return "obsolete"
    if _effective_at(document, moment) is not None:
        return "effective"
    states = {version_state(v, moment) for v in document.versions}
    for state in ("approved", "in_review", "draft"):
        if state in states:
            return state
    return "obsolete"


# --- numbering ---------------------------------------------------------------------------------------------


def number_rule(session: Session, doc_type: str) -> tuple[str, int]:
    """(prefix, digits) of a type: its configured rule, or the default (SOP, 3)."""
    rule = session.scalar(select(DocumentNumberRule).where(DocumentNumberRule.doc_type == doc_type))
    if rule is not None:
        return rule.prefix, rule.digits
    return DEFAULT_PREFIXES[doc_type], 3


def set_number_rule(uow: UnitOfWork, body: NumberRuleUpdate) -> DocumentNumberRule:
    """Configure a type's prefix and digits; numbers already given keep their form."""
    session = uow.session
    rule = session.scalar(select(DocumentNumberRule).where(DocumentNumberRule.doc_type == body.doc_type))
    if rule is None:
        rule = DocumentNumberRule(doc_type=body.doc_type, prefix=body.prefix, digits=body.digits,
                                  created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
        session.add(rule)
    else:
        rule.prefix, rule.digits = body.prefix, body.digits
    session.flush()
    return rule


def next_number(session: Session, doc_type: str, department: str) -> str:
    """The next free number of a type and department: PREFIX-DEPT-NNN (e.g. SOP-PR-011)."""
    prefix, digits = number_rule(session, doc_type)
    stem = f"{prefix}-{department}-"
    taken = session.scalars(select(Document.number).where(Document.number.like(stem + "%")))
    sequence = max((int(m.group(3)) for n in taken if (m := NUMBER.match(n))), default=0) + 1
    return f"{stem}{sequence:0{digits}d}"


def _check_number(session: Session, number: str, doc_type: str) -> None:
    match = NUMBER.match(number)
    prefix, _digits = number_rule(session, doc_type)
    if match is None or match.group(1) != prefix:
        raise ValidationFailed(
            N_("“{number}” is not a well-formed number for this type: {prefix}-DEPARTMENT-NNN"),
            number=number, prefix=prefix,
        )  # fmt: skip
    if session.scalar(select(Document.id).where(Document.number == number)) is not None:
        raise Conflict(N_("The number {number} is already taken"), number=number)


# --- creating and editing ----------------------------------------------------------------------------------


def _flush(session: Session, message: str, **params: object) -> None:
    """Flush; a unique constraint that a concurrent request won first is a conflict, not a server error."""
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(message, **params) from None


def _user_id(principal: Principal) -> int:
    return principal.user_id


def create_document(
    uow: UnitOfWork, principal: Principal, body: DocumentCreate, upload: tuple[bytes, str] | None = None
) -> DocumentVersion:
    """A new document with its first draft (version 1): Markdown in ``body`` or an uploaded file."""
    principal.require("documents.author")
    session = uow.session
    if (body.markdown is None) == (upload is None):
        raise ValidationFailed(N_("Give the content either as Markdown text or as a file, not both"))
    number = body.number or next_number(session, body.doc_type, body.department)
    _check_number(session, number, body.doc_type)
    now = clock.now()
    document = Document(number=number, title=body.title, doc_type=body.doc_type, department=body.department,
                        gmp=body.gmp, keywords=body.keywords, review_interval_months=body.review_interval_months,
                        created_at=now, created_by=uow.actor.login, withdrawal_reason="")  # fmt: skip
    session.add(document)
    _flush(session, N_("The number {number} is already taken"), number=number)
    version = DocumentVersion(document_id=document.id, version=1, status="draft",
                              change_summary=body.change_summary or "新建文件",
                              change_control_ref=body.change_control_ref,
                              training_grace_days=body.training_grace_days,
                              training_required=body.training_required, author_id=_user_id(principal),
                              created_at=now, created_by=uow.actor.login, search_text="")  # fmt: skip
    _set_content(uow, version, document, body.markdown, upload)
    session.add(version)
    session.flush()
    session.refresh(document)
    return version


def _set_content(
    uow: UnitOfWork,
    version: DocumentVersion,
    document: Document,
    markdown: str | None,
    upload: tuple[bytes, str] | None,
) -> None:
    if upload is not None:
        data, name = upload
        stored = store.put(uow.db, data, name)
        version.markdown = None
        version.file_name, version.media_type, version.sm3, version.size = (
            stored.file_name, stored.media_type, stored.sm3, stored.size,
        )  # fmt: skip
        version.search_text = normalize(store.extract_text(data, stored.media_type))
    elif markdown is not None:
        version.markdown = markdown
        version.file_name = version.media_type = version.sm3 = None
        version.size = None
        version.search_text = normalize(markdown)


def _writable(document: Document) -> None:
    if document.withdrawn_at is not None:
        raise TransitionRefused(N_("Document {number} is withdrawn"), number=document.number)


def new_version(uow: UnitOfWork, principal: Principal, number: str, body: VersionCreate) -> DocumentVersion:
    """Open a revision: a draft copied from the latest approved version (只允许一个未完成的修订)."""
    principal.require("documents.author")
    session = uow.session
    document = get_document(session, number)
    _writable(document)
    if (current := open_version(document)) is not None:
        raise TransitionRefused(
            N_("{number} already has an open version {version} ({state}); finish it first"),
            number=document.number, version=current.version, state=Msgid(STATE_LABELS[version_state(current)]),
        )  # fmt: skip
    base = max(
        (v for v in document.versions if v.status == "approved"), key=lambda v: v.version, default=None
    )
    if base is None:
        raise TransitionRefused(N_("{number} has no approved version to revise"), number=document.number)
    latest = max(v.version for v in document.versions)
    version = DocumentVersion(document_id=document.id, version=latest + 1, status="draft",
                              change_summary=body.change_summary, change_control_ref=body.change_control_ref,
                              training_grace_days=body.training_grace_days,
                              training_required=body.training_required, author_id=_user_id(principal),
                              markdown=base.markdown, file_name=base.file_name, media_type=base.media_type,
                              sm3=base.sm3, size=base.size, search_text=base.search_text,
                              created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
    session.add(version)
    _flush(session, N_("{number} already has an open version; finish it first"), number=document.number)
    session.refresh(document)
    return version


def _the_open(document: Document, status: str) -> DocumentVersion:
    version = open_version(document)
    if version is None or version.status != status:
        raise TransitionRefused(
            N_("{number} has no version in the state “{state}”"),
            number=document.number, state=Msgid(STATE_LABELS[status]),
        )  # fmt: skip
    return version


def update_draft(
    uow: UnitOfWork,
    principal: Principal,
    number: str,
    body: DraftUpdate,
    upload: tuple[bytes, str] | None = None,
) -> DocumentVersion:
    """Change the open draft: its text or file, its change summary; every edit is in the trail."""
    principal.require("documents.author")
    document = get_document(uow.session, number)
    _writable(document)
    version = _the_open(document, "draft")
    if body.markdown is not None and upload is not None:
        raise ValidationFailed(N_("Give the content either as Markdown text or as a file, not both"))
    uow.reason = uow.reason or body.reason or "draft edited"
    _set_content(uow, version, document, body.markdown, upload)
    for field in ("change_summary", "change_control_ref", "training_grace_days", "training_required"):
        value = getattr(body, field)
        if value is not None:
            setattr(version, field, value)
    uow.session.flush()
    return version


# --- the lifecycle: transitions and their guards -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """What a guard sees: the document, the version, who acts, and the decisions of this submission."""

    session: Session
    document: Document
    version: DocumentVersion
    principal: Principal

    def since_submission(self) -> list[DocumentDecision]:
        decisions = decisions_of(self.session, self.document.id, self.version.id)
        last_submit = max((d.id for d in decisions if d.kind == "submit"), default=0)
        return [d for d in decisions if d.id > last_submit]

    def authors(self) -> set[int]:
        """Who wrote this version: its author and everyone who changed its content (from the audit trail)."""
        entries = self.session.scalars(
            select(AuditEntry).where(
                AuditEntry.object_type == "document_version", AuditEntry.object_id == str(self.version.id)
            )
        )
        editors = {
            e.actor_id for e in entries if e.actor_id is not None and CONTENT_FIELDS & set(e.changes or {})
        }
        return {self.version.author_id, *editors}

    def valid_reviews(self) -> list[DocumentDecision]:
        digest = content_sm3(self.version)
        return [d for d in self.since_submission() if d.kind == "review" and d.content_sm3 == digest]


Guard = Callable[[Context], None]


def guard_has_content(ctx: Context) -> None:
    if ctx.version.markdown is not None and not ctx.version.markdown.strip():
        raise TransitionRefused(N_("The draft has no content"))


def guard_reviewer_is_not_author(ctx: Context) -> None:
    if ctx.principal.user_id in ctx.authors():
        raise DutiesNotSegregated(N_("The author may not review their own document"))


def guard_not_reviewed_twice(ctx: Context) -> None:
    if ctx.valid_reviews():
        raise TransitionRefused(N_("This version is already reviewed"))


def guard_reviewed_if_gmp(ctx: Context) -> None:
    # SH-6.3.3 / TJ-9.2: a GMP document is reviewed by QA before it is approved.
    if ctx.document.gmp and not ctx.valid_reviews():
        raise TransitionRefused(
            N_("{number} is a GMP document: QA must review version {version} before it is approved"),
            number=ctx.document.number, version=ctx.version.version,
        )  # fmt: skip


def guard_approver_is_neither_author_nor_reviewer(ctx: Context) -> None:
    if ctx.principal.user_id in ctx.authors():
        raise DutiesNotSegregated(N_("The approver must be a different person from the author"))
    if any(d.decided_by_id == ctx.principal.user_id for d in ctx.valid_reviews()):
        raise DutiesNotSegregated(N_("The approver must be a different person from the reviewer"))


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    source: str
    target: str
    permissions: tuple[str, ...]  # any one of them
    guards: tuple[Guard, ...]
    signed: str | None = None  # the signable action (kernel/esign/policy.py), signed with the event


# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("submit", "draft", "in_review", ("documents.author",), (guard_has_content,)),
        Transition("review", "in_review", "in_review", ("documents.review",),
                   (guard_reviewer_is_not_author, guard_not_reviewed_twice), signed="document.review"),
        Transition("reject", "in_review", "draft", ("documents.review", "documents.control"), ()),
        Transition("approve", "in_review", "approved", ("documents.control",),
                   (guard_reviewed_if_gmp, guard_approver_is_neither_author_nor_reviewer),
                   signed="document.approve"),
    )
}
# fmt: on


def _transition(uow: UnitOfWork, principal: Principal, number: str, name: str) -> Context:
    """Check a transition's permission, source state and guards; nothing is written yet."""
    transition = TRANSITIONS[name]
    workflow.require_any(principal, transition.permissions)
    document = get_document(uow.session, number)
    _writable(document)
    version = _the_open(document, transition.source)
    ctx = Context(uow.session, document, version, principal)
    for guard in transition.guards:
        try:
            guard(ctx)
        except PharmaTraceError as error:  # a refused transition stays in the trail, nothing else changes
            uow.refuse(error, f"document.{name}.refused", "document_version", version.id)
    return ctx


def _decision(uow: UnitOfWork, ctx: Context, kind: str, **values: object) -> DocumentDecision:
    """The decision row on the version, not yet added."""
    decision = DocumentDecision(document_id=ctx.document.id, version_id=ctx.version.id, kind=kind,
                                content_sm3=content_sm3(ctx.version), decided_by_id=ctx.principal.user_id,
                                decided_by=uow.actor.login, decided_at=clock.now(), **values)  # fmt: skip
    decision.reason = decision.reason or ""
    return decision


def _decide(uow: UnitOfWork, ctx: Context, kind: str, **values: object) -> DocumentDecision:
    """The decision row, added and flushed (unsigned, or signed later by :func:`_sign`)."""
    decision = _decision(uow, ctx, kind, **values)
    uow.session.add(decision)
    uow.session.flush()
    return decision


def _sign(uow: UnitOfWork, principal: Principal, decision: DocumentDecision, action: str, password: str,
          login: str) -> None:  # fmt: skip
    esign.sign_with_event(uow, principal, object_type="document_decision", object_id=str(decision.id),
                          action_code=action, password=password, login=login or None)  # fmt: skip


def submit(uow: UnitOfWork, principal: Principal, number: str) -> DocumentVersion:
    """draft → in_review."""
    ctx = _transition(uow, principal, number, "submit")
    uow.reason = uow.reason or "submitted for review"
    ctx.version.status = "in_review"
    _decide(uow, ctx, "submit")
    return ctx.version


def review(uow: UnitOfWork, principal: Principal, number: str, body: ReviewDecision) -> DocumentDecision:
    """QA review of the version in review, signed "reviewed" (documents.review)."""
    ctx = _transition(uow, principal, number, "review")
    esign.authenticate_signer(uow.db, principal, body.password, body.login or None)
    decision = _decision(uow, ctx, "review", reason=body.note)
    esign.add_signed_decision(uow, principal, decision, action_code="document.review", password=body.password,
                              login=body.login or None)  # fmt: skip
    return decision


def reject(uow: UnitOfWork, principal: Principal, number: str, body: RejectDecision) -> DocumentVersion:
    """Send the version in review back to draft, with the reason (审核退回)."""
    ctx = _transition(uow, principal, number, "reject")
    uow.reason = body.reason
    ctx.version.status = "draft"
    _decide(uow, ctx, "reject", reason=body.reason)
    return ctx.version


def approve(uow: UnitOfWork, principal: Principal, number: str, body: ApproveDecision) -> DocumentVersion:
    """in_review → approved, signed "approved"; effective from ``effective_from`` (now or later)."""
    ctx = _transition(uow, principal, number, "approve")
    now = clock.now()
    effective_from = body.effective_from or now
    if effective_from < now - timedelta(minutes=1):
        raise ValidationFailed(N_("The effective date may not lie in the past"))
    effective_from = max(effective_from, now)
    previous = [v for v in ctx.document.versions if v.status == "approved"]
    latest = max(previous, key=lambda v: v.version, default=None)
    if latest is not None and latest.effective_from is not None and effective_from < latest.effective_from:
        raise ValidationFailed(
            N_("Version {version} becomes effective only on {date}; a later version cannot start before it"),
            version=latest.version, date=clock.format_beijing(latest.effective_from),
        )  # fmt: skip
    esign.authenticate_signer(uow.db, principal, body.password, body.login or None)
    uow.reason = uow.reason or "approved"
    ctx.version.status = "approved"
    ctx.version.effective_from = effective_from
    decision = _decide(uow, ctx, "approve", reason=body.note, effective_from=effective_from)
    uow.session.flush()
    events.publish(uow, VersionApproved(
        document_id=ctx.document.id, number=ctx.document.number, version_id=ctx.version.id,
        version=ctx.version.version, previous_version_id=latest.id if latest is not None else None,
        effective_from=effective_from, training_grace_days=ctx.version.training_grace_days,
        training_required=ctx.version.training_required,
    ))  # fmt: skip
    _sign(uow, principal, decision, "document.approve", body.password, body.login)
    return ctx.version


def withdraw(uow: UnitOfWork, principal: Principal, number: str, body: WithdrawDecision) -> Document:
    """Withdraw the whole document (作废): it opens nowhere on the floor from now; an open draft is closed."""
    principal.require("documents.control")
    document = get_document(uow.session, number)
    _writable(document)
    esign.authenticate_signer(uow.db, principal, body.password, body.login or None)
    uow.reason = body.reason
    now = clock.now()
    document.withdrawn_at, document.withdrawn_by, document.withdrawal_reason = (
        now,
        uow.actor.login,
        body.reason,
    )
    if (draft := open_version(document)) is not None:
        draft.status = "withdrawn"
    decision = DocumentDecision(document_id=document.id, version_id=None, kind="withdraw", reason=body.reason,
                                decided_by_id=principal.user_id, decided_by=uow.actor.login, decided_at=now)  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code="document.withdraw", password=body.password,
                              login=body.login or None)  # fmt: skip
    return document


# --- periodic review ---------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def next_review_due(session: Session, document: Document, at: datetime | None = None) -> date | None:
    """Effective from (or the last periodic review, if later) + the review interval (定期回顾)."""
    current = _effective_at(document, _at(at))
    if current is None or current.effective_from is None:
        return None
    base = current.effective_from
    last = session.scalar(
        select(func.max(DocumentDecision.decided_at)).where(
            DocumentDecision.document_id == document.id, DocumentDecision.kind == "periodic_review"
        )
    )
    if last is not None and last > base:
        base = last
    return add_months(clock.to_beijing(base).date(), document.review_interval_months)


def due_reviews(session: Session, *, within_days: int = REVIEW_WINDOW_DAYS) -> list[DueReviewPublic]:
    """Documents whose periodic review is overdue or due within ``within_days``, the most urgent first."""
    today = clock.to_beijing(clock.now()).date()
    rows: list[DueReviewPublic] = []
    for document in session.scalars(select(Document).where(Document.withdrawn_at.is_(None))):
        due = next_review_due(session, document)
        current = _effective_at(document, clock.now())
        if due is None or current is None or due > today + timedelta(days=within_days):
            continue
        rows.append(DueReviewPublic(number=document.number, title=document.title, department=document.department,
                                    effective_version=current.version, next_review_due=due, overdue=due < today))  # fmt: skip
    return sorted(rows, key=lambda r: (r.next_review_due, r.number))


def periodic_review(
    uow: UnitOfWork, principal: Principal, number: str, body: PeriodicReviewCreate
) -> DocumentDecision:
    """Record a periodic review of the effective version (still valid / to be revised), signed."""
    principal.require("documents.review")
    document = get_document(uow.session, number)
    _writable(document)
    current = require_effective(uow.session, document.number)
    esign.authenticate_signer(uow.db, principal, body.password, body.login or None)
    ctx = Context(uow.session, document, current, principal)
    decision = _decision(uow, ctx, "periodic_review", outcome=body.outcome, reason=body.note)
    esign.add_signed_decision(uow, principal, decision, action_code="document.periodic_review",
                              password=body.password, login=body.login or None)  # fmt: skip
    return decision


# --- reading -----------------------------------------------------------------------------------------------


def decisions_of(session: Session, document_id: int, version_id: int | None = None) -> list[DocumentDecision]:
    query = select(DocumentDecision).where(DocumentDecision.document_id == document_id)
    if version_id is not None:
        query = query.where(DocumentDecision.version_id == version_id)
    return list(session.scalars(query.order_by(DocumentDecision.id)))


def list_documents(
    session: Session,
    *,
    text: str = "",
    doc_type: str = "",
    department: str = "",
    state: str = "",
    sort: str = "number",
) -> list[Document]:
    """The library: filtered by type, department, state and a text found in the number, title, keywords or
    the text of any version (Chinese included: a substring of the normalized text matches)."""
    query = select(Document)
    if doc_type:
        query = query.where(Document.doc_type == doc_type)
    if department:
        query = query.where(Document.department == department.strip().upper())
    needle = text.strip()
    if needle:
        folded = " ".join(normalize(needle).split())
        in_versions = select(DocumentVersion.document_id).where(
            DocumentVersion.search_text.icontains(folded, autoescape=True)
        )
        query = query.where(
            or_(
                Document.number.icontains(needle, autoescape=True),
                Document.title.icontains(needle, autoescape=True),
                Document.keywords.icontains(needle, autoescape=True),
                Document.id.in_(in_versions),
            )
        )
    order = {"title": Document.title, "type": Document.doc_type, "department": Document.department}
    found = list(session.scalars(query.order_by(order.get(sort, Document.number), Document.number)))
    if state:
        now = clock.now()
        found = [d for d in found if document_state(d, now) == state]
    return found


def _signatures(session: Session, decision: DocumentDecision) -> list[SignaturePublic]:
    return [
        SignaturePublic(action=s.action, meaning=s.meaning, signer_login=s.signer_login, signer_name=s.signer_name,
                        signed_at=s.signed_at, status=s.status)
        for s in esign.manifestations(session, "document_decision", str(decision.id))
    ]  # fmt: skip


def decision_public(session: Session, decision: DocumentDecision) -> DecisionPublic:
    version = session.get(DocumentVersion, decision.version_id) if decision.version_id else None
    return DecisionPublic(id=decision.id, kind=decision.kind, version=version.version if version else None,
                          outcome=decision.outcome, reason=decision.reason, content_sm3=decision.content_sm3,
                          effective_from=decision.effective_from, decided_by=decision.decided_by,
                          decided_at=decision.decided_at, signatures=_signatures(session, decision))  # fmt: skip


def version_public(
    session: Session, version: DocumentVersion, *, with_decisions: bool = True
) -> VersionPublic:
    document = version.document
    decisions = (
        [decision_public(session, d) for d in decisions_of(session, document.id, version.id)]
        if with_decisions
        else []
    )
    return VersionPublic(
        id=version.id, number=document.number, title=document.title, version=version.version,
        status=version.status, state=version_state(version), change_summary=version.change_summary,
        change_control_ref=version.change_control_ref, effective_from=version.effective_from,
        training_grace_days=version.training_grace_days, training_required=version.training_required,
        content="markdown" if version.markdown is not None else "file", markdown=version.markdown,
        file_name=version.file_name, media_type=version.media_type, sm3=content_sm3(version), size=version.size,
        created_at=version.created_at, created_by=version.created_by, decisions=decisions,
    )  # fmt: skip


def document_public(session: Session, document: Document, *, with_versions: bool = False) -> DocumentPublic:
    now = clock.now()
    current = _effective_at(document, now)
    draft = open_version(document)
    return DocumentPublic(
        id=document.id, number=document.number, title=document.title, doc_type=document.doc_type,
        department=document.department, gmp=document.gmp, keywords=document.keywords,
        review_interval_months=document.review_interval_months, state=document_state(document, now),
        effective_version=current.version if current else None,
        effective_from=current.effective_from if current else None,
        open_version=draft.version if draft else None, next_review_due=next_review_due(session, document),
        created_at=document.created_at, created_by=document.created_by, withdrawn_at=document.withdrawn_at,
        withdrawal_reason=document.withdrawal_reason,
        versions=[version_public(session, v, with_decisions=False) for v in document.versions]
        if with_versions else [],
    )  # fmt: skip


def file_bytes(db: Database, version: DocumentVersion) -> bytes:
    """The stored file of a version, re-hashed on opening; a tampered file is refused."""
    if version.sm3 is None:
        raise NotFound(N_("Version {version} of {number} has no file"), version=version.version,
                       number=version.document.number)  # fmt: skip
    return store.read(db, version.sm3, number=version.document.number, version=version.version)
