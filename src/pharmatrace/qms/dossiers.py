"""Registration dossiers and contract agreements as controlled records with expiry reminders (药品注册证书、药品生产
许可证、委托生产/委托检验协议与质量协议; SH-6.2.4; issue 9 item 10): the service.

A record (``REG-YYYY-NNNN`` for a registration, ``CTR-YYYY-NNNN`` for a contract) is drafted by a holder of
``qms.dossier.manage``: its kind, title and reference number (批准文号 such as 国药准字Z2026…, the licence number or
the contract number), the product (a material, which must exist; required for a registration certificate and a
supplementary approval), the counterparty of a contract (a supplier by code, which must exist, or a third party
named in text), the issuing authority of a registration, the validity, the reminder lead time, the owner, the
scope, an optional original file (kept under its SM3 by the kernel's file store) and the record it renews. Its
lifecycle is the declared state machine :data:`TRANSITIONS`::

    draft ──submit──> in_review ──return (with a reason)──> draft
    in_review ──approve (QA signs; never the author; a renewed record still effective)──> effective
    effective ──terminate (with a reason)──> terminated
    draft / in_review ──cancel (with a reason)──> cancelled
    effective ──(its renewal approved, same unit of work)──> superseded

* The header and the file change only while a draft; an effective record is corrected by a renewal. The database
  refuses any change of an effective record that keeps it effective, and any change of an ended one.
* QA (``qms.deviation.approve`` and ``qms.dossier.manage``) approves by an electronic signature
  (``qms.dossier.approve``) on a :class:`DossierDecision` row keeping the canonical content and its SM3; the
  author may not approve their own record (SH-7.1.4).
* "Expired" is computed from ``valid_until`` and the clock, never stored: :func:`expiry` and :func:`days_left`;
  :func:`expiring` lists the effective records inside their reminder window or past it (the reminders);
  :func:`registration_problem` says why a product has no registration certificate in force (for release).

Every refusal raises a typed, translatable error and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, filestore, ledger, workflow
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import numbering
from pharmatrace.qms.dossier_models import (
    CATEGORIES,
    DEFAULT_REMINDER_DAYS,
    KINDS,
    OPEN_STATUSES,
    PREFIXES,
    STATUS_LABELS,
    STATUSES,
    Dossier,
    DossierDecision,
)
from pharmatrace.qms.dossier_schemas import (
    DecisionPublic,
    DossierApprove,
    DossierCreate,
    DossierDetail,
    DossierPublic,
    DossierUpdate,
)
from pharmatrace.qms.signatures import signatures_of
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Material, Supplier

MANAGE_PERMISSION = "qms.dossier.manage"
VIEW_PERMISSION = "qms.view"
QA_PERMISSION = "qms.deviation.approve"  # the signature step of qms.dossier.approve (kernel/esign/policy.py)
APPROVE_ACTION = "qms.dossier.approve"
DECISION_TYPE = "qms_dossier_decision"

# The originals (PDF, scans) of registration certificates, licences and contracts, under their SM3
# (kernel/filestore.py, as the documents and the LIMS keep theirs).
STORE = filestore.FileStore(
    "dossiers",
    accepted=(filestore.PDF, filestore.PNG, filestore.JPEG),
    refused_message=N_("Only PDF, PNG and JPEG files are accepted; “{name}” is none of them"),
    default_name="dossier",
)


class DossierDutiesNotSegregated(NotPermitted):
    """The author of a registration or contract record may not approve it (SH-7.1.4)."""

    code = "dossier_duties"


class DossierTransitionRefused(Conflict):
    """A step of a registration or contract record that its state or its guards do not allow now."""

    code = "dossier_transition_refused"


# --- reading -------------------------------------------------------------------------------------------------


def find_dossier(session: Session, number: str) -> Dossier | None:
    return session.scalar(select(Dossier).where(Dossier.number == number.strip().upper()))


def get_dossier(session: Session, number: str) -> Dossier:
    dossier = find_dossier(session, number)
    if dossier is None:
        raise NotFound(N_("No registration or contract record {number}"), number=number)
    return dossier


def list_dossiers(
    session: Session, *, category: str = "", kind: str = "", status: str = "", text: str = ""
) -> list[Dossier]:
    """Records, newest first; ``status`` one of :data:`STATUSES`, ``open`` or ``expired`` (effective and past
    its validity today); ``text`` in number, title, reference number, counterparty or authority."""
    query = select(Dossier).order_by(Dossier.id.desc())
    if category in CATEGORIES:
        query = query.where(Dossier.category == category)
    if kind in KINDS:
        query = query.where(Dossier.kind == kind)
    if status == "open":
        query = query.where(Dossier.status.in_(OPEN_STATUSES))
    elif status == "expired":
        query = query.where(Dossier.status == "effective", Dossier.valid_until < clock.today())
    elif status in STATUSES:
        query = query.where(Dossier.status == status)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            or_(
                Dossier.number.ilike(like),
                Dossier.title.ilike(like),
                Dossier.reference_no.ilike(like),
                Dossier.counterparty.ilike(like),
                Dossier.issuing_authority.ilike(like),
            )
        )
    return list(session.scalars(query))


def renewals_of(session: Session, dossier: Dossier) -> list[Dossier]:
    """The records renewing this one (any state), oldest first."""
    return list(session.scalars(select(Dossier).where(Dossier.renews_id == dossier.id).order_by(Dossier.id)))


# --- validity, computed from the clock -----------------------------------------------------------------------


def _day(at: date | datetime | None) -> date:
    if at is None:
        return clock.today()
    if isinstance(at, datetime):
        return clock.to_beijing(at).date()
    return at


def days_left(dossier: Dossier, at: date | datetime | None = None) -> int:
    """Days from ``at`` (the plant's day, default today) to the last valid day; negative once expired."""
    return (dossier.valid_until - _day(at)).days


def expiry(dossier: Dossier, at: date | datetime | None = None) -> str | None:
    """``expired`` (past ``valid_until``), ``due`` (within the reminder lead time) or ``valid``, for an effective
    record; ``None`` for the others (not in force, or no longer)."""
    if dossier.status != "effective":
        return None
    left = days_left(dossier, at)
    if left < 0:
        return "expired"
    return "due" if left <= dossier.reminder_days else "valid"


def expiring(session: Session, at: date | datetime | None = None) -> list[Dossier]:
    """The reminders: effective records whose ``valid_until`` is within their lead time from ``at`` (default
    today) or past, soonest first. A record whose renewal is approved is superseded, so no longer listed."""
    day = _day(at)
    found = session.scalars(
        select(Dossier).where(Dossier.status == "effective").order_by(Dossier.valid_until)
    )
    return [d for d in found if expiry(d, day) in ("expired", "due")]


@dataclass(frozen=True, slots=True)
class RegistrationState:
    """The product's drug registration certificate on a day: the certificate that holds (``problem`` None), or
    why none does (a msgid and its parameters), with the certificate it is about; ``recorded`` is False when no
    certificate of the product is recorded at all."""

    recorded: bool
    certificate: Dossier | None
    problem: str | None  # a msgid
    params: dict[str, str]


def registration_state(
    session: Session, material_id: int, at: date | datetime | None = None
) -> RegistrationState:
    """Whether a drug registration certificate of the product ``material_id`` is in force on ``at`` (default today):
    effective, from ``effective_from`` to ``valid_until`` included. The batch release checklist asks it."""
    day = _day(at)
    found = list(session.scalars(
        select(Dossier).where(Dossier.material_id == material_id, Dossier.kind == "drug_registration_certificate",
                              Dossier.status.in_(("effective", "terminated", "superseded")))
        .order_by(Dossier.valid_until.desc())
    ))  # fmt: skip
    if not found:
        return RegistrationState(
            False, None, N_("No drug registration certificate of the product is recorded"), {}
        )
    for d in found:
        if (
            d.status == "effective"
            and (d.effective_from is None or d.effective_from <= day)
            and d.valid_until >= day
        ):
            return RegistrationState(True, d, None, {})
    effective = [d for d in found if d.status == "effective"]
    if effective and effective[0].valid_until < day:
        d = effective[0]
        return RegistrationState(
            True,
            d,
            N_("The registration certificate {number} ({reference}) expired on {date}"),
            {"number": d.number, "reference": d.reference_no, "date": d.valid_until.isoformat()},
        )
    if effective:
        d = effective[0]
        return RegistrationState(
            True,
            d,
            N_("The registration certificate {number} ({reference}) is effective only from {date}"),
            {
                "number": d.number,
                "reference": d.reference_no,
                "date": d.effective_from.isoformat() if d.effective_from else "",
            },
        )
    return RegistrationState(
        True, found[0], N_("No registration certificate of the product is in force (the last one, {number}, is {state})"),
        {"number": found[0].number, "state": found[0].status},
    )  # fmt: skip


def registration_problem(session: Session, material_id: int, at: date | datetime | None = None) -> str | None:
    """Why no drug registration certificate of the product is in force on ``at``, in English (the msgid's text);
    ``None`` when one is, and when none is recorded here at all (:func:`registration_state` tells them apart)."""
    state = registration_state(session, material_id, at)
    if not state.recorded or state.problem is None:
        return None
    return str(state.problem).format(**state.params)


# --- content and its hash ------------------------------------------------------------------------------------


def canonical_content(dossier: Dossier) -> str:
    """The record as canonical JSON — its header, validity, counterparty, file SM3 and the record it renews: what
    the approval keeps and its ``content_sm3`` hashes."""
    d = dossier
    return ledger.canonical_text({
        "number": d.number, "category": d.category, "kind": d.kind, "title": d.title, "reference_no": d.reference_no,
        "material": d.material.code if d.material else None, "supplier": d.supplier.code if d.supplier else None,
        "counterparty": d.counterparty, "issuing_authority": d.issuing_authority,
        "effective_from": d.effective_from.isoformat() if d.effective_from else None,
        "valid_until": d.valid_until.isoformat(), "reminder_days": d.reminder_days, "owner": d.owner,
        "summary": d.summary, "file": [d.file_name, d.file_sm3], "renews": d.renews.number if d.renews else None,
        "author": d.author,
    })  # fmt: skip


def content_hash(dossier: Dossier) -> str:
    return crypto.sm3(canonical_content(dossier).encode()).hex()


# --- the state machine ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    dossier: Dossier
    principal: Principal


Guard = Callable[[Context], None]


def guard_not_the_author(ctx: Context) -> None:
    # SH-7.1.4: who drafted a controlled record does not approve it.
    if ctx.principal.login == ctx.dossier.author:
        raise DossierDutiesNotSegregated(
            N_("The author of a registration or contract record may not approve it")
        )


def guard_renewed_in_force(ctx: Context) -> None:
    # A renewal replaces a record in force; one already ended (or renewed by another) is not renewed twice.
    renewed = ctx.dossier.renews
    if renewed is not None and renewed.status != "effective":
        raise DossierTransitionRefused(
            N_("{number} renews {renewed}, which is “{status}”: it cannot be renewed"),
            number=ctx.dossier.number, renewed=renewed.number, status=Msgid(STATUS_LABELS[renewed.status]),
        )  # fmt: skip


Transition = workflow.Transition[Context]


# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("submit", ("draft",), "in_review", (MANAGE_PERMISSION,), (guard_renewed_in_force,)),
        Transition("return", ("in_review",), "draft", (MANAGE_PERMISSION,), ()),
        Transition("approve", ("in_review",), "effective", (QA_PERMISSION,),
                   (guard_not_the_author, guard_renewed_in_force), signed=APPROVE_ACTION),
        Transition("terminate", ("effective",), "terminated", (MANAGE_PERMISSION,), ()),
        Transition("cancel", ("draft", "in_review"), "cancelled", (MANAGE_PERMISSION,), ()),
    )
}
# fmt: on


