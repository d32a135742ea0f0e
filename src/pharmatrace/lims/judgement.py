"""Calculation, rounding and pass/fail judgement of a test result (TJ-7.2, TJ-7.3, TJ-10.5.2.a). Pure: no database.

The three steps a result goes through, in this order:

1. :func:`compute` — the result from the raw entries by the item's formula, at full precision (Decimal,
   28 significant digits), through the safe evaluator of :mod:`pharmatrace.mes.formulas` (never ``eval``).
   Nothing is rounded on the way: GB/T 8170 forbids rounding in several steps (不得多次连续修约).
2. :func:`report_value` — rounded ONCE, at the end, to the item's number of decimals by GB/T 8170-2008
   (四舍六入五成双, :func:`pharmatrace.kernel.numbers.round_gbt8170`), or left as it is (rule ``none``).
3. :func:`judge` — the reported value compared with the limits by the rounded-value comparison method
   (修约值比较法) that the Chinese Pharmacopoeia's general notices prescribe: the value, rounded to the digits
   the limit is stated in, is compared with the limit. The item's ``decimals`` are those digits (the spec
   author sets them to the limit's places; a limit with more places than ``decimals`` is refused when the
   item is written). With the rule ``none`` the unrounded value is compared (全数值比较法).

``conforms`` items (符合规定 / 不符合规定) pass or fail on the answer; ``text`` items (性状 and other descriptive
results) are never judged automatically: their verdict is ``review``, decided by the reviewer.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.numbers import plain_number, round_gbt8170
from pharmatrace.mes import formulas

LIMIT_TYPES = (
    "range",  # lower ≤ x ≤ upper
    "le",  # x ≤ upper (不得过)
    "ge",  # x ≥ lower (不得少于)
    "lt",  # x < upper (应小于)
    "gt",  # x > lower (应大于)
    "conforms",  # 符合规定 / 不符合规定
    "text",  # descriptive, judged by the reviewer
)
NUMERIC_LIMITS = ("range", "le", "ge", "lt", "gt")
ROUNDING_RULES = (
    "gbt8170",  # GB/T 8170-2008, rounded once to the item's decimals
    "none",  # no rounding: the value as computed or read is compared (全数值比较法)
)
CONFORMITY = ("conforms", "does_not_conform")
MAX_DECIMALS = 10

Outcome = Literal["pass", "fail", "review"]


class JudgementRefused(ValidationFailed):
    """A value that cannot be computed, rounded or judged as given (names what is wrong)."""

    code = "judgement_refused"


class Limits(Protocol):
    """What judging needs of a test item: the specification's item row or its schema both fit."""

    @property
    def limit_type(self) -> str: ...

    @property
    def lower(self) -> Decimal | None: ...

    @property
    def upper(self) -> Decimal | None: ...

    @property
    def decimals(self) -> int: ...

    @property
    def rounding(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one result against its item: ``pass``, ``fail`` or ``review`` (the reviewer decides).

    ``value`` is the value compared (the reported value) for numeric items, ``None`` otherwise; ``limit`` the
    limit as people read it (``98.0 ~ 102.0``, ``≤ 13.0``); ``reason`` an English msgid saying why."""

    outcome: Outcome
    value: Decimal | None
    limit: str
    reason: str


# --- 1. calculation --------------------------------------------------------------------------------------


def formula_inputs(formula: str) -> tuple[str, ...]:
    """The raw-input names a formula (``name = expression``) uses, in order of appearance; refused when it
    cannot be read (:class:`pharmatrace.mes.formulas.FormulaInvalid`)."""
    return _in_order(formulas.parse(formula))


def _in_order(parsed: formulas.Formula) -> tuple[str, ...]:
    first: dict[str, int] = {}
    for node in ast.walk(parsed.expression):
        if isinstance(node, ast.Name):
            first[node.id] = min(first.get(node.id, node.col_offset), node.col_offset)
    return tuple(sorted(parsed.names, key=lambda name: first[name]))


def compute(formula: str, raws: Mapping[str, Decimal]) -> Decimal:
    """The result of ``formula`` for the raw values ``raws``, unrounded (TJ-7.3: 按预先设置的公式进行计算).

    Every input of the formula must be given, and nothing else: a raw value the formula does not use is
    refused rather than silently ignored (a mistyped name would otherwise pass unnoticed)."""
    parsed = formulas.parse(formula)
    for name in raws:
        if name not in parsed.names:
            raise JudgementRefused(N_("{name} is not an input of the formula"), name=name)
    values: dict[str, Decimal] = {}
    for name in _in_order(parsed):
        if name not in raws:
            raise JudgementRefused(N_("The formula needs the value {name}"), name=name)
        value = Decimal(raws[name])
        if not value.is_finite():
            raise JudgementRefused(N_("The value {name} is not a number"), name=name)
        values[name] = value
    return formulas.evaluate(parsed, values)


# --- 2. rounding -----------------------------------------------------------------------------------------


def report_value(value: Decimal, decimals: int, rule: str = "gbt8170") -> Decimal:
    """The value as reported: rounded once to ``decimals`` places by GB/T 8170 (TJ-10.5.2.a), or unchanged
    with the rule ``none``. Pass the full-precision value: rounding an already rounded value again can
    give another result (15.4546 → 15, but 15.4546 → 15.455 → 15.46 → 15.5 → 16)."""
    if rule not in ROUNDING_RULES:
        raise JudgementRefused(N_("There is no rounding rule {rule}"), rule=rule)
    if not 0 <= decimals <= MAX_DECIMALS:
        raise JudgementRefused(N_("A result is reported with 0 to 10 decimal places"))
    value = Decimal(value)
    if not value.is_finite():
        raise JudgementRefused(N_("The result is not a number"))
    if rule == "none":
        return value
    return round_gbt8170(value, decimals)


# --- 3. judgement ----------------------------------------------------------------------------------------


def _shown(value: Decimal | None, decimals: int) -> str:
    """A limit with the item's places (13 with one decimal reads 13.0), as the standard writes it."""
    assert value is not None
    unit = Decimal(1).scaleb(-decimals)
    if value == value.quantize(unit):
        return format(value.quantize(unit), "f")
    return plain_number(value) or ""


def limit_text(item: Limits, requirement: str = "") -> str:
    """The limit as people read it: ``98.0 ~ 102.0``, ``≤ 13.0``, ``≥ 3.0``, ``< 0.50``, ``> 1``; for conforms
    and text items the written requirement."""
    kind, places = item.limit_type, item.decimals
    if kind == "range":
        return f"{_shown(item.lower, places)} ~ {_shown(item.upper, places)}"
    if kind in ("le", "lt"):
        return f"{'≤' if kind == 'le' else '<'} {_shown(item.upper, places)}"
    if kind in ("ge", "gt"):
        return f"{'≥' if kind == 'ge' else '>'} {_shown(item.lower, places)}"
    return requirement


def _within(item: Limits, value: Decimal) -> bool:
    kind, lower, upper = item.limit_type, item.lower, item.upper
    if kind == "range":
        assert lower is not None
        assert upper is not None
        return lower <= value <= upper
    if kind == "le":
        assert upper is not None
        return value <= upper
    if kind == "lt":
        assert upper is not None
        return value < upper
    if kind == "ge":
        assert lower is not None
        return value >= lower
    assert kind == "gt"
    assert lower is not None
    return value > lower


def judge(item: Limits, reported: Decimal | str | bool, requirement: str = "") -> Verdict:
    """The verdict of a reported result against ``item`` (TJ-7.2: 根据检验结果进行合格与否的自动判定).

    * numeric limits: ``reported`` is the value :func:`report_value` gave (refused if it has more places
      than the item's decimals under GB/T 8170: it was not rounded, or rounded differently); limits are
      inclusive for ``range``, ``le``, ``ge`` and exclusive for ``lt``, ``gt``;
    * ``conforms``: ``reported`` is ``"conforms"`` / ``"does_not_conform"`` (or True / False);
    * ``text``: always ``review`` — a descriptive result is judged by the reviewer.
    """
    kind = item.limit_type
    if kind not in LIMIT_TYPES:
        raise JudgementRefused(N_("There is no limit type {kind}"), kind=kind)
    shown = limit_text(item, requirement)
    if kind == "text":
        return Verdict("review", None, shown, N_("A descriptive result is judged by the reviewer"))
    if kind == "conforms":
        if isinstance(reported, bool):
            answer = "conforms" if reported else "does_not_conform"
        elif isinstance(reported, str) and reported in CONFORMITY:
            answer = reported
        else:
            raise JudgementRefused(N_("The result of this test is “conforms” or “does not conform”"))
        if answer == "conforms":
            return Verdict("pass", None, shown, N_("Conforms"))
        return Verdict("fail", None, shown, N_("Does not conform"))
    if isinstance(reported, bool) or not isinstance(reported, Decimal | int):
        raise JudgementRefused(N_("The result of this test is a number"))
    value = Decimal(reported)
    if not value.is_finite():
        raise JudgementRefused(N_("The result is not a number"))
    if item.rounding == "gbt8170" and value != round_gbt8170(value, item.decimals):
        raise JudgementRefused(
            N_("The value {value} is not rounded to {decimals} decimal places: round the full value once"),
            value=value, decimals=item.decimals,
        )  # fmt: skip
    if _within(item, value):
        return Verdict("pass", value, shown, N_("Within the limits"))
    return Verdict("fail", value, shown, N_("Outside the limits"))


def assess(item: Limits, value: Decimal, requirement: str = "") -> Verdict:
    """:func:`report_value` then :func:`judge`, from the full-precision value of a numeric item."""
    return judge(item, report_value(value, item.decimals, item.rounding), requirement)
