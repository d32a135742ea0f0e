"""Packaging records (包装记录, TJ-6.4.6, TJ-B.2.3.4).

One record per batch order, opened on a packaging step in progress: the bulk (intermediate) batch and quantity
received, the finished batch number and planned quantity, the line and room, and the packaging instruction it
follows (a controlled document: its number and effective version are recorded). Then, each on a packaging step
in progress (:func:`pharmatrace.mes.execution.require_step_in_progress`):

* the pre-packaging line check (包装前检查): checklist with results, signed by its performer and verified by
  another person (``packaging.line_check.perform`` / ``.verify``; DB CHECK ``verified_by <> performed_by``);
* each printed packaging material (label, carton, leaflet) verified against its artwork, a controlled drawing or
  specification: the version printed must be the artwork's **current effective version**; a mismatch is
  refused and recorded (``mes.packaging.refused``). At least one specimen image per printed material, kept by
  SM3 in the file store (``<state dir>/packaging``);
* the batch number and expiry date as printed, equal to the batch's and the computed expiry (DB CHECK), else
  refused and recorded. The expiry is the manufacture date plus the product's shelf life from the **material
  master** of the product (one place for the shelf life, the same rule as goods receipt); the manufacture date
  is the Beijing date the batch started (its first step), fixed when the record is opened;
* visual inspection (灯检): inspected = good + rejected, rejected = the sum of the defect categories (DB CHECK);
  a rejection rate above the record's alert or action limit raises an exception on the step;
* the yield and quantity balance (finished + samples + rejects against the bulk quantity) and, per printed
  material, the reconciliation (used + destroyed + returned against issued, and used against finished units ×
  pieces per unit) within the record's limits; out of limits raises an exception (TJ-6.3.2.3).

Which steps are packaging steps: the steps of the unit procedures whose ``stage`` in the recipe is
``inspection`` (灯检) or ``packaging`` (包装), :data:`PACKAGING_STAGES`; a recipe written before the stage existed
reads as ``production`` throughout. The packaging stage's ``yield`` step cannot be completed before the record is
complete, and an inspection stage's ``data_entry`` step not before an inspection is recorded
(:func:`missing_evidence`, called by the execution engine at completion; the recipe check makes sure a declared
stage has that step).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.documents import service as documents
from pharmatrace.kernel import clock, crypto, filestore, ledger
from pharmatrace.kernel.errors import (
    N_,
    Conflict,
    NotFound,
    PharmaTraceError,
    SegregationOfDuties,
    ValidationFailed,
)
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution
from pharmatrace.mes.execution_models import BatchOrder, StepExecution
from pharmatrace.mes.packaging_models import (
    DEFECTS,
    MaterialReconciliation,
    PackagingBalance,
    PackagingLineCheck,
    PackagingRecord,
    PackagingSpecimen,
    PrintDataCheck,
    PrintedMaterialCheck,
    VisualInspection,
)
from pharmatrace.mes.packaging_schemas import (
    BalanceCreate,
    BalancePublic,
    CheckItem,
    LineCheckCreate,
    LineCheckPublic,
    LineCheckVerify,
    MaterialCheckCreate,
    MaterialCheckPublic,
    PackagingRecordCreate,
    PackagingRecordPublic,
    PrintCheckCreate,
    PrintCheckPublic,
    ReconciliationCreate,
    ReconciliationPublic,
    SpecimenPublic,
    VisualInspectionCreate,
    VisualInspectionPublic,
)
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database
from pharmatrace.wms.lots import add_months
from pharmatrace.wms.models import Material

# 灯检, 包装 — the recipe stages whose steps are packaging steps (TJ-6.4.6)
PACKAGING_STAGES = ("inspection", "packaging")
ARTWORK_TYPES = ("drawing", "specification")  # 图纸, 质量标准: what a printed material's artwork may be
PACKAGING_MATERIAL_KINDS = ("primary_packaging", "secondary_packaging")
REFUSED_EVENT = "mes.packaging.refused"
PERFORM_ACTION = "packaging.line_check.perform"
VERIFY_ACTION = "packaging.line_check.verify"
LINE_CHECK_TYPE = "packaging_line_check"
HUNDRED = Decimal(100)
PCT = Decimal("0.01")

# Specimen images of printed materials (PNG or JPEG), kept by SM3 in <state dir>/packaging.
SPECIMENS = filestore.FileStore(
    "packaging",
    accepted=(filestore.PNG, filestore.JPEG),
    max_bytes=10 * 1024 * 1024,
    refused_message=N_("Only PNG and JPEG images are accepted; “{name}” is none of them"),
    default_name="specimen",
)

DEFECT_LABELS = {
    "particles": N_("Visible particles"),
    "glass": N_("Glass fragments"),
    "fill_volume": N_("Fill volume"),
    "cracks": N_("Cracks"),
    "cosmetic": N_("Cosmetic"),
    "other": N_("Other"),
}
KIND_LABELS = {"label": N_("Label"), "carton": N_("Carton"), "leaflet": N_("Leaflet")}


class PackagingRefused(Conflict):
    """A packaging check that does not match (artwork version, printed data, line not clear)."""

    code = "packaging_refused"


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(PCT, rounding=ROUND_HALF_UP)


# --- finding -------------------------------------------------------------------------------------------


def record_of(session: Session, order: BatchOrder) -> PackagingRecord | None:
    return session.scalar(select(PackagingRecord).where(PackagingRecord.batch_order_id == order.id))


def require_record(session: Session, order: BatchOrder) -> PackagingRecord:
    record = record_of(session, order)
    if record is None:
        raise NotFound(N_("Batch {batch} has no packaging record yet"), batch=order.batch_no)
    return record


def stages_of(body: RecipeBody) -> dict[str, str]:
    """Each step's stage (``production``, ``inspection``, ``packaging``): its unit procedure's, TJ-6.4.6."""
    return {
        step.code: unit.stage for unit in body.unit_procedures for op in unit.operations for step in op.steps
    }


def packaging_steps(body: RecipeBody) -> set[str]:
    """The codes of the recipe's packaging and visual inspection steps."""
    return {code for code, stage in stages_of(body).items() if stage in PACKAGING_STAGES}


