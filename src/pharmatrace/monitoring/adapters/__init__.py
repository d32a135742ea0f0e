"""Acquisition adapters, each a real protocol client: OPC UA (asyncua), MQTT (paho), Modbus TCP (pymodbus).

Every adapter is an async context manager: entering connects and subscribes (or starts polling), and from then on
puts :class:`pharmatrace.monitoring.historian.Reading` objects on its ``queue``, which a
:class:`pharmatrace.monitoring.collector.Collector` drains into the historian. A binding maps a tag's name to its
address at the source (the tag's ``address`` column).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Binding:
    """A tag as an adapter needs it: its name, address, data type and decimals."""

    tag: str
    address: str
    data_type: str = "float"
    decimals: int = 0
