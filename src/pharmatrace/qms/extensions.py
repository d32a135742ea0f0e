"""Due-date extensions of deviations, CAPA and change requests (延期申请; TJ-6.4.4, SH-6.2.4, SH-7.1.4; issue 9
item 11, "visible due dates"): the service.

When the work on an open record legitimately needs more time, whoever may work the record asks for it::

    requested ──approve (QA signs "approved"; never the requester)──> approved   (the record's due date moves)
    requested ──reject (QA, with the reason; never the requester)──> rejected
    requested ──withdraw (the requester, with the reason)──> withdrawn

* Who may ask: for a deviation a holder of ``qms.deviation.raise``; for a CAPA of ``qms.deviation.raise`` or
  ``qms.deviation.approve`` (who may work a CAPA, :mod:`pharmatrace.qms.capa`); for a change of
  ``qms.change.propose`` or ``qms.change.manage``. Only while the record is open — a deviation in one of its
  active statuses, a CAPA or a change in one of its open ones — and never while a change is being approved:
  its target date is part of the content the approvers sign (:func:`pharmatrace.qms.changes.content_hash`).
* One open request per record at a time (also a unique index of the database); the new date is later than the
  record's current due date and than today. The request keeps the due date it was made against.
* QA (``qms.deviation.approve``) approves by an electronic signature (``qms.extension.approve``) on an
  append-only :class:`ExtensionDecision` keeping the canonical content of the request and its SM3. In the same
  unit of work the record's due date (a change's target date) becomes the new one; the audit trail's reason names
  the extension and its justification. Refused when the record's due date is no longer the one the request was
  made against (a deviation moved on to its next step meanwhile): ask again.
* A deviation's due date is its current step's (triage, investigation, closure: :mod:`.deviations`); each step
  sets its own, and an extension moves only the current one. :func:`original_due` therefore follows the chain of
  approved extensions back from the current due date: the original due date of the current step, and how many
  times it was extended. ``is_overdue`` of each module keeps reading the record's due date, now the extended one.

Every refusal raises a typed, translatable error and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger, workflow
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms.extension_models import (
    KIND_LABELS,
    KINDS,
    STATUS_LABELS,
    DueDateExtension,
    ExtensionDecision,
)
from pharmatrace.qms.extension_schemas import (
    ExtensionApprove,
    ExtensionPublic,
    ExtensionRequest,
    ExtensionSummary,
)
from pharmatrace.qms.signatures import signatures_of

EXTENSION_REQUESTED = N_("Due-date extension requested")

QA_PERMISSION = (
    "qms.deviation.approve"  # the signature step of qms.extension.approve (kernel/esign/policy.py)
)
APPROVE_ACTION = "qms.extension.approve"
DECISION_TYPE = "qms_extension_decision"
# who may work a record, and so ask for more time on it
REQUEST_PERMISSIONS = {
    "deviation": ("qms.deviation.raise",),
    "capa": ("qms.deviation.raise", "qms.deviation.approve"),
    "change": ("qms.change.propose", "qms.change.manage"),
}
RECORD_URLS = {"deviation": "/qms/deviations/{}", "capa": "/qms/capa/{}", "change": "/qms/changes/{}"}


class ExtensionRefused(Conflict):
    """A due-date extension that the record's or the request's state does not allow now: the message says why."""

    code = "extension_refused"


class ExtensionDutiesNotSegregated(NotPermitted):
    """Who requested an extension does not decide on it (SH-7.1.4)."""

    code = "extension_duties"


# --- the records -----------------------------------------------------------------------------------------------


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise NotFound(N_("No record of kind {kind}"), kind=kind)
    return kind


def get_record(session: Session, kind: str, number: str) -> Any:
    """The deviation, the CAPA or the change request (``NotFound`` when there is none)."""
    if _kind(kind) == "deviation":
        from pharmatrace.qms.deviations import get_deviation

        return get_deviation(session, number)
    if kind == "capa":
        from pharmatrace.qms.capa import get_capa

        return get_capa(session, number)
    from pharmatrace.qms.changes import get_change

    return get_change(session, number)


def due_of(kind: str, record: Any) -> date | None:
    """The record's current due date (a change's target date)."""
    value = record.target_date if kind == "change" else record.due_date
    return value if isinstance(value, date) else None


def _set_due(kind: str, record: Any, new_due: date) -> None:
    if kind == "change":
        record.target_date = new_due
    else:
        record.due_date = new_due


def is_open(kind: str, record: Any) -> bool:
    """Open for an extension: active (deviation) or open (CAPA, change), and no change under approval."""
    if kind == "deviation":
        from pharmatrace.qms.deviation_models import ACTIVE_STATUSES

        return record.status in ACTIVE_STATUSES
    if kind == "capa":
        from pharmatrace.qms.capa_models import OPEN_STATUSES as CAPA_OPEN

        return record.status in CAPA_OPEN
    from pharmatrace.qms.change_models import OPEN_STATUSES as CHANGE_OPEN

    # the target date is part of the content the approvers sign: it stays as submitted until they decided
    return record.status in CHANGE_OPEN and record.status != "submitted"


def _status_label(kind: str, status: str) -> Msgid:
    from pharmatrace.qms import capa_models, change_models, deviations

    module: Any = {"deviation": deviations, "capa": capa_models, "change": change_models}[kind]
    return Msgid(module.STATUS_LABELS.get(status, status))


def _require_open(kind: str, record: Any) -> date:
    due = due_of(kind, record)
    if not is_open(kind, record) or due is None:
        raise ExtensionRefused(
            N_("{kind} {number} is “{status}”: its due date cannot be extended now"),
            kind=Msgid(KIND_LABELS[kind]), number=record.number, status=_status_label(kind, record.status),
        )  # fmt: skip
    return due


def may_request(principal: Principal, kind: str) -> bool:
    return any(principal.can(p) for p in REQUEST_PERMISSIONS[_kind(kind)])


def record_url(kind: str, number: str) -> str:
    return RECORD_URLS[_kind(kind)].format(number)


# --- reading ---------------------------------------------------------------------------------------------------


def extensions_of(session: Session, kind: str, number: str) -> list[DueDateExtension]:
    """Every extension requested on the record, oldest first."""
    query = select(DueDateExtension).where(
        DueDateExtension.record_kind == _kind(kind), DueDateExtension.record_number == number.strip().upper()
    )
    return list(session.scalars(query.order_by(DueDateExtension.id)))


def get_extension(session: Session, extension_id: int) -> DueDateExtension:
    found = session.get(DueDateExtension, extension_id)
    if found is None:
        raise NotFound(N_("No due-date extension {id}"), id=extension_id)
    return found


def _chain(extensions: list[DueDateExtension], current: date | None) -> tuple[date | None, int]:
    """Back from the current due date through the approved extensions that led to it: (original, count)."""
    due, count = current, 0
    for extension in reversed([e for e in extensions if e.status == "approved"]):
        if due is not None and extension.new_due == due:
            due, count = extension.due_before, count + 1
    return due, count


def original_due(session: Session, kind: str, number: str) -> date | None:
    """The due date the record (a deviation: its current step) had before any approved extension."""
    record = get_record(session, kind, number)
    return _chain(extensions_of(session, kind, record.number), due_of(kind, record))[0]


def times_extended(session: Session, kind: str, number: str) -> int:
    """How many approved extensions led to the record's current due date."""
    record = get_record(session, kind, number)
    return _chain(extensions_of(session, kind, record.number), due_of(kind, record))[1]