def stage_of(session: Session, order: BatchOrder, step_code: str) -> str:
    """The stage of one step of the batch's control recipe ("" when the recipe has no such step)."""
    return stages_of(execution.control_body(session, order)).get(step_code.strip().upper(), "")


def is_packaging_step(session: Session, order: BatchOrder, step_code: str) -> bool:
    return stage_of(session, order, step_code) in PACKAGING_STAGES


def _packaging_step(
    session: Session, order: BatchOrder, step_code: str, principal: Principal
) -> StepExecution:
    """The packaging step in progress on which a packaging record entry is made."""
    row = execution.require_step_in_progress(session, order, step_code, principal)
    if not is_packaging_step(session, order, row.step_code):
        raise ValidationFailed(
            N_("Step {step} is not a packaging or visual inspection step"), step=row.step_code
        )
    return row


def _material_check(session: Session, record: PackagingRecord, material_code: str) -> PrintedMaterialCheck:
    check = session.scalar(
        select(PrintedMaterialCheck).where(
            PrintedMaterialCheck.record_id == record.id,
            PrintedMaterialCheck.material_code == material_code.strip().upper(),
        )
    )
    if check is None:
        raise NotFound(N_("Printed material {material} is not verified on batch {batch}"),
                       material=material_code, batch=record.batch_no)  # fmt: skip
    return check


def _refuse(uow: UnitOfWork, record: PackagingRecord, error: PharmaTraceError, **changes: object) -> NoReturn:
    """Refused: nothing written but the refusal itself, on the packaging record's trail (TJ-6.4.6)."""
    uow.refuse(error, REFUSED_EVENT, "packaging_record", record.id,
               changes={k: [None, str(v)] for k, v in changes.items()})  # fmt: skip


# --- the record ----------------------------------------------------------------------------------------


def manufacture_date_of(order: BatchOrder) -> datetime:
    return order.started_at or order.released_at or clock.now()


def open_record(
    uow: UnitOfWork, principal: Principal, order_ref: str, data: PackagingRecordCreate
) -> PackagingRecord:
    """Open the packaging record of a batch on a packaging step in progress."""
    session = uow.session
    order = execution.get_order(session, order_ref)
    row = _packaging_step(session, order, data.step, principal)
    if record_of(session, order) is not None:
        raise Conflict(N_("Batch {batch} has a packaging record already"), batch=order.batch_no)
    instruction = documents.require_effective(session, data.instruction)
    product = session.scalar(select(Material).where(Material.code == order.product_code))
    if product is None or not product.shelf_life_months:
        raise ValidationFailed(N_("Product {product} has no shelf life in the material master: the expiry date "
                                  "cannot be computed"), product=order.product_code)  # fmt: skip
    made = clock.to_beijing(manufacture_date_of(order)).date()
    record = PackagingRecord(
        batch_order_id=order.id, batch_no=order.batch_no, product_code=order.product_code,
        product_name=order.product_name, bulk_batch_no=data.bulk_batch_no, bulk_quantity=data.bulk_quantity,
        unit=order.unit, planned_quantity=data.planned_quantity, pack_size=data.pack_size, line=data.line, room=data.room,
        instruction_number=instruction.document.number, instruction_version=instruction.version,
        manufacture_date=made, shelf_life_months=product.shelf_life_months,
        expiry_date=add_months(made, product.shelf_life_months),
        reconciliation_limit_pct=data.reconciliation_limit_pct, yield_low_pct=data.yield_low_pct,
        yield_high_pct=data.yield_high_pct, reject_alert_pct=data.reject_alert_pct,
        reject_action_pct=data.reject_action_pct, created_at=clock.now(), created_by=principal.login,
    )  # fmt: skip
    session.add(record)
    session.flush()
    uow.reason = uow.reason or f"packaging record opened on step {row.step_code}"
    return record


