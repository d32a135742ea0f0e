"""Laboratory statistics: Student-t and F from the incomplete beta, out-of-trend rules (TJ-7.7), and the ICH Q1E
shelf-life estimate with poolability and the extrapolation limit (SH-6.2.3). Checked against table values and
against the same figures computed here another way (normal equations, bisection on the bound)."""

from __future__ import annotations

import math

import pytest

from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.lims import stats

ASSAY_T = [0.0, 3.0, 6.0, 9.0, 12.0, 18.0]
ASSAY_Y = [100.2, 99.6, 99.1, 98.7, 97.9, 97.5]


# --- distributions ------------------------------------------------------------------------------------------


@pytest.mark.clause("SH-6.2.3")
@pytest.mark.parametrize(
    ("p", "df", "table"),
    [(0.95, 1, 6.314), (0.95, 5, 2.015), (0.95, 10, 1.812), (0.95, 30, 1.697), (0.975, 4, 2.776),
     (0.975, 10, 2.228), (0.99, 10, 2.764), (0.95, 4, 2.132)],
)  # fmt: skip
def test_student_t_quantiles_match_the_printed_table(p: float, df: int, table: float) -> None:
    assert stats.t_quantile(p, df) == pytest.approx(table, abs=5e-4)


@pytest.mark.clause("SH-6.2.3")
def test_t_quantiles_are_symmetric_and_refuse_impossible_arguments() -> None:
    assert stats.t_quantile(0.05, 7) == pytest.approx(-stats.t_quantile(0.95, 7), abs=1e-12)
    assert stats.t_quantile(0.5, 3) == 0.0
    assert stats.t_cdf(stats.t_quantile(0.9, 12), 12) == pytest.approx(0.9, abs=1e-10)
    for p in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="p must lie strictly between 0 and 1"):
            stats.t_quantile(p, 5)
    with pytest.raises(ValueError, match="degrees of freedom must be positive"):
        stats.t_quantile(0.95, 0)


@pytest.mark.clause("SH-6.2.3")
def test_the_incomplete_beta_and_f_tails_match_known_values() -> None:
    assert stats.betainc(2, 3, 0.5) == pytest.approx(11 / 16, abs=1e-12)  # Σ C(4, j)/16, j = 2…4
    assert stats.betainc(1, 1, 0.3) == pytest.approx(0.3, abs=1e-12)
    assert stats.betainc(2.5, 4, 0.2) == pytest.approx(1 - stats.betainc(4, 2.5, 0.8), abs=1e-12)
    assert stats.f_sf(4.965, 1, 10) == pytest.approx(0.05, abs=2e-4)  # F(0.95; 1, 10) = 4.965
    assert stats.f_sf(4.103, 2, 10) == pytest.approx(0.05, abs=2e-4)  # F(0.95; 2, 10) = 4.10
    t = 2.2
    assert stats.f_sf(t * t, 1, 9) == pytest.approx(2 * (1 - stats.t_cdf(t, 9)), abs=1e-10)  # F(1, ν) = t²
    assert stats.f_sf(0.0, 2, 5) == 1.0
    with pytest.raises(ValueError, match="a and b must be positive"):
        stats.betainc(0, 1, 0.5)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        stats.betainc(1, 1, 1.5)


# --- out of trend (TJ-7.7) ----------------------------------------------------------------------------------


@pytest.mark.clause("TJ-7.7")
def test_a_value_beyond_three_sigma_of_the_history_is_out_of_trend_and_the_finding_names_the_limit() -> None:
    history = [10.0, 10.2, 9.9, 10.1, 10.0]
    mean = sum(history) / 5
    sd = math.sqrt(sum((v - mean) ** 2 for v in history) / 4)
    found = stats.out_of_trend(history, 10.5)
    assert [f.rule for f in found] == ["k_sigma"]
    params = found[0].params
    assert float(params["mean"]) == pytest.approx(mean, rel=1e-5)
    assert float(params["sd"]) == pytest.approx(sd, rel=1e-5)
    assert float(params["upper"]) == pytest.approx(mean + 3 * sd, rel=1e-5)
    assert float(params["lower"]) == pytest.approx(mean - 3 * sd, rel=1e-5)
    assert "10.5 is outside mean ± 3·s of the last 5 results" in str(found[0])
    assert stats.out_of_trend(history, 10.3) == []  # inside mean ± 3s (10.38)


