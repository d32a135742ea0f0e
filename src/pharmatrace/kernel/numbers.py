"""Quantities as people read them."""

from __future__ import annotations

from decimal import Decimal


def plain_number(value: Decimal | None) -> str | None:
    """``Decimal('5000.000')`` → ``'5000'``, ``Decimal('0.000100')`` → ``'0.0001'``: no trailing zeros, no exponent
    (``Decimal.normalize`` alone gives ``'5E+3'``)."""
    if value is None:
        return None
    return format(value.normalize(), "f")