# --- pre-packaging line check --------------------------------------------------------------------------


def _line_check(session: Session, record: PackagingRecord) -> PackagingLineCheck | None:
    return session.scalar(select(PackagingLineCheck).where(PackagingLineCheck.record_id == record.id))


def record_line_check(
    uow: UnitOfWork, principal: Principal, order_ref: str, data: LineCheckCreate
) -> PackagingLineCheck:
    """The pre-packaging line check, signed by its performer; a failed item is refused and recorded."""
    session = uow.session
    order = execution.get_order(session, order_ref)
    row = _packaging_step(session, order, data.step, principal)
    record = require_record(session, order)
    if _line_check(session, record) is not None:
        raise Conflict(
            N_("The pre-packaging line check of batch {batch} is recorded already"), batch=order.batch_no
        )
    failed = [c.item for c in data.checks if c.result == "fail"]
    if failed:
        _refuse(uow, record, PackagingRefused(N_("The line is not clear for packaging: {items}"),
                                              items="; ".join(failed)), step=row.step_code)  # fmt: skip
    text = ledger.canonical_text([c.model_dump() for c in data.checks])
    check = PackagingLineCheck(
        record_id=record.id, step_code=row.step_code, room=record.room, checks=text,
        checks_sm3=crypto.sm3(text.encode()).hex(), performed_at=clock.now(), performed_by=principal.login,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, check, action_code=PERFORM_ACTION, password=data.password,
                              login=data.login)  # fmt: skip
    return check


def verify_line_check(
    uow: UnitOfWork, principal: Principal, order_ref: str, data: LineCheckVerify
) -> PackagingLineCheck:
    """The verifier's signature: another person than the performer (TJ-6.4.6); a refusal is recorded."""
    session = uow.session
    principal.require(execution.EXECUTE)
    order = execution.get_order(session, order_ref)
    record = require_record(session, order)
    check = _line_check(session, record)
    if check is None:
        raise NotFound(N_("Batch {batch} has no pre-packaging line check to verify"), batch=order.batch_no)
    if check.verified_by is not None:
        raise Conflict(
            N_("The pre-packaging line check of batch {batch} is verified already"), batch=order.batch_no
        )
    if principal.login == check.performed_by:
        _refuse(uow, record, SegregationOfDuties(N_("The performer of the pre-packaging line check cannot also "
                                                    "verify it")), line_check=check.id)  # fmt: skip
    check.verified_by = principal.login
    check.verified_at = clock.now()
    uow.reason = uow.reason or "pre-packaging line check verified"
    session.flush()
    esign.sign_with_event(uow, principal, object_type=LINE_CHECK_TYPE, object_id=str(check.id),
                          action_code=VERIFY_ACTION, password=data.password, login=data.login)  # fmt: skip
    return check


# --- printed materials against the artwork --------------------------------------------------------------


def check_material(
    uow: UnitOfWork, principal: Principal, order_ref: str, data: MaterialCheckCreate
) -> PrintedMaterialCheck:
    """A printed material as issued, against its artwork's current effective version; a mismatch is refused
    and recorded (TJ-6.4.6)."""
    session = uow.session
    order = execution.get_order(session, order_ref)
    row = _packaging_step(session, order, data.step, principal)
    record = require_record(session, order)
    material = session.scalar(select(Material).where(Material.code == data.material))
    if material is None:
        raise NotFound(N_("No material {material}"), material=data.material)
    if material.kind not in PACKAGING_MATERIAL_KINDS:
        raise ValidationFailed(N_("Material {material} is not a packaging material"), material=material.code)
    if session.scalar(
        select(PrintedMaterialCheck.id).where(
            PrintedMaterialCheck.record_id == record.id, PrintedMaterialCheck.material_code == material.code
        )
    ) is not None:  # fmt: skip
        raise Conflict(N_("Printed material {material} is verified already on batch {batch}"),
                       material=material.code, batch=order.batch_no)  # fmt: skip
    changes = {"step": row.step_code, "material": material.code, "artwork": data.artwork,
               "artwork_version": data.artwork_version}  # fmt: skip
    document = documents.find_document(session, data.artwork)
    if document is None:
        _refuse(uow, record, PackagingRefused(N_("Artwork {artwork} is not a controlled document"),
                                              artwork=data.artwork), **changes)  # fmt: skip
    if document.doc_type not in ARTWORK_TYPES:
        _refuse(uow, record, PackagingRefused(N_("Document {artwork} is not an artwork (a drawing or a "
                                                 "specification)"), artwork=document.number), **changes)  # fmt: skip
    current = documents.current_effective(session, document.id)
    if current is None:
        _refuse(uow, record, PackagingRefused(N_("Artwork {artwork} has no effective version"),
                                              artwork=document.number), **changes)  # fmt: skip
    if current.version != data.artwork_version:
        _refuse(uow, record, PackagingRefused(
            N_("{material} is printed from version {version} of artwork {artwork}; the effective version is {current}"),
            material=material.code, version=data.artwork_version, artwork=document.number, current=current.version,
        ), **changes)  # fmt: skip
    check = PrintedMaterialCheck(
        record_id=record.id, step_code=row.step_code, material_code=material.code, material_name=material.name,
        kind=data.kind, lot_number=data.lot_number, artwork_number=document.number, artwork_version=current.version,
        per_unit=data.per_unit, checked_at=clock.now(), checked_by=principal.login,
    )  # fmt: skip
    session.add(check)
    session.flush()
    return check


