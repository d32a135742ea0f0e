"""Weighing and dispensing, material identification and charging on batch steps (称量配料、物料确认、投料).

TJ-6.3.2.2.a: a weight is read from the scale over its interface (MT-SICS on TCP, :mod:`pharmatrace.adapters.
scale`), at the address registered for that instrument (:class:`ScaleEndpoint`) — never a number sent by a
client — and compared automatically with the target and its tolerance (:mod:`pharmatrace.mes.weighing_check`).
TJ-6.3.2.2.b / TJ-B.2.2.2: each accepted weighing is a :class:`WeighingRecord` with the scale's name, code,
calibration status and readability, the result, who and when. The weighed quantity is issued to the batch
from the scanned container in the same unit of work (:func:`pharmatrace.wms.stock.move`, kind ``issue``).

Refusals change nothing and are recorded (``uow.refuse``): a container of the wrong material, of a lot that
may not be used (not released, expired, failing the storage checks), or a foreign code (``mes.material.
refused``); a scale that may not weigh the target (calibration, readability, capacity, minimum weight) or
a weight out of tolerance (``mes.weighing.refused``); equipment that may not be used (``equipment.use.
refused``). The operator corrects and weighs again.

Manual entry (the weights typed as the scale shows them) is a permitted fallback only: it needs a reason, a
photo of the display (kept by SM3 in the kernel's file store) and a production supervisor's approval
(``mes.batch.supervise``, by log-in and password), and raises a ``manual_weighing`` exception for review.

TJ-6.4.3.3.e: charging records the actual lot and quantity of each BOM material, from weighed portions (the
weighing label scanned) or identified containers, compared with the BOM scaled to the batch.
:func:`missing_evidence` tells the batch engine what a step still lacks before it may be completed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.adapters.scale import ScaleCommandRefused, SyncScaleClient, Weight
from pharmatrace.equipment import service as equipment_service
from pharmatrace.equipment.models import Equipment
from pharmatrace.kernel import clock, filestore
from pharmatrace.kernel.audit import SECURITY_EVENTS
from pharmatrace.kernel.errors import (
    N_,
    AuthenticationFailed,
    Conflict,
    NotFound,
    NotPermitted,
    Reasons,
    ValidationFailed,
)
from pharmatrace.kernel.numbers import plain_number, round_gbt8170
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.dispensing_models import (
    MaterialCharge,
    MaterialIdentification,
    ScaleEndpoint,
    WeighingRecord,
)
from pharmatrace.mes.dispensing_schemas import (
    ChargeCreate,
    ChargePublic,
    IdentificationCreate,
    IdentificationPublic,
    ManualWeighingCreate,
    MaterialNeed,
    ScaleEndpointCreate,
    ScaleEndpointPublic,
    ScaleEndpointUpdate,
    StepEvidence,
    WeighingCreate,
    WeighingPublic,
)
from pharmatrace.mes.weighing_check import (
    UNITS,
    CheckReason,
    Reading,
    ScaleFacts,
    Target,
    WeighingRefused,
    check_scale_for_target,
    check_weighing,
    convert,
)
from pharmatrace.storage.engine import Database
from pharmatrace.wms import stock
from pharmatrace.wms.models import Container, Lot
from pharmatrace.wms.stock_models import StockBalance
from pharmatrace.wms.stock_schemas import MovementCreate

if TYPE_CHECKING:
    from pharmatrace.kernel.identity.service import Principal
    from pharmatrace.mes.execution_models import BatchOrder
    from pharmatrace.mes.recipe_schemas import RecipeBody, Step

WEIGHING_REFUSED_EVENT = "mes.weighing.refused"
MATERIAL_REFUSED_EVENT = "mes.material.refused"
assert WEIGHING_REFUSED_EVENT in SECURITY_EVENTS
assert MATERIAL_REFUSED_EVENT in SECURITY_EVENTS
SUPERVISE = "mes.batch.supervise"  # approves a manual weighing
STOCK_PLACES = Decimal("0.001")
T = TypeVar("T")
# Time-outs of the MT-SICS client (connect, reply, stable weight…); empty: the adapter's defaults.
SCALE_TIMEOUTS: dict[str, float] = {}

# The photo of a manual weighing's display: PNG or JPEG, kept by SM3 in <state dir>/evidence.
EVIDENCE = filestore.FileStore(
    "evidence",
    accepted=(filestore.PNG, filestore.JPEG),
    max_bytes=10 * 1024 * 1024,
    refused_message=N_("Only PNG and JPEG photos are accepted; “{name}” is none of them"),
    default_name="photo",
)


class MaterialRefused(Conflict):
    """A scanned container that may not be used on this step (wrong material, lot not usable, unknown code)."""

    code = "material_refused"


class ScaleRefused(Conflict):
    """A scale that may not weigh this target (calibration, readability, capacity, minimum weight)."""

    code = "scale_refused"


class DispensingConflict(Conflict):
    code = "dispensing_refused"


@dataclass(frozen=True)
class Problem:
    """One reason a container is refused (an English msgid and its placeholders)."""

    kind: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def english(self) -> str:
        return self.message.format(**self.params)


class _Reason(Protocol):
    @property
    def message(self) -> str: ...

    @property
    def params(self) -> dict[str, Any]: ...

    def english(self) -> str: ...


# --- scale endpoints ----------------------------------------------------------------------------------


def _weighing_equipment(session: Session, code: str) -> Equipment:
    found = equipment_service.find_by_code(session, code)
    if not isinstance(found, Equipment) or found.voided_at is not None:
        raise NotFound(N_("No equipment with the code “{code}”"), code=code)
    if not ScaleFacts.from_equipment(found).weighing_instrument:
        raise ValidationFailed(N_("{scale} is not a weighing instrument"), scale=found.code)
    return found


def list_endpoints(session: Session, *, include_void: bool = False) -> list[ScaleEndpoint]:
    query = select(ScaleEndpoint).join(Equipment, Equipment.id == ScaleEndpoint.equipment_id)
    if not include_void:
        query = query.where(ScaleEndpoint.voided_at.is_(None))
    return list(session.scalars(query.order_by(Equipment.code)))


def get_endpoint(session: Session, endpoint_id: int) -> ScaleEndpoint:
    endpoint = session.get(ScaleEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(N_("No scale endpoint {id}"), id=endpoint_id)
    return endpoint


def endpoint_of(session: Session, equipment: Equipment) -> ScaleEndpoint:
    endpoint = session.scalar(select(ScaleEndpoint).where(ScaleEndpoint.equipment_id == equipment.id))
    if endpoint is None or endpoint.voided_at is not None:
        raise NotFound(
            N_("Scale {scale} has no registered interface address: it cannot be read"), scale=equipment.code
        )
    return endpoint


def register_endpoint(uow: UnitOfWork, data: ScaleEndpointCreate) -> ScaleEndpoint:
    """Register where a weighing instrument answers MT-SICS (one address per instrument)."""
    session = uow.session
    equipment = _weighing_equipment(session, data.equipment)
    if session.scalar(select(ScaleEndpoint.id).where(ScaleEndpoint.equipment_id == equipment.id)) is not None:
        raise Conflict(N_("Scale {scale} has an interface address already; change it"), scale=equipment.code)
    endpoint = ScaleEndpoint(
        equipment_id=equipment.id, host=data.host, port=data.port, created_at=clock.now(),
        created_by=uow.actor.login,
    )  # fmt: skip
    session.add(endpoint)
    session.flush()
    return endpoint


def update_endpoint(uow: UnitOfWork, endpoint_id: int, data: ScaleEndpointUpdate) -> ScaleEndpoint:
    """Change the address (with a reason); a void endpoint is restored by it."""
    endpoint = get_endpoint(uow.session, endpoint_id)
    uow.reason = data.reason
    endpoint.host = data.host
    endpoint.port = data.port
    endpoint.voided_at = None
    uow.session.flush()
    return endpoint


def equipment_of(session: Session, endpoint: ScaleEndpoint) -> Equipment:
    equipment = session.get(Equipment, endpoint.equipment_id)
    assert equipment is not None
    return equipment


# --- reading a scale ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScaleReading:
    net: Weight
    tare: Weight
    serial_number: str


def _off_the_loop(work: Callable[[], T]) -> T:
    """Run blocking scale I/O (:class:`SyncScaleClient` runs its own event loop) outside any running loop:
    called from async code, it goes to a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def read_scale(host: str, port: int) -> ScaleReading:
    """MT-SICS: ``I4`` (serial number, when the balance knows it), ``TA`` (the tare in memory) and ``S`` (the
    stable net weight)."""

    def read() -> ScaleReading:
        with SyncScaleClient(host, port, **SCALE_TIMEOUTS) as scale:
            try:
                serial = scale.serial_number()
            except ScaleCommandRefused:
                serial = ""
            tare = scale.tare_weight()
            net = scale.stable_weight()
        return ScaleReading(net, tare, serial)

    return _off_the_loop(read)


