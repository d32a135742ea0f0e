"""Validation and qualification (验证与确认; SH-6.2.4, SH-6.3.2.1.c, TJ-10.3, TJ-11.2.1, GMP Annex 15; issue 9
item 10): the service.

A validation (``VAL-YYYY-NNNN``) is planned by a holder of ``qms.validation.manage``: its kind — equipment
qualification, process, cleaning, analytical method, computerized system, utility — its subject (for an equipment
qualification an equipment of the register by its code, refused if unknown or void; otherwise text), the change
control and the risk assessment it answers to (each must exist: TJ-10.3, a change may require validation), the
stages it covers (:data:`~pharmatrace.qms.validation_models.KIND_STAGES`) and the revalidation interval in months.
Its protocol items (:class:`ValidationTest`) carry the stage, the test, the procedure and the acceptance criterion.
Its lifecycle is the declared state machine :data:`TRANSITIONS`::

    draft ──submit (a test for every stage)──> protocol_review
    protocol_review ──return (with a reason)──> draft
    protocol_review ──approve_protocol (QA signs; never the author)──> executing
    executing ──submit_report (every live test has a result; each failure names its deviation; a conclusion)──>
        report_review
    report_review ──return_report (with a reason)──> executing
    report_review ──approve_report (QA signs; never the author)──> completed
    draft / protocol_review / executing / report_review ──cancel (with a reason)──> cancelled

* Protocol items are added, changed and voided (with a reason, never deleted) only while the protocol is a draft.
* Results are recorded only while executing, append-only at the server's time; a correction is a new row with its
  reason that supersedes the current one, the original stays. A failed test needs an existing deviation before the
  report is submitted (named with the failure or by a correction).
* The outcome of an approved report is ``validated`` when every current result passes, ``failed`` otherwise (every
  failure then has its deviation): QA approves what was found, the outcome follows from the results and is kept in
  the signed decision. A validated project gets ``revalidation_due`` = the completion date (Beijing) + the interval;
  a failed one none — the subject needs a new validation once its deviation is closed.
* An equipment qualification's approved report appends a ``qualification`` entry (pass or fail, referencing the
  number) to the equipment's logbook in the same unit of work, so the equipment's qualification status follows
  (SH-6.3.2.1.c).
* QA (``qms.deviation.approve`` and ``qms.validation.manage``) signs ``qms.validation.protocol.approve`` and
  ``qms.validation.report.approve`` on :class:`ValidationDecision` rows keeping the canonical content and its SM3;
  the author may approve neither (SH-7.1.4).
* :func:`due_for_revalidation` lists the validated projects whose revalidation is due within a window or overdue and
  that no newer validation of the same subject has followed.

Every refusal raises a typed, translatable error and changes nothing.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger, workflow
from pharmatrace.kernel.errors import N_, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import numbering
from pharmatrace.qms.signatures import signatures_of
from pharmatrace.qms.validation_models import (
    KINDS,
    OPEN_STATUSES,
    STATUS_LABELS,
    STATUSES,
    Validation,
    ValidationDecision,
    ValidationResult,
    ValidationTest,
)
from pharmatrace.qms.validation_schemas import (
    DecisionPublic,
    DuePublic,
    ProtocolItemInput,
    ProtocolItemPublic,
    ReportSubmit,
    ResultInput,
    ResultPublic,
    SignBody,
    ValidationCreate,
    ValidationDetail,
    ValidationPublic,
)

MANAGE_PERMISSION = "qms.validation.manage"
VIEW_PERMISSION = "qms.view"
QA_PERMISSION = "qms.deviation.approve"  # the signature step of both actions (kernel/esign/policy.py)
PROTOCOL_ACTION = "qms.validation.protocol.approve"
REPORT_ACTION = "qms.validation.report.approve"
DECISION_TYPE = "qms_validation_decision"
DEFAULT_DUE_WINDOW_DAYS = 90


class ValidationDutiesNotSegregated(NotPermitted):
    """The author of a validation approves neither its protocol nor its report (SH-7.1.4)."""

    code = "validation_duties"


class ValidationTransitionRefused(Conflict):
    """A step of a validation that its state or its guards do not allow now: the message says why."""

    code = "validation_transition_refused"


# --- reading -------------------------------------------------------------------------------------------------


def find_validation(session: Session, number: str) -> Validation | None:
    return session.scalar(select(Validation).where(Validation.number == number.strip().upper()))


def get_validation(session: Session, number: str) -> Validation:
    validation = find_validation(session, number)
    if validation is None:
        raise NotFound(N_("No validation {number}"), number=number)
    return validation


def stages_of(validation: Validation) -> list[str]:
    return [s for s in validation.stages.split(",") if s]


def live_tests(validation: Validation) -> list[ValidationTest]:
    return [t for t in validation.tests if t.voided_at is None]


def get_test(validation: Validation, seq: int) -> ValidationTest:
    for test in validation.tests:
        if test.seq == seq:
            return test
    raise NotFound(N_("No test {seq} in {number}"), seq=seq, number=validation.number)


def current_results(validation: Validation) -> dict[int, ValidationResult]:
    """The current result of each test (by test id): the one no later row supersedes."""
    superseded = {r.supersedes_id for r in validation.results if r.supersedes_id is not None}
    return {r.test_id: r for r in validation.results if r.id not in superseded}


def list_validations(
    session: Session, *, status: str = "", kind: str = "", text: str = ""
) -> list[Validation]:
    """Validations, newest first; ``status`` one of :data:`STATUSES` or ``open``; ``kind`` one of :data:`KINDS`;
    ``text`` in number, title or subject."""
    query = select(Validation).order_by(Validation.id.desc())
    if status == "open":
        query = query.where(Validation.status.in_(OPEN_STATUSES))
    elif status in STATUSES:
        query = query.where(Validation.status == status)
    if kind in KINDS:
        query = query.where(Validation.kind == kind)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            or_(Validation.number.ilike(like), Validation.title.ilike(like), Validation.subject.ilike(like))
        )
    return list(session.scalars(query))


def validations_for_equipment(session: Session, equipment_id: int) -> list[Validation]:
    """The qualifications of one equipment, newest first: for the equipment's page."""
    query = select(Validation).where(Validation.equipment_id == equipment_id).order_by(Validation.id.desc())
    return list(session.scalars(query))