def add_specimen(
    uow: UnitOfWork, principal: Principal, order_ref: str, step_code: str, material_code: str, image: bytes,
    file_name: str,
) -> PackagingSpecimen:  # fmt: skip
    """A specimen image of a verified printed material, kept by SM3 (TJ-6.4.6: 印刷包装材料实样)."""
    session = uow.session
    order = execution.get_order(session, order_ref)
    _packaging_step(session, order, step_code, principal)
    record = require_record(session, order)
    check = _material_check(session, record, material_code)
    stored = SPECIMENS.check(image, file_name)  # bad input first: nothing written
    SPECIMENS.put(uow.db, image, file_name)
    specimen = PackagingSpecimen(
        material_check_id=check.id, sm3=stored.sm3, media_type=stored.media_type, file_name=stored.file_name,
        size=stored.size, uploaded_at=clock.now(), uploaded_by=principal.login,
    )  # fmt: skip
    session.add(specimen)
    session.flush()
    return specimen


def specimen_bytes(db: Database, session: Session, specimen_id: int) -> tuple[PackagingSpecimen, bytes]:
    specimen = session.get(PackagingSpecimen, specimen_id)
    if specimen is None:
        raise NotFound(N_("No specimen {id}"), id=specimen_id)
    return specimen, SPECIMENS.read(db, specimen.sm3)


# --- printed batch number and expiry --------------------------------------------------------------------


def check_print(
    uow: UnitOfWork, principal: Principal, order_ref: str, data: PrintCheckCreate
) -> PrintDataCheck:
    """The batch number and expiry as printed must be the batch's and the computed expiry; else refused."""
    session = uow.session
    order = execution.get_order(session, order_ref)
    row = _packaging_step(session, order, data.step, principal)
    record = require_record(session, order)
    check = _material_check(session, record, data.material)
    printed_batch = data.printed_batch_no.upper()
    if printed_batch != record.batch_no or data.printed_expiry != record.expiry_date:
        _refuse(uow, record, PackagingRefused(
            N_("Printed batch {printed_batch} / expiry {printed_expiry} on {material} do not match batch {batch} / "
               "expiry {expiry}"),
            printed_batch=printed_batch, printed_expiry=data.printed_expiry.isoformat(), material=check.material_code,
            batch=record.batch_no, expiry=record.expiry_date.isoformat(),
        ), step=row.step_code, material=check.material_code, printed_batch_no=printed_batch,
            printed_expiry=data.printed_expiry.isoformat())  # fmt: skip
    row_ = PrintDataCheck(
        record_id=record.id, step_code=row.step_code, material_code=check.material_code,
        printed_batch_no=printed_batch, printed_expiry=data.printed_expiry, expected_batch_no=record.batch_no,
        expected_expiry=record.expiry_date, checked_at=clock.now(), checked_by=principal.login,
    )  # fmt: skip
    session.add(row_)
    session.flush()
    return row_


# --- visual inspection -----------------------------------------------------------------------------------


