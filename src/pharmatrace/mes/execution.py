"""Batch orders, control recipes and the execution engine (TJ-6.4, TJ-6.4.3.3, TJ-B.2.3, TJ-10.1.4).

Orders (批指令, TJ-6.4.3.2) are planned on the usable approved master recipe version; the batch number comes
from the configurable rule (:mod:`pharmatrace.mes.batch_numbers`). A supervisor releases an order to the floor
with an electronic signature: the release freezes the control recipe, a byte-exact copy of the approved body
and its SM3 hash (TJ-6.4.3.1); a running batch keeps it whatever happens to the master afterwards.

The engine is a declared state machine (:data:`TRANSITIONS`) whose named guards (:data:`GUARDS`) are
checked before each transition, SENAITE style:

    waiting ──predecessors done──> ready ──start──> in_progress ──complete──> signing ──sign──> done
                                                                   └─(sign-off none/operator)──> done

* A step is ``ready`` only when its predecessors (the recipe's step and operation predecessors) are done.
* Start needs ``mes.batch.execute`` and training on the step's SOP (TJ-10.1.2.2.d); every refusal at start
  is recorded (``mes.step.refused``) with what was missing.
* Completion records the evidence of the step's type, signed by the performer; limits, yields and time
  limits are evaluated on the server and raise exceptions (TJ-6.4.3.3.b, f, g, h, i).
* The second signature (verifier, supervisor, QA on the floor) is a different person (TJ-6.4.3.3.c, d).
* A correction keeps old and new values with the reason, is re-signed and raises a ``correction`` exception
  (TJ-10.1.4); a supervisor decides each exception: no deviation, or a deviation (TJ-6.4.4).
* Late entries (补录, TJ-10.1.3.1, TJ-6.4.3.3.i): values may carry the time they were observed (``observed_at``,
  e.g. copied from a paper backup after an outage); the server still stamps the recording. Recorded more than
  the recipe's ``late_entry_minutes`` after the observation needs a reason and raises a ``late_entry``
  exception showing both times. A second signature given more than the recipe's ``late_signature_minutes``
  after the step was completed raises one too, naming the sign-off and how late it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.errors import (
    N_,
    Conflict,
    Msgid,
    NotFound,
    NotPermitted,
    PharmaTraceError,
    QualificationRequired,
    SegregationOfDuties,
    ValidationFailed,
    loaded_params,
    stored_params,
)
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.numbers import plain_number, round_gbt8170
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import batch_numbers, formulas, historian_seam, recipes
from pharmatrace.mes.execution_models import (
    BatchException,
    BatchOrder,
    BatchSignoff,
    ControlRecipe,
    StepCorrection,
    StepExecution,
)
from pharmatrace.mes.execution_schemas import (
    CorrectionCreate,
    CorrectionPublic,
    ExceptionDecision,
    ExceptionPublic,
    OrderCreate,
    OrderDetail,
    OrderPublic,
    SignoffPublic,
    StepComplete,
    StepPublic,
)
from pharmatrace.mes.recipe_schemas import Operation, Parameter, RecipeBody, ScaledBom, Step

EXECUTE = "mes.batch.execute"
SUPERVISE = "mes.batch.supervise"
REVIEW = "mes.batch.review"
STEP_REFUSED_EVENT = "mes.step.refused"
SIGNOFF_TYPE = "batch_signoff"
RELEASE_ACTION = "batch.release"
PERFORM_ACTION = "batch.step.perform"
SECOND_ACTIONS = {  # the step's sign-off → (signoff role, action, permission)
    "operator_verifier": ("verified", "batch.step.verify", SUPERVISE),
    "supervisor": ("supervisor", "batch.step.supervise", SUPERVISE),
    "qa": ("qa", "batch.step.qa", REVIEW),
}
CORRECT_ACTION = "batch.step.correct"
CORRECT_SUPERVISED_ACTION = "batch.step.correct_supervised"
DECIDE_ACTION = "batch.exception.decide"
DISPENSING_TYPES = ("weighing", "material_identification", "charging")
VALUE_TYPES = ("data_entry", "cpp")
# The step types whose values an operator observes and may record later with their observation time.
OBSERVABLE_TYPES = ("data_entry", "cpp", "ipc", "yield")

ORDER_STATUS_LABELS = {
    "planned": N_("Planned"),
    "released": N_("Released to the floor"),
    "in_progress": N_("In progress"),
    "completed": N_("Completed"),
    "reviewed": N_("Reviewed"),
    "cancelled": N_("Cancelled"),
}
STEP_STATE_LABELS = {
    "waiting": N_("Waiting"),
    "ready": N_("Ready"),
    "in_progress": N_("In progress"),
    "signing": N_("Awaiting second signature"),
    "done": N_("Done"),
}
EXCEPTION_KIND_LABELS = {
    "limit_excursion": N_("Limit excursion"),
    "time_limit": N_("Time limit exceeded"),
    "yield_limit": N_("Yield out of limits"),
    "ipc_failure": N_("In-process control failed"),
    "manual_weighing": N_("Manual weighing"),
    "late_entry": N_("Late entry"),
    "correction": N_("Correction"),
    "weighing_tolerance": N_("Weighing out of tolerance"),
    "refused_material": N_("Refused material"),
    "other": N_("Other"),
}
EXCEPTION_STATUS_LABELS = {
    "open": N_("Open"),
    "no_deviation": N_("No deviation"),
    "deviation": N_("Deviation raised"),
}
SIGNOFF_ROLE_LABELS = {
    "release": N_("Released to the floor"),
    "performed": N_("Performed"),
    "verified": N_("Verified"),
    "supervisor": N_("Supervisor"),
    "qa": N_("QA on the floor"),
    "correction": N_("Correction"),
    "decision": N_("Exception decision"),
}


class StepRefused(Conflict):
    """A step transition refused by a guard of the engine; the message names the guard's reason."""

    code = "step_refused"


class CommentRequired(ValidationFailed):
    """A value out of its action limits (or a failed control, a yield out of limits) needs a comment."""

    code = "comment_required"


class EvidenceMissing(ValidationFailed):
    code = "evidence_missing"


# --- finding -------------------------------------------------------------------------------------------


def get_order(session: Session, order_no_or_id: str | int) -> BatchOrder:
    """An order by its number (``PO-…``), its batch number, or its id."""
    order: BatchOrder | None
    if isinstance(order_no_or_id, int):
        order = session.get(BatchOrder, order_no_or_id)
    else:
        wanted = order_no_or_id.strip().upper()
        order = session.scalar(
            select(BatchOrder).where((BatchOrder.order_no == wanted) | (BatchOrder.batch_no == wanted))
        )
    if order is None:
        raise NotFound(N_("No batch order {order}"), order=order_no_or_id)
    return order


def control_recipe_of(session: Session, order: BatchOrder) -> ControlRecipe | None:
    return session.scalar(select(ControlRecipe).where(ControlRecipe.batch_order_id == order.id))


def control_body(session: Session, order: BatchOrder) -> RecipeBody:
    """The order's control recipe, parsed from the frozen text after its SM3 hash is checked."""
    control = control_recipe_of(session, order)
    if control is None:
        raise Conflict(N_("Batch {batch} is not released to the floor yet"), batch=order.batch_no)
    if crypto.sm3(control.body.encode()).hex() != control.body_sm3:
        raise Conflict(
            N_("The control recipe of batch {batch} does not match its hash"), batch=order.batch_no
        )
    return RecipeBody.model_validate(json.loads(control.body))


