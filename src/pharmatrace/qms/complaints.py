"""Complaints (投诉; SH-6.2.4, issue 9 item 5; after Veeva Vault QMS and TrackWise complaint handling): the service.

A complaint from a customer, a hospital, a patient or a regulator is registered (``CMP-YYYY-NNNN``) by a holder of
``qms.complaint.manage``: when and how it came, who complained, the category, the description and the product —
a batch number and/or a scanned traceability code (any accepted form, :func:`pharmatrace.trace.codes.lookup`);
either names the batch, an unknown one is refused, and both must agree. Its lifecycle is the declared state
machine :data:`TRANSITIONS`, whose guards are small named functions (SENAITE style)::

    received ──investigate (investigator assigned; classified)──> investigating
    investigating ──respond (findings and conclusion recorded)──> responded
    responded ──close (QA signs "approved"; never the investigator)──> closed
    received / investigating / responded ──cancel (with a reason)──> cancelled

* The classification (critical / major / minor, with its rationale) is given at intake or later, before the
  response; an adverse reaction or a suspected counterfeit is at least major (:func:`check_category_rule`, also a
  CHECK in the database). The response is due :data:`DUE_DAYS` days after receipt by classification (an
  unclassified complaint is due as a critical one); a complaint not yet answered past its due date is *overdue*.
* The investigation records the findings, the root cause, whether the batch record and the retained sample were
  reviewed (with notes), and links to a deviation, a CAPA and a recall (each number must exist),
  and its conclusion: justified or not justified.
* QA (``qms.deviation.approve``) closes the complaint by an electronic signature (action ``qms.complaint.close``)
  on a :class:`ComplaintDecision` row naming the SM3 of the complaint's content (:func:`content_hash`); the
  investigator may not close their own complaint (SH-7.1.4). A closed or cancelled complaint is not changed.

Every refusal raises a typed, translatable error and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger, workflow
from pharmatrace.kernel.errors import N_, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.models import User
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import numbering
from pharmatrace.qms.complaint_models import (
    AT_LEAST_MAJOR,
    AWAITING_RESPONSE,
    CLASSIFICATION_LABELS,
    DUE_DAYS,
    OPEN_STATUSES,
    STATUS_LABELS,
    STATUSES,
    Complaint,
    ComplaintDecision,
)
from pharmatrace.qms.complaint_schemas import (
    ComplaintClassify,
    ComplaintClose,
    ComplaintCreate,
    ComplaintDetail,
    ComplaintPublic,
    DecisionPublic,
    InvestigationRecord,
    InvestigatorAssign,
    ResponseRecord,
)
from pharmatrace.qms.signatures import signatures_of

MANAGE_PERMISSION = "qms.complaint.manage"
VIEW_PERMISSION = "qms.view"
QA_PERMISSION = "qms.deviation.approve"
CLOSE_ACTION = "qms.complaint.close"  # signable action (kernel/esign/policy.py)
DECISION_TYPE = "qms_complaint_decision"


class ComplaintDutiesNotSegregated(NotPermitted):
    """The investigator of a complaint may not close it (SH-7.1.4)."""

    code = "complaint_duties"


class ComplaintTransitionRefused(Conflict):
    """A complaint step that its state or its guards do not allow now: the message says why."""

    code = "complaint_transition_refused"


# --- reading -------------------------------------------------------------------------------------------------


today = clock.today  # the plant's calendar day (Beijing)


def find_complaint(session: Session, number: str) -> Complaint | None:
    return session.scalar(select(Complaint).where(Complaint.number == number.strip().upper()))


def get_complaint(session: Session, number: str) -> Complaint:
    complaint = find_complaint(session, number)
    if complaint is None:
        raise NotFound(N_("No complaint {number}"), number=number)
    return complaint


def due_date(complaint: Complaint) -> date:
    """The response's due date: receipt (Beijing date) + the days of the classification (critical if none)."""
    days = DUE_DAYS[complaint.classification or "critical"]
    return clock.to_beijing(complaint.received_at).date() + timedelta(days=days)


def is_overdue(complaint: Complaint, on: date | None = None) -> bool:
    """Not yet answered and past its due date."""
    return complaint.status in AWAITING_RESPONSE and due_date(complaint) < (on or today())


