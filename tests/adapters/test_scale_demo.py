"""`pharmatrace serve --demo-scales`: the demo balances and the floor scale answer MT-SICS as the instruments in
the register."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest

from pharmatrace.adapters.scale import SyncScaleClient
from pharmatrace.adapters.simulators.demo import demo_balances
from pharmatrace.equipment.models import Equipment
from pharmatrace.mes import dispensing
from pharmatrace.storage.engine import Database


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.clause("TJ-6.3.2.2")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_demo_balances_answer_as_registered(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    balances = (("BAL-01", "127.0.0.1", free_port()), ("BAL-02", "127.0.0.1", free_port()))
    floor = ("SC-01", "127.0.0.1", free_port())
    endpoints = (*balances, floor)
    monkeypatch.setattr(dispensing, "DEMO_ENDPOINTS", balances)
    monkeypatch.setattr(dispensing, "DEMO_FLOOR_SCALE", floor)
    with db.sessions() as session:
        registered = {
            e.code: e
            for e in session.query(Equipment).filter(Equipment.code.in_(["BAL-01", "BAL-02", "SC-01"]))
        }
    with demo_balances(db) as serving:
        assert serving == [f"{code} {host}:{port}" for code, host, port in endpoints]
        for code, host, port in endpoints:
            with SyncScaleClient(host, port) as scale:
                assert scale.serial_number() == registered[code].serial_no
                weight = scale.weigh("S")
                assert weight.unit == registered[code].weight_unit and weight.value == 0
    # the floor scale as registered: 150 kg at 0.01 kg (the demo history weighs the herb drums on it)
    assert (registered["SC-01"].capacity, registered["SC-01"].readability) == (Decimal(150), Decimal("0.01"))
    assert registered["SC-01"].weight_unit == "kg"
    with pytest.raises(ConnectionRefusedError):  # stopped with the block
        socket.create_connection(("127.0.0.1", endpoints[0][2]), timeout=1).close()