def tare_scale(host: str, port: int) -> Weight:
    """MT-SICS ``T``: take the stable weight on the pan (the empty vessel) as the tare."""

    def tare() -> Weight:
        with SyncScaleClient(host, port, **SCALE_TIMEOUTS) as scale:
            return scale.tare()

    return _off_the_loop(tare)


ScaleReader = Callable[[str, int], ScaleReading]


# --- the step and its BOM -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepContext:
    order: BatchOrder
    body: RecipeBody
    step: Step


@dataclass(frozen=True)
class Need:
    """One BOM line as scaled to the batch: quantity and its band, in the BOM's unit."""

    material_code: str
    unit: str
    quantity: Decimal
    low: Decimal
    high: Decimal
    tolerance_pct: Decimal
    step: str

    @property
    def tolerance(self) -> Decimal:
        """± T, absolute, in the BOM's unit (from the exact scaled quantity)."""
        return self.quantity * self.tolerance_pct / Decimal(100)


def recipe_step(body: RecipeBody, step_code: str) -> Step:
    for unit in body.unit_procedures:
        for operation in unit.operations:
            for step in operation.steps:
                if step.code == step_code:
                    return step
    raise NotFound(N_("The control recipe has no step {step}"), step=step_code)


def _needs(session: Session, order: BatchOrder) -> list[Need]:
    from pharmatrace.mes import execution

    scaled = execution.scaled_bom_of(session, order)
    return [
        Need(i.material_code, i.unit, Decimal(i.quantity), Decimal(i.low), Decimal(i.high),
             Decimal(i.tolerance_pct), i.step)
        for i in scaled.items
    ]  # fmt: skip


def need_for(session: Session, order: BatchOrder, step: Step) -> Need:
    """The BOM line a weighing or charging step works on: the line charged on this step, or the line of the
    step's material."""
    needs = _needs(session, order)
    found = next((n for n in needs if n.step == step.code), None)
    if found is None and step.material_code:
        found = next((n for n in needs if n.material_code == step.material_code), None)
    if found is None:
        raise NotFound(N_("Step {step} has no material of the bill of materials"), step=step.code)
    return found


def step_materials(step: Step) -> list[str]:
    if step.materials:
        return list(step.materials)
    return [step.material_code] if step.material_code else []


