"""Sampling plans, sampling, samples and their lifecycle, retention (TJ-7.5, TJ-B.2.4.1, TJ-6.4.1).

Every write goes through the caller's unit of work and needs ``lims.sample.manage`` (QC); a refused command
changes nothing. Sampling a lot:

1. the lot must be sampleable: not void, not rejected, not expired (by status or by date), its receipt complete;
2. its plan (the one chosen, else the live plan for its material, else for its kind) gives the rule, and the
   rule gives k of the n containers that hold material (:mod:`pharmatrace.lims.sampling`);
3. the server draws the seed (``secrets``) and the k containers (``random.Random(seed).sample``) — only now,
   when the record is written, so a draw cannot be repeated until it suits anyone; the record keeps seed,
   rule, n, the population in order and the containers in the order drawn, so the draw can be repeated;
4. a quarantined lot goes under test through ``wms.lots.start_testing`` (the lot's own event), and where the
   plant keeps stock of a container the quantities taken leave it as ``sample``/``retain`` movements that name
   the sample code (``wms.stock.move``);
5. a test (or stability) sample and/or a retained sample are created, each with its first event "sampled".

A sample's state is the ``to_state`` of its last event (:data:`SAMPLE_EVENTS` says which event may follow
which state, for which kind of sample); each step locks the sample row and numbers its event, and the unique
(sample, number) pair refuses a second step taken at the same moment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, AuthenticationFailed, Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.identity.models import User
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import sampling
from pharmatrace.lims.sample_models import (
    SAMPLE_EVENTS,
    Sample,
    SampledContainer,
    SampleEvent,
    SamplingPlan,
    SamplingRecord,
)
from pharmatrace.lims.sample_schemas import (
    PlanCreate,
    PlanPublic,
    PlanUpdate,
    RetentionDuePublic,
    RetentionPublic,
    SampledContainerPublic,
    SampleDisposal,
    SampleEventPublic,
    SampleIssue,
    SampleObserve,
    SamplePublic,
    SampleReceive,
    SampleStore,
    SamplingCreate,
    SamplingProposal,
    SamplingRecordPublic,
)
from pharmatrace.wms import lots
from pharmatrace.wms.models import Container, Lot, Material, Receipt

MANAGE = "lims.sample.manage"
UNSAMPLEABLE = ("rejected", "expired")
RETENTION_MONTHS = 12  # TJ-6.4.1: kept until at least one year after the expiry of every product made


# --- plans (TJ-7.5.1) ------------------------------------------------------------------------------------


def get_plan(session: Session, plan_id: int) -> SamplingPlan:
    plan = session.get(SamplingPlan, plan_id)
    if plan is None:
        raise NotFound(N_("No sampling plan with ID {id}"), id=plan_id)
    return plan


def plan_by_code(session: Session, code: str) -> SamplingPlan:
    plan = session.scalar(select(SamplingPlan).where(SamplingPlan.code == code.strip().upper()))
    if plan is None:
        raise NotFound(N_("No sampling plan “{code}”"), code=code)
    return plan


def list_plans(session: Session, *, include_void: bool = False) -> list[SamplingPlan]:
    query = select(SamplingPlan).order_by(SamplingPlan.code)
    if not include_void:
        query = query.where(SamplingPlan.voided_at.is_(None))
    return list(session.scalars(query))


def plan_for(session: Session, material: Material) -> SamplingPlan | None:
    """The live plan of the material, else the live plan of its kind, else none."""
    live = SamplingPlan.voided_at.is_(None)
    own = session.scalar(select(SamplingPlan).where(live, SamplingPlan.material_id == material.id))
    if own is not None:
        return own
    return session.scalar(select(SamplingPlan).where(live, SamplingPlan.material_kind == material.kind))


def _material(session: Session, code: str) -> Material:
    material = session.scalar(select(Material).where(Material.code == code))
    if material is None or material.voided_at is not None:
        raise NotFound(N_("No material with code “{code}”"), code=code)
    return material


def create_plan(uow: UnitOfWork, principal: Principal, data: PlanCreate) -> SamplingPlan:
    principal.require(MANAGE)
    session = uow.session
    if session.scalar(select(SamplingPlan.id).where(SamplingPlan.code == data.code)) is not None:
        raise Conflict(N_("The sampling plan code {code} is taken"), code=data.code)
    material = _material(session, data.material_code) if data.material_code else None
    live = SamplingPlan.voided_at.is_(None)
    clash = session.scalar(
        select(SamplingPlan).where(live, SamplingPlan.material_id == material.id)
        if material is not None
        else select(SamplingPlan).where(live, SamplingPlan.material_kind == data.material_kind)
    )
    if clash is not None:
        raise Conflict(
            N_("{subject} has the sampling plan {code} already: change it or void it first"),
            subject=material.code if material is not None else data.material_kind, code=clash.code,
        )  # fmt: skip
    plan = SamplingPlan(
        code=data.code, name=data.name, material_id=material.id if material is not None else None,
        material_kind=data.material_kind if material is None else None, rule=data.rule,
        fixed_count=data.fixed_count, precious=data.precious, quantity_per_container=data.quantity_per_container,
        retained_per_container=data.retained_per_container, tool=data.tool, storage_condition=data.storage_condition,
        created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(plan)
    session.flush()
    return plan


def _live_plan(uow: UnitOfWork, plan_id: int) -> SamplingPlan:
    uow.session.execute(select(SamplingPlan.id).where(SamplingPlan.id == plan_id).with_for_update())
    plan = get_plan(uow.session, plan_id)
    if plan.voided_at is not None:
        raise Conflict(N_("The sampling plan {code} is void"), code=plan.code)
    return plan


def update_plan(uow: UnitOfWork, principal: Principal, plan_id: int, data: PlanUpdate) -> SamplingPlan:
    """Change a plan with a reason (audited old → new); the records made with it keep what they used."""
    principal.require(MANAGE)
    plan = _live_plan(uow, plan_id)
    uow.reason = data.reason
    values = data.model_dump(exclude={"reason"})
    changed = {k: v for k, v in values.items() if getattr(plan, k) != v}
    if not changed:
        raise ValidationFailed(N_("Nothing to change"))
    for key, value in changed.items():
        setattr(plan, key, value)
    uow.session.flush()
    return plan


def void_plan(uow: UnitOfWork, principal: Principal, plan_id: int, reason: str) -> SamplingPlan:
    principal.require(MANAGE)
    plan = _live_plan(uow, plan_id)
    uow.void(plan, reason)
    return plan


def rule_of(plan: SamplingPlan | SamplingRecord) -> sampling.Rule:
    return sampling.Rule(plan.rule, plan.fixed_count, plan.precious)


# --- sampling (TJ-7.5.1, TJ-B.2.4.1.1) -------------------------------------------------------------------


def find_lot(session: Session, text: str) -> Lot:
    """The lot a lot number, a container code or a scanned GS1 string names."""
    lot = lots.find_by_scan(session, text)
    if lot is None:
        raise NotFound(N_("No lot found for “{code}”"), code=text.strip())
    return lot


def check_sampleable(session: Session, lot: Lot) -> None:
    """Refuse a lot that is void, rejected or expired (by status or date), or whose receipt is open."""
    if lot.voided_at is not None:
        raise Conflict(N_("The lot {lot} is void"), lot=lot.lot_number)
    if lot.status in UNSAMPLEABLE:
        raise Conflict(N_("The lot {lot} is {status}: it cannot be sampled"), lot=lot.lot_number,
                       status=lot.status)  # fmt: skip
    if lot.expiry_date is not None and lot.expiry_date <= lots.today():
        raise Conflict(N_("The lot {lot} expired on {date}: it cannot be sampled"), lot=lot.lot_number,
                       date=lot.expiry_date.isoformat())  # fmt: skip
    receipt = session.scalar(select(Receipt).where(Receipt.lot_id == lot.id))
    if receipt is not None and receipt.status != "completed":
        raise Conflict(N_("The receipt {number} of this lot is not complete yet"), number=receipt.number)


def population(session: Session, lot: Lot) -> list[Container]:
    """The containers a draw chooses from: those of the lot that are not void and still hold material
    (a container the plant keeps no stock of counts as full), in container-number order."""
    from pharmatrace.wms.stock_models import StockBalance

    ids = [c.id for c in lot.containers]
    balances = {
        b.container_id: b
        for b in session.scalars(select(StockBalance).where(StockBalance.container_id.in_(ids)))
    }
    return [
        c for c in lot.containers
        if c.voided_at is None and (c.id not in balances or balances[c.id].quantity > 0)
    ]  # fmt: skip


def _plan_of(session: Session, lot: Lot, plan_code: str | None) -> SamplingPlan:
    if plan_code:
        plan = plan_by_code(session, plan_code)
        if plan.voided_at is not None:
            raise Conflict(N_("The sampling plan {code} is void"), code=plan.code)
        if plan.material_id not in (None, lot.material_id) or plan.material_kind not in (
            None,
            lot.material.kind,
        ):
            raise Conflict(N_("The sampling plan {code} is not for {material}"), code=plan.code,
                           material=lot.material.code)  # fmt: skip
        return plan
    found = plan_for(session, lot.material)
    if found is None:
        raise Conflict(N_("No sampling plan covers {material} or its kind: add one first"),
                       material=lot.material.code)  # fmt: skip
    return found


def propose(session: Session, lot_ref: str, plan_code: str | None = None) -> SamplingProposal:
    """What sampling the lot would take: plan, n, k (the containers are drawn only when it is recorded)."""
    lot = find_lot(session, lot_ref)
    check_sampleable(session, lot)
    plan = _plan_of(session, lot, plan_code)
    found = population(session, lot)
    if not found:
        raise Conflict(N_("No container of the lot {lot} holds material"), lot=lot.lot_number)
    return SamplingProposal(
        lot_id=lot.id, lot_number=lot.lot_number, lot_status=lot.status, material_code=lot.material.code,
        material_name=lot.material.name, plan_code=plan.code, rule_text=rule_of(plan).text,
        containers_total=len(found), sample_count=sampling.sample_count(rule_of(plan), len(found)),
        population=[c.code for c in found], quantity_per_container=plan.quantity_per_container,
        retained_per_container=plan.retained_per_container, unit=lot.unit, tool=plan.tool,
    )  # fmt: skip


def next_code(session: Session, letters: str) -> str:
    """``letters`` + year and month (Beijing) + "-" + a 4-digit serial per month: ``S2611-0001``."""
    from pharmatrace.wms.codes import next_serial

    prefix = f"{letters}{clock.to_beijing(clock.now()):%y%m}-"
    serial = next_serial(session, prefix + "#")
    if serial >= 10_000:
        raise Conflict(N_("The serial numbers of {prefix} are used up"), prefix=prefix)
    return f"{prefix}{serial:04d}"


def record_sampling(uow: UnitOfWork, principal: Principal, data: SamplingCreate) -> SamplingRecord:
    """Sample a lot: draw the containers, take the quantities, create the samples (see the module's text)."""
    principal.require(MANAGE)
    session = uow.session
    lot = find_lot(session, data.lot)
    session.execute(
        select(Lot.id).where(Lot.id == lot.id).with_for_update()
    )  # one sampling of a lot at a time
    session.refresh(lot)
    check_sampleable(session, lot)
    plan = _plan_of(session, lot, data.plan_code)
    per_test = (
        plan.quantity_per_container if data.quantity_per_container is None else data.quantity_per_container
    )
    per_retained = (
        plan.retained_per_container if data.retained_per_container is None else data.retained_per_container
    )
    if data.purpose == "retained" and per_retained == 0:
        raise ValidationFailed(N_("Sampling for retention takes a quantity for the retained sample"))
    if data.purpose != "retained" and per_test == 0:
        raise ValidationFailed(N_("Sampling for testing takes a quantity for the test sample"))
    containers = population(session, lot)
    if not containers:
        raise Conflict(N_("No container of the lot {lot} holds material"), lot=lot.lot_number)
    rule = rule_of(plan)
    count = sampling.sample_count(rule, len(containers))
    seed = sampling.new_seed()
    codes = [c.code for c in containers]
    drawn = sampling.select(codes, count, seed)
    code = next_code(session, "QY")
    uow.reason = uow.reason or f"sampling {code}"
    before = lot.status
    if lot.status == "quarantine":  # QC samples the lot: quarantine → under test (the lot's own event)
        lots.start_testing(uow, lot.id)
    now = clock.now()
    record = SamplingRecord(
        code=code, lot_id=lot.id, lot_number=lot.lot_number, material_id=lot.material_id,
        material_code=lot.material.code, material_name=lot.material.name, plan_id=plan.id, plan_code=plan.code,
        rule=rule.name, fixed_count=rule.fixed_count, precious=rule.precious, containers_total=len(codes),
        sample_count=count, seed=seed, population=json.dumps(codes), quantity_per_container=per_test,
        retained_per_container=per_retained, unit=lot.unit, purpose=data.purpose, place=data.place,
        tool=data.tool or plan.tool, conditions=data.conditions, remarks=data.remarks,
        lot_status_before=before, lot_status_after=lot.status, sampled_at=now, sampled_by=principal.login,
        sampled_by_name=principal.full_name,
    )  # fmt: skip
    session.add(record)
    session.flush()
    condition = plan.storage_condition or lot.material.storage_condition
    made: dict[str, Sample] = {}
    if per_test > 0:
        made["sample"] = _new_sample(uow, record, "stability" if data.purpose == "stability" else "test",
                                     per_test * count, condition)  # fmt: skip
    if per_retained > 0:
        made["retain"] = _new_sample(uow, record, "retained", per_retained * count, condition)
    by_code = {c.code: c for c in containers}
    for order, container_code in enumerate(drawn, start=1):
        container = by_code[container_code]
        taken = {"sample": per_test, "retain": per_retained}
        movements = {
            kind: _take(uow, container, kind, quantity, made[kind].code, code)
            for kind, quantity in taken.items()
            if quantity > 0
        }
        session.add(SampledContainer(
            sampling_record_id=record.id, container_id=container.id, container_code=container.code,
            draw_order=order, test_quantity=per_test, retained_quantity=per_retained, unit=container.unit,
            sample_movement_id=movements.get("sample"), retain_movement_id=movements.get("retain"),
        ))  # fmt: skip
    session.flush()
    return record


def _new_sample(
    uow: UnitOfWork, record: SamplingRecord, kind: str, quantity: Decimal, condition: str
) -> Sample:
    session = uow.session
    sample = Sample(
        code=next_code(session, "S"), kind=kind, sampling_record_id=record.id, lot_id=record.lot_id,
        lot_number=record.lot_number, material_id=record.material_id, material_code=record.material_code,
        material_name=record.material_name, quantity=quantity, unit=record.unit, storage_condition=condition,
        created_at=record.sampled_at, created_by=record.sampled_by,
    )  # fmt: skip
    session.add(sample)
    session.flush()
    session.add(SampleEvent(
        sample_id=sample.id, seq=1, event="sample", from_state=None, to_state="sampled", quantity=quantity,
        unit=record.unit, location=record.place, note=f"sampling record {record.code}", done_at=record.sampled_at,
        done_by=record.sampled_by, done_by_name=record.sampled_by_name,
    ))  # fmt: skip
    session.flush()
    return sample


def _take(uow: UnitOfWork, container: Container, kind: str, quantity: Decimal, sample_code: str,
          record_code: str) -> int | None:  # fmt: skip
    """Take the sampled quantity out of the container's stock, where the plant keeps stock of it."""
    from pharmatrace.wms import stock
    from pharmatrace.wms.stock_models import StockBalance
    from pharmatrace.wms.stock_schemas import MovementCreate

    balance = uow.session.get(StockBalance, container.id)
    if balance is None or balance.location_id is None:
        return None
    movement = stock.move(uow, MovementCreate(
        kind=kind, container=container.code, quantity=quantity, reference=sample_code,
        reason=f"sampling {record_code}",
    ))  # fmt: skip
    return movement.id


def get_record(session: Session, record_id: int) -> SamplingRecord:
    record = session.get(SamplingRecord, record_id)
    if record is None:
        raise NotFound(N_("No sampling record with ID {id}"), id=record_id)
    return record


def record_by_code(session: Session, code: str) -> SamplingRecord:
    record = session.scalar(select(SamplingRecord).where(SamplingRecord.code == code.strip().upper()))
    if record is None:
        raise NotFound(N_("No sampling record “{code}”"), code=code)
    return record


def list_records(session: Session, *, lot_id: int | None = None, limit: int = 200) -> list[SamplingRecord]:
    query = select(SamplingRecord).order_by(SamplingRecord.id.desc()).limit(limit)
    if lot_id is not None:
        query = query.where(SamplingRecord.lot_id == lot_id)
    return list(session.scalars(query).unique())


def repeat_draw(record: SamplingRecord) -> list[str]:
    """The containers the record's seed draws from its population: anyone can check the selection."""
    return sampling.select(json.loads(record.population), record.sample_count, record.seed)


def samples_of_record(session: Session, record_id: int) -> list[Sample]:
    return list(
        session.scalars(select(Sample).where(Sample.sampling_record_id == record_id).order_by(Sample.id))
    )


# --- samples and their lifecycle (TJ-7.5.2, TJ-B.2.4.1.2–6) -----------------------------------------------


def sample_by_code(session: Session, code: str) -> Sample:
    sample = session.scalar(select(Sample).where(Sample.code == code.strip().upper()))
    if sample is None:
        raise NotFound(N_("No sample “{code}”"), code=code.strip())
    return sample


def state_of(sample: Sample) -> str:
    """The sample's state: where its last event led."""
    return sample.events[-1].to_state


def available(sample: Sample) -> Decimal:
    """What is left of the sample: the amount received (else sampled) less what was issued or destroyed."""
    received = next((e.quantity for e in sample.events if e.event == "receive"), None)
    left = received if received is not None else sample.quantity
    for event in sample.events:
        if event.event in ("issue", "dispose", "destroy") and event.quantity is not None:
            left -= event.quantity
    return max(left, Decimal(0))


def storage_place(sample: Sample) -> SampleEvent | None:
    """The last storage step (stored or put into retention): where the sample is kept."""
    return next((e for e in reversed(sample.events) if e.event in ("store", "retain")), None)


def _locked_sample(uow: UnitOfWork, code: str) -> Sample:
    session = uow.session
    session.execute(select(Sample.id).where(Sample.code == code.strip().upper()).with_for_update())
    return sample_by_code(session, code)


def _begin(uow: UnitOfWork, principal: Principal, code: str, event: str) -> Sample:
    """Permission first, then the sample locked until commit, then its kind and state must allow ``event``."""
    principal.require(MANAGE)
    sample = _locked_sample(uow, code)
    kinds, starts, _ = SAMPLE_EVENTS[event]
    state = state_of(sample)
    if sample.kind not in kinds:
        raise Conflict(N_("“{event}” is not a step of a {kind} sample ({code})"), event=event, kind=sample.kind,
                       code=sample.code)  # fmt: skip
    if state not in starts:
        raise Conflict(N_("The sample {code} is {state}: “{event}” is not possible now"), code=sample.code,
                       state=state, event=event)  # fmt: skip
    return sample


def _append(uow: UnitOfWork, sample: Sample, event: str, **values: object) -> SampleEvent:
    """Append the step as the sample's next numbered event (the unique (sample, seq) refuses a twin)."""
    row = SampleEvent(
        sample_id=sample.id, seq=sample.events[-1].seq + 1, event=event, from_state=state_of(sample),
        to_state=SAMPLE_EVENTS[event][2], unit=sample.unit, done_at=clock.now(), done_by=uow.actor.login,
        done_by_name=uow.actor.full_name, **values,
    )  # fmt: skip
    uow.session.add(row)
    uow.session.flush()
    uow.session.refresh(sample, ["events"])
    return row


def receive(uow: UnitOfWork, principal: Principal, code: str, data: SampleReceive) -> SampleEvent:
    """The lab receives the sample (TJ-B.2.4.1.2): amount, condition on receipt, who and when."""
    sample = _begin(uow, principal, code, "receive")
    if data.quantity > sample.quantity:
        raise ValidationFailed(N_("{quantity} {unit} received is more than the {sampled} {unit} sampled"),
                               quantity=data.quantity, sampled=sample.quantity, unit=sample.unit)  # fmt: skip
    return _append(uow, sample, "receive", quantity=data.quantity, conditions=data.condition, note=data.note)


def _equipment(session: Session, code: str | None) -> dict[str, object]:
    if not code:
        return {}
    from pharmatrace.equipment.models import Equipment

    found = session.scalar(select(Equipment).where(Equipment.code == code))
    if found is None or found.voided_at is not None:
        raise NotFound(N_("No equipment with code “{code}”"), code=code)
    return {"equipment_id": found.id, "equipment_code": found.code, "equipment_name": found.name}


def store(uow: UnitOfWork, principal: Principal, code: str, data: SampleStore) -> SampleEvent:
    """The sample is stored (TJ-B.2.4.1.3): location, storage equipment, conditions (e.g. 2–8 °C, 阴凉)."""
    sample = _begin(uow, principal, code, "store")
    place = _equipment(uow.session, data.equipment_code)
    return _append(uow, sample, "store", location=data.location, conditions=data.conditions, note=data.note,
                   **place)  # fmt: skip


def retain(uow: UnitOfWork, principal: Principal, code: str, data: SampleStore) -> SampleEvent:
    """A retained sample goes into retention (留样, TJ-B.2.4.1.6): where and under which conditions."""
    sample = _begin(uow, principal, code, "retain")
    place = _equipment(uow.session, data.equipment_code)
    return _append(uow, sample, "retain", location=data.location, conditions=data.conditions, note=data.note,
                   **place)  # fmt: skip


def issue(uow: UnitOfWork, principal: Principal, code: str, data: SampleIssue) -> SampleEvent:
    """The sample (or part of it) is issued for testing."""
    sample = _begin(uow, principal, code, "issue")
    left = available(sample)
    if data.quantity > left:
        raise ValidationFailed(N_("Only {left} {unit} of the sample {code} is left"), left=left, unit=sample.unit,
                               code=sample.code)  # fmt: skip
    return _append(uow, sample, "issue", quantity=data.quantity, note=data.note)


def observe(uow: UnitOfWork, principal: Principal, code: str, data: SampleObserve) -> SampleEvent:
    """A periodic observation of a retained sample (留样观察): what was seen."""
    sample = _begin(uow, principal, code, "observe")
    return _append(uow, sample, "observe", conditions=data.observation, note=data.note)


def _witness(uow: UnitOfWork, login: str, password: str) -> User:
    """The second person who witnesses a disposal: an active account, not the one who disposes, with password."""
    from pharmatrace.kernel.identity import service as identity
    from pharmatrace.kernel.identity.passwords import verify_password

    user = identity.find_user(uow.session, login)
    if user is None or not user.active or user.locked or not verify_password(user.password_hash, password):
        raise AuthenticationFailed(N_("The witness's log-in ID or password is wrong"))
    if user.login == uow.actor.login:
        raise ValidationFailed(N_("The witness must be another person than the one who disposes"))
    return user


def _disposal(
    uow: UnitOfWork, principal: Principal, code: str, event: str, data: SampleDisposal
) -> SampleEvent:
    sample = _begin(uow, principal, code, event)
    left = available(sample)
    quantity = left if data.quantity is None else data.quantity
    if quantity > left:
        raise ValidationFailed(N_("Only {left} {unit} of the sample {code} is left"), left=left, unit=sample.unit,
                               code=sample.code)  # fmt: skip
    if event == "destroy":
        due = retention_of(uow.session, sample.lot_id)
        if due.until is None:
            raise Conflict(N_("The retention period of {code} is still open: {why}"), code=sample.code,
                           why=due.why)  # fmt: skip
        if due.until > lots.today():
            raise Conflict(N_("The sample {code} is retained until {date}"), code=sample.code,
                           date=due.until.isoformat())  # fmt: skip
    witness = _witness(uow, data.witness_login, data.witness_password)
    return _append(uow, sample, event, quantity=quantity, remaining=left, method=data.method, location=data.site,
                   witness=witness.login, witness_name=witness.full_name, note=data.note)  # fmt: skip


def dispose(uow: UnitOfWork, principal: Principal, code: str, data: SampleDisposal) -> SampleEvent:
    """The remaining test sample disposed of (剩余样品处理, TJ-B.2.4.1.5), witnessed."""
    return _disposal(uow, principal, code, "dispose", data)


def destroy(uow: UnitOfWork, principal: Principal, code: str, data: SampleDisposal) -> SampleEvent:
    """A retained sample destroyed at the end of its retention (TJ-6.4.1), witnessed; refused before."""
    return _disposal(uow, principal, code, "destroy", data)


def list_samples(
    session: Session, *, state: str = "", kind: str = "", text: str = "", lot_id: int | None = None,
    limit: int = 500,
) -> list[tuple[Sample, str]]:  # fmt: skip
    """Samples with their current state, newest first; filtered by state, kind, lot, or text (code, lot,
    material)."""
    last = (
        select(SampleEvent.sample_id, func.max(SampleEvent.seq).label("seq"))
        .group_by(SampleEvent.sample_id)
        .subquery()
    )
    query = (
        select(Sample, SampleEvent.to_state)
        .join(last, last.c.sample_id == Sample.id)
        .join(SampleEvent, and_(SampleEvent.sample_id == Sample.id, SampleEvent.seq == last.c.seq))
        .order_by(Sample.id.desc())
        .limit(limit)
    )
    if state:
        query = query.where(SampleEvent.to_state == state)
    if kind:
        query = query.where(Sample.kind == kind)
    if lot_id is not None:
        query = query.where(Sample.lot_id == lot_id)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(or_(Sample.code.like(like.upper()), Sample.lot_number.like(like.upper()),
                                Sample.material_code.like(like.upper()), Sample.material_name.like(like)))  # fmt: skip
    return [(sample, current) for sample, current in session.execute(query).unique()]


def count_by_state(session: Session) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, state in list_samples(session, limit=100_000):
        counts[state] = counts.get(state, 0) + 1
    return counts


# --- retention (TJ-6.4.1) -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchMade:
    batch_no: str
    expiry_date: date | None  # None while the batch's expiry is not known (not packaged yet)


@dataclass(frozen=True, slots=True)
class Retention:
    """Until when a lot's retained samples are kept: one year after the lot's expiry and after the expiry
    of every batch made from it; ``until`` is None ("open") while a batch's expiry is not known yet, or
    when neither the lot nor any batch has an expiry."""

    until: date | None
    lot_expiry: date | None
    batches: tuple[BatchMade, ...] = field(default_factory=tuple)

    @property
    def why(self) -> str:
        pending = [b.batch_no for b in self.batches if b.expiry_date is None]
        if pending:
            return "the expiry of batch " + ", ".join(pending) + " is not known yet"
        return "neither the lot nor a batch made from it has an expiry date"


def batches_made_from(session: Session, lot_id: int) -> list[BatchMade]:
    """The batches a lot went into (its charges and weighings, TJ-6.4.3.3.e), with their expiry from their
    packaging record; cancelled orders made nothing."""
    from pharmatrace.mes.dispensing_models import MaterialCharge, WeighingRecord
    from pharmatrace.mes.execution_models import BatchOrder
    from pharmatrace.mes.packaging_models import PackagingRecord

    ids = set(session.scalars(select(MaterialCharge.batch_order_id).where(MaterialCharge.lot_id == lot_id)))
    ids |= set(session.scalars(select(WeighingRecord.batch_order_id).where(WeighingRecord.lot_id == lot_id)))
    if not ids:
        return []
    orders = session.scalars(
        select(BatchOrder)
        .where(BatchOrder.id.in_(ids), BatchOrder.status != "cancelled")
        .order_by(BatchOrder.batch_no)
    )
    expiry = dict(
        session.execute(
            select(PackagingRecord.batch_order_id, PackagingRecord.expiry_date).where(
                PackagingRecord.batch_order_id.in_(ids)
            )
        ).all()
    )
    return [BatchMade(o.batch_no, expiry.get(o.id)) for o in orders]


def plus_year(day: date) -> date:
    return lots.add_months(day, RETENTION_MONTHS)


def retention_of(session: Session, lot_id: int) -> Retention:
    """The retention due date of the lot's retained samples from what exists now (TJ-6.4.1)."""
    lot = lots.get_lot(session, lot_id)
    batches = tuple(batches_made_from(session, lot_id))
    dates = [plus_year(lot.expiry_date)] if lot.expiry_date is not None else []
    if any(b.expiry_date is None for b in batches):
        return Retention(None, lot.expiry_date, batches)
    dates += [plus_year(b.expiry_date) for b in batches if b.expiry_date is not None]
    return Retention(max(dates) if dates else None, lot.expiry_date, batches)


@dataclass(frozen=True, slots=True)
class DueRow:
    sample: Sample
    state: str
    retention: Retention
    days_left: int


def retention_due(session: Session, *, days: int, today: date | None = None) -> list[DueRow]:
    """Retained samples not destroyed whose retention ends within ``days`` (or has ended), soonest first."""
    today = today or lots.today()
    horizon = today + timedelta(days=days)
    rows: list[DueRow] = []
    cache: dict[int, Retention] = {}
    for sample, state in list_samples(session, kind="retained", limit=100_000):
        if state == "destroyed":
            continue
        due = cache.get(sample.lot_id) or retention_of(session, sample.lot_id)
        cache[sample.lot_id] = due
        if due.until is not None and due.until <= horizon:
            rows.append(DueRow(sample, state, due, (due.until - today).days))
    return sorted(rows, key=lambda r: (r.days_left, r.sample.code))


# --- output ------------------------------------------------------------------------------------------


def plan_public(session: Session, plan: SamplingPlan) -> PlanPublic:
    material = session.get(Material, plan.material_id) if plan.material_id is not None else None
    return PlanPublic(
        id=plan.id, code=plan.code, name=plan.name, material_code=material.code if material else None,
        material_name=material.name if material else None, material_kind=plan.material_kind, rule=plan.rule,
        rule_text=rule_of(plan).text, fixed_count=plan.fixed_count, precious=plan.precious,
        quantity_per_container=plan.quantity_per_container, retained_per_container=plan.retained_per_container,
        tool=plan.tool, storage_condition=plan.storage_condition, created_at=plan.created_at,
        created_by=plan.created_by, voided_at=plan.voided_at,
    )  # fmt: skip


def record_public(session: Session, record: SamplingRecord) -> SamplingRecordPublic:
    selected = [c.container_code for c in record.containers]
    return SamplingRecordPublic(
        id=record.id, code=record.code, lot_id=record.lot_id, lot_number=record.lot_number,
        material_code=record.material_code, material_name=record.material_name, plan_code=record.plan_code,
        rule=record.rule, rule_text=rule_of(record).text, precious=record.precious,
        containers_total=record.containers_total, sample_count=record.sample_count, seed=str(record.seed),
        population=json.loads(record.population), selected=selected, reproduced=repeat_draw(record) == selected,
        quantity_per_container=record.quantity_per_container, retained_per_container=record.retained_per_container,
        unit=record.unit, purpose=record.purpose, place=record.place, tool=record.tool, conditions=record.conditions,
        remarks=record.remarks, lot_status_before=record.lot_status_before, lot_status_after=record.lot_status_after,
        sampled_at=record.sampled_at, sampled_by=record.sampled_by, sampled_by_name=record.sampled_by_name,
        containers=[SampledContainerPublic(
            container_code=c.container_code, draw_order=c.draw_order, test_quantity=c.test_quantity,
            retained_quantity=c.retained_quantity, unit=c.unit, sample_movement_id=c.sample_movement_id,
            retain_movement_id=c.retain_movement_id,
        ) for c in record.containers],
        samples=[s.code for s in samples_of_record(session, record.id)],
    )  # fmt: skip


def event_public(event: SampleEvent) -> SampleEventPublic:
    return SampleEventPublic(
        seq=event.seq, event=event.event, from_state=event.from_state, to_state=event.to_state,
        quantity=event.quantity, remaining=event.remaining, unit=event.unit, location=event.location,
        equipment_code=event.equipment_code, equipment_name=event.equipment_name, conditions=event.conditions,
        method=event.method, witness=event.witness, witness_name=event.witness_name, note=event.note,
        done_at=event.done_at, done_by=event.done_by, done_by_name=event.done_by_name,
    )  # fmt: skip


def retention_public(retention: Retention) -> RetentionPublic:
    return RetentionPublic(
        until=retention.until, open=retention.until is None, lot_expiry=retention.lot_expiry,
        batches=[(b.batch_no, b.expiry_date) for b in retention.batches],
    )  # fmt: skip


def sample_public(session: Session, sample: Sample) -> SamplePublic:
    kept = storage_place(sample)
    first = sample.events[0]
    retention = retention_of(session, sample.lot_id) if sample.kind == "retained" else None
    return SamplePublic(
        id=sample.id, code=sample.code, kind=sample.kind, state=state_of(sample), lot_id=sample.lot_id,
        lot_number=sample.lot_number, material_code=sample.material_code, material_name=sample.material_name,
        quantity=sample.quantity, available=available(sample), unit=sample.unit,
        storage_condition=sample.storage_condition, location=kept.location if kept else "",
        sampling_record=sample.record.code, sampled_at=first.done_at, sampled_by=first.done_by,
        sampled_by_name=first.done_by_name, retention=retention_public(retention) if retention else None,
        events=[event_public(e) for e in sample.events],
    )  # fmt: skip


def samples_public(session: Session, samples: Iterable[Sample]) -> list[SamplePublic]:
    return [sample_public(session, s) for s in samples]


def offered_events(principal: Principal, sample: Sample) -> Sequence[str]:
    """The steps the sample's state and kind allow now, for someone who may take them."""
    if not principal.can(MANAGE):
        return ()
    state = state_of(sample)
    return [
        name for name, (kinds, starts, _) in SAMPLE_EVENTS.items() if sample.kind in kinds and state in starts
    ]


def due_public(row: DueRow) -> RetentionDuePublic:
    kept = storage_place(row.sample)
    assert row.retention.until is not None  # only known dates are due
    return RetentionDuePublic(
        code=row.sample.code, state=row.state, lot_number=row.sample.lot_number,
        material_code=row.sample.material_code, material_name=row.sample.material_name,
        quantity=row.sample.quantity, unit=row.sample.unit, location=kept.location if kept else "",
        until=row.retention.until, days_left=row.days_left,
    )  # fmt: skip