def open_count(session: Session) -> int:
    """Validations not yet completed nor cancelled (for the QMS overview)."""
    query = select(func.count()).select_from(Validation).where(Validation.status.in_(OPEN_STATUSES))
    return int(session.scalar(query) or 0)


def add_months(day: date, months: int) -> date:
    """``day`` + ``months`` calendar months, the day kept or clamped to the month's last."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_for_revalidation(session: Session, within_days: int = DEFAULT_DUE_WINDOW_DAYS) -> list[Validation]:
    """Validated projects whose revalidation is due within ``within_days`` or overdue, soonest first, unless a
    newer validation of the same kind and subject (open or completed) has followed (SH-6.3.2.1.c)."""
    horizon = clock.today() + timedelta(days=within_days)
    candidates = session.scalars(
        select(Validation)
        .where(Validation.status == "completed", Validation.revalidation_due.is_not(None))
        .where(Validation.revalidation_due <= horizon)
        .order_by(Validation.revalidation_due, Validation.id)
    )
    due = []
    for v in candidates:
        newer = session.scalar(
            select(func.count())
            .select_from(Validation)
            .where(Validation.kind == v.kind, Validation.subject == v.subject, Validation.id > v.id)
            .where(Validation.status != "cancelled")
        )
        if not newer:
            due.append(v)
    return due


def due_count(session: Session, within_days: int = DEFAULT_DUE_WINDOW_DAYS) -> int:
    """How many validations are due for revalidation (for the QMS overview)."""
    return len(due_for_revalidation(session, within_days))


# --- content and its hash ------------------------------------------------------------------------------------


def _header(v: Validation) -> dict[str, object]:
    return {"number": v.number, "kind": v.kind, "title": v.title, "scope": v.scope, "subject": v.subject,
            "change": v.change_number, "risk": v.risk_number, "stages": stages_of(v),
            "revalidation_months": v.revalidation_months, "author": v.author}  # fmt: skip


def _tests(v: Validation) -> list[dict[str, object]]:
    return [{"seq": t.seq, "stage": t.stage, "item": t.item, "procedure": t.procedure, "criterion": t.criterion}
            for t in live_tests(v)]  # fmt: skip


def protocol_content(validation: Validation) -> str:
    """The protocol as canonical JSON — the header and every live test with its acceptance criterion: what the
    protocol approval keeps and its ``content_sm3`` hashes."""
    return ledger.canonical_text({**_header(validation), "tests": _tests(validation)})


def report_content(validation: Validation) -> str:
    """The report as canonical JSON — the protocol, the current result of every live test, the conclusion and
    the outcome: what the report approval keeps."""
    current = current_results(validation)
    results = []
    for t in live_tests(validation):
        r = current[t.id]
        results.append({"seq": t.seq, "observed": r.observed, "outcome": r.outcome, "deviation": r.deviation_number,
                        "executed_by": r.executed_by, "executed_at": r.executed_at.isoformat()})  # fmt: skip
    return ledger.canonical_text({**_header(validation), "tests": _tests(validation), "results": results,
                                  "conclusion": validation.conclusion, "outcome": outcome_of(validation)})  # fmt: skip


def content_hash(validation: Validation) -> str:
    return crypto.sm3(protocol_content(validation).encode()).hex()


def outcome_of(validation: Validation) -> str:
    """``validated`` when every live test's current result passes, ``failed`` otherwise."""
    current = current_results(validation)
    passed = all(t.id in current and current[t.id].outcome == "pass" for t in live_tests(validation))
    return "validated" if passed else "failed"