def scaled_bom_of(session: Session, order: BatchOrder) -> ScaledBom:
    """The bill of materials of the control recipe, scaled to the order's batch size (GB/T 8170)."""
    control = control_recipe_of(session, order)
    body = control_body(session, order)
    assert control is not None
    return recipes.scale_body(
        body, order.batch_size, recipe_code=control.recipe_code, version=control.version
    )


def step_of(session: Session, order: BatchOrder, step_code: str) -> StepExecution:
    step = session.scalar(
        select(StepExecution).where(
            StepExecution.batch_order_id == order.id, StepExecution.step_code == step_code.strip().upper()
        )
    )
    if step is None:
        raise NotFound(N_("Batch {batch} has no step {step}"), batch=order.batch_no, step=step_code)
    return step


def require_step_in_progress(
    session: Session, order: BatchOrder, step_code: str, principal: Principal
) -> StepExecution:
    """The step, refused unless it is started and not completed and the principal may execute steps."""
    principal.require(EXECUTE)
    step = step_of(session, order, step_code)
    if step.state != "in_progress":
        raise StepRefused(N_("Step {step} of batch {batch} is not in progress (it is “{state}”)"),
                          step=step.step_code, batch=order.batch_no, state=Msgid(STEP_STATE_LABELS[step.state]))  # fmt: skip
    return step


def record_exception(
    uow: UnitOfWork, order: BatchOrder, step_code: str, kind: str, message: str,
    params: dict[str, Any] | None = None, evidence: str = "",
) -> BatchException:  # fmt: skip
    """An exception on a step (TJ-6.4.3.3.i): ``message`` an English msgid with ``{named}`` params."""
    if kind not in EXCEPTION_KIND_LABELS:
        raise ValidationFailed(N_("Unknown exception kind {kind}"), kind=kind)
    exception = BatchException(
        batch_order_id=order.id, step_code=step_code, kind=kind, message=str(message)[:500],
        params=stored_params(params or {}), evidence=evidence[:20000], raised_at=clock.now(),
        raised_by=uow.actor.login, status="open",
    )  # fmt: skip
    uow.session.add(exception)
    uow.session.flush()
    return exception


def exception_text(exception: BatchException) -> str:
    """The exception's message in English (the msgid formatted with its params)."""
    params = loaded_params(exception.params)
    try:
        return exception.message.format(**params) if params else exception.message
    except (KeyError, IndexError, ValueError):
        return exception.message


# --- the recipe as the engine reads it ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """The control recipe arranged for the engine: each step with its operation, and its predecessors."""

    body: RecipeBody
    steps: dict[str, tuple[str, Operation, Step]]  # code → (unit procedure code, operation, step)
    predecessors: dict[str, list[str]]  # step → steps that must be done first (step and operation order)
    step_predecessors: dict[str, list[str]]  # the recipe's own step predecessors (for hold times)


def plan_of(body: RecipeBody) -> Plan:
    steps: dict[str, tuple[str, Operation, Step]] = {}
    op_steps: dict[str, list[str]] = {}
    for unit in body.unit_procedures:
        for operation in unit.operations:
            op_steps[operation.code] = [s.code for s in operation.steps]
            for step in operation.steps:
                steps[step.code] = (unit.code, operation, step)
    own = recipes.step_predecessors(body)
    ops = recipes.operation_predecessors(body)
    predecessors: dict[str, list[str]] = {}
    for code, (_unit, operation, _step) in steps.items():
        before = list(own[code])
        for other in ops[operation.code]:
            before.extend(s for s in op_steps[other] if s not in before)
        predecessors[code] = before
    return Plan(body, steps, predecessors, own)


def _plan(session: Session, order: BatchOrder) -> Plan:
    return plan_of(control_body(session, order))


def _steps(session: Session, order: BatchOrder) -> dict[str, StepExecution]:
    rows = session.scalars(select(StepExecution).where(StepExecution.batch_order_id == order.id))
    return {row.step_code: row for row in rows}


# --- orders --------------------------------------------------------------------------------------------


def _beijing_midnight(day: Any) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=clock.BEIJING).astimezone(UTC)


def _next_order_no(session: Session, at: datetime) -> str:
    from pharmatrace.wms.codes import next_serial

    year = clock.to_beijing(at).year
    while True:
        number = f"PO-{year}-{next_serial(session, f'MES:PO-{year}-#'):04d}"
        if session.scalar(select(BatchOrder.id).where(BatchOrder.order_no == number)) is None:
            return number


def create_order(uow: UnitOfWork, principal: Principal, data: OrderCreate) -> BatchOrder:
    """A planned batch order on the usable approved version of the recipe; its batch number drawn now."""
    principal.require(SUPERVISE)
    session = uow.session
    version = recipes.usable_version(session, data.recipe_code)
    if version is None:
        raise Conflict(
            N_("Master recipe {code} has no approved version to produce with"), code=data.recipe_code
        )
    body = recipes.body_of(version)
    moment = clock.now()
    order = BatchOrder(
        order_no=_next_order_no(session, moment), batch_no=batch_numbers.next_batch_number(session, moment),
        product_code=version.recipe.product_code, product_name=version.recipe.product_name,
        recipe_code=version.recipe.code, master_version_id=version.id, batch_size=data.batch_size,
        unit=body.batch_unit, planned_start=_beijing_midnight(data.planned_start),
        planned_end=_beijing_midnight(data.planned_end), status="planned", note=data.note, created_at=moment,
        created_by=principal.login,
    )  # fmt: skip
    session.add(order)
    session.flush()
    return order


def _sign(
    uow: UnitOfWork, principal: Principal, order: BatchOrder, role: str, action: str, covers: str,
    password: str, login: str | None, *, step_code: str | None = None, exception_id: int | None = None,
    comment: str = "",
) -> BatchSignoff:  # fmt: skip
    row = BatchSignoff(
        batch_order_id=order.id, step_code=step_code, role=role, covers_sm3=covers, exception_id=exception_id,
        signed_at=clock.now(), signed_by=principal.login, signed_by_name=principal.full_name, comment=comment,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, row, action_code=action, password=password, login=login)
    return row


def release(
    uow: UnitOfWork, principal: Principal, order: BatchOrder, *, password: str, login: str | None = None,
    comment: str = "",
) -> ControlRecipe:  # fmt: skip
    """Release to the floor (supervisor, signed): the control recipe is frozen from the usable approved
    version, byte for byte with its SM3 (TJ-6.4.3.1), and the steps are laid out."""
    principal.require(SUPERVISE)
    session = uow.session
    if order.status != "planned":
        raise Conflict(N_("Only a planned order can be released (batch {batch} is “{status}”)"),
                       batch=order.batch_no, status=Msgid(ORDER_STATUS_LABELS[order.status]))  # fmt: skip
    version = recipes.usable_version(session, order.recipe_code)
    if version is None:
        raise Conflict(
            N_("Master recipe {code} has no approved version to produce with"), code=order.recipe_code
        )
    frozen = recipes.frozen_body(version)
    body = frozen.body()
    esign.authenticate_signer(uow.db, principal, password, login)
    uow.reason = uow.reason or "batch order released to the floor"
    moment = clock.now()
    control = ControlRecipe(
        batch_order_id=order.id, master_version_id=frozen.version_id, recipe_code=frozen.recipe_code,
        version=frozen.version, body=frozen.text, body_sm3=frozen.sm3, created_at=moment,
    )  # fmt: skip
    session.add(control)
    order.master_version_id = frozen.version_id
    order.unit = body.batch_unit
    order.status = "released"
    order.released_at = moment
    order.released_by = principal.login
    plan = plan_of(body)
    for seq, (code, (unit, operation, step)) in enumerate(plan.steps.items(), start=1):
        session.add(StepExecution(
            batch_order_id=order.id, seq=seq, unit_code=unit, operation_code=operation.code, step_code=code,
            step_type=step.type, state="ready" if not plan.predecessors[code] else "waiting", record="{}",
        ))  # fmt: skip
    session.flush()
    _sign(uow, principal, order, "release", RELEASE_ACTION, frozen.sm3, password, login, comment=comment)
    return control