def inspect(
    uow: UnitOfWork, principal: Principal, order_ref: str, data: VisualInspectionCreate
) -> VisualInspection:
    """Visual inspection counts (灯检); totals must add up; a rejection rate above the limits is an exception."""
    session = uow.session
    order = execution.get_order(session, order_ref)
    row = _packaging_step(session, order, data.step, principal)
    record = require_record(session, order)
    counts = {name: int(getattr(data, name)) for name in DEFECTS}
    rejected = sum(counts.values())
    if data.good + rejected != data.inspected:
        raise ValidationFailed(N_("Visual inspection totals do not add up: {good} good + {rejected} rejected is not "
                                  "{inspected} inspected"), good=data.good, rejected=rejected,
                               inspected=data.inspected)  # fmt: skip
    rate = _pct(Decimal(rejected), Decimal(data.inspected))
    inspection = VisualInspection(
        record_id=record.id, step_code=row.step_code, inspected=data.inspected, good=data.good, rejected=rejected,
        reject_pct=rate, inspected_at=clock.now(), inspected_by=principal.login,
        inspected_by_name=principal.full_name, **counts,
    )  # fmt: skip
    session.add(inspection)
    session.flush()
    if rate > record.reject_alert_pct:
        limit, which = ((record.reject_action_pct, "action") if rate > record.reject_action_pct
                        else (record.reject_alert_pct, "alert"))  # fmt: skip
        execution.record_exception(
            uow, order, row.step_code, "limit_excursion",
            N_("Visual inspection rejected {rate} % of {inspected} units, above the alert limit of {limit} %")
            if which == "alert"
            else N_("Visual inspection rejected {rate} % of {inspected} units, above the action limit of {limit} %"),
            {"rate": str(rate), "inspected": data.inspected, "limit": str(limit)},
            json.dumps(counts, sort_keys=True),
        )  # fmt: skip
    return inspection


# --- yield, balance and reconciliation ------------------------------------------------------------------


def _balance(session: Session, record: PackagingRecord) -> PackagingBalance | None:
    return session.scalar(select(PackagingBalance).where(PackagingBalance.record_id == record.id))


def balance_of(session: Session, record: PackagingRecord) -> PackagingBalance | None:
    """The record's yield and quantity balance (finished, samples, rejects), once recorded."""
    return _balance(session, record)


def record_balance(
    uow: UnitOfWork, principal: Principal, order_ref: str, data: BalanceCreate
) -> PackagingBalance:
    """Finished units + samples + rejects against the bulk quantity (TJ-6.3.2.3); out of limits → exception."""
    session = uow.session
    order = execution.get_order(session, order_ref)
    row = _packaging_step(session, order, data.step, principal)
    record = require_record(session, order)
    if _balance(session, record) is not None:
        raise Conflict(N_("The packaging balance of batch {batch} is recorded already"), batch=order.batch_no)
    yield_pct = _pct(data.finished, record.bulk_quantity)
    balance_pct = _pct(data.finished + data.samples + data.rejects, record.bulk_quantity)
    low, high = record.yield_low_pct, record.yield_high_pct
    within = low <= yield_pct <= high and low <= balance_pct <= high
    balance = PackagingBalance(
        record_id=record.id, step_code=row.step_code, finished=data.finished, samples=data.samples,
        rejects=data.rejects, yield_pct=yield_pct, balance_pct=balance_pct, within_limits=within,
        recorded_at=clock.now(), recorded_by=principal.login,
    )  # fmt: skip
    session.add(balance)
    session.flush()
    if not within:
        execution.record_exception(
            uow, order, row.step_code, "yield_limit",
            N_("Packaging yield {yield_pct} % and balance {balance_pct} % of the bulk {bulk}: limits {low}–{high} %"),
            {"yield_pct": str(yield_pct), "balance_pct": str(balance_pct), "bulk": plain_number(record.bulk_quantity),
             "low": str(low), "high": str(high)},
        )  # fmt: skip
    return balance


def reconcile(
    uow: UnitOfWork, principal: Principal, order_ref: str, data: ReconciliationCreate
) -> MaterialReconciliation:
    """Issued = used + destroyed + returned within ± the record's limit, and the pieces used against the finished
    units × pieces per unit; either out of limits raises an exception (TJ-6.4.6)."""
    session = uow.session
    order = execution.get_order(session, order_ref)
    row = _packaging_step(session, order, data.step, principal)
    record = require_record(session, order)
    check = _material_check(session, record, data.material)
    balance = _balance(session, record)
    if balance is None:
        raise ValidationFailed(N_("Record the finished units (the packaging balance) before reconciling printed "
                                  "materials"))  # fmt: skip
    if session.scalar(
        select(MaterialReconciliation.id).where(MaterialReconciliation.material_check_id == check.id)
    ) is not None:  # fmt: skip
        raise Conflict(N_("Printed material {material} is reconciled already"), material=check.material_code)
    accounted = data.used + data.destroyed + data.returned
    balance_pct = _pct(Decimal(accounted), Decimal(data.issued))
    expected = balance.finished * check.per_unit
    limit = record.reconciliation_limit_pct
    in_balance = abs(balance_pct - HUNDRED) <= limit
    used_ok = (
        (abs(Decimal(data.used) - expected) * HUNDRED <= limit * expected) if expected else data.used == 0
    )
    reconciliation = MaterialReconciliation(
        material_check_id=check.id, step_code=row.step_code, issued=data.issued, used=data.used,
        destroyed=data.destroyed, returned=data.returned, balance_pct=balance_pct, expected_used=expected,
        within_limits=in_balance and used_ok, checked_at=clock.now(), checked_by=principal.login,
    )  # fmt: skip
    session.add(reconciliation)
    session.flush()
    if not in_balance:
        execution.record_exception(
            uow, order, row.step_code, "limit_excursion",
            N_("{material}: used {used} + destroyed {destroyed} + returned {returned} is {pct} % of {issued} issued, "
               "outside 100 ± {limit} %"),
            {"material": check.material_code, "used": data.used, "destroyed": data.destroyed,
             "returned": data.returned, "pct": str(balance_pct), "issued": data.issued, "limit": str(limit)},
        )  # fmt: skip
    if not used_ok:
        execution.record_exception(
            uow, order, row.step_code, "limit_excursion",
            N_("{material}: {used} used against {expected} for {finished} finished units × {per_unit}"),
            {"material": check.material_code, "used": data.used, "expected": plain_number(expected),
             "finished": plain_number(balance.finished), "per_unit": plain_number(check.per_unit)},
        )  # fmt: skip
    return reconciliation