def list_complaints(
    session: Session, *, status: str = "", classification: str = "", text: str = "", overdue: bool = False,
    on: date | None = None,
) -> list[Complaint]:  # fmt: skip
    """Complaints, newest first; ``status`` one of :data:`STATUSES` or ``open``; ``classification`` one of
    critical, major, minor or ``none``; ``text`` in number, batch, complainant; ``overdue`` only the overdue."""
    query = select(Complaint).order_by(Complaint.id.desc())
    if status == "open":
        query = query.where(Complaint.status.in_(OPEN_STATUSES))
    elif status in STATUSES:
        query = query.where(Complaint.status == status)
    if classification == "none":
        query = query.where(Complaint.classification.is_(None))
    elif classification in CLASSIFICATION_LABELS:
        query = query.where(Complaint.classification == classification)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            or_(
                Complaint.number.ilike(like),
                Complaint.batch_no.ilike(like),
                Complaint.complainant_name.ilike(like),
                Complaint.complainant_org.ilike(like),
            )
        )
    found = list(session.scalars(query))
    if overdue:
        found = [c for c in found if is_overdue(c, on)]
    return found


def complaints_for_batch(session: Session, batch_order_id: int) -> list[Complaint]:
    """The complaints about one batch, oldest first (for the batch record and a recall)."""
    return list(
        session.scalars(
            select(Complaint).where(Complaint.batch_order_id == batch_order_id).order_by(Complaint.id)
        )
    )


# --- content and its hash ------------------------------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def canonical_content(complaint: Complaint) -> str:
    """The complaint as canonical JSON — intake, classification, investigation, conclusion, response: what the
    closure's ``content_sm3`` hashes."""
    c = complaint
    return ledger.canonical_text({
        "number": c.number, "received_at": _when(c.received_at), "channel": c.channel,
        "complainant": [c.complainant_name, c.complainant_org, c.complainant_contact], "customer": c.customer_code,
        "category": c.category, "description": c.description, "batch_no": c.batch_no, "code": c.code_value,
        "classification": c.classification, "classification_rationale": c.classification_rationale,
        "investigator": c.investigator, "findings": c.findings, "root_cause": c.root_cause,
        "batch_record": [c.batch_record_reviewed, c.batch_record_notes],
        "retained_sample": [c.retained_sample_reviewed, c.retained_sample_notes],
        "deviation": c.deviation_number, "capa": c.capa_number, "recall": c.recall_number,
        "conclusion": c.conclusion, "response": c.response, "responded_at": _when(c.responded_at),
    })  # fmt: skip


def content_hash(complaint: Complaint) -> str:
    return crypto.sm3(canonical_content(complaint).encode()).hex()


# --- the state machine ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    complaint: Complaint
    principal: Principal


Guard = Callable[[Context], None]


def guard_classified(ctx: Context) -> None:
    if ctx.complaint.classification is None:
        raise ComplaintTransitionRefused(N_("Classify the complaint first"))


def guard_investigated(ctx: Context) -> None:
    if ctx.complaint.investigator is None or not ctx.complaint.findings:
        raise ComplaintTransitionRefused(N_("The investigation of {number} has no findings yet"),
                                         number=ctx.complaint.number)  # fmt: skip


def guard_concluded(ctx: Context) -> None:
    if ctx.complaint.conclusion is None:
        raise ComplaintTransitionRefused(
            N_("The investigation of {number} is not concluded (justified or not justified)"),
            number=ctx.complaint.number,
        )


def guard_responded(ctx: Context) -> None:
    if not ctx.complaint.response or ctx.complaint.responded_at is None:
        raise ComplaintTransitionRefused(N_("The complainant has not been answered yet"))


def guard_not_the_investigator(ctx: Context) -> None:
    # SH-7.1.4: who investigated a complaint may not close it.
    if ctx.principal.login == ctx.complaint.investigator:
        raise ComplaintDutiesNotSegregated(N_("The investigator of a complaint may not close it"))


Transition = workflow.Transition[Context]


# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("investigate", ("received",), "investigating", (MANAGE_PERMISSION,), (guard_classified,)),
        Transition("respond", ("investigating",), "responded", (MANAGE_PERMISSION,),
                   (guard_classified, guard_investigated, guard_concluded)),
        Transition("close", ("responded",), "closed", (QA_PERMISSION,),
                   (guard_investigated, guard_concluded, guard_responded, guard_not_the_investigator),
                   signed=CLOSE_ACTION),
        Transition("cancel", OPEN_STATUSES, "cancelled", (MANAGE_PERMISSION,), ()),
    )
}
# fmt: on


MACHINE = workflow.Machine(
    TRANSITIONS,
    Context,
    workflow.state_refusal(ComplaintTransitionRefused, STATUS_LABELS),
)
_refuse_state = MACHINE.refused
_check = MACHINE.check
allowed = MACHINE.allowed


