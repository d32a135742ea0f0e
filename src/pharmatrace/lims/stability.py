"""Stability studies (稳定性考察, SH-6.2.3): protocols, approval by signature, placement in the chamber, pull
points with due dates and reminders, pulls that create test orders, trends and ICH Q1E shelf life.

* A protocol is written by a holder of ``lims.spec.author`` as a draft: product, study type, storage condition,
  chamber (an equipment code of the register), pull points in months, the window around each due date, the start
  date, the quantity each pull takes, the shelf-life specification (effective version, purpose shelf life) and
  its numeric test items to trend, and the batches (warehouse lots of the material, or MES batch orders that
  make it). Its canonical content is hashed (SM3, ``content_sm3``); every change is in the audit trail.
* It is approved by an electronic signature (meaning "approved", action ``lims.stability.approve``) of a holder
  of ``lims.spec.approve`` who did not write it (SH-7.1.4), given on an append-only approval row naming the hash.
  A holder of ``lims.spec.approve`` may cancel a study with a reason; nothing is deleted.
* Holders of ``lims.sample.manage`` place samples in the chamber (which must be usable by the equipment
  register) and pull points: within ± the window of the due date (start + months, calendar months), never
  before; after the window only with a note. A pull takes the protocol's quantity of every batch, issues it
  from the stability sample where the samples service holds it, and creates the test order through
  :func:`pharmatrace.lims.results.create_order` (``source="stability"``, ``source_ref="<study>/T<months>"``).
  A point is pulled once per batch (a unique index holds this too).
* The trend of each attribute is read from the reviewed results of the study's orders, fitted and bounded by
  :mod:`pharmatrace.lims.stats`, and drawn by :mod:`pharmatrace.lims.stability_charts`.

Every refusal raises a typed error and changes nothing.
"""

from __future__ import annotations

import calendar
import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.equipment import service as equipment
from pharmatrace.equipment.models import Equipment
from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import judgement, results, samples, stats
from pharmatrace.lims.specs_models import SpecificationItem, SpecificationVersion
from pharmatrace.lims.stability_models import (
    StabilityApproval,
    StabilityBatch,
    StabilityPlacement,
    StabilityPull,
    StabilityStudy,
)
from pharmatrace.lims.stability_schemas import (
    ApprovalPublic,
    BatchPublic,
    BoundPublic,
    DueRow,
    EstimatePublic,
    LinePublic,
    PlacementCreate,
    PlacementPublic,
    Protocol,
    PullCreate,
    PullPublic,
    SchedulePoint,
    SignaturePublic,
    StudyCreate,
    StudyDetail,
    StudyPublic,
    StudyUpdate,
    TrendPoint,
    TrendPublic,
)
from pharmatrace.wms.models import Lot, Material

AUTHOR_PERMISSION = "lims.spec.author"
APPROVE_PERMISSION = "lims.spec.approve"
HANDLE_PERMISSION = "lims.sample.manage"
APPROVE_ACTION = "lims.stability.approve"  # the signable action (kernel/esign/policy.py)
APPROVAL_TYPE = "lims_stability_approval"
EDITED = "stability protocol edited"
NUMERIC = judgement.NUMERIC_LIMITS
MIN_POINTS = 3  # a regression line with a confidence band needs one residual degree of freedom at least


class StudyDutiesNotSegregated(NotPermitted):
    """Who wrote a stability protocol may not approve it (SH-7.1.4)."""

    code = "stability_duties"


class PullRefused(Conflict):
    """A pull point that may not be pulled now: the message says why (window, already pulled, no sample)."""

    code = "stability_pull_refused"


# --- dates -----------------------------------------------------------------------------------------------


today = clock.today  # the plant's calendar day (Beijing)