MACHINE = workflow.Machine(
    TRANSITIONS,
    Context,
    workflow.state_refusal(DossierTransitionRefused, STATUS_LABELS),
    require=MANAGE_PERMISSION,
)  # every write needs qms.dossier.manage first
_refuse_state = MACHINE.refused
_check = MACHINE.check
allowed = MACHINE.allowed


def _draft(principal: Principal, dossier: Dossier) -> None:
    """The header and the file change only while a draft: an effective record is corrected by a renewal."""
    principal.require(MANAGE_PERMISSION)
    if dossier.status != "draft":
        raise _refuse_state(dossier)


# --- checks against the plant --------------------------------------------------------------------------------


def _material(session: Session, code: str | None) -> Material | None:
    if not code:
        return None
    material = session.scalar(select(Material).where(Material.code == code.strip().upper()))
    if material is None or material.voided_at is not None:
        raise NotFound(N_("No material with code “{code}”"), code=code)
    return material


def _supplier(session: Session, code: str | None) -> Supplier | None:
    if not code:
        return None
    supplier = session.scalar(select(Supplier).where(Supplier.code == code.strip().upper()))
    if supplier is None or supplier.voided_at is not None:
        raise NotFound(N_("No supplier with code “{code}”"), code=code)
    return supplier


def _renewed(
    session: Session, number: str | None, category: str, own: Dossier | None = None
) -> Dossier | None:
    if not number:
        return None
    renewed = get_dossier(session, number)
    if own is not None and renewed.id == own.id:
        raise ValidationFailed(N_("A record cannot renew itself"))
    if renewed.category != category:
        raise ValidationFailed(
            N_("{number} is of another category: a renewal keeps the category"), number=renewed.number
        )
    if renewed.status != "effective":
        raise DossierTransitionRefused(
            N_("{number} is “{status}”: only an effective record is renewed"),
            number=renewed.number, status=Msgid(STATUS_LABELS[renewed.status]),
        )  # fmt: skip
    return renewed


