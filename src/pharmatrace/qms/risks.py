"""Quality risk assessment by FMEA (质量风险评估; SH-6.2.4, ICH Q9; issue 9 item 8): the service.

An assessment (``RA-YYYY-NNNN``) is drafted by a holder of ``qms.risk.manage``: its subject — a change control or
a deviation named by its number (an unknown one is refused), or a validation, a process, an equipment described in
text — the product or process step, the team, and two thresholds: the action threshold on the RPN (default 100)
and the severity threshold (default 9). Its failure modes (:class:`RiskItem`) carry severity, occurrence and
detection (1–10 each) and the RPN = S × O × D, computed here and kept by a CHECK in the database. A failure mode
*needs an action* when its RPN reaches the action threshold or its severity the severity threshold: the action in
text or a linked CAPA (which must exist). Its lifecycle is the declared state machine :data:`TRANSITIONS`::

    draft ──submit (failure modes; every one that needs an action has one)──> in_review
    in_review ──return (with a reason)──> draft
    in_review ──approve (QA signs; residual RPN below the threshold; never the author)──> approved
    approved ──revise (with a reason; revision + 1)──> draft
    draft / in_review / approved ──withdraw (with a reason)──> withdrawn

* Failure modes are added, changed and voided (with a reason, never deleted) while the assessment is a draft.
* QA (``qms.deviation.approve``, and ``qms.risk.manage``) approves by an electronic signature (``qms.risk.approve``)
  on a :class:`RiskDecision` row keeping the canonical content of the revision (every live failure mode with its
  scores, :func:`canonical_content`) and its SM3; the author may not approve their own assessment (SH-7.1.4). A
  new revision re-opens the approved assessment as a draft: the approved content stays in its decision row.
* :func:`matrix` counts the failure modes by RPN band — high (≥ the threshold), medium (≥ half of it), low —
  before and after mitigation; :func:`risks_for` lists the assessments of a change, a deviation or another subject.

Every refusal raises a typed, translatable error and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger, workflow
from pharmatrace.kernel.errors import N_, Conflict, NotFound, NotPermitted
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import numbering
from pharmatrace.qms.risk_models import (
    LINKED_SUBJECTS,
    OPEN_STATUSES,
    STATUS_LABELS,
    STATUSES,
    SUBJECT_KINDS,
    RiskAssessment,
    RiskDecision,
    RiskItem,
)
from pharmatrace.qms.risk_schemas import (
    AssessmentApprove,
    AssessmentCreate,
    AssessmentDetail,
    AssessmentPublic,
    AssessmentUpdate,
    BandCounts,
    DecisionPublic,
    ItemPublic,
    RiskItemInput,
    RiskMatrix,
)
from pharmatrace.qms.signatures import signatures_of

MANAGE_PERMISSION = "qms.risk.manage"
VIEW_PERMISSION = "qms.view"
QA_PERMISSION = "qms.deviation.approve"  # the signature step of qms.risk.approve (kernel/esign/policy.py)
APPROVE_ACTION = "qms.risk.approve"
DECISION_TYPE = "qms_risk_decision"


class RiskDutiesNotSegregated(NotPermitted):
    """The author of a risk assessment may not approve it (SH-7.1.4)."""

    code = "risk_duties"


class RiskTransitionRefused(Conflict):
    """A step of a risk assessment that its state or its guards do not allow now: the message says why."""

    code = "risk_transition_refused"


# --- reading -------------------------------------------------------------------------------------------------


def find_assessment(session: Session, number: str) -> RiskAssessment | None:
    return session.scalar(select(RiskAssessment).where(RiskAssessment.number == number.strip().upper()))


def get_assessment(session: Session, number: str) -> RiskAssessment:
    assessment = find_assessment(session, number)
    if assessment is None:
        raise NotFound(N_("No risk assessment {number}"), number=number)
    return assessment


def live_items(assessment: RiskAssessment) -> list[RiskItem]:
    return [i for i in assessment.items if i.voided_at is None]


def get_item(assessment: RiskAssessment, seq: int) -> RiskItem:
    for item in assessment.items:
        if item.seq == seq:
            return item
    raise NotFound(N_("No failure mode {seq} in {number}"), seq=seq, number=assessment.number)


def list_assessments(
    session: Session, *, status: str = "", subject_kind: str = "", text: str = ""
) -> list[RiskAssessment]:
    """Assessments, newest first; ``status`` one of :data:`STATUSES` or ``open``; ``subject_kind`` one of
    :data:`SUBJECT_KINDS`; ``text`` in number, title, subject, product or step."""
    query = select(RiskAssessment).order_by(RiskAssessment.id.desc())
    if status == "open":
        query = query.where(RiskAssessment.status.in_(OPEN_STATUSES))
    elif status in STATUSES:
        query = query.where(RiskAssessment.status == status)
    if subject_kind in SUBJECT_KINDS:
        query = query.where(RiskAssessment.subject_kind == subject_kind)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            or_(
                RiskAssessment.number.ilike(like),
                RiskAssessment.title.ilike(like),
                RiskAssessment.subject_ref.ilike(like),
                RiskAssessment.product_step.ilike(like),
            )
        )
    return list(session.scalars(query))


def risks_for(session: Session, subject_kind: str, subject_ref: str) -> list[RiskAssessment]:
    """The assessments of one subject (a change control's or a deviation's number, or the text of another
    subject), oldest first: for the change and deviation pages."""
    ref = subject_ref.strip().upper() if subject_kind in LINKED_SUBJECTS else subject_ref.strip()
    query = select(RiskAssessment).where(
        RiskAssessment.subject_kind == subject_kind, RiskAssessment.subject_ref == ref
    )
    return list(session.scalars(query.order_by(RiskAssessment.id)))


# --- scores --------------------------------------------------------------------------------------------------


def rpn(severity: int, occurrence: int, detection: int) -> int:
    """The risk priority number S × O × D (1–1000)."""
    return severity * occurrence * detection


def band(assessment: RiskAssessment, value: int) -> str:
    """high (≥ the action threshold), medium (≥ half of it), low."""
    if value >= assessment.action_threshold:
        return "high"
    if 2 * value >= assessment.action_threshold:
        return "medium"
    return "low"


def needs_action(assessment: RiskAssessment, item: RiskItem) -> bool:
    """SH-6.2.4: an RPN at or above the action threshold, or a severity at or above the severity threshold."""
    return item.rpn >= assessment.action_threshold or item.severity >= assessment.severity_threshold


def has_action(item: RiskItem) -> bool:
    return bool(item.action.strip()) or bool(item.capa_number)


def mitigated(assessment: RiskAssessment, item: RiskItem) -> bool:
    """Residual scores given and their RPN below the action threshold."""
    return item.residual_rpn is not None and item.residual_rpn < assessment.action_threshold


def _heat_index(score: int) -> int:
    return (score - 1) // 2  # 1–2 → 0 … 9–10 → 4


def matrix(assessment: RiskAssessment) -> RiskMatrix:
    """Live failure modes by RPN band before and after mitigation (an item without residual scores counts
    after mitigation as before), and the severity × occurrence heat map in pairs of scores (5 × 5)."""
    before = dict.fromkeys(("high", "medium", "low"), 0)
    after = dict(before)
    heat = [[0] * 5 for _ in range(5)]
    unmitigated = 0
    for item in live_items(assessment):
        before[band(assessment, item.rpn)] += 1
        if item.residual_rpn is None:
            unmitigated += 1
            after[band(assessment, item.rpn)] += 1
        else:
            after[band(assessment, item.residual_rpn)] += 1
        heat[4 - _heat_index(item.severity)][_heat_index(item.occurrence)] += 1
    return RiskMatrix(
        before=BandCounts(**before), after=BandCounts(**after), unmitigated=unmitigated, heat=heat
    )


# --- content and its hash ------------------------------------------------------------------------------------


def canonical_content(assessment: RiskAssessment) -> str:
    """The revision as canonical JSON — its header and every live failure mode with its scores, action and
    residual scores: what the approval keeps and its ``content_sm3`` hashes."""
    a = assessment
    return ledger.canonical_text({
        "number": a.number, "revision": a.revision, "title": a.title, "scope": a.scope,
        "subject": [a.subject_kind, a.subject_ref], "product_step": a.product_step,
        "thresholds": {"rpn": a.action_threshold, "severity": a.severity_threshold}, "team": a.team,
        "author": a.author,
        "items": [
            {"seq": i.seq, "step": i.step, "failure_mode": i.failure_mode, "effect": i.effect, "cause": i.cause,
             "controls": i.controls, "s": i.severity, "o": i.occurrence, "d": i.detection, "rpn": i.rpn,
             "action": i.action, "owner": i.action_owner, "capa": i.capa_number,
             "residual": [i.residual_severity, i.residual_occurrence, i.residual_detection, i.residual_rpn],
             # only when given, so that what was approved before 0047 keeps its SM3
             **({"acceptance": i.residual_acceptance} if i.residual_acceptance else {})}
            for i in live_items(a)
        ],
    })  # fmt: skip


def content_hash(assessment: RiskAssessment) -> str:
    return crypto.sm3(canonical_content(assessment).encode()).hex()


# --- the state machine ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    assessment: RiskAssessment
    principal: Principal


Guard = Callable[[Context], None]


def guard_has_items(ctx: Context) -> None:
    if not live_items(ctx.assessment):
        raise RiskTransitionRefused(N_("{number} has no failure mode yet"), number=ctx.assessment.number)


def guard_actions(ctx: Context) -> None:
    # SH-6.2.4: every failure mode at or above a threshold has its action before review
    a = ctx.assessment
    missing = [str(i.seq) for i in live_items(a) if needs_action(a, i) and not has_action(i)]
    if missing:
        raise RiskTransitionRefused(
            N_("Failure modes {seqs} of {number} reach a threshold and have no action (text or CAPA)"),
            seqs=", ".join(missing),
            number=a.number,
        )


def guard_mitigated(ctx: Context) -> None:
    # SH-6.2.4, ICH Q9: what needs an action is accepted only once its residual RPN is below the threshold
    a = ctx.assessment
    missing = [str(i.seq) for i in live_items(a) if needs_action(a, i) and not mitigated(a, i)]
    if missing:
        raise RiskTransitionRefused(
            N_("Failure modes {seqs} of {number} have no residual scores with an RPN below {threshold}"),
            seqs=", ".join(missing),
            number=a.number,
            threshold=a.action_threshold,
        )
    # ICH Q9: a mitigation lowers the occurrence or improves the detection, rarely the severity; a residual risk
    # that is still this severe is accepted explicitly, with the reasoning, not by its RPN alone
    unaccepted = [str(i.seq) for i in live_items(a) if i.residual_severity is not None
                  and i.residual_severity >= a.severity_threshold and not i.residual_acceptance.strip()]  # fmt: skip
    if unaccepted:
        raise RiskTransitionRefused(
            N_(
                "Failure modes {seqs} of {number} keep a residual severity of {threshold} or more: "
                "record why the residual risk is acceptable"
            ),
            seqs=", ".join(unaccepted),
            number=a.number,
            threshold=a.severity_threshold,
        )


def guard_not_the_author(ctx: Context) -> None:
    # SH-7.1.4: who wrote an assessment does not approve it.
    if ctx.principal.login == ctx.assessment.author:
        raise RiskDutiesNotSegregated(N_("The author of a risk assessment may not approve it"))


Transition = workflow.Transition[Context]


# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("submit", ("draft",), "in_review", (MANAGE_PERMISSION,), (guard_has_items, guard_actions)),
        Transition("return", ("in_review",), "draft", (MANAGE_PERMISSION,), ()),
        Transition("approve", ("in_review",), "approved", (QA_PERMISSION,),
                   (guard_has_items, guard_actions, guard_mitigated, guard_not_the_author),
                   signed=APPROVE_ACTION),
        Transition("revise", ("approved",), "draft", (MANAGE_PERMISSION,), ()),
        Transition("withdraw", ("draft", "in_review", "approved"), "withdrawn", (MANAGE_PERMISSION,), ()),
    )
}
# fmt: on


MACHINE = workflow.Machine(
    TRANSITIONS,
    Context,
    workflow.state_refusal(RiskTransitionRefused, STATUS_LABELS),
    require=MANAGE_PERMISSION,
)  # every write needs qms.risk.manage first
_refuse_state = MACHINE.refused
_check = MACHINE.check
allowed = MACHINE.allowed


def _draft(principal: Principal, assessment: RiskAssessment) -> None:
    """Failure modes and the header change only while a draft."""
    principal.require(MANAGE_PERMISSION)
    if assessment.status != "draft":
        raise _refuse_state(assessment)


# --- checks against the plant --------------------------------------------------------------------------------


def _check_subject(session: Session, kind: str, ref: str) -> str:
    """A change or a deviation must exist (its number as stored); the other subjects are text."""
    if kind == "change":
        from pharmatrace.qms.changes import get_change

        return get_change(session, ref).number
    if kind == "deviation":
        from pharmatrace.qms.deviations import get_deviation

        return get_deviation(session, ref).number
    return ref.strip()


def _check_capa(session: Session, number: str | None) -> str | None:
    if not number:
        return None
    from pharmatrace.qms.capa import get_capa

    return get_capa(session, number).number


def next_number(session: Session) -> str:
    """``RA-2026-0001``: the year (Beijing) and a serial per year (``qms.numbering``)."""
    return numbering.next_number(session, "RA", find_assessment)


# --- writing -------------------------------------------------------------------------------------------------


def create_assessment(uow: UnitOfWork, principal: Principal, body: AssessmentCreate) -> RiskAssessment:
    """A new FMEA (``draft``) by its author."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    subject = _check_subject(session, body.subject_kind, body.subject_ref)
    number = next_number(session)
    uow.reason = uow.reason or f"risk assessment {number} drafted"
    assessment = RiskAssessment(
        number=number, title=body.title, scope=body.scope, subject_kind=body.subject_kind, subject_ref=subject,
        product_step=body.product_step, action_threshold=body.action_threshold,
        severity_threshold=body.severity_threshold, team=body.team, author=principal.login,
        author_name=principal.full_name, revision=1, status="draft", created_at=clock.now(),
    )  # fmt: skip
    session.add(assessment)
    session.flush()
    return assessment