def _open_request(session: Session, kind: str, number: str) -> DueDateExtension | None:
    return next((e for e in extensions_of(session, kind, number) if e.status == "requested"), None)


# --- content and its hash --------------------------------------------------------------------------------------


def canonical_content(extension: DueDateExtension) -> str:
    """The request as canonical JSON: what QA's approval keeps and its ``content_sm3`` hashes."""
    e = extension
    return ledger.canonical_text({
        "id": e.id, "record": [e.record_kind, e.record_number], "due_before": e.due_before.isoformat(),
        "new_due": e.new_due.isoformat(), "justification": e.justification, "interim": e.interim_measures,
        "requested_by": e.requested_by, "requested_at": e.requested_at.isoformat(),
    })  # fmt: skip


# --- writing ---------------------------------------------------------------------------------------------------


def request_extension(
    uow: UnitOfWork, principal: Principal, kind: str, number: str, body: ExtensionRequest
) -> DueDateExtension:
    """A request for a later due date of an open record, with its justification (TJ-6.4.4)."""
    workflow.require_any(principal, REQUEST_PERMISSIONS[_kind(kind)])
    session = uow.session
    record = get_record(session, kind, number)
    due = _require_open(kind, record)
    if _open_request(session, kind, record.number) is not None:
        raise ExtensionRefused(
            N_("{number} already has an extension request waiting for QA's decision"), number=record.number
        )
    if body.new_due <= due:
        raise ValidationFailed(
            N_("The new due date must be after the current one ({due})"), due=due.isoformat()
        )
    if body.new_due <= clock.today():
        raise ValidationFailed(N_("The new due date must be after today"))
    uow.reason = f"due-date extension of {record.number} requested: {body.justification}"[:500]
    extension = DueDateExtension(
        record_kind=kind, record_number=record.number, due_before=due, new_due=body.new_due,
        justification=body.justification, interim_measures=body.interim_measures, requested_at=clock.now(),
        requested_by=principal.login, requested_by_name=principal.full_name, status="requested",
        decision_comment="",
    )  # fmt: skip
    session.add(extension)
    session.flush()
    return extension


