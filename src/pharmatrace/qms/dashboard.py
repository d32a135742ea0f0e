"""The quality dashboard (质量看板; SH-6.2.4, TJ-6.4.4; issue 9 item 11): a pure read of every quality record type.

For each type — deviations, CAPA, change requests, complaints, recalls, audits, risk assessments and product
quality reviews (their live versions only) — the count per status, the number *open* (not in a terminal status),
the number *overdue* by the type's own notion of a due date, computed by its service module, and the ageing of
the open ones by Beijing calendar days since they were opened (0–30, 31–60, 61–90, > 90 days).

The terminal and open statuses are each module's (``OPEN_STATUSES``, the deviations' ``ACTIVE_STATUSES``); the
recalls have no such constant, their terminal statuses being ``closed`` and ``cancelled``. The overdue notions:

* deviation — the due date of its current step has passed (:func:`deviations.is_overdue`);
* CAPA — open and past its due date, or with an open action past its own (:func:`capa.is_late`);
* change request — open and past its target date (:func:`changes.is_overdue`);
* complaint — not yet answered and past its response due date (:func:`complaints.is_overdue`);
* recall — open with a customer not notified past the notification deadline (:func:`recalls.is_overdue`);
* audit — not closed nor cancelled and past its planned end (:func:`audits.is_overdue`);
* risk assessments and product quality reviews have no due date: ``overdue`` is ``None`` (shown "—").

Opened: a deviation when recorded, a complaint when received, a recall when opened by the qualified person (a
draft since its creation), a product quality review when its first version was compiled, every other record when
created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_
from pharmatrace.qms import (
    audit_models,
    audits,
    capa,
    capa_models,
    change_models,
    changes,
    complaint_models,
    complaints,
    deviation_models,
    deviations,
    dossier_models,
    dossiers,
    pqr_models,
    recall_models,
    recalls,
    risk_models,
    supplier_qualification_models,
    supplier_qualifications,
    validation,
    validation_models,
)
from pharmatrace.qms.audit_models import Audit
from pharmatrace.qms.capa_models import Capa
from pharmatrace.qms.change_models import ChangeRequest
from pharmatrace.qms.complaint_models import Complaint
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.qms.dossier_models import Dossier
from pharmatrace.qms.pqr_models import ProductQualityReview as Pqr
from pharmatrace.qms.recall_models import Recall
from pharmatrace.qms.risk_models import RiskAssessment
from pharmatrace.qms.supplier_qualification_models import SupplierQualification
from pharmatrace.qms.validation_models import Validation

AGEING_BUCKETS = ("0-30", "31-60", "61-90", "over-90")
AGEING_LABELS = {"0-30": N_("0–30 days"), "31-60": N_("31–60 days"), "61-90": N_("61–90 days"),
                 "over-90": N_("> 90 days")}  # fmt: skip
KINDS = ("deviation", "capa", "change", "complaint", "recall", "audit", "risk", "pqr", "validation", "dossier",
         "supplier_qualification")  # fmt: skip
KIND_LABELS = {
    "deviation": N_("Deviations"),
    "capa": N_("CAPA"),
    "change": N_("Change requests"),
    "complaint": N_("Complaints"),
    "recall": N_("Recalls"),
    "audit": N_("Audits"),
    "risk": N_("Risk assessment"),
    "pqr": N_("Product quality reviews"),
    "validation": N_("Validation"),
    "dossier": N_("Registration & contracts"),
    "supplier_qualification": N_("Supplier qualification"),
}
RECALL_TERMINAL = ("closed", "cancelled")
RECALL_OPEN = tuple(s for s in recall_models.STATUSES if s not in RECALL_TERMINAL)
PQR_LIVE_STATUSES = tuple(s for s in pqr_models.STATUSES if s != "superseded")
STATUS_LABELS: dict[str, dict[str, str]] = {
    "deviation": deviations.STATUS_LABELS,
    "capa": capa_models.STATUS_LABELS,
    "change": change_models.STATUS_LABELS,
    "complaint": complaint_models.STATUS_LABELS,
    "recall": recall_models.STATUS_LABELS,
    "audit": audit_models.STATUS_LABELS,
    "risk": risk_models.STATUS_LABELS,
    "pqr": pqr_models.STATUS_LABELS,
    "validation": validation_models.STATUS_LABELS,
    "dossier": dossier_models.STATUS_LABELS,
    "supplier_qualification": supplier_qualification_models.STATUS_LABELS,
}

T = TypeVar("T")


@dataclass(frozen=True)
class TypeRow:
    """One quality record type on the dashboard."""

    kind: str  # one of KINDS
    label: str  # msgid
    statuses: tuple[str, ...]  # every status the type's records may be counted in, in lifecycle order
    open_statuses: tuple[str, ...]
    by_status: dict[str, int]
    open: int
    overdue: int | None  # None: the type has no due date
    ageing: dict[str, int]  # the open records per bucket of AGEING_BUCKETS

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True)
class Dashboard:
    on: date  # the Beijing calendar day of the ageing and the overdue
    rows: tuple[TypeRow, ...]

    def row(self, kind: str) -> TypeRow:
        return next(r for r in self.rows if r.kind == kind)

    @property
    def open(self) -> int:
        return sum(r.open for r in self.rows)

    @property
    def overdue(self) -> int:
        return sum(r.overdue or 0 for r in self.rows)

    @property
    def total(self) -> int:
        return sum(r.total for r in self.rows)

    @property
    def ageing(self) -> dict[str, int]:
        return {b: sum(r.ageing[b] for r in self.rows) for b in AGEING_BUCKETS}


def ageing_bucket(days: int) -> str:
    """The bucket of an age in days: 0–30, 31–60, 61–90, > 90."""
    if days <= 30:
        return AGEING_BUCKETS[0]
    if days <= 60:
        return AGEING_BUCKETS[1]
    if days <= 90:
        return AGEING_BUCKETS[2]
    return AGEING_BUCKETS[3]


def age_days(opened: datetime, on: date) -> int:
    """Beijing calendar days from the day ``opened`` to ``on``."""
    return (on - clock.to_beijing(opened).date()).days


def _row(
    kind: str,
    records: Iterable[T],
    *,
    statuses: tuple[str, ...],
    open_statuses: tuple[str, ...],
    status: Callable[[T], str],
    opened: Callable[[T], datetime],
    overdue: Callable[[T], bool] | None,
    on: date,
) -> TypeRow:
    by_status = dict.fromkeys(statuses, 0)
    ageing = dict.fromkeys(AGEING_BUCKETS, 0)
    late = 0
    for record in records:
        state = status(record)
        by_status[state] = by_status.get(state, 0) + 1
        if state in open_statuses:
            ageing[ageing_bucket(age_days(opened(record), on))] += 1
            if overdue is not None and overdue(record):
                late += 1
    return TypeRow(
        kind=kind, label=KIND_LABELS[kind], statuses=statuses, open_statuses=open_statuses, by_status=by_status,
        open=sum(by_status[s] for s in open_statuses), overdue=late if overdue is not None else None, ageing=ageing,
    )  # fmt: skip


def dashboard(session: Session) -> Dashboard:
    """The counts, overdue and ageing of every quality record type, on the plant's calendar day (Beijing)."""
    on = clock.today()
    now = clock.now()
    earliest = select(Pqr.number, func.min(Pqr.compiled_at)).group_by(Pqr.number)
    first_compiled: dict[str, datetime] = dict(session.execute(earliest).all())
    rows = (
        _row("deviation", session.scalars(select(Deviation)), statuses=deviation_models.STATUSES,
             open_statuses=deviation_models.ACTIVE_STATUSES, status=lambda d: d.status,
             opened=lambda d: d.recorded_at, overdue=lambda d: deviations.is_overdue(d, on), on=on),
        _row("capa", session.scalars(select(Capa).options(selectinload(Capa.actions))),
             statuses=capa_models.STATUSES, open_statuses=capa_models.OPEN_STATUSES, status=lambda c: c.status,
             opened=lambda c: c.created_at, overdue=lambda c: capa.is_late(c, on), on=on),
        _row("change", session.scalars(select(ChangeRequest)).unique(), statuses=change_models.STATUSES,
             open_statuses=change_models.OPEN_STATUSES, status=lambda c: c.status, opened=lambda c: c.created_at,
             overdue=lambda c: changes.is_overdue(c, on), on=on),
        _row("complaint", session.scalars(select(Complaint)), statuses=complaint_models.STATUSES,
             open_statuses=complaint_models.OPEN_STATUSES, status=lambda c: c.status,
             opened=lambda c: c.received_at, overdue=lambda c: complaints.is_overdue(c, on), on=on),
        _row("recall", session.scalars(select(Recall).options(selectinload(Recall.customers))),
             statuses=recall_models.STATUSES, open_statuses=RECALL_OPEN, status=lambda r: r.status,
             opened=lambda r: r.opened_at or r.created_at, overdue=lambda r: recalls.is_overdue(r, now), on=on),
        _row("audit", session.scalars(select(Audit)), statuses=audit_models.STATUSES,
             open_statuses=audit_models.OPEN_STATUSES, status=lambda a: a.status, opened=lambda a: a.created_at,
             overdue=lambda a: audits.is_overdue(a, on), on=on),
        _row("risk", session.scalars(select(RiskAssessment)), statuses=risk_models.STATUSES,
             open_statuses=risk_models.OPEN_STATUSES, status=lambda r: r.status, opened=lambda r: r.created_at,
             overdue=None, on=on),
        _row("pqr", session.scalars(select(Pqr).where(Pqr.status != "superseded")), statuses=PQR_LIVE_STATUSES,
             open_statuses=pqr_models.OPEN_STATUSES, status=lambda p: p.status,
             opened=lambda p: first_compiled.get(p.number, p.compiled_at), overdue=None, on=on),
        _row("validation", session.scalars(select(Validation)), statuses=validation_models.STATUSES,
             open_statuses=validation_models.OPEN_STATUSES, status=lambda v: v.status,
             opened=lambda v: v.created_at, overdue=None, on=on),
        _row("dossier", session.scalars(select(Dossier)), statuses=dossier_models.STATUSES,
             open_statuses=dossier_models.OPEN_STATUSES, status=lambda d: d.status, opened=lambda d: d.created_at,
             overdue=None, on=on),
        _row("supplier_qualification", session.scalars(select(SupplierQualification)),
             statuses=supplier_qualification_models.STATUSES,
             open_statuses=supplier_qualification_models.OPEN_STATUSES, status=lambda q: q.status,
             opened=lambda q: q.created_at, overdue=None, on=on),
    )  # fmt: skip
    return Dashboard(on=on, rows=rows)


