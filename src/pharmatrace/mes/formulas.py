"""A small safe evaluator for calculation steps (TJ-6.4.3.3): ``name = expression``.

The expression is parsed with :mod:`ast` and only numbers, names, ``+ - * /``, unary minus and parentheses
are accepted; nothing is ever passed to ``eval``. Arithmetic is :class:`~decimal.Decimal` (28 significant
digits); rounding for display is GB/T 8170 (:func:`pharmatrace.kernel.numbers.round_gbt8170`), done by the
caller, and comparisons with limits use the unrounded value.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext

from pharmatrace.kernel.errors import N_, ValidationFailed

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
MAX_LENGTH = 256


class FormulaInvalid(ValidationFailed):
    code = "formula_invalid"


@dataclass(frozen=True, slots=True)
class Formula:
    target: str  # the parameter the result is recorded as
    expression: ast.expr
    names: tuple[str, ...]  # the inputs, in the order they first appear


def parse(text: str) -> Formula:
    """``target = expression``; refused (:class:`FormulaInvalid`) for anything outside the small grammar."""
    if len(text) > MAX_LENGTH or text.count("=") != 1:
        raise FormulaInvalid(N_("A formula is “name = expression”: {formula}"), formula=text[:MAX_LENGTH])
    left, right = (part.strip() for part in text.split("="))
    if not _NAME.match(left):
        raise FormulaInvalid(N_("A formula is “name = expression”: {formula}"), formula=text)
    try:
        tree = ast.parse(right, mode="eval")
    except SyntaxError:
        raise FormulaInvalid(N_("The formula cannot be read: {formula}"), formula=text) from None
    names: list[str] = []
    for node in ast.walk(tree.body):
        if isinstance(node, ast.Name):
            if not _NAME.match(node.id):
                raise FormulaInvalid(N_("The formula cannot be read: {formula}"), formula=text)
            if node.id not in names:
                names.append(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise FormulaInvalid(N_("Only numbers and names are allowed in a formula: {formula}"),
                                     formula=text)  # fmt: skip
        elif not isinstance(node, ast.BinOp | ast.UnaryOp | ast.Add | ast.Sub | ast.Mult | ast.Div | ast.USub
                            | ast.UAdd | ast.Load):  # fmt: skip
            raise FormulaInvalid(N_("Only + − × ÷ and parentheses are allowed in a formula: {formula}"),
                                 formula=text)  # fmt: skip
    return Formula(left, tree.body, tuple(names))


def _number(node: ast.Constant) -> Decimal:
    # the source text of the literal, not the float: 1.12 stays exactly 1.12
    value = node.value
    assert isinstance(value, int | float)
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _evaluate(node: ast.expr, values: dict[str, Decimal]) -> Decimal:
    if isinstance(node, ast.Constant):
        return _number(node)
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise FormulaInvalid(N_("The formula needs the value {name}"), name=node.id)
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        inner = _evaluate(node.operand, values)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise FormulaInvalid(N_("The formula divides by zero"))
            return left / right
    raise FormulaInvalid(N_("The formula cannot be read: {formula}"), formula=ast.unparse(node))


def evaluate(formula: Formula, values: dict[str, Decimal]) -> Decimal:
    """The value of the expression for ``values`` (every name of the formula must be given)."""
    with localcontext() as context:
        context.prec = 28
        context.traps[DivisionByZero] = True
        context.traps[InvalidOperation] = True
        try:
            return _evaluate(formula.expression, values)
        except (DivisionByZero, InvalidOperation):
            raise FormulaInvalid(N_("The formula cannot be computed")) from None
