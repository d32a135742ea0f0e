"""Laboratory statistics, pure: out-of-trend rules (TJ-7.7) and ICH Q1E shelf-life estimation (SH-6.2.3).

Standard library only (no numpy/scipy in the plant's dependencies): Student-t quantiles and F-distribution
tail probabilities come from the regularized incomplete beta function, evaluated by its continued fraction
(Lentz's method) and inverted by bisection.

**Out of trend** (超趋势, OOT; TJ-7.7, SH-6.2.3 "OOS/OOT 管理"): a new result judged against the history of the
same test for the same product, by configurable rules — :class:`KSigma` (outside mean ± k·s of the last n),
:class:`Run` (n points in a row steadily increasing or decreasing), :class:`Side` (n points in a row on one
side of the mean). A rule that needs more history than there is gives no finding: :func:`assess` says which
rules were not evaluated and why, nothing is guessed.

**Shelf life** (ICH Q1E): the least-squares line of an attribute against time (months), the one-sided 95 %
confidence bound of the *mean* (lower for an attribute that decreases, such as an assay; upper for one that
increases, such as impurities or water; two-sided 95 %, i.e. 97.5 % per side, for an attribute that may go
either way), and the time at which that bound meets the acceptance criterion, solved exactly (a quadratic).
Several batches are pooled when the ANCOVA F-tests for equal slopes and equal intercepts are not significant
at p = 0.25; with equal slopes only, a common-slope model with each batch's intercept is used; otherwise each
batch on its own. In every case the shelf life is the worst (earliest) batch's. Extrapolation is capped the way
Q1E allows it: at most twice the span of the long-term data and at most 12 months beyond it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pharmatrace.kernel.errors import N_, Msgid, ValidationFailed

Sides = Literal["lower", "upper", "both"]
POOLING_ALPHA = 0.25  # ICH Q1E: tests of poolability at the 0.25 significance level
CONFIDENCE = 0.95
MAX_EXTRAPOLATION_MONTHS = 12.0  # ICH Q1E: not more than 12 months beyond the long-term data …
MAX_EXTRAPOLATION_FACTOR = 2.0  # … and not more than twice its span
SHELF_LIFE_RULE = N_(
    "ICH Q1E: the earliest time the {confidence} % confidence bound of the mean meets the acceptance criterion; "
    "extrapolation at most twice the long-term data span and at most 12 months beyond it"
)

_EPS = 3.0e-16
_TINY = 1.0e-300


# --- distributions ---------------------------------------------------------------------------------------


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise ArithmeticError("incomplete beta: continued fraction did not converge")  # pragma: no cover


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 ≤ x ≤ 1."""
    if a <= 0 or b <= 0:
        raise ValueError("betainc: a and b must be positive")
    if not 0.0 <= x <= 1.0:
        raise ValueError("betainc: x must lie in [0, 1]")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError("t_cdf: degrees of freedom must be positive")
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t (``t_quantile(0.95, 10)`` = 1.812…), by bisection on :func:`t_cdf`."""
    if not 0.0 < p < 1.0:
        raise ValueError("t_quantile: p must lie strictly between 0 and 1")
    if df <= 0:
        raise ValueError("t_quantile: degrees of freedom must be positive")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low <= 1e-13 * max(1.0, high):
            break
    return (low + high) / 2.0


def f_sf(f: float, df1: float, df2: float) -> float:
    """P(F > f) for Fisher's F with (df1, df2) degrees of freedom: the p-value of an F-test."""
    if df1 <= 0 or df2 <= 0:
        raise ValueError("f_sf: degrees of freedom must be positive")
    if f <= 0:
        return 1.0
    return betainc(df2 / 2.0, df1 / 2.0, df2 / (df2 + df1 * f))


# --- descriptive -------------------------------------------------------------------------------------------


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("mean of no values")
    return math.fsum(values) / len(values)


def sample_sd(values: Sequence[float]) -> float:
    """The sample standard deviation (n − 1 in the denominator)."""
    if len(values) < 2:
        raise ValueError("a standard deviation needs two values")
    centre = mean(values)
    return math.sqrt(math.fsum((v - centre) ** 2 for v in values) / (len(values) - 1))