# --- completeness (the engine's completion hook) --------------------------------------------------------


def _materials(session: Session, record: PackagingRecord) -> Sequence[PrintedMaterialCheck]:
    return session.scalars(
        select(PrintedMaterialCheck)
        .where(PrintedMaterialCheck.record_id == record.id)
        .order_by(PrintedMaterialCheck.id)
    ).all()


def _specimens(session: Session, check: PrintedMaterialCheck) -> Sequence[PackagingSpecimen]:
    return session.scalars(
        select(PackagingSpecimen)
        .where(PackagingSpecimen.material_check_id == check.id)
        .order_by(PackagingSpecimen.id)
    ).all()


def _inspections(session: Session, record: PackagingRecord) -> Sequence[VisualInspection]:
    return session.scalars(
        select(VisualInspection).where(VisualInspection.record_id == record.id).order_by(VisualInspection.id)
    ).all()


def _prints(session: Session, record: PackagingRecord) -> Sequence[PrintDataCheck]:
    return session.scalars(
        select(PrintDataCheck).where(PrintDataCheck.record_id == record.id).order_by(PrintDataCheck.id)
    ).all()


def _reconciliations(session: Session, record: PackagingRecord) -> dict[int, MaterialReconciliation]:
    rows = session.scalars(
        select(MaterialReconciliation)
        .join(PrintedMaterialCheck, MaterialReconciliation.material_check_id == PrintedMaterialCheck.id)
        .where(PrintedMaterialCheck.record_id == record.id)
    ).all()
    return {r.material_check_id: r for r in rows}


def missing(session: Session, record: PackagingRecord | None) -> list[str]:
    """What the packaging record still lacks (English), empty when complete."""
    if record is None:
        return ["the packaging record is not opened"]
    out: list[str] = []
    line = _line_check(session, record)
    if line is None:
        out.append("the pre-packaging line check")
    elif line.verified_by is None:
        out.append("the verification of the pre-packaging line check")
    materials = _materials(session, record)
    if not materials:
        out.append("a printed packaging material verified against its artwork")
    reconciled = _reconciliations(session, record)
    printed = {p.material_code for p in _prints(session, record)}
    if not printed:
        out.append("the check of the printed batch number and expiry date")
    for check in materials:
        if not _specimens(session, check):
            out.append(f"a specimen image of {check.material_code}")
        if check.id not in reconciled:
            out.append(f"the reconciliation of {check.material_code}")
    if not _inspections(session, record):
        out.append("the visual inspection")
    if _balance(session, record) is None:
        out.append("the packaging yield and balance")
    return out


def missing_evidence(session: Session, order: BatchOrder, step_code: str) -> list[str]:
    """What a packaging step lacks before it may be completed (called by the execution engine): the packaging
    unit's ``yield`` step needs the whole record; a visual-inspection ``data_entry`` step an inspection."""
    body = execution.control_body(session, order)
    plan = execution.plan_of(body)
    found = plan.steps.get(step_code)
    if found is None:
        return []
    step = found[2]
    stage = stages_of(body)[step_code]
    if stage not in PACKAGING_STAGES:
        return []
    record = record_of(session, order)
    if stage == "packaging" and step.type == "yield":
        return missing(session, record)
    if (
        stage == "inspection"
        and step.type == "data_entry"
        and (record is None or not _inspections(session, record))
    ):
        return ["the visual inspection counts (packaging record)"]
    return []


# --- public views ---------------------------------------------------------------------------------------


