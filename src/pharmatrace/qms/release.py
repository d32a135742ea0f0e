"""Batch release by the qualified person (批放行; TJ-6.3.4, TJ-6.4.7, TJ-9.1).

* **The checklist** (:func:`checklist`), computed from the record every time it is read, never typed in: the
  batch record reviewed by exception and signed (``mes.review``); every deviation on the batch closed or
  assessed with an impact conclusion that allows release (``qms.deviations.batch_quality_evaluation``), open
  CAPA listed for information; the finished-product lot tested — every test approved, no open OOS — and a signed
  conforming certificate of analysis (``lims.results``, ``lims.certificates``); packaging reconciled within its
  limits (``mes.packaging``); environmental alarms in the batch's rooms over its window assessed (through the
  seam :func:`register`, which the monitoring area fills; with no provider the item says "not connected" and is
  not applicable — never a pass); every lot the batch consumed released (WMS lot status).
* **The summary** (:func:`summary`, 批放行生产及检定摘要): the batch's production facts, its testing and
  certificates, its deviations with their conclusions, the review.
* **The decision** (:func:`decide`): the qualified person (``qms.release.decide``) releases, rejects or
  quarantines the batch on an append-only :class:`~pharmatrace.qms.release_models.ReleaseDecision` naming the SM3
  of the checklist and summary it decided on. Release and rejection are signed (``qms.batch.release`` /
  ``qms.batch.reject``) on that row; a quarantine (hold pending) gives its reason and is not signed. Release is
  refused, with every failing item named and nothing written, while an item fails. Segregation of duties: the
  qualified person did not start, perform, verify or sign a step of the batch, correct one of its values, check
  its packaging line, or review its record (what the record lets us check).
* **Hand-over**: the MES hands the completed batch's finished product to the warehouse as a quarantined lot
  numbered as the batch (:mod:`pharmatrace.mes.handover`); QC samples, tests and certifies that lot, and the
  decision releases, rejects or holds it through :mod:`pharmatrace.wms.lots` in the same transaction. A batch
  that handed over nothing (an intermediate product, no finished-good material master) has no lot: its tests
  and certificate items fail. :class:`BatchReleaseDecided` is published for the traceability area (ADR 0012).

Incoming materials are released by QA on their certificate of analysis (``lims.certificates``, ADR 0016).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, events, ledger
from pharmatrace.kernel.errors import N_, Conflict, Msgid, Reasons, SegregationOfDuties
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import certificates, results
from pharmatrace.lims.result_models import TestOrder
from pharmatrace.mes import execution, packaging, review
from pharmatrace.mes.dispensing_models import MaterialCharge, MaterialIdentification, WeighingRecord
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.mes.packaging_models import (
    MaterialReconciliation,
    PackagingBalance,
    PackagingLineCheck,
    PrintDataCheck,
    PrintedMaterialCheck,
    VisualInspection,
)
from pharmatrace.qms import deviations, dossiers
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.qms.deviation_schemas import SignaturePublic
from pharmatrace.qms.release_models import FINAL_DECISIONS, ReleaseDecision
from pharmatrace.qms.release_schemas import (
    CandidatePublic,
    CapaRef,
    CertificateRef,
    CheckItem,
    DecisionCreate,
    DecisionPublic,
    ReleasePublic,
    ReleaseSummary,
    TestLine,
)
from pharmatrace.wms import lots, production
from pharmatrace.wms.models import Lot, Material

DECIDE = "qms.release.decide"
ACTIONS = {"release": "qms.batch.release", "reject": "qms.batch.reject"}  # kernel/esign/policy.py
OBJECT_TYPE = "qms_release_decision"
EVENTS = {
    "release": "qms.batch.released",
    "reject": "qms.batch.rejected",
    "quarantine": "qms.batch.quarantined",
}
# Impact conclusions on a batch that allow its release (the others: reprocess, reject).
RELEASABLE = ("no_impact", "impact_acceptable")
# Batches that can be decided on: completed (not yet reviewed: the checklist says so) or reviewed.
CANDIDATE_STATUSES = ("completed", "reviewed")

STATUS_LABELS = {"pass": N_("Pass"), "fail": N_("Fail"), "not_applicable": N_("Not applicable")}
STATE_LABELS = {
    "awaiting": N_("Awaiting release"),
    "quarantine": N_("Quarantined (pending)"),
    "release": N_("Released"),
    "reject": N_("Rejected"),
}
DECISION_LABELS = {
    "release": N_("Release"),
    "reject": N_("Reject"),
    "quarantine": N_("Hold pending (quarantine)"),
}


class ReleaseRefused(Conflict):
    """A batch is released only when no item of its checklist fails (TJ-9.1)."""

    code = "release_refused"


# --- the environmental monitoring seam -------------------------------------------------------------------


class AlarmSource(Protocol):
    """What the environmental monitoring area tells the release: its alarms not yet assessed."""

    def unassessed_alarms(self, rooms: Sequence[str], start: datetime, end: datetime) -> list[str]:
        """Alarms raised in ``rooms`` between ``start`` and ``end`` (UTC) that have no assessment yet, one line
        each (e.g. ``"ALM-0012 RM-FILL 粒子 ≥0.5 µm 2026-11-18 10:12"``); empty when all are assessed."""
        ...


_alarms: AlarmSource | None = None


def register(source: AlarmSource | None) -> None:
    """Make ``source`` the monitoring area the checklist asks (``None``: not connected)."""
    global _alarms
    _alarms = source


def registered() -> bool:
    return _alarms is not None


# --- finding ---------------------------------------------------------------------------------------------


def get_batch(session: Session, batch_no: str) -> BatchOrder:
    return execution.get_order(session, batch_no)


def decisions_of(session: Session, order: BatchOrder) -> list[ReleaseDecision]:
    query = select(ReleaseDecision).where(ReleaseDecision.batch_order_id == order.id)
    return list(session.scalars(query.order_by(ReleaseDecision.id)))


def state_of(found: Sequence[ReleaseDecision]) -> str:
    return found[-1].decision if found else "awaiting"


def finished_lot(session: Session, order: BatchOrder) -> Lot | None:
    """The warehouse lot of the batch's finished product: the lot the MES handed over at completion, numbered as
    the batch (``mes.handover``, ``wms.production``)."""
    return production.lot_of_batch(session, order.batch_no)


def _rooms(session: Session, order: BatchOrder) -> list[str]:
    body = execution.control_body(session, order)
    rooms = {op.room for unit in body.unit_procedures for op in unit.operations if op.room}
    record = packaging.record_of(session, order)
    if record is not None and record.room:
        rooms.add(record.room)
    return sorted(rooms)


# --- the checklist (TJ-9.1) ------------------------------------------------------------------------------


def _item(code: str, label: str, status: str, message: str, evidence: Sequence[str] = (),
          link: str | None = None, **params: object) -> CheckItem:  # fmt: skip
    return CheckItem(code=code, label=label, status=status, message=message,
                     params={k: str(v) for k, v in params.items()}, evidence=list(evidence), link=link)  # fmt: skip


def _check_review(session: Session, order: BatchOrder) -> CheckItem:
    label = N_("Batch record complete, reviewed by exception and signed (TJ-6.4.7)")
    link = f"/mes/batches/{order.order_no}/review"
    found = review.review_of(session, order)
    if found is None:
        return _item("record_review", label, "fail", N_("The batch is “{state}”: its record is not reviewed"),
                     link=link, state=order.status)  # fmt: skip
    signed = [
        s for s in esign.manifestations(session, review.REVIEW_TYPE, str(found.id)) if s.status == "valid"
    ]
    evidence = [f"{found.reviewed_by_name} ({found.reviewed_by}) {clock.format_beijing(found.reviewed_at)}",
                f"SM3 {found.covers_sm3[:16]}…"]  # fmt: skip
    if not signed:
        return _item("record_review", label, "fail", N_("The review of the record carries no valid signature"),
                     evidence, link)  # fmt: skip
    if review.review_digest(session, order) != found.covers_sm3:
        return _item(
            "record_review", label, "fail", N_("The record changed after it was reviewed"), evidence, link
        )
    return _item("record_review", label, "pass",
                 N_("Reviewed by {who}, {count} exception(s) covered; the record is as reviewed"), evidence, link,
                 who=found.reviewed_by_name, count=found.exceptions_total)  # fmt: skip


def _check_deviations(session: Session, order: BatchOrder) -> CheckItem:
    label = N_("Every deviation closed or assessed with a conclusion allowing release (TJ-6.4.4)")
    found = deviations.batch_quality_evaluation(session, order.batch_no)
    evidence = [f"{d.number} {d.status} {d.conclusion or '—'}" for d in found]
    blocking = [d.number for d in found
                if d.status != "cancelled" and (d.conclusion is None or d.conclusion not in RELEASABLE)]  # fmt: skip
    link = f"/qms/deviations?q={order.batch_no}"
    if blocking:
        return _item("deviations", label, "fail",
                     N_("Not assessed, or assessed with a conclusion that does not allow release: {numbers}"),
                     evidence, link, numbers="、".join(blocking))  # fmt: skip
    if not found:
        return _item("deviations", label, "pass", N_("No deviation touches this batch"), link=link)
    return _item("deviations", label, "pass", N_("{count} deviation(s), each assessed as allowing release"),
                 evidence, link, count=len(found))  # fmt: skip


def _open_capas(session: Session, order: BatchOrder) -> list[CapaRef]:
    from pharmatrace.qms.capa_models import OPEN_STATUSES

    out = []
    for found in deviations.batch_quality_evaluation(session, order.batch_no):
        deviation = session.scalar(select(Deviation).where(Deviation.number == found.number))
        assert deviation is not None
        for capa in deviations.capas_of(session, deviation):
            out.append(
                CapaRef(number=capa.number, status=capa.status, title=capa.title, source_ref=capa.source_ref)
            )
    return [c for c in out if c.status in OPEN_STATUSES]


def _check_capas(session: Session, order: BatchOrder) -> CheckItem:
    label = N_("Open CAPA of the batch's deviations (for information)")
    found = _open_capas(session, order)
    if not found:
        return _item("capa", label, "not_applicable", N_("No open CAPA"))
    return _item("capa", label, "not_applicable", N_("{count} open CAPA: they do not hold the release"),
                 [f"{c.number} {c.status} ({c.source_ref})" for c in found], count=len(found))  # fmt: skip


def _check_tests(session: Session, order: BatchOrder, lot: Lot | None) -> list[CheckItem]:
    tests_label = N_("Every test of the batch passed and reviewed, no open OOS (TJ-7.4)")
    coa_label = N_("A signed, conforming certificate of analysis of the batch (TJ-9.1)")
    if lot is None:
        message = N_("No finished-product lot of batch {batch} in the warehouse: the LIMS links samples, tests "
                     "and certificates to warehouse lots, and the batch handed none over")  # fmt: skip
        return [_item("tests", tests_label, "fail", message, batch=order.batch_no),
                _item("certificate", coa_label, "fail", message, batch=order.batch_no)]  # fmt: skip
    orders = list(session.scalars(  # the lot's release testing: a stability study's pulls are not
        select(TestOrder).where(TestOrder.lot_id == lot.id, TestOrder.voided_at.is_(None),
                                TestOrder.source != "stability").order_by(TestOrder.id)
    ).unique())  # fmt: skip
    tests = [t for o in orders for t in o.tests]
    pending = [f"{t.order.code} {t.item_name}" for t in tests if results.test_state(t) != "approved"]
    oos = [f"{t.order.code} {t.item_name}" for t in tests if results.open_case(t) is not None]
    failed = [f"{t.order.code} {t.item_name}" for t in tests if results.test_state(t) == "approved"
              and (last := results.latest(t)) is not None and results.verdict_of(last) == "fail"]  # fmt: skip
    if not tests:
        tests_item = _item(
            "tests", tests_label, "fail", N_("Lot {lot} has no test order"), lot=lot.lot_number
        )
    elif pending or oos or failed:
        tests_item = _item("tests", tests_label, "fail",
                           N_("Not approved: {pending}; open OOS: {oos}; failed: {failed}"),
                           [o.code for o in orders], pending="、".join(pending) or "—", oos="、".join(oos) or "—",
                           failed="、".join(failed) or "—")  # fmt: skip
    else:
        tests_item = _item("tests", tests_label, "pass", N_("{count} test(s) approved, every one passed"),
                           [o.code for o in orders], count=len(tests))  # fmt: skip
    good = [c for c in certificates.certificates_of_lot(session, lot.id)
            if certificates.state_of(c) in ("signed", "released") and c.conclusion == "conforms"
            and certificates.intact(c)]  # fmt: skip
    if good:
        coa = good[-1]
        coa_item = _item("certificate", coa_label, "pass", N_("Certificate {certificate} signed: conforms"),
                         [f"{coa.code} {coa.spec_code} v{coa.spec_version}"], f"/lims/certificates/{coa.id}",
                         certificate=coa.code)  # fmt: skip
    else:
        coa_item = _item("certificate", coa_label, "fail",
                         N_("Lot {lot} has no signed conforming certificate of analysis"),
                         link=f"/lims/certificates?q={lot.lot_number}", lot=lot.lot_number)  # fmt: skip
    return [tests_item, coa_item]


def _check_packaging(session: Session, order: BatchOrder) -> CheckItem:
    label = N_("Packaging yield and printed materials reconciled within limits (TJ-6.4.6)")
    record = packaging.record_of(session, order)
    link = f"/mes/batches/{order.order_no}/packaging"
    if record is None:
        return _item("packaging", label, "not_applicable",
                     N_("No packaging record: the batch's recipe has no packaging stage"))  # fmt: skip
    public = packaging.record_public(session, record)
    problems = list(public.missing)
    if public.balance is not None and not public.balance.within_limits:
        problems.append(f"yield {public.balance.yield_pct} % / balance {public.balance.balance_pct} %")
    problems += [
        f"{r.material_code} {r.balance_pct} %" for r in public.reconciliations if not r.within_limits
    ]
    evidence = []
    if public.balance is not None:
        evidence.append(f"yield {public.balance.yield_pct} %, balance {public.balance.balance_pct} %")
    evidence += [
        f"{r.material_code} {r.balance_pct} % (used {r.used}/{r.issued})" for r in public.reconciliations
    ]
    if problems:
        return _item("packaging", label, "fail", N_("Missing or out of limits: {problems}"), evidence, link,
                     problems="; ".join(problems))  # fmt: skip
    return _item("packaging", label, "pass", N_("Yield, balance and every printed material within limits"),
                 evidence, link)  # fmt: skip


def _check_environment(session: Session, order: BatchOrder) -> CheckItem:
    label = N_("Environmental alarms during the batch assessed (TJ-6.4.7, TJ-6.5)")
    if _alarms is None:
        return _item("environment", label, "not_applicable",
                     N_("Environmental monitoring not connected: check the alarms of the batch's rooms by hand"))  # fmt: skip
    rooms = _rooms(session, order)
    start = order.started_at or order.released_at or order.planned_start
    end = order.completed_at or clock.now()
    open_alarms = _alarms.unassessed_alarms(rooms, start, end)
    if open_alarms:
        return _item("environment", label, "fail", N_("{count} alarm(s) not assessed in {rooms}"), open_alarms,
                     count=len(open_alarms), rooms="、".join(rooms))  # fmt: skip
    return _item("environment", label, "pass", N_("Every alarm in {rooms} over the batch assessed"),
                 rooms="、".join(rooms) or "—")  # fmt: skip


def _consumed(session: Session, order: BatchOrder) -> list[Lot]:
    ids = set(session.scalars(select(MaterialCharge.lot_id).where(MaterialCharge.batch_order_id == order.id)))
    return sorted((lots.get_lot(session, i) for i in ids), key=lambda lot: lot.lot_number)


def _check_materials(session: Session, order: BatchOrder) -> CheckItem:
    label = N_("Every material lot the batch consumed is released (TJ-9.1)")
    consumed = _consumed(session, order)
    evidence = [f"{lot.lot_number} {lot.status}" for lot in consumed]
    if not consumed:
        return _item("materials", label, "fail", N_("No material was charged into the batch"))
    others = [f"{lot.lot_number} ({lot.status})" for lot in consumed if lot.status != "released"]
    if others:
        return _item(
            "materials", label, "fail", N_("Lots not released: {lots}"), evidence, lots="、".join(others)
        )
    return _item(
        "materials", label, "pass", N_("{count} lot(s), all released"), evidence, count=len(consumed)
    )


def _check_registration(session: Session, order: BatchOrder) -> CheckItem:
    # TJ-9.1: a batch is released only under a registration in force (药品注册证书, Registration & contracts area)
    label = N_("The product's drug registration certificate is in force (TJ-9.1)")
    product = session.scalar(select(Material).where(Material.code == order.product_code))
    if product is None:
        return _item(
            "registration", label, "fail", N_("No drug registration certificate of the product is recorded")
        )
    state = dossiers.registration_state(session, product.id)
    cert = state.certificate
    evidence = (
        [f"{cert.number} {cert.reference_no} {cert.status} → {cert.valid_until.isoformat()}"] if cert else []
    )
    link = f"/qms/dossiers/{cert.number}" if cert else "/qms/dossiers?category=registration"
    if state.problem is not None:
        return _item("registration", label, "fail", state.problem, evidence, link, **state.params)
    assert cert is not None
    return _item("registration", label, "pass", N_("{number} ({reference}) valid until {date}"), evidence, link,
                 number=cert.number, reference=cert.reference_no, date=cert.valid_until.isoformat())  # fmt: skip


def checklist(session: Session, batch_no: str) -> list[CheckItem]:
    """The release checklist of a batch, computed from the record as it stands now (TJ-9.1)."""
    order = get_batch(session, batch_no)
    lot = finished_lot(session, order)
    return [
        _check_review(session, order),
        _check_deviations(session, order),
        _check_capas(session, order),
        *_check_tests(session, order, lot),
        _check_packaging(session, order),
        _check_environment(session, order),
        _check_materials(session, order),
        _check_registration(session, order),
    ]


# --- the summary (批放行生产及检定摘要) --------------------------------------------------------------------


def _certificate_ref(certificate: Any) -> CertificateRef:
    content = certificates.content_of(certificate)
    return CertificateRef(
        id=certificate.id, code=certificate.code, conclusion=certificate.conclusion,
        state=certificates.state_of(certificate), spec=f"{certificate.spec_code} v{certificate.spec_version}",
        lines=[TestLine(item=line["item"], result=line["result"], unit=line["unit"], limit=line["limit"],
                        verdict=line["verdict"]) for line in content["lines"]],
    )  # fmt: skip


def summary(session: Session, batch_no: str) -> ReleaseSummary:
    order = get_batch(session, batch_no)
    control = execution.control_recipe_of(session, order)
    record = packaging.record_of(session, order)
    balance = packaging.record_public(session, record).balance if record is not None else None
    found = review.review_of(session, order)
    lot = finished_lot(session, order)
    coas = certificates.certificates_of_lot(session, lot.id) if lot is not None else []
    return ReleaseSummary(
        batch_no=order.batch_no, order_no=order.order_no, product_code=order.product_code,
        product_name=order.product_name, batch_size=str(order.batch_size), unit=order.unit,
        recipe_code=order.recipe_code, recipe_version=control.version if control is not None else None,
        order_status=order.status, started_at=order.started_at, completed_at=order.completed_at,
        manufacture_date=record.manufacture_date.isoformat() if record is not None else None,
        expiry_date=record.expiry_date.isoformat() if record is not None else None,
        finished=str(balance.finished) if balance is not None else None,
        yield_pct=str(balance.yield_pct) if balance is not None else None,
        reviewed_by=found.reviewed_by_name if found is not None else None,
        reviewed_at=found.reviewed_at if found is not None else None,
        review_sm3=found.covers_sm3 if found is not None else None,
        finished_lot=lot.lot_number if lot is not None else None, lot_status=lot.status if lot is not None else None,
        certificates=[_certificate_ref(c) for c in coas if c.voided_at is None],
        deviations=deviations.batch_quality_evaluation(session, order.batch_no),
        capas=_open_capas(session, order),
        materials=[f"{lot.lot_number} {lot.material.code} ({lot.status})" for lot in _consumed(session, order)],
    )  # fmt: skip


def content_of(items: Sequence[CheckItem], facts: ReleaseSummary) -> dict[str, Any]:
    """What a decision is made on: the checklist and the summary, as canonical JSON."""
    loaded = json.loads(json.dumps({
        "checklist": [item.model_dump(mode="json") for item in items], "summary": facts.model_dump(mode="json"),
    }))  # fmt: skip
    assert isinstance(loaded, dict)
    return loaded


def content_hash(content: dict[str, Any]) -> str:
    return crypto.sm3(ledger.canonical(content)).hex()


# --- the decision (TJ-9.1) -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Failing:
    """A failing checklist item as one reason of a refused release: its label and its finding."""

    message: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BatchReleaseDecided:
    """The qualified person released, rejected or quarantined a batch (``event``: ``qms.batch.released``,
    ``qms.batch.rejected`` or ``qms.batch.quarantined``). Delivered in the decision's transaction; the
    traceability area subscribes."""

    event: str
    decision_id: int
    batch_order_id: int
    batch_no: str
    product_code: str
    decision: str
    lot_id: int | None
    lot_status: str | None
    content_sm3: str
    decided_by: str
    decided_at: datetime  # UTC


# The packaging record's entries and who made them (tables with ``record_id``; reconciliations hang off the
# printed-material checks).
PACKAGING_ENTRIES: tuple[tuple[Any, Any], ...] = (
    (PrintedMaterialCheck, PrintedMaterialCheck.checked_by),
    (PrintDataCheck, PrintDataCheck.checked_by),
    (VisualInspection, VisualInspection.inspected_by),
    (PackagingBalance, PackagingBalance.recorded_by),
)


def involved(session: Session, order: BatchOrder) -> set[str]:
    """Everyone whose part in the batch bars them from deciding on it: who started, performed, verified or
    signed a step or corrected a value (``mes.review.participants``); who weighed, approved a manual weighing,
    identified or charged material for it, even without signing a step; who made or verified an entry of its
    packaging record (line check, printed materials, print data, visual inspection, reconciliation, balance);
    and who reviewed the record (TJ-9.1: the qualified person decides independently)."""
    people = review.participants(session, order)
    for weighed, approved in session.execute(
        select(WeighingRecord.weighed_by, WeighingRecord.approved_by).where(WeighingRecord.batch_order_id == order.id)
    ):  # fmt: skip
        people.update(p for p in (weighed, approved) if p)
    people.update(session.scalars(
        select(MaterialIdentification.identified_by).where(MaterialIdentification.batch_order_id == order.id)
    ))  # fmt: skip
    people.update(
        session.scalars(select(MaterialCharge.charged_by).where(MaterialCharge.batch_order_id == order.id))
    )
    record = packaging.record_of(session, order)
    if record is not None:
        for performed, verified in session.execute(
            select(PackagingLineCheck.performed_by, PackagingLineCheck.verified_by)
            .where(PackagingLineCheck.record_id == record.id)
        ):  # fmt: skip
            people.update(p for p in (performed, verified) if p)
        for model, column in PACKAGING_ENTRIES:
            people.update(session.scalars(select(column).where(model.record_id == record.id)))
        people.update(session.scalars(
            select(MaterialReconciliation.checked_by)
            .join(PrintedMaterialCheck, PrintedMaterialCheck.id == MaterialReconciliation.material_check_id)
            .where(PrintedMaterialCheck.record_id == record.id)
        ))  # fmt: skip
    found = review.review_of(session, order)
    if found is not None:
        people.add(found.reviewed_by)
    return people


def decide(uow: UnitOfWork, principal: Principal, batch_no: str, data: DecisionCreate) -> ReleaseDecision:
    """The qualified person's release, rejection (both signed) or quarantine of a batch (TJ-9.1)."""
    principal.require(DECIDE)
    session = uow.session
    order = get_batch(session, batch_no)
    before = decisions_of(session, order)
    if before and before[-1].decision in FINAL_DECISIONS:
        raise Conflict(N_("Batch {batch} is decided already: {decision}"), batch=order.batch_no,
                       decision=before[-1].decision)  # fmt: skip
    if data.decision == "quarantine" and before and before[-1].decision == "quarantine":
        raise Conflict(N_("Batch {batch} is quarantined already"), batch=order.batch_no)
    if order.status not in CANDIDATE_STATUSES:
        raise Conflict(N_("Batch {batch} is not completed; it cannot be decided on"), batch=order.batch_no)
    if data.decision in FINAL_DECISIONS and principal.login in involved(session, order):
        raise SegregationOfDuties(
            N_("{login} took part in batch {batch} or reviewed its record and cannot decide on its release"),
            login=principal.login, batch=order.batch_no,
        )  # fmt: skip
    items = checklist(session, order.batch_no)
    failing = [item for item in items if item.status == "fail"]
    if data.decision == "release" and failing:
        reasons = Reasons(_Failing(N_("{item}: {finding}"), {"item": Msgid(i.label), "finding": Reasons([i])})
                          for i in failing)  # fmt: skip
        raise ReleaseRefused(N_("Batch {batch} cannot be released: {reasons}"), batch=order.batch_no,
                             reasons=reasons)  # fmt: skip
    if data.decision in FINAL_DECISIONS:
        esign.authenticate_signer(uow.db, principal, data.password, data.login)
    content = content_of(items, summary(session, order.batch_no))
    uow.reason = uow.reason or f"batch {order.batch_no}: {data.decision} by the qualified person"
    lot = finished_lot(session, order)
    if lot is not None:  # the hand-over to the warehouse: the lot's own signed decision (wms.lots)
        if data.decision == "release":
            lots.release(uow, principal, lot.id, data.password, data.login)
        elif data.decision == "reject":
            lots.reject(uow, principal, lot.id, data.password, data.login)
        elif lot.status in ("quarantine", "under_test", "released"):
            lots.hold(uow, lot.id)
    moment = clock.now()
    decision = ReleaseDecision(
        batch_order_id=order.id, batch_no=order.batch_no, product_code=order.product_code, decision=data.decision,
        lot_id=lot.id if lot is not None else None, lot_status=lot.status if lot is not None else None,
        content=ledger.canonical_text(content), content_sm3=content_hash(content), reason=data.reason,
        decided_at=moment, decided_by=principal.login, decided_by_name=principal.full_name,
    )  # fmt: skip
    if data.decision in FINAL_DECISIONS:
        esign.add_signed_decision(uow, principal, decision, action_code=ACTIONS[data.decision],
                                  password=data.password, login=data.login)  # fmt: skip
    else:  # quarantine: recorded, not signed
        session.add(decision)
        session.flush()
    events.publish(uow, BatchReleaseDecided(
        event=EVENTS[data.decision], decision_id=decision.id, batch_order_id=order.id, batch_no=order.batch_no,
        product_code=order.product_code, decision=data.decision, lot_id=decision.lot_id,
        lot_status=decision.lot_status, content_sm3=decision.content_sm3, decided_by=principal.login,
        decided_at=moment,
    ))  # fmt: skip
    return decision