# --- out of trend (TJ-7.7) ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KSigma:
    """Outside mean ± k·s of the last ``n`` results of the history (s: sample standard deviation).
    Needs at least ``min_points`` results (and never fewer than 2)."""

    k: float = 3.0
    n: int = 20
    min_points: int = 5

    name = "k_sigma"

    def __post_init__(self) -> None:
        if self.k <= 0 or self.n < 2 or self.min_points < 2 or self.min_points > self.n:
            raise ValueError("KSigma: k > 0, n ≥ 2 and 2 ≤ min_points ≤ n")

    @property
    def needs(self) -> int:
        return self.min_points


@dataclass(frozen=True, slots=True)
class Run:
    """``length`` results in a row (the new one last) each higher than the one before, or each lower.
    An equal neighbour breaks the run. Needs ``length − 1`` results of history."""

    length: int = 6

    name = "run"

    def __post_init__(self) -> None:
        if self.length < 3:
            raise ValueError("Run: length ≥ 3")

    @property
    def needs(self) -> int:
        return self.length - 1


@dataclass(frozen=True, slots=True)
class Side:
    """``length`` results in a row (the new one last) on the same side of the centre line. The centre is
    ``centre`` when given (a historical process mean), else the mean of the last ``n`` results of the history,
    which then needs at least ``length`` results (so the run is not its own baseline); with a given centre,
    ``length − 1``. A result equal to the centre breaks the run."""

    length: int = 9
    n: int = 30
    centre: float | None = None

    name = "side"

    def __post_init__(self) -> None:
        if self.length < 2 or self.n < self.length:
            raise ValueError("Side: length ≥ 2 and n ≥ length")

    @property
    def needs(self) -> int:
        return self.length - 1 if self.centre is not None else self.length


Rule = KSigma | Run | Side
DEFAULT_RULES: tuple[Rule, ...] = (KSigma(), Run(), Side())


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule the new result breaks: the rule's name, an English msgid naming the numbers and the limit, and
    the numbers themselves as shown (``params``, six significant digits; the edge translates ``message``)."""

    rule: str
    message: str
    params: dict[str, Any]

    def __str__(self) -> str:
        return self.message.format(**self.params)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A rule not evaluated because the history is too short: it says how many results it needs."""

    rule: str
    needs: int
    have: int
    message: str = N_("Rule {rule} not evaluated: it needs {needs} earlier results, there are {have}")

    @property
    def params(self) -> dict[str, Any]:
        return {"rule": self.rule, "needs": self.needs, "have": self.have}

    def __str__(self) -> str:
        return self.message.format(**self.params)


@dataclass(frozen=True, slots=True)
class TrendAssessment:
    findings: list[Finding]
    skipped: list[Skipped]

    @property
    def out_of_trend(self) -> bool:
        return bool(self.findings)


def _r(value: float) -> str:
    """A number as a finding shows it: six significant digits, no float noise (``3``, ``10.04``)."""
    return f"{value:.6g}"


def beyond_k_sigma(history: Sequence[float], value: float, k: float = 3.0, n: int = 20,
                   min_points: int = 5) -> Finding | None:  # fmt: skip
    """The value outside mean ± k·s of the last ``n`` history results; None inside, or with too few results."""
    rule = KSigma(k=k, n=n, min_points=min_points)
    window = list(history)[-rule.n :]
    if len(window) < rule.min_points:
        return None
    centre, sd = mean(window), sample_sd(window)
    lower, upper = centre - rule.k * sd, centre + rule.k * sd
    if lower <= value <= upper:
        return None
    return Finding(
        rule.name,
        N_("{value} is outside mean ± {k}·s of the last {n} results: {mean} ± {k} × {sd} = {lower} … {upper}"),
        {"value": _r(value), "k": _r(rule.k), "n": len(window), "mean": _r(centre), "sd": _r(sd),
         "lower": _r(lower), "upper": _r(upper)},
    )  # fmt: skip