def line_check_public(check: PackagingLineCheck) -> LineCheckPublic:
    return LineCheckPublic(
        id=check.id, step_code=check.step_code, room=check.room,
        checks=[CheckItem.model_validate(c) for c in json.loads(check.checks)],
        performed_at=check.performed_at, performed_by=check.performed_by, verified_at=check.verified_at,
        verified_by=check.verified_by,
    )  # fmt: skip


def specimen_public(s: PackagingSpecimen) -> SpecimenPublic:
    return SpecimenPublic(id=s.id, sm3=s.sm3, media_type=s.media_type, file_name=s.file_name, size=s.size,
                          uploaded_at=s.uploaded_at, uploaded_by=s.uploaded_by)  # fmt: skip


def material_public(session: Session, c: PrintedMaterialCheck) -> MaterialCheckPublic:
    return MaterialCheckPublic(
        id=c.id, step_code=c.step_code, material_code=c.material_code, material_name=c.material_name, kind=c.kind,
        lot_number=c.lot_number, artwork_number=c.artwork_number, artwork_version=c.artwork_version,
        per_unit=c.per_unit, checked_at=c.checked_at, checked_by=c.checked_by,
        specimens=[specimen_public(s) for s in _specimens(session, c)],
    )  # fmt: skip


def print_public(p: PrintDataCheck) -> PrintCheckPublic:
    return PrintCheckPublic(id=p.id, step_code=p.step_code, material_code=p.material_code,
                            printed_batch_no=p.printed_batch_no, printed_expiry=p.printed_expiry,
                            checked_at=p.checked_at, checked_by=p.checked_by)  # fmt: skip


def inspection_public(v: VisualInspection) -> VisualInspectionPublic:
    return VisualInspectionPublic(
        id=v.id, step_code=v.step_code, inspected=v.inspected, good=v.good, rejected=v.rejected,
        particles=v.particles, glass=v.glass, fill_volume=v.fill_volume, cracks=v.cracks, cosmetic=v.cosmetic,
        other=v.other, reject_pct=v.reject_pct, inspected_at=v.inspected_at, inspected_by=v.inspected_by,
        inspected_by_name=v.inspected_by_name,
    )  # fmt: skip


def reconciliation_public(r: MaterialReconciliation, material_code: str) -> ReconciliationPublic:
    return ReconciliationPublic(
        id=r.id, material_code=material_code, step_code=r.step_code, issued=r.issued, used=r.used,
        destroyed=r.destroyed, returned=r.returned, balance_pct=r.balance_pct, expected_used=r.expected_used,
        within_limits=r.within_limits, checked_at=r.checked_at, checked_by=r.checked_by,
    )  # fmt: skip


def balance_public(b: PackagingBalance) -> BalancePublic:
    return BalancePublic(id=b.id, step_code=b.step_code, finished=b.finished, samples=b.samples, rejects=b.rejects,
                         yield_pct=b.yield_pct, balance_pct=b.balance_pct, within_limits=b.within_limits,
                         recorded_at=b.recorded_at, recorded_by=b.recorded_by)  # fmt: skip


def record_public(session: Session, record: PackagingRecord) -> PackagingRecordPublic:
    materials = _materials(session, record)
    codes = {m.id: m.material_code for m in materials}
    line = _line_check(session, record)
    balance = _balance(session, record)
    return PackagingRecordPublic(
        id=record.id, batch_no=record.batch_no, product_code=record.product_code, product_name=record.product_name,
        bulk_batch_no=record.bulk_batch_no, bulk_quantity=record.bulk_quantity, unit=record.unit,
        planned_quantity=record.planned_quantity, pack_size=record.pack_size, line=record.line, room=record.room,
        instruction_number=record.instruction_number, instruction_version=record.instruction_version,
        manufacture_date=record.manufacture_date, shelf_life_months=record.shelf_life_months,
        expiry_date=record.expiry_date, reconciliation_limit_pct=record.reconciliation_limit_pct,
        yield_low_pct=record.yield_low_pct, yield_high_pct=record.yield_high_pct,
        reject_alert_pct=record.reject_alert_pct, reject_action_pct=record.reject_action_pct,
        created_at=record.created_at, created_by=record.created_by,
        line_check=None if line is None else line_check_public(line),
        materials=[material_public(session, m) for m in materials],
        print_checks=[print_public(p) for p in _prints(session, record)],
        inspections=[inspection_public(v) for v in _inspections(session, record)],
        reconciliations=[reconciliation_public(r, codes[r.material_check_id])
                         for r in _reconciliations(session, record).values()],
        balance=None if balance is None else balance_public(balance),
        missing=missing(session, record),
    )  # fmt: skip


def public_of(session: Session, order_ref: str) -> PackagingRecordPublic:
    order = execution.get_order(session, order_ref)
    return record_public(session, require_record(session, order))


