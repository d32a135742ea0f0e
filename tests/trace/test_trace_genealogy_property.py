"""Forward and backward traces equal a brute-force walk on random genealogies (property-based; issue 10 "tests
that must exist"; SH-6.2.5, TJ-9.1).

Two levels: the set-at-a-time walk (:func:`pharmatrace.trace.genealogy.walk`) over an in-memory edge source
against a recursive closure, on many random graphs (cycles included); and the SQL edge source with the code
queries, on random genealogies built in one database (lots charged into batches, intermediates, finished lots
charged again, random aggregation trees of codes, shipped containers) against the same closure over the spec.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trace_steps import act, charge, commissioned, intermediate, new_batch, new_lot, ship_to, sscc_pool

from pharmatrace.storage.engine import Database
from pharmatrace.trace import genealogy, recall

Key = tuple[str, int]
KINDS = ("plot", "harvest", "herb_shipment", "material_lot", "intermediate_lot", "batch")


class MemoryEdges:
    """An edge source over a list of (upstream, downstream) pairs."""

    def __init__(self, edges: Collection[tuple[Key, Key]]) -> None:
        self.edges = edges
        self.calls = 0

    def upstream(self, kind: str, ids: Collection[int]) -> Iterator[tuple[str, int, int]]:
        self.calls += 1
        return ((a[0], a[1], b[1]) for a, b in self.edges if b[0] == kind and b[1] in ids)

    def downstream(self, kind: str, ids: Collection[int]) -> Iterator[tuple[str, int, int]]:
        self.calls += 1
        return ((b[0], b[1], a[1]) for a, b in self.edges if a[0] == kind and a[1] in ids)


def closure(edges: Collection[tuple[Key, Key]], start: Key, forward: bool) -> set[Key]:
    """Brute force: depth-first, one node at a time."""
    found = {start}

    def visit(node: Key) -> None:
        for a, b in edges:
            near, far = (a, b) if forward else (b, a)
            if near == node and far not in found:
                found.add(far)
                visit(far)

    visit(start)
    return found


node_keys = st.tuples(st.sampled_from(KINDS), st.integers(1, 6))


@pytest.mark.clause("SH-6.2.5", "TJ-9.1")
@settings(max_examples=200, deadline=None)
@given(edges=st.sets(st.tuples(node_keys, node_keys), max_size=40), start=node_keys)
def test_the_walk_equals_a_brute_force_closure(edges: set[tuple[Key, Key]], start: Key) -> None:
    for direction in ("forward", "backward"):
        source = MemoryEdges(edges)
        found, met = genealogy.walk(source, {start}, direction)  # type: ignore[arg-type]
        assert found == closure(edges, start, direction == "forward")
        assert met == {(a, b) for a, b in edges if (b if direction == "backward" else a) in found}
        assert source.calls <= len(KINDS) * (len(found) + 1)  # set at a time: per kind per round, not per row


@dataclass
class Spec:
    """One random genealogy: what was built, to walk by brute force."""

    tag: str
    lots: list[str]
    batches: list[str]
    material: set[tuple[Key, Key]] = field(
        default_factory=set
    )  # by name: ("lot", …), ("batch", …), ("int", …)
    parent: dict[str, str] = field(default_factory=dict)
    batch_of: dict[str, str] = field(default_factory=dict)
    shipped: dict[str, int] = field(default_factory=dict)  # code -> shipment id
    finished: str | None = None  # the batch whose finished lot was charged again


_counter = itertools.count(1)


def _build(db: Database, data: st.DataObject) -> Spec:
    tag = f"{next(_counter):03d}"
    lots = [f"GX{tag}L{i}" for i in range(data.draw(st.integers(1, 3)))]
    batches = [f"GX{tag}B{i}" for i in range(data.draw(st.integers(1, 3)))]
    spec = Spec(tag, lots, batches)
    names: dict[str, Key] = {}
    for i, batch_no in enumerate(batches):
        names[batch_no] = ("batch", i)
        new_batch(db, batch_no)
    for i, lot in enumerate(lots):
        new_lot(db, lot)
        for batch_no in data.draw(st.sets(st.sampled_from(batches), max_size=2)):
            charge(db, batch_no, lot)
            spec.material.add((("lot", i), names[batch_no]))
    for i, maker in enumerate(data.draw(st.lists(st.sampled_from(batches), max_size=2))):
        into = sorted(data.draw(st.sets(st.sampled_from(batches), max_size=2)))
        intermediate(db, f"GX{tag}I{i}", made_by=maker, charged_into=into)
        spec.material.add((names[maker], ("int", i)))
        spec.material.update((("int", i), names[b]) for b in into)
    for batch_no in data.draw(st.sets(st.sampled_from(batches), max_size=1)):  # a finished lot charged again
        new_lot(db, batch_no)
        spec.finished = batch_no
        into = data.draw(st.sets(st.sampled_from(batches), max_size=2))
        for target in sorted(into):
            charge(db, target, batch_no)
        spec.material.add((names[batch_no], ("fin", 0)))
        spec.material.update((("fin", 0), names[t]) for t in into)
    # codes: units per batch, some packed into cases (of the same batch), some cases onto one pallet
    n = itertools.count(1)
    for batch_no in batches:
        units = [f"69012340{tag}{next(n):05d}0000" for _ in range(data.draw(st.integers(0, 4)))]
        cases = [f"69012990{tag}{next(n):05d}0000" for _ in range(data.draw(st.integers(0, 2)))]
        if units:
            commissioned(db, units, batch_no=batch_no)
            spec.batch_of.update(dict.fromkeys(units, batch_no))
        if cases:
            commissioned(db, cases, level=3, code="6901299", batch_no=batch_no)
            spec.batch_of.update(dict.fromkeys(cases, batch_no))
            for unit in units:
                case = data.draw(st.sampled_from([None, *cases]))
                if case is not None:
                    act(db, "pack", [unit], parent=case)
                    spec.parent[unit] = case
    cases = sorted(c for c in spec.batch_of if c.startswith("69012990"))
    on_pallet = data.draw(st.sets(st.sampled_from(cases), max_size=3)) if cases else set()
    if on_pallet:
        pallet = f"3{next(n):013d}{tag}"  # the SSCC pool is numbered by its last 8 digits
        sscc_pool(db, [pallet])
        act(db, "commission", [pallet])
        for case in sorted(on_pallet):
            act(db, "pack", [case], parent=pallet)
            spec.parent[case] = pallet
        if data.draw(st.booleans()):
            spec.shipped[pallet] = ship_to(db, [pallet], customer="C-PROP-01")
    loose = [c for c in cases if c not in on_pallet]
    if loose and data.draw(st.booleans()):
        spec.shipped[loose[0]] = ship_to(db, [loose[0]], customer="C-PROP-02")
    return spec


def _shipment_of(spec: Spec, code: str) -> int | None:
    while True:
        if code in spec.shipped:
            return spec.shipped[code]
        if code not in spec.parent:
            return None
        code = spec.parent[code]


@pytest.mark.clause("SH-6.2.5", "TJ-9.1")
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_forward_and_backward_in_the_database_equal_a_brute_force_walk(
    db: Database, data: st.DataObject
) -> None:
    spec = _build(db, data)
    number = {("batch", i): b for i, b in enumerate(spec.batches)}
    with db.sessions() as session:
        for i, lot in enumerate(spec.lots):
            expected = {number[k] for k in closure(spec.material, ("lot", i), True) if k in number}
            found = genealogy.forward(session, lot)
            assert {n.ref for n in found.nodes if n.kind == "batch"} == expected, lot
            units = {u for u, b in spec.batch_of.items() if b in expected and u.startswith("69012340")}
            assert sum(c.count for c in found.code_counts if c.level == 1) == len(units)
            per: dict[int, int] = defaultdict(int)
            for unit in units:
                if (shipment := _shipment_of(spec, unit)) is not None:
                    per[shipment] += 1
            impact = recall.impact(session, lot)
            assert impact.units_total == len(units) and impact.shipped_units == sum(per.values())
            assert sorted(s.units for s in found.shipments) == sorted(
                n for (_, s), n in genealogy.unit_shipments(session, genealogy.batch_ids_of(found)).items()
            )
        for unit, batch_no in spec.batch_of.items():
            if not unit.startswith("69012340"):
                continue
            upstream = closure(spec.material, ("batch", spec.batches.index(batch_no)), False)
            found = genealogy.backward(session, unit, context=False)
            assert {n.ref for n in found.nodes if n.kind == "batch"} == {
                number[k] for k in upstream if k in number
            }
            lots = {spec.lots[k[1]] for k in upstream if k[0] == "lot"}
            if ("fin", 0) in upstream and spec.finished is not None:
                lots.add(spec.finished)
            assert {n.ref for n in found.nodes if n.kind == "material_lot" and n.ref.startswith("GX")} == lots
            chain, code = [], unit
            while code in spec.parent:
                code = spec.parent[code]
                chain.append(code)
            assert [n.ref for n in found.nodes if n.kind in ("case", "pallet")] == chain
            shipment = _shipment_of(spec, unit)
            assert len([n for n in found.nodes if n.kind == "shipment"]) == (shipment is not None)