def add_months(start: date, months: int) -> date:
    """``start`` plus calendar months; a day the month lacks becomes its last day (31 Jan + 1 → 28/29 Feb)."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def due_date(study: StabilityStudy, months: int) -> date:
    return add_months(study.start_date, months)


def window(study: StabilityStudy, months: int) -> tuple[date, date, date]:
    """(from, due, to): a point may be pulled from ``due − window`` and is late after ``due + window``."""
    due = due_date(study, months)
    days = timedelta(days=study.window_days)
    return due - days, due, due + days


def point_label(months: int) -> str:
    return f"T{months}"


# --- finding -------------------------------------------------------------------------------------------


def find_study(session: Session, code: str) -> StabilityStudy | None:
    return session.scalar(select(StabilityStudy).where(StabilityStudy.code == code.strip().upper()))


def get_study(session: Session, code: str) -> StabilityStudy:
    found = find_study(session, code)
    if found is None:
        raise NotFound(N_("No stability study {code}"), code=code.strip())
    return found


def list_studies(session: Session, *, status: str = "", text: str = "") -> list[StabilityStudy]:
    """Studies, newest first; ``status`` may be ``complete`` (derived); ``text`` matches code, title, material."""
    query = select(StabilityStudy).order_by(StabilityStudy.id.desc())
    if status in ("draft", "approved", "cancelled"):
        query = query.where(StabilityStudy.status == status)
    found = list(session.scalars(query).unique())
    if status == "complete":
        found = [s for s in found if study_status(s) == "complete"]
    elif status == "approved":
        found = [s for s in found if study_status(s) == "approved"]
    needle = text.strip().lower()
    if needle:
        found = [
            s for s in found
            if needle in s.code.lower() or needle in s.title.lower() or needle in s.material_code.lower()
            or needle in s.material_name.lower()
        ]  # fmt: skip
    return found


def pull_months(study: StabilityStudy) -> list[int]:
    loaded = json.loads(study.pull_months)
    return [int(m) for m in loaded]


def attributes(study: StabilityStudy) -> list[str]:
    loaded = json.loads(study.attributes)
    return [str(a) for a in loaded]


def study_status(study: StabilityStudy) -> str:
    """The stored status, or ``complete`` for an approved study whose every point is pulled for every batch."""
    if study.status != "approved" or not study.batches:
        return study.status
    pulled = {(p.batch_id, p.months) for p in study.pulls}
    every = all((b.id, m) in pulled for b in study.batches for m in pull_months(study))
    return "complete" if every else "approved"


# --- the protocol ----------------------------------------------------------------------------------------


def _material(session: Session, code: str) -> Material:
    material = session.scalar(select(Material).where(Material.code == code))
    if material is None or material.voided_at is not None:
        raise NotFound(N_("No material with code {code}"), code=code)
    return material


def _chamber(session: Session, code: str) -> Equipment:
    found = session.scalar(select(Equipment).where(Equipment.code == code))
    if found is None or found.voided_at is not None:
        raise NotFound(N_("No equipment with code “{code}”: the chamber must be in the equipment register"),
                       code=code)  # fmt: skip
    return found


def _spec_version(session: Session, body: Protocol, material: Material) -> SpecificationVersion:
    """The shelf-life specification the study tests against: approved, for shelf life, for this material."""
    from pharmatrace.lims import specs

    if body.spec_version is None:
        version = specs.effective_version(session, body.spec_code)
        if version is None:
            raise Conflict(N_("Specification {code} has no approved version"), code=body.spec_code)
    else:
        version = specs.version_of(session, body.spec_code, body.spec_version)
        if version.status != "approved":
            raise Conflict(N_("Version {version} of specification {code} is not the approved one"),
                           version=version.version, code=body.spec_code)  # fmt: skip
    if version.purpose not in ("shelf_life", "both"):
        raise Conflict(N_("Specification {code} is not a shelf-life specification"), code=body.spec_code)
    if material.code not in {m.material_code for m in version.materials}:
        raise Conflict(N_("Specification {code} does not apply to {material}"), code=body.spec_code,
                       material=material.code)  # fmt: skip
    return version


def _check_attributes(version: SpecificationVersion, names: Sequence[str]) -> None:
    items = {i.name: i for i in version.items}
    for name in names:
        item = items.get(name)
        if item is None:
            raise ValidationFailed(N_("Specification {code} v{version} has no test item {name}"),
                                   code=version.specification.code, version=version.version,
                                   name=name)  # fmt: skip
        if item.limit_type not in NUMERIC:
            raise ValidationFailed(
                N_("Test item {name} has no numeric limit: it cannot be trended"), name=name
            )


def _check_document(session: Session, number: str | None) -> None:
    if number is None:
        return
    from pharmatrace.documents.service import current_effective

    if current_effective(session, number) is None:
        raise Conflict(N_("Document {number} has no effective version"), number=number)


def resolve_batch(session: Session, material: Material, batch_no: str) -> tuple[int | None, int | None]:
    """(lot id, batch order id) of a batch of ``material``: a warehouse lot by its lot number, else an MES batch
    order by its batch number (not cancelled)."""
    from pharmatrace.mes.execution_models import BatchOrder

    lot = session.scalar(
        select(Lot).where(Lot.lot_number == batch_no, Lot.material_id == material.id, Lot.voided_at.is_(None))
    )
    if lot is not None:
        return lot.id, None
    order = session.scalar(
        select(BatchOrder).where(BatchOrder.batch_no == batch_no, BatchOrder.product_code == material.code)
    )
    if order is not None and order.status != "cancelled":
        return None, order.id
    raise NotFound(N_("No lot or batch {batch} of {material}"), batch=batch_no, material=material.code)


def _content(study: StabilityStudy, batches: Iterable[str]) -> dict[str, Any]:
    return {
        "code": study.code, "title": study.title, "material": study.material_code, "study_type": study.study_type,
        "condition": study.condition, "chamber": study.chamber_code, "spec_code": study.spec_code,
        "spec_version": study.spec_version, "attributes": json.loads(study.attributes),
        "pull_months": json.loads(study.pull_months), "window_days": study.window_days,
        "start_date": study.start_date.isoformat(), "pull_quantity": plain_number(study.pull_quantity),
        "unit": study.unit, "protocol_document": study.protocol_document, "batches": sorted(batches),
    }  # fmt: skip


def canonical_content(study: StabilityStudy, batches: Iterable[str] | None = None) -> str:
    """The protocol as canonical JSON: what ``content_sm3`` hashes and the approval signs."""
    names = [b.batch_no for b in study.batches] if batches is None else list(batches)
    return ledger.canonical_text(_content(study, names))


def content_hash(study: StabilityStudy, batches: Iterable[str] | None = None) -> str:
    return crypto.sm3(canonical_content(study, batches).encode()).hex()


def _set_protocol(
    session: Session, study: StabilityStudy, body: Protocol
) -> list[tuple[str, int | None, int | None]]:
    """Check the protocol against the plant and copy it onto ``study``; returns the batches resolved."""
    material = _material(session, body.material_code)
    chamber = _chamber(session, body.chamber_code)
    version = _spec_version(session, body, material)
    _check_attributes(version, body.attributes)
    _check_document(session, body.protocol_document)
    batches = [(b, *resolve_batch(session, material, b)) for b in body.batches]
    study.title = body.title
    study.material_id, study.material_code, study.material_name = material.id, material.code, material.name
    study.study_type = body.study_type
    study.condition = body.condition
    study.chamber_id, study.chamber_code = chamber.id, chamber.code
    study.spec_code, study.spec_version = version.specification.code, version.version
    study.attributes = json.dumps(list(body.attributes), ensure_ascii=False)
    study.pull_months = json.dumps(list(body.pull_months))
    study.window_days = body.window_days
    study.start_date = body.start_date
    study.pull_quantity = body.pull_quantity
    study.unit = material.unit
    study.protocol_document = body.protocol_document
    return batches


def _set_batches(
    session: Session, study: StabilityStudy, wanted: Sequence[tuple[str, int | None, int | None]]
) -> None:
    current = {b.batch_no: b for b in study.batches}
    names = {b for b, _, _ in wanted}
    for name, row in current.items():
        if name not in names:
            row.voided_at = clock.now()
    session.flush()
    for name, lot_id, order_id in wanted:
        if name not in current:
            session.add(
                StabilityBatch(study_id=study.id, batch_no=name, lot_id=lot_id, batch_order_id=order_id)
            )
    session.flush()
    session.expire(study, ["batches"])


def next_code(session: Session) -> str:
    """``STB-`` + year and month (Beijing) + ``-`` + a 3-digit serial per month: ``STB-2611-001``."""
    from pharmatrace.wms.codes import next_serial

    prefix = f"STB-{clock.to_beijing(clock.now()):%y%m}-"
    serial = next_serial(session, prefix + "#")
    if serial >= 1000:
        raise Conflict(N_("The serial numbers of {prefix} are used up"), prefix=prefix)
    return f"{prefix}{serial:03d}"


def create_study(uow: UnitOfWork, principal: Principal, body: StudyCreate) -> StabilityStudy:
    """A new protocol, as a draft (SH-6.2.3)."""
    principal.require(AUTHOR_PERMISSION)
    session = uow.session
    study = StabilityStudy(status="draft", created_at=clock.now(), created_by=principal.login)
    batches = _set_protocol(session, study, body)
    study.code = next_code(session)
    study.content_sm3 = content_hash(study, [b for b, _, _ in batches])
    uow.reason = uow.reason or f"stability study {study.code} written"
    session.add(study)
    session.flush()
    _set_batches(session, study, batches)
    return study


def _draft(session: Session, code: str) -> StabilityStudy:
    study = get_study(session, code)
    if study.status != "draft":
        raise Conflict(N_("Only a draft protocol can be changed; {code} is {status}"), code=study.code,
                       status=study.status)  # fmt: skip
    return study


def update_study(uow: UnitOfWork, principal: Principal, code: str, body: StudyUpdate) -> StabilityStudy:
    """A draft's whole protocol replaced (batches removed are voided); the audit trail keeps old and new."""
    principal.require(AUTHOR_PERMISSION)
    session = uow.session
    study = _draft(session, code)
    uow.reason = uow.reason or body.reason or EDITED
    batches = _set_protocol(session, study, body)
    _set_batches(session, study, batches)
    new = content_hash(study)
    if new != study.content_sm3:
        study.content_sm3 = new
        study.edited_at = clock.now()
        study.edited_by = principal.login
    session.flush()
    return study


