"""A purified-water system (纯化水系统) as a Modbus TCP device on loopback (pymodbus), for the tests and the demo.

Holding registers, signed 16-bit, scaled by their decimals: conductivity (µS/cm, 2 decimals), TOC (ppb, 0),
loop temperature (°C, 1), flow (m³/h, 2), ozone on (0/1) — registers 100–104. The same utilities PLC holds the
compressed air and pure steam at their points of use (TJ-6.8, :data:`UTILITY_SIGNALS`, registers 110–113):
compressed-air pressure (MPa, 2) and pressure dew point (°C, 1), pure-steam temperature (°C, 1) and condensate
conductivity (µS/cm, 2); and the hot water-for-injection loop (注射用水, TJ-6.7, :data:`WFI_SIGNALS`, registers
120–123) at its point of use: conductivity compensated to 25 °C (µS/cm, 2), TOC (ppb, 0), loop temperature (°C, 1,
a hot loop runs at 80 °C) and flow (m³/h, 2). Those are served always, bound only through
:meth:`WaterSystemDevice.utility_bindings` and :meth:`WaterSystemDevice.wfi_bindings`.
:meth:`WaterSystemDevice.set` changes a register as the PLC would; every read is answered from the current values.
"""

from __future__ import annotations

from decimal import Decimal
from types import TracebackType
from typing import Self

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.simulators import free_port

# signal: (register, data type, decimals, unit, initial value)
SIGNALS: dict[str, tuple[int, str, int, str, Decimal]] = {
    "conductivity": (100, "decimal", 2, "µS/cm", Decimal("0.85")),
    "toc": (101, "int", 0, "ppb", Decimal(120)),
    "loop_temperature": (102, "decimal", 1, "°C", Decimal("25.0")),
    "flow": (103, "decimal", 2, "m³/h", Decimal("3.20")),
    "ozone_on": (104, "bool", 0, "", Decimal(1)),
}
UTILITY_SIGNALS: dict[str, tuple[int, str, int, str, Decimal]] = {
    "compressed_air_pressure": (110, "decimal", 2, "MPa", Decimal("0.62")),
    "compressed_air_dew_point": (111, "decimal", 1, "°C", Decimal("-42.0")),
    "pure_steam_temperature": (112, "decimal", 1, "°C", Decimal("133.0")),
    "pure_steam_condensate_conductivity": (113, "decimal", 2, "µS/cm", Decimal("0.45")),
}
WFI_SIGNALS: dict[str, tuple[int, str, int, str, Decimal]] = {
    "wfi_conductivity": (120, "decimal", 2, "µS/cm", Decimal("0.55")),
    "wfi_toc": (121, "int", 0, "ppb", Decimal(45)),
    "wfi_loop_temperature": (122, "decimal", 1, "°C", Decimal("80.5")),
    "wfi_flow": (123, "decimal", 2, "m³/h", Decimal("6.50")),
}
ALL_SIGNALS = SIGNALS | UTILITY_SIGNALS | WFI_SIGNALS


class WaterSystemDevice:
    """``async with WaterSystemDevice("RM-PREP") as sim:`` — ``sim.port``, ``sim.bindings()``, ``sim.set(...)``."""

    def __init__(
        self, equipment: str = "RM-PREP", *, port: int | None = None, device_id: int = 1, tag_suffix: str = ""
    ) -> None:
        self.equipment = equipment
        self.tag_suffix = tag_suffix  # tests: tags of their own beside the demo's
        self.port = port or free_port()
        self.device_id = device_id
        self.registers: dict[int, int] = {}
        for signal, (_, _, _, _, initial) in ALL_SIGNALS.items():
            self.set(signal, initial)
        device = SimDevice(
            id=device_id,
            simdata=[SimData(0, count=200, values=0, datatype=DataType.REGISTERS)],
            action=self._answer,
        )
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))

    def bindings(self) -> list[Binding]:
        return self._bindings(SIGNALS)

    def utility_bindings(self) -> list[Binding]:
        """The compressed air's and pure steam's registers (TJ-6.8), named like the water point's tags."""
        return self._bindings(UTILITY_SIGNALS)

    def wfi_bindings(self) -> list[Binding]:
        """The water-for-injection loop's registers (TJ-6.7): ``wfi_…`` signals, the WFI system's tags."""
        return self._bindings(WFI_SIGNALS)

    def _bindings(self, signals: dict[str, tuple[int, str, int, str, Decimal]]) -> list[Binding]:
        return [
            Binding(f"{self.equipment}.{signal}{self.tag_suffix}", f"hr:{register}", kind, decimals)
            for signal, (register, kind, decimals, _, _) in signals.items()
        ]

    def set(self, signal: str, value: Decimal | int | bool) -> int:
        """Put ``value`` (in engineering units) into the signal's register; returns the raw register."""
        register, _, decimals, _, _ = ALL_SIGNALS[signal]
        raw = int(Decimal(int(value) if isinstance(value, bool) else value).scaleb(decimals))
        if not -32768 <= raw <= 32767:
            raise ValueError(f"{signal}: {value} does not fit a signed 16-bit register")
        self.registers[register] = raw & 0xFFFF
        return raw

    async def _answer(
        self, function_code: int, start_address: int, address: int, count: int, current: list[int],
        set_values: object,
    ) -> None:  # fmt: skip
        for register, raw in self.registers.items():
            if start_address <= register < start_address + len(current):
                current[register - start_address] = raw

    async def __aenter__(self) -> Self:
        await self._server.serve_forever(background=True)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._server.shutdown()  # type: ignore[no-untyped-call]
