"""The MT-SICS client against the simulated balance and against misbehaving ones, over real TCP on loopback.

TJ-6.3.2.2.a: the weight comes from the balance's interface; anything that is not a clear, stable answer
is refused with a typed error, never guessed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from pharmatrace.adapters import scale as mtsics
from pharmatrace.adapters.scale import ScaleClient, SyncScaleClient, Weight, read_scale
from pharmatrace.adapters.simulators.mtsics import MtSicsSimulator, SimulatedScale
from pharmatrace.cli import app

pytestmark = pytest.mark.clause("TJ-6.3.2.2.a")

FAST = SimulatedScale(settle_time=0.05, stable_wait=0.5)


def run(scenario: Callable[[MtSicsSimulator, ScaleClient], Awaitable[None]], spec: SimulatedScale = FAST,
        **timeouts: float) -> None:  # fmt: skip
    async def main() -> None:
        async with MtSicsSimulator(spec) as sim, ScaleClient("127.0.0.1", sim.port, **timeouts) as scale:
            await scenario(sim, scale)

    asyncio.run(main())


@asynccontextmanager
async def fake_balance(
    replies: dict[str, bytes] | None = None, *, silent: bool = False
) -> AsyncIterator[int]:
    """A misbehaving balance: answers each command with the bytes given (CR LF not added; a reply without
    LF is followed by hanging up), ``ES`` to others, or never a word (``silent``)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                if silent:
                    continue
                reply = (replies or {}).get(line.decode().rstrip("\r\n"), b"ES\r\n")
                writer.write(reply)
                await writer.drain()
                if not reply.endswith(b"\n"):
                    break  # a reply cut off: the balance hangs up half-way
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- every command against the simulator ---------------------------------------------------------------


def test_stable_weight_as_a_decimal_with_the_scale_s_digits() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        sim.set_load(Decimal("100.004"))
        weight = await scale.stable_weight()
        assert weight == Weight(Decimal("100.00"), "g", stable=True)
        assert str(weight.value) == "100.00"  # the readability is kept, never a float
        assert await scale.weigh("S") == weight

    run(scenario)


def test_immediate_weight_is_dynamic_after_a_change_then_s_waits_for_stability() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        sim.set_load(Decimal("512.5"))
        dynamic = await scale.immediate_weight()
        assert (dynamic.value, dynamic.stable) == (Decimal("512.50"), False)
        started = time.monotonic()
        stable = await scale.weigh()
        assert stable.stable
        assert time.monotonic() - started >= 0.2  # it waited for the balance to settle
        assert (await scale.weigh("SI")).stable

    run(scenario, SimulatedScale(settle_time=0.3, stable_wait=2))


def test_s_asks_again_while_the_balance_answers_busy() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        sim.set_load(Decimal("75"))  # settles after 0.5 s; the balance gives up on S after 0.1 s
        assert (await scale.stable_weight()).value == Decimal("75.00")
        assert list(sim.commands).count("S") >= 2  # "S I" first, asked again

    run(scenario, SimulatedScale(settle_time=0.5, stable_wait=0.1), busy_retry=0.05)


def test_tare_then_net_preset_tare_and_clear_tare() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        sim.set_load(Decimal("35.2"))
        assert await scale.tare() == Weight(Decimal("35.20"), "g", stable=True)
        sim.set_load(Decimal("135.27"))
        assert (await scale.stable_weight()).value == Decimal("100.07")  # net
        assert (await scale.tare_weight()).value == Decimal("35.20")
        assert (await scale.preset_tare(Decimal("40"), "g")).value == Decimal("40.00")
        assert (await scale.stable_weight()).value == Decimal("95.27")
        await scale.clear_tare()
        assert (await scale.stable_weight()).value == Decimal("135.27")
        with pytest.raises(mtsics.ScaleCommandRefused) as refused:
            await scale.preset_tare(Decimal("1"), "kg")  # "TA L": not the balance's unit
        assert refused.value.code == "scale_command_refused"
        with pytest.raises(ValueError, match="non-negative"):
            await scale.preset_tare(Decimal("-1"), "g")

    run(scenario)


def test_zero_and_a_zero_outside_its_range() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        sim.set_load(Decimal("2"))
        await scale.zero()
        assert (await scale.stable_weight()).value == Decimal("0.00")
        sim.set_load(Decimal("500"))
        assert (await scale.stable_weight()).value == Decimal("498.00")
        with pytest.raises(mtsics.ScaleOutOfRange) as refused:
            await scale.zero()
        assert refused.value.code == "scale_out_of_range"
        assert "above the range" in str(refused.value)

    run(scenario)


@pytest.mark.clause("TJ-6.3.2.2.b")  # the serial number names the instrument in the weighing report
def test_serial_number_and_reset() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        assert await scale.serial_number() == "B123456789"
        sim.set_load(Decimal("10"))
        await scale.tare()
        assert await scale.reset() == "B123456789"
        assert (await scale.tare_weight()).value == Decimal("0.00")
        assert list(sim.commands)[-3:] == ["T", "@", "TA"]

    run(scenario)