def update_assessment(
    uow: UnitOfWork, principal: Principal, number: str, body: AssessmentUpdate
) -> RiskAssessment:
    """The header of a draft: title, scope, subject, step, thresholds, team."""
    session = uow.session
    assessment = get_assessment(session, number)
    _draft(principal, assessment)
    subject = _check_subject(session, body.subject_kind, body.subject_ref)
    uow.reason = uow.reason or f"risk assessment {assessment.number}: header changed"
    assessment.title = body.title
    assessment.scope = body.scope
    assessment.subject_kind = body.subject_kind
    assessment.subject_ref = subject
    assessment.product_step = body.product_step
    assessment.action_threshold = body.action_threshold
    assessment.severity_threshold = body.severity_threshold
    assessment.team = body.team
    session.flush()
    return assessment


def _fill(session: Session, item: RiskItem, body: RiskItemInput) -> None:
    item.step = body.step
    item.failure_mode = body.failure_mode
    item.effect = body.effect
    item.cause = body.cause
    item.controls = body.controls
    item.severity, item.occurrence, item.detection = body.severity, body.occurrence, body.detection
    item.rpn = rpn(body.severity, body.occurrence, body.detection)
    item.action = body.action
    item.action_owner = body.action_owner
    item.capa_number = _check_capa(session, body.capa_number)
    item.residual_severity = body.residual_severity
    item.residual_occurrence = body.residual_occurrence
    item.residual_detection = body.residual_detection
    rs, ro, rd = body.residual_severity, body.residual_occurrence, body.residual_detection
    item.residual_rpn = rpn(rs, ro, rd) if rs is not None and ro is not None and rd is not None else None
    item.residual_acceptance = body.residual_acceptance