def run_rule(history: Sequence[float], value: float, length: int = 6) -> Finding | None:
    """``length`` results in a row, the new one last, steadily increasing or steadily decreasing."""
    rule = Run(length=length)
    if len(history) < rule.needs:
        return None
    points = [*list(history)[-(rule.length - 1) :], value]
    steps = [b - a for a, b in itertools.pairwise(points)]
    if all(s > 0 for s in steps):
        direction = Msgid(N_("increasing"))
    elif all(s < 0 for s in steps):
        direction = Msgid(N_("decreasing"))
    else:
        return None
    return Finding(
        rule.name,
        N_("{length} results in a row steadily {direction} (limit: fewer than {length}): {points}"),
        {"length": rule.length, "direction": direction, "points": ", ".join(_r(p) for p in points)},
    )


def side_rule(history: Sequence[float], value: float, length: int = 9, n: int = 30,
              centre: float | None = None) -> Finding | None:  # fmt: skip
    """``length`` results in a row, the new one last, all above or all below the centre line."""
    rule = Side(length=length, n=n, centre=centre)
    if len(history) < rule.needs:
        return None
    line = rule.centre if rule.centre is not None else mean(list(history)[-rule.n :])
    points = [*list(history)[-(rule.length - 1) :], value]
    if all(p > line for p in points):
        where = Msgid(N_("above"))
    elif all(p < line for p in points):
        where = Msgid(N_("below"))
    else:
        return None
    return Finding(
        rule.name,
        N_("{length} results in a row {where} the mean {mean} (limit: fewer than {length})"),
        {"length": rule.length, "where": where, "mean": _r(line)},
    )


def _evaluate(rule: Rule, history: Sequence[float], value: float) -> Finding | None:
    if isinstance(rule, KSigma):
        return beyond_k_sigma(history, value, rule.k, rule.n, rule.min_points)
    if isinstance(rule, Run):
        return run_rule(history, value, rule.length)
    return side_rule(history, value, rule.length, rule.n, rule.centre)


def assess(history: Sequence[float], value: float, rules: Sequence[Rule] = DEFAULT_RULES) -> TrendAssessment:
    """Every rule applied to the new ``value`` after ``history`` (oldest first): the findings, and the rules
    the history was too short for (stated, never guessed)."""
    values = [float(v) for v in history]
    if not all(math.isfinite(v) for v in [*values, float(value)]):
        raise ValidationFailed(N_("Trend rules take finite numbers only"))
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    for rule in rules:
        if len(values) < rule.needs:
            skipped.append(Skipped(rule.name, rule.needs, len(values)))
            continue
        found = _evaluate(rule, values, float(value))
        if found is not None:
            findings.append(found)
    return TrendAssessment(findings, skipped)


def out_of_trend(
    history: Sequence[float], value: float, rules: Sequence[Rule] = DEFAULT_RULES
) -> list[Finding]:
    """The rules the new ``value`` breaks against ``history`` (oldest first); empty when in trend or when the
    history is too short for every rule (:func:`assess` says which)."""
    return assess(history, value, rules).findings


# --- regression (ICH Q1E) -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """A least-squares line y = intercept + slope·t with what its confidence band needs.

    The standard error of the mean response at t is ``s · sqrt(1/n_eff + (t − t_mean)² / sxx)``; ``df`` is the
    residual degrees of freedom of the model the line comes from (a pooled model shares s and df)."""

    intercept: float
    slope: float
    n: int
    t_mean: float
    sxx: float
    s: float
    df: int

    def predict(self, t: float) -> float:
        return self.intercept + self.slope * t

    def se_mean(self, t: float) -> float:
        return self.s * math.sqrt(1.0 / self.n + (t - self.t_mean) ** 2 / self.sxx)

    def bound(self, t: float, side: Literal["lower", "upper"], confidence: float = CONFIDENCE) -> float:
        """The one-sided ``confidence`` bound of the mean response at t."""
        q = t_quantile(confidence, self.df)
        spread = q * self.se_mean(t)
        return self.predict(t) - spread if side == "lower" else self.predict(t) + spread


def _check_points(times: Sequence[float], values: Sequence[float], minimum: int = 3) -> None:
    if len(times) != len(values):
        raise ValidationFailed(N_("Each value needs its time point"))
    if len(times) < minimum:
        raise ValidationFailed(N_("A regression needs at least {minimum} results, there are {count}"),
                               minimum=minimum, count=len(times))  # fmt: skip
    if not all(math.isfinite(v) for v in [*times, *values]):
        raise ValidationFailed(N_("A regression takes finite numbers only"))
    if any(t < 0 for t in times):
        raise ValidationFailed(N_("Time points are months from the start of the study: none below 0"))
    if len(set(times)) < 2:
        raise ValidationFailed(N_("A regression needs results at two different time points at least"))


def _sums(times: Sequence[float], values: Sequence[float]) -> tuple[float, float, float, float, float]:
    """t̄, ȳ, Sxx, Sxy, Syy."""
    tm, ym = mean(times), mean(values)
    sxx = math.fsum((t - tm) ** 2 for t in times)
    sxy = math.fsum((t - tm) * (y - ym) for t, y in zip(times, values, strict=True))
    syy = math.fsum((y - ym) ** 2 for y in values)
    return tm, ym, sxx, sxy, syy


def fit(times: Sequence[float], values: Sequence[float]) -> Line:
    """The least-squares line of one batch's results (at least 3, at 2 different times or more)."""
    _check_points(times, values)
    tm, ym, sxx, sxy, syy = _sums(times, values)
    slope = sxy / sxx
    sse = max(syy - slope * sxy, 0.0)
    df = len(times) - 2
    return Line(ym - slope * tm, slope, len(times), tm, sxx, math.sqrt(sse / df), df)