# --- the batch record's packaging part (the seam of pharmatrace.mes.ebr) -------------------------------

EbrTable = tuple[str, list[str], list[list[str]]]


def _when(moment: datetime | None) -> str:
    return "" if moment is None else clock.format_beijing(moment)


def ebr_tables(session: Session, order: BatchOrder) -> list[EbrTable]:
    """The packaging part of the electronic batch record (TJ-B.2.3.4, 表 B.9): ``(title msgid, heading msgids,
    rows)`` per table, read by :mod:`pharmatrace.mes.ebr`; none when the batch has no packaging record."""
    record = record_of(session, order)
    if record is None:
        return []
    tables: list[EbrTable] = [
        (
            N_("Packaging record"),
            [N_("Product"), N_("Batch"), N_("Pack size"), N_("Manufacture date"), N_("Expiry date"),
             N_("Bulk batch"), N_("Bulk quantity"), N_("Planned quantity"), N_("Line / room"),
             N_("Packaging instruction"), N_("Opened")],
            [[f"{record.product_name} {record.product_code}", record.batch_no, record.pack_size,
              record.manufacture_date.isoformat(), record.expiry_date.isoformat(), record.bulk_batch_no,
              f"{plain_number(record.bulk_quantity)} {record.unit}",
              f"{plain_number(record.planned_quantity)} {record.unit}", f"{record.line} · {record.room}",
              f"{record.instruction_number} v{record.instruction_version}",
              f"{_when(record.created_at)} {record.created_by}"]],
        ),
    ]  # fmt: skip
    line = _line_check(session, record)
    if line is not None:
        signed = f"{line.performed_by} {_when(line.performed_at)}"
        verified = f"{line.verified_by or ''} {_when(line.verified_at)}".strip()
        tables.append((
            N_("Pre-packaging line check"), [N_("Item"), N_("Result"), N_("Note"), N_("Performed by"), N_("Verified by")],
            [[c["item"], c["result"], c.get("note", ""), signed, verified] for c in json.loads(line.checks)],
        ))  # fmt: skip
    materials = _materials(session, record)
    reconciled = _reconciliations(session, record)
    tables.append((
        N_("Printed packaging materials"),
        [N_("Material"), N_("Kind"), N_("Lot"), N_("Artwork"), N_("Specimens"), N_("Checked")],
        [[f"{m.material_name} {m.material_code}", m.kind, m.lot_number, f"{m.artwork_number} v{m.artwork_version}",
          ", ".join(s.sm3[:16] for s in _specimens(session, m)), f"{_when(m.checked_at)} {m.checked_by}"]
         for m in materials],
    ))  # fmt: skip
    tables.append((
        N_("Batch number and expiry as printed"),
        [N_("Material"), N_("Printed batch"), N_("Printed expiry"), N_("Checked")],
        [[p.material_code, p.printed_batch_no, p.printed_expiry.isoformat(), f"{_when(p.checked_at)} {p.checked_by}"]
         for p in _prints(session, record)],
    ))  # fmt: skip
    tables.append((
        N_("Visual inspection"),
        [N_("Step"), N_("Inspected"), N_("Good"), N_("Rejected"), *DEFECT_LABELS.values(), N_("Reject rate"),
         N_("Inspector")],
        [[v.step_code, str(v.inspected), str(v.good), str(v.rejected), *(str(getattr(v, d)) for d in DEFECTS),
          f"{v.reject_pct} %", f"{v.inspected_by_name} {_when(v.inspected_at)}"] for v in _inspections(session, record)],
    ))  # fmt: skip
    balance = _balance(session, record)
    if balance is not None:
        tables.append((
            N_("Yield and balance"),
            [N_("Finished"), N_("Samples"), N_("Rejects"), N_("Yield"), N_("Balance"), N_("Within limits"), N_("Recorded")],
            [[plain_number(balance.finished) or "0", plain_number(balance.samples) or "0",
              plain_number(balance.rejects) or "0", f"{balance.yield_pct} %", f"{balance.balance_pct} %",
              "✓" if balance.within_limits else "✗", f"{_when(balance.recorded_at)} {balance.recorded_by}"]],
        ))  # fmt: skip
    tables.append((
        N_("Printed material reconciliation"),
        [N_("Material"), N_("Issued"), N_("Used"), N_("Destroyed"), N_("Returned"), N_("Balance"), N_("Expected use"),
         N_("Within limits")],
        [[m.material_code, str(r.issued), str(r.used), str(r.destroyed), str(r.returned), f"{r.balance_pct} %",
          plain_number(r.expected_used) or "0", "✓" if r.within_limits else "✗"]
         for m in materials if (r := reconciled.get(m.id)) is not None],
    ))  # fmt: skip
    return tables