# --- the state machine ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    validation: Validation
    principal: Principal


Guard = Callable[[Context], None]


def guard_stages_covered(ctx: Context) -> None:
    # Annex 15: the protocol has a test with its acceptance criterion for every stage it covers
    v = ctx.validation
    covered = {t.stage for t in live_tests(v)}
    missing = [s for s in stages_of(v) if s not in covered]
    if missing:
        raise ValidationTransitionRefused(
            N_("{number} has no test for the stages {stages}"), number=v.number, stages=", ".join(missing)
        )


def guard_results_complete(ctx: Context) -> None:
    v = ctx.validation
    current = current_results(v)
    missing = [str(t.seq) for t in live_tests(v) if t.id not in current]
    if missing:
        raise ValidationTransitionRefused(
            N_("Tests {seqs} of {number} have no result"), seqs=", ".join(missing), number=v.number
        )


def guard_failures_investigated(ctx: Context) -> None:
    # A failed acceptance criterion is a deviation, investigated before the report (GMP Annex 15, 2.6)
    v = ctx.validation
    current = current_results(v)
    missing = [
        str(t.seq)
        for t in live_tests(v)
        if t.id in current and current[t.id].outcome == "fail" and not current[t.id].deviation_number
    ]
    if missing:
        raise ValidationTransitionRefused(
            N_("Failed tests {seqs} of {number} name no deviation"), seqs=", ".join(missing), number=v.number
        )


def guard_not_the_author(ctx: Context) -> None:
    # SH-7.1.4: who wrote the protocol approves neither it nor its report.
    if ctx.principal.login == ctx.validation.author:
        raise ValidationDutiesNotSegregated(
            N_("The author of a validation may not approve its protocol or report")
        )


def guard_not_an_executor(ctx: Context) -> None:
    # SH-7.1.4: who recorded a result the report rests on does not approve the report (four eyes on the results).
    if any(r.executed_by == ctx.principal.login for r in current_results(ctx.validation).values()):
        raise ValidationDutiesNotSegregated(
            N_("Who recorded results of a validation may not approve its report")
        )


Transition = workflow.Transition[Context]
REPORT_GUARDS = (guard_results_complete, guard_failures_investigated)


# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("submit", ("draft",), "protocol_review", (MANAGE_PERMISSION,), (guard_stages_covered,)),
        Transition("return", ("protocol_review",), "draft", (MANAGE_PERMISSION,), ()),
        Transition("approve_protocol", ("protocol_review",), "executing", (QA_PERMISSION,),
                   (guard_stages_covered, guard_not_the_author), signed=PROTOCOL_ACTION),
        Transition("submit_report", ("executing",), "report_review", (MANAGE_PERMISSION,), REPORT_GUARDS),
        Transition("return_report", ("report_review",), "executing", (MANAGE_PERMISSION,), ()),
        Transition("approve_report", ("report_review",), "completed", (QA_PERMISSION,),
                   (*REPORT_GUARDS, guard_not_the_author, guard_not_an_executor), signed=REPORT_ACTION),
        Transition("cancel", OPEN_STATUSES, "cancelled", (MANAGE_PERMISSION,), ()),
    )
}
# fmt: on


MACHINE = workflow.Machine(
    TRANSITIONS,
    Context,
    workflow.state_refusal(ValidationTransitionRefused, STATUS_LABELS),
    require=MANAGE_PERMISSION,
)  # every write needs qms.validation.manage first
_refuse_state = MACHINE.refused
_check = MACHINE.check
allowed = MACHINE.allowed


def _in_status(principal: Principal, validation: Validation, status: str) -> None:
    principal.require(MANAGE_PERMISSION)
    if validation.status != status:
        raise _refuse_state(validation)


# --- checks against the plant --------------------------------------------------------------------------------


def _equipment_id(session: Session, code: str) -> tuple[int, str]:
    """SH-6.3.2.1.c: the equipment of the register by its code, refused if unknown or void."""
    from pharmatrace.equipment.models import Equipment
    from pharmatrace.equipment.service import find_by_code

    found = find_by_code(session, code)
    if not isinstance(found, Equipment):
        raise NotFound(N_("No equipment with the code “{code}”"), code=code)
    if found.voided_at is not None:
        raise Conflict(N_("The equipment {code} is void"), code=found.code)
    return found.id, found.code


def _change(session: Session, number: str | None) -> str | None:
    if not number:
        return None
    from pharmatrace.qms.changes import get_change

    return get_change(session, number).number


def _risk(session: Session, number: str | None) -> str | None:
    if not number:
        return None
    from pharmatrace.qms.risks import get_assessment

    return get_assessment(session, number).number


def _deviation(session: Session, number: str | None) -> str | None:
    if not number:
        return None
    from pharmatrace.qms.deviations import get_deviation

    return get_deviation(session, number).number


def next_number(session: Session) -> str:
    """``VAL-2026-0001``: the year (Beijing) and a serial per year (``qms.numbering``)."""
    return numbering.next_number(session, "VAL", find_validation)


# --- writing -------------------------------------------------------------------------------------------------