def _to_decide(session: Session, principal: Principal, extension_id: int) -> DueDateExtension:
    """QA decides on a waiting request, never who requested it."""
    principal.require(QA_PERMISSION)
    extension = get_extension(session, extension_id)
    if extension.status != "requested":
        raise ExtensionRefused(
            N_("The extension of {number} is already decided"), number=extension.record_number
        )
    if principal.login == extension.requested_by:
        raise ExtensionDutiesNotSegregated(N_("Who requested an extension may not decide on it"))
    return extension


def approve(
    uow: UnitOfWork, principal: Principal, extension_id: int, body: ExtensionApprove
) -> ExtensionDecision:
    """QA approves by signature; the record's due date becomes the new one in the same unit of work."""
    session = uow.session
    extension = _to_decide(session, principal, extension_id)
    kind = extension.record_kind
    record = get_record(session, kind, extension.record_number)
    due = _require_open(kind, record)
    if due != extension.due_before:
        raise ExtensionRefused(
            N_("The due date of {number} is now {due}, not the one the request was made against: ask again"),
            number=record.number, due=due.isoformat(),
        )  # fmt: skip
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    content = canonical_content(extension)
    now = clock.now()
    uow.reason = (
        f"due date of {record.number} extended from {due.isoformat()} to {extension.new_due.isoformat()} "
        f"(extension #{extension.id}): {extension.justification}"
    )[:500]
    extension.status = "approved"
    extension.decided_at = now
    extension.decided_by = principal.login
    extension.decided_by_name = principal.full_name
    extension.decision_comment = body.comment
    _set_due(kind, record, extension.new_due)
    session.flush()
    decision = ExtensionDecision(
        extension_id=extension.id, kind="approve", content=content, content_sm3=crypto.sm3(content.encode()).hex(),
        comment=body.comment, decided_at=now, decided_by=principal.login, decided_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=APPROVE_ACTION, password=body.password,
                              login=body.login, expire=(extension, "decisions"))  # fmt: skip
    return decision