def cancel(uow: UnitOfWork, principal: Principal, order: BatchOrder) -> BatchOrder:
    """Cancel a planned or released order that has not started (the unit of work's reason)."""
    principal.require(SUPERVISE)
    if order.status not in ("planned", "released"):
        raise Conflict(N_("Only a planned or released order that has not started can be cancelled"))
    if not uow.reason:
        raise ValidationFailed(N_("A reason is required for this change"))
    order.status = "cancelled"
    order.cancelled_at = clock.now()
    order.cancel_reason = uow.reason[:500]
    uow.session.flush()
    return order


# --- the state machine ---------------------------------------------------------------------------------


@dataclass
class Context:
    """What a guard looks at: the order, the step row, its recipe step, the principal, the plan."""

    session: Session
    order: BatchOrder
    row: StepExecution
    step: Step
    operation: Operation
    principal: Principal
    plan: Plan
    rows: dict[str, StepExecution]
    problems: list[str] = field(default_factory=list)


Guard = Callable[[Context], PharmaTraceError | None]


def _guard_order_running(ctx: Context) -> PharmaTraceError | None:
    if ctx.order.status not in ("released", "in_progress"):
        return StepRefused(N_("Batch {batch} is not on the floor (it is “{status}”)"), batch=ctx.order.batch_no,
                           status=Msgid(ORDER_STATUS_LABELS[ctx.order.status]))  # fmt: skip
    return None


def _guard_predecessors_done(ctx: Context) -> PharmaTraceError | None:
    pending = [c for c in ctx.plan.predecessors[ctx.row.step_code] if ctx.rows[c].state != "done"]
    if pending:
        return StepRefused(N_("Step {step} cannot start before {pending} are done (no step is skipped)"),
                           step=ctx.row.step_code, pending=", ".join(pending))  # fmt: skip
    return None


def _guard_state(wanted: str) -> Guard:
    def guard(ctx: Context) -> PharmaTraceError | None:
        if ctx.row.state != wanted:
            return StepRefused(N_("Step {step} is “{state}”, not “{wanted}”"), step=ctx.row.step_code,
                               state=Msgid(STEP_STATE_LABELS[ctx.row.state]),
                               wanted=Msgid(STEP_STATE_LABELS[wanted]))  # fmt: skip
        return None

    return guard


def _guard_may_execute(ctx: Context) -> PharmaTraceError | None:
    if not ctx.principal.can(EXECUTE):
        return NotPermitted(
            N_("You may not execute batch steps (permission {permission})"), permission=EXECUTE
        )
    return None


def _guard_trained(ctx: Context) -> PharmaTraceError | None:
    """TJ-10.1.2.2.d: the operator is trained on the current effective version of the step's SOP."""
    if ctx.step.sop is None:
        return None
    from pharmatrace.training.gates import require_trained

    try:
        require_trained(ctx.session, ctx.principal.user_id, ctx.step.sop)
    except QualificationRequired as error:
        return error
    return None


def _guard_performer(ctx: Context) -> PharmaTraceError | None:
    if ctx.row.started_by != ctx.principal.login and not ctx.principal.can(SUPERVISE):
        return StepRefused(N_("Step {step} is completed by the operator who started it ({login})"),
                           step=ctx.row.step_code, login=ctx.row.started_by or "")  # fmt: skip
    return None


GUARDS: dict[str, Guard] = {
    "order_running": _guard_order_running,
    "predecessors_done": _guard_predecessors_done,
    "is_ready": _guard_state("ready"),
    "is_in_progress": _guard_state("in_progress"),
    "is_signing": _guard_state("signing"),
    "may_execute": _guard_may_execute,
    "trained_on_sop": _guard_trained,
    "same_operator": _guard_performer,
}
TRANSITIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # transition: (from states, guards in order)
    "start": (
        ("ready",),
        ("order_running", "predecessors_done", "is_ready", "may_execute", "trained_on_sop"),
    ),
    "complete": (("in_progress",), ("order_running", "is_in_progress", "may_execute", "same_operator")),
    "sign": (("signing",), ("order_running", "is_signing")),
}


def _context(session: Session, order: BatchOrder, step_code: str, principal: Principal) -> Context:
    plan = _plan(session, order)
    rows = _steps(session, order)
    code = step_code.strip().upper()
    if code not in rows or code not in plan.steps:
        raise NotFound(N_("Batch {batch} has no step {step}"), batch=order.batch_no, step=step_code)
    _unit, operation, step = plan.steps[code]
    return Context(session, order, rows[code], step, operation, principal, plan, rows)


def _check(ctx: Context, transition: str) -> PharmaTraceError | None:
    for name in TRANSITIONS[transition][1]:
        problem = GUARDS[name](ctx)
        if problem is not None:
            return problem
    return None


def _refuse(uow: UnitOfWork, ctx: Context, error: PharmaTraceError, transition: str) -> None:
    """Record the refusal on the step (``mes.step.refused``), nothing else changed, then raise it."""
    uow.refuse(
        error, STEP_REFUSED_EVENT, "step_execution", ctx.row.id,
        changes={"batch_no": [None, ctx.order.batch_no], "step": [None, ctx.row.step_code],
                 "transition": [None, transition], "refused": [None, getattr(error, "code", "error")]},
    )  # fmt: skip


def _hold_breach(ctx: Context, moment: datetime) -> tuple[int, int] | None:
    """(minutes since the predecessors ended, the limit) when the hold limit is passed (TJ-6.4.3.3.b)."""
    limit = ctx.step.max_hold_minutes
    before = ctx.plan.step_predecessors[ctx.row.step_code]
    if limit is None or not before:
        return None
    ends = [end for end in (ctx.rows[c].completed_at for c in before) if end is not None]
    if not ends:
        return None
    held = moment - max(ends)
    if held > timedelta(minutes=limit):
        return int(held.total_seconds() // 60), limit
    return None


def start(uow: UnitOfWork, principal: Principal, order: BatchOrder, step_code: str) -> StepExecution:
    """Start a ready step: guards checked and each refusal recorded; a hold time passed raises a
    ``time_limit`` exception (the step still starts: the exception goes to the supervisor)."""
    session = uow.session
    ctx = _context(session, order, step_code, principal)
    problem = _check(ctx, "start")
    if problem is not None:
        _refuse(uow, ctx, problem, "start")
    moment = clock.now()
    uow.reason = uow.reason or "batch step started"
    row = ctx.row
    row.state = "in_progress"
    row.started_at = moment
    row.started_by = principal.login
    if order.status == "released":
        order.status = "in_progress"
        order.started_at = moment
    breach = _hold_breach(ctx, moment)
    if breach is not None:
        record_exception(
            uow, order, row.step_code, "time_limit",
            N_("Step {step} started {minutes} min after its predecessor ended; the hold limit is {limit} min"),
            {"step": row.step_code, "minutes": breach[0], "limit": breach[1]},
            evidence=f"started_at={moment.isoformat()}",
        )  # fmt: skip
    session.flush()
    return row


# --- evidence by step type -----------------------------------------------------------------------------


def _flag(parameter: Parameter, value: Decimal) -> str:
    """``action`` outside the action limits, ``alert`` outside the alert limits, else ``ok``."""
    if (parameter.action_low is not None and value < parameter.action_low) or (
        parameter.action_high is not None and value > parameter.action_high
    ):
        return "action"
    if (parameter.alert_low is not None and value < parameter.alert_low) or (
        parameter.alert_high is not None and value > parameter.alert_high
    ):
        return "alert"
    return "ok"


def _limits_text(parameter: Parameter) -> str:
    def show(value: Decimal | None) -> str:
        return plain_number(value) or "—"

    return f"{show(parameter.action_low)} ~ {show(parameter.action_high)} {parameter.unit}".strip()


@dataclass
class Outcome:
    """What completion records and raises: the evidence document and the exceptions to open."""

    record: dict[str, Any] = field(default_factory=dict)
    exceptions: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)


