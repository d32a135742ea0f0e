"""The product quality review's compiler (产品质量回顾汇编; TJ-9.4, SH-6.2.4): a pure read of the other areas.

:func:`compile_content` gathers, for one product (a finished good: the MES batches' ``product_code``) and one period
(Beijing calendar dates, both included), one section per function — each ``{"counts": {...}, "rows": [...]}``:

* ``batches`` — the product's batch orders whose manufacture started in the period (a batch not started yet by its
  planned start), their status and the qualified person's release decision (:mod:`pharmatrace.qms.release`);
  counts by status and by decision: released, rejected, quarantined, awaiting;
* ``yields`` — every ``yield`` step done on those batches: actual against theoretical, the yield % and its limits
  as the MES recorded them (TJ-6.4.6);
* ``deviations`` — the deviations naming those batches (:func:`pharmatrace.qms.deviations.batch_quality_evaluation`),
  counted by classification and status;
* ``laboratory`` — the product's test orders (its batches' release tests and any order of the product requested in
  the period), the latest version of each numeric result with its specification item's numeric limits, the OOS
  investigations and the results flagged out of trend (TJ-7.7); the assay (含量) per batch feeds the trend chart;
* ``changes`` — change requests naming the product, its master recipe, its specifications or the equipment its
  batches used (open in the period or closed in it), and the site's other changes closed in the period;
* ``complaints`` — the complaints about those batches or received in the period about the product, and the recalls
  of those batches;
* ``stability`` — the product's stability studies with their pulls and the results of their latest pull point.

Everything is a plain value (text, integers, booleans) so the canonical JSON, and its SM3, are the same for the
same records: compiling twice over unchanged data gives the same hash; a new deviation on a batch changes it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.mes.execution_models import BatchOrder, StepExecution
from pharmatrace.wms.models import Material

SCHEMA = 2  # 2: a laboratory row carries its specification item's numeric limits (``low``/``high``)
ASSAY_PREFIX = "含量"  # the assay test items (含量测定 …) trended per batch


@dataclass(frozen=True, slots=True)
class Scope:
    """What a compilation covers: the product, the period and the product's batches in it."""

    product: Material
    start: date
    end: date
    orders: tuple[BatchOrder, ...]

    @property
    def batch_nos(self) -> list[str]:
        return [o.batch_no for o in self.orders]

    @property
    def order_ids(self) -> list[int]:
        return [o.id for o in self.orders]


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The period as UTC instants: from the start's Beijing midnight to the day after the end's."""
    low = datetime.combine(start, time.min, clock.BEIJING).astimezone(UTC)
    high = datetime.combine(end + timedelta(days=1), time.min, clock.BEIJING).astimezone(UTC)
    return low, high


def in_period(moment: datetime | None, start: date, end: date) -> bool:
    if moment is None:
        return False
    return start <= clock.to_beijing(moment).date() <= end


def _day(moment: datetime | None) -> str | None:
    return clock.to_beijing(moment).date().isoformat() if moment is not None else None


def _when(moment: datetime | None) -> str | None:
    return clock.format_beijing(moment) if moment is not None else None


def _number(text: str | None) -> str | None:
    """A numeric text as written, or None when it is not a number."""
    if text is None:
        return None
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None
    return str(text).strip() if value.is_finite() else None


def manufacture_start(order: BatchOrder) -> datetime:
    """When the batch's manufacture started, or is planned to start."""
    return order.started_at or order.planned_start


def batches_in_period(session: Session, product_code: str, start: date, end: date) -> list[BatchOrder]:
    """The product's batch orders whose manufacture started (or is planned to start) in the period."""
    found = session.scalars(
        select(BatchOrder).where(BatchOrder.product_code == product_code).order_by(BatchOrder.id)
    )
    return [o for o in found if in_period(manufacture_start(o), start, end)]


def scope_of(session: Session, product: Material, start: date, end: date) -> Scope:
    return Scope(product, start, end, tuple(batches_in_period(session, product.code, start, end)))


# --- the sections ------------------------------------------------------------------------------------------------


