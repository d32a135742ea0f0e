"""Calculation, rounding and judgement of a test result: computed from the raw entries by the formula at full
precision, rounded once at the end by GB/T 8170, compared with the limit by the rounded-value method of the
Chinese Pharmacopoeia's general notices (TJ-7.2, TJ-7.3, TJ-10.5.2.a). Pure functions, no database."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from pharmatrace.kernel.numbers import round_gbt8170
from pharmatrace.lims.judgement import (
    JudgementRefused,
    assess,
    compute,
    formula_inputs,
    judge,
    limit_text,
    report_value,
)
from pharmatrace.mes.formulas import FormulaInvalid


@dataclass(frozen=True)
class Item:
    limit_type: str
    lower: Decimal | None = None
    upper: Decimal | None = None
    decimals: int = 1
    rounding: str = "gbt8170"


D = Decimal


# --- GB/T 8170 worked examples (REFERENCE.md; 数值修约规则) ------------------------------------------------


@pytest.mark.clause("TJ-7.3", "TJ-10.5.2.a")
@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        ("12.1498", 1, "12.1"),  # below 5: dropped
        ("10.502", 1, "10.5"),
        ("1.050", 1, "1.0"),  # exactly 5 after an even digit: kept
        ("0.350", 1, "0.4"),  # exactly 5 after an odd digit: raised
        ("2.5", 0, "2"),
        ("3.5", 0, "4"),
        ("-0.0365", 3, "-0.036"),  # the absolute value is rounded, the sign restored
        ("10.5002", 0, "11"),  # 5 followed by non-zero digits: raised
        ("-2.5", 0, "-2"),
        ("-3.5", 0, "-4"),
        ("-12.1498", 1, "-12.1"),
    ],
)
def test_a_result_is_rounded_by_gbt8170(value: str, decimals: int, expected: str) -> None:
    reported = report_value(D(value), decimals)
    assert str(reported) == expected


@pytest.mark.clause("TJ-7.3", "TJ-10.5.2.a")
def test_a_result_is_rounded_only_once_at_the_end() -> None:
    full = D("15.4546")
    assert report_value(full, 0) == D("15")
    stepwise = full
    for places in (3, 2, 1, 0):  # the forbidden way: 15.455 → 15.46 → 15.5 → 16
        stepwise = round_gbt8170(stepwise, places)
    assert stepwise == D("16") != report_value(full, 0)


@pytest.mark.clause("TJ-7.3", "TJ-10.5.2.a")
def test_the_rule_none_reports_the_value_as_computed() -> None:
    assert report_value(D("98.04999"), 1, "none") == D("98.04999")
    assert judge(Item("ge", lower=D("98.0"), rounding="none"), D("97.96")).outcome == "fail"  # 全数值比较法
    assert judge(Item("ge", lower=D("98.0")), report_value(D("97.96"), 1)).outcome == "pass"  # 修约值比较法


@pytest.mark.clause("TJ-10.5.2.a")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((D("1.5"), 11, "gbt8170"), "A result is reported with 0 to 10 decimal places"),
        ((D("1.5"), -1, "gbt8170"), "A result is reported with 0 to 10 decimal places"),
        ((D("1.5"), 1, "round_up"), "There is no rounding rule round_up"),
        ((D("NaN"), 1, "gbt8170"), "The result is not a number"),
        ((D("Infinity"), 1, "none"), "The result is not a number"),
    ],
)
def test_rounding_refuses_what_it_cannot_do(args: tuple[Decimal, int, str], message: str) -> None:
    with pytest.raises(JudgementRefused) as refused:
        report_value(*args)
    assert str(refused.value) == message


# --- calculation from raw entries ----------------------------------------------------------------------


ASSAY = "content = (A_s / A_r) * (W_r / W_s) * P * 100"


@pytest.mark.clause("TJ-7.3", "TJ-10.5.2.a")
def test_a_result_is_computed_from_the_raw_entries_at_full_precision() -> None:
    raws = {"A_s": D("1523.6"), "A_r": D("1498.2"), "W_r": D("10.12"), "W_s": D("10.05"), "P": D("0.998")}
    full = compute(ASSAY, raws)
    expected = (D("1523.6") / D("1498.2")) * (D("10.12") / D("10.05")) * D("0.998") * 100
    assert full == expected  # nothing rounded on the way
    assert str(full).startswith("102.19")
    assert report_value(full, 1) == D("102.2")
    assert formula_inputs(ASSAY) == ("A_s", "A_r", "W_r", "W_s", "P")


@pytest.mark.clause("TJ-7.3")
def test_a_third_is_kept_to_28_digits_until_the_end() -> None:
    third = compute("x = a / 3", {"a": D(1)})
    assert len(third.as_tuple().digits) == 28
    assert report_value(third * 3, 1) == D("1.0")


@pytest.mark.clause("TJ-7.3")
@pytest.mark.parametrize(
    ("raws", "message"),
    [
        ({"A_s": D(1), "A_r": D(1), "W_r": D(1), "W_s": D(1)}, "The formula needs the value P"),
        (
            {"A_s": D(1), "A_r": D(1), "W_r": D(1), "W_s": D(1), "P": D(1), "Q": D(1)},
            "Q is not an input of the formula",
        ),
        ({"A_s": D(1), "A_r": D(0), "W_r": D(1), "W_s": D(1), "P": D(1)}, "The formula divides by zero"),
        (
            {"A_s": D("NaN"), "A_r": D(1), "W_r": D(1), "W_s": D(1), "P": D(1)},
            "The value A_s is not a number",
        ),
    ],
)
def test_a_calculation_refuses_missing_extra_or_impossible_values(
    raws: dict[str, Decimal], message: str
) -> None:
    with pytest.raises((FormulaInvalid, JudgementRefused)) as refused:
        compute(ASSAY, raws)
    assert str(refused.value) == message


@pytest.mark.clause("TJ-7.3")
@pytest.mark.parametrize("formula", ["content = __import__('os').getcwd()", "content = a ** 2", "a + b"])
def test_a_formula_outside_the_small_grammar_is_refused(formula: str) -> None:
    with pytest.raises(FormulaInvalid):
        compute(formula, {"a": D(1), "b": D(2)})


# --- judgement: the rounded-value comparison method ----------------------------------------------------


@pytest.mark.clause("TJ-7.2", "TJ-10.5.2.a")
@pytest.mark.parametrize(
    ("item", "full", "outcome", "compared"),
    [
        # 水分 不得过 13.0%: 13.04 rounds to 13.0 and passes; 13.05 rounds (five, even) to 13.0; 13.06 fails
        (Item("le", upper=D("13.0")), "13.04", "pass", "13.0"),
        (Item("le", upper=D("13.0")), "13.05", "pass", "13.0"),
        (Item("le", upper=D("13.0")), "13.15", "fail", "13.2"),
        (Item("le", upper=D("13.0")), "13.06", "fail", "13.1"),
        # 含量 不得少于 98.0%: 98.05 → 98.0 (limit edge, inclusive); 97.95 → 98.0 (five after odd 9: up)
        (Item("ge", lower=D("98.0")), "98.05", "pass", "98.0"),
        (Item("ge", lower=D("98.0")), "97.95", "pass", "98.0"),
        (Item("ge", lower=D("98.0")), "97.94", "fail", "97.9"),
        # a range includes both limits
        (Item("range", lower=D("90.0"), upper=D("110.0")), "89.96", "pass", "90.0"),
        (Item("range", lower=D("90.0"), upper=D("110.0")), "110.04", "pass", "110.0"),
        (Item("range", lower=D("90.0"), upper=D("110.0")), "110.06", "fail", "110.1"),
        (Item("range", lower=D("90.0"), upper=D("110.0")), "89.94", "fail", "89.9"),
        # strict limits exclude the limit itself
        (Item("lt", upper=D("0.50"), decimals=2), "0.496", "fail", "0.50"),
        (Item("lt", upper=D("0.50"), decimals=2), "0.494", "pass", "0.49"),
        (Item("gt", lower=D("1"), decimals=0), "1.4", "fail", "1"),
        (Item("gt", lower=D("1"), decimals=0), "1.6", "pass", "2"),
        # negative numbers: a range around zero
        (Item("range", lower=D("-0.05"), upper=D("0.05"), decimals=2), "-0.0549", "pass", "-0.05"),
        (Item("range", lower=D("-0.05"), upper=D("0.05"), decimals=2), "-0.0551", "fail", "-0.06"),
        (Item("range", lower=D("-0.05"), upper=D("0.05"), decimals=2), "-0.055", "fail", "-0.06"),
        # pH 5.0 ~ 7.0 with two places of reading and one of the limit
        (Item("range", lower=D("5.0"), upper=D("7.0")), "4.95", "pass", "5.0"),
        (Item("range", lower=D("5.0"), upper=D("7.0")), "7.05", "pass", "7.0"),
        (Item("range", lower=D("5.0"), upper=D("7.0")), "7.15", "fail", "7.2"),
    ],
)
def test_a_numeric_result_is_judged_by_the_rounded_value_comparison_method(
    item: Item, full: str, outcome: str, compared: str
) -> None:
    verdict = assess(item, D(full))
    assert (verdict.outcome, str(verdict.value)) == (outcome, compared)


@pytest.mark.clause("TJ-7.2")
def test_a_verdict_names_the_limit_as_the_standard_writes_it() -> None:
    assert limit_text(Item("range", lower=D("90"), upper=D("110"))) == "90.0 ~ 110.0"
    assert limit_text(Item("le", upper=D("13"))) == "≤ 13.0"
    assert limit_text(Item("ge", lower=D("3.0"))) == "≥ 3.0"
    assert limit_text(Item("lt", upper=D("0.5"), decimals=2)) == "< 0.50"
    assert limit_text(Item("gt", lower=D("1"), decimals=0)) == "> 1"
    assert limit_text(Item("conforms"), "应符合规定") == "应符合规定"
    verdict = judge(Item("le", upper=D("13.0")), D("12.4"))
    assert verdict.limit == "≤ 13.0" and verdict.reason == "Within the limits"
    assert judge(Item("le", upper=D("13.0")), D("13.4")).reason == "Outside the limits"


@pytest.mark.clause("TJ-7.2", "TJ-10.5.2.a")
def test_an_unrounded_value_is_not_judged() -> None:
    with pytest.raises(JudgementRefused) as refused:
        judge(Item("ge", lower=D("98.0")), D("97.96"))
    assert str(refused.value) == (
        "The value 97.96 is not rounded to 1 decimal places: round the full value once"
    )
    assert judge(Item("ge", lower=D("98.0")), D("98.00")).outcome == "pass"  # 98.00 is 98.0


@pytest.mark.clause("TJ-7.2")
def test_a_conforms_item_passes_or_fails_on_the_answer() -> None:
    item = Item("conforms", decimals=0)
    assert judge(item, "conforms", "应符合规定").outcome == "pass"
    assert judge(item, True).outcome == "pass"
    failed = judge(item, "does_not_conform", "应符合规定")
    assert (failed.outcome, failed.reason, failed.limit) == ("fail", "Does not conform", "应符合规定")
    assert judge(item, False).outcome == "fail"
    for wrong in ("yes", D(1), "符合规定"):
        with pytest.raises(JudgementRefused) as refused:
            judge(item, wrong)
        assert str(refused.value) == "The result of this test is “conforms” or “does not conform”"


@pytest.mark.clause("TJ-7.2")
def test_a_descriptive_result_is_left_to_the_reviewer() -> None:
    verdict = judge(Item("text", decimals=0), "红棕色疏松块状物", "应为红棕色疏松块状物")
    assert verdict.outcome == "review" and verdict.value is None
    assert verdict.reason == "A descriptive result is judged by the reviewer"


@pytest.mark.clause("TJ-7.2")
def test_a_numeric_item_refuses_a_word_and_an_unknown_limit_type() -> None:
    for wrong in ("12.4", True, D("NaN")):
        with pytest.raises(JudgementRefused):
            judge(Item("le", upper=D("13.0")), wrong)
    with pytest.raises(JudgementRefused) as refused:
        judge(Item("between", lower=D(1), upper=D(2)), D(1))
    assert str(refused.value) == "There is no limit type between"