def _context(session: Session, order_ref: str | int, step_code: str, types: tuple[str, ...]) -> StepContext:
    from pharmatrace.mes import execution

    order = execution.get_order(session, order_ref)
    body = execution.control_body(session, order)
    step = recipe_step(body, step_code.strip().upper())
    if step.type not in types:
        raise ValidationFailed(
            N_("Step {step} is a {type} step; this is recorded on a {expected} step"),
            step=step.code, type=step.type, expected=" / ".join(types),
        )  # fmt: skip
    return StepContext(order, body, step)


def _in_progress(session: Session, context: StepContext, principal: Principal) -> None:
    from pharmatrace.mes import execution

    execution.require_step_in_progress(session, context.order, context.step.code, principal)


def step_context(
    session: Session, order_ref: str | int, step_code: str, principal: Principal | None = None
) -> StepContext:
    """The order, its control recipe and the step (any dispensing type); checks the step is running when a
    ``principal`` is given."""
    context = _context(session, order_ref, step_code, ("weighing", "material_identification", "charging"))
    if principal is not None:
        _in_progress(session, context, principal)
    return context


# --- containers ---------------------------------------------------------------------------------------


def _scanned(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable() or ch == "\x1d").strip()


def find_container(session: Session, scan: str) -> tuple[Container | None, dict[str, str]]:
    """The container a scan names (its code, or a GS1 element string with AI 91), and the GS1 elements read
    (to compare the label with the record)."""
    from pharmatrace.codes import gs1

    text = _scanned(scan)
    elements: dict[str, str] = {}
    container = session.scalar(select(Container).where(Container.code == text.upper()))
    if container is None:
        try:
            elements = dict(gs1.parse(text).elements)
        except gs1.InvalidElementString:
            elements = {}
        internal = elements.get("91")
        if internal:
            container = session.scalar(select(Container).where(Container.code == internal.upper()))
    return container, elements


def _balance(session: Session, container: Container) -> StockBalance | None:
    return session.get(StockBalance, container.id)


def container_problems(
    session: Session, container: Container, materials: Sequence[str], elements: dict[str, str] | None = None
) -> list[Problem]:
    """Every reason ``container`` may not be used for one of ``materials`` now: void, wrong material, a label
    that does not match the record, not in stock, and every issue check of the lot (TJ-6.4.1)."""
    problems: list[Problem] = []
    lot: Lot = container.lot
    material = lot.material
    if container.voided_at is not None or lot.voided_at is not None:
        problems.append(
            Problem("void", N_("The container {container} is void"), {"container": container.code})
        )
    if material.code not in materials:
        problems.append(Problem(
            "wrong_material",
            N_("The container {container} holds {material} ({code}), not the material of this step ({expected})"),
            {"container": container.code, "material": material.name, "code": material.code,
             "expected": ", ".join(materials)},
        ))  # fmt: skip
    if elements:
        label_lot = elements.get("10")
        if label_lot and label_lot.upper() != lot.lot_number.upper():
            problems.append(Problem(
                "label_mismatch",
                N_("The label shows lot {label} but the container {container} belongs to lot {lot}"),
                {"label": label_lot, "container": container.code, "lot": lot.lot_number},
            ))  # fmt: skip
        label_expiry = elements.get("17")
        if (
            label_expiry
            and lot.expiry_date is not None
            and label_expiry != lot.expiry_date.strftime("%y%m%d")
        ):
            problems.append(Problem(
                "label_mismatch",
                N_("The label shows expiry {label} but the lot {lot} expires on {date}"),
                {"label": label_expiry, "lot": lot.lot_number, "date": lot.expiry_date.isoformat()},
            ))  # fmt: skip
    balance = _balance(session, container)
    if balance is None or balance.quantity <= 0 or balance.location_id is None:
        problems.append(
            Problem(
                "not_in_stock", N_("The container {container} is not in stock"), {"container": container.code}
            )
        )
        balances: list[StockBalance] = []
    else:
        balances = [balance]
    for problem in stock.issue_check(session, lot, balances):
        problems.append(Problem(problem.kind, problem.message, problem.params))
    return problems


def _refuse_material(
    uow: UnitOfWork, context: StepContext, scan: str, problems: Sequence[_Reason], *, action: str
) -> None:
    """Refuse the scanned container with every reason, recorded on the batch order; nothing else changes."""
    order = context.order
    uow.refuse(
        MaterialRefused(
            N_("The scanned “{scan}” is refused on step {step} of batch {batch}: {reasons}"),
            scan=scan[:64], step=context.step.code, batch=order.batch_no, reasons=Reasons(problems),
        ),
        MATERIAL_REFUSED_EVENT, "batch_order", order.id,
        changes={
            "action": [None, action], "step": [None, context.step.code], "scan": [None, scan[:256]],
            "problems": [None, [p.english() for p in problems]],
        },
    )  # fmt: skip


def _usable_container(
    uow: UnitOfWork, context: StepContext, scan: str, materials: Sequence[str], *, action: str
) -> Container:
    container, elements = find_container(uow.session, scan)
    if container is None:
        foreign = Problem(
            "unknown_code", N_("“{scan}” is not a container label of this plant"), {"scan": scan[:64]}
        )
        _refuse_material(uow, context, scan, [foreign], action=action)
        raise AssertionError("refused")  # pragma: no cover - uow.refuse raises
    problems = container_problems(uow.session, container, materials, elements)
    if problems:
        _refuse_material(uow, context, scan, problems, action=action)
    return container


# --- weighing -----------------------------------------------------------------------------------------


