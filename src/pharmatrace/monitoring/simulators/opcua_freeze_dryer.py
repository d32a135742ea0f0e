"""A freeze-dryer (冻干机) as an OPC UA server on loopback (asyncua), for the tests and the demo.

One object per equipment code with Double variables — shelf temperature, product temperature, condenser
temperature, chamber pressure — whose NodeIds are the tag names (``ns=<idx>;s=FD-01.shelf_temperature``).
:meth:`FreezeDryerServer.write` sets a value with its source timestamp and status code as a PLC would, and keeps it
in the server's history (every value written, HistoryRead-able, OPC UA Part 11), which a collector reconnecting
back-fills from; ``sent`` records every value written, with its tag.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from asyncua import ua
from asyncua.server.history import HistoryStorageInterface
from asyncua.server.server import Server
from asyncua.ua.attribute_ids import AttributeIds

from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.simulators import free_port

NAMESPACE = "urn:pharmatrace:simulator:freeze-dryer"
SIGNALS = {
    "shelf_temperature": ("°C", -40.0),
    "product_temperature": ("°C", -35.0),
    "condenser_temperature": ("°C", -70.0),
    "chamber_pressure": ("Pa", 10.0),
}
GOOD = 0
UNCERTAIN = 0x40000000  # Uncertain (e.g. UncertainLastUsableValue is 0x40900000)
BAD_SENSOR_FAILURE = 0x808B0000


def _ua_time(moment: datetime) -> ua.DateTime:
    m = moment.astimezone(UTC)  # every microsecond kept (a float timestamp would round some away)
    return ua.DateTime(m.year, m.month, m.day, m.hour, m.minute, m.second, m.microsecond, tzinfo=UTC)


class FreezeDryerServer:
    """``async with FreezeDryerServer("FD-01") as sim:`` — ``sim.url``, ``sim.bindings()``, ``await sim.write(...)``."""

    def __init__(self, equipment: str = "FD-01", *, port: int | None = None, tag_suffix: str = "") -> None:
        self.equipment = equipment
        self.tag_suffix = tag_suffix  # tests: tags of their own beside the demo's
        self.port = port or free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/pharmatrace/freeze-dryer"
        self.sent: list[Reading] = []
        self._server = Server()
        self._nodes: dict[str, ua.NodeId] = {}
        self._index = 0

    def tag(self, signal: str) -> str:
        return f"{self.equipment}.{signal}{self.tag_suffix}"

    def address(self, signal: str) -> str:
        return f"ns={self._index};s={self.tag(signal)}"

    def bindings(self) -> list[Binding]:
        return [Binding(self.tag(signal), self.address(signal), "float") for signal in SIGNALS]

    async def __aenter__(self) -> Self:
        await self._server.init()
        self._history: HistoryStorageInterface = self._server.iserver.history_manager.storage
        self._server.set_endpoint(self.url)
        self._server.set_server_name(f"PharmaTrace simulated freeze-dryer {self.equipment}")
        self._server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self._index = await self._server.register_namespace(NAMESPACE)
        unit = await self._server.nodes.objects.add_object(self._index, self.equipment)
        for signal, (_, start) in SIGNALS.items():
            node = await unit.add_variable(ua.NodeId(ua.String(self.tag(signal)), ua.Int16(self._index)), signal, start,
                                           varianttype=ua.VariantType.Double)  # fmt: skip
            await node.write_attribute(
                AttributeIds.Historizing, ua.DataValue(ua.Variant(True, ua.VariantType.Boolean))
            )
            await node.set_attr_bit(AttributeIds.AccessLevel, ua.AccessLevel.HistoryRead)
            await node.set_attr_bit(AttributeIds.UserAccessLevel, ua.AccessLevel.HistoryRead)
            await self._history.new_historized_node(node.nodeid, period=None)
            self._nodes[signal] = node.nodeid
        await self._server.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._server.stop()

    async def write(
        self, signal: str, value: float, at: datetime | None = None, *, status: int = GOOD
    ) -> Reading:
        """Set ``signal`` to ``value`` with source time ``at`` (now) and ``status``, as the PLC would."""
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        data = ua.DataValue(
            ua.Variant(value, ua.VariantType.Double), StatusCode=ua.StatusCode(ua.UInt32(status)), SourceTimestamp=_ua_time(moment),
            ServerTimestamp=_ua_time(datetime.now(UTC)),
        )  # fmt: skip
        await self._server.write_attribute_value(self._nodes[signal], data)
        await self._history.save_node_value(self._nodes[signal], data)
        quality = "good" if status >> 30 == 0 else "uncertain" if status >> 30 == 1 else "bad"
        reading = Reading(self.tag(signal), moment, value, quality, status)
        self.sent.append(reading)
        return reading

    async def write_many(
        self, values: Iterable[tuple[str, float]], at: datetime | None = None
    ) -> list[Reading]:
        return [await self.write(signal, value, at) for signal, value in values]
