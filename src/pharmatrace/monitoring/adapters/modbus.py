"""Modbus TCP acquisition (pymodbus): polling holding registers at the tags' scan rate (SH-8.1, SH-8.4.1).

A tag's address is ``hr:<register>`` (a signed 16-bit holding register) or ``hr:<register>:u16`` (unsigned); the
value is the register scaled by the tag's decimals (``215`` with 1 decimal is ``21.5`` exactly, a Decimal).
Modbus carries no timestamp: the source time is the moment the device's answer arrived, the same for every tag of
one poll. A poll that fails (time-out, exception response) is not skipped: every tag of it gets a Bad reading
without a value, with the Modbus exception code as its status code (0 for no answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Self

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from pharmatrace.kernel import clock
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import Reading, Value

log = logging.getLogger(__name__)
TIMEOUT_S = 2.0
MAX_SPAN = 125  # registers in one read (Modbus application protocol, function 3)


@dataclass(frozen=True, slots=True)
class Register:
    number: int
    signed: bool

    @classmethod
    def parse(cls, address: str) -> Register:
        parts = address.split(":")
        if (
            parts[0] != "hr"
            or len(parts) not in (2, 3)
            or (len(parts) == 3 and parts[2] not in ("s16", "u16"))
        ):
            raise ValueError(f"not a holding-register address: {address}")
        number = int(parts[1])
        if not 0 <= number <= 65535:
            raise ValueError(f"register out of range: {address}")
        return cls(number, len(parts) == 2 or parts[2] == "s16")


def scaled(binding: Binding, raw: int, signed: bool) -> Value:
    number = raw - 65536 if signed and raw >= 32768 else raw
    if binding.data_type == "bool":
        return number != 0
    if binding.data_type == "int":
        return number
    exact = Decimal(number).scaleb(-binding.decimals)
    return exact if binding.data_type == "decimal" else float(exact)


class ModbusAdapter:
    """``async with ModbusAdapter(host, port, bindings, interval_s=1.0) as adapter:`` readings on ``adapter.queue``;
    without ``interval_s`` the caller polls with :meth:`poll_once`."""

    def __init__(
        self,
        host: str,
        port: int,
        bindings: Iterable[Binding],
        *,
        device_id: int = 1,
        interval_s: float | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.bindings = [(binding, Register.parse(binding.address)) for binding in bindings]
        self.device_id = device_id
        self.interval_s = interval_s
        self.queue: asyncio.Queue[Reading] = asyncio.Queue()
        self.timeout_s = timeout_s
        self._client = AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        if not await asyncio.wait_for(self._client.connect(), self.timeout_s * 2):
            raise ConnectionError("Modbus device did not answer")
        if self.interval_s is not None:
            self._task = asyncio.create_task(self._poll_forever(self.interval_s), name="modbus-poll")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._client.close()

    async def _poll_forever(self, interval: float) -> None:
        while True:
            for reading in await self.poll_once():
                self.queue.put_nowait(reading)
            await asyncio.sleep(interval)

    async def poll_once(self) -> list[Reading]:
        """One poll of every tag, grouped into as few reads as the register span allows."""
        out: list[Reading] = []
        pending = sorted(self.bindings, key=lambda item: item[1].number)
        while pending:
            first = pending[0][1].number
            group = [item for item in pending if item[1].number - first < MAX_SPAN]
            pending = pending[len(group) :]
            count = group[-1][1].number - first + 1
            code = 0
            registers: list[int] | None = None
            try:
                answer = await asyncio.wait_for(
                    self._client.read_holding_registers(first, count=count, device_id=self.device_id),
                    self.timeout_s * 2,
                )
                if answer.isError():
                    code = int(getattr(answer, "exception_code", 0) or 0)
                else:
                    registers = list(answer.registers)
            except (ModbusException, TimeoutError, ConnectionError) as error:
                log.warning("Modbus poll failed: %s", error)
            at = clock.now()
            for binding, register in group:
                if registers is None:
                    out.append(Reading(binding.tag, at, None, "bad", code, server_time=at))
                else:
                    value = scaled(binding, registers[register.number - first], register.signed)
                    out.append(Reading(binding.tag, at, value, "good", None, server_time=at))
        return out