def weighed_quantity(session: Session, order_id: int, step_code: str) -> Decimal:
    total = session.scalar(
        select(func.coalesce(func.sum(WeighingRecord.quantity), 0)).where(
            WeighingRecord.batch_order_id == order_id, WeighingRecord.step_code == step_code
        )
    )
    return Decimal(total or 0)


def _target(session: Session, context: StepContext, need: Need, portion: Decimal | None) -> Target:
    if need.unit not in UNITS:
        raise ValidationFailed(
            N_("{material} is counted in {unit}, not weighed"), material=need.material_code, unit=need.unit
        )
    done = weighed_quantity(session, context.order.id, context.step.code)
    if done >= need.low:  # within its band already: nothing is left to weigh
        raise DispensingConflict(
            N_("{material} is weighed already for batch {batch}: {done} of {quantity} {unit}"),
            material=need.material_code, batch=context.order.batch_no, done=done, quantity=need.quantity,
            unit=need.unit,
        )  # fmt: skip
    remaining = need.quantity - done
    quantity = remaining if portion is None else portion
    if quantity > remaining + need.tolerance:
        raise ValidationFailed(
            N_("The portion {portion} {unit} is more than what is left to weigh ({remaining} {unit})"),
            portion=quantity, unit=need.unit, remaining=remaining,
        )  # fmt: skip
    return Target(quantity=quantity, unit=need.unit, tolerance=need.tolerance, tolerance_kind="absolute")


def _refuse_weighing(
    uow: UnitOfWork, context: StepContext, error: ValidationFailed | Conflict, reasons: Sequence[CheckReason],
    **changes: Any,
) -> None:  # fmt: skip
    order = context.order
    uow.refuse(
        error, WEIGHING_REFUSED_EVENT, "batch_order", order.id,
        changes={
            "step": [None, context.step.code], **{k: [None, v] for k, v in changes.items()},
            "refusals": [None, [r.code for r in reasons]], "reasons": [None, [r.english() for r in reasons]],
        },
    )  # fmt: skip


@dataclass(frozen=True)
class _Prepared:
    context: StepContext
    need: Need
    container: Container
    scale: Equipment
    facts: ScaleFacts
    target: Target
    at: datetime


def _prepare(
    uow: UnitOfWork, principal: Principal, order_ref: str | int, step_code: str, scan: str, scale_code: str,
    portion: Decimal | None,
) -> _Prepared:  # fmt: skip
    """Everything checked before the scale is read: the step runs, the container and its lot may be used, the
    scale may weigh the target and the equipment may be used."""
    session = uow.session
    context = _context(session, order_ref, step_code, ("weighing",))
    _in_progress(session, context, principal)
    need = need_for(session, context.order, context.step)
    target = _target(session, context, need, portion)
    container = _usable_container(uow, context, scan, [need.material_code], action="weighing")
    if container.unit not in UNITS:
        raise ValidationFailed(N_("The container {container} is counted in {unit}, not weighed"),
                               container=container.code, unit=container.unit)  # fmt: skip
    scale = _weighing_equipment(session, scale_code)
    facts = ScaleFacts.from_equipment(scale)
    at = clock.now()
    reasons = check_scale_for_target(facts, target, at)  # TJ-6.3.2.2.a: before anything is weighed
    if reasons:
        _refuse_weighing(
            uow, context,
            ScaleRefused(N_("Scale {scale} may not weigh {target} {unit}: {reasons}"), scale=scale.code,
                         target=target.quantity, unit=target.unit, reasons=Reasons(reasons)),
            reasons, scale=scale.code, container=container.code, target=plain_number(target.quantity),
        )  # fmt: skip
    equipment_service.refuse_unless_usable(uow, scale, at, action="weighing", batch_no=context.order.batch_no)
    return _Prepared(context, need, container, scale, facts, target, at)


def tare(
    session: Session, principal: Principal, order_ref: str | int, step_code: str, scale_code: str
) -> Weight:
    """Tare the scale (MT-SICS ``T``) with the empty vessel on it, on a weighing step that runs."""
    context = _context(session, order_ref, step_code, ("weighing",))
    _in_progress(session, context, principal)
    scale = _weighing_equipment(session, scale_code)
    endpoint = endpoint_of(session, scale)
    return tare_scale(endpoint.host, endpoint.port)


def weigh(
    uow: UnitOfWork, principal: Principal, order_ref: str | int, step_code: str, data: WeighingCreate,
    *, reader: ScaleReader = read_scale,
) -> WeighingRecord:  # fmt: skip
    """Weigh from a scanned container: the tare and the stable net weight are read from the scale, checked
    against the target (TJ-6.3.2.2.a) and, when accepted, recorded and issued to the batch."""
    prepared = _prepare(uow, principal, order_ref, step_code, data.container, data.scale, data.portion)
    endpoint = endpoint_of(uow.session, prepared.scale)
    raw = reader(endpoint.host, endpoint.port)
    reading = Reading.from_scale(raw.net, raw.tare, raw.serial_number)
    return _accept(uow, prepared, reading, source="scale")