@pytest.mark.clause("TJ-7.7")
def test_k_sigma_uses_only_the_last_n_results() -> None:
    wild = [50.0, -50.0] * 10  # old and wild: outside the window of the last 5
    steady = [10.0, 10.1, 9.9, 10.0, 10.1]
    assert stats.beyond_k_sigma(wild + steady, 10.6, k=3, n=5) is not None
    assert stats.beyond_k_sigma(wild + steady, 10.6, k=3, n=25) is None


@pytest.mark.clause("TJ-7.7")
def test_too_short_a_history_gives_no_finding_and_says_which_rule_was_not_evaluated() -> None:
    result = stats.assess([10.0, 10.1, 10.2, 10.3], 99.0)
    assert result.findings == [] and not result.out_of_trend
    skipped = {s.rule: (s.needs, s.have) for s in result.skipped}
    assert skipped == {"k_sigma": (5, 4), "run": (5, 4), "side": (9, 4)}
    assert str(result.skipped[0]) == "Rule k_sigma not evaluated: it needs 5 earlier results, there are 4"
    assert stats.out_of_trend([], 1.0) == []


@pytest.mark.clause("TJ-7.7")
def test_six_results_in_a_row_rising_or_falling_break_the_run_rule_and_an_equal_one_does_not() -> None:
    rising = stats.run_rule([1.0, 2.0, 3.0, 4.0, 5.0], 6.0)
    assert rising is not None and str(rising.params["direction"]) == "increasing"
    assert rising.params["points"] == "1, 2, 3, 4, 5, 6"
    falling = stats.run_rule([9.0, 8.0, 7.0, 6.0, 5.0], 4.0)
    assert falling is not None and str(falling.params["direction"]) == "decreasing"
    assert stats.run_rule([1.0, 2.0, 2.0, 3.0, 4.0], 5.0) is None  # equal neighbours break the run
    assert stats.run_rule([1.0, 2.0, 3.0, 4.0, 5.0], 4.5) is None
    assert stats.run_rule([2.0, 3.0, 4.0], 5.0, length=6) is None  # too short: not evaluated


@pytest.mark.clause("TJ-7.7")
def test_nine_results_in_a_row_on_one_side_of_the_mean_break_the_side_rule() -> None:
    history = [100.0] * 10 + [100.4, 100.3, 100.5, 100.2, 100.4, 100.3, 100.6, 100.2]
    found = stats.side_rule(history, 100.3, length=9)
    assert found is not None and str(found.params["where"]) == "above"
    assert stats.side_rule(history, 99.9, length=9) is None
    given = stats.side_rule([99.5, 99.6, 99.4, 99.7, 99.5, 99.6, 99.8, 99.5], 99.6, centre=100.0)
    assert given is not None and str(given.params["where"]) == "below" and given.params["mean"] == "100"
    assert stats.side_rule([99.5] * 8, 99.6) is None  # no centre given: 9 results of history needed


@pytest.mark.clause("TJ-7.7")
def test_rules_are_configurable_and_bad_numbers_are_refused() -> None:
    history = [10.0, 10.2, 9.9, 10.1, 10.0]
    assert stats.out_of_trend(history, 10.3, [stats.KSigma(k=2, n=5)]) != []
    assert stats.out_of_trend(history, 10.3, [stats.KSigma(k=3, n=5)]) == []
    with pytest.raises(ValueError, match="KSigma"):
        stats.KSigma(k=0)
    with pytest.raises(ValueError, match="Run"):
        stats.Run(length=2)
    with pytest.raises(ValueError, match="Side"):
        stats.Side(length=9, n=5)
    with pytest.raises(ValidationFailed) as refused:
        stats.out_of_trend([1.0, math.nan], 1.0)
    assert str(refused.value) == "Trend rules take finite numbers only"


# --- regression and shelf life (ICH Q1E) -----------------------------------------------------------------------