# --- poolability (ANCOVA) -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FTest:
    f: float
    df1: int
    df2: int
    p: float

    @property
    def significant(self) -> bool:
        return self.p < POOLING_ALPHA


@dataclass(frozen=True, slots=True)
class Poolability:
    """The ANCOVA of several batches: the F-tests for equal slopes and (with equal slopes) equal intercepts,
    and the model chosen: ``pooled`` (one line), ``common_slope`` (one slope, each batch's intercept) or
    ``separate`` (each batch its own line)."""

    slopes: FTest | None
    intercepts: FTest | None
    model: Literal["pooled", "common_slope", "separate"]


Batches = Mapping[str, tuple[Sequence[float], Sequence[float]]]  # batch → (times, values)


def _f_test(sse_reduced: float, sse_full: float, df_reduced: int, df_full: int) -> FTest:
    df1 = df_reduced - df_full
    mse = sse_full / df_full
    extra = max(sse_reduced - sse_full, 0.0) / df1
    if mse <= 0:
        # a perfect fit of the larger model: any extra error is infinitely significant, none is not
        return FTest(math.inf if extra > 0 else 0.0, df1, df_full, 0.0 if extra > 0 else 1.0)
    f = extra / mse
    return FTest(f, df1, df_full, f_sf(f, df1, df_full))


def poolability(batches: Batches) -> Poolability:
    """ICH Q1E: equal slopes tested first against the model with each batch's own line; when not significant
    (p ≥ 0.25), equal intercepts against the common-slope model. Each batch needs 3 results or more."""
    if len(batches) < 2:
        raise ValidationFailed(N_("Poolability is tested between two batches or more"))
    sums = {}
    for name, (times, values) in batches.items():
        _check_points(times, values)
        sums[name] = _sums(times, values)
    total = sum(len(times) for times, _ in batches.values())
    k = len(batches)
    sse_separate = math.fsum(max(syy - sxy * sxy / sxx, 0.0) for _, _, sxx, sxy, syy in sums.values())
    sxx_w = math.fsum(s[2] for s in sums.values())
    sxy_w = math.fsum(s[3] for s in sums.values())
    syy_w = math.fsum(s[4] for s in sums.values())
    sse_common = max(syy_w - sxy_w * sxy_w / sxx_w, 0.0)
    all_t = [t for times, _ in batches.values() for t in times]
    all_y = [y for _, values in batches.values() for y in values]
    _, _, sxx_all, sxy_all, syy_all = _sums(all_t, all_y)
    sse_pooled = max(syy_all - sxy_all * sxy_all / sxx_all, 0.0)
    df_separate, df_common, df_pooled = total - 2 * k, total - k - 1, total - 2
    slopes = _f_test(sse_common, sse_separate, df_common, df_separate)
    if slopes.significant:
        return Poolability(slopes, None, "separate")
    intercepts = _f_test(sse_pooled, sse_common, df_pooled, df_common)
    return Poolability(slopes, intercepts, "common_slope" if intercepts.significant else "pooled")