def authors(session: Session, study: StabilityStudy) -> set[str]:
    """Who wrote the protocol: its creator and everyone whose change altered its content hash (audit trail)."""
    entries = session.scalars(
        select(AuditEntry).where(
            AuditEntry.object_type == StabilityStudy.__audit_type__, AuditEntry.object_id == str(study.id)
        )
    )
    return {study.created_by} | {e.actor_login for e in entries if "content_sm3" in (e.changes or {})}


def approve(
    uow: UnitOfWork,
    principal: Principal,
    code: str,
    *,
    password: str,
    login: str | None = None,
    comment: str = "",
) -> StabilityApproval:
    """The approval signature: the protocol is in force; samples may be placed and points pulled."""
    principal.require(APPROVE_PERMISSION)
    session = uow.session
    study = _draft(session, code)
    if principal.login in authors(session, study):
        raise StudyDutiesNotSegregated(N_("The author of a stability protocol cannot approve it"))
    if content_hash(study) != study.content_sm3:
        raise Conflict(N_("The content of stability study {code} does not match its hash"), code=study.code)
    _spec_version(
        session, Protocol.model_validate(_protocol_data(study)), _material(session, study.material_code)
    )
    esign.authenticate_signer(uow.db, principal, password, login)
    uow.reason = uow.reason or f"stability protocol {study.code} approved"
    now = clock.now()
    study.status = "approved"
    study.approved_at = now
    study.approved_by = principal.login
    session.flush()
    approval = StabilityApproval(study_id=study.id, content_sm3=study.content_sm3, approved_at=now,
                                 approved_by=principal.login, approved_by_name=principal.full_name,
                                 comment=comment)  # fmt: skip
    esign.add_signed_decision(uow, principal, approval, action_code=APPROVE_ACTION, password=password, login=login,
                              expire=(study, "approvals"))  # fmt: skip
    return approval