def reject(uow: UnitOfWork, principal: Principal, extension_id: int, reason: str) -> DueDateExtension:
    """QA refuses the extension, with the reason; the record's due date stays."""
    session = uow.session
    extension = _to_decide(session, principal, extension_id)
    why = uow.give_reason(reason)
    extension.status = "rejected"
    extension.decided_at = clock.now()
    extension.decided_by = principal.login
    extension.decided_by_name = principal.full_name
    extension.decision_comment = why
    session.flush()
    return extension


def withdraw(uow: UnitOfWork, principal: Principal, extension_id: int, reason: str) -> DueDateExtension:
    """The requester takes the request back, with the reason."""
    session = uow.session
    extension = get_extension(session, extension_id)
    if principal.login != extension.requested_by:
        raise NotPermitted(N_("Only who requested an extension may withdraw it"))
    if extension.status != "requested":
        raise ExtensionRefused(
            N_("The extension of {number} is already decided"), number=extension.record_number
        )
    why = uow.give_reason(reason)
    extension.status = "withdrawn"
    extension.decided_at = clock.now()
    extension.decided_by = principal.login
    extension.decided_by_name = principal.full_name
    extension.decision_comment = why
    session.flush()
    return extension


# --- output ----------------------------------------------------------------------------------------------------


def extension_public(session: Session, extension: DueDateExtension) -> ExtensionPublic:
    e = extension
    decision = e.decisions[0] if e.decisions else None
    signatures = [] if decision is None else signatures_of(session, DECISION_TYPE, str(decision.id))
    return ExtensionPublic(
        id=e.id, record_kind=e.record_kind, record_number=e.record_number, due_before=e.due_before,
        new_due=e.new_due, justification=e.justification, interim_measures=e.interim_measures,
        requested_at=e.requested_at, requested_by=e.requested_by, requested_by_name=e.requested_by_name,
        status=e.status, decided_at=e.decided_at, decided_by=e.decided_by, decided_by_name=e.decided_by_name,
        decision_comment=e.decision_comment, content_sm3=decision.content_sm3 if decision else None,
        signatures=signatures,
    )  # fmt: skip


def summary(session: Session, kind: str, number: str) -> ExtensionSummary:
    """The record's original and current due dates, its approved extensions and the history."""
    record = get_record(session, kind, number)
    rows = extensions_of(session, kind, record.number)
    current = due_of(kind, record)
    original, count = _chain(rows, current)
    return ExtensionSummary(
        record_kind=kind, record_number=record.number, open=is_open(kind, record) and current is not None,
        original_due=original, current_due=current, approved=count,
        extensions=[extension_public(session, e) for e in rows],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One moment of a record's due-date extensions, as a record's timeline shows it beside its own events."""

    at: datetime
    label: str  # a msgid: "Due-date extension requested", or the decision's status label
    by_name: str
    text: str


def timeline(found: ExtensionSummary) -> list[TimelineEntry]:
    """Each extension's request and its decision (approved, rejected or withdrawn), oldest first."""
    entries = []
    for e in found.extensions:
        change = f"{e.due_before.isoformat()} → {e.new_due.isoformat()}"
        entries.append(TimelineEntry(e.requested_at, EXTENSION_REQUESTED, e.requested_by_name,
                                     f"{change}: {e.justification}"))  # fmt: skip
        if e.decided_at is not None:
            entries.append(TimelineEntry(e.decided_at, STATUS_LABELS[e.status], e.decided_by_name or "",
                                         f"{change}: {e.decision_comment}".rstrip(": ")))  # fmt: skip
    return sorted(entries, key=lambda entry: entry.at)


def page_values(session: Session, principal: Principal, kind: str, number: str) -> dict[str, Any]:
    """What the record pages' extensions section (``qms/_extensions.html``) shows and offers."""
    found = summary(session, kind, number)
    waiting = any(e.status == "requested" for e in found.extensions)
    return {
        "summary": found,
        "may_request": found.open and not waiting and may_request(principal, kind),
        "may_decide": found.open and principal.can(QA_PERMISSION),
        "login": principal.login,
        "labels": STATUS_LABELS,
        "meanings": MEANINGS,
    }