def _lines(batches: Batches, model: str) -> dict[str, Line]:
    """Each batch's line under the model chosen (a pooled model gives every batch the same line)."""
    if model == "separate":
        return {name: fit(times, values) for name, (times, values) in batches.items()}
    all_t = [t for times, _ in batches.values() for t in times]
    all_y = [y for _, values in batches.values() for y in values]
    if model == "pooled":
        line = fit(all_t, all_y)
        return dict.fromkeys(batches, line)
    sums = {name: _sums(times, values) for name, (times, values) in batches.items()}
    sxx_w = math.fsum(s[2] for s in sums.values())
    slope = math.fsum(s[3] for s in sums.values()) / sxx_w
    sse = math.fsum(s[4] for s in sums.values()) - slope * math.fsum(s[3] for s in sums.values())
    df = len(all_t) - len(batches) - 1
    s = math.sqrt(max(sse, 0.0) / df)
    return {
        name: Line(ym - slope * tm, slope, len(batches[name][0]), tm, sxx_w, s, df)
        for name, (tm, ym, _, _, _) in sums.items()
    }


# --- shelf life ---------------------------------------------------------------------------------------------


def crossing(line: Line, side: Literal["lower", "upper"], limit: float,
             confidence: float = CONFIDENCE) -> float | None:  # fmt: skip
    """The earliest time t ≥ 0 at which the one-sided ``confidence`` bound of the mean meets ``limit``
    (the bound falling to a lower limit, or rising to an upper one), solved exactly; 0.0 when the bound is
    already beyond the limit at time 0, None when it never meets it.

    The margin g(t) = u(t) − q·s·√(1/n + (t − t̄)²/Sxx), with u(t) = ŷ(t) − limit for a lower limit or
    limit − ŷ(t) for an upper one, is concave (a line less a convex function), so it is ≥ 0 on one interval
    at most: the time sought is that interval's right end, a root of the quadratic u² = q²s²(1/n + (t − t̄)²/Sxx).
    """
    q = t_quantile(confidence, line.df)
    c0, c1 = (
        (line.intercept - limit, line.slope) if side == "lower" else (limit - line.intercept, -line.slope)
    )
    k2 = (q * line.s) ** 2

    def margin(t: float) -> float:
        return c0 + c1 * t - q * line.se_mean(t)

    if margin(0.0) < 0:
        return 0.0
    # (c0 + c1 t)² − k2 (1/n + (t − t̄)²/Sxx) = 0  →  a t² + b t + c = 0
    a = c1 * c1 - k2 / line.sxx
    b = 2.0 * c0 * c1 + 2.0 * k2 * line.t_mean / line.sxx
    c = c0 * c0 - k2 * (1.0 / line.n + line.t_mean**2 / line.sxx)
    roots: list[float] = []
    if abs(a) < 1e-15 * max(1.0, c1 * c1, k2 / line.sxx):
        if b != 0:
            roots.append(-c / b)
    else:
        disc = b * b - 4.0 * a * c
        if disc >= 0:
            sq = math.sqrt(disc)
            # the numerically stable pair of roots
            qq = -0.5 * (b + math.copysign(sq, b))
            roots += [qq / a] + ([c / qq] if qq != 0 else [])
    # a root of the squared equation is a crossing where u ≥ 0 (the other branch is −u = q·se)
    scale = max(1.0, abs(c0), abs(limit))
    found = [t for t in roots if t > 0 and c0 + c1 * t >= -1e-9 * scale]
    if not found:
        return None
    t_end = max(found)
    # polish the root on the margin itself (bisection on a bracket around it), for the last digits
    low, high = t_end * (1 - 1e-9) - 1e-12, t_end * (1 + 1e-9) + 1e-12
    if margin(low) >= 0 > margin(high):
        for _ in range(100):
            mid = (low + high) / 2.0
            if margin(mid) >= 0:
                low = mid
            else:
                high = mid
        t_end = (low + high) / 2.0
    return t_end


@dataclass(frozen=True, slots=True)
class Bound:
    """One side's result for one batch: where the bound meets the criterion (None: never)."""

    batch: str
    side: Literal["lower", "upper"]
    limit: float
    confidence: float
    crossing: float | None