def cancel(uow: UnitOfWork, principal: Principal, code: str, reason: str) -> StabilityStudy:
    """A study stopped, with the reason (终止): no more placements or pulls; everything recorded stays."""
    principal.require(APPROVE_PERMISSION)
    study = get_study(uow.session, code)
    if study.status == "cancelled":
        raise Conflict(N_("Stability study {code} is already cancelled"), code=study.code)
    if len(reason.strip()) < 2:
        raise ValidationFailed(N_("A reason is required for this change"))
    uow.reason = reason
    study.status = "cancelled"
    study.cancelled_at = clock.now()
    study.cancel_reason = reason
    uow.session.flush()
    return study


# --- placing and pulling ---------------------------------------------------------------------------------


def _locked(uow: UnitOfWork, code: str) -> StabilityStudy:
    """The study, its row locked until commit (one placement or pull of a study at a time)."""
    session = uow.session
    session.execute(
        select(StabilityStudy.id).where(StabilityStudy.code == code.strip().upper()).with_for_update()
    )
    study = get_study(session, code)
    session.refresh(study)
    return study


def _in_force(study: StabilityStudy, doing: str) -> None:
    if study.status == "draft":
        raise Conflict(N_("Stability study {code} is not approved yet: {doing} waits for the approval"),
                       code=study.code, doing=doing)  # fmt: skip
    if study.status == "cancelled":
        raise Conflict(N_("Stability study {code} is cancelled"), code=study.code)


def _batch(study: StabilityStudy, batch_no: str) -> StabilityBatch:
    found = next((b for b in study.batches if b.batch_no == batch_no), None)
    if found is None:
        raise NotFound(N_("Batch {batch} is not on stability study {code}"), batch=batch_no, code=study.code)
    return found


def used(study: StabilityStudy, placement: StabilityPlacement) -> Decimal:
    return sum((p.quantity for p in study.pulls if p.placement_id == placement.id), Decimal(0))


def left(study: StabilityStudy, placement: StabilityPlacement) -> Decimal:
    """What of a placement the pulls have not taken; a stability sample of the samples service serves one
    pull only (one test order per sample and specification version), so it has nothing left once pulled."""
    if placement.sample_id is not None and any(p.placement_id == placement.id for p in study.pulls):
        return Decimal(0)
    return placement.quantity - used(study, placement)