def _worst(parameter: Parameter, low: Decimal, high: Decimal) -> str:
    """The flag of a captured range: the worse of its lowest and its highest value."""
    flags = {_flag(parameter, low), _flag(parameter, high)}
    return next(flag for flag in ("action", "alert", "ok") if flag in flags)


def _captured(ctx: Context, parameter: Parameter, end: datetime) -> historian_seam.Captured | None:
    """A bound CPP's values over the step's window from the registered historian, or None (manual entry)."""
    if ctx.step.type != "cpp" or parameter.tag is None:
        return None
    assert ctx.row.started_at is not None
    return historian_seam.capture(parameter.tag, ctx.row.started_at, end)


def _values_record(
    ctx: Context, data: StepComplete, parameters: list[Parameter], out: Outcome, end: datetime
) -> None:
    """Data entry and CPP values, judged against their limits. TJ-6.4.3.3.f: a CPP bound to a historian tag
    takes its values from the historian over the step's window when one is registered and has them
    (``source`` ``historian``: min, max, mean and count recorded, the range judged); otherwise the operator
    enters it (``source`` ``manual``) and the binding is kept in the record."""
    values: dict[str, Any] = {}
    sources: set[str] = set()
    for parameter in parameters:
        captured = _captured(ctx, parameter, end)
        comment = data.comments.get(parameter.code, "")
        if captured is not None:
            if parameter.code in data.values:
                raise ValidationFailed(N_("Step {step}: {name} is captured from {tag}; it is not entered by hand"),
                                       step=ctx.row.step_code, name=parameter.name, tag=parameter.tag)  # fmt: skip
            flag = _worst(parameter, captured.low, captured.high)
            low, high = plain_number(captured.low), plain_number(captured.high)
            mean = plain_number(round_gbt8170(captured.mean, 6))
            if flag == "action" and len(comment) < 2:
                raise CommentRequired(N_("Step {step}: {name} captured from {tag} ranged {low} ~ {high} {unit}, out "
                                         "of its action limits; a comment is required"), step=ctx.row.step_code,
                                      name=parameter.name, tag=parameter.tag, low=low, high=high,
                                      unit=parameter.unit)  # fmt: skip
            values[parameter.code] = {
                "value": mean, "unit": parameter.unit, "flag": flag, "comment": comment, "source": "historian",
                "tag": parameter.tag, "min": low, "max": high, "mean": mean, "count": captured.count,
                "rejected": captured.rejected,
            }  # fmt: skip
            sources.add("historian")
            if flag == "action":
                out.exceptions.append((
                    "limit_excursion",
                    N_("{name} captured from {tag} ranged {low} ~ {high} {unit} ({count} values), out of its "
                       "action limits ({limits})"),
                    {"name": parameter.name, "tag": parameter.tag, "low": low, "high": high, "unit": parameter.unit,
                     "count": captured.count, "limits": _limits_text(parameter)},
                    comment,
                ))  # fmt: skip
            continue
        if parameter.code not in data.values:
            raise EvidenceMissing(N_("Step {step}: enter {name} ({code})"), step=ctx.row.step_code,
                                  name=parameter.name, code=parameter.code)  # fmt: skip
        value = data.values[parameter.code]
        flag = _flag(parameter, value)
        if flag == "action" and len(comment) < 2:
            raise CommentRequired(N_("Step {step}: {name} = {value} {unit} is out of its action limits; a comment is "
                                     "required"), step=ctx.row.step_code, name=parameter.name, value=value,
                                  unit=parameter.unit)  # fmt: skip
        values[parameter.code] = {"value": plain_number(value), "unit": parameter.unit, "flag": flag,
                                  "comment": comment}  # fmt: skip
        if parameter.tag is not None and ctx.step.type == "cpp":  # the binding kept: entered by hand for now
            values[parameter.code].update(source="manual", tag=parameter.tag)
        sources.add("manual")
        if flag == "action":
            out.exceptions.append((
                "limit_excursion",
                N_("{name} = {value} {unit} is out of its action limits ({limits})"),
                {"name": parameter.name, "value": plain_number(value), "unit": parameter.unit,
                 "limits": _limits_text(parameter)},
                comment,
            ))  # fmt: skip
    out.record["values"] = values
    if ctx.step.type == "cpp":
        out.record["source"] = next(iter(sources)) if len(sources) == 1 else "mixed"
        if "historian" in sources:
            assert ctx.row.started_at is not None
            out.record["captured"] = {"from": clock.format_beijing(ctx.row.started_at),
                                      "to": clock.format_beijing(end)}  # fmt: skip


def _earlier_values(ctx: Context) -> dict[str, Decimal]:
    """The values recorded by done steps, in recipe order (a later step's value of the same name wins)."""
    found: dict[str, Decimal] = {}
    for code in ctx.plan.steps:
        row = ctx.rows[code]
        if row.state != "done" or code == ctx.row.step_code:
            continue
        for name, item in json.loads(row.record).get("values", {}).items():
            if isinstance(item, dict) and item.get("value") not in (None, ""):
                found[name] = Decimal(str(item["value"]))
    return found


def _calculation(ctx: Context, data: StepComplete, out: Outcome) -> None:
    formula = formulas.parse(ctx.step.formula)
    known = _earlier_values(ctx)
    inputs: dict[str, dict[str, str]] = {}
    values: dict[str, Decimal] = {}
    for name in formula.names:
        if name in data.values:
            values[name] = data.values[name]
            inputs[name] = {"value": plain_number(data.values[name]) or "0", "source": "entered"}
        elif name in known:
            values[name] = known[name]
            inputs[name] = {"value": plain_number(known[name]) or "0", "source": "recorded"}
        else:
            raise EvidenceMissing(N_("Step {step}: enter {name}, no earlier step recorded it"),
                                  step=ctx.row.step_code, name=name)  # fmt: skip
    result = formulas.evaluate(formula, values)
    exact = round_gbt8170(result, 6)
    parameter = next((p for p in ctx.step.parameters if p.code == formula.target), None)
    unit = parameter.unit if parameter else ""
    flag = _flag(parameter, result) if parameter else "ok"
    comment = data.comments.get(formula.target, "")
    if flag == "action" and len(comment) < 2:
        raise CommentRequired(N_("Step {step}: {name} = {value} {unit} is out of its action limits; a comment is "
                                 "required"), step=ctx.row.step_code, name=formula.target, value=exact, unit=unit)  # fmt: skip
    out.record["formula"] = ctx.step.formula
    out.record["inputs"] = inputs
    out.record["values"] = {formula.target: {"value": plain_number(exact), "unit": unit, "flag": flag,
                                             "comment": comment, "shown": str(round_gbt8170(result, 2))}}  # fmt: skip
    if flag == "action" and parameter is not None:
        out.exceptions.append(("limit_excursion", N_("{name} = {value} {unit} is out of its action limits ({limits})"),
                               {"name": parameter.name, "value": plain_number(exact), "unit": unit,
                                "limits": _limits_text(parameter)}, comment))  # fmt: skip