def weigh_manually(
    uow: UnitOfWork, principal: Principal, order_ref: str | int, step_code: str, data: ManualWeighingCreate,
    photo: bytes, photo_name: str,
) -> WeighingRecord:  # fmt: skip
    """The permitted fallback: the weights as the scale shows them, a reason, a photo of the display and a
    supervisor's approval; flagged with a ``manual_weighing`` exception for review."""
    from pharmatrace.kernel.identity import service as identity
    from pharmatrace.kernel.identity.passwords import verify_password

    stored = EVIDENCE.check(photo, photo_name)  # bad input first: nothing written
    supervisor = identity.find_user(uow.session, data.supervisor)
    if (
        supervisor is None or not supervisor.active or supervisor.locked
        or not verify_password(supervisor.password_hash, data.supervisor_password)
    ):  # fmt: skip
        raise AuthenticationFailed(N_("The supervisor's log-in ID or password is wrong"))
    if supervisor.login == uow.actor.login:
        raise ValidationFailed(N_("A manual weighing is approved by another person than the weigher"))
    if not identity.principal_of(supervisor).can(SUPERVISE):
        raise NotPermitted(N_("{login} may not approve a manual weighing"), login=supervisor.login)
    prepared = _prepare(uow, principal, order_ref, step_code, data.container, data.scale, data.portion)
    reading = Reading.of_net(data.net, data.tare, prepared.facts.unit)
    EVIDENCE.put(uow.db, photo, photo_name)
    record = _accept(
        uow, prepared, reading, source="manual", manual_reason=data.reason, photo_sm3=stored.sm3,
        approved_by=supervisor.login,
    )  # fmt: skip
    from pharmatrace.mes import execution

    execution.record_exception(
        uow, prepared.context.order, prepared.context.step.code, "manual_weighing",
        N_("Manual weighing {code} of {material} on scale {scale}: {reason}"),
        {"code": record.code, "material": record.material_code, "scale": record.scale_code, "reason": data.reason},
        f"weighing {record.code}; photo SM3 {stored.sm3}; approved by {supervisor.login}",
    )  # fmt: skip
    return record


def _next_code(session: Session, order: BatchOrder) -> str:
    """``WG-<batch>-<nnn>``: the weighing's code, drawn from a counter (two weighers of one batch at once
    wait for each other on PostgreSQL instead of drawing the same number)."""
    from pharmatrace.wms.codes import next_serial

    while True:
        code = f"WG-{order.batch_no}-{next_serial(session, f'MES:WG-{order.batch_no}-#'):03d}"
        if session.scalar(select(WeighingRecord.id).where(WeighingRecord.code == code)) is None:
            return code


def _accept(
    uow: UnitOfWork, prepared: _Prepared, reading: Reading, *, source: str, manual_reason: str | None = None,
    photo_sm3: str | None = None, approved_by: str | None = None,
) -> WeighingRecord:  # fmt: skip
    session = uow.session
    context, need, container, scale = prepared.context, prepared.need, prepared.container, prepared.scale
    at = clock.now()
    check = check_weighing(prepared.facts, reading, prepared.target, at)
    if not check.passed:
        _refuse_weighing(
            uow, context, WeighingRefused(check), check.reasons, scale=scale.code, container=container.code,
            source=source, target=plain_number(prepared.target.quantity), net=plain_number(reading.net),
            tare=plain_number(reading.tare), unit=reading.unit,
        )  # fmt: skip
    assert check.net is not None
    quantity = check.net  # in the BOM's unit, full value
    issued = round_gbt8170(convert(quantity, need.unit, container.unit), STOCK_PLACES)
    balance = _balance(session, container)
    if balance is None or issued > balance.quantity:
        left = balance.quantity if balance is not None else Decimal(0)
        problem = Problem(
            "not_enough",
            N_("The container {container} holds {left} {unit}; {quantity} {unit} cannot be taken from it"),
            {"container": container.code, "left": plain_number(left), "unit": container.unit,
             "quantity": plain_number(issued)},
        )  # fmt: skip
        _refuse_material(uow, context, container.code, [problem], action="weighing")
    order = context.order
    code = _next_code(session, order)
    movement = stock.move(
        uow,
        MovementCreate(kind="issue", container=container.code, quantity=issued, batch_no=order.batch_no,
                       reference=code, reason=f"weighed on step {context.step.code} ({code})"),
    )  # fmt: skip
    lot = container.lot
    record = WeighingRecord(
        code=code, batch_order_id=order.id, batch_no=order.batch_no, product_code=order.product_code,
        product_name=order.product_name, step_code=context.step.code, material_id=lot.material_id,
        material_code=lot.material.code, material_name=lot.material.name, lot_id=lot.id, lot_number=lot.lot_number,
        container_id=container.id, container_code=container.code, scale_id=scale.id, scale_code=scale.code,
        scale_name=scale.name, scale_serial=reading.serial_number or scale.serial_no or "",
        calibration_status=check.calibration, readability=prepared.facts.readability,
        weight_unit=prepared.facts.unit if source == "manual" else reading.unit,
        tare=reading.tare, gross=reading.gross, net=reading.net, unit=need.unit, target=prepared.target.quantity,
        tolerance=prepared.target.absolute_tolerance, quantity=quantity, issued_quantity=issued, source=source,
        manual_reason=manual_reason, photo_sm3=photo_sm3, approved_by=approved_by, movement_id=movement.id,
        weighed_at=at, weighed_by=uow.actor.login, weighed_by_name=uow.actor.full_name,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return record


def get_weighing(session: Session, weighing_id: int) -> WeighingRecord:
    record = session.get(WeighingRecord, weighing_id)
    if record is None:
        raise NotFound(N_("No weighing record {id}"), id=weighing_id)
    return record


def weighing_by_code(session: Session, code: str) -> WeighingRecord | None:
    return session.scalar(select(WeighingRecord).where(WeighingRecord.code == _scanned(code).upper()))


def list_weighings(
    session: Session, *, batch_no: str = "", material: str = "", step: str = "", source: str = "",
    weigher: str = "", since: date | None = None, until: date | None = None, order_id: int | None = None,
    limit: int = 500,
) -> list[WeighingRecord]:  # fmt: skip
    query = select(WeighingRecord)
    if order_id is not None:
        query = query.where(WeighingRecord.batch_order_id == order_id)
    if batch_no.strip():
        query = query.where(WeighingRecord.batch_no == batch_no.strip().upper())
    if material.strip():
        text = material.strip()
        query = query.where(
            (WeighingRecord.material_code == text.upper()) | WeighingRecord.material_name.contains(text)
            | (WeighingRecord.lot_number == text.upper())
        )  # fmt: skip
    if step.strip():
        query = query.where(WeighingRecord.step_code == step.strip().upper())
    if source.strip():
        query = query.where(WeighingRecord.source == source.strip())
    if weigher.strip():
        query = query.where(WeighingRecord.weighed_by == weigher.strip().lower())
    if since is not None:
        query = query.where(WeighingRecord.weighed_at >= _beijing_midnight(since))
    if until is not None:
        query = query.where(WeighingRecord.weighed_at < _beijing_midnight(until + timedelta(days=1)))
    return list(session.scalars(query.order_by(WeighingRecord.id.desc()).limit(limit)))


def _beijing_midnight(day: date) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo("Asia/Shanghai"))