def _editable(complaint: Complaint, statuses: tuple[str, ...]) -> None:
    """A closed or cancelled complaint is not changed; other steps have their states."""
    if complaint.status not in statuses:
        raise _refuse_state(complaint)


# --- checks against the plant --------------------------------------------------------------------------------


def check_category_rule(category: str, classification: str | None) -> None:
    """SH-6.2.4: an adverse reaction or a suspected counterfeit is at least major."""
    if classification == "minor" and category in AT_LEAST_MAJOR:
        raise ValidationFailed(
            N_("An adverse reaction or a suspected counterfeit is classified at least major")
        )


def _batch(session: Session, batch_no: str | None, scan: str | None) -> tuple[Any, Any]:
    """(the batch order, the code or None) the intake names; unknown ones and a mismatch are refused."""
    from pharmatrace.mes.execution_models import BatchOrder
    from pharmatrace.trace import codes

    code = None
    order = None
    if scan:
        code = codes.lookup(session, scan)
        if code is None:
            raise NotFound(N_("No traceability code {code}"), code=scan.strip()[:80])
        if code.batch_order_id is None:
            raise ValidationFailed(N_("The code {code} belongs to no batch yet"), code=code.value)
        order = session.get(BatchOrder, code.batch_order_id)
    if batch_no:
        named = session.scalar(select(BatchOrder).where(BatchOrder.batch_no == batch_no.strip().upper()))
        if named is None:
            raise NotFound(N_("No batch {batch}"), batch=batch_no)
        if order is not None and order.id != named.id:
            raise ValidationFailed(
                N_("The code {code} is of batch {actual}, not {batch}"),
                code=code.value if code is not None else "",
                actual=order.batch_no,
                batch=named.batch_no,
            )
        order = named
    if order is None:
        raise ValidationFailed(N_("Name the product: its batch number or a scanned traceability code"))
    return order, code


def _customer_name(session: Session, code: str | None) -> str | None:
    if not code:
        return None
    from pharmatrace.trace.models import Customer

    return session.scalar(select(Customer.name).where(Customer.code == code))


def _check_customer(session: Session, code: str | None) -> str | None:
    if not code:
        return None
    from pharmatrace.trace.models import Customer

    customer = session.scalar(select(Customer).where(Customer.code == code.strip().upper()))
    if customer is None or customer.voided_at is not None:
        raise NotFound(N_("No customer {code}"), code=code)
    return customer.code


def _investigator(session: Session, login: str) -> User:
    """An active account that may work on complaints."""
    user = identity.find_user(session, login)
    if user is None:
        raise NotFound(N_("No user {login}"), login=login)
    if not user.active:
        raise Conflict(N_("The account “{login}” is not active"), login=user.login)
    who = identity.principal_of(user)
    if not (who.can(MANAGE_PERMISSION) or who.can(QA_PERMISSION)):
        raise ValidationFailed(
            N_("{login} cannot investigate complaints: the account holds no complaint-handling role"),
            login=user.login,
        )
    return user


def _check_links(session: Session, body: InvestigationRecord) -> None:
    """Linked deviation, CAPA and recall numbers must name existing records."""
    if body.deviation_number:
        from pharmatrace.qms.deviations import get_deviation

        get_deviation(session, body.deviation_number)
    if body.capa_number:
        from pharmatrace.qms.capa import get_capa

        get_capa(session, body.capa_number)
    if body.recall_number:
        from pharmatrace.qms.recalls import get_recall

        get_recall(session, body.recall_number)


def _received_at(value: datetime | None) -> datetime:
    now = clock.now()
    if value is None:
        return now
    when = (value if value.tzinfo is not None else value.replace(tzinfo=clock.BEIJING)).astimezone(UTC)
    if when > now + timedelta(minutes=5):
        raise ValidationFailed(N_("The time cannot be in the future"))
    return when


def next_number(session: Session) -> str:
    """``CMP-2026-0001``: the year (Beijing) and a serial per year (``qms.numbering``)."""
    return numbering.next_number(session, "CMP", find_complaint)


# --- writing -------------------------------------------------------------------------------------------------


