"""The electronic batch record as one document (批生产记录, TJ-6.4.3.5, TJ-B.2.3).

:func:`batch_record` gathers everything of one batch in recipe order: the header (product, batch, order, master
recipe and version, the control recipe's SM3, batch size, dates), every step with its evidence (values with
units and limits, checks, equipment and room, the SOP and the version effective when the step started), every
signature's manifestation (printed name, meaning, Beijing time, verification state — 21 CFR 11.50,
SH-7.1.4.b), corrections with old → new values (TJ-10.1.4), the exceptions with their decisions (the review
list, :mod:`pharmatrace.mes.review`), weighing records, material identifications and charges, the packaging
part when the packaging area exposes it, the QA review, and a summary of the audit trail.

The same :class:`BatchRecord` is rendered as HTML (``mes/ebr.html``) and as PDF (:mod:`pharmatrace.mes.ebr_pdf`).
Reading the record as a document or exporting it is audited (``ebr.export``) by :func:`record_export`.

Packaging seam: when :mod:`pharmatrace.mes.packaging` defines ``ebr_tables(session, order)`` returning
``[(title msgid, [heading msgids], [[cell, …], …]), …]``, its tables are added to the record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, recipes, review
from pharmatrace.mes.dispensing_models import MaterialCharge, MaterialIdentification, WeighingRecord
from pharmatrace.mes.execution_models import BatchOrder, BatchSignoff, StepExecution
from pharmatrace.mes.recipe_schemas import Parameter
from pharmatrace.mes.review_schemas import ReviewItemPublic

EXPORT_EVENT = "ebr.export"
SIGNATURE_STATES = {
    "valid": N_("valid"),
    "changed": N_("record changed after signing"),
    "invalid": N_("invalid"),
}
Translate = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class SignatureLine:
    """One signature's manifestation: printed name, meaning, Beijing time and its verification state."""

    role: str  # the batch sign-off role (performed, verified, …, review)
    meaning: str  # the e-signature meaning code (MEANINGS)
    signer_name: str
    signer_login: str
    signed_at: datetime
    status: str  # valid | changed | invalid | missing
    comment: str


@dataclass(frozen=True, slots=True)
class ValueLine:
    code: str
    name: str
    value: str
    unit: str
    limits: str
    flag: str
    comment: str


@dataclass(slots=True)
class StepRecord:
    seq: int
    unit: str
    operation: str
    room: str
    equipment_classes: str
    code: str
    name: str
    type: str
    state: str
    instruction: str
    sop: str  # "SOP-PR-001 v2" (the version effective when the step started), or ""
    started: str
    completed: str
    performed_by: str
    verified_by: str
    record_sm3: str
    values: list[ValueLine] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)  # other evidence: name → text
    signatures: list[SignatureLine] = field(default_factory=list)
    clearance_phase: str = ""  # a line clearance: "before" or "after" production (TJ-6.4.5, TJ-B.2.3.3)


# How a line clearance's phase is shown in the record (清场前 / 清场后).
CLEARANCE_PHASE_LABELS = {
    "before": N_("Line clearance before production"),
    "after": N_("Line clearance after production"),
}


@dataclass(frozen=True, slots=True)
class Table:
    title: str  # msgid
    headings: tuple[str, ...]  # msgids
    rows: list[list[str]]


@dataclass(slots=True)
class BatchRecord:
    order_no: str
    batch_no: str
    product_code: str
    product_name: str
    status: str
    header: list[tuple[str, str]]  # (label msgid, value)
    steps: list[StepRecord]
    signatures: list[SignatureLine]  # of the order: release, and QA's review
    exceptions: list[ReviewItemPublic]
    tables: list[Table]  # corrections, weighings, identifications, charges, packaging, audit summary
    trail_total: int


def _t(moment: datetime | None) -> str:
    return clock.format_beijing(moment) if moment is not None else ""


def _limits(parameter: Parameter | None) -> str:
    if parameter is None:
        return ""
    parts = []
    if parameter.target is not None:
        parts.append(f"T {plain_number(parameter.target)}")
    if parameter.alert_low is not None or parameter.alert_high is not None:
        parts.append(
            f"A {plain_number(parameter.alert_low) or '—'} ~ {plain_number(parameter.alert_high) or '—'}"
        )
    if parameter.action_low is not None or parameter.action_high is not None:
        parts.append(
            f"L {plain_number(parameter.action_low) or '—'} ~ {plain_number(parameter.action_high) or '—'}"
        )
    return " · ".join(parts)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _signature_lines(session: Session, rows: list[BatchSignoff]) -> dict[int, list[SignatureLine]]:
    out: dict[int, list[SignatureLine]] = {}
    for row in rows:
        views = esign.manifestations(session, execution.SIGNOFF_TYPE, str(row.id))
        if not views:  # a sign-off row without its signature: shown, never hidden
            out[row.id] = [SignatureLine(row.role, "", row.signed_by_name, row.signed_by, row.signed_at, "missing",
                                         row.comment)]  # fmt: skip
            continue
        out[row.id] = [
            SignatureLine(
                row.role, v.meaning, v.signer_name, v.signer_login, v.signed_at, v.status, row.comment
            )
            for v in views
        ]
    return out