def place(uow: UnitOfWork, principal: Principal, code: str, body: PlacementCreate) -> StabilityPlacement:
    """Stability samples of a batch placed in the study's chamber (放样). The chamber must be usable by the
    equipment register now. A lot's sample is a stability sample of that lot, stored in the chamber through the
    samples service; a batch order's units get the study's own code."""
    principal.require(HANDLE_PERMISSION)
    session = uow.session
    study = _locked(uow, code)
    _in_force(study, "placing samples")
    batch = _batch(study, body.batch_no)
    chamber = session.get(Equipment, study.chamber_id)
    assert chamber is not None
    equipment.require_usable(session, chamber)
    uow.reason = uow.reason or f"stability samples of {batch.batch_no} placed for {study.code}"
    sample_id: int | None = None
    if batch.lot_id is not None:
        sample_id, sample_code = _store_sample(uow, principal, study, batch, body)
    else:
        if body.sample_code is not None:
            raise ValidationFailed(
                N_("Batch {batch} is a batch order: its units get the study's code, give none"),
                batch=batch.batch_no,
            )
        sample_code = f"{study.code}-{len(study.placements) + 1}"
    placement = StabilityPlacement(
        study_id=study.id, batch_id=batch.id, sample_id=sample_id, sample_code=sample_code, quantity=body.quantity,
        unit=study.unit, chamber_id=chamber.id, chamber_code=chamber.code, position=body.position, note=body.note,
        placed_at=clock.now(), placed_by=principal.login, placed_by_name=principal.full_name,
    )  # fmt: skip
    session.add(placement)
    session.flush()
    session.expire(study, ["placements"])
    return placement


def _store_sample(uow: UnitOfWork, principal: Principal, study: StabilityStudy, batch: StabilityBatch,
                  body: PlacementCreate) -> tuple[int, str]:  # fmt: skip
    from pharmatrace.lims.sample_schemas import SampleStore

    if body.sample_code is None:
        raise ValidationFailed(N_("Batch {batch} is a lot: give the code of its stability sample"),
                               batch=batch.batch_no)  # fmt: skip
    sample = samples.sample_by_code(uow.session, body.sample_code)
    if sample.kind != "stability" or sample.lot_id != batch.lot_id:
        raise Conflict(N_("Sample {sample} is not a stability sample of lot {batch}"), sample=sample.code,
                       batch=batch.batch_no)  # fmt: skip
    if any(p.sample_id == sample.id for p in study.placements):
        raise Conflict(N_("Sample {sample} is placed already"), sample=sample.code)
    if body.quantity > samples.available(sample):
        raise ValidationFailed(N_("Only {left} {unit} of the sample {code} is left"),
                               left=samples.available(sample), unit=sample.unit, code=sample.code)  # fmt: skip
    samples.store(uow, principal, sample.code, SampleStore(
        location=f"{study.chamber_code} {body.position}"[:128], equipment_code=study.chamber_code,
        conditions=study.condition, note=f"stability study {study.code}",
    ))  # fmt: skip
    return sample.id, sample.code


def pull(uow: UnitOfWork, principal: Principal, code: str, body: PullCreate) -> list[StabilityPull]:
    """Pull a point (取样) for every batch not yet pulled at it: within its window (never before it; after it
    only with a note), from a placement with enough left; each pull issues the quantity and gets its test order.
    """
    principal.require(HANDLE_PERMISSION)
    session = uow.session
    study = _locked(uow, code)
    _in_force(study, "pulling")
    label = point_label(body.months)
    if body.months not in pull_months(study):
        raise ValidationFailed(N_("{point} is not a pull point of stability study {code}"), point=label,
                               code=study.code)  # fmt: skip
    done = {p.batch_id for p in study.pulls if p.months == body.months}
    todo = [b for b in study.batches if b.id not in done]
    if not todo:
        raise PullRefused(N_("{point} of {code} is pulled already"), point=label, code=study.code)
    start, due, end = window(study, body.months)
    now = today()
    if now < start:
        raise PullRefused(N_("{point} of {code} is due on {due}: it may be pulled from {start}, not before"),
                          point=label, code=study.code, due=due.isoformat(), start=start.isoformat())  # fmt: skip
    if now > end and len(body.note) < 2:
        raise ValidationFailed(N_("{point} of {code} is past its window (until {end}): say why in a note"),
                               point=label, code=study.code, end=end.isoformat())  # fmt: skip
    chosen = [(batch, _source(study, batch, label)) for batch in todo]
    uow.reason = uow.reason or f"stability pull {study.code}/{label}" + (
        f": {body.note}" if body.note else ""
    )
    reference = f"{study.code}/{label}"
    made: list[StabilityPull] = []
    for batch, placement in chosen:
        order_id, order_code = _take(uow, principal, study, placement, reference, body)
        row = StabilityPull(
            study_id=study.id, batch_id=batch.id, placement_id=placement.id, months=body.months, due_date=due,
            window_from=start, window_to=end, quantity=study.pull_quantity, source_ref=reference,
            order_id=order_id, order_code=order_code, pulled_at=clock.now(), pulled_by=principal.login,
            pulled_by_name=principal.full_name,
        )  # fmt: skip
        session.add(row)
        session.flush()
        session.expire(study, ["pulls"])
        made.append(row)
    return made


