"""Quantities as people read them."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal


def plain_number(value: Decimal | None) -> str | None:
    """``Decimal('5000.000')`` → ``'5000'``, ``Decimal('0.000100')`` → ``'0.0001'``: no trailing zeros, no exponent
    (``Decimal.normalize`` alone gives ``'5E+3'``)."""
    if value is None:
        return None
    return format(value.normalize(), "f")


def round_gbt8170(value: Decimal, quantum: Decimal | int) -> Decimal:
    """Round once by GB/T 8170-2008 (数值修约): below 5 drop, above 5 raise, exactly 5 to the even digit
    (四舍六入五成双). ``quantum`` is the unit to round to (``Decimal("0.01")``) or a number of decimal places.
    Negative values round their absolute value, which round-half-even does by symmetry: ``-0.0365`` →
    ``-0.036``. Comparisons with limits use the unrounded value (全数值比较法); rounding is for showing."""
    unit = Decimal(1).scaleb(-quantum) if isinstance(quantum, int) else quantum
    return value.quantize(unit, rounding=ROUND_HALF_EVEN)