def _normal_equations(times: list[float], values: list[float]) -> tuple[float, float, float]:
    """Intercept, slope and residual s from the normal equations (Σ sums), not from centred sums."""
    n = len(times)
    st, sy = sum(times), sum(values)
    stt, sty = sum(t * t for t in times), sum(t * y for t, y in zip(times, values, strict=True))
    slope = (n * sty - st * sy) / (n * stt - st * st)
    intercept = (sy - slope * st) / n
    sse = sum((y - intercept - slope * t) ** 2 for t, y in zip(times, values, strict=True))
    return intercept, slope, math.sqrt(sse / (n - 2))


def _crossing_by_bisection(
    times: list[float], values: list[float], limit: float, q: float, side: str
) -> float:
    """The time the one-sided bound meets the limit, found by stepping then bisecting (no quadratic)."""
    a, b, s = _normal_equations(times, values)
    n, tm = len(times), sum(times) / len(times)
    sxx = sum((t - tm) ** 2 for t in times)

    def margin(t: float) -> float:
        half = q * s * math.sqrt(1 / n + (t - tm) ** 2 / sxx)
        return (a + b * t - half - limit) if side == "lower" else (limit - a - b * t - half)

    low = 0.0
    while margin(low + 1.0) >= 0:
        low += 1.0
    high = low + 1.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if margin(mid) >= 0 else (low, mid)
    return low


@pytest.mark.clause("SH-6.2.3")
def test_the_least_squares_line_matches_the_normal_equations() -> None:
    line = stats.fit(ASSAY_T, ASSAY_Y)
    intercept, slope, s = _normal_equations(ASSAY_T, ASSAY_Y)
    assert line.intercept == pytest.approx(intercept, abs=1e-10)
    assert line.slope == pytest.approx(slope, abs=1e-12)
    assert line.s == pytest.approx(s, abs=1e-12)
    assert line.df == 4
    assert line.slope == pytest.approx(-0.154762, abs=1e-6)
    assert line.intercept == pytest.approx(100.071429, abs=1e-6)


@pytest.mark.clause("SH-6.2.3")
def test_the_worked_assay_example_gives_28_months_from_the_lower_95_percent_bound() -> None:
    """Assay 100.2 … 97.5 % at 0–18 months, criterion ≥ 95.0 %: the lower one-sided 95 % bound of the mean meets
    95.0 at 28.6 months (t(0.95, 4) = 2.132); 28 months are claimed, inside the cap min(2 × 18, 18 + 12) = 30."""
    result = stats.shelf_life({"B1": (ASSAY_T, ASSAY_Y)}, lower=95.0)
    independent = _crossing_by_bisection(ASSAY_T, ASSAY_Y, 95.0, 2.131847, "lower")
    assert result.sides == "lower" and result.model == "single" and result.confidence == 0.95
    assert result.estimate == pytest.approx(independent, abs=1e-3)
    assert result.estimate == pytest.approx(28.64, abs=0.01)
    assert result.lines["B1"].bound(result.estimate, "lower") == pytest.approx(95.0, abs=1e-9)
    assert (result.data_span, result.cap, result.months, result.limited_by) == (18.0, 30.0, 28, "data")
    assert not result.extrapolated or result.months > 18


@pytest.mark.clause("SH-6.2.3")
def test_an_increasing_impurity_is_bounded_from_above() -> None:
    times = [0.0, 3.0, 6.0, 9.0, 12.0]
    values = [0.10, 0.14, 0.17, 0.22, 0.25]
    result = stats.shelf_life({"B1": (times, values)}, upper=0.5)
    assert result.sides == "upper"
    independent = _crossing_by_bisection(times, values, 0.5, stats.t_quantile(0.95, 3), "upper")
    assert result.estimate == pytest.approx(independent, abs=1e-3)
    assert result.cap == 24.0 and result.months == min(math.floor(independent), 24)


@pytest.mark.clause("SH-6.2.3")
def test_a_range_uses_two_sided_95_percent_bounds_and_the_earlier_side_wins() -> None:
    times = [0.0, 3.0, 6.0, 9.0, 12.0]
    values = [6.2, 6.0, 5.9, 5.7, 5.6]  # pH falling towards 5.0
    result = stats.shelf_life({"B1": (times, values)}, lower=5.0, upper=7.0)
    assert result.sides == "both" and result.confidence == pytest.approx(0.975)
    lower = _crossing_by_bisection(times, values, 5.0, stats.t_quantile(0.975, 3), "lower")
    assert result.estimate == pytest.approx(lower, abs=1e-3)
    assert {b.side for b in result.bounds} == {"lower", "upper"}


