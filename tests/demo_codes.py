"""The demo plant's numbers that carry a month, read from the seeded database, never written out in a test.

The plant numbers lots, batches, samples and test orders with the Beijing year and month they are made in and a
serial that starts again each month (``YC{yy}{mm}{seq:05}``, ``DH{yy}{mm}{seq:03}``, ``S{yy}{mm}-{seq:04}``).
The seed sets the plant up 14 days back and runs the completed batch over the following days, then makes what the
demo shows as now (ADR 0015). So the completed batch may be ``DH2611001`` and the batch in progress
``DH2611002`` one day, and ``DH2612001`` two weeks later; a run that crosses a month boundary in Beijing time
(CI at midnight) sees both. A test names a seeded object by what it is, and this module gives its number as the
seed made it::

    codes = demo_codes(db)
    codes.batch_done, codes.batch_in_progress, codes.lot("YC", 3), codes.sample(1), codes.test_order(2)

For an object a test makes itself, take the number from what the service returned, or spell it for the month it
was made in with :func:`month_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from pharmatrace.kernel import clock
from pharmatrace.lims.certificate_models import Certificate
from pharmatrace.lims.result_models import OosCase, TestOrder
from pharmatrace.lims.sample_models import Sample, SamplingRecord
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.qms.change_models import ChangeRequest
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Lot


def month_of(moment: datetime | None = None) -> str:
    """``yymm`` of ``moment`` (default: now) in Beijing time, as the plant's numbers spell it."""
    return f"{clock.to_beijing(moment or clock.now()):%y%m}"


@dataclass(frozen=True)
class DemoCodes:
    """The seeded plant's numbers, each list in the order the seed made them."""

    batches: tuple[str, ...]
    lots: tuple[str, ...]
    samples: tuple[str, ...]
    test_orders: tuple[str, ...]
    sampling_records: tuple[str, ...]
    certificates: tuple[str, ...]
    oos_cases: tuple[str, ...]
    deviations: tuple[str, ...]  # year-numbered: DEV-2026-0001
    changes: tuple[str, ...]  # year-numbered: CC-2026-0001

    @property
    def batch_done(self) -> str:
        """The batch the seed executed, reviewed and released in the plant's history (``DH2611001``)."""
        return self.batches[0]

    @property
    def batch_in_progress(self) -> str:
        """The batch the demo shows in progress today (``DH2611002`` or ``DH2612001``)."""
        return self.batches[1]

    def lot(self, prefix: str, n: int) -> str:
        """The ``n``-th (from 1) lot numbered ``prefix…`` (``lot("YC", 3)`` is ``YC261100003``): herb ``YC``,
        extract ``YP``, excipient ``FL``, packaging ``NB``/``WB``, finished product ``DH``."""
        return _nth([n_ for n_ in self.lots if n_.startswith(prefix) and n_[len(prefix) :][:1].isdigit()], n)

    def sample(self, n: int) -> str:
        return _nth(self.samples, n)

    def test_order(self, n: int) -> str:
        return _nth(self.test_orders, n)

    def sampling_record(self, n: int) -> str:
        return _nth(self.sampling_records, n)

    def certificate(self, n: int) -> str:
        return _nth(self.certificates, n)

    def oos_case(self, n: int) -> str:
        return _nth(self.oos_cases, n)

    def deviation(self, n: int) -> str:
        return _nth(self.deviations, n)

    def change(self, n: int) -> str:
        return _nth(self.changes, n)


def _nth(codes: list[str] | tuple[str, ...], n: int) -> str:
    assert 1 <= n <= len(codes), f"the demo plant has {len(codes)} of these, not {n}: {codes}"
    return codes[n - 1]


def demo_codes(db: Database) -> DemoCodes:
    """The numbers the seed gave the demo plant in ``db`` (a copy of the template, or the demo itself)."""
    with db.sessions() as session:

        def codes(column: object, order: object) -> tuple[str, ...]:
            return tuple(session.scalars(select(column).order_by(order)))  # type: ignore[call-overload]

        return DemoCodes(
            batches=codes(BatchOrder.batch_no, BatchOrder.id),
            lots=codes(Lot.lot_number, Lot.id),
            samples=codes(Sample.code, Sample.id),
            test_orders=codes(TestOrder.code, TestOrder.id),
            sampling_records=codes(SamplingRecord.code, SamplingRecord.id),
            certificates=codes(Certificate.code, Certificate.id),
            oos_cases=codes(OosCase.code, OosCase.id),
            deviations=codes(Deviation.number, Deviation.id),
            changes=codes(ChangeRequest.number, ChangeRequest.id),
        )
