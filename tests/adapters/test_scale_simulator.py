"""The simulated MT-SICS balance, spoken to byte by byte over real TCP on loopback (ephemeral ports)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from pharmatrace.adapters.simulators.mtsics import MtSicsSimulator, SimulatedScale

pytestmark = pytest.mark.clause("TJ-6.3.2.2.a")

Talk = Callable[[str], Awaitable[str]]


def run(scenario: Callable[..., Awaitable[None]], spec: SimulatedScale | None = None) -> None:
    """Run ``scenario(simulator, talk)`` against a fresh simulator; ``talk`` sends one line, returns one."""

    async def main() -> None:
        async with MtSicsSimulator(spec or SimulatedScale(settle_time=0.1, stable_wait=0.5)) as sim:
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)

            async def talk(line: str) -> str:
                writer.write(line.encode("latin-1") + b"\r\n")
                await writer.drain()
                raw = await asyncio.wait_for(reader.readuntil(b"\n"), 5)
                assert raw.endswith(b"\r\n"), raw
                return raw[:-2].decode("ascii")

            try:
                await scenario(sim, talk)
            finally:
                writer.close()

    asyncio.run(main())


async def settled(sim: MtSicsSimulator) -> None:
    while not sim.stable:
        await asyncio.sleep(0.01)


def test_replies_have_the_mt_sics_shapes() -> None:
    async def scenario(sim: MtSicsSimulator, talk: Talk) -> None:
        assert await talk("S") == "S S       0.00 g"
        sim.set_load(Decimal("100.004"))
        await settled(sim)
        # the value right-aligned in 10 characters, one space, the unit
        assert await talk("S") == "S S     100.00 g"
        assert await talk("SI") == "S S     100.00 g"
        assert await talk("I4") == 'I4 A "B123456789"'
        assert await talk("TA") == "TA A       0.00 g"

    run(scenario)


def test_after_a_load_change_the_weight_is_dynamic_until_it_settles() -> None:
    async def scenario(sim: MtSicsSimulator, talk: Talk) -> None:
        sim.set_load(Decimal("250.5"))
        assert await talk("SI") == "S D     250.50 g"
        started = time.monotonic()
        assert await talk("S") == "S S     250.50 g"  # S waited for stability
        assert time.monotonic() - started >= 0.25
        assert await talk("SI") == "S S     250.50 g"

    run(scenario, SimulatedScale(settle_time=0.3, stable_wait=2))


def test_s_answers_busy_when_the_weight_does_not_settle_in_time() -> None:
    async def scenario(sim: MtSicsSimulator, talk: Talk) -> None:
        sim.set_unstable(True)
        started = time.monotonic()
        assert await talk("S") == "S I"
        assert 0.2 <= time.monotonic() - started < 2
        assert await talk("Z") == "Z I"
        assert await talk("T") == "T I"
        assert (await talk("SI")).startswith("S D ")
        sim.set_unstable(False)
        await settled(sim)
        assert await talk("S") == "S S       0.00 g"

    run(scenario, SimulatedScale(settle_time=0.05, stable_wait=0.2))


def test_the_load_is_rounded_to_the_readability() -> None:
    async def scenario(sim: MtSicsSimulator, talk: Talk) -> None:
        for load, shown in (("1.024", "1.00"), ("1.025", "1.00"), ("1.075", "1.10"), ("1.076", "1.10"),
                            ("-0.06", "-0.05"), ("6199.98", "6200.00")):  # fmt: skip
            sim.set_load(Decimal(load))
            assert await talk("S") == f"S S {shown:>10} g", load

    run(scenario, SimulatedScale(readability=Decimal("0.05"), settle_time=0, stable_wait=0.5))


def test_tare_then_net_and_the_tare_memory() -> None:
    async def scenario(sim: MtSicsSimulator, talk: Talk) -> None:
        sim.set_load(Decimal("35.2"))  # the empty container
        assert await talk("T") == "T S      35.20 g"
        assert await talk("S") == "S S       0.00 g"
        sim.set_load(Decimal("135.27"))  # container and material
        assert await talk("S") == "S S     100.07 g"
        assert await talk("TA") == "TA A      35.20 g"
        assert await talk("TA 40.004 g") == "TA A      40.00 g"  # a preset tare, rounded to d
        assert await talk("S") == "S S      95.27 g"
        assert await talk("TA 1 kg") == "TA L"  # another unit than the balance's
        assert await talk("TA 9999 g") == "TA L"  # above capacity
        assert await talk("TA abc g") == "ES"
        assert await talk("TAC") == "TAC A"
        assert await talk("S") == "S S     135.27 g"
        sim.set_load(Decimal("-1"))
        assert await talk("T") == "T -"  # nothing to tare below zero

    run(scenario, SimulatedScale(settle_time=0.02, stable_wait=1))


def test_zero_within_the_zero_range_clears_the_tare() -> None:
    async def scenario(sim: MtSicsSimulator, talk: Talk) -> None:
        sim.set_load(Decimal("3.5"))  # residue on the pan, within 2 % of 6200 g
        assert await talk("T") == "T S       3.50 g"
        assert await talk("Z") == "Z A"
        assert await talk("TA") == "TA A       0.00 g"
        assert await talk("S") == "S S       0.00 g"
        sim.set_load(Decimal("13.5"))
        assert await talk("S") == "S S      10.00 g"
        sim.set_load(Decimal("125"))  # beyond +2 % of the capacity from the power-on zero
        assert await talk("Z") == "Z +"
        sim.set_load(Decimal("-125"))
        assert await talk("Z") == "Z -"

    run(scenario, SimulatedScale(settle_time=0.02, stable_wait=1))


def test_overload_above_capacity_plus_9d_and_underload_below_the_zero_point() -> None:
    async def scenario(sim: MtSicsSimulator, talk: Talk) -> None:
        sim.set_load(Decimal("6200.09"))  # Max + 9 d still shows
        assert await talk("S") == "S S    6200.09 g"
        sim.set_load(Decimal("6200.10"))
        assert await talk("S") == "S +"
        assert await talk("SI") == "S +"
        sim.set_load(Decimal("-0.20"))  # 20 d below zero still shows
        assert await talk("S") == "S S      -0.20 g"
        sim.set_load(Decimal("-0.21"))
        assert await talk("S") == "S -"
        assert await talk("SI") == "S -"

    run(scenario, SimulatedScale(settle_time=0, stable_wait=0.5))


def test_reset_answers_the_serial_number_and_clears_the_tare() -> None:
    async def scenario(sim: MtSicsSimulator, talk: Talk) -> None:
        sim.set_load(Decimal("20"))
        assert await talk("T") == "T S      20.00 g"
        assert await talk("@") == 'I4 A "SIM-42"'
        assert await talk("TA") == "TA A       0.00 g"
        assert await talk("S") == "S S      20.00 g"

    run(scenario, SimulatedScale(serial_number="SIM-42", settle_time=0, stable_wait=0.5))


def test_unknown_and_malformed_commands_get_the_mt_sics_errors() -> None:
    async def scenario(sim: MtSicsSimulator, talk: Talk) -> None:
        assert await talk("s") == "ES"  # commands are upper case
        assert await talk("XYZ") == "ES"
        assert await talk("") == "ES"
        assert await talk("S 5") == "ES"
        assert await talk("S\xb5") == "ET"  # not ASCII: a transmission error
        assert await talk("S\x07") == "ET"
        assert await talk("S") == "S S       0.00 g"  # the conversation goes on

    run(scenario)


def test_the_simulator_only_commands_set_the_load_and_the_stability() -> None:
    async def scenario(sim: MtSicsSimulator, talk: Talk) -> None:
        assert await talk("XLOAD 512.345") == "XLOAD A"
        assert await talk("SI") == "S D     512.34 g"  # half to even
        await settled(sim)
        assert await talk("S") == "S S     512.34 g"
        assert await talk("XUNSTABLE 1") == "XUNSTABLE A"
        assert await talk("S") == "S I"
        assert await talk("XUNSTABLE 0") == "XUNSTABLE A"
        assert await talk("XLOAD lots") == "EL"
        assert await talk("XUNSTABLE 2") == "ES"

    run(scenario, SimulatedScale(settle_time=0.05, stable_wait=0.2))


def test_several_clients_share_one_balance() -> None:
    async def main() -> None:
        async with MtSicsSimulator(SimulatedScale(settle_time=0.3, stable_wait=2)) as sim:
            streams = [await asyncio.open_connection("127.0.0.1", sim.port) for _ in range(3)]

            async def talk(index: int, line: str) -> str:
                reader, writer = streams[index]
                writer.write(line.encode() + b"\r\n")
                await writer.drain()
                return (await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)).decode().rstrip()

            sim.set_load(Decimal("42"))
            waiting = asyncio.create_task(talk(0, "S"))  # held until the weight settles
            await asyncio.sleep(0.05)
            assert not waiting.done()
            assert await talk(1, "SI") == "S D      42.00 g"  # another client is served meanwhile
            assert await waiting == "S S      42.00 g"
            assert await talk(2, "T") == "T S      42.00 g"
            assert await talk(1, "S") == "S S       0.00 g"  # one balance: the tare holds for all
            for _, writer in streams:
                writer.close()

    asyncio.run(main())


def test_stop_closes_every_connection_and_the_port() -> None:
    async def main() -> None:
        sim = MtSicsSimulator(SimulatedScale(settle_time=0, stable_wait=5))
        await sim.start()
        port = sim.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sim.set_unstable(True)
        writer.write(b"S\r\n")  # a command still waiting for stability when the balance goes down
        await writer.drain()
        await asyncio.sleep(0.05)
        await asyncio.wait_for(sim.stop(), 3)
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed, no reply
        writer.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises(RuntimeError):
            _ = sim.port

    asyncio.run(main())


def test_a_balance_that_cannot_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="readability"):
        SimulatedScale(capacity=Decimal("1"), readability=Decimal("1"))
    with pytest.raises(ValueError, match="readability"):
        SimulatedScale(readability=Decimal("0"))
    with pytest.raises(ValueError, match="serial number"):
        SimulatedScale(serial_number='A"B')
    with pytest.raises(ValueError, match="finite Decimal"):
        MtSicsSimulator().set_load(Decimal("NaN"))


def test_running_in_a_thread_for_callers_outside_asyncio() -> None:
    import socket

    with MtSicsSimulator(SimulatedScale(settle_time=0)).running_in_thread() as sim:
        sim.set_load(Decimal("7.5"))  # from this (another) thread
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
            conn.sendall(b"S\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                reply += conn.recv(64)
        port = sim.port
    assert reply == b"S S       7.50 g\r\n"
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
