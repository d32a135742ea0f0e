"""Calculation steps' formulas: a small evaluator over Decimal that accepts + − × ÷, parentheses, numbers and
names only — nothing reaches ``eval`` (TJ-6.4.3.3, TJ-10.1.4); batch number rules render as configured."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pharmatrace.kernel.numbers import round_gbt8170
from pharmatrace.mes import batch_numbers, formulas


@pytest.mark.clause("TJ-6.4.3.3")
def test_a_formula_computes_in_decimal_over_named_values() -> None:
    formula = formulas.parse("water_volume = 200 - concentrate_weight / 1.12")
    assert formula.target == "water_volume" and formula.names == ("concentrate_weight",)
    assert formulas.evaluate(formula, {"concentrate_weight": Decimal("33.6")}) == Decimal("170")
    exact = formulas.parse("x = 0.1 + 0.2")
    assert formulas.evaluate(exact, {}) == Decimal("0.3")  # no binary floating point
    nested = formulas.parse("y = -(a + b) * (c - 2) / 4")
    assert formulas.evaluate(nested, {"a": Decimal(1), "b": Decimal(3), "c": Decimal(6)}) == Decimal(-4)
    third = formulas.evaluate(formulas.parse("z = 1 / 3 * 100"), {})
    assert str(round_gbt8170(third, 2)) == "33.33"


@pytest.mark.clause("TJ-6.4.3.3")
@pytest.mark.parametrize(
    "text",
    [
        "a = __import__('os').system('true')",
        "a = b.c",
        "a = b ** 2",
        "a = b % 2",
        "a = b // 2",
        "a = 'text'",
        "a = [1, 2]",
        "a = (lambda: 1)()",
        "a = b if c else d",
        "a = b < c",
        "a = True",
        "a = 1; b = 2",
        "a == b",
        "1 = a",
        "a = ",
        "a = b = c",
    ],
)
def test_anything_else_in_a_formula_is_refused(text: str) -> None:
    with pytest.raises(formulas.FormulaInvalid):
        formulas.parse(text)


@pytest.mark.clause("TJ-6.4.3.3")
def test_a_missing_value_or_a_division_by_zero_is_refused() -> None:
    formula = formulas.parse("r = a / b")
    with pytest.raises(formulas.FormulaInvalid, match="needs the value b"):
        formulas.evaluate(formula, {"a": Decimal(1)})
    with pytest.raises(formulas.FormulaInvalid, match="divides by zero"):
        formulas.evaluate(formula, {"a": Decimal(1), "b": Decimal(0)})


@pytest.mark.clause("TJ-6.4.3.2", "SH-6.2.1")
def test_a_batch_number_rule_renders_in_beijing_time() -> None:
    moment = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 2026-12-01 01:00 in Beijing
    assert batch_numbers.render("DH{yy}{mm}{seq:03}", moment, 7) == "DH2612007"
    assert batch_numbers.render("DH{yyyy}{mm}{dd}-{seq:04}", moment, 12) == "DH20261201-0012"
    assert batch_numbers.render("DH{yy}{mm}{seq:03}", moment, None) == "DH2612#"
