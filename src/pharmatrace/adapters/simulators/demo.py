"""The demo plant's balances, simulated: ``pharmatrace serve --demo-scales`` (what ``make demo`` runs).

Each balance and scale the demo registers an MT-SICS address for (``mes.dispensing.DEMO_ENDPOINTS``, the
balances, and ``DEMO_FLOOR_SCALE``, the 150 kg floor scale SC-01) answers there as the instrument in the register
does — capacity, readability, unit and serial number — so a visitor can weigh in the browser. The load is changed with the simulator-only command ``XLOAD <value>``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal

from sqlalchemy import select

from pharmatrace.adapters.simulators.mtsics import MtSicsSimulator, SimulatedScale
from pharmatrace.equipment.models import Equipment
from pharmatrace.storage.engine import Database


@contextlib.contextmanager
def demo_balances(db: Database) -> Iterator[list[str]]:
    """Serve the simulated demo balances while the block runs; yields "CODE host:port" for each."""
    from pharmatrace.mes import dispensing

    endpoints = (*dispensing.DEMO_ENDPOINTS, dispensing.DEMO_FLOOR_SCALE)
    with db.sessions() as session:
        found = {
            e.code: e
            for e in session.scalars(
                select(Equipment).where(Equipment.code.in_([c for c, _, _ in endpoints]))
            )
        }
        specs = [
            (code, host, port, SimulatedScale(
                capacity=found[code].capacity or Decimal("6200"), readability=found[code].readability or Decimal("0.01"),
                unit=found[code].weight_unit or "g", serial_number=found[code].serial_no,
            ))
            for code, host, port in endpoints if code in found
        ]  # fmt: skip
    with contextlib.ExitStack() as stack:
        for _code, host, port, spec in specs:
            stack.enter_context(MtSicsSimulator(spec, host=host, port=port).running_in_thread())
        yield [f"{code} {host}:{port}" for code, host, port, _ in specs]