def test_overload_and_underload_are_typed_errors() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        sim.set_load(Decimal("6300"))
        for read in (scale.stable_weight, scale.immediate_weight):
            with pytest.raises(mtsics.ScaleOverload) as over:
                await read()
            assert over.value.code == "scale_overload"
            assert "overloaded" in str(over.value)
        sim.set_load(Decimal("-5"))
        with pytest.raises(mtsics.ScaleUnderload) as under:
            await scale.stable_weight()
        assert under.value.code == "scale_underload"
        sim.set_load(Decimal("1"))
        assert (await scale.stable_weight()).value == Decimal("1.00")  # the connection is still good

    run(scenario)


def test_an_unknown_command_is_refused_by_the_balance() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        with pytest.raises(mtsics.ScaleCommandRefused) as refused:
            await scale.command("XYZ")
        assert "ES, syntax error" in str(refused.value)
        with pytest.raises(ValueError, match="not an MT-SICS command"):
            await scale.command("s\r\nZ")  # never sent: it would smuggle a second command
        assert list(sim.commands) == ["XYZ"]

    run(scenario)


# --- time-outs -----------------------------------------------------------------------------------------


def test_no_stable_weight_within_the_time_out_when_the_balance_answers_busy() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        sim.set_unstable(True)
        started = time.monotonic()
        with pytest.raises(mtsics.ScaleNotStable) as busy:
            await scale.stable_weight()
        assert 0.4 <= time.monotonic() - started < 3
        assert busy.value.code == "scale_not_stable"
        assert isinstance(busy.value, mtsics.ScaleBusy)
        assert "no stable weight within 0.5 s" in str(busy.value)
        with pytest.raises(mtsics.ScaleNotStable):
            await scale.tare()

    run(scenario, SimulatedScale(settle_time=0, stable_wait=0.1), stable_timeout=0.5, busy_retry=0.05)


def test_no_stable_weight_within_the_time_out_when_the_balance_withholds_its_reply() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        sim.set_unstable(True)  # the balance holds "S" for 10 s; the client waits 0.3 + 0.2 s
        started = time.monotonic()
        with pytest.raises(mtsics.ScaleNotStable, match=r"no stable weight within 0\.3 s"):
            await scale.stable_weight()
        assert time.monotonic() - started < 3
        # the connection was dropped (a late "S I" must not answer the next command); the next one reconnects
        sim.set_unstable(False)
        sim.set_load(Decimal("3"))
        assert (await scale.immediate_weight()).value == Decimal("3.00")

    run(scenario, SimulatedScale(settle_time=0, stable_wait=10), stable_timeout=0.3, reply_timeout=0.2)


def test_a_caller_that_gives_up_does_not_leave_a_late_reply_for_the_next_command() -> None:
    async def scenario(sim: MtSicsSimulator, scale: ScaleClient) -> None:
        sim.set_load(Decimal("5"))
        sim.set_unstable(True)  # "S" is held for 0.4 s, then answered "S I"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(scale.stable_weight(), 0.1)
        sim.set_unstable(False)
        await asyncio.sleep(0.5)  # the late "S I" went to the dropped connection
        assert await scale.serial_number() == "B123456789"
        assert (await scale.immediate_weight()).value == Decimal("5.00")

    run(scenario, SimulatedScale(settle_time=0, stable_wait=0.4))


def test_a_balance_that_does_not_answer() -> None:
    async def main() -> None:
        async with fake_balance(silent=True) as port:
            scale = ScaleClient("127.0.0.1", port, reply_timeout=0.2)
            with pytest.raises(mtsics.ScaleNotResponding) as silent:
                await scale.serial_number()
            assert silent.value.code == "scale_not_responding"
            assert "did not answer “I4” within 0.2 s" in str(silent.value)
            await scale.close()
        with pytest.raises(mtsics.ScaleNotResponding, match="Cannot connect"):
            await ScaleClient("127.0.0.1", free_port(), connect_timeout=1).stable_weight()

    asyncio.run(main())


def test_time_outs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="stable_timeout"):
        ScaleClient("127.0.0.1", 1, stable_timeout=0)