def _sop_version(session: Session, sop: str | None, at: datetime | None) -> str:
    if not sop:
        return ""
    from pharmatrace.documents.service import current_effective

    version = current_effective(session, sop, at)
    return f"{sop} v{version.version}" if version is not None else sop


def _step_records(session: Session, order: BatchOrder, signatures: dict[int, list[SignatureLine]],
                  signoffs: list[BatchSignoff]) -> list[StepRecord]:  # fmt: skip
    if execution.control_recipe_of(session, order) is None:
        return []
    body = execution.control_body(session, order)
    plan = execution.plan_of(body)
    units = {u.code: u for u in body.unit_procedures}
    by_step: dict[str, list[SignatureLine]] = {}
    for signoff in signoffs:
        if signoff.step_code:
            by_step.setdefault(signoff.step_code, []).extend(signatures[signoff.id])
    rows = session.scalars(
        select(StepExecution).where(StepExecution.batch_order_id == order.id).order_by(StepExecution.seq)
    )
    sops: dict[tuple[str, datetime | None], str] = {}
    out = []
    for row in rows:
        unit_code, operation, step = plan.steps[row.step_code]
        record = json.loads(row.record)
        parameters = {p.code: p for p in step.parameters}
        controls = {c.code: c for c in step.controls}
        values = []
        recorded = record.get("values") or {}
        codes = [p.code for p in step.parameters if p.code in recorded] + sorted(
            set(recorded) - set(parameters)
        )
        for code in codes:  # the recipe's order of parameters, then anything else recorded
            item = recorded[code]
            item = item if isinstance(item, dict) else {"value": item}
            parameter = parameters.get(code)
            name, limits = (parameter.name, _limits(parameter)) if parameter else (code, "")
            if code in controls:  # an in-process control: its acceptance limits
                control = controls[code]
                name, limits = (
                    control.name,
                    f"{plain_number(control.low) or '—'} ~ {plain_number(control.high) or '—'}",
                )
            elif code == "yield_pct" and step.yield_limits is not None:
                low, high = step.yield_limits.low_pct, step.yield_limits.high_pct
                limits = f"{plain_number(low)} ~ {plain_number(high)}"
            shown = item.get("shown") or item.get("value")
            if item.get("tag"):  # TJ-6.4.3.3.f: a CPP bound to a historian tag, captured or entered by hand
                captured = (f"{item.get('min')} ~ {item.get('max')}, n={item.get('count')}"
                            if item.get("source") == "historian" else "manual")  # fmt: skip
                shown = f"{shown} [{item['tag']}: {captured}]"
            values.append(ValueLine(
                code, name, _text(shown if shown is not None else ""),
                str(item.get("unit") or (parameter.unit if parameter else "")), limits,
                str(item.get("flag", "")), str(item.get("comment", "")),
            ))  # fmt: skip
        facts = [(key, _text(value)) for key, value in record.items() if key != "values"]
        key = (step.sop or "", row.started_at)
        if key not in sops:
            sops[key] = _sop_version(session, step.sop, row.started_at)
        unit = units[unit_code]
        out.append(StepRecord(
            seq=row.seq, unit=f"{unit.code} {unit.name}", operation=f"{operation.code} {operation.name}",
            room=operation.room or "", equipment_classes=", ".join(operation.equipment_classes), code=row.step_code,
            name=step.name, type=row.step_type, state=row.state, instruction=step.instruction, sop=sops[key],
            started=_t(row.started_at), completed=_t(row.completed_at), performed_by=row.performed_by or "",
            verified_by=row.verified_by or "", record_sm3=row.record_sm3 or "", values=values, facts=facts,
            signatures=by_step.get(row.step_code, []),
            clearance_phase=step.phase if step.type == "line_clearance" else "",
        ))  # fmt: skip
    return out


