"""The instructor's summary of a graded class: one standalone HTML page (no scripts, no network).

It shows the distribution of totals (a histogram, students whose grading
had a problem stacked in another colour), each part's mean and how many got
full or zero marks, the pass rate of every test (public and hidden: this page
is for the instructor), the students whose code could not be fully graded
(status ``timeout``, ``crashed``, ``missing``, ``invalid``) with the reason,
and every student's row with a link to their feedback page.

Pass rates count the students who submitted the part (status not
``missing``): a test that few pass among those is a hard test or a suite to
look at again; students who did not submit are counted in the part table.
"""
from __future__ import annotations

import html
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from autograder import PART_IDS
from autograder.reports.grades import format_points
from autograder.reports.histogram import histogram_svg
from autograder.results import StudentResult

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1f2328;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin:1.6em 0 .4em;border-bottom:1px solid #d0d7de;
padding-bottom:.2em}
.meta{color:#57606a;font-size:.9em}.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:4px;
padding:.5em .8em}.danger{background:#ffebe9;border:1px solid #cf222e;border-radius:4px;padding:.5em .8em}
table{border-collapse:collapse;width:100%;margin:.4em 0;font-size:.92em}th,td{text-align:left;padding:.3em .55em;
border-bottom:1px solid #eaeef2;vertical-align:top}th{background:#f6f8fa;font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.bar{display:inline-block;width:120px;height:.7em;background:#eaeef2;border-radius:3px;vertical-align:middle;
margin-right:.4em;overflow:hidden}.bar span{display:block;height:100%;background:#2da44e}
.val{display:inline-block;min-width:4.5em;text-align:right}
tr.low .bar span{background:#cf222e}tr.mid .bar span{background:#d4a72c}
.tag{display:inline-block;padding:0 .45em;border-radius:1em;font-size:.78em;font-weight:600;background:#eaeef2;
color:#57606a}.tag.hidden{background:#ddf4ff;color:#0550ae}.status{display:inline-block;padding:0 .5em;
border-radius:1em;font-size:.8em;font-weight:600}.status.ok{background:#dafbe1;color:#1a7f37}
.status.bad{background:#ffebe9;color:#cf222e}.cards{display:flex;gap:.8em;flex-wrap:wrap;margin:.6em 0}
tr.group th{background:#fff;border-bottom:2px solid #d0d7de;padding-top:.9em}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.4em .9em;min-width:7em}.card b{display:block;
font-size:1.35em}.why{color:#57606a;font-size:.88em}code{font-size:.9em}
"""


@dataclass(frozen=True)
class PassRate:
    """How many of the students who submitted a part passed one of its tests."""

    part: str
    name: str
    visibility: str
    max_points: float
    passed: int
    graded: int

    @property
    def rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


def pass_rates(results: Iterable[StudentResult], part_ids: Sequence[str] = PART_IDS) -> list[PassRate]:
    """Every test's pass rate among the students who submitted its part, in course order then test order."""
    counts: dict[tuple[str, str], list] = {}
    for result in results:
        for part in result.parts.values():
            if part.status == "missing":
                continue
            for test in part.tests:
                entry = counts.setdefault((part.part, test.name), [test.visibility, test.max_points, 0, 0])
                entry[2] += int(test.passed)
                entry[3] += 1
    order = {pid: i for i, pid in enumerate(part_ids)}
    keys = sorted(counts, key=lambda k: order.get(k[0], len(order)))  # stable: tests keep first-seen order
    return [PassRate(part, name, *counts[(part, name)]) for part, name in keys]


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _first_line(text: str, limit: int = 240) -> str:
    line = (str(text).strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _bar(fraction: float, text: str) -> str:
    """A small horizontal bar for ``fraction``, then ``text`` in a fixed-width box (so bars line up)."""
    width = max(0.0, min(1.0, fraction)) * 100
    return f'<span class="bar"><span style="width:{width:.1f}%"></span></span><span class="val">{_e(text)}</span>'


def _level(fraction: float) -> str:
    return "low" if fraction < 0.5 else "mid" if fraction < 0.8 else "high"


def score_histogram_figure(results: Sequence[StudentResult], max_total: float) -> str:
    """The totals as a histogram (bins of max_total/20), graded-ok and not-ok students stacked: a ``<figure>``."""
    ok = [r.total for r in results if r.status == "ok"]
    bad = [r.total for r in results if r.status != "ok"]
    svg = histogram_svg(ok, bad, max_total, label=f"Histogram of the totals of {len(ok) + len(bad)} students")
    return f'<figure class="autograder-figure" style="margin:1em 0">{svg}</figure>'


def _cards(results: Sequence[StudentResult], max_total: float) -> str:
    totals = [r.total for r in results]
    cards = [("students", str(len(results)))]
    if totals:
        cards += [("mean", f"{statistics.fmean(totals):.1f}"), ("median", f"{statistics.median(totals):.1f}"),
                  ("min – max", f"{format_points(min(totals))} – {format_points(max(totals))}"),
                  ("full marks", str(sum(1 for t in totals if t >= max_total - 1e-9))),
                  ("not graded ok", str(sum(1 for r in results if r.status != "ok")))]
    return '<div class="cards">' + "".join(f'<div class="card">{_e(label)}<b>{_e(value)}</b></div>'
                                           for label, value in cards) + "</div>"


def _parts_table(results: Sequence[StudentResult], part_ids: Sequence[str], titles: Mapping[str, str]) -> str:
    rows = []
    for pid in part_ids:
        graded = [r.parts[pid] for r in results if pid in r.parts]
        if not graded:
            continue
        max_score = max(p.max_score for p in graded) or 1.0
        mean = statistics.fmean(p.score for p in graded)
        full = sum(1 for p in graded if p.score >= p.max_score - 1e-9)
        zero = sum(1 for p in graded if p.score <= 1e-9)
        missing = sum(1 for p in graded if p.status == "missing")
        problems = sum(1 for p in graded if p.status not in ("ok", "missing"))
        fraction = mean / max_score
        rows.append(f'<tr class="{_level(fraction)}"><td><code>{_e(pid)}</code> {_e(titles.get(pid, ""))}</td>'
                    f'<td class="num">{_bar(fraction, f"{mean:.1f} / {format_points(max_score)}")}</td>'
                    f'<td class="num">{full}</td><td class="num">{zero}</td><td class="num">{missing}</td>'
                    f'<td class="num">{problems}</td></tr>')
    return ('<table><thead><tr><th>part</th><th class="num">mean</th><th class="num">full marks</th>'
            '<th class="num">zero</th><th class="num">not submitted</th><th class="num">timeout / crashed / '
            'invalid</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _tests_table(rates: Sequence[PassRate], titles: Mapping[str, str]) -> str:
    rows = []
    part = None
    for rate in rates:
        if rate.part != part:
            part = rate.part
            rows.append(f'<tr class="group"><th colspan="4"><code>{_e(part)}</code> {_e(titles.get(part, ""))}'
                        "</th></tr>")
        tag = '<span class="tag hidden">hidden</span>' if rate.visibility != "public" else \
            '<span class="tag">public</span>'
        bar = _bar(rate.rate, f"{rate.rate:.0%}")
        rows.append(f'<tr class="{_level(rate.rate)}"><td>{_e(rate.name)} {tag}</td>'
                    f'<td class="num">{format_points(rate.max_points)}</td><td class="num">{bar}</td>'
                    f'<td class="num">{rate.passed} / {rate.graded}</td></tr>')
    return ('<table><thead><tr><th>test</th><th class="num">points</th><th class="num">pass rate</th>'
            '<th class="num">passed / submitted</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _hardest(rates: Sequence[PassRate], count: int = 8) -> str:
    """The tests with the lowest pass rates: a hard test, or one to look at again."""
    lowest = sorted((r for r in rates if r.graded), key=lambda r: r.rate)[:count]
    if not lowest or lowest[0].rate >= 1.0:
        return ""
    items = "".join(f"<li><code>{_e(r.part)}</code> {_e(r.name)}{' (hidden)' if r.visibility != 'public' else ''}: "
                    f"{r.rate:.0%} ({r.passed} / {r.graded})</li>" for r in lowest if r.rate < 1.0)
    return f"<p>Lowest pass rates:</p><ol>{items}</ol>"


def _problems_table(results: Sequence[StudentResult], link) -> str:
    rows = []
    for result in results:
        if result.status == "ok" and not result.message:
            continue
        reasons = [f"<div><code>{_e(p.part)}</code> <span class=\"status bad\">{_e(p.status)}</span> "
                   f"{_e(_first_line(p.message))}</div>" for p in result.parts.values() if p.status != "ok"]
        if result.message:
            reasons.insert(0, f"<div>{_e(_first_line(result.message))}</div>")
        rows.append(f"<tr><td>{link(result.student)}</td><td class=\"num\">{format_points(result.total)}</td>"
                    f"<td><span class=\"status {'ok' if result.status == 'ok' else 'bad'}\">{_e(result.status)}"
                    f"</span></td><td class=\"why\">{''.join(reasons)}</td></tr>")
    if not rows:
        return "<p>Every student's code was graded completely (status <code>ok</code>).</p>"
    return ('<table><thead><tr><th>student</th><th class="num">total</th><th>status</th><th>why (first line)</th>'
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _students_table(results: Sequence[StudentResult], part_ids: Sequence[str], link) -> str:
    head = "".join(f'<th class="num">{_e(pid)}</th>' for pid in part_ids)
    rows = []
    for result in results:
        cells = "".join(f'<td class="num">{format_points(result.parts[p].score) if p in result.parts else ""}</td>'
                        for p in part_ids)
        rows.append(f"<tr><td>{link(result.student)}</td>{cells}<td class=\"num\"><b>{format_points(result.total)}"
                    f"</b> / {format_points(result.max_total)}</td><td><span class=\"status "
                    f"{'ok' if result.status == 'ok' else 'bad'}\">{_e(result.status)}</span></td></tr>")
    return (f'<table><thead><tr><th>student</th>{head}<th class="num">total</th><th>status</th></tr></thead>'
            "<tbody>" + "".join(rows) + "</tbody></table>")


def summary_html(results: Iterable[StudentResult], *, title: str = "Grading summary",
                 part_titles: Mapping[str, str] | None = None, part_ids: Sequence[str] = PART_IDS,
                 feedback_dir: str | None = "feedback") -> str:
    """The class summary as one standalone HTML page.

    Args:
        results: every student's result.
        title: the page heading (the course name).
        part_titles: part id -> title.
        part_ids: the parts, in course order.
        feedback_dir: where the students' ``<id>.html`` pages are, relative to this page (links), or ``None``.
    """
    results = sorted(results, key=lambda r: r.student)
    titles = dict(part_titles or {})
    max_total = max((r.max_total for r in results), default=0.0)

    def link(student: str) -> str:
        if feedback_dir is None:
            return f"<code>{_e(student)}</code>"
        return f'<a href="{_e(feedback_dir)}/{quote(student)}.html"><code>{_e(student)}</code></a>'

    rates = pass_rates(results, part_ids)
    isolations = sorted({r.isolation for r in results if r.isolation})
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="meta">Grading summary for the instructor &middot; isolation: '
            f'{_e("; ".join(isolations) or "none recorded")}</p>']
    if any(i.startswith("none") for i in isolations):
        body.append('<p class="danger">Some student code ran unisolated (inside the grader).</p>')
    body.append(_cards(results, max_total))
    if results:
        body.append(score_histogram_figure(results, max_total))
    body += ["<h2>Parts</h2>", _parts_table(results, part_ids, titles),
             "<h2>Students whose code could not be fully graded</h2>", _problems_table(results, link),
             "<h2>Pass rate per test</h2>",
             '<p class="meta">Among the students who submitted the part. Red: under 50%; amber: under 80%.</p>',
             _hardest(rates), _tests_table(rates, titles),
             "<h2>All students</h2>", _students_table(results, part_ids, link)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(title)}: summary</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


__all__ = ["PassRate", "pass_rates", "score_histogram_figure", "summary_html"]