def _source(study: StabilityStudy, batch: StabilityBatch, label: str) -> StabilityPlacement:
    for placement in study.placements:
        if placement.batch_id == batch.id and left(study, placement) >= study.pull_quantity:
            return placement
    raise PullRefused(N_("No stability sample of batch {batch} with {quantity} {unit} left is in the chamber for "
                         "{point}: place samples first"),
                      batch=batch.batch_no, quantity=study.pull_quantity, unit=study.unit, point=label)  # fmt: skip


def _take(uow: UnitOfWork, principal: Principal, study: StabilityStudy, placement: StabilityPlacement,
          reference: str, body: PullCreate) -> tuple[int | None, str | None]:  # fmt: skip
    """Issue the pull's quantity from the stability sample and create its test order (samples service and
    results service); a batch order's units have no sample of the samples service, hence no test order yet."""
    if placement.sample_id is None:
        return None, None
    from pharmatrace.lims.result_schemas import TestOrderCreate
    from pharmatrace.lims.sample_schemas import SampleIssue

    samples.issue(uow, principal, placement.sample_code,
                  SampleIssue(quantity=study.pull_quantity, note=f"stability pull {reference}"))  # fmt: skip
    order = results.create_order(uow, principal, TestOrderCreate(
        sample_code=placement.sample_code, spec_code=study.spec_code, spec_version=study.spec_version,
        source="stability", source_ref=reference, analyst=body.analyst,
    ))  # fmt: skip
    return order.id, order.code


# --- the schedule and the reminders ------------------------------------------------------------------------


def schedule(study: StabilityStudy, on: date | None = None) -> list[SchedulePoint]:
    """Each pull point's due date and window, and where it stands on ``on`` (today)."""
    day = on or today()
    names = {b.id: b.batch_no for b in study.batches}
    points = []
    for months in pull_months(study):
        start, due, end = window(study, months)
        pulled = sorted(names[p.batch_id] for p in study.pulls if p.months == months and p.batch_id in names)
        state: Literal["pulled", "partly_pulled", "overdue", "due", "upcoming"]
        if names and len(pulled) == len(names):
            state = "pulled"
        elif day > end:
            state = "overdue"
        elif pulled:
            state = "partly_pulled"
        elif day >= start:
            state = "due"
        else:
            state = "upcoming"
        points.append(SchedulePoint(months=months, label=point_label(months), due_date=due, window_from=start,
                                    window_to=end, state=state, pulled_batches=pulled))  # fmt: skip
    return points


def next_point(study: StabilityStudy, on: date | None = None) -> SchedulePoint | None:
    if study.status != "approved":
        return None
    return next((p for p in schedule(study, on) if p.state != "pulled"), None)


def due_points(session: Session, *, days: int = 30, on: date | None = None) -> list[DueRow]:
    """Pull points of approved studies not pulled for every batch whose window opens within ``days`` days, is
    open, or has closed (overdue): the reminders list, most urgent first."""
    day = on or today()
    rows: list[DueRow] = []
    for study in session.scalars(select(StabilityStudy).where(StabilityStudy.status == "approved")).unique():
        names = [b.batch_no for b in study.batches]
        for point in schedule(study, day):
            if point.state == "pulled" or point.window_from > day + timedelta(days=days):
                continue
            state: Literal["overdue", "due", "upcoming"] = (
                "overdue" if day > point.window_to else "due" if day >= point.window_from else "upcoming"
            )
            rows.append(DueRow(
                study_code=study.code, study_title=study.title, material_code=study.material_code,
                material_name=study.material_name, chamber_code=study.chamber_code, months=point.months,
                label=point.label, due_date=point.due_date, window_from=point.window_from,
                window_to=point.window_to,
                state=state, days_left=(point.window_to - day).days,
                open_batches=[n for n in names if n not in point.pulled_batches],
            ))  # fmt: skip
    return sorted(rows, key=lambda r: (r.window_to, r.study_code, r.months))


# --- trends and shelf life (ICH Q1E) -----------------------------------------------------------------------


def reviewed_values(
    session: Session, order_ids: Sequence[int], names: Sequence[str]
) -> dict[tuple[int, str], float]:
    """(order id, test item) → the reported value of the test's latest result version, when a reviewer approved
    that version (TJ-7.4); a test not reviewed yet, returned, or not numeric is left out."""
    from pharmatrace.lims.result_models import LabTest

    if not order_ids:
        return {}
    found: dict[tuple[int, str], float] = {}
    tests = session.scalars(
        select(LabTest).where(LabTest.order_id.in_(order_ids), LabTest.item_name.in_(names))
    )
    for test in tests.unique():
        last = results.latest(test)
        decided = results.decision_of(last) if last is not None else None
        if last is None or decided is None or decided.decision != results.DECIDED or last.reported is None:
            continue
        try:
            value = float(Decimal(last.reported))
        except ArithmeticError:
            continue
        if math.isfinite(value):
            found[(test.order_id, test.item_name)] = value
    return found