# --- replies that do not fit ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        b"S S     100.00\r\n",  # no unit
        b"S S     1,00 g\r\n",  # not a decimal number
        b"S Q     100.00 g\r\n",  # no such status
        b"S S\r\n",  # a stable weight without a weight
        b"T S     100.00 g\r\n",  # the answer to another command
        b"S S     100.00 g\n",  # LF without CR
        b"S S \xb5100.00 g\r\n",  # not ASCII
        b"S S     100.00 g\x00\r\n",  # a control character
        b"hello\r\n",
        b"\r\n",
        b"S S   100.00 g",  # cut off: the balance closed the line half-way
    ],
)
def test_a_malformed_reply_is_refused_with_a_clear_error(reply: bytes) -> None:
    async def main() -> None:
        async with fake_balance({"S": reply}) as port:
            scale = ScaleClient("127.0.0.1", port, reply_timeout=0.5, stable_timeout=0.5)
            with pytest.raises(mtsics.ScaleProtocolError) as malformed:
                await scale.stable_weight()
            assert malformed.value.code == "scale_protocol_error"
            assert "answered “S” with" in str(malformed.value)
            assert "which is not an MT-SICS reply" in str(malformed.value)
            await scale.close()

    asyncio.run(main())


def test_an_endless_reply_is_refused() -> None:
    async def main() -> None:
        async with (
            fake_balance({"SI": b"S S " + b" " * 2000 + b"1.00 g\r\n"}) as port,
            ScaleClient("127.0.0.1", port, reply_timeout=0.5) as scale,
        ):
            with pytest.raises(mtsics.ScaleProtocolError, match="longer than 256 characters"):
                await scale.immediate_weight()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("reply", "error", "text"),
    [
        (b"ES\r\n", mtsics.ScaleCommandRefused, "ES, syntax error"),
        (b"ET\r\n", mtsics.ScaleCommandRefused, "ET, transmission error"),
        (b"EL\r\n", mtsics.ScaleCommandRefused, "EL, logical error"),
        (b"S I\r\n", mtsics.ScaleBusy, "cannot execute “SI” now"),
        (b"S A\r\n", mtsics.ScaleProtocolError, "not an MT-SICS reply"),
    ],
)
def test_error_replies_are_typed(reply: bytes, error: type[mtsics.ScaleError], text: str) -> None:
    async def main() -> None:
        async with (
            fake_balance({"SI": reply}) as port,
            ScaleClient("127.0.0.1", port, reply_timeout=0.5) as scale,
        ):
            with pytest.raises(error) as refused:
                await scale.immediate_weight()
            assert type(refused.value) is error
            assert text in str(refused.value)

    asyncio.run(main())


def test_a_negative_weight_with_its_sign_apart_and_a_serial_number_in_quotes() -> None:
    async def main() -> None:
        replies = {"SI": b"S D -     12.5 kg\r\n", "I4": b'I4 A "0123456789"\r\n', "@": b"I4 A 0123\r\n"}
        async with fake_balance(replies) as port, ScaleClient("127.0.0.1", port) as scale:
            assert await scale.immediate_weight() == Weight(Decimal("-12.5"), "kg", stable=False)
            assert await scale.serial_number() == "0123456789"
            with pytest.raises(mtsics.ScaleProtocolError):
                await scale.reset()

    asyncio.run(main())


# --- outside asyncio: the sync wrapper and the command line ----------------------------------------------


@contextmanager
def balance_in_thread(load: str) -> Iterator[MtSicsSimulator]:
    with MtSicsSimulator(SimulatedScale(settle_time=0.05, stable_wait=1)).running_in_thread() as sim:
        sim.set_load(Decimal(load))
        yield sim


def test_the_sync_client_keeps_one_connection() -> None:
    with balance_in_thread("88.8") as sim, SyncScaleClient("127.0.0.1", sim.port) as scale:
        assert scale.serial_number() == "B123456789"
        assert scale.stable_weight().value == Decimal("88.80")
        assert scale.tare().value == Decimal("88.80")
        assert scale.weigh("SI").value == Decimal("0.00")
        scale.clear_tare()
        assert scale.tare_weight().value == Decimal("0.00")
        assert scale.preset_tare(Decimal("8.8"), "g").value == Decimal("8.80")
        assert scale.immediate_weight().value == Decimal("80.00")
        scale.zero()
        assert scale.reset() == "B123456789"
    with balance_in_thread("1.234") as sim:
        assert read_scale("127.0.0.1", sim.port) == Weight(Decimal("1.23"), "g", stable=True)


def test_scale_read_on_the_command_line() -> None:
    runner = CliRunner()
    with balance_in_thread("250.456") as sim:
        result = runner.invoke(app, ["scale", "read", "--port", str(sim.port), "--json"])
        assert result.exit_code == 0, result.output
        reading = json.loads(result.output)
        assert (reading["value"], reading["unit"], reading["stable"], reading["command"]) == (
            "250.46", "g", True, "S")  # fmt: skip
        result = runner.invoke(app, ["scale", "read", "--port", str(sim.port), "--command", "SI"])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("250.46 g  (stable, ")
        result = runner.invoke(app, ["scale", "read", "--port", str(sim.port), "--command", "T"])
        assert result.exit_code == 2
    result = runner.invoke(app, ["scale", "read", "--port", str(free_port()), "--reply-timeout", "0.5"])
    assert result.exit_code == 2
    assert "error: Cannot connect to the scale at 127.0.0.1:" in result.output
