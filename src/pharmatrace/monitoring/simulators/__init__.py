"""Simulated plant peers, real servers and publishers on loopback, for the tests and the demo.

Each simulator records what it sent (``sent``: :class:`pharmatrace.monitoring.historian.Reading` objects, with the
tag each address belongs to), so a test can compare the historian with the wire exactly (SH-8.4.1).
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass
from decimal import Decimal

from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import Value


@dataclass(frozen=True, slots=True)
class Point:
    """A simulated signal: where it is (its binding) and around which value it moves."""

    binding: Binding
    base: float
    amplitude: float = 1.0

    def value(self, step: int) -> Value:
        """A deterministic value for ``step``: decimals keep trailing zeros, floats use all their digits."""
        # every fifth step the base itself: a decimal then ends in zeros (21.50), which must stay
        wave = (
            self.base
            if step % 5 == 0
            else self.base + self.amplitude * math.sin(step / 3.0 + len(self.binding.tag))
        )
        kind = self.binding.data_type
        if kind == "decimal":
            return Decimal(repr(wave)).quantize(Decimal(1).scaleb(-self.binding.decimals))
        if kind == "int":
            return round(wave)
        if kind == "bool":
            return step % 2 == 0
        return wave + step * 1e-9  # a double with 15-17 significant digits


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