def _ipc(ctx: Context, data: StepComplete, out: Outcome) -> None:
    controls: dict[str, Any] = {}
    for control in ctx.step.controls:
        comment = data.comments.get(control.code, "")
        if control.low is not None or control.high is not None:
            if control.code not in data.values:
                raise EvidenceMissing(N_("Step {step}: enter {name} ({code})"), step=ctx.row.step_code,
                                      name=control.name, code=control.code)  # fmt: skip
            value = data.values[control.code]
            passed = (control.low is None or value >= control.low) and (
                control.high is None or value <= control.high
            )
            shown = plain_number(value)
        else:
            if control.code not in data.results:
                raise EvidenceMissing(N_("Step {step}: enter the result of {name} ({code})"), step=ctx.row.step_code,
                                      name=control.name, code=control.code)  # fmt: skip
            passed = data.results[control.code] == "pass"
            shown = data.results[control.code]
        if not passed and len(comment) < 2:
            raise CommentRequired(N_("Step {step}: {name} failed; a comment is required"), step=ctx.row.step_code,
                                  name=control.name)  # fmt: skip
        controls[control.code] = {"value": shown, "unit": control.unit, "result": "pass" if passed else "fail",
                                  "comment": comment, "low": plain_number(control.low),
                                  "high": plain_number(control.high)}  # fmt: skip
        if not passed:
            out.exceptions.append(("ipc_failure", N_("In-process control {name} failed: {value} {unit}"),
                                   {"name": control.name, "value": shown, "unit": control.unit}, comment))  # fmt: skip
    out.record["controls"] = controls
    out.record["values"] = {k: {"value": v["value"], "unit": v["unit"], "flag": "ok" if v["result"] == "pass"
                                else "action", "comment": v["comment"]}
                            for k, v in controls.items() if k in data.values}  # fmt: skip


def _yield(ctx: Context, data: StepComplete, out: Outcome) -> None:
    limits = ctx.step.yield_limits
    assert limits is not None
    actual, theoretical = data.values.get("actual"), data.values.get("theoretical")
    if actual is None or theoretical is None or theoretical <= 0 or actual < 0:
        raise EvidenceMissing(N_("Step {step}: enter the actual and the theoretical quantity"),
                              step=ctx.row.step_code)  # fmt: skip
    percent = actual / theoretical * Decimal(100)
    shown = round_gbt8170(percent, 1)
    comment = data.comments.get("yield", "") or data.note
    within = limits.low_pct <= percent <= limits.high_pct
    if not within and len(comment) < 2:
        raise CommentRequired(N_("Step {step}: the yield {value} % is out of its limits; a comment is required"),
                              step=ctx.row.step_code, value=shown)  # fmt: skip
    out.record["values"] = {
        "actual": {"value": plain_number(actual), "unit": "", "flag": "ok", "comment": ""},
        "theoretical": {"value": plain_number(theoretical), "unit": "", "flag": "ok", "comment": ""},
        "yield_pct": {"value": plain_number(round_gbt8170(percent, 4)), "unit": "%", "shown": str(shown),
                      "flag": "ok" if within else "action", "comment": comment},
    }  # fmt: skip
    out.record["limits"] = {
        "low_pct": plain_number(limits.low_pct),
        "high_pct": plain_number(limits.high_pct),
    }
    if not within:
        out.exceptions.append(("yield_limit", N_("The yield {value} % is out of its limits ({low} ~ {high} %)"),
                               {"value": str(shown), "low": plain_number(limits.low_pct),
                                "high": plain_number(limits.high_pct)}, comment))  # fmt: skip


def _checklist(ctx: Context, data: StepComplete) -> list[dict[str, str]]:
    if len(data.checks) != len(ctx.step.checks):
        raise EvidenceMissing(N_("Step {step}: give a result for each of the {count} checks"),
                              step=ctx.row.step_code, count=len(ctx.step.checks))  # fmt: skip
    failed = [item for item, result in zip(ctx.step.checks, data.checks, strict=True) if result == "fail"]
    if failed:
        raise StepRefused(N_("Step {step}: the check “{item}” failed; the step cannot be completed"),
                          step=ctx.row.step_code, item=failed[0])  # fmt: skip
    return [
        {"item": item, "result": result} for item, result in zip(ctx.step.checks, data.checks, strict=True)
    ]


def _room_occupied(ctx: Context) -> str | None:
    """Another batch with an unfinished step in this operation's room: its line clearance is not done."""
    room = ctx.operation.room
    if room is None:
        return None
    others = ctx.session.scalars(
        select(BatchOrder).where(BatchOrder.status == "in_progress", BatchOrder.id != ctx.order.id)
    )
    for other in others:
        busy = {
            r.operation_code for r in ctx.session.scalars(select(StepExecution).where(
                StepExecution.batch_order_id == other.id, StepExecution.state.in_(("in_progress", "signing"))))
        }  # fmt: skip
        if not busy:
            continue
        plan = _plan(ctx.session, other)
        if any(plan.steps[s][1].room == room for s in plan.steps if plan.steps[s][1].code in busy):
            return other.batch_no
    return None


def _after_clearance_missing(ctx: Context) -> tuple[str, str] | None:
    """TJ-6.4.5: another batch on the floor used this operation's room and its line clearance after production
    there is not done (performed and verified): the room is not cleared for this batch. Gives (batch number,
    step). A recipe without an ``after`` clearance in the room asks for none."""
    room = ctx.operation.room
    if room is None:
        return None
    others = ctx.session.scalars(
        select(BatchOrder)
        .where(BatchOrder.status == "in_progress", BatchOrder.id != ctx.order.id)
        .order_by(BatchOrder.id)
    )
    for other in others:
        plan = _plan(ctx.session, other)
        in_room = [code for code, (_unit, operation, _step) in plan.steps.items() if operation.room == room]
        after = [
            c
            for c in in_room
            if plan.steps[c][2].type == "line_clearance" and plan.steps[c][2].phase == "after"
        ]
        if not after:
            continue
        rows = _steps(ctx.session, other)
        used = any(rows[c].state in ("in_progress", "signing", "done") for c in in_room if c in rows)
        missing = [c for c in after if c in rows and rows[c].state != "done"]
        if used and missing:
            return other.batch_no, missing[0]
    return None


def _require_room_cleared(ctx: Context) -> None:
    missing = _after_clearance_missing(ctx)
    if missing is not None:
        raise StepRefused(N_("Room {room} is not cleared: the line clearance after production of batch {batch} "
                             "(step {clearance}) is not done and verified"), room=ctx.operation.room or "",
                          batch=missing[0], clearance=missing[1])  # fmt: skip