def add_item(uow: UnitOfWork, principal: Principal, number: str, body: RiskItemInput) -> RiskItem:
    """A failure mode added to a draft, numbered after the last one (voided ones keep their number)."""
    session = uow.session
    assessment = get_assessment(session, number)
    _draft(principal, assessment)
    seq = max((i.seq for i in assessment.items), default=0) + 1
    uow.reason = uow.reason or f"risk assessment {assessment.number}: failure mode {seq} added"
    item = RiskItem(assessment_id=assessment.id, seq=seq, created_at=clock.now(), created_by=principal.login)
    _fill(session, item, body)
    session.add(item)
    session.flush()
    session.expire(assessment, ["items"])
    return item


def update_item(
    uow: UnitOfWork, principal: Principal, number: str, seq: int, body: RiskItemInput
) -> RiskItem:
    """A failure mode of a draft changed: its scores, action or residual scores (the RPN computed again)."""
    session = uow.session
    assessment = get_assessment(session, number)
    _draft(principal, assessment)
    item = get_item(assessment, seq)
    if item.voided_at is not None:
        raise Conflict(N_("Failure mode {seq} is void"), seq=seq)
    uow.reason = uow.reason or f"risk assessment {assessment.number}: failure mode {seq} changed"
    _fill(session, item, body)
    session.flush()
    return item