def section_batches(session: Session, scope: Scope) -> dict[str, Any]:
    """Batches with their status and the release decision in force (TJ-9.1): released vs rejected."""
    from pharmatrace.qms import release

    rows = []
    for order in scope.orders:
        decisions = release.decisions_of(session, order)
        last = decisions[-1] if decisions else None
        rows.append({
            "batch_no": order.batch_no, "order_no": order.order_no, "status": order.status,
            "batch_size": format(order.batch_size.normalize(), "f"),
            "unit": order.unit, "started": _day(order.started_at), "planned_start": _day(order.planned_start),
            "completed": _day(order.completed_at), "release": release.state_of(decisions),
            "decided_at": _when(last.decided_at) if last else None, "decided_by": last.decided_by if last else None,
            "reason": last.reason if last else "",
        })  # fmt: skip
    by_release = Counter(r["release"] for r in rows)
    counts = {
        "batches": len(rows),
        "by_status": dict(sorted(Counter(r["status"] for r in rows).items())),
        "released": by_release.get("release", 0),
        "rejected": by_release.get("reject", 0),
        "quarantined": by_release.get("quarantine", 0),
        "awaiting": by_release.get("awaiting", 0),
    }
    return {"counts": counts, "rows": rows}


def section_yields(session: Session, scope: Scope) -> dict[str, Any]:
    """Every yield step done on the batches: actual vs theoretical, the yield % and its limits (TJ-6.4.6)."""
    rows = []
    if scope.order_ids:
        steps = session.scalars(
            select(StepExecution)
            .where(StepExecution.batch_order_id.in_(scope.order_ids), StepExecution.step_type == "yield",
                   StepExecution.state == "done")
            .order_by(StepExecution.batch_order_id, StepExecution.seq)
        )  # fmt: skip
        batch_of = {o.id: o.batch_no for o in scope.orders}
        for step in steps:
            try:
                record = json.loads(step.record or "{}")
            except ValueError:
                record = {}
            values = record.get("values") or {}
            limits = record.get("limits") or {}
            percent = values.get("yield_pct") or {}
            rows.append({
                "batch_no": batch_of[step.batch_order_id], "step_code": step.step_code,
                "operation": step.operation_code,
                "actual": _number((values.get("actual") or {}).get("value")),
                "theoretical": _number((values.get("theoretical") or {}).get("value")),
                "yield_pct": _number(percent.get("value")), "shown": percent.get("shown"),
                "low_pct": _number(limits.get("low_pct")), "high_pct": _number(limits.get("high_pct")),
                "within_limits": percent.get("flag", "ok") == "ok", "comment": percent.get("comment") or "",
            })  # fmt: skip
    counts = {
        "yield_steps": len(rows),
        "batches_with_yields": len({r["batch_no"] for r in rows}),
        "out_of_limits": sum(1 for r in rows if not r["within_limits"]),
        "steps": sorted({r["step_code"] for r in rows}),
    }
    return {"counts": counts, "rows": rows}


def section_deviations(session: Session, scope: Scope) -> dict[str, Any]:
    """The deviations naming the batches, counted by classification and status (TJ-6.4.4)."""
    from pharmatrace.qms import deviations
    from pharmatrace.qms.deviation_models import Deviation

    batches_of: dict[str, list[str]] = {}
    conclusions: dict[str, list[str]] = {}
    for batch_no in scope.batch_nos:
        for found in deviations.batch_quality_evaluation(session, batch_no):
            batches_of.setdefault(found.number, []).append(batch_no)
            if found.conclusion:
                conclusions.setdefault(found.number, []).append(f"{batch_no}: {found.conclusion}")
    rows = []
    if batches_of:
        for d in session.scalars(
            select(Deviation).where(Deviation.number.in_(sorted(batches_of))).order_by(Deviation.id)
        ):
            rows.append({
                "number": d.number, "batches": batches_of[d.number], "occurred": _day(d.occurred_at),
                "classification": d.classification, "category": d.category, "status": d.status,
                "description": d.description, "root_cause": d.root_cause,
                "impact": conclusions.get(d.number, []),
            })  # fmt: skip
    counts = {
        "deviations": len(rows),
        "by_classification": dict(
            sorted(Counter(r["classification"] or "unclassified" for r in rows).items())
        ),
        "by_status": dict(sorted(Counter(r["status"] for r in rows).items())),
        "open": sum(1 for r in rows if r["status"] not in ("closed", "cancelled")),
    }
    return {"counts": counts, "rows": rows}


def _limit(value: Decimal | None) -> str | None:
    """A stored limit as plain text without the storage's trailing zeros (``95.000000`` → ``95``)."""
    return None if value is None else format(value.normalize(), "f")