@dataclass(frozen=True, slots=True)
class ShelfLife:
    """The shelf-life estimate of an attribute (ICH Q1E).

    ``estimate`` is the earliest time (months) the confidence bound of the worst batch meets the criterion
    (None: it never does); ``cap`` the most that may be claimed from the data: ``min(2·X, X + 12)`` where X is
    the latest long-term time point (``X`` with extrapolation off); ``months`` the claim, ``min(estimate, cap)``
    rounded down to whole months; ``limited_by`` says which held it: ``data`` (the bound) or ``extrapolation``.
    """

    sides: Sides
    confidence: float
    model: Literal["single", "pooled", "common_slope", "separate"]
    poolability: Poolability | None
    lines: dict[str, Line]
    bounds: list[Bound]
    worst_batch: str
    estimate: float | None
    data_span: float
    cap: float
    months: int
    limited_by: Literal["data", "extrapolation"]

    @property
    def extrapolated(self) -> bool:
        return self.months > self.data_span


def extrapolation_cap(data_span: float, extrapolate: bool = True) -> float:
    """The longest shelf life the data may support: ``min(2·X, X + 12)`` months (ICH Q1E, long-term data at
    room temperature with little variability), or X itself when extrapolation is not allowed."""
    if not extrapolate:
        return data_span
    return min(MAX_EXTRAPOLATION_FACTOR * data_span, data_span + MAX_EXTRAPOLATION_MONTHS)


def shelf_life(batches: Batches, *, lower: float | None = None, upper: float | None = None,
               sides: Sides | None = None, extrapolate: bool = True) -> ShelfLife:  # fmt: skip
    """Estimate the shelf life of one attribute from the results of one batch or several (ICH Q1E).

    ``lower``/``upper`` are the acceptance criterion's limits. ``sides`` defaults from them: ``lower`` for a
    criterion with a lower limit only (an attribute that decreases: the one-sided 95 % lower bound), ``upper``
    for an upper limit only, ``both`` for a range (two-sided 95 %: 97.5 % per side). With several batches the
    model is chosen by :func:`poolability`, and the worst batch's time is the estimate.
    """
    if lower is None and upper is None:
        raise ValidationFailed(N_("The acceptance criterion needs a lower or an upper limit"))
    if lower is not None and upper is not None and lower >= upper:
        raise ValidationFailed(N_("The lower limit must be below the upper limit"))
    chosen: Sides = sides or ("both" if lower is not None and upper is not None else
                              "lower" if lower is not None else "upper")  # fmt: skip
    if (chosen in ("lower", "both") and lower is None) or (chosen in ("upper", "both") and upper is None):
        raise ValidationFailed(N_("The side of the confidence bound needs its limit"))
    if not batches:
        raise ValidationFailed(N_("A shelf-life estimate needs the results of one batch at least"))
    pool: Poolability | None = None
    if len(batches) == 1:
        model: Literal["single", "pooled", "common_slope", "separate"] = "single"
        lines = _lines(batches, "separate")
    else:
        pool = poolability(batches)
        model = pool.model
        lines = _lines(batches, pool.model)
    confidence = CONFIDENCE if chosen != "both" else 1.0 - (1.0 - CONFIDENCE) / 2.0
    wanted: list[tuple[Literal["lower", "upper"], float]] = []
    if chosen in ("lower", "both") and lower is not None:
        wanted.append(("lower", lower))
    if chosen in ("upper", "both") and upper is not None:
        wanted.append(("upper", upper))
    bounds = [
        Bound(name, side, limit, confidence, crossing(line, side, limit, confidence))
        for name, line in lines.items()
        for side, limit in wanted
    ]
    finite = [b for b in bounds if b.crossing is not None]
    worst = min(finite, key=lambda b: b.crossing or 0.0) if finite else None
    estimate = worst.crossing if worst is not None else None
    span = max(t for times, _ in batches.values() for t in times)
    cap = extrapolation_cap(span, extrapolate)
    claim = cap if estimate is None else min(estimate, cap)
    return ShelfLife(
        sides=chosen, confidence=confidence, model=model, poolability=pool, lines=lines, bounds=bounds,
        worst_batch=worst.batch if worst is not None else next(iter(lines)), estimate=estimate, data_span=span,
        cap=cap, months=math.floor(claim + 1e-9),
        limited_by="data" if estimate is not None and estimate <= cap else "extrapolation",
    )  # fmt: skip