def create_complaint(uow: UnitOfWork, principal: Principal, body: ComplaintCreate) -> Complaint:
    """A complaint received (status ``received``), its product resolved to the batch."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    check_category_rule(body.category, body.classification)
    order, code = _batch(session, body.batch_no, body.code)
    customer = _check_customer(session, body.customer)
    received = _received_at(body.received_at)
    number = next_number(session)
    uow.reason = uow.reason or f"complaint {number} received"
    now = clock.now()
    complaint = Complaint(
        number=number, received_at=received, channel=body.channel, complainant_name=body.complainant_name,
        complainant_org=body.complainant_org, complainant_contact=body.complainant_contact, customer_code=customer,
        category=body.category, description=body.description, batch_order_id=order.id, batch_no=order.batch_no,
        order_no=order.order_no, product_code=order.product_code, product_name=order.product_name,
        code_id=code.id if code is not None else None, code_value=code.value if code is not None else None,
        classification=body.classification,
        classification_rationale=body.classification_rationale if body.classification else "",
        classified_at=now if body.classification else None,
        classified_by=principal.login if body.classification else None,
        findings="", root_cause="", batch_record_reviewed=False, batch_record_notes="",
        retained_sample_reviewed=False, retained_sample_notes="", status="received", created_at=now,
        created_by=principal.login, created_by_name=principal.full_name,
    )  # fmt: skip
    session.add(complaint)
    session.flush()
    return complaint


def classify(uow: UnitOfWork, principal: Principal, number: str, body: ComplaintClassify) -> Complaint:
    """The classification and its rationale, before the response; a change of one given needs a reason."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    complaint = get_complaint(session, number)
    _editable(complaint, AWAITING_RESPONSE)
    check_category_rule(complaint.category, body.classification)
    if complaint.classification is not None:
        if body.reason is None:
            raise ValidationFailed(N_("A reason is required for this change"))
        uow.reason = body.reason
    uow.reason = uow.reason or f"complaint {complaint.number} classified {body.classification}"
    complaint.classification = body.classification
    complaint.classification_rationale = body.rationale
    complaint.classified_at = clock.now()
    complaint.classified_by = principal.login
    session.flush()
    return complaint


def assign_investigator(
    uow: UnitOfWork, principal: Principal, number: str, body: InvestigatorAssign
) -> Complaint:
    """The investigation starts (``investigating``) with its investigator; a reassignment keeps the state."""
    session = uow.session
    complaint = get_complaint(session, number)
    if complaint.status == "investigating":
        principal.require(MANAGE_PERMISSION)
        transition = None
    else:
        transition = _check(session, principal, complaint, "investigate")
    user = _investigator(session, body.investigator)
    uow.reason = uow.reason or f"complaint {complaint.number}: investigator {user.login}"
    complaint.investigator = user.login
    complaint.investigator_name = user.full_name
    if transition is not None:
        complaint.status = transition.target
    session.flush()
    return complaint