def _orders_of_product(session: Session, scope: Scope) -> list[Any]:
    """The product's test orders: its batches' (by lot number) and any requested in the period."""
    from pharmatrace.lims.result_models import TestOrder

    low, high = _bounds(scope.start, scope.end)
    wanted: list[ColumnElement[bool]] = [(TestOrder.requested_at >= low) & (TestOrder.requested_at < high)]
    if scope.batch_nos:
        wanted.append(TestOrder.lot_number.in_(scope.batch_nos))
    query = select(TestOrder).where(
        TestOrder.material_code == scope.product.code, TestOrder.voided_at.is_(None), or_(*wanted)
    )
    return list(session.scalars(query.order_by(TestOrder.id)).unique())


def section_laboratory(session: Session, scope: Scope) -> dict[str, Any]:
    """The numeric results of the product's tests (latest version), the OOS investigations and the OOT flags."""
    from pharmatrace.lims import results
    from pharmatrace.lims.result_models import OosCase
    from pharmatrace.lims.specs_models import SpecificationItem

    orders = _orders_of_product(session, scope)
    rows, flagged = [], []
    items: dict[int, SpecificationItem | None] = {}
    for order in orders:
        for test in order.tests:
            last = results.latest(test)
            if last is None:
                continue
            oot = any(results.oot_of(r)[0] for r in test.results)  # re-evaluations included
            if oot:
                flagged.append({"order": order.code, "lot_number": order.lot_number, "item": test.item_name,
                                "reported": last.reported, "findings": results.oot_of(last)[1]})  # fmt: skip
            value = _number(last.reported)
            if value is None:
                continue
            if test.spec_item_id not in items:
                items[test.spec_item_id] = session.get(SpecificationItem, test.spec_item_id)
            item = items[test.spec_item_id]
            rows.append({
                "order": order.code, "source": order.source, "lot_number": order.lot_number,
                "source_ref": order.source_ref, "item": test.item_name, "reported": value, "unit": last.unit,
                "limit": last.limit_text, "low": _limit(item.lower) if item is not None else None,
                "high": _limit(item.upper) if item is not None else None,
                "state": results.test_state(test), "verdict": results.verdict_of(last),
                "oot": oot, "tested": _day(last.tested_at),
            })  # fmt: skip
    cases = []
    if orders:
        query = select(OosCase).where(OosCase.order_id.in_([o.id for o in orders])).order_by(OosCase.id)
        for case in session.scalars(query):
            cases.append({"code": case.code, "lot_number": case.lot_number, "item": case.item_name,
                          "result": case.result_text, "limit": case.limit_text, "phase": case.phase,
                          "status": case.status, "opened": _day(case.opened_at)})  # fmt: skip
    counts = {
        "test_orders": len(orders),
        "numeric_results": len(rows),
        "failed": sum(1 for r in rows if r["verdict"] == "fail"),
        "oos": len(cases),
        "oos_open": sum(1 for c in cases if c["status"] == "open"),
        "oot": len(flagged),
    }
    return {"counts": counts, "rows": rows, "oos": cases, "oot": flagged}


def _references(session: Session, scope: Scope) -> set[str]:
    """What a change may name that touches the product: its code, its master recipes, its specifications, and
    the equipment and rooms its batches used."""
    from pharmatrace.lims.specs_models import Specification, SpecificationMaterial, SpecificationVersion
    from pharmatrace.mes.recipe_models import MasterRecipe

    refs = {scope.product.code}
    refs.update(
        session.scalars(select(MasterRecipe.code).where(MasterRecipe.product_code == scope.product.code))
    )
    refs.update(
        session.scalars(
            select(Specification.code)
            .join(SpecificationVersion, SpecificationVersion.specification_id == Specification.id)
            .join(SpecificationMaterial, SpecificationMaterial.version_id == SpecificationVersion.id)
            .where(
                SpecificationMaterial.material_id == scope.product.id,
                SpecificationMaterial.voided_at.is_(None),
            )
        )
    )
    if scope.order_ids:
        for record in session.scalars(
            select(StepExecution.record).where(StepExecution.batch_order_id.in_(scope.order_ids))
        ):
            try:
                evidence = json.loads(record or "{}")
            except ValueError:
                continue
            if not isinstance(evidence, dict):
                continue
            if evidence.get("room"):
                refs.add(str(evidence["room"]))
            for used in evidence.get("equipment") or []:
                if isinstance(used, dict) and used.get("code"):
                    refs.add(str(used["code"]))
    return {r.upper() for r in refs}


