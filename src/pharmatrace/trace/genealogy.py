"""The genealogy graph both ways (追溯: 正向与反向; SH-6.2.5, TJ-9.1, TJ-5.1, TJ-6.3.4; issue 10 item 5).

Planting plot → harvest → herb shipment → material (herb) lot → batch → intermediate lot → batch → finished lot →
batch … → codes (unit → middle pack → case → pallet) → shipment → customer, and per batch its context (equipment,
rooms, operators, EM alarms, deviations, test results, recipe version).

* :func:`backward` — from any unit, pack, case or pallet code to everything upstream: its containers, the batch
  (for a case or pallet: the batches of what it holds), every lot and intermediate lot charged into the batch,
  recursively through the batches that made them, down to the plots they were planted on; plus the batch context
  and where the code itself went (its shipment and customer).
* :func:`forward` — from a material lot, an intermediate lot, a batch or a plot code to every batch downstream
  (recursively through intermediates and finished lots charged again), the codes (counts by level and state; the
  unit codes themselves through :func:`units`, a keyset page, or :func:`iter_units`, streamed), every shipment with
  the units it carried and every customer.

The tables are read directly: ``material_charges``, ``intermediate_lots``/``intermediate_movements`` (kind
``charge``), ``lots`` (a batch's finished lot is numbered as the batch, ``mes.handover``), ``herb_lot_origins``,
``herb_shipment_sources``, ``harvests``/``crops``, ``trace_codes`` and ``trace_shipments``.

Designed for a 10M-unit genealogy (the benchmark comes later):

* **Set at a time.** The material graph is walked breadth first by :func:`walk` over an :class:`EdgeSource`: each
  round asks once per node kind for the edges of the whole frontier (``… WHERE x IN (…)``, chunked at
  :data:`CHUNK` ids), never per row; the number of queries grows with the graph's depth, not its size. The same
  walk runs over an in-memory source in the property tests.
* **Codes never loaded blindly.** A forward trace counts codes with ``GROUP BY batch_order_id, level, state``
  (index ``ix_trace_codes_batch_state``); units per shipment are counted per container (``GROUP BY parent_id``),
  the containers' shipments resolved top-down over at most four levels (``ix_trace_codes_parent``,
  ``ix_trace_codes_shipment``). The unit list is a keyset page on ``id`` or a server-side streamed cursor.
  A backward trace reads one code by its unique value, its ≤ 3 containers by primary key, and — for a case or
  pallet — the contents level by level as counts.
* **Index-friendly.** Every step follows a primary key, a unique key or an index: ``material_charges(lot_id)``
  (forward from a lot), ``intermediate_lots(batch_no)`` and ``intermediate_movements(batch_no)`` (migration 0037),
  and ``trace_codes(batch_order_id, level, id)`` for a keyset page of units.

A code's shipment is its own ``shipment_id`` or, when it was shipped inside a container, the nearest container's:
shipping a pallet ships what it holds whether or not each unit was marked.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.kernel.identity.models import User
from pharmatrace.mes.dispensing_models import MaterialCharge
from pharmatrace.mes.execution_models import BatchOrder, StepExecution
from pharmatrace.mes.recipe_models import MasterRecipeVersion
from pharmatrace.origin.models import Crop, Harvest, HerbLotOrigin, Plot, ShipmentSource
from pharmatrace.origin.models import Shipment as HerbShipment
from pharmatrace.trace import codes
from pharmatrace.trace.models import LEVEL_NAMES, Customer, OutboundShipment, TraceCode
from pharmatrace.wms.models import Lot, Material
from pharmatrace.wms.stock_models import IntermediateLot, IntermediateMovement

CHUNK = 2000  # ids per IN (…): well under SQLite's variable limit
PAGE = 1000  # unit codes per page
MATERIAL_KINDS = ("plot", "harvest", "herb_shipment", "material_lot", "intermediate_lot", "batch")
CODE_KINDS = {1: "unit", 2: "pack", 3: "case", 4: "pallet"}
KIND_LABELS = {
    "plot": N_("Planting plot"), "harvest": N_("Harvest"), "herb_shipment": N_("Herb shipment"),
    "material_lot": N_("Material lot"), "intermediate_lot": N_("Intermediate lot"), "batch": N_("Batch"),
    "unit": LEVEL_NAMES[1], "pack": LEVEL_NAMES[2], "case": LEVEL_NAMES[3], "pallet": LEVEL_NAMES[4],
    "shipment": N_("Shipment"), "customer": N_("Customer"),
}  # fmt: skip

Key = tuple[str, int]  # (kind, id)
Direction = Literal["backward", "forward"]


# --- the result ----------------------------------------------------------------------------------------


class Node(BaseModel):
    """One node: ``id`` is ``"<kind>:<row id>"``; ``ref`` the business key (plot code, lot number, batch
    number, code value, shipment number, customer code)."""

    id: str
    kind: str
    ref: str
    label: str
    facts: dict[str, str] = Field(default_factory=dict)


class Edge(BaseModel):
    """An edge in the direction material flows (upstream → downstream); ``count``: units, where it is one."""

    source: str
    target: str
    relation: str
    count: int | None = None


class CodeCount(BaseModel):
    batch_no: str
    level: int
    state: str
    count: int


class ShipmentUnits(BaseModel):
    """A shipment reached, its customer, and how many units of which batch it carried."""

    number: str
    status: str
    shipped_at: datetime | None
    customer_code: str
    customer_name: str
    address: str
    batch_no: str
    units: int


class TestLine(BaseModel):
    order: str
    item: str
    result: str
    verdict: str


class DeviationLine(BaseModel):
    number: str
    status: str
    classification: str | None
    conclusion: str | None


class BatchContext(BaseModel):
    """What a batch was made with and under (TJ-6.3.4): recipe version, equipment, rooms, operators, EM alarms
    (``alarms`` ``None``: environmental monitoring not connected), deviations, test results of its finished lot."""

    batch_no: str
    product: str
    status: str
    recipe: str
    recipe_version: int | None
    started_at: datetime | None
    completed_at: datetime | None
    equipment: list[str]
    rooms: list[str]
    operators: list[str]
    alarms_connected: bool
    alarms: list[str] | None
    deviations: list[DeviationLine]
    finished_lot: str | None
    tests: list[TestLine]


class Trace(BaseModel):
    """A trace: the graph (nodes and edges), the batches' context (backward), code counts and shipments."""

    direction: Direction
    start: Node
    nodes: list[Node]
    edges: list[Edge]
    batches: list[BatchContext] = Field(default_factory=list)
    code_counts: list[CodeCount] = Field(default_factory=list)
    shipments: list[ShipmentUnits] = Field(default_factory=list)
    generated_at: datetime