def create_validation(uow: UnitOfWork, principal: Principal, body: ValidationCreate) -> Validation:
    """A new validation (``draft``) by its author."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    equipment_id, subject = None, body.subject
    if body.kind == "equipment_qualification":
        equipment_id, subject = _equipment_id(session, body.subject)
    change, risk = _change(session, body.change_number), _risk(session, body.risk_number)
    number = next_number(session)
    uow.reason = uow.reason or f"validation {number} planned"
    validation = Validation(
        number=number, kind=body.kind, title=body.title, scope=body.scope, equipment_id=equipment_id,
        subject=subject, change_number=change, risk_number=risk, stages=",".join(body.stages),
        revalidation_months=body.revalidation_months, author=principal.login, author_name=principal.full_name,
        status="draft", conclusion="", created_at=clock.now(),
    )  # fmt: skip
    session.add(validation)
    session.flush()
    return validation


def add_test(uow: UnitOfWork, principal: Principal, number: str, body: ProtocolItemInput) -> ValidationTest:
    """A protocol item added to a draft, numbered after the last one (voided ones keep their number)."""
    session = uow.session
    validation = get_validation(session, number)
    _in_status(principal, validation, "draft")
    _stage_of(validation, body.stage)
    seq = max((t.seq for t in validation.tests), default=0) + 1
    uow.reason = uow.reason or f"validation {validation.number}: test {seq} added"
    test = ValidationTest(
        validation_id=validation.id, seq=seq, stage=body.stage, item=body.item, procedure=body.procedure,
        criterion=body.criterion, created_at=clock.now(), created_by=principal.login,
    )  # fmt: skip
    session.add(test)
    session.flush()
    session.expire(validation, ["tests"])
    return test


def _stage_of(validation: Validation, stage: str) -> None:
    if stage not in stages_of(validation):
        raise ValidationFailed(
            N_("{number} covers the stages {stages} only"), number=validation.number,
            stages=", ".join(stages_of(validation)),
        )  # fmt: skip


def _live_test(validation: Validation, seq: int) -> ValidationTest:
    test = get_test(validation, seq)
    if test.voided_at is not None:
        raise Conflict(N_("Test {seq} is void"), seq=seq)
    return test


def update_test(
    uow: UnitOfWork, principal: Principal, number: str, seq: int, body: ProtocolItemInput
) -> ValidationTest:
    """A protocol item of a draft changed."""
    session = uow.session
    validation = get_validation(session, number)
    _in_status(principal, validation, "draft")
    test = _live_test(validation, seq)
    _stage_of(validation, body.stage)
    uow.reason = uow.reason or f"validation {validation.number}: test {seq} changed"
    test.stage, test.item, test.procedure, test.criterion = (
        body.stage,
        body.item,
        body.procedure,
        body.criterion,
    )
    session.flush()
    return test


def void_test(uow: UnitOfWork, principal: Principal, number: str, seq: int, reason: str) -> ValidationTest:
    """A protocol item of a draft put out of the protocol with a reason; it stays, void."""
    session = uow.session
    validation = get_validation(session, number)
    _in_status(principal, validation, "draft")
    test = _live_test(validation, seq)
    uow.void(test, uow.give_reason(reason))
    session.expire(validation, ["tests"])
    return test


def submit(uow: UnitOfWork, principal: Principal, number: str) -> Validation:
    """The protocol goes to review once every stage it covers has a test."""
    session = uow.session
    validation = get_validation(session, number)
    transition = _check(session, principal, validation, "submit")
    uow.reason = uow.reason or f"validation {validation.number}: protocol submitted"
    validation.status = transition.target
    validation.submitted_at, validation.submitted_by = clock.now(), principal.login
    session.flush()
    return validation


def return_protocol(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> Validation:
    """The reviewer sends the protocol back to its author, with a reason."""
    session = uow.session
    validation = get_validation(session, number)
    transition = _check(session, principal, validation, "return")
    uow.give_reason(reason)
    validation.status = transition.target
    session.flush()
    return validation


def _decision(uow: UnitOfWork, principal: Principal, validation: Validation, kind: str, content: str,
              body: SignBody, action: str, outcome: str | None = None) -> ValidationDecision:  # fmt: skip
    decision = ValidationDecision(
        validation_id=validation.id, kind=kind, outcome=outcome, content=content,
        content_sm3=crypto.sm3(content.encode()).hex(), comment=body.comment, decided_at=clock.now(),
        decided_by=principal.login, decided_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=action, password=body.password,
                              login=body.login, expire=(validation, "decisions"))  # fmt: skip
    return decision


def approve_protocol(
    uow: UnitOfWork, principal: Principal, number: str, body: SignBody
) -> ValidationDecision:
    """QA approves the protocol by signature (never its author): the validation may be executed."""
    session = uow.session
    validation = get_validation(session, number)
    transition = _check(session, principal, validation, "approve_protocol")
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    uow.reason = uow.reason or f"validation {validation.number}: protocol approved"
    content = protocol_content(validation)
    validation.status = transition.target
    validation.protocol_approved_at, validation.protocol_approved_by = clock.now(), principal.login
    session.flush()
    return _decision(uow, principal, validation, "protocol", content, body, PROTOCOL_ACTION)


def record_result(
    uow: UnitOfWork, principal: Principal, number: str, seq: int, body: ResultInput
) -> ValidationResult:
    """A result of a test while executing, at the server's time; with a ``correction_reason`` it supersedes the
    test's current result (the original stays); a deviation named must exist."""
    session = uow.session
    validation = get_validation(session, number)
    _in_status(principal, validation, "executing")
    test = _live_test(validation, seq)
    deviation = _deviation(session, body.deviation_number)
    current = current_results(validation).get(test.id)
    if current is not None and body.correction_reason is None:
        raise ValidationFailed(N_("Test {seq} has a result: a correction needs its reason"), seq=seq)
    if current is None and body.correction_reason is not None:
        raise ValidationFailed(N_("Test {seq} has no result to correct"), seq=seq)
    if body.correction_reason is not None:
        uow.give_reason(body.correction_reason)
    uow.reason = uow.reason or f"validation {validation.number}: test {seq} executed"
    result = ValidationResult(
        validation_id=validation.id, test_id=test.id, observed=body.observed, outcome=body.outcome,
        deviation_number=deviation, supersedes_id=current.id if current is not None else None,
        correction_reason=body.correction_reason, executed_at=clock.now(), executed_by=principal.login,
        executed_by_name=principal.full_name,
    )  # fmt: skip
    session.add(result)
    session.flush()
    session.expire(validation, ["results"])
    return result