def section_changes(session: Session, scope: Scope) -> dict[str, Any]:
    """Changes touching the product (open in the period or closed in it) and the site's changes closed in it."""
    from pharmatrace.qms.change_models import ChangeRequest

    refs = _references(session, scope)
    low, high = _bounds(scope.start, scope.end)
    rows: list[dict[str, Any]] = []
    closed_count = 0
    for change in session.scalars(select(ChangeRequest).order_by(ChangeRequest.id)):
        if change.status in ("draft", "cancelled"):
            continue
        named = sorted({i.reference for i in change.items if i.reference.upper() in refs})
        text = f"{change.title} {change.description}".upper()
        named += sorted(r for r in refs if len(r) >= 4 and r in text and r not in named)
        closed_in = change.closed_at is not None and low <= change.closed_at < high
        live_in = change.created_at < high and (change.closed_at is None or change.closed_at >= low)
        if not (closed_in or (named and live_in)):
            continue
        closed_count += closed_in
        rows.append({
            "number": change.number, "title": change.title, "type": change.change_type,
            "class": change.change_class, "status": change.status, "created": _day(change.created_at),
            "closed": _day(change.closed_at), "affects_product": bool(named), "references": named,
        })  # fmt: skip
    counts = {
        "changes": len(rows),
        "affecting_product": sum(1 for r in rows if r["affects_product"]),
        "closed_in_period": closed_count,
    }
    return {"counts": counts, "rows": rows}


def section_complaints(session: Session, scope: Scope) -> dict[str, Any]:
    """Complaints on the batches or received in the period about the product, and recalls of the batches."""
    from pharmatrace.qms.complaint_models import Complaint
    from pharmatrace.qms.recall_models import Recall

    low, high = _bounds(scope.start, scope.end)
    wanted: list[ColumnElement[bool]] = [
        (Complaint.product_code == scope.product.code)
        & (Complaint.received_at >= low)
        & (Complaint.received_at < high)
    ]
    if scope.order_ids:
        wanted.append(Complaint.batch_order_id.in_(scope.order_ids))
    rows = [
        {"number": c.number, "received": _day(c.received_at), "batch_no": c.batch_no, "category": c.category,
         "classification": c.classification, "status": c.status, "conclusion": c.conclusion,
         "description": c.description}
        for c in session.scalars(select(Complaint).where(or_(*wanted)).order_by(Complaint.id))
    ]  # fmt: skip
    batches = set(scope.batch_nos)
    recalls = []
    for recall in session.scalars(select(Recall).order_by(Recall.id)):
        try:
            listed = {
                str(b.get("batch_no")) for b in json.loads(recall.batches or "[]") if isinstance(b, dict)
            }
        except ValueError:
            listed = set()
        hit = sorted((listed | {recall.start_ref}) & batches)
        if hit:
            recalls.append({"number": recall.number, "kind": recall.kind, "level": recall.level,
                            "status": recall.status, "batches": hit, "opened": _day(recall.opened_at),
                            "closed": _day(recall.closed_at), "reason": recall.reason})  # fmt: skip
    counts = {
        "complaints": len(rows),
        "by_category": dict(sorted(Counter(r["category"] for r in rows).items())),
        "by_classification": dict(
            sorted(Counter(r["classification"] or "unclassified" for r in rows).items())
        ),
        "justified": sum(1 for r in rows if r["conclusion"] == "justified"),
        "recalls": len(recalls),
        "mock_recalls": sum(1 for r in recalls if r["kind"] == "mock"),
    }
    return {"counts": counts, "rows": rows, "recalls": recalls}