@pytest.mark.clause("SH-6.2.3")
def test_a_flat_attribute_is_capped_by_the_extrapolation_limit() -> None:
    times = [0.0, 3.0, 6.0, 9.0, 12.0]
    flat = [100.0, 100.1, 99.9, 100.05, 100.0]
    result = stats.shelf_life({"B1": (times, flat)}, lower=95.0)
    assert result.estimate is None or result.estimate > 24
    assert (result.cap, result.months, result.limited_by) == (24.0, 24, "extrapolation")
    assert stats.extrapolation_cap(6.0) == 12.0
    assert stats.extrapolation_cap(18.0) == 30.0  # 12 months beyond is less than twice
    assert stats.extrapolation_cap(36.0) == 48.0
    assert stats.extrapolation_cap(12.0, extrapolate=False) == 12.0
    no_extrapolation = stats.shelf_life({"B1": (times, flat)}, lower=95.0, extrapolate=False)
    assert no_extrapolation.months == 12


@pytest.mark.clause("SH-6.2.3")
def test_a_bound_already_beyond_the_criterion_at_the_start_supports_no_shelf_life() -> None:
    result = stats.shelf_life({"B1": ([0.0, 3.0, 6.0], [95.1, 94.0, 93.2])}, lower=95.0)
    assert result.estimate == 0.0 and result.months == 0 and result.limited_by == "data"


@pytest.mark.clause("SH-6.2.3")
def test_shelf_life_refuses_what_it_cannot_estimate() -> None:
    cases = [
        ({"B1": ([0.0, 3.0], [100.0, 99.0])}, {"lower": 95.0}, "A regression needs at least 3 results, there are 2"),
        ({"B1": ([3.0, 3.0, 3.0], [100.0, 99.0, 98.0])}, {"lower": 95.0},
         "A regression needs results at two different time points at least"),
        ({"B1": ([-1.0, 3.0, 6.0], [100.0, 99.0, 98.0])}, {"lower": 95.0},
         "Time points are months from the start of the study: none below 0"),
        ({"B1": ([0.0, 3.0, 6.0], [100.0, 99.0])}, {"lower": 95.0}, "Each value needs its time point"),
        ({"B1": (ASSAY_T, ASSAY_Y)}, {}, "The acceptance criterion needs a lower or an upper limit"),
        ({"B1": (ASSAY_T, ASSAY_Y)}, {"lower": 100.0, "upper": 90.0}, "The lower limit must be below the upper limit"),
        ({"B1": (ASSAY_T, ASSAY_Y)}, {"upper": 105.0, "sides": "lower"}, "The side of the confidence bound needs its limit"),
        ({}, {"lower": 95.0}, "A shelf-life estimate needs the results of one batch at least"),
    ]  # fmt: skip
    for batches, limits, message in cases:
        with pytest.raises(ValidationFailed) as refused:
            stats.shelf_life(batches, **limits)  # type: ignore[arg-type]
        assert str(refused.value) == message


# --- poolability (ANCOVA at p = 0.25) --------------------------------------------------------------------------


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the test's own linear algebra)."""
    n = len(vector)
    a = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(n):
            if r != col:
                factor = a[r][col] / a[col][col]
                a[r] = [x - factor * y for x, y in zip(a[r], a[col], strict=True)]
    return [a[i][n] / a[i][i] for i in range(n)]


def _sse_common_slope(batches: dict[str, tuple[list[float], list[float]]]) -> float:
    """Residual sum of squares of y = a_batch + b·t, fitted by the normal equations of the dummy-variable model."""
    names = list(batches)
    rows = [([1.0 if k == name else 0.0 for k in names] + [t], y)
            for name, (times, values) in batches.items() for t, y in zip(times, values, strict=True)]  # fmt: skip
    p = len(names) + 1
    xtx = [[sum(r[0][i] * r[0][j] for r in rows) for j in range(p)] for i in range(p)]
    xty = [sum(r[0][i] * r[1] for r in rows) for i in range(p)]
    beta = _solve(xtx, xty)
    return sum((y - sum(b * x for b, x in zip(beta, xs, strict=True))) ** 2 for xs, y in rows)


