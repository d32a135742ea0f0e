"""The deviation seam (TJ-6.4.4, TJ-B.2.3.2): the one place the batch execution opens a deviation.

The QMS owns the deviation (:mod:`pharmatrace.qms.deviations`: classification, investigation, impact, closure);
MES callers only use :func:`raise_deviation` and :func:`get_deviation`, which delegate to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import deviations
from pharmatrace.qms.deviation_models import Deviation


def raise_deviation(
    uow: UnitOfWork, *, description: str, occurred_at: datetime, immediate_actions: str,
    affected_batches: Iterable[str], affected_products: Iterable[str], source: str, reviewer: str | None = None,
) -> Deviation:  # fmt: skip
    """Open a deviation (number ``DEV-YYYY-NNNN``) from production, recorded by the unit of work's actor."""
    return deviations.open_deviation(
        uow, description=description, occurred_at=occurred_at, immediate_actions=immediate_actions,
        affected_batches=affected_batches, affected_products=affected_products, source_kind="mes", source=source,
        category="process", reviewer=reviewer,
    )  # fmt: skip


def get_deviation(session: Session, number: str) -> Deviation:
    return deviations.get_deviation(session, number)