def void_item(uow: UnitOfWork, principal: Principal, number: str, seq: int, reason: str) -> RiskItem:
    """A failure mode of a draft put out of the assessment with a reason; it stays, void."""
    session = uow.session
    assessment = get_assessment(session, number)
    _draft(principal, assessment)
    item = get_item(assessment, seq)
    if item.voided_at is not None:
        raise Conflict(N_("Failure mode {seq} is void"), seq=seq)
    uow.void(item, uow.give_reason(reason))
    session.expire(assessment, ["items"])
    return item


def submit(uow: UnitOfWork, principal: Principal, number: str) -> RiskAssessment:
    """The draft goes to review once every failure mode that needs an action has one."""
    session = uow.session
    assessment = get_assessment(session, number)
    transition = _check(session, principal, assessment, "submit")
    uow.reason = uow.reason or f"risk assessment {assessment.number} rev {assessment.revision} submitted"
    assessment.status = transition.target
    assessment.submitted_at = clock.now()
    assessment.submitted_by = principal.login
    session.flush()
    return assessment


def return_to_draft(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> RiskAssessment:
    """The reviewer sends the assessment back to its author, with a reason."""
    session = uow.session
    assessment = get_assessment(session, number)
    transition = _check(session, principal, assessment, "return")
    uow.give_reason(reason)
    assessment.status = transition.target
    session.flush()
    return assessment


def approve(uow: UnitOfWork, principal: Principal, number: str, body: AssessmentApprove) -> RiskDecision:
    """QA approves the revision by signature on a decision keeping its content and SM3 (never its author)."""
    session = uow.session
    assessment = get_assessment(session, number)
    transition = _check(session, principal, assessment, "approve")
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    uow.reason = uow.reason or f"risk assessment {assessment.number} rev {assessment.revision} approved"
    content = canonical_content(assessment)
    now = clock.now()
    assessment.status = transition.target
    assessment.approved_at = now
    assessment.approved_by = principal.login
    session.flush()
    decision = RiskDecision(
        assessment_id=assessment.id, revision=assessment.revision, kind="approve", content=content,
        content_sm3=crypto.sm3(content.encode()).hex(), comment=body.comment, decided_at=now,
        decided_by=principal.login, decided_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=APPROVE_ACTION, password=body.password,
                              login=body.login, expire=(assessment, "decisions"))  # fmt: skip
    return decision


def revise(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> RiskAssessment:
    """An approved assessment re-opened as the draft of its next revision; the approval stays in its decision."""
    session = uow.session
    assessment = get_assessment(session, number)
    transition = _check(session, principal, assessment, "revise")
    uow.give_reason(reason)
    assessment.status = transition.target
    assessment.revision += 1
    assessment.submitted_at = assessment.submitted_by = None
    assessment.approved_at = assessment.approved_by = None
    session.flush()
    return assessment


def withdraw(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> RiskAssessment:
    """An assessment no longer in force, with the reason; it stays."""
    session = uow.session
    assessment = get_assessment(session, number)
    transition = _check(session, principal, assessment, "withdraw")
    uow.give_reason(reason)
    assessment.status = transition.target
    assessment.withdrawn_at = clock.now()
    assessment.withdrawn_by = principal.login
    assessment.withdraw_reason = uow.reason
    session.flush()
    return assessment


# --- output --------------------------------------------------------------------------------------------------


def decision_public(session: Session, decision: RiskDecision) -> DecisionPublic:
    signatures = signatures_of(session, DECISION_TYPE, str(decision.id))
    d = decision
    return DecisionPublic(
        id=d.id, revision=d.revision, kind=d.kind, content_sm3=d.content_sm3, comment=d.comment,
        decided_at=d.decided_at, decided_by=d.decided_by, decided_by_name=d.decided_by_name, signatures=signatures,
    )  # fmt: skip


def item_public(assessment: RiskAssessment, item: RiskItem) -> ItemPublic:
    i = item
    return ItemPublic(
        id=i.id, seq=i.seq, step=i.step, failure_mode=i.failure_mode, effect=i.effect, cause=i.cause,
        controls=i.controls, severity=i.severity, occurrence=i.occurrence, detection=i.detection, rpn=i.rpn,
        band=band(assessment, i.rpn), needs_action=needs_action(assessment, i), action=i.action,
        action_owner=i.action_owner, capa_number=i.capa_number, residual_severity=i.residual_severity,
        residual_occurrence=i.residual_occurrence, residual_detection=i.residual_detection,
        residual_rpn=i.residual_rpn, residual_acceptance=i.residual_acceptance,
        residual_band=band(assessment, i.residual_rpn) if i.residual_rpn is not None else None,
        voided_at=i.voided_at, void_reason=i.void_reason,
    )  # fmt: skip


def assessment_public(assessment: RiskAssessment) -> AssessmentPublic:
    a = assessment
    live = live_items(a)
    return AssessmentPublic(
        id=a.id, number=a.number, title=a.title, subject_kind=a.subject_kind, subject_ref=a.subject_ref,
        product_step=a.product_step, action_threshold=a.action_threshold, severity_threshold=a.severity_threshold,
        author=a.author, author_name=a.author_name, revision=a.revision, status=a.status, items=len(live),
        high_items=sum(1 for i in live if band(a, i.rpn) == "high"), created_at=a.created_at,
        approved_at=a.approved_at, approved_by=a.approved_by, withdrawn_at=a.withdrawn_at,
        withdraw_reason=a.withdraw_reason,
    )  # fmt: skip


def assessment_detail(session: Session, assessment: RiskAssessment) -> AssessmentDetail:
    a = assessment
    return AssessmentDetail(
        **assessment_public(a).model_dump(), scope=a.scope, team=a.team, submitted_at=a.submitted_at,
        submitted_by=a.submitted_by, content_sm3=content_hash(a),
        risk_items=[item_public(a, i) for i in a.items], matrix=matrix(a),
        decisions=[decision_public(session, d) for d in a.decisions],
    )  # fmt: skip