def section_stability(session: Session, scope: Scope) -> dict[str, Any]:
    """The product's stability studies, their pulls and the results of their latest pull point (SH-6.2.3)."""
    from pharmatrace.lims import results, stability
    from pharmatrace.lims.result_models import TestOrder
    from pharmatrace.lims.stability_models import StabilityStudy

    rows: list[dict[str, Any]] = []
    query = (
        select(StabilityStudy)
        .where(StabilityStudy.material_id == scope.product.id)
        .order_by(StabilityStudy.id)
    )
    for study in session.scalars(query):
        pulls = [p for p in study.pulls if p.order_id is not None]
        latest = max(pulls, key=lambda p: (p.months, p.id)) if pulls else None
        found: list[dict[str, Any]] = []
        if latest is not None and latest.order_id is not None:
            order = session.get(TestOrder, latest.order_id)
            for test in order.tests if order is not None else []:
                last = results.latest(test)
                if last is None:
                    continue
                shown = last.reported or last.answer or last.text_result or ""
                found.append({"item": test.item_name, "result": f"{shown} {last.unit}".strip(),
                              "verdict": results.verdict_of(last), "oot": bool(results.oot_of(last)[0])})  # fmt: skip
        rows.append({
            "code": study.code, "title": study.title, "type": study.study_type, "condition": study.condition,
            "status": stability.study_status(study), "start": study.start_date.isoformat(),
            "batches": [b.batch_no for b in study.batches], "pulls": len(study.pulls),
            "latest_point": latest.months if latest is not None else None,
            "latest_order": latest.order_code if latest is not None else None, "latest_results": found,
        })  # fmt: skip
    counts = {
        "studies": len(rows),
        "pulls": sum(r["pulls"] for r in rows),
        "failed_results": sum(1 for r in rows for x in r["latest_results"] if x["verdict"] == "fail"),
    }
    return {"counts": counts, "rows": rows}


SECTION_FUNCTIONS = {
    "batches": section_batches,
    "yields": section_yields,
    "deviations": section_deviations,
    "laboratory": section_laboratory,
    "changes": section_changes,
    "complaints": section_complaints,
    "stability": section_stability,
}


def compile_content(session: Session, product: Material, start: date, end: date) -> dict[str, Any]:
    """The review's content: the product, the period and every section (TJ-9.4)."""
    scope = scope_of(session, product, start, end)
    return {
        "schema": SCHEMA,
        "product": {"code": product.code, "name": product.name, "unit": product.unit},
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "sections": {name: build(session, scope) for name, build in SECTION_FUNCTIONS.items()},
    }


# --- the trend charts ---------------------------------------------------------------------------------------------


def _float(text: Any) -> float | None:
    try:
        return float(Decimal(str(text)))
    except (InvalidOperation, ValueError, TypeError):
        return None


def charts(content: dict[str, Any]) -> dict[str, Any]:
    """What the page's trend charts draw, from the compiled content: the yield % per batch (one series per yield
    step, with its limits) and, when results exist, the assay per batch — one series per assay test item, with
    its specification limits when the compiled rows carry them (a compilation of schema 1 does not)."""
    sections = content.get("sections") or {}
    batches = [r["batch_no"] for r in (sections.get("batches") or {}).get("rows", [])]
    yields = (sections.get("yields") or {}).get("rows", [])
    series = []
    for step in sorted({r["step_code"] for r in yields}):
        mine = {r["batch_no"]: r for r in yields if r["step_code"] == step}
        limits = next(iter(mine.values()))
        series.append({"name": step, "data": [_float(mine[b]["yield_pct"]) if b in mine else None for b in batches],
                       "low": _float(limits.get("low_pct")), "high": _float(limits.get("high_pct"))})  # fmt: skip
    lab = (sections.get("laboratory") or {}).get("rows", [])
    assay_rows = [r for r in lab if r["item"].startswith(ASSAY_PREFIX) and r["source"] == "batch"]
    assay: dict[str, Any] | None = None
    if assay_rows:
        lots = {r["lot_number"] for r in assay_rows}
        names = [b for b in batches if b in lots] + sorted(lots - set(batches))
        items: list[dict[str, Any]] = []
        for item in dict.fromkeys(r["item"] for r in assay_rows):  # in the order the results were compiled
            mine = {r["lot_number"]: r for r in assay_rows if r["item"] == item}
            first = next(iter(mine.values()))
            items.append({
                "name": item, "unit": first["unit"], "limit": first["limit"],
                "low": _float(first.get("low")), "high": _float(first.get("high")),
                "data": [_float(mine[b]["reported"]) if b in mine else None for b in names],
            })  # fmt: skip
        assay = {"batches": names, "unit": " / ".join(dict.fromkeys(i["unit"] for i in items if i["unit"])),
                 "series": items}  # fmt: skip
    return {"batches": batches, "yield": series if yields else None, "assay": assay}