def _fill(session: Session, dossier: Dossier, body: DossierCreate) -> None:
    material = _material(session, body.material_code)
    supplier = _supplier(session, body.supplier_code) if body.category == "contract" else None
    renewed = _renewed(session, body.renews, body.category, dossier if dossier.id else None)
    dossier.category, dossier.kind, dossier.title = body.category, body.kind, body.title
    dossier.reference_no = body.reference_no
    dossier.material_id = material.id if material else None
    dossier.supplier_id = supplier.id if supplier else None
    dossier.counterparty = body.counterparty if body.category == "contract" else ""
    dossier.issuing_authority = body.issuing_authority if body.category == "registration" else ""
    dossier.effective_from, dossier.valid_until = body.effective_from, body.valid_until
    dossier.reminder_days = (
        body.reminder_days if body.reminder_days is not None else DEFAULT_REMINDER_DAYS[body.category]
    )
    dossier.owner, dossier.summary = body.owner, body.summary
    dossier.renews_id = renewed.id if renewed else None


def next_number(session: Session, category: str) -> str:
    """``REG-2026-0001`` / ``CTR-2026-0001``: the year (Beijing) and a serial per prefix and year."""
    return numbering.next_number(session, PREFIXES[category], find_dossier)


# --- writing -------------------------------------------------------------------------------------------------


