"""The deviation seam (TJ-6.4.4, TJ-B.2.3.2): the one place the batch execution opens a deviation.

Kept minimal on purpose: a ``deviations`` row (model :class:`~pharmatrace.mes.execution_models.Deviation`)
with its description, time, immediate actions, affected products and batches, recorder, reviewer and status
``open``. The QMS issue takes this function and the table over (investigation, CAPA, closure); callers only
use :func:`raise_deviation` and :func:`get_deviation`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import Deviation
from pharmatrace.wms.codes import next_serial


def raise_deviation(
    uow: UnitOfWork, *, description: str, occurred_at: datetime, immediate_actions: str,
    affected_batches: Iterable[str], affected_products: Iterable[str], source: str, reviewer: str | None = None,
) -> Deviation:  # fmt: skip
    """Open a deviation (number ``DEV-YYYY-NNNN``), recorded by the unit of work's actor."""
    session = uow.session
    moment = clock.now()
    year = clock.to_beijing(moment).year
    while True:
        number = f"DEV-{year}-{next_serial(session, f'QMS:DEV-{year}-#'):04d}"
        if session.scalar(select(Deviation.id).where(Deviation.number == number)) is None:
            break
    deviation = Deviation(
        number=number, description=description[:2000], occurred_at=occurred_at,
        immediate_actions=immediate_actions[:2000], affected_batches=", ".join(affected_batches)[:500],
        affected_products=", ".join(affected_products)[:500], recorded_at=moment, recorded_by=uow.actor.login,
        reviewer=reviewer, status="open", source=source[:64],
    )  # fmt: skip
    session.add(deviation)
    session.flush()
    return deviation


def get_deviation(session: Session, number: str) -> Deviation:
    deviation = session.scalar(select(Deviation).where(Deviation.number == number.strip().upper()))
    if deviation is None:
        raise NotFound(N_("No deviation {number}"), number=number)
    return deviation