def _item_of(session: Session, study: StabilityStudy, name: str) -> SpecificationItem | None:
    from pharmatrace.lims import specs

    try:
        version = specs.version_of(session, study.spec_code, study.spec_version)
    except NotFound:
        return None
    return next((i for i in version.items if i.name == name), None)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def estimate_public(result: stats.ShelfLife) -> EstimatePublic:
    pool = result.poolability
    return EstimatePublic(
        sides=result.sides, confidence=result.confidence, model=result.model,
        slopes_p=pool.slopes.p if pool is not None and pool.slopes is not None else None,
        intercepts_p=pool.intercepts.p if pool is not None and pool.intercepts is not None else None,
        lines=[LinePublic(batch_no=name, intercept=line.intercept, slope=line.slope, s=line.s, df=line.df,
                          n=line.n, t_mean=line.t_mean, sxx=line.sxx) for name, line in result.lines.items()],
        bounds=[BoundPublic(batch_no=b.batch, side=b.side, limit=b.limit, confidence=b.confidence,
                            crossing=b.crossing) for b in result.bounds],
        worst_batch=result.worst_batch, estimate=result.estimate, data_span=result.data_span, cap=result.cap,
        months=result.months, limited_by=result.limited_by, rule=stats.SHELF_LIFE_RULE,
    )  # fmt: skip


def trend_of(points: Sequence[TrendPoint], lower: float | None, upper: float | None, *,
             extrapolate: bool = True) -> tuple[stats.ShelfLife | None, str | None]:  # fmt: skip
    """The ICH Q1E estimate of one attribute from its points, or why there is none (English msgid)."""
    if lower is None and upper is None:
        return None, N_("The test item has no numeric limit")
    batches: dict[str, tuple[list[float], list[float]]] = {}
    for p in points:
        times, values = batches.setdefault(p.batch_no, ([], []))
        times.append(p.months)
        values.append(p.value)
    usable = {
        name: data for name, data in batches.items() if len(data[0]) >= MIN_POINTS and len(set(data[0])) >= 2
    }
    if not usable:
        return None, N_("An estimate needs three reviewed results of a batch at two time points or more")
    try:
        return stats.shelf_life(usable, lower=lower, upper=upper, extrapolate=extrapolate), None
    except ValidationFailed as error:
        return None, str(error)  # English; a msgid without placeholders still translates on the page


def trends(session: Session, study: StabilityStudy) -> list[TrendPublic]:
    """Each trended attribute: its reviewed results per batch over the pull points, its criterion from the
    study's specification version, and from three results of a batch the ICH Q1E estimate."""
    names = {b.id: b.batch_no for b in study.batches}
    pulls = [p for p in study.pulls if p.order_id is not None and p.batch_id in names]
    values = reviewed_values(
        session, [p.order_id for p in pulls if p.order_id is not None], attributes(study)
    )
    found = []
    for name in attributes(study):
        item = _item_of(session, study, name)
        lower = _float(item.lower) if item is not None and item.limit_type in ("range", "ge", "gt") else None
        upper = _float(item.upper) if item is not None and item.limit_type in ("range", "le", "lt") else None
        points = [
            TrendPoint(batch_no=names[p.batch_id], months=float(p.months), value=values[(p.order_id, name)],
                       order_code=p.order_code)
            for p in pulls if p.order_id is not None and (p.order_id, name) in values
        ]  # fmt: skip
        estimate, problem = trend_of(points, lower, upper, extrapolate=study.study_type != "accelerated")
        found.append(TrendPublic(
            attribute=name, unit=item.unit if item is not None else "", lower=lower, upper=upper,
            limit_text=judgement.limit_text(item, item.requirement) if item is not None else "",
            points=sorted(points, key=lambda p: (p.batch_no, p.months)),
            estimate=estimate_public(estimate) if estimate is not None else None, problem=problem,
        ))  # fmt: skip
    return found


# --- reading -----------------------------------------------------------------------------------------------


def _protocol_data(study: StabilityStudy) -> dict[str, Any]:
    return {
        "title": study.title, "material_code": study.material_code, "study_type": study.study_type,
        "condition": study.condition, "chamber_code": study.chamber_code, "spec_code": study.spec_code,
        "spec_version": study.spec_version, "attributes": attributes(study), "pull_months": pull_months(study),
        "window_days": study.window_days, "start_date": study.start_date, "pull_quantity": study.pull_quantity,
        "batches": [b.batch_no for b in study.batches], "protocol_document": study.protocol_document,
    }  # fmt: skip


def protocol_in(study: StabilityStudy) -> StudyUpdate:
    """A stored protocol as the author's input (the editor's form)."""
    return StudyUpdate.model_validate(_protocol_data(study))