def create_dossier(
    uow: UnitOfWork, principal: Principal, body: DossierCreate, upload: tuple[bytes, str] | None = None
) -> Dossier:
    """A new record (``draft``) by its author, with its original file if one is given."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    dossier = Dossier(author=principal.login, author_name=principal.full_name, status="draft")
    _fill(session, dossier, body)
    if upload is not None:
        _store(uow, dossier, upload)
    dossier.number = next_number(session, body.category)
    dossier.created_at = clock.now()
    uow.reason = uow.reason or f"{dossier.number} drafted"
    session.add(dossier)
    session.flush()
    session.refresh(dossier)
    return dossier


def update_dossier(uow: UnitOfWork, principal: Principal, number: str, body: DossierUpdate) -> Dossier:
    """The header of a draft (its category, and so its number, stays)."""
    session = uow.session
    dossier = get_dossier(session, number)
    _draft(principal, dossier)
    if body.category != dossier.category:
        raise ValidationFailed(
            N_("The category of {number} cannot change: draft a new record"), number=dossier.number
        )
    uow.reason = uow.reason or f"{dossier.number}: header changed"
    _fill(session, dossier, body)
    session.flush()
    session.refresh(dossier)
    return dossier


def _store(uow: UnitOfWork, dossier: Dossier, upload: tuple[bytes, str]) -> None:
    data, name = upload
    stored = STORE.put(uow.db, data, name)
    dossier.file_sm3, dossier.file_name = stored.sm3, stored.file_name
    dossier.media_type, dossier.file_size = stored.media_type, stored.size


def attach_file(uow: UnitOfWork, principal: Principal, number: str, upload: tuple[bytes, str]) -> Dossier:
    """The original (PDF or scan) of a draft, stored under its SM3; it replaces any file attached before."""
    session = uow.session
    dossier = get_dossier(session, number)
    _draft(principal, dossier)
    STORE.check(*upload)  # refused before anything is written
    uow.reason = uow.reason or f"{dossier.number}: original file attached"
    _store(uow, dossier, upload)
    session.flush()
    return dossier


def open_file(db: Database, dossier: Dossier) -> bytes:
    """The original's bytes, checked against the SM3 the record keeps (a changed or missing file is refused)."""
    if dossier.file_sm3 is None:
        raise NotFound(N_("{number} has no file"), number=dossier.number)
    return STORE.read(db, dossier.file_sm3)


def submit(uow: UnitOfWork, principal: Principal, number: str) -> Dossier:
    """The draft goes to QA's review."""
    session = uow.session
    dossier = get_dossier(session, number)
    transition = _check(session, principal, dossier, "submit")
    uow.reason = uow.reason or f"{dossier.number} submitted"
    dossier.status = transition.target
    dossier.submitted_at = clock.now()
    dossier.submitted_by = principal.login
    session.flush()
    return dossier