def record_investigation(
    uow: UnitOfWork, principal: Principal, number: str, body: InvestigationRecord
) -> Complaint:
    """The investigation's findings, reviews, links and (when done) conclusion; recorded while under
    investigation — after the response only the links (a recall found later) change, with a reason."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    complaint = get_complaint(session, number)
    _editable(complaint, ("investigating", "responded"))
    _check_links(session, body)
    if complaint.status == "responded":
        fixed = (
            body.findings != complaint.findings or body.root_cause != complaint.root_cause
            or body.conclusion != complaint.conclusion
            or body.batch_record_reviewed != complaint.batch_record_reviewed
            or body.retained_sample_reviewed != complaint.retained_sample_reviewed
        )  # fmt: skip
        if fixed:
            raise ComplaintTransitionRefused(
                N_("{number} has been answered: only its links to a deviation, CAPA or recall may change"),
                number=complaint.number,
            )
        if body.reason is None:
            raise ValidationFailed(N_("A reason is required for this change"))
    uow.reason = uow.reason or body.reason or f"complaint {complaint.number}: investigation recorded"
    complaint.findings = body.findings
    complaint.root_cause = body.root_cause
    complaint.batch_record_reviewed = body.batch_record_reviewed
    complaint.batch_record_notes = body.batch_record_notes
    complaint.retained_sample_reviewed = body.retained_sample_reviewed
    complaint.retained_sample_notes = body.retained_sample_notes
    complaint.deviation_number = body.deviation_number
    complaint.capa_number = body.capa_number
    complaint.recall_number = body.recall_number
    if body.conclusion != complaint.conclusion:
        complaint.conclusion = body.conclusion
        complaint.investigated_at = clock.now() if body.conclusion else None
    session.flush()
    return complaint


def respond(uow: UnitOfWork, principal: Principal, number: str, body: ResponseRecord) -> Complaint:
    """The response given to the complainant (``responded``), once the investigation is concluded."""
    session = uow.session
    complaint = get_complaint(session, number)
    transition = _check(session, principal, complaint, "respond")
    when = _received_at(body.responded_at)
    if when < complaint.received_at:
        raise ValidationFailed(N_("The response cannot precede the complaint's receipt"))
    uow.reason = uow.reason or f"complaint {complaint.number}: complainant answered"
    complaint.response = body.response
    complaint.responded_at = when
    complaint.responded_by = principal.login
    complaint.status = transition.target
    session.flush()
    return complaint


def close(uow: UnitOfWork, principal: Principal, number: str, body: ComplaintClose) -> ComplaintDecision:
    """QA closes the complaint by signature on a decision naming the content SM3 (never its investigator)."""
    session = uow.session
    complaint = get_complaint(session, number)
    transition = _check(session, principal, complaint, "close")
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    uow.reason = uow.reason or f"complaint {complaint.number} closed"
    checked = content_hash(complaint)
    complaint.status = transition.target
    complaint.closed_at = clock.now()
    complaint.closed_by = principal.login
    session.flush()
    decision = ComplaintDecision(
        complaint_id=complaint.id, kind="close", content_sm3=checked, comment=body.comment,
        decided_at=clock.now(), decided_by=principal.login, decided_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=CLOSE_ACTION, password=body.password,
                              login=body.login, expire=(complaint, "decisions"))  # fmt: skip
    return decision


def cancel(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> Complaint:
    """A complaint cancelled before closure (registered twice, not a complaint) with the reason; it stays."""
    session = uow.session
    complaint = get_complaint(session, number)
    transition = _check(session, principal, complaint, "cancel")
    if len(reason.strip()) < 2:
        raise ValidationFailed(N_("A reason is required for this change"))
    uow.reason = reason.strip()
    complaint.status = transition.target
    complaint.cancelled_at = clock.now()
    complaint.cancelled_by = principal.login
    complaint.cancel_reason = reason.strip()[:500]
    session.flush()
    return complaint


# --- output --------------------------------------------------------------------------------------------------


def decision_public(session: Session, decision: ComplaintDecision) -> DecisionPublic:
    signatures = signatures_of(session, DECISION_TYPE, str(decision.id))
    return DecisionPublic(
        id=decision.id, kind=decision.kind, content_sm3=decision.content_sm3, comment=decision.comment,
        decided_at=decision.decided_at, decided_by=decision.decided_by, decided_by_name=decision.decided_by_name,
        signatures=signatures,
    )  # fmt: skip


def complaint_public(session: Session, complaint: Complaint, on: date | None = None) -> ComplaintPublic:
    c = complaint
    return ComplaintPublic(
        id=c.id, number=c.number, received_at=c.received_at, channel=c.channel, complainant_name=c.complainant_name,
        complainant_org=c.complainant_org, complainant_contact=c.complainant_contact, customer_code=c.customer_code,
        customer_name=_customer_name(session, c.customer_code), category=c.category, description=c.description,
        batch_no=c.batch_no, order_no=c.order_no, product_code=c.product_code, product_name=c.product_name,
        code_value=c.code_value, classification=c.classification,
        classification_rationale=c.classification_rationale, classified_at=c.classified_at,
        classified_by=c.classified_by, due_date=due_date(c), overdue=is_overdue(c, on), status=c.status,
        investigator=c.investigator, investigator_name=c.investigator_name, conclusion=c.conclusion,
        responded_at=c.responded_at, created_at=c.created_at, created_by=c.created_by,
        created_by_name=c.created_by_name, closed_at=c.closed_at, closed_by=c.closed_by,
        cancelled_at=c.cancelled_at, cancel_reason=c.cancel_reason,
    )  # fmt: skip


def complaint_detail(session: Session, complaint: Complaint, on: date | None = None) -> ComplaintDetail:
    c = complaint
    return ComplaintDetail(
        **complaint_public(session, c, on).model_dump(),
        findings=c.findings, root_cause=c.root_cause, batch_record_reviewed=c.batch_record_reviewed,
        batch_record_notes=c.batch_record_notes, retained_sample_reviewed=c.retained_sample_reviewed,
        retained_sample_notes=c.retained_sample_notes, deviation_number=c.deviation_number,
        capa_number=c.capa_number, recall_number=c.recall_number, investigated_at=c.investigated_at,
        response=c.response, responded_by=c.responded_by, content_sm3=content_hash(c),
        decisions=[decision_public(session, d) for d in c.decisions],
    )  # fmt: skip