def _dispensing_tables(session: Session, order: BatchOrder) -> list[Table]:
    weighings = session.scalars(
        select(WeighingRecord).where(WeighingRecord.batch_order_id == order.id).order_by(WeighingRecord.id)
    )
    identifications = session.scalars(
        select(MaterialIdentification).where(MaterialIdentification.batch_order_id == order.id)
        .order_by(MaterialIdentification.id)
    )  # fmt: skip
    charges = session.scalars(
        select(MaterialCharge).where(MaterialCharge.batch_order_id == order.id).order_by(MaterialCharge.id)
    )
    return [
        Table(
            N_("Weighing records"),
            (N_("Record"), N_("Step"), N_("Material"), N_("Lot"), N_("Scale"), N_("Calibration"),
             N_("Readability"), N_("Tare / gross / net"), N_("Target ± tolerance"), N_("Quantity"), N_("Source"),
             N_("Weighed by"), N_("Time")),
            [[w.code, w.step_code, f"{w.material_code} {w.material_name}", w.lot_number,
              f"{w.scale_code} {w.scale_name}", w.calibration_status, f"{plain_number(w.readability)} {w.weight_unit}",
              f"{plain_number(w.tare)} / {plain_number(w.gross)} / {plain_number(w.net)} {w.weight_unit}",
              f"{plain_number(w.target)} ± {plain_number(w.tolerance)} {w.unit}", f"{plain_number(w.quantity)} {w.unit}",
              w.source + (f" ({w.manual_reason})" if w.manual_reason else ""), f"{w.weighed_by_name} ({w.weighed_by})",
              _t(w.weighed_at)] for w in weighings],
        ),
        Table(
            N_("Material identifications"),
            (N_("Step"), N_("Container"), N_("Material"), N_("Lot"), N_("Lot status"), N_("Identified by"), N_("Time")),
            [[i.step_code, i.container_code, f"{i.material_code} {i.material_name}", i.lot_number, i.lot_status,
              f"{i.identified_by_name} ({i.identified_by})", _t(i.identified_at)] for i in identifications],
        ),
        Table(
            N_("Material charges"),
            (N_("Step"), N_("Container"), N_("Material"), N_("Lot"), N_("Quantity"), N_("Source")),
            [[c.step_code, c.container_code, f"{c.material_code} {c.material_name}", c.lot_number,
              f"{plain_number(c.quantity)} {c.unit}", c.source] for c in charges],
        ),
    ]  # fmt: skip


def _packaging_tables(session: Session, order: BatchOrder) -> list[Table]:
    """The packaging part through the packaging area's seam, when it exists (see the module docstring)."""
    try:
        from pharmatrace.mes import packaging  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return []
    tables = getattr(packaging, "ebr_tables", None)
    if tables is None:
        return []
    return [Table(title, tuple(headings), [list(map(str, r)) for r in rows])
            for title, headings, rows in tables(session, order)]  # fmt: skip


def trail_records(session: Session, order: BatchOrder) -> list[tuple[str, list[int]]]:
    """The records of the batch whose audit entries make its trail."""
    from pharmatrace.mes.review_models import BatchReview

    def ids(model: Any) -> list[int]:
        return list(session.scalars(select(model.id).where(model.batch_order_id == order.id)))

    from pharmatrace.mes.execution_models import BatchException

    return [
        ("batch_order", [order.id]), ("step_execution", ids(StepExecution)), ("batch_signoff", ids(BatchSignoff)),
        ("batch_exception", ids(BatchException)), ("weighing_record", ids(WeighingRecord)),
        ("material_identification", ids(MaterialIdentification)), ("material_charge", ids(MaterialCharge)),
        ("batch_review", ids(BatchReview)),
    ]  # fmt: skip


def _trail_summary(session: Session, order: BatchOrder) -> tuple[Table, int]:
    conditions = [
        (AuditEntry.object_type == kind) & AuditEntry.object_id.in_([str(i) for i in ids])
        for kind, ids in trail_records(session, order) if ids
    ]  # fmt: skip
    rows = session.execute(
        select(AuditEntry.object_type, AuditEntry.event, func.count(), func.min(AuditEntry.at), func.max(AuditEntry.at))
        .where(or_(*conditions)).group_by(AuditEntry.object_type, AuditEntry.event)
        .order_by(AuditEntry.object_type, AuditEntry.event)
    ).all()  # fmt: skip
    total = sum(int(r[2]) for r in rows)
    table = Table(
        N_("Audit trail summary"),
        (N_("Object"), N_("Operation"), N_("Entries"), N_("First"), N_("Last")),
        [[kind, event, str(count), _t(first), _t(last)] for kind, event, count, first, last in rows],
    )
    return table, total