def submit_report(uow: UnitOfWork, principal: Principal, number: str, body: ReportSubmit) -> Validation:
    """The report goes to review: every live test has a result, each failure its deviation, and a conclusion."""
    session = uow.session
    validation = get_validation(session, number)
    transition = _check(session, principal, validation, "submit_report")
    uow.reason = uow.reason or f"validation {validation.number}: report submitted"
    validation.conclusion = body.conclusion
    validation.status = transition.target
    validation.report_submitted_at, validation.report_submitted_by = clock.now(), principal.login
    session.flush()
    return validation


def return_report(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> Validation:
    """The reviewer sends the report back to execution, with a reason."""
    session = uow.session
    validation = get_validation(session, number)
    transition = _check(session, principal, validation, "return_report")
    uow.give_reason(reason)
    validation.status = transition.target
    session.flush()
    return validation


def approve_report(uow: UnitOfWork, principal: Principal, number: str, body: SignBody) -> ValidationDecision:
    """QA approves the report by signature (never its author); the outcome follows from the results. An equipment
    qualification's result is entered into the equipment's logbook in the same unit of work."""
    session = uow.session
    validation = get_validation(session, number)
    transition = _check(session, principal, validation, "approve_report")
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    uow.reason = uow.reason or f"validation {validation.number}: report approved"
    outcome = outcome_of(validation)
    content = report_content(validation)
    now = clock.now()
    validation.status = transition.target
    validation.outcome = outcome
    validation.completed_at, validation.completed_by = now, principal.login
    months = validation.revalidation_months
    validation.revalidation_due = (
        add_months(clock.to_beijing(now).date(), months) if months and outcome == "validated" else None
    )
    session.flush()
    decision = _decision(uow, principal, validation, "report", content, body, REPORT_ACTION, outcome)
    if validation.equipment_id is not None:
        _log_qualification(uow, validation, outcome)
    return decision


def _log_qualification(uow: UnitOfWork, validation: Validation, outcome: str) -> None:
    """SH-6.3.2.1.c: the equipment's qualification status follows the approved report."""
    from pharmatrace.equipment.schemas import LogEntryCreate
    from pharmatrace.equipment.service import record_equipment_entry

    assert validation.equipment_id is not None
    stages = "/".join(stages_of(validation))
    verdict = "合格" if outcome == "validated" else "不合格"
    entry = LogEntryCreate(
        kind="qualification", result="pass" if outcome == "validated" else "fail",
        description=f"{stages} {verdict}：{validation.title}"[:500], reference=validation.number,
    )  # fmt: skip
    record_equipment_entry(uow, validation.equipment_id, entry)


def cancel(uow: UnitOfWork, principal: Principal, number: str, reason: str) -> Validation:
    """An open validation given up, with the reason; it stays."""
    session = uow.session
    validation = get_validation(session, number)
    transition = _check(session, principal, validation, "cancel")
    uow.give_reason(reason)
    validation.status = transition.target
    validation.cancelled_at, validation.cancelled_by = clock.now(), principal.login
    validation.cancel_reason = uow.reason
    session.flush()
    return validation


# --- output --------------------------------------------------------------------------------------------------


def decision_public(session: Session, decision: ValidationDecision) -> DecisionPublic:
    signatures = signatures_of(session, DECISION_TYPE, str(decision.id))
    d = decision
    return DecisionPublic(
        id=d.id, kind=d.kind, outcome=d.outcome, content_sm3=d.content_sm3, comment=d.comment,
        decided_at=d.decided_at, decided_by=d.decided_by, decided_by_name=d.decided_by_name, signatures=signatures,
    )  # fmt: skip


def _result_public(result: ValidationResult, seq: int, current: bool) -> ResultPublic:
    r = result
    return ResultPublic(
        id=r.id, test_seq=seq, observed=r.observed, outcome=r.outcome, deviation_number=r.deviation_number,
        supersedes_id=r.supersedes_id, correction_reason=r.correction_reason, executed_at=r.executed_at,
        executed_by=r.executed_by, executed_by_name=r.executed_by_name, current=current,
    )  # fmt: skip


def protocol_item_public(validation: Validation, test: ValidationTest) -> ProtocolItemPublic:
    current = current_results(validation).get(test.id)
    history = [_result_public(r, test.seq, r is current) for r in validation.results if r.test_id == test.id]
    t = test
    return ProtocolItemPublic(
        id=t.id, seq=t.seq, stage=t.stage, item=t.item, procedure=t.procedure, criterion=t.criterion,
        voided_at=t.voided_at, void_reason=t.void_reason,
        result=_result_public(current, t.seq, True) if current is not None else None, history=history,
    )  # fmt: skip


def validation_public(validation: Validation) -> ValidationPublic:
    v = validation
    live = live_tests(v)
    current = current_results(v)
    outcomes = [current[t.id].outcome for t in live if t.id in current]
    return ValidationPublic(
        id=v.id, number=v.number, kind=v.kind, title=v.title, subject=v.subject, equipment_id=v.equipment_id,
        change_number=v.change_number, risk_number=v.risk_number, stages=stages_of(v),
        revalidation_months=v.revalidation_months, author=v.author, author_name=v.author_name, status=v.status,
        outcome=v.outcome, tests=len(live), passed=outcomes.count("pass"), failed=outcomes.count("fail"),
        created_at=v.created_at, completed_at=v.completed_at, revalidation_due=v.revalidation_due,
        cancelled_at=v.cancelled_at, cancel_reason=v.cancel_reason,
    )  # fmt: skip


def validation_detail(session: Session, validation: Validation) -> ValidationDetail:
    v = validation
    return ValidationDetail(
        **validation_public(v).model_dump(), scope=v.scope, conclusion=v.conclusion, submitted_at=v.submitted_at,
        submitted_by=v.submitted_by, protocol_approved_at=v.protocol_approved_at,
        protocol_approved_by=v.protocol_approved_by, report_submitted_at=v.report_submitted_at,
        report_submitted_by=v.report_submitted_by, completed_by=v.completed_by, content_sm3=content_hash(v),
        protocol=[protocol_item_public(v, t) for t in v.tests], decisions=[decision_public(session, d) for d in v.decisions],
    )  # fmt: skip


def due_public(validation: Validation) -> DuePublic:
    v = validation
    assert v.revalidation_due is not None
    return DuePublic(
        number=v.number, kind=v.kind, title=v.title, subject=v.subject, equipment_id=v.equipment_id,
        completed_at=v.completed_at, revalidation_due=v.revalidation_due,
        days_left=(v.revalidation_due - clock.today()).days,
    )  # fmt: skip


def equipment_validations(session: Session, equipment_id: int) -> list[ValidationPublic]:
    """The validations of one equipment, newest first, for the equipment's page."""
    return [validation_public(v) for v in validations_for_equipment(session, equipment_id)]