def _pre_use(uow: UnitOfWork, ctx: Context, data: StepComplete, out: Outcome) -> None:
    """TJ-6.4.1/6.4.2: the checklist, the equipment of the operation's classes and its room usable now, and the
    previous batch out of the room (its line clearance done)."""
    from pharmatrace.equipment import service as equipment_service
    from pharmatrace.equipment.models import Equipment

    out.record["checks"] = _checklist(ctx, data)
    moment = clock.now()
    classes = ctx.operation.equipment_classes
    used: list[dict[str, str]] = []
    # Equipment of the class "other" (an extraction tank not yet registered, …) is checked by the checklist.
    if any(c != "other" for c in classes) and not data.equipment:
        raise EvidenceMissing(N_("Step {step}: scan the equipment used ({classes})"), step=ctx.row.step_code,
                              classes=", ".join(classes))  # fmt: skip
    targets: list[Any] = []
    for code in data.equipment:
        unit = ctx.session.scalar(select(Equipment).where(Equipment.code == code))
        if unit is None:
            raise NotFound(N_("No equipment with the code “{code}”"), code=code)
        if classes and unit.equipment_class not in classes:
            raise StepRefused(N_("Equipment {code} is not of the class this operation uses ({classes})"),
                              code=code, classes=", ".join(classes))  # fmt: skip
        targets.append(unit)
    if ctx.operation.room is not None:
        targets.append(equipment_service.room_by_code(ctx.session, ctx.operation.room))
    for target in targets:
        if not equipment_service.may_use(ctx.session, target, moment).usable:
            equipment_service.refuse_unless_usable(uow, target, moment, action=f"batch step {ctx.row.step_code}",
                                                   batch_no=ctx.order.batch_no)  # fmt: skip
        used.append({"code": target.code, "name": target.name})
    occupied = _room_occupied(ctx)
    if occupied is not None:
        raise StepRefused(N_("Room {room} is still in use by batch {batch}: its line clearance is not done"),
                          room=ctx.operation.room or "", batch=occupied)  # fmt: skip
    _require_room_cleared(ctx)
    out.record["equipment"] = used
    out.record["room"] = ctx.operation.room


def _line_clearance(ctx: Context, data: StepComplete, out: Outcome) -> None:
    """TJ-6.4.5, TJ-B.2.3.3: room, product, batch, step, date, the checklist with results; the performer's and
    the verifier's signatures are the step's sign-offs. Its phase: ``before`` production (the room must be
    cleared of every other batch: their clearances ``after`` production in it done) or ``after`` it."""
    out.record["checks"] = _checklist(ctx, data)
    if ctx.step.phase == "before":
        _require_room_cleared(ctx)
    out.record["clearance"] = {"room": ctx.operation.room or "", "product": ctx.order.product_name,
                               "product_code": ctx.order.product_code, "batch_no": ctx.order.batch_no,
                               "step": ctx.row.step_code, "date": clock.format_beijing(clock.now()),
                               "phase": ctx.step.phase}  # fmt: skip


def _dispensing(ctx: Context) -> None:
    """Weighing, identification and charging are evidenced by the dispensing area (helper H's records)."""
    try:
        from pharmatrace.mes import dispensing

        missing = dispensing.missing_evidence(ctx.session, ctx.order, ctx.row.step_code)
    except (ImportError, AttributeError):
        missing = ["the dispensing records cannot be checked yet"]
    if missing:
        raise EvidenceMissing(N_("Step {step} lacks its dispensing records: {missing}"), step=ctx.row.step_code,
                              missing="; ".join(missing))  # fmt: skip


def _packaging(ctx: Context) -> None:
    """Packaging and visual inspection steps are evidenced by the packaging record (TJ-6.4.6)."""
    from pharmatrace.mes import packaging

    missing = packaging.missing_evidence(ctx.session, ctx.order, ctx.row.step_code)
    if missing:
        raise EvidenceMissing(N_("Step {step} lacks its packaging records: {missing}"), step=ctx.row.step_code,
                              missing="; ".join(missing))  # fmt: skip


def _evidence(uow: UnitOfWork, ctx: Context, data: StepComplete, moment: datetime) -> Outcome:
    out = Outcome()
    kind = ctx.step.type
    if kind == "instruction":
        if not data.acknowledged:
            raise EvidenceMissing(
                N_("Step {step}: confirm the instruction was followed"), step=ctx.row.step_code
            )
        out.record["acknowledged"] = True
    elif kind in VALUE_TYPES:
        _values_record(ctx, data, ctx.step.parameters, out, moment)
    elif kind == "calculation":
        _calculation(ctx, data, out)
    elif kind == "ipc":
        _ipc(ctx, data, out)
    elif kind == "yield":
        _yield(ctx, data, out)
    elif kind == "pre_use_check":
        _pre_use(uow, ctx, data, out)
    elif kind == "line_clearance":
        _line_clearance(ctx, data, out)
    elif kind in DISPENSING_TYPES:
        _dispensing(ctx)
    _packaging(ctx)
    if data.note:
        out.record["note"] = data.note
    return out


