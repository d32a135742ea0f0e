"""``/api/v1/mes/batches``: batch orders, their release to the floor, step execution, sign-offs, corrections
and exception decisions (TJ-6.4).

Reading needs ``mes.batch.view``; planning, release, cancelling, verifying and deciding exceptions
``mes.batch.supervise``; starting and completing steps ``mes.batch.execute`` (and training on the step's SOP,
checked by the engine); the QA signature on the floor ``mes.batch.review``. A correction is open to the
performer of the step and to a supervisor: the engine checks which.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.mes import batch_numbers, execution
from pharmatrace.mes.batch_numbers import BatchNumberRule, BatchNumberRuleUpdate
from pharmatrace.mes.execution_schemas import (
    CorrectionCreate,
    CorrectionPublic,
    ExceptionDecision,
    ExceptionPublic,
    OrderCancel,
    OrderCreate,
    OrderDetail,
    OrderPublic,
    OrderRelease,
    StepComplete,
    StepPublic,
    StepSignoff,
)
from pharmatrace.mes.recipe_schemas import ScaledBom
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(tags=["mes"])

BatchView = Annotated[Principal, Depends(Requires("mes.batch.view"))]
BatchExecute = Annotated[Principal, Depends(Requires("mes.batch.execute"))]
BatchSupervise = Annotated[Principal, Depends(Requires("mes.batch.supervise"))]
BatchReview = Annotated[Principal, Depends(Requires("mes.batch.review"))]
SettingsManage = Annotated[Principal, Depends(Requires("admin.settings.manage"))]


@router.get("/mes/batches", response_model=list[OrderPublic])
def list_batches(db: DbDep, _: BatchView, q: str = "", status: str = "") -> list[OrderPublic]:
    """Batch orders; ``q`` matches the order or batch number or the product, ``status`` the order's status."""
    with db.sessions() as session:
        return [
            execution.order_public(session, o) for o in execution.list_orders(session, text=q, status=status)
        ]


@router.post("/mes/batches", response_model=OrderPublic, status_code=201)
def create_batch(body: OrderCreate, db: DbDep, principal: BatchSupervise) -> OrderPublic:
    """Plan a batch order on the recipe's usable approved version; the batch number is drawn by the rule."""
    with uow_for(db, principal) as uow:
        order = execution.create_order(uow, principal, body)
        uow.commit()
        return execution.order_public(uow.session, order)


@router.get("/mes/batch-number-rule", response_model=BatchNumberRule)
def get_batch_number_rule(db: DbDep, _: BatchView) -> BatchNumberRule:
    with db.sessions() as session:
        return batch_numbers.batch_number_rule(session)


@router.put("/mes/batch-number-rule", response_model=BatchNumberRule)
def put_batch_number_rule(
    body: BatchNumberRuleUpdate, db: DbDep, principal: SettingsManage
) -> BatchNumberRule:
    """Change the batch number rule (validated; audited with the reason). Numbers already given stay."""
    with uow_for(db, principal) as uow:
        rule = batch_numbers.set_batch_number_rule(uow, body)
        uow.commit()
        return rule


@router.get("/mes/batches/{order_no}", response_model=OrderDetail)
def get_batch(order_no: str, db: DbDep, _: BatchView) -> OrderDetail:
    """The order with its control recipe's SM3, steps and states, exceptions, sign-offs and corrections."""
    with db.sessions() as session:
        return execution.order_detail(session, execution.get_order(session, order_no))


@router.get("/mes/batches/{order_no}/bom", response_model=ScaledBom)
def get_batch_bom(order_no: str, db: DbDep, _: BatchView) -> ScaledBom:
    """The bill of materials of the control recipe scaled to the batch size (GB/T 8170)."""
    with db.sessions() as session:
        return execution.scaled_bom_of(session, execution.get_order(session, order_no))


@router.post("/mes/batches/{order_no}/release", response_model=OrderDetail)
def release_batch(order_no: str, body: OrderRelease, db: DbDep, principal: BatchSupervise) -> OrderDetail:
    """Release to the floor, signed: the control recipe is frozen from the approved master (TJ-6.4.3.1)."""
    with uow_for(db, principal) as uow:
        order = execution.get_order(uow.session, order_no)
        execution.release(
            uow, principal, order, password=body.password, login=body.login, comment=body.comment
        )
        uow.commit()
        return execution.order_detail(uow.session, order)


@router.post("/mes/batches/{order_no}/cancel", response_model=OrderPublic)
def cancel_batch(order_no: str, body: OrderCancel, db: DbDep, principal: BatchSupervise) -> OrderPublic:
    with uow_for(db, principal, body.reason) as uow:
        order = execution.cancel(uow, principal, execution.get_order(uow.session, order_no))
        uow.commit()
        return execution.order_public(uow.session, order)