def batch_public(session: Session, batch: StabilityBatch) -> BatchPublic:
    from pharmatrace.mes.execution_models import BatchOrder

    if batch.lot_id is not None:
        lot = session.get(Lot, batch.lot_id)
        return BatchPublic(batch_no=batch.batch_no, source="lot", lot_number=lot.lot_number if lot else None,
                           order_no=None)  # fmt: skip
    order = session.get(BatchOrder, batch.batch_order_id)
    return BatchPublic(batch_no=batch.batch_no, source="batch_order", lot_number=None,
                       order_no=order.order_no if order else None)  # fmt: skip


def study_public(session: Session, study: StabilityStudy, on: date | None = None) -> StudyPublic:
    chamber = session.get(Equipment, study.chamber_id)
    return StudyPublic(
        id=study.id, code=study.code, title=study.title, material_code=study.material_code,
        material_name=study.material_name, study_type=study.study_type, condition=study.condition,
        chamber_id=study.chamber_id, chamber_code=study.chamber_code,
        chamber_name=chamber.name if chamber is not None else "",
        spec_code=study.spec_code, spec_version=study.spec_version, attributes=attributes(study),
        pull_months=pull_months(study), window_days=study.window_days, start_date=study.start_date,
        pull_quantity=study.pull_quantity, unit=study.unit, protocol_document=study.protocol_document,
        batches=[batch_public(session, b) for b in study.batches], status=study_status(study),
        content_sm3=study.content_sm3, created_at=study.created_at, created_by=study.created_by,
        edited_at=study.edited_at, edited_by=study.edited_by, approved_at=study.approved_at,
        approved_by=study.approved_by, cancelled_at=study.cancelled_at, cancel_reason=study.cancel_reason,
        next_point=next_point(study, on),
    )  # fmt: skip


def placement_public(study: StabilityStudy, placement: StabilityPlacement) -> PlacementPublic:
    names = {b.id: b.batch_no for b in study.batches}
    return PlacementPublic(
        id=placement.id, batch_no=names.get(placement.batch_id, ""), sample_code=placement.sample_code,
        from_samples=placement.sample_id is not None, quantity=placement.quantity, unit=placement.unit,
        left=left(study, placement), chamber_code=placement.chamber_code, position=placement.position,
        note=placement.note, placed_at=placement.placed_at, placed_by=placement.placed_by,
        placed_by_name=placement.placed_by_name,
    )  # fmt: skip


def pull_public(study: StabilityStudy, row: StabilityPull) -> PullPublic:
    names = {b.id: b.batch_no for b in study.batches}
    placement = next((p for p in study.placements if p.id == row.placement_id), None)
    return PullPublic(
        id=row.id, batch_no=names.get(row.batch_id, ""), months=row.months, due_date=row.due_date,
        window_from=row.window_from, window_to=row.window_to, quantity=row.quantity,
        sample_code=placement.sample_code if placement is not None else "", source_ref=row.source_ref,
        order_id=row.order_id, order_code=row.order_code, pulled_at=row.pulled_at, pulled_by=row.pulled_by,
        pulled_by_name=row.pulled_by_name,
    )  # fmt: skip


def approval_public(session: Session, approval: StabilityApproval) -> ApprovalPublic:
    signatures = [
        SignaturePublic(action=s.action, meaning=s.meaning, signer_login=s.signer_login, signer_name=s.signer_name,
                        signed_at=s.signed_at, status=s.status)
        for s in esign.manifestations(session, APPROVAL_TYPE, str(approval.id))
    ]  # fmt: skip
    return ApprovalPublic(
        id=approval.id, content_sm3=approval.content_sm3, approved_at=approval.approved_at,
        approved_by=approval.approved_by, approved_by_name=approval.approved_by_name, comment=approval.comment,
        signatures=signatures,
    )  # fmt: skip


def study_detail(session: Session, study: StabilityStudy, on: date | None = None) -> StudyDetail:
    return StudyDetail(
        **study_public(session, study, on).model_dump(),
        schedule=schedule(study, on),
        placements=[placement_public(study, p) for p in study.placements],
        pulls=[pull_public(study, p) for p in study.pulls],
        approvals=[approval_public(session, a) for a in study.approvals],
    )


def chambers(session: Session) -> list[Equipment]:
    """Equipment a study may name as its chamber: the register's equipment, not void, in service."""
    query = (
        select(Equipment)
        .where(Equipment.voided_at.is_(None), Equipment.lifecycle == "in_service")
        .order_by(Equipment.code)
    )
    return [e for e in session.scalars(query).unique() if e.code.startswith("STB") or "稳定性" in e.name]


def shelf_life_specs(session: Session) -> list[SpecificationVersion]:
    """Approved specification versions for shelf life (the protocol form's choices)."""
    query = select(SpecificationVersion).where(
        SpecificationVersion.status == "approved", SpecificationVersion.purpose.in_(("shelf_life", "both"))
    )
    return sorted(session.scalars(query).unique(), key=lambda v: v.specification.code)
