"""Trend charts of stability studies, drawn on the server as SVG (no script, no external resource; SH-6.2.3).

One chart per attribute: the reviewed results of each batch against the months of the pull points, the
least-squares line of each batch (or the pooled line), its one-sided confidence bound of the mean (ICH Q1E), the
acceptance criterion as dashed lines, and the estimated shelf life as a vertical line. Words on the chart come
translated from the caller; every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape

from markupsafe import Markup

from pharmatrace.lims import stats
from pharmatrace.lims.stability_schemas import LinePublic, TrendPublic

PALETTE = ("#1f5fa8", "#c2571a", "#2e8b57", "#8e44ad", "#b8860b", "#2f4f4f")
LIMIT_COLOUR = "#c0392b"
WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40
STEPS = 60  # segments of a drawn bound curve


def _nice_step(span: float, ticks: int = 5) -> float:
    """A round step (1, 2 or 5 × 10ⁿ) that splits ``span`` into about ``ticks`` parts."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _x_max(trend: TrendPublic) -> float:
    last = max((p.months for p in trend.points), default=0.0)
    estimate = trend.estimate
    reach = max(last, estimate.cap if estimate is not None else last)
    return max(6.0, math.ceil(reach / 6.0) * 6.0)


def _bound(line: LinePublic, side: str, confidence: float, t: float) -> float:
    q = stats.t_quantile(confidence, line.df)
    spread = q * line.s * math.sqrt(1.0 / line.n + (t - line.t_mean) ** 2 / line.sxx)
    centre = line.intercept + line.slope * t
    return centre - spread if side == "lower" else centre + spread


def trend_svg(trend: TrendPublic, words: Mapping[str, str] | None = None) -> Markup:
    """The chart of one attribute as an inline ``<svg>`` element. ``words``: the translated ``months``,
    ``shelf_life`` and ``no_data`` captions."""
    say = {
        "months": "months",
        "shelf_life": "shelf life",
        "no_data": "no reviewed results yet",
        **(words or {}),
    }
    x_max = _x_max(trend)
    estimate = trend.estimate
    lines = {line.batch_no: line for line in (estimate.lines if estimate is not None else [])}
    sides = sorted({b.side for b in estimate.bounds}) if estimate is not None else []
    confidence = estimate.confidence if estimate is not None else stats.CONFIDENCE
    ts = [x_max * i / STEPS for i in range(STEPS + 1)]
    values = [p.value for p in trend.points] + [v for v in (trend.lower, trend.upper) if v is not None]
    for line in lines.values():
        values += [line.intercept + line.slope * t for t in (0.0, x_max)]
        values += [_bound(line, side, confidence, t) for side in sides for t in ts]
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 1.0, high + 1.0
    pad = (high - low) * 0.08
    low, high = low - pad, high + pad
    step = _nice_step(high - low)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * t / x_max

    def y(v: float) -> float:
        return TOP + plot_h * (high - v) / (high - low)

    title = escape(f"{trend.attribute} ({trend.unit})" if trend.unit else trend.attribute)
    out = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'class="trend-chart" aria-label="{title}"><title>{title}</title>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#888"/>',
    ]
    tick = low
    while tick <= high + step / 2:
        at = y(tick)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{at:.1f}" y2="{at:.1f}" stroke="#eee"/>'
                   f'<text x="{LEFT - 6}" y="{at + 4:.1f}" font-size="11" text-anchor="end">{_fmt(tick)}</text>')  # fmt: skip
        tick += step
    month_step = 3 if x_max <= 24 else 6
    base = TOP + plot_h
    for m in range(0, int(x_max) + 1, month_step):
        out.append(f'<line x1="{x(m):.1f}" x2="{x(m):.1f}" y1="{base}" y2="{base + 4}" stroke="#888"/>'
                   f'<text x="{x(m):.1f}" y="{base + 16}" font-size="11" text-anchor="middle">{m}</text>')  # fmt: skip
    out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" font-size="11" text-anchor="middle">'
               f"{escape(say['months'])}</text>")  # fmt: skip
    for limit, sign in ((trend.lower, "≥"), (trend.upper, "≤")):
        if limit is not None:
            out.append(f'<line class="criterion" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(limit):.1f}" '
                       f'y2="{y(limit):.1f}" stroke="{LIMIT_COLOUR}" stroke-dasharray="6 4"/>'
                       f'<text x="{LEFT + plot_w - 4}" y="{y(limit) - 4:.1f}" font-size="11" text-anchor="end" '
                       f'fill="{LIMIT_COLOUR}">{sign} {_fmt(limit)}</text>')  # fmt: skip
    batches = sorted({p.batch_no for p in trend.points} | set(lines))
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(batches)}
    drawn: set[tuple[float, float]] = set()
    for name, line in lines.items():
        if (line.intercept, line.slope) in drawn:  # a pooled model gives every batch the same line
            continue
        drawn.add((line.intercept, line.slope))
        c = colour[name] if len(lines) > 1 and estimate is not None and estimate.model != "pooled" else "#333"
        out.append(f'<line class="fit" x1="{x(0):.1f}" y1="{y(line.intercept):.1f}" x2="{x(x_max):.1f}" '
                   f'y2="{y(line.intercept + line.slope * x_max):.1f}" stroke="{c}" stroke-width="1.5"/>')  # fmt: skip
        for side in sides:
            path = " ".join(f"{x(t):.1f},{y(_bound(line, side, confidence, t)):.1f}" for t in ts)
            out.append(
                f'<polyline class="bound" points="{path}" fill="none" stroke="{c}" stroke-dasharray="2 3"/>'
            )
    for point in trend.points:
        c = colour[point.batch_no]
        label = escape(f"{point.batch_no} T{point.months:g}: {_fmt(point.value)}")
        out.append(f'<circle class="point" cx="{x(point.months):.1f}" cy="{y(point.value):.1f}" r="4" fill="{c}">'
                   f"<title>{label}</title></circle>")  # fmt: skip
    if estimate is not None and estimate.months <= x_max:
        at = x(estimate.months)
        # the caption on the right of the line, or on its left near the end of the axis
        right = at < LEFT + plot_w * 0.7
        caption_x, anchor = (at + 4, "start") if right else (at - 4, "end")
        out.append(f'<line class="shelf-life" x1="{at:.1f}" x2="{at:.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
                   f'stroke="#555" stroke-dasharray="1 3"/><text x="{caption_x:.1f}" y="{TOP + 28}" '
                   f'font-size="11" text-anchor="{anchor}">{escape(say["shelf_life"])} {estimate.months}</text>')  # fmt: skip
    if not trend.points:
        out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" font-size="13" '
                   f'text-anchor="middle" fill="#888">{escape(say["no_data"])}</text>')  # fmt: skip
    for i, name in enumerate(batches):
        left = LEFT + 10 + i * 110
        out.append(f'<circle cx="{left}" cy="{TOP + 10}" r="4" fill="{colour[name]}"/>'
                   f'<text x="{left + 8}" y="{TOP + 14}" font-size="11">{escape(name)}</text>')  # fmt: skip
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above is escaped