def return_to_draft(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> Dossier:
    """The reviewer sends the record back to its author, with a reason."""
    session = uow.session
    dossier = get_dossier(session, number)
    transition = _check(session, principal, dossier, "return")
    uow.give_reason(reason)
    dossier.status = transition.target
    session.flush()
    return dossier


def approve(uow: UnitOfWork, principal: Principal, number: str, body: DossierApprove) -> DossierDecision:
    """QA approves the record by signature on a decision keeping its content and SM3 (never its author); the
    record it renews is superseded in the same unit of work."""
    session = uow.session
    dossier = get_dossier(session, number)
    transition = _check(session, principal, dossier, "approve")
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    uow.reason = uow.reason or f"{dossier.number} approved"
    content = canonical_content(dossier)
    now = clock.now()
    renewed = dossier.renews
    if renewed is not None:
        renewed.status = "superseded"
        renewed.ended_at, renewed.ended_by = now, principal.login
        renewed.end_reason = f"renewed by {dossier.number}"
    dossier.status = transition.target
    dossier.approved_at = now
    dossier.approved_by = principal.login
    session.flush()
    decision = DossierDecision(
        dossier_id=dossier.id, kind="approve", content=content, content_sm3=crypto.sm3(content.encode()).hex(),
        comment=body.comment, decided_at=now, decided_by=principal.login, decided_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=APPROVE_ACTION, password=body.password,
                              login=body.login, expire=(dossier, "decisions"))  # fmt: skip
    return decision


def _end(uow: UnitOfWork, principal: Principal, number: str, name: str, reason: str) -> Dossier:
    session = uow.session
    dossier = get_dossier(session, number)
    transition = _check(session, principal, dossier, name)
    uow.give_reason(reason)
    dossier.status = transition.target
    dossier.ended_at, dossier.ended_by, dossier.end_reason = clock.now(), principal.login, uow.reason
    session.flush()
    return dossier


def terminate(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> Dossier:
    """An effective record no longer in force (a contract ended early, a licence revoked), with the reason."""
    return _end(uow, principal, number, "terminate", reason)


def cancel(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> Dossier:
    """A draft or a record in review abandoned, with the reason; it stays."""
    return _end(uow, principal, number, "cancel", reason)


# --- output --------------------------------------------------------------------------------------------------


def decision_public(session: Session, decision: DossierDecision) -> DecisionPublic:
    signatures = signatures_of(session, DECISION_TYPE, str(decision.id))
    d = decision
    return DecisionPublic(
        id=d.id, kind=d.kind, content_sm3=d.content_sm3, comment=d.comment, decided_at=d.decided_at,
        decided_by=d.decided_by, decided_by_name=d.decided_by_name, signatures=signatures,
    )  # fmt: skip


def dossier_public(session: Session, dossier: Dossier, at: date | datetime | None = None) -> DossierPublic:
    d = dossier
    day = _day(at)
    renewals = [r for r in renewals_of(session, d) if r.status != "cancelled"]
    return DossierPublic(
        id=d.id, number=d.number, category=d.category, kind=d.kind, title=d.title, reference_no=d.reference_no,
        material_code=d.material.code if d.material else None, material_name=d.material.name if d.material else None,
        supplier_code=d.supplier.code if d.supplier else None, supplier_name=d.supplier.name if d.supplier else None,
        counterparty=d.counterparty, issuing_authority=d.issuing_authority, effective_from=d.effective_from,
        valid_until=d.valid_until, reminder_days=d.reminder_days, owner=d.owner, author=d.author,
        author_name=d.author_name, status=d.status, expiry=expiry(d, day),
        days_left=days_left(d, day) if d.status == "effective" else None,
        renews=d.renews.number if d.renews else None, renewed_by=renewals[-1].number if renewals else None,
        has_file=d.file_sm3 is not None, created_at=d.created_at, approved_at=d.approved_at,
        approved_by=d.approved_by, ended_at=d.ended_at, end_reason=d.end_reason,
    )  # fmt: skip


def dossier_detail(session: Session, dossier: Dossier) -> DossierDetail:
    d = dossier
    return DossierDetail(
        **dossier_public(session, d).model_dump(), summary=d.summary, file_name=d.file_name,
        media_type=d.media_type, file_size=d.file_size, file_sm3=d.file_sm3, submitted_at=d.submitted_at,
        submitted_by=d.submitted_by, ended_by=d.ended_by, content_sm3=content_hash(d),
        decisions=[decision_public(session, x) for x in d.decisions],
    )  # fmt: skip
