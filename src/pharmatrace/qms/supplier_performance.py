"""Supplier performance (issue 9 item 6; SH-6.2.4, TJ-5.1): what a supplier's lots and audits say about it.

QA re-evaluates a supplier on the approved-supplier list (``wms.service.decide_approval``) from the record: the
lots it delivered in a period and what became of them (released, rejected, on hold, still in quarantine or under
test), the deviations that name one of its lots, and its audits with their findings. Nothing here is stored: it is
read from the lots, the deviations and the audits every time, so it cannot drift from them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.qms.audit_models import Audit
from pharmatrace.qms.audits import audits_for_supplier
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.wms.models import Lot

DEFAULT_DAYS = 365  # the usual annual re-evaluation of a supplier
MIN_DAYS, MAX_DAYS = 30, 1825  # a month to five years


@dataclass(frozen=True)
class DeviationLink:
    number: str
    classification: str | None
    status: str
    lots: tuple[str, ...]  # the supplier's lots it names


@dataclass(frozen=True)
class Performance:
    since: datetime
    until: datetime
    lots: int  # delivered in the period
    by_status: dict[str, int]
    deviations: tuple[DeviationLink, ...]
    audits: tuple[Audit, ...] = field(default=())

    @property
    def decided(self) -> int:
        """Lots QA decided on (released or rejected): the base of the acceptance rate."""
        return self.by_status.get("released", 0) + self.by_status.get("rejected", 0)

    @property
    def acceptance_rate(self) -> Decimal | None:
        """Released / (released + rejected), in per cent with one decimal (GB/T 8170); None before any decision."""
        if not self.decided:
            return None
        rate = Decimal(100 * self.by_status.get("released", 0)) / Decimal(self.decided)
        return rate.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)

    @property
    def open_findings(self) -> int:
        """Findings not yet verified, of audits that were not cancelled (a closed audit may leave minor ones)."""
        return sum(
            1 for a in self.audits if a.status != "cancelled" for f in a.findings if f.status != "verified"
        )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, clock.BEIJING)


def performance(
    session: Session, supplier_id: int, *, since: date | None = None, until: date | None = None,
    days: int = DEFAULT_DAYS,
) -> Performance:  # fmt: skip
    """The supplier's lots delivered from ``since`` (default: ``days`` before ``until``, a year unless told, 30 to
    1825 days) to ``until`` (default: now), both Beijing dates and inclusive, the deviations that name any of those
    lots, and all its audits."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValidationFailed(
            N_("The period is {min} to {max} days, not {days}"), min=MIN_DAYS, max=MAX_DAYS, days=days
        )
    end = clock.now() if until is None else _midnight(until + timedelta(days=1))
    start = end - timedelta(days=days) if since is None else _midnight(since)
    lots = list(session.execute(
        select(Lot.lot_number, Lot.status)
        .where(Lot.supplier_id == supplier_id, Lot.created_at >= start, Lot.created_at < end)
    ))  # fmt: skip
    numbers = {number for number, _ in lots}
    linked: list[DeviationLink] = []
    if numbers:
        for deviation in session.scalars(
            select(Deviation).where(Deviation.affected_lots != "").order_by(Deviation.id)
        ):
            named = tuple(sorted(numbers & {n.strip() for n in deviation.affected_lots.split(",")}))
            if named:
                linked.append(
                    DeviationLink(deviation.number, deviation.classification, deviation.status, named)
                )
    return Performance(
        since=start, until=end, lots=len(lots), by_status=dict(Counter(status for _, status in lots)),
        deviations=tuple(linked), audits=tuple(audits_for_supplier(session, supplier_id)),
    )  # fmt: skip
