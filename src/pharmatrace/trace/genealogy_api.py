"""``/api/v1/trace/genealogy``: the genealogy both ways and recall impact (SH-6.2.5, TJ-9.1; issue 10 items 5–6).

Everything here reads, with ``trace.view``. A forward trace gives code counts; its unit codes come a page at a
time from ``/forward/{ref}/units?after=<last id>`` (keyset on the code's id), never all at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.trace import genealogy, recall
from pharmatrace.trace.genealogy import Trace
from pharmatrace.trace.recall import RecallImpact
from pharmatrace.web.deps import DbDep, Requires

router = APIRouter(prefix="/trace", tags=["trace"])

TraceView = Annotated[Principal, Depends(Requires("trace.view"))]


class UnitCode(BaseModel):
    id: int
    value: str
    state: str


class UnitPage(BaseModel):
    """One page of unit codes; ``next_after`` is the ``after`` of the next page (``None``: the last page)."""

    ref: str
    units: list[UnitCode]
    next_after: int | None


@router.get("/genealogy/backward/{code}", response_model=Trace)
def backward(code: str, db: DbDep, _: TraceView) -> Trace:
    """From a unit, pack, case or pallet code to everything upstream, with the batches' context."""
    with db.sessions() as session:
        return genealogy.backward(session, code)


@router.get("/genealogy/forward/{ref}", response_model=Trace)
def forward(ref: str, db: DbDep, _: TraceView) -> Trace:
    """From a material, herb or intermediate lot, a batch or a plot to every batch, code count, shipment and
    customer downstream."""
    with db.sessions() as session:
        return genealogy.forward(session, ref)


@router.get("/genealogy/forward/{ref}/units", response_model=UnitPage)
def forward_units(
    ref: str, db: DbDep, principal: TraceView, after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10 * genealogy.PAGE)] = genealogy.PAGE,
) -> UnitPage:  # fmt: skip
    """The unit codes downstream of ``ref``, a page at a time by id."""
    with db.sessions() as session:
        _start, keys, _edges = genealogy.downstream_batches(session, ref)
        rows = genealogy.units(session, {i for kind, i in keys if kind == "batch"}, after=after, limit=limit)
    return UnitPage(ref=ref, units=[UnitCode(id=i, value=v, state=s) for i, v, s in rows],
                    next_after=rows[-1][0] if len(rows) == limit else None)  # fmt: skip


@router.get("/genealogy/recall-impact/{ref}", response_model=RecallImpact)
def recall_impact(ref: str, db: DbDep, _: TraceView) -> RecallImpact:
    """Affected batches, unit counts by state, shipments with customers and counts."""
    with db.sessions() as session:
        return recall.impact(session, ref)