def charged_weighings(session: Session, ids: Iterable[int]) -> set[int]:
    wanted = list(ids)
    if not wanted:
        return set()
    found = session.scalars(select(MaterialCharge.weighing_id).where(MaterialCharge.weighing_id.in_(wanted)))
    return {weighing_id for weighing_id in found if weighing_id is not None}


def photo_bytes(db: Database, record: WeighingRecord) -> bytes:
    if record.photo_sm3 is None:
        raise NotFound(N_("Weighing {code} has no photo"), code=record.code)
    return EVIDENCE.read(db, record.photo_sm3)


# --- material identification --------------------------------------------------------------------------


def identify(
    uow: UnitOfWork, principal: Principal, order_ref: str | int, step_code: str, data: IdentificationCreate
) -> MaterialIdentification:
    """Scan a container on a material identification step: name, code, lot, status and label are compared
    with the control recipe's BOM and the lot's record; a mismatch is refused on the spot and recorded."""
    session = uow.session
    context = _context(session, order_ref, step_code, ("material_identification",))
    _in_progress(session, context, principal)
    container = _usable_container(
        uow, context, data.scan, step_materials(context.step), action="identification"
    )
    lot = container.lot
    order = context.order
    record = MaterialIdentification(
        batch_order_id=order.id, batch_no=order.batch_no, step_code=context.step.code, scan=_scanned(data.scan)[:256],
        container_id=container.id, container_code=container.code, material_id=lot.material_id,
        material_code=lot.material.code, material_name=lot.material.name, lot_id=lot.id, lot_number=lot.lot_number,
        lot_status=lot.status, identified_at=clock.now(), identified_by=uow.actor.login,
        identified_by_name=uow.actor.full_name,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return record


def list_identifications(
    session: Session, order_id: int, step_code: str | None = None
) -> list[MaterialIdentification]:
    query = select(MaterialIdentification).where(MaterialIdentification.batch_order_id == order_id)
    if step_code:
        query = query.where(MaterialIdentification.step_code == step_code)
    return list(session.scalars(query.order_by(MaterialIdentification.id)))


# --- charging -----------------------------------------------------------------------------------------


def charged_quantity(session: Session, order_id: int, step_code: str) -> Decimal:
    total = session.scalar(
        select(func.coalesce(func.sum(MaterialCharge.quantity), 0)).where(
            MaterialCharge.batch_order_id == order_id, MaterialCharge.step_code == step_code
        )
    )
    return Decimal(total or 0)


def charge(
    uow: UnitOfWork, principal: Principal, order_ref: str | int, step_code: str, data: ChargeCreate
) -> MaterialCharge:
    """Charge a weighed portion (its weighing label scanned) or a quantity from an identified container
    (TJ-6.4.3.3.e: the actual lot and quantity), never more than the scaled BOM allows."""
    session = uow.session
    context = _context(session, order_ref, step_code, ("charging",))
    _in_progress(session, context, principal)
    order = context.order
    need = need_for(session, order, context.step)
    done = charged_quantity(session, order.id, context.step.code)
    weighing = weighing_by_code(session, data.scan)
    movement_id: int | None = None
    if weighing is not None:
        problems: list[Problem] = []
        if weighing.batch_order_id != order.id:
            problems.append(Problem("other_batch", N_("Weighing {code} belongs to batch {batch}"),
                                    {"code": weighing.code, "batch": weighing.batch_no}))  # fmt: skip
        if weighing.material_code != need.material_code:
            problems.append(Problem(
                "wrong_material", N_("Weighing {code} is of {material}, not of {expected}"),
                {"code": weighing.code, "material": weighing.material_code, "expected": need.material_code},
            ))  # fmt: skip
        if session.scalar(select(MaterialCharge.id).where(MaterialCharge.weighing_id == weighing.id)):
            problems.append(
                Problem("charged", N_("Weighing {code} is charged already"), {"code": weighing.code})
            )
        if problems:
            _refuse_material(uow, context, data.scan, problems, action="charging")
        quantity, unit = weighing.quantity, weighing.unit
        container_id, container_code = weighing.container_id, weighing.container_code
        material_id, material_code, material_name = (
            weighing.material_id,
            weighing.material_code,
            weighing.material_name,
        )
        lot_id, lot_number = weighing.lot_id, weighing.lot_number
        source = "weighing"
    else:
        if data.quantity is None:
            raise ValidationFailed(N_("Give the quantity charged from the container"))
        container = _usable_container(uow, context, data.scan, [need.material_code], action="charging")
        quantity, unit = data.quantity, need.unit
        if container.unit == need.unit:
            issued = quantity
        elif container.unit in UNITS and need.unit in UNITS:
            issued = convert(quantity, need.unit, container.unit)
        else:
            raise ValidationFailed(N_("The container is counted in {unit}, the BOM in {bom_unit}"),
                                   unit=container.unit, bom_unit=need.unit)  # fmt: skip
        issued = round_gbt8170(issued, STOCK_PLACES)
        lot = container.lot
        container_id, container_code = container.id, container.code
        material_id, material_code, material_name = lot.material_id, lot.material.code, lot.material.name
        lot_id, lot_number = lot.id, lot.lot_number
        source = "container"
    if done + quantity > need.high:
        problem = Problem(
            "above_bom",
            N_("Charging {quantity} {unit} more of {material} would exceed the BOM ({done} charged, at most {high})"),
            {"quantity": plain_number(quantity), "unit": unit, "material": need.material_code,
             "done": plain_number(done), "high": plain_number(need.high)},
        )  # fmt: skip
        _refuse_material(uow, context, data.scan, [problem], action="charging")
    if source == "container":
        movement = stock.move(
            uow,
            MovementCreate(kind="issue", container=container_code, quantity=issued, batch_no=order.batch_no,
                           reference=context.step.code, reason=f"charged on step {context.step.code}"),
        )  # fmt: skip
        movement_id = movement.id
    record = MaterialCharge(
        batch_order_id=order.id, batch_no=order.batch_no, step_code=context.step.code, source=source,
        weighing_id=weighing.id if weighing is not None else None, container_id=container_id,
        container_code=container_code, material_id=material_id, material_code=material_code,
        material_name=material_name, lot_id=lot_id, lot_number=lot_number, quantity=quantity, unit=unit,
        movement_id=movement_id, charged_at=clock.now(), charged_by=uow.actor.login,
        charged_by_name=uow.actor.full_name,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return record


def list_charges(session: Session, order_id: int, step_code: str | None = None) -> list[MaterialCharge]:
    query = select(MaterialCharge).where(MaterialCharge.batch_order_id == order_id)
    if step_code:
        query = query.where(MaterialCharge.step_code == step_code)
    return list(session.scalars(query.order_by(MaterialCharge.id)).unique())


# --- what a step still lacks --------------------------------------------------------------------------


def _band(need: Need, done: Decimal) -> str | None:
    if need.low <= done <= need.high:
        return None
    return N_("{done} {unit} of {material} recorded; the batch needs {low} … {high} {unit}").format(
        done=plain_number(done) or "0", unit=need.unit, material=need.material_code,
        low=plain_number(need.low), high=plain_number(need.high),
    )  # fmt: skip


def missing_evidence(session: Session, order: BatchOrder, step_code: str) -> list[str]:
    """What a weighing, material identification or charging step still lacks before it may be completed
    (English reasons; none: complete). Other step types lack nothing here."""
    from pharmatrace.mes import execution

    body = execution.control_body(session, order)
    step = recipe_step(body, step_code)
    missing: list[str] = []
    if step.type == "weighing":
        need = need_for(session, order, step)
        done = weighed_quantity(session, order.id, step.code)
        if done == 0:
            missing.append(N_("No weighing of {material} is recorded").format(material=need.material_code))
        elif (reason := _band(need, done)) is not None:
            missing.append(reason)
    elif step.type == "material_identification":
        identified = {i.material_code for i in list_identifications(session, order.id, step.code)}
        for material in step_materials(step):
            if material not in identified:
                missing.append(N_("No container of {material} is identified").format(material=material))
    elif step.type == "charging":
        need = need_for(session, order, step)
        done = charged_quantity(session, order.id, step.code)
        if done == 0:
            missing.append(N_("No charge of {material} is recorded").format(material=need.material_code))
        elif (reason := _band(need, done)) is not None:
            missing.append(reason)
    if (
        step.type in ("weighing", "charging")
        and (reason := _lots_short(session, order, body, step)) is not None
    ):
        missing.append(reason)
    return missing


def _lots_short(session: Session, order: BatchOrder, body: RecipeBody, step: Step) -> str | None:
    """TJ-6.4.1: fewer different lots of the BOM line's material used on the step than the recipe asks for
    (``min_lots``, the number of herb lots the product category needs); None when enough or not asked."""
    item = next((i for i in body.bom if i.step == step.code), None)
    if item is None or item.min_lots is None:
        return None
    model = WeighingRecord if step.type == "weighing" else MaterialCharge
    used = sorted(set(session.scalars(
        select(model.lot_number).where(model.batch_order_id == order.id, model.step_code == step.code)
    )))  # fmt: skip
    if len(used) >= item.min_lots:
        return None
    return N_("{material}: lots used {count} ({lots}); the product needs at least {needed}").format(
        count=len(used), material=item.material_code, lots=", ".join(used) or "—", needed=item.min_lots
    )


# --- public forms -------------------------------------------------------------------------------------


def endpoint_public(session: Session, endpoint: ScaleEndpoint) -> ScaleEndpointPublic:
    equipment = equipment_of(session, endpoint)
    moment = clock.now()
    return ScaleEndpointPublic(
        id=endpoint.id, equipment_code=equipment.code, equipment_name=equipment.name,
        equipment_class=equipment.equipment_class, host=endpoint.host, port=endpoint.port,
        capacity=plain_number(equipment.capacity) or "", readability=plain_number(equipment.readability) or "",
        weight_unit=equipment.weight_unit or "", calibration=ScaleFacts.from_equipment(equipment).calibration_at(moment),
        usable=equipment_service.may_use(session, equipment, moment).usable, created_at=endpoint.created_at,
        created_by=endpoint.created_by, voided_at=endpoint.voided_at,
    )  # fmt: skip


def weighing_public(record: WeighingRecord, *, charged: bool = False) -> WeighingPublic:
    from pharmatrace.mes.datasets import WEIGHING_DATA_SET

    return WeighingPublic(
        id=record.id, code=record.code, batch_no=record.batch_no, product_code=record.product_code,
        product_name=record.product_name, step_code=record.step_code, material_code=record.material_code,
        material_name=record.material_name, lot_number=record.lot_number, container_code=record.container_code,
        scale_code=record.scale_code, scale_name=record.scale_name, calibration_status=record.calibration_status,
        readability=record.readability, weight_unit=record.weight_unit, tare=record.tare, gross=record.gross,
        net=record.net, unit=record.unit, target=record.target, tolerance=record.tolerance, quantity=record.quantity,
        issued_quantity=record.issued_quantity, source=record.source, manual_reason=record.manual_reason,
        photo_sm3=record.photo_sm3, approved_by=record.approved_by, weighed_at=record.weighed_at,
        weighed_by=record.weighed_by, weighed_by_name=record.weighed_by_name, charged=charged,
        data_set=WEIGHING_DATA_SET.record(record),
    )  # fmt: skip


def identification_public(record: MaterialIdentification) -> IdentificationPublic:
    return IdentificationPublic(
        id=record.id, batch_no=record.batch_no, step_code=record.step_code, container_code=record.container_code,
        material_code=record.material_code, material_name=record.material_name, lot_number=record.lot_number,
        lot_status=record.lot_status, identified_at=record.identified_at, identified_by=record.identified_by,
        identified_by_name=record.identified_by_name,
    )  # fmt: skip


def charge_public(record: MaterialCharge) -> ChargePublic:
    return ChargePublic(
        id=record.id, batch_no=record.batch_no, step_code=record.step_code, source=record.source,
        weighing_code=record.weighing.code if record.weighing is not None else None,
        container_code=record.container_code, material_code=record.material_code,
        material_name=record.material_name, lot_number=record.lot_number, quantity=record.quantity,
        unit=record.unit, charged_at=record.charged_at, charged_by=record.charged_by,
        charged_by_name=record.charged_by_name,
    )  # fmt: skip


def _material_name(session: Session, code: str) -> str:
    from pharmatrace.wms.models import Material

    return session.scalar(select(Material.name).where(Material.code == code)) or code


def step_evidence(session: Session, order_ref: str | int, step_code: str) -> StepEvidence:
    """What the step needs and what is recorded for it (the panel of the step page, the API)."""
    context = step_context(session, order_ref, step_code)
    order, step = context.order, context.step
    needs: list[MaterialNeed] = []
    if step.type in ("weighing", "charging"):
        need = need_for(session, order, step)
        done = (weighed_quantity if step.type == "weighing" else charged_quantity)(
            session, order.id, step.code
        )
        needs.append(MaterialNeed(
            material_code=need.material_code, material_name=_material_name(session, need.material_code),
            unit=need.unit, quantity=need.quantity, low=need.low, high=need.high, done=done,
            remaining=max(need.quantity - done, Decimal(0)),
        ))  # fmt: skip
    weighings = list_weighings(session, order_id=order.id, step=step.code) if step.type == "weighing" else []
    if step.type == "charging":  # the weighed portions waiting to be charged
        need = need_for(session, order, step)
        weighings = [
            w for w in list_weighings(session, order_id=order.id, material=need.material_code)
            if w.material_code == need.material_code
        ]  # fmt: skip
    charged = charged_weighings(session, (w.id for w in weighings))
    return StepEvidence(
        batch_no=order.batch_no, step_code=step.code, step_type=step.type, needs=needs,
        weighings=[weighing_public(w, charged=w.id in charged) for w in weighings],
        identifications=[identification_public(i) for i in list_identifications(session, order.id, step.code)],
        charges=[charge_public(c) for c in list_charges(session, order.id, step.code)],
        missing=missing_evidence(session, order, step.code),
    )  # fmt: skip


# --- the demo plant -----------------------------------------------------------------------------------

# The balances of the weighing room answer on loopback in the demo: ``pharmatrace scale simulate --port
# 4305 --capacity 220 --readability 0.0001`` and ``… --port 4306 --capacity 6200 --readability 0.01``.
DEMO_ENDPOINTS = (("BAL-01", "127.0.0.1", 4305), ("BAL-02", "127.0.0.1", 4306))
# The 150 kg floor scale (``… --port 4307 --capacity 150 --readability 0.01 --unit kg``): its address is
# registered by the demo history (mes.history_demo, after its data interface was serviced), not at set-up;
# ``serve --demo-scales`` simulates it with the balances.
DEMO_FLOOR_SCALE = ("SC-01", "127.0.0.1", 4307)


def seed_scale_endpoints(db: Database, login: str = "wuhao") -> int:
    """Register the demo balances' MT-SICS addresses unless registered; returns how many were added."""
    from pharmatrace.kernel.identity import service as identity

    added = 0
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None
        actor = identity.principal_of(user).actor
    with UnitOfWork(db, actor, reason="demo plant seed: scale interfaces") as uow:
        for code, host, port in DEMO_ENDPOINTS:
            found = uow.session.scalar(select(Equipment).where(Equipment.code == code))
            if found is None or uow.session.scalar(
                select(ScaleEndpoint.id).where(ScaleEndpoint.equipment_id == found.id)
            ):
                continue
            register_endpoint(uow, ScaleEndpointCreate(equipment=code, host=host, port=port))
            added += 1
        uow.commit()
    return added