# --- what falls due: expiring records, requalification and revalidation ------------------------------------

REMINDER_KINDS = ("dossier", "supplier", "validation")
REMINDER_LABELS = {
    "dossier": N_("Registration or contract expires"),
    "supplier": N_("Supplier requalification"),
    "validation": N_("Revalidation"),
}


@dataclass(frozen=True)
class Reminder:
    """Something whose validity ends soon or has ended: a registration or contract record (within its own lead
    time), an approved-supplier list entry (90 days), a completed validation (its revalidation window)."""

    kind: str  # one of REMINDER_KINDS
    reference: str  # the record's number, or supplier / material codes
    title: str
    due: date  # the last valid day
    days_left: int  # negative: that many days past
    url: str


def reminders(session: Session) -> list[Reminder]:
    """Every reminder of the quality area, soonest first (the services decide what is due)."""
    on = clock.today()
    found = [
        Reminder(
            "dossier",
            d.number,
            d.title,
            d.valid_until,
            dossiers.days_left(d, on),
            f"/qms/dossiers/{d.number}",
        )
        for d in dossiers.expiring(session, on)
    ]
    found += [
        Reminder(
            "supplier",
            f"{r.supplier_code} · {r.material_code}",
            f"{r.supplier_name} · {r.material_name}",
            r.valid_until,
            r.days_left,
            f"/qms/supplier-qualifications/new?kind=requalification&supplier={r.supplier_code}"
            f"&material={r.material_code}",
        )
        for r in supplier_qualifications.due_for_requalification(session, on=on)
    ]
    found += [
        Reminder("validation", v.number, v.title, v.revalidation_due, (v.revalidation_due - on).days,
                 f"/qms/validation/{v.number}")
        for v in validation.due_for_revalidation(session) if v.revalidation_due is not None
    ]  # fmt: skip
    return sorted(found, key=lambda r: (r.due, r.kind, r.reference))