def _step(db: DbDep, order_no: str, step_code: str) -> StepPublic:
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        plan = execution.plan_of(execution.control_body(session, order))
        return execution.step_public(execution.step_of(session, order, step_code), plan)


@router.get("/mes/batches/{order_no}/steps/{step_code}", response_model=StepPublic)
def get_step(order_no: str, step_code: str, db: DbDep, _: BatchView) -> StepPublic:
    return _step(db, order_no, step_code)


@router.post("/mes/batches/{order_no}/steps/{step_code}/start", response_model=StepPublic)
def start_step(order_no: str, step_code: str, db: DbDep, principal: BatchExecute) -> StepPublic:
    """Start a ready step; refused (and recorded) when a predecessor is not done or the operator is not
    trained on the step's SOP."""
    with uow_for(db, principal) as uow:
        execution.start(uow, principal, execution.get_order(uow.session, order_no), step_code)
        uow.commit()
    return _step(db, order_no, step_code)


@router.post("/mes/batches/{order_no}/steps/{step_code}/complete", response_model=StepPublic)
def complete_step(
    order_no: str, step_code: str, body: StepComplete, db: DbDep, principal: BatchExecute
) -> StepPublic:
    """Record the step's evidence and complete it, signed by the performer."""
    with uow_for(db, principal) as uow:
        execution.complete(uow, principal, execution.get_order(uow.session, order_no), step_code, body)
        uow.commit()
    return _step(db, order_no, step_code)


@router.post("/mes/batches/{order_no}/steps/{step_code}/verify", response_model=StepPublic)
def verify_step(
    order_no: str, step_code: str, body: StepSignoff, db: DbDep, principal: BatchSupervise
) -> StepPublic:
    """The verifier's or the supervisor's signature, by a person other than the performer."""
    with uow_for(db, principal) as uow:
        order = execution.get_order(uow.session, order_no)
        execution.sign_step(uow, principal, order, step_code, password=body.password, login=body.login,
                            comment=body.comment)  # fmt: skip
        uow.commit()
    return _step(db, order_no, step_code)


@router.post("/mes/batches/{order_no}/steps/{step_code}/qa-sign", response_model=StepPublic)
def qa_sign_step(
    order_no: str, step_code: str, body: StepSignoff, db: DbDep, principal: BatchReview
) -> StepPublic:
    """The signature of QA on the floor (e.g. a line clearance)."""
    with uow_for(db, principal) as uow:
        order = execution.get_order(uow.session, order_no)
        execution.sign_step(uow, principal, order, step_code, password=body.password, login=body.login,
                            comment=body.comment)  # fmt: skip
        uow.commit()
    return _step(db, order_no, step_code)


@router.post(
    "/mes/batches/{order_no}/steps/{step_code}/corrections", response_model=CorrectionPublic, status_code=201
)
def correct_value(
    order_no: str, step_code: str, body: CorrectionCreate, db: DbDep, principal: BatchView
) -> CorrectionPublic:
    """Correct a recorded value with a reason, re-signed (TJ-10.1.4): the performer or a supervisor."""
    with uow_for(db, principal) as uow:
        order = execution.get_order(uow.session, order_no)
        correction = execution.correct(uow, principal, order, step_code, body)
        uow.commit()
        return CorrectionPublic(
            id=correction.id, step_code=step_code.upper(), field=correction.field, old_value=correction.old_value,
            new_value=correction.new_value, reason=correction.reason, corrected_at=correction.corrected_at,
            corrected_by=correction.corrected_by,
        )  # fmt: skip


@router.get("/mes/batches/{order_no}/exceptions", response_model=list[ExceptionPublic])
def list_exceptions(order_no: str, db: DbDep, _: BatchView) -> list[ExceptionPublic]:
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        return [
            execution.exception_public(session, e, order.batch_no)
            for e in execution.exceptions_of(session, order)
        ]


@router.post("/mes/batches/{order_no}/exceptions/{exception_id}/decision", response_model=ExceptionPublic)
def decide_exception(
    order_no: str, exception_id: int, body: ExceptionDecision, db: DbDep, principal: BatchSupervise
) -> ExceptionPublic:
    """The supervisor's signed decision: no deviation (justified) or a deviation (TJ-6.4.4)."""
    with uow_for(db, principal) as uow:
        order = execution.get_order(uow.session, order_no)
        exception = execution.get_exception(uow.session, exception_id)
        if exception.batch_order_id != order.id:
            from pharmatrace.kernel.errors import N_, NotFound

            raise NotFound(N_("No batch exception {id}"), id=exception_id)
        execution.decide(uow, principal, exception_id, body)
        uow.commit()
        return execution.exception_public(uow.session, exception, order.batch_no)