# --- the EM alarm seam (the monitoring area registers itself) ------------------------------------------


class AlarmSource(Protocol):
    """What environmental monitoring tells a trace: the alarms raised in rooms over a batch's window."""

    def alarms(self, rooms: Sequence[str], start: datetime, end: datetime) -> list[str]:
        """One line per alarm in ``rooms`` between ``start`` and ``end`` (UTC), e.g.
        ``"ALM-0012 RM-FILL 粒子 ≥0.5 µm 2026-11-18 10:12 assessed"``."""
        ...


_alarms: AlarmSource | None = None


def register(source: AlarmSource | None) -> None:
    """Make ``source`` the monitoring area traces ask (``None``: not connected)."""
    global _alarms
    _alarms = source


# --- the walk over an edge source -----------------------------------------------------------------------


class EdgeSource(Protocol):
    """The material graph's edges, asked for a whole frontier of one kind at once."""

    def upstream(self, kind: str, ids: Collection[int]) -> Iterable[tuple[str, int, int]]:
        """``(kind, id, given id)`` of every node directly upstream of one of ``ids``."""
        ...

    def downstream(self, kind: str, ids: Collection[int]) -> Iterable[tuple[str, int, int]]:
        """``(kind, id, given id)`` of every node directly downstream of one of ``ids``."""
        ...


def walk(
    source: EdgeSource, start: Iterable[Key], direction: Direction
) -> tuple[set[Key], set[tuple[Key, Key]]]:
    """Every node reachable from ``start`` and the edges met (each as (upstream, downstream)), breadth first:
    one call per kind per round. Safe on cycles (a data error, but a trace must end)."""
    seen = set(start)
    frontier = set(seen)
    edges: set[tuple[Key, Key]] = set()
    step = source.upstream if direction == "backward" else source.downstream
    while frontier:
        by_kind: dict[str, set[int]] = defaultdict(set)
        for kind, ident in frontier:
            by_kind[kind].add(ident)
        frontier = set()
        for kind in sorted(by_kind):
            for other_kind, other_id, own_id in step(kind, by_kind[kind]):
                other, own = (other_kind, other_id), (kind, own_id)
                edges.add((other, own) if direction == "backward" else (own, other))
                if other not in seen:
                    seen.add(other)
                    frontier.add(other)
    return seen, edges


