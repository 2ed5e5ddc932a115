"""A student's feedback as Markdown and as one self-contained HTML page.

Both show, per part, the points, the file graded, and per test whether it
passed; for a failed public test, what was expected and what was found, and
a hint. Hidden tests appear by name and result only. Every piece of text
that may come from a student (messages, file names, the student id) is
escaped. The HTML needs no network: inline CSS, no scripts.

Extra content per part (figures) comes from a hook::

    feedback_html(result, part_extras=lambda part: "<img src='data:image/png;base64,...'>")

The hook's HTML is inserted as is, after the part's tests: it must be
trusted (made by the grader from numbers), never student text.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping

from autograder.reports.grades import format_points as _points
from autograder.results import PartResult, StudentResult, TestResult

PartExtras = Callable[[PartResult], str]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;
color:#1f2328;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin:1.6em 0 .4em;border-bottom:1px solid #d0d7de;
padding-bottom:.2em}
.meta{color:#57606a;font-size:.9em}.total{font-size:1.2em;font-weight:600}
table{border-collapse:collapse;width:100%;margin:.4em 0}th,td{text-align:left;padding:.35em .6em;
border-bottom:1px solid #eaeef2;vertical-align:top}th{background:#f6f8fa;font-weight:600}
tr.passed td.result{color:#1a7f37;font-weight:600}tr.failed td.result{color:#cf222e;font-weight:600}
tr.passed{background:#f0fff4}tr.failed{background:#fff5f5}td.result,td.points{white-space:nowrap}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;border:1px solid #eaeef2;border-radius:4px;
padding:.5em;margin:.3em 0;font-size:.88em}
.hint{color:#0550ae;font-size:.92em}.hidden{color:#57606a;font-style:italic;font-size:.9em}
.status{display:inline-block;padding:.05em .5em;border-radius:1em;font-size:.8em;font-weight:600;
vertical-align:middle}.status.ok{background:#dafbe1;color:#1a7f37}.status.bad{background:#ffebe9;color:#cf222e}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:4px;padding:.5em .8em}
"""


def _verdict(test: TestResult) -> str:
    return "passed" if test.passed else "failed"


def _shows_message(test: TestResult) -> bool:
    return test.visibility == "public" and not test.passed and bool(test.message)


# ---------------------------------------------------------------- Markdown


# Inside a line that starts with our own text, only these can change the rendering (emphasis, code,
# links, tables, raw HTML, strike-through); escaping more only makes the plain text harder to read.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|<>&~])")


def _md(text: str) -> str:
    """Student text made inert in Markdown: special characters escaped, one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _fence(text: str) -> str:
    """A fenced code block that ``text`` cannot close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def feedback_markdown(result: StudentResult, *, title: str = "Grading report",
                      part_titles: Mapping[str, str] | None = None) -> str:
    """The feedback as Markdown text."""
    part_titles = part_titles or {}
    lines = [f"# {_md(title)}", "", f"Student: `{_md(result.student)}`  ",
             f"**Total: {_points(result.total)} / {_points(result.max_total)}** (status: {_md(result.status)})", ""]
    if result.message:
        lines += [f"> {_md(result.message)}", ""]
    for part in result.parts.values():
        name = part_titles.get(part.part, part.part)
        lines += [f"## {_md(name)} (`{part.part}`): {_points(part.score)} / {_points(part.max_score)}", ""]
        if part.source:
            lines.append(f"Graded file: {_md(part.source)}  ")
        if part.status != "ok":
            lines.append(f"**Status: {_md(part.status)}**: {_md(part.message)}  ")
        lines.append("")
        if part.tests:
            lines += ["| test | result | points |", "| --- | --- | --- |"]
            for test in part.tests:
                label = _md(test.name) + (" (hidden)" if test.visibility != "public" else "")
                lines.append(f"| {label} | {_verdict(test)} | {_points(test.points)} / {_points(test.max_points)} |")
            lines.append("")
        for test in part.tests:
            if _shows_message(test):
                lines += [f"**{_md(test.name)}** failed:", "", _fence(test.message), ""]
                if test.hint:
                    lines += [f"Hint: {_md(test.hint)}", ""]
        if any(t.visibility != "public" for t in part.tests):
            lines += ["_Hidden tests show their result only._", ""]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- HTML


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _test_row(test: TestResult) -> str:
    verdict = _verdict(test)
    mark = "&#10003; passed" if test.passed else "&#10007; failed"
    detail = ""
    if _shows_message(test):
        detail = f"<pre>{_e(test.message)}</pre>"
        if test.hint:
            detail += f'<div class="hint">Hint: {_e(test.hint)}</div>'
    elif test.visibility != "public":
        detail = '<span class="hidden">hidden test: result only</span>'
    return (f'<tr class="{verdict}"><td>{_e(test.name)}</td><td class="result">{mark}</td>'
            f'<td class="points">{_points(test.points)} / {_points(test.max_points)}</td><td>{detail}</td></tr>')


def _part_section(part: PartResult, title: str, part_extras: PartExtras | None) -> str:
    badge_kind = "ok" if part.status == "ok" else "bad"
    out = [f'<section class="part" id="part-{_e(part.part)}">',
           f"<h2>{_e(title)} <code>{_e(part.part)}</code>: {_points(part.score)} / {_points(part.max_score)} "
           f'<span class="status {badge_kind}">{_e(part.status)}</span></h2>']
    if part.source:
        out.append(f'<p class="meta">Graded file: {_e(part.source)}</p>')
    if part.status != "ok" and part.message:
        out.append(f'<p class="note">{_e(part.message)}</p>')
    if part.tests:
        out.append("<table><thead><tr><th>test</th><th>result</th><th>points</th><th>details</th></tr></thead>"
                   "<tbody>")
        out += [_test_row(test) for test in part.tests]
        out.append("</tbody></table>")
    if part_extras is not None:
        out.append(part_extras(part) or "")
    out.append("</section>")
    return "\n".join(out)


def feedback_html(result: StudentResult, *, title: str = "Grading report",
                  part_titles: Mapping[str, str] | None = None, part_extras: PartExtras | None = None) -> str:
    """The feedback as one standalone HTML page.

    Args:
        result: the student's result.
        title: the page heading (the course name).
        part_titles: part id -> its title, for headings.
        part_extras: returns trusted HTML to add after a part's tests (figures); see the module docstring.
    """
    part_titles = part_titles or {}
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="meta">Student: <code>{_e(result.student)}</code> &middot; isolation: {_e(result.isolation)}'
            "</p>",
            f'<p class="total">Total: {_points(result.total)} / {_points(result.max_total)} '
            f'<span class="status {"ok" if result.status == "ok" else "bad"}">{_e(result.status)}</span></p>']
    if result.message:
        body.append(f'<p class="note">{_e(result.message)}</p>')
    body += [_part_section(part, part_titles.get(part.part, part.part), part_extras) for part in result.parts.values()]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(title)}: {_e(result.student)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