THREE_SIMILAR = {  # 100 − 0.14·t with scatter of ± 0.2
    "B1": ([0.0, 3.0, 6.0, 9.0, 12.0], [100.2, 99.43, 99.26, 98.54, 98.37]),
    "B2": ([0.0, 3.0, 6.0, 9.0, 12.0], [99.9, 99.78, 98.96, 98.89, 98.27]),
    "B3": ([0.0, 3.0, 6.0, 9.0, 12.0], [100.05, 99.48, 99.31, 98.74, 98.17]),
}


@pytest.mark.clause("SH-6.2.3")
def test_batches_with_equal_slopes_and_intercepts_are_pooled() -> None:
    pool = stats.poolability(THREE_SIMILAR)
    assert pool.model == "pooled"
    assert pool.slopes is not None and pool.slopes.p >= 0.25 and pool.slopes.df1 == 2 and pool.slopes.df2 == 9
    assert pool.intercepts is not None and pool.intercepts.p >= 0.25
    # the slopes' F computed the other way: per-batch fits against the dummy-variable common-slope model
    sse_separate = sum(stats.fit(t, y).s ** 2 * 3 for t, y in THREE_SIMILAR.values())
    sse_common = _sse_common_slope(THREE_SIMILAR)
    assert pool.slopes.f == pytest.approx(((sse_common - sse_separate) / 2) / (sse_separate / 9), rel=1e-9)
    result = stats.shelf_life(THREE_SIMILAR, lower=95.0)
    assert result.model == "pooled" and result.lines["B1"] is result.lines["B3"]
    assert result.lines["B1"].df == 13


@pytest.mark.clause("SH-6.2.3")
def test_batches_with_different_slopes_are_not_pooled_and_the_worst_batch_sets_the_shelf_life() -> None:
    batches = {
        "B1": ([0.0, 3.0, 6.0, 9.0, 12.0], [100.1, 99.8, 99.5, 99.2, 98.9]),
        "B2": ([0.0, 3.0, 6.0, 9.0, 12.0], [100.0, 99.1, 98.0, 97.1, 96.0]),  # falls four times as fast
    }
    pool = stats.poolability(batches)
    assert pool.model == "separate" and pool.intercepts is None
    assert pool.slopes is not None and pool.slopes.p < 0.25
    result = stats.shelf_life(batches, lower=95.0)
    assert result.worst_batch == "B2"
    alone = stats.shelf_life({"B2": batches["B2"]}, lower=95.0)
    assert result.estimate == pytest.approx(alone.estimate)


@pytest.mark.clause("SH-6.2.3")
def test_equal_slopes_with_different_intercepts_use_a_common_slope_and_each_batchs_intercept() -> None:
    batches = {
        "B1": ([0.0, 3.0, 6.0, 9.0, 12.0], [101.0, 100.6, 100.1, 99.8, 99.3]),
        "B2": ([0.0, 3.0, 6.0, 9.0, 12.0], [99.0, 98.5, 98.2, 97.7, 97.4]),
    }
    pool = stats.poolability(batches)
    assert pool.model == "common_slope"
    assert pool.intercepts is not None and pool.intercepts.p < 0.25
    result = stats.shelf_life(batches, lower=95.0)
    b1, b2 = result.lines["B1"], result.lines["B2"]
    assert b1.slope == b2.slope and b1.intercept > b2.intercept and b1.df == 10 - 2 - 1
    assert result.worst_batch == "B2"
    sse = _sse_common_slope(batches)
    assert b1.s == pytest.approx(math.sqrt(sse / 7), rel=1e-9)


@pytest.mark.clause("SH-6.2.3")
def test_poolability_needs_two_batches_of_three_results() -> None:
    with pytest.raises(ValidationFailed):
        stats.poolability({"B1": THREE_SIMILAR["B1"]})
    with pytest.raises(ValidationFailed):
        stats.poolability({"B1": THREE_SIMILAR["B1"], "B2": ([0.0, 3.0], [100.0, 99.0])})