def _chunks(ids: Collection[Any]) -> Iterator[list[Any]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _pairs(session: Session, query: Any, column: Any, ids: Collection[int],
           kind: str) -> Iterator[tuple[str, int, int]]:  # fmt: skip
    for chunk in _chunks(ids):
        for other, own in session.execute(query.where(column.in_(chunk))):
            yield kind, int(other), int(own)


class SqlEdges:
    """The material graph as stored: one indexed query per kind and direction for a whole frontier."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upstream(self, kind: str, ids: Collection[int]) -> Iterator[tuple[str, int, int]]:
        s = self.session
        if kind == "batch":
            yield from _pairs(s, select(MaterialCharge.lot_id, MaterialCharge.batch_order_id).distinct(),
                              MaterialCharge.batch_order_id, ids, "material_lot")  # fmt: skip
            yield from _pairs(s, select(IntermediateMovement.intermediate_id, BatchOrder.id).distinct()
                              .join(BatchOrder, BatchOrder.batch_no == IntermediateMovement.batch_no)
                              .where(IntermediateMovement.kind == "charge"), BatchOrder.id, ids,
                              "intermediate_lot")  # fmt: skip
        elif kind == "material_lot":
            yield from _pairs(s, select(BatchOrder.id, Lot.id).join(BatchOrder, BatchOrder.batch_no == Lot.lot_number),
                              Lot.id, ids, "batch")  # fmt: skip
            yield from _pairs(s, select(HerbLotOrigin.shipment_id, HerbLotOrigin.lot_id), HerbLotOrigin.lot_id,
                              ids, "herb_shipment")  # fmt: skip
        elif kind == "intermediate_lot":
            yield from _pairs(s, select(BatchOrder.id, IntermediateLot.id)
                              .join(BatchOrder, BatchOrder.batch_no == IntermediateLot.batch_no),
                              IntermediateLot.id, ids, "batch")  # fmt: skip
        elif kind == "herb_shipment":
            yield from _pairs(s, select(ShipmentSource.harvest_id, ShipmentSource.shipment_id),
                              ShipmentSource.shipment_id, ids, "harvest")  # fmt: skip
        elif kind == "harvest":
            yield from _pairs(s, select(Crop.plot_id, Harvest.id).join(Crop, Crop.id == Harvest.crop_id),
                              Harvest.id, ids, "plot")  # fmt: skip

    def downstream(self, kind: str, ids: Collection[int]) -> Iterator[tuple[str, int, int]]:
        s = self.session
        if kind == "plot":
            yield from _pairs(s, select(Harvest.id, Crop.plot_id).join(Crop, Crop.id == Harvest.crop_id),
                              Crop.plot_id, ids, "harvest")  # fmt: skip
        elif kind == "harvest":
            yield from _pairs(s, select(ShipmentSource.shipment_id, ShipmentSource.harvest_id),
                              ShipmentSource.harvest_id, ids, "herb_shipment")  # fmt: skip
        elif kind == "herb_shipment":
            yield from _pairs(s, select(HerbLotOrigin.lot_id, HerbLotOrigin.shipment_id),
                              HerbLotOrigin.shipment_id, ids, "material_lot")  # fmt: skip
        elif kind == "material_lot":
            yield from _pairs(s, select(MaterialCharge.batch_order_id, MaterialCharge.lot_id).distinct(),
                              MaterialCharge.lot_id, ids, "batch")  # fmt: skip
        elif kind == "intermediate_lot":
            yield from _pairs(s, select(BatchOrder.id, IntermediateMovement.intermediate_id).distinct()
                              .join(BatchOrder, BatchOrder.batch_no == IntermediateMovement.batch_no)
                              .where(IntermediateMovement.kind == "charge"),
                              IntermediateMovement.intermediate_id, ids, "batch")  # fmt: skip
        elif kind == "batch":
            yield from _pairs(s, select(IntermediateLot.id, BatchOrder.id)
                              .join(BatchOrder, BatchOrder.batch_no == IntermediateLot.batch_no),
                              BatchOrder.id, ids, "intermediate_lot")  # fmt: skip
            yield from _pairs(s, select(Lot.id, BatchOrder.id).join(BatchOrder, BatchOrder.batch_no == Lot.lot_number),
                              BatchOrder.id, ids, "material_lot")  # fmt: skip


# --- codes ---------------------------------------------------------------------------------------------


def containers_of(session: Session, code: TraceCode) -> list[TraceCode]:
    """The code's containers, innermost first (at most three: pack, case, pallet)."""
    found: list[TraceCode] = []
    parent_id, seen = code.parent_id, {code.id}
    while parent_id is not None and parent_id not in seen:
        parent = session.get(TraceCode, parent_id)
        if parent is None:
            break
        found.append(parent)
        seen.add(parent.id)
        parent_id = parent.parent_id
    return found


def contents_of(session: Session, code_id: int) -> tuple[set[int], list[tuple[int | None, int, str, int]]]:
    """What a container holds, level by level as counts: the batches met and ``(batch id, level, state, count)``."""
    batches: set[int] = set()
    counts: list[tuple[int | None, int, str, int]] = []
    frontier, seen = {code_id}, {code_id}
    while frontier:
        following: set[int] = set()
        for chunk in _chunks(frontier):
            for batch, level, state, count in session.execute(
                select(TraceCode.batch_order_id, TraceCode.level, TraceCode.state, func.count())
                .where(TraceCode.parent_id.in_(chunk))
                .group_by(TraceCode.batch_order_id, TraceCode.level, TraceCode.state)
            ):  # fmt: skip
                counts.append((batch, int(level), str(state), int(count)))
                if batch is not None:
                    batches.add(int(batch))
            following.update(session.scalars(
                select(TraceCode.id).where(TraceCode.parent_id.in_(chunk), TraceCode.level > 1)
            ))  # fmt: skip
        frontier = following - seen
        seen |= frontier
    return batches, counts


def _container_shipments(session: Session, parent_ids: set[int]) -> dict[int, int | None]:
    """The effective shipment of every container in ``parent_ids`` and above: its own, else its nearest
    container's. Walked upward a level at a time, then resolved top-down."""
    rows: dict[int, tuple[int | None, int | None]] = {}  # id -> (parent, own shipment)
    frontier = set(parent_ids)
    while frontier:
        for chunk in _chunks(frontier):
            for ident, parent, shipment in session.execute(
                select(TraceCode.id, TraceCode.parent_id, TraceCode.shipment_id).where(TraceCode.id.in_(chunk))
            ):  # fmt: skip
                rows[int(ident)] = (parent, shipment)
        frontier = {p for p, _ in rows.values() if p is not None and p not in rows}
    resolved: dict[int, int | None] = {}

    def effective(ident: int, depth: int = 0) -> int | None:
        if ident in resolved:
            return resolved[ident]
        parent, own = rows.get(ident, (None, None))
        found = own if own is not None or parent is None or depth > 8 else effective(parent, depth + 1)
        resolved[ident] = found
        return found

    for ident in rows:
        effective(ident)
    return resolved


def unit_shipments(session: Session, batch_ids: Collection[int]) -> dict[tuple[int, int], int]:
    """Units per (batch id, shipment id): shipped themselves or inside a shipped container."""
    found: dict[tuple[int, int], int] = defaultdict(int)
    per_parent: list[tuple[int, int, int]] = []
    for chunk in _chunks(batch_ids):
        for batch, shipment, parent, count in session.execute(
            select(TraceCode.batch_order_id, TraceCode.shipment_id, TraceCode.parent_id, func.count())
            .where(TraceCode.batch_order_id.in_(chunk), TraceCode.level == 1,
                   TraceCode.shipment_id.is_not(None) | TraceCode.parent_id.is_not(None))
            .group_by(TraceCode.batch_order_id, TraceCode.shipment_id, TraceCode.parent_id)
        ):  # fmt: skip
            if shipment is not None:
                found[(int(batch or 0), int(shipment))] += int(count)
            else:
                per_parent.append((int(batch or 0), int(parent or 0), int(count)))
    through = _container_shipments(session, {parent for _, parent, _ in per_parent})
    for batch, parent, count in per_parent:
        shipment = through.get(parent)
        if shipment is not None:
            found[(batch, shipment)] += count
    return dict(found)


def code_counts(session: Session, batch_ids: Collection[int]) -> list[tuple[int, int, str, int]]:
    """``(batch id, level, state, count)`` of the batches' codes."""
    found: list[tuple[int, int, str, int]] = []
    for chunk in _chunks(batch_ids):
        for batch, level, state, count in session.execute(
            select(TraceCode.batch_order_id, TraceCode.level, TraceCode.state, func.count())
            .where(TraceCode.batch_order_id.in_(chunk))
            .group_by(TraceCode.batch_order_id, TraceCode.level, TraceCode.state)
        ):  # fmt: skip
            found.append((int(batch or 0), int(level), str(state), int(count)))
    return sorted(found)


def units(session: Session, batch_ids: Collection[int], *, after: int = 0, limit: int = PAGE) -> list[tuple[int, str, str]]:  # fmt: skip
    """One keyset page of the batches' unit codes: ``(id, value, state)`` with ``id > after``, by id."""
    if not batch_ids:
        return []
    return [(int(i), str(v), str(s)) for i, v, s in session.execute(
        select(TraceCode.id, TraceCode.value, TraceCode.state)
        .where(TraceCode.batch_order_id.in_(sorted(batch_ids)), TraceCode.level == 1, TraceCode.id > after)
        .order_by(TraceCode.id).limit(max(1, min(limit, 10 * PAGE)))
    )]  # fmt: skip


def iter_units(session: Session, batch_ids: Collection[int]) -> Iterator[tuple[str, str]]:
    """Every unit code of the batches, ``(value, state)``, batch by batch in code order, streamed from a
    server-side cursor on the session's connection: plain rows, no ORM, and the order is the index's
    (``ix_trace_codes_batch_level``), so nothing is sorted (``bench/trace.py`` measured the ORM path 3–5× slower)."""
    connection = session.connection()
    for chunk in _chunks(sorted(batch_ids)):
        result = connection.execute(
            select(TraceCode.value, TraceCode.state)
            .where(TraceCode.batch_order_id.in_(chunk), TraceCode.level == 1)
            .order_by(TraceCode.batch_order_id, TraceCode.level, TraceCode.id),
            execution_options={"stream_results": True, "yield_per": 5000},
        )  # fmt: skip
        for value, state in result:
            yield str(value), str(state)


# --- resolving a start and describing nodes -------------------------------------------------------------


def resolve(session: Session, ref: str) -> Key:
    """A forward trace's start: a batch number (or order number), a material lot, an intermediate lot or a plot
    code. A finished lot numbered as its batch is taken as the batch (whose codes it is)."""
    wanted = ref.strip()
    upper = wanted.upper()
    found = session.scalar(
        select(BatchOrder.id).where((BatchOrder.batch_no == upper) | (BatchOrder.order_no == upper))
    )
    if found is not None:
        return "batch", int(found)
    for kind, column, ident in (("material_lot", Lot.lot_number, Lot.id),
                                ("intermediate_lot", IntermediateLot.lot_number, IntermediateLot.id),
                                ("plot", Plot.code, Plot.id)):  # fmt: skip
        found = session.scalar(select(ident).where(column.in_({wanted, upper})))
        if found is not None:
            return kind, int(found)
    raise NotFound(N_("No lot, batch or plot {ref}"), ref=wanted)


def _ids(keys: Iterable[Key], kind: str) -> set[int]:
    return {i for k, i in keys if k == kind}


def _in_chunks(session: Session, query: Any, column: Any, ids: Collection[Any]) -> list[Any]:
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows.extend(session.execute(query.where(column.in_(chunk))))
    return rows


def describe(session: Session, keys: Collection[Key]) -> dict[Key, Node]:
    """The nodes of ``keys``, one query per kind."""
    nodes: dict[Key, Node] = {}

    def add(node_kind: str, ident: Any, ref: str, label: str, **facts: Any) -> None:
        nodes[(node_kind, int(ident))] = Node(id=f"{node_kind}:{ident}", kind=node_kind, ref=ref, label=label,
                                         facts={k: str(v) for k, v in facts.items() if v not in (None, "")})  # fmt: skip

    for ident, code, name, base in _in_chunks(session, select(Plot.id, Plot.code, Plot.name, Plot.location),
                                              Plot.id, _ids(keys, "plot")):  # fmt: skip
        add("plot", ident, code, f"{code} {name}", location=base)
    for ident, code, on, quantity, unit, species, crop in _in_chunks(
        session, select(Harvest.id, Harvest.code, Harvest.harvested_on, Harvest.quantity, Harvest.unit, Crop.species,
                        Crop.code).join(Crop, Crop.id == Harvest.crop_id), Harvest.id, _ids(keys, "harvest")
    ):  # fmt: skip
        add(
            "harvest",
            ident,
            code,
            f"{code} {species}",
            harvested_on=on,
            quantity=f"{quantity} {unit}",
            crop=crop,
        )
    for ident, code, batch_no, shipped_on in _in_chunks(
        session, select(HerbShipment.id, HerbShipment.code, HerbShipment.batch_no, HerbShipment.shipped_on),
        HerbShipment.id, _ids(keys, "herb_shipment"),
    ):  # fmt: skip
        add("herb_shipment", ident, code, code, base_batch=batch_no, shipped_on=shipped_on)
    for ident, number, status, material, name in _in_chunks(
        session, select(Lot.id, Lot.lot_number, Lot.status, Material.code, Material.name)
        .join(Material, Material.id == Lot.material_id), Lot.id, _ids(keys, "material_lot"),
    ):  # fmt: skip
        add("material_lot", ident, number, f"{number} {name}", material=material, status=status)
    for ident, number, batch_no, status, name in _in_chunks(
        session, select(IntermediateLot.id, IntermediateLot.lot_number, IntermediateLot.batch_no,
                        IntermediateLot.status, Material.name).join(Material, Material.id == IntermediateLot.material_id),
        IntermediateLot.id, _ids(keys, "intermediate_lot"),
    ):  # fmt: skip
        add("intermediate_lot", ident, number, f"{number} {name}", made_by=batch_no, status=status)
    for ident, batch_no, product, status in _in_chunks(
        session, select(BatchOrder.id, BatchOrder.batch_no, BatchOrder.product_name, BatchOrder.status),
        BatchOrder.id, _ids(keys, "batch"),
    ):  # fmt: skip
        add("batch", ident, batch_no, f"{batch_no} {product}", status=status)
    for ident, number, status, shipped_at, address in _in_chunks(
        session, select(OutboundShipment.id, OutboundShipment.number, OutboundShipment.status,
                        OutboundShipment.shipped_at, OutboundShipment.address),
        OutboundShipment.id, _ids(keys, "shipment"),
    ):  # fmt: skip
        add("shipment", ident, number, number, status=status, shipped_at=clock.format_beijing(shipped_at),
            address=address)  # fmt: skip
    for ident, code, name, kind in _in_chunks(session, select(Customer.id, Customer.code, Customer.name, Customer.kind),
                                              Customer.id, _ids(keys, "customer")):  # fmt: skip
        add("customer", ident, code, f"{code} {name}", kind=kind)
    return nodes


def _code_node(code: TraceCode) -> Node:
    kind = CODE_KINDS[code.level]
    return Node(id=f"{kind}:{code.id}", kind=kind, ref=code.value, label=code.value,
                facts={k: v for k, v in (("state", code.state), ("line", code.line),
                                         ("disposition", code.disposition or "")) if v})  # fmt: skip


def _edge(source: Key, target: Key, relation: str, count: int | None = None) -> Edge:
    return Edge(source=f"{source[0]}:{source[1]}", target=f"{target[0]}:{target[1]}", relation=relation,
                count=count)  # fmt: skip


RELATIONS = {
    ("plot", "harvest"): "harvested", ("harvest", "herb_shipment"): "shipped",
    ("herb_shipment", "material_lot"): "received", ("material_lot", "batch"): "charged",
    ("intermediate_lot", "batch"): "charged", ("batch", "intermediate_lot"): "made",
    ("batch", "material_lot"): "handed_over",
}  # fmt: skip


def _graph(
    session: Session, keys: set[Key], pairs: set[tuple[Key, Key]]
) -> tuple[dict[Key, Node], list[Edge]]:
    nodes = describe(session, keys)
    edges = [_edge(a, b, RELATIONS.get((a[0], b[0]), "to")) for a, b in sorted(pairs)]
    return nodes, edges


def shipment_lines(session: Session, per: dict[tuple[int, int], int], batch_nos: dict[int, str]) -> list[ShipmentUnits]:  # fmt: skip
    shipment_ids = {s for _, s in per}
    info = {int(row[0]): row for row in _in_chunks(
        session, select(OutboundShipment.id, OutboundShipment.number, OutboundShipment.status,
                        OutboundShipment.shipped_at, Customer.code, Customer.name, OutboundShipment.address)
        .join(Customer, Customer.id == OutboundShipment.customer_id), OutboundShipment.id, shipment_ids,
    )}  # fmt: skip
    lines = []
    for (batch, shipment), count in per.items():
        _, number, status, shipped_at, customer_code, customer_name, address = info[shipment]
        lines.append(ShipmentUnits(number=number, status=status, shipped_at=shipped_at, customer_code=customer_code,
                                   customer_name=customer_name, address=address, batch_no=batch_nos[batch],
                                   units=count))  # fmt: skip
    return sorted(lines, key=lambda line: (line.number, line.batch_no))


def _shipment_graph(session: Session, per: dict[tuple[int, int], int]) -> tuple[set[Key], list[tuple[Key, Key, str, int | None]]]:  # fmt: skip
    keys: set[Key] = set()
    links: list[tuple[Key, Key, str, int | None]] = []
    for (batch, shipment), count in sorted(per.items()):
        keys.add(("shipment", shipment))
        links.append((("batch", batch), ("shipment", shipment), "shipped", count))
    customers = _in_chunks(session, select(OutboundShipment.customer_id, OutboundShipment.id), OutboundShipment.id,
                           {s for _, s in per})  # fmt: skip
    for customer, shipment in customers:
        keys.add(("customer", int(customer)))
        links.append((("shipment", int(shipment)), ("customer", int(customer)), "delivered", None))
    return keys, links


# --- the batch context ----------------------------------------------------------------------------------


def batch_contexts(session: Session, batch_ids: Collection[int]) -> list[BatchContext]:
    """The context of each batch, a query per kind of fact for all of them (tests: per finished lot)."""
    from pharmatrace.lims import results
    from pharmatrace.lims.result_models import TestOrder
    from pharmatrace.qms import deviations

    if not batch_ids:
        return []
    orders = sorted(_in_chunks(session, select(BatchOrder, MasterRecipeVersion.version)
                               .join(MasterRecipeVersion, MasterRecipeVersion.id == BatchOrder.master_version_id),
                               BatchOrder.id, batch_ids), key=lambda row: row[0].batch_no)  # fmt: skip
    equipment: dict[int, set[str]] = defaultdict(set)
    rooms: dict[int, set[str]] = defaultdict(set)
    people: dict[int, set[str]] = defaultdict(set)
    for batch, started, performed, verified, record in _in_chunks(
        session, select(StepExecution.batch_order_id, StepExecution.started_by, StepExecution.performed_by,
                        StepExecution.verified_by, StepExecution.record), StepExecution.batch_order_id, batch_ids,
    ):  # fmt: skip
        people[batch].update(p for p in (started, performed, verified) if p)
        try:
            evidence = json.loads(record or "{}")
        except ValueError:
            evidence = {}
        if isinstance(evidence, dict):
            if evidence.get("room"):
                rooms[batch].add(str(evidence["room"]))
            for used in evidence.get("equipment") or []:
                if isinstance(used, dict) and used.get("code") and used.get("code") != evidence.get("room"):
                    equipment[batch].add(f"{used['code']} {used.get('name', '')}".strip())
    logins = set().union(*people.values()) if people else set()
    names = {str(login): str(name) for login, name in session.execute(
        select(User.login, User.full_name).where(User.login.in_(sorted(logins)))
    )} if logins else {}  # fmt: skip
    finished = {str(n): int(i) for i, n in _in_chunks(session, select(Lot.id, Lot.lot_number), Lot.lot_number,
                                                       [o.batch_no for o, _ in orders])}  # fmt: skip
    tests: dict[int, list[TestLine]] = defaultdict(list)
    if finished:
        for order in session.scalars(select(TestOrder).where(TestOrder.lot_id.in_(sorted(finished.values())),
                                                              TestOrder.voided_at.is_(None), TestOrder.source != "stability").order_by(TestOrder.id)).unique():  # fmt: skip
            for test in order.tests:
                last = results.latest(test)
                shown = "—" if last is None else f"{last.reported or last.answer or last.text_result or ''} {last.unit}".strip()  # fmt: skip
                tests[order.lot_id].append(TestLine(order=order.code, item=test.item_name, result=shown,
                                                    verdict=results.verdict_of(last) if last else "pending"))  # fmt: skip
    contexts = []
    for order, version in orders:
        room_list = sorted(rooms[order.id])
        alarms = None
        if _alarms is not None:
            start = order.started_at or order.released_at or order.planned_start
            alarms = _alarms.alarms(room_list, start, order.completed_at or clock.now())
        lot_id = finished.get(order.batch_no)
        contexts.append(BatchContext(
            batch_no=order.batch_no, product=f"{order.product_name} ({order.product_code})", status=order.status,
            recipe=order.recipe_code, recipe_version=version, started_at=order.started_at,
            completed_at=order.completed_at, equipment=sorted(equipment[order.id]), rooms=room_list,
            operators=sorted(f"{names.get(p, p)} ({p})" for p in people[order.id]),
            alarms_connected=_alarms is not None, alarms=alarms,
            deviations=[DeviationLine(number=d.number, status=d.status, classification=d.classification,
                                      conclusion=d.conclusion)
                        for d in deviations.batch_quality_evaluation(session, order.batch_no)],
            finished_lot=order.batch_no if lot_id is not None else None,
            tests=tests.get(lot_id, []) if lot_id is not None else [],
        ))  # fmt: skip
    return contexts


# --- the traces -----------------------------------------------------------------------------------------


def _batch_nos(session: Session, batch_ids: Collection[int]) -> dict[int, str]:
    return {int(i): str(n) for i, n in _in_chunks(session, select(BatchOrder.id, BatchOrder.batch_no), BatchOrder.id, batch_ids)}  # fmt: skip


def _counts(counts: Iterable[tuple[int, int, str, int]], batch_nos: dict[int, str]) -> list[CodeCount]:
    return [CodeCount(batch_no=batch_nos[b], level=level, state=state, count=n) for b, level, state, n in counts
            if b in batch_nos]  # fmt: skip


def backward(session: Session, code_value: str, *, context: bool = True) -> Trace:
    """Everything upstream of a unit, pack, case or pallet code (SH-6.2.5, TJ-9.1); unknown code: NotFound."""
    code = codes.find_code(session, code_value)
    chain = [code, *containers_of(session, code)]
    batches: set[int] = {code.batch_order_id} if code.batch_order_id is not None else set()
    held: list[tuple[int | None, int, str, int]] = []
    if code.level > 1:
        inside, held = contents_of(session, code.id)
        batches |= inside
    keys, pairs = walk(SqlEdges(session), {("batch", b) for b in batches}, "backward")
    nodes, edges = _graph(session, keys, pairs)
    code_nodes = [_code_node(c) for c in chain]
    for inner, outer in itertools.pairwise(chain):
        edges.append(
            _edge((CODE_KINDS[inner.level], inner.id), (CODE_KINDS[outer.level], outer.id), "packed_in")
        )
    for batch in sorted(batches):
        edges.append(_edge(("batch", batch), (CODE_KINDS[code.level], code.id), "coded"))
    shipment = next((c.shipment_id for c in chain if c.shipment_id is not None), None)
    if shipment is not None:  # where the code itself went
        top = next(c for c in chain if c.shipment_id == shipment)
        ship_nodes = describe(session, {("shipment", shipment)})
        nodes.update(ship_nodes)
        customer = int(
            session.scalar(select(OutboundShipment.customer_id).where(OutboundShipment.id == shipment)) or 0
        )
        nodes.update(describe(session, {("customer", customer)}))
        edges.append(_edge((CODE_KINDS[top.level], top.id), ("shipment", shipment), "shipped"))
        edges.append(_edge(("shipment", shipment), ("customer", customer), "delivered"))
    batch_nos = _batch_nos(session, batches)
    return Trace(
        direction="backward", start=code_nodes[0], nodes=[*code_nodes, *nodes.values()], edges=edges,
        batches=batch_contexts(session, _ids(keys, "batch")) if context else [],
        code_counts=_counts(sorted((b, lv, st, n) for b, lv, st, n in held if b is not None), batch_nos),
        generated_at=clock.now(),
    )  # fmt: skip


def downstream_batches(session: Session, ref: str) -> tuple[Key, set[Key], set[tuple[Key, Key]]]:
    """The start of ``ref`` and the material graph downstream of it (nodes, edges)."""
    start = resolve(session, ref)
    keys, pairs = walk(SqlEdges(session), {start}, "forward")
    return start, keys, pairs


def forward(session: Session, ref: str) -> Trace:
    """Every batch, code (counts), shipment and customer downstream of a lot, batch or plot (TJ-5.1, TJ-9.1);
    the unit codes themselves through :func:`units` / :func:`iter_units`. Unknown ref: NotFound."""
    start, keys, pairs = downstream_batches(session, ref)
    batches = _ids(keys, "batch")
    per = unit_shipments(session, batches)
    ship_keys, links = _shipment_graph(session, per)
    nodes, edges = _graph(session, keys | ship_keys, pairs)
    edges.extend(_edge(a, b, relation, count) for a, b, relation, count in links)
    batch_nos = _batch_nos(session, batches)
    return Trace(
        direction="forward", start=nodes[start], nodes=list(nodes.values()), edges=edges,
        code_counts=_counts(code_counts(session, batches), batch_nos),
        shipments=shipment_lines(session, per, batch_nos), generated_at=clock.now(),
    )  # fmt: skip


def batch_ids_of(trace: Trace) -> set[int]:
    """The batches of a trace (their row ids), for :func:`units`."""
    return {int(n.id.split(":")[1]) for n in trace.nodes if n.kind == "batch"}