def _observation(ctx: Context, data: StepComplete, moment: datetime, out: Outcome) -> None:
    """TJ-10.1.3.1: the time the values were observed, when the operator gives it (kept in the record beside the
    server's recording time). Not in the future, not before the step started; recorded more than the recipe's
    ``late_entry_minutes`` after it is a late entry (补录): the reason is required and a ``late_entry``
    exception shows both times (TJ-6.4.3.3.i)."""
    observed = data.observed_at
    if observed is None:
        return
    code = ctx.row.step_code
    if ctx.step.type not in OBSERVABLE_TYPES:
        raise ValidationFailed(N_("Step {step} records no observed values: an observation time cannot be given"),
                               step=code)  # fmt: skip
    shown = clock.format_beijing(observed)
    if observed > moment:
        raise ValidationFailed(N_("Step {step}: the observation time {observed} is in the future"), step=code,
                               observed=shown)  # fmt: skip
    started = ctx.row.started_at
    assert started is not None
    if observed < started:
        raise ValidationFailed(N_("Step {step}: the observation time {observed} is before the step was started "
                                  "({started})"), step=code, observed=shown, started=clock.format_beijing(started))  # fmt: skip
    out.record["observed_at"] = shown
    late = moment - observed
    limit = ctx.plan.body.late_entry_minutes
    if late <= timedelta(minutes=limit):
        return
    minutes = int(late.total_seconds() // 60)
    if len(data.late_reason) < 2:
        raise CommentRequired(N_("Step {step}: the values observed at {observed} are recorded {minutes} min later, "
                                 "more than the {limit} min allowed; give the reason for the late entry"),
                              step=code, observed=shown, minutes=minutes, limit=limit)  # fmt: skip
    out.record["late_reason"] = data.late_reason
    out.exceptions.append((
        "late_entry",
        N_("Step {step}: values observed at {observed} were recorded at {recorded}, {minutes} min later (late "
           "entry: over {limit} min)"),
        {"step": code, "observed": shown, "recorded": clock.format_beijing(moment), "minutes": minutes,
         "limit": limit},
        data.late_reason,
    ))  # fmt: skip


def _record_text(record: dict[str, Any]) -> tuple[str, str]:
    text = ledger.canonical_text(record)
    return text, crypto.sm3(text.encode()).hex()


def _advance(uow: UnitOfWork, order: BatchOrder, plan: Plan) -> None:
    """Waiting steps whose predecessors are all done become ready; the order completes with its last step and
    hands its finished product to the warehouse in the same transaction (``mes.handover``, TJ-9.1)."""
    session = uow.session
    rows = _steps(session, order)
    for code, row in rows.items():
        if row.state == "waiting" and all(rows[c].state == "done" for c in plan.predecessors[code]):
            row.state = "ready"
    completed = all(row.state == "done" for row in rows.values())
    if completed:
        order.status = "completed"
        order.completed_at = clock.now()
    session.flush()
    if completed:
        from pharmatrace.mes import handover

        handover.hand_over(uow, order)


def complete(
    uow: UnitOfWork, principal: Principal, order: BatchOrder, step_code: str, data: StepComplete
) -> StepExecution:
    """Record the step's evidence and complete it, signed by the performer when the step has a sign-off.
    Time limits (min/max duration) and excursions raise exceptions; a refusal changes nothing."""
    session = uow.session
    ctx = _context(session, order, step_code, principal)
    problem = _check(ctx, "complete")
    if problem is not None:
        raise problem
    signoff = ctx.step.signoff
    if signoff != "none" and not data.password:
        raise EvidenceMissing(N_("Step {step} is signed by its performer: enter your password"),
                              step=ctx.row.step_code)  # fmt: skip
    moment = clock.now()
    out = _evidence(uow, ctx, data, moment)
    _observation(ctx, data, moment, out)
    if signoff != "none":
        esign.authenticate_signer(uow.db, principal, data.password, data.login)
    uow.reason = uow.reason or "batch step completed"
    row = ctx.row
    text, digest = _record_text(out.record)
    row.record = text
    row.record_sm3 = digest
    row.completed_at = moment
    row.performed_by = principal.login
    row.state = "signing" if signoff in SECOND_ACTIONS else "done"
    assert row.started_at is not None
    minutes = (moment - row.started_at).total_seconds() / 60
    step = ctx.step
    if step.min_minutes is not None and minutes < step.min_minutes:
        out.exceptions.append(("time_limit", N_("Step {step} took {minutes} min, less than its minimum of {limit} min"),
                               {"step": row.step_code, "minutes": int(minutes), "limit": step.min_minutes}, ""))  # fmt: skip
    if step.max_minutes is not None and minutes > step.max_minutes:
        out.exceptions.append(("time_limit", N_("Step {step} took {minutes} min, more than its maximum of {limit} min"),
                               {"step": row.step_code, "minutes": int(minutes), "limit": step.max_minutes}, ""))  # fmt: skip
    for kind, message, params, evidence in out.exceptions:
        record_exception(uow, order, row.step_code, kind, message, params, evidence)
    session.flush()
    if signoff != "none":
        _sign(uow, principal, order, "performed", PERFORM_ACTION, digest, data.password, data.login,
              step_code=row.step_code)  # fmt: skip
    if row.state == "done":
        _advance(uow, order, ctx.plan)
    return row


def sign_step(
    uow: UnitOfWork, principal: Principal, order: BatchOrder, step_code: str, *, password: str,
    login: str | None = None, comment: str = "",
) -> StepExecution:  # fmt: skip
    """The second signature of a step (verifier, supervisor, QA on the floor), by another person."""
    session = uow.session
    ctx = _context(session, order, step_code, principal)
    problem = _check(ctx, "sign")
    if problem is not None:
        raise problem
    role, action, permission = SECOND_ACTIONS[ctx.step.signoff]
    principal.require(permission)
    row = ctx.row
    if principal.login in (row.performed_by, row.started_by):
        raise SegregationOfDuties(N_("The performer of step {step} cannot also sign it as {role}"),
                                  step=row.step_code, role=Msgid(SIGNOFF_ROLE_LABELS[role]))  # fmt: skip
    esign.authenticate_signer(uow.db, principal, password, login)
    uow.reason = uow.reason or "batch step signed"
    row.state = "done"
    row.verified_at = clock.now()
    row.verified_by = principal.login
    session.flush()
    given = _sign(uow, principal, order, role, action, row.record_sm3 or "", password, login,
                  step_code=row.step_code, comment=comment)  # fmt: skip
    _late_signature(uow, ctx, given)
    _advance(uow, order, ctx.plan)
    return row


def _late_signature(uow: UnitOfWork, ctx: Context, signoff: BatchSignoff) -> None:
    """TJ-10.1.3.1, TJ-6.4.3.3.i: a second signature given more than the recipe's ``late_signature_minutes``
    after the step was completed raises a ``late_entry`` exception naming the sign-off and how late it was (the
    signature stands; the supervisor judges the contemporaneity of the check)."""
    completed = ctx.row.completed_at
    assert completed is not None
    late = signoff.signed_at - completed
    limit = ctx.plan.body.late_signature_minutes
    if late <= timedelta(minutes=limit):
        return
    record_exception(
        uow, ctx.order, ctx.row.step_code, "late_entry",
        N_("The second signature of step {step} ({role}) was given {minutes} min after the step was completed "
           "(late signature: over {limit} min)"),
        {"step": ctx.row.step_code, "role": Msgid(SIGNOFF_ROLE_LABELS[signoff.role]),
         "minutes": int(late.total_seconds() // 60), "limit": limit, "completed": clock.format_beijing(completed),
         "signed": clock.format_beijing(signoff.signed_at), "signoff": signoff.id, "by": signoff.signed_by},
        evidence=signoff.comment,
    )  # fmt: skip


# --- corrections and exception decisions ---------------------------------------------------------------


def correct(
    uow: UnitOfWork, principal: Principal, order: BatchOrder, step_code: str, data: CorrectionCreate
) -> StepCorrection:
    """Correct a recorded value (TJ-10.1.4): by a supervisor or the step's performer, with a reason; old and
    new values kept, re-signed, and a ``correction`` exception raised for the review."""
    session = uow.session
    row = step_of(session, order, step_code)
    if order.status not in ("in_progress", "completed"):
        raise Conflict(
            N_("The record of batch {batch} can no longer be corrected here"), batch=order.batch_no
        )
    if row.state not in ("signing", "done"):
        raise Conflict(N_("Only a recorded value of a completed step can be corrected"))
    supervised = principal.can(SUPERVISE)
    if not supervised and not (principal.login == row.performed_by and principal.can(EXECUTE)):
        raise NotPermitted(N_("Only a supervisor or the performer of the step may correct its values"))
    record = json.loads(row.record)
    values = record.get("values", {})
    if data.field not in values:
        raise ValidationFailed(
            N_("Step {step} recorded no value {field}"), step=row.step_code, field=data.field
        )
    old = str(values[data.field].get("value"))
    new = plain_number(data.new_value) or "0"
    if old == new:
        raise Conflict(N_("The value is unchanged"))
    esign.authenticate_signer(uow.db, principal, data.password, data.login)
    uow.reason = data.reason
    plan = _plan(session, order)
    step = plan.steps[row.step_code][2]
    parameter = next((p for p in step.parameters if p.code == data.field), None)
    flag = _flag(parameter, data.new_value) if parameter else values[data.field].get("flag", "ok")
    values[data.field] = {**values[data.field], "value": new, "flag": flag, "corrected": True}
    record["values"] = values
    text, digest = _record_text(record)
    row.record = text
    row.record_sm3 = digest
    correction = StepCorrection(
        step_execution_id=row.id, field=data.field, old_value=old, new_value=new, reason=data.reason,
        corrected_at=clock.now(), corrected_by=principal.login,
    )  # fmt: skip
    session.add(correction)
    session.flush()
    record_exception(uow, order, row.step_code, "correction",
                     N_("{field} of step {step} corrected from {old} to {new}: {reason}"),
                     {"field": data.field, "step": row.step_code, "old": old, "new": new, "reason": data.reason},
                     evidence=f"correction:{correction.id}")  # fmt: skip
    if flag == "action" and parameter is not None:
        record_exception(uow, order, row.step_code, "limit_excursion",
                         N_("{name} = {value} {unit} is out of its action limits ({limits})"),
                         {"name": parameter.name, "value": new, "unit": parameter.unit,
                          "limits": _limits_text(parameter)}, data.reason)  # fmt: skip
    action = CORRECT_SUPERVISED_ACTION if supervised else CORRECT_ACTION
    _sign(uow, principal, order, "correction", action, digest, data.password, data.login, step_code=row.step_code,
          comment=data.reason[:500])  # fmt: skip
    return correction


def get_exception(session: Session, exception_id: int) -> BatchException:
    exception = session.get(BatchException, exception_id)
    if exception is None:
        raise NotFound(N_("No batch exception {id}"), id=exception_id)
    return exception


def decide(
    uow: UnitOfWork, principal: Principal, exception_id: int, data: ExceptionDecision
) -> BatchException:
    """The supervisor's signed decision on an exception: no deviation (with its justification) or a deviation
    opened through the seam (TJ-6.4.4, TJ-B.2.3.2)."""
    from pharmatrace.mes import deviation_seam
    from pharmatrace.web import i18n

    principal.require(SUPERVISE)
    session = uow.session
    exception = get_exception(session, exception_id)
    if exception.status != "open":
        raise Conflict(N_("This exception is already decided"))
    order = get_order(session, exception.batch_order_id)
    esign.authenticate_signer(uow.db, principal, data.password, data.login)
    uow.reason = data.comment[:500]
    moment = clock.now()
    if data.decision == "deviation":
        text = i18n.in_record_language(exception.message, **loaded_params(exception.params))
        deviation = deviation_seam.raise_deviation(
            uow, description=f"{order.batch_no} {exception.step_code}: {text}",
            occurred_at=exception.raised_at, immediate_actions=data.immediate_actions,
            affected_batches=[order.batch_no], affected_products=[order.product_code],
            source=f"batch_exception:{exception.id}",
        )  # fmt: skip
        exception.deviation = deviation
    exception.status = data.decision
    exception.decided_at = moment
    exception.decided_by = principal.login
    exception.decision_comment = data.comment
    session.flush()
    covers = crypto.sm3(ledger.canonical_text({"exception": exception.id, "decision": data.decision,
                                               "comment": data.comment}).encode()).hex()  # fmt: skip
    _sign(uow, principal, order, "decision", DECIDE_ACTION, covers, data.password, data.login,
          step_code=exception.step_code, exception_id=exception.id, comment=data.comment[:500])  # fmt: skip
    return exception


# --- reading -------------------------------------------------------------------------------------------


def list_orders(session: Session, *, text: str = "", status: str = "") -> list[BatchOrder]:
    query = select(BatchOrder).order_by(BatchOrder.id.desc())
    if status:
        query = query.where(BatchOrder.status == status)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            BatchOrder.order_no.ilike(like) | BatchOrder.batch_no.ilike(like) | BatchOrder.product_name.ilike(like)
            | BatchOrder.product_code.ilike(like)
        )  # fmt: skip
    return list(session.scalars(query.limit(500)))


def exceptions_of(session: Session, order: BatchOrder) -> list[BatchException]:
    return list(session.scalars(
        select(BatchException).where(BatchException.batch_order_id == order.id).order_by(BatchException.id)
    ))  # fmt: skip


def signoffs_of(session: Session, order: BatchOrder) -> list[BatchSignoff]:
    return list(session.scalars(
        select(BatchSignoff).where(BatchSignoff.batch_order_id == order.id).order_by(BatchSignoff.id)
    ))  # fmt: skip


def corrections_of(session: Session, order: BatchOrder) -> list[tuple[StepCorrection, str]]:
    rows = session.execute(
        select(StepCorrection, StepExecution.step_code)
        .join(StepExecution, StepExecution.id == StepCorrection.step_execution_id)
        .where(StepExecution.batch_order_id == order.id)
        .order_by(StepCorrection.id)
    )
    return [(c, code) for c, code in rows]


def order_public(session: Session, order: BatchOrder) -> OrderPublic:
    counts = dict(session.execute(
        select(StepExecution.state, func.count()).where(StepExecution.batch_order_id == order.id)
        .group_by(StepExecution.state)
    ).all())  # fmt: skip
    open_exceptions = session.scalar(
        select(func.count()).select_from(BatchException)
        .where(BatchException.batch_order_id == order.id, BatchException.status == "open")
    )  # fmt: skip
    version = recipes.get_version(session, order.master_version_id)
    return OrderPublic(
        id=order.id, order_no=order.order_no, batch_no=order.batch_no, product_code=order.product_code,
        product_name=order.product_name, recipe_code=order.recipe_code, recipe_version=version.version,
        batch_size=order.batch_size, unit=order.unit, planned_start=order.planned_start,
        planned_end=order.planned_end, status=order.status, note=order.note, created_at=order.created_at,
        created_by=order.created_by, released_at=order.released_at, released_by=order.released_by,
        started_at=order.started_at, completed_at=order.completed_at, cancelled_at=order.cancelled_at,
        cancel_reason=order.cancel_reason, steps_done=int(counts.get("done", 0)),
        steps_total=int(sum(counts.values())), open_exceptions=int(open_exceptions or 0),
    )  # fmt: skip


def exception_public(
    session: Session, exception: BatchException, batch_no: str | None = None
) -> ExceptionPublic:
    if batch_no is None:
        batch_no = get_order(session, exception.batch_order_id).batch_no
    return ExceptionPublic(
        id=exception.id, batch_no=batch_no, step_code=exception.step_code, kind=exception.kind,
        message=exception_text(exception), msgid=exception.message, params=loaded_params(exception.params),
        evidence=exception.evidence,
        raised_at=exception.raised_at, raised_by=exception.raised_by, status=exception.status,
        decided_at=exception.decided_at, decided_by=exception.decided_by,
        decision_comment=exception.decision_comment,
        deviation_number=exception.deviation.number if exception.deviation else None,
    )  # fmt: skip


def step_public(row: StepExecution, plan: Plan | None) -> StepPublic:
    step = plan.steps[row.step_code][2] if plan is not None else None
    return StepPublic(
        id=row.id, seq=row.seq, unit_code=row.unit_code, operation_code=row.operation_code,
        step_code=row.step_code, step_type=row.step_type, name=step.name if step else row.step_code,
        signoff=step.signoff if step else "", sop=step.sop if step else None, state=row.state,
        started_at=row.started_at, started_by=row.started_by, completed_at=row.completed_at,
        performed_by=row.performed_by, verified_at=row.verified_at, verified_by=row.verified_by,
        record=json.loads(row.record), record_sm3=row.record_sm3,
    )  # fmt: skip


def order_detail(session: Session, order: BatchOrder) -> OrderDetail:
    control = control_recipe_of(session, order)
    plan = _plan(session, order) if control is not None else None
    rows = sorted(_steps(session, order).values(), key=lambda r: r.seq)
    return OrderDetail(
        **order_public(session, order).model_dump(),
        control_recipe_sm3=control.body_sm3 if control else None,
        steps=[step_public(r, plan) for r in rows],
        exceptions=[exception_public(session, e, order.batch_no) for e in exceptions_of(session, order)],
        signoffs=[SignoffPublic.model_validate(s, from_attributes=True) for s in signoffs_of(session, order)],
        corrections=[
            CorrectionPublic(id=c.id, step_code=code, field=c.field, old_value=c.old_value, new_value=c.new_value,
                             reason=c.reason, corrected_at=c.corrected_at, corrected_by=c.corrected_by)
            for c, code in corrections_of(session, order)
        ],
    )  # fmt: skip
