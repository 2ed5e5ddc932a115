"""The summary page's histogram of totals, as inline SVG.

One chart on a page that is written at the very end of every batch, after
the last student: drawn here as a few dozen SVG elements, it takes well
under a millisecond, where importing Matplotlib and rendering a PNG took
about 0.35 s of the batch's wall time. Only numbers and fixed labels are
drawn (no student text). The feedback pages' figures stay Matplotlib's
(:mod:`autograder.reports.figures`).
"""
from __future__ import annotations

import html
import math
import statistics
from collections.abc import Sequence

from autograder.reports.grades import format_points

BINS = 20
WIDTH, HEIGHT = 770, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 250, 34, 52  # margins around the plot area, in px
OK_COLOR, BAD_COLOR, MEAN_COLOR, MEDIAN_COLOR = "#2da44e", "#d4a72c", "#0969da", "#8250df"
_TEXT = 'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" fill="#1f2328"'


def bin_counts(values: Sequence[float], top: float, bins: int = BINS) -> list[int]:
    """How many ``values`` fall in each of ``bins`` equal bins over ``[0, top]`` (the last bin includes ``top``;
    values outside are clamped into the first or last bin)."""
    counts = [0] * bins
    for value in values:
        index = int(math.floor(value / top * bins)) if top > 0 else 0
        counts[min(max(index, 0), bins - 1)] += 1
    return counts


def _y_step(highest: int) -> int:
    """A tick step for counts up to ``highest``: 1, 2, 5, 10, 20, 50, ... giving at most 6 steps."""
    step = 1
    while highest / step > 6:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    return step


def histogram_svg(ok: Sequence[float], bad: Sequence[float], max_total: float, *, label: str = "") -> str:
    """The totals of students graded ``ok`` and of the others, stacked in 20 bins over ``[0, max_total]``
    (or up to the highest total, if higher), with the mean and the median of all totals: an ``<svg>``
    element (``label`` as its accessible name; everything escaped, no script, no external reference)."""
    totals = [*ok, *bad]
    top = max([max_total, *totals]) or 1.0
    ok_counts, bad_counts = bin_counts(ok, top), bin_counts(bad, top)
    highest = max([a + b for a, b in zip(ok_counts, bad_counts, strict=True)] + [1])
    step = _y_step(highest)
    y_max = step * math.ceil(highest / step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_at(value: float) -> float:
        return LEFT + plot_w * value / top

    def y_at(count: float) -> float:
        return TOP + plot_h * (1 - count / y_max)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(label)}" '
             'style="max-width:100%;height:auto">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>']
    for count in range(0, y_max + 1, step):  # grid and y ticks
        y = y_at(count)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" {_TEXT}>{count}</text>')
    bar_w = plot_w / BINS
    for i, (n_ok, n_bad) in enumerate(zip(ok_counts, bad_counts, strict=True)):
        x = LEFT + i * bar_w
        for base, n, color in ((0, n_ok, OK_COLOR), (n_ok, n_bad, BAD_COLOR)):
            if n:
                parts.append(f'<rect x="{x:.1f}" y="{y_at(base + n):.1f}" width="{bar_w:.1f}" '
                             f'height="{y_at(base) - y_at(base + n):.1f}" fill="{color}" stroke="#ffffff" '
                             'stroke-width="0.8"/>')
    for k in range(6):  # x ticks: 0, top/5, ..., top
        value = top * k / 5
        x = x_at(value)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}" stroke="#57606a"/>'
                     f'<text x="{x:.1f}" y="{TOP + plot_h + 17}" text-anchor="middle" font-size="11" {_TEXT}>'
                     f'{html.escape(format_points(value))}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#57606a"/>')
    legend = [(OK_COLOR, "graded ok", None), (BAD_COLOR, "timeout / crashed / missing / invalid", None)]
    if totals:
        mean, median = statistics.fmean(totals), statistics.median(totals)
        for value, color, dash in ((mean, MEAN_COLOR, ""), (median, MEDIAN_COLOR, ' stroke-dasharray="5,3"')):
            x = x_at(min(max(value, 0.0), top))
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="{color}" '
                         f'stroke-width="1.5"{dash}/>')
        legend += [(MEAN_COLOR, f"mean {mean:.1f}", ""),
                   (MEDIAN_COLOR, f"median {median:.1f}", ' stroke-dasharray="5,3"')]
    for row, (color, label, dash) in enumerate(legend):
        y = TOP + 8 + row * 20
        mark = (f'<rect x="{LEFT + plot_w + 14}" y="{y - 6}" width="14" height="10" fill="{color}"/>' if dash is None
                else f'<line x1="{LEFT + plot_w + 12}" x2="{LEFT + plot_w + 30}" y1="{y - 1}" y2="{y - 1}" '
                     f'stroke="{color}" stroke-width="1.5"{dash}/>')
        parts.append(mark + f'<text x="{LEFT + plot_w + 36}" y="{y + 3}" font-size="11" {_TEXT}>'
                            f'{html.escape(label)}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP - 12}" text-anchor="middle" font-size="13" '
                 f'font-weight="600" {_TEXT}>Distribution of totals</text>'
                 f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 12}" text-anchor="middle" font-size="12" {_TEXT}>'
                 f'total points (of {html.escape(format_points(max_total))})</text>'
                 f'<text x="16" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" font-size="12" '
                 f'transform="rotate(-90 16 {TOP + plot_h / 2:.1f})" {_TEXT}>students</text></svg>')
    return "".join(parts)