def batch_record(session: Session, order: BatchOrder) -> BatchRecord:
    """The complete record of one batch (TJ-6.4.3.5), read in a few queries."""
    control = execution.control_recipe_of(session, order)
    version = recipes.get_version(session, order.master_version_id)
    signoffs = execution.signoffs_of(session, order)
    signatures = _signature_lines(session, signoffs)
    qa_review = review.review_of(session, order)
    header = [
        (N_("Product"), f"{order.product_name} ({order.product_code})"),
        (N_("Batch"), order.batch_no),
        (N_("Order"), order.order_no),
        (N_("Master recipe"), f"{order.recipe_code} v{control.version if control else version.version}"),
        (N_("Control recipe SM3"), control.body_sm3 if control else "—"),
        (N_("Batch size"), f"{plain_number(order.batch_size)} {order.unit}"),
        (N_("Planned"), f"{clock.format_beijing(order.planned_start, seconds=False)} → "
                        f"{clock.format_beijing(order.planned_end, seconds=False)}"),
        (N_("Released to the floor"), f"{_t(order.released_at)} {order.released_by or ''}".strip() or "—"),
        (N_("Started"), _t(order.started_at) or "—"),
        (N_("Completed"), _t(order.completed_at) or "—"),
        (N_("Reviewed"), f"{_t(qa_review.reviewed_at)} {qa_review.reviewed_by_name}" if qa_review else "—"),
    ]  # fmt: skip
    order_signatures = [line for row in signoffs if not row.step_code for line in signatures[row.id]]
    if qa_review is not None:
        for v in esign.manifestations(session, review.REVIEW_TYPE, str(qa_review.id)):
            order_signatures.append(SignatureLine("review", v.meaning, v.signer_name, v.signer_login, v.signed_at,
                                                  v.status, qa_review.comment))  # fmt: skip
    corrections = Table(
        N_("Corrections"),
        (N_("Time"), N_("Step"), N_("Field"), N_("Old value"), N_("New value"), N_("Reason"), N_("By")),
        [[_t(c.corrected_at), code, c.field, c.old_value, c.new_value, c.reason, c.corrected_by]
         for c, code in execution.corrections_of(session, order)],
    )  # fmt: skip
    trail, total = _trail_summary(session, order)
    return BatchRecord(
        order_no=order.order_no, batch_no=order.batch_no, product_code=order.product_code,
        product_name=order.product_name, status=order.status, header=header,
        steps=_step_records(session, order, signatures, signoffs), signatures=order_signatures,
        exceptions=sorted(review.review_items(session, order_ids=[order.id]), key=lambda i: (i.at, i.key)),
        tables=[corrections, *_dispensing_tables(session, order), *_packaging_tables(session, order), trail],
        trail_total=total,
    )  # fmt: skip


def record_export(uow: UnitOfWork, order: BatchOrder, fmt: str) -> None:
    """Every view as a document and every export of a batch record is itself audited (TJ-6.4.3.5)."""
    uow.record(
        EXPORT_EVENT, "batch_order", order.id,
        changes={"batch_no": [None, order.batch_no], "format": [None, fmt]},
        reason=f"batch record of {order.batch_no} as {fmt}",
    )  # fmt: skip


def meaning_label(code: str) -> str:
    return MEANINGS.get(code, code)


RECORD_STATUSES = ("in_progress", "completed", "reviewed")


def list_records(
    session: Session, *, batch: str = "", product: str = "", date_from: Any = None, date_to: Any = None
) -> list[BatchOrder]:
    """Batch records searchable by batch (or order) number, product, and production date (Beijing days)."""
    from pharmatrace.mes.review import _beijing_day_start

    query = (
        select(BatchOrder).where(BatchOrder.started_at.is_not(None)).order_by(BatchOrder.started_at.desc())
    )
    if batch.strip():
        like = f"%{batch.strip()}%"
        query = query.where(BatchOrder.batch_no.ilike(like) | BatchOrder.order_no.ilike(like))
    if product.strip():
        like = f"%{product.strip()}%"
        query = query.where(BatchOrder.product_code.ilike(like) | BatchOrder.product_name.ilike(like))
    if date_from is not None:  # the batch ran on or after that day
        query = query.where(
            or_(BatchOrder.completed_at.is_(None), BatchOrder.completed_at >= _beijing_day_start(date_from))
        )
    if date_to is not None:
        from datetime import timedelta

        query = query.where(BatchOrder.started_at < _beijing_day_start(date_to + timedelta(days=1)))
    return list(session.scalars(query.limit(500)))


def read_record(uow: UnitOfWork, order_no: str, fmt: str) -> BatchRecord:
    """The record of a batch, its reading recorded (``ebr.export`` with the format) in the same work."""
    order = execution.get_order(uow.session, order_no)
    record = batch_record(uow.session, order)
    record_export(uow, order, fmt)
    return record