# --- reading ---------------------------------------------------------------------------------------------


def decision_public(session: Session, decision: ReleaseDecision) -> DecisionPublic:
    return DecisionPublic(
        id=decision.id, decision=decision.decision, reason=decision.reason, lot_status=decision.lot_status,
        content_sm3=decision.content_sm3, decided_at=decision.decided_at, decided_by=decision.decided_by,
        decided_by_name=decision.decided_by_name,
        signatures=[SignaturePublic(action=s.action, meaning=s.meaning, signer_login=s.signer_login,
                                    signer_name=s.signer_name, signed_at=s.signed_at, status=s.status)
                    for s in esign.manifestations(session, OBJECT_TYPE, str(decision.id))],
    )  # fmt: skip


def release_public(session: Session, batch_no: str) -> ReleasePublic:
    order = get_batch(session, batch_no)
    items = checklist(session, order.batch_no)
    facts = summary(session, order.batch_no)
    found = decisions_of(session, order)
    return ReleasePublic(
        batch_no=order.batch_no, state=state_of(found), ready=not any(i.status == "fail" for i in items),
        checklist=items, summary=facts, content_sm3=content_hash(content_of(items, facts)),
        decisions=[decision_public(session, d) for d in found],
    )  # fmt: skip


def candidates(session: Session, *, limit: int = 200) -> list[CandidatePublic]:
    """Completed batches with their release state and failing checklist items, newest first."""
    orders = session.scalars(
        select(BatchOrder).where(BatchOrder.status.in_(CANDIDATE_STATUSES))
        .order_by(BatchOrder.completed_at.desc(), BatchOrder.id.desc()).limit(limit)
    )  # fmt: skip
    out = []
    for order in orders:
        found = decisions_of(session, order)
        state = state_of(found)
        failing = [] if state in FINAL_DECISIONS else [
            i.code for i in checklist(session, order.batch_no) if i.status == "fail"
        ]  # fmt: skip
        last = found[-1] if found else None
        out.append(CandidatePublic(
            batch_no=order.batch_no, order_no=order.order_no, product_name=order.product_name,
            completed_at=order.completed_at, state=state, failing=failing,
            decided_at=last.decided_at if last else None, decided_by_name=last.decided_by_name if last else None,
        ))  # fmt: skip
    return out
